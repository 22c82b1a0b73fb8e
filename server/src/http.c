/*
 * http.c -- the answers of the plain HTTP endpoints, built without any HTTP library:
 * GET /api/state/<topic> (the state for server-side rendering of the first paint) and the
 * static-file path check. The transport sends what these return.
 */
#define _DEFAULT_SOURCE /* realpath */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void error_body(sbuf *body, const char *reason)
{
    body->len = 0;
    sbuf_puts(body, "{\"reason\":");
    sbuf_put_jstr(body, reason);
    sbuf_puts(body, "}");
}

/*
 * Authorization is the handler's join, run with the request's query params as both the join
 * params and the socket params, and the bearer token. Per-topic states: only a state that
 * exists is returned (the join runs with sc_state_is_new() == 0; anything it changes is
 * discarded, and pushes/replies go nowhere); a topic nobody has joined yet is loaded from the
 * store, and is 404 when the store does not hold it either: creating states from GET requests
 * would let crawlers fill memory. Per-connection handlers:
 * the join builds a throwaway state (sc_state_is_new() == 1) that is returned with version 0
 * and then destroyed: it is what a client would see right after joining.
 */
int sc_http_state(sc_server *s, const char *topic, const cJSON *params, const char *token,
                  sbuf *body)
{
    sc_plugin *pl = sc_plugin_match(s, topic);
    if (pl == NULL) {
        error_body(body, "unmatched topic");
        metrics_refusal(&s->m, "unmatched topic");
        return 404;
    }
    sc_inst *in;
    if (pl->h.scope == SC_SCOPE_TOPIC) {
        in = inst_find_shared(s, topic);
        if (in == NULL && s->cfg.store != NULL) {
            /* Not joined since the start: the store may hold it. Kept in memory only if so. */
            int full; /* past --max-states: answered as not found */
            in = inst_get_shared(s, pl, topic, &full);
            if (in != NULL) {
                pthread_mutex_lock(&in->mu);
                if (!in->created && inst_load_topic(in) != 1)
                    inst_kill(in);
                pthread_mutex_unlock(&in->mu);
            }
        }
        if (in == NULL) {
            error_body(body, "no such state");
            return 404;
        }
    } else {
        in = inst_new_private(s, pl, topic);
        if (in == NULL) {
            error_body(body, "out of memory");
            return 500;
        }
    }
    pthread_mutex_lock(&in->mu);
    int status = 200;
    if (in->dead || (pl->h.scope == SC_SCOPE_TOPIC && !in->created)) {
        error_body(body, "no such state");
        status = 404;
    } else {
        sc_ctx ctx;
        ctx_init(&ctx, s, pl, in, NULL, SC_CTX_HTTP);
        ctx.socket_params = params;
        ctx.token = token;
        ctx.is_new = pl->h.scope == SC_SCOPE_CONNECTION;
        int rc = pl->h.join != NULL ? pl->h.join(&ctx, params) : SC_OK;
        if (rc != SC_OK || ctx.failed) {
            const char *reason = ctx.failed ? ctx.reason : "handler error";
            error_body(body, reason);
            metrics_refusal(&s->m, reason);
            status = 403;
        } else {
            body->len = 0;
            sbuf_puts(body, "{\"state\":");
            sbuf_put_json(body, pl->h.scope == SC_SCOPE_TOPIC ? sc_doc_root(in->shadow)
                                                               : in->live);
            sbuf_puts(body, ",\"version\":");
            sbuf_put_u64(body, pl->h.scope == SC_SCOPE_TOPIC ? in->version : 0);
            sbuf_puts(body, "}");
        }
        if (pl->h.scope == SC_SCOPE_TOPIC)
            inst_restore(in); /* a GET never changes the shared state */
        ctx_release(&ctx);
    }
    if (pl->h.scope == SC_SCOPE_CONNECTION)
        inst_kill(in);
    pthread_mutex_unlock(&in->mu);
    inst_unref(in);
    if (body->oom) {
        sbuf_free(body);
        return 500;
    }
    return status;
}

int sc_static_path(const char *root, const char *uri, char *out, size_t cap)
{
    const char *q = strpbrk(uri, "?#");
    size_t ulen = q ? (size_t)(q - uri) : strlen(uri);
    char *path = strndup(uri, ulen);
    if (path == NULL)
        return -1;
    int rc = -1;
    /* Refuse anything that could climb out of root after decoding: ".." segments and
     * backslashes (never meaningful in our URLs). */
    if (path[0] != '/' || strchr(path, '\\') != NULL)
        goto out;
    for (const char *seg = path; seg != NULL; seg = strchr(seg + 1, '/')) {
        if (strncmp(seg, "/..", 3) == 0 && (seg[3] == '/' || seg[3] == '\0'))
            goto out;
    }
    const char *rel = path;
    if (strcmp(rel, "/") == 0 || rel[strlen(rel) - 1] == '/') {
        if ((size_t)snprintf(out, cap, "%s%sindex.html", root, rel) >= cap)
            goto out;
    } else if ((size_t)snprintf(out, cap, "%s%s", root, rel) >= cap) {
        goto out;
    }
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t l = strlen(out);
        if (l + 12 > cap)
            goto out;
        memcpy(out + l, "/index.html", 12);
    }
    if (stat(out, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    /* Symlinks inside root may point anywhere; resolve and require the root prefix. */
    char *real_root = realpath(root, NULL), *real = realpath(out, NULL);
    if (real_root != NULL && real != NULL && strncmp(real, real_root, strlen(real_root)) == 0 &&
        (real[strlen(real_root)] == '/' || real[strlen(real_root)] == '\0'))
        rc = 0;
    free(real_root);
    free(real);
out:
    free(path);
    return rc;
}
