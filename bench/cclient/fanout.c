/* bench/cclient/fanout.c: a chat fan-out load client that is not Sockeye's, for checking the figures
 * `sockeye bench fanout` gives (docs/CHAT.md has the line protocol it speaks).
 *
 * SUBSCRIBERS connections join rooms room0..room<ROOMS-1> (subscriber i joins room i % ROOMS) and only
 * read; PUBLISHERS connections join the same way (publisher j joins room j % ROOMS) and each sends
 * RATE lines a second, open loop: line k of a publisher is due at start + k / RATE and carries that due
 * time, so a server that falls behind shows in the latency instead of slowing the load (no coordinated
 * omission). A delivery is a line a subscriber receives; its latency is arrival - due time.
 *
 * One thread, one epoll loop, non-blocking sockets. After WARMUP seconds it measures for SECONDS: the
 * deliveries that arrive in the window, their latencies, and (with SERVER_PID) the server's CPU time
 * from /proc/PID/stat over the same window. Prints one JSON object. Loopback only; bounded in time
 * (connecting is given 60 s, then the run lasts WARMUP + SECONDS and at most 5 s more for the
 * window's last lines).
 *
 * Build: cc -O2 -o fanout fanout.c
 * Use:   fanout HOST PORT SUBSCRIBERS ROOMS PUBLISHERS RATE SECONDS WARMUP SIZE [SERVER_PID] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#define READ_BUFFER 65536
#define LINE_MAX_BYTES 8192

typedef struct {
    int fd;
    int publisher;          /* 1 for a publisher */
    int number;             /* subscriber or publisher index */
    int joined;             /* "OK JOIN" seen */
    long long sent;         /* publisher: lines sent */
    char line[LINE_MAX_BYTES];
    int line_length;
} member_t;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
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
    if (!p) return -1;
    unsigned long utime = 0, stime = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
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

static void die(const char *what) {
    fprintf(stderr, "fanout: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int dial(struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)address, sizeof *address) != 0) die("connect");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void send_all(int fd, const char *data, size_t length) {
    /* Only small lines are sent; a full socket buffer here means the server stopped reading. */
    while (length > 0) {
        ssize_t n = send(fd, data, length, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) die("send");
        data += n;
        length -= (size_t)n;
    }
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Latencies of the measured window, in microseconds. */
static uint32_t *latencies;
static size_t latency_count, latency_capacity;

static void record(long long latency_ns) {
    if (latency_count == latency_capacity) {
        latency_capacity = latency_capacity ? latency_capacity * 2 : 1 << 20;
        latencies = realloc(latencies, latency_capacity * sizeof *latencies);
        if (!latencies) die("realloc");
    }
    long long us = latency_ns / 1000;
    latencies[latency_count++] = us < 0 ? 0 : (uint32_t)(us > 0xFFFFFFFFLL ? 0xFFFFFFFFLL : us);
}

int main(int argc, char **argv) {
    if (argc < 10) {
        fprintf(stderr, "usage: fanout HOST PORT SUBSCRIBERS ROOMS PUBLISHERS RATE SECONDS WARMUP SIZE [SERVER_PID]\n");
        return 2;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) {
        fprintf(stderr, "fanout: HOST must be an IPv4 address, got %s\n", argv[1]);
        return 2;
    }
    int subscribers = atoi(argv[3]), rooms = atoi(argv[4]), publishers = atoi(argv[5]);
    double rate = atof(argv[6]), seconds = atof(argv[7]), warmup = atof(argv[8]);
    int size = atoi(argv[9]);
    int server_pid = argc > 10 ? atoi(argv[10]) : 0;
    if (subscribers < 1 || rooms < 1 || publishers < 1 || rate <= 0 || seconds <= 0 || warmup < 0 || size < 40 || size > 4000) {
        fprintf(stderr, "fanout: SUBSCRIBERS, ROOMS, PUBLISHERS >= 1, RATE and SECONDS > 0, WARMUP >= 0, 40 <= SIZE <= 4000\n");
        return 2;
    }

    int total = subscribers + publishers;
    long rss_before = server_rss_bytes(server_pid), rss_joined = -1;
    member_t *members = calloc((size_t)total, sizeof *members);
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (!members || epoll < 0) die("setup");
    char text[LINE_MAX_BYTES];
    for (int i = 0; i < total; i++) {
        member_t *m = &members[i];
        m->publisher = i >= subscribers;
        m->number = m->publisher ? i - subscribers : i;
        m->fd = dial(&address);
        int length = snprintf(text, sizeof text, "NICK %c%d\nJOIN room%d\n", m->publisher ? 'p' : 's', m->number, m->number % rooms);
        send_all(m->fd, text, (size_t)length);
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, m->fd, &event) != 0) die("epoll_ctl");
    }

    struct epoll_event events[512];
    char buffer[READ_BUFFER];
    int joined = 0, closed = 0;
    long long deliveries = 0, other_lines = 0, expected_so_far = 0;
    long long start = 0, window_start = 0, window_end = 0, stop = 0;
    long long connect_deadline = now_ns() + 60LL * 1000000000LL;
    double cpu_start = -1, cpu_end = -1, own_start = 0, own_end = 0;
    long long interval = (long long)(1e9 / rate);
    int measuring = 0;

    for (;;) {
        long long now = now_ns();
        if (joined < total && now > connect_deadline) {
            fprintf(stderr, "fanout: only %d of %d members joined within 60 s\n", joined, total);
            return 1;
        }
        if (start && !measuring && now >= window_start) {
            measuring = 1;
            cpu_start = server_cpu_seconds(server_pid);
            own_start = own_cpu_seconds();
        }
        if (start && measuring == 1 && now >= window_end) {
            measuring = 2;
            cpu_end = server_cpu_seconds(server_pid);
            own_end = own_cpu_seconds();
        }
        /* After the window: stop once every line due in it has arrived, or 5 s after it closed
         * (what has not arrived by then is counted lost). */
        if (start && (now >= stop || (now >= window_end && deliveries >= expected_so_far))) break;

        /* Publishers: every line now due goes out (open loop). */
        long long next_due = now + 1000000000LL;
        if (start) {
            for (int j = subscribers; j < total; j++) {
                member_t *m = &members[j];
                for (;;) {
                    long long due = start + m->sent * interval + (long long)m->number * interval / publishers;
                    if (due > now) {
                        if (due < next_due) next_due = due;
                        break;
                    }
                    /* The text after the room is SIZE bytes: "<seq> <due> " and padding. */
                    int header = snprintf(text, sizeof text, "MSG room%d ", m->number % rooms);
                    int body = snprintf(text + header, sizeof text - (size_t)header, "%lld %lld ", m->sent, due);
                    int padding = size > body ? size - body : 0;
                    memset(text + header + body, 'x', (size_t)padding);
                    text[header + body + padding] = '\n';
                    send_all(m->fd, text, (size_t)(header + body + padding + 1));
                    m->sent++;
                    if (due >= window_start && due < window_end) {
                        int room = m->number % rooms;
                        expected_so_far += subscribers / rooms + (room < subscribers % rooms ? 1 : 0);
                    }
                }
            }
        }

        int timeout_ms = start ? (int)((next_due - now) / 1000000) : 100;
        if (timeout_ms < 0) timeout_ms = 0;
        if (timeout_ms > 100) timeout_ms = 100;
        int ready = epoll_wait(epoll, events, 512, timeout_ms);
        if (ready < 0 && errno != EINTR) die("epoll_wait");
        long long arrival = now_ns();
        for (int e = 0; e < ready; e++) {
            member_t *m = &members[events[e].data.u32];
            for (;;) {
                ssize_t n = recv(m->fd, buffer, sizeof buffer, 0);
                if (n < 0 && errno == EAGAIN) break;
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    closed++;
                    epoll_ctl(epoll, EPOLL_CTL_DEL, m->fd, NULL);
                    close(m->fd);
                    break;
                }
                for (ssize_t k = 0; k < n; k++) {
                    char c = buffer[k];
                    if (c != '\n') {
                        if (m->line_length < LINE_MAX_BYTES - 1) m->line[m->line_length++] = c;
                        continue;
                    }
                    m->line[m->line_length] = 0;
                    m->line_length = 0;
                    if (!m->joined && strncmp(m->line, "OK JOIN", 7) == 0) {
                        m->joined = 1;
                        if (++joined == total) {
                            rss_joined = server_rss_bytes(server_pid);
                            start = now_ns();
                            window_start = start + (long long)(warmup * 1e9);
                            window_end = window_start + (long long)(seconds * 1e9);
                            stop = window_end + 5000000000LL;
                        }
                        continue;
                    }
                    if (m->publisher || strncmp(m->line, "OK ", 3) == 0) continue;
                    /* "<room> p<j>: <seq> <due> <padding>" */
                    char *colon = strstr(m->line, ": ");
                    long long sequence, due;
                    if (!colon || sscanf(colon + 2, "%lld %lld", &sequence, &due) != 2) {
                        other_lines++;
                        continue;
                    }
                    if (due >= window_start && due < window_end) {
                        deliveries++;
                        record(arrival - due);
                    }
                }
            }
        }
    }

    /* A delivery is counted when its line was due inside the window, so the expected number is the
     * lines due inside it times the subscribers of each line's room. */
    long long expected = 0;
    for (int j = subscribers; j < total; j++) {
        int room = members[j].number % rooms;
        int in_room = subscribers / rooms + (room < subscribers % rooms ? 1 : 0);
        long long count = 0;
        for (long long k = 0; k < members[j].sent; k++) {
            long long due = start + k * interval + (long long)members[j].number * interval / publishers;
            if (due >= window_start && due < window_end) count++;
        }
        expected += count * in_room;
    }
    qsort(latencies, latency_count, sizeof *latencies, compare_u32);
#define PERCENTILE(p) (latency_count ? latencies[(size_t)((latency_count - 1) * (p))] : 0)
    double cpu = (cpu_start >= 0 && cpu_end >= 0) ? cpu_end - cpu_start : -1;
    printf("{\"client\":\"bench/cclient/fanout.c\",\"subscribers\":%d,\"rooms\":%d,\"publishers\":%d,\"rate\":%g,"
           "\"seconds\":%g,\"deliveries\":%lld,\"expectedDeliveries\":%lld,\"lostDeliveries\":%lld,"
           "\"deliveriesPerSecond\":%.0f,\"p50Microseconds\":%u,\"p99Microseconds\":%u,\"maxMicroseconds\":%u,"
           "\"serverCpuSeconds\":%.2f,\"clientCpuSeconds\":%.3f,\"serverCpuMicrosecondsPerDelivery\":%.2f,\"closedByServer\":%d,\"otherLines\":%lld,"
           "\"serverRssBefore\":%ld,\"serverRssJoined\":%ld}\n",
           subscribers, rooms, publishers, rate, seconds, deliveries, expected, expected - deliveries,
           deliveries / seconds, PERCENTILE(0.50), PERCENTILE(0.99), latency_count ? latencies[latency_count - 1] : 0,
           cpu, own_end - own_start, cpu >= 0 && deliveries ? cpu * 1e6 / deliveries : -1, closed, other_lines, rss_before, rss_joined);
    return 0;
}
