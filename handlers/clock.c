/*
 * clock -- server-side updates without client events: `clock:<id>`, state
 *   {"now": <ms since the epoch>, "iso": "2026-11-24T01:37:00.123Z"}
 *
 * SC_SCOPE_CONNECTION: each joined client has its own clock. Joining (and every rejoin or
 * resume) sets a repeating timer of CLOCK_PERIOD_MS; each tick writes the server's wall clock
 * into the state, so the client receives one small update per period (two replaced members)
 * while it sends nothing. The server cancels the timer when the client leaves. The clock has no
 * events: with no .event callback the server refuses every event with "unknown_event".
 */
#include <statechannel/handler.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Longest topic id accepted: ids are names, not data. */
#define CLOCK_MAX_ID_LEN 64
/* Tick period: a clock showing seconds needs one update per second. */
#define CLOCK_PERIOD_MS 1000
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" is 25 bytes with its NUL; room for any year strftime writes. */
#define CLOCK_ISO_LEN 64

#define CLOCK_TIMER "tick"

/* Sets state["key"] to value, adding or replacing the member. Takes ownership of value. */
static int set_member(cJSON *state, const char *key, cJSON *value)
{
    int ok = value != NULL && (cJSON_GetObjectItemCaseSensitive(state, key) != NULL
                                   ? cJSON_ReplaceItemInObjectCaseSensitive(state, key, value)
                                   : cJSON_AddItemToObject(state, key, value));
    if (!ok)
        cJSON_Delete(value);
    return ok ? SC_OK : SC_FAIL;
}

/* Writes the current time into the state. */
static int set_time(sc_ctx *ctx)
{
    int64_t now = sc_now_ms(ctx);
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    char iso[CLOCK_ISO_LEN];
    if (gmtime_r(&secs, &tm) == NULL)
        return SC_FAIL;
    size_t len = strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (len == 0)
        return SC_FAIL;
    snprintf(iso + len, sizeof iso - len, ".%03dZ", (int)(now % 1000));
    cJSON *state = sc_state(ctx);
    if (set_member(state, "now", cJSON_CreateNumber((double)now)) != SC_OK ||
        set_member(state, "iso", cJSON_CreateString(iso)) != SC_OK)
        return SC_FAIL;
    return SC_OK;
}

static int clock_join(sc_ctx *ctx, const cJSON *params)
{
    /* With --auth, a join needs a valid token (docs/security.md); without, a no-op. */
    if (sc_authorize_join(ctx, params) != SC_OK)
        return SC_FAIL;
    if (!sc_topic_id_is_name(ctx, CLOCK_MAX_ID_LEN))
        return sc_fail(ctx, "invalid topic", "use clock:<id>, id of 1..%d [A-Za-z0-9_-]",
                       CLOCK_MAX_ID_LEN);
    if (set_time(ctx) != SC_OK)
        return sc_fail(ctx, "handler_error", "cannot read the clock");
    if (sc_timer_set(ctx, CLOCK_TIMER, CLOCK_PERIOD_MS, 1) != SC_OK)
        return sc_fail(ctx, "handler_error", "cannot set the clock's timer");
    return SC_OK;
}

static int clock_tick(sc_ctx *ctx, const char *timer)
{
    if (strcmp(timer, CLOCK_TIMER) != 0)
        return SC_OK;
    if (set_time(ctx) != SC_OK)
        sc_log(ctx, SC_LOG_WARN, "%s: cannot update the time", sc_topic(ctx));
    return SC_OK;
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "clock",
    .pattern = "clock:*",
    .scope = SC_SCOPE_CONNECTION,
    .join = clock_join,
    .tick = clock_tick,
};
