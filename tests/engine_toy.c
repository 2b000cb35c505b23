/* engine_toy.c - the toy model of the engine tests (engine_toy.h). */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/fileio.h"
#include "fedrec/history.h"
#include "engine_toy.h"

int touches(int32_t c, int r) { return r < R - 1 && (c + r) % 3 != 0; }
int touched_rows(int32_t c) {
    int k = 0;
    for (int r = 0; r < R; r++) k += touches(c, r);
    return k;
}
double examples_of(int32_t c) { return 1 + (3 * c) % 7; }   /* 1 4 7 3 6 2 ... */
double score_of(int32_t c) { return ((5 * c) % 7) / 7.0; }  /* best: 4, 1, 5, 2 */

/* A deterministic number in [-0.5, 0.5) from (c, round, k). */
static double hash01(int32_t c, uint32_t round, int k) {
    uint32_t h = (uint32_t)c * 2654435761u ^ (round + 0x9e3779b9u) * 40503u ^ (uint32_t)k * 69069u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return (double)(h >> 8) / 16777216.0 - 0.5;
}

float target_w(const toy *t, int32_t c, uint32_t round, int j) {
    return (float)(0.3 * (c + 1) - 0.5 * j + 0.1 * c * j + t->jitter * hash01(c, round, j));
}
float target_row(const toy *t, int32_t c, uint32_t round, int r, int k) {
    return (float)(0.2 * (c + 1) - 0.15 * r + (k ? 0.4 : -0.3) +
                   t->jitter * hash01(c, round, 10 + 2 * r + k));
}

/* The parameters every run starts from. */
float p0_at(int64_t i) { return (float)(0.05 * (double)((i * 7) % 11) - 0.25); }

void toy_reset(toy *t) {
    for (int64_t i = 0; i < t->l.size; i++) t->params[i] = p0_at(i);
    memset(t->calls, 0, sizeof t->calls);
    memset(t->seen, 0, sizeof t->seen);
    t->bad_slot = 0;
    t->fail_round = 0;
    t->n_evals = 0;
    t->n_script = 0;
}

toy *toy_new(int32_t n, float jitter) {
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

void toy_free(toy *t) {
    for (int k = 0; k < MAX_EVALS; k++) fr_free(t->snap[k]);
    fr_free(t->params);
    free(t);
}

int64_t off_rows(const toy *t) { return t->l.t[t->t_rows].offset; }
int64_t off_w(const toy *t) { return t->l.t[t->t_w].offset; }
int64_t off_user(const toy *t) { return t->l.t[t->t_user].offset; }

fr_status toy_update(void *ctx, int slot, const float *params, int32_t client,
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

fr_status toy_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err) {
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
void config_of(fr_config *c, ...) {
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
fr_status run_toy(toy *t, const fr_config *c, int threads, fr_fl_outcome *out,
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

double num(const cJSON *line, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(line, key);
    if (!cJSON_IsNumber(v)) fail_msg("history line has no number \"%s\"", key);
    return v->valuedouble;
}

void assert_near(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("got %.9g, want %.9g", got, want);
}

/* ---- the right answers ---- */

/* mean[l.size] = the weighted mean delta over the clients with in[c] != 0, each having
 * trained from p (its own copy: from[c], or p when from is NULL) in round `round`, with
 * weight wt[c]; rows over the total weight (FedAvg) or the touching weight. */
void expect_mean(const toy *t, const float *p, const float *const *from,
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

void weights_of(const toy *t, int uniform, double *wt) {
    for (int32_t c = 0; c < t->n; c++) wt[c] = uniform ? 1.0 : examples_of(c);
}

/* The LOCAL tensor is never touched by the server. */
void assert_user_untouched(const toy *t) {
    for (int32_t c = 0; c < t->n; c++)
        assert_true(t->params[off_user(t) + c] == p0_at(off_user(t) + c));
}
