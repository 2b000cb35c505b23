/* graph_mix.c - graph-guided mixing of row-sparse table changes (graph.h): the rows of
 * R_i = G + sum_j S_ij D_j a client asks for (UFGraphFR eq. 16, R = S A, over sparse
 * changes), one client at a time or every client's at once item by item, the union of
 * the neighbours' rows, and the column means that give the global table of eq. 17.
 * Leaves out: propagating R through S more than once (mp_layers > 1). */
#include "fedrec/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/item_index.h"

/* ---- mixing row-sparse changes ---- */

/* o[k] += w v[k]; distinct rows, so the loop vectorizes */
static inline void axpy(float *restrict o, const float *restrict v, float w, int32_t k) {
#pragma omp simd
    for (int32_t q = 0; q < k; q++) o[q] += w * v[q];
}

/* out[a] += w * dj.val[b] wherever req[a] == dj.rows[b], by merging the sorted lists. */
static void add_rows(float *out, const int32_t *req, int32_t n_req, const fr_sparse_rows *dj,
                     float w, int32_t k) {
    int32_t a = 0, b = 0;
    while (a < n_req && b < dj->n_rows) {
        if (req[a] < dj->rows[b]) {
            a++;
        } else if (req[a] > dj->rows[b]) {
            b++;
        } else {
            axpy(out + (int64_t)a * k, dj->val + (int64_t)b * k, w, k);
            a++, b++;
        }
    }
}

/* out[pos[r]] += w * dj.val[b] for each row r = dj.rows[b] <= last the client asked for
 * (pos[r] its slot in req, -1 if it did not ask): one lookup per neighbour row. */
static void add_rows_pos(float *out, const int32_t *pos, int32_t last, const fr_sparse_rows *dj,
                         float w, int32_t k) {
    for (int32_t b = 0; b < dj->n_rows && dj->rows[b] <= last; b++) {
        const int32_t a = pos[dj->rows[b]];
        if (a < 0) continue;
        axpy(out + (int64_t)a * k, dj->val + (int64_t)b * k, w, k);
    }
}

void fr_graph_mix_rows(const fr_graph *g, int32_t i, const fr_sparse_rows *d, int32_t k,
                       const int32_t *req, int32_t n_req, float *out) {
    if (n_req < 1 || k < 1) return;
    memset(out, 0, (size_t)n_req * (size_t)k * sizeof(float));
    const int32_t last = req[n_req - 1];
    int32_t *pos = fr_alloc((size_t)last + 1, sizeof(int32_t));
    if (!pos) { /* the merge needs no memory */
        for (int64_t e = g->off[i]; e < g->off[i + 1]; e++)
            add_rows(out, req, n_req, &d[g->nbr[e]], g->w[e], k);
        return;
    }
    memset(pos, 0xff, ((size_t)last + 1) * sizeof(int32_t)); /* -1 */
    for (int32_t a = 0; a < n_req; a++) pos[req[a]] = a;
    for (int64_t e = g->off[i]; e < g->off[i + 1]; e++)
        add_rows_pos(out, pos, last, &d[g->nbr[e]], g->w[e], k);
    fr_free(pos);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int32_t fr_graph_union_rows(const fr_graph *g, int32_t i, const fr_sparse_rows *d, int32_t *out) {
    int64_t len = 0;
    for (int64_t e = g->off[i]; e < g->off[i + 1]; e++) {
        const fr_sparse_rows *dj = &d[g->nbr[e]];
        if (dj->n_rows > 0)
            memcpy(out + len, dj->rows, (size_t)dj->n_rows * sizeof(int32_t));
        len += dj->n_rows;
    }
    qsort(out, (size_t)len, sizeof *out, cmp_i32);
    int32_t u = 0;
    for (int64_t a = 0; a < len; a++)
        if (u == 0 || out[a] != out[u - 1]) out[u++] = out[a];
    return u;
}

void fr_graph_column_mean(const fr_graph *g, double *c) {
    memset(c, 0, (size_t)g->n * sizeof(double));
    for (int64_t e = 0; e < g->off[g->n]; e++) c[g->nbr[e]] += g->w[e];
    for (int32_t j = 0; j < g->n; j++) c[j] /= g->n;
}

/* ---- every user's requested rows at once, item by item ---- */

/* The requests regrouped by item: for item r, who asked (user, slot in its list). */
typedef struct mix_index {
    const fr_item_index *ix; /* the changes by item */
    int64_t *roff;  /* [N+1] requests of item r */
    int32_t *ruser; /* [nreq] */
    int32_t *rslot; /* [nreq] */
    float *S;       /* [n x n] the graph, dense (0 off the neighbour lists) */
} mix_index;

static void index_free(mix_index *x) {
    fr_free(x->roff);
    fr_free(x->ruser);
    fr_free(x->rslot);
    fr_free(x->S);
}

/* Counting sort of the requests req[n] by row into x (users ascending within a row).
 * Returns 0 on a row outside 0 .. N-1. */
static int regroup(mix_index *x, const fr_sparse_rows *req, int32_t n, int64_t N) {
    int64_t *off = x->roff;
    for (int32_t i = 0; i < n; i++)
        for (int32_t b = 0; b < req[i].n_rows; b++) {
            const int32_t r = req[i].rows[b];
            if (r < 0 || r >= N) return 0;
            off[r + 1]++;
        }
    for (int64_t r = 0; r < N; r++) off[r + 1] += off[r];
    for (int32_t i = 0; i < n; i++)
        for (int32_t b = 0; b < req[i].n_rows; b++) {
            const int64_t e = off[req[i].rows[b]]++;
            x->ruser[e] = i;
            x->rslot[e] = b;
        }
    for (int64_t r = N; r > 0; r--) off[r] = off[r - 1]; /* the cursors ran one row ahead */
    off[0] = 0;
    return 1;
}

static int all_finite(const float *v, int64_t len) {
    for (int64_t e = 0; e < len; e++)
        if (!isfinite(v[e])) return 0;
    return 1;
}

/* Wider vector units where the CPU has them, picked at load time (x86-64 with GCC); the
 * build has no -ffp-contract (ISO C: off), so no multiply-add is fused and every clone
 * rounds exactly as the baseline code. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define MIX_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MIX_CLONES
#endif

#define MIX_W 16 /* columns per register pass */

/* The rows of item r for requesters a0 .. a0+m-1 (m <= 4): acc[m x k] = sum over the
 * users c of the item, ascending, of S_ic D_c[r]. Non-neighbours add S_ic = 0 times a
 * finite value, which leaves every sum as it was. */
MIX_CLONES static void item_block(float *restrict acc, const mix_index *x, int64_t r, int64_t a0,
                                  int32_t m) {
    const fr_item_index *ix = x->ix;
    const int32_t n = ix->n, k = ix->k;
    const float *s[4];
    for (int32_t v = 0; v < 4; v++) s[v] = x->S + (int64_t)x->ruser[a0 + (v < m ? v : 0)] * n;
    const int64_t e0 = ix->off[r], e1 = ix->off[r + 1];
    int32_t q0 = 0;
    for (; q0 + MIX_W <= k; q0 += MIX_W) { /* fixed-width columns: sums stay in registers */
        float t0[MIX_W] = { 0 }, t1[MIX_W] = { 0 }, t2[MIX_W] = { 0 }, t3[MIX_W] = { 0 };
        for (int64_t e = e0; e < e1; e++) {
            const int32_t j = ix->user[e];
            const float w0 = s[0][j], w1 = s[1][j], w2 = s[2][j], w3 = s[3][j];
            const float *restrict p = ix->pack + e * k + q0; /* [MIX_W] */
#pragma omp simd
            for (int32_t q = 0; q < MIX_W; q++) {
                t0[q] += w0 * p[q];
                t1[q] += w1 * p[q];
                t2[q] += w2 * p[q];
                t3[q] += w3 * p[q];
            }
        }
        memcpy(acc + q0, t0, sizeof t0);
        memcpy(acc + k + q0, t1, sizeof t1);
        memcpy(acc + 2 * k + q0, t2, sizeof t2);
        memcpy(acc + 3 * k + q0, t3, sizeof t3);
    }
    if (q0 == k) return;
    float *restrict a1 = acc + k, *restrict a2 = acc + 2 * k, *restrict a3 = acc + 3 * k;
    for (int32_t q = q0; q < k; q++) acc[q] = a1[q] = a2[q] = a3[q] = 0.0f;
    for (int64_t e = e0; e < e1; e++) { /* the last k mod MIX_W columns */
        const int32_t j = ix->user[e];
        const float w0 = s[0][j], w1 = s[1][j], w2 = s[2][j], w3 = s[3][j];
        const float *restrict p = ix->pack + e * k; /* [k] */
        for (int32_t q = q0; q < k; q++) {
            acc[q] += w0 * p[q];
            a1[q] += w1 * p[q];
            a2[q] += w2 * p[q];
            a3[q] += w3 * p[q];
        }
    }
}

fr_status fr_graph_mix_all(const fr_graph *g, const fr_item_index *ix, const fr_sparse_rows *req,
                           float *const *out, int threads, fr_error *err) {
    const int32_t n = g->n, k = ix->k;
    const int64_t N = ix->N;
    if (ix->n != n || N < 1 || k < 1)
        return fr_fail(err, FR_ERR_USAGE, "graph mixing: an index of %d users with %lld x %d "
                       "tables for a graph of %d", ix->n, (long long)N, k, n);
    int64_t nreq = 0;
    for (int32_t i = 0; i < n; i++) nreq += req[i].n_rows;
    mix_index x = { ix, NULL, NULL, NULL, NULL };
    x.roff = fr_calloc((size_t)N + 1, sizeof(int64_t));
    x.ruser = fr_alloc((size_t)(nreq > 0 ? nreq : 1), sizeof(int32_t));
    x.rslot = fr_alloc((size_t)(nreq > 0 ? nreq : 1), sizeof(int32_t));
    x.S = fr_calloc((size_t)n * (size_t)n, sizeof(float));
    if (!x.roff || !x.ruser || !x.rslot || !x.S) {
        index_free(&x);
        return fr_nomem(err, "graph mixing index (the requests and an n x n graph)",
                        (size_t)nreq * 12 + (size_t)n * n * 4);
    }
    fr_status st = FR_OK;
    if (!regroup(&x, req, n, N))
        st = fr_fail(err, FR_ERR_USAGE, "graph mixing: a row outside 0 .. %lld", (long long)N - 1);
    else if (!all_finite(ix->pack, ix->nnz * k))
        st = fr_fail(err, FR_ERR_INPUT, "graph mixing: a change is not finite (a zero weight "
                     "times it would not be zero); use fr_graph_mix_rows");
    if (st != FR_OK) {
        index_free(&x);
        return st;
    }
    for (int32_t i = 0; i < n; i++)
        for (int64_t e = g->off[i]; e < g->off[i + 1]; e++) x.S[(int64_t)i * n + g->nbr[e]] = g->w[e];
    if (threads < 1) threads = 1;
#pragma omp parallel num_threads(threads)
    {
        float *a = fr_alloc((size_t)4 * k, sizeof(float)); /* [4 x k] */
        if (!a) {
#pragma omp atomic write
            st = FR_ERR_NOMEM;
        }
#pragma omp for schedule(dynamic, 8)
        for (int64_t r = 0; r < N; r++)
            for (int64_t a0 = x.roff[r]; a && a0 < x.roff[r + 1]; a0 += 4) {
                const int64_t left = x.roff[r + 1] - a0;
                const int32_t m = left < 4 ? (int32_t)left : 4;
                item_block(a, &x, r, a0, m);
                for (int32_t v = 0; v < m; v++)
                    memcpy(out[x.ruser[a0 + v]] + (int64_t)x.rslot[a0 + v] * k, a + (int64_t)v * k,
                           (size_t)k * sizeof(float));
            }
        fr_free(a);
    }
    index_free(&x);
    if (st != FR_OK) return fr_nomem(err, "graph mixing scratch", (size_t)threads * 4 * k * 4);
    return FR_OK;
}

int fr_graph_mix_all_pays(const fr_graph *g, const fr_sparse_rows *d, int64_t N,
                          const fr_sparse_rows *req) {
    if ((int64_t)g->n * g->n * (int64_t)sizeof(float) > FR_GRAPH_MIX_MAX_DENSE) return 0;
    int64_t *cnt = fr_calloc((size_t)N * 2, sizeof(int64_t)); /* [N] changes, [N] requests */
    if (!cnt) return 0;
    for (int32_t i = 0; i < g->n; i++) {
        for (int32_t b = 0; b < d[i].n_rows; b++)
            if (d[i].rows[b] >= 0 && d[i].rows[b] < N) cnt[d[i].rows[b]]++;
        for (int32_t b = 0; b < req[i].n_rows; b++)
            if (req[i].rows[b] >= 0 && req[i].rows[b] < N) cnt[N + req[i].rows[b]]++;
    }
    double item = 0.0, user = 0.0;
    for (int64_t r = 0; r < N; r++) item += (double)cnt[r] * (double)cnt[N + r];
    for (int64_t e = 0; e < g->off[g->n]; e++) user += d[g->nbr[e]].n_rows;
    fr_free(cnt);
    return item < FR_GRAPH_MIX_ITEM_COST * user;
}
