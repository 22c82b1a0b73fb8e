/*
 * todo -- TodoMVC per topic: `todo:<id>`, state {"todos": [{"id", "title", "done"}], "next_id"}.
 *
 * Every subscriber of a topic edits the same list (SC_SCOPE_TOPIC). Events:
 *   add             {"title"}        appends {"id": next_id, "title", "done": false}
 *   toggle          {"id"}           flips one item's "done"
 *   edit            {"id", "title"}  renames one item
 *   remove          {"id"}           deletes one item
 *   toggle_all      {}               all done, or all not done when every item already is
 *   clear_completed {}               deletes the done items
 * Titles are trimmed of ASCII white space and must then be 1..TODO_MAX_TITLE bytes (an empty
 * title is "invalid_payload": to delete an item, send remove). Ids are integers taken from
 * "next_id", which lives in the state so ids stay unique across restarts and are never reused
 * (a client holding an old id can never hit a newer item). An id that is not in the list is
 * refused with "not_found".
 * Cost: add is O(1); the others scan the list, O(n) with n <= TODO_MAX_ITEMS.
 */
#include <statechannel/handler.h>

#include <stdlib.h>
#include <string.h>

/* Longest topic id accepted: ids are names, not data. */
#define TODO_MAX_ID_LEN 64
/* Items per list: a list is read by humans; this bounds the state (and each diff) to ~1 MiB. */
#define TODO_MAX_ITEMS 1000
/* Bytes in a title after trimming: a one-line task, not a document. */
#define TODO_MAX_TITLE 1024
/* Largest item id: the largest integer a JS number holds exactly (2^53 - 1). */
#define TODO_MAX_ITEM_ID 9007199254740991.0

static int todo_join(sc_ctx *ctx, const cJSON *params)
{
    /* With --auth, a join needs a valid token (docs/security.md); without, a no-op. */
    if (sc_authorize_join(ctx, params) != SC_OK)
        return SC_FAIL;
    if (!sc_topic_id_is_name(ctx, TODO_MAX_ID_LEN))
        return sc_fail(ctx, "invalid topic", "use todo:<id>, id of 1..%d [A-Za-z0-9_-]",
                       TODO_MAX_ID_LEN);
    if (!sc_state_is_new(ctx))
        return SC_OK;
    cJSON *state = sc_state(ctx);
    if (cJSON_AddArrayToObject(state, "todos") == NULL ||
        cJSON_AddNumberToObject(state, "next_id", 1) == NULL)
        return sc_fail(ctx, "handler_error", "out of memory");
    return SC_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Reads payload["title"], trimmed, as a new string node. Returns NULL after sc_fail(). */
static cJSON *read_title(sc_ctx *ctx, const cJSON *payload)
{
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(payload, "title");
    if (!cJSON_IsString(title)) {
        sc_fail(ctx, "invalid_payload", "\"title\" must be a string");
        return NULL;
    }
    const char *start = title->valuestring;
    size_t len = strlen(start);
    while (len > 0 && is_space(*start)) {
        start++;
        len--;
    }
    while (len > 0 && is_space(start[len - 1]))
        len--;
    if (len == 0 || len > TODO_MAX_TITLE) {
        sc_fail(ctx, "invalid_payload", "\"title\" must be 1..%d bytes after trimming",
                TODO_MAX_TITLE);
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        sc_fail(ctx, "handler_error", "out of memory");
        return NULL;
    }
    memcpy(copy, start, len);
    copy[len] = '\0';
    cJSON *node = cJSON_CreateString(copy);
    free(copy);
    if (node == NULL)
        sc_fail(ctx, "handler_error", "out of memory");
    return node;
}

/* Finds the item whose "id" equals payload["id"]; sets *index. Returns NULL after sc_fail(). */
static cJSON *find_item(sc_ctx *ctx, cJSON *todos, const cJSON *payload, int *index)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(payload, "id");
    if (!cJSON_IsNumber(id)) {
        sc_fail(ctx, "invalid_payload", "\"id\" must be a number");
        return NULL;
    }
    int i = 0;
    cJSON *item;
    cJSON_ArrayForEach(item, todos) {
        const cJSON *item_id = cJSON_GetObjectItemCaseSensitive(item, "id");
        if (cJSON_IsNumber(item_id) && item_id->valuedouble == id->valuedouble) {
            *index = i;
            return item;
        }
        i++;
    }
    sc_fail(ctx, "not_found", "no todo with id %.0f", id->valuedouble);
    return NULL;
}

static int add(sc_ctx *ctx, cJSON *state, cJSON *todos, const cJSON *payload)
{
    cJSON *next_id = cJSON_GetObjectItemCaseSensitive(state, "next_id");
    if (!cJSON_IsNumber(next_id) || next_id->valuedouble >= TODO_MAX_ITEM_ID)
        return sc_fail(ctx, "handler_error", "\"next_id\" is missing or exhausted");
    if (cJSON_GetArraySize(todos) >= TODO_MAX_ITEMS)
        return sc_fail(ctx, "too_many_items", "a list holds at most %d items", TODO_MAX_ITEMS);
    cJSON *title = read_title(ctx, payload);
    if (title == NULL)
        return SC_FAIL;
    cJSON *item = cJSON_CreateObject();
    if (item == NULL || cJSON_AddNumberToObject(item, "id", next_id->valuedouble) == NULL) {
        cJSON_Delete(title);
        cJSON_Delete(item);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    cJSON_AddItemToObject(item, "title", title); /* cannot fail: both exist */
    if (cJSON_AddBoolToObject(item, "done", 0) == NULL || !cJSON_AddItemToArray(todos, item)) {
        cJSON_Delete(item);
        return sc_fail(ctx, "handler_error", "out of memory");
    }
    cJSON_SetNumberValue(next_id, next_id->valuedouble + 1);
    return SC_OK;
}

/* Sets item["done"] to done (a fresh bool node, since cJSON keeps booleans in the type). */
static int set_done(sc_ctx *ctx, cJSON *item, int done)
{
    cJSON *flag = cJSON_CreateBool(done);
    if (flag == NULL)
        return sc_fail(ctx, "handler_error", "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(item, "done") != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(item, "done", flag);
    else
        cJSON_AddItemToObject(item, "done", flag);
    return SC_OK;
}

static int toggle_all(sc_ctx *ctx, cJSON *todos)
{
    int all_done = 1;
    cJSON *item;
    cJSON_ArrayForEach(item, todos) {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "done")))
            all_done = 0;
    }
    cJSON_ArrayForEach(item, todos) {
        if (set_done(ctx, item, !all_done) != SC_OK)
            return SC_FAIL; /* the server restores the items changed so far */
    }
    return SC_OK;
}

static void clear_completed(cJSON *todos)
{
    for (int i = cJSON_GetArraySize(todos) - 1; i >= 0; i--) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(todos, i), "done")))
            cJSON_DeleteItemFromArray(todos, i);
    }
}

static int todo_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    cJSON *state = sc_state(ctx);
    cJSON *todos = cJSON_GetObjectItemCaseSensitive(state, "todos");
    if (!cJSON_IsArray(todos))
        return sc_fail(ctx, "handler_error", "the state has no \"todos\" array");
    int needs_object = strcmp(name, "add") == 0 || strcmp(name, "toggle") == 0 ||
                       strcmp(name, "edit") == 0 || strcmp(name, "remove") == 0;
    if (needs_object && !cJSON_IsObject(payload))
        return sc_fail(ctx, "invalid_payload", "%s needs an object payload", name);

    if (strcmp(name, "add") == 0)
        return add(ctx, state, todos, payload);
    if (strcmp(name, "toggle_all") == 0)
        return toggle_all(ctx, todos);
    if (strcmp(name, "clear_completed") == 0) {
        clear_completed(todos);
        return SC_OK;
    }
    if (!needs_object)
        return sc_fail(ctx, "unknown_event", "todo has no event \"%s\"", name);

    /* toggle, edit, remove: all address one item. Validate the title before the id lookup so
     * that a malformed payload is "invalid_payload" whatever its id. */
    cJSON *title = NULL;
    if (strcmp(name, "edit") == 0 && (title = read_title(ctx, payload)) == NULL)
        return SC_FAIL;
    int index = -1;
    cJSON *item = find_item(ctx, todos, payload, &index);
    if (item == NULL) {
        cJSON_Delete(title);
        return SC_FAIL;
    }
    if (strcmp(name, "remove") == 0) {
        cJSON_DeleteItemFromArray(todos, index);
        return SC_OK;
    }
    if (strcmp(name, "toggle") == 0)
        return set_done(ctx, item, !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "done")));
    if (cJSON_GetObjectItemCaseSensitive(item, "title") != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(item, "title", title);
    else
        cJSON_AddItemToObject(item, "title", title);
    return SC_OK;
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "todo",
    .pattern = "todo:*",
    .scope = SC_SCOPE_TOPIC,
    .join = todo_join,
    .event = todo_event,
};
