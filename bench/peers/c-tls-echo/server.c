/* bench/peers/c-tls-echo/server.c: the TLS floor for an OpenSSL-based server. One thread, one
 * level-triggered epoll loop, non-blocking sockets, OpenSSL's own socket BIOs (no memory BIOs, no
 * runtime, no copies): what a TLS handshake and a TLS echo cost on this machine's libssl when nothing
 * else is in the way. Sockeye's TLS is .NET's SslStream over the same libssl, so the gap between
 * Sockeye and this server is what .NET and Sockeye add; the gap between this server and Go's
 * crypto/tls is OpenSSL's (BENCHMARKS.md, "TLS, third run").
 *
 * The SSL_CTX is set up as .NET 10 sets up the one it shares per certificate (SSLv23 method, TLS 1.2
 * and 1.3, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE, the server session cache with a
 * random session id context, OpenSSL's default TLS 1.3 ticket count of 2), so the two do the same
 * cryptography. TICKETS sets SSL_CTX_set_num_tickets; CIPHERS a TLS 1.3 ciphersuite list.
 *
 * Build: gcc -O2 -o c-tls-echo server.c -lssl -lcrypto
 * Use:   c-tls-echo PORT CERT.pem KEY.pem [TICKETS [CIPHERSUITES]]    prints "listening on 127.0.0.1:PORT" */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define EVENTS 256

typedef struct {
    int fd;
    SSL *ssl;
    int handshaken;
} conn_t;

static int epoll_fd;

static void die(const char *what) {
    fprintf(stderr, "c-tls-echo: %s: %s\n", what, strerror(errno));
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void finish(conn_t *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

/* Waits for what OpenSSL asked for; false when the connection is over. */
static int want(conn_t *c, int result) {
    int error = SSL_get_error(c->ssl, result);
    struct epoll_event e = {.data.ptr = c};
    if (error == SSL_ERROR_WANT_READ) e.events = EPOLLIN;
    else if (error == SSL_ERROR_WANT_WRITE) e.events = EPOLLOUT;
    else return 0;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &e);
    return 1;
}

static void serve(conn_t *c) {
    if (!c->handshaken) {
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            if (!want(c, r)) finish(c);
            return;
        }
        c->handshaken = 1;
    }
    char buffer[4096];
    for (;;) {
        int n = SSL_read(c->ssl, buffer, sizeof buffer);
        if (n <= 0) {
            int error = SSL_get_error(c->ssl, n);
            if (error == SSL_ERROR_ZERO_RETURN) { /* the client's close_notify: answer it, then FIN */
                SSL_shutdown(c->ssl);
                shutdown(c->fd, SHUT_WR);
                finish(c);
            } else if (!want(c, n)) {
                finish(c);
            }
            return;
        }
        /* Echoes are small here (64 B): a write that does not complete at once ends the connection
         * rather than being queued, which a benchmark would show as an error. */
        if (SSL_write(c->ssl, buffer, n) != n) {
            finish(c);
            return;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: c-tls-echo PORT CERT.pem KEY.pem [TICKETS [CIPHERSUITES]]\n");
        return 2;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    unsigned char id[32];
    RAND_bytes(id, sizeof id);
    SSL_CTX_set_session_id_context(ctx, id, sizeof id);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (argc > 4) SSL_CTX_set_num_tickets(ctx, (size_t)atoi(argv[4]));
    if (argc > 5 && !SSL_CTX_set_ciphersuites(ctx, argv[5])) die("SSL_CTX_set_ciphersuites");
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1) die("certificate");
    if (SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) die("key");

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) die("bind");
    if (listen(listener, 4096) != 0) die("listen");
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);
    printf("listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    epoll_fd = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &e);
    struct epoll_event events[EVENTS];
    for (;;) {
        int ready = epoll_wait(epoll_fd, events, EVENTS, -1);
        if (ready < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < ready; i++) {
            conn_t *c = events[i].data.ptr;
            if (c) {
                serve(c);
                continue;
            }
            for (;;) {
                int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0) break;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                c->fd = fd;
                c->ssl = SSL_new(ctx);
                SSL_set_fd(c->ssl, fd);
                struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ce);
            }
        }
    }
}
