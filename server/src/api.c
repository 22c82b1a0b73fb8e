/*
 * api.c -- the functions handler.h declares (exported to plugins), over an sc_ctx that the
 * core builds around every callback. Each function checks what the callback kind allows
 * (e.g. no sc_reply in tick) and fails with SC_FAIL instead of guessing.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "statechannel/patch.h"
#include "token.h"

void ctx_init(sc_ctx *ctx, sc_server *s, sc_plugin *pl, sc_inst *in, sc_chan *ch, sc_ctx_kind k)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->srv = s;
    ctx->pl = pl;
    ctx->inst = in;
    ctx->chan = ch;
    ctx->kind = k;
    ctx->base = -1;
    if (ch != NULL) {
        ctx->socket_params = ch->conn->params;
        ctx->token = ch->conn->token;
    }
}

void ctx_release(sc_ctx *ctx)
{
    cJSON_Delete(ctx->reply);
    cJSON_Delete(ctx->pushes);
    cJSON_Delete(ctx->pushes_all);
    cJSON_Delete(ctx->emitted);
    ctx->reply = ctx->pushes = ctx->pushes_all = ctx->emitted = NULL;
}

/* ---- module ----------------------------------------------------------------------------------- */

void sc_module_set_data(sc_module *m, void *data)
{
    if (m != NULL)
        m->data = data;
}

void *sc_module_get_data(const sc_module *m) { return m ? m->data : NULL; }

int sc_module_fail(sc_module *m, const char *fmt, ...)
{
    if (m != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->fail_msg, sizeof m->fail_msg, fmt, ap);
        va_end(ap);
    }
    return SC_FAIL;
}

/* ---- context ---------------------------------------------------------------------------------- */

const char *sc_topic(const sc_ctx *ctx) { return ctx->inst ? ctx->inst->topic : ""; }
const char *sc_topic_id(const sc_ctx *ctx) { return ctx->inst ? ctx->inst->topic_id : ""; }

int sc_topic_id_is_name(const sc_ctx *ctx, size_t max_len)
{
    const char *id = sc_topic_id(ctx);
    size_t n = strlen(id);
    if (n == 0 || n > max_len)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}
void *sc_module_data(const sc_ctx *ctx) { return ctx->pl ? ctx->pl->mod.data : NULL; }

const cJSON *sc_socket_params(const sc_ctx *ctx)
{
    static const cJSON empty = {.type = cJSON_Object};
    return ctx->socket_params ? ctx->socket_params : &empty;
}

const char *sc_token(const sc_ctx *ctx) { return ctx->token; }
const char *sc_client_id(const sc_ctx *ctx) { return ctx->chan && ctx->chan->sess ? ctx->chan->sess->client_id : ""; }
uint64_t sc_version(const sc_ctx *ctx) { return ctx->inst ? ctx->inst->version : 0; }
int64_t sc_event_base(const sc_ctx *ctx) { return ctx->base; }
int sc_state_is_new(const sc_ctx *ctx) { return ctx->is_new; }

int64_t sc_now_ms(const sc_ctx *ctx)
{
    (void)ctx;
    return sc_wall_ms();
}

/* ---- state ------------------------------------------------------------------------------------ */

cJSON *sc_state(sc_ctx *ctx)
{
    if (ctx->inst == NULL || ctx->kind == SC_CTX_CONNECT)
        return NULL;
    /* The handler may change the tree in place from here on: the live document drops its
     * indexes (rebuilt lazily by the next emitted patch that walks far). */
    return sc_doc_edit(ctx->inst->live_doc);
}

const cJSON *sc_state_read(sc_ctx *ctx)
{
    if (ctx->inst == NULL || ctx->kind == SC_CTX_CONNECT)
        return NULL;
    return ctx->inst->live;
}

int sc_state_set(sc_ctx *ctx, cJSON *root)
{
    if (root == NULL)
        return SC_FAIL;
    if (ctx->inst == NULL || ctx->kind == SC_CTX_CONNECT || ctx->kind == SC_CTX_HTTP) {
        cJSON_Delete(root);
        return SC_FAIL;
    }
    if (inst_set_live(ctx->inst, root) != 0)
        return SC_FAIL;
    ctx->replaced = 1;
    return SC_OK;
}

/* Appends the operations of ops (emptied, then freed) to ctx->emitted without copying them:
 * one list splice (cJSON keeps the last child in the first child's prev). */
static void emitted_append(sc_ctx *ctx, cJSON *ops)
{
    if (ctx->emitted == NULL) {
        ctx->emitted = ops;
        return;
    }
    cJSON *first = ops->child;
    if (first != NULL) {
        cJSON *last = first->prev;
        cJSON *head = ctx->emitted->child;
        if (head == NULL) {
            ctx->emitted->child = first;
        } else {
            head->prev->next = first;
            first->prev = head->prev;
            head->prev = last;
        }
        ops->child = NULL;
    }
    cJSON_Delete(ops);
}

int sc_emit_patch_take(sc_ctx *ctx, cJSON *ops)
{
    if (ops == NULL)
        return SC_FAIL;
    if (ctx->inst == NULL || ctx->kind == SC_CTX_CONNECT || ctx->kind == SC_CTX_HTTP ||
        !cJSON_IsArray(ops)) {
        cJSON_Delete(ops);
        return SC_FAIL;
    }
    const cJSON *op;
    cJSON_ArrayForEach(op, ops)
    {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(op, "path");
        if (cJSON_IsString(path) && path->valuestring[0] == '\0') {
            sc_log(ctx, SC_LOG_WARN, "sc_emit_patch: operations on the root path are refused");
            cJSON_Delete(ops);
            return SC_FAIL;
        }
    }
    /* live gets copies of the values: the operations keep theirs, which inst_publish()
     * serializes and then moves into the shadow (sc_doc_apply_take), so an operation's values
     * are built once by the handler and copied once. The live document's kept indexes make
     * each pointer token O(1) in a large array (unless sc_state() lent the tree out in this
     * callback: then the first long walk rebuilds them); what the ops replace waits in its
     * graveyard, freed by its next apply. */
    sc_patch_error err;
    if (sc_doc_apply(ctx->inst->live_doc, ops, &err) != SC_PATCH_OK) {
        char line[512];
        sc_log(ctx, SC_LOG_WARN, "sc_emit_patch: %s",
               sc_patch_error_format(&err, line, sizeof line));
        cJSON_Delete(ops);
        return SC_FAIL;
    }
    emitted_append(ctx, ops);
    return SC_OK;
}

int sc_emit_patch(sc_ctx *ctx, const cJSON *ops)
{
    if (ctx->inst == NULL || ctx->kind == SC_CTX_CONNECT || ctx->kind == SC_CTX_HTTP ||
        !cJSON_IsArray(ops))
        return SC_FAIL;
    cJSON *copy = cJSON_Duplicate(ops, 1);
    if (copy == NULL) {
        sc_log(ctx, SC_LOG_WARN, "sc_emit_patch: out of memory");
        return SC_FAIL;
    }
    return sc_emit_patch_take(ctx, copy);
}

/* ---- talking ---------------------------------------------------------------------------------- */

int sc_reply(sc_ctx *ctx, cJSON *value)
{
    if (value == NULL)
        return SC_FAIL;
    if (ctx->chan == NULL || !ctx->wants_reply) {
        cJSON_Delete(value);
        return SC_FAIL;
    }
    cJSON_Delete(ctx->reply);
    ctx->reply = value;
    return SC_OK;
}

static int push_to(cJSON **list, const char *event, cJSON *payload)
{
    if (event == NULL || event[0] == '\0') {
        cJSON_Delete(payload);
        return SC_FAIL;
    }
    if (*list == NULL)
        *list = cJSON_CreateArray();
    cJSON *pair = cJSON_CreateArray();
    if (*list == NULL || pair == NULL) {
        cJSON_Delete(pair);
        cJSON_Delete(payload);
        return SC_FAIL;
    }
    cJSON_AddItemToArray(pair, cJSON_CreateString(event));
    cJSON_AddItemToArray(pair, payload ? payload : cJSON_CreateObject());
    cJSON_AddItemToArray(*list, pair);
    return SC_OK;
}

int sc_push(sc_ctx *ctx, const char *event, cJSON *payload)
{
    if (ctx->chan == NULL || ctx->kind == SC_CTX_HTTP) {
        cJSON_Delete(payload);
        return SC_FAIL;
    }
    return push_to(&ctx->pushes, event, payload);
}

int sc_push_all(sc_ctx *ctx, const char *event, cJSON *payload)
{
    if (ctx->inst == NULL || ctx->kind == SC_CTX_CONNECT || ctx->kind == SC_CTX_HTTP) {
        cJSON_Delete(payload);
        return SC_FAIL;
    }
    return push_to(&ctx->pushes_all, event, payload);
}

int sc_broadcast(sc_ctx *ctx, const char *topic, const char *name, cJSON *payload)
{
    if (topic == NULL || name == NULL) {
        cJSON_Delete(payload);
        return SC_FAIL;
    }
    return info_enqueue(ctx->srv, topic, name, payload);
}

/* ---- timers ----------------------------------------------------------------------------------- */

int sc_timer_set(sc_ctx *ctx, const char *name, uint32_t ms, int repeat)
{
    if (ctx->inst == NULL || ctx->kind == SC_CTX_CONNECT || ctx->kind == SC_CTX_HTTP ||
        name == NULL || strlen(name) > SC_MAX_TIMER_NAME || ms < 1)
        return SC_FAIL;
    return timer_set(ctx->inst, name, ms, repeat);
}

int sc_timer_cancel(sc_ctx *ctx, const char *name)
{
    if (ctx->inst == NULL || name == NULL)
        return SC_FAIL;
    return timer_cancel(ctx->inst, name);
}

/* ---- instance data ---------------------------------------------------------------------------- */

void sc_set_userdata(sc_ctx *ctx, void *data, void (*free_fn)(void *data))
{
    if (ctx->inst == NULL || ctx->kind == SC_CTX_HTTP) {
        if (free_fn != NULL)
            free_fn(data);
        return;
    }
    sc_inst *in = ctx->inst;
    if (in->ud_free != NULL && in->ud != data)
        in->ud_free(in->ud);
    in->ud = data;
    in->ud_free = free_fn;
}

void *sc_userdata(const sc_ctx *ctx) { return ctx->inst ? ctx->inst->ud : NULL; }

/* ---- failing and logging ---------------------------------------------------------------------- */

int sc_fail(sc_ctx *ctx, const char *reason, const char *fmt, ...)
{
    ctx->failed = 1;
    snprintf(ctx->reason, sizeof ctx->reason, "%s", reason ? reason : "handler_error");
    ctx->message[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
        va_end(ap);
    }
    return SC_FAIL;
}

void sc_log(sc_ctx *ctx, sc_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *lv = (unsigned)level < 4 ? names[level] : "info";
    sc_logf(lv, "[%s %s] %s", ctx && ctx->pl ? ctx->pl->h.name : "?",
            ctx && ctx->inst ? ctx->inst->topic : "", msg);
}

/* ---- tokens ----------------------------------------------------------------------------------- */

const char *sc_token_strerror(sc_token_status st)
{
    switch (st) {
#define SC_TOKEN_TEXT_(name, text) case name: return text;
        SC_TOKEN_STATUS_MAP(SC_TOKEN_TEXT_)
#undef SC_TOKEN_TEXT_
    }
    return "unknown token status";
}

int sc_auth_required(const sc_ctx *ctx) { return ctx != NULL && ctx->srv->cfg.auth; }

sc_token_status sc_token_verify(const sc_ctx *ctx, const char *token, const char *topic,
                                char *subject, size_t subject_cap)
{
    if (ctx == NULL)
        return SC_TOKEN_NO_SECRET;
    const sc_config *cfg = &ctx->srv->cfg;
    return sc_token_check(cfg->auth_secret, cfg->auth_secret_len, token, topic,
                          sc_wall_ms() / 1000, subject, subject_cap);
}

int sc_authorize_join(sc_ctx *ctx, const cJSON *params)
{
    if (!sc_auth_required(ctx))
        return SC_OK;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(params, "token");
    const char *token = cJSON_IsString(t) ? t->valuestring : NULL;
    if (token == NULL)
        token = sc_token(ctx);
    if (token == NULL) {
        t = cJSON_GetObjectItemCaseSensitive(sc_socket_params(ctx), "token");
        token = cJSON_IsString(t) ? t->valuestring : NULL;
    }
    sc_token_status st = sc_token_verify(ctx, token, sc_topic(ctx), NULL, 0);
    if (st != SC_TOKEN_OK)
        return sc_fail(ctx, "unauthorized", "%s", sc_token_strerror(st));
    return SC_OK;
}
