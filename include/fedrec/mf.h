/* mf.h - matrix factorization for explicit ratings (R1).
 *
 * Prediction for user u and item i:  yhat = u . v_i  (+ g + b_u + b_i with biases on).
 * Loss on a batch of B examples (Keras' MeanSquaredError, plus optional L2):
 *     L = (1/B) sum_b (yhat_b - y_b)^2 + (l2/B) sum_b (|u_b|^2 + |v_b|^2 + b_u^2 + b_i^2)
 * Parameters: the item matrix [N x K] (and item biases [N], global bias [1]) are GLOBAL
 * and row-sparse; the user vector [K] (and user bias) are LOCAL and never leave the
 * client. Dimension letters: B batch, K latent factors, N items, U users in a view,
 * R item rows in a view.
 */
#ifndef FEDREC_MF_H
#define FEDREC_MF_H

#include <stdint.h>
#include "fedrec/params.h"
#include "fedrec/rng.h"
#include "fedrec/status.h"

/* The global (server) part of an MF model. */
typedef struct fr_mf_model {
    int32_t n_items;      /* N */
    int32_t dim;          /* K */
    int bias;
    fr_param_layout layout; /* GLOBAL tensors only: item_embedding, item_bias, global_bias */
    float *params;        /* [layout.size], owned */
    int t_item, t_ibias, t_gbias; /* tensor indices; -1 when absent */
} fr_mf_model;

/* Creates the model with items ~ uniform(-init_scale, init_scale) drawn from the
 * stream (seed, 0, 0, FR_PURPOSE_INIT_GLOBAL), biases zero. */
fr_status fr_mf_create(fr_mf_model *m, int32_t n_items, int32_t dim, int bias,
                       double init_scale, uint64_t seed, fr_error *err);
void fr_mf_destroy(fr_mf_model *m);

/* Pointers into m->params (NULL when the tensor is absent). */
float *fr_mf_item(const fr_mf_model *m);   /* [N x K] */
float *fr_mf_ibias(const fr_mf_model *m);  /* [N] */
float *fr_mf_gbias(const fr_mf_model *m);  /* [1] */

/* Parameters as the kernel sees them: a few user rows and a few item rows, gathered
 * from wherever they live. Bias pointers are NULL when biases are off. A gradient view
 * may leave any member NULL to skip that gradient. */
typedef struct fr_mf_view {
    float *user;   /* [U x K] */
    float *ubias;  /* [U] */
    float *item;   /* [R x K] */
    float *ibias;  /* [R] */
    float *gbias;  /* [1] */
} fr_mf_view;

typedef struct fr_mf_batch {
    int32_t n;            /* B */
    const int32_t *urow;  /* [B] user row of each example */
    const int32_t *irow;  /* [B] item row of each example */
    const float *y;       /* [B] ratings */
} fr_mf_batch;

/* yhat for one (user row, item row) pair. */
float fr_mf_predict(const fr_mf_view *p, int32_t urow, int32_t irow, int32_t K);

/* Forward and backward on one batch: returns L (above), accumulated in double.
 * Adds dL/dparam into every non-NULL member of grad (the caller zeroes them), and, when
 * n_correct is not NULL, adds the count of |yhat - y| <= 0.5 (rating accuracy) and
 * *sq_err the sum of squared errors without the L2 term. */
double fr_mf_forward_backward(fr_mf_view *grad, const fr_mf_view *p, const fr_mf_batch *b,
                              int32_t K, double l2, int64_t *n_correct, double *sq_err);

/* Fills a user vector [K] ~ uniform(-s, s) from rng (Keras' default 'uniform'). */
void fr_mf_init_user(float *user, int32_t K, double s, fr_rng *rng);

#endif
