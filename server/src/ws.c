/*
 * ws.c -- civetweb glue. Threads: civetweb runs one worker per connection; everything below
 * runs on the worker of its connection, except ws_write (writer threads). civetweb hands
 * every WebSocket frame to the data handler whole (no reassembly, FIN in `bits`); the core
 * reassembles and enforces the size cap. Writes are prebuilt frames written with one mg_write
 * under mg_lock_connection (CIVETWEB.md: 2x fan-out, no Nagle stalls, no interleaving with
 * civetweb's own PONGs). The close handler runs sc_conn_close(), which waits until no writer
 * holds the connection: civetweb reuses the mg_connection after the handler returns.
 */
#include "ws.h"

#include <civetweb.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

/* HTTP worker threads on top of the WebSocket cap: /healthz, /metrics, static files and
 * refused upgrades must still be served when every WebSocket slot is taken. */
#define SC_HTTP_THREADS 16
/* Accepted sockets waiting for a worker, and the kernel backlog (CIVETWEB.md section 4). */
#define SC_CONNECTION_QUEUE "512"
#define SC_LISTEN_BACKLOG "4096"
/* civetweb pings after this much silence and closes after 5 unanswered pings, so a dead
 * peer goes after ~6 intervals: idle_timeout / 6 gives ~idle_timeout. */
#define SC_PING_DIVISOR 6
/* After our close frame, how long a client that keeps sending may take to answer it before
 * the socket is dropped anyway. */
#define SC_CLOSE_GRACE_MS 2000
/* File descriptors needed beyond one socket per connection: the listener, HTTP requests in
 * the extra threads, the store's files, plugins, logs. */
#define SC_FD_SLACK 256

/* The TLS helper library (server/src/tls_compat.c), next to the binary in the build tree or
 * in <libdir>/statechannel when installed. */
#define SC_TLS_LIB "libstatechannel-tls.so"
#ifndef SC_LIBDIR
#define SC_LIBDIR "lib"
#endif

typedef int (*sc_tls_configure_fn)(void *ssl_ctx, const char *cert, const char *key, char *err,
                                   size_t errcap);

struct sc_ws {
    struct mg_context *ctx;
    sc_server *srv;
    sc_ws_options o;
    char ws_path[128], sc_ws_path[128];
    sc_tls_configure_fn tls_configure; /* from the TLS helper; NULL without TLS */
    char tls_err[256];                 /* why init_ssl failed */
};

typedef struct wsconn {
    sc_ws *ws;
    struct mg_connection *mg; /* valid until the close handler returns */
    sc_conn *core;
    int slot;                 /* holds a connection slot */
    int64_t closing_since;    /* when our close frame went out (monotonic ms), or 0 */
} wsconn;

static int ws_write(void *user, const void *buf, size_t len)
{
    wsconn *w = user;
    mg_lock_connection(w->mg);
    int n = mg_write(w->mg, buf, len);
    mg_unlock_connection(w->mg);
    return (n > 0 && (size_t)n == len) ? 0 : -1;
}

static const char *header(const struct mg_connection *conn, const char *name)
{
    return mg_get_header(conn, name);
}

/* The bearer token of "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.<b64>". */
static char *token_from(const struct mg_connection *conn)
{
    static const char prefix[] = "base64url.bearer.phx.";
    const char *h = header(conn, "Sec-WebSocket-Protocol");
    if (h == NULL)
        return NULL;
    const char *p = h;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > sizeof prefix - 1 && strncmp(p, prefix, sizeof prefix - 1) == 0)
            return sc_base64_decode(p + sizeof prefix - 1, n - (sizeof prefix - 1), NULL);
        if (end == NULL)
            break;
        p = end + 1;
    }
    return NULL;
}

static int origin_ok(sc_ws *w, const struct mg_connection *conn)
{
    if (w->o.n_origins == 0)
        return 1;
    const char *origin = header(conn, "Origin");
    if (origin == NULL)
        return 0;
    for (int i = 0; i < w->o.n_origins; i++)
        if (strcasecmp(origin, w->o.origins[i]) == 0)
            return 1;
    return 0;
}

static void send_body(struct mg_connection *conn, int status, const char *type, const char *body,
                      size_t len)
{
    const char *text = status == 200 ? "OK" : status == 403 ? "Forbidden" : status == 404 ? "Not Found"
                     : status == 503 ? "Service Unavailable" : status == 400 ? "Bad Request"
                     : status == 405 ? "Method Not Allowed" : "Error";
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
              status, text, type, len);
    mg_write(conn, body, len);
}

static int send_text(struct mg_connection *conn, int status, const char *body)
{
    send_body(conn, status, "text/plain; charset=utf-8", body, strlen(body));
    return status;
}

/* Every request passes here first (civetweb's begin_request): we route everything ourselves
 * and let civetweb continue only with WebSocket upgrades that passed our checks. */
static int begin_request(struct mg_connection *conn)
{
    sc_ws *w = mg_get_user_data(mg_get_context(conn));
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *uri = ri->local_uri_raw ? ri->local_uri_raw : ri->request_uri;
    /* civetweb calls neither the ready nor the close handler when writing the 101 response
     * fails after our connect handler ran: reclaim that wsconn and its slot here, the next
     * time this worker's connection struct is used. */
    wsconn *stale = mg_get_user_connection_data(conn);
    if (stale != NULL && stale->core == NULL) {
        if (stale->slot)
            sc_server_conn_release(w->srv);
        mg_set_user_connection_data(conn, NULL);
        free(stale);
    }
    if (uri == NULL)
        return send_text(conn, 400, "bad request\n");

    int is_ws = strcmp(uri, w->ws_path) == 0, is_sc = strcmp(uri, w->sc_ws_path) == 0;
    if (is_ws || is_sc) {
        /* civetweb 1.15 never clears the accepted subprotocol of the worker's reused
         * connection struct: a client that offers none would get the previous client's
         * "phoenix" back and fail the handshake (RFC 6455 4.1). Clear it before civetweb
         * negotiates this request's. */
        ((struct mg_request_info *)ri)->acceptedWebSocketSubprotocol = NULL;
        const char *up = header(conn, "Upgrade");
        if (up == NULL || strcasecmp(up, "websocket") != 0)
            return send_text(conn, 400, "WebSocket upgrade required\n");
        if (sc_server_stopping(w->srv)) {
            sc_server_count_refusal(w->srv, "shutting_down");
            return send_text(conn, 503, "shutting down\n");
        }
        if (!origin_ok(w, conn)) {
            sc_server_count_refusal(w->srv, "origin");
            sc_logf("info", "upgrade refused: origin %s not allowed",
                    header(conn, "Origin") ? header(conn, "Origin") : "(none)");
            return send_text(conn, 403, "origin not allowed\n");
        }
        if (sc_server_conn_full(w->srv)) {
            sc_server_count_refusal(w->srv, "too_many_connections");
            sc_logf("warn", "upgrade refused: %d connections open (the cap)",
                    sc_server_config(w->srv)->max_connections);
            return send_text(conn, 503, "too many connections\n");
        }
        cJSON *params = sc_query_parse(ri->query_string);
        const cJSON *vsn = cJSON_GetObjectItemCaseSensitive(params, "vsn");
        if (cJSON_IsString(vsn) && strncmp(vsn->valuestring, "2.", 2) != 0) {
            cJSON_Delete(params);
            sc_server_count_refusal(w->srv, "unsupported_vsn");
            return send_text(conn, 400, "unsupported serializer version (use vsn=2.0.0)\n");
        }
        char *token = token_from(conn);
        int ok = sc_server_connect_check(w->srv, params, token) == 0;
        cJSON_Delete(params);
        free(token);
        if (!ok) {
            sc_server_count_refusal(w->srv, "connect_refused");
            return send_text(conn, 403, "connection refused\n");
        }
        return 0; /* civetweb performs the upgrade and calls the WebSocket handlers */
    }

    if (strcmp(ri->request_method, "GET") != 0 && strcmp(ri->request_method, "HEAD") != 0)
        return send_text(conn, 405, "method not allowed\n");
    if (strcmp(uri, "/healthz") == 0)
        return send_text(conn, 200, "ok\n");
    if (strcmp(uri, "/metrics") == 0) {
        sbuf b = {0};
        sc_http_metrics(w->srv, &b);
        send_body(conn, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
        sbuf_free(&b);
        return 200;
    }
    if (strncmp(uri, "/api/state/", 11) == 0) {
        cJSON *params = sc_query_parse(ri->query_string);
        const char *auth = header(conn, "Authorization");
        const char *token = (auth && strncasecmp(auth, "Bearer ", 7) == 0) ? auth + 7 : NULL;
        sbuf b = {0};
        int status = sc_http_state(w->srv, uri + 11, params, token, &b);
        cJSON_Delete(params);
        if (b.data == NULL)
            sbuf_puts(&b, "{}");
        send_body(conn, status, "application/json", b.data, b.len);
        sbuf_free(&b);
        return status;
    }
    char path[4096];
    if (w->o.public_dir != NULL &&
        sc_static_path(w->o.public_dir, uri, path, sizeof path) == 0) {
        mg_send_mime_file(conn, path, NULL);
        return 200;
    }
    return send_text(conn, 404, "not found\n");
}

static int ws_connect(const struct mg_connection *conn, void *cbdata)
{
    sc_ws *w = cbdata;
    if (sc_server_conn_reserve(w->srv) != 0) {
        sc_server_count_refusal(w->srv, "too_many_connections");
        return 1; /* lost a race with another upgrade for the last slot */
    }
    wsconn *wc = calloc(1, sizeof *wc);
    if (wc == NULL) {
        sc_server_conn_release(w->srv);
        return 1;
    }
    wc->ws = w;
    wc->slot = 1;
    mg_set_user_connection_data(conn, wc);
    return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
    sc_ws *w = cbdata;
    wsconn *wc = mg_get_user_connection_data(conn);
    if (wc == NULL)
        return;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *uri = ri->local_uri_raw ? ri->local_uri_raw : "";
    cJSON *params = sc_query_parse(ri->query_string);
    char *token = token_from(conn);
    wc->mg = conn;
    wc->core = sc_conn_new(w->srv, params, token, strcmp(uri, w->sc_ws_path) == 0, ws_write, wc);
    cJSON_Delete(params);
    free(token);
    sc_logf("info", "connection opened from %s:%d (%s)", ri->remote_addr, ri->remote_port, uri);
}

static int ws_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
    sc_ws *w = cbdata;
    wsconn *wc = mg_get_user_connection_data(conn);
    if (wc == NULL || wc->core == NULL)
        return 0;
    int opcode = bits & 0x0F;
    /* What the core queues for this client while it handles the frame (the reply, its own
     * patches) is written here, on this worker, when it is done: one thread hand-off less per
     * message (outq.h). Patches for other clients still go to the writers. */
    sc_outq *q = sc_conn_outq(wc->core);
    /* A write to this client failed or passed --write-timeout: its queue was dropped and
     * nothing will reach it again. Close the socket at its next frame (a heartbeat at the
     * latest) rather than keep a connection that silently sends nothing: the client then
     * reconnects and resumes with what it missed. */
    if (outq_hold(q)) {
        outq_release(q);
        sc_logf("info", "closing a connection whose writes failed or timed out");
        return 0;
    }
    /* ... and the writers are told about the other clients' queues once, after the frame
     * (a patch to 10,000 subscribers: one wake-up per writer instead of 10,000). */
    outq_defer_begin();
    sc_conn_frame(wc->core, (bits & 0x80) != 0, opcode, data, len);
    outq_defer_end();
    outq_release(q);
    if (sc_conn_close_code(wc->core) == 0)
        return 1;
    /* Send what is queued (error replies, then the close frame), bounded by the write
     * timeout. Then, unless this frame was the client's close, keep reading (and ignoring)
     * until it is: closing a socket with unread input makes the kernel send a RST, and the
     * client would lose our close frame and the replies before it (RFC 6455 7.1.1). */
    int timeout = sc_server_config(w->srv)->write_timeout_ms + 1000;
    if (opcode == 0x8) {
        outq_flush_wait(sc_conn_outq(wc->core), timeout);
        return 0;
    }
    if (wc->closing_since == 0) {
        outq_flush_wait(sc_conn_outq(wc->core), timeout);
        wc->closing_since = sc_clock_ms();
        return 1;
    }
    return sc_clock_ms() - wc->closing_since < SC_CLOSE_GRACE_MS;
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
    sc_ws *w = cbdata;
    wsconn *wc = mg_get_user_connection_data(conn);
    if (wc == NULL)
        return;
    if (wc->core != NULL) {
        sc_conn_close(wc->core);
        sc_logf("info", "connection closed");
    }
    if (wc->slot)
        sc_server_conn_release(w->srv);
    mg_set_user_connection_data(conn, NULL);
    free(wc);
}

/* Loads the TLS helper before civetweb loads OpenSSL (tls_compat.c says why). The handle is
 * never closed: civetweb keeps pointers into it for the process's life. */
static int tls_load(sc_ws *w, char *err, size_t errcap)
{
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(err, errcap, "TLS: cannot locate the executable");
        return -1;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL)
        *slash = '\0';
    const char *candidates[] = {"%s/" SC_TLS_LIB, "%s/../" SC_LIBDIR "/statechannel/" SC_TLS_LIB};
    void *h = NULL;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && h == NULL; i++) {
        snprintf(path, sizeof path, candidates[i], exe);
        if (access(path, R_OK) == 0 && (h = dlopen(path, RTLD_NOW | RTLD_GLOBAL)) == NULL) {
            snprintf(err, errcap, "TLS: cannot load %s: %s", path, dlerror());
            return -1;
        }
    }
    if (h == NULL) {
        snprintf(err, errcap, "TLS: %s not found next to the binary (this build has no TLS "
                 "support: install libssl-dev and rebuild)", SC_TLS_LIB);
        return -1;
    }
    w->tls_configure = (sc_tls_configure_fn)(uintptr_t)dlsym(h, "sc_tls_configure");
    if (w->tls_configure == NULL) {
        snprintf(err, errcap, "TLS: %s lacks sc_tls_configure", path);
        return -1;
    }
    return 0;
}

/* civetweb's init_ssl: we load the certificate chain and key ourselves (from two files). */
static int init_ssl(void *ssl_ctx, void *user_data)
{
    sc_ws *w = user_data;
    if (w->tls_configure(ssl_ctx, w->o.tls_cert, w->o.tls_key, w->tls_err, sizeof w->tls_err) != 0)
        return -1;
    return 1;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    sc_logf("warn", "civetweb: %s", message);
    return 1;
}

/* Raises the soft RLIMIT_NOFILE (often 1024) so that --max-connections sockets fit, up to the
 * hard limit; says so when even that is too low (accepts would fail with EMFILE). */
static void fit_nofile(int max_connections)
{
    rlim_t need = (rlim_t)max_connections + SC_HTTP_THREADS + SC_FD_SLACK;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need)
        sc_logf("warn", "--max-connections %d needs about %llu file descriptors but the limit "
                "is %llu (raise the hard limit: ulimit -Hn, LimitNOFILE=)", max_connections,
                (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

sc_ws *sc_ws_start(sc_server *s, const sc_ws_options *o, char *err, size_t errcap)
{
    sc_ws *w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    w->srv = s;
    w->o = *o;
    snprintf(w->ws_path, sizeof w->ws_path, "%s/websocket", o->mount);
    snprintf(w->sc_ws_path, sizeof w->sc_ws_path, "%s/websocket", o->sc_mount);
    const sc_config *cfg = sc_server_config(s);
    fit_nofile(cfg->max_connections);

    char ports[96], threads[16], ws_timeout[16], req_timeout[16];
    /* An "s" after the port makes it TLS only. */
    snprintf(ports, sizeof ports, "%s:%d%s", o->bind ? o->bind : "0.0.0.0", o->port,
             o->tls_cert ? "s" : "");
    if (o->tls_cert != NULL && tls_load(w, err, errcap) != 0) {
        free(w);
        return NULL;
    }
    snprintf(threads, sizeof threads, "%d", cfg->max_connections + SC_HTTP_THREADS);
    int ping = cfg->idle_timeout_ms / SC_PING_DIVISOR;
    snprintf(ws_timeout, sizeof ws_timeout, "%d", ping < 1000 ? 1000 : ping);
    snprintf(req_timeout, sizeof req_timeout, "%d", cfg->write_timeout_ms);
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "tcp_nodelay", "1",
        "enable_websocket_ping_pong", "yes",
        "websocket_timeout_ms", ws_timeout,
        "request_timeout_ms", req_timeout,
        "connection_queue", SC_CONNECTION_QUEUE,
        "listen_backlog", SC_LISTEN_BACKLOG,
        "enable_directory_listing", "no",
        /* No HTTP keep-alive: civetweb closes an idle kept-alive socket after 500 ms while
         * clients (undici, browsers) may reuse it at that moment and see "other side closed";
         * each kept-alive socket would also pin a worker thread. Every response says
         * "Connection: close" and the socket closes after it. */
        "enable_keep_alive", "no",
        NULL,
    };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.begin_request = begin_request;
    cb.log_message = log_message;
    if (o->tls_cert != NULL)
        cb.init_ssl = init_ssl;
    w->ctx = mg_start(&cb, w, options);
    if (w->ctx == NULL) {
        if (w->tls_err[0] != '\0')
            snprintf(err, errcap, "TLS: %s", w->tls_err);
        else
            snprintf(err, errcap, "cannot listen on %s (port in use?)", ports);
        free(w);
        return NULL;
    }
    static const char *protocols[] = {"phoenix"};
    static struct mg_websocket_subprotocols subprotocols = {1, protocols};
    mg_set_websocket_handler_with_subprotocols(w->ctx, w->ws_path, &subprotocols, ws_connect,
                                               ws_ready, ws_data, ws_close, w);
    mg_set_websocket_handler_with_subprotocols(w->ctx, w->sc_ws_path, &subprotocols, ws_connect,
                                               ws_ready, ws_data, ws_close, w);
    return w;
}

int sc_ws_port(const sc_ws *w)
{
    struct mg_server_port ports[1];
    if (w == NULL || mg_get_server_ports(w->ctx, 1, ports) < 1)
        return 0;
    return ports[0].port;
}

void sc_ws_stop(sc_ws *w)
{
    if (w == NULL)
        return;
    mg_stop(w->ctx);
    free(w);
}
