/*
 * echo-peer -- a raw civetweb WebSocket echo server: the ceiling of our transport.
 *
 * Same civetweb (1.15, Debian), same options as build/statechannel where they matter
 * (tcp_nodelay=1, one worker thread per connection, the same connection queue and backlog),
 * and the same write path: each text or binary frame is sent back as one prebuilt frame
 * (2-10 byte header + payload) with one mg_write under mg_lock_connection (CIVETWEB.md: 1.1-1.3x
 * faster than mg_websocket_write, no Nagle stall). No JSON, no queues, no writer threads: what
 * is left of the server's cost per event once the protocol is gone.
 *
 *   echo-peer --port N [--max-connections N] [--bind ADDR]
 * WebSocket endpoint: /socket/websocket (the query string is ignored), so wsload's default path
 * works unchanged. Runs until SIGINT/SIGTERM. Limits: frames up to ECHO_MAX_FRAME bytes are
 * echoed; larger ones close the connection with 1009.
 */
#include <civetweb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Threads beyond the WebSocket cap, as the server's SC_HTTP_THREADS. */
#define ECHO_HTTP_THREADS 16
/* Frames echoed on the worker's stack up to this size; larger ones are malloc'd (civetweb's
 * worker stack is ~100 KiB: CIVETWEB.md). */
#define ECHO_STACK_FRAME 4096
/* Largest frame echoed: the load tool's frames are ~100 bytes; this only bounds memory. */
#define ECHO_MAX_FRAME (1u << 20)
/* File descriptors per connection (socket) plus slack for listeners, logs, libraries. */
#define ECHO_FD_SLACK 64

static int echo_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cb)
{
    (void)cb;
    int opcode = bits & 0x0F;
    if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
        return 0;
    if (opcode != MG_WEBSOCKET_OPCODE_TEXT && opcode != MG_WEBSOCKET_OPCODE_BINARY)
        return 1;
    if (len > ECHO_MAX_FRAME) {
        mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, "\x03\xf1", 2);
        return 0;
    }
    unsigned char stackbuf[ECHO_STACK_FRAME];
    unsigned char *buf = len + 10 <= sizeof stackbuf ? stackbuf : malloc(len + 10);
    if (buf == NULL)
        return 0;
    size_t h = 0;
    buf[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        buf[h++] = (unsigned char)len;
    } else if (len <= 0xFFFF) {
        buf[h++] = 126;
        buf[h++] = (unsigned char)(len >> 8);
        buf[h++] = (unsigned char)len;
    } else {
        buf[h++] = 127;
        for (int i = 7; i >= 0; i--)
            buf[h++] = (unsigned char)((unsigned long long)len >> (8 * i));
    }
    memcpy(buf + h, data, len);
    mg_lock_connection(conn);
    int n = mg_write(conn, buf, h + len);
    mg_unlock_connection(conn);
    if (buf != stackbuf)
        free(buf);
    return n == (int)(h + len);
}

int main(int argc, char **argv)
{
    int port = 0, max_conns = 1000;
    const char *bind = "127.0.0.1";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-connections") == 0)
            max_conns = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--bind") == 0)
            bind = argv[i + 1];
        else
            break;
    }
    if (port <= 0 || port > 65535 || max_conns < 1 || max_conns > 60000) {
        fprintf(stderr, "usage: echo-peer --port N [--max-connections N (1..60000)] [--bind ADDR]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)max_conns + ECHO_FD_SLACK)
        fprintf(stderr, "echo-peer: warning: %d connections need %d descriptors; the limit is %llu\n",
                max_conns, max_conns + ECHO_FD_SLACK, (unsigned long long)rl.rlim_cur);

    /* Every thread inherits this mask: the main thread alone takes the signals in sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char ports[96], threads[16];
    snprintf(ports, sizeof ports, "%s:%d", bind, port);
    snprintf(threads, sizeof threads, "%d", max_conns + ECHO_HTTP_THREADS);
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "tcp_nodelay", "1",
        "request_timeout_ms", "5000",
        "websocket_timeout_ms", "10000",
        "enable_websocket_ping_pong", "yes",
        "connection_queue", "512",
        "listen_backlog", "4096",
        NULL,
    };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    mg_init_library(0);
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (ctx == NULL) {
        fprintf(stderr, "echo-peer: cannot listen on %s\n", ports);
        return 1;
    }
    mg_set_websocket_handler(ctx, "/socket/websocket", NULL, NULL, echo_data, NULL, NULL);
    fprintf(stderr, "echo-peer: listening on %s (%d threads)\n", ports, max_conns + ECHO_HTTP_THREADS);
    int sig = 0;
    sigwait(&set, &sig);
    mg_stop(ctx);
    mg_exit_library();
    return 0;
}
