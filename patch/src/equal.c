/*
 * equal.c -- deep JSON equality as RFC 6902 "test" defines it.
 *
 * Algorithm: recursive descent over both trees at once.
 *   - Scalars: same type; numbers equal as doubles (1 == 1.0 == 1e0); strings byte-equal.
 *   - Arrays: element-wise in order, walking both lists in lockstep (stops at the shorter).
 *   - Objects: the same number of members, matched by key regardless of order. A cJSON object
 *     can hold a key twice; the occurrences of one key are then matched in order (the first
 *     with the first...), which keeps equality consistent with pointer lookup (the first
 *     member wins) and lets the member counts be compared up front.
 *     First the two member lists are walked in lockstep while their keys agree (documents that
 *     share an origin keep key order, so this usually finishes the job with no allocation).
 *     The remaining members are matched by a quadratic scan when few (at most
 *     SC_EQUAL_SCAN_MAX), otherwise through an open-addressing hash table of one side's keys.
 *
 * Complexity: O(size of the smaller document) when key orders agree; O(na + nb) expected per
 * object otherwise (hashing). Memory: one hash table per object being compared on the current
 * recursion path (16 bytes per member, load <= 3/4), allocated with cJSON's hooks.
 *
 * Limits: recursion stops past SC_PATCH_MAX_DEPTH nested containers (SC_PATCH_ETOODEEP), so a
 * hostile document cannot exhaust a worker thread's stack. The hash is unseeded FNV-1a: keys
 * crafted to collide degrade one object's comparison to quadratic, as do many duplicates of
 * one key; both are linear in practice.
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Up to this many unmatched members, a quadratic scan (at most 8*8 short key compares, no
 * allocation) is cheaper than building a hash table. */
#define SC_EQUAL_SCAN_MAX 8

typedef struct slot {
    const cJSON *member; /* a member of b; NULL: empty slot */
    uint32_t hash;       /* hash of member's key, checked before comparing strings */
    uint32_t matched;    /* 1 once a member of a has been paired with it */
} slot;

static int equal_rec(const cJSON *a, const cJSON *b, int depth, sc_patch_status *st);

static const char *key_of(const cJSON *m)
{
    return m->string ? m->string : "";
}

static uint32_t key_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    /* FNV's last multiply leaves the low bits (the ones a table mask keeps) depending only
     * on the low bits of the last bytes: keys like "k00017" and "k00018" would land in
     * neighbouring slots and build long probe runs. A murmur3 finalizer spreads them. */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Matches the members starting at a against as many starting at b (at most
 * SC_EQUAL_SCAN_MAX), by quadratic scan. */
static int match_scan(const cJSON *a, const cJSON *b, int depth, sc_patch_status *st)
{
    unsigned matched = 0; /* bit i: the i-th member from b is paired */
    for (; a != NULL; a = a->next) {
        const char *key = key_of(a);
        const cJSON *m = b;
        size_t i = 0;
        while (m != NULL && ((matched >> i) & 1u || strcmp(key, key_of(m)) != 0)) {
            m = m->next;
            i++;
        }
        if (m == NULL || !equal_rec(a, m, depth, st))
            return 0;
        matched |= 1u << i;
    }
    return 1;
}

/* Matches the n members starting at a against the n starting at b through a hash table of
 * b's keys. Kept out of line so its locals never sit in the recursion's stack frames. */
__attribute__((noinline)) static int match_hash(const cJSON *a, const cJSON *b, size_t n,
                                                int depth, sc_patch_status *st)
{
    size_t cap = 16;
    while (cap / 4 * 3 < n)
        cap *= 2;
    slot *table = cJSON_malloc(cap * sizeof *table);
    if (table == NULL) {
        *st = SC_PATCH_ENOMEM;
        return 0;
    }
    memset(table, 0, cap * sizeof *table);
    size_t mask = cap - 1;
    /* Equal keys land in probe order in insertion order, so duplicates pair up in order. */
    for (const cJSON *m = b; m != NULL; m = m->next) {
        uint32_t h = key_hash(key_of(m));
        size_t i = h & mask;
        while (table[i].member != NULL)
            i = (i + 1) & mask;
        table[i].member = m;
        table[i].hash = h;
    }
    int equal = 1;
    for (; a != NULL && equal; a = a->next) {
        const char *key = key_of(a);
        uint32_t h = key_hash(key);
        size_t i = h & mask;
        for (;;) {
            slot *s = &table[i];
            if (s->member == NULL) {
                equal = 0; /* a key of a that b lacks (or has fewer times) */
                break;
            }
            if (!s->matched && s->hash == h && strcmp(key, key_of(s->member)) == 0) {
                s->matched = 1;
                equal = equal_rec(a, s->member, depth, st);
                break;
            }
            i = (i + 1) & mask;
        }
    }
    cJSON_free(table);
    return equal;
}

static int object_equal(const cJSON *a, const cJSON *b, int depth, sc_patch_status *st)
{
    /* Lockstep while keys agree: those members pair up exactly as the full matching would,
     * because both prefixes hold the same keys the same number of times. */
    const cJSON *x = a->child, *y = b->child;
    while (x != NULL && y != NULL && strcmp(key_of(x), key_of(y)) == 0) {
        if (!equal_rec(x, y, depth, st))
            return 0;
        x = x->next;
        y = y->next;
    }
    /* Count the rest of both, stopping as soon as the counts differ. */
    size_t n = 0;
    const cJSON *cx = x, *cy = y;
    while (cx != NULL && cy != NULL) {
        cx = cx->next;
        cy = cy->next;
        n++;
    }
    if (cx != NULL || cy != NULL)
        return 0;
    if (n == 0)
        return 1;
    if (n <= SC_EQUAL_SCAN_MAX)
        return match_scan(x, y, depth, st);
    return match_hash(x, y, n, depth, st);
}

static int equal_rec(const cJSON *a, const cJSON *b, int depth, sc_patch_status *st)
{
    if (a == b)
        return 1;
    if (a == NULL || b == NULL)
        return 0;
    int type = a->type & 0xFF;
    if (type != (b->type & 0xFF))
        return 0;
    switch (type) {
    case cJSON_Number:
        return a->valuedouble == b->valuedouble;
    case cJSON_String:
    case cJSON_Raw:
        if (a->valuestring == NULL || b->valuestring == NULL)
            return a->valuestring == b->valuestring;
        return strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array:
    case cJSON_Object:
        if (depth >= SC_PATCH_MAX_DEPTH) {
            *st = SC_PATCH_ETOODEEP;
            return 0;
        }
        if (type == cJSON_Object)
            return object_equal(a, b, depth + 1, st);
        {
            const cJSON *x = a->child, *y = b->child;
            for (; x != NULL && y != NULL; x = x->next, y = y->next)
                if (!equal_rec(x, y, depth + 1, st))
                    return 0;
            return x == NULL && y == NULL;
        }
    default: /* false, true, null (and cJSON_Invalid): the type is the value */
        return 1;
    }
}

int sc__json_equal(const cJSON *a, const cJSON *b, sc_patch_status *status)
{
    *status = SC_PATCH_OK;
    int equal = equal_rec(a, b, 0, status);
    return *status == SC_PATCH_OK ? equal : 0;
}

int sc_json_equal(const cJSON *a, const cJSON *b)
{
    sc_patch_status status;
    return sc__json_equal(a, b, &status);
}
