/* central_mf.h - centralized matrix factorization: one process holds every training
 * user's ratings and trains user and item factors together by minibatch SGD. It is the
 * ceiling the federated algorithms are measured against, and it is scored on the same
 * unseen users in the same way (reconstruction, fedrecon.h).
 */
#ifndef FEDREC_CENTRAL_MF_H
#define FEDREC_CENTRAL_MF_H

#include <stdint.h>
#include "fedrec/dataset.h"
#include "fedrec/mf.h"

typedef struct fr_central_mf {
    int32_t n_users;      /* training users */
    int32_t K;
    int bias;
    int64_t n_examples;   /* E */
    float *user;          /* [n_users x K] user factors (row = index into the user list) */
    float *ubias;         /* [n_users] or NULL */
    float *duser;         /* [n_users x K] gradient, zero between batches */
    float *dubias;        /* [n_users] */
    float *ditem;         /* [N x K] */
    float *dibias;        /* [N] */
    int32_t *urow, *irow; /* [E] example -> user row, item id */
    float *y;             /* [E] */
    int32_t *perm;        /* [E] shuffled order; gathers batches below */
    int32_t *bu, *bi;     /* [batch] gathered rows */
    float *by;            /* [batch] */
    int32_t batch_size;
} fr_central_mf;

/* Collects the first max_examples (0 = all) ratings of each listed user. User factors
 * start uniform(-init_scale, init_scale) from (seed, 0, user, FR_PURPOSE_INIT_LOCAL). */
fr_status fr_central_mf_init(fr_central_mf *c, const fr_mf_model *m, const fr_dataset *ds,
                             const int32_t *users, int32_t n_users, int32_t max_examples,
                             int32_t batch_size, double init_scale, uint64_t seed,
                             fr_error *err);

/* One epoch of shuffled minibatch SGD (shuffle stream (seed, epoch, 0, SHUFFLE)) on the
 * users and the global model; returns the mean training loss and adds rating-accuracy
 * counts into *n_correct. */
double fr_central_mf_epoch(fr_central_mf *c, fr_mf_model *m, uint32_t epoch, double lr,
                           double l2, uint64_t seed, int64_t *n_correct);

void fr_central_mf_free(fr_central_mf *c);

#endif
