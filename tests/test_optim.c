/* test_optim.c - SGD, momentum, Adam, AdamW and Yogi against the update rules written
 * out in double precision, FedAvgM on pseudo-gradients, the coupled L2 range, reset,
 * and a quadratic each must minimise. */
#include "testutil.h"

#include <math.h>
#include <string.h>
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

/* The double-precision AdamW of optim.h: p *= 1 - lr*wd, then Adam on g + l2*p_old
 * inside [lo, hi). wd = 0 is Adam. */
static void ref_adamw(double *p, double *m, double *v, const float *g, int n, int t, double lr,
                      double b1, double b2, double eps, double wd, double l2, int lo, int hi) {
    for (int i = 0; i < n; i++) {
        double gi = g[i] + (i >= lo && i < hi ? l2 * p[i] : 0.0);
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] *= 1 - lr * wd;
        p[i] -= lr * (m[i] / (1 - pow(b1, t))) / (sqrt(v[i] / (1 - pow(b2, t))) + eps);
    }
}

/* Gradients that change sign and size from step to step, so Adam's normalisation does
 * not hide a wrong gradient term. */
static void step_grad(float *g, int n, int t) {
    for (int i = 0; i < n; i++) g[i] = (float)(0.3 * sin(1.7 * t + i) + 0.05 * (i - 2));
}

static void test_adamw_rule(void **state) {
    (void)state;
    enum { N = 5, STEPS = 6 };
    const double lr = 0.05, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.5;
    const float p0[N] = { 1.0f, -2.0f, 0.5f, 3.0f, -0.25f };
    float p[N], g[N];
    double ref[N], m[N] = { 0 }, v[N] = { 0 };
    /* the same but with the decay after the update instead of before it: must differ */
    double late[N], ml[N] = { 0 }, vl[N] = { 0 };
    for (int i = 0; i < N; i++) p[i] = p0[i], ref[i] = late[i] = p0[i];
    fr_optim o;
    fr_error err;
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_ADAMW, N, lr, 0.0, b1, b2, eps, &err), FR_OK);
    assert_non_null(o.m);
    assert_non_null(o.v);
    assert_true(o.weight_decay == 0.0 && o.l2 == 0.0 && o.l2_begin == 0 && o.l2_end == 0);
    o.weight_decay = wd;
    for (int t = 1; t <= STEPS; t++) {
        step_grad(g, N, t);
        fr_optim_step(&o, p, g);
        ref_adamw(ref, m, v, g, N, t, lr, b1, b2, eps, wd, 0.0, 0, 0);
        ref_adamw(late, ml, vl, g, N, t, lr, b1, b2, eps, 0.0, 0.0, 0, 0);
        for (int i = 0; i < N; i++) late[i] -= lr * wd * late[i];
        for (int i = 0; i < N; i++) assert_true(fabs(p[i] - ref[i]) < 1e-6);
    }
    int differs = 0;
    for (int i = 0; i < N; i++) differs |= fabs(ref[i] - late[i]) > 1e-4;
    assert_true(differs); /* the test can tell the order of decay and update apart */
    assert_int_equal(o.t, STEPS);
    fr_optim_free(&o);
}

/* FedAvgM (Hsu et al. 2019): the server's pseudo-gradient is minus the average client
 * delta, u = 0.9*u + g, x -= u (lr 1). Round one is FedAvg: x + delta. */
static void test_fedavgm_pseudo_gradient(void **state) {
    (void)state;
    enum { N = 3, ROUNDS = 4 };
    const float delta[ROUNDS][N] = {
        { 0.5f, -0.25f, 1.0f }, { 0.5f, 0.25f, -2.0f }, { -1.0f, 0.0f, 0.5f }, { 0.25f, 1.0f, 0.0f },
    };
    const float x0[N] = { 1.0f, 2.0f, -1.0f };
    float x[N] = { 1.0f, 2.0f, -1.0f }, g[N];
    double ref[N] = { 1.0, 2.0, -1.0 }, u[N] = { 0 };
    fr_optim o;
    fr_error err;
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_SGD, N, 1.0, 0.9, 0, 0, 0, &err), FR_OK);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) g[i] = -delta[r][i];
        fr_optim_step(&o, x, g);
        for (int i = 0; i < N; i++) {
            u[i] = 0.9 * u[i] - delta[r][i];
            ref[i] -= u[i];
            assert_true(fabs(x[i] - ref[i]) < 1e-6);
        }
        if (r == 0) /* FedAvg's step */
            for (int i = 0; i < N; i++) assert_true(x[i] == x0[i] + delta[0][i]);
    }
    /* by hand, coordinate 0: u = -0.5, -0.95, 0.145, -0.1195; x = 1.5, 2.45, 2.305, 2.4245 */
    assert_true(fabsf(x[0] - 2.4245f) < 1e-6f);
    /* plain FedAvg would sit at 1 + 0.5 + 0.5 - 1 + 0.25 = 1.25: momentum matters */
    assert_true(fabsf(x[0] - 1.25f) > 1.0f);
    fr_optim_free(&o);
}

/* The double-precision Yogi of optim.h (FedYogi, Reddi et al. 2021, algorithm 2), on
 * g + l2*p inside [lo, hi); v starts at eps^2, no bias correction. */
static void ref_yogi(double *p, double *m, double *v, const float *g, int n, double lr, double b1,
                     double b2, double eps, double l2, int lo, int hi) {
    for (int i = 0; i < n; i++) {
        double gi = g[i] + (i >= lo && i < hi ? l2 * p[i] : 0.0);
        double g2 = gi * gi, sgn = v[i] > g2 ? 1.0 : v[i] < g2 ? -1.0 : 0.0;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = v[i] - (1 - b2) * g2 * sgn;
        p[i] -= lr * m[i] / (sqrt(v[i]) + eps);
    }
}

static void test_yogi_rule(void **state) {
    (void)state;
    fr_optim o;
    fr_error err;
    /* one step by hand: g = 0.3, lr 0.01, b1 0.9, b2 0.999, eps (tau) 1e-3
     * m = 0.03; v = 1e-6 + 0.001 * 0.09 = 9.1e-5 (v0 < g^2, so v grows);
     * p = 1 - 0.01 * 0.03 / (sqrt(9.1e-5) + 1e-3) = 0.97153536... */
    float p1[1] = { 1.0f }, g1[1] = { 0.3f };
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_YOGI, 1, 0.01, 0.0, 0.9, 0.999, 1e-3, &err), FR_OK);
    assert_non_null(o.m);
    assert_non_null(o.v);
    assert_true(o.m[0] == 0.0f && o.v[0] == (float)1e-6); /* v0 = tau^2 */
    fr_optim_step(&o, p1, g1);
    assert_true(fabsf(o.m[0] - 0.03f) < 1e-8f);
    assert_true(fabs(o.v[0] - 9.1e-5) < 1e-10);
    assert_true(fabs(p1[0] - (1.0 - 0.01 * 0.03 / (sqrt(9.1e-5) + 1e-3))) < 1e-7);
    assert_true(fabs(p1[0] - 0.9715354) < 1e-6);
    fr_optim_free(&o);

    /* several steps on a vector, with the L2 range on part of it */
    enum { N = 5, STEPS = 8 };
    const double lr = 0.05, b1 = 0.9, b2 = 0.99, eps = 1e-3;
    const float p0[N] = { 1.0f, -2.0f, 0.5f, 3.0f, -0.25f };
    float p[N], g[N];
    double ref[N], m[N] = { 0 }, v[N];
    /* Adam's v and a bias-corrected Yogi on the same gradients: must differ */
    double va[N] = { 0 }, bc[N], mb[N] = { 0 }, vb[N];
    for (int i = 0; i < N; i++) p[i] = p0[i], ref[i] = bc[i] = p0[i], v[i] = vb[i] = eps * eps;
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_YOGI, N, lr, 0.0, b1, b2, eps, &err), FR_OK);
    o.weight_decay = 0.5; /* ignored by Yogi */
    o.l2 = 0.1;
    o.l2_begin = 1;
    o.l2_end = 3;
    for (int t = 1; t <= STEPS; t++) {
        step_grad(g, N, t);
        fr_optim_step(&o, p, g);
        ref_yogi(ref, m, v, g, N, lr, b1, b2, eps, 0.1, 1, 3);
        for (int i = 0; i < N; i++) {
            assert_true(fabs(p[i] - ref[i]) < 1e-6);
            assert_true(fabs(o.v[i] - v[i]) < 1e-6 * v[i]);
            assert_true(fabs(o.m[i] - m[i]) < 1e-6);
        }
        for (int i = 0; i < N; i++) {
            double gi = g[i] + (i >= 1 && i < 3 ? 0.1 * bc[i] : 0.0), g2 = gi * gi;
            va[i] = b2 * va[i] + (1 - b2) * g2;
            mb[i] = b1 * mb[i] + (1 - b1) * gi;
            vb[i] -= (1 - b2) * g2 * (vb[i] > g2 ? 1.0 : vb[i] < g2 ? -1.0 : 0.0);
            bc[i] -= lr * (mb[i] / (1 - pow(b1, t))) / (sqrt(vb[i] / (1 - pow(b2, t))) + eps);
        }
    }
    int v_differs = 0, p_differs = 0;
    for (int i = 0; i < N; i++) {
        v_differs |= fabs(v[i] - va[i]) > 1e-3 * va[i];
        p_differs |= fabs(ref[i] - bc[i]) > 1e-3;
    }
    assert_true(v_differs); /* the test tells Yogi's v from Adam's */
    assert_true(p_differs); /* and the uncorrected step from a bias-corrected one */
    fr_optim_free(&o);
}

/* Yogi's v falls when g^2 < v, by (1-b2)*g^2 only: after a large gradient a small one
 * barely lowers v, where Adam's v would shrink by the factor b2. */
static void test_yogi_v_can_decrease(void **state) {
    (void)state;
    const double b2 = 0.9, eps = 1e-3;
    fr_optim o;
    fr_error err;
    float p[1] = { 0.0f }, big[1] = { 1.0f }, small[1] = { 0.1f };
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_YOGI, 1, 0.01, 0.0, 0.9, b2, eps, &err), FR_OK);
    fr_optim_step(&o, p, big);
    const double v1 = eps * eps + (1 - b2) * 1.0; /* 0.100001: grew, v0 < g^2 */
    assert_true(fabs(o.v[0] - v1) < 1e-7);
    double prev = o.v[0];
    for (int t = 0; t < 5; t++) {
        fr_optim_step(&o, p, small);
        double want = prev - (1 - b2) * 0.01; /* v > g^2: sign +1 */
        assert_true(o.v[0] < prev);           /* it decreased */
        assert_true(fabs(o.v[0] - want) < 1e-7);
        prev = o.v[0];
    }
    /* five small steps took 0.005 off; Adam's v would be 0.9^5 * 0.1 + ... = 0.0595 */
    assert_true(fabs(prev - (v1 - 5 * 0.001)) < 1e-6);
    double adam = (1 - b2) * 1.0;
    for (int t = 0; t < 5; t++) adam = b2 * adam + (1 - b2) * 0.01;
    assert_true(prev - adam > 0.03);
    /* g^2 == v leaves v where it is (sign 0) */
    float eq[1] = { 0.25f };
    o.v[0] = 0.0625f;
    fr_optim_step(&o, p, eq);
    assert_true(o.v[0] == 0.0625f);
    fr_optim_free(&o);
}

static void test_weight_decay_only_in_adamw(void **state) {
    (void)state;
    enum { N = 4 };
    const float p0[N] = { 1.0f, -2.0f, 0.5f, 3.0f };
    float a[N], b[N], c[N], g[N];
    memcpy(a, p0, sizeof a);
    memcpy(b, p0, sizeof b);
    memcpy(c, p0, sizeof c);
    fr_optim plain, decayed, adamw0;
    fr_error err;
    assert_int_equal(fr_optim_init(&plain, FR_OPTIM_ADAM, N, 0.01, 0, 0.9, 0.999, 1e-8, &err), FR_OK);
    assert_int_equal(fr_optim_init(&decayed, FR_OPTIM_ADAM, N, 0.01, 0, 0.9, 0.999, 1e-8, &err), FR_OK);
    assert_int_equal(fr_optim_init(&adamw0, FR_OPTIM_ADAMW, N, 0.01, 0, 0.9, 0.999, 1e-8, &err), FR_OK);
    decayed.weight_decay = 0.5; /* ignored by Adam */
    for (int t = 1; t <= 5; t++) {
        step_grad(g, N, t);
        fr_optim_step(&plain, a, g);
        fr_optim_step(&decayed, b, g);
        fr_optim_step(&adamw0, c, g); /* AdamW with wd 0 is Adam, bit for bit */
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(a, c, sizeof a);
    fr_optim_free(&plain);
    fr_optim_free(&decayed);
    fr_optim_free(&adamw0);
    /* nor by SGD */
    float s[N], h[N] = { 0.5f, -1.0f, 0.25f, 2.0f };
    memcpy(s, p0, sizeof s);
    fr_optim sgd;
    assert_int_equal(fr_optim_init(&sgd, FR_OPTIM_SGD, N, 0.1, 0.0, 0, 0, 0, &err), FR_OK);
    sgd.weight_decay = 0.5;
    fr_optim_step(&sgd, s, h);
    for (int i = 0; i < N; i++) assert_true(s[i] == p0[i] - (float)(0.1 * h[i]));
    fr_optim_free(&sgd);
}

static void test_l2_range(void **state) {
    (void)state;
    enum { N = 6 };
    const float p0[N] = { 1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 4.0f };
    const float g[N] = { 0.5f, -1.0f, 0.25f, 2.0f, 0.0f, -0.5f };
    const double lr = 0.1, l2 = 0.5;
    fr_optim o;
    fr_error err;
    float p[N];
    /* plain SGD: p -= lr * (g + l2*p) on [2, 4) only */
    memcpy(p, p0, sizeof p);
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_SGD, N, lr, 0.0, 0, 0, 0, &err), FR_OK);
    o.l2 = l2;
    o.l2_begin = 2;
    o.l2_end = 4;
    fr_optim_step(&o, p, g);
    for (int i = 0; i < N; i++) {
        double gi = g[i] + (i >= 2 && i < 4 ? l2 * p0[i] : 0.0);
        assert_true(fabs(p[i] - (p0[i] - lr * gi)) < 1e-6);
    }
    assert_true(fabsf(p[3] - (3.0f - 0.1f * (2.0f + 1.5f))) < 1e-6f); /* by hand: 2.65 */
    assert_true(p[4] == -0.25f && p[1] == -2.0f - (float)(lr * -1.0));
    fr_optim_free(&o);
    /* momentum: m = mu*m + g + l2*p */
    memcpy(p, p0, sizeof p);
    assert_int_equal(fr_optim_init(&o, FR_OPTIM_SGD, N, lr, 0.9, 0, 0, 0, &err), FR_OK);
    o.l2 = l2;
    o.l2_begin = 1;
    o.l2_end = 3;
    double ref[N], mom[N] = { 0 };
    for (int i = 0; i < N; i++) ref[i] = p0[i];
    for (int t = 0; t < 3; t++) {
        fr_optim_step(&o, p, g);
        for (int i = 0; i < N; i++) {
            mom[i] = 0.9 * mom[i] + g[i] + (i >= 1 && i < 3 ? l2 * ref[i] : 0.0);
            ref[i] -= lr * mom[i];
        }
        for (int i = 0; i < N; i++) assert_true(fabs(p[i] - ref[i]) < 1e-5);
    }
    fr_optim_free(&o);
    /* Adam and AdamW: the L2 term enters the moments; p before the decay */
    for (int kind = 0; kind < 2; kind++) {
        const double wd = kind ? 0.3 : 0.0;
        double rp[N], rm[N] = { 0 }, rv[N] = { 0 };
        float q[N], h[N];
        for (int i = 0; i < N; i++) q[i] = p0[i], rp[i] = p0[i];
        assert_int_equal(fr_optim_init(&o, kind ? FR_OPTIM_ADAMW : FR_OPTIM_ADAM, N, 0.05, 0,
                                       0.9, 0.99, 1e-8, &err), FR_OK);
        o.weight_decay = wd;
        o.l2 = 2.0;
        o.l2_begin = 3;
        o.l2_end = 100; /* past the end: clamped to n */
        for (int t = 1; t <= 5; t++) {
            step_grad(h, N, t);
            fr_optim_step(&o, q, h);
            ref_adamw(rp, rm, rv, h, N, t, 0.05, 0.9, 0.99, 1e-8, wd, 2.0, 3, N);
            for (int i = 0; i < N; i++) assert_true(fabs(q[i] - rp[i]) < 1e-6);
        }
        fr_optim_free(&o);
    }
    /* l2 = 0 with a range set changes nothing; a range with l2 but empty neither */
    float a[N], b[N];
    memcpy(a, p0, sizeof a);
    memcpy(b, p0, sizeof b);
    fr_optim x, y;
    assert_int_equal(fr_optim_init(&x, FR_OPTIM_SGD, N, lr, 0.0, 0, 0, 0, &err), FR_OK);
    assert_int_equal(fr_optim_init(&y, FR_OPTIM_SGD, N, lr, 0.0, 0, 0, 0, &err), FR_OK);
    x.l2_begin = 0;
    x.l2_end = N;
    y.l2 = 1.0;
    y.l2_begin = 4;
    y.l2_end = 4;
    fr_optim_step(&x, a, g);
    fr_optim_step(&y, b, g);
    for (int i = 0; i < N; i++) assert_true(a[i] == p0[i] - (float)(lr * g[i]));
    assert_memory_equal(a, b, sizeof a);
    fr_optim_free(&x);
    fr_optim_free(&y);
}

static void test_reset(void **state) {
    (void)state;
    enum { N = 3 };
    const float p0[N] = { 1.0f, -2.0f, 0.5f };
    float used[N], fresh[N], g[N];
    memcpy(used, p0, sizeof used);
    fr_optim a, b;
    fr_error err;
    assert_int_equal(fr_optim_init(&a, FR_OPTIM_ADAMW, N, 0.01, 0, 0.9, 0.999, 1e-8, &err), FR_OK);
    assert_int_equal(fr_optim_init(&b, FR_OPTIM_ADAMW, N, 0.01, 0, 0.9, 0.999, 1e-8, &err), FR_OK);
    a.weight_decay = b.weight_decay = 0.1;
    for (int t = 1; t <= 4; t++) {
        step_grad(g, N, t);
        fr_optim_step(&a, used, g);
    }
    fr_optim_reset(&a);
    assert_int_equal(a.t, 0);
    for (int i = 0; i < N; i++) assert_true(a.m[i] == 0.0f && a.v[i] == 0.0f);
    assert_true(a.weight_decay == 0.1 && a.lr == 0.01); /* settings kept */
    /* after reset a step is the first step of a fresh optimizer, bit for bit */
    memcpy(fresh, used, sizeof fresh);
    for (int t = 1; t <= 3; t++) {
        step_grad(g, N, t + 10);
        fr_optim_step(&a, used, g);
        fr_optim_step(&b, fresh, g);
        assert_memory_equal(used, fresh, sizeof used);
    }
    fr_optim_free(&a);
    fr_optim_free(&b);
    /* Yogi's v goes back to eps^2, not 0 */
    fr_optim y, yf;
    float yu[N], yfr[N];
    memcpy(yu, p0, sizeof yu);
    assert_int_equal(fr_optim_init(&y, FR_OPTIM_YOGI, N, 0.01, 0, 0.9, 0.99, 1e-3, &err), FR_OK);
    assert_int_equal(fr_optim_init(&yf, FR_OPTIM_YOGI, N, 0.01, 0, 0.9, 0.99, 1e-3, &err), FR_OK);
    for (int t = 1; t <= 4; t++) {
        step_grad(g, N, t);
        fr_optim_step(&y, yu, g);
    }
    fr_optim_reset(&y);
    assert_int_equal(y.t, 0);
    for (int i = 0; i < N; i++) assert_true(y.m[i] == 0.0f && y.v[i] == (float)1e-6);
    memcpy(yfr, yu, sizeof yfr);
    for (int t = 1; t <= 3; t++) {
        step_grad(g, N, t + 10);
        fr_optim_step(&y, yu, g);
        fr_optim_step(&yf, yfr, g);
        assert_memory_equal(yu, yfr, sizeof yu);
    }
    fr_optim_free(&y);
    fr_optim_free(&yf);
    /* momentum buffer too; plain SGD has nothing to clear */
    fr_optim s;
    float q[1] = { 0.0f }, h[1] = { 1.0f };
    assert_int_equal(fr_optim_init(&s, FR_OPTIM_SGD, 1, 1.0, 0.9, 0, 0, 0, &err), FR_OK);
    fr_optim_step(&s, q, h);
    fr_optim_reset(&s);
    fr_optim_step(&s, q, h); /* m = 1 again, not 1.9 */
    assert_true(q[0] == -2.0f);
    fr_optim_free(&s);
    assert_int_equal(fr_optim_init(&s, FR_OPTIM_SGD, 1, 1.0, 0.0, 0, 0, 0, &err), FR_OK);
    assert_null(s.m);
    fr_optim_reset(&s);
    assert_int_equal(s.t, 0);
    fr_optim_free(&s);
}

static void test_minimise_quadratic(void **state) {
    (void)state;
    const fr_optim_kind kinds[4] = { FR_OPTIM_SGD, FR_OPTIM_ADAM, FR_OPTIM_ADAMW, FR_OPTIM_YOGI };
    for (int kind = 0; kind < 4; kind++) {
        fr_optim o;
        fr_error err;
        float p[3] = { 3.0f, -1.0f, 2.0f }, g[3];
        const float target[3] = { 0.5f, 0.25f, -1.0f };
        assert_int_equal(fr_optim_init(&o, kinds[kind], 3, kind ? 0.05 : 0.1, kind ? 0.0 : 0.5,
                                       0.9, 0.999, 1e-8, &err), FR_OK);
        o.weight_decay = 1e-6; /* small enough not to move AdamW's fixed point */
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
        cmocka_unit_test(test_adamw_rule),
        cmocka_unit_test(test_fedavgm_pseudo_gradient),
        cmocka_unit_test(test_yogi_rule),
        cmocka_unit_test(test_yogi_v_can_decrease),
        cmocka_unit_test(test_weight_decay_only_in_adamw),
        cmocka_unit_test(test_l2_range),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_minimise_quadratic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
