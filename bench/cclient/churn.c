/* bench/cclient/churn.c: a load client that is not Sockeye's, for checking `sockeye bench` figures.
 * Modes:
 *   churn: each of N processes loops connect, send SIZE bytes, read them back, close;
 *   echo:  each of N processes holds one connection and loops send SIZE, read SIZE back.
 * Runs for SECONDS and prints the operations completed. Loopback only; bounded in time.
 * Build: cc -O2 -o churn churn.c
 * Use:   churn MODE HOST PORT PROCESSES SECONDS [SIZE]   (MODE: churn or echo) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int dial(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)addr, sizeof *addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int round_trip(int fd, const char *out, char *in, int size) {
    if (send(fd, out, size, 0) != size) return -1;
    for (int got = 0; got < size;) {
        ssize_t n = recv(fd, in + got, size - got, 0);
        if (n <= 0) return -1;
        got += (int)n;
    }
    return memcmp(out, in, size) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s churn|echo HOST PORT PROCESSES SECONDS [SIZE]\n", argv[0]);
        return 2;
    }
    int churn = strcmp(argv[1], "churn") == 0;
    int processes = atoi(argv[4]), size = argc > 6 ? atoi(argv[6]) : 64;
    double seconds = atof(argv[5]);
    if ((!churn && strcmp(argv[1], "echo") != 0) || processes < 1 || processes > 512 || seconds <= 0 || seconds > 600 || size < 1 || size > 65536) {
        fprintf(stderr, "churn: bad arguments (mode churn|echo, 1-512 processes, 0-600 s, 1-65536 bytes)\n");
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1) {
        fprintf(stderr, "churn: '%s' is not an IPv4 address\n", argv[2]);
        return 2;
    }
    int pipes[512][2];
    for (int p = 0; p < processes; p++) {
        pipe(pipes[p]);
        if (fork() == 0) {
            char *out = malloc(size), *in = malloc(size);
            memset(out, 'x', size);
            long ops = 0, errors = 0;
            double end = now() + seconds;
            int fd = churn ? -1 : dial(&addr);
            while (now() < end) {
                if (churn) fd = dial(&addr);
                if (fd < 0 || round_trip(fd, out, in, size) != 0) {
                    errors++;
                    if (!churn) break;
                } else {
                    ops++;
                }
                if (churn && fd >= 0) close(fd);
            }
            if (!churn && fd >= 0) close(fd);
            long result[2] = {ops, errors};
            write(pipes[p][1], result, sizeof result);
            _exit(0);
        }
    }
    long ops = 0, errors = 0;
    for (int p = 0; p < processes; p++) {
        long result[2] = {0, 0};
        read(pipes[p][0], result, sizeof result);
        ops += result[0];
        errors += result[1];
        wait(NULL);
    }
    printf("%s ops=%ld errors=%ld per_second=%.0f\n", argv[1], ops, errors, ops / seconds);
    return errors > 0 ? 1 : 0;
}
