/* ranking.h - leave-one-out splits and ranking metrics for implicit-feedback models
 * (SASRec, FedMem, FedDMMR, GPFedRec...).
 *
 * Leave-one-out (Kang & McAuley, SASRec, ICDM 2018, section IV-B): a user's sequence
 * s[0..n-1] in time order trains on s[0..n-3], validates on s[n-2] (history s[0..n-3])
 * and tests on s[n-1] (history s[0..n-2]). Users with fewer than 3 interactions only
 * train.
 *
 * Metrics for a target ranked among candidates: rank r = number of candidates scored
 * strictly higher than the target (0 = top); HR@K = [r < K], NDCG@K = [r < K] /
 * log2(r + 2), MRR = 1 / (r + 1). Ties count against the target only when strictly
 * higher, as in the SASRec evaluation code (argsort of negated scores puts the target,
 * listed first, ahead of equal scores).
 *
 * Two candidate sets: (a) n sampled negatives, uniform over items the user never
 * interacted with, drawn from the stream (seed, 0, user, FR_PURPOSE_EVAL) so every model
 * sees the same ones; (b) the whole catalogue minus the user's other items.
 */
#ifndef FEDREC_RANKING_H
#define FEDREC_RANKING_H

#include <stdint.h>
#include "fedrec/dataset.h"
#include "fedrec/status.h"

#define FR_RANK_NK 4
extern const int fr_rank_cutoffs[FR_RANK_NK]; /* 1, 5, 10, 20 */

typedef struct fr_rank_metrics {
    double hr[FR_RANK_NK];    /* sums; divide by n */
    double ndcg[FR_RANK_NK];
    double mrr;
    int64_t n;
} fr_rank_metrics;

/* Adds one target's rank. */
void fr_rank_metrics_add(fr_rank_metrics *m, int64_t rank);
/* Adds b into a (for combining per-user sums in a fixed order). */
void fr_rank_metrics_merge(fr_rank_metrics *a, const fr_rank_metrics *b);
/* Rank of target_score among scores[n]: the number of scores not strictly lower, so a
 * tie counts against the target (as the PFedRec/GPFedRec code ranks negatives first;
 * a constant scorer ranks the target last, not first) and so does a NaN on either
 * side. */
int64_t fr_rank_of(float target_score, const float *scores, int64_t n);

/* A user's leave-one-out parts, as lengths into its time-ordered view. */
typedef struct fr_loo {
    int64_t n_train;  /* s[0..n_train-1] train */
    int32_t valid;    /* s[n-2] or -1 */
    int32_t test;     /* s[n-1] or -1 */
} fr_loo;
fr_loo fr_loo_split(fr_user_view v);

/* Draws n_neg distinct items uniformly from [0, n_items) minus the items in v (the
 * user's whole history). FR_ERR_INPUT when too few items are left. */
fr_status fr_sample_negatives(int32_t *out, int32_t n_neg, fr_user_view v, int32_t n_items,
                              uint64_t seed, fr_error *err);

#endif
