/* test_engine_async.c - the federated round engine (engine.h) on the toy model of
 * engine_toy.h: asynchronous rounds (FedBuff: the first step equals the sync mean,
 * staleness weights, a buffer above the concurrency), bit-identical histories on 1 and
 * more threads (sync and async), a client's error, and the bytes on the wire.
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

/* ---- 5. asynchronous rounds (FedBuff) ---- */

static void test_async_first_step_is_sync_mean(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    config_of(&c, "train.mode=async", "async.concurrency=6", "async.buffer=6",
              "async.duration=constant", "async.duration_scale=2.5", "train.rounds=1",
              "eval.every=0", NULL);
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 3, &out, &lines, &err), FR_OK);
    assert_int_equal(out.rounds, 1);
    assert_int_equal(out.client_updates, 6);
    assert_near(out.sim_time, 2.5, 1e-12);
    float p0[MAX_P] = { 0 };
    for (int64_t i = 0; i < t->l.size; i++) p0[i] = p0_at(i);
    int in[MAX_CLIENTS] = { 1, 1, 1, 1, 1, 1 };
    double wt[MAX_CLIENTS] = { 0 }, mean[MAX_P];
    weights_of(t, 0, wt);
    expect_mean(t, p0, NULL, in, wt, 1, 0, mean); /* targets do not depend on the round */
    for (int64_t i = 0; i < t->l.size; i++) assert_near(t->params[i], p0[i] + mean[i], 1e-6);
    assert_near(t->params[off_w(t)], 0.3 * 84.0 / 23.0, 1e-6);
    assert_user_untouched(t);
    assert_int_equal(cJSON_GetArraySize(lines), 1);
    const cJSON *line = cJSON_GetArrayItem(lines, 0);
    assert_true(num(line, "staleness_mean") == 0.0);
    assert_true(num(line, "sim_time") == 2.5);
    assert_true(num(line, "clients") == 6);
    assert_true(num(line, "examples") == 23);
    cJSON_Delete(lines);
    /* the same as a synchronous round of everyone */
    float async_params[MAX_P];
    memcpy(async_params, t->params, (size_t)t->l.size * sizeof(float));
    toy_reset(t);
    config_of(&c, "train.rounds=1", "train.clients_per_round=6", "eval.every=0", NULL);
    assert_int_equal(run_toy(t, &c, 1, &out, &lines, &err), FR_OK);
    for (int64_t i = 0; i < t->l.size; i++) assert_near(async_params[i], t->params[i], 1e-6);
    cJSON_Delete(lines);
    toy_free(t);
}

/* concurrency 6, buffer 2, every client takes 1 s: dispatches 0-5 leave at t = 0 with
 * version 0; each arrival dispatches the client that just came back, so dispatch 6 leaves
 * with version 0 (before the first step) and dispatch 7 with version 1. The server steps
 * after arrivals (0,1), (2,3), (4,5), (6,7): staleness (0,0), (1,1), (2,2), (3,2). */
static void test_async_staleness(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    config_of(&c, "train.mode=async", "async.concurrency=6", "async.buffer=2",
              "async.duration=constant", "async.duration_scale=1", "async.staleness=sqrt",
              "train.rounds=4", "eval.every=1", NULL);
    t->n_script = 4;
    for (int k = 0; k < 4; k++) t->script[k] = 0.1 * (k + 1); /* each better: keep the last */
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 2, &out, &lines, &err), FR_OK);
    assert_int_equal(out.rounds, 4);
    assert_int_equal(out.best_round, 4);
    assert_int_equal(out.client_updates, 8);
    assert_int_equal(cJSON_GetArraySize(lines), 4);
    const double stale[4] = { 0, 1, 2, 2.5 }, sim[4] = { 1, 1, 1, 2 };
    for (int r = 0; r < 4; r++) {
        const cJSON *line = cJSON_GetArrayItem(lines, r);
        assert_true(num(line, "round") == r + 1);
        assert_near(num(line, "staleness_mean"), stale[r], 1e-12);
        assert_near(num(line, "sim_time"), sim[r], 1e-12);
        assert_true(num(line, "clients") == 2);
        assert_non_null(cJSON_GetObjectItemCaseSensitive(line, "valid"));
    }
    assert_int_equal(t->n_evals, 4);
    float p0[MAX_P] = { 0 };
    for (int64_t i = 0; i < t->l.size; i++) p0[i] = p0_at(i);
    /* who went on dispatches 6 and 7 (toy round = dispatch + 1), and what they saw */
    int32_t a = -1, b = -1;
    for (int32_t ci = 0; ci < t->n; ci++) {
        if (t->calls[7][ci]) a = ci;
        if (t->calls[8][ci]) b = ci;
    }
    assert_true(a >= 0 && b >= 0);
    /* lazy training is exact: dispatch 6 trained from version 0, dispatch 7 from 1 */
    assert_memory_equal(t->seen[7][a], p0, (size_t)t->l.size * sizeof(float));
    assert_memory_equal(t->seen[8][b], t->snap[0], (size_t)t->l.size * sizeof(float));
    /* round 4 = version 3 + the mean of their deltas weighted n_c / sqrt(1 + s) */
    int in[MAX_CLIENTS] = { 0 };
    double wt[MAX_CLIENTS] = { 0 }, mean[MAX_P];
    const float *from[MAX_CLIENTS] = { 0 };
    in[a] = in[b] = 1;
    from[a] = p0;
    from[b] = t->snap[0];
    if (a == b) fail_msg("dispatches 6 and 7 went to one client");
    wt[a] = examples_of(a) / sqrt(4.0);
    wt[b] = examples_of(b) / sqrt(3.0);
    expect_mean(t, NULL, from, in, wt, 1, 0, mean);
    for (int64_t i = 0; i < t->l.size; i++)
        assert_near(t->snap[3][i], (double)t->snap[2][i] + mean[i], 1e-6);
    assert_memory_equal(t->params, t->snap[3], (size_t)t->l.size * sizeof(float));
    cJSON_Delete(lines);
    toy_free(t);
}

static void test_async_buffer_above_concurrency(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    config_of(&c, "train.mode=async", "async.concurrency=3", "async.buffer=4", "train.rounds=2", NULL);
    fr_fl_model m = { .layout = &t->l, .params = t->params, .clients = t->ids, .n_clients = t->n,
                      .ctx = t, .client_update = toy_update, .validate = toy_validate,
                      .key_name = "HR@10" };
    fr_fl_outcome out;
    fr_error err;
    fr_history h;
    char path[700];
    snprintf(path, sizeof path, "%s/history-bad.jsonl", tu_tmpdir());
    assert_int_equal(fr_history_open(&h, path, &err), FR_OK);
    t->threads = 1;
    assert_int_equal(fr_fl_run(&m, &c, 1, &h, 0, &out, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "async.buffer"));
    /* concurrency beyond the population is capped at it: 6 clients, buffer 7 */
    config_of(&c, "train.mode=async", "async.concurrency=100", "async.buffer=7", "train.rounds=2", NULL);
    assert_int_equal(fr_fl_run(&m, &c, 1, &h, 0, &out, &err), FR_ERR_USAGE);
    fr_history_abort(&h);
    for (int r = 0; r < MAX_ROUNDS; r++)
        for (int32_t ci = 0; ci < t->n; ci++) assert_int_equal(t->calls[r][ci], 0);
    /* buffer == capped concurrency is fine */
    config_of(&c, "train.mode=async", "async.concurrency=100", "async.buffer=6", "train.rounds=2",
              "eval.every=0", NULL);
    cJSON *lines;
    assert_int_equal(run_toy(t, &c, 1, &out, &lines, &err), FR_OK);
    assert_int_equal(cJSON_GetArraySize(lines), 2);
    cJSON_Delete(lines);
    toy_free(t);
}

/* ---- 6. determinism across thread counts ---- */

/* The lines with "seconds" (wall time) removed, printed. */
static char *history_without_seconds(cJSON *lines) {
    cJSON *line;
    cJSON_ArrayForEach(line, lines) {
        assert_non_null(cJSON_GetObjectItemCaseSensitive(line, "seconds"));
        cJSON_DeleteItemFromObjectCaseSensitive(line, "seconds");
    }
    return cJSON_PrintUnformatted(lines);
}

static void check_threads_agree(const char *const *settings, int n_settings) {
    toy *t = toy_new(12, 0.3f);
    fr_config c;
    config_of(&c, NULL);
    for (int i = 0; i < n_settings; i++) {
        fr_error err;
        assert_int_equal(fr_config_set(&c, settings[i], &err), FR_OK);
    }
    float params[2][MAX_P];
    char *text[2];
    int64_t updates[2];
    for (int k = 0; k < 2; k++) {
        toy_reset(t);
        fr_fl_outcome out;
        cJSON *lines;
        fr_error err;
        assert_int_equal(run_toy(t, &c, k == 0 ? 1 : 3, &out, &lines, &err), FR_OK);
        assert_int_equal(out.rounds, c.rounds);
        assert_int_equal(cJSON_GetArraySize(lines), c.rounds);
        memcpy(params[k], t->params, (size_t)t->l.size * sizeof(float));
        text[k] = history_without_seconds(lines);
        updates[k] = out.client_updates;
        cJSON_Delete(lines);
    }
    assert_memory_equal(params[0], params[1], (size_t)t->l.size * sizeof(float));
    assert_string_equal(text[0], text[1]);
    assert_true(updates[0] == updates[1]);
    free(text[0]);
    free(text[1]);
    toy_free(t);
}

static void test_determinism_sync(void **state) {
    (void)state;
    const char *s[] = { "train.rounds=6", "train.clients_per_round=5", "eval.every=2",
                        "train.server_optimizer=adam", "train.server_lr=0.1",
                        "train.selection=best", "train.select_m=3", "train.row_averaging=touched" };
    check_threads_agree(s, (int)(sizeof s / sizeof *s));
}

static void test_determinism_async(void **state) {
    (void)state;
    const char *s[] = { "train.rounds=6", "train.mode=async", "async.concurrency=7", "async.buffer=3",
                        "async.duration=lognormal", "async.staleness=poly", "async.staleness_a=0.7",
                        "eval.every=2", "train.server_momentum=0.5" };
    check_threads_agree(s, (int)(sizeof s / sizeof *s));
}

/* ---- 8. a client's error ---- */

static void test_client_error_sync(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    config_of(&c, "train.rounds=5", "train.clients_per_round=6", "eval.every=1", NULL);
    /* two clients fail in round 2: the first in the round's order (client 103) wins */
    t->fail_round = 2;
    t->fail_id[0] = ID0 + 5;
    t->fail_st[0] = FR_ERR_INPUT;
    t->fail_id[1] = ID0 + 3;
    t->fail_st[1] = FR_ERR_RUNTIME;
    for (int rep = 0; rep < 5; rep++) { /* threads race to report; the order must not */
        toy_reset(t);
        t->fail_round = 2;
        fr_fl_outcome out;
        cJSON *lines;
        fr_error err;
        assert_int_equal(run_toy(t, &c, 3, &out, &lines, &err), FR_ERR_RUNTIME);
        assert_string_equal(err.msg, "toy: client 103 failed in round 2");
        /* round 1 was recorded; nothing after round 2 ran */
        assert_int_equal(cJSON_GetArraySize(lines), 1);
        for (int r = 3; r <= 5; r++)
            for (int32_t ci = 0; ci < t->n; ci++) assert_int_equal(t->calls[r][ci], 0);
        assert_int_equal(t->n_evals, 1);
        cJSON_Delete(lines);
    }
    toy_free(t);
}

static void test_client_error_async(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    config_of(&c, "train.mode=async", "async.concurrency=6", "async.buffer=2",
              "async.duration=constant", "train.rounds=10", "eval.every=0", NULL);
    t->fail_round = 10; /* dispatch 9, whoever it is */
    t->fail_id[0] = -1;
    t->fail_st[0] = FR_ERR_IO;
    t->fail_id[1] = -1;
    t->fail_st[1] = FR_ERR_IO;
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 3, &out, &lines, &err), FR_ERR_IO);
    if (strncmp(err.msg, "toy: client 1", 13) != 0) fail_msg("message: %s", err.msg);
    assert_non_null(strstr(err.msg, " failed in round 10"));
    /* dispatch 9 leaves with version 2 and is trained, with dispatch 10, before the third
     * step; that step and everything after it never happen */
    assert_int_equal(cJSON_GetArraySize(lines), 2);
    for (int32_t ci = 0; ci < t->n; ci++) assert_true(t->calls[11][ci] <= 1);
    for (int r = 12; r < MAX_ROUNDS; r++)
        for (int32_t ci = 0; ci < t->n; ci++) assert_int_equal(t->calls[r][ci], 0);
    cJSON_Delete(lines);
    toy_free(t);
}

/* ---- 9. bytes on the wire ---- */

static int64_t toy_update_bytes(int32_t c) { return 4 * ((int64_t)touched_rows(c) * (1 + 2) + D); }

static void test_bytes_sync(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    config_of(&c, "train.rounds=3", "train.clients_per_round=4", "eval.every=0",
              "async.duration=constant", "async.duration_scale=2", NULL);
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 2, &out, &lines, &err), FR_OK);
    assert_int_equal(out.client_updates, 12);
    assert_near(out.sim_time, 6.0, 1e-12);
    const int64_t global_bytes = 4 * (R * 2 + D); /* the LOCAL user column does not travel */
    for (int r = 1; r <= 3; r++) {
        const cJSON *line = cJSON_GetArrayItem(lines, r - 1);
        int64_t up = 0, ex = 0;
        int n = 0;
        for (int32_t ci = 0; ci < t->n; ci++)
            if (t->calls[r][ci]) {
                up += toy_update_bytes(ci);
                ex += (int64_t)examples_of(ci);
                n++;
            }
        assert_int_equal(n, 4);
        assert_true(num(line, "clients") == n);
        assert_true(num(line, "examples") == (double)ex);
        assert_true(num(line, "bytes_up") == (double)up);
        assert_true(num(line, "bytes_down") == (double)(n * global_bytes));
        assert_near(num(line, "sim_time"), 2.0 * r, 1e-12); /* a round lasts its slowest client */
    }
    cJSON_Delete(lines);
    toy_free(t);
}

/* Constant durations: arrivals come in dispatch order, so round r's buffer holds
 * dispatches 2r-2 and 2r-1. Every dispatched client downloads the model once. */
static void test_bytes_async(void **state) {
    (void)state;
    toy *t = toy_new(6, 0.0f);
    fr_config c;
    config_of(&c, "train.mode=async", "async.concurrency=6", "async.buffer=2",
              "async.duration=constant", "train.rounds=4", "eval.every=0", NULL);
    fr_fl_outcome out;
    cJSON *lines;
    fr_error err;
    assert_int_equal(run_toy(t, &c, 2, &out, &lines, &err), FR_OK);
    const int64_t global_bytes = 4 * (R * 2 + D);
    int32_t client_of[MAX_ROUNDS];
    int trained = 0;
    for (int d = 0; d + 1 < MAX_ROUNDS; d++) {
        client_of[d] = -1;
        for (int32_t ci = 0; ci < t->n; ci++)
            if (t->calls[d + 1][ci]) client_of[d] = ci;
        trained += client_of[d] >= 0;
    }
    double down = 0.0;
    for (int r = 1; r <= 4; r++) {
        const cJSON *line = cJSON_GetArrayItem(lines, r - 1);
        const int32_t a = client_of[2 * r - 2], b = client_of[2 * r - 1];
        assert_true(a >= 0 && b >= 0);
        assert_true(num(line, "bytes_up") == (double)(toy_update_bytes(a) + toy_update_bytes(b)));
        assert_true(num(line, "examples") == examples_of(a) + examples_of(b));
        const double bd = num(line, "bytes_down");
        assert_true(fmod(bd, (double)global_bytes) == 0.0);
        down += bd;
    }
    /* all dispatches up to the last step were trained (the pending ones just before it) */
    assert_true(down == (double)trained * (double)global_bytes);
    cJSON_Delete(lines);
    toy_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_first_step_is_sync_mean),
        cmocka_unit_test(test_async_staleness),
        cmocka_unit_test(test_async_buffer_above_concurrency),
        cmocka_unit_test(test_determinism_sync),
        cmocka_unit_test(test_determinism_async),
        cmocka_unit_test(test_client_error_sync),
        cmocka_unit_test(test_client_error_async),
        cmocka_unit_test(test_bytes_sync),
        cmocka_unit_test(test_bytes_async),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
