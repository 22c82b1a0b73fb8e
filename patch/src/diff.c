/*
 * diff.c -- computes an RFC 6902 patch turning document a into document b.
 *
 * What "minimal" means here. Not the fewest operations in the absolute (that is NP-hard once
 * moves are allowed); instead:
 *   - no operation touches an unchanged subtree;
 *   - object members are matched by key, array elements by a sequence diff (a longest common
 *     subsequence), so one insert, delete, move, swap or set in an array costs one or two ops;
 *   - a subtree whose operations would serialize larger than replacing it is replaced (the
 *     byte sizes are compared, since bytes are what the server sends).
 *
 * Algorithm. One walk over both documents, driven by an explicit stack of frames (one per
 * pair of containers being compared) and their pending "kids" (child pairs to compare, adds).
 *   1. Objects: members are walked in lockstep while keys agree (documents from one origin
 *      keep their order, so the usual case needs no table); from the first disagreement the
 *      rest of a's keys go into an open-addressing table, so matching stays linear. Emitted:
 *      removes (a's order), then changed members (b's order: recursion or replace), then adds
 *      (b's order). Scalars are compared directly; container members become kids, compared
 *      by their own walk, so each node is visited once.
 *   2. Arrays: elements correspond when they are objects with equal opts->id_key members
 *      (identity: an edited row still matches itself), or, without ids, when they are equal.
 *      The common prefix is walked in lockstep without allocating (equality asked first, then
 *      identity). Then the rest is compared position by position: at most two unrelated
 *      positions (a set, a swap) are answered there (near_positional()). Otherwise the rest
 *      of both lists is gathered into vectors in one walk, with the match keys; the common
 *      suffix is trimmed from their ends, and the middle left is matched by key: a 64-bit
 *      structural hash of the id, or of the whole element (object hashes ignore member
 *      order), computed by an iterative walk. Myers' O(ND) greedy diff finds an LCS of the
 *      keys. An unmatched a element whose key reappears unmatched in b becomes a move (with
 *      opts->use_move); the deletions and insertions left between the same LCS anchors are
 *      paired positionally (a "set", diffed like a matched pair). Ops are emitted so that
 *      indices are valid applied in order: removes from the highest index down; moves in b's
 *      order, their indices from two Fenwick trees (one over the gaps between anchors, one
 *      over a's positions), O(log n) each; adds in b's order ("-" when appending); then the
 *      inner diffs of matched elements under their final index. Hash equality is never
 *      trusted alone: matched pairs are compared (an ordered lockstep walk) before being
 *      skipped, so a collision can cost bytes, never correctness.
 *   3. When a container's frame closes, its ops are compared in bytes with one replace of it,
 *      and rolled back in favour of the replace when that is smaller. The replace's size is
 *      computed with a cap (the ops' size) and remembered in a small cache, so closing a chain
 *      of nested containers costs O(members) per level; a single add or replace below is
 *      provably never larger and skips the check. An object whose removes and adds alone
 *      (bounded from below without sizing any value) already outweigh its replace is replaced
 *      before any of its ops is written (replace_wins_early()). At the root a replace is only
 *      emitted with opts->allow_root; otherwise the call fails with SC_PATCH_EROOT.
 *
 * Why no hash table over the whole documents. The first version hashed every node of both
 * documents into side tables (16 bytes per node) before diffing. On the target machines the
 * fresh memory alone (page faults) cost more than the whole diff, and most of the hashes were
 * never used: only array middles need keys. The walk compares directly instead; hashes are
 * computed for the elements of changed array regions only.
 *
 * Output goes through a sink (bytes for sc_diff_to_buf, a cJSON array for sc_diff); both
 * count each op's serialized size the same way, so both make the same decisions and give
 * byte-identical patches once the tree is printed.
 *
 * Complexity. O(|a| + |b|) for the walk (each node compared once, plus once more for array
 * elements that are matched and checked before their own walk). Arrays O((n + m) D) for D
 * edits in the middle part, plus O(k log n) for k moves. Objects O(members).
 *
 * Where it gives up. An array whose sequence diff would cost more than opts->max_edit_cost
 * cells (V entries plus snake steps; the trace kept for the backtrack is at most that many
 * int32s) is matched positionally instead (changed elements diffed in place, extra ones
 * removed or appended), and step 3 turns that into a whole-array replace when smaller.
 *
 * Stack use. The server runs on ~100 KiB thread stacks, and documents may nest
 * SC_PATCH_MAX_DEPTH deep, so nothing here recurses: the diff, the comparison, the hashing
 * and the sizing keep explicit stacks on the heap. The C stack use is a few hundred bytes
 * whatever the depth (tested on a 64 KiB thread). More than SC_PATCH_MAX_DEPTH nested frames
 * fail with SC_PATCH_ETOODEEP.
 *
 * Limits. Objects with duplicate keys are diffed as if only the first of each key existed,
 * which is what pointers resolve to.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statechannel/patch.h"
#include "write.h"

/* Objects with at most this many members left after the lockstep walk are matched by scanning
 * instead of hashing: for a handful of keys a scan beats building a table. */
#define SC_DIFF_SCAN_KEYS 8

enum { OP_ADD, OP_REMOVE, OP_REPLACE, OP_MOVE };

/* ------------------------------------------------------------------------------------------
 * Allocation (through cJSON's hooks, so tests can fail the Nth allocation)
 * ---------------------------------------------------------------------------------------- */

static void *xmalloc(size_t n)
{
    return cJSON_malloc(n ? n : 1);
}

static void xfree(void *p)
{
    if (p)
        cJSON_free(p);
}

/* Grows *p (holding *cap elements of size elem) to hold at least need. 0 or -1. */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    if (n > (size_t)-1 / elem)
        return -1;
    void *q = cJSON_malloc(n * elem);
    if (q == NULL)
        return -1;
    if (*p) {
        memcpy(q, *p, *cap * elem);
        cJSON_free(*p);
    }
    *p = q;
    *cap = n;
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Hashing
 * ---------------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ULL;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return mix64(h ^ w ^ (n << 56));
}

static uint64_t hash_str(const char *s, uint64_t seed)
{
    return s ? hash_bytes(s, strlen(s), seed) : seed;
}

#define TAG_NULL 0x6e756c6cULL
#define TAG_FALSE 0x66616c73ULL
#define TAG_TRUE 0x74727565ULL
#define TAG_NUM 0x6e756d62ULL
#define TAG_STR 0x73747269ULL
#define TAG_RAW 0x72617721ULL
#define TAG_ARR 0x61727261ULL
#define TAG_OBJ 0x6f626a65ULL
#define TAG_KEY 0x6b657921ULL
#define TAG_ID 0x69642121ULL

static int type_of(const cJSON *item)
{
    return item->type & 0xFF;
}

static int is_container(const cJSON *item)
{
    int t = type_of(item);
    return t == cJSON_Array || t == cJSON_Object;
}

static uint64_t scalar_hash(const cJSON *item)
{
    switch (type_of(item)) {
    case cJSON_NULL: return mix64(TAG_NULL);
    case cJSON_False: return mix64(TAG_FALSE);
    case cJSON_True: return mix64(TAG_TRUE);
    case cJSON_Number: {
        double d = item->valuedouble;
        if (d == 0)
            d = 0; /* -0 equals 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return mix64(bits ^ TAG_NUM);
    }
    case cJSON_String: return hash_str(item->valuestring, TAG_STR);
    case cJSON_Raw: return hash_str(item->valuestring, TAG_RAW);
    case cJSON_Array: return mix64(TAG_ARR);
    case cJSON_Object: return mix64(TAG_OBJ);
    default: return 0;
    }
}

/* Folds child hash h (a member called key when the parent is an object) into acc. */
static uint64_t fold(uint64_t acc, int parent_is_object, const char *key, uint64_t h)
{
    if (parent_is_object) /* a sum: member order does not matter */
        return acc + mix64(hash_str(key, TAG_KEY) ^ (h * 0x9e3779b97f4a7c15ULL));
    return (acc ^ h) * 0xff51afd7ed558ccdULL + 0x9e3779b97f4a7c15ULL;
}

typedef struct hash_frame {
    const cJSON *node; /* container being hashed */
    const cJSON *next; /* its next child to visit */
    uint64_t acc;      /* children folded so far */
} hash_frame;

/* Nesting the first allocations of the diff stack cover (frames, kids, 8 path bytes a level):
 * reserving address space is cheap (untouched pages cost nothing), regrowing copies. */
#define SC_DIFF_INITIAL_DEPTH 256

/* Ops bytes a container emits before its frame first asks whether replacing it would already
 * be smaller (then at doubling sizes): small patches never pay for the question. */
#define SC_DIFF_FIRST_CHECK 1024

/* Entries of the size cache; a power of two. Closing containers bottom-up asks for the size of
 * each parent right after its child's: remembering recent answers keeps that O(1) per level. */
#define SC_DIFF_SIZE_CACHE 64

typedef struct size_memo {
    const cJSON *node; /* a container of b, or NULL */
    size_t size;       /* its serialized size (exact), or a lower bound (!exact) */
    int exact;
} size_memo;

/* A pair of array elements matched at the end of two arrays, waiting for its inner diff. */
typedef struct tail_pair {
    const cJSON *a, *b;
    size_t from_end; /* 0 for the last elements */
} tail_pair;

/* The diff's state for one call. */
typedef struct kid kid;
typedef struct frame frame;
typedef struct sink sink;

typedef struct diff_ctx {
    sc_diff_options opts;
    sink *out;
    size_t bytes;      /* serialized size of the ops emitted so far, one separator each */
    size_t n_ops;      /* ops emitted so far */
    int last_kind;     /* the last op's kind */
    int last_tilde;    /* its path holds a '~' (an escaped '~' or '/') */
    char *path;        /* current pointer, escaped, NUL-terminated */
    size_t path_len, path_cap;
    size_t path_esc;   /* bytes JSON-escaping c->path adds (so its size needs no scan) */
    size_t base_esc;   /* the same for the first base bytes path_set() is given */
    char *from;        /* a move's "from" pointer */
    size_t from_cap;
    frame *frames;     /* explicit diff stack, innermost last */
    size_t nframes, frames_cap;
    kid *kids;         /* pending child work of every open frame, in frame order */
    size_t nkids, kids_cap;
    void *scratch;     /* explicit stack for hashing, comparing and sizing */
    size_t scratch_cap;
    tail_pair *tails;  /* array_kids' matched suffix pairs */
    size_t tails_cap;
    struct elem *ea, *eb; /* array_kids' elements of a and b after the common prefix; */
    size_t ea_cap, eb_cap; /* object_kids' members of b after the lockstep (key hashes) */
    struct member *ms;     /* object_kids' members of a after the lockstep */
    size_t ms_cap;
    size_memo sizes[SC_DIFF_SIZE_CACHE];
    sc_patch_error *err;
} diff_ctx;

static sc_patch_status fail(diff_ctx *c, sc_patch_status st, const char *reason)
{
    if (c->err) {
        memset(c->err, 0, sizeof *c->err);
        c->err->status = st;
        c->err->op_index = -1;
        snprintf(c->err->reason, sizeof c->err->reason, "%s", reason);
    }
    return st;
}

/* Structural hash of node's subtree (object member order ignored), by an iterative walk.
 * Returns 0 with *h set, or -1 when out of memory. Depth is bounded by the caller's frames. */
static int subtree_hash(diff_ctx *c, const cJSON *node, uint64_t *h)
{
    if (!is_container(node) || node->child == NULL) {
        *h = scalar_hash(node);
        return 0;
    }
    size_t sp = 0;
    for (;;) {
        if (is_container(node) && node->child) {
            if ((sp + 1) * sizeof(hash_frame) > c->scratch_cap &&
                grow(&c->scratch, &c->scratch_cap, (sp + 1) * sizeof(hash_frame), 1) != 0)
                return -1;
            ((hash_frame *)c->scratch)[sp++] = (hash_frame){node, node->child, 0};
        } else {
            hash_frame *top = &((hash_frame *)c->scratch)[sp - 1];
            top->acc = fold(top->acc, type_of(top->node) == cJSON_Object, node->string,
                            scalar_hash(node));
        }
        /* Next child to visit, closing finished containers on the way. */
        for (;;) {
            hash_frame *top = &((hash_frame *)c->scratch)[sp - 1];
            if (top->next) {
                node = top->next;
                top->next = node->next;
                break;
            }
            int obj = type_of(top->node) == cJSON_Object;
            uint64_t done = mix64(top->acc ^ (obj ? TAG_OBJ : TAG_ARR));
            const cJSON *finished = top->node;
            if (--sp == 0) {
                *h = done;
                return 0;
            }
            hash_frame *parent = &((hash_frame *)c->scratch)[sp - 1];
            parent->acc = fold(parent->acc, type_of(parent->node) == cJSON_Object,
                               finished->string, done);
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Equality of two subtrees
 * ---------------------------------------------------------------------------------------- */

/* String equality, the diff's hottest comparison (ids, labels, every string value of a walk).
 *
 * Strings whose addresses are both 8-byte aligned (every string malloc() returned) are
 * compared a word at a time: the word holding the terminating NUL is read whole, so up to 7
 * bytes past the string's end are loaded and ignored. An aligned 8-byte load never crosses a
 * page (glibc's own strcmp() reads past the end the same way); AddressSanitizer and
 * ThreadSanitizer, which would report those bytes, do not instrument this function. Under
 * valgrind, whose memcheck would report the comparisons on them, the word path is off
 * (checked once per diff with RUNNING_ON_VALGRIND, when valgrind's header is there at build
 * time; without the header the path is never used). Past SC_DIFF_WORD_CMP_WORDS words, and
 * for other strings, strcmp(): one call, which beat any byte loop in front of it. Measured on the js-framework-benchmark and 1 MB
 * cases, where str_eq and strcmp were a third of the diff: docs/patch.md. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <stdatomic.h>
#include <valgrind/valgrind.h>
#define SC_DIFF_WORD_CMP 1
/* Words compared inline before a string longer than that goes to strcmp(), whose vector loop
 * wins on long strings (20 KB values took 2.5x as long word by word). */
#define SC_DIFF_WORD_CMP_WORDS 4
/* 0 not known yet, 1 on, -1 off (running under valgrind). */
static atomic_int word_cmp;

static void word_cmp_init(void)
{
    if (atomic_load_explicit(&word_cmp, memory_order_relaxed) == 0)
        atomic_store_explicit(&word_cmp, RUNNING_ON_VALGRIND ? -1 : 1, memory_order_relaxed);
}
#endif
#endif

#ifdef SC_DIFF_WORD_CMP
__attribute__((no_sanitize("address", "thread")))
#endif
static int str_eq(const char *x, const char *y)
{
    if (x == y)
        return 1;
    if (x == NULL || y == NULL)
        return (x ? x : "")[0] == '\0' && (y ? y : "")[0] == '\0';
#ifdef SC_DIFF_WORD_CMP
    if ((((uintptr_t)x | (uintptr_t)y) & 7) == 0 &&
        atomic_load_explicit(&word_cmp, memory_order_relaxed) > 0) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        for (int w = 0; w < SC_DIFF_WORD_CMP_WORDS; w++) {
            uint64_t wx, wy;
            memcpy(&wx, x, 8);
            memcpy(&wy, y, 8);
            /* The lowest byte flagged is exactly x's first NUL (a borrow can only flag bytes
             * above it). */
            uint64_t z = (wx - ones) & ~wx & highs;
            if (z)
                return ((wx ^ wy) & (z ^ (z - 1))) == 0; /* equal up to and with that NUL */
            if (wx != wy)
                return 0;
            x += 8;
            y += 8;
        }
        return strcmp(x, y) == 0; /* a long string: the library's vector loop from here */
    }
#endif
    return *x == *y && strcmp(x, y) == 0;
}

/* Key equality: member names are short, so a byte loop that stops at the first difference
 * beats the call (str_eq() is for values, which may be long). */
static int key_eq(const char *x, const char *y)
{
    if (x == NULL || y == NULL)
        return (x ? x : "")[0] == '\0' && (y ? y : "")[0] == '\0';
    size_t i = 0;
    while (x[i] == y[i] && x[i] != '\0')
        i++;
    return x[i] == y[i];
}

static int scalar_eq(const cJSON *x, const cJSON *y)
{
    int t = type_of(x);
    if (t != type_of(y))
        return 0;
    switch (t) {
    case cJSON_Number: return x->valuedouble == y->valuedouble;
    case cJSON_String:
    case cJSON_Raw: return str_eq(x->valuestring, y->valuestring);
    default: return 1;
    }
}

typedef struct pair_frame {
    const cJSON *x, *y; /* containers being compared */
} pair_frame;

/* 1 when x and y are equal with object members in the same order; 0 otherwise (including
 * equal objects whose keys are ordered differently, and allocation failure). */
static int same_tree(diff_ctx *c, const cJSON *x, const cJSON *y)
{
    size_t sp = 0;
    for (;;) {
        if (!scalar_eq(x, y))
            return 0;
        if (is_container(x) && (x->child || y->child)) {
            if (!x->child || !y->child)
                return 0;
            if ((sp + 1) * sizeof(pair_frame) > c->scratch_cap &&
                grow(&c->scratch, &c->scratch_cap, (sp + 1) * sizeof(pair_frame), 1) != 0)
                return 0;
            ((pair_frame *)c->scratch)[sp++] = (pair_frame){x, y};
            x = x->child;
            y = y->child;
            if (type_of(((pair_frame *)c->scratch)[sp - 1].x) == cJSON_Object &&
                !key_eq(x->string, y->string))
                return 0;
            continue;
        }
        for (;;) {
            if (sp == 0)
                return 1;
            pair_frame *top = &((pair_frame *)c->scratch)[sp - 1];
            if (x->next && y->next) {
                x = x->next;
                y = y->next;
                if (type_of(top->x) == cJSON_Object && !key_eq(x->string, y->string))
                    return 0;
                break;
            }
            if (x->next || y->next)
                return 0;
            x = top->x;
            y = top->y;
            sp--;
        }
    }
}

/* 1 when x equals y with object members in the same order (scalars compared directly).
 * The children of a container are compared in one loop here and only nested containers go
 * through same_tree()'s stack: array elements (rows of scalars) are the common caller. */
static int equal_now(diff_ctx *c, const cJSON *x, const cJSON *y)
{
    if (type_of(x) != type_of(y))
        return 0;
    if (!is_container(x))
        return scalar_eq(x, y);
    int obj = type_of(x) == cJSON_Object;
    const cJSON *p = x->child, *q = y->child;
    for (; p && q; p = p->next, q = q->next) {
        if (obj && !key_eq(p->string, q->string))
            return 0;
        if (is_container(p) && p->child) {
            if (!same_tree(c, p, q))
                return 0;
        } else if (!scalar_eq(p, q) || (is_container(q) && q->child)) {
            return 0;
        }
    }
    return p == q;
}

/* ------------------------------------------------------------------------------------------
 * Sinks: where ops go. op() returns the op's serialized size plus one (its separator), or
 * 0 when out of memory. pos()/truncate() mark and roll back.
 * ---------------------------------------------------------------------------------------- */

struct sink {
    size_t (*op)(sink *s, int kind, const char *path, const char *from, const cJSON *value);
    size_t (*pos)(sink *s);
    void (*truncate)(sink *s, size_t pos);
    sc_patch_status status; /* why op() last returned 0 */
};

static const char *const op_names[] = {"add", "remove", "replace", "move"};

typedef struct buf_sink {
    sink base;
    sc_buf *out;
    size_t first; /* out->len right after the opening '[' */
} buf_sink;

static size_t buf_op(sink *s, int kind, const char *path, const char *from, const cJSON *value)
{
    buf_sink *bs = (buf_sink *)s;
    sc_buf *o = bs->out;
    size_t start = o->len;
    const char *name = op_names[kind];
    int rc = 0;
    if (o->len > bs->first)
        rc |= sc_buf_append(o, ",", 1);
    rc |= sc_buf_append(o, "{\"op\":\"", 7);
    rc |= sc_buf_append(o, name, strlen(name));
    if (kind == OP_MOVE) {
        rc |= sc_buf_append(o, "\",\"from\":", 9);
        rc |= sc_buf_append_string(o, from);
        rc |= sc_buf_append(o, ",\"path\":", 8);
    } else {
        rc |= sc_buf_append(o, "\",\"path\":", 9);
    }
    rc |= sc_buf_append_string(o, path);
    if (kind == OP_ADD || kind == OP_REPLACE) {
        rc |= sc_buf_append(o, ",\"value\":", 9);
        if (rc == 0 && (s->status = sc_json_write(o, value)) != SC_PATCH_OK)
            rc = -1;
    }
    rc |= sc_buf_append(o, "}", 1);
    if (rc != 0) {
        o->len = start;
        o->data[start] = '\0';
        return 0;
    }
    return o->len - start + (start == bs->first); /* the first op pays for no comma */
}

static size_t buf_pos(sink *s)
{
    return ((buf_sink *)s)->out->len;
}

static void buf_truncate(sink *s, size_t pos)
{
    sc_buf *o = ((buf_sink *)s)->out;
    o->len = pos;
    if (o->data)
        o->data[pos] = '\0';
}

typedef struct tree_sink {
    sink base;
    cJSON *array; /* the patch being built */
    size_t n;     /* its element count */
} tree_sink;

static size_t tree_op(sink *s, int kind, const char *path, const char *from, const cJSON *value)
{
    tree_sink *ts = (tree_sink *)s;
    cJSON *op = cJSON_CreateObject();
    if (op == NULL)
        return 0;
    size_t bytes = sizeof("{\"op\":\"\",\"path\":}") - 1 + strlen(op_names[kind]) +
                   sc_string_size(path) + 1;
    int ok = cJSON_AddStringToObject(op, "op", op_names[kind]) != NULL;
    if (ok && kind == OP_MOVE) {
        ok = cJSON_AddStringToObject(op, "from", from) != NULL;
        bytes += sizeof(",\"from\":") - 1 + sc_string_size(from);
    }
    ok = ok && cJSON_AddStringToObject(op, "path", path) != NULL;
    if (ok && (kind == OP_ADD || kind == OP_REPLACE)) {
        cJSON *v = cJSON_Duplicate(value, 1);
        ok = v != NULL && cJSON_AddItemToObject(op, "value", v);
        if (v && !ok)
            cJSON_Delete(v);
        size_t vs = sc_json_size(value, (size_t)-2);
        if (vs == (size_t)-1)
            s->status = SC_PATCH_ETOODEEP;
        ok = ok && vs != (size_t)-1;
        bytes += sizeof(",\"value\":") - 1 + vs;
    }
    if (!ok || !cJSON_AddItemToArray(ts->array, op)) {
        cJSON_Delete(op);
        return 0;
    }
    ts->n++;
    return bytes;
}

static size_t tree_pos(sink *s)
{
    return ((tree_sink *)s)->n;
}

static void tree_truncate(sink *s, size_t pos)
{
    tree_sink *ts = (tree_sink *)s;
    while (ts->n > pos) {
        cJSON *last = ts->array->child->prev; /* cJSON keeps the tail in child->prev */
        cJSON_Delete(cJSON_DetachItemViaPointer(ts->array, last));
        ts->n--;
    }
}

/* ------------------------------------------------------------------------------------------
 * Paths
 * ---------------------------------------------------------------------------------------- */

/* How a key byte goes into a path token: 0 copied as is; TOKEN_TILDE escaped as "~0" or "~1";
 * otherwise copied, and its value is what JSON-escaping the path adds for it. */
#define TOKEN_TILDE 0xFF
static const unsigned char token_class[256] = {
    [0x00] = 5, [0x01] = 5, [0x02] = 5, [0x03] = 5, [0x04] = 5, [0x05] = 5, [0x06] = 5,
    [0x07] = 5, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 5, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 5, [0x0f] = 5, [0x10] = 5, [0x11] = 5, [0x12] = 5, [0x13] = 5, [0x14] = 5,
    [0x15] = 5, [0x16] = 5, [0x17] = 5, [0x18] = 5, [0x19] = 5, [0x1a] = 5, [0x1b] = 5,
    [0x1c] = 5, [0x1d] = 5, [0x1e] = 5, [0x1f] = 5, ['"'] = 1, ['\\'] = 1,
    ['~'] = TOKEN_TILDE, ['/'] = TOKEN_TILDE,
};

/* Sets c->path to its first base bytes followed by "/" and a token: key escaped (~0, ~1), or
 * when key is NULL the decimal index, or "-" when index is SIZE_MAX. */
static int path_set(diff_ctx *c, size_t base, const char *key, size_t index)
{
    size_t klen = key ? strlen(key) : 0;
    size_t need = base + 2 + (key ? 2 * klen : 24);
    if (need > c->path_cap && grow((void **)&c->path, &c->path_cap, need, 1) != 0)
        return -1;
    char *o = c->path + base;
    size_t esc = 0; /* JSON escapes the token will need (indices and "-" need none) */
    *o++ = '/';
    if (key) {
        for (size_t i = 0; i < klen; i++) {
            unsigned char ch = (unsigned char)key[i];
            unsigned char t = token_class[ch];
            if (t == 0) {
                *o++ = (char)ch;
            } else if (t == TOKEN_TILDE) {
                *o++ = '~';
                *o++ = ch == '~' ? '0' : '1';
            } else {
                *o++ = (char)ch;
                esc += t;
            }
        }
    } else if (index == SIZE_MAX) {
        *o++ = '-';
    } else {
        char tmp[24];
        size_t n = 0;
        do {
            tmp[n++] = (char)('0' + index % 10);
            index /= 10;
        } while (index);
        while (n)
            *o++ = tmp[--n];
    }
    *o = '\0';
    c->path_len = (size_t)(o - c->path);
    c->path_esc = c->base_esc + esc;
    return 0;
}

/* Truncates c->path to len bytes whose escapes add esc bytes. */
static void path_cut(diff_ctx *c, size_t len, size_t esc)
{
    c->path_esc = esc;
    c->path_len = len;
    c->path[len] = '\0';
}

/* Emits one op at c->path: SC_PATCH_OK, ENOMEM, or ETOODEEP (a value nested too deeply). */
static sc_patch_status emit(diff_ctx *c, int kind, const cJSON *value)
{
    c->out->status = SC_PATCH_ENOMEM;
    size_t n = c->out->op(c->out, kind, c->path, c->from, value);
    if (n == 0)
        return c->out->status;
    c->bytes += n;
    c->n_ops++;
    c->last_kind = kind;
    c->last_tilde = memchr(c->path, '~', c->path_len) != NULL;
    return SC_PATCH_OK;
}

static size_memo *memo_slot(diff_ctx *c, const cJSON *node)
{
    uintptr_t h = (uintptr_t)node;
    h ^= h >> 7;
    h ^= h >> 13;
    return &c->sizes[h & (SC_DIFF_SIZE_CACHE - 1)];
}

/* Serialized size of b's subtree node, or some value > cap as soon as it is known to exceed
 * cap. Containers whose size (or a lower bound past cap) was found before are not walked
 * again, so closing a chain of nested containers costs O(members) per level. Returns
 * (size_t)-1 when out of memory. */
static size_t value_size(diff_ctx *c, const cJSON *node, size_t cap)
{
    size_memo *root = memo_slot(c, node);
    if (root->node == node && (root->exact || root->size > cap))
        return root->size;
    size_t depth = 0, total = 0;
    int exact = 1;
    const cJSON *cur = node;
    for (;;) {
        const size_memo *m = NULL;
        if (is_container(cur) && cur->child != NULL && cur != node) {
            m = memo_slot(c, cur);
            if (m->node != cur || (!m->exact && total + m->size <= cap))
                m = NULL;
        }
        if (m) {
            total += m->size;
            if (!m->exact) {
                exact = 0;
                break;
            }
        } else if (is_container(cur) && cur->child != NULL) {
            if ((depth + 1) * sizeof cur > c->scratch_cap &&
                grow(&c->scratch, &c->scratch_cap, (depth + 1) * sizeof cur, 1) != 0)
                return (size_t)-1;
            ((const cJSON **)c->scratch)[depth++] = cur;
            total += 1; /* the opening bracket */
            cur = cur->child;
            if (type_of(((const cJSON **)c->scratch)[depth - 1]) == cJSON_Object)
                total += sc_string_size(cur->string) + 1;
            continue;
        } else {
            size_t room = total < cap ? cap - total : 0;
            total += is_container(cur) ? 2 : sc_scalar_size_past(cur, room);
        }
        if (total > cap) {
            exact = 0;
            break;
        }
        /* The next sibling, closing finished containers on the way. */
        for (;;) {
            if (depth == 0)
                goto done;
            const cJSON *parent = ((const cJSON **)c->scratch)[depth - 1];
            if (cur->next) {
                cur = cur->next;
                total += 1;
                if (type_of(parent) == cJSON_Object)
                    total += sc_string_size(cur->string) + 1;
                break;
            }
            total += 1; /* the closing bracket */
            cur = parent;
            depth--;
        }
    }
done:
    if (is_container(node) && node->child) {
        root->node = node;
        root->size = total;
        root->exact = exact;
    }
    return total;
}

/* Size one replace of c->path by value would take (with its separator), or > cap. */
static size_t replace_size(diff_ctx *c, const cJSON *value, size_t cap)
{
    size_t fixed = sizeof("{\"op\":\"replace\",\"path\":,\"value\":}") - 1 + 1 +
                   c->path_len + 2 + c->path_esc;
    if (fixed > cap)
        return cap + 1;
    size_t v = value_size(c, value, cap - fixed);
    if (v == (size_t)-1)
        return (size_t)-1;
    return fixed + v;
}

/* ------------------------------------------------------------------------------------------
 * The diff stack: frames (open containers) and kids (their pending child work)
 * ---------------------------------------------------------------------------------------- */

enum { KID_PAIR, KID_ADD };

struct kid {
    const cJSON *a, *b; /* a's and b's child (a NULL for an add) */
    const char *key;    /* path token: object key, or NULL for an index */
    size_t index;       /* array index token (SIZE_MAX: "-") */
    int kind;           /* KID_PAIR: diff a against b; KID_ADD: add b */
};

struct frame {
    const cJSON *b;      /* b's container, for a replace instead of the ops */
    size_t path_len;     /* c->path length of this container */
    size_t path_esc;     /* and c->path_esc then */
    size_t kid_begin;    /* this frame's first kid, in c->kids */
    size_t kid_next;     /* next kid to run, in c->kids */
    size_t kid_end;      /* one past this frame's last kid */
    size_t mark_pos;     /* sink position before this container's ops */
    size_t mark_bytes;   /* c->bytes then */
    size_t mark_ops;     /* c->n_ops then */
    size_t check_at;     /* ops bytes past which to ask whether a replace already wins */
    int replace;         /* known when it opened: one replace beats any ops it could emit */
};

/* Always inlined: called out of line, the kid built on the caller's stack in 8-byte stores
 * was reloaded for the call in 16-byte loads, a store-forwarding stall per kid that was a
 * third of the time of a deep diff (perf annotate on deep-200-leaf). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int push_kid(diff_ctx *c, kid k)
{
    if (c->nkids == c->kids_cap && grow((void **)&c->kids, &c->kids_cap, c->nkids + 1, sizeof k))
        return -1;
    c->kids[c->nkids++] = k;
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Objects
 * ---------------------------------------------------------------------------------------- */

typedef struct elem {
    const cJSON *node; /* an array element (or b's object member) */
    uint64_t key;      /* match key: hash of its id, or its full hash; a member's key hash */
} elem;

typedef struct member {
    const cJSON *node; /* a's member */
    uint64_t hash;     /* its key's hash (when the rest is matched through a table) */
    int used;          /* matched by one of b's members */
} member;

/* A member's key as a path token: a member without a key (only a hand-built tree has one) is
 * addressed as "" rather than mistaken for an array index. */
static const char *key_of(const cJSON *m)
{
    return m->string ? m->string : "";
}

/* 1 when a and b, values of one key or one array slot, need a kid: they differ, or they are
 * non-empty containers of one type, which the kid's own walk compares (comparing them here
 * first would walk them twice, and a deep chain quadratically). */
static int needs_kid(const cJSON *a, const cJSON *b)
{
    if (type_of(a) != type_of(b))
        return 1;
    if (is_container(a))
        return a->child != NULL || b->child != NULL;
    return !scalar_eq(a, b);
}

/* Bytes an op adds around its path and value, its separator included: the replace of a
 * container, an add and a remove, each with an empty path ("" counted) and value. */
#define REPLACE_OP_BYTES (sizeof("{\"op\":\"replace\",\"path\":\"\",\"value\":}") - 1 + 1)
#define ADD_OP_BYTES (sizeof("{\"op\":\"add\",\"path\":\"\",\"value\":}") - 1 + 1)
#define REMOVE_OP_BYTES (sizeof("{\"op\":\"remove\",\"path\":\"\"}") - 1 + 1)

/* Adds member m's bytes in its object ("k":v and a comma) to *total; v is sized only until
 * *total passes cap. Returns 0, or -1 when out of memory. */
static int add_member_bytes(diff_ctx *c, const cJSON *m, size_t cap, size_t *total)
{
    *total += sc_string_size(m->string) + 2;
    size_t v = value_size(c, m, *total < cap ? cap - *total : 0);
    if (v == (size_t)-1)
        return -1;
    *total += v;
    return 0;
}

/* Decides, before any op of object b (at c->path, base bytes long) is emitted, whether one
 * replace of b is certainly smaller than its ops, as when b shares few keys with a: then
 * close_frame() would throw the ops away for the replace anyway, after writing hundreds of
 * removes and adds. Sets *wins to 1 only when that is proven by a lower bound on the ops that
 * needs no value's size:
 *   - a remove of key k costs at least REMOVE_OP_BYTES + path + 1 + |k|;
 *   - an add of member k:v costs at least the member's own bytes in b ("k":v, escapes and
 *     its comma) plus ADD_OP_BYTES + path - 3: v's bytes are on both sides and cancel;
 *   - a member b keeps costs >= 0 bytes of ops, but all its bytes in the replace.
 * So the replace (REPLACE_OP_BYTES + path + b's bytes) is strictly smaller when the members
 * b keeps (its lockstep prefix, b->child up to y, then those after y with match[j] != 0)
 * weigh less than the removes' bytes plus the adds' overheads. They are sized with that as
 * the cap, so the check costs no more than the ops it may save; when the removes and adds
 * are too few to outweigh a replace's own bytes, which is the usual case, nothing is sized.
 * Strictly smaller is what close_frame() needs to prefer the replace, so the patch is the
 * same byte for byte, only found sooner. Returns 0, or -1 when out of memory. */
static int replace_wins_early(diff_ctx *c, const cJSON *b, size_t base, const cJSON *y,
                              const member *ms, size_t na, const uint32_t *match, size_t nb,
                              int *wins)
{
    *wins = 0;
    size_t path = base + c->base_esc; /* b's path as serialized, quotes aside */
    size_t gain = 0, n_add = 0;
    for (size_t i = 0; i < na; i++)
        if (!ms[i].used)
            gain += REMOVE_OP_BYTES + path + 1 + strlen(key_of(ms[i].node));
    for (size_t j = 0; j < nb; j++)
        n_add += match[j] == 0;
    gain += n_add * (ADD_OP_BYTES + path - 3);
    size_t cost = REPLACE_OP_BYTES + path + (b->child ? 1 : 2); /* "{}" minus the last comma */
    /* The members b keeps: its lockstep prefix (b->child up to y), then the matched ones. */
    const cJSON *q = b->child;
    for (; q != y && cost < gain; q = q->next)
        if (add_member_bytes(c, q, gain, &cost) != 0)
            return -1;
    for (size_t j = 0; j < nb && cost < gain; j++, q = q->next)
        if (match[j] && add_member_bytes(c, q, gain, &cost) != 0)
            return -1;
    *wins = cost < gain;
    return 0;
}

/* Diffs object a against b whose path is c->path (length base): emits the removes, queues
 * changed members then adds as kids. Or, when one replace of b is certainly smaller, emits and
 * queues nothing and sets *whole (the caller's frame then closes with the replace). */
static sc_patch_status object_kids(diff_ctx *c, const cJSON *a, const cJSON *b, size_t base,
                                   int *whole)
{
    const cJSON *x = a->child, *y = b->child;
    const size_t kids_before = c->nkids;
    *whole = 0;
    /* Lockstep while the keys agree: the common case costs no table. */
    while (x && y && key_eq(x->string, y->string)) {
        if (needs_kid(x, y) && push_kid(c, (kid){x, y, key_of(y), 0, KID_PAIR}) != 0)
            return SC_PATCH_ENOMEM;
        x = x->next;
        y = y->next;
    }
    if (x == NULL && y == NULL)
        return SC_PATCH_OK;

    /* The rest of both member lists, gathered in one walk of both chains (a list walk is a
     * chain of dependent loads: two chains side by side overlap their cache misses). */
    size_t na = 0, nb = 0;
    for (const cJSON *p = x, *q = y; p || q;) {
        if (p) {
            if (na == c->ms_cap && grow((void **)&c->ms, &c->ms_cap, na + 1, sizeof *c->ms))
                return SC_PATCH_ENOMEM;
            c->ms[na++] = (member){p, 0, 0};
            p = p->next;
        }
        if (q) {
            if (nb == c->eb_cap && grow((void **)&c->eb, &c->eb_cap, nb + 1, sizeof *c->eb))
                return SC_PATCH_ENOMEM;
            c->eb[nb++].node = q;
            q = q->next;
        }
    }
    member *ms = c->ms;
    elem *mb = c->eb;
    sc_patch_status st = SC_PATCH_ENOMEM;
    size_t slots = 1;
    while (slots < 2 * na)
        slots *= 2;
    uint32_t *match = xmalloc(nb * sizeof *match); /* b member -> a member + 1, or 0 */
    uint32_t *tab = na > SC_DIFF_SCAN_KEYS ? xmalloc(slots * sizeof *tab) : NULL;
    if (match == NULL || (na > SC_DIFF_SCAN_KEYS && tab == NULL))
        goto out;
    if (tab) {
        memset(tab, 0, slots * sizeof *tab);
        for (size_t i = 0; i < na; i++) {
            ms[i].hash = hash_str(ms[i].node->string, TAG_KEY);
            size_t h = (size_t)ms[i].hash & (slots - 1);
            while (tab[h])
                h = (h + 1) & (slots - 1);
            tab[h] = (uint32_t)i + 1;
        }
    }
    /* Match b's members; queue the changed ones (b's order). */
    for (size_t j = 0; j < nb; j++) {
        const cJSON *q = mb[j].node;
        size_t found = 0;
        if (tab) {
            uint64_t hq = hash_str(q->string, TAG_KEY);
            for (size_t h = (size_t)hq & (slots - 1); tab[h]; h = (h + 1) & (slots - 1)) {
                member *m = &ms[tab[h] - 1];
                if (!m->used && m->hash == hq && str_eq(m->node->string, q->string)) {
                    found = tab[h];
                    break;
                }
            }
        } else {
            for (size_t i = 0; i < na; i++)
                if (!ms[i].used && str_eq(ms[i].node->string, q->string)) {
                    found = i + 1;
                    break;
                }
        }
        match[j] = (uint32_t)found;
        if (found) {
            member *m = &ms[found - 1];
            m->used = 1;
            if (needs_kid(m->node, q) &&
                push_kid(c, (kid){m->node, q, key_of(q), 0, KID_PAIR}) != 0)
                goto out;
        }
    }
    int wins = 0;
    if (replace_wins_early(c, b, base, y, ms, na, match, nb, &wins) != 0)
        goto out;
    if (wins) {
        c->nkids = kids_before; /* the changed members' diffs are moot */
        *whole = 1;
        st = SC_PATCH_OK;
        goto out_st;
    }
    /* Removes, in a's order: object removes never shift anything. */
    for (size_t i = 0; i < na; i++) {
        if (ms[i].used)
            continue;
        if (path_set(c, base, key_of(ms[i].node), 0) != 0)
            goto out;
        if ((st = emit(c, OP_REMOVE, NULL)) != SC_PATCH_OK)
            goto out_st;
    }
    path_cut(c, base, c->base_esc);
    /* Adds, in b's order, after the changed members. */
    for (size_t j = 0; j < nb; j++)
        if (!match[j] && push_kid(c, (kid){NULL, mb[j].node, key_of(mb[j].node), 0, KID_ADD}))
            goto out;
    st = SC_PATCH_OK;
    goto out_st;
out:
    st = SC_PATCH_ENOMEM;
out_st:
    xfree(match);
    xfree(tab);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Arrays
 * ---------------------------------------------------------------------------------------- */

/* The id member of element node when identity matching applies, else NULL. */
static const cJSON *id_of(const diff_ctx *c, const cJSON *node)
{
    const char *id = c->opts.id_key;
    if (id == NULL || type_of(node) != cJSON_Object)
        return NULL;
    for (const cJSON *m = node->child; m; m = m->next)
        if (m->string && key_eq(m->string, id))
            return m;
    return NULL;
}

/* 1 when elements x and y, known to differ, are one element edited: objects with equal
 * opts->id_key members. Without ids, elements that differ never correspond. */
static int same_id(diff_ctx *c, const cJSON *x, const cJSON *y)
{
    const cJSON *ix = id_of(c, x), *iy = id_of(c, y);
    return ix && iy && equal_now(c, ix, iy);
}

/* Match key of element node: the hash of its id, or of the whole element. 0 or -1. */
static int key_of_elem(diff_ctx *c, const cJSON *node, uint64_t *key)
{
    const cJSON *id = id_of(c, node);
    uint64_t h;
    if (subtree_hash(c, id ? id : node, &h) != 0)
        return -1;
    *key = id ? mix64(h ^ TAG_ID) : h;
    return 0;
}

/* Appends *node to the vector *v (n elements, room for *cap) with its match key when keys is
 * set, and steps *node to its next sibling. 0, or -1 when out of memory. */
static int take_elem(diff_ctx *c, elem **v, size_t *cap, size_t *n, const cJSON **node, int keys)
{
    if (*n == *cap && grow((void **)v, cap, *n + 1, sizeof **v) != 0)
        return -1;
    (*v)[*n].node = *node;
    if (keys && key_of_elem(c, *node, &(*v)[*n].key) != 0)
        return -1;
    (*n)++;
    *node = (*node)->next;
    return 0;
}

/* Appends the elements from x and from y to the ends of their lists to c->ea and c->eb with
 * their match keys, counting them in *ra and *rb. Both lists are walked in one loop, and the
 * keys computed on the way: a list walk is a chain of dependent loads, and two independent
 * chains plus the keys' work overlap with its cache misses. (The keys of a common suffix are
 * computed for nothing; comparing its elements costs more anyway.) */
static int gather(diff_ctx *c, const cJSON *x, const cJSON *y, size_t *ra, size_t *rb)
{
    size_t i = 0, j = 0;
    /* With one side empty (a pure append or truncation) nothing is matched: no keys. */
    const int keys = x != NULL && y != NULL;
    while (x || y) {
        if (x && take_elem(c, &c->ea, &c->ea_cap, &i, &x, keys) != 0)
            return -1;
        if (y && take_elem(c, &c->eb, &c->eb_cap, &j, &y, keys) != 0)
            return -1;
    }
    *ra = i;
    *rb = j;
    return 0;
}

/* Myers' greedy forward diff of ka[0..n) against kb[0..m), keeping each step's V for the
 * backtrack. On success fills am[i] = j for matched pairs (others stay -1) and returns 0;
 * returns 1 when the cost would exceed max_cost, -1 when out of memory. */
static int myers(const elem *ka, size_t n, const elem *kb, size_t m, size_t max_cost,
                 int32_t *am)
{
    const long N = (long)n, M = (long)m, MAX = N + M;
    int32_t *v = xmalloc((size_t)(2 * MAX + 3) * sizeof *v);
    int32_t *trace = NULL;
    size_t trace_cap = 0, cost = 0;
    long D = -1;
    if (v == NULL)
        return -1;
    int32_t *V = v + MAX + 1;
    V[1] = 0;
    for (long d = 0; d <= MAX; d++) {
        cost += (size_t)(2 * d + 1);
        if (cost > max_cost)
            break;
        if (grow((void **)&trace, &trace_cap, (size_t)((d + 1) * (d + 1)), sizeof *trace) != 0) {
            xfree(v);
            xfree(trace);
            return -1;
        }
        for (long k = -d; k <= d; k += 2) {
            long x = (k == -d || (k != d && V[k - 1] < V[k + 1])) ? V[k + 1] : V[k - 1] + 1;
            long y = x - k;
            long x0 = x;
            while (x < N && y < M && ka[x].key == kb[y].key) {
                x++;
                y++;
            }
            cost += (size_t)(x - x0);
            V[k] = (int32_t)x;
            if (x >= N && y >= M)
                D = d;
        }
        memcpy(trace + d * d, V - d, (size_t)(2 * d + 1) * sizeof *trace);
        if (D >= 0)
            break;
    }
    if (D < 0) {
        xfree(v);
        xfree(trace);
        return 1;
    }
    long x = N, y = M;
    for (long d = D; d > 0; d--) {
        const int32_t *P = trace + (d - 1) * (d - 1) + (d - 1); /* V after step d-1, at k=0 */
        long k = x - y;
        long pk = (k == -d || (k != d && P[k - 1] < P[k + 1])) ? k + 1 : k - 1;
        long px = P[pk], py = px - pk;
        long sx = pk == k + 1 ? px : px + 1; /* where the snake of step d starts */
        long sy = sx - k;
        while (x > sx && y > sy) {
            x--;
            y--;
            am[x] = (int32_t)y;
        }
        x = px;
        y = py;
    }
    while (x > 0 && y > 0) {
        x--;
        y--;
        am[x] = (int32_t)y;
    }
    xfree(v);
    xfree(trace);
    return 0;
}

/* Fenwick tree over n counters: add and prefix sums in O(log n). */
static void fen_add(int32_t *f, size_t n, size_t i, int32_t delta)
{
    for (i++; i <= n; i += i & (~i + 1))
        f[i - 1] += delta;
}

static long fen_sum(const int32_t *f, size_t i) /* sum of counters [0, i) */
{
    long s = 0;
    for (; i > 0; i -= i & (~i + 1))
        s += f[i - 1];
    return s;
}

/* Emits a move of the array element at index from to index to (SIZE_MAX: "-") of the array
 * at c->path (length base). 0, or -1 when out of memory. */
static int emit_move(diff_ctx *c, size_t base, size_t from, size_t to)
{
    if (path_set(c, base, NULL, from) != 0)
        return -1;
    if (c->path_len + 1 > c->from_cap &&
        grow((void **)&c->from, &c->from_cap, c->path_len + 1, 1) != 0)
        return -1;
    memcpy(c->from, c->path, c->path_len + 1);
    if (path_set(c, base, NULL, to) != 0)
        return -1;
    return emit(c, OP_MOVE, NULL) != SC_PATCH_OK ? -1 : 0;
}

/* Most array changes that keep the length are one element set or two swapped (the
 * js-framework-benchmark's swaprows): then after the common prefix every other position still
 * holds an equal element, or the same one edited. Keying and sequence-diffing the whole rest
 * would find just that at several times the cost, so first the rest is compared position by
 * position, from the prefix's first mismatch x/y (at index p) to the end. When both arrays end
 * together and at most two positions hold unrelated elements, the patch is built here (*done
 * set): one mismatch is a "set" (the pair's own diff, as the sequence diff pairs it too); two
 * whose keys cross are a swap, two moves (one when adjacent), the pair's edits queued under
 * their final index; two whose keys do not match at all are two sets. Anything else (a third
 * mismatch, different lengths, one key matching across) leaves *done 0 and the queue as it was,
 * for the sequence diff. A single move of an element by more than one place mismatches every
 * position in between, so it never passes here and stays one move. Cost when it gives up: the
 * comparisons made so far, at most once more the array's equality work. */
static sc_patch_status near_positional(diff_ctx *c, const cJSON *x, const cJSON *y, size_t p,
                                       size_t base, int *done)
{
    *done = 0;
    const size_t kids_mark = c->nkids;
    const cJSON *ma[2] = {x, NULL}, *mb[2] = {y, NULL}; /* the unrelated pairs */
    size_t off[2] = {0, 0}, nmiss = 1;
    size_t q = 1;
    const cJSON *u = x->next, *v = y->next;
    for (; u && v; u = u->next, v = v->next, q++) {
        if (equal_now(c, u, v))
            continue;
        if (same_id(c, u, v)) {
            if (push_kid(c, (kid){u, v, NULL, p + q, KID_PAIR}) != 0)
                return SC_PATCH_ENOMEM;
            continue;
        }
        if (nmiss == 2)
            break;
        ma[nmiss] = u;
        mb[nmiss] = v;
        off[nmiss++] = q;
    }
    if (u || v) {
        c->nkids = kids_mark; /* the sequence diff queues these pairs itself */
        return SC_PATCH_OK;
    }
    if (nmiss == 2) {
        uint64_t ka0, ka1, kb0, kb1;
        if (key_of_elem(c, ma[0], &ka0) != 0 || key_of_elem(c, ma[1], &ka1) != 0 ||
            key_of_elem(c, mb[0], &kb0) != 0 || key_of_elem(c, mb[1], &kb1) != 0)
            return SC_PATCH_ENOMEM;
        int cross = ka0 == kb1 && ka1 == kb0, none = ka0 != kb1 && ka1 != kb0;
        if ((!cross && !none) || ka0 == kb0 || ka1 == kb1) {
            c->nkids = kids_mark;
            return SC_PATCH_OK;
        }
        if (cross) {
            /* b[p] comes from p+d, then a[p] (pushed to p+1) goes to p+d ("-" when last). */
            size_t d = off[1], last = q - 1;
            if (emit_move(c, base, p + d, p) != 0)
                return SC_PATCH_ENOMEM;
            if (d > 1 && emit_move(c, base, p + 1, d == last ? SIZE_MAX : p + d) != 0)
                return SC_PATCH_ENOMEM;
            path_cut(c, base, c->base_esc);
            const cJSON *t = ma[0];
            ma[0] = ma[1];
            ma[1] = t;
        }
    }
    for (size_t k = 0; k < nmiss; k++)
        if (!equal_now(c, ma[k], mb[k]) &&
            push_kid(c, (kid){ma[k], mb[k], NULL, p + off[k], KID_PAIR}) != 0)
            return SC_PATCH_ENOMEM;
    *done = 1;
    return SC_PATCH_OK;
}

/* Diffs array a against b at c->path (length base): emits removes, moves and adds, and
 * queues the inner diffs of matched elements under their final index. */
static sc_patch_status array_kids(diff_ctx *c, const cJSON *a, const cJSON *b, size_t base)
{
    sc_patch_status st = SC_PATCH_ENOMEM;
    elem *ka = NULL, *kb = NULL;
    int32_t *am = NULL, *bm = NULL, *amv = NULL, *bmv = NULL, *fa = NULL, *fg = NULL;
    int32_t *ganch = NULL, *settled = NULL;
    uint32_t *tab = NULL, *chain = NULL;
    size_t n_tails = 0;

    /* Common prefix, walked in lockstep without allocating: the usual case ends here. Equal
     * elements are the common case, so equality is asked first, identity only after. */
    const cJSON *x = a->child, *y = b->child;
    size_t p = 0;
    while (x && y) {
        if (!equal_now(c, x, y)) {
            if (!same_id(c, x, y))
                break;
            if (push_kid(c, (kid){x, y, NULL, p, KID_PAIR}) != 0)
                return SC_PATCH_ENOMEM;
        }
        x = x->next;
        y = y->next;
        p++;
    }
    if (x == NULL && y == NULL)
        return SC_PATCH_OK;
    if (x && y) {
        int done;
        sc_patch_status pst = near_positional(c, x, y, p, base, &done);
        if (pst != SC_PATCH_OK || done)
            return pst;
    }
    /* The elements left after the prefix, as vectors: the suffix is trimmed from their ends,
     * and the middle left between gets its keys in place. */
    size_t ra, rb;
    if (gather(c, x, y, &ra, &rb) != 0)
        return SC_PATCH_ENOMEM;
    ka = c->ea;
    kb = c->eb;
    /* Common suffix, from the last elements backwards; its pairs' inner diffs are queued
     * after the middle's, in index order. */
    size_t s = 0;
    while (s < ra && s < rb) {
        const cJSON *xe = ka[ra - 1 - s].node, *ye = kb[rb - 1 - s].node;
        if (!equal_now(c, xe, ye)) {
            if (!same_id(c, xe, ye))
                break;
            if (n_tails == c->tails_cap &&
                grow((void **)&c->tails, &c->tails_cap, n_tails + 1, sizeof *c->tails) != 0)
                return SC_PATCH_ENOMEM;
            c->tails[n_tails++] = (tail_pair){xe, ye, s};
        }
        s++;
    }
    const size_t n = ra - s, m = rb - s, nb = p + rb;

    am = xmalloc(n * sizeof *am);   /* a middle -> b middle anchor, or -1 */
    bm = xmalloc(m * sizeof *bm);   /* b middle -> a middle anchor, or -1 */
    amv = xmalloc(n * sizeof *amv); /* a middle -> b middle it moves to, or -1 */
    bmv = xmalloc(m * sizeof *bmv); /* b middle -> a middle it moves from, or -1 */
    if (!am || !bm || !amv || !bmv)
        goto out;
    for (size_t i = 0; i < n; i++)
        am[i] = amv[i] = -1;
    for (size_t j = 0; j < m; j++)
        bm[j] = bmv[j] = -1;

    size_t n_moves = 0;
    if (n && m) {
        int r = myers(ka, n, kb, m, c->opts.max_edit_cost, am);
        if (r < 0)
            goto out;
        if (r > 0) {
            /* Too many edits to search: match positionally (step 5 may replace it all). */
            for (size_t i = 0; i < n && i < m; i++)
                am[i] = (int32_t)i;
        }
        for (size_t i = 0; i < n; i++)
            if (am[i] >= 0)
                bm[am[i]] = (int32_t)i;

        /* Moves: an unmatched a element whose key an unmatched b element has. */
        if (r == 0 && c->opts.use_move) {
            size_t slots = 1;
            while (slots < 2 * n)
                slots *= 2;
            /* tab[h]: an element with the slot's key (+1; stays, so probing still works),
             * tab[slots + h]: the next unused one of that key's chain (+1, 0 when used up). */
            tab = xmalloc(2 * slots * sizeof *tab);
            chain = xmalloc(n * sizeof *chain);
            if (!tab || !chain)
                goto out;
            memset(tab, 0, 2 * slots * sizeof *tab);
            /* Each slot heads a chain of a's unmatched elements with one key, in a's order. */
            for (size_t i = n; i-- > 0;) {
                if (am[i] >= 0)
                    continue;
                size_t h = (size_t)ka[i].key & (slots - 1);
                while (tab[h] && ka[tab[h] - 1].key != ka[i].key)
                    h = (h + 1) & (slots - 1);
                chain[i] = tab[slots + h];
                tab[h] = tab[slots + h] = (uint32_t)i + 1;
            }
            for (size_t j = 0; j < m; j++) {
                if (bm[j] >= 0)
                    continue;
                size_t h = (size_t)kb[j].key & (slots - 1);
                while (tab[h] && ka[tab[h] - 1].key != kb[j].key)
                    h = (h + 1) & (slots - 1);
                if (tab[slots + h] == 0)
                    continue;
                uint32_t i = tab[slots + h] - 1;
                tab[slots + h] = chain[i];
                amv[i] = (int32_t)j;
                bmv[j] = (int32_t)i;
                n_moves++;
            }
        }

        /* Pair the leftover deletions and insertions between the same anchors: a "set". */
        size_t i = 0, j = 0;
        for (;;) {
            /* A run of anchors matched to each other has no gaps: skip it at once. */
            while (i < n && j < m && am[i] == (int32_t)j) {
                i++;
                j++;
            }
            size_t ia = i, jb = j;
            while (ia < n && am[ia] < 0)
                ia++;
            while (jb < m && bm[jb] < 0)
                jb++;
            size_t u = i, v = j;
            for (;;) {
                while (u < ia && (am[u] >= 0 || amv[u] >= 0))
                    u++;
                while (v < jb && (bm[v] >= 0 || bmv[v] >= 0))
                    v++;
                if (u == ia || v == jb)
                    break;
                am[u] = (int32_t)v;
                bm[v] = (int32_t)u;
                u++;
                v++;
            }
            if (ia >= n || jb >= m)
                break;
            /* ia and jb are one anchor; but pairs just made inside this gap may sit before
             * them, so continue after the anchor. */
            i = ia + 1;
            j = jb + 1;
        }
    }

    /* 1. Removes, from the highest index down, so no index shifts under a later one. */
    size_t cur = n; /* current length of the middle part */
    for (size_t i = n; i-- > 0;) {
        if (am[i] >= 0 || amv[i] >= 0)
            continue;
        if (path_set(c, base, NULL, p + i) != 0 || emit(c, OP_REMOVE, NULL) != 0)
            goto out;
        cur--;
    }

    /* 2. Moves, in b's order. Anchors (matched pairs) split the middle into gaps 0..L; each
     * gap holds moved elements already in place (settled, in b's order) followed by those
     * still to move (in a's order). fg counts a gap's present non-anchor elements, fa marks
     * a's elements still to move; together they give any element's current index. */
    if (n_moves) {
        size_t L = 0;
        for (size_t i = 0; i < n; i++)
            L += am[i] >= 0;
        size_t G = L + 1;
        fa = xmalloc(n * sizeof *fa);
        fg = xmalloc(G * sizeof *fg);
        ganch = xmalloc(G * sizeof *ganch); /* gap g starts at a's index ganch[g] */
        settled = xmalloc(G * sizeof *settled);
        int32_t *gap_a = xmalloc(n * sizeof *gap_a);
        int32_t *gap_b = xmalloc(m * sizeof *gap_b);
        if (!fa || !fg || !ganch || !settled || !gap_a || !gap_b) {
            xfree(gap_a);
            xfree(gap_b);
            goto out;
        }
        memset(fa, 0, n * sizeof *fa);
        memset(fg, 0, G * sizeof *fg);
        memset(settled, 0, G * sizeof *settled);
        size_t g = 0;
        ganch[0] = 0;
        for (size_t i = 0; i < n; i++) {
            gap_a[i] = (int32_t)g;
            if (am[i] >= 0)
                ganch[++g] = (int32_t)i + 1;
            else if (amv[i] >= 0) {
                fen_add(fa, n, i, 1);
                fen_add(fg, G, g, 1);
            }
        }
        g = 0;
        for (size_t j = 0; j < m; j++) {
            gap_b[j] = (int32_t)g;
            if (bm[j] >= 0)
                g++;
        }
        for (size_t j = 0; j < m; j++) {
            if (bmv[j] < 0)
                continue;
            size_t i = (size_t)bmv[j];
            size_t gs = (size_t)gap_a[i], gt = (size_t)gap_b[j];
            long from = (long)gs + fen_sum(fg, gs) + settled[gs] +
                        (fen_sum(fa, i) - fen_sum(fa, (size_t)ganch[gs]));
            fen_add(fa, n, i, -1);
            fen_add(fg, G, gs, -1);
            long to = (long)gt + fen_sum(fg, gt) + settled[gt];
            settled[gt]++;
            fen_add(fg, G, gt, 1);
            if (from == to)
                continue;
            int end = s == 0 && (size_t)to == cur - 1;
            if (emit_move(c, base, p + (size_t)from, end ? SIZE_MAX : p + (size_t)to) != 0) {
                xfree(gap_a);
                xfree(gap_b);
                goto out;
            }
        }
        xfree(gap_a);
        xfree(gap_b);
    }

    /* 3. Adds, in b's order: everything before b[j] is in place, so b[j] goes at j. */
    for (size_t j = 0; j < m; j++) {
        if (bm[j] >= 0 || bmv[j] >= 0)
            continue;
        int end = p + j == p + cur + s;
        if (path_set(c, base, NULL, end ? SIZE_MAX : p + j) != 0)
            goto out;
        sc_patch_status est = emit(c, OP_ADD, kb[j].node);
        if (est != SC_PATCH_OK) {
            st = est;
            goto out;
        }
        cur++;
    }
    path_cut(c, base, c->base_esc);

    /* 4. Inner diffs of matched and moved elements at their final index, then the suffix's. */
    for (size_t j = 0; j < m; j++) {
        const elem *e;
        if (bm[j] >= 0)
            e = &ka[bm[j]];
        else if (bmv[j] >= 0)
            e = &ka[bmv[j]];
        else
            continue;
        if (!equal_now(c, e->node, kb[j].node) &&
            push_kid(c, (kid){e->node, kb[j].node, NULL, p + j, KID_PAIR}) != 0)
            goto out;
    }
    for (size_t k = n_tails; k-- > 0;) {
        const tail_pair *t = &c->tails[k];
        if (push_kid(c, (kid){t->a, t->b, NULL, nb - 1 - t->from_end, KID_PAIR}) != 0)
            goto out;
    }
    st = SC_PATCH_OK;
out:
    xfree(am);
    xfree(bm);
    xfree(amv);
    xfree(bmv);
    xfree(fa);
    xfree(fg);
    xfree(ganch);
    xfree(settled);
    xfree(tab);
    xfree(chain);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * The driver
 * ---------------------------------------------------------------------------------------- */

/* Diffs a against b at c->path: a replace for differing scalars and type changes, else a new
 * frame (container pair) whose kids the main loop runs. */
static sc_patch_status open_pair(diff_ctx *c, const cJSON *a, const cJSON *b)
{
    if (type_of(a) != type_of(b) || !is_container(a))
        return emit(c, OP_REPLACE, b);
    if (c->nframes >= SC_PATCH_MAX_DEPTH)
        return fail(c, SC_PATCH_ETOODEEP, "document nested too deeply");
    if (c->nframes == c->frames_cap &&
        grow((void **)&c->frames, &c->frames_cap, c->nframes + 1, sizeof(frame)) != 0)
        return SC_PATCH_ENOMEM;
    frame f = {b,        c->path_len, c->path_esc, c->nkids,
               c->nkids, 0,           c->out->pos(c->out), c->bytes,
               c->n_ops, SC_DIFF_FIRST_CHECK, 0};
    c->base_esc = c->path_esc;
    sc_patch_status st = type_of(a) == cJSON_Object
                             ? object_kids(c, a, b, c->path_len, &f.replace)
                             : array_kids(c, a, b, c->path_len);
    if (st != SC_PATCH_OK)
        return st;
    path_cut(c, f.path_len, f.path_esc);
    f.kid_end = c->nkids;
    c->frames[c->nframes++] = f;
    return SC_PATCH_OK;
}

/* Rolls the ops of frame f back and replaces its container when that is smaller (or when
 * object_kids() proved so up front and emitted nothing). At the root (*root_replaced set)
 * only reports that the replace would win. */
static sc_patch_status close_frame(diff_ctx *c, const frame *f, int *root_replaced)
{
    size_t ops = c->bytes - f->mark_bytes;
    size_t n = c->n_ops - f->mark_ops;
    path_cut(c, f->path_len, f->path_esc);
    if (f->replace)
        goto replace;
    if (n == 0)
        return SC_PATCH_OK;
    /* One add or replace inside this container can never be larger than replacing the
     * container: each level between them costs at least as much in the value ("{"k":...}",
     * or an array's other elements) as in the path ("/k", "/123"), unless keys hold escaped
     * '~' or '/' (two path bytes each). Skipping the size walk keeps deep paths linear. */
    if (n == 1 && (c->last_kind == OP_ADD || c->last_kind == OP_REPLACE) && !c->last_tilde)
        return SC_PATCH_OK;
    size_t rep = replace_size(c, f->b, ops);
    if (rep == (size_t)-1)
        return SC_PATCH_ENOMEM;
    if (rep > ops || (rep == ops && n == 1))
        return SC_PATCH_OK;
replace:
    if (f->path_len == 0) {
        *root_replaced = 1;
        return SC_PATCH_OK;
    }
    c->out->truncate(c->out, f->mark_pos);
    c->bytes = f->mark_bytes;
    c->n_ops = f->mark_ops;
    return emit(c, OP_REPLACE, f->b);
}

static sc_patch_status run(diff_ctx *c, const cJSON *a, const cJSON *b)
{
    sc_patch_status st = SC_PATCH_OK;
    /* Room for typical depths up front: regrowing copies, and small diffs are dominated by
     * such fixed costs. */
    if (grow((void **)&c->path, &c->path_cap, SC_DIFF_INITIAL_DEPTH * 8, 1) != 0 ||
        grow((void **)&c->frames, &c->frames_cap, SC_DIFF_INITIAL_DEPTH, sizeof(frame)) != 0 ||
        grow((void **)&c->kids, &c->kids_cap, SC_DIFF_INITIAL_DEPTH, sizeof(kid)) != 0)
        return SC_PATCH_ENOMEM;
    c->path[0] = '\0';
    c->path_len = 0;
    if (!needs_kid(a, b))
        return SC_PATCH_OK;

    size_t mark = c->out->pos(c->out);
    int root_replaced = 0;
    if (type_of(a) != type_of(b) || !is_container(a)) {
        root_replaced = 1;
    } else {
        st = open_pair(c, a, b);
        while (st == SC_PATCH_OK && c->nframes) {
            frame *f = &c->frames[c->nframes - 1];
            size_t ops = c->bytes - f->mark_bytes;
            if (f->kid_next < f->kid_end && ops > f->check_at) {
                /* When replacing this container is already smaller than the ops so far, the
                 * rest of its kids cannot change the outcome: skip them (close_frame then
                 * replaces). Checks at doubling sizes keep the total cost linear. */
                path_cut(c, f->path_len, f->path_esc);
                size_t rep = replace_size(c, f->b, ops);
                if (rep == (size_t)-1) {
                    st = SC_PATCH_ENOMEM;
                    continue;
                }
                if (rep < ops)
                    f->kid_next = f->kid_end;
                f->check_at = 2 * ops;
            }
            if (f->kid_next < f->kid_end) {
                kid k = c->kids[f->kid_next++];
                c->base_esc = f->path_esc;
                if (path_set(c, f->path_len, k.key, k.index) != 0)
                    st = SC_PATCH_ENOMEM;
                else if (k.kind == KID_ADD)
                    st = emit(c, OP_ADD, k.b);
                else
                    st = open_pair(c, k.a, k.b);
                continue;
            }
            frame done = *f;
            c->nframes--;
            c->nkids = done.kid_begin; /* its kids are done; its parent's end there */
            st = close_frame(c, &done, &root_replaced);
        }
    }
    if (st != SC_PATCH_OK)
        return st;
    if (root_replaced) {
        c->out->truncate(c->out, mark);
        c->bytes = 0;
        c->n_ops = 0;
        if (!c->opts.allow_root)
            return fail(c, SC_PATCH_EROOT, "the change replaces the whole document");
        path_cut(c, 0, 0);
        return emit(c, OP_REPLACE, b);
    }
    return SC_PATCH_OK;
}

/* ------------------------------------------------------------------------------------------
 * Public entry points
 * ---------------------------------------------------------------------------------------- */

void sc_diff_options_init(sc_diff_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->id_key = "id";
    opts->max_edit_cost = SC_DIFF_DEFAULT_MAX_EDIT_COST;
    opts->allow_root = 0;
    opts->use_move = 1;
}

/* Runs the diff of a against b into sink out. */
static sc_patch_status diff_into(const cJSON *a, const cJSON *b, const sc_diff_options *opts,
                                 sink *out, size_t *n_ops, sc_patch_error *err)
{
    diff_ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.out = out;
    sc_diff_options_init(&c.opts);
    if (opts) {
        /* A caller built against an older, smaller struct gets defaults for the rest. */
        if (opts->struct_size < offsetof(sc_diff_options, id_key) + sizeof opts->id_key)
            return fail(&c, SC_PATCH_EARG, "sc_diff_options.struct_size is not set");
        size_t n = opts->struct_size < sizeof c.opts ? opts->struct_size : sizeof c.opts;
        memcpy(&c.opts, opts, n);
        c.opts.struct_size = sizeof c.opts;
    }
    if (a == NULL || b == NULL)
        return fail(&c, SC_PATCH_EARG, "a and b must not be NULL");
#ifdef SC_DIFF_WORD_CMP
    word_cmp_init();
#endif
    sc_patch_status st = run(&c, a, b);
    if (st != SC_PATCH_OK && (err == NULL || err->status != st))
        fail(&c, st, sc_patch_strerror(st));
    if (st == SC_PATCH_OK && n_ops)
        *n_ops = c.n_ops;
    xfree(c.tails);
    xfree(c.ea);
    xfree(c.eb);
    xfree(c.ms);
    xfree(c.path);
    xfree(c.from);
    xfree(c.frames);
    xfree(c.kids);
    xfree(c.scratch);
    return st;
}

sc_patch_status sc_diff(const cJSON *a, const cJSON *b, const sc_diff_options *opts, cJSON **out,
                        sc_patch_error *err)
{
    if (out == NULL) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->status = SC_PATCH_EARG;
            err->op_index = -1;
            snprintf(err->reason, sizeof err->reason, "out must not be NULL");
        }
        return SC_PATCH_EARG;
    }
    *out = NULL;
    tree_sink ts = {{tree_op, tree_pos, tree_truncate, SC_PATCH_OK}, cJSON_CreateArray(), 0};
    if (ts.array == NULL) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->status = SC_PATCH_ENOMEM;
            err->op_index = -1;
        }
        return SC_PATCH_ENOMEM;
    }
    sc_patch_status st = diff_into(a, b, opts, &ts.base, NULL, err);
    if (st != SC_PATCH_OK) {
        cJSON_Delete(ts.array);
        return st;
    }
    *out = ts.array;
    return SC_PATCH_OK;
}

sc_patch_status sc_diff_to_buf(const cJSON *a, const cJSON *b, const sc_diff_options *opts,
                               sc_buf *out, size_t *n_ops, sc_patch_error *err)
{
    if (out == NULL) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->status = SC_PATCH_EARG;
            err->op_index = -1;
            snprintf(err->reason, sizeof err->reason, "out must not be NULL");
        }
        return SC_PATCH_EARG;
    }
    size_t start = out->len;
    if (sc_buf_append(out, "[", 1) != 0)
        return SC_PATCH_ENOMEM;
    buf_sink bs = {{buf_op, buf_pos, buf_truncate, SC_PATCH_OK}, out, out->len};
    sc_patch_status st = diff_into(a, b, opts, &bs.base, n_ops, err);
    if (st == SC_PATCH_OK && sc_buf_append(out, "]", 1) != 0)
        st = SC_PATCH_ENOMEM;
    if (st != SC_PATCH_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return st;
}
