/* rng.h - counter-based random streams.
 *
 * Every random choice in fedrec draws from a stream named by (seed, round, client,
 * purpose). The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011): the key is the seed, the counter holds round, client,
 * purpose and a block index, so any stream can be opened anywhere, in any order, on any
 * thread, and gives the same numbers. There is no shared sequential generator.
 */
#ifndef FEDREC_RNG_H
#define FEDREC_RNG_H

#include <stdint.h>

/* Purposes keep streams of one (round, client) apart. Append; never renumber. */
enum {
    FR_PURPOSE_SAMPLE_CLIENTS = 1, /* server picks the clients of a round */
    FR_PURPOSE_SPLIT_USERS,        /* train/validation/test split of users */
    FR_PURPOSE_SHUFFLE,            /* a client shuffles its examples */
    FR_PURPOSE_INIT_GLOBAL,        /* initial global parameters */
    FR_PURPOSE_INIT_LOCAL,         /* a client's local parameters */
    FR_PURPOSE_SYNTH,              /* synthetic data generator */
    FR_PURPOSE_EVAL,               /* evaluation (shuffles, negatives) */
    FR_PURPOSE_NEGATIVES,          /* negative sampling in training */
    FR_PURPOSE_DROPOUT,
    FR_PURPOSE_ASYNC,              /* simulated client durations of asynchronous rounds */
    FR_PURPOSE_KMEANS,             /* k-means++ seeding (FedMem prototypes) */
    FR_PURPOSE_PRIVACY,            /* noise a client adds to what it uploads */
};

typedef struct fr_rng {
    uint32_t key[2];
    uint32_t ctr[4];  /* ctr[0] block index, ctr[1] round, ctr[2] client, ctr[3] purpose */
    uint32_t buf[4];
    int idx;          /* next unused word in buf; 4 means empty */
} fr_rng;

void fr_rng_init(fr_rng *r, uint64_t seed, uint32_t round, uint32_t client, uint32_t purpose);
uint32_t fr_rng_u32(fr_rng *r);
/* out[n] = the next n words, exactly as n calls of fr_rng_u32 would give them. */
void fr_rng_fill_u32(fr_rng *r, uint32_t *out, int64_t n);
uint64_t fr_rng_u64(fr_rng *r);
double fr_rng_uniform(fr_rng *r);            /* [0, 1) with 53 random bits */
uint32_t fr_rng_below(fr_rng *r, uint32_t n); /* uniform in [0, n), unbiased; n > 0 */
double fr_rng_normal(fr_rng *r);             /* standard normal (Box-Muller) */

/* Fisher-Yates shuffle of an int32 array. */
void fr_rng_shuffle_i32(fr_rng *r, int32_t *a, int64_t n);

/* The 10-round Philox4x32 block function, exposed for the known-answer test. */
void fr_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

#endif
