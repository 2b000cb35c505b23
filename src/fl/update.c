/* update.c - client updates and their averaging (McMahan et al., "Communication-
 * Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017, alg. 1:
 * w <- sum_k n_k/n w_k, written here as an average of deltas).
 * Leaves out: robust aggregators and the "average over the clients that touched a row"
 * variant; they belong with the general engine. */
#include "fedrec/fl.h"

#include <string.h>
#include "fedrec/alloc.h"

int64_t fr_layout_sparse_width(const fr_param_layout *l) {
    int64_t w = 0;
    for (int i = 0; i < l->n; i++)
        if (l->t[i].scope == FR_SCOPE_GLOBAL && l->t[i].row_sparse) w += l->t[i].cols;
    return w;
}

int64_t fr_layout_dense_size(const fr_param_layout *l) {
    int64_t s = 0;
    for (int i = 0; i < l->n; i++)
        if (l->t[i].scope == FR_SCOPE_GLOBAL && !l->t[i].row_sparse) s += l->t[i].rows * l->t[i].cols;
    return s;
}

fr_status fr_update_reserve(fr_update *u, const fr_param_layout *l, int32_t n_rows, fr_error *err) {
    int64_t width = fr_layout_sparse_width(l);
    if (!u->dense) {
        u->dense = fr_calloc((size_t)fr_layout_dense_size(l) + 1, sizeof(float));
        if (!u->dense) return fr_nomem(err, "update dense part", 0);
    }
    if (n_rows <= u->cap_rows) return FR_OK;
    int32_t cap = n_rows > 2 * u->cap_rows ? n_rows : 2 * u->cap_rows;
    fr_free(u->rows);
    fr_free(u->sparse);
    u->rows = fr_alloc((size_t)cap, sizeof(int32_t));
    u->sparse = fr_alloc((size_t)cap * (size_t)width + 1, sizeof(float));
    if (!u->rows || !u->sparse) {
        u->cap_rows = 0;
        return fr_nomem(err, "update rows", (size_t)cap * (size_t)(width + 1) * 4);
    }
    u->cap_rows = cap;
    return FR_OK;
}

void fr_update_free(fr_update *u) {
    fr_free(u->rows);
    fr_free(u->sparse);
    fr_free(u->dense);
    memset(u, 0, sizeof *u);
}

int64_t fr_update_bytes(const fr_update *u, const fr_param_layout *l) {
    return 4 * ((int64_t)u->n_rows * (1 + fr_layout_sparse_width(l)) + fr_layout_dense_size(l)) +
           u->side_bytes;
}
