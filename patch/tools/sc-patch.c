/*
 * sc-patch -- command-line front end to libscpatch: diff two JSON files, apply a patch, and
 * time both for the benchmarks in bench/.
 *
 *   sc-patch diff A.json B.json              print the RFC 6902 patch turning A into B
 *   sc-patch apply DOC.json PATCH.json       print DOC with PATCH applied
 *   sc-patch bench-diff A.json B.json ITER   time diff + serialize, print one JSON line
 *   sc-patch bench-apply DOC PATCH ITER      time apply on fresh copies, print one JSON line:
 *                                            ns_median (an sc_doc, patch values taken: what
 *                                            the JS appliers do; removed values left in its
 *                                            graveyard), ns_median_with_free (the same plus
 *                                            sc_doc_collect()), ns_median_doc_copy (an
 *                                            sc_doc, values copied), ns_median_plain
 *                                            (sc_patch_apply on a plain tree)
 *   sc-patch bench-parse A.json B.json       (hidden) load and parse only: the memory baseline
 *
 * "-" names standard input (at most one argument may). Each input is read whole into memory,
 * parsed once with cJSON, and freed before any timing starts, so a benchmark's peak RSS is the
 * two trees plus what the library allocates; bench-parse stops after the same loading, which
 * makes it the baseline bench/compare divides by.
 *
 * Timing: CLOCK_MONOTONIC around each iteration; the median of ITER samples is printed (the
 * median resists the scheduler noise of a shared machine better than the mean). Work outside
 * the measured call (duplicating the document for apply, resetting the output buffer) is not
 * timed. Cost: O(ITER) samples in memory, sorted once (O(ITER log ITER)).
 *
 * Exit codes: 0 success; 1 the operation failed (the patch does not apply, the diff failed, the
 * output could not be written); 2 usage error, unreadable input or invalid JSON.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "statechannel/patch.h"

/* Largest input accepted: bounds the read buffer so a wrong argument (a device, a huge log)
 * fails with a message instead of exhausting memory. The largest benchmark input is ~1 MB. */
#define CLI_MAX_INPUT_BYTES ((size_t)512 * 1024 * 1024)

/* Read chunk: large enough that a multi-megabyte file takes few reallocations. */
#define CLI_READ_CHUNK ((size_t)64 * 1024)

/* Upper bound on ITER: the samples array holds one uint64_t per iteration (8 MB at this cap). */
#define CLI_MAX_ITER 1000000L

/* Warm-up iterations before timing: a tenth of ITER, at least one, at most this many, so the
 * caches and the allocator are in steady state without doubling a long run. */
#define CLI_MAX_WARMUP 1000L

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: sc-patch COMMAND ARGS...\n"
    "\n"
    "  diff A.json B.json              print the JSON Patch (RFC 6902) turning A into B\n"
    "  apply DOC.json PATCH.json       print DOC with PATCH applied (atomic)\n"
    "  bench-diff A.json B.json ITER   time diff + serialize; prints\n"
    "                                  {\"ns_median\":N,\"ops\":N,\"bytes\":N}\n"
    "  bench-apply DOC.json PATCH.json ITER\n"
    "                                  time apply on a fresh copy; prints\n"
    "                                  {\"ns_median\":N,\"ns_median_with_free\":N,\n"
    "                                  \"ns_median_doc_copy\":N,\"ns_median_plain\":N}\n"
    "                                  (see the source's top comment)\n"
    "\n"
    "A file argument of \"-\" reads standard input (at most one per command).\n"
    "Array elements that are objects are matched by their \"id\" member. Output is compact\n"
    "JSON followed by a newline.\n"
    "\n"
    "Exit status: 0 success; 1 the patch does not apply or the diff failed;\n"
    "2 usage error, unreadable file or invalid JSON.\n";

/* Prints "sc-patch: MESSAGE" and a pointer to --help; the caller exits with EXIT_USAGE. */
__attribute__((format(printf, 1, 2))) static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sc-patch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(try 'sc-patch --help')\n", stderr);
    va_end(ap);
}

static const char *display_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

/* Reads all of path ("-": stdin) into a new NUL-terminated buffer; caller frees with free().
 * Returns NULL after printing why. */
static char *read_all(const char *path, size_t *len_out)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "sc-patch: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int failed = 0;
    for (;;) {
        if (cap - len < CLI_READ_CHUNK + 1) {
            size_t ncap = cap == 0 ? CLI_READ_CHUNK + 1 : cap * 2;
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                fprintf(stderr, "sc-patch: out of memory reading %s\n", display_name(path));
                failed = 1;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, CLI_READ_CHUNK, f);
        len += n;
        if (len > CLI_MAX_INPUT_BYTES) {
            fprintf(stderr, "sc-patch: %s is larger than the %zu-byte limit\n",
                    display_name(path), CLI_MAX_INPUT_BYTES);
            failed = 1;
            break;
        }
        if (n < CLI_READ_CHUNK) {
            if (ferror(f)) {
                fprintf(stderr, "sc-patch: cannot read %s: %s\n", display_name(path),
                        strerror(errno));
                failed = 1;
            }
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* Prints where text stops being JSON: line and column (1-based) and the byte offset. */
static void report_parse_error(const char *name, const char *text, size_t len, size_t offset)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    size_t ws = strspn(text, " \t\r\n");
    if (ws == len) {
        fprintf(stderr, "sc-patch: %s: invalid JSON: the input is empty\n", name);
        return;
    }
    fprintf(stderr, "sc-patch: %s: invalid JSON at line %zu, column %zu (byte %zu)", name, line,
            col, offset);
    if (offset < len) {
        /* Show the few bytes where parsing stopped, on one line. */
        char near[24];
        size_t n = 0;
        for (size_t i = offset; i < len && n < sizeof near - 1 && text[i] != '\n'; i++)
            near[n++] = text[i];
        near[n] = '\0';
        fprintf(stderr, " near \"%s\"", near);
    } else {
        fputs(" (unexpected end of input)", stderr);
    }
    fputc('\n', stderr);
}

/* Loads and parses one JSON document; the text is freed before returning. Returns a new tree
 * (caller frees with cJSON_Delete()) or NULL after printing why. */
static cJSON *load_json(const char *path)
{
    size_t len = 0;
    char *text = read_all(path, &len);
    if (text == NULL)
        return NULL;
    const char *name = display_name(path);
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        fprintf(stderr, "sc-patch: %s: invalid JSON: NUL byte at byte %zu\n", name,
                (size_t)(nul - text));
        free(text);
        return NULL;
    }
    const char *end = NULL;
    /* The length includes the terminating NUL so require_null_terminated rejects trailing
     * garbage after the document instead of ignoring it. */
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (doc == NULL) {
        size_t offset = end != NULL && end >= text ? (size_t)(end - text) : 0;
        report_parse_error(name, text, len, offset);
    }
    free(text);
    return doc;
}

/* Loads both inputs of a two-file command, refusing two reads of stdin. */
static int load_pair(const char *path_a, const char *path_b, cJSON **a, cJSON **b)
{
    if (strcmp(path_a, "-") == 0 && strcmp(path_b, "-") == 0) {
        usage_error("only one argument may be \"-\" (standard input)");
        return 0;
    }
    *a = load_json(path_a);
    if (*a == NULL)
        return 0;
    *b = load_json(path_b);
    if (*b == NULL) {
        cJSON_Delete(*a);
        *a = NULL;
        return 0;
    }
    return 1;
}

/* Parses ITER: a decimal integer in [1, CLI_MAX_ITER]. Returns -1 after printing why. */
static long parse_iter(const char *text)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < 1 || n > CLI_MAX_ITER) {
        usage_error("ITER must be an integer from 1 to %ld, not \"%s\"", CLI_MAX_ITER, text);
        return -1;
    }
    return n;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Median of n samples (sorts them in place); the lower middle one when n is even. */
static uint64_t median_ns(uint64_t *samples, long n)
{
    qsort(samples, (size_t)n, sizeof *samples, cmp_u64);
    return samples[(n - 1) / 2];
}

static long warmup_count(long iter)
{
    long w = iter / 10;
    if (w < 1)
        w = 1;
    return w > CLI_MAX_WARMUP ? CLI_MAX_WARMUP : w;
}

static void print_patch_error(const char *what, const sc_patch_error *err)
{
    char line[512];
    fprintf(stderr, "sc-patch: %s: %s\n", what, sc_patch_error_format(err, line, sizeof line));
}

/* Writes bytes and a newline to stdout and flushes; returns 0 and prints why on failure. */
static int write_line(const char *bytes, size_t len)
{
    if ((len > 0 && fwrite(bytes, 1, len, stdout) != len) || fputc('\n', stdout) == EOF ||
        fflush(stdout) != 0) {
        fprintf(stderr, "sc-patch: cannot write output: %s\n", strerror(errno));
        return 0;
    }
    return 1;
}

/* Options of every diff this tool makes: identity matching on "id", and a root replace when
 * the documents share nothing, so any pair of documents yields a valid patch. */
static void cli_diff_options(sc_diff_options *opts)
{
    sc_diff_options_init(opts);
    opts->id_key = "id";
    opts->allow_root = 1;
}

static int cmd_diff(char **args)
{
    const char *path_a = args[0];
    const char *path_b = args[1];
    cJSON *a = NULL, *b = NULL;
    if (!load_pair(path_a, path_b, &a, &b))
        return EXIT_USAGE;
    sc_diff_options opts;
    cli_diff_options(&opts);
    sc_buf out = {0};
    sc_patch_error err = {0};
    int rc = EXIT_SUCCESS;
    if (sc_diff_to_buf(a, b, &opts, &out, NULL, &err) != SC_PATCH_OK) {
        print_patch_error("diff failed", &err);
        rc = EXIT_FAILED;
    } else if (!write_line(out.data, out.len)) {
        rc = EXIT_FAILED;
    }
    sc_buf_free(&out);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return rc;
}

static int cmd_apply(char **args)
{
    const char *path_doc = args[0];
    const char *path_patch = args[1];
    cJSON *doc = NULL, *patch = NULL;
    if (!load_pair(path_doc, path_patch, &doc, &patch))
        return EXIT_USAGE;
    sc_patch_error err = {0};
    sc_buf out = {0};
    int rc = EXIT_SUCCESS;
    sc_patch_status st = sc_patch_apply(&doc, patch, &err);
    if (st != SC_PATCH_OK) {
        print_patch_error("patch does not apply", &err);
        rc = EXIT_FAILED;
    } else if ((st = sc_json_write(&out, doc)) != SC_PATCH_OK) {
        fprintf(stderr, "sc-patch: cannot print the result: %s\n", sc_patch_strerror(st));
        rc = EXIT_FAILED;
    } else if (!write_line(out.data, out.len)) {
        rc = EXIT_FAILED;
    }
    sc_buf_free(&out);
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    return rc;
}

static int cmd_bench_diff(char **args)
{
    const char *path_a = args[0];
    const char *path_b = args[1];
    const char *iter_text = args[2];
    long iter = parse_iter(iter_text);
    if (iter < 0)
        return EXIT_USAGE;
    cJSON *a = NULL, *b = NULL;
    if (!load_pair(path_a, path_b, &a, &b))
        return EXIT_USAGE;
    uint64_t *samples = malloc((size_t)iter * sizeof *samples);
    if (samples == NULL) {
        fputs("sc-patch: out of memory\n", stderr);
        cJSON_Delete(a);
        cJSON_Delete(b);
        return EXIT_FAILED;
    }
    sc_diff_options opts;
    cli_diff_options(&opts);
    sc_buf out = {0};
    sc_patch_error err = {0};
    size_t n_ops = 0;
    int rc = EXIT_SUCCESS;
    long warmup = warmup_count(iter);
    for (long i = -warmup; i < iter; i++) {
        out.len = 0; /* reuse the buffer: the server serializes into a reused one too */
        uint64_t t0 = now_ns();
        sc_patch_status st = sc_diff_to_buf(a, b, &opts, &out, &n_ops, &err);
        uint64_t t1 = now_ns();
        if (st != SC_PATCH_OK) {
            print_patch_error("diff failed", &err);
            rc = EXIT_FAILED;
            break;
        }
        if (i >= 0)
            samples[i] = t1 - t0;
    }
    if (rc == EXIT_SUCCESS) {
        printf("{\"ns_median\":%llu,\"ops\":%zu,\"bytes\":%zu}\n",
               (unsigned long long)median_ns(samples, iter), n_ops, out.len);
        if (fflush(stdout) != 0)
            rc = EXIT_FAILED;
    }
    free(samples);
    sc_buf_free(&out);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return rc;
}

/* How bench-apply holds the document and the patch during one timed apply. */
typedef enum apply_mode {
    APPLY_DOC_TAKE, /* sc_doc_apply_take() on an sc_doc: indexed document, patch values moved
                       in (how fast-json-patch applies: live JS arrays and objects, values by
                       reference), what it removed left in the graveyard (as fjp leaves the
                       old values to V8's collector); the headline figure */
    APPLY_DOC_TAKE_FREE, /* the same, plus sc_doc_collect() in the timed span: the apply and
                            the freeing of everything it removed */
    APPLY_DOC,      /* sc_doc_apply(): indexed document, patch values copied */
    APPLY_PLAIN,    /* sc_patch_apply() on a plain cJSON tree: lists walked, values copied */
    APPLY_MODES
} apply_mode;

/* Times iter applies of patch to fresh copies of doc in one mode; the median goes to *median.
 * Per iteration, not timed: duplicating the document (and, for APPLY_DOC*, wrapping it in an
 * sc_doc, which indexes it, like structuredClone builds the JS peer's arrays) and the patch
 * (APPLY_DOC_TAKE consumes it, as the JS appliers do theirs); freeing both afterwards. */
static int bench_apply_mode(const cJSON *doc, const cJSON *patch, apply_mode mode, long iter,
                            uint64_t *samples, uint64_t *median)
{
    long warmup = warmup_count(iter);
    for (long i = -warmup; i < iter; i++) {
        /* The order of bench/peer.mjs's setup: the document's copy, then the patch's. */
        cJSON *copy = cJSON_Duplicate(doc, 1);
        sc_doc *d = copy != NULL && mode != APPLY_PLAIN ? sc_doc_new(copy, NULL) : NULL;
        int take = mode == APPLY_DOC_TAKE || mode == APPLY_DOC_TAKE_FREE;
        cJSON *p = take ? cJSON_Duplicate(patch, 1) : (cJSON *)patch;
        if (copy == NULL || p == NULL || (mode != APPLY_PLAIN && d == NULL)) {
            fputs("sc-patch: out of memory\n", stderr);
            cJSON_Delete(d ? sc_doc_release(d) : copy);
            if (p != patch)
                cJSON_Delete(p);
            return EXIT_FAILED;
        }
        sc_patch_error err = {0};
        uint64_t t0 = now_ns();
        sc_patch_status st = mode == APPLY_DOC_TAKE || mode == APPLY_DOC_TAKE_FREE
                                 ? sc_doc_apply_take(d, p, &err)
                             : mode == APPLY_DOC ? sc_doc_apply(d, p, &err)
                                                 : sc_patch_apply(&copy, p, &err);
        if (mode == APPLY_DOC_TAKE_FREE)
            sc_doc_collect(d);
        uint64_t t1 = now_ns();
        if (d != NULL)
            sc_doc_free(d);
        else
            cJSON_Delete(copy);
        if (p != patch)
            cJSON_Delete(p);
        if (st != SC_PATCH_OK) {
            print_patch_error("patch does not apply", &err);
            return EXIT_FAILED;
        }
        if (i >= 0)
            samples[i] = t1 - t0;
    }
    *median = median_ns(samples, iter);
    return EXIT_SUCCESS;
}

static int cmd_bench_apply(char **args)
{
    const char *path_doc = args[0];
    const char *path_patch = args[1];
    const char *iter_text = args[2];
    long iter = parse_iter(iter_text);
    if (iter < 0)
        return EXIT_USAGE;
    cJSON *doc = NULL, *patch = NULL;
    if (!load_pair(path_doc, path_patch, &doc, &patch))
        return EXIT_USAGE;
    uint64_t *samples = malloc((size_t)iter * sizeof *samples);
    if (samples == NULL) {
        fputs("sc-patch: out of memory\n", stderr);
        cJSON_Delete(doc);
        cJSON_Delete(patch);
        return EXIT_FAILED;
    }
    uint64_t median[APPLY_MODES] = {0};
    int rc = EXIT_SUCCESS;
    for (int m = 0; m < APPLY_MODES && rc == EXIT_SUCCESS; m++)
        rc = bench_apply_mode(doc, patch, (apply_mode)m, iter, samples, &median[m]);
    if (rc == EXIT_SUCCESS) {
        printf("{\"ns_median\":%llu,\"ns_median_with_free\":%llu,\"ns_median_doc_copy\":%llu,"
               "\"ns_median_plain\":%llu}\n",
               (unsigned long long)median[APPLY_DOC_TAKE],
               (unsigned long long)median[APPLY_DOC_TAKE_FREE],
               (unsigned long long)median[APPLY_DOC], (unsigned long long)median[APPLY_PLAIN]);
        if (fflush(stdout) != 0)
            rc = EXIT_FAILED;
    }
    free(samples);
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    return rc;
}

/* Hidden: loads both documents exactly as bench-diff does and stops, so its peak RSS is the
 * baseline for bench-diff's (bench/compare prints the ratio). Prints the parse time. */
static int cmd_bench_parse(char **args)
{
    const char *path_a = args[0];
    const char *path_b = args[1];
    cJSON *a = NULL, *b = NULL;
    uint64_t t0 = now_ns();
    if (!load_pair(path_a, path_b, &a, &b))
        return EXIT_USAGE;
    uint64_t t1 = now_ns();
    printf("{\"ns_load\":%llu}\n", (unsigned long long)(t1 - t0));
    cJSON_Delete(a);
    cJSON_Delete(b);
    return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILED;
}

struct command {
    const char *name;
    int argc;              /* arguments after the command name */
    int (*run)(char **args); /* returns the exit status */
};

static const struct command commands[] = {
    {"diff", 2, cmd_diff},
    {"apply", 2, cmd_apply},
    {"bench-diff", 3, cmd_bench_diff},
    {"bench-apply", 3, cmd_bench_apply},
    {"bench-parse", 2, cmd_bench_parse}, /* hidden: the memory baseline for bench/compare */
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        fputs(usage_text, stdout);
        return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILED;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *cmd = &commands[i];
        if (strcmp(cmd->name, name) != 0)
            continue;
        if (argc - 2 != cmd->argc) {
            usage_error("%s takes %d arguments, got %d", cmd->name, cmd->argc, argc - 2);
            return EXIT_USAGE;
        }
        return cmd->run(argv + 2);
    }
    usage_error("unknown command \"%s\"", name);
    return EXIT_USAGE;
}
