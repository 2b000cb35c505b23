/* sampling.c - which clients take part in a round, and the train/validation/test split
 * of users. Sampling is Floyd's algorithm (Bentley & Floyd, "Programming Pearls: A
 * sample of brilliance", CACM 1987): k draws and a set of size k, so a round's cost does
 * not grow with the population. */
#include "fedrec/fl.h"

#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/rng.h"

/* Open-addressing set of int32 (keys >= 0), capacity a power of two. */
static int set_insert(int32_t *slots, uint32_t mask, int32_t key) {
    uint32_t h = (uint32_t)key * 2654435761u;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        if (slots[i] == key) return 0;
        if (slots[i] < 0) {
            slots[i] = key;
            return 1;
        }
    }
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int32_t fr_sample_clients(int32_t *out, int32_t n, int32_t k, uint64_t seed, uint32_t round) {
    if (k > n) k = n;
    if (k <= 0) return 0;
    fr_rng rng;
    fr_rng_init(&rng, seed, round, 0, FR_PURPOSE_SAMPLE_CLIENTS);
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)k) cap <<= 1;
    int32_t *slots = malloc(cap * sizeof(int32_t));
    if (!slots) { /* fall back to the first k: never happens at these sizes */
        for (int32_t i = 0; i < k; i++) out[i] = i;
        return k;
    }
    memset(slots, 0xff, cap * sizeof(int32_t));
    int32_t m = 0;
    for (int32_t j = n - k; j < n; j++) {
        int32_t t = (int32_t)fr_rng_below(&rng, (uint32_t)j + 1);
        if (set_insert(slots, cap - 1, t)) out[m++] = t;
        else {
            set_insert(slots, cap - 1, j);
            out[m++] = j;
        }
    }
    free(slots);
    qsort(out, (size_t)k, sizeof(int32_t), cmp_i32);
    return k;
}

fr_status fr_split_users(fr_user_split *s, int32_t n, double train_frac, double val_frac,
                         uint64_t seed, fr_error *err) {
    memset(s, 0, sizeof *s);
    int32_t *perm = fr_alloc((size_t)n + 1, sizeof(int32_t));
    if (!perm) return fr_nomem(err, "user split", (size_t)n * 4);
    for (int32_t i = 0; i < n; i++) perm[i] = i;
    fr_rng rng;
    fr_rng_init(&rng, seed, 0, 0, FR_PURPOSE_SPLIT_USERS);
    fr_rng_shuffle_i32(&rng, perm, n);
    int32_t a = (int32_t)(n * train_frac);
    int32_t b = (int32_t)(n * (train_frac + val_frac));
    if (b > n) b = n;
    s->n_train = a;
    s->n_val = b - a;
    s->n_test = n - b;
    s->train = fr_alloc((size_t)s->n_train + 1, sizeof(int32_t));
    s->val = fr_alloc((size_t)s->n_val + 1, sizeof(int32_t));
    s->test = fr_alloc((size_t)s->n_test + 1, sizeof(int32_t));
    if (!s->train || !s->val || !s->test) {
        fr_free(perm);
        fr_user_split_free(s);
        return fr_nomem(err, "user split", (size_t)n * 4);
    }
    memcpy(s->train, perm, (size_t)s->n_train * 4);
    memcpy(s->val, perm + a, (size_t)s->n_val * 4);
    memcpy(s->test, perm + b, (size_t)s->n_test * 4);
    qsort(s->train, (size_t)s->n_train, 4, cmp_i32);
    qsort(s->val, (size_t)s->n_val, 4, cmp_i32);
    qsort(s->test, (size_t)s->n_test, 4, cmp_i32);
    fr_free(perm);
    return FR_OK;
}

void fr_user_split_free(fr_user_split *s) {
    fr_free(s->train);
    fr_free(s->val);
    fr_free(s->test);
    memset(s, 0, sizeof *s);
}
