/* ncf_graph.c - the graph-guided clients and server of GPFedRec and UFGraphFR
 * (train.algorithm = gpfedrec, ufgraphfr): the text joint layer u = v W + b (UFGraphFR
 * eq. 3), the server step over the round's uploads (graph_agg.h, eq. 15-17), and the
 * rows an evaluation sees for a client (docs/implicit.md).
 * Leaves out: what train_ncf.c lists. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedrec/alloc.h"
#include "fedrec/npy.h"
#include "fedrec/textenc.h"
#include "ncf_internal.h"

/* ufgraphfr's text features: graph.user_features (.npy, one row per dense user, i.e.
 * ascending raw user id), or the built-in hashing encoder of the users' profiles. */
fr_status ncf_load_features(ncf_run *r, const fr_config *c, fr_error *err) {
    const int32_t U = r->ds.n_users;
    if (c->graph_user_features[0]) {
        int64_t rows = 0, cols = 0;
        fr_status st = fr_npy_read(c->graph_user_features, &r->feat, &rows, &cols, err);
        if (st != FR_OK) return st;
        if (rows != U)
            return fr_fail(err, FR_ERR_INPUT, "%s: field shape: %lld rows, but the data has %d "
                           "users (row u is the u-th smallest raw user id)",
                           c->graph_user_features, (long long)rows, U);
        if (cols < 1 || cols > 1000000)
            return fr_fail(err, FR_ERR_INPUT, "%s: field shape: %lld columns, need 1 .. 1000000",
                           c->graph_user_features, (long long)cols);
        r->T = (int32_t)cols;
        return FR_OK;
    }
    r->T = c->graph_text_dim;
    return fr_user_text_features(&r->ds, r->T, c->seed, &r->feat, err);
}

/* p[K] = v W + b, ufgraphfr's user vector from its text features (eq. 3); W [T x K]
 * then b [K] in jw. */
void ncf_joint_forward(ncf_slot *s, const ncf_run *r) {
    const int32_t K = r->K, T = r->T;
    const float *b = s->jw + (int64_t)T * K;
    for (int32_t k = 0; k < K; k++) s->p[k] = b[k];
    for (int32_t t = 0; t < T; t++) {
        const float vt = s->v[t];
        if (vt == 0.0f) continue;
        const float *w = s->jw + (int64_t)t * K; /* [K] */
        for (int32_t k = 0; k < K; k++) s->p[k] += vt * w[k];
    }
}

void ncf_joint_load(ncf_slot *s, const ncf_run *r, int32_t user) {
    const int64_t jn = r->gdim + r->K;
    s->v = r->feat + (int64_t)user * r->T;
    memcpy(s->jw, r->jws + (int64_t)user * jn, (size_t)jn * sizeof(float));
    ncf_joint_forward(s, r);
}

/* SGD on the joint layer from dp, the gradient of p = v W + b: dW = v^T dp, db = dp;
 * then p is recomputed. */
void ncf_joint_step(ncf_slot *s, const ncf_run *r) {
    const int32_t K = r->K, T = r->T;
    float *b = s->jw + (int64_t)T * K;
    for (int32_t t = 0; t < T; t++) {
        const float vt = s->v[t];
        if (vt == 0.0f) continue;
        float *w = s->jw + (int64_t)t * K; /* [K] */
        for (int32_t k = 0; k < K; k++) w[k] -= (float)(r->user_lr * vt * s->dp[k]);
    }
    for (int32_t k = 0; k < K; k++) b[k] -= (float)(r->user_lr * s->dp[k]);
    ncf_joint_forward(s, r);
}

/* ---- the server of gpfedrec and ufgraphfr ---- */

/* The fraction of G a client's untrained rows still hold after its latest round: each
 * of its steps pulled them the fraction r->pull toward R_i (0 when they started at R_i). */
double ncf_graph_keep(const ncf_run *r, int32_t user) {
    return r->start_personal ? 0.0 : pow(1.0 - r->pull, (double)r->n_batches[user]);
}

/* The rows every client trains in `round` (ncf_build_examples draws them from the seed,
 * round and user alone) and their R_i from the newest step, all at once when
 * fr_graph_agg_rows_all takes it on (graph.mix); else pre_round stays 0 and each client
 * asks for its own rows. Anything that fails here leaves the clients to their own path. */
static fr_status prepare_rows(ncf_run *r, uint32_t round, fr_error *err) {
    r->pre_round = 0;
    if (r->mix == FR_MIX_USERS) return FR_OK;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 8) num_threads(r->threads)
    for (int32_t i = 0; i < r->n_clients; i++) {
        ncf_slot *s = &r->slot[omp_get_thread_num()];
        int64_t E;
        int32_t nr;
        fr_error e2;
        if (ncf_build_examples(s, r, fr_dataset_user(&r->ds, r->clients[i]), round, &E, &nr,
                               &e2) != FR_OK) {
#pragma omp atomic write
            failed = 1;
            continue;
        }
        if (nr > r->pre_cap[i]) {
            fr_free(r->pre_rows[i]);
            fr_free(r->pre_out[i]);
            r->pre_rows[i] = fr_alloc((size_t)nr, sizeof(int32_t));
            r->pre_out[i] = fr_alloc((size_t)nr * (size_t)r->K, sizeof(float));
            r->pre_cap[i] = r->pre_rows[i] && r->pre_out[i] ? nr : 0;
        }
        if (nr <= r->pre_cap[i]) {
            memcpy(r->pre_rows[i], s->rows, (size_t)nr * sizeof(int32_t));
            r->pre_req[i] = (fr_sparse_rows){ nr, r->pre_rows[i], NULL };
        } else {
#pragma omp atomic write
            failed = 1;
        }
        for (int32_t a = 0; a < nr; a++) s->local_of[s->rows[a]] = -1;
    }
    if (failed) return FR_OK;
    int done = 0;
    fr_status st = fr_graph_agg_rows_all(&r->agg, 0, r->pre_req, r->pre_out, r->mix, r->threads,
                                         &done, err);
    if (st == FR_OK && done) r->pre_round = round;
    return st == FR_ERR_NOMEM ? FR_OK : st;
}

int ncf_graph_prepared(ncf_slot *s, const ncf_run *r, int32_t user, uint32_t round, int32_t nr) {
    const int32_t i = r->gidx[user];
    if (r->pre_round != round || r->pre_req[i].n_rows != nr ||
        memcmp(r->pre_req[i].rows, s->rows, (size_t)nr * sizeof(int32_t)) != 0)
        return 0;
    memcpy(s->anchor, r->pre_out[i], (size_t)nr * (size_t)r->K * sizeof(float));
    return 1;
}

/* A quarter of the physical memory, or 2 GiB when the system does not say. */
static int64_t eval_rows_budget(void) {
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (int64_t)pages * size / 4 : (int64_t)2 << 30;
}

fr_status ncf_graph_eval_prepare(ncf_run *r, fr_error *err) {
    r->ev_ready = 0;
    const int64_t n = r->n_clients, NK = (int64_t)r->N * r->K;
    if (r->agg.dense || r->mix == FR_MIX_USERS || n * NK * 4 > eval_rows_budget()) return FR_OK;
    if (!r->ev_all) {
        r->ev_all = fr_alloc((size_t)(n * NK), sizeof(float));
        if (!r->ev_all) return FR_OK; /* each score call mixes its own rows */
    }
    int32_t *all = fr_alloc((size_t)r->N, sizeof(int32_t));
    fr_sparse_rows *req = fr_alloc((size_t)n, sizeof(fr_sparse_rows));
    float **out = fr_alloc((size_t)n, sizeof(float *));
    fr_status st = FR_OK;
    if (all && req && out) {
        for (int32_t j = 0; j < r->N; j++) all[j] = j;
        for (int64_t i = 0; i < n; i++) {
            req[i] = (fr_sparse_rows){ r->N, all, NULL };
            out[i] = r->ev_all + i * NK;
        }
        int done = 0;
        st = fr_graph_agg_rows_all(&r->agg, 1, req, out, r->mix, r->threads, &done, err);
        r->ev_ready = st == FR_OK && done;
        if (st == FR_ERR_NOMEM) st = FR_OK;
    }
    fr_free(all);
    fr_free(req);
    fr_free(out);
    return st;
}

/* Graph-guided aggregation (graph_agg.h) of the round's uploads: every client's changed
 * rows, and for ufgraphfr the joint layers the graph is built from. */
fr_status ncf_server_update(void *ctx, float *params, const fr_update *const *ups,
                               const double *weights, int32_t n, uint32_t round, fr_error *err) {
    ncf_run *r = ctx;
    (void)weights;
    if (n != r->n_clients) /* refused at set-up; a safeguard */
        return fr_fail(err, FR_ERR_RUNTIME, "round %u: %d of %d clients reported; the graph "
                       "needs all", round, n, r->n_clients);
    memset(r->d_in, 0, (size_t)r->n_clients * sizeof(fr_sparse_rows));
    for (int32_t i = 0; i < n; i++) {
        const fr_update *u = ups[i];
        const int32_t gi = r->gidx[u->client];
        r->d_in[gi] = (fr_sparse_rows){ u->n_rows, u->rows, u->sparse };
        if (r->gx) memcpy(r->gx + (int64_t)gi * r->gdim, u->dense, (size_t)r->gdim * sizeof(float));
    }
    fr_status st;
    if (r->agg.dense) { /* the fraction of G each client's untrained rows still hold */
        for (int32_t i = 0; i < n; i++) r->keep[i] = ncf_graph_keep(r, r->clients[i]);
        st = fr_graph_agg_step_dense(&r->agg, params, r->d_in, r->keep, r->gx, r->gdim,
                                     r->threads, err);
    } else {
        st = fr_graph_agg_step(&r->agg, params, r->d_in, r->gx, r->gdim, err);
    }
    r->pre_round = 0;
    if (st == FR_OK && !r->agg.dense && round < (uint32_t)r->c->rounds)
        st = prepare_rows(r, round + 1, err); /* the next round's R_i rows */
    if (st == FR_OK && r->gvec_off >= 0) { /* the model keeps the mean uploaded joint layer */
        for (int64_t e = 0; e < r->gdim; e++) {
            double m = 0.0;
            for (int32_t i = 0; i < n; i++) m += r->gx[(int64_t)i * r->gdim + e];
            params[r->gvec_off + e] = (float)(m / n);
        }
    }
    return st;
}

/* A graph client's rows it did not train, for the candidates cands[n] (into
 * s->ev_item/ev_rows, ascending): in their code the client's whole table starts at G
 * (or R_i) and every step pulls each row toward R_i by the fraction a = r->pull, so a
 * row no batch touched holds R_i + (1 - a)^steps (G - R_i) after the round. R_i is the
 * one its latest round used (the step before the newest); before any graph, G. */
int32_t ncf_graph_rows(ncf_slot *s, const ncf_run *r, int32_t user, const int32_t *cands,
                       int32_t n) {
    const int32_t K = r->K;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) s->ev_item[m++] = cands[i];
    qsort(s->ev_item, (size_t)m, sizeof(int32_t), ncf_cmp_i32);
    int32_t u = 0;
    for (int32_t i = 0; i < m; i++)
        if (u == 0 || s->ev_item[i] != s->ev_item[u - 1]) s->ev_item[u++] = s->ev_item[i];
    const float *g = r->g_start;
    /* dense mode: the server kept the client's whole table; else R_i, blended below */
    int got;
    if (r->ev_ready) { /* made for every client before the evaluation */
        const float *Ri = r->ev_all + (int64_t)r->gidx[user] * r->N * K; /* [N x K] */
        for (int32_t i = 0; i < u; i++)
            memcpy(s->ev_rows + (int64_t)i * K, Ri + (int64_t)s->ev_item[i] * K, (size_t)K * sizeof(float));
        got = 1;
    } else {
        got = r->agg.dense
                  ? fr_graph_agg_table_rows(&r->agg, r->gidx[user], s->ev_item, u, s->ev_rows)
                  : fr_graph_agg_rows(&r->agg, 1, r->gidx[user], s->ev_item, u, s->ev_rows);
    }
    if (!got) {
        for (int32_t i = 0; i < u; i++)
            memcpy(s->ev_rows + (int64_t)i * K, g + (int64_t)s->ev_item[i] * K, (size_t)K * sizeof(float));
        return u;
    }
    const double f = r->agg.dense ? 0.0 : ncf_graph_keep(r, user);
    if (f != 0.0)
        for (int32_t i = 0; i < u; i++) {
            float *o = s->ev_rows + (int64_t)i * K;                /* [K] */
            const float *gr = g + (int64_t)s->ev_item[i] * K;      /* [K] */
            for (int32_t k = 0; k < K; k++) o[k] = (float)(o[k] + f * (gr[k] - o[k]));
        }
    return u;
}
