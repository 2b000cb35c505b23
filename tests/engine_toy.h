/* engine_toy.h - the toy model test_engine.c and test_engine_async.c drive the federated
 * round engine (engine.h) with, and the closed-form answers they check it against.
 *
 * The toy: a row-sparse GLOBAL table "rows" [R x 2], a LOCAL "user" [n x 1] that must
 * never move, and a dense GLOBAL "w" [1 x D]. Client c (user id ID0 + c) has targets
 * x_c for w and t_c for the rows it touches (r < R-1 and (c + r) % 3 != 0; row R-1 is
 * touched by nobody), an example count n_c and a local score s_c. Its client update is
 * one SGD step of lr 1 on 0.5 |p - target|^2, i.e. the local model jumps to the
 * targets: delta = target - global. With jitter > 0 the targets also move with
 * (client, round), still deterministically. The evaluation returns a scripted HR@10 per
 * call and records the parameters it saw.
 */
#ifndef FEDREC_TEST_ENGINE_TOY_H
#define FEDREC_TEST_ENGINE_TOY_H

#include <stdint.h>
#include <cJSON.h>
#include "fedrec/config.h"
#include "fedrec/engine.h"
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

int touches(int32_t c, int r);
int touched_rows(int32_t c);
double examples_of(int32_t c);
double score_of(int32_t c);
float target_w(const toy *t, int32_t c, uint32_t round, int j);
float target_row(const toy *t, int32_t c, uint32_t round, int r, int k);
/* The parameters every run starts from. */
float p0_at(int64_t i);
void toy_reset(toy *t);
toy *toy_new(int32_t n, float jitter);
void toy_free(toy *t);
int64_t off_rows(const toy *t);
int64_t off_w(const toy *t);
int64_t off_user(const toy *t);

/* The toy's client update and evaluation (engine.h's fr_fl_model callbacks). */
fr_status toy_update(void *ctx, int slot, const float *params, int32_t client, uint32_t round,
                     int want_score, fr_update *up, fr_error *err);
fr_status toy_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err);

/* Defaults, then each "section.key=value" until NULL. */
void config_of(fr_config *c, ...);
/* Runs the engine on the toy; returns its status and the committed history as a JSON
 * array of the lines (caller deletes). */
fr_status run_toy(toy *t, const fr_config *c, int threads, fr_fl_outcome *out,
                  cJSON **lines, fr_error *err);
/* A number of a history line (fails the test when missing). */
double num(const cJSON *line, const char *key);
void assert_near(double got, double want, double tol);

/* mean[l.size] = the weighted mean delta over the clients with in[c] != 0, each having
 * trained from p (its own copy: from[c], or p when from is NULL) in round `round`, with
 * weight wt[c]; rows over the total weight (FedAvg) or the touching weight. */
void expect_mean(const toy *t, const float *p, const float *const *from, const int *in,
                 const double *wt, uint32_t round, int touched, double *mean);
void weights_of(const toy *t, int uniform, double *wt);
/* The LOCAL tensor is never touched by the server. */
void assert_user_untouched(const toy *t);

#endif
