/* ncf_internal.h - what the files of the implicit-feedback trainer share: the run and
 * per-thread state (train_ncf.c), the graph-guided clients and server (ncf_graph.c) and
 * the centralized trainer (ncf_central.c). Not a public interface.
 *
 * Dimension letters: K embedding width, N items, S scorer parameters, B batch, E a
 * client's examples, R its touched rows, T text-feature width. */
#ifndef FEDREC_NCF_INTERNAL_H
#define FEDREC_NCF_INTERNAL_H

#include <stdint.h>

#include "fedrec/config.h"
#include "fedrec/dataset.h"
#include "fedrec/engine.h"
#include "fedrec/graph_agg.h"
#include "fedrec/history.h"
#include "fedrec/ncf.h"
#include "fedrec/params.h"
#include "fedrec/rank_eval.h"
#include "fedrec/status.h"

enum { ALG_FEDAVG, ALG_PFEDREC, ALG_GPFEDREC, ALG_UFGRAPH, ALG_CENTRAL };

/* One thread's scratch. */
typedef struct ncf_slot {
    fr_ncf_work *work;
    int32_t *ex_item;      /* [E] a client's examples: item, label */
    float *ex_label;       /* [E] */
    int32_t *order;        /* [E] */
    int32_t *rows;         /* [R] touched items ascending */
    int32_t *local_of;     /* [N] item -> row of table (-1: not touched) */
    float *table;          /* [R x K] the client's copy of its touched rows */
    uint8_t *seen;         /* [N] the user's items */
    float *q, *u, *dq, *du, *z, *dz, *y; /* [B x K] x4, [B] x3 */
    int32_t *bl;           /* [B] batch rows of table */
    float *sc, *ds;        /* [S] scorer copy and gradient */
    float *p, *dp;         /* [K] user vector and gradient */
    /* graph-guided clients (gpfedrec, ufgraphfr) */
    float *anchor;         /* [R x K] the client's R_i on its rows */
    float *pull;           /* [R x K] this batch's pull toward anchor */
    float *jw;             /* [T x K + K] ufgraphfr: the joint layer W, then b */
    int32_t *ev_item;      /* [N] evaluation: candidate rows to mix, ascending */
    float *ev_rows;        /* [N x K] their R_i rows */
    const float *v;        /* [T] ufgraphfr: the user's text features */
} ncf_slot;

typedef struct ncf_run {
    const fr_config *c;
    int alg;
    fr_dataset ds;
    fr_ncf_cfg nc;
    int32_t K, N, S, B;
    int user_vec;                 /* the scorer reads a user vector */
    int graph;                    /* gpfedrec or ufgraphfr: graph-guided aggregation */
    fr_graph_agg agg;             /* the server's graph state over n_clients users */
    int32_t *gidx;                /* [n_users] user -> graph index (-1: not a client) */
    fr_sparse_rows *d_in;         /* [n_clients] a round's uploaded changes */
    double *keep;                 /* [n_clients] graph.tables = dense: the fraction of G
                                   * a client's untrained rows still hold */
    float *gx;                    /* [n_clients x gdim] ufgraphfr: uploaded joint layers */
    fr_graph_mix_mode mix;        /* graph.mix */
    uint32_t pre_round;           /* the round pre_req/pre_out were made for (0: none) */
    fr_sparse_rows *pre_req;      /* [n_clients] the rows each client trains in pre_round */
    int32_t **pre_rows;           /* [n_clients][pre_cap] their storage */
    float **pre_out;              /* [n_clients][rows x K] their R_i, made by the server */
    int32_t *pre_cap;             /* [n_clients] rows the buffers hold */
    float *ev_all;                /* [n_clients x N x K] an evaluation's R_i (age 1), whole */
    int ev_ready;                 /* ev_all holds this evaluation's rows */
    int64_t gdim;                 /* T x K */
    int64_t gvec_off;             /* offset of graph_vector in params (-1: none) */
    float *feat;                  /* [n_users x T] ufgraphfr: text features */
    int32_t T;
    float *jws;                   /* [n_users x (T K + K)] ufgraphfr: local joint layers */
    int32_t *n_batches;           /* [n_users] local steps of the user's latest round */
    double pull;                  /* item_lr x reg x 2 / (N K): a step's pull toward R_i */
    int start_personal;           /* graph.start = personal */
    int torch_bce;                /* train.bce = torch */
    fr_param_layout layout;       /* item_embedding [N x K] row-sparse (+ scorer [S]) */
    float *params;
    int64_t scorer_off;           /* -1 when the scorer is not global */
    float *uvec;                  /* [n_users x K] user vectors (local, or central's table) */
    float *scorers;               /* [n_users x S] pfedrec's local scorers */
    int32_t *p_n;                 /* [n_users] a user's trained rows (-1: never trained) */
    int32_t **p_rows;             /* [n_users][p_n] ascending */
    float **p_val;                /* [n_users][p_n x K] */
    int32_t *clients;             /* users with a training item and a held-out pair */
    int32_t n_clients;
    int64_t max_ex, max_rows;
    double lr, user_lr, item_lr;
    int threads;
    ncf_slot *slot;
    /* the papers report the test figures of the round with the best validation HR@10:
     * every validation also tests, and these keep the figures of the kept round */
    float *g_start;               /* [layout size] the global table the latest round's
                                     clients started from (their untouched rows) */
    uint32_t g_round;             /* that round (0: none yet) */
    int have_best;
    double best_key;
    fr_rank_eval_result best_test, best_valid, last_test, last_valid;
} ncf_run;

/* train_ncf.c */
int ncf_cmp_i32(const void *a, const void *b);
/* The examples of one round (positives each followed by its negatives) and the rows
 * they touch; *n_ex examples, *n_rows rows (ascending in s->rows, local_of set). */
fr_status ncf_build_examples(ncf_slot *s, const ncf_run *r, fr_user_view v, uint32_t round,
                             int64_t *n_ex, int32_t *n_rows, fr_error *err);
/* Validation and test of the current model (engine.h's validate). */
fr_status ncf_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err);

/* ncf_graph.c */
fr_status ncf_load_features(ncf_run *r, const fr_config *c, fr_error *err);
void ncf_joint_forward(ncf_slot *s, const ncf_run *r);
void ncf_joint_step(ncf_slot *s, const ncf_run *r);
fr_status ncf_server_update(void *ctx, float *params, const fr_update *const *ups,
                            const double *weights, int32_t n, uint32_t round, fr_error *err);
/* s->p = the user's vector from its stored joint layer (s->v, s->jw loaded). */
void ncf_joint_load(ncf_slot *s, const ncf_run *r, int32_t user);
/* The rows a graph client holds for cands[n] but did not train, into s->ev_item (sorted,
 * unique; the count is returned) and s->ev_rows. */
double ncf_graph_keep(const ncf_run *r, int32_t user);
/* s->anchor [nr x K] = the client's R_i rows s->rows when the server made them for this
 * round (ncf_server_update); 0 when it did not (then fr_graph_agg_rows). */
int ncf_graph_prepared(ncf_slot *s, const ncf_run *r, int32_t user, uint32_t round, int32_t nr);
/* Before an evaluation: every client's whole R_i of the step its latest round used, at
 * once (fr_graph_agg_rows_all), when graph.mix takes it on and n_clients x N x K floats
 * fit in a quarter of the machine's memory (2 GiB where that is unknown); else each
 * score call mixes its own rows. */
fr_status ncf_graph_eval_prepare(ncf_run *r, fr_error *err);
int32_t ncf_graph_rows(ncf_slot *s, const ncf_run *r, int32_t user, const int32_t *cands,
                       int32_t n);

/* ncf_central.c */
fr_status ncf_train_central(ncf_run *r, fr_history *h, int progress, fr_fl_outcome *out,
                            fr_error *err);

#endif
