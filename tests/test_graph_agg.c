/* test_graph_agg.c - the user graph over sparse table changes (fr_graph_build_tables)
 * against fr_graph_build on the materialised tables, and graph-guided aggregation
 * (graph_agg.h): R_i's rows and G' against dense references, sparse and whole-table
 * (dense) modes, the previous step kept, thread-count invariance. */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/graph.h"
#include "fedrec/graph_agg.h"
#include "fedrec/rng.h"

/* n users' changes to a base table [N x k]: user i changes about a third of the rows;
 * the two clusters (i % 2) push their rows toward opposite directions. rows/val are
 * [n x N] / [n x N x k] backing storage; d[n] views them. */
typedef struct tables {
    float *base;
    int32_t *rows;
    float *val;
    fr_sparse_rows *d;
} tables;

static tables make_tables(int32_t n, int32_t N, int32_t k, uint64_t seed) {
    tables t;
    t.base = malloc((size_t)N * k * sizeof(float));
    t.rows = malloc((size_t)n * N * sizeof(int32_t));
    t.val = malloc((size_t)n * N * k * sizeof(float));
    t.d = malloc((size_t)n * sizeof(fr_sparse_rows));
    tu_fill_normal(t.base, (int64_t)N * k, seed, 0, 0.5);
    float *noise = malloc((size_t)N * k * sizeof(float));
    fr_rng rng;
    fr_rng_init(&rng, seed, 1, 0, FR_PURPOSE_INIT_GLOBAL);
    for (int32_t i = 0; i < n; i++) {
        tu_fill_normal(noise, (int64_t)N * k, seed, 2 + (uint64_t)i, 0.3);
        int32_t nr = 0;
        int32_t *rows = t.rows + (int64_t)i * N;
        float *val = t.val + (int64_t)i * N * k;
        for (int32_t r = 0; r < N; r++) {
            if (fr_rng_below(&rng, 3) != 0) continue;
            rows[nr] = r;
            for (int32_t q = 0; q < k; q++)
                val[(int64_t)nr * k + q] = (i % 2 ? 1.0f : -1.0f) * (q % 2 ? 1.0f : 0.5f) +
                                           noise[(int64_t)r * k + q];
            nr++;
        }
        t.d[i] = (fr_sparse_rows){ nr, rows, val };
    }
    free(noise);
    return t;
}

static void free_tables(tables *t) {
    free(t->base);
    free(t->rows);
    free(t->val);
    free(t->d);
}

/* The table graph equals fr_graph_build on the materialised tables (neighbours exactly,
 * weights to float rounding) in top-n and threshold modes under both similarities,
 * finds the planted clusters under the cosine (and the other cluster under the defect),
 * its similarities match plain loops, and it is the same on 1 and 2 threads. */
static void test_tables_match_dense(void **state) {
    (void)state;
    enum { n = 30, N = 40, k = 4 };
    tables t = make_tables(n, N, k, 77);
    float *x = malloc((size_t)n * N * k * sizeof(float)); /* [n x N k] */
    for (int32_t i = 0; i < n; i++) {
        memcpy(x + (int64_t)i * N * k, t.base, (size_t)N * k * sizeof(float));
        for (int32_t b = 0; b < t.d[i].n_rows; b++)
            for (int32_t q = 0; q < k; q++)
                x[(int64_t)i * N * k + (int64_t)t.d[i].rows[b] * k + q] += t.d[i].val[(int64_t)b * k + q];
    }
    const fr_graph_opts modes[4] = {
        { .sim = FR_GRAPH_COSINE, .top_n = 5, .block_rows = 7 },
        { .sim = FR_GRAPH_COSINE_DISTANCE, .top_n = 5, .block_rows = 7 },
        { .sim = FR_GRAPH_COSINE, .threshold = 1.0, .block_rows = 7 },
        { .sim = FR_GRAPH_COSINE_DISTANCE, .threshold = 1.0, .weights = FR_GRAPH_SIMILARITY },
    };
    for (int m = 0; m < 4; m++) {
        fr_graph a, b;
        fr_error err = { "" };
        omp_set_num_threads(1);
        if (fr_graph_build_tables(&a, t.base, t.d, n, N, k, &modes[m], &err) != FR_OK)
            fail_msg("fr_graph_build_tables: %s", err.msg);
        tu_graph_check_rows(&a);
        tu_graph_build_ok(&b, x, n, (int64_t)N * k, &modes[m]);
        assert_int_equal(a.off[n], b.off[n]);
        assert_memory_equal(a.off, b.off, (size_t)(n + 1) * sizeof(int64_t));
        assert_memory_equal(a.nbr, b.nbr, (size_t)a.off[n] * sizeof(int32_t));
        for (int64_t e = 0; e < a.off[n]; e++) assert_true(fabsf(a.w[e] - b.w[e]) < 1e-5f);
        if (modes[m].top_n > 0) /* the planted clusters, or their inverse */
            for (int64_t e = 0; e < a.off[n]; e++) {
                int32_t i = 0;
                while (a.off[i + 1] <= e) i++;
                const int same = (a.nbr[e] % 2) == (i % 2);
                assert_int_equal(same, modes[m].sim == FR_GRAPH_COSINE);
            }
        fr_graph c;
        omp_set_num_threads(2);
        assert_int_equal(fr_graph_build_tables(&c, t.base, t.d, n, N, k, &modes[m], &err), FR_OK);
        tu_graph_assert_same(&a, &c);
        fr_graph_free(&a);
        fr_graph_free(&b);
        fr_graph_free(&c);
    }
    double s[n];
    fr_graph_table_similarity_ref(s, t.base, t.d, n, N, k, 3, FR_GRAPH_COSINE);
    assert_true(fabs(s[3] - 1.0) < 1e-12);
    for (int32_t j = 0; j < n; j++) assert_true(j == 3 || (s[j] > (j % 2 ? 0.5 : -1.0)));
    /* rows out of order are refused */
    int32_t bad_rows[2] = { 5, 2 };
    fr_sparse_rows keep = t.d[4];
    t.d[4] = (fr_sparse_rows){ 2, bad_rows, t.d[4].val };
    fr_graph g;
    fr_error err = { "" };
    assert_int_equal(fr_graph_build_tables(&g, t.base, t.d, n, N, k, &modes[0], &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "user 4"));
    t.d[4] = keep;
    free(x);
    free_tables(&t);
}

/* graph_agg: R_i's rows and G' against the dense R = S A and mean_i R_i (or the
 * degree-weighted mean), and the previous step's R kept for age 1. */
static void test_graph_agg_dense(void **state) {
    (void)state;
    enum { n = 12, N = 15, k = 3 };
    for (int mode = 0; mode < 2; mode++) {
        tables t1 = make_tables(n, N, k, 5), t2 = make_tables(n, N, k, 6);
        fr_graph_agg a;
        fr_error err = { "" };
        const fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .top_n = 3 };
        assert_int_equal(fr_graph_agg_init(&a, n, N, k, &o, mode ? FR_GLOBAL_DEGREE : FR_GLOBAL_MEAN,
                                           &err), FR_OK);
        float table[N * k], first_r[n][N * k], out[N * k];
        int32_t all[N];
        for (int32_t r = 0; r < N; r++) all[r] = r;
        assert_int_equal(fr_graph_agg_rows(&a, 0, 0, all, N, out), 0); /* nothing yet */
        memcpy(table, t1.base, sizeof table);
        for (int step = 0; step < 2; step++) {
            tables *t = step ? &t2 : &t1;
            float g0[N * k];
            memcpy(g0, table, sizeof g0);
            assert_int_equal(fr_graph_agg_step(&a, table, t->d, NULL, 0, &err), FR_OK);
            /* dense A and R = S A */
            double *S = tu_graph_dense(&a.gen[a.newest].g), want_g[N * k];
            memset(want_g, 0, sizeof want_g);
            double deg_total = 0.0;
            for (int32_t i = 0; i < n; i++)
                deg_total += (double)(a.gen[a.newest].g.off[i + 1] - a.gen[a.newest].g.off[i]);
            for (int32_t i = 0; i < n; i++) {
                double r_i[N * k];
                for (int64_t e = 0; e < N * k; e++) r_i[e] = g0[e];
                for (int32_t j = 0; j < n; j++)
                    for (int32_t b = 0; b < t->d[j].n_rows; b++)
                        for (int32_t q = 0; q < k; q++)
                            r_i[(int64_t)t->d[j].rows[b] * k + q] +=
                                S[(int64_t)i * n + j] * t->d[j].val[(int64_t)b * k + q];
                assert_int_equal(fr_graph_agg_rows(&a, 0, i, all, N, out), 1);
                for (int64_t e = 0; e < N * k; e++) assert_true(fabs(out[e] - r_i[e]) < 1e-5);
                const double wi = mode ? (double)(a.gen[a.newest].g.off[i + 1] -
                                                  a.gen[a.newest].g.off[i]) / deg_total
                                       : 1.0 / n;
                for (int64_t e = 0; e < N * k; e++) want_g[e] += wi * r_i[e];
                if (step == 0) memcpy(first_r[i], out, sizeof out);
            }
            for (int64_t e = 0; e < N * k; e++) assert_true(fabs(table[e] - want_g[e]) < 1e-5);
            free(S);
        }
        for (int32_t i = 0; i < n; i++) { /* age 1: the first step's R, bit for bit */
            assert_int_equal(fr_graph_agg_rows(&a, 1, i, all, N, out), 1);
            assert_memory_equal(out, first_r[i], sizeof out);
        }
        fr_graph_agg_free(&a);
        free_tables(&t1);
        free_tables(&t2);
    }
}

/* graph_agg's dense mode (the published code's whole tables) over three steps against a
 * double reference: A_i = R_i + keep_i (G - R_i) with the trained rows G + D_i (G before
 * the first step), the graph of the flattened A_i, R = S A, G' = mean_i R_i; and bit
 * for bit the same on 1 and 2 threads. */
static void run_whole_tables(int threads, int check, float *table_out, float *a_out) {
    enum { n = 12, N = 15, k = 3, NK = N * k };
    const fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .top_n = 3 };
    fr_graph_agg a;
    fr_error err = { "" };
    assert_int_equal(fr_graph_agg_init(&a, n, N, k, &o, FR_GLOBAL_MEAN, &err), FR_OK);
    assert_int_equal(fr_graph_agg_dense(&a, &err), FR_OK);
    int32_t all[N];
    for (int32_t r = 0; r < N; r++) all[r] = r;
    float out[NK];
    assert_int_equal(fr_graph_agg_table_rows(&a, 0, all, N, out), 0); /* nothing yet */
    static double R[n][NK], A[n][NK];
    static float Af[n * NK];
    double keep[n];
    for (int32_t i = 0; i < n; i++) keep[i] = 0.1 + 0.05 * i;
    tables t0 = make_tables(n, N, k, 21);
    float table[NK];
    memcpy(table, t0.base, sizeof table);
    for (int step = 0; step < 3; step++) {
        tables t = make_tables(n, N, k, 30 + (uint64_t)step);
        for (int32_t i = 0; i < n; i++) { /* the reference tables */
            for (int64_t e = 0; e < NK; e++)
                A[i][e] = step == 0 ? table[e] : R[i][e] + keep[i] * (table[e] - R[i][e]);
            for (int32_t b = 0; b < t.d[i].n_rows; b++)
                for (int32_t q = 0; q < k; q++) {
                    const int64_t e = (int64_t)t.d[i].rows[b] * k + q;
                    A[i][e] = (double)table[e] + t.d[i].val[(int64_t)b * k + q];
                }
            for (int64_t e = 0; e < NK; e++) Af[(int64_t)i * NK + e] = (float)A[i][e];
        }
        assert_int_equal(fr_graph_agg_step_dense(&a, table, t.d, keep, NULL, 0, threads, &err), FR_OK);
        if (check) {
            fr_graph g;
            tu_graph_build_ok(&g, Af, n, NK, &o);
            tu_graph_assert_same(&g, &a.gen[a.newest].g);
            double *S = tu_graph_dense(&g), want_g[NK] = { 0 };
            for (int32_t i = 0; i < n; i++) {
                assert_int_equal(fr_graph_agg_table_rows(&a, i, all, N, out), 1);
                for (int64_t e = 0; e < NK; e++) assert_true(fabs(out[e] - A[i][e]) < 1e-4);
            }
            for (int32_t i = 0; i < n; i++) {
                for (int64_t e = 0; e < NK; e++) {
                    R[i][e] = 0.0;
                    for (int32_t j = 0; j < n; j++) R[i][e] += S[(int64_t)i * n + j] * A[j][e];
                    want_g[e] += R[i][e] / n;
                }
                assert_int_equal(fr_graph_agg_rows(&a, 0, i, all, N, out), 1);
                for (int64_t e = 0; e < NK; e++) assert_true(fabs(out[e] - R[i][e]) < 1e-4);
                assert_int_equal(fr_graph_agg_rows(&a, 1, i, all, N, out), 0); /* not kept */
            }
            for (int64_t e = 0; e < NK; e++) assert_true(fabs(table[e] - want_g[e]) < 1e-4);
            free(S);
            fr_graph_free(&g);
        }
        free_tables(&t);
    }
    memcpy(table_out, table, sizeof table);
    memcpy(a_out, a.A, sizeof(float) * n * NK);
    free_tables(&t0);
    fr_graph_agg_free(&a);
}

static void test_graph_agg_whole_tables(void **state) {
    (void)state;
    enum { n = 12, NK = 45 };
    static float t1[NK], t2[NK], a1[n * NK], a2[n * NK];
    run_whole_tables(1, 1, t1, a1);
    run_whole_tables(2, 0, t2, a2);
    assert_memory_equal(t1, t2, sizeof t1);
    assert_memory_equal(a1, a2, sizeof a1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_match_dense),
        cmocka_unit_test(test_graph_agg_dense),
        cmocka_unit_test(test_graph_agg_whole_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
