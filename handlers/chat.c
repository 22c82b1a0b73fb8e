/*
 * chat -- a chat room per topic with presence: `chat:<room>`, state
 *   {"online":   {"<client id>": {"name", "since"}},
 *    "typing":   {"<client id>": {"name", "until"}},
 *    "messages": [{"id", "from", "name", "text", "at"}],
 *    "next_id":  n}
 *
 * Presence. A join adds the client under its sc_client_id() with the join param "name"
 * (trimmed; "anonymous" when absent); leaving (or the socket closing) removes it. Presence is
 * about this process's connections, so the first join of an instance (no userdata yet: a new
 * topic, or the first join after a restart that kept the state) clears what a previous run left.
 *
 * Typing. Event `typing` {} marks the client as typing until now + CHAT_TYPING_TTL_MS. One
 * one-shot timer "typing" is pending whenever "typing" is not empty; it fires at the earliest
 * "until", drops the expired entries and re-arms itself for the next one. Saying something or
 * leaving clears the client's entry.
 *
 * Messages. Event `say` {"text"} appends a message (text trimmed, 1..CHAT_MAX_TEXT bytes) and
 * drops the oldest beyond CHAT_MAX_MESSAGES, so a `say` costs O(1) list work and its patch is an
 * add (plus a remove once the room is full). Presence and typing are O(1) object lookups
 * (cJSON's are linear in the room's size, bounded by CHAT_MAX_ONLINE).
 */
#include <statechannel/handler.h>

#include <stdlib.h>
#include <string.h>

/* Longest room id accepted: ids are names, not data. */
#define CHAT_MAX_ID_LEN 64
/* Bytes of a display name after trimming: a name, not a bio. */
#define CHAT_MAX_NAME 64
/* Bytes of a message after trimming: a chat line; longer text belongs in a document. */
#define CHAT_MAX_TEXT 2000
/* Messages kept in the state: the scrollback a joining client receives (bounds the state). */
#define CHAT_MAX_MESSAGES 100
/* Clients present in one room: bounds the presence maps and their linear lookups. */
#define CHAT_MAX_ONLINE 1000
/* How long "typing" lasts after the last typing event (what chat apps show, ~3 s). */
#define CHAT_TYPING_TTL_MS 3000
/* Largest message id: the largest integer a JS number holds exactly (2^53 - 1). */
#define CHAT_MAX_MESSAGE_ID 9007199254740991.0

#define CHAT_TYPING_TIMER "typing"
#define CHAT_DEFAULT_NAME "anonymous"

/* Per-instance data; its presence means "presence maps are of this process". */
typedef struct chat_instance {
    int64_t created_ms; /* when this process created the instance (for logs) */
} chat_instance;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Returns a new string node holding s trimmed, or NULL when the trimmed length is not in
 * 1..max (*too_long tells which) or memory ran out (*oom). */
static cJSON *trimmed_string(const char *s, size_t max, int *oom)
{
    size_t len = strlen(s);
    *oom = 0;
    while (len > 0 && is_space(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len == 0 || len > max)
        return NULL;
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    cJSON *node = cJSON_CreateString(copy);
    free(copy);
    *oom = node == NULL;
    return node;
}

/* Returns state[key] as an object, creating it when absent; NULL when out of memory. */
static cJSON *object_member(cJSON *state, const char *key)
{
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(state, key);
    if (cJSON_IsObject(obj))
        return obj;
    cJSON_DeleteItemFromObjectCaseSensitive(state, key);
    return cJSON_AddObjectToObject(state, key);
}

/* Sets parent[key] = value (replacing an existing member). Takes ownership of value: on
 * failure (out of memory copying the key) it is freed. */
static int set_member(cJSON *parent, const char *key, cJSON *value)
{
    int ok = cJSON_GetObjectItemCaseSensitive(parent, key) != NULL
                 ? cJSON_ReplaceItemInObjectCaseSensitive(parent, key, value)
                 : cJSON_AddItemToObject(parent, key, value);
    if (!ok)
        cJSON_Delete(value);
    return ok ? SC_OK : SC_FAIL;
}

/* Builds the state of a new room, or clears the presence a previous process left. */
static int prepare_state(sc_ctx *ctx)
{
    cJSON *state = sc_state(ctx);
    if (sc_state_is_new(ctx)) {
        if (cJSON_AddArrayToObject(state, "messages") == NULL ||
            cJSON_AddNumberToObject(state, "next_id", 1) == NULL)
            return SC_FAIL;
    }
    int first_here = sc_userdata(ctx) == NULL;
    if (first_here) {
        cJSON_DeleteItemFromObjectCaseSensitive(state, "online");
        cJSON_DeleteItemFromObjectCaseSensitive(state, "typing");
    }
    if (object_member(state, "online") == NULL || object_member(state, "typing") == NULL)
        return SC_FAIL;
    if (first_here) { /* last, so that a failed join leaves no marker over restored state */
        chat_instance *inst = malloc(sizeof *inst);
        if (inst == NULL)
            return SC_FAIL;
        inst->created_ms = sc_now_ms(ctx);
        sc_set_userdata(ctx, inst, free);
    }
    return SC_OK;
}

static int chat_join(sc_ctx *ctx, const cJSON *params)
{
    /* With --auth, a join needs a valid token (docs/security.md); without, a no-op. */
    if (sc_authorize_join(ctx, params) != SC_OK)
        return SC_FAIL;
    if (!sc_topic_id_is_name(ctx, CHAT_MAX_ID_LEN))
        return sc_fail(ctx, "invalid topic", "use chat:<room>, room of 1..%d [A-Za-z0-9_-]",
                       CHAT_MAX_ID_LEN);
    const cJSON *name_param = cJSON_GetObjectItemCaseSensitive(params, "name");
    if (name_param != NULL && !cJSON_IsString(name_param) && !cJSON_IsNull(name_param))
        return sc_fail(ctx, "invalid_params", "\"name\" must be a string");
    int oom = 0;
    cJSON *name = cJSON_IsString(name_param)
                      ? trimmed_string(name_param->valuestring, CHAT_MAX_NAME, &oom)
                      : cJSON_CreateString(CHAT_DEFAULT_NAME);
    if (name == NULL)
        return oom || !cJSON_IsString(name_param)
                   ? sc_fail(ctx, "handler_error", "out of memory")
                   : sc_fail(ctx, "invalid_params", "\"name\" must be 1..%d bytes after trimming",
                             CHAT_MAX_NAME);

    if (prepare_state(ctx) != SC_OK) {
        cJSON_Delete(name);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    cJSON *online = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "online");
    const char *cid = sc_client_id(ctx);
    if (cJSON_GetObjectItemCaseSensitive(online, cid) == NULL &&
        cJSON_GetArraySize(online) >= CHAT_MAX_ONLINE) {
        cJSON_Delete(name);
        return sc_fail(ctx, "room_full", "a room holds at most %d clients", CHAT_MAX_ONLINE);
    }
    cJSON *entry = cJSON_CreateObject();
    if (entry == NULL || !cJSON_AddItemToObject(entry, "name", name)) {
        cJSON_Delete(name);
        cJSON_Delete(entry);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    if (cJSON_AddNumberToObject(entry, "since", (double)sc_now_ms(ctx)) == NULL) {
        cJSON_Delete(entry);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    if (set_member(online, cid, entry) != SC_OK)
        return sc_fail(ctx, "handler_error", "out of memory");
    return SC_OK;
}

/* The current client's display name (from "online"), borrowed from the state. */
static const char *client_name(cJSON *state, const char *cid)
{
    cJSON *entry = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(state, "online"), cid);
    cJSON *name = cJSON_GetObjectItemCaseSensitive(entry, "name");
    return cJSON_IsString(name) ? name->valuestring : CHAT_DEFAULT_NAME;
}

static int typing(sc_ctx *ctx, cJSON *state)
{
    cJSON *typing_map = object_member(state, "typing");
    cJSON *entry = cJSON_CreateObject();
    const char *cid = sc_client_id(ctx);
    if (typing_map == NULL || entry == NULL ||
        cJSON_AddStringToObject(entry, "name", client_name(state, cid)) == NULL ||
        cJSON_AddNumberToObject(entry, "until", (double)(sc_now_ms(ctx) + CHAT_TYPING_TTL_MS)) ==
            NULL) {
        cJSON_Delete(entry);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    /* Invariant: the timer is pending whenever the map is not empty, set for an entry that
     * expires no later than this new one; only the first entry needs to arm it. */
    int was_empty = typing_map->child == NULL;
    if (set_member(typing_map, cid, entry) != SC_OK)
        return sc_fail(ctx, "handler_error", "out of memory");
    if (was_empty && sc_timer_set(ctx, CHAT_TYPING_TIMER, CHAT_TYPING_TTL_MS, 0) != SC_OK)
        return sc_fail(ctx, "handler_error", "cannot arm the typing timer");
    return SC_OK;
}

static int say(sc_ctx *ctx, cJSON *state, const cJSON *payload)
{
    const cJSON *text_param = cJSON_GetObjectItemCaseSensitive(payload, "text");
    if (!cJSON_IsString(text_param))
        return sc_fail(ctx, "invalid_payload", "\"text\" must be a string");
    int oom = 0;
    cJSON *text = trimmed_string(text_param->valuestring, CHAT_MAX_TEXT, &oom);
    if (text == NULL)
        return oom ? sc_fail(ctx, "handler_error", "out of memory")
                   : sc_fail(ctx, "invalid_payload", "\"text\" must be 1..%d bytes after trimming",
                             CHAT_MAX_TEXT);
    cJSON *messages = cJSON_GetObjectItemCaseSensitive(state, "messages");
    cJSON *next_id = cJSON_GetObjectItemCaseSensitive(state, "next_id");
    if (!cJSON_IsArray(messages) || !cJSON_IsNumber(next_id) ||
        next_id->valuedouble >= CHAT_MAX_MESSAGE_ID) {
        cJSON_Delete(text);
        return sc_fail(ctx, "handler_error", "the state lacks \"messages\" or \"next_id\"");
    }
    const char *cid = sc_client_id(ctx);
    cJSON *msg = cJSON_CreateObject();
    if (msg == NULL || cJSON_AddNumberToObject(msg, "id", next_id->valuedouble) == NULL ||
        cJSON_AddStringToObject(msg, "from", cid) == NULL ||
        cJSON_AddStringToObject(msg, "name", client_name(state, cid)) == NULL ||
        !cJSON_AddItemToObject(msg, "text", text)) { /* text is attached only when that succeeds */
        cJSON_Delete(text);
        cJSON_Delete(msg);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    if (cJSON_AddNumberToObject(msg, "at", (double)sc_now_ms(ctx)) == NULL ||
        !cJSON_AddItemToArray(messages, msg)) {
        cJSON_Delete(msg);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    cJSON_SetNumberValue(next_id, next_id->valuedouble + 1);
    while (cJSON_GetArraySize(messages) > CHAT_MAX_MESSAGES)
        cJSON_DeleteItemFromArray(messages, 0);
    /* Whoever speaks has stopped typing; the pending timer copes with a vanished entry. */
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(state, "typing"),
                                            cid);
    return SC_OK;
}

static int chat_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    cJSON *state = sc_state(ctx);
    if (strcmp(name, "say") == 0) {
        if (!cJSON_IsObject(payload))
            return sc_fail(ctx, "invalid_payload", "say needs {\"text\": string}");
        return say(ctx, state, payload);
    }
    if (strcmp(name, "typing") == 0) {
        if (payload != NULL && !cJSON_IsObject(payload) && !cJSON_IsNull(payload))
            return sc_fail(ctx, "invalid_payload", "typing takes an empty object");
        return typing(ctx, state);
    }
    return sc_fail(ctx, "unknown_event", "chat has no event \"%s\"", name);
}

/* The typing timer: drop expired entries, re-arm for the earliest remaining one. */
static int chat_tick(sc_ctx *ctx, const char *timer)
{
    if (strcmp(timer, CHAT_TYPING_TIMER) != 0)
        return SC_OK;
    cJSON *typing_map = cJSON_GetObjectItemCaseSensitive(sc_state(ctx), "typing");
    int64_t now = sc_now_ms(ctx);
    int64_t earliest = INT64_MAX;
    cJSON *entry = typing_map != NULL ? typing_map->child : NULL;
    while (entry != NULL) {
        cJSON *next = entry->next;
        cJSON *until = cJSON_GetObjectItemCaseSensitive(entry, "until");
        int64_t at = cJSON_IsNumber(until) ? (int64_t)until->valuedouble : 0;
        if (at <= now)
            cJSON_Delete(cJSON_DetachItemViaPointer(typing_map, entry));
        else if (at < earliest)
            earliest = at;
        entry = next;
    }
    if (earliest != INT64_MAX &&
        sc_timer_set(ctx, CHAT_TYPING_TIMER, (uint32_t)(earliest - now), 0) != SC_OK)
        sc_log(ctx, SC_LOG_ERROR, "cannot re-arm the typing timer of %s", sc_topic(ctx));
    return SC_OK;
}

static void chat_leave(sc_ctx *ctx, const char *reason)
{
    (void)reason;
    cJSON *state = sc_state(ctx);
    const char *cid = sc_client_id(ctx);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(state, "online"), cid);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(state, "typing"), cid);
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "chat",
    .pattern = "chat:*",
    .scope = SC_SCOPE_TOPIC,
    .join = chat_join,
    .event = chat_event,
    .tick = chat_tick,
    .leave = chat_leave,
};
