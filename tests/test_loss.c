/* test_loss.c - each loss against central finite differences (loss in double, the
 * actual float step measured exactly), against values computed by hand, and stable at
 * extreme scores. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include "fedrec/loss.h"
#include "fedrec/rng.h"

enum { N = 4, M = 5, C = 7 };

typedef double (*loss_fn)(const float *x, float *dx, void *ctx);

/* max relative error between the analytic gradient and central differences over x[n] */
static double grad_check(loss_fn f, float *x, int64_t n, void *ctx) {
    float dx[64];
    memset(dx, 0, sizeof dx);
    f(x, dx, ctx);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float x0 = x[i], h = 1e-2f;
        x[i] = x0 + h;
        double up = f(x, NULL, ctx), xu = x[i];
        x[i] = x0 - h;
        double dn = f(x, NULL, ctx), xd = x[i];
        x[i] = x0;
        double num = (up - dn) / (xu - xd);
        double rel = fabs(num - dx[i]) / fmax(1e-4, fabs(num) + fabs(dx[i]));
        if (rel > worst) worst = rel;
    }
    return worst;
}

static double bce_f(const float *x, float *dx, void *ctx) {
    (void)ctx;
    return fr_bce_loss(dx, dx ? dx + N : NULL, x, x + N, N);
}
static double bpr_f(const float *x, float *dx, void *ctx) {
    (void)ctx;
    return fr_bpr_loss(dx, dx ? dx + N : NULL, x, x + N, N);
}
static double infonce_f(const float *x, float *dx, void *ctx) {
    return fr_infonce_loss(dx, x, N, M, *(double *)ctx);
}
static double softmax_f(const float *x, float *dx, void *ctx) {
    return fr_softmax_ce_loss(dx, x, (const int32_t *)ctx, N, C);
}

static void fill(float *x, int64_t n, uint32_t stream) {
    fr_rng r;
    fr_rng_init(&r, 3, 0, stream, FR_PURPOSE_EVAL);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(2.0 * fr_rng_normal(&r));
}

static void test_gradients(void **state) {
    (void)state;
    float x[64];
    fill(x, 2 * N, 1);
    assert_true(grad_check(bce_f, x, 2 * N, NULL) < 1e-3);
    fill(x, 2 * N, 2);
    assert_true(grad_check(bpr_f, x, 2 * N, NULL) < 1e-3);
    double t = 0.2;
    fill(x, N * (M + 1), 3);
    for (int i = 0; i < N * (M + 1); i++) x[i] *= 0.2f; /* cosine-like range */
    assert_true(grad_check(infonce_f, x, N * (M + 1), &t) < 1e-3);
    int32_t y[N] = { 0, 3, 6, 2 };
    fill(x, N * C, 4);
    assert_true(grad_check(softmax_f, x, N * C, y) < 1e-3);
}

static void test_values_by_hand(void **state) {
    (void)state;
    float p[1] = { 0.0f }, q[1] = { 0.0f };
    assert_true(fabs(fr_bce_loss(NULL, NULL, p, q, 1) - 2.0 * log(2.0)) < 1e-12);
    assert_true(fabs(fr_bpr_loss(NULL, NULL, p, q, 1) - log(2.0)) < 1e-12);
    float z[3] = { 1.0f, 0.0f, 0.0f };
    double want = -log(exp(1.0 / 0.5) / (exp(1.0 / 0.5) + 2.0));
    assert_true(fabs(fr_infonce_loss(NULL, z, 1, 2, 0.5) - want) < 1e-9);
    int32_t y[1] = { 1 };
    assert_true(fabs(fr_softmax_ce_loss(NULL, z, y, 1, 3) - (log(exp(1.0) + 2.0))) < 1e-9);
}

static void test_extreme_scores_are_finite(void **state) {
    (void)state;
    float p[2] = { 1e4f, -1e4f }, q[2] = { -1e4f, 1e4f }, dp[2] = { 0 }, dq[2] = { 0 };
    double l = fr_bce_loss(dp, dq, p, q, 2);
    assert_true(isfinite(l) && fabs(l - 1e4) < 1.0); /* one row perfect, one off by 1e4 x 2 */
    assert_true(isfinite(dp[0]) && isfinite(dq[1]));
    float z[3] = { 1e4f, -1e4f, 0.0f }, dz[3] = { 0 };
    int32_t y[1] = { 1 };
    assert_true(isfinite(fr_softmax_ce_loss(dz, z, y, 1, 3)));
    assert_true(fabsf(dz[0] - 1.0f) < 1e-6f && fabsf(dz[1] + 1.0f) < 1e-6f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_values_by_hand),
        cmocka_unit_test(test_extreme_scores_are_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
