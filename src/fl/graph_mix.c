/* graph_mix.c - graph-guided mixing of row-sparse table changes (graph.h): the rows of
 * R_i = G + sum_j S_ij D_j a client asks for (UFGraphFR eq. 16, R = S A, over sparse
 * changes), the union of the neighbours' rows, and the column means that give the
 * global table of eq. 17.
 * Leaves out: propagating R through S more than once (mp_layers > 1). */
#include "fedrec/graph.h"

#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"

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
