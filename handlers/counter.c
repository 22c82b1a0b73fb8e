/*
 * counter -- a shared counter per topic: `counter:<id>`, state {"count": n}.
 *
 * Every subscriber of a topic sees the same count (SC_SCOPE_TOPIC). Events:
 *   inc   {"by": k}  adds k (an integer, default 1)
 *   dec   {"by": k}  subtracts k (same rules)
 *   reset {}         sets the count to 0
 * Each event is O(1); the server diffs and pushes one `replace /count` operation.
 * Limits: |k| <= COUNTER_MAX_STEP and |count| <= COUNTER_MAX_ABS, so the value stays an exact
 * integer in a JavaScript number; an event that would leave that range is refused with
 * "out_of_range" and changes nothing.
 */
#include <statechannel/handler.h>

#include <math.h>
#include <string.h>

/* Longest topic id accepted: ids are names, not data; bounds what a join can make us store. */
#define COUNTER_MAX_ID_LEN 64
/* Largest step one event may take: a typo of a client should not jump the count by 1e300. */
#define COUNTER_MAX_STEP 1000000000.0
/* Largest absolute count: 2^53 - 1, the largest integer a JS number holds exactly. */
#define COUNTER_MAX_ABS 9007199254740991.0

static int counter_join(sc_ctx *ctx, const cJSON *params)
{
    /* With --auth, a join needs a valid token (docs/security.md); without, a no-op. */
    if (sc_authorize_join(ctx, params) != SC_OK)
        return SC_FAIL;
    if (!sc_topic_id_is_name(ctx, COUNTER_MAX_ID_LEN))
        return sc_fail(ctx, "invalid topic", "use counter:<id>, id of 1..%d [A-Za-z0-9_-]",
                       COUNTER_MAX_ID_LEN);
    if (sc_state_is_new(ctx) && cJSON_AddNumberToObject(sc_state(ctx), "count", 0) == NULL)
        return sc_fail(ctx, "handler_error", "out of memory");
    return SC_OK;
}

/* Reads the optional integer "by" of an inc/dec payload into *step (default 1). The payload
 * may be absent, null or an object; anything else is malformed. Returns SC_OK or sc_fail(). */
static int read_step(sc_ctx *ctx, const cJSON *payload, double *step)
{
    *step = 1;
    if (payload == NULL || cJSON_IsNull(payload))
        return SC_OK;
    if (!cJSON_IsObject(payload))
        return sc_fail(ctx, "invalid_payload", "the payload must be an object");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(payload, "by");
    if (by == NULL)
        return SC_OK;
    if (!cJSON_IsNumber(by) || by->valuedouble != floor(by->valuedouble) ||
        fabs(by->valuedouble) > COUNTER_MAX_STEP)
        return sc_fail(ctx, "invalid_payload", "\"by\" must be an integer of at most %.0f",
                       COUNTER_MAX_STEP);
    *step = by->valuedouble;
    return SC_OK;
}

static int counter_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    cJSON *count = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "count");
    if (!cJSON_IsNumber(count))
        return sc_fail(ctx, "handler_error", "the state has no numeric \"count\"");

    if (strcmp(name, "reset") == 0) {
        cJSON_SetNumberValue(count, 0);
        return SC_OK;
    }
    int inc = strcmp(name, "inc") == 0;
    if (!inc && strcmp(name, "dec") != 0)
        return sc_fail(ctx, "unknown_event", "counter has no event \"%s\"", name);

    double step;
    if (read_step(ctx, payload, &step) != SC_OK)
        return SC_FAIL;
    double next = count->valuedouble + (inc ? step : -step);
    if (fabs(next) > COUNTER_MAX_ABS)
        return sc_fail(ctx, "out_of_range", "the count must stay within +-%.0f", COUNTER_MAX_ABS);
    cJSON_SetNumberValue(count, next);
    return SC_OK;
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "counter",
    .pattern = "counter:*",
    .scope = SC_SCOPE_TOPIC,
    .join = counter_join,
    .event = counter_event,
};
