/*
 * tp_conn.c -- test plugin "tp_conn" for topics "priv:*": one state per joined client
 * (SC_SCOPE_CONNECTION). State {"mine": <client id>, "n": 0}; event "inc" bumps n;
 * "tick" starts a repeating timer that bumps "ticks" (cancelled when the channel leaves).
 */
#include <string.h>

#include <statechannel/handler.h>

static int pc_join(sc_ctx *ctx, const cJSON *params)
{
    (void)params;
    if (sc_state_is_new(ctx)) {
        cJSON_AddStringToObject(sc_state(ctx), "mine", sc_client_id(ctx));
        cJSON_AddNumberToObject(sc_state(ctx), "n", 0);
    }
    return SC_OK;
}

static int pc_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    (void)payload;
    cJSON *n = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "n");
    if (strcmp(name, "inc") == 0) {
        cJSON_SetNumberValue(n, n->valuedouble + 1);
        return SC_OK;
    }
    if (strcmp(name, "tick") == 0)
        return sc_timer_set(ctx, "t", 10, 1);
    return sc_fail(ctx, "unknown_event", "no event %s", name);
}

static int pc_tick(sc_ctx *ctx, const char *timer)
{
    (void)timer;
    cJSON *t = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "ticks");
    if (t == NULL)
        cJSON_AddNumberToObject(sc_state(ctx), "ticks", 1);
    else
        cJSON_SetNumberValue(t, t->valuedouble + 1);
    return SC_OK;
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "tp_conn",
    .pattern = "priv:*",
    .scope = SC_SCOPE_CONNECTION,
    .join = pc_join,
    .event = pc_event,
    .tick = pc_tick,
};
