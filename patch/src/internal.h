/*
 * internal.h -- what the patch library's source files share privately. Nothing here is API:
 * the symbols have hidden visibility and may change with any commit.
 *
 * All memory the library allocates goes through cJSON's hooks (cJSON_malloc/cJSON_free), so an
 * application's cJSON_InitHooks() (and the allocation-failure tests) cover it too.
 */
#ifndef STATECHANNEL_PATCH_INTERNAL_H
#define STATECHANNEL_PATCH_INTERNAL_H

#include <stddef.h>

#include "statechannel/patch.h"

#if defined(__GNUC__)
#define SC__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SC__PRINTF(fmt, args)
#endif

/* ---- errors (pointer.c) ------------------------------------------------------------------ */

/* Fills err (if not NULL) with status, no operation (op_index -1, op ""), path (truncated to
 * fit; NULL for "") and a printf-formatted reason. Returns status, so callers can
 * `return sc__fail(...)`. */
sc_patch_status sc__fail(sc_patch_error *err, sc_patch_status status, const char *path,
                         const char *fmt, ...) SC__PRINTF(4, 5);

/* ---- JSON Pointer (pointer.c) ------------------------------------------------------------ */

/* Checks the syntax of pointer text: "" or "/"-prefixed, every "~" followed by "0" or "1", at
 * most SC_PATCH_MAX_DEPTH tokens. O(strlen(text)), no allocation. On success returns
 * SC_PATCH_OK and sets *n_tokens (may be NULL); otherwise fills err (EPOINTER, ETOODEEP). */
sc_patch_status sc__ptr_check(const char *text, size_t *n_tokens, sc_patch_error *err);

/* Where a checked pointer leads: the container its last token addresses and what is there.
 * Tokens are kept escaped (they point into the pointer text) so resolving never allocates. */
typedef struct sc__target {
    cJSON *parent;      /* container of the last token; NULL for the root pointer "" */
    cJSON *item;        /* the addressed item; NULL when it does not exist (yet) */
    const char *tok;    /* last token, escaped, inside the pointer text; NULL for "" */
    size_t tok_len;     /* its length in bytes */
    size_t index;       /* array parent: the index addressed (unset for "-") */
    size_t size;        /* array parent with item NULL and !is_end: the array's size */
    int is_end;         /* array parent: the token is "-" (the element past the end) */
} sc__target;

/* Lookup indexes of large containers (index.c): for one apply, or kept with an sc_doc across
 * applies (persistent). Zero-initialize; release with sc__index_drop(). */
#define SC__INDEX_SEEN 8 /* containers remembered after one long walk (see index.c) */
typedef struct sc__index {
    struct ix_entry **map;              /* by container pointer; NULL slots are empty */
    size_t cap;                         /* slots in map (a power of two, or 0) */
    size_t used;                        /* entries in map */
    const cJSON *seen[SC__INDEX_SEEN];  /* walked long once, not indexed yet (a ring) */
    unsigned seen_next;                 /* next ring slot to overwrite */
    int persistent;                     /* 1: outlives the call (sc_doc): index on the first
                                           long walk, and forget freed containers */
} sc__index;

/* Resolves every token of text (already checked by sc__ptr_check) but the last, which must
 * all exist, then looks the last one up in its container without requiring it to exist.
 * ix (may be NULL) speeds up repeated lookups in large containers.
 * Cost: linear in the array positions and object members walked; each array is walked once.
 * Errors: SC_PATCH_ENOPATH (an inner step is missing, or a token reaches into a scalar),
 * SC_PATCH_EPOINTER (a token used on an array is not an index); err->path is left "" for the
 * caller to fill. */
sc_patch_status sc__ptr_resolve(cJSON *root, const char *text, sc__index *ix, sc__target *t,
                                sc_patch_error *err);

/* Plain list lookups (pointer.c). sc__member_find: the first member whose key equals the
 * escaped token tok[0..len). sc__array_walk: element i, or NULL with *size set to the array's
 * length when i is past the end. sc__key_matches: does key equal the escaped token? */
cJSON *sc__member_find(const cJSON *object, const char *tok, size_t len);
cJSON *sc__member_find_from(cJSON *first, const char *tok, size_t len); /* from a member on */
cJSON *sc__array_walk(const cJSON *array, size_t i, size_t *size);
int sc__key_matches(const char *key, const char *tok, size_t len);

/* Fills err for a resolved target whose item does not exist (t->item == NULL) and returns the
 * status: SC_PATCH_ENOPATH for a missing object member, array_status for "-" or an index past
 * the end of an array. err->path is set to text. */
sc_patch_status sc__target_missing(const sc__target *t, const char *text,
                                   sc_patch_status array_status, sc_patch_error *err);

/* Duplicates the escaped token tok[0..len) unescaped into a new string allocated with
 * cJSON_malloc() (caller frees with cJSON_free()). Returns NULL when out of memory. */
char *sc__token_dup(const char *tok, size_t len);

/* ---- indexes (index.c) -----------------------------------------------------------------------
 * Lookups answer exactly as sc__member_find() / sc__array_walk() would, faster when repeated.
 * After building an index for a container, every change apply makes to that container must be
 * reported (before it is made) so the index stays a true prefix of the list. */
cJSON *sc__index_member(sc__index *ix, cJSON *object, const char *tok, size_t len);
cJSON *sc__index_element(sc__index *ix, cJSON *array, size_t i, size_t *size);
/* item is about to be linked into parent: arrays at position pos (at_end: appended). */
void sc__index_linking(sc__index *ix, cJSON *parent, cJSON *item, size_t pos, int at_end);
/* item (arrays: at position pos) is about to be unlinked from parent. */
void sc__index_unlinking(sc__index *ix, cJSON *parent, cJSON *item, size_t pos);
/* item is about to take old's place (arrays: position pos) in parent. */
void sc__index_replacing(sc__index *ix, cJSON *parent, cJSON *old, cJSON *item, size_t pos);
/* Frees every index; ix is empty (and reusable) afterwards; ix->persistent is kept. */
void sc__index_drop(sc__index *ix);
/* Indexes every container of the tree at root with at least SC_INDEX_MIN_WALK children, in
 * one walk. Best effort: a container that cannot be indexed (memory) is walked plainly. */
void sc__index_build_tree(sc__index *ix, cJSON *root);
/* tree (detached, about to be freed) and everything in it leave the index, so a container
 * allocated later at a freed address is never mistaken for an indexed one. Stops as soon as
 * the index is empty; drops the whole index if it cannot allocate its walk stack. */
void sc__index_forget_tree(sc__index *ix, const cJSON *tree);

/* ---- apply (apply.c) ------------------------------------------------------------------- */

/* sc__apply() flags. SC_PATCH_TAKE_VALUES: add/replace move their "value" out of the patch
 * into the document instead of copying it (sc_patch_apply_take(), sc_doc_apply_take()). */
#define SC_PATCH_TAKE_VALUES 1u

/* The one apply behind sc_patch_apply(), sc_patch_apply_take() and sc_doc_apply(). patch is
 * only read unless flags has SC_PATCH_TAKE_VALUES. ix: a persistent index of *doc (sc_doc),
 * or NULL for a per-call one. grave: NULL frees what a successful patch removed or replaced
 * before returning; otherwise those subtrees are pushed onto the list *grave (linked through
 * next, newest first; cJSON_Delete() of the head frees them all) and stay in ix until the
 * caller frees them (sc__index_forget_tree() first). */
sc_patch_status sc__apply(cJSON **doc, cJSON *patch, unsigned flags, sc__index *ix,
                          cJSON **grave, sc_patch_error *err);

/* ---- equality (equal.c) ------------------------------------------------------------------ */

/* sc_json_equal() that tells "not equal" apart from "could not decide": returns 1 when equal,
 * 0 otherwise; *status is SC_PATCH_OK when the answer is known, or SC_PATCH_ENOMEM /
 * SC_PATCH_ETOODEEP when the comparison had to stop. */
int sc__json_equal(const cJSON *a, const cJSON *b, sc_patch_status *status);

#endif /* STATECHANNEL_PATCH_INTERNAL_H */
