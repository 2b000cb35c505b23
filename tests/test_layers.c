/* test_layers.c - the matrix product and the layers of layers.c: every gradient
 * against central finite differences (float parameters, loss in double, the float step
 * measured exactly), the sgemm paths against their plain-loop references, and the
 * dropout mask's statistics and reproducibility.
 *
 * Every gradient check uses the random projection loss L = sum(out * R) with a fixed
 * random R, so dL/dout = R and every output element takes part. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include "fedrec/nn.h"
#include "fedrec/rng.h"

/* Tolerance of a gradient check. The loss is summed in double but the layers compute
 * in float, so central differences carry ~1e-5 of absolute noise; an element's error is
 * taken relative to its own size, or to 1% of the largest gradient when it is tiny.
 * A wrong sign, factor or missing term is off by far more than this. */
#define GRAD_TOL 5e-3


/* ---- matrix product ---- */

/* op(a)[m x k] @ op(b)[k x n] with padded leading dimensions, sgemm against the loops. */
static void check_matmul(int m, int n, int k, int ta, int tb, float beta) {
    const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 4;
    const int arows = ta ? k : m, brows = tb ? n : k;
    float a[64 * 80], b[64 * 80], c0[64 * 80], c[64 * 80], cref[64 * 80];
    assert_true(arows * lda <= 64 * 80 && brows * ldb <= 64 * 80 && m * ldc <= 64 * 80);
    tu_fill_normal(a, arows * lda, 5, 10, 1.0);
    tu_fill_normal(b, brows * ldb, 5, 11, 1.0);
    tu_fill_normal(c0, m * ldc, 5, 12, 1.0);
    if (beta == 0.0f)
        for (int i = 0; i < m * ldc; i++) c0[i] = NAN; /* beta = 0 must ignore old c */
    memcpy(c, c0, sizeof c0);
    memcpy(cref, c0, sizeof c0);
    fr_matmul(c, ldc, a, lda, b, ldb, m, n, k, ta, tb, 0.7f, beta);
    fr_matmul_ref(cref, ldc, a, lda, b, ldb, m, n, k, ta, tb, 0.7f, beta);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < ldc; j++) {
            float got = c[i * ldc + j], want = cref[i * ldc + j];
            if (j >= n) { /* the padding between rows is never written */
                assert_memory_equal(&got, &c0[i * ldc + j], sizeof got);
                continue;
            }
            assert_true(isfinite(got));
            assert_true(fabs((double)got - want) <= 1e-5 * (1.0 + fabs((double)want)) * sqrt(k));
        }
}

static void test_matmul_matches_ref(void **state) {
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_matmul(7, 5, 9, ta, tb, 0.0f);
            check_matmul(7, 5, 9, ta, tb, 1.0f);
            check_matmul(40, 33, 50, ta, tb, 0.0f); /* large enough for sgemm's blocked kernels */
            check_matmul(40, 33, 50, ta, tb, 1.0f);
        }
}

static void test_matmul_by_hand(void **state) {
    (void)state;
    const float a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 7, 8 }; /* [[1,2],[3,4]], [[5,6],[7,8]] */
    float c[4] = { 1, 1, 1, 1 };
    fr_matmul(c, 2, a, 2, b, 2, 2, 2, 2, 0, 0, 1.0f, 1.0f);
    const float want[4] = { 20, 23, 44, 51 };
    assert_memory_equal(c, want, sizeof want);
    float e[1] = { NAN }; /* k = 0: an empty sum, beta = 0 gives zero */
    fr_matmul(e, 1, a, 1, b, 1, 1, 1, 0, 0, 0, 1.0f, 0.0f);
    assert_true(e[0] == 0.0f);
}

/* ---- linear ---- */

enum { LN = 6, LC = 5, LOC = 4 };

typedef struct {
    float out[LN * LOC], inp[LN * LC], w[LC * LOC], b[LOC], r[LN * LOC];
} linear_case;

static double linear_loss(void *ctx) {
    linear_case *k = ctx;
    fr_linear_forward(k->out, k->inp, k->w, k->b, LN, LC, LOC);
    return tu_project(k->out, k->r, LN * LOC);
}

static void test_linear_gradients(void **state) {
    (void)state;
    linear_case k;
    tu_fill_normal(k.inp, LN * LC, 5, 1, 1.0);
    tu_fill_normal(k.w, LC * LOC, 5, 2, 1.0);
    tu_fill_normal(k.b, LOC, 5, 3, 1.0);
    tu_fill_normal(k.r, LN * LOC, 5, 4, 1.0);
    float dinp[LN * LC] = { 0 }, dw[LC * LOC] = { 0 }, db[LOC] = { 0 };
    fr_linear_backward(dinp, dw, db, k.r, k.inp, k.w, LN, LC, LOC);
    assert_true(tu_grad_check(linear_loss, &k, k.inp, dinp, LN * LC, 1e-2f) < GRAD_TOL);
    assert_true(tu_grad_check(linear_loss, &k, k.w, dw, LC * LOC, 1e-2f) < GRAD_TOL);
    assert_true(tu_grad_check(linear_loss, &k, k.b, db, LOC, 1e-2f) < GRAD_TOL);
}

/* Forward and backward (with and without bias, gradients accumulating onto nonzero
 * buffers) against the plain loops. */
static void test_linear_matches_ref(void **state) {
    (void)state;
    enum { N = 301, C = 50, OC = 150 };
    static float inp[N * C], w[C * OC], b[OC], dout[N * OC], out[N * OC], out_ref[N * OC];
    static float dinp[N * C], dinp_ref[N * C], dw[C * OC], dw_ref[C * OC], db[OC], db_ref[OC];
    tu_fill_normal(inp, N * C, 5, 1, 1.0);
    tu_fill_normal(w, C * OC, 5, 2, 0.2);
    tu_fill_normal(b, OC, 5, 3, 1.0);
    tu_fill_normal(dout, N * OC, 5, 4, 1.0);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *bias = with_bias ? b : NULL;
        fr_linear_forward(out, inp, w, bias, N, C, OC);
        fr_linear_forward_ref(out_ref, inp, w, bias, N, C, OC);
        assert_true(tu_rel_diff(out, out_ref, N * OC) < 1e-5);
        tu_fill_normal(dinp, N * C, 5, 5, 1.0);
        tu_fill_normal(dw, C * OC, 5, 6, 1.0);
        tu_fill_normal(db, OC, 5, 7, 1.0);
        memcpy(dinp_ref, dinp, sizeof dinp);
        memcpy(dw_ref, dw, sizeof dw);
        memcpy(db_ref, db, sizeof db);
        fr_linear_backward(dinp, dw, with_bias ? db : NULL, dout, inp, w, N, C, OC);
        fr_linear_backward_ref(dinp_ref, dw_ref, with_bias ? db_ref : NULL, dout, inp, w, N, C,
                               OC);
        assert_true(tu_rel_diff(dinp, dinp_ref, N * C) < 1e-5);
        assert_true(tu_rel_diff(dw, dw_ref, C * OC) < 1e-5);
        assert_true(tu_rel_diff(db, db_ref, OC) < 1e-5);
    }
}

/* ---- layer norm ---- */

enum { NN = 4, NC = 13 }; /* one block of LANES = 8 channels and a tail */

typedef struct {
    float out[NN * NC], mean[NN], rstd[NN], inp[NN * NC], gamma[NC], beta[NC], r[NN * NC];
} norm_case;

static double norm_loss(void *ctx) {
    norm_case *k = ctx;
    fr_layernorm_forward(k->out, k->mean, k->rstd, k->inp, k->gamma, k->beta, NN, NC, 1e-5f);
    return tu_project(k->out, k->r, NN * NC);
}

static void test_layernorm_gradients(void **state) {
    (void)state;
    norm_case k;
    tu_fill_normal(k.inp, NN * NC, 5, 1, 2.0);
    for (int i = 0; i < NN * NC; i++) k.inp[i] += 3.0f; /* a nonzero mean to remove */
    tu_fill_normal(k.gamma, NC, 5, 2, 1.0);
    tu_fill_normal(k.beta, NC, 5, 3, 1.0);
    tu_fill_normal(k.r, NN * NC, 5, 4, 1.0);
    float dinp[NN * NC] = { 0 }, dgamma[NC] = { 0 }, dbeta[NC] = { 0 };
    norm_loss(&k);
    fr_layernorm_backward(dinp, dgamma, dbeta, k.r, k.inp, k.gamma, k.mean, k.rstd, NN, NC);
    assert_true(tu_grad_check(norm_loss, &k, k.inp, dinp, NN * NC, 1e-2f) < GRAD_TOL);
    assert_true(tu_grad_check(norm_loss, &k, k.gamma, dgamma, NC, 1e-2f) < GRAD_TOL);
    assert_true(tu_grad_check(norm_loss, &k, k.beta, dbeta, NC, 1e-2f) < GRAD_TOL);
}

static void test_layernorm_normalizes(void **state) {
    (void)state;
    norm_case k;
    tu_fill_normal(k.inp, NN * NC, 5, 1, 3.0);
    for (int i = 0; i < NN * NC; i++) k.inp[i] += 100.0f; /* large offset, small spread */
    for (int j = 0; j < NC; j++) k.gamma[j] = 1.0f, k.beta[j] = 0.0f;
    memset(k.r, 0, sizeof k.r);
    norm_loss(&k);
    for (int i = 0; i < NN; i++) {
        double m = 0.0, v = 0.0, xm = 0.0;
        for (int j = 0; j < NC; j++) m += k.out[i * NC + j], xm += k.inp[i * NC + j];
        for (int j = 0; j < NC; j++) v += (double)k.out[i * NC + j] * k.out[i * NC + j];
        assert_true(fabs(m / NC) < 1e-5);
        assert_true(fabs(v / NC - 1.0) < 1e-4); /* eps = 1e-5 against var ~ 9 */
        assert_true(fabs(k.mean[i] - xm / NC) < 1e-4);
    }
}

/* ---- activations ---- */

enum { AN = 24 };

typedef struct {
    float out[AN], inp[AN], r[AN];
    fr_activation act;
} act_case;

static double act_loss(void *ctx) {
    act_case *k = ctx;
    fr_activation_forward(k->out, k->inp, AN, k->act);
    return tu_project(k->out, k->r, AN);
}

static void test_activation_gradients(void **state) {
    (void)state;
    act_case k;
    tu_fill_normal(k.r, AN, 5, 4, 1.0);
    for (int act = FR_ACT_RELU; act <= FR_ACT_GELU; act++) {
        k.act = (fr_activation)act;
        tu_fill_normal(k.inp, AN, 5, 1 + (uint32_t)act, 2.0);
        for (int i = 0; i < AN; i++) /* keep ReLU's kink out of the step's reach */
            if (fabsf(k.inp[i]) < 0.1f) k.inp[i] = k.inp[i] < 0 ? -0.1f : 0.1f;
        float dinp[AN] = { 0 };
        fr_activation_backward(dinp, k.r, k.inp, AN, k.act);
        assert_true(tu_grad_check(act_loss, &k, k.inp, dinp, AN, 1e-2f) < GRAD_TOL);
    }
}

static void test_activation_values(void **state) {
    (void)state;
    const float x[5] = { -3.0f, -1.0f, 0.0f, 1.0f, 2.5f };
    float y[5];
    fr_activation_forward(y, x, 5, FR_ACT_GELU);
    for (int i = 0; i < 5; i++) /* x Phi(x), Phi from erfc in double */
        assert_true(fabs(y[i] - x[i] * 0.5 * erfc(-x[i] / sqrt(2.0))) < 1e-6);
    fr_activation_forward(y, x, 5, FR_ACT_RELU);
    const float relu[5] = { 0, 0, 0, 1, 2.5f };
    assert_memory_equal(y, relu, sizeof relu);
}

/* ---- residual ---- */

typedef struct {
    float out[AN], a[AN], b[AN], r[AN];
} residual_case;

static double residual_loss(void *ctx) {
    residual_case *k = ctx;
    fr_residual_forward(k->out, k->a, k->b, AN);
    return tu_project(k->out, k->r, AN);
}

static void test_residual_gradients(void **state) {
    (void)state;
    residual_case k;
    tu_fill_normal(k.a, AN, 5, 1, 1.0);
    tu_fill_normal(k.b, AN, 5, 2, 1.0);
    tu_fill_normal(k.r, AN, 5, 3, 1.0);
    float da[AN] = { 0 }, db[AN] = { 0 };
    fr_residual_backward(da, db, k.r, AN);
    assert_true(tu_grad_check(residual_loss, &k, k.a, da, AN, 1e-2f) < GRAD_TOL);
    assert_true(tu_grad_check(residual_loss, &k, k.b, db, AN, 1e-2f) < GRAD_TOL);
    float sum[AN];
    fr_residual_forward(sum, k.a, k.b, AN);
    fr_residual_forward(k.a, k.a, k.b, AN); /* out may alias a */
    assert_memory_equal(k.a, sum, sizeof sum);
}

/* ---- dropout ---- */

enum { DN = 40 };

typedef struct {
    float out[DN], inp[DN], r[DN];
    uint8_t keep[DN];
    float p;
} dropout_case;

static void open_dropout_stream(fr_rng *rng, uint32_t client) {
    fr_rng_init(rng, 17, 3, client, FR_PURPOSE_DROPOUT);
}

static double dropout_loss(void *ctx) { /* the same stream every call: a fixed mask */
    dropout_case *k = ctx;
    fr_rng rng;
    open_dropout_stream(&rng, 0);
    fr_dropout_forward(k->out, k->keep, k->inp, DN, k->p, &rng);
    return tu_project(k->out, k->r, DN);
}

static void test_dropout_gradients(void **state) {
    (void)state;
    dropout_case k = { .p = 0.3f };
    tu_fill_normal(k.inp, DN, 5, 1, 1.0);
    tu_fill_normal(k.r, DN, 5, 2, 1.0);
    dropout_loss(&k);
    int kept = 0;
    for (int i = 0; i < DN; i++) kept += k.keep[i];
    assert_true(kept > 0 && kept < DN); /* both branches are checked */
    float dinp[DN] = { 0 };
    fr_dropout_backward(dinp, k.r, k.keep, DN, k.p);
    assert_true(tu_grad_check(dropout_loss, &k, k.inp, dinp, DN, 1e-2f) < GRAD_TOL);
}

static void test_dropout_p0_is_identity(void **state) {
    (void)state;
    float inp[DN], out[DN];
    uint8_t keep[DN];
    tu_fill_normal(inp, DN, 5, 1, 1.0);
    fr_rng rng, fresh;
    open_dropout_stream(&rng, 0);
    open_dropout_stream(&fresh, 0);
    fr_dropout_forward(out, keep, inp, DN, 0.0f, &rng);
    assert_memory_equal(out, inp, sizeof inp);
    for (int i = 0; i < DN; i++) assert_int_equal(keep[i], 1);
    assert_int_equal(fr_rng_u32(&rng), fr_rng_u32(&fresh)); /* nothing was drawn */
}

static void test_dropout_statistics(void **state) {
    (void)state;
    enum { M = 100000 };
    static float inp[M], out[M], out2[M];
    static uint8_t keep[M], keep2[M];
    const float p = 0.3f;
    for (int i = 0; i < M; i++) inp[i] = 1.0f;
    fr_rng rng;
    open_dropout_stream(&rng, 1);
    fr_dropout_forward(out, keep, inp, M, p, &rng);
    double kept = 0.0, mean = 0.0;
    for (int i = 0; i < M; i++) kept += keep[i], mean += out[i];
    /* binomial sd of the keep rate is sqrt(p (1 - p) / M) = 0.00145; allow ~7 sd */
    assert_true(fabs(kept / M - (1.0 - p)) < 0.01);
    assert_true(fabs(mean / M - 1.0) < 0.015); /* inverted dropout keeps the mean */
    for (int i = 0; i < M; i++) assert_true(out[i] == (keep[i] ? 1.0f / (1.0f - p) : 0.0f));
    open_dropout_stream(&rng, 1); /* the same stream, in place this time: the same mask */
    memcpy(out2, inp, sizeof inp);
    fr_dropout_forward(out2, keep2, out2, M, p, &rng);
    assert_memory_equal(keep, keep2, sizeof keep);
    assert_memory_equal(out, out2, sizeof out);
    open_dropout_stream(&rng, 2); /* another client: another mask */
    fr_dropout_forward(out2, keep2, inp, M, p, &rng);
    assert_memory_not_equal(keep, keep2, sizeof keep);
}

/* ---- embedding ---- */

enum { EV = 7, EC = 3, EN = 9 };

typedef struct {
    float out[EN * EC], table[EV * EC], r[EN * EC];
    int32_t ids[EN];
    int padding_row;
} embedding_case;

static const float EMB_SCALE = 1.7f;

static double embedding_loss(void *ctx) {
    embedding_case *k = ctx;
    fr_embedding_forward(k->out, k->ids, k->table, EN, EC, EMB_SCALE, k->padding_row);
    return tu_project(k->out, k->r, EN * EC);
}

static void test_embedding_gradients(void **state) {
    (void)state;
    /* ids repeat (3, 5) and miss rows (1, 4) and include the padding id 0 twice */
    embedding_case k = { .ids = { 3, 0, 5, 3, 2, 0, 6, 5, 3 } };
    tu_fill_normal(k.table, EV * EC, 5, 1, 1.0);
    tu_fill_normal(k.r, EN * EC, 5, 2, 1.0);
    for (k.padding_row = 0; k.padding_row <= 1; k.padding_row++) {
        float dtable[EV * EC] = { 0 };
        uint8_t touched[EV] = { 0 };
        embedding_loss(&k);
        fr_embedding_backward(dtable, touched, k.r, k.ids, EN, EC, EMB_SCALE, k.padding_row);
        assert_true(tu_grad_check(embedding_loss, &k, k.table, dtable, EV * EC, 1e-2f) < GRAD_TOL);
        const uint8_t want[EV] = { (uint8_t)!k.padding_row, 0, 1, 1, 0, 1, 1 };
        assert_memory_equal(touched, want, sizeof want);
        for (int j = 0; j < EC; j++) {
            assert_true(dtable[1 * EC + j] == 0.0f && dtable[4 * EC + j] == 0.0f);
            if (k.padding_row) /* the padding row: zero output, never a gradient */
                assert_true(dtable[j] == 0.0f && k.out[1 * EC + j] == 0.0f &&
                            k.out[5 * EC + j] == 0.0f);
            else
                assert_true(k.out[1 * EC + j] == EMB_SCALE * k.table[j]);
        }
    }
}

int main(void) {
    fr_blas_threads(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_matches_ref),
        cmocka_unit_test(test_matmul_by_hand),
        cmocka_unit_test(test_linear_gradients),
        cmocka_unit_test(test_linear_matches_ref),
        cmocka_unit_test(test_layernorm_gradients),
        cmocka_unit_test(test_layernorm_normalizes),
        cmocka_unit_test(test_activation_gradients),
        cmocka_unit_test(test_activation_values),
        cmocka_unit_test(test_residual_gradients),
        cmocka_unit_test(test_dropout_gradients),
        cmocka_unit_test(test_dropout_p0_is_identity),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_embedding_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
