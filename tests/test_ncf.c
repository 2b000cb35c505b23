/* test_ncf.c - the implicit-feedback scorers (ncf.h): finite-difference checks of every
 * scorer's backward pass (scorer parameters, user rows, item rows), of the logit BCE,
 * and of the BCE's stability far from zero. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include "fedrec/loss.h"
#include "fedrec/ncf.h"

#define GRAD_TOL 5e-3

enum { N = 7, K = 4, SMAX = 512 };

typedef struct {
    fr_ncf_cfg cfg;
    fr_ncf_work *w;
    float s[SMAX], u[N * K], q[N * K], z[N], r[N];
} ncf_case;

/* L = sum(z * r): a random projection of the logits. */
static double ncf_loss(void *ctx) {
    ncf_case *k = ctx;
    fr_ncf_forward(k->w, &k->cfg, k->s, k->cfg.scorer == FR_NCF_AFFINE ? NULL : k->u, k->q, N, k->z);
    return tu_project(k->z, k->r, N);
}

static void check_scorer(fr_ncf_scorer sc, int relu) {
    ncf_case k;
    const int32_t hidden[2] = { 6, 3 };
    assert_int_equal(fr_ncf_cfg_init(&k.cfg, sc, K, hidden, 2, relu, NULL), FR_OK);
    const int64_t S = fr_ncf_scorer_size(&k.cfg);
    assert_true(S <= SMAX);
    assert_int_equal(fr_ncf_work_create(&k.w, &k.cfg, N, NULL), FR_OK);
    fr_rng rng;
    fr_rng_init(&rng, 3, 0, 0, FR_PURPOSE_INIT_GLOBAL);
    fr_ncf_scorer_init(&k.cfg, k.s, &rng);
    tu_fill_normal(k.u, N * K, 7, 1, 1.0);
    tu_fill_normal(k.q, N * K, 7, 2, 1.0);
    tu_fill_normal(k.r, N, 7, 3, 1.0);
    float ds[SMAX] = { 0 }, du[N * K], dq[N * K];
    ncf_loss(&k);
    fr_ncf_backward(k.w, &k.cfg, k.s, k.u, k.q, N, k.r, ds, sc == FR_NCF_AFFINE ? NULL : du, dq);
    assert_true(tu_grad_check(ncf_loss, &k, k.q, dq, N * K, 1e-2f) < GRAD_TOL);
    if (sc != FR_NCF_AFFINE) assert_true(tu_grad_check(ncf_loss, &k, k.u, du, N * K, 1e-2f) < GRAD_TOL);
    if (S > 0) {
        /* a step of 1e-3: at 1e-2 a first-layer weight moves a ReLU input across 0 */
        double e = tu_grad_check(ncf_loss, &k, k.s, ds, S, 1e-3f);
        print_message("scorer %d relu %d: scorer gradient error %.2e\n", (int)sc, relu, e);
        assert_true(e < GRAD_TOL);
    }
    /* a frozen scorer (ds NULL) gives the same item gradient */
    float dq2[N * K];
    ncf_loss(&k);
    fr_ncf_backward(k.w, &k.cfg, k.s, k.u, k.q, N, k.r, NULL, NULL, dq2);
    assert_memory_equal(dq, dq2, sizeof dq);
    fr_ncf_work_destroy(k.w);
}

static void test_dot_gradients(void **state) {
    (void)state;
    check_scorer(FR_NCF_DOT, 0);
}

static void test_affine_gradients(void **state) {
    (void)state;
    check_scorer(FR_NCF_AFFINE, 0);
}

static void test_mlp_gradients(void **state) {
    (void)state;
    check_scorer(FR_NCF_MLP, 1);
    check_scorer(FR_NCF_MLP, 0);
}

/* The sizes the papers use: GPFedRec's 64-32-16-8-1 MLP on K = 32. */
static void test_sizes(void **state) {
    (void)state;
    fr_ncf_cfg c;
    const int32_t hidden[3] = { 32, 16, 8 };
    assert_int_equal(fr_ncf_cfg_init(&c, FR_NCF_MLP, 32, hidden, 3, 1, NULL), FR_OK);
    assert_int_equal(fr_ncf_scorer_size(&c), 65 * 32 + 33 * 16 + 17 * 8 + 9);
    assert_int_equal(fr_ncf_cfg_init(&c, FR_NCF_AFFINE, 32, NULL, 0, 0, NULL), FR_OK);
    assert_int_equal(fr_ncf_scorer_size(&c), 33);
    const int32_t four[4] = { 8, 8, 8, 8 };
    fr_error err;
    assert_int_equal(fr_ncf_cfg_init(&c, FR_NCF_MLP, 32, four, 4, 1, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "model.layers"));
}

typedef struct {
    float z[N], y[N], dz[N];
} bce_case;

static double bce_loss(void *ctx) {
    bce_case *k = ctx;
    float dz[N];
    return fr_bce_logits(dz, k->z, k->y, N) / N;
}

static void test_bce_logits(void **state) {
    (void)state;
    bce_case k;
    tu_fill_normal(k.z, N, 9, 1, 2.0);
    for (int i = 0; i < N; i++) k.y[i] = (float)(i % 2);
    fr_bce_logits(k.dz, k.z, k.y, N);
    assert_true(tu_grad_check(bce_loss, &k, k.z, k.dz, N, 1e-2f) < GRAD_TOL);
    /* far from zero: finite, and the right limits */
    float z[4] = { 80.0f, -80.0f, 80.0f, -80.0f }, y[4] = { 1, 0, 0, 1 }, dz[4];
    double l = fr_bce_logits(dz, z, y, 4);
    assert_true(isfinite(l));
    assert_true(fabs(l - 160.0) < 1e-9);         /* the two wrong ones cost |z| each */
    assert_true(fabsf(dz[2] - 0.25f) < 1e-7f && fabsf(dz[3] + 0.25f) < 1e-7f);
    assert_true(fabsf(dz[0]) < 1e-7f && fabsf(dz[1]) < 1e-7f);
}

/* PyTorch's float32 Sigmoid + BCELoss: the logit loss's values and gradients where the
 * sigmoid is not saturated, no gradient once it rounds to 1, the clamped logs. */
static void test_bce_torch_f32(void **state) {
    (void)state;
    float z[N], y[N], dz[N], dz_ref[N];
    tu_fill_normal(z, N, 10, 1, 2.0);
    for (int i = 0; i < N; i++) y[i] = (float)(i % 2);
    double l = fr_bce_torch_f32(dz, z, y, N), l_ref = fr_bce_logits(dz_ref, z, y, N);
    assert_true(fabs(l - l_ref) < 1e-5 * fabs(l_ref));
    for (int i = 0; i < N; i++) assert_true(fabsf(dz[i] - dz_ref[i]) < 1e-6f);
    /* saturated: z = 20 rounds p to 1 (label 0 costs the clamp 100, no gradient);
     * z = -20 still has p(1-p) = 2e-9 >= 1e-12, the usual gradient */
    float zs[4] = { 20.0f, 20.0f, -20.0f, -40.0f }, ys[4] = { 1, 0, 1, 1 }, d[4];
    l = fr_bce_torch_f32(d, zs, ys, 4);
    assert_true(d[0] == 0.0f && d[1] == 0.0f);
    assert_true(fabsf(d[2] + 0.25f) < 1e-6f);
    /* z = -40: p = 4.2e-18, p(1-p) < 1e-12: the gradient shrinks by p(1-p)/1e-12 */
    assert_true(d[3] < 0.0f && d[3] > -0.25f * 1e-5f);
    const double want = 100.0 + 20.0 + 40.0; /* clamp, -log s(-20) = 20, -log s(-40) = 40 */
    assert_true(fabs(l - want) < 1e-4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_gradients),
        cmocka_unit_test(test_affine_gradients),
        cmocka_unit_test(test_mlp_gradients),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_bce_logits),
        cmocka_unit_test(test_bce_torch_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
