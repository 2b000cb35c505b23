/* test_optim.c - SGD, momentum and Adam against the update rules written out in
 * double precision, and a quadratic each must minimise. */
#include "testutil.h"

#include <math.h>
#include "fedrec/optim.h"

static void test_sgd_and_momentum_rules(void **state) {
    (void)state;
    fr_optim o;
    fr_error err;
    float p[2] = { 1.0f, -2.0f }, g[2] = { 0.5f, -1.0f };
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_SGD, 2, 0.1, 0.0, 0, 0, 0, &err), FR_OK);
    fr_optim_step(&o, p, g);
    assert_true(fabsf(p[0] - 0.95f) < 1e-7f && fabsf(p[1] + 1.9f) < 1e-7f);
    fr_optim_free(&o);
    float q[1] = { 0.0f }, h[1] = { 1.0f };
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_SGD, 1, 1.0, 0.9, 0, 0, 0, &err), FR_OK);
    fr_optim_step(&o, q, h); /* m = 1, q = -1 */
    fr_optim_step(&o, q, h); /* m = 1.9, q = -2.9 */
    assert_true(fabsf(q[0] + 2.9f) < 1e-6f);
    fr_optim_free(&o);
}

static void test_adam_rule(void **state) {
    (void)state;
    fr_optim o;
    fr_error err;
    float p[1] = { 1.0f };
    const float gs[3] = { 0.3f, -0.2f, 0.7f };
    double m = 0, v = 0, ref = 1.0, b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 0.01;
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_ADAM, 1, lr, 0.0, b1, b2, eps, &err), FR_OK);
    for (int t = 1; t <= 3; t++) {
        float g[1] = { gs[t - 1] };
        fr_optim_step(&o, p, g);
        m = b1 * m + (1 - b1) * g[0];
        v = b2 * v + (1 - b2) * (double)g[0] * g[0];
        ref -= lr * (m / (1 - pow(b1, t))) / (sqrt(v / (1 - pow(b2, t))) + eps);
        assert_true(fabs(p[0] - ref) < 1e-6);
    }
    fr_optim_free(&o);
}

static void test_minimise_quadratic(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        fr_optim o;
        fr_error err;
        float p[3] = { 3.0f, -1.0f, 2.0f }, g[3];
        const float target[3] = { 0.5f, 0.25f, -1.0f };
        assert_int_equal(fr_optim_init(&o, kind ? FR_OPTIM_ADAM : FR_OPTIM_SGD, 3, kind ? 0.05 : 0.1,
                                       kind ? 0.0 : 0.5, 0.9, 0.999, 1e-8, &err), FR_OK);
        for (int it = 0; it < 2000; it++) {
            for (int i = 0; i < 3; i++) g[i] = 2.0f * (p[i] - target[i]);
            fr_optim_step(&o, p, g);
        }
        for (int i = 0; i < 3; i++) assert_true(fabsf(p[i] - target[i]) < 1e-3f);
        fr_optim_free(&o);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_and_momentum_rules),
        cmocka_unit_test(test_adam_rule),
        cmocka_unit_test(test_minimise_quadratic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
