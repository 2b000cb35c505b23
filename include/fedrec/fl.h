/* fl.h - the pieces every federated algorithm shares: what a client sends back, how
 * the server picks clients and combines their updates, and how users are split.
 *
 * An fr_update carries only GLOBAL parameters: the rows of the row-sparse (item-indexed)
 * tensors the client touched, and the dense global tensors. There is no field for LOCAL
 * parameters, so a user embedding cannot travel even by mistake.
 */
#ifndef FEDREC_FL_H
#define FEDREC_FL_H

#include <stdint.h>
#include "fedrec/params.h"
#include "fedrec/status.h"

typedef struct fr_update {
    double weight;        /* the client's example count (the server may override) */
    int32_t client;       /* who sent it (set by the engine) */
    int32_t n_rows;       /* touched rows of the row-sparse tensors */
    int32_t *rows;        /* [n_rows] ascending item ids */
    float *sparse;        /* [n_rows x sparse_width]: per row, every row-sparse GLOBAL
                             tensor's values in layout order */
    float *dense;         /* [dense_size]: dense GLOBAL tensors in layout order */
    int32_t cap_rows;     /* allocated rows */
    /* training metrics, summed over the client's training examples */
    double loss_sum;
    int64_t n_correct, n_examples;
    double score;         /* local validation score the client reports (higher is
                             better), for model selection */
    int64_t side_bytes;   /* bytes the client uploads besides the parameters (FedMem's
                             memory prototypes); counted in the round's bytes_up */
} fr_update;

/* Floats per row over the row-sparse GLOBAL tensors, and floats of dense GLOBAL ones. */
int64_t fr_layout_sparse_width(const fr_param_layout *l);
int64_t fr_layout_dense_size(const fr_param_layout *l);

/* Makes room for n_rows rows; keeps the dense part. FR_ERR_NOMEM on failure. */
fr_status fr_update_reserve(fr_update *u, const fr_param_layout *l, int32_t n_rows, fr_error *err);
void fr_update_free(fr_update *u);
/* Bytes this update takes on the wire: row ids (int32) plus float32 values. */
int64_t fr_update_bytes(const fr_update *u, const fr_param_layout *l);

typedef enum fr_weighting { FR_WEIGHT_EXAMPLES, FR_WEIGHT_UNIFORM } fr_weighting;

/* Picks k distinct indices of [0, n) for a round (Floyd's algorithm, O(k) memory),
 * returned ascending; the stream is (seed, round, 0, FR_PURPOSE_SAMPLE_CLIENTS).
 * k > n is clamped to n; returns the number picked. */
int32_t fr_sample_clients(int32_t *out, int32_t n, int32_t k, uint64_t seed, uint32_t round);

/* Splits users [0, n) at random (stream (seed, 0, 0, FR_PURPOSE_SPLIT_USERS)) into
 * train (first floor(n*train_frac)), validation (up to floor(n*(train+val))) and test;
 * each part sorted ascending. Arrays are allocated; free with fr_free. */
typedef struct fr_user_split {
    int32_t *train, *val, *test;
    int32_t n_train, n_val, n_test;
} fr_user_split;
fr_status fr_split_users(fr_user_split *s, int32_t n, double train_frac, double val_frac,
                         uint64_t seed, fr_error *err);
void fr_user_split_free(fr_user_split *s);

#endif
