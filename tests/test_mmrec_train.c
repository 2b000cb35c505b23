/* test_mmrec_train.c - FedMem / FedDMMR (model mmrec) through `fedrec train` on data the
 * test writes: a MovieLens-100K directory whose 4 taste groups of items carry their
 * group's word in the title (so the built-in text encoder separates them), each user
 * clicking items of one group in random order.
 *
 * Checked: the full FedMem run learns (sampled HR@10 well above chance), its history
 * records memory updates and prototype bytes (counted in bytes_up) and the global
 * memory travels down and is saved in model.safetensors; the run is bit-identical on 1
 * and 2 threads; a stage started from a checkpoint with item and SASRec frozen leaves
 * those tensors exactly as the checkpoint had them and trains the experts; bad freeze
 * groups and missing checkpoints are clear errors. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/config.h"
#include "fedrec/fileio.h"
#include "fedrec/rng.h"
#include "fedrec/safetensors.h"
#include "fedrec/train.h"

enum { USERS = 80, ITEMS = 80, GROUPS = 4, PER = 16 };

static const char *planted(void) {
    static char dir[700];
    static const char *word[GROUPS] = { "Space Robots", "Love Letters", "Haunted House", "Cowboy Gold" };
    snprintf(dir, sizeof dir, "%s/mm100k", tu_tmpdir());
    char path[800];
    fr_error err;
    assert_int_equal(fr_mkdirs(dir, &err), FR_OK);
    snprintf(path, sizeof path, "%s/u.item", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const int block = ITEMS / GROUPS;
    for (int i = 0; i < ITEMS; i++)
        fprintf(f, "%d|%s %d (199%d)|01-Jan-1995||http://x|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n",
                i + 1, word[i / block], i, i % 10);
    fclose(f);
    snprintf(path, sizeof path, "%s/u.data", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fr_rng rng;
    fr_rng_init(&rng, 9, 0, 0, FR_PURPOSE_SYNTH);
    for (int u = 0; u < USERS; u++) {
        int32_t items[ITEMS / GROUPS];
        for (int i = 0; i < block; i++) items[i] = (u % GROUPS) * block + i;
        fr_rng_shuffle_i32(&rng, items, block);
        for (int j = 0; j < PER; j++) fprintf(f, "%d\t%d\t4\t%d\n", u + 1, items[j] + 1, 1000 + j);
    }
    fclose(f);
    return dir;
}

static fr_status run(const char *dir, int threads, const char *const *sets, int n, cJSON **final,
                     fr_error *err) {
    fr_config c;
    fr_config_defaults(&c);
    const char *base[] = { "model.model=mmrec", "model.dim=16", "model.blocks=1", "model.heads=1",
                           "model.maxlen=20", "model.dropout=0.1", "mm.text_dim=32", "mm.heads=2",
                           "mm.fusion=adaptive", "mm.loss=bpr", "mm.contrastive_lambda=0.1",
                           "train.algorithm=fedavg", "train.rounds=40", "train.clients_per_round=40",
                           "train.client_lr=1", "train.negatives=4", "train.server_optimizer=adam",
                           "train.server_lr=0.01", "memory.enabled=true", "memory.capacity=8",
                           "memory.prototypes=3", "memory.surprise_threshold=0.3",
                           "eval.every=10", "eval.negatives=20", "eval.full=true" };
    for (size_t i = 0; i < sizeof base / sizeof *base; i++)
        assert_int_equal(fr_config_set(&c, base[i], err), FR_OK);
    for (int i = 0; i < n; i++)
        if (fr_config_set(&c, sets[i], err) != FR_OK) fail_msg("%s: %s", sets[i], err->msg);
    snprintf(c.data_path, sizeof c.data_path, "%s", planted());
    fr_train_opts o = { dir, threads, 0 };
    return fr_train_run(&c, &o, final, err);
}

static cJSON *run_ok(const char *name, int threads, const char *const *sets, int n) {
    char dir[800];
    snprintf(dir, sizeof dir, "%s/%s", tu_tmpdir(), name);
    cJSON *final = NULL;
    fr_error err;
    if (run(dir, threads, sets, n, &final, &err) != FR_OK) fail_msg("%s: %s", name, err.msg);
    return final;
}

static double metric(const cJSON *f, const char *proto, const char *key) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "test"), proto), key)->valuedouble;
}

static char *slurp(const char *name, const char *file) {
    char path[900];
    snprintf(path, sizeof path, "%s/%s/%s", tu_tmpdir(), name, file);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

/* The value of key in every history line, summed, and the line count. */
static double history_sum(const char *hist, const char *key, int *lines) {
    double s = 0.0;
    *lines = 0;
    for (const char *p = hist; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *line = malloc(len + 1);
        memcpy(line, p, len);
        line[len] = 0;
        cJSON *j = cJSON_Parse(line);
        free(line);
        if (j) {
            const cJSON *v = cJSON_GetObjectItem(j, key);
            assert_non_null(v);
            s += v->valuedouble;
            (*lines)++;
            cJSON_Delete(j);
        }
        p += len + (e ? 1 : 0);
    }
    return s;
}

static const fr_st_tensor *tensor(const fr_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

static void test_fedmem_learns_and_records_memory(void **state) {
    (void)state;
    cJSON *f1 = run_ok("fedmem-1", 1, NULL, 0);
    cJSON *f2 = run_ok("fedmem-2", 2, NULL, 0);
    const double hr = metric(f1, "sampled", "hr@10");
    /* chance: 10 of 21 candidates is 0.48 */
    print_message("FedMem planted test HR@10 sampled %.3f full %.3f\n", hr, metric(f1, "full", "hr@10"));
    assert_true(hr >= 0.85);
    char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(f1, "test"));
    char *b = cJSON_PrintUnformatted(cJSON_GetObjectItem(f2, "test"));
    assert_string_equal(a, b);
    free(a);
    free(b);
    char *h1 = slurp("fedmem-1", "history.jsonl"), *h2 = slurp("fedmem-2", "history.jsonl");
    int lines;
    assert_true(history_sum(h1, "memory_updates", &lines) > 0);
    assert_int_equal(lines, 40);
    const double proto = history_sum(h1, "proto_bytes_up", &lines);
    /* every client uploads 3 prototypes of 32 floats once its memory holds 3 items */
    assert_true(proto > 0 && fmod(proto, 3 * 32 * 4) == 0.0);
    assert_true(history_sum(h1, "global_memory_rows", &lines) > 0);
    /* identical histories up to the wall-clock seconds */
    int l2;
    assert_true(history_sum(h1, "loss", &lines) == history_sum(h2, "loss", &l2));
    assert_true(history_sum(h1, "bytes_down", &lines) == history_sum(h2, "bytes_down", &l2));
    free(h1);
    free(h2);
    char path[900];
    snprintf(path, sizeof path, "%s/fedmem-1/model.safetensors", tu_tmpdir());
    fr_safetensors st;
    fr_error err;
    assert_int_equal(fr_safetensors_read(path, &st, &err), FR_OK);
    const fr_st_tensor *g = tensor(&st, "memory.global");
    assert_non_null(g);
    fr_safetensors_free(&st);
    cJSON_Delete(f1);
    cJSON_Delete(f2);
}

static void test_stage_freezes_and_starts_from_checkpoint(void **state) {
    (void)state;
    const char *s1[] = { "mm.fusion=none", "memory.enabled=false", "train.freeze=experts",
                         "train.rounds=20" };
    cJSON *f1 = run_ok("stage1", 2, s1, 4);
    char ck[900];
    snprintf(ck, sizeof ck, "init_from=%s/stage1/model.safetensors", tu_tmpdir());
    char set_init[1000];
    snprintf(set_init, sizeof set_init, "train.%s", ck);
    const char *s2[] = { "mm.fusion=residual", "train.freeze=item,sasrec", "train.rounds=10",
                         set_init };
    cJSON *f2 = run_ok("stage2", 2, s2, 4);
    char p1[900], p2[900];
    snprintf(p1, sizeof p1, "%s/stage1/model.safetensors", tu_tmpdir());
    snprintf(p2, sizeof p2, "%s/stage2/model.safetensors", tu_tmpdir());
    fr_safetensors a, b;
    fr_error err;
    assert_int_equal(fr_safetensors_read(p1, &a, &err), FR_OK);
    assert_int_equal(fr_safetensors_read(p2, &b, &err), FR_OK);
    int same = 0, changed = 0;
    for (int i = 0; i < b.n; i++) {
        const fr_st_tensor *t2 = &b.tensors[i], *t1 = tensor(&a, t2->name);
        if (!t1 || strncmp(t2->name, "server_optimizer", 16) == 0) continue;
        const int eq = t1->numel == t2->numel && memcmp(t1->data, t2->data, (size_t)t1->numel * 4) == 0;
        if (strncmp(t2->name, "mm.", 3) == 0) {
            changed += !eq;  /* trained experts differ from stage 1's untouched init */
        } else {
            if (!eq) fail_msg("frozen tensor %s changed in stage 2", t2->name);
            same++;
        }
    }
    assert_true(same >= 10);
    assert_true(changed >= 4);
    fr_safetensors_free(&a);
    fr_safetensors_free(&b);
    cJSON_Delete(f1);
    cJSON_Delete(f2);
}

static void test_errors(void **state) {
    (void)state;
    char dir[800];
    snprintf(dir, sizeof dir, "%s/bad", tu_tmpdir());
    cJSON *final = NULL;
    fr_error err;
    const char *bad_group[] = { "train.freeze=item,blocks" };
    assert_int_equal(run(dir, 1, bad_group, 1, &final, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "blocks"));
    const char *missing[] = { "train.init_from=/nonexistent/model.safetensors" };
    assert_int_equal(run(dir, 1, missing, 1, &final, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "/nonexistent/model.safetensors"));
    const char *all[] = { "train.freeze=item,sasrec,experts,fusion" };
    assert_int_equal(run(dir, 1, all, 1, &final, &err), FR_ERR_USAGE);
    assert_null(final);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fedmem_learns_and_records_memory),
        cmocka_unit_test(test_stage_freezes_and_starts_from_checkpoint),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
