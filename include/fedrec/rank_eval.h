/* rank_eval.h - the ranking evaluation every implicit-feedback model shares.
 *
 * For each evaluated user (leave-one-out parts from ranking.h; users with fewer than 3
 * interactions are skipped) the held-out item is ranked
 *   (a) against n_neg sampled negatives (fr_sample_negatives: uniform over items the
 *       user never interacted with, seeded per user), and
 *   (b) against the whole catalogue minus the user's other items (full ranking).
 * The model conditions on the history before the held-out item: s[0..n-3] for the
 * validation item s[n-2], s[0..n-2] for the test item s[n-1].
 *
 * Users are evaluated in parallel over fixed blocks; each user's ranks are stored and
 * summed in user order, so the figures do not depend on the thread count.
 */
#ifndef FEDREC_RANK_EVAL_H
#define FEDREC_RANK_EVAL_H

#include <stdint.h>
#include <cJSON.h>
#include "fedrec/dataset.h"
#include "fedrec/ranking.h"
#include "fedrec/status.h"

/* Scores candidate items for one user. hist[len] is the history the model conditions
 * on, cands[n_cands] the items to score, scores[n_cands] the output. Called from
 * several threads at once, each with its own slot in [0, n_slots); a model keeps one
 * workspace per slot. */
typedef fr_status (*fr_score_fn)(void *ctx, int slot, int32_t user, const int32_t *hist,
                                 int64_t len, const int32_t *cands, int32_t n_cands,
                                 float *scores, fr_error *err);

typedef enum fr_eval_split { FR_EVAL_VALID, FR_EVAL_TEST } fr_eval_split;

typedef struct fr_rank_eval_opts {
    fr_eval_split split;
    int32_t n_neg;        /* sampled negatives per user (100 SASRec, 99 S3-Rec); 0 skips (a) */
    int full;             /* 1: also the full ranking (b) */
    int32_t max_users;    /* 0: all eligible users; else a seeded sample of this many */
    uint64_t seed;        /* negatives and the user sample */
    int n_slots;          /* threads that may call score at once (>= 1) */
    int paired;           /* 1: draw 2 n_neg negatives once per user; validation ranks
                             against the first n_neg, test against the last (disjoint
                             sets, as PFedRec's and GPFedRec's code) */
} fr_rank_eval_opts;

typedef struct fr_rank_eval_result {
    fr_rank_metrics sampled;  /* n = 0 when n_neg = 0 */
    fr_rank_metrics full;     /* n = 0 when full = 0 */
} fr_rank_eval_result;

/* Evaluates users [0, ds->n_users) (or the sample). Negatives for the validation item
 * and for the test item are drawn from different streams. The first error a score call
 * returns stops the evaluation and is returned. */
fr_status fr_rank_eval(fr_rank_eval_result *res, const fr_dataset *ds,
                       const fr_rank_eval_opts *o, fr_score_fn score, void *ctx,
                       fr_error *err);

/* {"hr@1", "ndcg@1", "hr@5", ..., "hr@20", "ndcg@20", "mrr", "users"} as means. */
cJSON *fr_rank_metrics_to_json(const fr_rank_metrics *m);

/* HR@10 of an evaluation: sampled when it ran, else full. */
double fr_rank_eval_hr10(const fr_rank_eval_result *res);
/* {"sampled": {...}, "full": {...}} of an evaluation (the parts that ran). */
cJSON *fr_rank_eval_json(const fr_rank_eval_result *res);

#endif
