/* test_fedrecon.c - R1 end to end on data the test plants: ratings from a known rank-3
 * structure. Federated Reconstruction must recover it well enough to beat predicting
 * the mean by a wide margin on users it never trained on; the client update must carry
 * item rows only; runs must be bit-identical on 1 and 2 threads; and the checkpoint
 * must evaluate to the figures final.json reports. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/fedrecon.h"
#include "fedrec/fileio.h"
#include "fedrec/safetensors.h"
#include "fedrec/train.h"

enum { NU = 500, NI = 150, RANK = 3, PER_USER = 60 };

/* Writes the planted ratings as CSV and returns the path; *mean_rmse receives the RMSE
 * of predicting the global mean. */
static const char *planted_csv(double *mean_rmse) {
    static char path[700];
    snprintf(path, sizeof path, "%s/planted.csv", tu_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "user,item,rating,timestamp\n");
    fr_rng rng;
    fr_rng_init(&rng, 123, 0, 0, FR_PURPOSE_SYNTH);
    static double U[NU][RANK], V[NI][RANK];
    for (int u = 0; u < NU; u++) for (int k = 0; k < RANK; k++) U[u][k] = fr_rng_normal(&rng);
    for (int i = 0; i < NI; i++) for (int k = 0; k < RANK; k++) V[i][k] = fr_rng_normal(&rng);
    double sum = 0, sum2 = 0;
    int n = 0;
    int32_t items[NI];
    for (int u = 0; u < NU; u++) {
        for (int i = 0; i < NI; i++) items[i] = i;
        fr_rng_shuffle_i32(&rng, items, NI);
        for (int j = 0; j < PER_USER; j++) {
            int i = items[j];
            double s = 0;
            for (int k = 0; k < RANK; k++) s += U[u][k] * V[i][k];
            double r = round(3.0 + 0.8 * s);
            r = r < 1 ? 1 : r > 5 ? 5 : r;
            fprintf(f, "%d,%d,%g,%d\n", u + 1, i + 1, r, 1000 + j);
            sum += r;
            sum2 += r * r;
            n++;
        }
    }
    fclose(f);
    double mean = sum / n;
    *mean_rmse = sqrt(sum2 / n - mean * mean);
    return path;
}

static void base_config(fr_config *c, const char *data, const char *algorithm) {
    fr_config_defaults(c);
    snprintf(c->data_path, sizeof c->data_path, "%s", data);
    snprintf(c->algorithm, sizeof c->algorithm, "%s", algorithm);
    c->dim = 8;
    c->rounds = 150;
    c->clients_per_round = 40;
    c->batch_size = 5;
    c->client_lr = 0.5;
    c->recon_lr = 0.1;
    c->recon_epochs = 20;
    c->eval_recon_epochs = 20;
    c->eval_recon_lr = 0.1;
    c->eval_every = 50;
    c->central_epochs = 20;
    c->central_lr = 0.02;
    c->central_batch_size = 1;
}

static double number(const cJSON *o, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItem(cJSON_GetObjectItem(o, a), b);
    assert_non_null(x);
    return x->valuedouble;
}

static void test_recovers_planted_structure(void **state) {
    (void)state;
    double mean_rmse;
    const char *data = planted_csv(&mean_rmse);
    const char *algos[] = { "fedrecon", "fedavg", "central" };
    double rmse[3], acc[3];
    for (int a = 0; a < 3; a++) {
        fr_config c;
        base_config(&c, data, algos[a]);
        char out[800];
        snprintf(out, sizeof out, "%s/run-%s", tu_tmpdir(), algos[a]);
        fr_train_opts o = { out, 2, 0 };
        cJSON *final = NULL;
        fr_error err = { "" };
        fr_status st = fr_train_run(&c, &o, &final, &err);
        if (st != FR_OK) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(st, FR_OK);
        rmse[a] = number(final, "test", "rmse");
        acc[a] = number(final, "test", "rating_accuracy");
        printf("%-9s test rmse %.4f accuracy %.4f (predicting the mean: rmse %.4f)\n", algos[a],
               rmse[a], acc[a], mean_rmse);
        cJSON_Delete(final);
    }
    /* FedRecon learns items that let unseen users reconstruct: far better than the mean. */
    assert_true(rmse[0] < 0.75 * mean_rmse);
    assert_true(rmse[2] < 0.75 * mean_rmse);
    /* it is at least as good as the stateful baseline, up to noise */
    assert_true(rmse[0] <= rmse[1] + 0.05);
}

/* FedAdam (server Adam on the negated average delta) trains too, and its moments are
 * saved with the model. */
static void test_fedadam_trains_and_saves_moments(void **state) {
    (void)state;
    double mean_rmse;
    const char *data = planted_csv(&mean_rmse);
    fr_config c;
    base_config(&c, data, "fedrecon");
    snprintf(c.server_optimizer, sizeof c.server_optimizer, "adam");
    c.server_lr = 0.01;
    char out[800];
    snprintf(out, sizeof out, "%s/run-adam", tu_tmpdir());
    fr_train_opts o = { out, 2, 0 };
    cJSON *final = NULL;
    fr_error err = { "" };
    assert_int_equal(fr_train_run(&c, &o, &final, &err), FR_OK);
    double rmse = number(final, "test", "rmse");
    printf("fedadam   test rmse %.4f (predicting the mean: rmse %.4f)\n", rmse, mean_rmse);
    assert_true(rmse < 0.75 * mean_rmse);
    cJSON_Delete(final);
    char path[900];
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    fr_safetensors ck;
    assert_int_equal(fr_safetensors_read(path, &ck, &err), FR_OK);
    assert_non_null(fr_safetensors_get(&ck, "server_optimizer.m"));
    assert_non_null(fr_safetensors_get(&ck, "server_optimizer.v"));
    assert_string_equal(fr_safetensors_meta(&ck, "server_optimizer_steps"), "150");
    assert_null(fr_safetensors_get(&ck, "user_embedding"));
    fr_safetensors_free(&ck);
}

static void test_update_carries_item_rows_only(void **state) {
    (void)state;
    /* one user, 20 ratings of distinct items, batches of 5: 4 batches, odd ones train */
    int64_t users[20], items[20], times[20];
    float ratings[20];
    for (int i = 0; i < 20; i++) {
        users[i] = 1; items[i] = 100 + i; ratings[i] = (float)(1 + i % 5); times[i] = i;
    }
    fr_dataset ds;
    fr_error err;
    assert_int_equal(fr_dataset_from_triples(&ds, 20, users, items, ratings, times, &err), FR_OK);
    fr_mf_model m;
    assert_int_equal(fr_mf_create(&m, ds.n_items, 4, 0, 0.05, 1, &err), FR_OK);
    fr_config c;
    fr_config_defaults(&c);
    fr_mf_client_cfg cc;
    fr_mf_client_cfg_train(&cc, &c);
    fr_mf_client *cl;
    assert_int_equal(fr_mf_client_create(&cl, 4, 0, &err), FR_OK);
    fr_update u;
    memset(&u, 0, sizeof u);
    assert_int_equal(fr_fedrecon_client_update(&u, cl, &m, fr_dataset_user(&ds, 0), &cc, 1, 1, &err), FR_OK);
    /* split on: two odd batches of 5 train -> 10 rows, weight 10 */
    assert_int_equal(u.n_rows, 10);
    assert_true(u.weight == 10.0);
    assert_int_equal(u.n_examples, 10);
    /* on the wire: 10 ids and 10 rows of K floats, nothing else */
    assert_int_equal(fr_update_bytes(&u, &m.layout), 4 * (10 + 10 * 4));
    /* split off: every batch reconstructs and trains */
    cc.split = 0;
    assert_int_equal(fr_fedrecon_client_update(&u, cl, &m, fr_dataset_user(&ds, 0), &cc, 1, 1, &err), FR_OK);
    assert_int_equal(u.n_rows, 20);
    /* step caps: at most 1 training step of 5 examples */
    cc.train_steps_max = 1;
    assert_int_equal(fr_fedrecon_client_update(&u, cl, &m, fr_dataset_user(&ds, 0), &cc, 1, 1, &err), FR_OK);
    assert_int_equal(u.n_examples, 5);
    assert_int_equal(u.n_rows, 5);
    /* example cap: only the 8 earliest ratings are used */
    cc.train_steps_max = 0;
    cc.max_examples = 8;
    assert_int_equal(fr_fedrecon_client_update(&u, cl, &m, fr_dataset_user(&ds, 0), &cc, 1, 1, &err), FR_OK);
    for (int32_t r = 0; r < u.n_rows; r++) assert_true(u.rows[r] < 8);
    fr_update_free(&u);
    fr_mf_client_destroy(cl);
    fr_mf_destroy(&m);
    fr_dataset_free(&ds);
}

/* history.jsonl without its "seconds" fields */
static char *history_without_time(const char *dir) {
    char path[800];
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    char *text;
    size_t len;
    fr_error err;
    assert_int_equal(fr_read_file(path, &text, &len, &err), FR_OK);
    char *out = malloc(len + 1), *w = out;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        cJSON_DeleteItemFromObject(o, "seconds");
        char *s = cJSON_PrintUnformatted(o);
        w += sprintf(w, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
    fr_free(text);
    return out;
}

static void test_threads_bit_identical_and_eval_matches(void **state) {
    (void)state;
    double mean_rmse;
    const char *data = planted_csv(&mean_rmse);
    char dirs[2][800];
    cJSON *finals[2];
    for (int t = 0; t < 2; t++) {
        fr_config c;
        base_config(&c, data, "fedrecon");
        c.rounds = 20;
        c.eval_every = 5;
        snprintf(dirs[t], sizeof dirs[t], "%s/det-%d", tu_tmpdir(), t + 1);
        fr_train_opts o = { dirs[t], t + 1, 0 };
        fr_error err;
        assert_int_equal(fr_train_run(&c, &o, &finals[t], &err), FR_OK);
    }
    char *h1 = history_without_time(dirs[0]), *h2 = history_without_time(dirs[1]);
    assert_string_equal(h1, h2);
    free(h1);
    free(h2);
    char p1[900], p2[900];
    snprintf(p1, sizeof p1, "%s/model.safetensors", dirs[0]);
    snprintf(p2, sizeof p2, "%s/model.safetensors", dirs[1]);
    char *m1, *m2;
    size_t l1, l2;
    fr_error err;
    assert_int_equal(fr_read_file(p1, &m1, &l1, &err), FR_OK);
    assert_int_equal(fr_read_file(p2, &m2, &l2, &err), FR_OK);
    assert_int_equal(l1, l2);
    assert_memory_equal(m1, m2, l1);
    fr_free(m1);
    fr_free(m2);
    /* the checkpoint evaluates to final.json's test figures, on any thread count */
    cJSON *res = NULL;
    assert_int_equal(fr_eval_checkpoint(p1, "", "", 1, &res, &err), FR_OK);
    char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(res, "test"));
    char *b = cJSON_PrintUnformatted(cJSON_GetObjectItem(finals[0], "test"));
    assert_string_equal(a, b);
    free(a);
    free(b);
    cJSON_Delete(res);
    cJSON_Delete(finals[0]);
    cJSON_Delete(finals[1]);
}

/* MF runs in the shared engine: asynchronous FedBuff rounds of FedRecon and of the
 * stateful baseline learn the planted structure too, bit-identically on 1 and 2 threads. */
static void test_async_rounds(void **state) {
    (void)state;
    double mean_rmse;
    const char *data = planted_csv(&mean_rmse);
    const char *algos[] = { "fedrecon", "fedavg" };
    for (int a = 0; a < 2; a++) {
        char dirs[2][800];
        cJSON *finals[2];
        for (int t = 0; t < 2; t++) {
            fr_config c;
            base_config(&c, data, algos[a]);
            snprintf(c.mode, sizeof c.mode, "async");
            c.async_concurrency = 60;
            c.async_buffer = 20;
            c.eval_every = 10;
            snprintf(dirs[t], sizeof dirs[t], "%s/async-%s-%d", tu_tmpdir(), algos[a], t + 1);
            fr_train_opts o = { dirs[t], t + 1, 0 };
            fr_error err = { "" };
            fr_status st = fr_train_run(&c, &o, &finals[t], &err);
            if (st != FR_OK) fprintf(stderr, "%s\n", err.msg);
            assert_int_equal(st, FR_OK);
        }
        char *h1 = history_without_time(dirs[0]), *h2 = history_without_time(dirs[1]);
        assert_string_equal(h1, h2);
        assert_non_null(strstr(h1, "\"staleness_mean\""));
        free(h1);
        free(h2);
        double rmse = number(finals[0], "test", "rmse");
        printf("async %-8s test rmse %.4f, best round %d (predicting the mean: rmse %.4f)\n",
               algos[a], rmse, (int)cJSON_GetObjectItem(finals[0], "best_round")->valuedouble,
               mean_rmse);
        assert_true(rmse < 0.8 * mean_rmse);
        cJSON_Delete(finals[0]);
        cJSON_Delete(finals[1]);
    }
}

static void test_bad_data_writes_nothing(void **state) {
    (void)state;
    const char *bad = tu_write("bad.csv", "user,item,rating\n1,2,3\n1,x,4\n");
    fr_config c;
    base_config(&c, bad, "fedrecon");
    char out[800];
    snprintf(out, sizeof out, "%s/never", tu_tmpdir());
    fr_train_opts o = { out, 1, 0 };
    fr_error err = { "" };
    assert_int_equal(fr_train_run(&c, &o, NULL, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "bad.csv:3:"));
    assert_false(tu_exists(out));
}

static int teardown(void **state) {
    (void)state;
    tu_tmpdir_cleanup();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_carries_item_rows_only),
        cmocka_unit_test(test_async_rounds),
        cmocka_unit_test(test_bad_data_writes_nothing),
        cmocka_unit_test(test_threads_bit_identical_and_eval_matches),
        cmocka_unit_test(test_recovers_planted_structure),
        cmocka_unit_test(test_fedadam_trains_and_saves_moments),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
