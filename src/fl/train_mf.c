/* train_mf.c - an R1 experiment from start to finish: Federated Reconstruction, the
 * stateful FedAvg-MF baseline or centralized MF, all scored on the same unseen users
 * the same way, and the run directory they leave.
 *
 * A federated round (Singhal et al. 2021, algorithm 1; McMahan et al. 2017):
 *   sample clients without replacement -> each trains on its own data (in parallel) ->
 *   average their item-row deltas in client order (weighted by examples or uniform) ->
 *   the server optimizer applies the average (SGD lr 1 = FedAvg; Adam = FedAdam) ->
 *   every eval.every rounds, reconstruct-and-score the validation users.
 * The model tested and saved is the one after the last round.
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
    fr_optim server_opt;
    fr_mf_client_cfg train_cc, eval_cc;
    fr_mf_eval_sum last_valid;  /* the validation figures of the final model */
    int have_last_valid;
} run_state;

static void run_state_free(run_state *rs) {
    fr_dataset_free(&rs->ds);
    fr_user_split_free(&rs->split);
    fr_mf_destroy(&rs->model);
    fr_optim_free(&rs->server_opt);
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

static void progress_line(int round, int rounds, double loss, double acc, double cps,
                          double elapsed) {
    double eta = round > 0 ? elapsed / round * (rounds - round) : 0.0;
    fprintf(stderr, "\rround %d/%d  loss %.4f  accuracy %.4f  %.0f clients/s  ETA %.1fs   ",
            round, rounds, loss, acc, cps, eta);
    if (round == rounds) fputc('\n', stderr);
    fflush(stderr);
}

/* The federated rounds (FedRecon or stateful FedAvg-MF). */
static fr_status train_federated(run_state *rs, fr_history *h, int progress, fr_error *err) {
    const fr_config *c = rs->c;
    const int stateful = strcmp(c->algorithm, "fedavg") == 0;
    const fr_param_layout *L = &rs->model.layout;
    const int32_t K = c->dim, state_w = K + (c->bias ? 1 : 0);
    int32_t cpr = c->clients_per_round < rs->split.n_train ? c->clients_per_round : rs->split.n_train;
    fr_status status = FR_OK;

    int32_t *sel = fr_alloc((size_t)cpr + 1, 4);
    fr_update *ups = calloc((size_t)cpr + 1, sizeof *ups);
    float *avg = fr_alloc((size_t)L->size, 4), *grad = fr_alloc((size_t)L->size, 4);
    double *acc = fr_alloc((size_t)L->size, 8);
    float *user_state = NULL;
    if (stateful) { /* what each training client keeps on its device between rounds */
        user_state = fr_alloc((size_t)rs->split.n_train * (size_t)state_w, 4);
        if (user_state)
            for (int32_t i = 0; i < rs->split.n_train; i++) {
                fr_rng rng;
                fr_rng_init(&rng, c->seed, 0, (uint32_t)rs->split.train[i], FR_PURPOSE_INIT_LOCAL);
                fr_mf_init_user(user_state + (int64_t)i * state_w, K, c->init_scale, &rng);
                if (c->bias) user_state[(int64_t)i * state_w + K] = 0.0f;
            }
    }
    int nthreads = omp_get_max_threads();
    fr_mf_client **workers = calloc((size_t)nthreads, sizeof *workers);
    if (!sel || !ups || !avg || !grad || !acc || !workers || (stateful && !user_state)) {
        status = fr_nomem(err, "round buffers", (size_t)L->size * 16);
        goto done;
    }
    for (int t = 0; t < nthreads && status == FR_OK; t++)
        status = fr_mf_client_create(&workers[t], K, c->bias, err);

    double t_start = fr_now_seconds();
    for (int32_t round = 1; round <= c->rounds && status == FR_OK; round++) {
        double t0 = fr_now_seconds();
        int32_t k = fr_sample_clients(sel, rs->split.n_train, cpr, c->seed, (uint32_t)round);
        fr_status round_st = FR_OK;
        #pragma omp parallel
        {
            fr_mf_client *w = workers[omp_get_thread_num()];
            fr_error e2 = { "" };
            fr_status st = FR_OK;
            #pragma omp for schedule(dynamic, 1)
            for (int32_t i = 0; i < k; i++) {
                if (st != FR_OK) continue;
                int32_t user = rs->split.train[sel[i]];
                fr_user_view v = fr_dataset_user(&rs->ds, user);
                if (stateful)
                    st = fr_fedavg_mf_client_update(&ups[i], w, &rs->model,
                                                    user_state + (int64_t)sel[i] * state_w, v,
                                                    &rs->train_cc, c->seed, (uint32_t)round, &e2);
                else
                    st = fr_fedrecon_client_update(&ups[i], w, &rs->model, v, &rs->train_cc,
                                                   c->seed, (uint32_t)round, &e2);
            }
            #pragma omp critical
            if (st != FR_OK && round_st == FR_OK) {
                round_st = st;
                *err = e2;
            }
        }
        if (round_st != FR_OK) {
            status = round_st;
            break;
        }
        fr_weighting wt = strcmp(c->weighting, "uniform") == 0 ? FR_WEIGHT_UNIFORM : FR_WEIGHT_EXAMPLES;
        fr_aggregate_mean(avg, acc, L, ups, k, wt);
        for (int64_t i = 0; i < L->size; i++) grad[i] = -avg[i];
        fr_optim_step(&rs->server_opt, rs->model.params, grad);

        double loss_sum = 0.0;
        int64_t n_ex = 0, n_ok = 0, bytes_up = 0;
        for (int32_t i = 0; i < k; i++) {
            loss_sum += ups[i].loss_sum;
            n_ex += ups[i].n_examples;
            n_ok += ups[i].n_correct;
            bytes_up += fr_update_bytes(&ups[i], L);
        }
        for (int64_t i = 0; i < L->size; i++)
            if (!isfinite(rs->model.params[i])) {
                status = fr_fail(err, FR_ERR_RUNTIME,
                                 "round %d: the model diverged (non-finite parameters); lower the learning rates",
                                 round);
                break;
            }
        double loss = n_ex ? loss_sum / (double)n_ex : 0.0, accuracy = n_ex ? (double)n_ok / (double)n_ex : 0.0;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "round", round);
        cJSON_AddNumberToObject(line, "loss", loss);
        cJSON_AddNumberToObject(line, "rating_accuracy", accuracy);
        cJSON_AddNumberToObject(line, "clients", k);
        cJSON_AddNumberToObject(line, "examples", (double)n_ex);
        cJSON_AddNumberToObject(line, "bytes_up", (double)bytes_up);
        cJSON_AddNumberToObject(line, "bytes_down", (double)k * 4.0 * (double)L->size);
        if (status == FR_OK && ((c->eval_every > 0 && round % c->eval_every == 0) || round == c->rounds)) {
            fr_mf_eval_sum vs;
            status = evaluate(rs, rs->split.val, rs->split.n_val, &vs, err);
            if (status == FR_OK) cJSON_AddItemToObject(line, "valid", eval_json(&vs));
            rs->last_valid = vs;
            rs->have_last_valid = round == c->rounds;
        }
        double secs = fr_now_seconds() - t0;
        cJSON_AddNumberToObject(line, "seconds", secs);
        if (status == FR_OK) status = fr_history_append(h, line, err);
        cJSON_Delete(line);
        if (progress)
            progress_line(round, c->rounds, loss, accuracy, secs > 0 ? k / secs : 0.0,
                          fr_now_seconds() - t_start);
    }
done:
    if (workers)
        for (int t = 0; t < nthreads; t++) fr_mf_client_destroy(workers[t]);
    free(workers);
    if (ups)
        for (int32_t i = 0; i < cpr; i++) fr_update_free(&ups[i]);
    free(ups);
    fr_free(sel); fr_free(avg); fr_free(grad); fr_free(acc); fr_free(user_state);
    return status;
}

/* Centralized MF: one history line per epoch. */
static fr_status train_central(run_state *rs, fr_history *h, int progress, fr_error *err) {
    const fr_config *c = rs->c;
    fr_central_mf cm;
    fr_status st = fr_central_mf_init(&cm, &rs->model, &rs->ds, rs->split.train, rs->split.n_train,
                                      c->max_examples, c->central_batch_size, c->init_scale, c->seed, err);
    if (st != FR_OK) return st;
    double t_start = fr_now_seconds();
    for (int32_t ep = 1; ep <= c->central_epochs && st == FR_OK; ep++) {
        double t0 = fr_now_seconds();
        int64_t n_ok = 0;
        double loss = fr_central_mf_epoch(&cm, &rs->model, (uint32_t)ep, c->central_lr, c->l2, c->seed, &n_ok);
        if (!isfinite(loss)) {
            st = fr_fail(err, FR_ERR_RUNTIME, "epoch %d: the model diverged; lower central.lr", ep);
            break;
        }
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "round", ep);
        cJSON_AddNumberToObject(line, "loss", loss);
        double accuracy = cm.n_examples ? (double)n_ok / (double)cm.n_examples : 0.0;
        cJSON_AddNumberToObject(line, "rating_accuracy", accuracy);
        cJSON_AddNumberToObject(line, "examples", (double)cm.n_examples);
        cJSON_AddNumberToObject(line, "bytes_up", 0);
        cJSON_AddNumberToObject(line, "bytes_down", 0);
        if ((c->eval_every > 0 && ep % c->eval_every == 0) || ep == c->central_epochs) {
            fr_mf_eval_sum vs;
            st = evaluate(rs, rs->split.val, rs->split.n_val, &vs, err);
            if (st == FR_OK) cJSON_AddItemToObject(line, "valid", eval_json(&vs));
            rs->last_valid = vs;
            rs->have_last_valid = ep == c->central_epochs;
        }
        cJSON_AddNumberToObject(line, "seconds", fr_now_seconds() - t0);
        if (st == FR_OK) st = fr_history_append(h, line, err);
        cJSON_Delete(line);
        if (progress) progress_line(ep, c->central_epochs, loss, accuracy, 0.0, fr_now_seconds() - t_start);
    }
    fr_central_mf_free(&cm);
    return st;
}

/* model.safetensors: the global tensors and the server optimizer's moments. */
static fr_status save_checkpoint(const run_state *rs, const char *path, int32_t rounds, fr_error *err) {
    fr_checkpoint_info info = { "mf", rs->c, rounds, "server_optimizer", rs->server_opt.m,
                                rs->server_opt.v, rs->server_opt.t, &rs->ds };
    return fr_checkpoint_write(path, &rs->model.layout, rs->model.params, &info, err);
}

fr_status fr_train_mf_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out, fr_error *err) {
    double t_start = fr_now_seconds();
    if (final_out) *final_out = NULL;
    fr_status st = fr_config_validate(c, err);
    if (st != FR_OK) return st;
    if (o->threads > 0) omp_set_num_threads(o->threads);
    run_state rs;
    st = run_state_init(&rs, c, err);
    if (st != FR_OK) return st;
    fr_optim_kind kind = strcmp(c->server_optimizer, "adam") == 0   ? FR_OPTIM_ADAM
                         : strcmp(c->server_optimizer, "yogi") == 0 ? FR_OPTIM_YOGI
                                                                    : FR_OPTIM_SGD;
    st = fr_optim_init(&rs.server_opt, kind, rs.model.layout.size, c->server_lr, c->server_momentum, c->server_beta1,
                       c->server_beta2, c->server_eps, err);
    char path[1200];
    fr_history h = { 0 };
    if (st == FR_OK) st = fr_mkdirs(o->out_dir, err);
    if (st == FR_OK) {
        fr_run_path(path, sizeof path, o->out_dir, "history.jsonl");
        st = fr_history_open(&h, path, err);
    }
    if (st == FR_OK) {
        if (strcmp(c->algorithm, "central") == 0) st = train_central(&rs, &h, o->progress, err);
        else st = train_federated(&rs, &h, o->progress, err);
    }
    cJSON *final = NULL;
    if (st == FR_OK) {
        fr_mf_eval_sum test, valid = rs.last_valid;
        st = evaluate(&rs, rs.split.test, rs.split.n_test, &test, err);
        if (st == FR_OK && !rs.have_last_valid) /* no round ran */
            st = evaluate(&rs, rs.split.val, rs.split.n_val, &valid, err);
        if (st == FR_OK) {
            final = cJSON_CreateObject();
            cJSON_AddItemToObject(final, "test", eval_json(&test));
            cJSON_AddItemToObject(final, "valid", eval_json(&valid));
            cJSON_AddStringToObject(final, "algorithm", c->algorithm);
            cJSON_AddNumberToObject(final, "train_users", rs.split.n_train);
            cJSON_AddNumberToObject(final, "valid_users", rs.split.n_val);
            cJSON_AddNumberToObject(final, "test_users", rs.split.n_test);
        }
    }
    if (st == FR_OK) {
        fr_run_path(path, sizeof path, o->out_dir, "model.safetensors");
        int32_t rounds = strcmp(c->algorithm, "central") == 0 ? c->central_epochs : c->rounds;
        st = save_checkpoint(&rs, path, rounds, err);
    }
    st = fr_run_finish(st, o->out_dir, &h, final, c, t_start, final_out, err);
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
