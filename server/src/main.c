/*
 * main.c -- the statechannel binary: flags, start-up checks, signals, orderly shutdown.
 *
 * Start: parse flags -> create/check the data directory and open the store, unless --store off
 * (a corrupt, truncated or newer-schema database, or an unusable directory, exits 1 with the
 * reason) -> load plugins (any rejection exits 1 with the reason) -> listen. The main thread
 * then waits in sigwait() for SIGTERM/SIGINT (every other thread has them blocked).
 * Shutdown: refuse new sockets and joins -> queue a close frame 1001 on every socket -> wait
 * (at most SC_SHUTDOWN_GRACE_MS) for clients to close -> stop civetweb (remaining sockets:
 * handlers' leave("shutdown")) -> destroy states -> commit what is pending -> plugins' fini ->
 * close the store -> exit 0.
 */
#define _GNU_SOURCE /* mallopt */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "store.h"
#include "token.h"
#include "util.h"
#include "ws.h"

/* How long shutdown waits for clients to answer the 1001 close before cutting them off. */
#define SC_SHUTDOWN_GRACE_MS 3000
/* glibc returns freed memory above this to the kernel. Store batches are allocated on worker
 * threads and freed on the store thread; with the default (dynamic, from 128 KiB) every
 * shrink of an arena is an madvise with a TLB shootdown on every core, which cut the
 * store's throughput ~10x (docs/durability.md, "Allocator finding"). */
#define SC_MALLOC_TRIM_THRESHOLD (64 * 1024 * 1024)

static void usage(FILE *f)
{
    fprintf(f,
        "usage: statechannel [options]\n"
        "  --port N                 listen port (default 8080)\n"
        "  --bind ADDR              listen address (default 0.0.0.0)\n"
        "  --data DIR               data directory, created if missing (default ./data)\n"
        "  --store on|off           on: states and sessions are kept in <data>/statechannel.db\n"
        "                           and survive restarts; off: memory only, no --data, nothing\n"
        "                           survives a restart, no resume after one (default on)\n"
        "  --handlers DIR           load every *.so there as a handler (default build/handlers)\n"
        "  --public DIR             static files (default public/dist)\n"
        "  --mount PATH             Phoenix socket mount (default /socket)\n"
        "  --statechannel-mount PATH  StateChannel-dialect mount (default /statechannel)\n"
        "  --origin URL             allowed Origin for WebSocket upgrades; repeatable;\n"
        "                           none = every origin (default)\n"
        "  --max-message BYTES      largest client message after reassembly (default %d)\n"
        "  --max-depth N            deepest JSON nesting accepted (default %d)\n"
        "  --max-topics N           channels per socket (default %d)\n"
        "  --max-events-per-sec N   messages per second per socket (default %d)\n"
        "  --max-connections N      open WebSockets; beyond: HTTP 503 (default %d)\n"
        "  --max-states N           topic states held; joins creating more are refused (default %d)\n"
        "  --idle-timeout SEC       close silent sockets after about this long (>= 60, default %d)\n"
        "  --write-timeout MS       longest a socket write may block (default %d)\n"
        "  --max-queue-bytes BYTES  outbound budget per socket (default %u)\n"
        "  --writers N              writer threads (default %d)\n"
        "  --durable on|off         on: an sc:event is acknowledged only once committed\n"
        "                           (fsync'd); off: at once, committed in the background (default on)\n"
        "  --commit-window-us N     group commit: wait this long after the first pending change\n"
        "                           (0: commit at once, grouping what arrives meanwhile; default 0)\n"
        "  --background-window-us N  changes nobody waits on (events answered at once, joins)\n"
        "                           wait up to this long to share a commit (default 5000)\n"
        "  --session-ttl SEC        sessions idle this long expire (default %lld)\n"
        "  --max-sessions N         resumable sessions kept in memory; past it a new session\n"
        "                           ends with its channel and cannot resume (default %d)\n"
        "  --resume-log-versions N  patches kept per state for resumes (default 1000)\n"
        "  --resume-log-bytes BYTES ... and at most this many bytes of them (default 10485760)\n"
        "  --tls-cert PEM           serve https/wss only, with this certificate chain\n"
        "  --tls-key PEM            the certificate's private key (with --tls-cert)\n"
        "  --auth                   joins of the bundled handlers need a valid token\n"
        "  --auth-secret-file PATH  token secret, >= 32 bytes (default: $" SC_AUTH_SECRET_ENV ")\n"
        "  statechannel token --sub NAME [--ttl SEC] [--topic PATTERN]  mints a token\n"
        "  --help                   this text\n",
        SC_DEFAULT_MAX_MESSAGE, SC_DEFAULT_MAX_DEPTH, SC_DEFAULT_MAX_TOPICS,
        SC_DEFAULT_MAX_EVENTS_PER_SEC, SC_DEFAULT_MAX_CONNECTIONS, SC_DEFAULT_MAX_STATES,
        SC_DEFAULT_IDLE_TIMEOUT_MS / 1000, SC_DEFAULT_WRITE_TIMEOUT_MS,
        (unsigned)SC_DEFAULT_QUEUE_BYTES, SC_DEFAULT_WRITERS,
        (long long)(SC_DEFAULT_SESSION_TTL_MS / 1000), SC_DEFAULT_MAX_SESSIONS);
}

static long long num_arg(const char *flag, const char *v, long long min, long long max)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || end == v || n < min || n > max) {
        fprintf(stderr, "statechannel: %s wants an integer in [%lld, %lld], got \"%s\"\n", flag,
                min, max, v);
        exit(2);
    }
    return n;
}

/* mkdir -p, then a real write probe: fail fast rather than at the first commit. */
static int prepare_data_dir(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.write-probe-%ld", path, (long)getpid()) >= (int)sizeof probe)
        return -1;
    FILE *f = fopen(probe, "w");
    if (f == NULL)
        return -1;
    int ok = fputs("ok\n", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    unlink(probe);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    sc_config cfg;
    sc_config_defaults(&cfg);
    sc_ws_options wo;
    memset(&wo, 0, sizeof wo);
    wo.port = 8080;
    wo.public_dir = "public/dist";
    wo.mount = "/socket";
    wo.sc_mount = "/statechannel";
    const char *data_dir = "./data";
    cfg.handlers_dir = "build/handlers";
    sc_store_options so;
    sc_store_options_init(&so);
    mallopt(M_TRIM_THRESHOLD, SC_MALLOC_TRIM_THRESHOLD);

    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return sc_token_main(argc - 1, argv + 1);
    const char *secret_file = NULL;
    int use_store = 1; /* --store */

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--auth") == 0) {
            cfg.auth = 1;
            continue;
        }
        /* --flag=value is the same as --flag value. */
        char flag[64];
        const char *v;
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq != NULL && (size_t)(eq - a) < sizeof flag) {
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = '\0';
            a = flag;
            v = eq + 1;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "statechannel: unknown flag or missing value: %s\n", a);
            usage(stderr);
            return 2;
        } else {
            v = argv[++i];
        }
        if (strcmp(a, "--port") == 0)
            wo.port = (int)num_arg(a, v, 0, 65535);
        else if (strcmp(a, "--bind") == 0)
            wo.bind = v;
        else if (strcmp(a, "--data") == 0)
            data_dir = v;
        else if (strcmp(a, "--handlers") == 0)
            cfg.handlers_dir = v;
        else if (strcmp(a, "--public") == 0)
            wo.public_dir = v;
        else if (strcmp(a, "--mount") == 0)
            wo.mount = v;
        else if (strcmp(a, "--statechannel-mount") == 0)
            wo.sc_mount = v;
        else if (strcmp(a, "--origin") == 0) {
            if (wo.n_origins == SC_MAX_ORIGINS) {
                fprintf(stderr, "statechannel: at most %d --origin flags\n", SC_MAX_ORIGINS);
                return 2;
            }
            wo.origins[wo.n_origins++] = v;
        } else if (strcmp(a, "--max-message") == 0)
            cfg.max_message = (size_t)num_arg(a, v, 64, 1LL << 30);
        else if (strcmp(a, "--max-depth") == 0)
            cfg.max_depth = (int)num_arg(a, v, 2, SC_MAX_DEPTH_LIMIT);
        else if (strcmp(a, "--max-topics") == 0)
            cfg.max_topics = (int)num_arg(a, v, 1, 100000);
        else if (strcmp(a, "--max-events-per-sec") == 0)
            cfg.max_events_per_sec = (int)num_arg(a, v, 1, 1000000);
        else if (strcmp(a, "--max-connections") == 0)
            cfg.max_connections = (int)num_arg(a, v, 1, 60000);
        else if (strcmp(a, "--max-states") == 0)
            cfg.max_states = (int)num_arg(a, v, 1, 100000000);
        else if (strcmp(a, "--idle-timeout") == 0)
            cfg.idle_timeout_ms = (int)num_arg(a, v, SC_MIN_IDLE_TIMEOUT_MS / 1000, 86400) * 1000;
        else if (strcmp(a, "--write-timeout") == 0)
            cfg.write_timeout_ms = (int)num_arg(a, v, 100, 600000);
        else if (strcmp(a, "--max-queue-bytes") == 0)
            cfg.queue_bytes = (size_t)num_arg(a, v, 4096, 1LL << 34);
        else if (strcmp(a, "--writers") == 0)
            cfg.writer_threads = (int)num_arg(a, v, 1, 64);
        else if (strcmp(a, "--store") == 0) {
            if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
                fprintf(stderr, "statechannel: --store wants on or off, got \"%s\"\n", v);
                return 2;
            }
            use_store = strcmp(v, "on") == 0;
        } else if (strcmp(a, "--durable") == 0) {
            if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
                fprintf(stderr, "statechannel: --durable wants on or off, got \"%s\"\n", v);
                return 2;
            }
            cfg.durable = so.durable = strcmp(v, "on") == 0;
        } else if (strcmp(a, "--commit-window-us") == 0)
            so.commit_window_us = (uint32_t)num_arg(a, v, 0, 1000000);
        else if (strcmp(a, "--background-window-us") == 0)
            so.background_window_us = (uint32_t)num_arg(a, v, 0, 1000000);
        else if (strcmp(a, "--session-ttl") == 0)
            cfg.session_ttl_ms = so.session_ttl_ms = num_arg(a, v, 1, 365LL * 86400) * 1000;
        else if (strcmp(a, "--max-sessions") == 0)
            cfg.max_sessions = (int)num_arg(a, v, 1, 100000000);
        else if (strcmp(a, "--resume-log-versions") == 0)
            so.log_max_versions = (uint64_t)num_arg(a, v, 1, 1LL << 32);
        else if (strcmp(a, "--resume-log-bytes") == 0)
            so.log_max_bytes = (uint64_t)num_arg(a, v, 1024, 1LL << 40);
        else if (strcmp(a, "--auth-secret-file") == 0)
            secret_file = v;
        else if (strcmp(a, "--tls-cert") == 0)
            wo.tls_cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            wo.tls_key = v;
        else {
            fprintf(stderr, "statechannel: unknown flag %s\n", a);
            usage(stderr);
            return 2;
        }
    }

    if ((wo.tls_cert == NULL) != (wo.tls_key == NULL)) {
        fprintf(stderr, "statechannel: --tls-cert and --tls-key go together\n");
        return 2;
    }

    /* The token secret: needed by --auth, optional otherwise (handlers may still verify). */
    unsigned char *secret = NULL;
    char serr[256];
    int src = sc_auth_secret_load(secret_file, getenv(SC_AUTH_SECRET_ENV), &secret,
                                  &cfg.auth_secret_len, serr, sizeof serr);
    if (src < 0 || (src > 0 && cfg.auth)) {
        fprintf(stderr, "statechannel: %s\n",
                src < 0 ? serr : "--auth needs a secret: --auth-secret-file or $" SC_AUTH_SECRET_ENV);
        return 1;
    }
    cfg.auth_secret = secret;

    if (use_store && prepare_data_dir(data_dir) != 0) {
        fprintf(stderr, "statechannel: data directory %s is not a writable directory: %s\n",
                data_dir, strerror(errno));
        free(secret);
        return 1;
    }

    /* Signals: handled only by sigwait() below; every thread started from here inherits the
     * mask. A peer closing mid-write must not kill the process. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    sc_store_error se;
    sc_store *store = NULL;
    if (use_store && sc_store_open(data_dir, &so, &store, &se) != SC_STORE_OK) {
        fprintf(stderr, "statechannel: %s\n", se.message);
        return 1;
    }
    cfg.store = store; /* NULL (--store off): states and sessions live in memory only */

    char err[512];
    sc_server *s = sc_server_new(&cfg, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "statechannel: %s\n", err);
        sc_store_close(store);
        free(secret);
        return 1;
    }
    sc_ws *w = sc_ws_start(s, &wo, err, sizeof err);
    if (w == NULL) {
        fprintf(stderr, "statechannel: %s\n", err);
        sc_server_free(s);
        sc_store_close(store);
        free(secret);
        return 1;
    }
    sc_logf("info", "listening on port %d (websocket %s/websocket, data %s, durable %s, "
            "handlers %s, public %s)", sc_ws_port(w), wo.mount,
            store != NULL ? sc_store_path(store) : "none (--store off)",
            store == NULL ? "n/a" : cfg.durable ? "on" : "off", cfg.handlers_dir, wo.public_dir);

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    sc_logf("info", "%s received: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    sc_server_stop_accepting(s);
    sc_server_close_all(s, 1001, "server shutting down");
    int64_t until = sc_clock_ms() + SC_SHUTDOWN_GRACE_MS;
    while (sc_server_conn_count(s) > 0 && sc_clock_ms() < until) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sc_ws_stop(w);
    sc_server_free(s);
    sc_store_close(store);
    free(secret);
    sc_logf("info", "stopped");
    return 0;
}
