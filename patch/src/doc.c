/*
 * doc.c -- sc_doc: a cJSON tree with lookup indexes kept across applies, and a graveyard.
 *
 * Algorithm: sc_doc_new() indexes every container with at least SC_INDEX_MIN_WALK children in
 * one walk of the tree (index.c, sc__index_build_tree(); O(tree)). Every apply through the
 * handle runs the ordinary atomic apply (apply.c) with this kept index instead of a per-call
 * one: the apply reports each list change to it, and drops it all before a rollback (it is
 * rebuilt lazily afterwards, container by container, on the first long walk). A pointer token
 * into an indexed container is then O(1), so a patch of k operations costs O(k) pointer steps
 * plus its changes, not a walk of the lists it lands in.
 *
 * Graveyard: what a successful apply removed or replaced is not freed inside the call but
 * parked on the handle (a list linked through the removed items' own next pointers: parking
 * never allocates and cannot fail). It is freed when the next apply through the handle
 * starts, by sc_doc_collect(), or with the handle. Freeing first makes the kept index forget
 * every container in it (a later allocation may reuse the addresses; until then they cannot
 * be reused, so the stale entries can never match a live container). Cost moves, it does not
 * vanish: freeing a subtree is about one free() per item, key and string, ~10 ns each here,
 * paid where the caller chooses (after its reply is out) instead of inside the apply.
 *
 * sc_doc_edit() lends the tree out for changes the handle does not see: it drops the indexes
 * (the lists they describe are about to change) and frees the graveyard; the persistent index
 * then rebuilds each container's entry on its first long walk.
 *
 * Limits: as sc_patch_apply(); memory as index.c. The graveyard holds what ONE apply removed
 * (each apply first frees the previous one's), so it never holds more than the document held
 * before that apply: a handle costs at most twice its document. The handle is not thread-safe
 * (neither is a cJSON tree).
 */
#include "internal.h"

struct sc_doc {
    cJSON *root;  /* the tree; owned; changed only through sc__apply() with ix */
    sc__index ix; /* kept indexes of root's large containers (ix.persistent = 1) */
    cJSON *grave; /* subtrees the last apply removed or replaced, linked through next, newest
                     first; owned; unreachable from root; NULL when empty */
};

sc_doc *sc_doc_new(cJSON *root, sc_patch_error *err)
{
    if (root == NULL) {
        sc__fail(err, SC_PATCH_EARG, NULL, "no document");
        return NULL;
    }
    sc_doc *doc = cJSON_malloc(sizeof *doc);
    if (doc == NULL) {
        sc__fail(err, SC_PATCH_ENOMEM, NULL, "cannot allocate the document handle");
        return NULL;
    }
    *doc = (sc_doc){.root = root, .ix = {.persistent = 1}, .grave = NULL};
    sc__index_build_tree(&doc->ix, root);
    return doc;
}

void sc_doc_free(sc_doc *doc)
{
    cJSON_Delete(sc_doc_release(doc));
}

const cJSON *sc_doc_root(const sc_doc *doc)
{
    return doc ? doc->root : NULL;
}

void sc_doc_collect(sc_doc *doc)
{
    if (doc == NULL || doc->grave == NULL)
        return;
    for (const cJSON *t = doc->grave; t != NULL; t = t->next)
        sc__index_forget_tree(&doc->ix, t);
    cJSON_Delete(doc->grave); /* frees the item and every later one in its next chain */
    doc->grave = NULL;
}

cJSON *sc_doc_edit(sc_doc *doc)
{
    if (doc == NULL)
        return NULL;
    /* An empty index forgets nothing: the graveyard goes without a walk. */
    sc__index_drop(&doc->ix);
    cJSON_Delete(doc->grave);
    doc->grave = NULL;
    return doc->root;
}

cJSON *sc_doc_release(sc_doc *doc)
{
    if (doc == NULL)
        return NULL;
    cJSON *root = doc->root;
    sc__index_drop(&doc->ix); /* nothing left to forget: the graveyard goes without a walk */
    cJSON_Delete(doc->grave);
    cJSON_free(doc);
    return root;
}

sc_patch_status sc_doc_apply(sc_doc *doc, const cJSON *patch, sc_patch_error *err)
{
    if (doc == NULL)
        return sc__fail(err, SC_PATCH_EARG, NULL, "no document");
    sc_doc_collect(doc);
    /* Flags 0: the patch is only read, so dropping const is sound. */
    return sc__apply(&doc->root, (cJSON *)patch, 0, &doc->ix, &doc->grave, err);
}

sc_patch_status sc_doc_apply_take(sc_doc *doc, cJSON *patch, sc_patch_error *err)
{
    if (doc == NULL)
        return sc__fail(err, SC_PATCH_EARG, NULL, "no document");
    sc_doc_collect(doc);
    return sc__apply(&doc->root, patch, SC_PATCH_TAKE_VALUES, &doc->ix, &doc->grave, err);
}
