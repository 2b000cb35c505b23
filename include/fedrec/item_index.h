/* item_index.h - users' row-sparse table changes regrouped by row (item): for item r,
 * the users that changed it, ascending, and their rows packed contiguously. The graph
 * of GPFedRec's tables (graph.h: one product per item over its users) and the batched
 * mixing of R_i rows (fr_graph_mix_all) both work item by item over this layout.
 *
 * Dimension letters: n users, N rows (items) of a table, k the width of a row, nnz the
 * users' changed rows in all.
 *
 * Threads: fr_item_index_build copies the rows with `threads` OpenMP threads, each row
 * to a place fixed before the copy; the index does not depend on the thread count. */
#ifndef FEDREC_ITEM_INDEX_H
#define FEDREC_ITEM_INDEX_H

#include <stdint.h>
#include "fedrec/graph.h"
#include "fedrec/status.h"

struct fr_item_index { /* typedef in graph.h */
    int32_t n, k;
    int64_t N, nnz;
    int64_t *off;   /* [N+1] item r's entries are off[r] .. off[r+1]-1 */
    int32_t *user;  /* [nnz] the users, ascending within an item */
    float *pack;    /* [nnz x k] their rows */
    int64_t *pos;   /* [nnz] where user i's b-th row went, users in order */
    int64_t cap_N, cap_nnz; /* what the arrays hold; a rebuild reuses them */
    int32_t cap_n;
    int64_t *uoff;  /* [n+1] user i's first slot in pos */
};

/* Rebuilds x from d[n] (rows ascending in 0 .. N-1), reusing x's arrays when they are
 * large enough (x zeroed before its first build). Errors: FR_ERR_USAGE for n, N or k < 1
 * or rows not ascending or out of range ("graph: user i's changed rows ..."),
 * FR_ERR_NOMEM; on error x stays valid to free but holds no index (nnz 0, N 0). */
fr_status fr_item_index_build(fr_item_index *x, const fr_sparse_rows *d, int32_t n, int64_t N,
                              int32_t k, int threads, fr_error *err);
void fr_item_index_free(fr_item_index *x);

#endif
