/* test_attention.c - causal multi-head self-attention: the gradient through qkv against
 * central finite differences (one and two heads, with and without dropout and a key
 * mask), the sgemm version against the plain-loop reference, and the structure of P
 * (causal, rows summing to one, masked rows empty) and of the dropout draws.
 *
 * Cross-attention (T queries over J keys with a per-query mask, the semantic expert
 * of mmrec.h) gets the same gradient check and reference comparison.
 *
 * The gradient checks use L = sum(out * R) with a fixed random R; with dropout the
 * stream is reopened for every evaluation so the mask stays the same. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/nn.h"
#include "fedrec/rng.h"

/* See test_layers.c: float layers give central differences ~1e-5 of absolute noise. */
#define GRAD_TOL 5e-3


static void open_dropout_stream(fr_rng *rng) { fr_rng_init(rng, 21, 2, 7, FR_PURPOSE_DROPOUT); }

/* ---- gradient checks on a small sequence ---- */

enum { T = 7, C = 8, HMAX = 2 };

/* keys 0, 1 are padding (so query rows 0, 1 see no key) and key 4 is a hole */
static const uint8_t KEY_VALID[T] = { 0, 0, 1, 1, 0, 1, 1 };

typedef struct {
    float qkv[T * 3 * C], out[T * C], r[T * C], att[HMAX * T * T], scratch[T * T];
    uint8_t keep[HMAX * T * T];
    const uint8_t *key_valid;
    int h;
    float p;
} att_case;

static double att_loss(void *ctx) {
    att_case *k = ctx;
    fr_rng rng;
    open_dropout_stream(&rng);
    fr_attention_forward(k->out, k->att, k->keep, k->scratch, k->qkv, k->key_valid, T, C, k->h,
                         k->p, &rng);
    return tu_project(k->out, k->r, T * C);
}

/* Largest relative error between dx[n] and central differences of the case's loss. */
static double grad_check(att_case *k, float *x, const float *dx, int64_t n, float h) {
    return tu_grad_check(att_loss, k, x, dx, n, h);
}

/* With the key mask: rows 0, 1 output zeros and send no gradient to their queries,
 * and masked keys get no gradient in K or V. */
static void check_masked_rows(const att_case *k, const float *dqkv) {
    for (int i = 0; i < T; i++)
        for (int e = 0; e < C; e++) {
            if (i < 2) assert_true(k->out[i * C + e] == 0.0f && dqkv[i * 3 * C + e] == 0.0f);
            if (!KEY_VALID[i])
                assert_true(dqkv[i * 3 * C + C + e] == 0.0f && dqkv[i * 3 * C + 2 * C + e] == 0.0f);
        }
}

static void test_attention_gradients(void **state) {
    (void)state;
    for (int h = 1; h <= HMAX; h++)
        for (int dropout = 0; dropout < 2; dropout++)
            for (int masked = 0; masked < 2; masked++) {
                att_case k = { .h = h, .p = dropout ? 0.3f : 0.0f };
                k.key_valid = masked ? KEY_VALID : NULL;
                tu_fill_normal(k.qkv, T * 3 * C, 9, 1, 1.0);
                tu_fill_normal(k.r, T * C, 9, 2, 1.0);
                att_loss(&k);
                float dqkv[T * 3 * C] = { 0 };
                fr_attention_backward(dqkv, k.scratch, k.r, k.att, k.keep, k.qkv, T, C, h, k.p);
                double err = grad_check(&k, k.qkv, dqkv, T * 3 * C, 1e-2f);
                print_message("H=%d p=%.1f mask=%d: worst relative error %.2e\n", h, k.p, masked,
                              err);
                assert_true(err < GRAD_TOL);
                if (masked) check_masked_rows(&k, dqkv);
            }
}

/* ---- optimized against reference on a longer sequence ---- */

enum { RT = 23, RC = 24 };

typedef struct {
    float *qkv, *dout, *out, *att, *scratch, *dqkv;
    uint8_t *keep;
} att_buffers;

static void buffers_alloc(att_buffers *b, int h) {
    b->qkv = calloc(RT * 3 * RC, sizeof(float));
    b->dout = calloc(RT * RC, sizeof(float));
    b->out = calloc(RT * RC, sizeof(float));
    b->att = calloc((size_t)h * RT * RT, sizeof(float));
    b->scratch = calloc(RT * RT, sizeof(float));
    b->dqkv = calloc(RT * 3 * RC, sizeof(float));
    b->keep = calloc((size_t)h * RT * RT, 1);
    assert_true(b->qkv && b->dout && b->out && b->att && b->scratch && b->dqkv && b->keep);
}

static void buffers_free(att_buffers *b) {
    free(b->qkv), free(b->dout), free(b->out), free(b->att), free(b->scratch), free(b->dqkv);
    free(b->keep);
}

/* Forward and backward of both versions from the same inputs; the dqkv buffers start
 * equal and nonzero (backward adds). keep is passed as NULL when p = 0. */
static void run_both(att_buffers *opt, att_buffers *ref, const uint8_t *key_valid, int h,
                     float p) {
    tu_fill_normal(opt->qkv, RT * 3 * RC, 9, 3, 1.0);
    tu_fill_normal(opt->dout, RT * RC, 9, 4, 1.0);
    tu_fill_normal(opt->dqkv, RT * 3 * RC, 9, 5, 1.0);
    memcpy(ref->qkv, opt->qkv, RT * 3 * RC * sizeof(float));
    memcpy(ref->dout, opt->dout, RT * RC * sizeof(float));
    memcpy(ref->dqkv, opt->dqkv, RT * 3 * RC * sizeof(float));
    uint8_t *keep_opt = p > 0.0f ? opt->keep : NULL, *keep_ref = p > 0.0f ? ref->keep : NULL;
    fr_rng r1, r2;
    open_dropout_stream(&r1);
    open_dropout_stream(&r2);
    fr_attention_forward(opt->out, opt->att, keep_opt, opt->scratch, opt->qkv, key_valid, RT, RC,
                         h, p, &r1);
    fr_attention_forward_ref(ref->out, ref->att, keep_ref, ref->qkv, key_valid, RT, RC, h, p,
                             &r2);
    assert_int_equal(fr_rng_u32(&r1), fr_rng_u32(&r2)); /* the same number of draws */
    fr_attention_backward(opt->dqkv, opt->scratch, opt->dout, opt->att, keep_opt, opt->qkv, RT,
                          RC, h, p);
    fr_attention_backward_ref(ref->dqkv, ref->dout, ref->att, keep_ref, ref->qkv, RT, RC, h, p);
}

static void test_attention_matches_ref(void **state) {
    (void)state;
    uint8_t key_valid[RT];
    for (int j = 0; j < RT; j++) key_valid[j] = j >= 5 && j != 11; /* left padding, a hole */
    for (int h = 1; h <= 3; h++)
        for (int dropout = 0; dropout < 2; dropout++)
            for (int masked = 0; masked < 2; masked++) {
                const float p = dropout ? 0.2f : 0.0f;
                att_buffers opt, ref;
                buffers_alloc(&opt, h);
                buffers_alloc(&ref, h);
                run_both(&opt, &ref, masked ? key_valid : NULL, h, p);
                assert_true(tu_rel_diff(opt.att, ref.att, (int64_t)h * RT * RT) < 1e-5);
                assert_true(tu_rel_diff(opt.out, ref.out, RT * RC) < 1e-5);
                assert_true(tu_rel_diff(opt.dqkv, ref.dqkv, RT * 3 * RC) < 1e-5);
                if (p > 0.0f) assert_memory_equal(opt.keep, ref.keep, (size_t)h * RT * RT);
                buffers_free(&opt);
                buffers_free(&ref);
            }
}

/* ---- structure of P and of the dropout draws ---- */

static void test_attention_structure(void **state) {
    (void)state;
    att_case k = { .h = 2, .p = 0.3f, .key_valid = KEY_VALID };
    tu_fill_normal(k.qkv, T * 3 * C, 9, 1, 1.0);
    att_loss(&k);
    int kept = 0;
    for (int hh = 0; hh < k.h; hh++)
        for (int i = 0; i < T; i++) {
            const float *prow = k.att + (hh * T + i) * T;
            const uint8_t *krow = k.keep + (hh * T + i) * T;
            double sum = 0.0;
            for (int j = 0; j < T; j++) {
                if (j > i || !KEY_VALID[j]) assert_true(prow[j] == 0.0f);
                if (j > i) assert_int_equal(krow[j], 0);
                assert_true(prow[j] >= 0.0f);
                sum += prow[j];
                kept += j <= i && krow[j];
            }
            assert_true(i < 2 ? sum == 0.0 : fabs(sum - 1.0) < 1e-6);
        }
    assert_true(kept > 0 && kept < k.h * T * (T + 1) / 2); /* some dropped, some kept */
}

/* One word per causal entry, row by row, heads in order: after the forward pass the
 * stream stands at word H T (T + 1) / 2. */
static void test_attention_draw_count(void **state) {
    (void)state;
    att_case k = { .h = 2, .p = 0.3f };
    tu_fill_normal(k.qkv, T * 3 * C, 9, 1, 1.0);
    fr_rng rng, fresh;
    open_dropout_stream(&rng);
    fr_attention_forward(k.out, k.att, k.keep, k.scratch, k.qkv, NULL, T, C, k.h, k.p, &rng);
    open_dropout_stream(&fresh);
    const double drop_below = 0.3f * 4294967296.0;
    for (int hh = 0; hh < k.h; hh++) /* and the mask is those words, in that order */
        for (int i = 0; i < T; i++)
            for (int j = 0; j <= i; j++)
                assert_int_equal(k.keep[(hh * T + i) * T + j],
                                 (double)fr_rng_u32(&fresh) >= drop_below);
    assert_int_equal(fr_rng_u32(&rng), fr_rng_u32(&fresh));
}

/* Changing the last token's q, k, v leaves every earlier output bit-identical. */
static void test_attention_is_causal(void **state) {
    (void)state;
    att_case k = { .h = 2, .p = 0.0f };
    tu_fill_normal(k.qkv, T * 3 * C, 9, 1, 1.0);
    att_loss(&k);
    float before[T * C];
    memcpy(before, k.out, sizeof before);
    for (int e = 0; e < 3 * C; e++) k.qkv[(T - 1) * 3 * C + e] += 1.0f;
    att_loss(&k);
    assert_memory_equal(k.out, before, (T - 1) * C * sizeof(float));
    assert_memory_not_equal(k.out + (T - 1) * C, before + (T - 1) * C, C * sizeof(float));
}

/* Backward adds: two calls onto zeros give twice one call. */
static void test_attention_backward_accumulates(void **state) {
    (void)state;
    att_case k = { .h = 2, .p = 0.3f, .key_valid = KEY_VALID };
    tu_fill_normal(k.qkv, T * 3 * C, 9, 1, 1.0);
    tu_fill_normal(k.r, T * C, 9, 2, 1.0);
    att_loss(&k);
    float once[T * 3 * C] = { 0 }, twice[T * 3 * C] = { 0 };
    fr_attention_backward(once, k.scratch, k.r, k.att, k.keep, k.qkv, T, C, k.h, k.p);
    fr_attention_backward(twice, k.scratch, k.r, k.att, k.keep, k.qkv, T, C, k.h, k.p);
    fr_attention_backward(twice, k.scratch, k.r, k.att, k.keep, k.qkv, T, C, k.h, k.p);
    for (int i = 0; i < T * 3 * C; i++) assert_true(twice[i] == 2.0f * once[i]);
}

/* ---- cross-attention of T queries over J keys with a per-query mask ---- */

enum { XT = 5, XJ = 4 };

/* query 1 sees no key; query 3 misses keys 0 and 2 (a hidden memory entry) */
static const uint8_t XMASK[XT * XJ] = { 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1,
                                        1, 1, 1, 0 };

typedef struct {
    float q[XT * C], kv[XJ * 2 * C], out[XT * C], r[XT * C], att[HMAX * XT * XJ],
        scratch[XT * XJ];
    const uint8_t *mask;
    int h;
} xatt_case;

static double xatt_loss(void *ctx) {
    xatt_case *k = ctx;
    fr_cross_attention_forward(k->out, k->att, k->scratch, k->q, k->kv, k->mask, XT, XJ, C,
                               k->h);
    return tu_project(k->out, k->r, XT * C);
}

static void test_cross_attention_gradients(void **state) {
    (void)state;
    for (int h = 1; h <= HMAX; h++)
        for (int masked = 0; masked < 2; masked++) {
            xatt_case k = { .h = h, .mask = masked ? XMASK : NULL };
            tu_fill_normal(k.q, XT * C, 10, 1, 1.0);
            tu_fill_normal(k.kv, XJ * 2 * C, 10, 2, 1.0);
            tu_fill_normal(k.r, XT * C, 10, 3, 1.0);
            xatt_loss(&k);
            float dq[XT * C] = { 0 }, dkv[XJ * 2 * C] = { 0 };
            fr_cross_attention_backward(dq, dkv, k.scratch, k.r, k.att, k.q, k.kv, XT, XJ, C, h);
            double eq = tu_grad_check(xatt_loss, &k, k.q, dq, XT * C, 1e-2f);
            double ekv = tu_grad_check(xatt_loss, &k, k.kv, dkv, XJ * 2 * C, 1e-2f);
            print_message("cross H=%d mask=%d: worst relative error dq %.2e dkv %.2e\n", h,
                          masked, eq, ekv);
            assert_true(eq < GRAD_TOL && ekv < GRAD_TOL);
            for (int i = 0; i < XT; i++) { /* rows sum to one over the visible keys */
                double sum = 0.0;
                for (int hh = 0; hh < h; hh++)
                    for (int j = 0; j < XJ; j++) {
                        float pij = k.att[(hh * XT + i) * XJ + j];
                        if (masked && !XMASK[i * XJ + j]) assert_true(pij == 0.0f);
                        sum += pij;
                    }
                if (masked && i == 1) { /* the blind query: zero output, zero gradient */
                    assert_true(sum == 0.0);
                    for (int e = 0; e < C; e++)
                        assert_true(k.out[i * C + e] == 0.0f && dq[i * C + e] == 0.0f);
                } else {
                    assert_true(fabs(sum - h) < 1e-5);
                }
            }
        }
}

static void test_cross_attention_matches_ref(void **state) {
    (void)state;
    enum { T2 = 19, J2 = 13 };
    uint8_t mask[T2 * J2];
    for (int i = 0; i < T2 * J2; i++) mask[i] = i % 7 != 3 && i / J2 != 4;
    float *q = calloc(T2 * RC, 4), *kv = calloc(J2 * 2 * RC, 4), *dout = calloc(T2 * RC, 4);
    float *o1 = calloc(T2 * RC, 4), *o2 = calloc(T2 * RC, 4), *sc = calloc(T2 * J2, 4);
    float *a1 = calloc(3 * T2 * J2, 4), *a2 = calloc(3 * T2 * J2, 4);
    float *dq1 = calloc(T2 * RC, 4), *dq2 = calloc(T2 * RC, 4);
    float *dkv1 = calloc(J2 * 2 * RC, 4), *dkv2 = calloc(J2 * 2 * RC, 4);
    tu_fill_normal(q, T2 * RC, 11, 1, 1.0);
    tu_fill_normal(kv, J2 * 2 * RC, 11, 2, 1.0);
    tu_fill_normal(dout, T2 * RC, 11, 3, 1.0);
    for (int h = 1; h <= 3; h++)
        for (int masked = 0; masked < 2; masked++) {
            const uint8_t *mk = masked ? mask : NULL;
            tu_fill_normal(dq1, T2 * RC, 11, 4, 1.0); /* backward adds onto what is there */
            tu_fill_normal(dkv1, J2 * 2 * RC, 11, 5, 1.0);
            memcpy(dq2, dq1, T2 * RC * sizeof(float));
            memcpy(dkv2, dkv1, J2 * 2 * RC * sizeof(float));
            fr_cross_attention_forward(o1, a1, sc, q, kv, mk, T2, J2, RC, h);
            fr_cross_attention_forward_ref(o2, a2, q, kv, mk, T2, J2, RC, h);
            fr_cross_attention_backward(dq1, dkv1, sc, dout, a1, q, kv, T2, J2, RC, h);
            fr_cross_attention_backward_ref(dq2, dkv2, dout, a2, q, kv, T2, J2, RC, h);
            assert_true(tu_rel_diff(a1, a2, (int64_t)h * T2 * J2) < 1e-5);
            assert_true(tu_rel_diff(o1, o2, T2 * RC) < 1e-5);
            assert_true(tu_rel_diff(dq1, dq2, T2 * RC) < 1e-5);
            assert_true(tu_rel_diff(dkv1, dkv2, J2 * 2 * RC) < 1e-5);
        }
    /* no keys at all: zero output, nothing to add */
    fr_cross_attention_forward(o1, a1, sc, q, kv, NULL, T2, 0, RC, 2);
    for (int i = 0; i < T2 * RC; i++) assert_true(o1[i] == 0.0f);
    free(q), free(kv), free(dout), free(o1), free(o2), free(sc), free(a1), free(a2);
    free(dq1), free(dq2), free(dkv1), free(dkv2);
}

int main(void) {
    fr_blas_threads(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_gradients),
        cmocka_unit_test(test_attention_matches_ref),
        cmocka_unit_test(test_attention_structure),
        cmocka_unit_test(test_attention_draw_count),
        cmocka_unit_test(test_attention_is_causal),
        cmocka_unit_test(test_attention_backward_accumulates),
        cmocka_unit_test(test_cross_attention_gradients),
        cmocka_unit_test(test_cross_attention_matches_ref),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
