/* ranking.c - leave-one-out parts, sampled negatives and HR/NDCG/MRR (see ranking.h).
 * Leaves out: the models' scoring loops; each model scores its candidates and calls
 * fr_rank_of / fr_rank_metrics_add. */
#include "fedrec/ranking.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/rng.h"

const int fr_rank_cutoffs[FR_RANK_NK] = { 1, 5, 10, 20 };

void fr_rank_metrics_add(fr_rank_metrics *m, int64_t rank) {
    for (int k = 0; k < FR_RANK_NK; k++) {
        if (rank < fr_rank_cutoffs[k]) {
            m->hr[k] += 1.0;
            m->ndcg[k] += 1.0 / log2((double)rank + 2.0);
        }
    }
    m->mrr += 1.0 / ((double)rank + 1.0);
    m->n++;
}

void fr_rank_metrics_merge(fr_rank_metrics *a, const fr_rank_metrics *b) {
    for (int k = 0; k < FR_RANK_NK; k++) {
        a->hr[k] += b->hr[k];
        a->ndcg[k] += b->ndcg[k];
    }
    a->mrr += b->mrr;
    a->n += b->n;
}

int64_t fr_rank_of(float target_score, const float *scores, int64_t n) {
    int64_t r = 0;
    for (int64_t i = 0; i < n; i++) r += !(scores[i] < target_score); /* ties and NaN count */
    return r;
}

fr_loo fr_loo_split(fr_user_view v) {
    fr_loo l = { v.n, -1, -1 };
    if (v.n < 3) return l;
    l.n_train = v.n - 2;
    l.valid = v.item[v.n - 2];
    l.test = v.item[v.n - 1];
    return l;
}

fr_status fr_sample_negatives(int32_t *out, int32_t n_neg, fr_user_view v, int32_t n_items,
                              uint64_t seed, fr_error *err) {
    /* taken[i]: 1 for the user's items, 2 for negatives drawn so far */
    uint8_t *taken = fr_calloc((size_t)n_items, 1);
    if (!taken) return fr_nomem(err, "negative sampling", (size_t)n_items);
    int64_t distinct = 0;
    for (int64_t i = 0; i < v.n; i++) {
        distinct += !taken[v.item[i]];
        taken[v.item[i]] = 1;
    }
    if ((int64_t)n_items - distinct < n_neg) {
        fr_free(taken);
        return fr_fail(err, FR_ERR_INPUT,
                       "user %d: %lld items are left outside its history, %d negatives asked",
                       v.user, (long long)(n_items - distinct), n_neg);
    }
    fr_rng rng;
    fr_rng_init(&rng, seed, 0, (uint32_t)v.user, FR_PURPOSE_EVAL);
    for (int32_t k = 0; k < n_neg;) { /* rejection: the history is a small share */
        int32_t it = (int32_t)fr_rng_below(&rng, (uint32_t)n_items);
        if (taken[it]) continue;
        taken[it] = 2;
        out[k++] = it;
    }
    fr_free(taken);
    return FR_OK;
}
