/* item_index.c - row-sparse changes regrouped by item (item_index.h). */
#include "fedrec/item_index.h"

#include <string.h>

#include "fedrec/alloc.h"

void fr_item_index_free(fr_item_index *x) {
    fr_free(x->off);
    fr_free(x->user);
    fr_free(x->pack);
    fr_free(x->pos);
    fr_free(x->uoff);
    memset(x, 0, sizeof *x);
}

/* Grows x's arrays to N items, nnz entries of width k and n users; 0 when out of memory. */
static int reserve(fr_item_index *x, int32_t n, int64_t N, int32_t k, int64_t nnz) {
    if (N > x->cap_N) {
        fr_free(x->off);
        x->off = fr_alloc((size_t)N + 1, sizeof(int64_t));
        x->cap_N = x->off ? N : 0;
    }
    if (n > x->cap_n) {
        fr_free(x->uoff);
        x->uoff = fr_alloc((size_t)n + 1, sizeof(int64_t));
        x->cap_n = x->uoff ? n : 0;
    }
    if (nnz > x->cap_nnz || k != x->k) {
        const int64_t c = nnz > 0 ? nnz : 1;
        fr_free(x->user);
        fr_free(x->pack);
        fr_free(x->pos);
        x->user = fr_alloc((size_t)c, sizeof(int32_t));
        x->pack = fr_alloc((size_t)c * (size_t)k, sizeof(float));
        x->pos = fr_alloc((size_t)c, sizeof(int64_t));
        x->cap_nnz = x->user && x->pack && x->pos ? c : 0;
        x->k = k;
    }
    return x->cap_N >= N && x->cap_n >= n && x->cap_nnz >= (nnz > 0 ? nnz : 1);
}

fr_status fr_item_index_build(fr_item_index *x, const fr_sparse_rows *d, int32_t n, int64_t N,
                              int32_t k, int threads, fr_error *err) {
    x->N = 0, x->nnz = 0;
    if (n < 1 || N < 1 || k < 1)
        return fr_fail(err, FR_ERR_USAGE, "item index: %d users with %lld x %d tables, need at "
                       "least 1 of each", n, (long long)N, k);
    int64_t nnz = 0;
    for (int32_t i = 0; i < n; i++) {
        for (int32_t b = 0; b < d[i].n_rows; b++)
            if (d[i].rows[b] < 0 || d[i].rows[b] >= N || (b > 0 && d[i].rows[b] <= d[i].rows[b - 1]))
                return fr_fail(err, FR_ERR_USAGE, "graph: user %d's changed rows are not "
                               "ascending in 0 .. %lld", i, (long long)N - 1);
        nnz += d[i].n_rows;
    }
    if (!reserve(x, n, N, k, nnz))
        return fr_nomem(err, "item index of the table changes", (size_t)nnz * ((size_t)k * 4 + 12));
    x->n = n;
    int64_t *off = x->off;
    memset(off, 0, ((size_t)N + 1) * sizeof(int64_t));
    for (int32_t i = 0; i < n; i++)
        for (int32_t b = 0; b < d[i].n_rows; b++) off[d[i].rows[b] + 1]++;
    for (int64_t r = 0; r < N; r++) off[r + 1] += off[r];
    /* places, users in order (so ascending within an item), with off[] as cursors */
    x->uoff[0] = 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t *pos = x->pos + x->uoff[i];
        for (int32_t b = 0; b < d[i].n_rows; b++) {
            const int64_t e = off[d[i].rows[b]]++;
            pos[b] = e;
            x->user[e] = i;
        }
        x->uoff[i + 1] = x->uoff[i] + d[i].n_rows;
    }
    for (int64_t r = N; r > 0; r--) off[r] = off[r - 1]; /* the cursors ran one item ahead */
    off[0] = 0;
    if (threads < 1) threads = 1;
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (int32_t i = 0; i < n; i++) {
        const int64_t *pos = x->pos + x->uoff[i];
        for (int32_t b = 0; b < d[i].n_rows; b++)
            memcpy(x->pack + pos[b] * k, d[i].val + (int64_t)b * k, (size_t)k * sizeof(float));
    }
    x->N = N, x->nnz = nnz;
    return FR_OK;
}
