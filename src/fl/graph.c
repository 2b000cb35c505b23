/* graph.c - the user-relation graph (GPFedRec, Zhang et al. KDD 2024; UFGraphFR, Wang et
 * al. 2025) built from the users' vectors by blocked sgemm, or from their item tables
 * (base + row-sparse changes) by one sgemm per item. The mixing of changes along the
 * graph (UFGraphFR eq. 16-17) is graph_mix.c.
 *
 * Leaves out: the symmetry of the cosine (each block of rows computes all n columns: 2 n^2
 * dim flops instead of n^2 dim, but no block waits for another's), approximate neighbour
 * search, and any caching between rounds.
 *
 * Determinism: blocks are fixed by block_rows, not by the thread count, and sgemm runs
 * single-threaded inside the parallel loop, so the graph is bit-identical for any thread
 * count. Across different block_rows it is not: sgemm rounds a dot product differently
 * depending on the row's place in the product, so weights may move in the last bits
 * (and a near-tie within that rounding could change a neighbour).
 *
 * Dimension letters: n users, dim a user's vector length, m rows in a block (at most
 * block_rows), k the width of a table row.
 *
 * Selection per row i (j != i): top_n > 0 keeps the top_n largest s_ij, ties to the lower
 * j, via a min-heap of size top_n; top_n == 0 keeps s_ij > threshold * mean(S). Under
 * SIMILARITY weights only s_ij > 0 are candidates. Then the optional self-loop, and a row
 * left empty becomes the self-loop of weight 1 (the published code's fallback). */
#include "fedrec/graph.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/item_index.h"
#include "fedrec/nn.h"

/* Columns of the unit-vector sum handled together by one thread in the mean. */
#define MEAN_CHUNK 1024

/* ---- per-user preparation: norms and duplicates ---- */

/* What every row of S needs besides the dot products. sgemm rounds a dot product
 * differently depending on where a user sits in the product, so two users with
 * bitwise identical vectors could get similarities differing in the last bits and break
 * a tie by rounding; rep makes every copy take the similarity of the first, so the tie
 * is exact and goes to the lower index. */
typedef struct user_prep {
    double *norm; /* [n] |x_i| in double */
    int32_t *rep; /* [n] the lowest user whose vector is bitwise x_i (i when none) */
} user_prep;

/* Independent sums kept in the norm and hash loops, so they are not one long chain of
 * dependent additions; the lanes are combined in a fixed order. */
#define LANES 4

/* norm[n] = |x_i|, summed in double over LANES strided partial sums. Returns the first row
 * whose squared norm is not finite or exceeds FLT_MAX (its sgemm dot products could
 * overflow), or -1. */
static int32_t row_norms(double *norm, const float *x, int32_t n, int64_t dim) {
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * dim; /* [dim] */
        double lane[LANES] = { 0.0 };
        int64_t p = 0;
        for (; p + LANES <= dim; p += LANES)
            for (int l = 0; l < LANES; l++) lane[l] += (double)xi[p + l] * xi[p + l];
        for (; p < dim; p++) lane[p % LANES] += (double)xi[p] * xi[p];
        const double sq = (lane[0] + lane[1]) + (lane[2] + lane[3]);
        norm[i] = sq <= FLT_MAX ? sqrt(sq) : -1.0; /* NaN fails the test too */
    }
    for (int32_t i = 0; i < n; i++)
        if (norm[i] < 0.0) return i;
    return -1;
}

typedef struct keyed {
    uint64_t hash;
    int32_t i;
} keyed;

static int by_hash(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->hash != y->hash) return (x->hash > y->hash) - (x->hash < y->hash);
    return (x->i > y->i) - (x->i < y->i);
}

/* A hash of the bits of x_i: FNV-1a's step over 32-bit words in LANES interleaved
 * streams, then the streams folded together. Equal vectors hash equal; collisions only
 * cost a comparison. */
static uint64_t row_hash(const float *xi, int64_t dim) {
    uint64_t lane[LANES] = { 1469598103934665603ull, 2ull, 3ull, 4ull };
    for (int64_t p = 0; p < dim; p++) {
        uint32_t bits;
        memcpy(&bits, xi + p, sizeof bits);
        lane[p % LANES] = (lane[p % LANES] ^ bits) * 1099511628211ull;
    }
    uint64_t h = lane[0];
    for (int l = 1; l < LANES; l++) h = (h ^ lane[l]) * 1099511628211ull;
    return h;
}

/* rep[n] from users sorted by (hash, index): within a run of equal hashes each user is
 * compared with the earlier users of the run that are their own representatives. */
static fr_status find_duplicates(int32_t *rep, const float *x, int32_t n, int64_t dim,
                                 fr_error *err) {
    keyed *k = fr_alloc((size_t)n, sizeof *k); /* [n] */
    if (!k) return fr_nomem(err, "graph duplicate search", (size_t)n * sizeof *k);
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < n; i++) k[i] = (keyed){ row_hash(x + (int64_t)i * dim, dim), i };
    qsort(k, (size_t)n, sizeof *k, by_hash);
    const size_t bytes = (size_t)dim * sizeof(float);
    for (int32_t a = 0, start = 0; a < n; a++) {
        if (k[a].hash != k[start].hash) start = a;
        const int32_t i = k[a].i;
        rep[i] = i;
        for (int32_t b = start; b < a && rep[i] == i; b++) {
            const int32_t j = k[b].i;
            if (rep[j] == j && !memcmp(x + (int64_t)i * dim, x + (int64_t)j * dim, bytes))
                rep[i] = j;
        }
    }
    fr_free(k);
    return FR_OK;
}

static void prep_free(user_prep *u) {
    fr_free(u->norm);
    fr_free(u->rep);
    u->norm = NULL, u->rep = NULL;
}

/* Fills u for x[n x dim]; on failure u holds nothing. */
static fr_status prep_init(user_prep *u, const float *x, int32_t n, int64_t dim, fr_error *err) {
    u->norm = fr_alloc((size_t)n, sizeof(double));
    u->rep = fr_alloc((size_t)n, sizeof(int32_t));
    fr_status st = FR_OK;
    if (!u->norm || !u->rep) st = fr_nomem(err, "graph norms", (size_t)n * 12);
    int32_t bad = st == FR_OK ? row_norms(u->norm, x, n, dim) : -1;
    if (bad >= 0)
        st = fr_fail(err, FR_ERR_INPUT,
                     "graph: the vector of user %d has a non-finite value or a squared "
                     "norm beyond float range", bad);
    if (st == FR_OK) st = find_duplicates(u->rep, x, n, dim, err);
    if (st != FR_OK) prep_free(u);
    return st;
}

/* ---- similarities ---- */

static double diag_of(fr_graph_sim sim) { return sim == FR_GRAPH_COSINE ? 1.0 : 0.0; }

/* s for one pair from its dot product and the two norms (0 when either is zero). */
static double sim_of(double dot, double ni, double nj, fr_graph_sim sim) {
    double c = ni > 0.0 && nj > 0.0 ? dot / (ni * nj) : 0.0;
    c = c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
    return sim == FR_GRAPH_COSINE ? c : 1.0 - c;
}

/* dot[m x n] = x[r0 .. r0+m) @ x^T, one sgemm. */
static void dot_block(float *dot, const float *x, int32_t n, int64_t dim, int32_t r0, int32_t m) {
    fr_matmul(dot, n, x + (int64_t)r0 * dim, (int)dim, x, (int)dim, m, n, (int)dim, 0, 1, 1.0f,
              0.0f);
}

/* s[n] = row i of S from dot[n], row i of x @ x^T. A copy takes its representative's
 * value (rep[j] < j, already computed), and the diagonal is set last. */
static void sim_row(double *s, const float *dot, const user_prep *u, int32_t i, int32_t n,
                    fr_graph_sim sim) {
    for (int32_t j = 0; j < n; j++)
        s[j] = u->rep[j] == j ? sim_of(dot[j], u->norm[i], u->norm[j], sim) : s[u->rep[j]];
    s[i] = diag_of(sim);
}

/* Checks the arguments shared by the similarity entry points. */
static fr_status check_shape(int32_t n, int64_t dim, fr_error *err) {
    if (n < 1) return fr_fail(err, FR_ERR_USAGE, "graph: n = %d users, need at least 1", n);
    if (dim < 1 || dim > INT_MAX)
        return fr_fail(err, FR_ERR_USAGE, "graph: dim = %lld, need 1 .. %d", (long long)dim,
                       INT_MAX);
    return FR_OK;
}

fr_status fr_graph_similarity(double *s, const float *x, int32_t n, int64_t dim, int32_t r0,
                              int32_t m, fr_graph_sim sim, fr_error *err) {
    fr_status st = check_shape(n, dim, err);
    if (st != FR_OK) return st;
    if (r0 < 0 || m < 1 || m > n - r0)
        return fr_fail(err, FR_ERR_USAGE, "graph: rows %d .. %d are outside 0 .. %d", r0,
                       r0 + m - 1, n - 1);
    user_prep u;
    st = prep_init(&u, x, n, dim, err);
    if (st != FR_OK) return st;
    float *dot = fr_alloc((size_t)m * n, sizeof(float)); /* [m x n] */
    if (!dot) st = fr_nomem(err, "graph similarity block", (size_t)m * n * sizeof(float));
    if (st == FR_OK) {
        dot_block(dot, x, n, dim, r0, m);
        for (int32_t r = 0; r < m; r++)
            sim_row(s + (int64_t)r * n, dot + (int64_t)r * n, &u, r0 + r, n, sim);
    }
    prep_free(&u);
    fr_free(dot);
    return st;
}

void fr_graph_similarity_ref(double *s, const float *x, int32_t n, int64_t dim, int32_t r0,
                             int32_t m, fr_graph_sim sim) {
    for (int32_t r = 0; r < m; r++) {
        const int32_t i = r0 + r;
        const float *xi = x + (int64_t)i * dim; /* [dim] */
        for (int32_t j = 0; j < n; j++) {
            const float *xj = x + (int64_t)j * dim; /* [dim] */
            double dot = 0.0, ni = 0.0, nj = 0.0;
            for (int64_t p = 0; p < dim; p++) {
                dot += (double)xi[p] * xj[p];
                ni += (double)xi[p] * xi[p];
                nj += (double)xj[p] * xj[p];
            }
            s[(int64_t)r * n + j] = j == i ? diag_of(sim) : sim_of(dot, sqrt(ni), sqrt(nj), sim);
        }
    }
}

/* *mean = the mean of all n*n entries of S, diagonal included. With u_i = x_i / |x_i|
 * (0 for a zero vector), sum_{i != j} cos_ij = |sum_i u_i|^2 - (number of nonzero x_i);
 * the sum over columns is split into fixed chunks, each summed over users in order. */
static fr_status sim_mean(double *mean, const float *x, const double *norm, int32_t n,
                          int64_t dim, fr_graph_sim sim, fr_error *err) {
    double *u = fr_calloc((size_t)dim, sizeof(double)); /* [dim] sum of unit vectors */
    if (!u) return fr_nomem(err, "graph unit-vector sum", (size_t)dim * sizeof(double));
#pragma omp parallel for schedule(static)
    for (int64_t c0 = 0; c0 < dim; c0 += MEAN_CHUNK) {
        const int64_t c1 = c0 + MEAN_CHUNK < dim ? c0 + MEAN_CHUNK : dim;
        for (int32_t i = 0; i < n; i++) {
            if (norm[i] == 0.0) continue;
            const double inv = 1.0 / norm[i];
            const float *xi = x + (int64_t)i * dim; /* [dim] */
            for (int64_t c = c0; c < c1; c++) u[c] += xi[c] * inv;
        }
    }
    double sq = 0.0;
    for (int64_t c = 0; c < dim; c++) sq += u[c] * u[c];
    int32_t nonzero = 0;
    for (int32_t i = 0; i < n; i++) nonzero += norm[i] > 0.0;
    const double off_diag = sq - nonzero, cells = (double)n * n;
    *mean = sim == FR_GRAPH_COSINE ? (off_diag + n) / cells
                                   : ((double)n * (n - 1) - off_diag) / cells;
    fr_free(u);
    return FR_OK;
}

/* ---- selection of one row ---- */

typedef struct pick {
    double s;
    int32_t j;
} pick;

/* 1 when a ranks above b: larger s, and on a tie the lower index. */
static int ranks_above(pick a, pick b) { return a.s > b.s || (a.s == b.s && a.j < b.j); }

static void swap_pick(pick *a, pick *b) {
    pick t = *a;
    *a = *b;
    *b = t;
}

/* h[len] is a heap with the lowest-ranked pick at the root. */
static void sift_up(pick *h, int32_t at) {
    while (at > 0) {
        int32_t up = (at - 1) / 2;
        if (!ranks_above(h[up], h[at])) return;
        swap_pick(&h[up], &h[at]);
        at = up;
    }
}

static void sift_down(pick *h, int32_t len, int32_t at) {
    for (;;) {
        int32_t low = at, l = 2 * at + 1, r = l + 1;
        if (l < len && ranks_above(h[low], h[l])) low = l;
        if (r < len && ranks_above(h[low], h[r])) low = r;
        if (low == at) return;
        swap_pick(&h[low], &h[at]);
        at = low;
    }
}

static int by_index(const void *a, const void *b) {
    int32_t x = ((const pick *)a)->j, y = ((const pick *)b)->j;
    return (x > y) - (x < y);
}

/* p[<= top_n] = the top_n highest-ranked j != i of s[n] (s > 0 only when positive),
 * ascending by j. Returns the count. */
static int32_t pick_top(pick *p, const double *s, int32_t i, int32_t n, int32_t top_n,
                        int positive) {
    int32_t len = 0;
    for (int32_t j = 0; j < n; j++) {
        if (j == i || (positive && !(s[j] > 0.0))) continue;
        pick c = { s[j], j };
        if (len < top_n) {
            p[len] = c;
            sift_up(p, len++);
        } else if (ranks_above(c, p[0])) {
            p[0] = c;
            sift_down(p, len, 0);
        }
    }
    qsort(p, (size_t)len, sizeof *p, by_index);
    return len;
}

/* p = every j != i with s[j] > thr (and s > 0 when positive), ascending. */
static int32_t pick_threshold(pick *p, const double *s, int32_t i, int32_t n, double thr,
                              int positive) {
    int32_t len = 0;
    for (int32_t j = 0; j < n; j++)
        if (j != i && s[j] > thr && (!positive || s[j] > 0.0)) p[len++] = (pick){ s[j], j };
    return len;
}

/* Inserts (s_ii, i) into p[len], keeping it ascending by index; returns len + 1. */
static int32_t insert_self(pick *p, int32_t len, int32_t i, double s_ii) {
    int32_t at = 0;
    while (at < len && p[at].j < i) at++;
    memmove(p + at + 1, p + at, (size_t)(len - at) * sizeof *p);
    p[at] = (pick){ s_ii, i };
    return len + 1;
}

/* p[<= n] = the neighbours of row i with their s, ascending; never empty. */
static int32_t select_row(pick *p, const double *s, int32_t i, int32_t n, double thr,
                          const fr_graph_opts *o) {
    const int positive = o->weights == FR_GRAPH_SIMILARITY;
    int32_t len = o->top_n > 0 ? pick_top(p, s, i, n, o->top_n, positive)
                               : pick_threshold(p, s, i, n, thr, positive);
    if (o->self_loop) len = insert_self(p, len, i, diag_of(o->sim));
    if (len == 0) p[len++] = (pick){ 1.0, i };
    return len;
}

/* w[len] = the row's weights: 1/len, or s / sum(s) summed in index order. */
static void row_weights(float *w, const pick *p, int32_t len, fr_graph_weights mode) {
    if (mode == FR_GRAPH_UNIFORM) {
        for (int32_t e = 0; e < len; e++) w[e] = (float)(1.0 / len);
        return;
    }
    double sum = 0.0;
    for (int32_t e = 0; e < len; e++) sum += p[e].s;
    for (int32_t e = 0; e < len; e++) w[e] = (float)(p[e].s / sum);
}

/* ---- blocks ---- */

/* The rows of one block, concatenated; cnt in the caller's offsets says where each ends. */
typedef struct block_out {
    int32_t *nbr; /* [len] */
    float *w;     /* [len] */
    int64_t len, cap;
} block_out;

static int block_reserve(block_out *b, int64_t more) {
    if (b->len + more <= b->cap) return 1;
    int64_t cap = b->cap ? 2 * b->cap : 1024;
    while (cap < b->len + more) cap *= 2;
    int32_t *nbr = fr_realloc(b->nbr, (size_t)cap, sizeof(int32_t));
    if (nbr) b->nbr = nbr;
    float *w = nbr ? fr_realloc(b->w, (size_t)cap, sizeof(float)) : NULL;
    if (w) b->w = w;
    if (!nbr || !w) return 0;
    b->cap = cap;
    return 1;
}

/* One thread's scratch: the block's dot products, one row of S, the row's picks. */
typedef struct worker {
    float *dot; /* [block_rows x n] */
    double *s;  /* [n] */
    pick *p;    /* [n] */
    double *dd; /* [block_rows x n] table sources: the block's change products */
} worker;

static int worker_init(worker *w, int32_t bs, int32_t n, int tables) {
    w->dot = fr_alloc((size_t)bs * n, sizeof(float));
    w->s = fr_alloc((size_t)n, sizeof(double));
    w->p = fr_alloc((size_t)n, sizeof(pick));
    w->dd = tables ? fr_alloc((size_t)bs * n, sizeof(double)) : NULL;
    return w->dot && w->s && w->p && (!tables || w->dd);
}

static void worker_free(worker *w) {
    fr_free(w->dot);
    fr_free(w->s);
    fr_free(w->p);
    fr_free(w->dd);
}

typedef struct table_src table_src;

typedef struct build_ctx {
    const float *x;     /* [n x dim], or NULL for a table source */
    const user_prep *u;
    const table_src *tab;
    int32_t n, bs;
    int64_t dim;
    double thr;
    const fr_graph_opts *o;
} build_ctx;

static void table_block(double *dd, float *tmp, const table_src *t, int32_t r0, int32_t m);
static void table_sim_row(double *s, const double *dd, const table_src *t, int32_t i,
                          fr_graph_sim sim);

/* Selects the rows r0 .. r0+m of block b into out; cnt[i] = row i's count. */
static int run_block(block_out *out, int64_t *cnt, worker *wk, const build_ctx *c, int32_t b) {
    const int32_t r0 = b * c->bs, m = c->n - r0 < c->bs ? c->n - r0 : c->bs;
    if (c->tab)
        table_block(wk->dd, wk->dot, c->tab, r0, m);
    else
        dot_block(wk->dot, c->x, c->n, c->dim, r0, m);
    for (int32_t r = 0; r < m; r++) {
        const int32_t i = r0 + r;
        if (c->tab)
            table_sim_row(wk->s, wk->dd + (int64_t)r * c->n, c->tab, i, c->o->sim);
        else
            sim_row(wk->s, wk->dot + (int64_t)r * c->n, c->u, i, c->n, c->o->sim);
        int32_t len = select_row(wk->p, wk->s, i, c->n, c->thr, c->o);
        if (!block_reserve(out, len)) return 0;
        for (int32_t e = 0; e < len; e++) out->nbr[out->len + e] = wk->p[e].j;
        row_weights(out->w + out->len, wk->p, len, c->o->weights);
        out->len += len;
        cnt[i] = len;
    }
    return 1;
}

/* Runs every block, in parallel over fixed blocks; 0 when an allocation failed. */
static int run_blocks(block_out *blk, int64_t *cnt, const build_ctx *c) {
    const int32_t nb = (c->n + c->bs - 1) / c->bs;
    int failed = 0;
#pragma omp parallel
    {
        worker wk;
        const int ok = worker_init(&wk, c->bs, c->n, c->tab != NULL);
#pragma omp for schedule(dynamic, 1)
        for (int32_t b = 0; b < nb; b++)
            if (!ok || !run_block(&blk[b], cnt, &wk, c, b)) {
#pragma omp atomic write
                failed = 1;
            }
        worker_free(&wk);
    }
    return !failed;
}

/* g = the blocks' rows, in order; off[n+1] holds counts in off[1..n] on entry. */
static fr_status assemble(fr_graph *g, int64_t *off, const block_out *blk, int32_t n, int32_t bs,
                          fr_error *err) {
    for (int32_t i = 0; i < n; i++) off[i + 1] += off[i];
    g->nbr = fr_alloc((size_t)off[n], sizeof(int32_t));
    g->w = fr_alloc((size_t)off[n], sizeof(float));
    if (!g->nbr || !g->w) return fr_nomem(err, "graph neighbours", (size_t)off[n] * 8);
    for (int32_t b = 0; b * bs < n; b++) {
        const int64_t at = off[b * bs];
        memcpy(g->nbr + at, blk[b].nbr, (size_t)blk[b].len * sizeof(int32_t));
        memcpy(g->w + at, blk[b].w, (size_t)blk[b].len * sizeof(float));
    }
    g->off = off;
    g->n = n;
    return FR_OK;
}

static fr_status check_opts(int32_t n, const fr_graph_opts *o, fr_error *err) {
    if (o->sim != FR_GRAPH_COSINE && o->sim != FR_GRAPH_COSINE_DISTANCE)
        return fr_fail(err, FR_ERR_USAGE, "graph: unknown similarity %d", (int)o->sim);
    if (o->weights != FR_GRAPH_UNIFORM && o->weights != FR_GRAPH_SIMILARITY)
        return fr_fail(err, FR_ERR_USAGE, "graph: unknown weights %d", (int)o->weights);
    if (o->top_n < 0 || o->top_n >= n)
        return fr_fail(err, FR_ERR_USAGE,
                       "graph: top_n = %d, need 0 (threshold mode) .. n - 1 = %d (a user has "
                       "n - 1 others)", o->top_n, n - 1);
    if (o->top_n == 0 && !isfinite(o->threshold))
        return fr_fail(err, FR_ERR_USAGE, "graph: threshold is not a finite number");
    if (o->block_rows < 0)
        return fr_fail(err, FR_ERR_USAGE, "graph: block_rows = %d, need >= 0", o->block_rows);
    if (o->self_loop && o->weights == FR_GRAPH_SIMILARITY && o->sim == FR_GRAPH_COSINE_DISTANCE)
        return fr_fail(err, FR_ERR_USAGE,
                       "graph: self_loop with similarity weights under cosine distance would "
                       "weigh each user by its distance to itself, 0");
    return FR_OK;
}

/* Selects every row into blocks and assembles g. */
static fr_status build_rows(fr_graph *g, const build_ctx *c, fr_error *err) {
    const int32_t nb = (c->n + c->bs - 1) / c->bs;
    block_out *blk = fr_calloc((size_t)nb, sizeof *blk);       /* [nb] */
    int64_t *off = fr_calloc((size_t)c->n + 1, sizeof(int64_t)); /* [n+1] */
    fr_status st = FR_OK;
    if (!blk || !off) st = fr_nomem(err, "graph blocks", (size_t)c->n * 8);
    if (st == FR_OK && !run_blocks(blk, off + 1, c))
        st = fr_nomem(err, "graph block workspace", (size_t)c->bs * c->n * 4);
    if (st == FR_OK) st = assemble(g, off, blk, c->n, c->bs, err);
    if (st != FR_OK) fr_free(off);
    for (int32_t b = 0; blk && b < nb; b++) {
        fr_free(blk[b].nbr);
        fr_free(blk[b].w);
    }
    fr_free(blk);
    return st;
}

fr_status fr_graph_build(fr_graph *g, const float *x, int32_t n, int64_t dim,
                         const fr_graph_opts *o, fr_error *err) {
    memset(g, 0, sizeof *g);
    fr_status st = check_shape(n, dim, err);
    if (st == FR_OK) st = check_opts(n, o, err);
    if (st != FR_OK) return st;
    user_prep u;
    st = prep_init(&u, x, n, dim, err);
    if (st != FR_OK) return st;
    build_ctx c = { x, &u, NULL, n, o->block_rows ? o->block_rows : FR_GRAPH_BLOCK_ROWS, dim, 0.0, o };
    if (c.bs > n) c.bs = n;
    if (o->top_n == 0) {
        st = sim_mean(&c.thr, x, u.norm, n, dim, o->sim, err);
        c.thr *= o->threshold;
    }
    if (st == FR_OK) st = build_rows(g, &c, err);
    prep_free(&u);
    if (st != FR_OK) fr_graph_free(g);
    return st;
}

void fr_graph_free(fr_graph *g) {
    fr_free(g->off);
    fr_free(g->nbr);
    fr_free(g->w);
    memset(g, 0, sizeof *g);
}

/* ---- users' item tables as the vectors: A_i = base + D_i ---- */

/* The changes D_i regrouped by item (item_index.h), so one sgemm per item gives every
 * pair's dot, and the users' terms of their norms. */
struct table_src {
    const fr_item_index *ix;
    double *gd;     /* [n] <base, D_i> */
    double *norm;   /* [n] |A_i| */
    double bb;      /* |base|^2 */
};

static void table_free(table_src *t) {
    fr_free(t->gd);
    fr_free(t->norm);
    memset(t, 0, sizeof *t);
}

static fr_status table_init(table_src *t, const float *base, const fr_sparse_rows *d,
                            const fr_item_index *ix, fr_error *err) {
    memset(t, 0, sizeof *t);
    t->ix = ix;
    const int32_t n = ix->n, k = ix->k;
    t->gd = fr_alloc((size_t)n, sizeof(double));
    t->norm = fr_alloc((size_t)n, sizeof(double));
    if (!t->gd || !t->norm) {
        table_free(t);
        return fr_nomem(err, "graph table norms", (size_t)n * 16);
    }
    double bb = 0.0;
    for (int64_t e = 0; e < ix->N * k; e++) bb += (double)base[e] * base[e];
    t->bb = bb;
#pragma omp parallel for schedule(dynamic, 16)
    for (int32_t i = 0; i < n; i++) {
        double gd = 0.0, dd = 0.0;
        for (int32_t b = 0; b < d[i].n_rows; b++) {
            const float *v = d[i].val + (int64_t)b * k;             /* [k] */
            const float *g = base + (int64_t)d[i].rows[b] * k;      /* [k] */
            for (int32_t q = 0; q < k; q++) {
                gd += (double)g[q] * v[q];
                dd += (double)v[q] * v[q];
            }
        }
        t->gd[i] = gd;
        const double sq = bb + 2.0 * gd + dd;
        t->norm[i] = isfinite(sq) ? (sq > 0.0 ? sqrt(sq) : 0.0) : NAN;
    }
    for (int32_t i = 0; i < n; i++)
        if (isnan(t->norm[i])) {
            table_free(t);
            return fr_fail(err, FR_ERR_INPUT, "graph: the table of user %d has a non-finite value", i);
        }
    return FR_OK;
}

/* First position in users[0..len) holding a user >= v. */
static int64_t lower_user(const int32_t *users, int64_t len, int32_t v) {
    int64_t lo = 0, hi = len;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (users[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* dd[m x n] = <D_i, D_j> for the block's users i = r0 .. r0+m-1 and every j: item by
 * item, the rows of the block's users times all rows of that item (one sgemm into
 * tmp [m x users of the item]), added in item order. */
static void table_block(double *dd, float *tmp, const table_src *t, int32_t r0, int32_t m) {
    const fr_item_index *ix = t->ix;
    const int32_t n = ix->n, k = ix->k;
    memset(dd, 0, (size_t)m * n * sizeof(double));
    for (int64_t r = 0; r < ix->N; r++) {
        const int32_t *users = ix->user + ix->off[r];
        const int64_t c = ix->off[r + 1] - ix->off[r];
        if (c == 0) continue;
        const int64_t lo = lower_user(users, c, r0), hi = lower_user(users, c, r0 + m);
        if (lo == hi) continue;
        const float *rows = ix->pack + ix->off[r] * k; /* [c x k] */
        fr_matmul(tmp, (int)c, rows + lo * k, k, rows, k, (int)(hi - lo), (int)c, k, 0, 1, 1.0f,
                  0.0f);
        for (int64_t a = lo; a < hi; a++) {
            double *out = dd + (int64_t)(users[a] - r0) * n; /* [n] */
            const float *v = tmp + (a - lo) * c;               /* [c] */
            for (int64_t b = 0; b < c; b++) out[users[b]] += v[b];
        }
    }
}

/* s[n] = row i of S: <A_i, A_j> = |base|^2 + <base, D_i> + <base, D_j> + <D_i, D_j>. */
static void table_sim_row(double *s, const double *dd, const table_src *t, int32_t i,
                          fr_graph_sim sim) {
    for (int32_t j = 0; j < t->ix->n; j++)
        s[j] = sim_of(t->bb + t->gd[i] + t->gd[j] + dd[j], t->norm[i], t->norm[j], sim);
    s[i] = diag_of(sim);
}

/* The mean of all n*n entries of S, as sim_mean: sum_i A_i / |A_i| is
 * base * sum_i 1/|A_i| + sum_i D_i / |A_i|, built densely once. */
static fr_status table_mean(double *mean, const float *base, const fr_sparse_rows *d,
                            const table_src *t, fr_graph_sim sim, fr_error *err) {
    const int64_t sz = t->ix->N * t->ix->k;
    double *u = fr_calloc((size_t)sz, sizeof(double)); /* [N x k] */
    if (!u) return fr_nomem(err, "graph unit-vector sum", (size_t)sz * sizeof(double));
    double inv_sum = 0.0;
    int32_t nonzero = 0;
    for (int32_t i = 0; i < t->ix->n; i++) {
        if (t->norm[i] == 0.0) continue;
        nonzero++;
        const double inv = 1.0 / t->norm[i];
        inv_sum += inv;
        for (int32_t b = 0; b < d[i].n_rows; b++) {
            double *o = u + (int64_t)d[i].rows[b] * t->ix->k;  /* [k] */
            const float *v = d[i].val + (int64_t)b * t->ix->k; /* [k] */
            for (int32_t q = 0; q < t->ix->k; q++) o[q] += v[q] * inv;
        }
    }
    double sq = 0.0;
    for (int64_t e = 0; e < sz; e++) {
        const double x = base[e] * inv_sum + u[e];
        sq += x * x;
    }
    fr_free(u);
    const int32_t n = t->ix->n;
    const double off_diag = sq - nonzero, cells = (double)n * n;
    *mean = sim == FR_GRAPH_COSINE ? (off_diag + n) / cells
                                   : ((double)n * (n - 1) - off_diag) / cells;
    return FR_OK;
}

fr_status fr_graph_build_tables_ix(fr_graph *g, const float *base, const fr_sparse_rows *d,
                                   const fr_item_index *ix, const fr_graph_opts *o,
                                   fr_error *err) {
    memset(g, 0, sizeof *g);
    const int32_t n = ix->n, k = ix->k;
    const int64_t N = ix->N;
    if (n < 1 || N < 1 || k < 1)
        return fr_fail(err, FR_ERR_USAGE, "graph: %d users with %lld x %d tables, need at "
                       "least 1 of each", n, (long long)N, k);
    if (N * k > INT_MAX)
        return fr_fail(err, FR_ERR_USAGE, "graph: tables of %lld x %d exceed %d entries",
                       (long long)N, k, INT_MAX);
    fr_status st = check_opts(n, o, err);
    if (st != FR_OK) return st;
    table_src t;
    st = table_init(&t, base, d, ix, err);
    if (st != FR_OK) return st;
    build_ctx c = { NULL, NULL, &t, n, o->block_rows ? o->block_rows : FR_GRAPH_BLOCK_ROWS,
                    N * k, 0.0, o };
    if (c.bs > n) c.bs = n;
    if (o->top_n == 0) {
        st = table_mean(&c.thr, base, d, &t, o->sim, err);
        c.thr *= o->threshold;
    }
    if (st == FR_OK) st = build_rows(g, &c, err);
    table_free(&t);
    if (st != FR_OK) fr_graph_free(g);
    return st;
}

fr_status fr_graph_build_tables(fr_graph *g, const float *base, const fr_sparse_rows *d,
                                int32_t n, int64_t N, int32_t k, const fr_graph_opts *o,
                                fr_error *err) {
    memset(g, 0, sizeof *g);
    if (n < 1 || N < 1 || k < 1)
        return fr_fail(err, FR_ERR_USAGE, "graph: %d users with %lld x %d tables, need at "
                       "least 1 of each", n, (long long)N, k);
    fr_item_index ix = { 0 };
    fr_status st = fr_item_index_build(&ix, d, n, N, k, omp_get_max_threads(), err);
    if (st == FR_OK) st = fr_graph_build_tables_ix(g, base, d, &ix, o, err);
    fr_item_index_free(&ix);
    return st;
}

void fr_graph_table_similarity_ref(double *s, const float *base, const fr_sparse_rows *d,
                                   int32_t n, int64_t N, int32_t k, int32_t i, fr_graph_sim sim) {
    float *a = fr_alloc((size_t)(N * k), sizeof(float)), *b = fr_alloc((size_t)(N * k), sizeof(float));
    if (!a || !b) {
        fr_free(a);
        fr_free(b);
        for (int32_t j = 0; j < n; j++) s[j] = NAN;
        return;
    }
    memcpy(a, base, (size_t)(N * k) * sizeof(float));
    for (int32_t q = 0; q < d[i].n_rows; q++)
        for (int32_t c = 0; c < k; c++) a[(int64_t)d[i].rows[q] * k + c] += d[i].val[(int64_t)q * k + c];
    for (int32_t j = 0; j < n; j++) {
        memcpy(b, base, (size_t)(N * k) * sizeof(float));
        for (int32_t q = 0; q < d[j].n_rows; q++)
            for (int32_t c = 0; c < k; c++)
                b[(int64_t)d[j].rows[q] * k + c] += d[j].val[(int64_t)q * k + c];
        double dot = 0.0, na = 0.0, nb = 0.0;
        for (int64_t e = 0; e < N * k; e++) {
            dot += (double)a[e] * b[e];
            na += (double)a[e] * a[e];
            nb += (double)b[e] * b[e];
        }
        s[j] = j == i ? diag_of(sim) : sim_of(dot, sqrt(na), sqrt(nb), sim);
    }
    fr_free(a);
    fr_free(b);
}
