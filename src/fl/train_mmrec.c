/* train_mmrec.c - federated SASRec with client memory and multimodal experts (model
 * mmrec: FedMem, R2, and FedDMMR, R3) from start to finish: data (data.top_users), item
 * features, the model, a previous stage's checkpoint (train.init_from), frozen groups
 * (train.freeze), the clients' memories and the global abstract memory, FedAvg through
 * the engine, validation and test under both ranking protocols with each user's
 * memory, and the run directory. model.safetensors holds the parameters and, as the
 * tensor "memory.global" [K x Dt], the global abstract memory.
 *
 * Evaluation: a user is scored by the global parameters with its own memory as the
 * last round it trained left it (empty if it never trained) plus the global prototypes.
 * Leaves out: centralized mmrec training (the centralized SASRec baseline is model
 * sasrec, train.algorithm central) and `fedrec eval` of an mmrec checkpoint (the
 * memories are client state the checkpoint does not hold).
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/checkpoint.h"
#include "fedrec/engine.h"
#include "fedrec/fileio.h"
#include "fedrec/itemfeat.h"
#include "fedrec/mmrec.h"
#include "fedrec/mmrec_memory.h"
#include "fedrec/optim.h"
#include "fedrec/rank_eval.h"
#include "fedrec/sasrec_client.h"
#include "fedrec/timer.h"
#include "fedrec/train.h"
#include "train_internal.h"

typedef struct mm_run {
    const fr_config *c;
    int threads;
    fr_dataset ds;
    float *text, *image;    /* [N x Dt], [N x Dv] item features */
    int32_t dt, dv;
    fr_mmrec model;
    fr_mm_memories mem;
    fr_sasrec_clients *cl;
    fr_mmrec_work **eval_work;  /* [threads] */
    float **keys;               /* [threads][max_keys x Dt] */
    int32_t **key_items;        /* [threads][max_keys] */
    float *cache;               /* [fr_mmrec_cache_size] item terms of the params validated */
    int32_t *users;             /* users with a training pair */
    int32_t n_users;
} mm_run;

static void run_free(mm_run *r) {
    if (r->eval_work)
        for (int t = 0; t < r->threads; t++) {
            fr_mmrec_work_destroy(r->eval_work[t]);
            fr_free(r->keys[t]);
            fr_free(r->key_items[t]);
        }
    fr_free(r->eval_work);
    fr_free(r->keys);
    fr_free(r->key_items);
    fr_free(r->cache);
    fr_free(r->users);
    fr_sasrec_clients_destroy(r->cl);
    fr_mm_memories_destroy(&r->mem);
    fr_mmrec_destroy(&r->model);
    fr_free(r->text);
    fr_free(r->image);
    fr_dataset_free(&r->ds);
}

static fr_mm_fusion fusion_of(const char *s) {
    return strcmp(s, "none") == 0       ? FR_MM_FUSION_NONE
           : strcmp(s, "weighted") == 0 ? FR_MM_FUSION_WEIGHTED
           : strcmp(s, "learned") == 0  ? FR_MM_FUSION_LEARNED
           : strcmp(s, "adaptive") == 0 ? FR_MM_FUSION_ADAPTIVE
                                        : FR_MM_FUSION_RESIDUAL;
}

static fr_mm_loss loss_of(const char *s) {
    return strcmp(s, "bce") == 0 ? FR_MM_LOSS_BCE
           : strcmp(s, "bpr") == 0 ? FR_MM_LOSS_BPR
                                   : FR_MM_LOSS_SOFTMAX;
}

/* Marks every tensor of the train.freeze groups FR_SCOPE_FROZEN (the names were checked
 * by fr_config_validate). */
static fr_status freeze_groups(mm_run *r, fr_error *err) {
    static const char *const groups[] = { "item", "sasrec", "experts", "fusion" };
    for (int g = 0; g < 4; g++) {
        if (!fr_freeze_has(r->c->freeze, groups[g])) continue;
        int idx[FR_MAX_TENSORS];
        const int k = fr_mmrec_group(&r->model, groups[g], idx, FR_MAX_TENSORS);
        for (int i = 0; i < k; i++) r->model.sas.layout.t[idx[i]].scope = FR_SCOPE_FROZEN;
    }
    int trained = 0;
    for (int i = 0; i < r->model.sas.layout.n; i++) trained += r->model.sas.layout.t[i].scope == FR_SCOPE_GLOBAL;
    if (!trained)
        return fr_fail(err, FR_ERR_USAGE, "train.freeze '%s' leaves nothing to train", r->c->freeze);
    return FR_OK;
}

static fr_status run_init(mm_run *r, const fr_config *c, int threads, fr_error *err) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->threads = threads > 0 ? threads : omp_get_max_threads();
    fr_status st = fr_experiment_data(c, &r->ds, err);
    if (st != FR_OK) return st;
    st = fr_itemfeat_text(&r->ds, c->mm_text_features, c->mm_feature_map, c->mm_text_dim,
                          c->seed, &r->text, &r->dt, err);
    if (st == FR_OK && c->mm_image_features[0])
        st = fr_itemfeat_load(&r->ds, c->mm_image_features, c->mm_feature_map, &r->image, &r->dv,
                              err);
    if (st != FR_OK) goto fail;
    fr_mmrec_cfg mc = {
        { r->ds.n_items, c->dim, c->blocks, c->heads, c->maxlen, (float)c->dropout,
          strcmp(c->activation, "gelu") == 0 ? FR_ACT_GELU : FR_ACT_RELU,
          strcmp(c->norm, "pre") == 0, 1e-8f },
        r->dt, r->dv, c->mm_heads, fusion_of(c->mm_fusion), (float)c->mm_gating_init,
        (float)c->mm_fusion_weight, loss_of(c->mm_loss), c->mm_in_batch,
        (float)c->mm_contrastive_lambda, (float)c->mm_temperature
    };
    st = fr_mmrec_create(&r->model, &mc, r->text, r->image, c->seed, err);
    if (st == FR_OK && c->init_from[0]) {
        st = fr_checkpoint_init_from(c->init_from, &r->model.sas.layout, r->model.sas.params, NULL,
                                     NULL, err);
    }
    if (st == FR_OK) st = freeze_groups(r, err);
    if (st == FR_OK) st = fr_mm_memories_create(&r->mem, c, r->ds.n_users, r->dt, r->dv, c->dim, err);
    if (st == FR_OK) st = fr_mmrec_clients_create(&r->cl, &r->model, &r->mem, &r->ds, c, r->threads, err);
    if (st != FR_OK) goto fail;
    const int32_t mk = fr_mm_memories_max_keys(&r->mem) > 0 ? fr_mm_memories_max_keys(&r->mem) : 1;
    r->eval_work = fr_calloc((size_t)r->threads, sizeof *r->eval_work);
    r->keys = fr_calloc((size_t)r->threads, sizeof *r->keys);
    r->key_items = fr_calloc((size_t)r->threads, sizeof *r->key_items);
    r->cache = fr_alloc((size_t)fr_mmrec_cache_size(&r->model) + 1, sizeof(float));
    r->users = fr_alloc((size_t)r->ds.n_users, sizeof(int32_t));
    if (!r->eval_work || !r->keys || !r->key_items || !r->cache || !r->users) {
        st = fr_nomem(err, "mmrec run state", 0);
        goto fail;
    }
    for (int t = 0; t < r->threads && st == FR_OK; t++) {
        st = fr_mmrec_work_create(&r->eval_work[t], &r->model, 1, c->maxlen, mk, 0, err);
        r->keys[t] = fr_alloc((size_t)mk * (size_t)r->dt, sizeof(float));
        r->key_items[t] = fr_alloc((size_t)mk, sizeof(int32_t));
        if (st == FR_OK && (!r->keys[t] || !r->key_items[t])) st = fr_nomem(err, "memory keys", 0);
    }
    if (st != FR_OK) goto fail;
    for (int32_t u = 0; u < r->ds.n_users; u++)
        if (fr_loo_split(fr_dataset_user(&r->ds, u)).n_train >= 2) r->users[r->n_users++] = u;
    if (r->n_users == 0) {
        st = fr_fail(err, FR_ERR_INPUT, "%s: no user has two training items (a sequence needs "
                     "at least 4 items to train and hold out two)", r->ds.source);
        goto fail;
    }
    return FR_OK;
fail:
    run_free(r);
    return st;
}

typedef struct score_ctx {
    mm_run *r;
    const float *params;
} score_ctx;

static fr_status score_fn(void *ctx, int slot, int32_t user, const int32_t *hist, int64_t len,
                          const int32_t *cands, int32_t n, float *scores, fr_error *err) {
    score_ctx *sc = ctx;
    mm_run *r = sc->r;
    const int32_t mk = fr_mm_memories_max_keys(&r->mem);
    const int32_t nk = mk > 0 ? fr_mm_memories_keys(&r->mem, user, r->keys[slot], r->key_items[slot], mk) : 0;
    return fr_mmrec_score(r->eval_work[slot], &r->model, sc->params, r->cache, hist, len,
                          r->keys[slot], r->key_items[slot], nk, cands, n, scores, err);
}

static fr_status evaluate(mm_run *r, const float *params, fr_eval_split split, int full,
                          int32_t max_users, fr_rank_eval_result *res, fr_error *err) {
    fr_status st = fr_mmrec_fill_cache(&r->model, params, r->cache, err);
    if (st != FR_OK) return st;
    score_ctx sc = { r, params };
    fr_rank_eval_opts o = { split, r->c->eval_negatives, full, max_users, r->c->seed, r->threads,
                            r->c->eval_paired_negatives };
    return fr_rank_eval(res, &r->ds, &o, score_fn, &sc, err);
}

static fr_status fed_validate(void *ctx, const float *params, fr_fl_eval *out, fr_error *err) {
    mm_run *r = ctx;
    fr_rank_eval_result res;
    fr_status st = evaluate(r, params, FR_EVAL_VALID, 0, r->c->eval_users, &res, err);
    if (st != FR_OK) return st;
    out->key = fr_rank_eval_hr10(&res);
    out->json = fr_rank_eval_json(&res);
    return FR_OK;
}

static fr_status fed_client(void *ctx, int slot, const float *params, int32_t client,
                            uint32_t round, int want_score, fr_update *up, fr_error *err) {
    return fr_sasrec_client_update(((mm_run *)ctx)->cl, slot, params, client, round, want_score,
                                   up, err);
}

static fr_status fed_round_end(void *ctx, const fr_update *const *ups, const double *weights,
                               int32_t n, uint32_t round, cJSON *line, fr_error *err) {
    return fr_mm_memories_round_end(&((mm_run *)ctx)->mem, ups, weights, n, round, line, err);
}

static int64_t fed_side_down(void *ctx) { return fr_mm_memories_down_bytes(&((mm_run *)ctx)->mem); }

/* model.safetensors: the parameters plus "memory.global" [K x Dt] when there are
 * prototypes (optimizer moments zero there). */
static fr_status write_model(mm_run *r, const char *path, const float *params, int32_t rounds,
                             const fr_fl_outcome *fo, fr_error *err) {
    fr_param_layout L = r->model.sas.layout;
    const int64_t P = L.size, G = (int64_t)r->mem.K * r->dt;
    if (G > 0 && fr_layout_add(&L, "memory.global", r->mem.K, r->dt, FR_SCOPE_FROZEN, 0) < 0)
        return fr_fail(err, FR_ERR_RUNTIME, "too many tensors to add the global memory");
    float *buf = fr_calloc((size_t)L.size, sizeof(float));
    float *m = fo->opt_m ? fr_calloc((size_t)L.size, sizeof(float)) : NULL;
    float *v = fo->opt_v ? fr_calloc((size_t)L.size, sizeof(float)) : NULL;
    fr_status st = FR_OK;
    if (!buf || (fo->opt_m && !m) || (fo->opt_v && !v)) {
        st = fr_nomem(err, "checkpoint buffer", (size_t)L.size * 12);
    } else {
        memcpy(buf, params, (size_t)P * sizeof(float));
        if (G > 0) memcpy(buf + P, r->mem.global, (size_t)G * sizeof(float));
        if (m) memcpy(m, fo->opt_m, (size_t)P * sizeof(float));
        if (v) memcpy(v, fo->opt_v, (size_t)P * sizeof(float));
        fr_checkpoint_info info = { "mmrec", r->c, rounds, "server_optimizer", m, v, fo->opt_steps,
                                    &r->ds };
        st = fr_checkpoint_write(path, &L, buf, &info, err);
    }
    fr_free(buf);
    fr_free(m);
    fr_free(v);
    return st;
}

static fr_status check_config(const fr_config *c, fr_error *err) {
    if (strcmp(c->algorithm, "fedavg") != 0)
        return fr_fail(err, FR_ERR_USAGE, "model mmrec: train.algorithm must be fedavg (got '%s'); "
                       "the centralized baseline is model.model = sasrec with train.algorithm = "
                       "central", c->algorithm);
    if (c->dim % c->heads)
        return fr_fail(err, FR_ERR_USAGE, "model.heads (%d) must divide model.dim (%d)", c->heads, c->dim);
    if (c->dim % c->mm_heads)
        return fr_fail(err, FR_ERR_USAGE, "mm.heads (%d) must divide model.dim (%d)", c->mm_heads, c->dim);
    return FR_OK;
}

fr_status fr_train_mmrec_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                             fr_error *err) {
    double t_start = fr_now_seconds();
    if (final_out) *final_out = NULL;
    fr_status st = fr_config_validate(c, err);
    if (st == FR_OK) st = check_config(c, err);
    if (st != FR_OK) return st;
    fr_blas_threads(o->threads);
    mm_run r;
    st = run_init(&r, c, o->threads, err);
    if (st != FR_OK) return st;
    if (r.dv == 0 && strcmp(c->mm_fusion, "none") != 0)
        fprintf(stderr, "mmrec: no mm.image_features, so the visual expert is off (semantic "
                "expert only)\n");
    char path[1200];
    fr_history h = { 0 };
    cJSON *final = NULL;
    st = fr_mkdirs(o->out_dir, err);
    if (st == FR_OK) {
        fr_run_path(path, sizeof path, o->out_dir, "history.jsonl");
        st = fr_history_open(&h, path, err);
    }
    fr_fl_outcome fo;
    memset(&fo, 0, sizeof fo);
    fr_fl_model fm = { .layout = &r.model.sas.layout, .params = r.model.sas.params,
                       .clients = r.users, .n_clients = r.n_users, .ctx = &r,
                       .client_update = fed_client, .validate = fed_validate,
                       .key_name = "HR@10", .round_end = fed_round_end,
                       .side_bytes_down = fed_side_down };
    if (st == FR_OK) st = fr_fl_run(&fm, c, r.threads, &h, o->progress, &fo, err);
    fr_rank_eval_result test, valid;
    if (st == FR_OK) st = evaluate(&r, r.model.sas.params, FR_EVAL_TEST, c->eval_full, 0, &test, err);
    if (st == FR_OK) st = evaluate(&r, r.model.sas.params, FR_EVAL_VALID, c->eval_full, 0, &valid, err);
    if (st == FR_OK) {
        final = cJSON_CreateObject();
        cJSON_AddItemToObject(final, "test", fr_rank_eval_json(&test));
        cJSON_AddItemToObject(final, "valid", fr_rank_eval_json(&valid));
        cJSON_AddStringToObject(final, "algorithm", c->algorithm);
        cJSON_AddStringToObject(final, "model", "mmrec");
        cJSON_AddBoolToObject(final, "visual_expert", r.dv > 0);
        cJSON_AddNumberToObject(final, "text_dim", r.dt);
        cJSON_AddNumberToObject(final, "image_dim", r.dv);
        cJSON_AddNumberToObject(final, "rounds", fo.rounds);
        cJSON_AddNumberToObject(final, "best_round", fo.best_round);
        cJSON_AddNumberToObject(final, "client_updates", (double)fo.client_updates);
        cJSON_AddNumberToObject(final, "sim_time", fo.sim_time);
        cJSON_AddNumberToObject(final, "clients", r.n_users);
        cJSON_AddNumberToObject(final, "train_seconds", fo.train_seconds);
        cJSON_AddNumberToObject(final, "seconds_per_round", fo.rounds ? fo.train_seconds / fo.rounds : 0.0);
        cJSON_AddNumberToObject(final, "global_memory_rows", r.mem.global_k);
        cJSON_AddNumberToObject(final, "users", r.ds.n_users);
        cJSON_AddNumberToObject(final, "items", r.ds.n_items);
        fr_run_path(path, sizeof path, o->out_dir, "model.safetensors");
        st = write_model(&r, path, r.model.sas.params, fo.rounds, &fo, err);
    }
    st = fr_run_finish(st, o->out_dir, &h, final, c, t_start, final_out, err);
    fr_fl_outcome_free(&fo);
    run_free(&r);
    return st;
}
