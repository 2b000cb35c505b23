/* synth.c - the built-in synthetic dataset (fr_synth_generate), model in synth.h.
 *
 * Dimension letters: U users, N items, R planted rank.
 *
 * Scale. With p_u, q_i ~ N(0, I_R) the dot product p_u . q_i has variance R, so it is
 * multiplied by 1/sqrt(R): the planted part has unit variance whatever the rank. With
 * mu = 3.5, item biases b_i ~ N(0, 0.3^2) and the default noise 0.3, the affinity has
 * variance about 1 + 0.09 + 0.09, so the planted low-rank part explains ~85% of it and
 * the rounded ratings spread over 1..5 with a mean near 3.5 (MovieLens-1M: 3.58, std
 * 1.12). A rank-R factorization can therefore beat the global mean by a wide margin.
 *
 * Counts. A user's count is round(exp(m + 0.8 z)), z ~ N(0,1), m = ln(mean) - 0.8^2/2
 * (so the mean before clipping is mean_per_user), clipped to [min_per_user, N/2].
 *
 * Items. Popularity rank k (0 = most popular) has weight (k+1)^-zipf_s and belongs to
 * item perm[k] for a seeded permutation perm. A user's items are drawn one by one with
 * these weights, redrawing repeats (so no item twice); the draw order is the time order.
 * If redraws ever pile up (a very steep zipf_s with a long history), the remaining
 * items are taken by Efraimidis-Spirakis weighted sampling without replacement
 * ("Weighted random sampling with a reservoir", IPL 97(5), 2006), which draws from the
 * same distribution.
 *
 * Streams (seed, round, client, FR_PURPOSE_SYNTH): round 0 the permutation, round 1
 * item i's factors and bias, round 2 user u's count, round 3 user u's factors, items,
 * ratings and times. Dense ids equal raw ids minus one (users 1..U, items 1..N), and every
 * one of the N items is in the catalogue even if nobody drew it, so factor rows line up
 * with dense ids.
 *
 * Leaves out: user biases, implicit-feedback variants, drift over time.
 */
#include "fedrec/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/rng.h"

#define SYNTH_MU 3.5
#define SYNTH_ITEM_BIAS_STD 0.3
#define SYNTH_COUNT_SIGMA 0.8
#define SYNTH_TIME_START 956703932LL /* 2000-04-25, where MovieLens-1M starts */
#define SYNTH_TIME_SPAN (86400LL * 365)
#define SYNTH_GAP_MEAN 3600.0         /* mean seconds between a user's ratings */

enum { STREAM_PERM = 0, STREAM_ITEM = 1, STREAM_COUNT = 2, STREAM_USER = 3 };

void fr_synth_config_default(fr_synth_config *c) {
    memset(c, 0, sizeof *c);
    c->n_users = 2000;
    c->n_items = 1000;
    c->rank = 8;
    c->mean_per_user = 60;
    c->min_per_user = 10;
    c->zipf_s = 0.8;
    c->noise = 0.3;
    c->seed = 42;
}

static fr_status check_config(const fr_synth_config *c, fr_error *err) {
    if (c->n_users < 1)
        return fr_fail(err, FR_ERR_USAGE, "synthetic: n_users must be >= 1 (got %d)",
                       (int)c->n_users);
    if (c->n_items < 2)
        return fr_fail(err, FR_ERR_USAGE, "synthetic: n_items must be >= 2 (got %d)",
                       (int)c->n_items);
    if (c->rank < 1 || c->rank > 4096)
        return fr_fail(err, FR_ERR_USAGE, "synthetic: rank must be in [1, 4096] (got %d)",
                       (int)c->rank);
    if (!(c->mean_per_user > 0) || !isfinite(c->mean_per_user))
        return fr_fail(err, FR_ERR_USAGE, "synthetic: mean_per_user must be > 0 (got %g)",
                       c->mean_per_user);
    if (c->min_per_user < 1 || c->min_per_user > c->n_items / 2)
        return fr_fail(err, FR_ERR_USAGE,
                       "synthetic: min_per_user must be in [1, n_items/2 = %d] (got %d)",
                       (int)(c->n_items / 2), (int)c->min_per_user);
    if (!(c->zipf_s >= 0) || c->zipf_s > 10)
        return fr_fail(err, FR_ERR_USAGE, "synthetic: zipf_s must be in [0, 10] (got %g)",
                       c->zipf_s);
    if (!(c->noise >= 0) || !isfinite(c->noise))
        return fr_fail(err, FR_ERR_USAGE, "synthetic: noise must be >= 0 (got %g)", c->noise);
    return FR_OK;
}

typedef struct es_key {
    double key;  /* -log(u) / weight: smaller keys are drawn first */
    int32_t rank;
} es_key;

static int cmp_es_key(const void *a, const void *b) {
    const es_key *x = a, *y = b;
    if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Rank k with cdf[k-1] <= x < cdf[k] (cdf[N] ascending). */
static int32_t cdf_search(const double *cdf, int32_t n, double x) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > x) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* Draws COUNT distinct items for user U into out[COUNT] in draw order. taken[N] holds
 * the last user that drew each item; keys[N] is scratch for the fallback. */
static void draw_items(fr_rng *r, int32_t u, int64_t count, const int32_t *perm,
                       const double *cdf, int32_t N, int32_t *taken, es_key *keys,
                       int32_t *out) {
    double total = cdf[N - 1];
    int64_t have = 0, tries = 0, max_tries = 16 * count + 256;
    while (have < count && tries < max_tries) {
        tries++;
        int32_t item = perm[cdf_search(cdf, N, fr_rng_uniform(r) * total)];
        if (taken[item] == u) continue;
        taken[item] = u;
        out[have++] = item;
    }
    if (have == count) return;
    int32_t m = 0;
    for (int32_t k = 0; k < N; k++) {
        if (taken[perm[k]] == u) continue;
        double w = cdf[k] - (k ? cdf[k - 1] : 0.0);
        keys[m].key = -log(1.0 - fr_rng_uniform(r)) / w;
        keys[m].rank = k;
        m++;
    }
    qsort(keys, (size_t)m, sizeof *keys, cmp_es_key);
    for (int32_t k = 0; have < count; k++) {
        int32_t item = perm[keys[k].rank];
        taken[item] = u;
        out[have++] = item;
    }
}

fr_status fr_synth_generate(const fr_synth_config *c, fr_dataset *ds, float **user_factors,
                            float **item_factors, fr_error *err) {
    memset(ds, 0, sizeof *ds);
    if (user_factors) *user_factors = NULL;
    if (item_factors) *item_factors = NULL;
    fr_status st = check_config(c, err);
    if (st != FR_OK) return st;

    const int32_t U = c->n_users, N = c->n_items, R = c->rank;
    const double scale = 1.0 / sqrt((double)R);
    int32_t *perm = fr_alloc((size_t)N, sizeof(int32_t));     /* [N] rank -> item */
    double *cdf = fr_alloc((size_t)N, sizeof(double));        /* [N] by rank */
    float *P = fr_alloc((size_t)U * (size_t)R, sizeof(float)); /* [U, R] */
    float *Q = fr_alloc((size_t)N * (size_t)R, sizeof(float)); /* [N, R] */
    double *bias = fr_alloc((size_t)N, sizeof(double));       /* [N] */
    int32_t *taken = fr_alloc((size_t)N, sizeof(int32_t));    /* [N] */
    es_key *keys = fr_alloc((size_t)N, sizeof(es_key));       /* [N] */
    ds->user_ptr = fr_calloc((size_t)U + 1, sizeof(int64_t));
    ds->user_raw = fr_alloc((size_t)U, sizeof(int64_t));
    ds->item_raw = fr_alloc((size_t)N, sizeof(int64_t));
    if (!perm || !cdf || !P || !Q || !bias || !taken || !keys || !ds->user_ptr ||
        !ds->user_raw || !ds->item_raw) {
        st = fr_nomem(err, "synthetic dataset", ((size_t)U + (size_t)N) * (size_t)R * 4);
        goto done;
    }

    fr_rng r;
    fr_rng_init(&r, c->seed, STREAM_PERM, 0, FR_PURPOSE_SYNTH);
    for (int32_t i = 0; i < N; i++) perm[i] = i;
    fr_rng_shuffle_i32(&r, perm, N);
    double acc = 0;
    for (int32_t k = 0; k < N; k++) {
        acc += pow((double)(k + 1), -c->zipf_s);
        cdf[k] = acc;
    }
    for (int32_t i = 0; i < N; i++) {
        fr_rng_init(&r, c->seed, STREAM_ITEM, (uint32_t)i, FR_PURPOSE_SYNTH);
        for (int32_t k = 0; k < R; k++) Q[(size_t)i * R + k] = (float)fr_rng_normal(&r);
        bias[i] = SYNTH_ITEM_BIAS_STD * fr_rng_normal(&r);
        taken[i] = -1;
    }

    /* Counts first, so the CSR arrays can be sized. */
    const double m = log(c->mean_per_user) - 0.5 * SYNTH_COUNT_SIGMA * SYNTH_COUNT_SIGMA;
    const int64_t max_count = N / 2;
    for (int32_t u = 0; u < U; u++) {
        fr_rng_init(&r, c->seed, STREAM_COUNT, (uint32_t)u, FR_PURPOSE_SYNTH);
        double x = floor(exp(m + SYNTH_COUNT_SIGMA * fr_rng_normal(&r)) + 0.5);
        int64_t n = x < (double)c->min_per_user ? c->min_per_user
                    : x > (double)max_count     ? max_count
                                                : (int64_t)x;
        ds->user_ptr[u + 1] = ds->user_ptr[u] + n;
    }
    const int64_t E = ds->user_ptr[U];
    ds->item = fr_alloc((size_t)E, sizeof(int32_t));
    ds->rating = fr_alloc((size_t)E, sizeof(float));
    ds->time = fr_alloc((size_t)E, sizeof(int64_t));
    if (!ds->item || !ds->rating || !ds->time) {
        st = fr_nomem(err, "synthetic interactions", (size_t)E * 16);
        goto done;
    }

    for (int32_t u = 0; u < U; u++) {
        fr_rng_init(&r, c->seed, STREAM_USER, (uint32_t)u, FR_PURPOSE_SYNTH);
        float *p = P + (size_t)u * R;
        for (int32_t k = 0; k < R; k++) p[k] = (float)fr_rng_normal(&r);
        int64_t a = ds->user_ptr[u], n = ds->user_ptr[u + 1] - a;
        int64_t t = SYNTH_TIME_START + (int64_t)fr_rng_below(&r, (uint32_t)SYNTH_TIME_SPAN);
        draw_items(&r, u, n, perm, cdf, N, taken, keys, ds->item + a);
        for (int64_t j = 0; j < n; j++) {
            int32_t i = ds->item[a + j];
            const float *q = Q + (size_t)i * R;
            double dot = 0;
            for (int32_t k = 0; k < R; k++) dot += (double)p[k] * (double)q[k];
            double affinity = SYNTH_MU + bias[i] + scale * dot + c->noise * fr_rng_normal(&r);
            double rating = floor(affinity + 0.5);
            ds->rating[a + j] = (float)(rating < 1 ? 1 : rating > 5 ? 5 : rating);
            t += 1 + (int64_t)(-log(1.0 - fr_rng_uniform(&r)) * SYNTH_GAP_MEAN);
            ds->time[a + j] = t;
        }
    }
    for (int32_t u = 0; u < U; u++) ds->user_raw[u] = (int64_t)u + 1;
    for (int32_t i = 0; i < N; i++) ds->item_raw[i] = (int64_t)i + 1;
    ds->n_users = U;
    ds->n_items = N;
    ds->n_inter = E;
    ds->format = FR_FORMAT_SYNTHETIC;
    snprintf(ds->source, sizeof ds->source, "synthetic(seed=%llu)",
             (unsigned long long)c->seed);
    if (user_factors) {
        *user_factors = P;
        P = NULL;
    }
    if (item_factors) {
        *item_factors = Q;
        Q = NULL;
    }

done:
    fr_free(perm);
    fr_free(cdf);
    fr_free(P);
    fr_free(Q);
    fr_free(bias);
    fr_free(taken);
    fr_free(keys);
    if (st != FR_OK) fr_dataset_free(ds);
    return st;
}
