/* test_ncf_train.c - the implicit-feedback recommenders end to end on planted data:
 * users fall in 4 taste groups, each clicking items of its own block of the catalogue.
 * FedMF, PFedRec, FedNCF and centralized training (MLP scorer) must rank a held-out
 * click of the user's block above random negatives far better than chance, identically
 * on 1 and 2 threads.
 * FedNCF runs with the reference's own K = 32 and lr_eta = 80 (configs/pfedrec-ml100k.ini),
 * not FedMF's K = 8 and lr_eta = 4: at nn.Linear's init the MLP passes a user or item row
 * about 1/100 of the gradient a dot product does (|dz/dq| 0.025 against |u| 2.8), so with
 * lr_eta = 4 the user vectors stay together (spread 0.03 after 40 rounds) and the model
 * scores item popularity only, which is flat here (HR@10 at chance, 0.48). Even at
 * lr_eta = 80 it sits on that plateau for 60-150 rounds before users separate; with
 * K = 8 its 2-unit last hidden layer is dead for every input at some seeds' init. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/config.h"
#include "fedrec/npy.h"
#include "fedrec/rng.h"
#include "fedrec/train.h"

enum { USERS = 160, ITEMS = 120, GROUPS = 4, PER = 14 };

/* user,item,rating,timestamp: user u clicks PER random items of block u % GROUPS. */
static const char *planted(void) {
    static char path[700];
    snprintf(path, sizeof path, "%s/clicks.csv", tu_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "user,item,rating,timestamp\n");
    fr_rng rng;
    fr_rng_init(&rng, 5, 0, 0, FR_PURPOSE_SYNTH);
    const int block = ITEMS / GROUPS;
    for (int u = 0; u < USERS; u++) {
        int32_t items[ITEMS / GROUPS];
        for (int i = 0; i < block; i++) items[i] = (u % GROUPS) * block + i;
        fr_rng_shuffle_i32(&rng, items, block);
        for (int j = 0; j < PER; j++) fprintf(f, "%d,%d,4,%d\n", u + 1, items[j] + 1, 100 + j);
    }
    fclose(f);
    return path;
}

static cJSON *run(const char *data, const char *dir, int threads, const char *const *sets, int n) {
    fr_config c;
    fr_config_defaults(&c);
    const char *base[] = { "model.model=ncf", "model.dim=8", "train.batch_size=32", "train.negatives=4",
                           "train.client_lr=0.1", "train.lr_eta=4", "train.clients_fraction=1",
                           "train.weighting=uniform", "eval.every=5", "eval.negatives=20",
                           "eval.paired_negatives=true", "central.lr=0.01", "central.epochs=30" };
    fr_error err;
    for (size_t i = 0; i < sizeof base / sizeof *base; i++)
        assert_int_equal(fr_config_set(&c, base[i], &err), FR_OK);
    for (int i = 0; i < n; i++)
        if (fr_config_set(&c, sets[i], &err) != FR_OK) fail_msg("%s: %s", sets[i], err.msg);
    snprintf(c.data_path, sizeof c.data_path, "%s", data);
    fr_train_opts o = { dir, threads, 0 };
    cJSON *final = NULL;
    fr_status st = fr_train_run(&c, &o, &final, &err);
    if (st != FR_OK) fail_msg("%s", err.msg);
    return final;
}

static double hr10(const cJSON *f, const char *proto) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "test"), proto), "hr@10")->valuedouble;
}

static void check(const char *name, const char *const *sets, int n, double min_hr) {
    const char *data = planted();
    char d1[800], d2[800];
    snprintf(d1, sizeof d1, "%s/%s-1", tu_tmpdir(), name);
    snprintf(d2, sizeof d2, "%s/%s-2", tu_tmpdir(), name);
    cJSON *f1 = run(data, d1, 1, sets, n), *f2 = run(data, d2, 2, sets, n);
    double hr = hr10(f1, "sampled");
    /* chance: 10 of 21 candidates; the block holds 30 items, 14 clicked, so a negative
     * from the user's own block is rare (16 of 106) */
    print_message("%-8s test HR@10 sampled %.3f full %.3f\n", name, hr, hr10(f1, "full"));
    assert_true(hr >= min_hr);
    char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(f1, "test"));
    char *b = cJSON_PrintUnformatted(cJSON_GetObjectItem(f2, "test"));
    assert_string_equal(a, b);
    free(a);
    free(b);
    cJSON_Delete(f1);
    cJSON_Delete(f2);
}

static void test_fedmf(void **state) {
    (void)state;
    const char *s[] = { "model.scorer=dot", "train.algorithm=fedavg", "train.rounds=40" };
    check("fedmf", s, 3, 0.9);
}

static void test_pfedrec(void **state) {
    (void)state;
    const char *s[] = { "model.scorer=affine", "train.algorithm=pfedrec", "train.rounds=40" };
    check("pfedrec", s, 3, 0.9);
}

static void test_fedncf(void **state) {
    (void)state;
    const char *s[] = { "model.scorer=mlp", "train.algorithm=fedavg", "train.rounds=120",
                        "model.dim=32", "train.lr_eta=80" };
    check("fedncf", s, 5, 0.9);
}

static void test_central(void **state) {
    (void)state;
    const char *s[] = { "model.scorer=mlp", "train.algorithm=central" };
    check("central", s, 2, 0.9);
}

/* GPFedRec: a local dot scorer's user vector, item rows pulled toward the user's
 * graph aggregate over its 5 most similar users' tables. */
static void test_gpfedrec(void **state) {
    (void)state;
    const char *s[] = { "model.scorer=dot", "train.algorithm=gpfedrec", "train.rounds=40",
                        "graph.top_n=5" };
    check("gpfedrec", s, 4, 0.9);
}

/* A run's history.jsonl without its wall times: every round's loss, and the
 * validation figures of the rounds that validated. */
static char *history_text(const char *dir) {
    char path[900], line[8192];
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 1 << 20, len = 0;
    char *out = calloc(cap, 1);
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        cJSON_DeleteItemFromObject(j, "seconds");
        cJSON_DeleteItemFromObject(j, "eval_seconds");
        char *t = cJSON_PrintUnformatted(j);
        len += (size_t)snprintf(out + len, cap - len, "%s\n", t);
        free(t);
        cJSON_Delete(j);
        assert_true(len < cap);
    }
    fclose(f);
    return out;
}

/* Two runs of the planted data on 2 threads that must give the same history, round by
 * round, and the same test figures. */
static void same_runs(const char *name, const char *const *a_sets, const char *const *b_sets,
                      int n) {
    const char *data = planted();
    char d1[800], d2[800];
    snprintf(d1, sizeof d1, "%s/%s-a", tu_tmpdir(), name);
    snprintf(d2, sizeof d2, "%s/%s-b", tu_tmpdir(), name);
    cJSON *f1 = run(data, d1, 2, a_sets, n), *f2 = run(data, d2, 2, b_sets, n);
    char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(f1, "test"));
    char *b = cJSON_PrintUnformatted(cJSON_GetObjectItem(f2, "test"));
    assert_string_equal(a, b);
    char *la = history_text(d1), *lb = history_text(d2);
    assert_non_null(strstr(la, "\"valid\""));
    assert_string_equal(la, lb);
    free(a);
    free(b);
    free(la);
    free(lb);
    cJSON_Delete(f1);
    cJSON_Delete(f2);
}

/* GPFedRec on the broad graph (users above the mean similarity): the clients' R_i rows
 * made by the server for all of them at once, item by item (graph.mix = items), for
 * training and for evaluation, give exactly what each client's own request gives
 * (users): the same history, round by round, and the same figures. */
static void test_gpfedrec_mix_forms(void **state) {
    (void)state;
    const char *items[] = { "model.scorer=dot", "train.algorithm=gpfedrec", "train.rounds=12",
                            "graph.top_n=0", "graph.reg=0.1", "graph.mix=items" };
    const char *users[] = { "model.scorer=dot", "train.algorithm=gpfedrec", "train.rounds=12",
                            "graph.top_n=0", "graph.reg=0.1", "graph.mix=users" };
    same_runs("gp", items, users, 6);
}

/* GPFedRec with the published code's whole tables (graph.tables = dense): the server
 * keeps every user's table and R_i; the same planted groups must come out. */
static void test_gpfedrec_whole_tables(void **state) {
    (void)state;
    const char *s[] = { "model.scorer=dot", "train.algorithm=gpfedrec", "train.rounds=40",
                        "graph.top_n=5", "graph.tables=dense" };
    check("gp-dense", s, 5, 0.9);
}

/* UFGraphFR: the user vector is the joint layer over text features; here the features
 * (a .npy written by the test) carry the taste group plus noise, so the joint layer can
 * map them to group vectors, and the graph over the layers links users of a group. */
static void test_ufgraphfr(void **state) {
    (void)state;
    enum { T = 6 };
    static float feat[USERS * T];
    tu_fill_normal(feat, USERS * T, 3, 0, 0.1);
    for (int u = 0; u < USERS; u++) feat[u * T + u % GROUPS] += 1.0f;
    char path[800], set[900];
    snprintf(path, sizeof path, "%s/user_text.npy", tu_tmpdir());
    fr_error err;
    assert_int_equal(fr_npy_write(path, feat, USERS, T, &err), FR_OK);
    snprintf(set, sizeof set, "graph.user_features=%s", path);
    const char *s[] = { "model.scorer=dot", "train.algorithm=ufgraphfr", "train.rounds=40",
                        "graph.top_n=5", set };
    check("ufgraphfr", s, 5, 0.9);
    /* its graph comes from the joint layers, so the batched mixing builds the item
     * index itself; forced on, it trains exactly as the per-client form */
    const char *items[] = { "model.scorer=dot", "train.algorithm=ufgraphfr", "train.rounds=12",
                            "graph.top_n=5", set, "graph.mix=items" };
    const char *users[] = { "model.scorer=dot", "train.algorithm=ufgraphfr", "train.rounds=12",
                            "graph.top_n=5", set, "graph.mix=users" };
    same_runs("uf", items, users, 6);
}

/* PFedRec needs the affine scorer; ncf clients report no selection score. */
static void test_bad_settings(void **state) {
    (void)state;
    const char *data = planted();
    fr_config c;
    fr_config_defaults(&c);
    fr_error err;
    assert_int_equal(fr_config_set(&c, "model.model=ncf", &err), FR_OK);
    assert_int_equal(fr_config_set(&c, "train.algorithm=pfedrec", &err), FR_OK);
    assert_int_equal(fr_config_set(&c, "model.scorer=dot", &err), FR_OK);
    snprintf(c.data_path, sizeof c.data_path, "%s", data);
    char dir[800];
    snprintf(dir, sizeof dir, "%s/bad", tu_tmpdir());
    fr_train_opts o = { dir, 1, 0 };
    assert_int_equal(fr_train_run(&c, &o, NULL, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "model.scorer = affine"));
    assert_false(tu_exists(dir));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fedmf),
        cmocka_unit_test(test_pfedrec),
        cmocka_unit_test(test_fedncf),
        cmocka_unit_test(test_gpfedrec),
        cmocka_unit_test(test_gpfedrec_mix_forms),
        cmocka_unit_test(test_gpfedrec_whole_tables),
        cmocka_unit_test(test_ufgraphfr),
        cmocka_unit_test(test_central),
        cmocka_unit_test(test_bad_settings),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
