/* test_engine.c - the federated round engine (engine.h), synchronous rounds, on the toy
 * model of engine_toy.h whose right answers are known in closed form: one FedAvg round
 * (server SGD, lr 1) must give w = the weighted mean of the x_c, and the rows FedAvg's
 * or the touched-only average; clients per round, model selection, the server
 * optimizers, early stopping and the server-update hook are all checked against hand
 * computations in double precision, never against the engine's own helpers.
 * Leaves out: asynchronous rounds, determinism, errors and bytes (test_engine_async.c).
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>
#include "fedrec/alloc.h"
#include "fedrec/config.h"
#include "fedrec/engine.h"
#include "engine_toy.h"

/* ---- 1. one FedAvg round ---- */

static void test_sync_fedavg_round(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    const char *weighting[2] = { "train.weighting=examples", "train.weighting=uniform" };
    const char *rowavg[2] = { "train.row_averaging=all", "train.row_averaging=touched" };
    float result[2][MAX_P];
    for (int uni = 0; uni < 2; uni++)
        for (int touched = 0; touched < 2; touched++) {
            toy_reset(t);
            fr_config c;
            config_of(&c, "train.rounds=1", "train.clients_per_round=6", "train.server_lr=1",
                      "eval.every=0", weighting[uni], rowavg[touched], NULL);
            fr_fl_outcome out;
            cJSON *lines;
            fr_error err;
            assert_int_equal(run_toy(t, &c, 2, &out, &lines, &err), FR_OK);
            assert_int_equal(out.rounds, 1);
            assert_int_equal(out.client_updates, 6);
            for (int32_t i = 0; i < 6; i++) assert_int_equal(t->calls[1][i], 1);
            /* w: the weighted mean of the targets. By hand for w[0]: x_c = 0.3 (c + 1),
             * n_c = 1 4 7 3 6 2, so 0.3 * 84 / 23 (examples) or 0.3 * 3.5 (uniform). */
            const float *w = t->params + off_w(t);
            assert_near(w[0], uni ? 1.05 : 0.3 * 84.0 / 23.0, 1e-6);
            double wt[MAX_CLIENTS] = { 0 }, mean[MAX_P], want_w[D] = { 0 };
            weights_of(t, uni, wt);
            double tw = 0.0;
            for (int32_t ci = 0; ci < 6; ci++) {
                tw += wt[ci];
                for (int j = 0; j < D; j++) want_w[j] += wt[ci] * target_w(t, ci, 1, j);
            }
            for (int j = 0; j < D; j++) assert_near(w[j], want_w[j] / tw, 1e-6);
            /* rows: p0 + the mean delta of the chosen definition */
            int all_in[MAX_CLIENTS] = { 1, 1, 1, 1, 1, 1 };
            float p0[MAX_P] = { 0 };
            for (int64_t i = 0; i < t->l.size; i++) p0[i] = p0_at(i);
            expect_mean(t, p0, NULL, all_in, wt, 1, touched, mean);
            for (int r = 0; r < R; r++)
                for (int k = 0; k < 2; k++) {
                    const int64_t i = off_rows(t) + 2 * r + k;
                    assert_near(t->params[i], p0[i] + mean[i], 1e-6);
                }
            /* touched: a row is the weighted mean of its touchers' targets (row 0 is
             * touched by clients 1, 2, 4, 5; target_row(c, 0, 0) = 0.2 (c + 1) - 0.3) */
            if (touched) {
                const double num0 = uni ? (0.4 + 0.6 + 1.0 + 1.2) : (4 * 0.4 + 7 * 0.6 + 6 * 1.0 + 2 * 1.2);
                const double den0 = uni ? 4.0 : 19.0;
                assert_near(t->params[off_rows(t)], num0 / den0 - 0.3, 1e-6);
            }
            /* the row nobody touched does not move, in either definition */
            for (int k = 0; k < 2; k++)
                assert_true(t->params[off_rows(t) + 2 * (R - 1) + k] == p0[off_rows(t) + 2 * (R - 1) + k]);
            assert_user_untouched(t);
            /* the history line */
            assert_int_equal(cJSON_GetArraySize(lines), 1);
            const cJSON *line = cJSON_GetArrayItem(lines, 0);
            assert_true(num(line, "round") == 1);
            assert_true(num(line, "clients") == 6);
            assert_true(num(line, "examples") == 23);
            double loss = 0.0;
            for (int32_t ci = 0; ci < 6; ci++) {
                for (int j = 0; j < D; j++) loss += 0.5 * pow(target_w(t, ci, 1, j) - p0[off_w(t) + j], 2);
                for (int r = 0; r < R; r++)
                    for (int k = 0; k < 2 && touches(ci, r); k++)
                        loss += 0.5 * pow(target_row(t, ci, 1, r, k) - p0[off_rows(t) + 2 * r + k], 2);
            }
            assert_near(num(line, "loss"), loss / 23.0, 1e-6);
            assert_non_null(cJSON_GetObjectItemCaseSensitive(line, "valid")); /* the last round */
            assert_null(cJSON_GetObjectItemCaseSensitive(line, "staleness_mean"));
            if (!uni) memcpy(result[touched], t->params, (size_t)t->l.size * sizeof(float));
            cJSON_Delete(lines);
        }
    /* the two row definitions differ on this data */
    assert_memory_not_equal(result[0], result[1], (size_t)t->l.size * sizeof(float));
    toy_free(t);
}

/* ---- 2. clients per round ---- */

/* Runs 3 rounds and checks every round trained `want` distinct clients and says so. */
static void check_clients_per_round(toy *t, const char *setting, const char *setting2, int want) {
    toy_reset(t);
    fr_config c;
    config_of(&c, "train.rounds=3", "eval.every=0", setting, setting2, NULL);
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 3, &out, &lines, &err), FR_OK);
    assert_int_equal(cJSON_GetArraySize(lines), 3);
    double said[3];
    for (int r = 0; r < 3; r++) said[r] = num(cJSON_GetArrayItem(lines, r), "clients");
    cJSON_Delete(lines);
    for (int r = 1; r <= 3; r++) {
        int got = 0;
        for (int32_t ci = 0; ci < t->n; ci++) {
            assert_true(t->calls[r][ci] <= 1);
            got += t->calls[r][ci];
        }
        if (got != want || said[r - 1] != want)
            fail_msg("%s %s: round %d trained %d clients, history says %g, want %d", setting,
                     setting2, r, got, said[r - 1], want);
    }
    assert_int_equal(out.client_updates, 3 * want);
}

static void test_clients_fraction(void **state) {
    (void)state;
    toy *t = toy_new(25, 0.0f);
    check_clients_per_round(t, "train.clients_fraction=0.04", "train.clients_per_round=9", 1);
    check_clients_per_round(t, "train.clients_fraction=0.1", "train.clients_per_round=9", 3); /* ceil 2.5 */
    check_clients_per_round(t, "train.clients_fraction=0.5", "train.clients_per_round=1", 13);
    check_clients_per_round(t, "train.clients_fraction=0.9", "train.clients_per_round=1", 23); /* ceil 22.5 */
    check_clients_per_round(t, "train.clients_fraction=1", "train.clients_per_round=1", 25);
    /* no fraction: the count, capped at the population */
    check_clients_per_round(t, "train.clients_fraction=0", "train.clients_per_round=4", 4);
    check_clients_per_round(t, "train.clients_fraction=0", "train.clients_per_round=100", 25);
    toy_free(t);
}

/* A fraction whose product with n is a whole number in exact arithmetic must give that
 * number: 0.28 * 25 = 7 (the double product is 7.000000000000001) and 0.56 * 25 = 14. */
static void test_clients_fraction_exact_product(void **state) {
    toy *t = toy_new(25, 0.0f);
    *state = t; /* freed by free_toy_state, also when a check fails */
    check_clients_per_round(t, "train.clients_fraction=0.28", "train.clients_per_round=1", 7);
    check_clients_per_round(t, "train.clients_fraction=0.56", "train.clients_per_round=1", 14);
}

static int free_toy_state(void **state) {
    if (*state) toy_free(*state);
    *state = NULL;
    return 0;
}

/* ---- 3. model selection ---- */

static void test_selection(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    float p0[MAX_P] = { 0 };
    for (int64_t i = 0; i < t->l.size; i++) p0[i] = p0_at(i);
    for (int m = 1; m <= 2; m++) {
        toy_reset(t);
        fr_config c;
        char sel_m[64];
        snprintf(sel_m, sizeof sel_m, "train.select_m=%d", m);
        config_of(&c, "train.rounds=1", "train.clients_per_round=6", "eval.every=0",
                  "train.selection=best", sel_m, NULL);
        fr_fl_outcome out;
        cJSON *lines;
        fr_error err;
        assert_int_equal(run_toy(t, &c, 3, &out, &lines, &err), FR_OK);
        /* scores 0 5/7 3/7 1/7 6/7 4/7: the best is client 4, then client 1 */
        int in[MAX_CLIENTS] = { 0 };
        in[4] = 1;
        if (m == 2) in[1] = 1;
        double wt[MAX_CLIENTS] = { 0 }, mean[MAX_P];
        weights_of(t, 0, wt);
        expect_mean(t, p0, NULL, in, wt, 1, 0, mean);
        for (int64_t i = 0; i < t->l.size; i++) assert_near(t->params[i], p0[i] + mean[i], 1e-6);
        const float *w = t->params + off_w(t);
        for (int j = 0; j < D; j++) {
            const double want = m == 1 ? target_w(t, 4, 1, j)
                                       : (6.0 * target_w(t, 4, 1, j) + 4.0 * target_w(t, 1, 1, j)) / 10.0;
            assert_near(w[j], want, 1e-6);
        }
        /* m = 1, FedAvg rows: the best client's rows are its targets, the rest stay */
        if (m == 1)
            for (int r = 0; r < R; r++)
                for (int k = 0; k < 2; k++)
                    assert_near(t->params[off_rows(t) + 2 * r + k],
                                touches(4, r) ? target_row(t, 4, 1, r, k) : p0[off_rows(t) + 2 * r + k], 1e-6);
        /* every client trained and uploaded; the history counts them all */
        assert_true(num(cJSON_GetArrayItem(lines, 0), "clients") == 6);
        cJSON_Delete(lines);
    }
    toy_free(t);
}

/* ---- 4. server optimizers over several rounds ---- */

typedef enum { OPT_MOMENTUM, OPT_ADAM, OPT_YOGI } opt_case;

/* One step of the server optimizer in double, on g = -mean (optim.h's equations). */
static void hand_step(opt_case o, double lr, double mu, double b1, double b2, double eps, int step,
                      double *p, double *mm, double *vv, const double *mean, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double g = -mean[i];
        if (o == OPT_MOMENTUM) {
            mm[i] = mu * mm[i] + g;
            p[i] -= lr * mm[i];
        } else if (o == OPT_ADAM) {
            mm[i] = b1 * mm[i] + (1 - b1) * g;
            vv[i] = b2 * vv[i] + (1 - b2) * g * g;
            const double mh = mm[i] / (1 - pow(b1, step)), vh = vv[i] / (1 - pow(b2, step));
            p[i] -= lr * mh / (sqrt(vh) + eps);
        } else {
            mm[i] = b1 * mm[i] + (1 - b1) * g;
            const double g2 = g * g;
            vv[i] -= (1 - b2) * g2 * (vv[i] > g2 ? 1.0 : vv[i] < g2 ? -1.0 : 0.0);
            p[i] -= lr * mm[i] / (sqrt(vv[i]) + eps);
        }
    }
}

static void check_server_optimizer(opt_case o, const char *s1, const char *s2, const char *s3,
                                   double lr, double mu, double eps) {
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    /* 4 of 6 clients a round: different clients each round, from the engine's sample */
    config_of(&c, "train.rounds=3", "train.clients_per_round=4", "eval.every=0", s1, s2, s3, NULL);
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 2, &out, &lines, &err), FR_OK);
    assert_int_equal(out.rounds, 3);
    const int64_t n = t->l.size;
    double p[MAX_P], mm[MAX_P] = { 0 }, vv[MAX_P], mean[MAX_P], wt[MAX_CLIENTS];
    for (int64_t i = 0; i < n; i++) {
        p[i] = p0_at(i);
        vv[i] = o == OPT_YOGI ? eps * eps : 0.0;
    }
    weights_of(t, 0, wt);
    int differs = 0;
    for (int r = 1; r <= 3; r++) {
        float pf[MAX_P];
        for (int64_t i = 0; i < n; i++) pf[i] = (float)p[i];
        /* the clients trained from the server's parameters of the time */
        for (int32_t ci = 0; ci < t->n; ci++)
            if (t->calls[r][ci])
                for (int64_t i = 0; i < n; i++) assert_near(t->seen[r][ci][i], p[i], 1e-5);
        int in[MAX_CLIENTS];
        for (int32_t ci = 0; ci < t->n; ci++) in[ci] = t->calls[r][ci];
        if (r > 1) differs |= memcmp(t->calls[r], t->calls[1], sizeof t->calls[1]) != 0;
        expect_mean(t, pf, NULL, in, wt, (uint32_t)r, 0, mean);
        hand_step(o, lr, mu, c.server_beta1, c.server_beta2, eps, r, p, mm, vv, mean, n);
    }
    assert_true(differs); /* the sample changed, so the momenta mix different clients */
    for (int64_t i = 0; i < n; i++) assert_near(t->params[i], p[i], 2e-5);
    assert_user_untouched(t);
    /* and it is not just FedAvg: plain SGD lr 1 from the same start lands elsewhere */
    float got[MAX_P];
    memcpy(got, t->params, (size_t)n * sizeof(float));
    toy_reset(t);
    fr_config plain;
    config_of(&plain, "train.rounds=3", "train.clients_per_round=4", "eval.every=0", NULL);
    cJSON_Delete(lines);
    assert_int_equal(run_toy(t, &plain, 1, &out, &lines, &err), FR_OK);
    assert_memory_not_equal(got, t->params, (size_t)n * sizeof(float));
    cJSON_Delete(lines);
    toy_free(t);
}

static void test_server_momentum(void **state) {
    (void)state;
    check_server_optimizer(OPT_MOMENTUM, "train.server_optimizer=sgd", "train.server_momentum=0.9",
                           "train.server_lr=1", 1.0, 0.9, 0.0);
}

static void test_server_adam(void **state) {
    (void)state;
    check_server_optimizer(OPT_ADAM, "train.server_optimizer=adam", "train.server_lr=0.05",
                           "train.server_eps=1e-8", 0.05, 0.0, 1e-8);
}

static void test_server_yogi(void **state) {
    (void)state;
    check_server_optimizer(OPT_YOGI, "train.server_optimizer=yogi", "train.server_lr=0.05",
                           "train.server_eps=1e-3", 0.05, 0.0, 1e-3);
}

/* ---- 7. early stopping ---- */

/* Validations score script[0..4]; the second is the best and the next two are no
 * better, so patience 2 stops the run after the fourth. */
static void check_early_stopping(int every, const double script[5]) {
    toy *t = toy_new(6, 0.3f); /* moving targets: every round's parameters differ */
    fr_config c;
    char ev[64];
    snprintf(ev, sizeof ev, "eval.every=%d", every);
    config_of(&c, "train.rounds=20", "train.clients_per_round=6", ev, "eval.patience=2", NULL);
    memcpy(t->script, script, 5 * sizeof(double));
    t->n_script = 5;
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 2, &out, &lines, &err), FR_OK);
    /* validations at every, 2 every, ...: best at the second, two worse ones stop it */
    assert_int_equal(out.rounds, 4 * every);
    assert_int_equal(out.best_round, 2 * every);
    assert_near(out.best_key, 0.7, 1e-12);
    assert_int_equal(t->n_evals, 4);
    assert_int_equal(cJSON_GetArraySize(lines), 4 * every);
    for (int r = 0; r < 4 * every; r++) {
        const cJSON *line = cJSON_GetArrayItem(lines, r);
        const int validated = (r + 1) % every == 0;
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(line, "valid") != NULL, validated);
    }
    for (int32_t ci = 0; ci < t->n; ci++) assert_int_equal(t->calls[4 * every + 1][ci], 0);
    /* the parameters left are those validated second, not the last ones */
    assert_memory_not_equal(t->snap[1], t->snap[3], (size_t)t->l.size * sizeof(float));
    assert_memory_equal(t->params, t->snap[1], (size_t)t->l.size * sizeof(float));
    /* and they are the parameters after round 2 * every: round 2 * every + 1 trained from them */
    assert_memory_equal(t->seen[2 * every + 1][0], t->snap[1], (size_t)t->l.size * sizeof(float));
    cJSON_Delete(lines);
    toy_free(t);
}

/* eval.keep_best = false leaves the last parameters, even when an earlier validation
 * was better; keys may be negative (MF's -loss): the first validation counts. */
static void test_keep_last_and_negative_keys(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.3f);
    fr_config c;
    config_of(&c, "train.rounds=4", "train.clients_per_round=6", "eval.every=1",
              "eval.keep_best=false", NULL);
    const double script[4] = { -3.0, -2.0, -2.5, -2.75 };
    memcpy(t->script, script, sizeof script);
    t->n_script = 4;
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 1, &out, &lines, &err), FR_OK);
    assert_int_equal(out.rounds, 4);
    assert_int_equal(out.best_round, 4);
    assert_true(out.best_key == -2.75);
    assert_memory_equal(t->params, t->snap[3], (size_t)t->l.size * sizeof(float));
    cJSON_Delete(lines);
    /* the same run keeping the best: round 2's parameters, key -2 */
    toy_reset(t);
    memcpy(t->script, script, sizeof script);
    t->n_script = 4;
    config_of(&c, "train.rounds=4", "train.clients_per_round=6", "eval.every=1", NULL);
    assert_int_equal(run_toy(t, &c, 1, &out, &lines, &err), FR_OK);
    assert_int_equal(out.best_round, 2);
    assert_true(out.best_key == -2.0);
    assert_memory_equal(t->params, t->snap[1], (size_t)t->l.size * sizeof(float));
    cJSON_Delete(lines);
    toy_free(t);
}

/* A model's own server update replaces the mean and the optimizer: it sees the round's
 * updates with their senders and weights, and what it writes is the next model. */
typedef struct hook_log {
    int calls;
    int32_t n[8];
    int32_t client[8][MAX_CLIENTS];
    double weight[8][MAX_CLIENTS];
} hook_log;
static hook_log g_hook;

static fr_status toy_server(void *ctx, float *params, const fr_update *const *ups,
                            const double *weights, int32_t n, uint32_t round, fr_error *err) {
    toy *t = ctx;
    (void)err;
    const int k = g_hook.calls++;
    assert_true(k < 8 && (uint32_t)k + 1 == round);
    g_hook.n[k] = n;
    for (int32_t i = 0; i < n; i++) {
        g_hook.client[k][i] = ups[i]->client;
        g_hook.weight[k][i] = weights[i];
    }
    for (int64_t i = 0; i < t->l.size; i++) params[i] = (float)round + 0.25f * (float)i;
    return FR_OK;
}

static void test_server_update_hook(void **state) {
    (void)state;
    toy *t = toy_new(9, 0.0f);
    memset(&g_hook, 0, sizeof g_hook);
    char path[700];
    snprintf(path, sizeof path, "%s/history-hook.jsonl", tu_tmpdir());
    fr_history h;
    fr_error err;
    assert_int_equal(fr_history_open(&h, path, &err), FR_OK);
    fr_fl_model m = { .layout = &t->l, .params = t->params, .clients = t->ids, .n_clients = t->n,
                      .ctx = t, .client_update = toy_update, .validate = toy_validate,
                      .key_name = "HR@10", .server_update = toy_server };
    fr_config c;
    config_of(&c, "train.rounds=3", "train.clients_per_round=4", "eval.every=0",
              "eval.keep_best=false", "train.server_optimizer=adam", NULL);
    t->threads = 2;
    fr_fl_outcome out;
    assert_int_equal(fr_fl_run(&m, &c, 2, &h, 0, &out, &err), FR_OK);
    fr_fl_outcome_free(&out);
    assert_int_equal(fr_history_commit(&h, &err), FR_OK);
    assert_int_equal(g_hook.calls, 3);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(g_hook.n[k], 4);
        int32_t sel[4];
        assert_int_equal(fr_sample_clients(sel, t->n, 4, c.seed, (uint32_t)k + 1), 4);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(g_hook.client[k][i], ID0 + sel[i]);
            assert_true(g_hook.weight[k][i] == examples_of(sel[i]));
            assert_int_equal(t->calls[k + 1][sel[i]], 1);
        }
    }
    /* round 2's clients trained from what the hook wrote after round 1; the end is the
     * hook's round-3 model, untouched by Adam */
    int32_t sel[4];
    fr_sample_clients(sel, t->n, 4, c.seed, 2);
    for (int64_t i = 0; i < t->l.size; i++) {
        assert_true(t->seen[2][sel[0]][i] == 1.0f + 0.25f * (float)i);
        assert_true(t->params[i] == 3.0f + 0.25f * (float)i);
    }
    toy_free(t);
}

static const double script_drop[5] = { 0.5, 0.7, 0.6, 0.6, 0.9 };

static void test_early_stopping(void **state) {
    (void)state;
    check_early_stopping(1, script_drop);
}

/* patience counts validations, best_round names the round */
static void test_early_stopping_every_2(void **state) {
    (void)state;
    check_early_stopping(2, script_drop);
}

/* an equal HR@10 is no improvement: the earlier parameters stay the best */
static void test_early_stopping_ties(void **state) {
    (void)state;
    const double script_tie[5] = { 0.5, 0.7, 0.7, 0.7, 0.9 };
    check_early_stopping(1, script_tie);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_fedavg_round),
        cmocka_unit_test(test_clients_fraction),
        cmocka_unit_test_teardown(test_clients_fraction_exact_product, free_toy_state),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_server_momentum),
        cmocka_unit_test(test_server_adam),
        cmocka_unit_test(test_server_yogi),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_early_stopping_every_2),
        cmocka_unit_test(test_early_stopping_ties),
        cmocka_unit_test(test_keep_last_and_negative_keys),
        cmocka_unit_test(test_server_update_hook),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
