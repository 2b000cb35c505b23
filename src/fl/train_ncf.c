/* train_ncf.c - implicit-feedback recommenders end to end (issue 5): FedMF and FedNCF
 * (train.algorithm = fedavg with model.scorer = dot or mlp), PFedRec (pfedrec, affine
 * scorer), GPFedRec and UFGraphFR (gpfedrec, ufgraphfr: graph-guided aggregation,
 * graph_agg.h; docs/implicit.md gives their equations and the one deviation), and
 * centralized training of the same scorer (central), all evaluated the same way.
 *
 * Protocol (PFedRec/GPFedRec's code, Zhang et al. 2023/2024): ratings are clicks;
 * leave-one-out by time (ranking.h); a client trains on its training items, each with
 * train.negatives negatives drawn uniformly from the items it never touched (redrawn
 * every round), shuffled, in batches of train.batch_size, train.client_epochs epochs of
 * plain SGD with mean BCE per batch. Learning rates as their code: the scorer's
 * client_lr, the user vector's client_lr*(lr_eta - 1), the item rows'
 * client_lr*(items*lr_eta - 1) (a row sees few examples of a batch; the maintainers'
 * explanation). What is whose:
 *   fedavg   user vector local (kept between rounds); item table and scorer global,
 *            replaced by the server's at the start of a round;
 *   pfedrec  no user vector; the affine scorer local; the item table global on arrival
 *            and tuned locally; each batch first steps the scorer, then (a second
 *            forward) the items: PFedRec's dual personalization.
 *   gpfedrec user vector and scorer local; item rows start from the shared table (or
 *            R_i) and every step pulls them toward the client's R_i (graph.reg);
 *   ufgraphfr the same, with the user vector computed by a local joint layer over the
 *            user's text features (u = v W + b), whose W is uploaded for the graph.
 * A client uploads the item rows it touched (its items and negatives) and, for fedavg,
 * the scorer; the engine (engine.h) averages, uniformly in the papers' configs.
 * Evaluation, as their code, uses each user's own model after its last local training:
 * its user vector, its scorer (pfedrec) and the item rows it trained; rows it never
 * trained are those of the table the latest round started from (exactly their code's
 * when every client trains every round; with fewer, a client's own starting table may
 * be older). Central: one user table, one item table and
 * one scorer trained with Adam on all users' examples.
 * Leaves out: differential-privacy noise on the item rows, UFGraphFR's user tower and
 * item transformer block. By default the graph sees only the rows a client trained
 * (docs/implicit.md: the deviation); graph.tables = dense keeps the published code's
 * whole tables on the server instead (graph_agg.h).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/checkpoint.h"
#include "fedrec/engine.h"
#include "fedrec/fileio.h"
#include "fedrec/graph_agg.h"
#include "fedrec/loss.h"
#include "fedrec/ncf.h"
#include "fedrec/nn.h"
#include "fedrec/optim.h"
#include "fedrec/rank_eval.h"
#include "fedrec/ranking.h"
#include "fedrec/timer.h"
#include "fedrec/train.h"
#include "ncf_internal.h"
#include "train_internal.h"

static void slot_free(ncf_slot *s) {
    fr_ncf_work_destroy(s->work);
    void *p[] = { s->ex_item, s->ex_label, s->order, s->rows, s->local_of, s->table, s->seen,
                  s->q, s->u, s->dq, s->du, s->z, s->dz, s->y, s->bl, s->sc, s->ds, s->p, s->dp,
                  s->anchor, s->pull, s->jw, s->ev_item, s->ev_rows };
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) fr_free(p[i]);
}

static void run_free(ncf_run *r) {
    if (r->slot)
        for (int t = 0; t < r->threads; t++) slot_free(&r->slot[t]);
    fr_free(r->slot);
    if (r->p_rows)
        for (int32_t u = 0; u < r->ds.n_users; u++) {
            fr_free(r->p_rows[u]);
            fr_free(r->p_val[u]);
        }
    fr_free(r->p_rows);
    fr_free(r->p_val);
    fr_free(r->p_n);
    if (r->alg != ALG_CENTRAL) fr_free(r->uvec);
    fr_graph_agg_free(&r->agg);
    fr_free(r->gidx);
    fr_free(r->d_in);
    if (r->pre_rows)
        for (int32_t i = 0; i < r->n_clients; i++) fr_free(r->pre_rows[i]);
    fr_free(r->pre_rows);
    if (r->pre_out)
        for (int32_t i = 0; i < r->n_clients; i++) fr_free(r->pre_out[i]);
    fr_free(r->pre_req);
    fr_free(r->pre_out);
    fr_free(r->pre_cap);
    fr_free(r->ev_all);
    fr_free(r->gx);
    fr_free(r->feat);
    fr_free(r->jws);
    fr_free(r->n_batches);
    fr_free(r->keep);
    fr_free(r->scorers);
    fr_free(r->params);
    fr_free(r->g_start);
    fr_free(r->clients);
    fr_dataset_free(&r->ds);
}

static fr_status slot_init(ncf_slot *s, const ncf_run *r, fr_error *err) {
    const int64_t E = r->max_ex, B = r->B, K = r->K;
    fr_status st = fr_ncf_work_create(&s->work, &r->nc, B, err);
    if (st != FR_OK) return st;
    s->ex_item = fr_alloc((size_t)E, sizeof(int32_t));
    s->ex_label = fr_alloc((size_t)E, sizeof(float));
    s->order = fr_alloc((size_t)E, sizeof(int32_t));
    s->rows = fr_alloc((size_t)r->max_rows, sizeof(int32_t));
    s->local_of = fr_alloc((size_t)r->N, sizeof(int32_t));
    s->table = fr_alloc((size_t)(r->max_rows * K), sizeof(float));
    s->seen = fr_calloc((size_t)r->N, 1);
    s->q = fr_alloc((size_t)(B * K), sizeof(float));
    s->u = fr_alloc((size_t)(B * K), sizeof(float));
    s->dq = fr_alloc((size_t)(B * K), sizeof(float));
    s->du = fr_alloc((size_t)(B * K), sizeof(float));
    s->z = fr_alloc((size_t)B, sizeof(float));
    s->dz = fr_alloc((size_t)B, sizeof(float));
    s->y = fr_alloc((size_t)B, sizeof(float));
    s->bl = fr_alloc((size_t)B, sizeof(int32_t));
    s->sc = fr_alloc((size_t)r->S + 1, sizeof(float));
    s->ds = fr_alloc((size_t)r->S + 1, sizeof(float));
    s->p = fr_alloc((size_t)K, sizeof(float));
    s->dp = fr_alloc((size_t)K, sizeof(float));
    if (r->graph) {
        s->anchor = fr_alloc((size_t)(r->max_rows * K), sizeof(float));
        s->pull = fr_alloc((size_t)(r->max_rows * K), sizeof(float));
        s->jw = fr_alloc((size_t)r->gdim + (size_t)K, sizeof(float));
        s->ev_item = fr_alloc((size_t)r->N, sizeof(int32_t));
        s->ev_rows = fr_alloc((size_t)r->N * (size_t)K, sizeof(float));
        if (!s->anchor || !s->pull || !s->jw || !s->ev_item || !s->ev_rows)
            return fr_nomem(err, "graph client work space", (size_t)r->N * K * 4);
    }
    if (!s->ex_item || !s->ex_label || !s->order || !s->rows || !s->local_of || !s->table ||
        !s->seen || !s->q || !s->u || !s->dq || !s->du || !s->z || !s->dz || !s->y || !s->bl ||
        !s->sc || !s->ds || !s->p || !s->dp)
        return fr_nomem(err, "client work space", (size_t)(E * 12 + r->max_rows * K * 4));
    for (int32_t i = 0; i < r->N; i++) s->local_of[i] = -1;
    return FR_OK;
}

/* ---- set-up ---- */

static fr_status run_init(ncf_run *r, const fr_config *c, int threads, fr_error *err) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->threads = threads;
    r->alg = strcmp(c->algorithm, "pfedrec") == 0     ? ALG_PFEDREC
             : strcmp(c->algorithm, "gpfedrec") == 0  ? ALG_GPFEDREC
             : strcmp(c->algorithm, "ufgraphfr") == 0 ? ALG_UFGRAPH
             : strcmp(c->algorithm, "central") == 0   ? ALG_CENTRAL
                                                      : ALG_FEDAVG;
    r->graph = r->alg == ALG_GPFEDREC || r->alg == ALG_UFGRAPH;
    if (strcmp(c->algorithm, "fedrecon") == 0)
        return fr_fail(err, FR_ERR_USAGE, "model ncf: train.algorithm must be fedavg, pfedrec "
                       "or central (fedrecon is R1's explicit-rating algorithm)");
    fr_ncf_scorer sc = strcmp(c->scorer, "dot") == 0      ? FR_NCF_DOT
                       : strcmp(c->scorer, "affine") == 0 ? FR_NCF_AFFINE
                                                          : FR_NCF_MLP;
    if (r->alg == ALG_PFEDREC && sc != FR_NCF_AFFINE)
        return fr_fail(err, FR_ERR_USAGE, "train.algorithm = pfedrec needs model.scorer = affine "
                       "(PFedRec's score function has no user vector; got '%s')", c->scorer);
    if (r->graph && sc == FR_NCF_AFFINE)
        return fr_fail(err, FR_ERR_USAGE, "train.algorithm = %s needs a scorer with a user "
                       "vector (model.scorer = mlp or dot)", c->algorithm);
    if (r->graph && (c->clients_fraction < 1.0 || strcmp(c->mode, "sync") != 0))
        return fr_fail(err, FR_ERR_USAGE, "train.algorithm = %s builds its graph over every "
                       "user each round: it needs train.clients_fraction = 1 and train.mode = "
                       "sync", c->algorithm);
    const int32_t K = c->dim, hidden[3] = { K, K / 2 > 0 ? K / 2 : 1, K / 4 > 0 ? K / 4 : 1 };
    fr_status st = fr_ncf_cfg_init(&r->nc, sc, K, hidden, c->mlp_layers, c->mlp_relu, err);
    if (st != FR_OK) return st;
    st = fr_experiment_data(c, &r->ds, err);
    if (st != FR_OK) return st;
    r->K = K;
    r->N = r->ds.n_items;
    r->S = (int32_t)fr_ncf_scorer_size(&r->nc);
    r->B = c->batch_size;
    r->user_vec = sc != FR_NCF_AFFINE;
    r->torch_bce = strcmp(c->bce, "torch") == 0;
    r->lr = c->client_lr;
    r->user_lr = c->client_lr * (c->lr_eta - 1.0);
    r->item_lr = c->client_lr * ((double)r->N * c->lr_eta - 1.0);
    const int32_t U = r->ds.n_users;
    if (r->alg == ALG_UFGRAPH) {
        st = ncf_load_features(r, c, err);
        if (st != FR_OK) return st;
    }
    /* layout: the item table, then the scorer when it is shared, then (ufgraphfr) the
     * joint layer each client uploads for the graph */
    fr_layout_add(&r->layout, "item_embedding", r->N, K, FR_SCOPE_GLOBAL, 1);
    const int local_scorer = r->alg == ALG_PFEDREC || r->graph;
    const int shared_scorer = !local_scorer && r->S > 0;
    int ts = shared_scorer ? fr_layout_add(&r->layout, "scorer", 1, r->S, FR_SCOPE_GLOBAL, 0) : -1;
    r->scorer_off = ts >= 0 ? r->layout.t[ts].offset : -1;
    r->gdim = (int64_t)r->T * K;
    int tg = r->alg == ALG_UFGRAPH ? fr_layout_add(&r->layout, "graph_vector", 1, r->gdim,
                                                   FR_SCOPE_GLOBAL, 0) : -1;
    r->gvec_off = tg >= 0 ? r->layout.t[tg].offset : -1;
    r->start_personal = strcmp(c->graph_start, "personal") == 0;
    r->pull = r->item_lr * c->graph_reg * 2.0 / ((double)r->N * K);
    /* central trains params and the user table as one vector: users follow params */
    const size_t extra = r->alg == ALG_CENTRAL ? (size_t)U * (size_t)K : 0;
    r->params = fr_alloc((size_t)r->layout.size + extra, sizeof(float));
    r->uvec = r->alg == ALG_CENTRAL ? (r->params ? r->params + r->layout.size : NULL)
                                    : fr_alloc((size_t)U * (size_t)K, sizeof(float));
    r->scorers = local_scorer ? fr_alloc((size_t)U * (size_t)r->S + 1, sizeof(float)) : NULL;
    r->p_n = fr_alloc((size_t)U, sizeof(int32_t));
    r->g_start = r->alg == ALG_CENTRAL ? NULL : fr_alloc((size_t)r->layout.size, sizeof(float));
    r->p_rows = fr_calloc((size_t)U, sizeof(int32_t *));
    r->p_val = fr_calloc((size_t)U, sizeof(float *));
    r->clients = fr_alloc((size_t)U, sizeof(int32_t));
    if (!r->params || !r->uvec || (local_scorer && !r->scorers) || !r->p_n ||
        (r->alg != ALG_CENTRAL && !r->g_start) ||
        !r->p_rows || !r->p_val || !r->clients)
        return fr_nomem(err, "model and client state", (size_t)r->layout.size * 4);
    /* every client starts from one template (their code's deepcopy): N(0, 1) items and
     * user vectors, as nn.Embedding; the scorer as nn.Linear */
    fr_rng rng;
    fr_rng_init(&rng, c->seed, 0, 0, FR_PURPOSE_INIT_GLOBAL);
    for (int64_t i = 0; i < (int64_t)r->N * K; i++) r->params[i] = (float)fr_rng_normal(&rng);
    float *tmpl = fr_alloc((size_t)K + (size_t)r->S + 1, sizeof(float));
    if (!tmpl) return fr_nomem(err, "template", (size_t)K * 4);
    for (int32_t k = 0; k < K; k++) tmpl[k] = (float)fr_rng_normal(&rng);
    fr_ncf_scorer_init(&r->nc, tmpl + K, &rng);
    if (shared_scorer) memcpy(r->params + r->scorer_off, tmpl + K, (size_t)r->S * sizeof(float));
    if (r->alg == ALG_UFGRAPH) { /* the joint layer as nn.Linear(T, K), one template */
        const size_t jn = (size_t)r->gdim + (size_t)K;
        r->jws = fr_alloc((size_t)U * jn, sizeof(float));
        if (!r->jws) return fr_nomem(err, "joint layers", (size_t)U * jn * 4);
        const double bound = 1.0 / sqrt((double)r->T);
        for (size_t e = 0; e < jn; e++) r->jws[e] = (float)((2.0 * fr_rng_uniform(&rng) - 1.0) * bound);
        for (int32_t u = 1; u < U; u++) memcpy(r->jws + (size_t)u * jn, r->jws, jn * sizeof(float));
    }
    for (int32_t u = 0; u < U; u++) {
        if (r->alg == ALG_CENTRAL) { /* a table of users: each its own draw */
            fr_rng ur;
            fr_rng_init(&ur, c->seed, 0, (uint32_t)u, FR_PURPOSE_INIT_LOCAL);
            for (int32_t k = 0; k < K; k++) r->uvec[(int64_t)u * K + k] = (float)fr_rng_normal(&ur);
        } else {
            memcpy(r->uvec + (int64_t)u * K, tmpl, (size_t)K * sizeof(float));
        }
        if (r->scorers) memcpy(r->scorers + (int64_t)u * r->S, tmpl + K, (size_t)r->S * sizeof(float));
        r->p_n[u] = -1;
    }
    fr_free(tmpl);
    /* clients: users with at least one training item (and the held-out pair) */
    r->max_ex = 1;
    r->max_rows = 1;
    for (int32_t u = 0; u < U; u++) {
        fr_loo l = fr_loo_split(fr_dataset_user(&r->ds, u));
        if (l.valid < 0 || l.n_train < 1) continue;
        r->clients[r->n_clients++] = u;
        const int64_t e = l.n_train * (1 + (int64_t)c->negatives);
        r->max_ex = e > r->max_ex ? e : r->max_ex;
    }
    r->max_rows = r->max_ex < r->N ? r->max_ex : r->N;
    if (r->n_clients == 0)
        return fr_fail(err, FR_ERR_INPUT, "%s: no user has the three interactions leave-one-out needs",
                       r->ds.source);
    if (r->graph) {
        fr_graph_opts go = { strcmp(c->graph_similarity, "distance") == 0 ? FR_GRAPH_COSINE_DISTANCE
                                                                          : FR_GRAPH_COSINE,
                             c->graph_top_n, c->graph_threshold,
                             strcmp(c->graph_weights, "similarity") == 0 ? FR_GRAPH_SIMILARITY
                                                                         : FR_GRAPH_UNIFORM,
                             c->graph_self_loop, 0 };
        if (go.top_n >= r->n_clients)
            return fr_fail(err, FR_ERR_USAGE, "graph.top_n = %d, but there are only %d clients "
                           "(at most %d neighbours each)", go.top_n, r->n_clients, r->n_clients - 1);
        st = fr_graph_agg_init(&r->agg, r->n_clients, r->N, K, &go,
                               strcmp(c->graph_global, "degree") == 0 ? FR_GLOBAL_DEGREE
                                                                      : FR_GLOBAL_MEAN, err);
        if (st == FR_OK && strcmp(c->graph_tables, "dense") == 0) st = fr_graph_agg_dense(&r->agg, err);
        if (st != FR_OK) return st;
        r->gidx = fr_alloc((size_t)U, sizeof(int32_t));
        r->d_in = fr_calloc((size_t)r->n_clients, sizeof(fr_sparse_rows));
        r->n_batches = fr_calloc((size_t)U, sizeof(int32_t));
        r->keep = fr_calloc((size_t)r->n_clients, sizeof(double));
        r->mix = strcmp(c->graph_mix, "items") == 0   ? FR_MIX_ITEMS
                 : strcmp(c->graph_mix, "users") == 0 ? FR_MIX_USERS
                                                      : FR_MIX_AUTO;
        r->pre_req = fr_calloc((size_t)r->n_clients, sizeof(fr_sparse_rows));
        r->pre_out = fr_calloc((size_t)r->n_clients, sizeof(float *));
        r->pre_rows = fr_calloc((size_t)r->n_clients, sizeof(int32_t *));
        r->pre_cap = fr_calloc((size_t)r->n_clients, sizeof(int32_t));
        r->gx = r->alg == ALG_UFGRAPH ? fr_alloc((size_t)r->n_clients * (size_t)r->gdim, sizeof(float))
                                      : NULL;
        if (!r->gidx || !r->d_in || !r->n_batches || !r->keep || !r->pre_req || !r->pre_out || !r->pre_rows ||
            !r->pre_cap || (r->alg == ALG_UFGRAPH && !r->gx))
            return fr_nomem(err, "graph round state", (size_t)r->n_clients * (size_t)r->gdim * 4);
        for (int32_t u = 0; u < U; u++) r->gidx[u] = -1;
        for (int32_t i = 0; i < r->n_clients; i++) r->gidx[r->clients[i]] = i;
    }
    r->slot = fr_calloc((size_t)threads, sizeof(ncf_slot));
    if (!r->slot) return fr_nomem(err, "client slots", (size_t)threads * sizeof(ncf_slot));
    for (int t = 0; t < threads && st == FR_OK; t++) st = slot_init(&r->slot[t], r, err);
    return st;
}

/* ---- a client's round ---- */

int ncf_cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The examples of one round (positives each followed by its negatives) and the rows
 * they touch; returns the number of examples, *n_rows the rows (ascending in s->rows,
 * local_of set). */
fr_status ncf_build_examples(ncf_slot *s, const ncf_run *r, fr_user_view v, uint32_t round,
                                int64_t *n_ex, int32_t *n_rows, fr_error *err) {
    const fr_loo l = fr_loo_split(v);
    const int32_t negs = r->c->negatives;
    for (int64_t j = 0; j < v.n; j++) s->seen[v.item[j]] = 1;
    int64_t e = 0;
    fr_status st = FR_OK;
    if ((int64_t)r->N - v.n < 1) {
        st = fr_fail(err, FR_ERR_INPUT, "%s: user %d has interacted with every item; no "
                     "negative is left to sample", r->ds.source, v.user);
    } else {
        fr_rng rng;
        fr_rng_init(&rng, r->c->seed, round, (uint32_t)v.user, FR_PURPOSE_NEGATIVES);
        for (int64_t j = 0; j < l.n_train; j++) {
            s->ex_item[e] = v.item[j];
            s->ex_label[e++] = 1.0f;
            for (int32_t k = 0; k < negs; k++) {
                int32_t x;
                do x = (int32_t)fr_rng_below(&rng, (uint32_t)r->N);
                while (s->seen[x]);
                s->ex_item[e] = x;
                s->ex_label[e++] = 0.0f;
            }
        }
    }
    for (int64_t j = 0; j < v.n; j++) s->seen[v.item[j]] = 0;
    if (st != FR_OK) return st;
    int32_t nr = 0;
    for (int64_t i = 0; i < e; i++)
        if (s->local_of[s->ex_item[i]] < 0) {
            s->local_of[s->ex_item[i]] = 0;
            s->rows[nr++] = s->ex_item[i];
        }
    if ((int64_t)nr * 16 >= r->N) { /* dense enough: read the marks in item order */
        nr = 0;
        for (int32_t i = 0; i < r->N; i++)
            if (s->local_of[i] == 0) s->rows[nr++] = i;
    } else {
        qsort(s->rows, (size_t)nr, sizeof(int32_t), ncf_cmp_i32);
    }
    for (int32_t i = 0; i < nr; i++) s->local_of[s->rows[i]] = i;
    *n_ex = e;
    *n_rows = nr;
    return FR_OK;
}

/* One batch: forward, BCE, backward; with step_scorer the scorer steps (and, for a
 * pfedrec first pass, nothing else). Returns the batch's summed loss. */
static double batch_step(ncf_slot *s, const ncf_run *r, int64_t b0, int64_t b1, int pass) {
    const int32_t K = r->K;
    const int64_t n = b1 - b0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t ex = s->order[b0 + i];
        s->bl[i] = s->local_of[s->ex_item[ex]];
        s->y[i] = s->ex_label[ex];
        memcpy(s->q + i * K, s->table + (int64_t)s->bl[i] * K, (size_t)K * sizeof(float));
        if (r->user_vec) memcpy(s->u + i * K, s->p, (size_t)K * sizeof(float));
    }
    fr_ncf_forward(s->work, &r->nc, s->sc, r->user_vec ? s->u : NULL, s->q, n, s->z);
    double loss = r->torch_bce ? fr_bce_torch_f32(s->dz, s->z, s->y, n)
                               : fr_bce_logits(s->dz, s->z, s->y, n);
    /* pass 0: everything from one backward; pass 1: scorer only; pass 2: items only */
    const int want_s = pass != 2 && r->S > 0, want_items = pass != 1;
    if (want_s) memset(s->ds, 0, (size_t)r->S * sizeof(float));
    fr_ncf_backward(s->work, &r->nc, s->sc, r->user_vec ? s->u : NULL, s->q, n, s->dz,
                    want_s ? s->ds : NULL, r->user_vec && want_items ? s->du : NULL, s->dq);
    if (want_s)
        for (int32_t i = 0; i < r->S; i++) s->sc[i] -= (float)(r->lr * s->ds[i]);
    if (!want_items) return loss;
    if (r->user_vec) {
        memset(s->dp, 0, (size_t)K * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            for (int32_t k = 0; k < K; k++) s->dp[k] += s->du[i * K + k];
        if (r->alg == ALG_UFGRAPH)
            ncf_joint_step(s, r);
        else
            for (int32_t k = 0; k < K; k++) s->p[k] -= (float)(r->user_lr * s->dp[k]);
    }
    for (int64_t i = 0; i < n; i++) { /* rows repeat within a batch: their gradients add */
        float *row = s->table + (int64_t)s->bl[i] * K;
        for (int32_t k = 0; k < K; k++) row[k] -= (float)(r->item_lr * s->dq[i * K + k]);
    }
    return loss;
}

/* Keeps the client's trained rows for its evaluation. */
static fr_status keep_personal(ncf_run *r, int32_t user, const ncf_slot *s, int32_t nr,
                               fr_error *err) {
    const int32_t K = r->K;
    if (r->p_n[user] < nr) {
        fr_free(r->p_rows[user]);
        fr_free(r->p_val[user]);
        r->p_rows[user] = fr_alloc((size_t)nr, sizeof(int32_t));
        r->p_val[user] = fr_alloc((size_t)nr * (size_t)K, sizeof(float));
        if (!r->p_rows[user] || !r->p_val[user]) {
            r->p_n[user] = -1;
            return fr_nomem(err, "a client's personal item rows", (size_t)nr * (size_t)K * 4);
        }
    }
    r->p_n[user] = nr;
    memcpy(r->p_rows[user], s->rows, (size_t)nr * sizeof(int32_t));
    memcpy(r->p_val[user], s->table, (size_t)nr * (size_t)K * sizeof(float));
    return FR_OK;
}

static fr_status client_update(void *ctx, int slot, const float *params, int32_t user,
                               uint32_t round, int want_score, fr_update *up, fr_error *err) {
    ncf_run *r = ctx;
    ncf_slot *s = &r->slot[slot];
    const fr_config *c = r->c;
    const int32_t K = r->K;
    (void)want_score; /* refused before the run */
    if (r->g_round != round) { /* the first client of a round keeps its starting table */
#pragma omp critical(ncf_round_start)
        if (r->g_round != round) {
            memcpy(r->g_start, params, (size_t)r->layout.size * sizeof(float));
            r->g_round = round;
        }
    }
    fr_user_view v = fr_dataset_user(&r->ds, user);
    int64_t E;
    int32_t nr;
    fr_status st = ncf_build_examples(s, r, v, round, &E, &nr, err);
    if (st != FR_OK) return st;
    for (int32_t i = 0; i < nr; i++)
        memcpy(s->table + (int64_t)i * K, params + (int64_t)s->rows[i] * K, (size_t)K * sizeof(float));
    if (r->graph) { /* R_i on the client's rows (the round's start table before a graph) */
        if (!ncf_graph_prepared(s, r, user, round, nr) &&
            !fr_graph_agg_rows(&r->agg, 0, r->gidx[user], s->rows, nr, s->anchor))
            memcpy(s->anchor, s->table, (size_t)nr * (size_t)K * sizeof(float));
        if (r->start_personal) memcpy(s->table, s->anchor, (size_t)nr * (size_t)K * sizeof(float));
    }
    if (r->alg == ALG_UFGRAPH) {
        ncf_joint_load(s, r, user);
    } else if (r->user_vec) {
        memcpy(s->p, r->uvec + (int64_t)user * K, (size_t)K * sizeof(float));
    }
    if (r->S > 0)
        memcpy(s->sc, r->scorers ? r->scorers + (int64_t)user * r->S : params + r->scorer_off,
               (size_t)r->S * sizeof(float));
    fr_rng shuf;
    fr_rng_init(&shuf, c->seed, round, (uint32_t)user, FR_PURPOSE_SHUFFLE);
    for (int64_t i = 0; i < E; i++) s->order[i] = (int32_t)i;
    double loss = 0.0;
    int32_t steps = 0;
    const int64_t rk = (int64_t)nr * K;
    for (int32_t ep = 0; ep < c->client_epochs; ep++) {
        fr_rng_shuffle_i32(&shuf, s->order, E);
        for (int64_t b0 = 0; b0 < E; b0 += r->B, steps++) {
            const int64_t b1 = b0 + r->B < E ? b0 + r->B : E;
            if (r->alg == ALG_PFEDREC) {
                batch_step(s, r, b0, b1, 1);          /* the score function first */
                loss += batch_step(s, r, b0, b1, 2);  /* then the items, re-scored */
                continue;
            }
            /* graph clients: one loss BCE + reg mean((E - R_i)^2) over the N x K table,
             * one step: the pull on every row the client holds is taken at the same
             * point as the batch's BCE gradient */
            const int pulled = r->graph && r->pull != 0.0;
            if (pulled)
                for (int64_t e = 0; e < rk; e++) s->pull[e] = (float)(r->pull * (s->table[e] - s->anchor[e]));
            loss += batch_step(s, r, b0, b1, 0);
            if (pulled)
                for (int64_t e = 0; e < rk; e++) s->table[e] -= s->pull[e];
        }
    }
    /* upload: the touched rows' and the shared scorer's change */
    st = fr_update_reserve(up, &r->layout, nr, err);
    if (st != FR_OK) return st;
    up->n_rows = nr;
    for (int32_t i = 0; i < nr; i++) {
        up->rows[i] = s->rows[i];
        const float *g = params + (int64_t)s->rows[i] * K;
        for (int32_t k = 0; k < K; k++) up->sparse[(int64_t)i * K + k] = s->table[(int64_t)i * K + k] - g[k];
    }
    if (r->scorer_off >= 0)
        for (int32_t i = 0; i < r->S; i++) up->dense[i] = s->sc[i] - params[r->scorer_off + i];
    if (r->gvec_off >= 0) { /* ufgraphfr: the joint layer's W for the graph (not its b), with
                             * Laplace noise of scale graph.noise, as their code */
        fr_rng lap;
        fr_rng_init(&lap, c->seed, round, (uint32_t)user, FR_PURPOSE_PRIVACY);
        for (int64_t e = 0; e < r->gdim; e++) {
            float x = s->jw[e];
            if (c->graph_noise > 0.0) {
                double u = fr_rng_uniform(&lap) - 0.5;
                if (u <= -0.5) u = 0.0; /* ln 0: a 2^-53 event */
                x += (float)(-c->graph_noise * (u < 0 ? -1.0 : 1.0) * log1p(-2.0 * fabs(u)));
            }
            up->dense[e] = x;
        }
    }
    up->weight = (double)E;
    up->loss_sum = loss / c->client_epochs;
    up->n_examples = E;
    up->n_correct = 0;
    up->score = 0.0;
    /* what stays on the device */
    if (r->alg == ALG_UFGRAPH)
        memcpy(r->jws + (int64_t)user * (r->gdim + K), s->jw, (size_t)(r->gdim + K) * sizeof(float));
    else if (r->user_vec)
        memcpy(r->uvec + (int64_t)user * K, s->p, (size_t)K * sizeof(float));
    if (r->n_batches) r->n_batches[user] = steps;
    if (r->scorers) memcpy(r->scorers + (int64_t)user * r->S, s->sc, (size_t)r->S * sizeof(float));
    st = keep_personal(r, user, s, nr, err);
    for (int32_t i = 0; i < nr; i++) s->local_of[s->rows[i]] = -1;
    return st;
}

/* ---- evaluation ---- */

typedef struct eval_ctx {
    ncf_run *r;
    const float *params;
} eval_ctx;

/* Row of item for user: its trained row when it has one, else the row of the table
 * the latest round started from (the global one before any round). */
/* Row of item for user: its trained row when it has one; else, for a graph client, the
 * row its table holds (ev, from ncf_graph_rows); else the row of the table the latest
 * round started from (the global one before any round). */
static const float *item_row(const ncf_run *r, const ncf_slot *s, const float *params,
                             int32_t user, int32_t item, int32_t n_ev) {
    const int32_t n = r->p_n[user];
    if (n > 0) {
        const int32_t *hit = bsearch(&item, r->p_rows[user], (size_t)n, sizeof(int32_t), ncf_cmp_i32);
        if (hit) return r->p_val[user] + (int64_t)(hit - r->p_rows[user]) * r->K;
    }
    if (n_ev > 0) {
        const int32_t *at = bsearch(&item, s->ev_item, (size_t)n_ev, sizeof(int32_t), ncf_cmp_i32);
        return s->ev_rows + (int64_t)(at - s->ev_item) * r->K;
    }
    return (n > 0 ? r->g_start : params) + (int64_t)item * r->K;
}

static fr_status score_user(void *ctx, int slot, int32_t user, const int32_t *hist, int64_t len,
                            const int32_t *cands, int32_t n_cands, float *scores, fr_error *err) {
    eval_ctx *e = ctx;
    const ncf_run *r = e->r;
    ncf_slot *s = &r->slot[slot];
    const int32_t K = r->K;
    (void)hist, (void)len, (void)err;
    const int32_t n_ev = r->graph && r->p_n[user] >= 0 ? ncf_graph_rows(s, r, user, cands, n_cands) : 0;
    const float *uv = NULL; /* [K] the user vector, when the scorer reads one */
    if (r->alg == ALG_UFGRAPH) {
        ncf_joint_load(s, r, user);
        uv = s->p;
    } else if (r->user_vec) {
        uv = r->uvec + (int64_t)user * K;
    }
    const float *sc = r->scorers ? r->scorers + (int64_t)user * r->S
                      : r->scorer_off >= 0 ? e->params + r->scorer_off : NULL;
    for (int32_t b0 = 0; b0 < n_cands; b0 += r->B) {
        const int32_t n = n_cands - b0 < r->B ? n_cands - b0 : r->B;
        for (int32_t i = 0; i < n; i++) {
            memcpy(s->q + (int64_t)i * K, item_row(r, s, e->params, user, cands[b0 + i], n_ev),
                   (size_t)K * sizeof(float));
            if (uv) memcpy(s->u + (int64_t)i * K, uv, (size_t)K * sizeof(float));
        }
        fr_ncf_forward(s->work, &r->nc, sc, uv ? s->u : NULL, s->q, n, scores + b0);
    }
    return FR_OK;
}

static fr_status evaluate(ncf_run *r, const float *params, fr_eval_split split, int full,
                          fr_rank_eval_result *res, fr_error *err) {
    eval_ctx e = { r, params };
    fr_rank_eval_opts o = { split, r->c->eval_negatives, full, split == FR_EVAL_VALID ? r->c->eval_users : 0,
                            r->c->seed, r->threads, r->c->eval_paired_negatives };
    return fr_rank_eval(res, &r->ds, &o, score_user, &e, err);
}

/* Validation (sampled, and full with eval.full) and, as the papers, the test figures of
 * the same model: the client state changes every round, so the test of the kept round
 * is taken now, not after the run. */
fr_status ncf_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err) {
    ncf_run *r = ctx;
    fr_status st = r->graph ? ncf_graph_eval_prepare(r, err) : FR_OK;
    if (st == FR_OK) st = evaluate(r, params, FR_EVAL_VALID, r->c->eval_full, &r->last_valid, err);
    if (st == FR_OK) st = evaluate(r, params, FR_EVAL_TEST, r->c->eval_full, &r->last_test, err);
    r->ev_ready = 0;
    if (st != FR_OK) return st;
    out->key = fr_rank_eval_hr10(&r->last_valid);
    out->json = fr_rank_eval_json(&r->last_valid);
    if (!r->have_best || out->key > r->best_key) { /* as the engine's keep-best */
        r->have_best = 1;
        r->best_key = out->key;
        r->best_test = r->last_test;
        r->best_valid = r->last_valid;
    }
    return FR_OK;
}

/* ---- the experiment ---- */

fr_status fr_train_ncf_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                           fr_error *err) {
    double t_start = fr_now_seconds();
    if (final_out) *final_out = NULL;
    fr_status st = fr_config_validate(c, err);
    if (st != FR_OK) return st;
    if (strcmp(c->selection, "best") == 0)
        return fr_fail(err, FR_ERR_USAGE, "train.selection = best: model ncf's clients report no "
                       "validation score (use selection = none)");
    fr_blas_threads(o->threads);
    ncf_run r;
    st = run_init(&r, c, omp_get_max_threads(), err);
    char path[1200];
    fr_history h = { 0 };
    if (st == FR_OK) st = fr_mkdirs(o->out_dir, err);
    if (st == FR_OK) {
        fr_run_path(path, sizeof path, o->out_dir, "history.jsonl");
        st = fr_history_open(&h, path, err);
    }
    fr_fl_outcome fo;
    memset(&fo, 0, sizeof fo);
    if (st == FR_OK && r.alg == ALG_CENTRAL) {
        st = ncf_train_central(&r, &h, o->progress, &fo, err);
    } else if (st == FR_OK) {
        fr_fl_model fm = { .layout = &r.layout, .params = r.params, .clients = r.clients,
                           .n_clients = r.n_clients, .ctx = &r, .client_update = client_update,
                           .validate = ncf_validate, .key_name = "HR@10",
                           .server_update = r.graph ? ncf_server_update : NULL };
        st = fr_fl_run(&fm, c, r.threads, &h, o->progress, &fo, err);
    }
    cJSON *final = NULL;
    if (st == FR_OK && !r.have_best) st = fr_fail(err, FR_ERR_USAGE, "no validation ran (train.rounds = 0?)");
    const fr_rank_eval_result test = c->eval_keep_best ? r.best_test : r.last_test;
    const fr_rank_eval_result valid = c->eval_keep_best ? r.best_valid : r.last_valid;
    if (st == FR_OK) {
        final = cJSON_CreateObject();
        cJSON_AddItemToObject(final, "test", fr_rank_eval_json(&test));
        cJSON_AddItemToObject(final, "valid", fr_rank_eval_json(&valid));
        cJSON_AddStringToObject(final, "algorithm", c->algorithm);
        cJSON_AddStringToObject(final, "model", "ncf");
        cJSON_AddStringToObject(final, "scorer", c->scorer);
        cJSON_AddNumberToObject(final, r.alg == ALG_CENTRAL ? "epochs" : "rounds", fo.rounds);
        cJSON_AddNumberToObject(final, r.alg == ALG_CENTRAL ? "best_epoch" : "best_round", fo.best_round);
        cJSON_AddNumberToObject(final, "train_seconds", fo.train_seconds);
        if (r.alg != ALG_CENTRAL) {
            cJSON_AddNumberToObject(final, "client_updates", (double)fo.client_updates);
            cJSON_AddNumberToObject(final, "seconds_per_round",
                                    fo.rounds ? fo.train_seconds / fo.rounds : 0.0);
        }
        cJSON_AddNumberToObject(final, "clients", r.n_clients);
        cJSON_AddNumberToObject(final, "users", r.ds.n_users);
        cJSON_AddNumberToObject(final, "items", r.ds.n_items);
    }
    if (st == FR_OK) { /* the global tensors; client state stays on the clients */
        fr_run_path(path, sizeof path, o->out_dir, "model.safetensors");
        fr_checkpoint_info info = { "ncf", c, fo.rounds, "server_optimizer", fo.opt_m, fo.opt_v,
                                    fo.opt_steps, &r.ds };
        st = fr_checkpoint_write(path, &r.layout, r.params, &info, err);
    }
    st = fr_run_finish(st, o->out_dir, &h, final, c, t_start, final_out, err);
    fr_fl_outcome_free(&fo);
    run_free(&r);
    return st;
}
