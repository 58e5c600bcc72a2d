/* bench/peers/c-echo/server.c: the floor, a TCP echo server with nothing in it but epoll.
 *
 * THREADS threads, each with its own listening socket on 127.0.0.1:PORT (SO_REUSEPORT, so the kernel
 * spreads new connections over them) and its own level-triggered epoll loop that accepts and echoes.
 * Sockets are non-blocking with TCP_NODELAY; a connection costs one small struct, and a buffer only
 * while a reply is waiting for the peer to read (the rest of the time the bytes live in one buffer
 * per thread). What the kernel cannot do for it, it does not do: no timeouts, no limits, no logging.
 *
 * Build: gcc -O2 -pthread -o c-echo server.c
 * Use:   c-echo [PORT [THREADS]]      (defaults 7003 and 1)
 *        prints "listening on 127.0.0.1:PORT" once every thread listens, runs until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_BYTES 65536
#define EVENTS 256

/* One connection; epoll's data.ptr points here (the listener is marked by a NULL pointer). */
typedef struct {
    int fd;
    char *pending;    /* bytes read but not yet written back, or NULL */
    size_t offset, length;
} connection_t;

static void die(const char *what) {
    fprintf(stderr, "c-echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int listen_on(unsigned short port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) die("SO_REUSEPORT");
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) die("bind");
    if (listen(fd, 4096) != 0) die("listen");
    return fd;
}

static void close_connection(connection_t *c) {
    close(c->fd); /* also removes it from the epoll set */
    free(c->pending);
    free(c);
}

/* Writes what is pending; 1 when it all went, 0 when the peer's window is full, -1 on error. */
static int flush(connection_t *c) {
    while (c->offset < c->length) {
        ssize_t n = send(c->fd, c->pending + c->offset, c->length - c->offset, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? 0 : errno == EINTR ? flush(c) : -1;
        c->offset += (size_t)n;
    }
    free(c->pending);
    c->pending = NULL;
    c->offset = c->length = 0;
    return 1;
}

/* Reads and echoes until the socket is drained; 0 to keep the connection, -1 to close it. While a
 * reply is stuck it stops reading (EPOLLOUT only), so a slow reader holds one buffer, not many. */
static int serve(int epoll, connection_t *c, char *buffer) {
    for (;;) {
        ssize_t n = recv(c->fd, buffer, BUFFER_BYTES, 0);
        if (n == 0) return -1;
        if (n < 0) return errno == EAGAIN ? 0 : errno == EINTR ? serve(epoll, c, buffer) : -1;
        ssize_t sent = send(c->fd, buffer, (size_t)n, MSG_NOSIGNAL);
        if (sent < 0 && errno != EAGAIN) return -1;
        if (sent < 0) sent = 0;
        if (sent < n) {
            c->pending = malloc((size_t)(n - sent));
            if (!c->pending) return -1;
            memcpy(c->pending, buffer + sent, (size_t)(n - sent));
            c->offset = 0;
            c->length = (size_t)(n - sent);
            struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
            return epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &e);
        }
        if (n < BUFFER_BYTES) return 0; /* a short read: the socket is empty, skip the EAGAIN call */
    }
}

static void *loop(void *argument) {
    int listener = *(int *)argument;
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) die("epoll_create1");
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &e) != 0) die("epoll_ctl listener");
    char *buffer = malloc(BUFFER_BYTES);
    struct epoll_event events[EVENTS];
    for (;;) {
        int ready = epoll_wait(epoll, events, EVENTS, -1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) die("epoll_wait");
        for (int i = 0; i < ready; i++) {
            connection_t *c = events[i].data.ptr;
            if (c == NULL) {
                /* Accept every queued connection for this one wake-up. */
                for (;;) {
                    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break; /* EAGAIN, or EMFILE and friends: try again at the next wake-up */
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    connection_t *n = calloc(1, sizeof *n);
                    if (!n) { close(fd); continue; }
                    n->fd = fd;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = n};
                    if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ce) != 0) close_connection(n);
                }
                continue;
            }
            int keep;
            if (c->pending) {
                keep = flush(c);
                if (keep == 1) {
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                    keep = epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &ce) == 0 ? serve(epoll, c, buffer) : -1;
                }
            } else {
                keep = serve(epoll, c, buffer);
            }
            if (keep < 0) close_connection(c);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7003, threads = argc > 2 ? atoi(argv[2]) : 1;
    if (port < 1 || port > 65535 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: c-echo [PORT (1-65535) [THREADS (1-64)]]\n");
        return 2;
    }
    /* Idle benchmarks hold tens of thousands of connections. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    int listeners[64];
    pthread_t thread;
    for (int t = 0; t < threads; t++) listeners[t] = listen_on((unsigned short)port);
    for (int t = 0; t < threads; t++)
        if (pthread_create(&thread, NULL, loop, &listeners[t]) != 0) die("pthread_create");
    printf("listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    pause();
    return 0;
}
