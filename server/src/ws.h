/*
 * ws.h -- the civetweb transport: HTTP routing, WebSocket upgrade checks, and the translation
 * of civetweb's callbacks and threads into calls on the core (core.h). The only module that
 * includes civetweb.h.
 */
#ifndef SC_SERVER_WS_H
#define SC_SERVER_WS_H

#include "core.h"

/* Origins in the allow-list; a sanity bound for a command line. */
#define SC_MAX_ORIGINS 32

typedef struct sc_ws_options {
    int port;
    const char *bind;           /* listen address; default 0.0.0.0 */
    const char *public_dir;     /* static files */
    const char *mount;          /* "/socket" */
    const char *sc_mount;       /* "/statechannel" (StateChannel dialect) */
    const char *origins[SC_MAX_ORIGINS]; /* allow-list; none = allow every origin */
    int n_origins;
    const char *tls_cert;       /* PEM chain, leaf first; NULL: plain HTTP/WebSocket */
    const char *tls_key;        /* PEM private key (required with tls_cert) */
} sc_ws_options;

typedef struct sc_ws sc_ws;

/* Starts listening. NULL with a reason in err on failure. */
sc_ws *sc_ws_start(sc_server *s, const sc_ws_options *o, char *err, size_t errcap);
/* The port it listens on: the one asked for, or the one the kernel chose for port 0 (so a test
 * can start servers without racing other processes for a "free" port). 0 when unknown. */
int sc_ws_port(const sc_ws *w);
/* Stops civetweb: waits for every worker; remaining sockets are closed (their channels leave
 * with "shutdown"). Accepts NULL. */
void sc_ws_stop(sc_ws *w);

#endif
