/* test_graph_mix_all.c - the changes regrouped by item (item_index.h) against a brute
 * force, and every user's R_i rows at once (fr_graph_mix_all) against n calls of
 * fr_graph_mix_rows, bit for bit: broad and narrow graphs, self-loops, widths that are
 * and are not multiples of the kernel's 16 columns, zero and negative-zero changes,
 * users with nothing changed or nothing asked; thread-count invariance; the cost
 * estimate's choice; errors.
 * Leaves out: timing (bench/graph_mix.c) and the trainer end to end (test_ncf_train.c). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/graph.h"
#include "fedrec/item_index.h"
#include "fedrec/rng.h"

/* n users' random row-sparse changes of an [N x k] table (each row kept with chance
 * 1/keep), or requests (vals unused); storage owned by the struct. */
typedef struct lists {
    int32_t n;
    fr_sparse_rows *d;
    int32_t *rows; /* [n x N] */
    float *val;    /* [n x N x k] */
} lists;

static lists make_lists(int32_t n, int32_t N, int32_t k, uint32_t keep, uint64_t seed) {
    lists l = { n, calloc((size_t)n, sizeof(fr_sparse_rows)), malloc((size_t)n * N * sizeof(int32_t)),
                malloc((size_t)n * N * k * sizeof(float)) };
    fr_rng rng;
    fr_rng_init(&rng, seed, 3, 0, FR_PURPOSE_SYNTH);
    tu_fill_normal(l.val, (int64_t)n * N * k, seed, 4, 1.0);
    for (int32_t i = 0; i < n; i++) {
        int32_t *rows = l.rows + (int64_t)i * N, nr = 0;
        float *val = l.val + (int64_t)i * N * k;
        if (i % 7 != 3) /* every 7th user changes (asks for) nothing */
            for (int32_t r = 0; r < N; r++)
                if (fr_rng_below(&rng, keep) == 0) rows[nr++] = r;
        if (nr > 1) { /* exact zeros of both signs: 0 x (-0) must not leak a sign */
            val[0] = 0.0f;
            val[1] = -0.0f;
        }
        l.d[i] = (fr_sparse_rows){ nr, rows, val };
    }
    return l;
}

static void free_lists(lists *l) {
    free(l->d);
    free(l->rows);
    free(l->val);
}

/* x[n x dim]: two noisy clusters, for graphs with structure. */
static float *clusters(int32_t n, int64_t dim, uint64_t seed) {
    float *x = malloc((size_t)n * dim * sizeof(float));
    tu_fill_normal(x, (int64_t)n * dim, seed, 1, 0.8);
    for (int32_t i = 0; i < n; i++) x[(int64_t)i * dim] += i % 2 ? 2.0f : -2.0f;
    return x;
}

/* out[i] buffers for the requests */
static float **alloc_out(const lists *req, int32_t k) {
    float **out = malloc((size_t)req->n * sizeof(float *));
    for (int32_t i = 0; i < req->n; i++)
        out[i] = malloc((size_t)(req->d[i].n_rows > 0 ? req->d[i].n_rows : 1) * k * sizeof(float));
    return out;
}

static void free_out(float **out, int32_t n) {
    for (int32_t i = 0; i < n; i++) free(out[i]);
    free(out);
}

/* The index against a brute force: item r lists exactly the users whose changes hold
 * r, ascending, with their rows. */
static void check_index(const fr_item_index *ix, const lists *d, int32_t N, int32_t k) {
    assert_int_equal(ix->n, d->n);
    assert_int_equal(ix->N, N);
    assert_int_equal(ix->k, k);
    assert_int_equal(ix->off[0], 0);
    for (int32_t r = 0; r < N; r++) {
        int64_t e = ix->off[r];
        for (int32_t i = 0; i < d->n; i++)
            for (int32_t b = 0; b < d->d[i].n_rows; b++) {
                if (d->d[i].rows[b] != r) continue;
                assert_true(e < ix->off[r + 1]);
                assert_int_equal(ix->user[e], i);
                assert_memory_equal(ix->pack + e * k, d->d[i].val + (int64_t)b * k, (size_t)k * 4);
                e++;
            }
        assert_int_equal(e, ix->off[r + 1]);
    }
    assert_int_equal(ix->off[N], ix->nnz);
}

static void test_item_index(void **state) {
    (void)state;
    const int32_t n = 23, N = 37, k = 5;
    fr_item_index ix = { 0 }, ix2 = { 0 };
    fr_error err;
    for (uint32_t keep = 1; keep <= 9; keep += 4) { /* dense, medium, sparse: rebuilds reuse */
        lists d = make_lists(n, N, k, keep, 60 + keep);
        assert_int_equal(fr_item_index_build(&ix, d.d, n, N, k, 1, &err), FR_OK);
        check_index(&ix, &d, N, k);
        assert_int_equal(fr_item_index_build(&ix2, d.d, n, N, k, 2, &err), FR_OK);
        assert_memory_equal(ix.pack, ix2.pack, (size_t)ix.nnz * k * sizeof(float));
        free_lists(&d);
    }
    /* the graph of the tables from a kept index is the graph fr_graph_build_tables makes */
    lists d = make_lists(n, N, k, 2, 71);
    float *base = malloc((size_t)N * k * sizeof(float));
    tu_fill_normal(base, (int64_t)N * k, 71, 9, 0.5);
    assert_int_equal(fr_item_index_build(&ix, d.d, n, N, k, 2, &err), FR_OK);
    const fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .threshold = 1.0 };
    fr_graph a, b;
    assert_int_equal(fr_graph_build_tables(&a, base, d.d, n, N, k, &o, &err), FR_OK);
    assert_int_equal(fr_graph_build_tables_ix(&b, base, d.d, &ix, &o, &err), FR_OK);
    tu_graph_assert_same(&a, &b);
    fr_graph_free(&a);
    fr_graph_free(&b);
    /* rows out of order or range */
    int32_t bad[2] = { 4, 4 };
    fr_sparse_rows e1[1] = { { 2, bad, d.val } };
    assert_int_equal(fr_item_index_build(&ix, e1, 1, N, k, 1, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "not ascending"));
    assert_int_equal(ix.nnz, 0);
    bad[0] = 1, bad[1] = N;
    assert_int_equal(fr_item_index_build(&ix, e1, 1, N, k, 1, &err), FR_ERR_USAGE);
    assert_int_equal(fr_item_index_build(&ix, d.d, n, N, 0, 1, &err), FR_ERR_USAGE);
    free(base);
    free_lists(&d);
    fr_item_index_free(&ix);
    fr_item_index_free(&ix2);
}

/* fr_graph_mix_all equals fr_graph_mix_rows for every user, bit for bit, on 1 and 2
 * threads, for graphs from top-1 to about half of all users. */
static void test_mix_all_matches_per_user(void **state) {
    (void)state;
    const int32_t n = 41, N = 53;
    const int32_t widths[4] = { 3, 16, 21, 32 };
    const fr_graph_opts graphs[4] = {
        { .sim = FR_GRAPH_COSINE, .threshold = 1.0 },
        { .sim = FR_GRAPH_COSINE_DISTANCE, .threshold = 1.0 },
        { .sim = FR_GRAPH_COSINE, .top_n = 1 },
        { .sim = FR_GRAPH_COSINE, .top_n = 6, .weights = FR_GRAPH_SIMILARITY, .self_loop = 1 },
    };
    float *x = clusters(n, 12, 5);
    fr_error err;
    for (int wi = 0; wi < 4; wi++) {
        const int32_t k = widths[wi];
        lists d = make_lists(n, N, k, 3, 80 + (uint64_t)wi), req = make_lists(n, N, 1, 2, 90 + (uint64_t)wi);
        fr_item_index ix = { 0 };
        assert_int_equal(fr_item_index_build(&ix, d.d, n, N, k, 2, &err), FR_OK);
        for (int gi = 0; gi < 4; gi++) {
            fr_graph g;
            tu_graph_build_ok(&g, x, n, 12, &graphs[gi]);
            float **o1 = alloc_out(&req, k), **o2 = alloc_out(&req, k);
            assert_int_equal(fr_graph_mix_all(&g, &ix, req.d, o1, 1, &err), FR_OK);
            assert_int_equal(fr_graph_mix_all(&g, &ix, req.d, o2, 2, &err), FR_OK);
            float *want = malloc((size_t)N * k * sizeof(float));
            for (int32_t i = 0; i < n; i++) {
                const int32_t m = req.d[i].n_rows;
                if (m == 0) continue;
                fr_graph_mix_rows(&g, i, d.d, k, req.d[i].rows, m, want);
                if (memcmp(o1[i], want, (size_t)m * k * sizeof(float)) != 0)
                    fail_msg("width %d graph %d user %d: rows differ from fr_graph_mix_rows", k, gi, i);
                assert_memory_equal(o2[i], want, (size_t)m * k * sizeof(float));
            }
            free(want);
            free_out(o1, n);
            free_out(o2, n);
            fr_graph_free(&g);
        }
        fr_item_index_free(&ix);
        free_lists(&d);
        free_lists(&req);
    }
    free(x);
}

/* The estimate takes the item form for a broad graph and the per-user form for a
 * top-1 graph over the same changes and requests. */
static void test_mix_all_pays(void **state) {
    (void)state;
    const int32_t n = 60, N = 40;
    lists d = make_lists(n, N, 1, 3, 11), req = make_lists(n, N, 1, 3, 12);
    float *x = clusters(n, 8, 13);
    const fr_graph_opts broad = { .sim = FR_GRAPH_COSINE, .threshold = 1.0 };
    const fr_graph_opts narrow = { .sim = FR_GRAPH_COSINE, .top_n = 1 };
    fr_graph g;
    tu_graph_build_ok(&g, x, n, 8, &broad);
    assert_int_equal(fr_graph_mix_all_pays(&g, d.d, N, req.d), 1);
    fr_graph_free(&g);
    tu_graph_build_ok(&g, x, n, 8, &narrow);
    assert_int_equal(fr_graph_mix_all_pays(&g, d.d, N, req.d), 0);
    fr_graph_free(&g);
    free(x);
    free_lists(&d);
    free_lists(&req);
}

/* A non-finite change (0 x inf is NaN, so zero weights would spread it), a request out
 * of range, and an index of another user count are refused. */
static void test_mix_all_errors(void **state) {
    (void)state;
    const int32_t n = 12, N = 20, k = 4;
    lists d = make_lists(n, N, k, 2, 21), req = make_lists(n, N, 1, 2, 22);
    float *x = clusters(n, 6, 23);
    const fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .threshold = 1.0 };
    fr_graph g;
    tu_graph_build_ok(&g, x, n, 6, &o);
    float **out = alloc_out(&req, k);
    fr_error err;
    fr_item_index ix = { 0 };
    d.val[5] = INFINITY;
    assert_int_equal(fr_item_index_build(&ix, d.d, n, N, k, 1, &err), FR_OK);
    assert_int_equal(fr_graph_mix_all(&g, &ix, req.d, out, 1, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "not finite"));
    d.val[5] = 1.0f;
    assert_int_equal(fr_item_index_build(&ix, d.d, n, N, k, 1, &err), FR_OK);
    int32_t *r0 = (int32_t *)req.d[0].rows;
    const int32_t keep = r0[0];
    r0[0] = -1;
    assert_int_equal(fr_graph_mix_all(&g, &ix, req.d, out, 1, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "outside"));
    r0[0] = keep;
    assert_int_equal(fr_item_index_build(&ix, d.d, n - 1, N, k, 1, &err), FR_OK);
    assert_int_equal(fr_graph_mix_all(&g, &ix, req.d, out, 1, &err), FR_ERR_USAGE);
    fr_item_index_free(&ix);
    free_out(out, n);
    fr_graph_free(&g);
    free(x);
    free_lists(&d);
    free_lists(&req);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_item_index),
        cmocka_unit_test(test_mix_all_matches_per_user),
        cmocka_unit_test(test_mix_all_pays),
        cmocka_unit_test(test_mix_all_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
