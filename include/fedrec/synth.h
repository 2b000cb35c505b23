/* synth.h - the built-in synthetic dataset: planted low-rank ratings with a realistic
 * popularity skew. It is fedrec's default data, so the quick start needs no download.
 *
 * Model: user factors p_u ~ N(0, I_r), item factors q_i ~ N(0, I_r); the affinity
 * a_ui = mu + b_i + p_u . q_i * scale + noise is rounded and clipped to 1..5. Which items a
 * user rates follows a Zipf-like popularity (item i drawn with weight (i+1)^-zipf_s,
 * after a seeded permutation of ids), and how many ratings a user has follows a
 * log-normal, clipped to [min_per_user, n_items/2]. Timestamps increase per user.
 */
#ifndef FEDREC_SYNTH_H
#define FEDREC_SYNTH_H

#include <stdint.h>
#include "fedrec/dataset.h"

typedef struct fr_synth_config {
    int32_t n_users;       /* default 2000 */
    int32_t n_items;       /* default 1000 */
    int32_t rank;          /* planted rank, default 8 */
    double mean_per_user;  /* mean interactions per user, default 60 */
    int32_t min_per_user;  /* default 10 */
    double zipf_s;         /* popularity exponent, default 0.8 */
    double noise;          /* std of rating noise before rounding, default 0.3 */
    uint64_t seed;
} fr_synth_config;

void fr_synth_config_default(fr_synth_config *c);

/* Fills ds with ratings (1..5) and timestamps. Deterministic in c->seed. The planted
 * factors are returned in user_factors [n_users x rank] and item_factors
 * [n_items x rank] when those pointers are not NULL (caller frees with fr_free). */
fr_status fr_synth_generate(const fr_synth_config *c, fr_dataset *ds, float **user_factors,
                            float **item_factors, fr_error *err);

#endif
