/* graph_agg.h - the server's state for graph-guided aggregation of item tables
 * (GPFedRec, Zhang et al. KDD 2024; UFGraphFR, Wang et al. 2025, eq. 15-17), kept sparse.
 *
 * A round starts from one shared table G. Client i returns the change D_i of the rows it
 * trained (its table is A_i = G + D_i, every other row G). One step of the server:
 *   1. the user-relation graph S'' (graph.h): from the whole tables A_i (GPFedRec), or
 *      from vectors the clients send (UFGraphFR: the flattened joint layer, eq. 15);
 *   2. each user's own aggregate R_i = sum_j S''_ij A_j = G + sum_j S''_ij D_j (eq. 16),
 *      kept implicitly: rows are computed when a client or an evaluation asks for them;
 *   3. the next shared table G' = sum_i w_i R_i = G + sum_j c_j D_j (eq. 17) with
 *      FR_GLOBAL_MEAN: w_i = 1/n (c_j = the column mean of S'', the published code), or
 *      FR_GLOBAL_DEGREE: w_i = deg_i / sum deg (deg_i = user i's neighbour count).
 * The state keeps two generations (the newest step's and the one before), because a
 * client trained in round t used the R_i of the step before, and its evaluation after
 * step t needs those rows again.
 *
 * Cost per step: the graph (graph.h), copying the changes, and G' in
 * O(sum_j rows_j x k + N k); a request for R_i's rows costs O(sum over i's neighbours of
 * (requested + their rows) + matches x k); every user's requests at once
 * (fr_graph_agg_rows_all) cost O(sum over items of changers x askers x k) and n x n
 * floats. Never a users x users x items product.
 *
 * Leaves out: mp_layers > 1 (propagating R again through S), noise on the tables, and
 * users that join after the first step (n is fixed).
 *
 * Determinism: everything is summed in a fixed order (neighbours ascending, users
 * ascending); fr_graph_build(_tables), the item index and fr_graph_mix_all run threads,
 * and all are thread-invariant.
 */
#ifndef FEDREC_GRAPH_AGG_H
#define FEDREC_GRAPH_AGG_H

#include <stdint.h>
#include "fedrec/graph.h"
#include "fedrec/item_index.h"
#include "fedrec/status.h"

typedef enum fr_graph_global { FR_GLOBAL_MEAN, FR_GLOBAL_DEGREE } fr_graph_global;

/* One step's outcome. */
typedef struct fr_graph_gen {
    int ready;          /* 0 until a step filled it */
    fr_graph g;
    fr_sparse_rows *d;  /* [n] views of rows/val below */
    int32_t **rows;     /* [n][cap] */
    float **val;        /* [n][cap x k] */
    int32_t *cap;       /* [n] */
    float *base;        /* [N x k] the G of that step (A_j = base + D_j) */
    fr_item_index ix;   /* d regrouped by item, when ix_ready */
    int ix_ready;
} fr_graph_gen;

typedef struct fr_graph_agg {
    int32_t n, k;
    int64_t N;
    fr_graph_opts opts;
    fr_graph_global global;
    fr_graph_gen gen[2];
    int newest;         /* index into gen of the newest step (the other is the one before) */
    int32_t steps;
    double *acc;        /* [N x k] scratch for G' */
    double *c;          /* [n] scratch: G' weights */
    /* dense mode (fr_graph_agg_dense): */
    int dense;
    float *A;           /* [n x N x k] each user's whole table after its latest round */
    float *R;           /* [n x N x k] each user's R_i from the newest step */
} fr_graph_agg;

/* n users, tables [N x k]. a owns everything it allocates; fr_graph_agg_free releases
 * it (also after a failed init). Errors: FR_ERR_USAGE for n, N or k < 1; FR_ERR_NOMEM. */
fr_status fr_graph_agg_init(fr_graph_agg *a, int32_t n, int64_t N, int32_t k,
                            const fr_graph_opts *o, fr_graph_global global, fr_error *err);
void fr_graph_agg_free(fr_graph_agg *a);

/* One server step. table [N x k] holds G on entry and G' on return; d[n] are the
 * users' changes relative to G (rows ascending, n_rows 0 for a user absent this round),
 * copied in. x [n x dim] are the vectors the graph is built from, or NULL to build it
 * from the tables G + D_i. On failure table is unchanged, the newest generation is
 * marked not ready and err says why (fr_graph_build's errors). */
fr_status fr_graph_agg_step(fr_graph_agg *a, float *table, const fr_sparse_rows *d,
                            const float *x, int64_t dim, fr_error *err);

/* out [n_req x k] = rows req (ascending) of R_i from the newest step (age 0) or the one
 * before (age 1). Returns 0 and writes nothing when that step has not happened. In
 * dense mode age 0 reads the kept R_i, and age 1 is not kept (0). */
int fr_graph_agg_rows(const fr_graph_agg *a, int age, int32_t i, const int32_t *req,
                      int32_t n_req, float *out);

/* How fr_graph_agg_rows_all computes many users' rows: by fr_graph_mix_all when
 * fr_graph_mix_all_pays says it is cheaper (AUTO), always (ITEMS), or never (USERS: the
 * users then ask fr_graph_agg_rows one by one). The results are the same bits. */
typedef enum fr_graph_mix_mode { FR_MIX_AUTO, FR_MIX_ITEMS, FR_MIX_USERS } fr_graph_mix_mode;

/* out[i] [req[i].n_rows x k] = fr_graph_agg_rows(a, age, i, req[i].rows, ...) for every
 * user i at once, when the mode (and for AUTO the cost estimate) picks fr_graph_mix_all;
 * *done says whether it did. *done is 0 without error before that step, in dense
 * mode, when the mode declines, and when a change is not finite (the per-user form
 * handles that). The step's changes regrouped by item (item_index.h) are kept for the
 * next call. Errors: FR_ERR_NOMEM, FR_ERR_USAGE (a row out of range). */
fr_status fr_graph_agg_rows_all(fr_graph_agg *a, int age, const fr_sparse_rows *req,
                                float *const *out, fr_graph_mix_mode mode, int threads,
                                int *done, fr_error *err);

/* Dense mode: the published GPFedRec/UFGraphFR code, kept to measure what the sparse
 * form above gives up. There a client uploads its whole table, including the rows its
 * pull toward R_i moved without training them, so A_i carries the user's R_i from round
 * to round. The server keeps every user's A_i and R_i densely ([n x N x k] each) and
 * reconstructs A_i from what the client sends: the trained rows (G + D_i) and keep_i,
 * the fraction of G its other rows still hold (those rows are
 * R_i + keep_i (G - R_i), R_i the one it trained against; G before the first step).
 * Then the graph (from the flattened A_i, or from x), R_i = sum_j S''_ij A_j, and
 * G' = sum_i w_i R_i (w as above) in double. Cost per step: the graph's n x n x N k
 * product, n x neighbours x N k for R, and 2 n N k floats of memory: the users x users
 * x items product the sparse form avoids. fr_graph_agg_dense switches a freshly
 * initialised state to this mode (FR_ERR_NOMEM if the tables do not fit) and frees the
 * sparse generations' base tables it does not use. The step
 * runs `threads` OpenMP threads over users and elements; results do not depend on it. */
fr_status fr_graph_agg_dense(fr_graph_agg *a, fr_error *err);
fr_status fr_graph_agg_step_dense(fr_graph_agg *a, float *table, const fr_sparse_rows *d,
                                  const double *keep, const float *x, int64_t dim, int threads,
                                  fr_error *err);
/* Dense mode: out [n_req x k] = rows req of user i's table A_i after its latest round.
 * Returns 0 and writes nothing before the first step or outside dense mode. */
int fr_graph_agg_table_rows(const fr_graph_agg *a, int32_t i, const int32_t *req, int32_t n_req,
                            float *out);

#endif
