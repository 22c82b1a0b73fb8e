/*
 * doc.c -- sc_doc: a cJSON tree with lookup indexes kept across applies.
 *
 * Algorithm: sc_doc_new() indexes every container with at least SC_INDEX_MIN_WALK children in
 * one walk of the tree (index.c, sc__index_build_tree(); O(tree)). Every apply through the
 * handle runs the ordinary atomic apply (apply.c) with this kept index instead of a per-call
 * one: the apply reports each list change to it, forgets the containers it frees, and drops
 * it all before a rollback (it is rebuilt lazily afterwards, container by container, on the
 * first long walk). A pointer token into an indexed container is then O(1), so a patch of k
 * operations costs O(k) pointer steps plus its changes, not a walk of the lists it lands in.
 *
 * Limits: as sc_patch_apply(); memory as index.c. The handle is not thread-safe (neither is a
 * cJSON tree).
 */
#include "internal.h"

struct sc_doc {
    cJSON *root;  /* the tree; owned; changed only through sc__apply() with ix */
    sc__index ix; /* kept indexes of root's large containers (ix.persistent = 1) */
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
    *doc = (sc_doc){.root = root, .ix = {.persistent = 1}};
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

cJSON *sc_doc_release(sc_doc *doc)
{
    if (doc == NULL)
        return NULL;
    cJSON *root = doc->root;
    sc__index_drop(&doc->ix);
    cJSON_free(doc);
    return root;
}

sc_patch_status sc_doc_apply(sc_doc *doc, const cJSON *patch, sc_patch_error *err)
{
    if (doc == NULL)
        return sc__fail(err, SC_PATCH_EARG, NULL, "no document");
    /* Flags 0: the patch is only read, so dropping const is sound. */
    return sc__apply(&doc->root, (cJSON *)patch, 0, &doc->ix, err);
}

sc_patch_status sc_doc_apply_take(sc_doc *doc, cJSON *patch, sc_patch_error *err)
{
    if (doc == NULL)
        return sc__fail(err, SC_PATCH_EARG, NULL, "no document");
    return sc__apply(&doc->root, patch, SC_PATCH_TAKE_VALUES, &doc->ix, err);
}
