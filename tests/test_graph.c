/* test_graph.c - the user-relation graph: planted clusters found by the cosine and
 * inverted by the published code's cosine distance; threshold mode against a
 * brute-force double reference (empty rows included); the sgemm similarities against
 * plain loops; blocking, thread count and tie-breaking; the sparse mixing, row union and
 * column mean against dense references; argument errors.
 * Leaves out: the graph over sparse tables and graph_agg (test_graph_agg.c), timing
 * (bench/graph_build.c). */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/graph.h"
#include "fedrec/rng.h"

/* n users, dim a vector's length, N items, k a table row's width. */

/* ---- helpers (and tu_graph_* in testutil.c) ---- */

/* x[n x dim]: users alternate between two clusters (i % 2), each near its own random
 * direction: x_i = dir[i % 2] + noise * N(0, 1). */
static float *two_clusters(int32_t n, int64_t dim, double noise, uint64_t seed) {
    float *x = malloc((size_t)n * dim * sizeof(float));
    float *dir = malloc(2 * (size_t)dim * sizeof(float)); /* [2 x dim] */
    tu_fill_normal(dir, 2 * dim, seed, 0, 1.0);
    tu_fill_normal(x, (int64_t)n * dim, seed, 1, noise);
    for (int32_t i = 0; i < n; i++)
        for (int64_t p = 0; p < dim; p++) x[(int64_t)i * dim + p] += dir[(i % 2) * dim + p];
    free(dir);
    return x;
}

/* ---- planted clusters ---- */

static void test_planted_clusters(void **state) {
    (void)state;
    const int32_t n = 41;
    const int64_t dim = 64;
    float *x = two_clusters(n, dim, 0.3, 7);
    fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .top_n = 3 };
    fr_graph g;
    tu_graph_build_ok(&g, x, n, dim, &o);
    for (int32_t i = 0; i < n; i++) {
        assert_int_equal(g.off[i + 1] - g.off[i], 3);
        for (int64_t e = g.off[i]; e < g.off[i + 1]; e++) {
            assert_int_not_equal(g.nbr[e], i);
            if (g.nbr[e] % 2 != i % 2)
                fail_msg("cosine: user %d got %d from the other cluster", i, g.nbr[e]);
            assert_true(g.w[e] == 1.0f / 3.0f);
        }
    }
    fr_graph_free(&g);
    /* The defect: distances ranked as similarities pick the other cluster only. */
    o.sim = FR_GRAPH_COSINE_DISTANCE;
    tu_graph_build_ok(&g, x, n, dim, &o);
    for (int32_t i = 0; i < n; i++)
        for (int64_t e = g.off[i]; e < g.off[i + 1]; e++)
            if (g.nbr[e] % 2 == i % 2)
                fail_msg("distance: user %d got %d from its own cluster", i, g.nbr[e]);
    fr_graph_free(&g);
    free(x);
}

/* ---- threshold mode against brute force ---- */

/* The expected neighbours of every row under threshold mode, from the double-loop S:
 * keep j != i with s_ij > threshold * mean(S), then the self-loop, then the fallback. */
static void check_threshold_row(const fr_graph *g, const double *s, int32_t i, double thr,
                                int self_loop, int *empty) {
    const int32_t n = g->n;
    int32_t want[256], len = 0;
    for (int32_t j = 0; j < n; j++)
        if ((j != i && s[(int64_t)i * n + j] > thr) || (j == i && self_loop)) want[len++] = j;
    if (len == 0) want[len++] = i, (*empty)++;
    assert_int_equal(g->off[i + 1] - g->off[i], len);
    for (int32_t e = 0; e < len; e++) {
        assert_int_equal(g->nbr[g->off[i] + e], want[e]);
        assert_true(g->w[g->off[i] + e] == (float)(1.0 / len));
    }
}

static void threshold_case(const float *x, int32_t n, int64_t dim, fr_graph_sim sim,
                           double threshold, int self_loop, int want_empty) {
    double *s = malloc((size_t)n * n * sizeof(double));
    fr_graph_similarity_ref(s, x, n, dim, 0, n, sim);
    double mean = 0.0;
    for (int64_t c = 0; c < (int64_t)n * n; c++) mean += s[c];
    mean /= (double)n * n;
    fr_graph_opts o = { .sim = sim, .threshold = threshold, .self_loop = self_loop,
                        .block_rows = 7 };
    fr_graph g;
    tu_graph_build_ok(&g, x, n, dim, &o);
    int empty = 0;
    for (int32_t i = 0; i < n; i++)
        check_threshold_row(&g, s, i, threshold * mean, self_loop, &empty);
    if (want_empty) assert_true(empty >= 2);
    fr_graph_free(&g);
    free(s);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A threshold whose cut threshold * mean(S) falls midway in the narrowest gap (at least
 * 1e-5, well above sgemm's rounding) between two off-diagonal values of S: an error in
 * the mean of more than about the gap moves an entry across the cut. */
static double sharp_threshold(const float *x, int32_t n, int64_t dim, fr_graph_sim sim) {
    double *s = malloc((size_t)n * n * sizeof(double)), *v = malloc((size_t)n * n * sizeof(double));
    fr_graph_similarity_ref(s, x, n, dim, 0, n, sim);
    double mean = 0.0, best = 1.0, cut = 0.0;
    int64_t len = 0;
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < n; j++) {
            mean += s[(int64_t)i * n + j];
            if (i != j) v[len++] = s[(int64_t)i * n + j];
        }
    mean /= (double)n * n;
    qsort(v, (size_t)len, sizeof *v, cmp_double);
    for (int64_t a = 1; a < len; a++)
        if (v[a] - v[a - 1] >= 1e-5 && v[a] - v[a - 1] < best)
            best = v[a] - v[a - 1], cut = 0.5 * (v[a] + v[a - 1]);
    free(s);
    free(v);
    assert_true(best < 1e-3);
    return cut / mean;
}

static void test_threshold_brute_force(void **state) {
    (void)state;
    const int32_t n = 45; /* not a multiple of the 7-row blocks */
    const int64_t dim = 40;
    float *x = two_clusters(n, dim, 0.8, 11);
    /* user 5 points away from both clusters (negative cosine to everyone), user 9 is zero:
     * under the cosine neither clears a positive threshold, so both become self-loops. */
    for (int64_t p = 0; p < dim; p++) {
        x[5 * dim + p] = -(x[0 * dim + p] + x[1 * dim + p]);
        x[9 * dim + p] = 0.0f;
    }
    threshold_case(x, n, dim, FR_GRAPH_COSINE, 1.0, 0, 1);
    threshold_case(x, n, dim, FR_GRAPH_COSINE, 1.3, 1, 0);
    threshold_case(x, n, dim, FR_GRAPH_COSINE, 0.0, 0, 0);
    threshold_case(x, n, dim, FR_GRAPH_COSINE_DISTANCE, 1.0, 0, 0);
    threshold_case(x, n, dim, FR_GRAPH_COSINE_DISTANCE, 1.1, 1, 0);
    threshold_case(x, n, dim, FR_GRAPH_COSINE, sharp_threshold(x, n, dim, FR_GRAPH_COSINE), 0, 0);
    threshold_case(x, n, dim, FR_GRAPH_COSINE_DISTANCE,
                   sharp_threshold(x, n, dim, FR_GRAPH_COSINE_DISTANCE), 0, 0);
    free(x);
}

/* SIMILARITY weights: s_ij over the kept sum, only positive s kept, self s_ii = 1. */
static void test_similarity_weights(void **state) {
    (void)state;
    const int32_t n = 30;
    const int64_t dim = 16;
    float *x = malloc((size_t)n * dim * sizeof(float));
    tu_fill_normal(x, (int64_t)n * dim, 5, 0, 1.0);
    double *s = malloc((size_t)n * n * sizeof(double));
    fr_graph_similarity_ref(s, x, n, dim, 0, n, FR_GRAPH_COSINE);
    fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .top_n = 20, .weights = FR_GRAPH_SIMILARITY,
                        .self_loop = 1 };
    fr_graph g;
    tu_graph_build_ok(&g, x, n, dim, &o);
    for (int32_t i = 0; i < n; i++) {
        double sum = 0.0;
        for (int64_t e = g.off[i]; e < g.off[i + 1]; e++) {
            double sij = g.nbr[e] == i ? 1.0 : s[(int64_t)i * n + g.nbr[e]];
            assert_true(sij > 0.0);
            sum += sij;
        }
        int32_t positive = 0; /* the row keeps min(20, positive others) plus itself */
        for (int32_t j = 0; j < n; j++) positive += j != i && s[(int64_t)i * n + j] > 0.0;
        assert_int_equal(g.off[i + 1] - g.off[i], (positive < 20 ? positive : 20) + 1);
        for (int64_t e = g.off[i]; e < g.off[i + 1]; e++) {
            double sij = g.nbr[e] == i ? 1.0 : s[(int64_t)i * n + g.nbr[e]];
            assert_true(fabs(g.w[e] - sij / sum) < 1e-6);
        }
    }
    fr_graph_free(&g);
    free(s);
    free(x);
}

/* ---- BLAS against loops, blocking ---- */

static void test_blas_matches_reference(void **state) {
    (void)state;
    const int32_t n = 37;
    const int64_t dim = 300;
    float *x = two_clusters(n, dim, 1.0, 3);
    memset(x + 4 * dim, 0, (size_t)dim * sizeof(float)); /* a zero vector */
    double *a = malloc((size_t)n * n * sizeof(double)), *b = malloc((size_t)n * n * sizeof(double));
    const fr_graph_sim sims[2] = { FR_GRAPH_COSINE, FR_GRAPH_COSINE_DISTANCE };
    for (int t = 0; t < 2; t++) {
        fr_error err;
        assert_int_equal(fr_graph_similarity(a, x, n, dim, 0, n, sims[t], &err), FR_OK);
        fr_graph_similarity_ref(b, x, n, dim, 0, n, sims[t]);
        double worst = 0.0;
        for (int64_t c = 0; c < (int64_t)n * n; c++) worst = fmax(worst, fabs(a[c] - b[c]));
        if (worst > 1e-5) fail_msg("sim %d: BLAS differs from loops by %.3g", t, worst);
        assert_true(b[4 * n + 7] == (t == 0 ? 0.0 : 1.0)); /* zero vector */
        assert_true(b[4 * n + 4] == (t == 0 ? 1.0 : 0.0)); /* fixed diagonal */
        /* a middle block of rows gives the same rows */
        assert_int_equal(fr_graph_similarity(b, x, n, dim, 10, 9, sims[t], &err), FR_OK);
        for (int64_t c = 0; c < 9 * (int64_t)n; c++) assert_true(fabs(b[c] - a[10 * n + c]) < 1e-6);
    }
    free(a);
    free(b);
    free(x);
}

/* The same neighbours, and weights within tol of each other. */
static void assert_close_graph(const fr_graph *a, const fr_graph *b, double tol) {
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->off, b->off, (size_t)(a->n + 1) * sizeof(int64_t));
    assert_memory_equal(a->nbr, b->nbr, (size_t)a->off[a->n] * sizeof(int32_t));
    for (int64_t e = 0; e < a->off[a->n]; e++)
        if (fabs(a->w[e] - b->w[e]) > tol)
            fail_msg("weight %lld: %.9g vs %.9g", (long long)e, a->w[e], b->w[e]);
}

/* Blocks of 1, 5 and 64 rows and one block of all rows give the same neighbours and the
 * same weights up to float rounding: sgemm rounds a row's dot products differently
 * depending on the row's place in the product (so bit-identity holds for a fixed
 * block size, as the thread test checks, not across block sizes). */
static void blocking_case(const float *x, int32_t n, int64_t dim, fr_graph_opts o) {
    fr_graph one, g;
    o.block_rows = n;
    tu_graph_build_ok(&one, x, n, dim, &o);
    const int32_t sizes[3] = { 1, 5, 64 };
    for (int b = 0; b < 3; b++) {
        o.block_rows = sizes[b];
        tu_graph_build_ok(&g, x, n, dim, &o);
        assert_close_graph(&g, &one, 1e-6);
        fr_graph_free(&g);
    }
    fr_graph_free(&one);
}

static void test_blocking_invariant(void **state) {
    (void)state;
    const int32_t n = 203;
    const int64_t dim = 150;
    float *x = two_clusters(n, dim, 2.0, 17);
    blocking_case(x, n, dim, (fr_graph_opts){ .sim = FR_GRAPH_COSINE, .top_n = 5 });
    blocking_case(x, n, dim, (fr_graph_opts){ .sim = FR_GRAPH_COSINE, .top_n = 5,
                                              .weights = FR_GRAPH_SIMILARITY, .self_loop = 1 });
    blocking_case(x, n, dim, (fr_graph_opts){ .sim = FR_GRAPH_COSINE_DISTANCE, .threshold = 1.0 });
    blocking_case(x, n, dim, (fr_graph_opts){ .sim = FR_GRAPH_COSINE, .threshold = 1.0,
                                              .weights = FR_GRAPH_SIMILARITY });
    free(x);
}

/* ---- ties ---- */

/* Small integers, so every dot product is exact and equal vectors tie exactly:
 * user 0 = e0; users 1, 2, 3 = e0 + e1 (cos 1/sqrt 2 to user 0); user 4 = 2 e0 (cos 1);
 * users 5, 6, 7 = e1 (cos 0 to users 0 and 4). */
static void test_ties_lower_index(void **state) {
    (void)state;
    const int32_t n = 8;
    const int64_t dim = 4;
    float x[8 * 4] = { 0 };
    x[0] = 1;
    for (int u = 1; u <= 3; u++) x[u * 4] = 1, x[u * 4 + 1] = 1;
    x[4 * 4] = 2;
    for (int u = 5; u <= 7; u++) x[u * 4 + 1] = 1;
    fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .top_n = 3 };
    fr_graph g;
    tu_graph_build_ok(&g, x, n, dim, &o);
    const int32_t want0[3] = { 1, 2, 4 }, want5[3] = { 1, 6, 7 }, want2[3] = { 0, 1, 3 };
    assert_memory_equal(g.nbr + g.off[0], want0, sizeof want0);
    assert_memory_equal(g.nbr + g.off[5], want5, sizeof want5);
    assert_memory_equal(g.nbr + g.off[2], want2, sizeof want2); /* 1, 3 (cos 1); 0, 4 tie */
    fr_graph_free(&g);
    /* distance: for user 0 the "top" are users 5, 6, 7 (distance 1); keep two of them */
    o.sim = FR_GRAPH_COSINE_DISTANCE;
    o.top_n = 2;
    tu_graph_build_ok(&g, x, n, dim, &o);
    const int32_t want0d[2] = { 5, 6 };
    assert_memory_equal(g.nbr + g.off[0], want0d, sizeof want0d);
    fr_graph_free(&g);
}

/* Random vectors with copies of user 3 at users 150, 190 and 200: every user sees the
 * four exactly tied, though sgemm computes their columns at different places, and a
 * row that keeps some of them keeps the lowest-indexed. */
static void test_identical_vectors_tie(void **state) {
    (void)state;
    const int32_t n = 203, copies[4] = { 3, 150, 190, 200 };
    const int64_t dim = 150;
    float *x = two_clusters(n, dim, 3.0, 41);
    for (int c = 1; c < 4; c++)
        memcpy(x + copies[c] * dim, x + 3 * dim, (size_t)dim * sizeof(float));
    double *s = malloc((size_t)n * n * sizeof(double));
    fr_error err;
    assert_int_equal(fr_graph_similarity(s, x, n, dim, 0, n, FR_GRAPH_COSINE, &err), FR_OK);
    for (int32_t i = 0; i < n; i++)
        for (int c = 1; c < 4; c++)
            if (i != copies[c] && i != 3)
                assert_true(s[(int64_t)i * n + copies[c]] == s[(int64_t)i * n + 3]);
    fr_graph g;
    const fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .top_n = 30, .block_rows = 64 };
    tu_graph_build_ok(&g, x, n, dim, &o);
    int partial = 0;
    for (int32_t i = 0; i < n; i++) {
        int kept[4] = { 0 }, others = 0, n_kept = 0;
        for (int64_t e = g.off[i]; e < g.off[i + 1]; e++)
            for (int c = 0; c < 4; c++) kept[c] |= g.nbr[e] == copies[c];
        for (int c = 0; c < 4; c++) {
            if (copies[c] == i) continue;
            others++;
            if (kept[c]) n_kept++;
            else for (int later = c + 1; later < 4; later++) assert_false(kept[later]);
        }
        partial += n_kept > 0 && n_kept < others;
    }
    assert_true(partial > 0); /* some rows cut through the tie */
    fr_graph_free(&g);
    free(s);
    free(x);
}

/* ---- threads ---- */

static void test_thread_count_invariant(void **state) {
    (void)state;
    const int32_t n = 601;
    const int64_t dim = 120;
    float *x = two_clusters(n, dim, 1.5, 23);
    const fr_graph_opts cases[3] = {
        { .sim = FR_GRAPH_COSINE, .top_n = 10, .weights = FR_GRAPH_SIMILARITY },
        { .sim = FR_GRAPH_COSINE_DISTANCE, .threshold = 1.0 },
        { .sim = FR_GRAPH_COSINE, .top_n = 4, .block_rows = 64, .self_loop = 1 },
    };
    const int saved = omp_get_max_threads();
    for (int c = 0; c < 3; c++) {
        fr_graph g1, g2;
        omp_set_num_threads(1);
        tu_graph_build_ok(&g1, x, n, dim, &cases[c]);
        omp_set_num_threads(2);
        tu_graph_build_ok(&g2, x, n, dim, &cases[c]);
        tu_graph_assert_same(&g1, &g2);
        fr_graph_free(&g1);
        fr_graph_free(&g2);
    }
    omp_set_num_threads(saved);
    free(x);
}

/* ---- sparse mixing ---- */

/* Random row-sparse changes of n users to an N x k table: each row with probability
 * 1/4 (user 3 none), values N(0, 1). Storage is owned by rows_buf and val_buf. */
typedef struct sparse_case {
    int32_t n, n_items, k;
    fr_sparse_rows *d;  /* [n] */
    int32_t *rows_buf;  /* [n x N] */
    float *val_buf;     /* [n x N x k] */
    double *dense;      /* [n x N x k] D_j expanded */
} sparse_case;

static void sparse_case_init(sparse_case *c, int32_t n, int32_t n_items, int32_t k) {
    c->n = n, c->n_items = n_items, c->k = k;
    c->d = calloc((size_t)n, sizeof *c->d);
    c->rows_buf = malloc((size_t)n * n_items * sizeof(int32_t));
    c->val_buf = malloc((size_t)n * n_items * k * sizeof(float));
    c->dense = calloc((size_t)n * n_items * k, sizeof(double));
    tu_fill_normal(c->val_buf, (int64_t)n * n_items * k, 99, 0, 1.0);
    fr_rng r;
    fr_rng_init(&r, 99, 0, 1, FR_PURPOSE_EVAL);
    for (int32_t j = 0; j < n; j++) {
        int32_t *rows = c->rows_buf + (int64_t)j * n_items;
        float *val = c->val_buf + (int64_t)j * n_items * k;
        int32_t len = 0;
        for (int32_t r0 = 0; r0 < n_items; r0++)
            if (fr_rng_below(&r, 4) == 0 && j != 3) rows[len++] = r0;
        for (int32_t a = 0; a < len; a++)
            for (int32_t q = 0; q < k; q++)
                c->dense[((int64_t)j * n_items + rows[a]) * k + q] = val[(int64_t)a * k + q];
        c->d[j] = (fr_sparse_rows){ len, rows, val };
    }
}

static void sparse_case_free(sparse_case *c) {
    free(c->d);
    free(c->rows_buf);
    free(c->val_buf);
    free(c->dense);
}

/* The dense reference (S D)_i[r][q] = sum_j S_ij D_j[r][q]. */
static double mixed(const sparse_case *c, const double *s, int32_t i, int32_t r, int32_t q) {
    double v = 0.0;
    for (int32_t j = 0; j < c->n; j++)
        v += s[(int64_t)i * c->n + j] * c->dense[((int64_t)j * c->n_items + r) * c->k + q];
    return v;
}

/* Requests every row, and checks the union against "some neighbour has the row". */
static void check_mix_user(const fr_graph *g, const sparse_case *c, const double *s, int32_t i) {
    const int32_t N = c->n_items, k = c->k;
    int32_t req[64] = { 0 }, uni[64 * 64];
    float out[64 * 4]; /* [N x k] */
    for (int32_t r = 0; r < N; r++) req[r] = r;
    fr_graph_mix_rows(g, i, c->d, k, req, N, out);
    for (int32_t r = 0; r < N; r++)
        for (int32_t q = 0; q < k; q++)
            if (fabs(out[r * k + q] - mixed(c, s, i, r, q)) > 1e-5)
                fail_msg("user %d row %d: %g, want %g", i, r, out[r * k + q], mixed(c, s, i, r, q));
    int32_t u = fr_graph_union_rows(g, i, c->d, uni), at = 0;
    for (int32_t r = 0; r < N; r++) {
        int has = 0;
        for (int64_t e = g->off[i]; e < g->off[i + 1]; e++) {
            const fr_sparse_rows *dj = &c->d[g->nbr[e]];
            for (int32_t a = 0; a < dj->n_rows; a++) has |= dj->rows[a] == r;
        }
        if (has) assert_int_equal(uni[at++], r);
        else for (int32_t q = 0; q < k; q++) assert_true(out[r * k + q] == 0.0f);
    }
    assert_int_equal(u, at);
    /* requesting only the union gives the same values, row for row */
    float part[64 * 4];
    fr_graph_mix_rows(g, i, c->d, k, uni, u, part);
    for (int32_t a = 0; a < u; a++)
        assert_memory_equal(part + a * k, out + uni[a] * k, (size_t)k * sizeof(float));
}

/* c_j against the dense column mean, and G + sum_j c_j D_j against mean_i R_i. */
static void check_column_mean(const fr_graph *g, const sparse_case *c, const double *s) {
    const int32_t n = c->n;
    double cm[64];
    fr_graph_column_mean(g, cm);
    for (int32_t j = 0; j < n; j++) {
        double want = 0.0;
        for (int32_t i = 0; i < n; i++) want += s[(int64_t)i * n + j];
        assert_true(fabs(cm[j] - want / n) < 1e-12);
    }
    for (int32_t r = 0; r < c->n_items; r++)
        for (int32_t q = 0; q < c->k; q++) {
            double mean_r = 0.0, via_c = 0.0;
            for (int32_t i = 0; i < n; i++) mean_r += mixed(c, s, i, r, q) / n;
            for (int32_t j = 0; j < n; j++)
                via_c += cm[j] * c->dense[((int64_t)j * c->n_items + r) * c->k + q];
            assert_true(fabs(mean_r - via_c) < 1e-9);
        }
}

static void test_mix_rows_dense(void **state) {
    (void)state;
    const int32_t n = 24, N = 50, k = 3;
    const int64_t dim = 20;
    sparse_case c;
    sparse_case_init(&c, n, N, k);
    float *x = two_clusters(n, dim, 1.0, 31);
    const fr_graph_opts cases[2] = {
        { .sim = FR_GRAPH_COSINE, .top_n = 4, .weights = FR_GRAPH_SIMILARITY, .self_loop = 1 },
        { .sim = FR_GRAPH_COSINE_DISTANCE, .threshold = 1.0 },
    };
    for (int t = 0; t < 2; t++) {
        fr_graph g;
        tu_graph_build_ok(&g, x, n, dim, &cases[t]);
        double *s = tu_graph_dense(&g);
        for (int32_t i = 0; i < n; i++) check_mix_user(&g, &c, s, i);
        check_column_mean(&g, &c, s);
        free(s);
        fr_graph_free(&g);
    }
    free(x);
    sparse_case_free(&c);
}

/* ---- bad input ---- */

static void expect_error(const float *x, int32_t n, int64_t dim, fr_graph_opts o,
                         fr_status want, const char *word) {
    fr_graph g = { 5, (int64_t *)1, (int32_t *)1, (float *)1 }; /* garbage: must be reset */
    fr_error err = { "" };
    assert_int_equal(fr_graph_build(&g, x, n, dim, &o, &err), want);
    if (!strstr(err.msg, word)) fail_msg("message '%s' lacks '%s'", err.msg, word);
    assert_int_equal(g.n, 0);
    assert_null(g.off);
    assert_null(g.nbr);
    assert_null(g.w);
}

/* ---- users' item tables as the vectors ---- */

static void test_bad_input(void **state) {
    (void)state;
    float x[4 * 3];
    tu_fill_normal(x, 12, 1, 0, 1.0);
    const fr_graph_opts ok = { .sim = FR_GRAPH_COSINE, .top_n = 2 };
    expect_error(x, 0, 3, ok, FR_ERR_USAGE, "n = 0");
    expect_error(x, -2, 3, ok, FR_ERR_USAGE, "n = -2");
    expect_error(x, 4, 0, ok, FR_ERR_USAGE, "dim = 0");
    expect_error(x, 4, 3, (fr_graph_opts){ .top_n = 4 }, FR_ERR_USAGE, "top_n = 4");
    expect_error(x, 4, 3, (fr_graph_opts){ .top_n = -1 }, FR_ERR_USAGE, "top_n = -1");
    expect_error(x, 1, 3, (fr_graph_opts){ .top_n = 1 }, FR_ERR_USAGE, "top_n = 1");
    expect_error(x, 4, 3, (fr_graph_opts){ .threshold = NAN }, FR_ERR_USAGE, "threshold");
    expect_error(x, 4, 3, (fr_graph_opts){ .top_n = 1, .block_rows = -3 }, FR_ERR_USAGE,
                 "block_rows");
    expect_error(x, 4, 3, (fr_graph_opts){ .sim = FR_GRAPH_COSINE_DISTANCE, .top_n = 1,
                                           .weights = FR_GRAPH_SIMILARITY, .self_loop = 1 },
                 FR_ERR_USAGE, "self_loop");
    x[7] = NAN;
    expect_error(x, 4, 3, ok, FR_ERR_INPUT, "user 2");
    /* one user: threshold mode only, and it is its own neighbour */
    fr_graph g;
    tu_graph_build_ok(&g, x, 1, 3, &(fr_graph_opts){ .threshold = 1.0 });
    assert_int_equal(g.off[1], 1);
    assert_int_equal(g.nbr[0], 0);
    fr_graph_free(&g);
    fr_graph_free(&g); /* twice is safe */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_clusters),
        cmocka_unit_test(test_threshold_brute_force),
        cmocka_unit_test(test_similarity_weights),
        cmocka_unit_test(test_blas_matches_reference),
        cmocka_unit_test(test_blocking_invariant),
        cmocka_unit_test(test_ties_lower_index),
        cmocka_unit_test(test_identical_vectors_tie),
        cmocka_unit_test(test_thread_count_invariant),
        cmocka_unit_test(test_mix_rows_dense),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
