/*
 * tp_scd.c -- test plugin "tp_scd" for topics "scd:*", declaring the StateChannel dialect
 * (set_state / state_diff / _SCMSG). Per-connection state {"value": null}; event "set" stores
 * the payload as "value"; "same" changes nothing.
 */
#include <string.h>

#include <statechannel/handler.h>

static int sd_join(sc_ctx *ctx, const cJSON *params)
{
    (void)params;
    if (sc_state_is_new(ctx))
        cJSON_AddNullToObject(sc_state(ctx), "value");
    return SC_OK;
}

static int sd_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    if (strcmp(name, "set") == 0) {
        cJSON_ReplaceItemInObjectCaseSensitive(sc_state(ctx), "value", cJSON_Duplicate(payload, 1));
        return SC_OK;
    }
    if (strcmp(name, "same") == 0)
        return SC_OK;
    return sc_fail(ctx, "unknown_event", "no event %s", name);
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "tp_scd",
    .pattern = "scd:*",
    .scope = SC_SCOPE_CONNECTION,
    .dialect = SC_DIALECT_STATECHANNEL,
    .join = sd_join,
    .event = sd_event,
};
