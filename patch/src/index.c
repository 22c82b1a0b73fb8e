/*
 * index.c -- lookup indexes for large containers: for one sc_patch_apply() call, or kept with an
 * sc_doc across applies.
 *
 * Why: cJSON arrays and objects are linked lists, so "/items/5000" walks 5000 nodes and a key
 * lookup scans members one by one. A patch of k operations into one container of n children
 * would cost O(k * n). The first long walk into a container records what it passes, and later
 * operations reuse it:
 *   - an array keeps the pointers of its first n elements in a vector (the walked prefix);
 *     element i < n is then one load, and a walk further on continues from element n - 1;
 *   - an object keeps the members it has scanned (again a prefix of its list) in an
 *     open-addressing hash table of their keys; a missed key resumes the scan where it stopped.
 * Every child is thus visited at most once per index lifetime, and a patch costs O(n + k) per
 * container; with an index kept across applies (sc_doc), O(k) after the first.
 *
 * The indexes follow the patch's own changes (apply.c reports every link, unlink and in-place
 * replacement), so a prefix stays exactly the container's first elements / members. A per-call
 * index is dropped at the end of the call; any index is dropped before a rollback (rollback
 * relinks without reporting). A kept index also forgets every container a patch frees
 * (sc__index_forget_tree()), because a later allocation may reuse the address. Nothing is
 * global.
 *
 * Containers reached in fewer than SC_INDEX_MIN_WALK steps are walked plainly: below that an
 * index costs more than it saves. Per call, the first long walk into a container is plain too
 * (the container is only remembered, in a ring of SC__INDEX_SEEN, without allocating): a patch
 * that reaches a big container once, the common one-operation patch, pays nothing extra; the
 * second long walk builds the index. A kept index is built on the first long walk (it will be
 * reused), or for a whole tree at once (sc__index_build_tree(), what sc_doc_new() does). An
 * index that cannot allocate, or an object found to hold a duplicate key (a lookup must return
 * the first, which a table of unique keys cannot promise once members move), is marked dead
 * and its container is walked plainly from then on: the index only ever changes speed, never
 * results or errors.
 *
 * Memory: 8 bytes per indexed array element; 16 bytes per hash slot at load <= 1/2 for
 * objects; one 64-byte entry per indexed container. All through cJSON's hooks.
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Walks shorter than this many steps stay plain list walks: building an index touches the
 * same nodes plus an allocation, so it only pays off for long (or repeated) walks. */
#define SC_INDEX_MIN_WALK 32

/* Most elements reserved up front for a walk to a given index (512 KiB of pointers). */
#define SC_INDEX_RESERVE_MAX ((size_t)1 << 16)

typedef struct ix_slot {
    cJSON *member; /* NULL: empty */
    uint32_t hash; /* hash of member->string */
} ix_slot;

typedef struct ix_entry {
    cJSON *container; /* the indexed array or object */
    int dead;         /* 1: walk plainly (allocation failed, or duplicate keys) */
    cJSON **elems;    /* array: its first n elements, in order */
    size_t n;         /* array: elements indexed */
    size_t cap;       /* array: capacity of elems; object: slots (a power of two) */
    ix_slot *slots;   /* object: the scanned members by key */
    size_t used;      /* object: members in slots */
    cJSON *last;      /* object: last scanned member (the scan resumes after it); NULL: none */
} ix_entry;

/* ---- the map from container to entry ------------------------------------------------------ */

static size_t ptr_hash(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29));
}

static ix_entry *map_find(const sc__index *ix, const cJSON *container)
{
    if (ix->cap == 0)
        return NULL;
    size_t mask = ix->cap - 1;
    for (size_t i = ptr_hash(container) & mask;; i = (i + 1) & mask) {
        ix_entry *e = ix->map[i];
        if (e == NULL || e->container == container)
            return e;
    }
}

/* Adds an entry for container; NULL when out of memory (the caller walks plainly). */
static ix_entry *map_add(sc__index *ix, cJSON *container)
{
    if (2 * (ix->used + 1) > ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 16;
        ix_entry **map = cJSON_malloc(cap * sizeof *map);
        if (map == NULL)
            return NULL;
        memset(map, 0, cap * sizeof *map);
        for (size_t i = 0; i < ix->cap; i++) {
            ix_entry *e = ix->map[i];
            if (e == NULL)
                continue;
            size_t j = ptr_hash(e->container) & (cap - 1);
            while (map[j] != NULL)
                j = (j + 1) & (cap - 1);
            map[j] = e;
        }
        cJSON_free(ix->map);
        ix->map = map;
        ix->cap = cap;
    }
    ix_entry *e = cJSON_malloc(sizeof *e);
    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof *e);
    e->container = container;
    size_t mask = ix->cap - 1;
    size_t i = ptr_hash(container) & mask;
    while (ix->map[i] != NULL)
        i = (i + 1) & mask;
    ix->map[i] = e;
    ix->used++;
    return e;
}

/* Removes container's entry (freeing it) if there is one; no tombstones: later entries of the
 * probe run shift back. */
static void entry_kill(ix_entry *e);
static void map_remove(sc__index *ix, const cJSON *container)
{
    if (ix->cap == 0)
        return;
    size_t mask = ix->cap - 1;
    size_t i = ptr_hash(container) & mask;
    for (; ix->map[i] != NULL && ix->map[i]->container != container; i = (i + 1) & mask)
        ;
    if (ix->map[i] == NULL)
        return;
    entry_kill(ix->map[i]);
    cJSON_free(ix->map[i]);
    for (size_t j = (i + 1) & mask; ix->map[j] != NULL; j = (j + 1) & mask) {
        size_t home = ptr_hash(ix->map[j]->container) & mask;
        /* Leave j where it is if its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            ix->map[i] = ix->map[j];
            i = j;
        }
    }
    ix->map[i] = NULL;
    ix->used--;
}

/* Returns 1 if container was walked long before (and forgets it); else remembers it, 0. */
static int seen_before(sc__index *ix, const cJSON *container)
{
    for (unsigned i = 0; i < SC__INDEX_SEEN; i++) {
        if (ix->seen[i] == container) {
            ix->seen[i] = NULL;
            return 1;
        }
    }
    ix->seen[ix->seen_next] = container;
    ix->seen_next = (ix->seen_next + 1) % SC__INDEX_SEEN;
    return 0;
}

static void entry_kill(ix_entry *e)
{
    cJSON_free(e->elems);
    cJSON_free(e->slots);
    e->elems = NULL;
    e->slots = NULL;
    e->n = e->cap = e->used = 0;
    e->last = NULL;
    e->dead = 1;
}

void sc__index_drop(sc__index *ix)
{
    for (size_t i = 0; i < ix->cap; i++) {
        if (ix->map[i] != NULL) {
            entry_kill(ix->map[i]);
            cJSON_free(ix->map[i]);
        }
    }
    cJSON_free(ix->map);
    ix->map = NULL;
    ix->cap = ix->used = 0;
    memset(ix->seen, 0, sizeof ix->seen);
    ix->seen_next = 0;
}

/* Should the long walk just made into container build its index? A kept index: always (it
 * will be reused); a per-call one: on the second long walk (see the file comment). */
static int worth_indexing(sc__index *ix, const cJSON *container)
{
    return ix->persistent || seen_before(ix, container);
}

/* ---- arrays ------------------------------------------------------------------------------ */

/* The element after the indexed prefix (where a walk resumes). */
static cJSON *array_resume(const ix_entry *e)
{
    return e->n > 0 ? e->elems[e->n - 1]->next : e->container->child;
}

/* Grows elems to hold at least want elements (one allocation for a walk of known length). */
static int array_reserve(ix_entry *e, size_t want)
{
    if (want <= e->cap)
        return 1;
    size_t cap = e->cap ? e->cap : 64;
    while (cap < want)
        cap *= 2;
    cJSON **elems = cJSON_malloc(cap * sizeof *elems);
    if (elems == NULL) {
        entry_kill(e);
        return 0;
    }
    if (e->n > 0)
        memcpy(elems, e->elems, e->n * sizeof *elems);
    cJSON_free(e->elems);
    e->elems = elems;
    e->cap = cap;
    return 1;
}

static int array_push(ix_entry *e, size_t at, cJSON *item)
{
    if (e->n == e->cap && !array_reserve(e, e->n + 1))
        return 0;
    memmove(e->elems + at + 1, e->elems + at, (e->n - at) * sizeof *e->elems);
    e->elems[at] = item;
    e->n++;
    return 1;
}

cJSON *sc__index_element(sc__index *ix, cJSON *array, size_t i, size_t *size)
{
    ix_entry *e = ix ? map_find(ix, array) : NULL;
    if (e == NULL) {
        if (ix == NULL || i < SC_INDEX_MIN_WALK || !worth_indexing(ix, array) ||
            (e = map_add(ix, array)) == NULL)
            return sc__array_walk(array, i, size);
    }
    if (e->dead)
        return sc__array_walk(array, i, size);
    if (i < e->n)
        return e->elems[i];
    /* Room for the walk ahead in one allocation; an index past the end (a bogus "/999999999")
     * must not reserve gigabytes, so past SC_INDEX_RESERVE_MAX the vector doubles as it goes. */
    if (!array_reserve(e, i < SC_INDEX_RESERVE_MAX ? i + 1 : SC_INDEX_RESERVE_MAX))
        return sc__array_walk(array, i, size);
    for (cJSON *c = array_resume(e); c != NULL; c = c->next) {
        if (!array_push(e, e->n, c))
            return sc__array_walk(array, i, size);
        if (e->n - 1 == i)
            return c;
    }
    *size = e->n;
    return NULL;
}

/* ---- objects ----------------------------------------------------------------------------- */

/* FNV's last multiply leaves the low bits (the ones a table mask keeps) depending only on the
 * low bits of the last bytes: keys like "k00017" and "k00018" would land in neighbouring slots
 * and build long probe runs. A murmur3 finalizer spreads them. */
static uint32_t mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a, as equal.c */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return mix32(h);
}

/* hash_key() of the escaped token's unescaped bytes. */
static uint32_t hash_token(const char *tok, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        char c = tok[i];
        if (c == '~')
            c = tok[++i] == '0' ? '~' : '/';
        h = (h ^ (unsigned char)c) * 16777619u;
    }
    return mix32(h);
}

static const char *key_of(const cJSON *m)
{
    return m->string ? m->string : "";
}

/* Adds member m; returns 0 (entry killed) on a duplicate key or when out of memory. */
static int object_add(ix_entry *e, cJSON *m)
{
    if (2 * (e->used + 1) > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 128;
        ix_slot *slots = cJSON_malloc(cap * sizeof *slots);
        if (slots == NULL) {
            entry_kill(e);
            return 0;
        }
        memset(slots, 0, cap * sizeof *slots);
        for (size_t i = 0; i < e->cap; i++) {
            if (e->slots[i].member == NULL)
                continue;
            size_t j = e->slots[i].hash & (cap - 1);
            while (slots[j].member != NULL)
                j = (j + 1) & (cap - 1);
            slots[j] = e->slots[i];
        }
        cJSON_free(e->slots);
        e->slots = slots;
        e->cap = cap;
    }
    const char *key = key_of(m);
    uint32_t h = hash_key(key);
    size_t mask = e->cap - 1;
    size_t i = h & mask;
    for (; e->slots[i].member != NULL; i = (i + 1) & mask) {
        if (e->slots[i].hash == h && strcmp(key_of(e->slots[i].member), key) == 0) {
            entry_kill(e); /* a duplicate key */
            return 0;
        }
    }
    e->slots[i].member = m;
    e->slots[i].hash = h;
    e->used++;
    return 1;
}

/* The slot holding exactly member m, or NULL. */
static ix_slot *object_slot(ix_entry *e, const cJSON *m)
{
    if (e->cap == 0)
        return NULL;
    size_t mask = e->cap - 1;
    for (size_t i = hash_key(key_of(m)) & mask; e->slots[i].member != NULL; i = (i + 1) & mask)
        if (e->slots[i].member == m)
            return &e->slots[i];
    return NULL;
}

/* Empties slot s, shifting later members of its probe run back (no tombstones). */
static void object_remove(ix_entry *e, ix_slot *s)
{
    size_t mask = e->cap - 1;
    size_t i = (size_t)(s - e->slots);
    for (size_t j = (i + 1) & mask; e->slots[j].member != NULL; j = (j + 1) & mask) {
        size_t home = e->slots[j].hash & mask;
        /* Leave j where it is if its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            e->slots[i] = e->slots[j];
            i = j;
        }
    }
    e->slots[i].member = NULL;
    e->used--;
}

cJSON *sc__index_member(sc__index *ix, cJSON *object, const char *tok, size_t len)
{
    ix_entry *e = ix ? map_find(ix, object) : NULL;
    if (e == NULL) {
        /* Short objects, and keys found early, need no index. */
        size_t seen = 0;
        cJSON *c = object->child;
        for (; c != NULL && seen < SC_INDEX_MIN_WALK; c = c->next, seen++) {
            const char *key = key_of(c);
            /* The first byte inline skips the call for almost every other key ('~' starts
             * an escape, so a token starting with one is always compared in full). */
            if ((len == 0 ? key[0] == '\0' : key[0] == tok[0] || tok[0] == '~') &&
                sc__key_matches(key, tok, len))
                return c;
        }
        if (c == NULL)
            return NULL;
        if (ix == NULL || !worth_indexing(ix, object) || (e = map_add(ix, object)) == NULL)
            return sc__member_find_from(c, tok, len); /* the rest of a plain scan */
    }
    if (e->dead)
        return sc__member_find(object, tok, len);
    uint32_t h = hash_token(tok, len);
    if (e->cap > 0) {
        size_t mask = e->cap - 1;
        for (size_t i = h & mask; e->slots[i].member != NULL; i = (i + 1) & mask)
            if (e->slots[i].hash == h && sc__key_matches(key_of(e->slots[i].member), tok, len))
                return e->slots[i].member;
    }
    for (cJSON *c = e->last ? e->last->next : object->child; c != NULL; c = c->next) {
        if (!object_add(e, c))
            return sc__member_find(object, tok, len);
        e->last = c;
        if (sc__key_matches(key_of(c), tok, len))
            return c;
    }
    return NULL;
}

/* ---- following the patch's changes ----------------------------------------------------- */

void sc__index_linking(sc__index *ix, cJSON *parent, cJSON *item, size_t pos, int at_end)
{
    ix_entry *e = map_find(ix, parent);
    if (e == NULL || e->dead)
        return;
    if (cJSON_IsArray(parent)) {
        /* Appending extends the prefix only if the prefix already reached the end. */
        if (at_end ? array_resume(e) == NULL : pos <= e->n)
            array_push(e, at_end ? e->n : pos, item);
        return;
    }
    /* Objects append new members: index it only if the scan had reached the end (else the
     * scan will meet it in its turn). */
    if ((e->last ? e->last->next : parent->child) == NULL && object_add(e, item))
        e->last = item;
}

void sc__index_unlinking(sc__index *ix, cJSON *parent, cJSON *item, size_t pos)
{
    ix_entry *e = map_find(ix, parent);
    if (e == NULL || e->dead)
        return;
    if (cJSON_IsArray(parent)) {
        if (pos < e->n) {
            memmove(e->elems + pos, e->elems + pos + 1, (e->n - pos - 1) * sizeof *e->elems);
            e->n--;
        }
        return;
    }
    ix_slot *s = object_slot(e, item);
    if (s == NULL)
        return;
    if (e->last == item)
        e->last = item == parent->child ? NULL : item->prev;
    object_remove(e, s);
}

void sc__index_replacing(sc__index *ix, cJSON *parent, cJSON *old, cJSON *item, size_t pos)
{
    ix_entry *e = map_find(ix, parent);
    if (e == NULL || e->dead)
        return;
    if (cJSON_IsArray(parent)) {
        if (pos < e->n)
            e->elems[pos] = item;
        return;
    }
    ix_slot *s = object_slot(e, old); /* item takes old's key: same hash, same slot */
    if (s != NULL)
        s->member = item;
    if (e->last == old)
        e->last = item;
}

/* ---- whole trees ------------------------------------------------------------------------- */

/* An explicit stack of items for the tree walks below: no recursion (trees nest up to and past
 * SC_PATCH_MAX_DEPTH); the first SC_INDEX_WALK_STACK entries live on the C stack. */
#define SC_INDEX_WALK_STACK 64

typedef struct walk_stack {
    const cJSON **e;  /* == local until it outgrows it, then cJSON_malloc'd */
    size_t n, cap;
    const cJSON *local[SC_INDEX_WALK_STACK];
} walk_stack;

static int walk_push(walk_stack *w, const cJSON *item)
{
    if (w->n == w->cap) {
        const cJSON **e = cJSON_malloc(2 * w->cap * sizeof *e);
        if (e == NULL)
            return 0;
        memcpy(e, w->e, w->n * sizeof *e);
        if (w->e != w->local)
            cJSON_free((void *)w->e);
        w->e = e;
        w->cap *= 2;
    }
    w->e[w->n++] = item;
    return 1;
}

static void walk_init(walk_stack *w)
{
    w->e = w->local;
    w->n = 0;
    w->cap = SC_INDEX_WALK_STACK;
}

static void walk_release(walk_stack *w)
{
    if (w->e != w->local)
        cJSON_free((void *)w->e);
}

static int is_container(const cJSON *item)
{
    return cJSON_IsArray(item) || cJSON_IsObject(item);
}

/* Indexes all n children of container in one pass (its entry must not exist yet). */
static void index_whole(sc__index *ix, cJSON *container, size_t n)
{
    ix_entry *e = map_add(ix, container);
    if (e == NULL)
        return;
    if (cJSON_IsArray(container)) {
        if (!array_reserve(e, n))
            return;
        for (cJSON *c = container->child; c != NULL; c = c->next)
            e->elems[e->n++] = c;
        return;
    }
    /* One table sized for every member (load <= 1/2), not a doubling series. */
    size_t cap = 128;
    while (cap < 2 * n)
        cap *= 2;
    e->slots = cJSON_malloc(cap * sizeof *e->slots);
    if (e->slots == NULL) {
        entry_kill(e);
        return;
    }
    memset(e->slots, 0, cap * sizeof *e->slots);
    e->cap = cap;
    for (cJSON *c = container->child; c != NULL; c = c->next) {
        if (!object_add(e, c))
            return; /* a duplicate key: dead, walked plainly */
        e->last = c;
    }
}

void sc__index_build_tree(sc__index *ix, cJSON *root)
{
    walk_stack w;
    walk_init(&w);
    if (is_container(root))
        walk_push(&w, root);
    while (w.n > 0) {
        cJSON *c = (cJSON *)w.e[--w.n];
        size_t n = 0;
        int pushed = 1;
        for (const cJSON *k = c->child; k != NULL; k = k->next, n++)
            if (is_container(k) && k->child != NULL)
                pushed = pushed && walk_push(&w, k);
        if (n >= SC_INDEX_MIN_WALK && map_find(ix, c) == NULL)
            index_whole(ix, c, n);
        if (!pushed)
            break; /* out of memory: what is indexed stays correct, the rest walks plainly */
    }
    walk_release(&w);
}

void sc__index_forget_tree(sc__index *ix, const cJSON *tree)
{
    if (ix->used == 0 || !is_container(tree))
        return;
    walk_stack w;
    walk_init(&w);
    walk_push(&w, tree);
    while (w.n > 0 && ix->used > 0) {
        const cJSON *c = w.e[--w.n];
        map_remove(ix, c);
        for (const cJSON *k = c->child; k != NULL; k = k->next) {
            if (!is_container(k))
                continue;
            if (k->child == NULL) {
                map_remove(ix, k); /* an emptied container may still have an entry */
                continue;
            }
            if (!walk_push(&w, k)) {
                sc__index_drop(ix); /* cannot finish the walk: forget everything instead */
                walk_release(&w);
                return;
            }
        }
    }
    walk_release(&w);
}
