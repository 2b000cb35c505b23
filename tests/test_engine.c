/* test_engine.c - the federated round engine (engine.h) on a toy model whose right
 * answers are known in closed form.
 *
 * The toy: a row-sparse GLOBAL table "rows" [R x 2], a LOCAL "user" [n x 1] that must
 * never move, and a dense GLOBAL "w" [1 x D]. Client c (user id ID0 + c) has targets
 * x_c for w and t_c for the rows it touches (r < R-1 and (c + r) % 3 != 0; row R-1 is
 * touched by nobody), an example count n_c and a local score s_c. Its client update is
 * one SGD step of lr 1 on 0.5 |p - target|^2, i.e. the local model jumps to the
 * targets: delta = target - global. With jitter > 0 the targets also move with
 * (client, round), still deterministically. The evaluation returns a scripted HR@10 per
 * call and records the parameters it saw.
 *
 * So one FedAvg round (server SGD, lr 1) must give w = the weighted mean of the x_c,
 * and the rows FedAvg's or the touched-only average; the server optimizers, model
 * selection, FedBuff's staleness weights, the history's counters and early stopping are
 * all checked against hand computations in double precision here, never against the
 * engine's own helpers.
 */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>
#include "fedrec/alloc.h"
#include "fedrec/config.h"
#include "fedrec/engine.h"
#include "fedrec/fileio.h"
#include "fedrec/history.h"
#include "fedrec/params.h"

/* R rows of the table, D entries of w, user ids ID0 + c. Records are kept for rounds
 * (sync) or dispatch numbers + 1 (async) below MAX_ROUNDS. */
enum { R = 5, D = 3, ID0 = 100, MAX_CLIENTS = 32, MAX_ROUNDS = 64, MAX_P = 64, MAX_EVALS = 16 };

typedef struct toy {
    fr_param_layout l;
    int t_rows, t_user, t_w;
    int32_t n;                     /* clients */
    int32_t ids[MAX_CLIENTS];
    float *params;                 /* [l.size] */
    float jitter;
    int threads;                   /* of the current run: slots must be below it */
    int bad_slot;
    /* failure injection: in round fail_round, client fail_id[f] (-1: any) fails */
    uint32_t fail_round;
    int32_t fail_id[2];
    fr_status fail_st[2];
    /* records */
    int calls[MAX_ROUNDS][MAX_CLIENTS];            /* client updates per (round, client) */
    float seen[MAX_ROUNDS][MAX_CLIENTS][MAX_P];    /* the parameters each one trained from */
    int n_evals;
    double script[MAX_EVALS];      /* HR@10 of evaluation k (0.5 past the end) */
    int n_script;
    float *snap[MAX_EVALS];        /* [l.size] parameters evaluation k saw */
} toy;

static int touches(int32_t c, int r) { return r < R - 1 && (c + r) % 3 != 0; }
static int touched_rows(int32_t c) {
    int k = 0;
    for (int r = 0; r < R; r++) k += touches(c, r);
    return k;
}
static double examples_of(int32_t c) { return 1 + (3 * c) % 7; }   /* 1 4 7 3 6 2 ... */
static double score_of(int32_t c) { return ((5 * c) % 7) / 7.0; }  /* best: 4, 1, 5, 2 */

/* A deterministic number in [-0.5, 0.5) from (c, round, k). */
static double hash01(int32_t c, uint32_t round, int k) {
    uint32_t h = (uint32_t)c * 2654435761u ^ (round + 0x9e3779b9u) * 40503u ^ (uint32_t)k * 69069u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return (double)(h >> 8) / 16777216.0 - 0.5;
}

static float target_w(const toy *t, int32_t c, uint32_t round, int j) {
    return (float)(0.3 * (c + 1) - 0.5 * j + 0.1 * c * j + t->jitter * hash01(c, round, j));
}
static float target_row(const toy *t, int32_t c, uint32_t round, int r, int k) {
    return (float)(0.2 * (c + 1) - 0.15 * r + (k ? 0.4 : -0.3) +
                   t->jitter * hash01(c, round, 10 + 2 * r + k));
}

/* The parameters every run starts from. */
static float p0_at(int64_t i) { return (float)(0.05 * (double)((i * 7) % 11) - 0.25); }

static void toy_reset(toy *t) {
    for (int64_t i = 0; i < t->l.size; i++) t->params[i] = p0_at(i);
    memset(t->calls, 0, sizeof t->calls);
    memset(t->seen, 0, sizeof t->seen);
    t->bad_slot = 0;
    t->fail_round = 0;
    t->n_evals = 0;
    t->n_script = 0;
}

static toy *toy_new(int32_t n, float jitter) {
    assert_true(n >= 1 && n <= MAX_CLIENTS);
    toy *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->t_rows = fr_layout_add(&t->l, "rows", R, 2, FR_SCOPE_GLOBAL, 1);
    t->t_user = fr_layout_add(&t->l, "user", n, 1, FR_SCOPE_LOCAL, 0);
    t->t_w = fr_layout_add(&t->l, "w", 1, D, FR_SCOPE_GLOBAL, 0);
    assert_true(t->t_rows >= 0 && t->t_user >= 0 && t->t_w >= 0 && t->l.size <= MAX_P);
    t->n = n;
    t->jitter = jitter;
    for (int32_t c = 0; c < n; c++) t->ids[c] = ID0 + c;
    t->params = fr_alloc((size_t)t->l.size, sizeof(float));
    assert_non_null(t->params);
    toy_reset(t);
    return t;
}

static void toy_free(toy *t) {
    for (int k = 0; k < MAX_EVALS; k++) fr_free(t->snap[k]);
    fr_free(t->params);
    free(t);
}

static int64_t off_rows(const toy *t) { return t->l.t[t->t_rows].offset; }
static int64_t off_w(const toy *t) { return t->l.t[t->t_w].offset; }
static int64_t off_user(const toy *t) { return t->l.t[t->t_user].offset; }

static fr_status toy_update(void *ctx, int slot, const float *params, int32_t client,
                            uint32_t round, int want_score, fr_update *up, fr_error *err) {
    toy *t = ctx;
    const int32_t c = client - ID0;
    if (c < 0 || c >= t->n) return fr_fail(err, FR_ERR_RUNTIME, "toy: unknown client %d", client);
    if (slot < 0 || slot >= t->threads) t->bad_slot = 1;
    for (int f = 0; f < 2; f++)
        if (t->fail_round && round == t->fail_round && (t->fail_id[f] < 0 || client == t->fail_id[f]))
            return fr_fail(err, t->fail_st[f], "toy: client %d failed in round %u", client, round);
    if (round < MAX_ROUNDS) {
        t->calls[round][c]++;
        memcpy(t->seen[round][c], params, (size_t)t->l.size * sizeof(float));
    }
    fr_status st = fr_update_reserve(up, &t->l, touched_rows(c), err);
    if (st != FR_OK) return st;
    const float *rows = params + off_rows(t); /* [R x 2] */
    const float *w = params + off_w(t);       /* [D] */
    double loss = 0.0;
    up->n_rows = 0;
    for (int r = 0; r < R; r++) {
        if (!touches(c, r)) continue;
        up->rows[up->n_rows] = r;
        for (int k = 0; k < 2; k++) {
            const float d = target_row(t, c, round, r, k) - rows[2 * r + k];
            up->sparse[2 * up->n_rows + k] = d;
            loss += 0.5 * (double)d * d;
        }
        up->n_rows++;
    }
    for (int j = 0; j < D; j++) {
        const float d = target_w(t, c, round, j) - w[j];
        up->dense[j] = d;
        loss += 0.5 * (double)d * d;
    }
    up->weight = examples_of(c);
    up->loss_sum = loss;
    up->n_examples = (int64_t)examples_of(c);
    up->n_correct = 0;
    up->score = want_score ? score_of(c) : -1.0; /* selection without scores picks wrong */
    return FR_OK;
}

static fr_status toy_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err) {
    toy *t = ctx;
    (void)err;
    const int k = t->n_evals++;
    const double hr = k < t->n_script ? t->script[k] : 0.5;
    out->key = hr;
    out->json = cJSON_CreateObject();
    cJSON_AddNumberToObject(out->json, "HR@10", hr);
    if (k < MAX_EVALS) {
        if (!t->snap[k]) t->snap[k] = fr_alloc((size_t)t->l.size, sizeof(float));
        assert_non_null(t->snap[k]);
        memcpy(t->snap[k], params, (size_t)t->l.size * sizeof(float));
    }
    return FR_OK;
}

/* ---- running and reading the history ---- */

/* Defaults, then each "section.key=value" until NULL. */
static void config_of(fr_config *c, ...) {
    fr_config_defaults(c);
    va_list ap;
    va_start(ap, c);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        fr_error err;
        if (fr_config_set(c, s, &err) != FR_OK) fail_msg("%s: %s", s, err.msg);
    }
    va_end(ap);
}

/* Runs the engine on the toy; returns its status and the committed history as a JSON
 * array of the lines (caller deletes). */
static fr_status run_toy(toy *t, const fr_config *c, int threads, fr_fl_outcome *out,
                         cJSON **lines, fr_error *err) {
    static int run_no;
    char path[700];
    snprintf(path, sizeof path, "%s/history-%d.jsonl", tu_tmpdir(), run_no++);
    fr_history h;
    fr_error herr;
    assert_int_equal(fr_history_open(&h, path, &herr), FR_OK);
    fr_fl_model m = { .layout = &t->l, .params = t->params, .clients = t->ids, .n_clients = t->n,
                      .ctx = t, .client_update = toy_update, .validate = toy_validate,
                      .key_name = "HR@10" };
    t->threads = threads;
    memset(err, 0, sizeof *err);
    fr_status st = fr_fl_run(&m, c, threads, &h, 0, out, err);
    fr_fl_outcome_free(out); /* moments are checked by the optimizer tests */
    assert_int_equal(fr_history_commit(&h, &herr), FR_OK);
    char *text;
    size_t len;
    assert_int_equal(fr_read_file(path, &text, &len, &herr), FR_OK);
    cJSON *arr = cJSON_CreateArray();
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        assert_non_null(nl); /* every line ends in a newline */
        *nl = 0;
        cJSON *o = cJSON_Parse(line);
        if (!o) fail_msg("history line is not JSON: %s", line);
        cJSON_AddItemToArray(arr, o);
    }
    fr_free(text);
    assert_false(t->bad_slot);
    *lines = arr;
    return st;
}

static double num(const cJSON *line, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(line, key);
    if (!cJSON_IsNumber(v)) fail_msg("history line has no number \"%s\"", key);
    return v->valuedouble;
}

static void assert_near(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("got %.9g, want %.9g", got, want);
}

/* ---- the right answers ---- */

/* mean[l.size] = the weighted mean delta over the clients with in[c] != 0, each having
 * trained from p (its own copy: from[c], or p when from is NULL) in round `round`, with
 * weight wt[c]; rows over the total weight (FedAvg) or the touching weight. */
static void expect_mean(const toy *t, const float *p, const float *const *from,
                        const int *in, const double *wt, uint32_t round, int touched, double *mean) {
    memset(mean, 0, (size_t)t->l.size * sizeof(double));
    double total = 0.0, row_w[R] = { 0 };
    for (int32_t c = 0; c < t->n; c++) {
        if (!in[c]) continue;
        const float *q = from && from[c] ? from[c] : p;
        total += wt[c];
        for (int j = 0; j < D; j++)
            mean[off_w(t) + j] += wt[c] * ((double)target_w(t, c, round, j) - q[off_w(t) + j]);
        for (int r = 0; r < R; r++) {
            if (!touches(c, r)) continue;
            row_w[r] += wt[c];
            for (int k = 0; k < 2; k++)
                mean[off_rows(t) + 2 * r + k] +=
                    wt[c] * ((double)target_row(t, c, round, r, k) - q[off_rows(t) + 2 * r + k]);
        }
    }
    for (int j = 0; j < D; j++) mean[off_w(t) + j] /= total;
    for (int r = 0; r < R; r++) {
        const double den = touched ? row_w[r] : total;
        for (int k = 0; k < 2; k++) mean[off_rows(t) + 2 * r + k] = den > 0 ? mean[off_rows(t) + 2 * r + k] / den : 0.0;
    }
}

static void weights_of(const toy *t, int uniform, double *wt) {
    for (int32_t c = 0; c < t->n; c++) wt[c] = uniform ? 1.0 : examples_of(c);
}

/* The LOCAL tensor is never touched by the server. */
static void assert_user_untouched(const toy *t) {
    for (int32_t c = 0; c < t->n; c++)
        assert_true(t->params[off_user(t) + c] == p0_at(off_user(t) + c));
}

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
        cmocka_unit_test(test_sync_fedavg_round),
        cmocka_unit_test(test_clients_fraction),
        cmocka_unit_test_teardown(test_clients_fraction_exact_product, free_toy_state),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_server_momentum),
        cmocka_unit_test(test_server_adam),
        cmocka_unit_test(test_server_yogi),
        cmocka_unit_test(test_async_first_step_is_sync_mean),
        cmocka_unit_test(test_async_staleness),
        cmocka_unit_test(test_async_buffer_above_concurrency),
        cmocka_unit_test(test_determinism_sync),
        cmocka_unit_test(test_determinism_async),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_early_stopping_every_2),
        cmocka_unit_test(test_early_stopping_ties),
        cmocka_unit_test(test_client_error_sync),
        cmocka_unit_test(test_client_error_async),
        cmocka_unit_test(test_bytes_sync),
        cmocka_unit_test(test_bytes_async),
        cmocka_unit_test(test_keep_last_and_negative_keys),
        cmocka_unit_test(test_server_update_hook),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
