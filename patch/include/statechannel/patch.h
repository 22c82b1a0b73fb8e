/*
 * statechannel/patch.h -- JSON Pointer (RFC 6901) and JSON Patch (RFC 6902) on cJSON.
 *
 * This library resolves pointers, applies patches atomically, and computes small patches
 * between two documents (optionally straight into serialized JSON bytes). It stands alone:
 * it depends on cJSON only and knows nothing of the server, sockets or storage.
 *
 * It does not parse or print whole documents (cJSON does), validate schemas, or keep any
 * global state: every error comes back through the call that failed, in an sc_patch_error
 * the caller owns. All functions are thread-safe on distinct documents; a document must not
 * be read by one thread while another applies a patch to it.
 *
 * Anything not declared in this header is private and may change without notice.
 */
#ifndef STATECHANNEL_PATCH_H
#define STATECHANNEL_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SC_PATCH_BUILDING)
#define SC_PATCH_API __attribute__((visibility("default")))
#else
#define SC_PATCH_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes. 0 is success; every other value names one failure. One table, one strerror.
 * ------------------------------------------------------------------------------------------- */
#define SC_PATCH_STATUS_MAP(X)                                                                   \
    X(OK, "success")                                                                             \
    X(ENOMEM, "out of memory")                                                                   \
    X(EPOINTER, "malformed JSON pointer")                                                        \
    X(ENOPATH, "path does not exist")                                                            \
    X(EINDEX, "array index out of range")                                                        \
    X(EINVAL, "invalid patch document")                                                          \
    X(ETEST, "test operation failed")                                                            \
    X(EMOVE, "cannot move a value into one of its own children")                                \
    X(EROOT, "the change replaces the whole document")                                           \
    X(ETOODEEP, "document nested too deeply")                                                    \
    X(EARG, "invalid argument")

typedef enum sc_patch_status {
#define SC_PATCH_STATUS_ENUM_(name, msg) SC_PATCH_##name,
    SC_PATCH_STATUS_MAP(SC_PATCH_STATUS_ENUM_)
#undef SC_PATCH_STATUS_ENUM_
    SC_PATCH_STATUS_COUNT_
} sc_patch_status;

/* Returns a static, human-readable description of status; never NULL. */
SC_PATCH_API const char *sc_patch_strerror(sc_patch_status status);

/* Maximum nesting depth the library walks (pointer tokens, diff and equality recursion).
 * Deeper documents fail with SC_PATCH_ETOODEEP instead of exhausting the stack: the server
 * runs on civetweb worker threads with ~100 KiB stacks. Matches cJSON's own parse limit. */
#ifndef SC_PATCH_MAX_DEPTH
#define SC_PATCH_MAX_DEPTH 1000
#endif

/* Where and why a call failed. Owned by the caller (usually on its stack); filled on failure
 * only. Strings are NUL-terminated and truncated to fit. */
typedef struct sc_patch_error {
    sc_patch_status status; /* what failed; SC_PATCH_OK before any failure */
    long op_index;          /* index of the failing operation in the patch, or -1 */
    char op[16];            /* that operation's "op" ("add", ...), or "" */
    char path[256];         /* the pointer involved ("path" or "from"), truncated, or "" */
    char reason[160];       /* one sentence for humans, e.g. "index 7 is past the end (5)" */
} sc_patch_error;

/* Formats err as one line ("op 2 (remove /a/b): path does not exist: ...") into buf.
 * Returns buf. Always NUL-terminates when cap > 0. */
SC_PATCH_API char *sc_patch_error_format(const sc_patch_error *err, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * JSON Pointer (RFC 6901)
 * ------------------------------------------------------------------------------------------- */

/* A parsed pointer: its reference tokens, unescaped. Opaque; parse, use, free. */
typedef struct sc_pointer sc_pointer;

/* Parses text ("" is the whole document, "/a~1b/0" has tokens "a/b" and "0"). A token's "~"
 * must be followed by "0" or "1"; text must be "" or start with "/".
 * Returns a new pointer (caller frees with sc_pointer_free()), or NULL with err filled
 * (SC_PATCH_EPOINTER, SC_PATCH_ENOMEM; SC_PATCH_ETOODEEP past SC_PATCH_MAX_DEPTH tokens;
 * SC_PATCH_EARG for NULL text). err may be NULL. */
SC_PATCH_API sc_pointer *sc_pointer_parse(const char *text, sc_patch_error *err);
SC_PATCH_API void sc_pointer_free(sc_pointer *p); /* accepts NULL */

/* Number of reference tokens (0 for the root pointer ""). */
SC_PATCH_API size_t sc_pointer_count(const sc_pointer *p);

/* Token i, unescaped; borrowed, valid until sc_pointer_free(p). i must be < count. */
SC_PATCH_API const char *sc_pointer_token(const sc_pointer *p, size_t i);

/* Reads token as an array index per RFC 6901: "0" or digits without a leading zero, no sign,
 * no spaces, fitting in size_t. Returns 1 and sets *index, returns 0 for "-" (the element past
 * the end; *index untouched), returns -1 for anything else. */
SC_PATCH_API int sc_pointer_index(const char *token, size_t *index);

/* Resolves text against doc. Returns the borrowed item (lives as long as doc is unchanged) or
 * NULL with err filled: SC_PATCH_EPOINTER (malformed, or a token on an array that is not an
 * index), SC_PATCH_ENOPATH (a key or index that does not exist, "-", or a token into a scalar),
 * SC_PATCH_ETOODEEP, SC_PATCH_EARG (NULL doc). */
SC_PATCH_API cJSON *sc_pointer_get(const cJSON *doc, const char *text, sc_patch_error *err);

/* Escapes one key as a reference token ("~" -> "~0", "/" -> "~1") into buf. Returns the length
 * the full escaped token needs (excluding the NUL); writes at most cap bytes including a NUL.
 * Like snprintf, a return value >= cap means the output was truncated. */
SC_PATCH_API size_t sc_pointer_escape(const char *key, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * Equality
 * ------------------------------------------------------------------------------------------- */

/* Deep JSON equality as RFC 6902 "test" defines it: same type; numbers equal as numbers;
 * strings byte-equal; arrays element-wise in order; objects with the same set of keys (order
 * ignored) and equal values. Linear in the size of the smaller document (objects with many
 * keys are matched by hashing). Returns 1 when equal, 0 when not (and on allocation failure or
 * nesting past SC_PATCH_MAX_DEPTH, when it cannot prove equality). */
SC_PATCH_API int sc_json_equal(const cJSON *a, const cJSON *b);

/* ---------------------------------------------------------------------------------------------
 * Apply (RFC 6902)
 * ------------------------------------------------------------------------------------------- */

/* Applies patch (a JSON array of operation objects) to *doc, atomically: on success every
 * operation took effect in order; on any failure *doc is exactly as before (same items, same
 * order, same pointers) and err says which operation failed and why. The patch is only read.
 *
 * *doc may be replaced (an operation on the root path ""): the old root is freed with
 * cJSON_Delete() and *doc points to the new one. Items of *doc that an operation removes or
 * replaces are freed; borrowed pointers into those subtrees become invalid.
 *
 * Cost: each operation resolves its path (linear in array positions and object keys walked)
 * and touches only what it changes; nothing is copied except "copy" values and "add"/"replace"
 * values (which are duplicated from the patch).
 *
 * Errors: SC_PATCH_EINVAL (not an array, an operation that is not an object, missing or
 * mistyped "op", "path", "from" or "value", unknown op), SC_PATCH_EPOINTER, SC_PATCH_ENOPATH,
 * SC_PATCH_EINDEX (the target's array index or "-" is past the end), SC_PATCH_ETEST,
 * SC_PATCH_EMOVE, SC_PATCH_EROOT ("remove" of the root ""), SC_PATCH_ETOODEEP, SC_PATCH_ENOMEM,
 * SC_PATCH_EARG (doc or *doc NULL). err may be NULL. */
SC_PATCH_API sc_patch_status sc_patch_apply(cJSON **doc, const cJSON *patch,
                                            sc_patch_error *err);

/* sc_patch_apply() that moves values out of the patch instead of copying them: each "add" and
 * "replace" operation's "value" member is unlinked from its operation object and linked into
 * the document as it is (what JavaScript appliers do by reference). Everything else is as
 * sc_patch_apply(): same order, semantics, errors and atomicity.
 *
 * On success the document owns those values; the operation objects no longer have a "value"
 * member (the rest of each operation is untouched), so the patch cannot be applied or printed
 * again. The caller still frees the patch with cJSON_Delete(). On failure the patch is exactly
 * as before the call (same items, order and pointers), like the document. */
SC_PATCH_API sc_patch_status sc_patch_apply_take(cJSON **doc, cJSON *patch, sc_patch_error *err);

/* ---------------------------------------------------------------------------------------------
 * Documents with kept indexes
 *
 * An sc_doc holds a cJSON tree together with lookup indexes of its large containers (a vector
 * of the elements of every array, a hash table of the members of every object, with at least
 * 32 children), kept up to date by every apply through the handle. A pointer into a large
 * container then costs O(1) per token instead of a walk along cJSON's linked list, from the
 * first patch on: use it for a document that receives patch after patch (a server's copy of
 * the state clients hold, a log replay). Memory: about 8 bytes per indexed array element and
 * 32 bytes per indexed object member, on top of the tree.
 *
 * Contract: while the handle lives, the tree changes only through sc_doc_apply() /
 * sc_doc_apply_take() (a change made behind the handle's back leaves the indexes describing
 * the old lists: wrong results, or a use after free). Reading it (diff, print, duplicate) is
 * fine.
 *
 * Deferred frees: what an apply through the handle removes or replaces is not freed inside the
 * call. It waits in the handle's graveyard (unreachable, never allocating) until the next apply
 * through the handle starts, sc_doc_collect(), sc_doc_release() or sc_doc_free(), so a caller
 * can pay for it after its latency-critical work (a server: after its reply is sent). Memory:
 * the graveyard holds only the last apply's removals, never more than the document held
 * before that apply.
 * ------------------------------------------------------------------------------------------- */
typedef struct sc_doc sc_doc;

/* Takes ownership of root and indexes it (one walk of the tree). Returns a new handle (caller
 * frees with sc_doc_free()), or NULL with err filled (SC_PATCH_EARG for a NULL root,
 * SC_PATCH_ENOMEM) and root still the caller's. A container that cannot be indexed for lack
 * of memory is walked plainly: results never depend on the indexes. */
SC_PATCH_API sc_doc *sc_doc_new(cJSON *root, sc_patch_error *err);
SC_PATCH_API void sc_doc_free(sc_doc *doc); /* frees the tree and the indexes; accepts NULL */

/* The tree, borrowed: valid until the next apply replaces the root or the handle is freed.
 * Read it only (see the contract above). */
SC_PATCH_API const cJSON *sc_doc_root(const sc_doc *doc);

/* Frees the handle, its indexes and its graveyard and returns the tree, which the caller then
 * owns (free with cJSON_Delete()) and may change freely. Returns NULL for a NULL doc. */
SC_PATCH_API cJSON *sc_doc_release(sc_doc *doc);

/* sc_patch_apply() and sc_patch_apply_take() on the handle's tree, with its indexes: same
 * semantics, errors and atomicity (on failure the tree is exactly as before; its indexes are
 * then rebuilt lazily, on the next long walk into each container). Cost per operation: its
 * pointers' tokens, O(1) each in an indexed container (an array insert or removal also moves
 * the index's pointers after it, a memmove of 8 bytes per element), plus what the operation
 * changes. Each call first frees the previous apply's graveyard (sc_doc_collect()); what this
 * one removes or replaces goes to the graveyard (see "Deferred frees" above). Borrowed
 * pointers into removed subtrees are invalid from the call on, as with sc_patch_apply(). */
SC_PATCH_API sc_patch_status sc_doc_apply(sc_doc *doc, const cJSON *patch, sc_patch_error *err);
SC_PATCH_API sc_patch_status sc_doc_apply_take(sc_doc *doc, cJSON *patch, sc_patch_error *err);

/* Frees the graveyard now: every subtree the last apply removed or replaced (their containers
 * leave the indexes first). O(items freed). Accepts NULL and an empty graveyard. */
SC_PATCH_API void sc_doc_collect(sc_doc *doc);

/* Hands out the tree for changing it in place, outside the applies (the one exception to the
 * contract above): drops every index and frees the graveyard, then returns the root. Until the
 * next call on the handle, the caller may change the tree through that pointer in any way but
 * replacing the root. Indexes come back lazily: the first long walk of a later apply into a
 * container indexes it again (as sc_doc_new() would have). O(indexes + graveyard). Returns NULL
 * for a NULL doc. */
SC_PATCH_API cJSON *sc_doc_edit(sc_doc *doc);

/* ---------------------------------------------------------------------------------------------
 * Diff
 * ------------------------------------------------------------------------------------------- */

/* Default bound on the work of one array's sequence diff (see diff.c): past it the array
 * degrades gracefully (identity/positional matching, then whole-array replace when smaller). */
#ifndef SC_DIFF_DEFAULT_MAX_EDIT_COST
#define SC_DIFF_DEFAULT_MAX_EDIT_COST 4000000
#endif

typedef struct sc_diff_options {
    size_t struct_size;   /* sizeof(sc_diff_options): set by sc_diff_options_init() */
    const char *id_key;   /* key identifying array elements that are objects; default "id";
                             NULL disables identity matching */
    size_t max_edit_cost; /* bound on one array's sequence-diff work (cells); default
                             SC_DIFF_DEFAULT_MAX_EDIT_COST */
    int allow_root;       /* 1: a document whose root must be replaced yields one
                             {"op":"replace","path":""} op; 0 (default): SC_PATCH_EROOT */
    int use_move;         /* 1 (default): emit "move" for an element that changed position */
} sc_diff_options;

/* Fills opts with the defaults above. */
SC_PATCH_API void sc_diff_options_init(sc_diff_options *opts);

/* Computes a patch P such that sc_patch_apply(A, P) yields a document equal to b.
 * a and b are only read (never reordered or mutated). opts may be NULL for the defaults.
 * No operation is emitted for an unchanged subtree; operations are valid applied in order;
 * when a subtree's operations would serialize larger than replacing it, it is replaced.
 *
 * On success *out is a new cJSON array (caller frees with cJSON_Delete()); it is empty when
 * a and b are equal. When the roots differ in type (or b's root is smaller to send whole) and
 * opts->allow_root is 0, returns SC_PATCH_EROOT and *out is NULL: send the full document. */
SC_PATCH_API sc_patch_status sc_diff(const cJSON *a, const cJSON *b, const sc_diff_options *opts,
                                     cJSON **out, sc_patch_error *err);

/* A growable byte buffer. Zero-initialize it; free with sc_buf_free(). */
typedef struct sc_buf {
    char *data; /* NUL-terminated when len > 0; owned; allocated with cJSON's hooks */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
} sc_buf;

SC_PATCH_API void sc_buf_free(sc_buf *buf); /* frees data and zeroes *buf; accepts NULL */

/* Same patch as sc_diff(), serialized as compact JSON (the bytes cJSON_PrintUnformatted() would
 * print for it) and appended to out, without building a cJSON tree of the patch. *n_ops (may
 * be NULL) receives the operation count. On failure out->len is as before the call. */
SC_PATCH_API sc_patch_status sc_diff_to_buf(const cJSON *a, const cJSON *b,
                                            const sc_diff_options *opts, sc_buf *out,
                                            size_t *n_ops, sc_patch_error *err);

/* Appends item serialized as compact JSON (same bytes as cJSON_PrintUnformatted()) to out.
 * Returns SC_PATCH_OK, SC_PATCH_ENOMEM, SC_PATCH_ETOODEEP, or SC_PATCH_EARG (out or item NULL,
 * or an item cJSON cannot print either: invalid type, raw without text); on failure out->len
 * is unchanged. */
SC_PATCH_API sc_patch_status sc_json_write(sc_buf *out, const cJSON *item);

#ifdef __cplusplus
}
#endif
#endif /* STATECHANNEL_PATCH_H */
