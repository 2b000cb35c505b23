/* sasrec_client.h - federated SASRec's client: one user holding its own sequence
 * (as in FedMem and FedDMMR, shared/reference/002 and 003).
 *
 * A client update, from the global parameters, for train.client_epochs local epochs:
 * the user's training part s[0..n_train-1] gives inputs, next-item targets and one
 * negative per position. The newest maxlen positions are its one sample (one step per
 * epoch), or with train.window_stride s > 0 windows of maxlen positions ending every s
 * positions back over the whole history are, train.batch_size windows per step in a
 * seeded order. Negatives are drawn uniformly from items the user never touched, stream
 * (seed, round, user, NEGATIVES); BCE as centralized SASRec; the client optimizer
 * (SGD, or Adam started fresh every round) with FedProx's term mu/2 |w - w_global|^2
 * when train.prox_mu > 0. Only the rows of the item table the client touched (its items
 * and its negatives) and the dense tensors change, so it works on and sends only
 * those: the update is delta = local - global over the dense tensors plus the touched
 * rows, weight = scored positions. With model selection on, the client also reports
 * its local validation score: the reciprocal rank of its validation item s[n-2] among
 * eval.negatives sampled negatives, scored by its trained local model.
 */
#ifndef FEDREC_SASREC_CLIENT_H
#define FEDREC_SASREC_CLIENT_H

#include <stdint.h>
#include "fedrec/config.h"
#include "fedrec/dataset.h"
#include "fedrec/fl.h"
#include "fedrec/mmrec.h"
#include "fedrec/mmrec_memory.h"
#include "fedrec/sasrec.h"

typedef struct fr_sasrec_clients fr_sasrec_clients;

/* Per-thread client workspaces for `slots` threads. The model, data and config are
 * borrowed and must outlive the object. */
fr_status fr_sasrec_clients_create(fr_sasrec_clients **out, const fr_sasrec *m,
                                   const fr_dataset *ds, const fr_config *c, int slots,
                                   fr_error *err);
void fr_sasrec_clients_destroy(fr_sasrec_clients *cl);

/* The same clients for SASRec with memory and experts (mmrec.h, FedMem and FedDMMR):
 * train.negatives sampled negatives per position, the model's loss, and, with mem (may
 * be NULL), each client's memory: its entries and the global prototypes are the
 * semantic expert's keys at every step; after each step every scored position offers
 * its target with its loss to the memory (the surprise gate, time = the round); after
 * training the client uploads its prototypes (counted in the update's side_bytes).
 * Tensors the layout marks FR_SCOPE_FROZEN (train.freeze) are read but neither trained
 * nor sent. */
fr_status fr_mmrec_clients_create(fr_sasrec_clients **out, const fr_mmrec *m,
                                  fr_mm_memories *mem, const fr_dataset *ds,
                                  const fr_config *c, int slots, fr_error *err);

/* The fr_fl_model client_update for SASRec (ctx is the fr_sasrec_clients). */
fr_status fr_sasrec_client_update(void *ctx, int slot, const float *params, int32_t user,
                                  uint32_t round, int want_score, fr_update *up,
                                  fr_error *err);

#endif
