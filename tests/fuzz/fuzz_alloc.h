/*
 * fuzz_alloc.h -- failing the Nth allocation made through cJSON's hooks, for the fuzz targets
 * that check what a call leaves behind when memory runs out (the library allocates only through
 * cJSON's hooks, patch.h). Single-threaded use only, like the targets.
 */
#ifndef SC_FUZZ_ALLOC_H
#define SC_FUZZ_ALLOC_H

#include <stdlib.h>

#include <cjson/cJSON.h>

static long fuzz_alloc_left = -1; /* allocations still allowed; -1: unlimited */
static int fuzz_alloc_failed;     /* 1 once an allocation was refused */

static void *fuzz_failing_malloc(size_t n)
{
    if (fuzz_alloc_left == 0) {
        fuzz_alloc_failed = 1;
        return NULL;
    }
    if (fuzz_alloc_left > 0)
        fuzz_alloc_left--;
    return malloc(n);
}

static void fuzz_plain_free(void *p) { free(p); }

/* From now on, allocation number n (0 = the next one) and every later one fail. */
static inline void fuzz_alloc_fail_after(long n)
{
    cJSON_Hooks h = {fuzz_failing_malloc, fuzz_plain_free};
    fuzz_alloc_left = n;
    fuzz_alloc_failed = 0;
    cJSON_InitHooks(&h);
}

/* Back to cJSON's default allocator (plain malloc/free, so memory crosses over safely). */
static inline void fuzz_alloc_unlimited(void)
{
    fuzz_alloc_left = -1;
    cJSON_InitHooks(NULL);
}

#endif
