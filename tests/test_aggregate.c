/* test_aggregate.c - the server's averaging in both row modes against values worked out
 * by hand, its agreement with a plain dense mean, top-m selection, the client-duration
 * distributions, staleness weights, and the simulated clock of asynchronous rounds. */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/aggregate.h"
#include "fedrec/alloc.h"
#include "fedrec/rng.h"

/* ---- averaging ---- */

/* N = 4 items. Layout, in order: item_emb [N x 2] global row-sparse, user_emb [3 x 2]
 * local, item_bias [N x 1] global row-sparse, dense_w [1 x 2] global, frozen [2 x 1].
 * So sparse width 3 (emb, emb, bias) and dense size 2. */
typedef struct hand_case {
    fr_param_layout l;
    int t_emb, t_user, t_bias, t_dense, t_frozen;
    fr_update u[3];
} hand_case;

static void hand_case_init(hand_case *h) {
    fr_error err;
    memset(h, 0, sizeof *h);
    h->t_emb = fr_layout_add(&h->l, "item_emb", 4, 2, FR_SCOPE_GLOBAL, 1);
    h->t_user = fr_layout_add(&h->l, "user_emb", 3, 2, FR_SCOPE_LOCAL, 0);
    h->t_bias = fr_layout_add(&h->l, "item_bias", 4, 1, FR_SCOPE_GLOBAL, 1);
    h->t_dense = fr_layout_add(&h->l, "dense_w", 1, 2, FR_SCOPE_GLOBAL, 0);
    h->t_frozen = fr_layout_add(&h->l, "frozen", 2, 1, FR_SCOPE_FROZEN, 0);
    assert_int_equal(fr_layout_sparse_width(&h->l), 3);
    assert_int_equal(fr_layout_dense_size(&h->l), 2);
    /* client 0, weight 1: rows 0, 2 */
    const int32_t r0[2] = { 0, 2 }, r1[2] = { 2, 3 }, r2[2] = { 0, 3 };
    const float s0[6] = { 1, 2, 3, 4, 5, 6 }, d0[2] = { 1, -1 };
    /* client 1, weight 2: rows 2, 3 */
    const float s1[6] = { 10, 20, 30, -2, 4, 8 }, d1[2] = { 4, 2 };
    /* client 2, weight 3: rows 0, 3 */
    const float s2[6] = { 2, 0, -1, 6, 6, 6 }, d2[2] = { 0, 3 };
    const int32_t *rows[3] = { r0, r1, r2 };
    const float *sp[3] = { s0, s1, s2 }, *dn[3] = { d0, d1, d2 };
    for (int c = 0; c < 3; c++) {
        assert_int_equal(fr_update_reserve(&h->u[c], &h->l, 2, &err), FR_OK);
        h->u[c].weight = c + 1;
        h->u[c].n_rows = 2;
        memcpy(h->u[c].rows, rows[c], 2 * sizeof(int32_t));
        memcpy(h->u[c].sparse, sp[c], 6 * sizeof(float));
        memcpy(h->u[c].dense, dn[c], 2 * sizeof(float));
    }
}

static void hand_case_free(hand_case *h) {
    for (int c = 0; c < 3; c++) fr_update_free(&h->u[c]);
}

static void assert_near(double got, double want) {
    if (!(fabs(got - want) <= 1e-6 * (1.0 + fabs(want))))
        fail_msg("got %.9g, want %.9g", got, want);
}

/* Fills buffers with garbage, so a value left unset shows. */
static void poison(float *avg, double *acc, double *row_w, int64_t size, int64_t rows) {
    for (int64_t i = 0; i < size; i++) avg[i] = 99.0f, acc[i] = -7.0;
    for (int64_t i = 0; i < rows; i++) row_w[i] = 5.0;
}

static void check_hand(const hand_case *h, const float *avg, const double want_rows[4][3]) {
    const float *emb = avg + h->l.t[h->t_emb].offset;    /* [4 x 2] */
    const float *bias = avg + h->l.t[h->t_bias].offset;  /* [4] */
    for (int r = 0; r < 4; r++) {
        assert_near(emb[2 * r], want_rows[r][0]);
        assert_near(emb[2 * r + 1], want_rows[r][1]);
        assert_near(bias[r], want_rows[r][2]);
    }
    const float *dense = avg + h->l.t[h->t_dense].offset;
    assert_near(dense[0], 9.0 / 6.0); /* (1*1 + 2*4 + 3*0) / 6 */
    assert_near(dense[1], 12.0 / 6.0); /* (1*-1 + 2*2 + 3*3) / 6 */
    const float *user = avg + h->l.t[h->t_user].offset, *frozen = avg + h->l.t[h->t_frozen].offset;
    for (int i = 0; i < 6; i++) assert_true(user[i] == 0.0f);
    for (int i = 0; i < 2; i++) assert_true(frozen[i] == 0.0f);
}

static void test_hand_computed_both_modes(void **state) {
    (void)state;
    hand_case h;
    hand_case_init(&h);
    const double w[3] = { 1, 2, 3 };
    float avg[32];
    double acc[32], row_w[4];
    assert_true(h.l.size <= 32);
    /* FedAvg: every row over the total weight 6 */
    const double all[4][3] = {
        { 7.0 / 6, 2.0 / 6, 0.0 },        /* 1*(1,2,3) + 3*(2,0,-1) */
        { 0, 0, 0 },                      /* nobody */
        { 24.0 / 6, 45.0 / 6, 66.0 / 6 }, /* 1*(4,5,6) + 2*(10,20,30) */
        { 14.0 / 6, 26.0 / 6, 34.0 / 6 }, /* 2*(-2,4,8) + 3*(6,6,6) */
    };
    poison(avg, acc, row_w, h.l.size, 4);
    assert_true(fr_aggregate(avg, acc, row_w, &h.l, h.u, w, 3, FR_ROWAVG_ALL) == 6.0);
    check_hand(&h, avg, all);
    /* over the weight of the clients that have the row: 4, -, 3, 5 */
    const double touched[4][3] = {
        { 7.0 / 4, 2.0 / 4, 0.0 },
        { 0, 0, 0 },
        { 24.0 / 3, 45.0 / 3, 66.0 / 3 },
        { 14.0 / 5, 26.0 / 5, 34.0 / 5 },
    };
    poison(avg, acc, row_w, h.l.size, 4);
    assert_true(fr_aggregate(avg, acc, row_w, &h.l, h.u, w, 3, FR_ROWAVG_TOUCHED) == 6.0);
    check_hand(&h, avg, touched);
    /* the weights are the caller's, not the updates' own: uniform */
    const double ones[3] = { 1, 1, 1 };
    const double uni[4][3] = {
        { 1.5, 1.0, 1.0 },             /* touched by 0, 2: ((1,2,3) + (2,0,-1)) / 2 */
        { 0, 0, 0 },
        { 7.0, 12.5, 18.0 },           /* by 0, 1 */
        { 2.0, 5.0, 7.0 },             /* by 1, 2 */
    };
    poison(avg, acc, row_w, h.l.size, 4);
    assert_true(fr_aggregate(avg, acc, row_w, &h.l, h.u, ones, 3, FR_ROWAVG_TOUCHED) == 3.0);
    const float *emb = avg + h.l.t[h.t_emb].offset, *bias = avg + h.l.t[h.t_bias].offset;
    for (int r = 0; r < 4; r++) {
        assert_near(emb[2 * r], uni[r][0]);
        assert_near(emb[2 * r + 1], uni[r][1]);
        assert_near(bias[r], uni[r][2]);
    }
    assert_near(avg[h.l.t[h.t_dense].offset], 5.0 / 3.0);
    hand_case_free(&h);
}

static void test_no_clients(void **state) {
    (void)state;
    hand_case h;
    hand_case_init(&h);
    float avg[32];
    double acc[32], row_w[4];
    for (int mode = 0; mode < 2; mode++) {
        poison(avg, acc, row_w, h.l.size, 4);
        assert_true(fr_aggregate(avg, acc, row_w, &h.l, h.u, NULL, 0, (fr_row_averaging)mode) == 0.0);
        for (int64_t i = 0; i < h.l.size; i++) assert_true(avg[i] == 0.0f);
    }
    hand_case_free(&h);
}

/* FedAvg's mean the plain way: each update expanded to a dense delta (0 off its rows),
 * accumulated in double in client order, times 1 / total weight. */
static double dense_mean(float *avg, const fr_param_layout *l, const fr_update *u,
                         const double *w, int32_t n) {
    double *acc = calloc((size_t)l->size, sizeof(double));
    double *d = calloc((size_t)l->size, sizeof(double));
    assert_true(acc && d);
    const int64_t width = fr_layout_sparse_width(l);
    double total = 0.0;
    for (int32_t c = 0; c < n; c++) {
        memset(d, 0, (size_t)l->size * sizeof(double));
        int64_t col0 = 0, dense0 = 0;
        for (int t = 0; t < l->n; t++) {
            const fr_tensor_info *ti = &l->t[t];
            if (ti->scope != FR_SCOPE_GLOBAL) continue;
            if (ti->row_sparse) {
                for (int32_t r = 0; r < u[c].n_rows; r++)
                    for (int64_t k = 0; k < ti->cols; k++)
                        d[ti->offset + (int64_t)u[c].rows[r] * ti->cols + k] =
                            u[c].sparse[(int64_t)r * width + col0 + k];
                col0 += ti->cols;
            } else {
                for (int64_t k = 0; k < ti->rows * ti->cols; k++)
                    d[ti->offset + k] = u[c].dense[dense0 + k];
                dense0 += ti->rows * ti->cols;
            }
        }
        total += w[c];
        for (int64_t i = 0; i < l->size; i++) acc[i] += w[c] * d[i];
    }
    for (int64_t i = 0; i < l->size; i++) avg[i] = (float)(acc[i] * (1.0 / total));
    free(acc);
    free(d);
    return total;
}

/* Random updates on a larger layout: FR_ROWAVG_ALL is the plain dense mean bit for bit,
 * with example counts or unit weights. When every client touches every row, the two
 * modes agree. */
/* Bit for bit a plain dense mean, on any number of threads (37 rows split unevenly). */
static void matches_dense_mean_on(int threads) {
    omp_set_num_threads(threads);
    enum { N = 37, C = 6 };
    fr_param_layout l;
    memset(&l, 0, sizeof l);
    fr_layout_add(&l, "dense_a", 3, 5, FR_SCOPE_GLOBAL, 0);
    fr_layout_add(&l, "item_emb", N, 4, FR_SCOPE_GLOBAL, 1);
    fr_layout_add(&l, "user", 10, 4, FR_SCOPE_LOCAL, 0);
    fr_layout_add(&l, "item_bias", N, 1, FR_SCOPE_GLOBAL, 1);
    fr_layout_add(&l, "dense_b", 1, 7, FR_SCOPE_GLOBAL, 0);
    const int64_t width = fr_layout_sparse_width(&l), dsz = fr_layout_dense_size(&l);
    fr_update u[C];
    memset(u, 0, sizeof u);
    fr_error err;
    uint32_t s = 12345;
    for (int c = 0; c < C; c++) {
        assert_int_equal(fr_update_reserve(&u[c], &l, N, &err), FR_OK);
        u[c].weight = 1 + c * 7 % 11;
        u[c].n_rows = 0;
        for (int32_t r = 0; r < N; r++) {
            s = s * 1664525u + 1013904223u;
            if ((s >> 16) % 3 == 0) u[c].rows[u[c].n_rows++] = r;
        }
        for (int64_t i = 0; i < u[c].n_rows * width; i++) {
            s = s * 1664525u + 1013904223u;
            u[c].sparse[i] = (float)((double)(s >> 8) / 16777216.0 - 0.5) / 3.0f;
        }
        for (int64_t i = 0; i < dsz; i++) u[c].dense[i] = 0.1f * (float)(c - i) / 7.0f;
    }
    float *a = fr_alloc((size_t)l.size, sizeof(float)), *b = fr_alloc((size_t)l.size, sizeof(float));
    double *acc = fr_alloc((size_t)l.size, sizeof(double)), row_w[N];
    double w[C], ones[C];
    for (int c = 0; c < C; c++) w[c] = u[c].weight, ones[c] = 1.0;
    double ta = dense_mean(a, &l, u, w, C);
    double tb = fr_aggregate(b, acc, row_w, &l, u, w, C, FR_ROWAVG_ALL);
    assert_true(ta == tb);
    assert_memory_equal(a, b, (size_t)l.size * sizeof(float));
    ta = dense_mean(a, &l, u, ones, C);
    tb = fr_aggregate(b, acc, row_w, &l, u, ones, C, FR_ROWAVG_ALL);
    assert_true(ta == tb && ta == C);
    assert_memory_equal(a, b, (size_t)l.size * sizeof(float));
    /* the modes differ on this data (a row not touched by everyone) ... */
    fr_aggregate(a, acc, row_w, &l, u, w, C, FR_ROWAVG_ALL);
    fr_aggregate(b, acc, row_w, &l, u, w, C, FR_ROWAVG_TOUCHED);
    assert_memory_not_equal(a, b, (size_t)l.size * sizeof(float));
    /* ... and agree bit for bit once every client touches every row */
    for (int c = 0; c < C; c++) {
        u[c].n_rows = N;
        for (int32_t r = 0; r < N; r++) u[c].rows[r] = r;
    }
    fr_aggregate(a, acc, row_w, &l, u, w, C, FR_ROWAVG_ALL);
    fr_aggregate(b, acc, row_w, &l, u, w, C, FR_ROWAVG_TOUCHED);
    assert_memory_equal(a, b, (size_t)l.size * sizeof(float));
    fr_free(a);
    fr_free(b);
    fr_free(acc);
    for (int c = 0; c < C; c++) fr_update_free(&u[c]);
}

static void test_matches_dense_mean(void **state) {
    (void)state;
    for (int threads = 1; threads <= 3; threads++) matches_dense_mean_on(threads);
}

/* ---- model selection ---- */

static const double *g_scores;
static int cmp_best(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    double sa = g_scores[a], sb = g_scores[b];
    if (isnan(sa) != isnan(sb)) return isnan(sa) ? 1 : -1;
    if (!isnan(sa) && sa != sb) return sa > sb ? -1 : 1;
    return (a > b) - (a < b);
}

static void test_select_best(void **state) {
    (void)state;
    const double sc[6] = { 0.5, 0.9, 0.5, 0.1, 0.9, 0.7 };
    int32_t out[10];
    assert_int_equal(fr_select_best(out, sc, 6, 4), 4);
    const int32_t want4[4] = { 1, 4, 5, 0 }; /* ties 0.9 and 0.5 go to the lower index */
    assert_memory_equal(out, want4, sizeof want4);
    assert_int_equal(fr_select_best(out, sc, 6, 10), 6); /* clamped */
    const int32_t want6[6] = { 1, 4, 5, 0, 2, 3 };
    assert_memory_equal(out, want6, sizeof want6);
    assert_int_equal(fr_select_best(out, sc, 6, 1), 1);
    assert_int_equal(out[0], 1);
    out[0] = -5;
    assert_int_equal(fr_select_best(out, sc, 6, 0), 0);
    assert_int_equal(fr_select_best(out, sc, 0, 3), 0);
    assert_int_equal(out[0], -5); /* nothing written */
    /* all equal: the first m indices, in order */
    const double flat[5] = { 2, 2, 2, 2, 2 };
    assert_int_equal(fr_select_best(out, flat, 5, 3), 3);
    assert_true(out[0] == 0 && out[1] == 1 && out[2] == 2);
    /* NaN ranks below every number */
    const double withnan[4] = { NAN, -1e300, NAN, 3 };
    assert_int_equal(fr_select_best(out, withnan, 4, 4), 4);
    const int32_t wantn[4] = { 3, 1, 0, 2 };
    assert_memory_equal(out, wantn, sizeof wantn);
    /* many ties, several m: against a full sort */
    enum { N = 5000 };
    double *big = malloc(N * sizeof(double));
    int32_t *ref = malloc(N * sizeof(int32_t)), *got = malloc(N * sizeof(int32_t));
    uint32_t s = 99;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        big[i] = (double)((s >> 16) % 40) - 20.0;
        ref[i] = i;
    }
    g_scores = big;
    qsort(ref, N, sizeof(int32_t), cmp_best);
    const int32_t ms[5] = { 1, 2, 37, 1000, N };
    for (int k = 0; k < 5; k++) {
        assert_int_equal(fr_select_best(got, big, N, ms[k]), ms[k]);
        assert_memory_equal(got, ref, (size_t)ms[k] * sizeof(int32_t));
    }
    free(big);
    free(ref);
    free(got);
}

/* ---- durations and staleness ---- */

static void test_duration_deterministic(void **state) {
    (void)state;
    for (int d = 0; d < 2; d++) {
        fr_duration_dist dist = d ? FR_DUR_PARETO : FR_DUR_LOGNORMAL;
        double x = fr_client_duration(dist, 3.0, 1.2, 42, 17, 5);
        assert_true(x > 0.0 && isfinite(x));
        assert_true(x == fr_client_duration(dist, 3.0, 1.2, 42, 17, 5));
        assert_true(x != fr_client_duration(dist, 3.0, 1.2, 42, 18, 5)); /* dispatch */
        assert_true(x != fr_client_duration(dist, 3.0, 1.2, 42, 17, 6)); /* client */
        assert_true(x != fr_client_duration(dist, 3.0, 1.2, 43, 17, 5)); /* seed */
    }
    /* the stream is (seed, dispatch, client, FR_PURPOSE_ASYNC) */
    fr_rng r;
    fr_rng_init(&r, 42, 17, 5, FR_PURPOSE_ASYNC);
    double z = fr_rng_normal(&r);
    assert_true(fabs(fr_client_duration(FR_DUR_LOGNORMAL, 3.0, 0.5, 42, 17, 5) - 3.0 * exp(0.5 * z))
                < 1e-12);
    fr_rng_init(&r, 42, 17, 5, FR_PURPOSE_ASYNC);
    double u = 1.0 - fr_rng_uniform(&r);
    assert_true(fabs(fr_client_duration(FR_DUR_PARETO, 3.0, 2.0, 42, 17, 5) - 3.0 / sqrt(u)) < 1e-12);
    /* constant: scale, whatever the stream */
    for (uint32_t i = 0; i < 10; i++)
        assert_true(fr_client_duration(FR_DUR_CONSTANT, 2.5, 7.0, i, i, 3 * i) == 2.5);
}

static void test_lognormal_median(void **state) {
    (void)state;
    enum { DRAWS = 20000 };
    const double scale = 2.0, sigma = 0.8;
    int below = 0;
    double sum = 0, sum2 = 0;
    for (uint32_t i = 0; i < DRAWS; i++) {
        double x = fr_client_duration(FR_DUR_LOGNORMAL, scale, sigma, 7, i, i % 13);
        below += x < scale;
        sum += log(x);
        sum2 += log(x) * log(x);
    }
    /* sd of the fraction below is 0.5/sqrt(20000) = 0.0035 */
    assert_true(fabs((double)below / DRAWS - 0.5) < 0.015);
    double mean = sum / DRAWS, sd = sqrt(sum2 / DRAWS - mean * mean);
    assert_true(fabs(mean - log(scale)) < 0.03); /* sd of the mean 0.8/141 */
    assert_true(fabs(sd - sigma) < 0.03);
}

static void test_pareto_tail(void **state) {
    (void)state;
    enum { DRAWS = 20000 };
    const double scale = 1.5;
    const double alphas[2] = { 1.5, 2.0 };
    for (int a = 0; a < 2; a++) {
        const double alpha = alphas[a];
        int over10 = 0, over2 = 0;
        double lo = INFINITY;
        for (uint32_t i = 0; i < DRAWS; i++) {
            double x = fr_client_duration(FR_DUR_PARETO, scale, alpha, 11, i, 3);
            assert_true(isfinite(x));
            if (x < lo) lo = x;
            over10 += x > 10 * scale;
            over2 += x > 2 * scale;
        }
        assert_true(lo >= scale);
        /* P(X > k scale) = k^-alpha: 0.0316 / 0.01 for k = 10 (sd 0.0012 / 0.0007) */
        double p10 = pow(10.0, -alpha), p2 = pow(2.0, -alpha);
        assert_true(fabs((double)over10 / DRAWS - p10) < 0.2 * p10);
        assert_true(fabs((double)over2 / DRAWS - p2) < 0.015);
    }
}

static void test_staleness_weights(void **state) {
    (void)state;
    assert_true(fr_staleness_weight(FR_STALE_SQRT, 0, 0) == 1.0);
    assert_near(fr_staleness_weight(FR_STALE_SQRT, 0, 3), 0.5);
    assert_near(fr_staleness_weight(FR_STALE_SQRT, 9, 8), 1.0 / 3.0); /* a is ignored */
    assert_near(fr_staleness_weight(FR_STALE_POLY, 2.0, 1), 0.25);
    assert_near(fr_staleness_weight(FR_STALE_POLY, 1.0, 4), 0.2);
    assert_near(fr_staleness_weight(FR_STALE_POLY, 0.5, 3), 0.5);
    assert_true(fr_staleness_weight(FR_STALE_POLY, 3.0, 0) == 1.0);
    assert_true(fr_staleness_weight(FR_STALE_CONSTANT, 2.0, 100) == 1.0);
    for (int64_t s = 1; s < 50; s++) /* decreasing in s */
        assert_true(fr_staleness_weight(FR_STALE_SQRT, 0, s) <
                    fr_staleness_weight(FR_STALE_SQRT, 0, s - 1));
    assert_true(fr_staleness_weight(FR_STALE_SQRT, 0, -3) == 1.0); /* a negative s is 0 */
}

/* ---- the asynchronous clock ---- */

static void test_clock_order_and_capacity(void **state) {
    (void)state;
    fr_async_clock q;
    fr_error err;
    fr_async_job j;
    assert_int_equal(fr_async_clock_init(&q, 0, &err), FR_ERR_USAGE);
    assert_int_equal(fr_async_clock_init(&q, 4, &err), FR_OK);
    const double dur[4] = { 5, 2, 2, 7 };
    for (int i = 0; i < 4; i++) {
        int64_t d = -1;
        assert_int_equal(fr_async_dispatch(&q, 10 + i, 20 + i, 30 + i, dur[i], &d, &err), FR_OK);
        assert_int_equal(d, i);
    }
    err.msg[0] = '\0';
    assert_int_equal(fr_async_dispatch(&q, 9, 9, 9, 1.0, NULL, &err), FR_ERR_RUNTIME);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(q.n, 4);
    assert_int_equal(q.n_dispatched, 4);
    /* finish 2 (dispatch 1), 2 (dispatch 2), then a client sent at t=2 for 1s, 5, 7 */
    assert_int_equal(fr_async_next(&q, &j), 1);
    assert_true(j.finish == 2.0 && j.dispatch == 1);
    assert_true(j.client == 11 && j.slot == 21 && j.version == 31);
    assert_true(q.now == 2.0);
    assert_int_equal(fr_async_dispatch(&q, 50, 51, 52, 1.0, NULL, &err), FR_OK);
    assert_int_equal(fr_async_next(&q, &j), 1);
    assert_true(j.finish == 2.0 && j.dispatch == 2 && j.client == 12);
    assert_int_equal(fr_async_next(&q, &j), 1);
    assert_true(j.finish == 3.0 && j.dispatch == 4);
    assert_true(j.client == 50 && j.slot == 51 && j.version == 52);
    assert_true(q.now == 3.0);
    assert_int_equal(fr_async_next(&q, &j), 1);
    assert_true(j.finish == 5.0 && j.dispatch == 0);
    assert_int_equal(fr_async_next(&q, &j), 1);
    assert_true(j.finish == 7.0 && j.dispatch == 3 && q.now == 7.0);
    assert_int_equal(fr_async_next(&q, &j), 0);
    assert_true(q.now == 7.0);
    /* bad durations are refused */
    assert_int_equal(fr_async_dispatch(&q, 1, 1, 1, -1.0, NULL, &err), FR_ERR_USAGE);
    assert_int_equal(fr_async_dispatch(&q, 1, 1, 1, NAN, NULL, &err), FR_ERR_USAGE);
    assert_int_equal(q.n, 0);
    fr_async_clock_free(&q);
    /* a full tie: eight jobs finishing together leave in dispatch order */
    assert_int_equal(fr_async_clock_init(&q, 8, &err), FR_OK);
    const int32_t clients[8] = { 7, 3, 5, 1, 6, 0, 2, 4 };
    for (int i = 0; i < 8; i++)
        assert_int_equal(fr_async_dispatch(&q, clients[i], i, 0, 1.0, NULL, &err), FR_OK);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(fr_async_next(&q, &j), 1);
        assert_int_equal(j.dispatch, i);
        assert_int_equal(j.client, clients[i]);
    }
    fr_async_clock_free(&q);
}

/* Random dispatches and pops against a linear scan for the minimum (finish, dispatch);
 * the clock never runs backwards. */
static void test_clock_against_linear_scan(void **state) {
    (void)state;
    enum { CAP = 16, OPS = 4000 };
    fr_async_clock q;
    fr_error err;
    assert_int_equal(fr_async_clock_init(&q, CAP, &err), FR_OK);
    fr_async_job ref[CAP];
    int nref = 0;
    double now = 0.0;
    uint32_t s = 5;
    for (int op = 0; op < OPS; op++) {
        s = s * 1664525u + 1013904223u;
        int push = nref == 0 || (nref < CAP && (s >> 20) % 2 == 0);
        if (push) {
            s = s * 1664525u + 1013904223u;
            double dur = (double)((s >> 16) % 5); /* small integers: many ties */
            int64_t d;
            assert_int_equal(fr_async_dispatch(&q, op, op, 0, dur, &d, &err), FR_OK);
            ref[nref++] = (fr_async_job){ .finish = now + dur, .dispatch = d, .client = op };
        } else {
            int best = 0;
            for (int i = 1; i < nref; i++)
                if (ref[i].finish < ref[best].finish ||
                    (ref[i].finish == ref[best].finish && ref[i].dispatch < ref[best].dispatch))
                    best = i;
            fr_async_job j;
            assert_int_equal(fr_async_next(&q, &j), 1);
            assert_true(j.finish == ref[best].finish && j.dispatch == ref[best].dispatch &&
                        j.client == ref[best].client);
            assert_true(q.now >= now && q.now == j.finish);
            now = q.now;
            ref[best] = ref[--nref];
        }
        assert_int_equal(q.n, nref);
    }
    fr_async_clock_free(&q);
}

/* FedBuff's loop in miniature: concurrency 3, 10 clients taken in turn, a new client
 * dispatched after every arrival, the model version bumped every K = 2 arrivals. */
typedef struct sim_event {
    double finish;
    int64_t dispatch, staleness;
    int64_t client; /* int64 so the struct has no padding to compare */
} sim_event;

static void simulate(sim_event *ev, int n_events, uint64_t seed) {
    fr_async_clock q;
    fr_error err;
    assert_int_equal(fr_async_clock_init(&q, 3, &err), FR_OK);
    int64_t version = 0;
    int32_t next_client = 0;
    for (int i = 0; i < 3; i++, next_client++) {
        double d = fr_client_duration(FR_DUR_PARETO, 1.0, 1.5, seed, (uint32_t)q.n_dispatched,
                                      (uint32_t)(next_client % 10));
        assert_int_equal(fr_async_dispatch(&q, next_client % 10, i, version, d, NULL, &err), FR_OK);
    }
    assert_int_equal(fr_async_dispatch(&q, 0, 0, 0, 1.0, NULL, &err), FR_ERR_RUNTIME);
    double last = 0.0;
    for (int e = 0; e < n_events; e++) {
        fr_async_job j;
        assert_int_equal(fr_async_next(&q, &j), 1);
        assert_true(q.now >= last);
        last = q.now;
        ev[e] = (sim_event){ j.finish, j.dispatch, version - j.version, j.client };
        if ((e + 1) % 2 == 0) version++;
        double d = fr_client_duration(FR_DUR_PARETO, 1.0, 1.5, seed, (uint32_t)q.n_dispatched,
                                      (uint32_t)(next_client % 10));
        assert_int_equal(fr_async_dispatch(&q, next_client % 10, j.slot, version, d, NULL, &err),
                         FR_OK);
        next_client++;
        assert_int_equal(q.n, 3);
    }
    fr_async_clock_free(&q);
}

static void test_simulation_reproducible(void **state) {
    (void)state;
    enum { E = 60 };
    sim_event a[E], b[E], c[E];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    memset(c, 0, sizeof c);
    simulate(a, E, 2024);
    simulate(b, E, 2024);
    assert_memory_equal(a, b, sizeof a);
    simulate(c, E, 2025);
    assert_memory_not_equal(a, c, sizeof a);
    int stale = 0, overtaken = 0;
    for (int e = 0; e < E; e++) {
        assert_true(a[e].staleness >= 0);
        stale += a[e].staleness > 0;
        if (e) overtaken += a[e].dispatch < a[e - 1].dispatch; /* a slow client arrives late */
    }
    assert_true(stale > 0);
    assert_true(overtaken > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed_both_modes),
        cmocka_unit_test(test_no_clients),
        cmocka_unit_test(test_matches_dense_mean),
        cmocka_unit_test(test_select_best),
        cmocka_unit_test(test_duration_deterministic),
        cmocka_unit_test(test_lognormal_median),
        cmocka_unit_test(test_pareto_tail),
        cmocka_unit_test(test_staleness_weights),
        cmocka_unit_test(test_clock_order_and_capacity),
        cmocka_unit_test(test_clock_against_linear_scan),
        cmocka_unit_test(test_simulation_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
