/* fedrecon.h - Federated Reconstruction for matrix factorization (R1), its stateful
 * FedAvg baseline and the evaluation of unseen users.
 *
 * Singhal et al., "Federated Reconstruction: Partially Local Federated Learning",
 * NeurIPS 2021, algorithm 1, as the TensorFlow Federated tutorial runs it
 * (shared/reference/001): a client caps its examples, shuffles them, batches them and
 * splits the batches (split on: even batches reconstruct, odd batches train; off: the
 * same batches for both); it reconstructs its user vector from a fresh initialisation
 * with the items frozen, then trains the items with the user frozen, and sends back the
 * change of the item rows it trained. The user vector is dropped.
 *
 * The stateful baseline (the tutorial's first proposal) keeps each client's user vector
 * between rounds and trains user and items together on every batch.
 *
 * An unseen user is evaluated the same way: reconstruct on the even batches, score the
 * odd ones (MSE, and rating accuracy = share of |y - yhat| <= 0.5).
 */
#ifndef FEDREC_FEDRECON_H
#define FEDREC_FEDRECON_H

#include <stdint.h>
#include "fedrec/config.h"
#include "fedrec/dataset.h"
#include "fedrec/fl.h"
#include "fedrec/mf.h"

/* What one client does, taken from the configuration. */
typedef struct fr_mf_client_cfg {
    int32_t max_examples;      /* 0 = all */
    int32_t batch_size;
    int split;                 /* 1: even batches reconstruct, odd batches train */
    int32_t recon_epochs, recon_steps_max;   /* steps_max 0 = no cap */
    double recon_lr;
    int32_t train_epochs, train_steps_max;
    double train_lr;
    double l2, init_scale;
    double baseline;           /* evaluation also scores predicting this constant (the
                                  training users' mean rating) for comparison */
} fr_mf_client_cfg;

/* The client settings of training (FedRecon or FedAvg) and of evaluation. */
void fr_mf_client_cfg_train(fr_mf_client_cfg *cc, const fr_config *c);
void fr_mf_client_cfg_eval(fr_mf_client_cfg *cc, const fr_config *c);

/* Scratch space of one worker thread, reused from client to client. */
typedef struct fr_mf_client fr_mf_client;
fr_status fr_mf_client_create(fr_mf_client **c, int32_t dim, int bias, fr_error *err);
void fr_mf_client_destroy(fr_mf_client *c);

/* One FedRecon client round. The local user vector is initialised from the stream
 * (seed, round, user, FR_PURPOSE_INIT_LOCAL), the examples shuffled by
 * (seed, round, user, FR_PURPOSE_SHUFFLE). out->weight is the number of examples the
 * item phase trained on (0: nothing to send). */
fr_status fr_fedrecon_client_update(fr_update *out, fr_mf_client *c, const fr_mf_model *m,
                                    fr_user_view v, const fr_mf_client_cfg *cc,
                                    uint64_t seed, uint32_t round, fr_error *err);

/* One stateful FedAvg-MF client round: user_state [K (+1 user bias)] is read and
 * written back; user and items train together on every batch with train_lr. */
fr_status fr_fedavg_mf_client_update(fr_update *out, fr_mf_client *c, const fr_mf_model *m,
                                     float *user_state, fr_user_view v,
                                     const fr_mf_client_cfg *cc, uint64_t seed,
                                     uint32_t round, fr_error *err);

/* Sums over evaluated examples. */
typedef struct fr_mf_eval_sum {
    double sq_err;
    int64_t n_correct, n;
    double base_sq_err;        /* the same for the constant baseline prediction */
    int64_t base_correct;
} fr_mf_eval_sum;

/* Evaluates one unseen user (adds into *sum): reconstruct on even batches from the
 * stream (seed, 0, user, FR_PURPOSE_EVAL), score the odd ones. */
fr_status fr_mf_eval_user(fr_mf_eval_sum *sum, fr_mf_client *c, const fr_mf_model *m,
                          fr_user_view v, const fr_mf_client_cfg *cc, uint64_t seed,
                          fr_error *err);

/* Evaluates a set of users in parallel (threads as OpenMP gives), summing in user
 * order so the result does not depend on the thread count. */
fr_status fr_mf_eval_users(fr_mf_eval_sum *sum, const fr_mf_model *m, const fr_dataset *ds,
                           const int32_t *users, int32_t n_users, const fr_mf_client_cfg *cc,
                           uint64_t seed, fr_error *err);

#endif
