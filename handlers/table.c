/*
 * table -- the js-framework-benchmark table, one per client: `table:<id>`, state
 *   {"rows": [{"id": n, "label": "pretty red table"}], "selected": null | id}
 *
 * SC_SCOPE_CONNECTION: every joined client has its own table. Events (as the benchmark's):
 *   run       replace the rows with TABLE_RUN_ROWS new ones
 *   runlots   replace the rows with TABLE_RUNLOTS_ROWS new ones
 *   add       append TABLE_RUN_ROWS new rows
 *   update    append " !!!" to the label of every 10th row (rows 0, 10, 20, ...)
 *   clear     remove every row
 *   swaprows  swap rows 1 and 998 when there are more than 998 rows
 *   remove    {"id"} remove that row
 *   select    {"id"} set "selected"
 * The handler knows exactly what each event changes, so it emits the RFC 6902 operations
 * itself with sc_emit_patch_take() (the server keeps them and their values: no copy of the
 * operations) instead of letting the server diff up to TABLE_MAX_ROWS rows: update is one
 * replace per touched label, swaprows two replaces, remove one remove (two when the removed
 * row was selected), run one replace of "/rows". Events that change nothing (swaprows on a short
 * table, clear on an empty one) emit nothing. Operation objects use constant keys and a
 * constant "op" string (cJSON_AddItemToObjectCS, cJSON_CreateStringReference): four fewer
 * allocations per operation; they never outlive the event.
 *
 * Labels are "<adjective> <colour> <noun>" drawn from the benchmark's word lists with a
 * xorshift64* generator seeded from the topic (FNV-1a), so the same topic yields the same
 * labels in every run. Row ids increase from 1 and are never reused within an instance. The
 * generator and the next id live in the instance's userdata; when it is missing (a resumed
 * session after a restart) both are rebuilt from the rows (next id = largest id + 1).
 * The instance data also counts the rows (kept by every event that changes them, rebuilt with
 * the generator), so swaprows and add never walk the list (cJSON's arrays are linked lists:
 * counting 1,000 rows is 1,000 dependent loads, mostly cache misses): swaprows reaches rows 1
 * and 998 from the nearer end. The state is only read (sc_state_read()), so the server keeps
 * its indexes of the rows between events and the emitted "/rows/998" costs no walk either.
 * Cost: run/add O(rows made); update, remove, select O(rows); swaprows and clear O(1).
 */
#include <statechannel/handler.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest topic id accepted: ids are names, not data. */
#define TABLE_MAX_ID_LEN 64
/* Rows made by run and add (the benchmark's 1,000). */
#define TABLE_RUN_ROWS 1000
/* Rows made by runlots (the benchmark's 10,000). */
#define TABLE_RUNLOTS_ROWS 10000
/* Rows one table may hold: runlots plus a few adds; bounds a client's state to ~2.5 MB. */
#define TABLE_MAX_ROWS 50000
/* update touches every TABLE_UPDATE_STRIDE-th row (the benchmark's every 10th). */
#define TABLE_UPDATE_STRIDE 10
/* The rows swaprows exchanges (the benchmark's second and 999th). */
#define TABLE_SWAP_A 1
#define TABLE_SWAP_B 998
/* Longest label: each update appends " !!!", so labels would grow without end; past this
 * length update leaves a label alone (the benchmark never gets close: ~30 updates). */
#define TABLE_MAX_LABEL 256
/* Longest JSON pointer this handler writes: "/rows/<index>/label". */
#define TABLE_MAX_PATH 48

static const char *const adjectives[] = {
    "pretty", "large", "big", "small", "tall", "short", "long", "handsome", "plain",
    "quaint", "clean", "elegant", "easy", "angry", "crazy", "helpful", "mushy", "odd",
    "unsightly", "adorable", "important", "inexpensive", "cheap", "expensive", "fancy"};
static const char *const colours[] = {"red", "yellow", "blue", "green", "pink", "brown",
                                      "purple", "brown", "white", "black", "orange"};
static const char *const nouns[] = {"table", "chair", "house", "bbq", "desk", "car", "pony",
                                    "cookie", "sandwich", "burger", "pizza", "mouse", "keyboard"};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef struct table_instance {
    uint64_t rng;    /* xorshift64* state; never 0 */
    double next_id;  /* id of the next row made; > every id in the table */
    int rows;        /* rows in the table: counted when made, then kept by each event that
                        changes them, once its patch applied */
} table_instance;

/* FNV-1a of s mixed with salt; never 0 (xorshift's one fixed point). */
static uint64_t seed_of(const char *s, uint64_t salt)
{
    uint64_t h = 0xcbf29ce484222325u ^ salt;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h != 0 ? h : 1;
}

static uint64_t next_random(table_instance *t)
{
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545f4914f6cdd1du;
}

/* The instance's generator and id counter, made (or rebuilt from the rows) on first use. */
static table_instance *instance(sc_ctx *ctx)
{
    table_instance *t = sc_userdata(ctx);
    if (t != NULL)
        return t;
    t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    t->next_id = 1;
    t->rows = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(sc_state_read(ctx), "rows")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(row, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= t->next_id)
            t->next_id = id->valuedouble + 1;
        t->rows++;
    }
    t->rng = seed_of(sc_topic(ctx), (uint64_t)t->next_id);
    sc_set_userdata(ctx, t, free);
    return t;
}

/* Appends n new rows to array; returns SC_FAIL when out of memory. */
static int make_rows(table_instance *t, cJSON *array, int n)
{
    for (int i = 0; i < n; i++) {
        char label[TABLE_MAX_LABEL];
        uint64_t r = next_random(t);
        /* Three draws from one 64-bit value: the word lists are tiny, the bits plentiful. */
        snprintf(label, sizeof label, "%s %s %s", adjectives[r % COUNT_OF(adjectives)],
                 colours[(r >> 16) % COUNT_OF(colours)], nouns[(r >> 32) % COUNT_OF(nouns)]);
        cJSON *row = cJSON_CreateObject();
        if (row == NULL || cJSON_AddNumberToObject(row, "id", t->next_id) == NULL ||
            cJSON_AddStringToObject(row, "label", label) == NULL ||
            !cJSON_AddItemToArray(array, row)) {
            cJSON_Delete(row);
            return SC_FAIL;
        }
        t->next_id += 1;
    }
    return SC_OK;
}

/* Adds the string member key = text to o (keys are string literals: constant keys). */
static int add_string(cJSON *o, const char *key, const char *text)
{
    cJSON *s = cJSON_CreateString(text);
    if (s == NULL || !cJSON_AddItemToObjectCS(o, key, s)) {
        cJSON_Delete(s);
        return SC_FAIL;
    }
    return SC_OK;
}

/* Appends {"op", "path"} to ops, with "value" unless op is "remove". op is a string literal
 * (referenced, not copied). Takes ownership of value; a NULL value (an allocation that failed)
 * fails. */
static int add_op(cJSON *ops, const char *op, const char *path, cJSON *value)
{
    int with_value = strcmp(op, "remove") != 0;
    cJSON *o = cJSON_CreateObject();
    cJSON *name = cJSON_CreateStringReference(op);
    if (o == NULL || name == NULL || (with_value && value == NULL) ||
        !cJSON_AddItemToObjectCS(o, "op", name)) {
        cJSON_Delete(name);
        cJSON_Delete(o);
        cJSON_Delete(value);
        return SC_FAIL;
    }
    if (add_string(o, "path", path) != SC_OK) {
        cJSON_Delete(o);
        cJSON_Delete(value);
        return SC_FAIL;
    }
    if (with_value && !cJSON_AddItemToObjectCS(o, "value", value)) {
        cJSON_Delete(value);
        cJSON_Delete(o);
        return SC_FAIL;
    }
    if (!cJSON_AddItemToArray(ops, o)) {
        cJSON_Delete(o);
        return SC_FAIL;
    }
    return SC_OK;
}

/* Sends ops (when there are any); the server takes them. Returns SC_OK when they applied. */
static int emit(sc_ctx *ctx, cJSON *ops)
{
    if (ops->child == NULL) {
        cJSON_Delete(ops);
        return SC_OK;
    }
    if (sc_emit_patch_take(ctx, ops) != SC_OK)
        return sc_fail(ctx, "handler_error", "the table's patch did not apply");
    return SC_OK;
}

static int oom(sc_ctx *ctx, cJSON *ops)
{
    cJSON_Delete(ops);
    return sc_fail(ctx, "handler_error", "out of memory");
}

/* Appends the op that clears "selected" when it is set. */
static int unselect(const cJSON *state, cJSON *ops)
{
    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(state, "selected")))
        return SC_OK;
    return add_op(ops, "replace", "/selected", cJSON_CreateNull());
}

/* run / runlots (replace = 1) and add (replace = 0). */
static int make(sc_ctx *ctx, const cJSON *state, int n, int replace)
{
    table_instance *t = instance(ctx);
    if (t == NULL)
        return sc_fail(ctx, "handler_error", "out of memory");
    int kept = replace ? 0 : t->rows;
    if (kept + n > TABLE_MAX_ROWS)
        return sc_fail(ctx, "too_many_rows", "a table holds at most %d rows", TABLE_MAX_ROWS);
    cJSON *ops = cJSON_CreateArray();
    cJSON *fresh = cJSON_CreateArray();
    if (ops == NULL || fresh == NULL || make_rows(t, fresh, n) != SC_OK) {
        cJSON_Delete(fresh);
        return oom(ctx, ops);
    }
    if (replace) {
        if (add_op(ops, "replace", "/rows", fresh) != SC_OK || unselect(state, ops) != SC_OK)
            return oom(ctx, ops);
        if (emit(ctx, ops) != SC_OK)
            return SC_FAIL;
        t->rows = n;
        return SC_OK;
    }
    /* Appends: one "add /rows/-" per row, each a small op a client applies in O(1). */
    cJSON *row = fresh->child;
    while (row != NULL) {
        cJSON *next = row->next;
        if (add_op(ops, "add", "/rows/-", cJSON_DetachItemViaPointer(fresh, row)) != SC_OK) {
            cJSON_Delete(fresh);
            return oom(ctx, ops);
        }
        row = next;
    }
    cJSON_Delete(fresh);
    if (emit(ctx, ops) != SC_OK)
        return SC_FAIL;
    t->rows = kept + n;
    return SC_OK;
}

static int update(sc_ctx *ctx, const cJSON *rows)
{
    cJSON *ops = cJSON_CreateArray();
    if (ops == NULL)
        return oom(ctx, ops);
    int i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        if (i % TABLE_UPDATE_STRIDE == 0) {
            const cJSON *label = cJSON_GetObjectItemCaseSensitive(row, "label");
            char text[TABLE_MAX_LABEL];
            char path[TABLE_MAX_PATH];
            if (cJSON_IsString(label) && strlen(label->valuestring) + 4 < sizeof text) {
                snprintf(text, sizeof text, "%s !!!", label->valuestring);
                snprintf(path, sizeof path, "/rows/%d/label", i);
                if (add_op(ops, "replace", path, cJSON_CreateString(text)) != SC_OK)
                    return oom(ctx, ops);
            }
        }
        i++;
    }
    return emit(ctx, ops);
}

/* Row i of rows, which holds count rows, walked from the nearer end (cJSON keeps the last
 * element in the first one's prev): rows 1 and 998 of 1,000 are two steps each. NULL when the
 * list is shorter than count says. */
static const cJSON *row_at(const cJSON *rows, int count, int i)
{
    const cJSON *c;
    if (i <= count - 1 - i) {
        c = rows->child;
        for (int k = 0; k < i && c != NULL; k++)
            c = c->next;
    } else {
        c = rows->child != NULL ? rows->child->prev : NULL;
        for (int k = count - 1; k > i && c != NULL && c != rows->child; k--)
            c = c->prev;
    }
    return c;
}

/* Two replaces, each with a copy of the other row. (Two moves would copy nothing, but the
 * SolidJS binding in public/src/solid.js cannot apply a move yet: it structuredClone()s a
 * store proxy.) */
static int swaprows(sc_ctx *ctx, const cJSON *rows)
{
    table_instance *t = instance(ctx);
    if (t == NULL)
        return sc_fail(ctx, "handler_error", "out of memory");
    if (t->rows <= TABLE_SWAP_B)
        return SC_OK;
    const cJSON *row_a = row_at(rows, t->rows, TABLE_SWAP_A);
    const cJSON *row_b = row_at(rows, t->rows, TABLE_SWAP_B);
    if (row_a == NULL || row_b == NULL)
        return sc_fail(ctx, "handler_error", "the table has fewer rows than counted");
    char path_a[TABLE_MAX_PATH], path_b[TABLE_MAX_PATH];
    snprintf(path_a, sizeof path_a, "/rows/%d", TABLE_SWAP_A);
    snprintf(path_b, sizeof path_b, "/rows/%d", TABLE_SWAP_B);
    cJSON *ops = cJSON_CreateArray();
    if (ops == NULL || add_op(ops, "replace", path_a, cJSON_Duplicate(row_b, 1)) != SC_OK ||
        add_op(ops, "replace", path_b, cJSON_Duplicate(row_a, 1)) != SC_OK)
        return oom(ctx, ops);
    return emit(ctx, ops);
}

/* Index of the row whose id is payload["id"], or -1 after sc_fail(). */
static int find_row(sc_ctx *ctx, const cJSON *rows, const cJSON *payload, double *id_out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(payload, "id");
    if (!cJSON_IsNumber(id)) {
        sc_fail(ctx, "invalid_payload", "\"id\" must be a number");
        return -1;
    }
    *id_out = id->valuedouble;
    int i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        const cJSON *row_id = cJSON_GetObjectItemCaseSensitive(row, "id");
        if (cJSON_IsNumber(row_id) && row_id->valuedouble == id->valuedouble)
            return i;
        i++;
    }
    sc_fail(ctx, "not_found", "no row with id %.0f", id->valuedouble);
    return -1;
}

static int remove_row(sc_ctx *ctx, const cJSON *state, const cJSON *rows,
                      const cJSON *payload)
{
    double id;
    table_instance *t = instance(ctx);
    if (t == NULL)
        return sc_fail(ctx, "handler_error", "out of memory");
    int index = find_row(ctx, rows, payload, &id);
    if (index < 0)
        return SC_FAIL;
    char path[TABLE_MAX_PATH];
    snprintf(path, sizeof path, "/rows/%d", index);
    cJSON *ops = cJSON_CreateArray();
    if (ops == NULL || add_op(ops, "remove", path, NULL) != SC_OK)
        return oom(ctx, ops);
    const cJSON *selected = cJSON_GetObjectItemCaseSensitive(state, "selected");
    if (cJSON_IsNumber(selected) && selected->valuedouble == id &&
        unselect(state, ops) != SC_OK)
        return oom(ctx, ops);
    if (emit(ctx, ops) != SC_OK)
        return SC_FAIL;
    t->rows--;
    return SC_OK;
}

static int select_row(sc_ctx *ctx, const cJSON *state, const cJSON *rows,
                      const cJSON *payload)
{
    double id;
    if (find_row(ctx, rows, payload, &id) < 0)
        return SC_FAIL;
    const cJSON *selected = cJSON_GetObjectItemCaseSensitive(state, "selected");
    if (cJSON_IsNumber(selected) && selected->valuedouble == id)
        return SC_OK;
    cJSON *ops = cJSON_CreateArray();
    if (ops == NULL || add_op(ops, "replace", "/selected", cJSON_CreateNumber(id)) != SC_OK)
        return oom(ctx, ops);
    return emit(ctx, ops);
}

static int table_join(sc_ctx *ctx, const cJSON *params)
{
    /* With --auth, a join needs a valid token (docs/security.md); without, a no-op. */
    if (sc_authorize_join(ctx, params) != SC_OK)
        return SC_FAIL;
    if (!sc_topic_id_is_name(ctx, TABLE_MAX_ID_LEN))
        return sc_fail(ctx, "invalid topic", "use table:<id>, id of 1..%d [A-Za-z0-9_-]",
                       TABLE_MAX_ID_LEN);
    if (!sc_state_is_new(ctx))
        return SC_OK;
    cJSON *state = sc_state(ctx);
    if (cJSON_AddArrayToObject(state, "rows") == NULL ||
        cJSON_AddNullToObject(state, "selected") == NULL)
        return sc_fail(ctx, "handler_error", "out of memory");
    return SC_OK;
}

static int table_event(sc_ctx *ctx, const char *name, const cJSON *payload)
{
    /* Read only: every change is an emitted patch, so the server keeps its indexes of the
     * rows across events (emitting "/rows/998" does not walk the list). */
    const cJSON *state = sc_state_read(ctx);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(state, "rows");
    if (!cJSON_IsArray(rows))
        return sc_fail(ctx, "handler_error", "the state has no \"rows\" array");

    if (strcmp(name, "run") == 0)
        return make(ctx, state, TABLE_RUN_ROWS, 1);
    if (strcmp(name, "runlots") == 0)
        return make(ctx, state, TABLE_RUNLOTS_ROWS, 1);
    if (strcmp(name, "add") == 0)
        return make(ctx, state, TABLE_RUN_ROWS, 0);
    if (strcmp(name, "update") == 0)
        return update(ctx, rows);
    if (strcmp(name, "swaprows") == 0)
        return swaprows(ctx, rows);
    if (strcmp(name, "clear") == 0) {
        if (rows->child == NULL)
            return SC_OK;
        table_instance *t = instance(ctx);
        cJSON *ops = cJSON_CreateArray();
        if (t == NULL || ops == NULL ||
            add_op(ops, "replace", "/rows", cJSON_CreateArray()) != SC_OK ||
            unselect(state, ops) != SC_OK)
            return oom(ctx, ops);
        if (emit(ctx, ops) != SC_OK)
            return SC_FAIL;
        t->rows = 0;
        return SC_OK;
    }
    int by_id = strcmp(name, "remove") == 0 || strcmp(name, "select") == 0;
    if (!by_id)
        return sc_fail(ctx, "unknown_event", "table has no event \"%s\"", name);
    if (!cJSON_IsObject(payload))
        return sc_fail(ctx, "invalid_payload", "%s needs {\"id\": number}", name);
    if (strcmp(name, "remove") == 0)
        return remove_row(ctx, state, rows, payload);
    return select_row(ctx, state, rows, payload);
}

SC_HANDLER_EXPORT const sc_handler statechannel_handler = {
    SC_HANDLER_HEADER,
    .name = "table",
    .pattern = "table:*",
    .scope = SC_SCOPE_CONNECTION,
    .join = table_join,
    .event = table_event,
};
