/* graph_agg.c - graph-guided aggregation of row-sparse item-table changes (graph_agg.h
 * gives the equations: UFGraphFR eq. 16-17, GPFedRec's server).
 * Leaves out: what graph_agg.h lists (mp_layers > 1, noise, late joiners). */
#include "fedrec/graph_agg.h"

#include <omp.h>
#include <string.h>

#include "fedrec/alloc.h"

static void gen_free(fr_graph_gen *g, int32_t n) {
    fr_graph_free(&g->g);
    if (g->rows)
        for (int32_t i = 0; i < n; i++) fr_free(g->rows[i]);
    if (g->val)
        for (int32_t i = 0; i < n; i++) fr_free(g->val[i]);
    fr_free(g->rows);
    fr_free(g->val);
    fr_free(g->cap);
    fr_free(g->d);
    fr_free(g->base);
    fr_item_index_free(&g->ix);
    memset(g, 0, sizeof *g);
}

static int gen_init(fr_graph_gen *g, int32_t n, int64_t N, int32_t k) {
    memset(g, 0, sizeof *g);
    g->d = fr_calloc((size_t)n, sizeof(fr_sparse_rows));
    g->rows = fr_calloc((size_t)n, sizeof(int32_t *));
    g->val = fr_calloc((size_t)n, sizeof(float *));
    g->cap = fr_calloc((size_t)n, sizeof(int32_t));
    g->base = fr_alloc((size_t)(N * k), sizeof(float));
    return g->d && g->rows && g->val && g->cap && g->base;
}

fr_status fr_graph_agg_init(fr_graph_agg *a, int32_t n, int64_t N, int32_t k,
                            const fr_graph_opts *o, fr_graph_global global, fr_error *err) {
    memset(a, 0, sizeof *a);
    if (n < 1 || N < 1 || k < 1)
        return fr_fail(err, FR_ERR_USAGE, "graph aggregation: %d users with %lld x %d tables, "
                       "need at least 1 of each", n, (long long)N, k);
    a->n = n, a->N = N, a->k = k;
    a->opts = *o;
    a->global = global;
    a->acc = fr_alloc((size_t)(N * k), sizeof(double));
    a->c = fr_alloc((size_t)n, sizeof(double));
    if (!a->acc || !a->c || !gen_init(&a->gen[0], n, N, k) || !gen_init(&a->gen[1], n, N, k))
        return fr_nomem(err, "graph aggregation state", (size_t)(N * k) * 16);
    return FR_OK;
}

void fr_graph_agg_free(fr_graph_agg *a) {
    gen_free(&a->gen[0], a->n);
    gen_free(&a->gen[1], a->n);
    fr_free(a->acc);
    fr_free(a->c);
    fr_free(a->A);
    fr_free(a->R);
    memset(a, 0, sizeof *a);
}

/* Copies d into g's own storage. */
static fr_status copy_changes(fr_graph_gen *g, const fr_sparse_rows *d, int32_t n, int32_t k,
                              fr_error *err) {
    for (int32_t i = 0; i < n; i++) {
        const int32_t nr = d[i].n_rows > 0 ? d[i].n_rows : 0;
        if (nr > g->cap[i]) {
            fr_free(g->rows[i]);
            fr_free(g->val[i]);
            g->rows[i] = fr_alloc((size_t)nr, sizeof(int32_t));
            g->val[i] = fr_alloc((size_t)nr * (size_t)k, sizeof(float));
            g->cap[i] = g->rows[i] && g->val[i] ? nr : 0;
            if (!g->cap[i]) return fr_nomem(err, "a user's table changes", (size_t)nr * k * 4);
        }
        if (nr > 0) {
            memcpy(g->rows[i], d[i].rows, (size_t)nr * sizeof(int32_t));
            memcpy(g->val[i], d[i].val, (size_t)nr * (size_t)k * sizeof(float));
        }
        g->d[i] = (fr_sparse_rows){ nr, g->rows[i], g->val[i] };
    }
    return FR_OK;
}

/* c[n] = the weight of each user's change in G' (graph_agg.h, step 3). */
static void global_weights(double *c, const fr_graph *g, fr_graph_global mode) {
    if (mode == FR_GLOBAL_MEAN) {
        fr_graph_column_mean(g, c);
        return;
    }
    memset(c, 0, (size_t)g->n * sizeof(double));
    double total = 0.0;
    for (int32_t i = 0; i < g->n; i++) total += (double)(g->off[i + 1] - g->off[i]);
    for (int32_t i = 0; i < g->n; i++) {
        const double wi = (double)(g->off[i + 1] - g->off[i]) / total;
        for (int64_t e = g->off[i]; e < g->off[i + 1]; e++) c[g->nbr[e]] += wi * g->w[e];
    }
}

fr_status fr_graph_agg_step(fr_graph_agg *a, float *table, const fr_sparse_rows *d,
                            const float *x, int64_t dim, fr_error *err) {
    const int next = 1 - a->newest;
    fr_graph_gen *g = &a->gen[next];
    const int64_t sz = a->N * a->k;
    g->ready = 0;
    fr_graph_free(&g->g);
    fr_status st = copy_changes(g, d, a->n, a->k, err);
    if (st != FR_OK) return st;
    memcpy(g->base, table, (size_t)sz * sizeof(float));
    g->ix_ready = 0;
    if (!x) { /* GPFedRec: the graph of the tables, item by item */
        st = fr_item_index_build(&g->ix, g->d, a->n, a->N, a->k, omp_get_max_threads(), err);
        g->ix_ready = st == FR_OK;
    }
    if (st == FR_OK)
        st = x ? fr_graph_build(&g->g, x, a->n, dim, &a->opts, err)
               : fr_graph_build_tables_ix(&g->g, g->base, g->d, &g->ix, &a->opts, err);
    if (st != FR_OK) return st;
    global_weights(a->c, &g->g, a->global);
    memset(a->acc, 0, (size_t)sz * sizeof(double));
    for (int32_t j = 0; j < a->n; j++) {
        const double cj = a->c[j];
        if (cj == 0.0) continue;
        for (int32_t b = 0; b < g->d[j].n_rows; b++) {
            double *o = a->acc + (int64_t)g->d[j].rows[b] * a->k;  /* [k] */
            const float *v = g->d[j].val + (int64_t)b * a->k;      /* [k] */
            for (int32_t q = 0; q < a->k; q++) o[q] += cj * v[q];
        }
    }
    for (int64_t e = 0; e < sz; e++) table[e] = (float)(table[e] + a->acc[e]);
    g->ready = 1;
    a->newest = next;
    a->steps++;
    return FR_OK;
}

int fr_graph_agg_rows(const fr_graph_agg *a, int age, int32_t i, const int32_t *req,
                      int32_t n_req, float *out) {
    if (a->dense) {
        if (age != 0 || a->steps < 1) return 0;
        const float *Ri = a->R + (int64_t)i * a->N * a->k; /* [N x k] */
        for (int32_t r = 0; r < n_req; r++)
            memcpy(out + (int64_t)r * a->k, Ri + (int64_t)req[r] * a->k, (size_t)a->k * sizeof(float));
        return 1;
    }
    const fr_graph_gen *g = &a->gen[age == 0 ? a->newest : 1 - a->newest];
    if (!g->ready || (age != 0 && a->steps < 2)) return 0;
    fr_graph_mix_rows(&g->g, i, g->d, a->k, req, n_req, out);
    for (int32_t r = 0; r < n_req; r++) {
        float *o = out + (int64_t)r * a->k;                  /* [k] */
        const float *b = g->base + (int64_t)req[r] * a->k;  /* [k] */
        for (int32_t q = 0; q < a->k; q++) o[q] += b[q];
    }
    return 1;
}

fr_status fr_graph_agg_rows_all(fr_graph_agg *a, int age, const fr_sparse_rows *req,
                                float *const *out, fr_graph_mix_mode mode, int threads,
                                int *done, fr_error *err) {
    *done = 0;
    fr_graph_gen *g = &a->gen[age == 0 ? a->newest : 1 - a->newest];
    if (a->dense || !g->ready || (age != 0 && a->steps < 2) || mode == FR_MIX_USERS) return FR_OK;
    if (mode == FR_MIX_AUTO && !fr_graph_mix_all_pays(&g->g, g->d, a->N, req)) return FR_OK;
    if (!g->ix_ready) { /* UFGraphFR's step built its graph from vectors */
        fr_status st = fr_item_index_build(&g->ix, g->d, a->n, a->N, a->k, threads, err);
        if (st != FR_OK) return st;
        g->ix_ready = 1;
    }
    fr_error e2 = { 0 };
    fr_status st = fr_graph_mix_all(&g->g, &g->ix, req, out, threads, &e2);
    if (st == FR_ERR_INPUT) return FR_OK; /* a non-finite change: the per-user form */
    if (st != FR_OK) {
        if (err) *err = e2;
        return st;
    }
    for (int32_t i = 0; i < a->n; i++)
        for (int32_t r = 0; r < req[i].n_rows; r++) {
            float *o = out[i] + (int64_t)r * a->k;                       /* [k] */
            const float *b = g->base + (int64_t)req[i].rows[r] * a->k;  /* [k] */
            for (int32_t q = 0; q < a->k; q++) o[q] += b[q];
        }
    *done = 1;
    return FR_OK;
}

/* ---- dense mode (graph_agg.h) ---- */

fr_status fr_graph_agg_dense(fr_graph_agg *a, fr_error *err) {
    const size_t sz = (size_t)a->n * (size_t)(a->N * a->k);
    a->A = fr_alloc(sz, sizeof(float));
    a->R = fr_alloc(sz, sizeof(float));
    if (!a->A || !a->R) {
        fr_free(a->A);
        fr_free(a->R);
        a->A = a->R = NULL;
        return fr_nomem(err, "dense graph tables (graph.tables = dense: two users x items x dim "
                        "tables)", sz * 8);
    }
    a->dense = 1;
    for (int b = 0; b < 2; b++) { /* the sparse generations' base tables go unused */
        fr_free(a->gen[b].base);
        a->gen[b].base = NULL;
    }
    return FR_OK;
}

fr_status fr_graph_agg_step_dense(fr_graph_agg *a, float *table, const fr_sparse_rows *d,
                                  const double *keep, const float *x, int64_t dim, int threads,
                                  fr_error *err) {
    const int64_t sz = a->N * a->k;
    const int32_t n = a->n, k = a->k;
    const int first = a->steps == 0;
    if (threads < 1) threads = 1;
    /* 1. every user's whole table A_i */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int32_t i = 0; i < n; i++) {
        float *Ai = a->A + (int64_t)i * sz;       /* [N x k] */
        const float *Ri = a->R + (int64_t)i * sz; /* [N x k] */
        if (first) {
            memcpy(Ai, table, (size_t)sz * sizeof(float));
        } else {
            const float f = (float)keep[i];
            for (int64_t e = 0; e < sz; e++) Ai[e] = Ri[e] + f * (table[e] - Ri[e]);
        }
        for (int32_t b = 0; b < d[i].n_rows; b++) {
            const int64_t row = (int64_t)d[i].rows[b] * k;
            const float *v = d[i].val + (int64_t)b * k; /* [k] */
            for (int32_t q = 0; q < k; q++) Ai[row + q] = table[row + q] + v[q];
        }
    }
    /* 2. the graph */
    fr_graph *g = &a->gen[a->newest].g;
    fr_graph_free(g);
    a->gen[a->newest].ready = 0;
    fr_status st = fr_graph_build(g, x ? x : a->A, n, x ? dim : sz, &a->opts, err);
    if (st != FR_OK) return st;
    /* 3. R_i = sum_j S''_ij A_j, neighbours ascending, in float */
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (int32_t i = 0; i < n; i++) {
        float *Ri = a->R + (int64_t)i * sz; /* [N x k] */
        memset(Ri, 0, (size_t)sz * sizeof(float));
        for (int64_t e = g->off[i]; e < g->off[i + 1]; e++) {
            const float w = g->w[e];
            const float *Aj = a->A + (int64_t)g->nbr[e] * sz; /* [N x k] */
            for (int64_t q = 0; q < sz; q++) Ri[q] += w * Aj[q];
        }
    }
    /* 4. G' = sum_i w_i R_i, users in order, in double */
    double total = 0.0;
    for (int32_t i = 0; i < n; i++)
        a->c[i] = a->global == FR_GLOBAL_MEAN ? 1.0 : (double)(g->off[i + 1] - g->off[i]);
    for (int32_t i = 0; i < n; i++) total += a->c[i];
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t e0 = 0; e0 < sz; e0 += 4096) {
        const int64_t e1 = e0 + 4096 < sz ? e0 + 4096 : sz;
        for (int64_t e = e0; e < e1; e++) a->acc[e] = 0.0;
        for (int32_t i = 0; i < n; i++) {
            const double wi = a->c[i] / total;
            const float *Ri = a->R + (int64_t)i * sz;
            for (int64_t e = e0; e < e1; e++) a->acc[e] += wi * Ri[e];
        }
        for (int64_t e = e0; e < e1; e++) table[e] = (float)a->acc[e];
    }
    a->gen[a->newest].ready = 1;
    a->steps++;
    return FR_OK;
}

int fr_graph_agg_table_rows(const fr_graph_agg *a, int32_t i, const int32_t *req, int32_t n_req,
                            float *out) {
    if (!a->dense || a->steps < 1) return 0;
    const float *Ai = a->A + (int64_t)i * a->N * a->k; /* [N x k] */
    for (int32_t r = 0; r < n_req; r++)
        memcpy(out + (int64_t)r * a->k, Ai + (int64_t)req[r] * a->k, (size_t)a->k * sizeof(float));
    return 1;
}
