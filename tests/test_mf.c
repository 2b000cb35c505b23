/* test_mf.c - the MF loss gradient against central finite differences in double
 * precision, with and without biases and L2, on a batch that mixes users and repeats an
 * item; and the model's layout (items GLOBAL and row-sparse, nothing LOCAL). */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include "fedrec/mf.h"

enum { U = 3, R = 4, K = 5, B = 6 };

typedef struct mf_case {
    float user[U * K], ubias[U], item[R * K], ibias[R], gbias[1];
} mf_case;

static double loss_at(mf_case *p, const fr_mf_batch *b, int bias, double l2) {
    fr_mf_view v = { p->user, bias ? p->ubias : NULL, p->item, bias ? p->ibias : NULL,
                     bias ? p->gbias : NULL };
    return fr_mf_forward_backward(NULL, &v, b, K, l2, NULL, NULL);
}

/* Perturbs one float by +-h and returns the central difference, using the actual
 * representable step so that float rounding does not enter the estimate. */
static double fd(mf_case *p, float *x, const fr_mf_batch *b, int bias, double l2) {
    const float h = 1e-2f, x0 = *x;
    *x = x0 + h;
    double up = loss_at(p, b, bias, l2), xu = *x;
    *x = x0 - h;
    double dn = loss_at(p, b, bias, l2), xd = *x;
    *x = x0;
    return (up - dn) / (xu - xd);
}

static void check_gradient(int bias, double l2) {
    mf_case p;
    fr_rng rng;
    fr_rng_init(&rng, 7, 0, 0, FR_PURPOSE_EVAL);
    float *all = (float *)&p;
    for (size_t i = 0; i < sizeof p / sizeof(float); i++) all[i] = (float)fr_rng_normal(&rng);
    const int32_t urow[B] = { 0, 1, 2, 0, 1, 0 };
    const int32_t irow[B] = { 0, 1, 2, 3, 1, 1 }; /* item 1 repeats */
    const float y[B] = { 1, 5, 3, 4, 2, 5 };
    fr_mf_batch b = { B, urow, irow, y };
    mf_case g;
    memset(&g, 0, sizeof g);
    fr_mf_view pv = { p.user, bias ? p.ubias : NULL, p.item, bias ? p.ibias : NULL, bias ? p.gbias : NULL };
    fr_mf_view gv = { g.user, bias ? g.ubias : NULL, g.item, bias ? g.ibias : NULL, bias ? g.gbias : NULL };
    fr_mf_forward_backward(&gv, &pv, &b, K, l2, NULL, NULL);
    float *gall = (float *)&g;
    double max_rel = 0.0;
    for (size_t i = 0; i < sizeof p / sizeof(float); i++) {
        int is_bias = (i >= (size_t)U * K && i < (size_t)U * K + U) || i >= (size_t)(U * K + U + R * K);
        if (!bias && is_bias) continue;
        double num = fd(&p, &all[i], &b, bias, l2);
        double ana = gall[i];
        double rel = fabs(num - ana) / fmax(1e-3, fabs(num) + fabs(ana));
        if (rel > max_rel) max_rel = rel;
    }
    assert_true(max_rel < 1e-3);
}

static void test_gradient_plain(void **state) { (void)state; check_gradient(0, 0.0); }
static void test_gradient_bias(void **state) { (void)state; check_gradient(1, 0.0); }
static void test_gradient_l2(void **state) { (void)state; check_gradient(1, 0.1); }

static void test_loss_value_and_accuracy(void **state) {
    (void)state;
    float user[2] = { 1, 2 }, item[4] = { 1, 1, 0.5f, 0.25f };
    int32_t urow[2] = { 0, 0 }, irow[2] = { 0, 1 };
    float y[2] = { 3.2f, 2.0f }; /* predictions 3 and 1: errors -0.2 and -1 */
    fr_mf_batch b = { 2, urow, irow, y };
    fr_mf_view p = { user, NULL, item, NULL, NULL };
    int64_t ok = 0;
    double sq = 0.0;
    double loss = fr_mf_forward_backward(NULL, &p, &b, 2, 0.0, &ok, &sq);
    assert_true(fabs(loss - (0.04 + 1.0) / 2) < 1e-6);
    assert_true(fabs(sq - 1.04) < 1e-6);
    assert_int_equal(ok, 1);
}

static void test_layout_has_no_local_tensor(void **state) {
    (void)state;
    fr_mf_model m;
    fr_error err;
    assert_int_equal(fr_mf_create(&m, 10, 4, 1, 0.05, 1, &err), FR_OK);
    assert_int_equal(m.layout.n, 3);
    for (int i = 0; i < m.layout.n; i++) assert_int_equal(m.layout.t[i].scope, FR_SCOPE_GLOBAL);
    assert_true(m.layout.t[m.t_item].row_sparse);
    assert_int_equal(m.layout.size, 10 * 4 + 10 + 1);
    const float *item = fr_mf_item(&m);
    for (int i = 0; i < 40; i++) assert_true(fabsf(item[i]) <= 0.05f);
    fr_mf_destroy(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_plain),
        cmocka_unit_test(test_gradient_bias),
        cmocka_unit_test(test_gradient_l2),
        cmocka_unit_test(test_loss_value_and_accuracy),
        cmocka_unit_test(test_layout_has_no_local_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
