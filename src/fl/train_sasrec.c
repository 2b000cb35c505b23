/* train_sasrec.c - centralized SASRec from start to finish: sequences from the data,
 * leave-one-out, epochs of mini-batches, validation with early stopping, the test of
 * the best model under both ranking protocols, and the run directory.
 *
 * One process holds every sequence: the ceiling federated SASRec is measured against.
 * An epoch visits every user with at least one training pair once, in a seeded order
 * (SASRec's reference code samples users with replacement; a permutation sees each
 * once). Each user gives one sequence s[0..n_train-1]: inputs s[0..n_train-2], targets
 * s[1..n_train-1], one negative per position drawn uniformly from items the user never
 * touched (stream (seed, epoch, user, NEGATIVES)), dropout from (seed, epoch, user,
 * DROPOUT).
 *
 * Parallelism without thread-count dependence: a batch is cut into FR_SASREC_SHARDS
 * fixed shards of consecutive users; threads take whole shards; each shard's gradient
 * goes to its own buffer and the buffers are summed in shard order. Validation and
 * test spread users over threads and sum per-user ranks in user order (rank_eval.c).
 * Leaves out: resuming from a checkpoint; federated training (the federated engine).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/checkpoint.h"
#include "fedrec/engine.h"
#include "fedrec/fileio.h"
#include "fedrec/history.h"
#include "fedrec/optim.h"
#include "fedrec/rank_eval.h"
#include "fedrec/ranking.h"
#include "fedrec/sasrec.h"
#include "fedrec/sasrec_client.h"
#include "fedrec/train.h"
#include "fedrec/timer.h"
#include "train_internal.h"

/* Fixed shards per batch: more than the cores of the machines fedrec targets, few enough
 * that each shard's matrix products stay large. */
#define FR_SASREC_SHARDS 8

typedef struct shard {
    fr_sasrec_work *work;
    float *grad;          /* [layout size] */
    uint8_t *touched;     /* [N+1] */
    uint8_t *seen;        /* [N] the current user's items, for negative sampling */
    int32_t *buf;         /* [3 * maxlen]: input, target, negative */
    double loss;
} shard;

typedef struct sasrec_run {
    const fr_config *c;
    fr_dataset ds;
    fr_sasrec model;
    fr_optim opt;
    int threads;
    shard sh[FR_SASREC_SHARDS];
    int32_t shard_cap;    /* users per shard */
    fr_sasrec_work **eval_work; /* [threads] */
    int32_t *users;       /* [n_users] users with a training pair */
    int32_t n_train_users;
    float *best;          /* [layout size] parameters with the best validation HR@10 */
} sasrec_run;

static int threads_of(int requested) { return requested > 0 ? requested : omp_get_max_threads(); }

static void run_free(sasrec_run *r) {
    for (int k = 0; k < FR_SASREC_SHARDS; k++) {
        fr_sasrec_work_destroy(r->sh[k].work);
        fr_free(r->sh[k].grad);
        fr_free(r->sh[k].touched);
        fr_free(r->sh[k].seen);
        fr_free(r->sh[k].buf);
    }
    if (r->eval_work)
        for (int t = 0; t < r->threads; t++) fr_sasrec_work_destroy(r->eval_work[t]);
    fr_free(r->eval_work);
    fr_free(r->users);
    fr_free(r->best);
    fr_optim_free(&r->opt);
    fr_sasrec_destroy(&r->model);
    fr_dataset_free(&r->ds);
}

static fr_sasrec_cfg model_cfg(const fr_config *c, int32_t n_items) {
    fr_sasrec_cfg m = { n_items, c->dim, c->blocks, c->heads, c->maxlen, (float)c->dropout,
                        strcmp(c->activation, "gelu") == 0 ? FR_ACT_GELU : FR_ACT_RELU,
                        strcmp(c->norm, "pre") == 0, 1e-8f };
    return m;
}

/* FR_ERR_INPUT when the user has touched every item (negative sampling would never
 * end); shard 0's byte map is the scratch. */
static fr_status check_has_negative(sasrec_run *r, fr_user_view v) {
    uint8_t *seen = r->sh[0].seen;
    int64_t distinct = 0;
    for (int64_t j = 0; j < v.n; j++) {
        distinct += !seen[v.item[j]];
        seen[v.item[j]] = 1;
    }
    for (int64_t j = 0; j < v.n; j++) seen[v.item[j]] = 0;
    return distinct < r->ds.n_items ? FR_OK : FR_ERR_INPUT;
}

/* Data and model, as both training and `fedrec eval` need. */
static fr_status run_init(sasrec_run *r, const fr_config *c, int threads, int for_training,
                          fr_error *err) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->threads = threads_of(threads);
    fr_status st = fr_experiment_data(c, &r->ds, err);
    if (st != FR_OK) return st;
    fr_sasrec_cfg mc = model_cfg(c, r->ds.n_items);
    st = fr_sasrec_create(&r->model, &mc, c->seed, err);
    if (st != FR_OK) goto fail;
    const int64_t P = r->model.layout.size, maxlen = c->maxlen;
    r->eval_work = fr_calloc((size_t)r->threads, sizeof *r->eval_work);
    if (!r->eval_work) { st = fr_nomem(err, "evaluation workspaces", 0); goto fail; }
    for (int t = 0; t < r->threads && st == FR_OK; t++)
        st = fr_sasrec_work_create(&r->eval_work[t], &r->model, 1, maxlen, err);
    if (st != FR_OK || !for_training) goto done;

    fr_optim_kind kind = strcmp(c->central_optimizer, "sgd") == 0     ? FR_OPTIM_SGD
                         : strcmp(c->central_optimizer, "adamw") == 0 ? FR_OPTIM_ADAMW
                                                                      : FR_OPTIM_ADAM;
    st = fr_optim_init(&r->opt, kind, P, c->central_lr, 0.0, c->central_beta1, c->central_beta2,
                       c->central_eps, err);
    if (st != FR_OK) goto fail;
    r->opt.weight_decay = c->central_weight_decay;
    r->opt.l2 = c->l2_emb;  /* on item rows 1..N (row 0 is the padding) */
    r->opt.l2_begin = r->model.layout.t[0].offset + c->dim;
    r->opt.l2_end = r->model.layout.t[0].offset + ((int64_t)r->ds.n_items + 1) * c->dim;

    r->shard_cap = (c->central_batch_size + FR_SASREC_SHARDS - 1) / FR_SASREC_SHARDS;
    for (int k = 0; k < FR_SASREC_SHARDS && st == FR_OK; k++) {
        shard *s = &r->sh[k];
        st = fr_sasrec_work_create(&s->work, &r->model, r->shard_cap, r->shard_cap * maxlen, err);
        s->grad = fr_alloc((size_t)P, sizeof(float));
        s->touched = fr_calloc((size_t)r->ds.n_items + 1, 1);
        s->seen = fr_calloc((size_t)r->ds.n_items, 1);
        s->buf = fr_alloc((size_t)(3 * maxlen), sizeof(int32_t));
        if (st == FR_OK && (!s->grad || !s->touched || !s->seen || !s->buf))
            st = fr_nomem(err, "SASRec shard buffers", (size_t)P * sizeof(float));
    }
    r->users = fr_alloc((size_t)r->ds.n_users, sizeof(int32_t));
    r->best = fr_alloc((size_t)P, sizeof(float));
    if (st == FR_OK && (!r->users || !r->best)) st = fr_nomem(err, "SASRec run state", (size_t)P * 4);
    if (st != FR_OK) goto fail;
    for (int32_t u = 0; u < r->ds.n_users; u++) {
        fr_user_view v = fr_dataset_user(&r->ds, u);
        if (fr_loo_split(v).n_train >= 2) r->users[r->n_train_users++] = u;
        if (v.n >= r->ds.n_items && check_has_negative(r, v) != FR_OK) {
            st = fr_fail(err, FR_ERR_INPUT, "%s: user %lld has interacted with every item, so "
                         "no negative can be drawn for it", r->ds.source,
                         (long long)r->ds.user_raw[u]);
            goto fail;
        }
    }
    if (r->n_train_users == 0) {
        st = fr_fail(err, FR_ERR_INPUT, "%s: no user has two training items (SASRec needs a "
                     "sequence of at least 4 items per user to train and hold out two)", r->ds.source);
        goto fail;
    }
done:
    if (st == FR_OK) return FR_OK;
fail:
    run_free(r);
    return st;
}

/* The training part of a user: s[0..n_train-1]. Fills the shard's input, target and
 * negative arrays for the last maxlen positions and returns how many. */
static int64_t user_sequence(shard *s, const sasrec_run *r, int32_t u, int32_t epoch) {
    fr_user_view v = fr_dataset_user(&r->ds, u);
    int64_t n = fr_loo_split(v).n_train;
    int64_t t = n - 1, maxlen = r->c->maxlen;
    if (t > maxlen) t = maxlen;
    int32_t *in = s->buf, *tg = s->buf + maxlen, *ng = s->buf + 2 * maxlen;
    for (int64_t j = 0; j < v.n; j++) s->seen[v.item[j]] = 1;
    fr_rng rng;
    fr_rng_init(&rng, r->c->seed, (uint32_t)epoch, (uint32_t)u, FR_PURPOSE_NEGATIVES);
    for (int64_t j = 0; j < t; j++) {
        in[j] = v.item[n - 1 - t + j];
        tg[j] = v.item[n - t + j];
        int32_t x;
        do x = (int32_t)fr_rng_below(&rng, (uint32_t)r->ds.n_items);
        while (s->seen[x]);
        ng[j] = x;
    }
    for (int64_t j = 0; j < v.n; j++) s->seen[v.item[j]] = 0;
    return t;
}

/* Forward and backward of shard k's users of the batch; the gradient is scaled for the
 * mean over the whole batch's positions. */
static fr_status shard_step(sasrec_run *r, int k, const int32_t *users, int32_t n,
                            int32_t epoch, float scale, fr_error *err) {
    shard *s = &r->sh[k];
    const int64_t P = r->model.layout.size;
    memset(s->grad, 0, (size_t)P * sizeof(float));
    fr_sasrec_work_clear(s->work);
    s->loss = 0.0;
    if (n <= 0) return FR_OK;
    const int64_t maxlen = r->c->maxlen;
    for (int32_t i = 0; i < n; i++) {
        int64_t t = user_sequence(s, r, users[i], epoch);
        fr_rng drop;
        fr_rng_init(&drop, r->c->seed, (uint32_t)epoch, (uint32_t)users[i], FR_PURPOSE_DROPOUT);
        fr_status st = fr_sasrec_work_add(s->work, s->buf, s->buf + maxlen, s->buf + 2 * maxlen,
                                          t, &drop, err);
        if (st != FR_OK) return st;
    }
    s->loss = fr_sasrec_forward(s->work, &r->model, r->model.params, 1);
    fr_sasrec_backward(s->work, &r->model, r->model.params, s->grad, NULL, scale);
    return FR_OK;
}

/* Positions a user contributes: min(n_train - 1, maxlen). */
static int64_t user_positions(const sasrec_run *r, int32_t u) {
    int64_t t = fr_loo_split(fr_dataset_user(&r->ds, u)).n_train - 1;
    return t > r->c->maxlen ? r->c->maxlen : t;
}

/* One epoch; returns the mean loss per position in *loss. */
static fr_status train_epoch(sasrec_run *r, int32_t epoch, double *loss, int64_t *positions,
                             fr_error *err) {
    const int32_t B = r->c->central_batch_size, n = r->n_train_users;
    const int64_t P = r->model.layout.size;
    fr_rng rng;
    fr_rng_init(&rng, r->c->seed, (uint32_t)epoch, 0, FR_PURPOSE_SHUFFLE);
    fr_rng_shuffle_i32(&rng, r->users, n);
    double loss_sum = 0.0;
    int64_t pos_sum = 0;
    float *grad = r->sh[0].grad;  /* shard 0's buffer receives the sum */
    for (int32_t b0 = 0; b0 < n; b0 += B) {
        int32_t nb = n - b0 < B ? n - b0 : B;
        int64_t npos = 0;
        for (int32_t i = 0; i < nb; i++) npos += user_positions(r, r->users[b0 + i]);
        const float scale = (float)(1.0 / (double)npos);
        fr_status sts[FR_SASREC_SHARDS];
        fr_error errs[FR_SASREC_SHARDS];
#pragma omp parallel for schedule(dynamic, 1) num_threads(r->threads)
        for (int k = 0; k < FR_SASREC_SHARDS; k++) {
            int32_t a = k * r->shard_cap, m = nb - a < r->shard_cap ? nb - a : r->shard_cap;
            sts[k] = shard_step(r, k, r->users + b0 + a, m, epoch, scale, &errs[k]);
        }
        for (int k = 0; k < FR_SASREC_SHARDS; k++) {
            if (sts[k] != FR_OK) {
                *err = errs[k];
                return sts[k];
            }
            loss_sum += r->sh[k].loss;
        }
        pos_sum += npos;
        /* sum the shards in order, in parallel over parameter chunks */
#pragma omp parallel for schedule(static) num_threads(r->threads)
        for (int64_t i0 = 0; i0 < P; i0 += 4096) {
            int64_t i1 = i0 + 4096 < P ? i0 + 4096 : P;
            for (int k = 1; k < FR_SASREC_SHARDS; k++) {
                const float *g = r->sh[k].grad;
                for (int64_t i = i0; i < i1; i++) grad[i] += g[i];
            }
        }
        /* the padding row never learns */
        memset(grad + r->model.layout.t[0].offset, 0, (size_t)r->c->dim * sizeof(float));
        fr_optim_step(&r->opt, r->model.params, grad);
    }
    *loss = pos_sum ? loss_sum / (double)pos_sum : 0.0;
    *positions = pos_sum;
    return FR_OK;
}

typedef struct score_ctx {
    sasrec_run *r;
    const float *params;
} score_ctx;

static fr_status score_fn(void *ctx, int slot, int32_t user, const int32_t *hist, int64_t len,
                          const int32_t *cands, int32_t n, float *scores, fr_error *err) {
    (void)user;
    score_ctx *sc = ctx;
    return fr_sasrec_score(sc->r->eval_work[slot], &sc->r->model, sc->params, hist, len, cands,
                           n, scores, err);
}

static fr_status evaluate(sasrec_run *r, const float *params, fr_eval_split split, int full,
                          int32_t max_users, fr_rank_eval_result *res, fr_error *err) {
    score_ctx sc = { r, params };
    fr_rank_eval_opts o = { split, r->c->eval_negatives, full, max_users, r->c->seed, r->threads,
                            r->c->eval_paired_negatives };
    return fr_rank_eval(res, &r->ds, &o, score_fn, &sc, err);
}

static void progress_line(int ep, int epochs, double loss, double hr, double elapsed) {
    fprintf(stderr, "\repoch %d/%d  loss %.4f  valid HR@10 %.4f  %.1fs   ", ep, epochs, loss, hr,
            elapsed);
    if (ep == epochs) fputc('\n', stderr);
    fflush(stderr);
}

/* Epochs with validation every eval.every epochs (and after the last), keeping the best
 * parameters; stops after eval.patience validations without improvement. */
static fr_status train_all(sasrec_run *r, fr_history *h, int progress, int32_t *epochs_done,
                           int32_t *best_epoch, fr_error *err) {
    const fr_config *c = r->c;
    const int64_t P = r->model.layout.size;
    double best_hr = -1.0, t0 = fr_now_seconds(), last_hr = 0.0;
    int32_t since_best = 0;
    memcpy(r->best, r->model.params, (size_t)P * sizeof(float));
    *best_epoch = 0;
    *epochs_done = 0;
    for (int32_t ep = 1; ep <= c->central_epochs; ep++) {
        double ts = fr_now_seconds(), loss;
        int64_t npos;
        fr_status st = train_epoch(r, ep, &loss, &npos, err);
        if (st != FR_OK) return st;
        double train_s = fr_now_seconds() - ts;
        *epochs_done = ep;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "epoch", ep);
        cJSON_AddNumberToObject(line, "loss", loss);
        cJSON_AddNumberToObject(line, "positions", (double)npos);
        cJSON_AddNumberToObject(line, "seconds", train_s);
        int do_eval = ep == c->central_epochs || (c->eval_every > 0 && ep % c->eval_every == 0);
        int stop = 0;
        if (do_eval) {
            fr_rank_eval_result res;
            double te = fr_now_seconds();
            st = evaluate(r, r->model.params, FR_EVAL_VALID, 0, c->eval_users, &res, err);
            if (st != FR_OK) {
                cJSON_Delete(line);
                return st;
            }
            last_hr = fr_rank_eval_hr10(&res);
            cJSON_AddItemToObject(line, "valid", fr_rank_eval_json(&res));
            cJSON_AddNumberToObject(line, "eval_seconds", fr_now_seconds() - te);
            if (last_hr > best_hr) {
                best_hr = last_hr;
                *best_epoch = ep;
                since_best = 0;
                memcpy(r->best, r->model.params, (size_t)P * sizeof(float));
            } else if (c->eval_patience > 0 && ++since_best >= c->eval_patience) {
                stop = 1;
            }
        }
        st = fr_history_append(h, line, err);
        cJSON_Delete(line);
        if (st != FR_OK) return st;
        if (progress) progress_line(ep, stop ? ep : c->central_epochs, loss, last_hr, fr_now_seconds() - t0);
        if (stop) break;
    }
    if (!c->eval_keep_best) { /* test the last parameters */
        memcpy(r->best, r->model.params, (size_t)P * sizeof(float));
        *best_epoch = *epochs_done;
    }
    return FR_OK;
}

/* ---- federated SASRec: one client per user, through the shared engine ---- */

typedef struct fed_ctx {
    sasrec_run *r;
    fr_sasrec_clients *cl;
} fed_ctx;

static fr_status fed_client(void *ctx, int slot, const float *params, int32_t client,
                            uint32_t round, int want_score, fr_update *up, fr_error *err) {
    return fr_sasrec_client_update(((fed_ctx *)ctx)->cl, slot, params, client, round, want_score,
                                   up, err);
}

/* Validation with the sampled protocol on eval.users users; the key is HR@10. */
static fr_status fed_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err) {
    sasrec_run *r = ((fed_ctx *)ctx)->r;
    fr_rank_eval_result res;
    fr_status st = evaluate(r, params, FR_EVAL_VALID, 0, r->c->eval_users, &res, err);
    if (st != FR_OK) return st;
    out->key = fr_rank_eval_hr10(&res);
    out->json = fr_rank_eval_json(&res);
    return FR_OK;
}

static fr_status train_federated(sasrec_run *r, fr_history *h, int progress,
                                 fr_fl_outcome *out, fr_error *err) {
    fed_ctx fc = { r, NULL };
    fr_status st = fr_sasrec_clients_create(&fc.cl, &r->model, &r->ds, r->c, r->threads, err);
    if (st != FR_OK) return st;
    fr_fl_model fm = { .layout = &r->model.layout, .params = r->model.params,
                       .clients = r->users, .n_clients = r->n_train_users, .ctx = &fc,
                       .client_update = fed_client, .validate = fed_validate,
                       .key_name = "HR@10" };
    st = fr_fl_run(&fm, r->c, r->threads, h, progress, out, err);
    if (st == FR_OK) memcpy(r->best, r->model.params, (size_t)r->model.layout.size * sizeof(float));
    fr_sasrec_clients_destroy(fc.cl);
    return st;
}

/* {"test": {"sampled", "full"}, "valid": {...}} of the best parameters. */
static fr_status final_eval(sasrec_run *r, const float *params, cJSON **out, fr_error *err) {
    fr_rank_eval_result test, valid;
    fr_status st = evaluate(r, params, FR_EVAL_TEST, r->c->eval_full, 0, &test, err);
    if (st == FR_OK) st = evaluate(r, params, FR_EVAL_VALID, r->c->eval_full, 0, &valid, err);
    if (st != FR_OK) return st;
    *out = cJSON_CreateObject();
    cJSON_AddItemToObject(*out, "test", fr_rank_eval_json(&test));
    cJSON_AddItemToObject(*out, "valid", fr_rank_eval_json(&valid));
    return FR_OK;
}

fr_status fr_train_sasrec_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                              fr_error *err) {
    double t_start = fr_now_seconds();
    if (final_out) *final_out = NULL;
    fr_status st = fr_config_validate(c, err);
    if (st != FR_OK) return st;
    const int federated = strcmp(c->algorithm, "fedavg") == 0;
    if (!federated && strcmp(c->algorithm, "central") != 0)
        return fr_fail(err, FR_ERR_USAGE, "model sasrec: train.algorithm must be central or "
                       "fedavg (got '%s')", c->algorithm);
    if (c->dim % c->heads)
        return fr_fail(err, FR_ERR_USAGE, "model.heads (%d) must divide model.dim (%d)", c->heads, c->dim);
    fr_blas_threads(o->threads);
    sasrec_run r;
    st = run_init(&r, c, o->threads, 1, err);
    if (st != FR_OK) return st;
    char path[1200];
    fr_history h = { 0 };
    int32_t epochs = 0, best_epoch = 0;
    cJSON *final = NULL;
    st = fr_mkdirs(o->out_dir, err);
    if (st == FR_OK) {
        fr_run_path(path, sizeof path, o->out_dir, "history.jsonl");
        st = fr_history_open(&h, path, err);
    }
    double t_train = fr_now_seconds();
    fr_fl_outcome fo;
    memset(&fo, 0, sizeof fo);
    if (st == FR_OK && federated) {
        st = train_federated(&r, &h, o->progress, &fo, err);
        epochs = fo.rounds;
        best_epoch = fo.best_round;
    } else if (st == FR_OK) {
        st = train_all(&r, &h, o->progress, &epochs, &best_epoch, err);
    }
    double train_seconds = federated && st == FR_OK ? fo.train_seconds : fr_now_seconds() - t_train;
    if (st == FR_OK) st = final_eval(&r, r.best, &final, err);
    if (st == FR_OK) {
        cJSON_AddStringToObject(final, "algorithm", c->algorithm);
        cJSON_AddStringToObject(final, "model", "sasrec");
        if (federated) {
            cJSON_AddNumberToObject(final, "rounds", epochs);
            cJSON_AddNumberToObject(final, "best_round", best_epoch);
            cJSON_AddNumberToObject(final, "client_updates", (double)fo.client_updates);
            cJSON_AddNumberToObject(final, "sim_time", fo.sim_time);
            cJSON_AddNumberToObject(final, "clients", r.n_train_users);
        } else {
            cJSON_AddNumberToObject(final, "epochs", epochs);
            cJSON_AddNumberToObject(final, "best_epoch", best_epoch);
        }
        cJSON_AddNumberToObject(final, "train_seconds", train_seconds);
        cJSON_AddNumberToObject(final, "users", r.ds.n_users);
        cJSON_AddNumberToObject(final, "items", r.ds.n_items);
        fr_run_path(path, sizeof path, o->out_dir, "model.safetensors");
        fr_checkpoint_info info = { "sasrec", c, epochs, "server_optimizer", fo.opt_m, fo.opt_v,
                                    fo.opt_steps, &r.ds };
        if (!federated) /* the central optimizer's moments are not kept with the best */
            info = (fr_checkpoint_info){ "sasrec", c, epochs, "optimizer", NULL, NULL, r.opt.t, &r.ds };
        st = fr_checkpoint_write(path, &r.model.layout, r.best, &info, err);
    }
    st = fr_run_finish(st, o->out_dir, &h, final, c, t_start, final_out, err);
    fr_fl_outcome_free(&fo);
    run_free(&r);
    return st;
}

fr_status fr_eval_sasrec_checkpoint(const char *model_path, const char *data_path,
                                    const char *format, int threads, cJSON **result,
                                    fr_error *err) {
    *result = NULL;
    fr_blas_threads(threads);
    fr_safetensors ck;
    fr_config c;
    fr_config_defaults(&c);
    fr_status st = fr_checkpoint_open(model_path, "sasrec", &ck, &c, err);
    if (st != FR_OK) return st;
    if (data_path && data_path[0]) snprintf(c.data_path, sizeof c.data_path, "%s", data_path);
    if (format && format[0]) snprintf(c.data_format, sizeof c.data_format, "%s", format);
    sasrec_run r;
    st = run_init(&r, &c, threads, 0, err);
    if (st != FR_OK) {
        fr_safetensors_free(&ck);
        return st;
    }
    st = fr_checkpoint_load_params(&ck, model_path, &r.model.layout, r.model.params, err);
    fr_rank_eval_result test;
    if (st == FR_OK) st = evaluate(&r, r.model.params, FR_EVAL_TEST, c.eval_full, 0, &test, err);
    if (st == FR_OK) {
        *result = cJSON_CreateObject();
        cJSON_AddItemToObject(*result, "test", fr_rank_eval_json(&test));
    }
    run_free(&r);
    fr_safetensors_free(&ck);
    return st;
}
