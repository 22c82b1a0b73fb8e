/*
 * apply.c -- RFC 6902 JSON Patch, applied atomically in place.
 *
 * Algorithm: operations run in order directly on the document. Each change is recorded in an
 * undo log before control returns to the loop:
 *   DETACH  an item unlinked from its container, with the sibling that preceded it (and, for a
 *           moved or taken item, its key, cleared while it travels);
 *   INSERT  an item linked into a container;
 *   REPLACE an item put in another's place (the new one takes the old one's key);
 *   ROOT    the document root swapped for another item.
 * When an operation fails, the log is undone newest first: each entry then finds the document
 * exactly as it left it (so "reinsert after this sibling" is exact) and the document returns to
 * its original items, order and pointers. Items the patch removed are freed only when the
 * whole patch has succeeded (commit), or, for an sc_doc, parked in its graveyard and freed
 * later (doc.c); items it created are freed on rollback.
 *
 * Every allocation an operation needs (its log entries, a duplicated value, a new key) happens
 * before it changes the document, so running out of memory is just another failure to undo.
 *
 * With SC_PATCH_TAKE_VALUES (sc_patch_apply_take(), sc_doc_apply_take()) add and replace move
 * their "value" out of the operation object instead of copying it: a DETACH of the value from
 * the patch, undone like any other, so a failed apply returns the patch exactly as it was too.
 *
 * Complexity: an operation costs resolving its pointer(s) plus what it changes: add/replace
 * duplicate their value from the patch (O(1) when taking it), copy duplicates the source, test
 * compares (equal.c), move and remove are O(1) after resolving. Resolving walks cJSON's lists
 * (pointer.c), through per-call indexes of large containers (index.c), or an sc_doc's kept
 * ones (doc.c): a patch of k operations into one container of n children visits each child at
 * most once, O(n + k), not O(n * k) (O(k) with kept indexes). Every list change is reported
 * to those indexes before it is made. The log costs 40 bytes per change (a move or a taken
 * value takes 2 entries, most operations 1); the first SC_UNDO_STACK_ENTRIES live on the stack,
 * a longer patch sizes the log once for its operation count (it doubles if that is not
 * enough). A failure costs O(changes so far) to undo.
 *
 * Limits: removing the root "" is refused (SC_PATCH_EROOT): a JSON Patch cannot leave no
 * document. Pointer limits are pointer.c's. "test" fails with SC_PATCH_ETOODEEP or
 * SC_PATCH_ENOMEM, not SC_PATCH_ETEST, when the comparison could not finish.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Log entries kept on the stack: a patch of up to ~30 operations never allocates for its log,
 * and 32 * 40 bytes stays small on a civetweb worker's ~100 KiB stack. */
#define SC_UNDO_STACK_ENTRIES 32

/* Most log entries one operation records (move, or a taken value: DETACH, then INSERT,
 * REPLACE or ROOT). */
#define SC_UNDO_PER_OP 2

typedef enum undo_kind { UNDO_DETACH, UNDO_INSERT, UNDO_REPLACE, UNDO_ROOT } undo_kind;

typedef struct undo {
    unsigned char kind;      /* undo_kind */
    unsigned char owned;     /* DETACH: free item on commit; INSERT, REPLACE, ROOT: item was
                                created by this patch, free it on rollback */
    unsigned char key_const; /* DETACH with key: the key carried cJSON_StringIsConst */
    cJSON *parent;           /* DETACH, INSERT, REPLACE: the container */
    cJSON *item;             /* the item detached, inserted, put in place, new root */
    cJSON *other;            /* DETACH: preceding sibling (NULL: it was first); REPLACE: the
                                replaced item; ROOT: the old root */
    char *key;               /* DETACH of a moved or taken item: its key, cleared while it
                                travels (owned by the entry: restored on rollback, freed on
                                commit); NULL otherwise */
} undo;

typedef struct undo_log {
    undo *e;    /* entries; == stack until the log outgrows it, then cJSON_malloc'd */
    size_t n;   /* entries used */
    size_t cap; /* entries available at e */
    undo stack[SC_UNDO_STACK_ENTRIES];
} undo_log;

typedef struct apply_ctx {
    cJSON **doc;
    undo_log log;
    sc__index *ix;   /* lookup indexes of large containers (index.c); told of every change:
                        &local_ix, or an sc_doc's kept index */
    sc__index local_ix;
    int take;        /* SC_PATCH_TAKE_VALUES: add/replace move their value out of the patch */
    sc_patch_error *err;
} apply_ctx;

/* ---- cJSON list surgery -----------------------------------------------------------------
 * cJSON keeps each container's children as a list: parent->child is the first, every next is
 * NULL-terminated, and the first child's prev points to the LAST child (cJSON appends through
 * it); other prevs point to the previous sibling. Every function here keeps that invariant. */

static cJSON *prev_sibling(const cJSON *parent, const cJSON *item)
{
    return item == parent->child ? NULL : item->prev;
}

static void list_unlink(cJSON *parent, cJSON *item)
{
    if (item == parent->child) {
        parent->child = item->next;
        if (item->next != NULL)
            item->next->prev = item->prev; /* the new first child points to the last */
    } else {
        item->prev->next = item->next;
        if (item->next != NULL)
            item->next->prev = item->prev;
        else
            parent->child->prev = item->prev; /* item was last */
    }
    item->next = item->prev = NULL;
}

/* Links item after prev (prev NULL: as the first child). */
static void list_insert_after(cJSON *parent, cJSON *prev, cJSON *item)
{
    if (prev == NULL) {
        cJSON *first = parent->child;
        item->next = first;
        if (first != NULL) {
            item->prev = first->prev;
            first->prev = item;
        } else {
            item->prev = item;
        }
        parent->child = item;
    } else {
        item->prev = prev;
        item->next = prev->next;
        if (prev->next != NULL)
            prev->next->prev = item;
        else
            parent->child->prev = item; /* item is the new last */
        prev->next = item;
    }
}

/* Puts item where old is; old leaves the list. */
static void list_replace(cJSON *parent, cJSON *old, cJSON *item)
{
    item->next = old->next;
    item->prev = old->prev;
    if (old == parent->child)
        parent->child = item;
    else
        old->prev->next = item;
    if (old->next != NULL)
        old->next->prev = item;
    else
        parent->child->prev = item; /* old was last (when it was also first, item->prev = item) */
    old->next = old->prev = NULL;
}

/* Moves key ownership (and its StringIsConst flag) from one item to another. */
static void key_transfer(cJSON *from, cJSON *to)
{
    to->string = from->string;
    to->type = (to->type & ~cJSON_StringIsConst) | (from->type & cJSON_StringIsConst);
    from->string = NULL;
    from->type &= ~cJSON_StringIsConst;
}

/* ---- the undo log ------------------------------------------------------------------------ */

/* Makes room for want more entries (SC_UNDO_PER_OP before each operation, so an operation
 * never fails half-recorded): at least doubling, so a log that keeps growing is copied O(1)
 * times per entry. */
static sc_patch_status log_reserve(undo_log *log, size_t want)
{
    if (log->n + want <= log->cap)
        return SC_PATCH_OK;
    size_t cap = log->cap * 2 > log->n + want ? log->cap * 2 : log->n + want;
    undo *e = cJSON_malloc(cap * sizeof *e);
    if (e == NULL)
        return SC_PATCH_ENOMEM;
    memcpy(e, log->e, log->n * sizeof *e);
    if (log->e != log->stack)
        cJSON_free(log->e);
    log->e = e;
    log->cap = cap;
    return SC_PATCH_OK;
}

static undo *log_push(undo_log *log, undo_kind kind, cJSON *parent, cJSON *item, cJSON *other,
                      int owned)
{
    undo *u = &log->e[log->n++]; /* room reserved by log_reserve() */
    u->kind = (unsigned char)kind;
    u->owned = (unsigned char)owned;
    u->key_const = 0;
    u->parent = parent;
    u->item = item;
    u->other = other;
    u->key = NULL;
    return u;
}

static void log_release(undo_log *log)
{
    if (log->e != log->stack)
        cJSON_free(log->e);
    log->e = log->stack;
    log->n = 0;
    log->cap = SC_UNDO_STACK_ENTRIES;
}

/* Undoes every entry, newest first, and frees what the patch had created. */
static void rollback(cJSON **doc, undo_log *log)
{
    while (log->n > 0) {
        undo *u = &log->e[--log->n];
        switch ((undo_kind)u->kind) {
        case UNDO_DETACH:
            if (u->key != NULL) {
                u->item->string = u->key;
                if (u->key_const)
                    u->item->type |= cJSON_StringIsConst;
            }
            list_insert_after(u->parent, u->other, u->item);
            break;
        case UNDO_INSERT:
            list_unlink(u->parent, u->item);
            if (u->owned) {
                cJSON_Delete(u->item);
            } else {
                cJSON_free(u->item->string); /* the key given on insert; DETACH restores */
                u->item->string = NULL;
            }
            break;
        case UNDO_REPLACE:
            list_replace(u->parent, u->item, u->other);
            key_transfer(u->item, u->other);
            if (u->owned)
                cJSON_Delete(u->item);
            break;
        case UNDO_ROOT:
            *doc = u->other;
            if (u->owned)
                cJSON_Delete(u->item);
            break;
        }
    }
    log_release(log);
}

/* Frees a subtree the patch removed; a kept index forgets its containers first. */
static void free_removed(sc__index *ix, cJSON *item)
{
    sc__index_forget_tree(ix, item);
    cJSON_Delete(item);
}

/* A subtree the patch removed: freed now, or parked in *grave (linked through next, the
 * first one at the head) for the caller to free later. A removed subtree is unreachable from
 * the document and from the patch, so nothing can see it while it waits, and its addresses
 * cannot be reused before it is freed: a kept index forgets it only when it is freed. */
static void dispose(sc__index *ix, cJSON **grave, cJSON *item)
{
    if (grave == NULL) {
        free_removed(ix, item);
        return;
    }
    item->prev = NULL;
    item->next = *grave;
    *grave = item;
}

/* The patch succeeded: frees (or parks) what it removed from the document. */
static void commit(undo_log *log, sc__index *ix, cJSON **grave)
{
    for (size_t i = 0; i < log->n; i++) {
        undo *u = &log->e[i];
        switch ((undo_kind)u->kind) {
        case UNDO_DETACH:
            if (u->owned)
                dispose(ix, grave, u->item);
            if (u->key != NULL && !u->key_const)
                cJSON_free(u->key);
            break;
        case UNDO_REPLACE:
        case UNDO_ROOT:
            dispose(ix, grave, u->other);
            break;
        case UNDO_INSERT:
            break;
        }
    }
    log_release(log);
}

/* ---- operations -------------------------------------------------------------------------- */

/* Duplicates a value from the patch or the document without its key: the copy gets the key of
 * the place it goes to. cJSON_Duplicate() would copy the key too; duplicating a keyless image
 * of the item saves allocating a string only to free it. */
static cJSON *dup_value(const cJSON *v)
{
    cJSON image = *v;
    image.next = image.prev = NULL;
    image.string = NULL;
    image.type &= ~cJSON_StringIsConst;
    return cJSON_Duplicate(&image, 1);
}

/* Resolves pointer in the current document; on failure err->path names the pointer. */
static sc_patch_status resolve(apply_ctx *c, const char *pointer, sc__target *t)
{
    sc_patch_status st = sc__ptr_resolve(*c->doc, pointer, c->ix, t, c->err);
    if (st != SC_PATCH_OK && c->err != NULL)
        snprintf(c->err->path, sizeof c->err->path, "%s", pointer);
    return st;
}

/* Resolves pointer for an operation that needs its target to exist. */
static sc_patch_status resolve_existing(apply_ctx *c, const char *pointer, sc__target *t)
{
    sc_patch_status st = resolve(c, pointer, t);
    if (st != SC_PATCH_OK)
        return st;
    if (t->item == NULL)
        return sc__target_missing(t, pointer, SC_PATCH_EINDEX, c->err);
    return SC_PATCH_OK;
}

/* Puts item (keyless) at the resolved target t of an "add": replaces the root, replaces an
 * existing object member in place, appends a new member, or inserts into an array. On failure
 * the document is untouched and item still belongs to the caller. */
static sc_patch_status place(apply_ctx *c, const char *pointer, const sc__target *t, cJSON *item,
                             int owned)
{
    if (t->parent == NULL) {
        log_push(&c->log, UNDO_ROOT, NULL, item, *c->doc, owned);
        *c->doc = item;
        return SC_PATCH_OK;
    }
    if (cJSON_IsObject(t->parent)) {
        if (t->item != NULL) {
            sc__index_replacing(c->ix, t->parent, t->item, item, 0);
            list_replace(t->parent, t->item, item);
            key_transfer(t->item, item);
            log_push(&c->log, UNDO_REPLACE, t->parent, item, t->item, owned);
            return SC_PATCH_OK;
        }
        char *key = sc__token_dup(t->tok, t->tok_len);
        if (key == NULL)
            return sc__fail(c->err, SC_PATCH_ENOMEM, pointer, "cannot allocate the new key");
        item->string = key;
        sc__index_linking(c->ix, t->parent, item, 0, 1);
        list_insert_after(t->parent, t->parent->child ? t->parent->child->prev : NULL, item);
        log_push(&c->log, UNDO_INSERT, t->parent, item, NULL, owned);
        return SC_PATCH_OK;
    }
    /* An array: insert before the addressed element; "-" or index == size appends. */
    if (t->item == NULL && !t->is_end && t->index != t->size)
        return sc__target_missing(t, pointer, SC_PATCH_EINDEX, c->err);
    sc__index_linking(c->ix, t->parent, item, t->index, t->item == NULL);
    cJSON *prev;
    if (t->item != NULL)
        prev = prev_sibling(t->parent, t->item);
    else
        prev = t->parent->child ? t->parent->child->prev : NULL;
    list_insert_after(t->parent, prev, item);
    log_push(&c->log, UNDO_INSERT, t->parent, item, NULL, owned);
    return SC_PATCH_OK;
}

/* Unlinks item from parent and clears its key, logging both in one DETACH (not owned:
 * nothing is freed on commit but the key; rollback gives the key back and relinks the item),
 * so the item can be placed elsewhere and rollback returns it exactly. Reports the unlink to
 * the index (a no-op for a container outside the document, such as a patch operation). */
static void detach_keyless(apply_ctx *c, cJSON *parent, cJSON *item, size_t index)
{
    undo *u = log_push(&c->log, UNDO_DETACH, parent, item, prev_sibling(parent, item), 0);
    sc__index_unlinking(c->ix, parent, item, index);
    list_unlink(parent, item);
    u->key = item->string; /* NULL for an array element: nothing to restore */
    u->key_const = (item->type & cJSON_StringIsConst) != 0;
    item->string = NULL;
    item->type &= ~cJSON_StringIsConst;
}

/* The value an add/replace puts at t: taken out of its operation object (SC_PATCH_TAKE_VALUES;
 * *owned = 0, rollback hands it back) or a new copy (*owned = 1, the caller frees it if it
 * cannot be placed). NULL when out of memory. */
static cJSON *value_for(apply_ctx *c, const cJSON *op, const cJSON *value, int *owned)
{
    if (c->take) {
        /* The patch is the caller's to give away: sc__apply() was handed it writable. */
        cJSON *v = (cJSON *)value;
        detach_keyless(c, (cJSON *)op, v, 0);
        *owned = 0;
        return v;
    }
    *owned = 1;
    return dup_value(value);
}

/* Places a new copy of value at the target; the copy is freed if it cannot be placed. */
static sc_patch_status place_copy(apply_ctx *c, const char *pointer, const sc__target *t,
                                  const cJSON *value)
{
    cJSON *copy = dup_value(value);
    if (copy == NULL)
        return sc__fail(c->err, SC_PATCH_ENOMEM, pointer, "cannot copy the value");
    sc_patch_status st = place(c, pointer, t, copy, 1);
    if (st != SC_PATCH_OK)
        cJSON_Delete(copy);
    return st;
}

static sc_patch_status op_add(apply_ctx *c, const char *path, const cJSON *op,
                             const cJSON *value)
{
    sc__target t;
    sc_patch_status st = resolve(c, path, &t);
    if (st != SC_PATCH_OK)
        return st;
    int owned;
    cJSON *v = value_for(c, op, value, &owned);
    if (v == NULL)
        return sc__fail(c->err, SC_PATCH_ENOMEM, path, "cannot copy the value");
    st = place(c, path, &t, v, owned);
    if (st != SC_PATCH_OK && owned)
        cJSON_Delete(v);
    return st;
}

static sc_patch_status op_remove(apply_ctx *c, const char *path)
{
    sc__target t;
    sc_patch_status st = resolve_existing(c, path, &t);
    if (st != SC_PATCH_OK)
        return st;
    if (t.parent == NULL)
        return sc__fail(c->err, SC_PATCH_EROOT, path,
                        "cannot remove the whole document (a patch must leave one)");
    log_push(&c->log, UNDO_DETACH, t.parent, t.item, prev_sibling(t.parent, t.item), 1);
    sc__index_unlinking(c->ix, t.parent, t.item, t.index);
    list_unlink(t.parent, t.item);
    return SC_PATCH_OK;
}

static sc_patch_status op_replace(apply_ctx *c, const char *path, const cJSON *op,
                                 const cJSON *value)
{
    sc__target t;
    sc_patch_status st = resolve_existing(c, path, &t);
    if (st != SC_PATCH_OK)
        return st;
    int owned;
    cJSON *v = value_for(c, op, value, &owned);
    if (v == NULL)
        return sc__fail(c->err, SC_PATCH_ENOMEM, path, "cannot copy the value");
    if (t.parent != NULL && cJSON_IsArray(t.parent)) {
        /* place() inserts into arrays; replace swaps in place like an object member. */
        sc__index_replacing(c->ix, t.parent, t.item, v, t.index);
        list_replace(t.parent, t.item, v);
        log_push(&c->log, UNDO_REPLACE, t.parent, v, t.item, owned);
        return SC_PATCH_OK;
    }
    st = place(c, path, &t, v, owned); /* the root, or an existing member: replaced */
    if (st != SC_PATCH_OK && owned)
        cJSON_Delete(v);
    return st;
}

/* "an object", "a number"...: the kind of value, for a test's failure reason. */
static const char *kind_of(const cJSON *v)
{
    return cJSON_IsObject(v)   ? "an object"
           : cJSON_IsArray(v)  ? "an array"
           : cJSON_IsString(v) ? "a string"
           : cJSON_IsNumber(v) ? "a number"
           : cJSON_IsBool(v)   ? "a boolean"
           : cJSON_IsNull(v)   ? "null"
                               : "another kind of value";
}

static sc_patch_status op_test(apply_ctx *c, const char *path, const cJSON *value)
{
    sc__target t;
    sc_patch_status st = resolve_existing(c, path, &t);
    if (st != SC_PATCH_OK)
        return st;
    if (sc__json_equal(t.item, value, &st))
        return SC_PATCH_OK;
    if (st == SC_PATCH_ENOMEM)
        return sc__fail(c->err, st, path, "out of memory while comparing");
    if (st == SC_PATCH_ETOODEEP)
        return sc__fail(c->err, st, path, "values nest deeper than %d levels", SC_PATCH_MAX_DEPTH);
    if ((t.item->type & 0xFF) != (value->type & 0xFF))
        return sc__fail(c->err, SC_PATCH_ETEST, path, "found %s, the test expects %s",
                        kind_of(t.item), kind_of(value));
    return sc__fail(c->err, SC_PATCH_ETEST, path, "the value differs from the expected one");
}

/* Is `from` a proper prefix of `path`, token-wise ("/a" of "/a/b", not of "/ab")? Escaping is
 * canonical (a token has exactly one escaped spelling), so comparing text is exact. */
static int is_proper_prefix(const char *from, const char *path)
{
    size_t n = strlen(from);
    return strncmp(from, path, n) == 0 && path[n] == '/';
}

static sc_patch_status op_move(apply_ctx *c, const char *from, const char *path)
{
    if (is_proper_prefix(from, path))
        return sc__fail(c->err, SC_PATCH_EMOVE, path, "\"%.48s\" is inside \"%.48s\"", path,
                        from);
    sc__target src;
    sc_patch_status st = resolve_existing(c, from, &src);
    if (st != SC_PATCH_OK)
        return st;
    if (strcmp(from, path) == 0)
        return SC_PATCH_OK; /* RFC 6902 4.4: remove then add back: no change at all */
    /* from is not the root here: "" is a proper prefix of every other path. */
    cJSON *item = src.item;
    detach_keyless(c, src.parent, item, src.index);
    /* The target is resolved after the removal, as RFC 6902 defines move (indexes shift). A
     * failure from here on leaves the detach in the log, so rollback puts the item back. */
    sc__target dst;
    st = resolve(c, path, &dst);
    if (st != SC_PATCH_OK)
        return st;
    return place(c, path, &dst, item, 0);
}

static sc_patch_status op_copy(apply_ctx *c, const char *from, const char *path)
{
    sc__target src, dst;
    sc_patch_status st = resolve_existing(c, from, &src);
    if (st != SC_PATCH_OK)
        return st;
    st = resolve(c, path, &dst);
    if (st != SC_PATCH_OK)
        return st;
    return place_copy(c, path, &dst, src.item);
}

/* ---- the patch document ------------------------------------------------------------------ */

typedef enum op_code {
    OP_ADD,
    OP_REMOVE,
    OP_REPLACE,
    OP_MOVE,
    OP_COPY,
    OP_TEST,
    OP_UNKNOWN
} op_code;

static op_code op_lookup(const char *name)
{
    static const char *const names[] = {"add", "remove", "replace", "move", "copy", "test"};
    for (int i = 0; i < OP_UNKNOWN; i++)
        if (strcmp(name, names[i]) == 0)
            return (op_code)i;
    return OP_UNKNOWN;
}

/* The members of one operation object; the first of duplicate members counts, others (and
 * unknown members) are ignored as RFC 6902 4 asks. */
typedef struct op_fields {
    const cJSON *op, *path, *from, *value;
} op_fields;

static void op_fields_read(const cJSON *op, op_fields *f)
{
    memset(f, 0, sizeof *f);
    for (const cJSON *m = op->child; m != NULL; m = m->next) {
        const char *k = m->string;
        if (k == NULL)
            continue;
        const cJSON **slot = strcmp(k, "op") == 0      ? &f->op
                             : strcmp(k, "path") == 0  ? &f->path
                             : strcmp(k, "from") == 0  ? &f->from
                             : strcmp(k, "value") == 0 ? &f->value
                                                       : NULL;
        if (slot != NULL && *slot == NULL)
            *slot = m;
    }
}

/* Checks one operation's shape (its members read into f) and runs it. */
static sc_patch_status run_op(apply_ctx *c, const cJSON *op, op_fields *f_out)
{
    op_fields f = {0};
    if (!cJSON_IsObject(op))
        return sc__fail(c->err, SC_PATCH_EINVAL, NULL, "the operation is not an object");
    op_fields_read(op, &f);
    *f_out = f;
    if (f.op == NULL)
        return sc__fail(c->err, SC_PATCH_EINVAL, NULL, "missing \"op\"");
    if (!cJSON_IsString(f.op) || f.op->valuestring == NULL)
        return sc__fail(c->err, SC_PATCH_EINVAL, NULL, "\"op\" is not a string");
    op_code code = op_lookup(f.op->valuestring);
    if (code == OP_UNKNOWN)
        return sc__fail(c->err, SC_PATCH_EINVAL, NULL, "unknown op \"%.32s\"",
                        f.op->valuestring);
    if (f.path == NULL)
        return sc__fail(c->err, SC_PATCH_EINVAL, NULL, "missing \"path\"");
    if (!cJSON_IsString(f.path) || f.path->valuestring == NULL)
        return sc__fail(c->err, SC_PATCH_EINVAL, NULL, "\"path\" is not a string");
    const char *path = f.path->valuestring;
    const char *from = NULL;
    if (code == OP_MOVE || code == OP_COPY) {
        if (f.from == NULL)
            return sc__fail(c->err, SC_PATCH_EINVAL, path, "missing \"from\"");
        if (!cJSON_IsString(f.from) || f.from->valuestring == NULL)
            return sc__fail(c->err, SC_PATCH_EINVAL, path, "\"from\" is not a string");
        from = f.from->valuestring;
    }
    if ((code == OP_ADD || code == OP_REPLACE || code == OP_TEST) && f.value == NULL)
        return sc__fail(c->err, SC_PATCH_EINVAL, path, "missing \"value\"");

    sc_patch_status st = sc__ptr_check(path, NULL, c->err);
    if (st == SC_PATCH_OK && from != NULL)
        st = sc__ptr_check(from, NULL, c->err);
    if (st != SC_PATCH_OK)
        return st;
    st = log_reserve(&c->log, SC_UNDO_PER_OP);
    if (st != SC_PATCH_OK)
        return sc__fail(c->err, st, path, "cannot grow the undo log");

    switch (code) {
    case OP_ADD: return op_add(c, path, op, f.value);
    case OP_REMOVE: return op_remove(c, path);
    case OP_REPLACE: return op_replace(c, path, op, f.value);
    case OP_MOVE: return op_move(c, from, path);
    case OP_COPY: return op_copy(c, from, path);
    case OP_TEST: return op_test(c, path, f.value);
    case OP_UNKNOWN: break;
    }
    return SC_PATCH_EINVAL; /* unreachable: unknown ops were refused above */
}

sc_patch_status sc__apply(cJSON **doc, cJSON *patch, unsigned flags, sc__index *ix,
                          cJSON **grave, sc_patch_error *err)
{
    if (doc == NULL || *doc == NULL)
        return sc__fail(err, SC_PATCH_EARG, NULL, "no document");
    if (!cJSON_IsArray(patch))
        return sc__fail(err, SC_PATCH_EINVAL, NULL, "the patch is not a JSON array");

    apply_ctx c = {.doc = doc, .err = err, .take = (flags & SC_PATCH_TAKE_VALUES) != 0};
    c.ix = ix != NULL ? ix : &c.local_ix;
    c.log.e = c.log.stack;
    c.log.cap = SC_UNDO_STACK_ENTRIES;
    /* A long patch: size the log once (one entry per operation, two when taking values)
     * instead of doubling through it. Failing here fails nothing: the loop reserves again. */
    size_t n_ops = 0;
    for (const cJSON *op = patch->child; op != NULL; op = op->next)
        n_ops++;
    (void)log_reserve(&c.log, n_ops * (c.take ? 2 : 1));
    long index = 0;
    for (const cJSON *op = patch->child; op != NULL; op = op->next, index++) {
        op_fields f = {0};
        sc_patch_status st = run_op(&c, op, &f);
        if (st != SC_PATCH_OK) {
            sc__index_drop(c.ix); /* indexes describe the changed lists, not the restored ones */
            rollback(doc, &c.log);
            if (err != NULL) { /* the failing step filled status, path and reason */
                err->op_index = index;
                if (cJSON_IsString(f.op) && f.op->valuestring != NULL)
                    snprintf(err->op, sizeof err->op, "%s", f.op->valuestring);
            }
            return st;
        }
    }
    if (!c.ix->persistent)
        sc__index_drop(c.ix);
    commit(&c.log, c.ix, grave);
    return SC_PATCH_OK;
}

sc_patch_status sc_patch_apply(cJSON **doc, const cJSON *patch, sc_patch_error *err)
{
    /* Flags 0: the patch is only read, so dropping const is sound. */
    return sc__apply(doc, (cJSON *)patch, 0, NULL, NULL, err);
}

sc_patch_status sc_patch_apply_take(cJSON **doc, cJSON *patch, sc_patch_error *err)
{
    return sc__apply(doc, patch, SC_PATCH_TAKE_VALUES, NULL, NULL, err);
}
