/* train_mf.c - an R1 experiment from start to finish: Federated Reconstruction, the
 * stateful FedAvg-MF baseline or centralized MF, all scored on the same unseen users
 * the same way, and the run directory they leave.
 *
 * The federated rounds are the shared engine's (engine.h; Singhal et al. 2021,
 * algorithm 1; McMahan et al. 2017): this file supplies the client update
 * (reconstruct-then-train, or the stateful user vector each client keeps) and the
 * validation (reconstruct-and-score the validation users; its key is -MSE).
 * The model tested and saved is the best validated one (eval.keep_best, the default)
 * or the one after the last round (keep_best = false, as the TFF tutorial does).
 * Leaves out: resuming from a checkpoint (the metadata holds what it would need).
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedrec/alloc.h"
#include "fedrec/central_mf.h"
#include "fedrec/checkpoint.h"
#include "fedrec/engine.h"
#include "fedrec/fedrecon.h"
#include "fedrec/fileio.h"
#include "fedrec/history.h"
#include "fedrec/optim.h"
#include "fedrec/safetensors.h"
#include "fedrec/train.h"
#include "fedrec/timer.h"
#include "train_internal.h"

/* {"loss", "rmse", "rating_accuracy", "examples"} of an evaluation. */
static cJSON *eval_json(const fr_mf_eval_sum *s) {
    cJSON *o = cJSON_CreateObject();
    double mse = s->n ? s->sq_err / (double)s->n : 0.0;
    cJSON_AddNumberToObject(o, "loss", mse);
    cJSON_AddNumberToObject(o, "rmse", sqrt(mse));
    cJSON_AddNumberToObject(o, "rating_accuracy", s->n ? (double)s->n_correct / (double)s->n : 0.0);
    cJSON_AddNumberToObject(o, "examples", (double)s->n);
    cJSON *b = cJSON_AddObjectToObject(o, "mean_baseline");
    double bmse = s->n ? s->base_sq_err / (double)s->n : 0.0;
    cJSON_AddNumberToObject(b, "rmse", sqrt(bmse));
    cJSON_AddNumberToObject(b, "rating_accuracy", s->n ? (double)s->base_correct / (double)s->n : 0.0);
    return o;
}

typedef struct run_state {
    const fr_config *c;
    fr_dataset ds;
    fr_user_split split;
    fr_mf_model model;
    fr_mf_client_cfg train_cc, eval_cc;
} run_state;

static void run_state_free(run_state *rs) {
    fr_dataset_free(&rs->ds);
    fr_user_split_free(&rs->split);
    fr_mf_destroy(&rs->model);
}

/* The mean rating over the training users' (capped) examples: the constant predictor
 * every model must beat. */
static double train_mean_rating(const fr_dataset *ds, const fr_user_split *s, int32_t cap) {
    double sum = 0.0;
    int64_t n = 0;
    for (int32_t i = 0; i < s->n_train; i++) {
        fr_user_view v = fr_dataset_user(ds, s->train[i]);
        int64_t m = cap > 0 && v.n > cap ? cap : v.n;
        for (int64_t j = 0; j < m; j++) sum += v.rating[j];
        n += m;
    }
    return n ? sum / (double)n : 0.0;
}

/* Builds data, split and initial model, as both training and `fedrec eval` need. */
static fr_status run_state_init(run_state *rs, const fr_config *c, fr_error *err) {
    memset(rs, 0, sizeof *rs);
    rs->c = c;
    if (strcmp(c->model, "mf") != 0)
        return fr_fail(err, FR_ERR_USAGE, "model '%s' is not an explicit-rating model", c->model);
    fr_status st = fr_experiment_data(c, &rs->ds, err);
    if (st != FR_OK) return st;
    if (!rs->ds.rating) {
        run_state_free(rs);
        return fr_fail(err, FR_ERR_INPUT, "%s: has no ratings; matrix factorization (R1) needs explicit ratings",
                       rs->ds.source);
    }
    st = fr_split_users(&rs->split, rs->ds.n_users, c->train_fraction, c->val_fraction, c->seed, err);
    if (st == FR_OK && (rs->split.n_train == 0 || rs->split.n_test == 0))
        st = fr_fail(err, FR_ERR_INPUT, "%s: %d users are too few to split into train/validation/test",
                     rs->ds.source, rs->ds.n_users);
    if (st == FR_OK)
        st = fr_mf_create(&rs->model, rs->ds.n_items, c->dim, c->bias, c->init_scale, c->seed, err);
    if (st != FR_OK) {
        run_state_free(rs);
        return st;
    }
    fr_mf_client_cfg_train(&rs->train_cc, c);
    fr_mf_client_cfg_eval(&rs->eval_cc, c);
    rs->eval_cc.baseline = train_mean_rating(&rs->ds, &rs->split, c->max_examples);
    return FR_OK;
}

static fr_status evaluate(run_state *rs, const int32_t *users, int32_t n, fr_mf_eval_sum *sum,
                          fr_error *err) {
    return fr_mf_eval_users(sum, &rs->model, &rs->ds, users, n, &rs->eval_cc, rs->c->seed, err);
}

static void progress_line(int round, int rounds, double loss, double acc, double elapsed) {
    double eta = round > 0 ? elapsed / round * (rounds - round) : 0.0;
    fprintf(stderr, "\rround %d/%d  loss %.4f  accuracy %.4f  ETA %.1fs   ", round, rounds, loss,
            acc, eta);
    if (round == rounds) fputc('\n', stderr);
    fflush(stderr);
}

/* ---- the federated rounds (FedRecon or stateful FedAvg-MF), through the engine ---- */

typedef struct mf_fed {
    run_state *rs;
    int stateful;
    int32_t state_w;         /* K (+1 user bias) */
    float *user_state;       /* [n_train x state_w]: what each client keeps on its device */
    int32_t *state_of;       /* [n_users] row of user_state, -1 for users not trained */
    fr_mf_client **workers;  /* [n_workers] scratch of each engine slot */
    int n_workers;
} mf_fed;

static void mf_fed_free(mf_fed *f) {
    if (f->workers)
        for (int t = 0; t < f->n_workers; t++) fr_mf_client_destroy(f->workers[t]);
    free(f->workers);
    fr_free(f->user_state);
    fr_free(f->state_of);
}

static fr_status mf_fed_init(mf_fed *f, run_state *rs, int threads, fr_error *err) {
    const fr_config *c = rs->c;
    memset(f, 0, sizeof *f);
    f->rs = rs;
    f->stateful = strcmp(c->algorithm, "fedavg") == 0;
    f->state_w = c->dim + (c->bias ? 1 : 0);
    f->n_workers = threads;
    f->workers = calloc((size_t)threads, sizeof *f->workers);
    if (!f->workers) return fr_nomem(err, "client workers", (size_t)threads * sizeof *f->workers);
    fr_status st = FR_OK;
    for (int t = 0; t < threads && st == FR_OK; t++)
        st = fr_mf_client_create(&f->workers[t], c->dim, c->bias, err);
    if (st != FR_OK || !f->stateful) return st;
    const int32_t K = c->dim;
    f->user_state = fr_alloc((size_t)rs->split.n_train * (size_t)f->state_w, sizeof(float));
    f->state_of = fr_alloc((size_t)rs->ds.n_users, sizeof(int32_t));
    if (!f->user_state || !f->state_of)
        return fr_nomem(err, "client user vectors", (size_t)rs->split.n_train * (size_t)f->state_w * 4);
    for (int32_t u = 0; u < rs->ds.n_users; u++) f->state_of[u] = -1;
    for (int32_t i = 0; i < rs->split.n_train; i++) {
        float *us = f->user_state + (int64_t)i * f->state_w;
        fr_rng rng;
        fr_rng_init(&rng, c->seed, 0, (uint32_t)rs->split.train[i], FR_PURPOSE_INIT_LOCAL);
        fr_mf_init_user(us, K, c->init_scale, &rng);
        if (c->bias) us[K] = 0.0f;
        f->state_of[rs->split.train[i]] = i;
    }
    return FR_OK;
}

static fr_status mf_client(void *ctx, int slot, const float *params, int32_t client,
                           uint32_t round, int want_score, fr_update *up, fr_error *err) {
    mf_fed *f = ctx;
    run_state *rs = f->rs;
    (void)want_score; /* refused before the run: MF clients report no validation score */
    fr_mf_model m = rs->model; /* the same layout, the engine's parameters */
    m.params = (float *)params;
    fr_user_view v = fr_dataset_user(&rs->ds, client);
    if (f->stateful)
        return fr_fedavg_mf_client_update(up, f->workers[slot], &m,
                                          f->user_state + (int64_t)f->state_of[client] * f->state_w,
                                          v, &rs->train_cc, rs->c->seed, round, err);
    return fr_fedrecon_client_update(up, f->workers[slot], &m, v, &rs->train_cc, rs->c->seed,
                                     round, err);
}

/* Reconstruct-and-score the validation users; the key is -MSE. */
static fr_status mf_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err) {
    run_state *rs = ((mf_fed *)ctx)->rs;
    fr_mf_model m = rs->model;
    m.params = (float *)params;
    fr_mf_eval_sum vs;
    fr_status st = fr_mf_eval_users(&vs, &m, &rs->ds, rs->split.val, rs->split.n_val, &rs->eval_cc,
                                    rs->c->seed, err);
    if (st != FR_OK) return st;
    out->key = vs.n ? -vs.sq_err / (double)vs.n : 0.0;
    out->json = eval_json(&vs);
    return FR_OK;
}

static fr_status train_federated(run_state *rs, fr_history *h, int progress, int threads,
                                 fr_fl_outcome *out, fr_error *err) {
    const fr_config *c = rs->c;
    if (strcmp(c->selection, "best") == 0)
        return fr_fail(err, FR_ERR_USAGE, "train.selection = best needs clients that report a "
                       "validation score; model mf's clients do not (use selection = all)");
    mf_fed f;
    fr_status st = mf_fed_init(&f, rs, threads, err);
    if (st == FR_OK) {
        fr_fl_model fm = { .layout = &rs->model.layout, .params = rs->model.params,
                           .clients = rs->split.train, .n_clients = rs->split.n_train, .ctx = &f,
                           .client_update = mf_client, .validate = mf_validate,
                           .key_name = "-loss", .accuracy_name = "rating_accuracy" };
        st = fr_fl_run(&fm, c, threads, h, progress, out, err);
    }
    mf_fed_free(&f);
    return st;
}

/* Centralized MF: one history line per epoch; with eval.keep_best, the parameters of
 * the best validation (lowest loss) are kept. *epochs, *best_epoch as the engine's
 * outcome (rounds, best_round). */
static fr_status train_central(run_state *rs, fr_history *h, int progress, int32_t *epochs,
                               int32_t *best_epoch, fr_error *err) {
    const fr_config *c = rs->c;
    const int64_t P = rs->model.layout.size;
    fr_central_mf cm;
    fr_status st = fr_central_mf_init(&cm, &rs->model, &rs->ds, rs->split.train, rs->split.n_train,
                                      c->max_examples, c->central_batch_size, c->init_scale, c->seed, err);
    if (st != FR_OK) return st;
    float *best = c->eval_keep_best ? fr_alloc((size_t)P, sizeof(float)) : NULL;
    if (c->eval_keep_best && !best) {
        fr_central_mf_free(&cm);
        return fr_nomem(err, "best parameters", (size_t)P * 4);
    }
    if (best) memcpy(best, rs->model.params, (size_t)P * sizeof(float));
    double t_start = fr_now_seconds(), best_key = 0.0;
    int32_t since_best = 0;
    *best_epoch = *epochs = 0;
    for (int32_t ep = 1; ep <= c->central_epochs && st == FR_OK; ep++) {
        double t0 = fr_now_seconds();
        int64_t n_ok = 0;
        double loss = fr_central_mf_epoch(&cm, &rs->model, (uint32_t)ep, c->central_lr, c->l2, c->seed, &n_ok);
        if (!isfinite(loss)) {
            st = fr_fail(err, FR_ERR_RUNTIME, "epoch %d: the model diverged; lower central.lr", ep);
            break;
        }
        *epochs = ep;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "round", ep);
        cJSON_AddNumberToObject(line, "loss", loss);
        double accuracy = cm.n_examples ? (double)n_ok / (double)cm.n_examples : 0.0;
        cJSON_AddNumberToObject(line, "rating_accuracy", accuracy);
        cJSON_AddNumberToObject(line, "examples", (double)cm.n_examples);
        cJSON_AddNumberToObject(line, "bytes_up", 0);
        cJSON_AddNumberToObject(line, "bytes_down", 0);
        int stop = 0;
        if ((c->eval_every > 0 && ep % c->eval_every == 0) || ep == c->central_epochs) {
            fr_mf_eval_sum vs;
            st = evaluate(rs, rs->split.val, rs->split.n_val, &vs, err);
            if (st == FR_OK) {
                cJSON_AddItemToObject(line, "valid", eval_json(&vs));
                double key = vs.n ? -vs.sq_err / (double)vs.n : 0.0;
                if (*best_epoch == 0 || key > best_key) {
                    best_key = key;
                    *best_epoch = ep;
                    since_best = 0;
                    if (best) memcpy(best, rs->model.params, (size_t)P * sizeof(float));
                } else if (c->eval_patience > 0 && ++since_best >= c->eval_patience) {
                    stop = 1;
                }
            }
        }
        cJSON_AddNumberToObject(line, "seconds", fr_now_seconds() - t0);
        if (st == FR_OK) st = fr_history_append(h, line, err);
        cJSON_Delete(line);
        if (progress) progress_line(ep, c->central_epochs, loss, accuracy, fr_now_seconds() - t_start);
        if (stop) break;
    }
    if (best) {
        memcpy(rs->model.params, best, (size_t)P * sizeof(float));
    } else {
        *best_epoch = *epochs;
    }
    fr_free(best);
    fr_central_mf_free(&cm);
    return st;
}

fr_status fr_train_mf_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out, fr_error *err) {
    double t_start = fr_now_seconds();
    if (final_out) *final_out = NULL;
    fr_status st = fr_config_validate(c, err);
    if (st != FR_OK) return st;
    if (o->threads > 0) omp_set_num_threads(o->threads);
    const int threads = omp_get_max_threads();
    const int central = strcmp(c->algorithm, "central") == 0;
    run_state rs;
    st = run_state_init(&rs, c, err);
    if (st != FR_OK) return st;
    char path[1200];
    fr_history h = { 0 };
    st = fr_mkdirs(o->out_dir, err);
    if (st == FR_OK) {
        fr_run_path(path, sizeof path, o->out_dir, "history.jsonl");
        st = fr_history_open(&h, path, err);
    }
    fr_fl_outcome fo;
    memset(&fo, 0, sizeof fo);
    if (st == FR_OK) {
        if (central) st = train_central(&rs, &h, o->progress, &fo.rounds, &fo.best_round, err);
        else st = train_federated(&rs, &h, o->progress, threads, &fo, err);
    }
    cJSON *final = NULL;
    if (st == FR_OK) { /* the kept parameters: the best validated, or the last */
        fr_mf_eval_sum test, valid;
        st = evaluate(&rs, rs.split.test, rs.split.n_test, &test, err);
        if (st == FR_OK) st = evaluate(&rs, rs.split.val, rs.split.n_val, &valid, err);
        if (st == FR_OK) {
            final = cJSON_CreateObject();
            cJSON_AddItemToObject(final, "test", eval_json(&test));
            cJSON_AddItemToObject(final, "valid", eval_json(&valid));
            cJSON_AddStringToObject(final, "algorithm", c->algorithm);
            cJSON_AddNumberToObject(final, central ? "epochs" : "rounds", fo.rounds);
            cJSON_AddNumberToObject(final, central ? "best_epoch" : "best_round", fo.best_round);
            if (!central) {
                cJSON_AddNumberToObject(final, "client_updates", (double)fo.client_updates);
                cJSON_AddNumberToObject(final, "sim_time", fo.sim_time);
                cJSON_AddNumberToObject(final, "train_seconds", fo.train_seconds);
            }
            cJSON_AddNumberToObject(final, "train_users", rs.split.n_train);
            cJSON_AddNumberToObject(final, "valid_users", rs.split.n_val);
            cJSON_AddNumberToObject(final, "test_users", rs.split.n_test);
        }
    }
    if (st == FR_OK) { /* model.safetensors: the global tensors and the server optimizer's moments */
        fr_run_path(path, sizeof path, o->out_dir, "model.safetensors");
        fr_checkpoint_info info = { "mf", c, fo.rounds, "server_optimizer", fo.opt_m, fo.opt_v,
                                    fo.opt_steps, &rs.ds };
        st = fr_checkpoint_write(path, &rs.model.layout, rs.model.params, &info, err);
    }
    st = fr_run_finish(st, o->out_dir, &h, final, c, t_start, final_out, err);
    fr_fl_outcome_free(&fo);
    run_state_free(&rs);
    return st;
}

fr_status fr_eval_mf_checkpoint(const char *model_path, const char *data_path, const char *format,
                                int threads, cJSON **result, fr_error *err) {
    *result = NULL;
    if (threads > 0) omp_set_num_threads(threads);
    fr_safetensors ck;
    fr_config c;
    fr_config_defaults(&c);
    fr_status st = fr_checkpoint_open(model_path, "mf", &ck, &c, err);
    if (st != FR_OK) return st;
    if (data_path && data_path[0]) snprintf(c.data_path, sizeof c.data_path, "%s", data_path);
    if (format && format[0]) snprintf(c.data_format, sizeof c.data_format, "%s", format);
    run_state rs;
    st = run_state_init(&rs, &c, err);
    if (st != FR_OK) {
        fr_safetensors_free(&ck);
        return st;
    }
    st = fr_checkpoint_load_params(&ck, model_path, &rs.model.layout, rs.model.params, err);
    if (st == FR_OK) {
        fr_mf_eval_sum test;
        st = evaluate(&rs, rs.split.test, rs.split.n_test, &test, err);
        if (st == FR_OK) {
            *result = cJSON_CreateObject();
            cJSON_AddItemToObject(*result, "test", eval_json(&test));
        }
    }
    run_state_free(&rs);
    fr_safetensors_free(&ck);
    return st;
}
