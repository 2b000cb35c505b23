/* graph.h - the user-relation graph of graph-guided federated aggregation, and the
 * aggregation over row-sparse updates it drives.
 *
 * Sources: GPFedRec (Zhang et al., KDD 2024) and UFGraphFR (Wang et al. 2025, eq. 16-17).
 * Each user i uploads a vector x_i (e.g. its flattened joint-layer weight); the server
 * builds a row-stochastic matrix S over users from their pairwise cosines (top-n or
 * mean-threshold neighbours) and gives user i the mixture R_i = sum_j S_ij A_j of the
 * users' tables A_j = G + D_j (shared table G plus user j's row-sparse change D_j).
 *
 * Leaves out: the symmetric half of the product (every row block computes all n
 * columns), metrics other than the cosine, and learning S. The graph is rebuilt from
 * scratch each call.
 *
 * Dimension letters: n users, dim the length of a user's vector, k the width of a
 * table row, N rows of an item table.
 *
 * Threads: fr_graph_build splits the rows into fixed blocks of block_rows and runs them
 * in an OpenMP loop (sgemm single-threaded inside it); every output depends only on its
 * block, so the graph is bit-identical for any thread count. A different block_rows may
 * move weights in the last bits: sgemm's rounding of a dot product depends on the row's
 * place in the product. Users with bitwise identical vectors get exactly equal
 * similarities (the first copy's), so their ties go to the lower index. The other
 * functions start no threads.
 */
#ifndef FEDREC_GRAPH_H
#define FEDREC_GRAPH_H

#include <stdint.h>
#include "fedrec/status.h"

typedef enum fr_graph_sim { FR_GRAPH_COSINE, FR_GRAPH_COSINE_DISTANCE } fr_graph_sim;
/* FR_GRAPH_COSINE: s_ij = cos(x_i, x_j) (a zero vector has similarity 0 to everyone).
 * FR_GRAPH_COSINE_DISTANCE: the published GPFedRec/UFGraphFR code's defect,
 * s_ij = 1 - cos(x_i, x_j) used as if it were a similarity (sklearn
 * pairwise_distances(metric='cosine')), so "top" neighbours are the least similar
 * users. Offered only to reproduce their numbers.
 * Both clamp the cosine to [-1, 1]; the diagonal is fixed at s_ii = 1 (COSINE) and
 * s_ii = 0 (COSINE_DISTANCE), zero vectors included, as sklearn's distance does. */

typedef enum fr_graph_weights { FR_GRAPH_UNIFORM, FR_GRAPH_SIMILARITY } fr_graph_weights;

/* Rows of S computed per sgemm call when fr_graph_opts.block_rows is 0. */
#define FR_GRAPH_BLOCK_ROWS 256

typedef struct fr_graph_opts {
    fr_graph_sim sim;
    int32_t top_n;      /* > 0: keep the top_n largest s_ij per row, j != i (ties: lower j) */
    double threshold;   /* top_n == 0: keep j != i with s_ij > threshold * mean of all n*n
                         * entries (diagonal included), as the published code. The mean is
                         * computed exactly as (|sum_i u_i|^2 - nonzero + n) / n^2 with
                         * u_i = x_i / |x_i| (or 0), in double: the same number, O(n dim). */
    fr_graph_weights weights; /* UNIFORM: each kept neighbour 1/count (published code);
                               * SIMILARITY: s_ij / sum of kept s_ij (only s_ij > 0 kept) */
    int self_loop;      /* 1: also include i itself, weighted as the others (UNIFORM: one more
                         * share; SIMILARITY: s_ii = 1). A row with no neighbour always
                         * becomes a self-loop of weight 1. */
    int32_t block_rows; /* rows per block; 0 = FR_GRAPH_BLOCK_ROWS. Memory per thread is
                         * about block_rows x n floats + 3 n doubles. */
} fr_graph_opts;

typedef struct fr_graph { /* CSR, rows sum to 1, neighbours ascending within a row */
    int32_t n;
    int64_t *off;         /* [n+1] */
    int32_t *nbr;         /* [off[n]] */
    float *w;             /* [off[n]] */
} fr_graph;

/* Builds the graph of the users' vectors x[n x dim] (row-major). The similarities come
 * from fr_matmul (sgemm, float dot products) in blocks of o->block_rows rows, divided
 * by norms computed in double; memory is O(block_rows x n) per thread, never n x n.
 * g is overwritten (not freed first); the caller owns it and frees it with
 * fr_graph_free. On failure g is left empty (n = 0, NULL arrays) and err says why:
 * FR_ERR_USAGE for n < 1, dim < 1 or > INT_MAX, top_n < 0 or >= n, a non-finite
 * threshold, block_rows < 0, or SIMILARITY weights with a self-loop under
 * COSINE_DISTANCE (the user's distance to itself is 0); FR_ERR_INPUT for a row of x
 * with a non-finite or float-overflowing norm; FR_ERR_NOMEM. */
fr_status fr_graph_build(fr_graph *g, const float *x, int32_t n, int64_t dim,
                         const fr_graph_opts *o, fr_error *err);
/* Frees g's arrays and leaves it empty; safe on an empty or zeroed graph. */
void fr_graph_free(fr_graph *g);

/* s[m x n] = the similarities of users r0 .. r0+m-1 with every user, exactly as
 * fr_graph_build sees them (same sgemm call shape for m = block_rows). For tests and
 * inspection: it allocates an m x n float scratch and n norms (FR_ERR_NOMEM). */
fr_status fr_graph_similarity(double *s, const float *x, int32_t n, int64_t dim, int32_t r0,
                              int32_t m, fr_graph_sim sim, fr_error *err);
/* The same by plain double loops, no BLAS. */
void fr_graph_similarity_ref(double *s, const float *x, int32_t n, int64_t dim, int32_t r0,
                             int32_t m, fr_graph_sim sim);

/* The users' changes regrouped by item (item_index.h). */
typedef struct fr_item_index fr_item_index;

/* Sparse per-user rows: the rows of an item table a client changed and their values. */
typedef struct fr_sparse_rows {
    int32_t n_rows;
    const int32_t *rows; /* [n_rows] ascending */
    const float *val;    /* [n_rows x k] */
} fr_sparse_rows;

/* The graph of the users' whole item tables A_i = base + D_i (GPFedRec builds it from the
 * flattened tables the clients upload), without forming them: with the changes d[n]
 * (rows ascending in 0 .. N-1, n_rows 0 for a user that changed nothing),
 * <A_i, A_j> = |base|^2 + <base, D_i> + <base, D_j> + <D_i, D_j>, norms likewise (in
 * double), and <D_i, D_j> from one sgemm per item over the users that changed it, in
 * blocks of o->block_rows users. Cost O(sum over items of users(item) x block share x
 * k + N k): never n x N x k dense. Selection, weights and determinism as fr_graph_build
 * (users whose tables are identical may differ in the last bits here). base [N x k].
 * Errors: FR_ERR_USAGE for n, N or k < 1, N k > INT_MAX, rows not ascending or out of
 * range, and bad options; FR_ERR_INPUT for a non-finite table; FR_ERR_NOMEM. Memory: the
 * changes packed by item (their size again) plus per thread block_rows x n doubles and
 * floats. */
fr_status fr_graph_build_tables(fr_graph *g, const float *base, const fr_sparse_rows *d,
                                int32_t n, int64_t N, int32_t k, const fr_graph_opts *o,
                                fr_error *err);
/* The same from an index of d built by the caller (fr_item_index_build), which it may
 * keep for fr_graph_mix_all; n, N and k are the index's. */
fr_status fr_graph_build_tables_ix(fr_graph *g, const float *base, const fr_sparse_rows *d,
                                   const fr_item_index *ix, const fr_graph_opts *o,
                                   fr_error *err);
/* s[n] = row i of S for the same tables, by materialising A_i and each A_j in float and
 * plain double loops (for tests; NaN everywhere when out of memory). */
void fr_graph_table_similarity_ref(double *s, const float *base, const fr_sparse_rows *d,
                                   int32_t n, int64_t N, int32_t k, int32_t i, fr_graph_sim sim);

/* Graph-guided aggregation over sparse rows (UFGraphFR eq. 16, R = S A): with
 * A_j = G + D_j, R_i = G + sum_j S_ij D_j because rows of S sum to 1.
 * Overwrites out[n_req x k] with sum_j S_ij D_j[r] for the requested rows req[n_req]
 * (ascending), zero where no neighbour has the row; d[n] holds every user's change.
 * Neighbours are added in ascending order, in float. Cost O(sum over neighbours of
 * their n_rows) lookups in a map of the requested rows (max(req) + 1 ints, allocated
 * per call; without memory the sorted lists are merged instead, same result). */
void fr_graph_mix_rows(const fr_graph *g, int32_t i, const fr_sparse_rows *d, int32_t k,
                       const int32_t *req, int32_t n_req, float *out);
/* Every user's requested rows at once: out[i] [req[i].n_rows x k] = the rows req[i].rows
 * (ascending in 0 .. N-1; req[i].val unused) of sum_j S_ij D_j, exactly what
 * fr_graph_mix_rows gives user i, bit for bit. ix holds the changes D regrouped by item
 * (item_index.h). Worked item by item: the users that changed the item against the
 * users that asked for it, four at a time, with S expanded to a dense n x n float
 * matrix; non-neighbours add 0 x (a finite value), which changes no sum. Cost
 * O(sum over items of changers x askers x k) without lookups or branches: cheaper than
 * n calls to fr_graph_mix_rows when the graph is broad (fr_graph_mix_all_pays). Items
 * are split among `threads` OpenMP threads; each output row is one thread's
 * fixed-order sum, so results do not depend on them. Memory: the requests regrouped
 * (12 bytes each) and n x n floats. Errors: FR_ERR_USAGE for a row out of range or an
 * index of another n; FR_ERR_INPUT when a change is not finite (0 x inf is not 0: use
 * fr_graph_mix_rows); FR_ERR_NOMEM. */
fr_status fr_graph_mix_all(const fr_graph *g, const fr_item_index *ix, const fr_sparse_rows *req,
                           float *const *out, int threads, fr_error *err);
/* 1 when fr_graph_mix_all should beat n calls of fr_graph_mix_rows for these requests:
 * its row operations (sum over items of changers x askers) below FR_GRAPH_MIX_ITEM_COST
 * times the per-user form's lookups (sum over edges i -> j of user j's rows). 0 also
 * when the estimate cannot get its 16 N bytes of memory, and when the dense n x n
 * matrix would pass FR_GRAPH_MIX_MAX_DENSE bytes (n above about 16000). The ratio is
 * measured by bench_graph_mix: about 0.5 ns per row operation (k = 32, 2 threads)
 * against 3-6 ns per lookup. */
#define FR_GRAPH_MIX_ITEM_COST 6.0
#define FR_GRAPH_MIX_MAX_DENSE ((int64_t)1 << 30)
int fr_graph_mix_all_pays(const fr_graph *g, const fr_sparse_rows *d, int64_t N,
                          const fr_sparse_rows *req);
/* Writes the union of the rows of user i's neighbours (ascending, no repeats) to out and
 * returns its length. out must hold the sum of the neighbours' n_rows. */
int32_t fr_graph_union_rows(const fr_graph *g, int32_t i, const fr_sparse_rows *d, int32_t *out);
/* c[n]: column means c_j = (1/n) sum_i S_ij (in-degree weights), summed in row order.
 * The global table of UFGraphFR eq. 17, mean_i R_i, is G + sum_j c_j D_j. */
void fr_graph_column_mean(const fr_graph *g, double *c);

#endif
