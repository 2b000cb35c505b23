/* test_kmeans.c - weighted k-means: planted clusters recovered up to a relabelling;
 * bit-identical results for one seed; k-means++ seeds are distinct rows and stop at the
 * number of distinct rows; integer weights against repeated points; all-ones weights
 * against NULL; zero weights; the convergence flag against a truncated run; a plain
 * reference Lloyd (empty clusters included) from the same seeds; K > n; argument errors.
 * Leaves out: timing. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/kmeans.h"
#include "fedrec/rng.h"

/* n points, d a point's length, K clusters asked for, k found. */

/* ---- helpers ---- */

/* |a - b| <= tol, in double (cmocka's assert_float_equal rounds to float). */
static void assert_near(double a, double b, double tol) {
    if (!(fabs(a - b) <= tol)) fail_msg("%.17g and %.17g differ by more than %g", a, b, tol);
}

static fr_kmeans_opts opts(uint64_t seed, int32_t max_iter) {
    return (fr_kmeans_opts){ .max_iter = max_iter, .tol = 0.0, .seed = seed };
}

static void run_ok(float *c, int32_t *a, fr_kmeans_result *res, const float *x,
                   const double *w, int32_t n, int32_t d, int32_t K, const fr_kmeans_opts *o) {
    fr_error err = { "" };
    if (fr_kmeans(c, a, res, x, w, n, d, K, o, &err) != FR_OK) fail_msg("fr_kmeans: %s", err.msg);
    assert_true(res->k >= 1 && res->k <= K);
    for (int32_t i = 0; i < n && a; i++) assert_true(a[i] >= 0 && a[i] < res->k);
}

/* x[n x d]: point i belongs to cluster i % K, centred at a N(0, spread^2) point, with
 * N(0, noise^2) noise. */
static float *planted(int32_t n, int32_t d, int32_t K, double spread, double noise,
                      uint64_t seed) {
    float *x = malloc((size_t)n * d * sizeof(float));
    float *ctr = malloc((size_t)K * d * sizeof(float)); /* [K x d] */
    tu_fill_normal(ctr, (int64_t)K * d, seed, 0, spread);
    tu_fill_normal(x, (int64_t)n * d, seed, 1, noise);
    for (int32_t i = 0; i < n; i++)
        for (int32_t p = 0; p < d; p++) x[(int64_t)i * d + p] += ctr[(i % K) * d + p];
    free(ctr);
    return x;
}

/* The found labels are a bijective relabelling of the planted i % K. */
static void assert_same_partition(const int32_t *a, int32_t n, int32_t K) {
    int32_t map[64], back[64];
    for (int32_t j = 0; j < K; j++) map[j] = back[j] = -1;
    for (int32_t i = 0; i < n; i++) {
        const int32_t t = i % K, f = a[i];
        if (map[t] < 0 && back[f] < 0) map[t] = f, back[f] = t;
        if (map[t] != f || back[f] != t)
            fail_msg("point %d: planted %d found %d (planted %d maps to %d)", i, t, f, t, map[t]);
    }
}

static double sqdist(const float *a, const float *b, int32_t d) {
    double s = 0.0;
    for (int32_t p = 0; p < d; p++) s += ((double)a[p] - b[p]) * ((double)a[p] - b[p]);
    return s;
}

/* The row of c[k x d] nearest to v. */
static int32_t nearest(const float *c, int32_t k, int32_t d, const float *v) {
    int32_t best = 0;
    for (int32_t j = 1; j < k; j++)
        if (sqdist(c + j * d, v, d) < sqdist(c + best * d, v, d)) best = j;
    return best;
}

/* ---- planted clusters ---- */

static void test_planted_clusters(void **state) {
    (void)state;
    const int32_t n = 240, d = 8, K = 6;
    float *x = planted(n, d, K, 10.0, 0.1, 3);
    float c[6 * 8];
    int32_t a[240];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fr_kmeans_opts o = opts(seed, 100);
        fr_kmeans_result res;
        run_ok(c, a, &res, x, NULL, n, d, K, &o);
        assert_int_equal(res.k, K);
        assert_true(res.converged);
        assert_true(res.iters < 100);
        assert_same_partition(a, n, K);
        /* Each centroid is the mean of its members; the inertia is theirs. */
        double inertia = 0.0;
        for (int32_t j = 0; j < K; j++) {
            double mean[8] = { 0 };
            int32_t cnt = 0;
            for (int32_t i = 0; i < n; i++)
                if (a[i] == j) {
                    cnt++;
                    for (int32_t p = 0; p < d; p++) mean[p] += x[i * d + p];
                }
            for (int32_t p = 0; p < d; p++) assert_near(c[j * d + p], mean[p] / cnt, 1e-5);
        }
        for (int32_t i = 0; i < n; i++) inertia += sqdist(x + i * d, c + a[i] * d, d);
        assert_near(res.inertia, inertia, 1e-9 * inertia);
    }
    free(x);
}

/* ---- determinism ---- */

static void test_same_seed_bit_identical(void **state) {
    (void)state;
    const int32_t n = 150, d = 5, K = 7;
    float *x = planted(n, d, 3, 1.0, 0.8, 11); /* overlapping: many iterations */
    float c1[7 * 5], c2[7 * 5], c3[7 * 5];
    int32_t a1[150], a2[150], a3[150];
    fr_kmeans_result r1, r2, r3;
    fr_kmeans_opts o = opts(42, 50);
    run_ok(c1, a1, &r1, x, NULL, n, d, K, &o);
    run_ok(c2, a2, &r2, x, NULL, n, d, K, &o);
    assert_memory_equal(c1, c2, sizeof(c1));
    assert_memory_equal(a1, a2, sizeof(a1));
    assert_memory_equal(&r1, &r2, sizeof(r1));
    /* Another stream (round) seeds differently. */
    o.round = 1;
    run_ok(c3, a3, &r3, x, NULL, n, d, K, &o);
    int32_t i1[7], i3[7], k1, k3;
    fr_error err = { "" };
    o.round = 0;
    assert_int_equal(fr_kmeans_seed(i1, &k1, x, NULL, n, d, K, &o, &err), FR_OK);
    o.round = 1;
    assert_int_equal(fr_kmeans_seed(i3, &k3, x, NULL, n, d, K, &o, &err), FR_OK);
    assert_true(memcmp(i1, i3, sizeof(i1)) != 0);
    free(x);
}

/* ---- k-means++ seeding ---- */

static void test_seeds_distinct(void **state) {
    (void)state;
    /* n = K distinct rows: every row is drawn once. */
    const int32_t n = 20, d = 3;
    float *x = planted(n, d, 2, 1.0, 1.0, 5);
    int32_t idx[25], k;
    fr_error err = { "" };
    for (uint64_t seed = 0; seed < 10; seed++) {
        fr_kmeans_opts o = opts(seed, 0);
        assert_int_equal(fr_kmeans_seed(idx, &k, x, NULL, n, d, n, &o, &err), FR_OK);
        assert_int_equal(k, n);
        int seen[20] = { 0 };
        for (int32_t j = 0; j < k; j++) {
            assert_true(idx[j] >= 0 && idx[j] < n);
            assert_false(seen[idx[j]]);
            seen[idx[j]] = 1;
        }
    }
    /* Three distinct rows, each repeated 8 times: K = 3 takes one of each, K = 5 stops
     * at 3, and max_iter = 0 returns the seeds themselves. */
    float y[24 * 2];
    const float rows[3][2] = { { 0, 0 }, { 5, 1 }, { -2, 7 } };
    for (int32_t i = 0; i < 24; i++) memcpy(y + 2 * i, rows[i % 3], sizeof(rows[0]));
    for (uint64_t seed = 0; seed < 10; seed++) {
        fr_kmeans_opts o = opts(seed, 0);
        for (int32_t K = 3; K <= 5; K++) {
            assert_int_equal(fr_kmeans_seed(idx, &k, y, NULL, 24, 2, K, &o, &err), FR_OK);
            assert_int_equal(k, 3);
            int seen[3] = { 0 };
            for (int32_t j = 0; j < k; j++) {
                assert_false(seen[idx[j] % 3]);
                seen[idx[j] % 3] = 1;
            }
            float c[5 * 2];
            int32_t a[24];
            fr_kmeans_result res;
            run_ok(c, a, &res, y, NULL, 24, 2, K, &o);
            assert_int_equal(res.k, 3);
            assert_int_equal(res.iters, 0);
            assert_false(res.converged);
            assert_true(res.inertia == 0.0);
            for (int32_t j = 0; j < 3; j++)
                assert_memory_equal(c + 2 * j, y + 2 * idx[j], 2 * sizeof(float));
            for (int32_t j = 3; j < K; j++) assert_true(c[2 * j] == 0.0f && c[2 * j + 1] == 0.0f);
        }
    }
    free(x);
}

/* ---- weights ---- */

static void test_weights_repeat_points(void **state) {
    (void)state;
    const int32_t n = 60, d = 4, K = 3;
    float *x = planted(n, d, K, 8.0, 0.5, 21);
    double w[60];
    int32_t total = 0;
    for (int32_t i = 0; i < n; i++) w[i] = 1 + (i * 7) % 4, total += (int32_t)w[i];
    float *rep = malloc((size_t)total * d * sizeof(float)); /* each point w_i times */
    int32_t r = 0;
    for (int32_t i = 0; i < n; i++)
        for (int32_t t = 0; t < (int32_t)w[i]; t++, r++)
            memcpy(rep + (int64_t)r * d, x + (int64_t)i * d, (size_t)d * sizeof(float));
    float cw[3 * 4], cr[3 * 4];
    int32_t aw[60], *ar = malloc((size_t)total * sizeof(int32_t));
    for (uint64_t seed = 0; seed < 5; seed++) {
        fr_kmeans_opts o = opts(seed, 100);
        fr_kmeans_result rw, rr;
        run_ok(cw, aw, &rw, x, w, n, d, K, &o);
        run_ok(cr, ar, &rr, rep, NULL, total, d, K, &o);
        assert_int_equal(rw.k, K);
        assert_int_equal(rr.k, K);
        assert_true(rw.converged && rr.converged);
        assert_near(rw.inertia, rr.inertia, 1e-6 * rr.inertia);
        /* Same centroids up to order, and every copy of point i goes where i goes. */
        int32_t perm[3];
        for (int32_t j = 0; j < K; j++) {
            perm[j] = nearest(cr, K, d, cw + j * d);
            for (int32_t p = 0; p < d; p++)
                assert_near(cw[j * d + p], cr[perm[j] * d + p], 1e-5);
        }
        r = 0;
        for (int32_t i = 0; i < n; i++)
            for (int32_t t = 0; t < (int32_t)w[i]; t++, r++) assert_int_equal(ar[r], perm[aw[i]]);
    }
    /* All-ones weights are NULL weights, bit for bit. */
    double ones[60];
    for (int32_t i = 0; i < n; i++) ones[i] = 1.0;
    fr_kmeans_opts o = opts(9, 100);
    fr_kmeans_result r1, r2;
    run_ok(cw, aw, &r1, x, ones, n, d, K, &o);
    run_ok(cr, ar, &r2, x, NULL, n, d, K, &o);
    assert_memory_equal(cw, cr, sizeof(cw));
    assert_memory_equal(aw, ar, sizeof(aw));
    assert_memory_equal(&r1, &r2, sizeof(r1));
    free(rep);
    free(ar);
    free(x);
}

/* A zero-weight point is never a seed and does not pull its centroid. */
static void test_zero_weight(void **state) {
    (void)state;
    /* 1-D: {0, 1} and {10, 11}, plus a far outlier at 100 with weight 0. */
    const float x[5] = { 0, 1, 10, 11, 100 };
    const double w[5] = { 1, 1, 1, 1, 0 };
    for (uint64_t seed = 0; seed < 10; seed++) {
        fr_kmeans_opts o = opts(seed, 100);
        int32_t idx[3], k;
        fr_error err = { "" };
        assert_int_equal(fr_kmeans_seed(idx, &k, x, w, 5, 1, 3, &o, &err), FR_OK);
        assert_int_equal(k, 3);
        for (int32_t j = 0; j < k; j++) assert_int_not_equal(idx[j], 4);
        float c[2];
        int32_t a[5];
        fr_kmeans_result res;
        run_ok(c, a, &res, x, w, 5, 1, 2, &o);
        const float lo = c[0] < c[1] ? c[0] : c[1], hi = c[0] < c[1] ? c[1] : c[0];
        assert_true(lo == 0.5f && hi == 10.5f);
        assert_near(res.inertia, 4 * 0.25, 1e-12);
    }
}

/* ---- convergence ---- */

static void test_convergence_flag(void **state) {
    (void)state;
    const int32_t n = 300, d = 2, K = 8;
    float *x = malloc((size_t)n * d * sizeof(float));
    tu_fill_normal(x, (int64_t)n * d, 77, 0, 1.0); /* one blob: Lloyd needs many steps */
    float cf[8 * 2], ct[8 * 2];
    int32_t af[300], at[300];
    fr_kmeans_opts o = opts(4, 1000);
    fr_kmeans_result full, cut;
    run_ok(cf, af, &full, x, NULL, n, d, K, &o);
    assert_true(full.converged);
    assert_true(full.iters >= 3 && full.iters < 1000);
    /* One iteration fewer: not converged, and not the same centroids. */
    o.max_iter = full.iters - 1;
    run_ok(ct, at, &cut, x, NULL, n, d, K, &o);
    assert_false(cut.converged);
    assert_int_equal(cut.iters, full.iters - 1);
    assert_true(cut.inertia >= full.inertia * (1.0 - 1e-12));
    assert_true(memcmp(ct, cf, sizeof(cf)) != 0);
    /* Exactly enough iterations: the full run, bit for bit. */
    o.max_iter = full.iters;
    run_ok(ct, at, &cut, x, NULL, n, d, K, &o);
    assert_memory_equal(&cut, &full, sizeof(cut));
    assert_memory_equal(ct, cf, sizeof(cf));
    /* A huge tolerance stops after the first iteration, converged. */
    o.max_iter = 1000;
    o.tol = 1e30;
    run_ok(ct, at, &cut, x, NULL, n, d, K, &o);
    assert_true(cut.converged);
    assert_int_equal(cut.iters, 1);
    /* At convergence every point sits at its nearest centroid. */
    for (int32_t i = 0; i < n; i++) assert_int_equal(af[i], nearest(cf, K, d, x + i * d));
    free(x);
}

/* ---- a plain reference Lloyd from the same seeds ---- */

/* Lloyd as the header describes it, from the rows idx[k]; returns the iterations. */
static int32_t ref_lloyd(float *c, int32_t *a, const float *x, const double *w, int32_t n,
                         int32_t d, const int32_t *idx, int32_t k, int32_t max_iter,
                         int *had_empty) {
    for (int32_t j = 0; j < k; j++) memcpy(c + j * d, x + idx[j] * d, (size_t)d * sizeof(float));
    for (int32_t i = 0; i < n; i++) a[i] = nearest(c, k, d, x + i * d);
    int32_t it = 0;
    while (it < max_iter) {
        it++;
        for (int32_t j = 0; j < k; j++) {
            double s[16] = { 0 }, ws = 0.0;
            for (int32_t i = 0; i < n; i++) {
                if (a[i] != j) continue;
                const double wi = w ? w[i] : 1.0;
                ws += wi;
                for (int32_t p = 0; p < d; p++) s[p] += wi * x[i * d + p];
            }
            if (ws > 0.0)
                for (int32_t p = 0; p < d; p++) c[j * d + p] = (float)(s[p] / ws);
            else
                *had_empty = 1;
        }
        int changed = 0;
        for (int32_t i = 0; i < n; i++) {
            const int32_t b = nearest(c, k, d, x + i * d);
            changed |= b != a[i];
            a[i] = b;
        }
        if (!changed) break;
    }
    return it;
}

/* fr_kmeans against ref_lloyd from fr_kmeans_seed's rows: bit-identical centroids,
 * assignment and iteration count. Returns whether a cluster went empty on the way. */
static int check_against_reference(const float *x, const double *w, int32_t n, int32_t d,
                                   int32_t K, uint64_t seed) {
    fr_kmeans_opts o = opts(seed, 100);
    int32_t idx[16], k;
    fr_error err = { "" };
    assert_int_equal(fr_kmeans_seed(idx, &k, x, w, n, d, K, &o, &err), FR_OK);
    assert_int_equal(k, K);
    float c[16 * 4], cr[16 * 4];
    int32_t a[64], ar[64];
    fr_kmeans_result res;
    run_ok(c, a, &res, x, w, n, d, K, &o);
    int had_empty = 0;
    const int32_t it = ref_lloyd(cr, ar, x, w, n, d, idx, k, 100, &had_empty);
    assert_int_equal(res.iters, it);
    assert_memory_equal(c, cr, (size_t)K * d * sizeof(float));
    assert_memory_equal(a, ar, (size_t)n * sizeof(int32_t));
    return had_empty;
}

static void test_reference_lloyd(void **state) {
    (void)state;
    /* Small weighted sets with K near n. */
    for (uint64_t seed = 0; seed < 300; seed++) {
        const int32_t n = 9, d = 2;
        float x[9 * 2];
        double w[9];
        tu_fill_normal(x, n * d, seed, 0, 1.0);
        for (int32_t i = 0; i < n; i++) w[i] = 0.25 + (double)((seed + i) % 3);
        check_against_reference(x, w, n, d, 6, seed);
    }
    /* Empty clusters are rare after k-means++ seeding; this case (found by a search over
     * seeds: 20 standard normal points in 2-D, K = 10, seed 10541) empties one on the
     * way, so the keep-the-old-centroid rule is held to the reference. */
    float x[20 * 2];
    tu_fill_normal(x, 20 * 2, 10541, 0, 1.0);
    if (!check_against_reference(x, NULL, 20, 2, 10, 10541))
        fail_msg("no cluster went empty: the keep rule went untested");
}

/* ---- K > n ---- */

static void test_more_clusters_than_points(void **state) {
    (void)state;
    const float x[3 * 2] = { 0, 0, 1, 0, 0, 1 };
    float c[5 * 2];
    int32_t a[3];
    fr_kmeans_result res;
    fr_kmeans_opts o = opts(1, 10);
    run_ok(c, a, &res, x, NULL, 3, 2, 5, &o);
    assert_int_equal(res.k, 3);
    assert_true(res.inertia == 0.0);
    assert_true(res.converged);
    int seen[3] = { 0 };
    for (int32_t i = 0; i < 3; i++) {
        assert_false(seen[a[i]]);
        seen[a[i]] = 1;
        assert_memory_equal(c + 2 * a[i], x + 2 * i, 2 * sizeof(float));
    }
    for (int32_t p = 6; p < 10; p++) assert_true(c[p] == 0.0f);
    /* One point, one cluster. */
    run_ok(c, a, &res, x, NULL, 1, 2, 1, &o);
    assert_int_equal(res.k, 1);
    assert_int_equal(a[0], 0);
}

/* ---- argument errors ---- */

static void expect(fr_status want, const float *x, const double *w, int32_t n, int32_t d,
                   int32_t K, const fr_kmeans_opts *o) {
    float c[64];
    int32_t a[16], idx[16], k = 5;
    fr_kmeans_result res;
    fr_error err = { "" };
    assert_int_equal(fr_kmeans(c, a, &res, x, w, n, d, K, o, &err), want);
    assert_true(strncmp(err.msg, "kmeans:", 7) == 0);
    if (o && (o->max_iter < 0 || !(o->tol >= 0.0) || isinf(o->tol))) return; /* Lloyd only */
    err.msg[0] = '\0';
    assert_int_equal(fr_kmeans_seed(idx, &k, x, w, n, d, K, o, &err), want);
    assert_int_equal(k, 0);
    assert_true(err.msg[0] != '\0');
}

static void test_bad_arguments(void **state) {
    (void)state;
    const float x[4 * 2] = { 0, 0, 1, 1, 2, 2, 3, 3 };
    const double w[4] = { 1, 1, 1, 1 };
    fr_kmeans_opts o = opts(0, 10);
    expect(FR_ERR_USAGE, NULL, NULL, 4, 2, 2, &o);
    expect(FR_ERR_USAGE, x, NULL, 4, 2, 2, NULL);
    expect(FR_ERR_USAGE, x, NULL, 0, 2, 2, &o);
    expect(FR_ERR_USAGE, x, NULL, 4, 0, 2, &o);
    expect(FR_ERR_USAGE, x, NULL, 4, 2, 0, &o);
    expect(FR_ERR_USAGE, x, NULL, 4, 2, -1, &o);
    double bad[4];
    memcpy(bad, w, sizeof(bad));
    bad[2] = -1.0;
    expect(FR_ERR_USAGE, x, bad, 4, 2, 2, &o);
    bad[2] = NAN;
    expect(FR_ERR_USAGE, x, bad, 4, 2, 2, &o);
    bad[2] = INFINITY;
    expect(FR_ERR_USAGE, x, bad, 4, 2, 2, &o);
    const double zeros[4] = { 0 };
    expect(FR_ERR_USAGE, x, zeros, 4, 2, 2, &o);
    float xn[4 * 2];
    memcpy(xn, x, sizeof(xn));
    xn[5] = NAN;
    expect(FR_ERR_INPUT, xn, w, 4, 2, 2, &o);
    xn[5] = INFINITY;
    expect(FR_ERR_INPUT, xn, NULL, 4, 2, 2, &o);
    fr_kmeans_opts b = o;
    b.max_iter = -1;
    expect(FR_ERR_USAGE, x, NULL, 4, 2, 2, &b);
    b = o;
    b.tol = -1e-9;
    expect(FR_ERR_USAGE, x, NULL, 4, 2, 2, &b);
    b.tol = NAN;
    expect(FR_ERR_USAGE, x, NULL, 4, 2, 2, &b);
    b.tol = INFINITY;
    expect(FR_ERR_USAGE, x, NULL, 4, 2, 2, &b);
    /* NULL outputs. */
    fr_error err = { "" };
    fr_kmeans_result res;
    float c[4];
    int32_t k;
    assert_int_equal(fr_kmeans(NULL, NULL, &res, x, NULL, 4, 2, 2, &o, &err), FR_ERR_USAGE);
    assert_int_equal(fr_kmeans(c, NULL, NULL, x, NULL, 4, 2, 2, &o, &err), FR_ERR_USAGE);
    assert_int_equal(fr_kmeans_seed(NULL, &k, x, NULL, 4, 2, 2, &o, &err), FR_ERR_USAGE);
    /* NULL assign is allowed. */
    assert_int_equal(fr_kmeans(c, NULL, &res, x, NULL, 4, 2, 2, &o, &err), FR_OK);
    assert_int_equal(res.k, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_clusters),
        cmocka_unit_test(test_same_seed_bit_identical),
        cmocka_unit_test(test_seeds_distinct),
        cmocka_unit_test(test_weights_repeat_points),
        cmocka_unit_test(test_zero_weight),
        cmocka_unit_test(test_convergence_flag),
        cmocka_unit_test(test_reference_lloyd),
        cmocka_unit_test(test_more_clusters_than_points),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
