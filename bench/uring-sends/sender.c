/* bench/uring-sends/sender.c: what one 64 B send to each of N loopback sockets costs the sender,
 * one sendmsg(2) per socket against io_uring send requests submitted BATCH at a time (see ./run).
 *
 *     sender PORT N ROUNDS sendmsg|uring BATCH
 *
 * Opens N connections to PORT (the sink), then ROUNDS times sends one 64 B line to every connection
 * (a broadcast to N members) and sleeps 200 ms, so that every send finds room in its socket buffer and
 * the sink has drained. Prints one JSON object: the sender's CPU time (getrusage, user + system, all
 * threads) per send over the rounds only, and the busy time of CPUs 0 and 1 over the rounds and their
 * pauses (the sink's reads included; 10 ms ticks, anything else running on the machine included). Every send is checked to have written all 64 bytes (a short
 * or failed send ends the run with exit 1): nothing is counted that did not happen. */
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

/* Busy time of the two CPUs the experiment uses (sender on 0, sink on 1), in seconds, from /proc/stat:
 * a cross-check that the saving is not work moved to another thread or CPU (ksoftirqd, io-wq, the sink). */
static double busy_seconds(void) {
    FILE *stat = fopen("/proc/stat", "r");
    char name[16];
    unsigned long long user, nice, system, idle, iowait, irq, softirq, total = 0;
    while (stat && fscanf(stat, "%15s %llu %llu %llu %llu %llu %llu %llu%*[^\n]", name, &user, &nice, &system, &idle, &iowait, &irq, &softirq) == 8)
        if (strcmp(name, "cpu0") == 0 || strcmp(name, "cpu1") == 0) total += user + nice + system + irq + softirq;
    if (stat) fclose(stat);
    return (double)total / (double)sysconf(_SC_CLK_TCK);
}

static void check(int result, const char *what) {
    if (result != 64) { fprintf(stderr, "sender: %s wrote %d, not 64 bytes\n", what, result); exit(1); }
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: sender PORT N ROUNDS sendmsg|uring BATCH\n"); return 2; }
    int port = atoi(argv[1]), count = atoi(argv[2]), rounds = atoi(argv[3]), batch = atoi(argv[5]);
    int uring = strcmp(argv[4], "uring") == 0;
    if (!uring && strcmp(argv[4], "sendmsg") != 0) { fprintf(stderr, "sender: mode must be sendmsg or uring, got %s\n", argv[4]); return 2; }
    if (count < 1 || rounds < 1 || batch < 1 || batch > 4096) { fprintf(stderr, "sender: N, ROUNDS >= 1 and 1 <= BATCH <= 4096\n"); return 2; }

    int *sockets = malloc(sizeof(int) * (size_t)count), one = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < count; i++) {
        sockets[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (sockets[i] < 0 || connect(sockets[i], (struct sockaddr *)&address, sizeof address)) { perror("sender: connect"); return 1; }
        setsockopt(sockets[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    sleep(1); /* the sink has accepted and registered every connection */

    char line[64];
    memset(line, 'x', sizeof line - 1);
    line[63] = '\n';
    struct io_uring ring;
    if (uring && io_uring_queue_init(4096, &ring, 0) < 0) { fprintf(stderr, "sender: io_uring_queue_init failed\n"); return 1; }

    struct timespec pause = {0, 200 * 1000 * 1000};
    double cpu = 0, busy = busy_seconds();
    for (int round = 0; round < rounds; round++) {
        double before = cpu_seconds();
        if (!uring) {
            for (int i = 0; i < count; i++) {
                struct iovec piece = {line, sizeof line};
                struct msghdr message = {.msg_iov = &piece, .msg_iovlen = 1};
                check((int)sendmsg(sockets[i], &message, MSG_DONTWAIT | MSG_NOSIGNAL), "sendmsg");
            }
        } else {
            for (int i = 0; i < count;) {
                int queued = 0;
                for (; queued < batch && i < count; queued++, i++)
                    io_uring_prep_send(io_uring_get_sqe(&ring), sockets[i], line, sizeof line, MSG_DONTWAIT | MSG_NOSIGNAL);
                io_uring_submit_and_wait(&ring, (unsigned)queued);
                for (int seen = 0; seen < queued; seen++) {
                    struct io_uring_cqe *completion;
                    io_uring_wait_cqe(&ring, &completion);
                    check(completion->res, "io_uring send");
                    io_uring_cqe_seen(&ring, completion);
                }
            }
        }
        cpu += cpu_seconds() - before;
        nanosleep(&pause, NULL);
    }
    busy = busy_seconds() - busy;
    printf("{\"mode\":\"%s\",\"batch\":%d,\"sockets\":%d,\"sends\":%ld,\"cpuMicrosecondsPerSend\":%.3f,\"bothCpusBusyMicrosecondsPerSend\":%.3f}\n",
           argv[4], uring ? batch : 1, count, (long)count * rounds, cpu * 1e6 / ((double)count * rounds), busy * 1e6 / ((double)count * rounds));
    return 0;
}
