/*
 * tp_topic.c -- test plugin "tp_topic" for topics "test:*" (one shared state per topic).
 * Each event exercises one part of handler.h so the server tests can check it on the wire:
 *   join   params {"deny":true} (or "true", from a query string) -> "unauthorized"; id "" -> "invalid topic"; id "broken" ->
 *          SC_FAIL without a reason (handler error); new state {"count":0,"items":[]}.
 *   inc {"by":n}   count += n (default 1); "by" not a number -> invalid_payload
 *   fail           changes count, then refuses with "nope": the state must come back
 *   noop           changes nothing
 *   push           sc_push("toast") and count += 1
 *   pushall        sc_push_all("notice") and count += 1
 *   replace        sc_state_set() a whole new tree {"count":100,"items":["r"]}
 *   scalar         sc_state_set() a number (root replaced: clients get state:change)
 *   emit           sc_emit_patch([add /items/- "e"])
 *   grow {"n":k}   sc_emit_patch_take: k ops [add /items/- "i<j>"], the state only read
 *                  (sc_state_read, so the server keeps the live tree's indexes)
 *   emittake       reads the items' count n (sc_state_read), then two sc_emit_patch_take
 *                  calls: [replace /items/<n-2> "x"], then [replace /count <count + 10>]
 *   emitfail       sc_emit_patch_take([add /items/- "f"]), then refuses with "nope"
 *   emitbad        sc_emit_patch_take([remove /nope]) must fail: refuses with "handler_error"
 *   reply          sc_reply({"echo": payload})
 *   stale          refuses with "stale" when sc_event_base() >= 0 and < sc_version()
 *   tick {"ms":n}  starts a repeating timer "t" that increments "ticks"
 *   untick         cancels it
 *   bcast {"topic":t} sc_broadcast(t, "ping", {}); info "ping" increments "pings"
 *   big {"n":n}    sets "big" to a string of n 'x' (slow-consumer tests)
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <statechannel/handler.h>

/* Client numbers are clamped before they become sizes or timer periods (tests/fuzz sends any
 * number; converting an out-of-range double to an integer is undefined behaviour):
 * "big" strings are at most TP_BIG_MAX bytes (ten times the slow-consumer tests' 100 KB; a
 * 16 MiB string made one fuzz input take seconds under ASan), "tick" periods at most
 * TP_TICK_MAX_MS. */
#define TP_BIG_MAX (1024u * 1024)
#define TP_TICK_MAX_MS 60000u

/* d clamped to [0, max]; NaN gives 0. */
static double clamp(double d, double max) { return d > 0 ? (d < max ? d : max) : 0; }

static int tp_init(sc_module *m)
{
    /* Module data is shared by every state of the module, and leaves of different states
     * run in parallel (each under its own state's lock): the counter must be atomic
     * (ThreadSanitizer found the plain int in tests/js/hostile.test.mjs's join flood). */
    atomic_int *calls = calloc(1, sizeof *calls);
    if (calls == NULL)
        return sc_module_fail(m, "out of memory");
    sc_module_set_data(m, calls);
    return SC_OK;
}

static void tp_fini(sc_module *m) { free(sc_module_get_data(m)); }

static int tp_join(sc_ctx *ctx, const cJSON *params)
{
    const cJSON *deny = cJSON_GetObjectItemCaseSensitive(params, "deny");
    if (cJSON_IsTrue(deny) || (cJSON_IsString(deny) && strcmp(deny->valuestring, "true") == 0))
        return sc_fail(ctx, "unauthorized", "denied by params");
    if (sc_topic_id(ctx)[0] == '\0')
        return sc_fail(ctx, "invalid topic", "use test:<id>");
    if (strcmp(sc_topic_id(ctx), "broken") == 0)
        return SC_FAIL;
    const cJSON *need = cJSON_GetObjectItemCaseSensitive(sc_socket_params(ctx), "need_token");
    if (cJSON_IsString(need) && (sc_token(ctx) == NULL || strcmp(sc_token(ctx), need->valuestring) != 0))
        return sc_fail(ctx, "unauthorized", "bad token");
    if (sc_state_is_new(ctx)) {
        cJSON_AddNumberToObject(sc_state(ctx), "count", 0);
        cJSON_AddItemToObject(sc_state(ctx), "items", cJSON_CreateArray());
    }
    return SC_OK;
}

static cJSON *count_of(sc_ctx *ctx)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "count");
    if (c == NULL)
        c = cJSON_AddNumberToObject(sc_state(ctx), "count", 0);
    return c;
}

static void bump(sc_ctx *ctx, const char *key, double by)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), key);
    if (c == NULL)
        cJSON_AddNumberToObject(sc_state(ctx), key, by);
    else
        cJSON_SetNumberValue(c, c->valuedouble + by);
}

/* [{"op": op, "path": path, "value": value}] (value NULL: none); takes value. */
static cJSON *one_op(const char *op, const char *path, cJSON *value)
{
    cJSON *ops = cJSON_CreateArray();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", op);
    cJSON_AddStringToObject(o, "path", path);
    if (value != NULL)
        cJSON_AddItemToObject(o, "value", value);
    cJSON_AddItemToArray(ops, o);
    return ops;
}

/* The emit-only events: they read the state with sc_state_read() and change it only with
 * sc_emit_patch_take(). Returns -1 when name is not one of them. */
static int emit_only_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    const cJSON *state = sc_state_read(ctx);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(state, "items");
    if (strcmp(name, "grow") == 0) {
        int n = (int)clamp(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(payload, "n")),
                           1000);
        cJSON *ops = cJSON_CreateArray();
        for (int j = 0; j < n; j++) {
            char text[32];
            snprintf(text, sizeof text, "i%d", j);
            cJSON *one = one_op("add", "/items/-", cJSON_CreateString(text));
            cJSON_AddItemToArray(ops, cJSON_DetachItemFromArray(one, 0));
            cJSON_Delete(one);
        }
        return sc_emit_patch_take(ctx, ops) == SC_OK ? SC_OK
                                                     : sc_fail(ctx, "handler_error", "grow");
    }
    if (strcmp(name, "emittake") == 0) {
        int n = cJSON_GetArraySize(items);
        if (n < 2)
            return sc_fail(ctx, "handler_error", "grow first");
        char path[32];
        snprintf(path, sizeof path, "/items/%d", n - 2);
        double count = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(state, "count"));
        if (sc_emit_patch_take(ctx, one_op("replace", path, cJSON_CreateString("x"))) != SC_OK ||
            sc_emit_patch_take(ctx, one_op("replace", "/count",
                                           cJSON_CreateNumber(count + 10))) != SC_OK)
            return sc_fail(ctx, "handler_error", "emittake");
        return SC_OK;
    }
    if (strcmp(name, "emitfail") == 0) {
        if (sc_emit_patch_take(ctx, one_op("add", "/items/-", cJSON_CreateString("f"))) != SC_OK)
            return sc_fail(ctx, "handler_error", "emitfail");
        return sc_fail(ctx, "nope", "refused after emitting");
    }
    if (strcmp(name, "emitbad") == 0) {
        if (sc_emit_patch_take(ctx, one_op("remove", "/nope", NULL)) == SC_OK)
            return SC_OK; /* the test sees the ok reply and fails */
        return sc_fail(ctx, "handler_error", "the patch did not apply");
    }
    return -1;
}

static int tp_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    if (!cJSON_IsObject(sc_state_read(ctx)))
        return sc_fail(ctx, "handler_error", "state is not an object");
    int emit_rc = emit_only_event(ctx, name, payload);
    if (emit_rc != -1)
        return emit_rc;
    if (strcmp(name, "inc") == 0) {
        const cJSON *by = cJSON_GetObjectItemCaseSensitive(payload, "by");
        if (by != NULL && !cJSON_IsNumber(by))
            return sc_fail(ctx, "invalid_payload", "\"by\" must be a number");
        cJSON *c = count_of(ctx);
        cJSON_SetNumberValue(c, c->valuedouble + (by ? by->valuedouble : 1));
        return SC_OK;
    }
    if (strcmp(name, "fail") == 0) {
        cJSON_SetNumberValue(count_of(ctx), 999);
        cJSON_AddStringToObject(sc_state(ctx), "junk", "x");
        return sc_fail(ctx, "nope", "refused after changing things");
    }
    if (strcmp(name, "noop") == 0)
        return SC_OK;
    if (strcmp(name, "push") == 0) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "text", "hello");
        sc_push(ctx, "toast", p);
        bump(ctx, "count", 1);
        return SC_OK;
    }
    if (strcmp(name, "pushall") == 0) {
        sc_push_all(ctx, "notice", cJSON_CreateObject());
        bump(ctx, "count", 1);
        return SC_OK;
    }
    if (strcmp(name, "replace") == 0) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "count", 100);
        cJSON *items = cJSON_AddArrayToObject(root, "items");
        cJSON_AddItemToArray(items, cJSON_CreateString("r"));
        return sc_state_set(ctx, root);
    }
    if (strcmp(name, "scalar") == 0)
        return sc_state_set(ctx, cJSON_CreateNumber(7));
    if (strcmp(name, "emit") == 0) {
        cJSON *ops = cJSON_Parse("[{\"op\":\"add\",\"path\":\"/items/-\",\"value\":\"e\"}]");
        int rc = sc_emit_patch(ctx, ops);
        cJSON_Delete(ops);
        return rc == SC_OK ? SC_OK : sc_fail(ctx, "handler_error", "emit failed");
    }
    if (strcmp(name, "reply") == 0) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "echo", cJSON_Duplicate(payload, 1));
        sc_reply(ctx, r);
        return SC_OK;
    }
    if (strcmp(name, "stale") == 0) {
        if (sc_event_base(ctx) >= 0 && (uint64_t)sc_event_base(ctx) < sc_version(ctx))
            return sc_fail(ctx, "stale", "base %lld < version %llu", (long long)sc_event_base(ctx),
                           (unsigned long long)sc_version(ctx));
        bump(ctx, "count", 1);
        return SC_OK;
    }
    if (strcmp(name, "tick") == 0) {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(payload, "ms");
        return sc_timer_set(ctx, "t",
                            cJSON_IsNumber(ms) ? (uint32_t)clamp(ms->valuedouble, TP_TICK_MAX_MS) : 20, 1);
    }
    if (strcmp(name, "untick") == 0)
        return sc_timer_cancel(ctx, "t") == SC_OK ? SC_OK : sc_fail(ctx, "no_timer", "none");
    if (strcmp(name, "bcast") == 0) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(payload, "topic");
        return sc_broadcast(ctx, cJSON_IsString(t) ? t->valuestring : sc_topic(ctx), "ping",
                            cJSON_CreateObject());
    }
    if (strcmp(name, "big") == 0) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(payload, "n");
        size_t len = cJSON_IsNumber(n) ? (size_t)clamp(n->valuedouble, TP_BIG_MAX) : 1000;
        char *s = malloc(len + 1);
        if (s == NULL)
            return sc_fail(ctx, "handler_error", "oom");
        memset(s, 'x', len);
        s[len] = '\0';
        cJSON_DeleteItemFromObjectCaseSensitive(sc_state(ctx), "big");
        cJSON_AddStringToObject(sc_state(ctx), "big", s);
        free(s);
        bump(ctx, "count", 1);
        return SC_OK;
    }
    return sc_fail(ctx, "unknown_event", "no event %s", name);
}

static int tp_info(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    (void)payload;
    if (strcmp(name, "ping") == 0)
        bump(ctx, "pings", 1);
    return SC_OK;
}

static int tp_tick(sc_ctx *ctx, const char *timer)
{
    (void)timer;
    bump(ctx, "ticks", 1);
    return SC_OK;
}

static void tp_leave(sc_ctx *ctx, const char *reason)
{
    atomic_int *calls = sc_module_data(ctx);
    if (calls != NULL)
        atomic_fetch_add(calls, 1);
    cJSON *last = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "last_leave");
    if (last != NULL)
        cJSON_SetValuestring(last, reason);
    else
        cJSON_AddStringToObject(sc_state(ctx), "last_leave", reason);
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "tp_topic",
    .pattern = "test:*",
    .scope = SC_SCOPE_TOPIC,
    .init = tp_init,
    .fini = tp_fini,
    .join = tp_join,
    .event = tp_event,
    .info = tp_info,
    .tick = tp_tick,
    .leave = tp_leave,
};
