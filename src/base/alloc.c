/* alloc.c - allocation with overflow checks; see alloc.h for the policy. */
#include "fedrec/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int mul_overflows(size_t a, size_t b, size_t *out) {
    if (b != 0 && a > SIZE_MAX / b) return 1;
    *out = a * b;
    return 0;
}

void *fr_alloc(size_t count, size_t size) {
    size_t bytes;
    if (mul_overflows(count, size, &bytes)) return NULL;
    if (bytes == 0) bytes = 1;
    size_t rounded = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, rounded);
}

void *fr_calloc(size_t count, size_t size) {
    size_t bytes;
    if (mul_overflows(count, size, &bytes)) return NULL;
    void *p = fr_alloc(bytes, 1);
    if (p) memset(p, 0, bytes);
    return p;
}

void *fr_realloc(void *p, size_t count, size_t size) {
    size_t bytes;
    if (mul_overflows(count, size, &bytes)) return NULL;
    return realloc(p, bytes ? bytes : 1);
}

void fr_free(void *p) { free(p); }

char *fr_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

fr_status fr_nomem(fr_error *err, const char *what, size_t bytes) {
    return fr_fail(err, FR_ERR_NOMEM, "out of memory: %s (%zu bytes)", what, bytes);
}
