/*
 * fuzz_util.h -- what the libFuzzer targets in tests/fuzz share: a property check that aborts
 * (so libFuzzer saves the input as a crash), and splitting one input into JSON values.
 *
 * Every target is a property fuzzer, not only a crash finder: besides the sanitizers (ASan,
 * UBSan, LeakSanitizer), each checks the library's documented contract on every input and
 * aborts with a one-line reason when it does not hold.
 */
#ifndef SC_FUZZ_UTIL_H
#define SC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken property: print why and abort, which libFuzzer reports as a crash with the input. */
#define FUZZ_CHECK(cond, ...)                                                                     \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz property failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

/* Parses the next JSON value of data[*pos..size) (leading whitespace skipped, the value may be
 * followed by anything) and advances *pos past it. Returns a new tree (caller frees with
 * cJSON_Delete()) or NULL when no value parses there (*pos untouched). cJSON needs the bytes
 * NUL-terminated, so they are copied once. */
static inline cJSON *fuzz_next_json(const uint8_t *data, size_t size, size_t *pos)
{
    if (*pos >= size)
        return NULL;
    size_t n = size - *pos;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, data + *pos, n);
    copy[n] = '\0';
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(copy, n, &end, 0);
    if (v != NULL)
        *pos += (size_t)(end - copy);
    free(copy);
    return v;
}

/* cJSON_PrintUnformatted() as a malloc'ed string; aborts on allocation failure (the fuzzers
 * run without allocation limits, so that is a real failure). Caller frees with cJSON_free(). */
static inline char *fuzz_print(const cJSON *item)
{
    char *s = cJSON_PrintUnformatted(item);
    FUZZ_CHECK(s != NULL, "cJSON could not print a document");
    return s;
}

#endif
