/* bench/peers/c-echo/client.c: a load client that is not Sockeye's, so that `sockeye bench` figures
 * can be checked by a program with nothing of ours in it. One thread, one level-triggered epoll loop,
 * non-blocking sockets with TCP_NODELAY; bench/compare pins it to the other core.
 *
 * Modes:
 *   echo  CONNECTIONS connections, closed loop: each sends SIZE bytes, waits for all SIZE back,
 *         checks them, sends again. Latency is send to last byte back.
 *   idle  opens CONNECTIONS connections, proves each with one SIZE round trip, holds them silent for
 *         SECONDS, then proves each again; "operations" is the number still alive.
 *   churn CONNECTIONS in flight, each looping: connect, one SIZE round trip, shutdown(SHUT_WR), wait
 *         for the server's FIN, close (as `sockeye bench churn` does). Latency is connect to close.
 *
 * After WARMUP seconds it measures for SECONDS (echo, churn): operations completed, a latency histogram
 * (1 µs buckets up to 1 s, 1 ms up to 100 s), and with SERVER_PID the server's CPU time (/proc/PID/stat) and RSS over the
 * same window. Prints one JSON object with the field names of `sockeye bench --json`. Loopback only;
 * bounded in time (connecting is given 60 s plus 10 ms per connection, the window WARMUP + SECONDS, the
 * idle check 30 s plus 10 ms per connection: at a million over 53 processes on 2 cores each process's
 * share took longer than a fixed minute).
 * Idle connections are spread over source addresses 127.0.0.1-127.0.0.SOURCES (default 8) so that one
 * address's ephemeral ports do not run out near 28,000.
 *
 * With C_CLIENT_PERF_CONTROL=CTL_FIFO,ACK_FIFO in the environment it writes "enable" and "disable" to a
 * `perf stat --control fifo:CTL_FIFO,ACK_FIFO --delay=-1` at the window's edges (waiting for each ack),
 * so that perf counts exactly the measured window (bench/syscalls).
 *
 * Build: gcc -O2 -o c-client client.c
 * Use:   c-client MODE HOST PORT CONNECTIONS SECONDS WARMUP SIZE [SERVER_PID [SOURCES]] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 65536
/* Latency buckets: 1 µs up to 1 s, then 1 ms up to 100 s (10,000 connections on a loaded machine
 * waited over a second); slower ones land in the last bucket. */
#define FINE_BUCKETS 1000000
#define COARSE_BUCKETS 99000
#define HISTOGRAM_BUCKETS (FINE_BUCKETS + COARSE_BUCKETS)
#define EVENTS 512

enum mode { ECHO, IDLE, CHURN };
enum state { CONNECTING, WAITING_REPLY, WAITING_FIN, HELD };

typedef struct {
    int fd;
    int state;
    int got;              /* bytes of the reply received so far */
    long long started_ns; /* when the round trip (echo) or the connection (churn) began */
} peer_t;

static enum mode mode;
static int size, epoll_fd, sources = 8;
static struct sockaddr_in target;
static char *message, *reply;
static peer_t *peers;
static uint32_t *histogram;
static long long measuring_from_ns, measuring_until_ns;
static long operations, errors, mismatches, connect_failures;
static long all_operations; /* completed ever, warm-up included: for a count taken over a whole run */

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "c-client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double server_cpu_seconds(int pid) {
    if (pid <= 0) return -1;
    char path[64], buffer[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buffer, 1, sizeof buffer - 1, f);
    fclose(f);
    buffer[n] = 0;
    char *p = strrchr(buffer, ')'); /* the command name may hold spaces */
    unsigned long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
    return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

static long server_rss_bytes(int pid) {
    if (pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

static double own_cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

/* Tells a perf stat started with --control and --delay=-1 to start or stop counting, and waits until it
 * has (perf acks each command); does nothing without C_CLIENT_PERF_CONTROL. */
static void perf_control(const char *command) {
    static FILE *control, *ack;
    const char *setting = getenv("C_CLIENT_PERF_CONTROL");
    if (!setting) return;
    if (!control) {
        char paths[512];
        snprintf(paths, sizeof paths, "%s", setting);
        char *comma = strchr(paths, ',');
        if (!comma) { fprintf(stderr, "c-client: C_CLIENT_PERF_CONTROL '%s' is not CTL_FIFO,ACK_FIFO\n", setting); exit(2); }
        *comma = 0;
        control = fopen(paths, "w");
        ack = fopen(comma + 1, "r");
        if (!control || !ack) die("open C_CLIENT_PERF_CONTROL fifos");
    }
    char reply[64];
    fprintf(control, "%s\n", command);
    fflush(control);
    if (!fgets(reply, sizeof reply, ack)) die("read perf's ack");
}

static int measuring(long long t) { return t >= measuring_from_ns && t < measuring_until_ns; }

static void record(long long started_ns, long long t) {
    all_operations++;
    if (!measuring(t)) return;
    long long us = (t - started_ns) / 1000;
    long long bucket = us < FINE_BUCKETS ? us : FINE_BUCKETS + (us - FINE_BUCKETS) / 1000;
    histogram[bucket < 0 ? 0 : bucket >= HISTOGRAM_BUCKETS ? HISTOGRAM_BUCKETS - 1 : bucket]++;
    operations++;
}

/* The latency in µs at fraction p of the recorded ones (a coarse bucket reports its lower edge). */
static long long percentile(double p) {
    long long total = 0, seen = 0;
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++) total += histogram[i];
    if (total == 0) return 0;
    long long rank = (long long)(p * total + 0.999999);
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
        if ((seen += histogram[i]) >= rank) return i < FINE_BUCKETS ? i : FINE_BUCKETS + (long long)(i - FINE_BUCKETS) * 1000;
    return FINE_BUCKETS + (long long)COARSE_BUCKETS * 1000;
}

/* Starts a non-blocking connect from source address 127.0.0.(1 + index % sources); the port is chosen
 * at connect time (IP_BIND_ADDRESS_NO_PORT), so each source address has its own ephemeral range. */
static int dial(int index) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (mode == IDLE && sources > 1) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in source = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(index % sources))};
        if (bind(fd, (struct sockaddr *)&source, sizeof source) != 0) die("bind source address");
    }
    if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) die("connect");
    return fd;
}

static void watch(int index, int op, uint32_t events) {
    struct epoll_event e = {.events = events, .data.u32 = (uint32_t)index};
    if (epoll_ctl(epoll_fd, op, peers[index].fd, &e) != 0) die("epoll_ctl");
}

static void send_message(int index) {
    peer_t *p = &peers[index];
    p->got = 0;
    if (mode == ECHO) p->started_ns = now_ns();
    /* SIZE fits in an empty socket buffer, and only one message is ever in flight. */
    if (send(p->fd, message, (size_t)size, MSG_NOSIGNAL) != size) {
        errors++;
        p->state = -1;
        return;
    }
    p->state = WAITING_REPLY;
}

static void start_churn(int index) {
    peer_t *p = &peers[index];
    p->started_ns = now_ns();
    p->fd = dial(index);
    p->state = CONNECTING;
    watch(index, EPOLL_CTL_ADD, EPOLLOUT);
}

static void restart(int index) {
    close(peers[index].fd);
    if (mode == CHURN) start_churn(index);
    else peers[index].state = -1;
}

/* One readiness event for peer index. */
static void handle(int index, uint32_t events) {
    peer_t *p = &peers[index];
    if (p->state == CONNECTING) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            connect_failures++;
            errors++;
            restart(index);
            return;
        }
        watch(index, EPOLL_CTL_MOD, EPOLLIN);
        if (mode == ECHO) {
            p->state = HELD; /* echo's first messages go out once every connection is open */
            return;
        }
        send_message(index);
        if (p->state < 0) restart(index);
        return;
    }
    if (p->state == WAITING_FIN) {
        char sink[64];
        ssize_t n = recv(p->fd, sink, sizeof sink, 0);
        if (n > 0 || (n < 0 && errno == EAGAIN)) return;
        long long t = now_ns();
        if (n == 0) record(p->started_ns, t);
        else if (measuring(t)) errors++;
        restart(index);
        return;
    }
    if (p->state == HELD) {
        /* A held connection that became readable: the server closed it, or sent bytes unasked. */
        char sink[64];
        ssize_t n = recv(p->fd, sink, sizeof sink, 0);
        if (n < 0 && errno == EAGAIN) return;
        errors++;
        restart(index);
        return;
    }
    if (p->state != WAITING_REPLY) return;
    ssize_t n = recv(p->fd, reply + p->got, (size_t)(size - p->got), 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        if (measuring(now_ns()) || mode == IDLE) errors++;
        restart(index);
        return;
    }
    p->got += (int)n;
    if (p->got < size) return;
    if (memcmp(reply, message, (size_t)size) != 0) mismatches++;
    long long t = now_ns();
    if (mode == ECHO) {
        record(p->started_ns, t);
        send_message(index);
        if (p->state < 0) restart(index);
    } else if (mode == CHURN) {
        shutdown(p->fd, SHUT_WR);
        p->state = WAITING_FIN;
    } else {
        p->state = HELD;
    }
    (void)events;
}

/* Runs the loop until deadline_ns, or (when until_settled) until no peer is waiting for a reply. */
static void run_until(long long deadline_ns, int until_settled, int count) {
    struct epoll_event events[EVENTS];
    for (;;) {
        long long t = now_ns();
        if (t >= deadline_ns) return;
        if (until_settled) {
            int waiting = 0;
            for (int i = 0; i < count && !waiting; i++) waiting = peers[i].state == WAITING_REPLY || peers[i].state == CONNECTING;
            if (!waiting) return;
        }
        int timeout_ms = (int)((deadline_ns - t) / 1000000) + 1;
        int ready = epoll_wait(epoll_fd, events, EVENTS, timeout_ms > 100 ? 100 : timeout_ms);
        if (ready < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < ready; i++) handle((int)events[i].data.u32, events[i].events);
    }
}

/* Opens every connection (blocking connects would serialise on the handshake; these overlap up to
 * 256 at a time), then the idle check's first round trip or echo's first message. */
static void open_all(int count) {
    long long deadline = now_ns() + 60LL * 1000000000LL + (long long)count * 10000000LL;
    for (int i = 0; i < count; i++) {
        peers[i].fd = dial(i);
        peers[i].state = CONNECTING;
        watch(i, EPOLL_CTL_ADD, EPOLLOUT);
        if (i % 256 == 255) run_until(deadline, 1, i + 1);
    }
    run_until(deadline, 1, count);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: c-client echo|idle|churn HOST PORT CONNECTIONS SECONDS WARMUP SIZE [SERVER_PID [SOURCES]]\n");
        return 2;
    }
    mode = strcmp(argv[1], "echo") == 0 ? ECHO : strcmp(argv[1], "idle") == 0 ? IDLE : strcmp(argv[1], "churn") == 0 ? CHURN : (enum mode)-1;
    int connections = atoi(argv[4]), pid = argc > 8 ? atoi(argv[8]) : 0;
    double seconds = atof(argv[5]), warmup = atof(argv[6]);
    size = atoi(argv[7]);
    if (argc > 9) sources = atoi(argv[9]);
    if ((int)mode < 0) { fprintf(stderr, "c-client: mode '%s' is not echo, idle or churn\n", argv[1]); return 2; }
    if (connections < 1 || connections > 100000) { fprintf(stderr, "c-client: CONNECTIONS %d is outside 1-100000\n", connections); return 2; }
    if (seconds <= 0 || seconds > 600) { fprintf(stderr, "c-client: SECONDS %g is outside (0, 600]\n", seconds); return 2; }
    if (warmup < 0 || warmup > 60) { fprintf(stderr, "c-client: WARMUP %g is outside [0, 60]\n", warmup); return 2; }
    if (size < 1 || size > MAX_SIZE) { fprintf(stderr, "c-client: SIZE %d is outside 1-%d\n", size, MAX_SIZE); return 2; }
    if (sources < 1 || sources > 254) { fprintf(stderr, "c-client: SOURCES %d is outside 1-254\n", sources); return 2; }
    target = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) { fprintf(stderr, "c-client: HOST '%s' is not an IPv4 address\n", argv[2]); return 2; }

    struct rlimit limit = {.rlim_cur = (rlim_t)connections + 64, .rlim_max = (rlim_t)connections + 64};
    struct rlimit current;
    getrlimit(RLIMIT_NOFILE, &current);
    if (current.rlim_cur < limit.rlim_cur) {
        if (current.rlim_max < limit.rlim_max) limit.rlim_max = current.rlim_max;
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    message = malloc((size_t)size);
    reply = malloc((size_t)size);
    for (int i = 0; i < size; i++) message[i] = (char)('a' + i % 26);
    peers = calloc((size_t)connections, sizeof *peers);
    histogram = calloc(HISTOGRAM_BUCKETS, sizeof *histogram);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (!message || !reply || !peers || !histogram || epoll_fd < 0) die("setup");

    long rss_before = server_rss_bytes(pid), rss_holding = -1;
    long long start = now_ns();
    long held = 0;
    double server_cpu = -1, client_cpu = -1, window = seconds;
    if (mode == CHURN) {
        measuring_from_ns = start + (long long)(warmup * 1e9);
        measuring_until_ns = measuring_from_ns + (long long)(seconds * 1e9);
        for (int i = 0; i < connections; i++) start_churn(i);
        run_until(measuring_from_ns, 0, connections);
    } else {
        open_all(connections);
        for (int i = 0; i < connections; i++) held += peers[i].state == HELD || peers[i].state == WAITING_REPLY;
        if (mode == ECHO) {
            for (int i = 0; i < connections; i++)
                if (peers[i].state == HELD) send_message(i);
            /* The first round trip of each is under way; from here on it is a closed loop. */
            measuring_from_ns = now_ns() + (long long)(warmup * 1e9);
            measuring_until_ns = measuring_from_ns + (long long)(seconds * 1e9);
            run_until(measuring_from_ns, 0, connections);
        }
    }
    if (mode != IDLE) perf_control("enable");
    double cpu0 = server_cpu_seconds(pid), own0 = own_cpu_seconds();
    long long t0 = now_ns();
    if (mode == IDLE) {
        /* Silent: the server's RSS is sampled in the middle of the hold, the connections proved after. */
        run_until(t0 + (long long)(seconds * 5e8), 0, connections);
        rss_holding = server_rss_bytes(pid);
        run_until(t0 + (long long)(seconds * 1e9), 0, connections);
        server_cpu = server_cpu_seconds(pid) - cpu0;
        client_cpu = own_cpu_seconds() - own0;
        measuring_from_ns = 0;
        measuring_until_ns = 1LL << 62;
        for (int i = 0; i < connections; i++)
            if (peers[i].state == HELD) send_message(i);
        run_until(now_ns() + 30LL * 1000000000LL + (long long)connections * 10000000LL, 1, connections);
        operations = 0;
        for (int i = 0; i < connections; i++) operations += peers[i].state == HELD;
    } else {
        run_until(measuring_until_ns, 0, connections);
        perf_control("disable");
        server_cpu = server_cpu_seconds(pid) - cpu0;
        client_cpu = own_cpu_seconds() - own0;
        window = (now_ns() - t0) / 1e9;
        rss_holding = server_rss_bytes(pid);
    }
    printf("{\"mode\": \"%s\", \"client\": \"c\", \"connections\": %d, \"size\": %d, \"connectionsHeld\": %ld, \"connectFailures\": %ld, "
           "\"seconds\": %.4f, \"operations\": %ld, \"errors\": %ld, \"mismatches\": %ld, \"clientCpuSeconds\": %.4f",
           argv[1], connections, size, mode == CHURN ? (long)connections : held, connect_failures, window, operations, errors, mismatches, client_cpu);
    if (pid > 0) printf(", \"serverCpuSeconds\": %.4f, \"serverRssBefore\": %ld, \"serverRssHolding\": %ld", server_cpu, rss_before, rss_holding);
    printf(", \"allOperations\": %ld", all_operations);
    printf(", \"p50Microseconds\": %lld, \"p99Microseconds\": %lld, \"p999Microseconds\": %lld, \"maxMicroseconds\": %lld}\n",
           percentile(0.5), percentile(0.99), percentile(0.999), percentile(1.0));
    return 0;
}
