/* test_sasrec.c - SASRec as a whole: a finite-difference check of every parameter's
 * gradient on a tiny model (both layer-norm placements, both activations, with dropout
 * replayed from fixed streams), the packing rules (truncation, padding row, touched
 * rows), and end-to-end training on planted sequences it must learn, bit-identical on
 * one and two threads. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/config.h"
#include "fedrec/fileio.h"
#include "fedrec/safetensors.h"
#include "fedrec/sasrec.h"
#include "fedrec/sasrec_client.h"
#include "fedrec/train.h"

enum { NI = 8, C = 4, MAXLEN = 5 };

/* Two sequences: one shorter than maxlen, one longer (cut to its last 5). */
static const int32_t in_a[3] = { 0, 3, 5 }, tg_a[3] = { 3, 5, -1 }, ng_a[3] = { 6, 1, 0 };
static const int32_t in_b[7] = { 7, 7, 4, 6, 0, 2, 3 }, tg_b[7] = { 7, 4, 6, 0, 2, 3, 5 },
                     ng_b[7] = { 7, 7, 1, 3, 4, 1, 6 };

static void fill_batch(fr_sasrec_work *w) {
    fr_rng ra, rb;
    fr_rng_init(&ra, 9, 1, 0, FR_PURPOSE_DROPOUT);
    fr_rng_init(&rb, 9, 1, 1, FR_PURPOSE_DROPOUT);
    fr_sasrec_work_clear(w);
    assert_int_equal(fr_sasrec_work_add(w, in_a, tg_a, ng_a, 3, &ra, NULL), FR_OK);
    assert_int_equal(fr_sasrec_work_add(w, in_b, tg_b, ng_b, 7, &rb, NULL), FR_OK);
}

/* Perturbs the trained parameters away from their initial values (zero biases, unit
 * gains would hide some gradient paths). */
static void jiggle(fr_sasrec *m) {
    fr_rng r;
    fr_rng_init(&r, 5, 0, 0, FR_PURPOSE_EVAL);
    for (int64_t i = m->cfg.dim; i < m->layout.size; i++)
        m->params[i] += (float)(0.3 * fr_rng_normal(&r));
}

static double grad_check(int pre_ln, fr_activation act, int heads, float dropout) {
    fr_sasrec_cfg cfg = { NI, C, 2, heads, MAXLEN, dropout, act, pre_ln, 1e-5f };
    fr_sasrec m;
    assert_int_equal(fr_sasrec_create(&m, &cfg, 3, NULL), FR_OK);
    jiggle(&m);
    fr_sasrec_work *w;
    assert_int_equal(fr_sasrec_work_create(&w, &m, 2, 10, NULL), FR_OK);
    fill_batch(w);
    const int64_t P = m.layout.size;
    float *grad = fr_calloc((size_t)P, sizeof(float));
    uint8_t touched[NI + 1] = { 0 };
    int64_t npos = fr_sasrec_work_positions(w);
    assert_int_equal(npos, 2 + 5);
    fr_sasrec_forward(w, &m, m.params, 1);
    fr_sasrec_backward(w, &m, m.params, grad, touched, (float)(1.0 / (double)npos));
    /* the padding row neither gets a gradient nor counts as touched */
    for (int c = 0; c < C; c++) assert_true(grad[c] == 0.0f);
    assert_int_equal(touched[0], 0);
    double worst = 0.0;
    for (int64_t i = C; i < P; i++) {
        float x0 = m.params[i], h = 1e-2f;
        m.params[i] = x0 + h;
        double up = fr_sasrec_forward(w, &m, m.params, 1) / (double)npos;
        float xu = m.params[i];
        m.params[i] = x0 - h;
        double dn = fr_sasrec_forward(w, &m, m.params, 1) / (double)npos;
        float xd = m.params[i];
        m.params[i] = x0;
        double num = (up - dn) / ((double)xu - (double)xd);
        double rel = fabs(num - grad[i]) / fmax(2e-3, fabs(num) + fabs(grad[i]));
        if (rel > worst) worst = rel;
    }
    /* item 7 occurs only in b's cut-off prefix: untouched, zero gradient */
    assert_int_equal(touched[7 + 1], 0);
    for (int c = 0; c < C; c++) assert_true(grad[(7 + 1) * C + c] == 0.0f);
    assert_int_equal(touched[5 + 1], 1);
    /* directional derivatives along random directions: less noisy than one coordinate,
     * so a small missing term cannot hide */
    float *x0 = fr_alloc((size_t)P, sizeof(float)), *v = fr_alloc((size_t)P, sizeof(float));
    memcpy(x0, m.params, (size_t)P * sizeof(float));
    for (uint32_t d = 0; d < 4; d++) {
        tu_unit_direction(v, P, C, d);
        double gv = 0.0;
        for (int64_t i = 0; i < P; i++) gv += (double)grad[i] * v[i];
        const double h = 3e-2;
        for (int64_t i = 0; i < P; i++) m.params[i] = (float)(x0[i] + h * v[i]);
        double up = fr_sasrec_forward(w, &m, m.params, 1) / (double)npos;
        for (int64_t i = 0; i < P; i++) m.params[i] = (float)(x0[i] - h * v[i]);
        double dn = fr_sasrec_forward(w, &m, m.params, 1) / (double)npos;
        memcpy(m.params, x0, (size_t)P * sizeof(float));
        double num = (up - dn) / (2 * h);
        print_message("  direction %u: analytic %.6f numeric %.6f\n", d, gv, num);
        assert_true(fabs(num - gv) <= 2e-3 * fabs(gv) + 5e-5);
    }
    fr_free(x0);
    fr_free(v);
    fr_free(grad);
    fr_sasrec_work_destroy(w);
    fr_sasrec_destroy(&m);
    return worst;
}

static void test_gradients(void **state) {
    (void)state;
    double e;
    e = grad_check(1, FR_ACT_RELU, 1, 0.0f);
    print_message("pre-LN relu H=1: %.2e\n", e);
    assert_true(e < 2e-2);
    e = grad_check(0, FR_ACT_RELU, 2, 0.0f);
    print_message("post-LN relu H=2: %.2e\n", e);
    assert_true(e < 2e-2);
    e = grad_check(1, FR_ACT_GELU, 2, 0.3f);
    print_message("pre-LN gelu H=2 dropout: %.2e\n", e);
    assert_true(e < 2e-2);
    e = grad_check(0, FR_ACT_GELU, 1, 0.3f);
    print_message("post-LN gelu H=1 dropout: %.2e\n", e);
    assert_true(e < 2e-2);
}

/* Backward from a supplied gradient on the hidden states (what a model with its own
 * head does) gives SASRec's gradient bit for bit when that gradient is SASRec's BCE
 * term, and the hidden states are the packed tokens in order. */
static void test_backward_hidden_matches(void **state) {
    (void)state;
    fr_sasrec_cfg cfg = { NI, C, 2, 2, MAXLEN, 0.3f, FR_ACT_GELU, 0, 1e-5f };
    fr_sasrec m;
    assert_int_equal(fr_sasrec_create(&m, &cfg, 3, NULL), FR_OK);
    jiggle(&m);
    fr_sasrec_work *w;
    assert_int_equal(fr_sasrec_work_create(&w, &m, 2, 10, NULL), FR_OK);
    fill_batch(w);
    const int64_t P = m.layout.size;
    float *g1 = fr_calloc((size_t)P, sizeof(float)), *g2 = fr_calloc((size_t)P, sizeof(float));
    uint8_t t1[NI + 1] = { 0 }, t2[NI + 1] = { 0 };
    const float scale = 1.0f / 7.0f;
    fr_sasrec_forward(w, &m, m.params, 1);
    fr_sasrec_backward(w, &m, m.params, g1, t1, scale);
    assert_int_equal(fr_sasrec_work_seqs(w), 2);
    const int64_t *off = fr_sasrec_offsets(w);
    assert_true(off[0] == 0 && off[1] == 3 && off[2] == 8);
    const float *h = fr_sasrec_hidden(w);
    assert_true(h + 7 * C == fr_sasrec_last_hidden(w, 1));
    /* dh and the item rows' gradient of the BCE term, as fr_sasrec_backward forms them */
    float dh[8 * C] = { 0 };
    const int32_t *tg[2] = { tg_a, tg_b + 2 }, *ng[2] = { ng_a, ng_b + 2 };
    fr_sasrec_tensors t, g;
    fr_sasrec_tensors_of(&t, &m, m.params);
    fr_sasrec_tensors_of(&g, &m, g2);
    for (int s = 0; s < 2; s++)
        for (int64_t i = off[s]; i < off[s + 1]; i++) {
            int32_t tp = tg[s][i - off[s]], tn = ng[s][i - off[s]];
            if (tp < 0) continue;
            const float *ep = t.item + (tp + 1) * C, *en = t.item + (tn + 1) * C;
            double zp = 0.0, zn = 0.0;
            for (int c = 0; c < C; c++) zp += (double)h[i * C + c] * ep[c];
            for (int c = 0; c < C; c++) zn += (double)h[i * C + c] * en[c];
            double dzp = -(1.0 / (1.0 + exp((double)(float)zp))) * scale;
            double dzn = (1.0 / (1.0 + exp(-(double)(float)zn))) * scale;
            for (int c = 0; c < C; c++) {
                dh[i * C + c] += (float)(dzp * ep[c] + dzn * en[c]);
                g.item[(tp + 1) * C + c] += (float)(dzp * h[i * C + c]);
                g.item[(tn + 1) * C + c] += (float)(dzn * h[i * C + c]);
            }
            t2[tp + 1] = t2[tn + 1] = 1;
        }
    fr_sasrec_backward_hidden(w, &m, m.params, dh, g2, t2);
    assert_memory_equal(g1, g2, (size_t)P * sizeof(float));
    assert_memory_equal(t1, t2, sizeof t1);
    fr_free(g1);
    fr_free(g2);
    fr_sasrec_work_destroy(w);
    fr_sasrec_destroy(&m);
}

/* Scoring equals the last position of a packed forward, whatever else is packed. */
static void test_score_matches_packed(void **state) {
    (void)state;
    fr_sasrec_cfg cfg = { NI, C, 2, 2, MAXLEN, 0.2f, FR_ACT_RELU, 1, 1e-8f };
    fr_sasrec m;
    assert_int_equal(fr_sasrec_create(&m, &cfg, 4, NULL), FR_OK);
    fr_sasrec_work *w, *w1;
    assert_int_equal(fr_sasrec_work_create(&w, &m, 2, 10, NULL), FR_OK);
    assert_int_equal(fr_sasrec_work_create(&w1, &m, 1, MAXLEN, NULL), FR_OK);
    fill_batch(w);
    fr_sasrec_forward(w, &m, m.params, 0);
    const float *h = fr_sasrec_last_hidden(w, 1);
    int32_t cands[NI];
    float scores[NI];
    for (int i = 0; i < NI; i++) cands[i] = i;
    assert_int_equal(fr_sasrec_score(w1, &m, m.params, in_b, 7, cands, NI, scores, NULL), FR_OK);
    fr_sasrec_tensors t;
    fr_sasrec_tensors_of(&t, &m, m.params);
    for (int i = 0; i < NI; i++) {
        double s = 0.0;
        for (int c = 0; c < C; c++) s += (double)h[c] * t.item[(i + 1) * C + c];
        assert_true(fabs(s - scores[i]) < 1e-5);
    }
    /* a full workspace is an error, not an overflow */
    fr_error err;
    fr_rng r;
    fr_rng_init(&r, 1, 0, 0, FR_PURPOSE_DROPOUT);
    fr_sasrec_work_clear(w1);
    assert_int_equal(fr_sasrec_work_add(w1, in_a, NULL, NULL, 3, &r, &err), FR_OK);
    assert_int_equal(fr_sasrec_work_add(w1, in_a, NULL, NULL, 3, &r, &err), FR_ERR_RUNTIME);
    fr_sasrec_work_destroy(w);
    fr_sasrec_work_destroy(w1);
    fr_sasrec_destroy(&m);
}

/* Planted sequences: every user walks the item cycle 0 -> 1 -> ... -> N-1 -> 0 from a
 * random start, so the next item is a function of the last one. */
static const char *write_cycles(int users, int items) {
    size_t cap = (size_t)users * 40 * 8 + 64;
    char *text = malloc(cap), *p = text;
    fr_rng r;
    fr_rng_init(&r, 11, 0, 0, FR_PURPOSE_SYNTH);
    for (int u = 0; u < users; u++) {
        int len = 12 + (int)fr_rng_below(&r, 14), cur = (int)fr_rng_below(&r, (uint32_t)items);
        p += sprintf(p, "%d", u + 1);
        for (int j = 0; j < len; j++, cur = (cur + 1) % items) p += sprintf(p, " %d", cur + 1);
        p += sprintf(p, "\n");
    }
    const char *path = tu_write("cycles.txt", text);
    free(text);
    return path;
}

static cJSON *train_with(const char *data, const char *dir, int threads, const char **extra,
                         int n_extra) {
    fr_config c;
    fr_config_defaults(&c);
    const char *sets[] = { "model.model=sasrec", "train.algorithm=central", "data.format=seq",
                           "model.dim=16", "model.blocks=1", "model.heads=2", "model.maxlen=16",
                           "model.dropout=0.1", "central.epochs=25", "central.lr=0.01",
                           "central.batch_size=32", "eval.negatives=20", "eval.every=5" };
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        assert_int_equal(fr_config_set(&c, sets[i], NULL), FR_OK);
    for (int i = 0; i < n_extra; i++) assert_int_equal(fr_config_set(&c, extra[i], NULL), FR_OK);
    snprintf(c.data_path, sizeof c.data_path, "%s", data);
    fr_train_opts o = { dir, threads, 0 };
    cJSON *final = NULL;
    fr_error err;
    fr_status st = fr_train_run(&c, &o, &final, &err);
    if (st != FR_OK) print_error("%s\n", err.msg);
    assert_int_equal(st, FR_OK);
    return final;
}

static cJSON *train(const char *data, const char *dir, int threads) {
    return train_with(data, dir, threads, NULL, 0);
}

static double metric(const cJSON *final, const char *proto, const char *key) {
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(final, "test"), proto);
    return cJSON_GetNumberValue(cJSON_GetObjectItem(t, key));
}

static void test_learns_cycles_and_is_thread_invariant(void **state) {
    (void)state;
    const char *data = write_cycles(300, 60);
    char d1[1024], d2[1024];
    snprintf(d1, sizeof d1, "%s/run1", tu_tmpdir());
    snprintf(d2, sizeof d2, "%s/run2", tu_tmpdir());
    cJSON *f1 = train(data, d1, 1), *f2 = train(data, d2, 2);
    double hr = metric(f1, "sampled", "hr@10"), full = metric(f1, "full", "hr@1");
    print_message("cycles: sampled HR@10 %.3f, full HR@1 %.3f (chance 0.48 / 0.03)\n", hr, full);
    assert_true(hr > 0.95);
    assert_true(full > 0.8);
    /* same figures and the same checkpoint bytes on one and two threads */
    char *t1 = cJSON_PrintUnformatted(cJSON_GetObjectItem(f1, "test"));
    char *t2 = cJSON_PrintUnformatted(cJSON_GetObjectItem(f2, "test"));
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    char p1[1100], p2[1100];
    snprintf(p1, sizeof p1, "%s/model.safetensors", d1);
    snprintf(p2, sizeof p2, "%s/model.safetensors", d2);
    char *b1, *b2;
    size_t n1, n2;
    assert_int_equal(fr_read_file(p1, &b1, &n1, NULL), FR_OK);
    assert_int_equal(fr_read_file(p2, &b2, &n2, NULL), FR_OK);
    assert_true(n1 == n2 && memcmp(b1, b2, n1) == 0);
    fr_free(b1);
    fr_free(b2);
    /* `fedrec eval` on the checkpoint gives final.json's test object */
    cJSON *re = NULL;
    assert_int_equal(fr_eval_checkpoint(p1, "", "", 2, &re, NULL), FR_OK);
    t1 = cJSON_PrintUnformatted(cJSON_GetObjectItem(re, "test"));
    t2 = cJSON_PrintUnformatted(cJSON_GetObjectItem(f1, "test"));
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    cJSON_Delete(re);
    cJSON_Delete(f1);
    cJSON_Delete(f2);
}

/* Reads a run's checkpoint as one float array (tensors in file order). */
static float *load_params(const char *dir, int64_t *n) {
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    fr_safetensors st;
    assert_int_equal(fr_safetensors_read(path, &st, NULL), FR_OK);
    const char *names[] = { "item_embedding", "pos_embedding", "block0.qkv_w", "block0.fc2_b",
                            "final_ln_g" };
    int64_t total = 0;
    for (int i = 0; i < 5; i++) total += fr_safetensors_get(&st, names[i])->numel;
    float *out = malloc((size_t)total * sizeof(float)), *p = out;
    for (int i = 0; i < 5; i++) {
        const fr_st_tensor *t = fr_safetensors_get(&st, names[i]);
        memcpy(p, t->data, (size_t)t->numel * sizeof(float));
        p += t->numel;
    }
    fr_safetensors_free(&st);
    *n = total;
    return out;
}

/* One FedAvg round with every user, one local SGD step of lr 1, example weights and
 * FedAvg's row averaging, then server SGD is one centralized SGD step on a batch of all
 * users: the same negatives and dropout streams, the same mean over positions. */
static void test_fedavg_round_equals_central_step(void **state) {
    (void)state;
    const char *data = write_cycles(40, 60);
    char dc[1024], df[1024];
    snprintf(dc, sizeof dc, "%s/eq-central", tu_tmpdir());
    snprintf(df, sizeof df, "%s/eq-fed", tu_tmpdir());
    const char *central[] = { "central.epochs=1", "central.optimizer=sgd", "central.lr=0.5",
                              "central.batch_size=64" };
    const char *fed[] = { "train.algorithm=fedavg", "train.rounds=1", "train.clients_per_round=40",
                          "train.client_lr=1", "train.server_optimizer=sgd", "train.server_lr=0.5",
                          "train.weighting=examples", "train.row_averaging=all" };
    cJSON_Delete(train_with(data, dc, 2, central, 4));
    cJSON_Delete(train_with(data, df, 2, fed, 8));
    int64_t n1, n2;
    float *a = load_params(dc, &n1), *b = load_params(df, &n2);
    assert_int_equal(n1, n2);
    double worst = 0.0, moved = 0.0;
    fr_sasrec_cfg cfg = { 60, 16, 1, 2, 16, 0.1f, FR_ACT_RELU, 1, 1e-8f };
    fr_sasrec init;
    assert_int_equal(fr_sasrec_create(&init, &cfg, 42, NULL), FR_OK); /* same seed: same start */
    for (int64_t i = 0; i < n1; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        if (i < (int64_t)61 * 16) moved = fmax(moved, fabs((double)a[i] - init.params[i]));
    }
    print_message("fedavg vs central step: max |diff| %.2e, max item move %.2e\n", worst, moved);
    assert_true(moved > 1e-3);      /* the step did something */
    assert_true(worst < 1e-5 * fmax(1.0, moved * 1e3));
    fr_sasrec_destroy(&init);
    free(a);
    free(b);
}

/* Federated SASRec learns the planted cycles, synchronously and asynchronously, with
 * the same bits on one and two threads. */
/* Trains federated SASRec with settings s[n] on 1 and 2 threads: sampled HR@10 above
 * 0.9, and the same test figures on both. */
static void check_learns_on_threads(const char *data, const char *name, const char **s, int n) {
    char d1[1024], d2[1024];
    snprintf(d1, sizeof d1, "%s/%s-1", tu_tmpdir(), name);
    snprintf(d2, sizeof d2, "%s/%s-2", tu_tmpdir(), name);
    cJSON *f1 = train_with(data, d1, 1, s, n);
    cJSON *f2 = train_with(data, d2, 2, s, n);
    double hr = metric(f1, "sampled", "hr@10");
    print_message("%s: sampled HR@10 %.3f full HR@1 %.3f\n", name, hr, metric(f1, "full", "hr@1"));
    assert_true(hr > 0.9);
    char *t1 = cJSON_PrintUnformatted(cJSON_GetObjectItem(f1, "test"));
    char *t2 = cJSON_PrintUnformatted(cJSON_GetObjectItem(f2, "test"));
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    cJSON_Delete(f1);
    cJSON_Delete(f2);
}

static void test_federated_learns_cycles(void **state) {
    (void)state;
    const char *data = write_cycles(300, 60);
    const char *sync[] = { "train.algorithm=fedavg", "train.rounds=150", "train.clients_per_round=32",
                           "train.client_lr=1", "train.server_optimizer=adam", "train.server_lr=0.01",
                           "eval.every=50" };
    const char *async[] = { "train.algorithm=fedavg", "train.rounds=150", "train.mode=async",
                            "async.concurrency=48", "async.buffer=32", "train.client_lr=1",
                            "train.server_optimizer=adam", "train.server_lr=0.01", "eval.every=50" };
    check_learns_on_threads(data, "fed-sync", sync, 7);
    check_learns_on_threads(data, "fed-async", async, 9);
}

/* One client update of user 3 on ds with SASRec (dim 8, one block, the config's maxlen)
 * and settings sets[n]; the caller frees *up. */
static void one_client_update(const fr_dataset *ds, const char *const *sets, int n, int want_score,
                              fr_update *up) {
    fr_config c;
    fr_config_defaults(&c);
    const char *base[] = { "model.model=sasrec", "model.dim=8", "model.blocks=1" };
    for (int i = 0; i < 3; i++) assert_int_equal(fr_config_set(&c, base[i], NULL), FR_OK);
    for (int i = 0; i < n; i++) assert_int_equal(fr_config_set(&c, sets[i], NULL), FR_OK);
    fr_sasrec_cfg cfg = { ds->n_items, 8, 1, 1, c.maxlen, 0.0f, FR_ACT_RELU, 1, 1e-8f };
    fr_sasrec m;
    assert_int_equal(fr_sasrec_create(&m, &cfg, 1, NULL), FR_OK);
    fr_sasrec_clients *cl;
    assert_int_equal(fr_sasrec_clients_create(&cl, &m, ds, &c, 1, NULL), FR_OK);
    memset(up, 0, sizeof *up);
    assert_int_equal(fr_sasrec_client_update(cl, 0, m.params, 3, 1, want_score, up, NULL), FR_OK);
    fr_sasrec_clients_destroy(cl);
    fr_sasrec_destroy(&m);
}

/* A client sends only rows it touched (its items and negatives), and FedProx's term
 * keeps several local epochs closer to the global model. */
static void test_client_update_rows_and_prox(void **state) {
    (void)state;
    fr_dataset ds;
    assert_int_equal(fr_dataset_load(write_cycles(20, 60), FR_FORMAT_SEQ, &ds, NULL), FR_OK);
    double norms[2];
    for (int k = 0; k < 2; k++) {
        const char *sets[] = { "model.maxlen=16", "train.client_epochs=4", "train.client_lr=0.5",
                               "eval.negatives=10", k ? "train.prox_mu=1" : "train.prox_mu=0" };
        fr_update up;
        one_client_update(&ds, sets, 5, 1, &up);
        fr_user_view v = fr_dataset_user(&ds, 3);
        const int64_t t = v.n - 3 < 16 ? v.n - 3 : 16;  /* positions within maxlen */
        assert_true(up.weight == (double)t);
        assert_true(up.score > 0.0 && up.score <= 1.0);
        int own = 0;
        for (int32_t i = 0; i < up.n_rows; i++) {
            if (i) assert_true(up.rows[i] > up.rows[i - 1]);
            for (int64_t j = 0; j < v.n - 2; j++) own += v.item[j] + 1 == up.rows[i];
        }
        assert_int_equal(own, t + 1);  /* the window's items, each once (cycles: distinct) */
        assert_true(up.n_rows > own);    /* and some negatives */
        double nrm = 0.0;
        for (int64_t i = 0; i < (int64_t)up.n_rows * 8; i++) nrm += (double)up.sparse[i] * up.sparse[i];
        norms[k] = sqrt(nrm);
        fr_update_free(&up);
    }
    print_message("delta norm without / with FedProx: %.4f / %.4f\n", norms[0], norms[1]);
    assert_true(norms[1] < 0.8 * norms[0]);
    fr_dataset_free(&ds);
}

/* With train.window_stride, a client trains on its whole history: windows of maxlen
 * positions every stride positions back, each position once when stride = maxlen;
 * without it, on its newest maxlen positions only. */
static void test_client_windows_cover_history(void **state) {
    (void)state;
    fr_dataset ds;
    assert_int_equal(fr_dataset_load(write_cycles(20, 60), FR_FORMAT_SEQ, &ds, NULL), FR_OK);
    fr_user_view v = fr_dataset_user(&ds, 3);
    const int64_t n_train = v.n - 2, L = 4;
    assert_true(n_train - 1 > 2 * L);
    const char *strides[] = { "train.window_stride=0", "train.window_stride=4", "train.window_stride=2" };
    const int64_t want_pos[] = { L, n_train - 1, -1 };
    for (int k = 0; k < 3; k++) {
        const char *sets[] = { "model.maxlen=4", "train.client_lr=0.5", "train.batch_size=2", strides[k] };
        fr_update up;
        one_client_update(&ds, sets, 4, 0, &up);
        int64_t own = 0;
        for (int32_t i = 0; i < up.n_rows; i++)
            for (int64_t j = 0; j < n_train; j++) own += v.item[j] + 1 == up.rows[i];
        if (k < 2) {
            assert_true(up.weight == (double)want_pos[k]);
            assert_int_equal(own, want_pos[k] + 1); /* stride 0: the newest L + 1 items */
        } else { /* overlapping windows: more positions than targets, every item seen */
            assert_true(up.weight > (double)(n_train - 1));
            assert_int_equal(own, n_train);
        }
        fr_update_free(&up);
    }
    fr_dataset_free(&ds);
}

/* Federated SASRec with windowed mini-batches learns the cycles too, the same on 1 and
 * 2 threads. */
static void test_federated_windows_learn_cycles(void **state) {
    (void)state;
    const char *data = write_cycles(300, 60);
    const char *s[] = { "train.algorithm=fedavg", "train.rounds=150", "train.clients_per_round=32",
                        "train.client_lr=1", "train.server_optimizer=adam", "train.server_lr=0.01",
                        "eval.every=50", "model.maxlen=8", "train.window_stride=8", "train.batch_size=1" };
    check_learns_on_threads(data, "fed-windows", s, 10);
}

/* A user who touched every item leaves no negative to draw: a clear error. */
static void test_user_with_every_item_is_an_error(void **state) {
    (void)state;
    const char *data = tu_write("all.txt", "1 1 2 3 4 5\n2 1 2 3\n3 2 3 4 5\n");
    fr_config c;
    fr_config_defaults(&c);
    assert_int_equal(fr_config_set(&c, "model.model=sasrec", NULL), FR_OK);
    assert_int_equal(fr_config_set(&c, "train.algorithm=central", NULL), FR_OK);
    assert_int_equal(fr_config_set(&c, "eval.negatives=1", NULL), FR_OK);
    snprintf(c.data_path, sizeof c.data_path, "%s", data);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/bad", tu_tmpdir());
    fr_train_opts o = { dir, 1, 0 };
    fr_error err;
    assert_int_equal(fr_train_run(&c, &o, NULL, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "user 1 has interacted with every item"));
    assert_false(tu_exists(dir));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_backward_hidden_matches),
        cmocka_unit_test(test_score_matches_packed),
        cmocka_unit_test(test_learns_cycles_and_is_thread_invariant),
        cmocka_unit_test(test_user_with_every_item_is_an_error),
        cmocka_unit_test(test_fedavg_round_equals_central_step),
        cmocka_unit_test(test_federated_learns_cycles),
        cmocka_unit_test(test_client_update_rows_and_prox),
        cmocka_unit_test(test_client_windows_cover_history),
        cmocka_unit_test(test_federated_windows_learn_cycles),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
