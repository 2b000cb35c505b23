/* mf_client.c - what an MF client does on its own data: cap, shuffle, batch, split into
 * reconstruction and training batches, SGD on the user or the items, and the delta of
 * the item rows it trained. Algorithms in fedrecon.h; equations in mf.h.
 * Leaves out: client optimizers other than plain SGD (the tutorial's and the paper's). */
#include "fedrec/fedrecon.h"

#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"

struct fr_mf_client {
    int32_t K;
    int bias;
    int64_t cap_n;
    int32_t cap_r;
    int64_t n;        /* examples after the cap */
    int32_t R;        /* distinct items among them */
    int32_t *order;   /* [n] example index in the view, shuffled */
    int32_t *irow;    /* [n] compact item row of each shuffled example */
    int32_t *urow;    /* [n] all zero: one user */
    float *y;         /* [n] rating of each shuffled example */
    int32_t *items;   /* [R] global item id of each compact row, ascending */
    float *item, *item0, *ditem;     /* [R x K] working copy, copy at arrival, gradient */
    float *ibias, *ibias0, *dibias;  /* [R] */
    uint8_t *touched;                /* [R] trained in the item phase */
    float *user, *duser;             /* [K] */
    float ubias, dubias, gbias, gbias0, dgbias;
};

void fr_mf_client_cfg_train(fr_mf_client_cfg *cc, const fr_config *c) {
    memset(cc, 0, sizeof *cc);
    cc->max_examples = c->max_examples;
    cc->batch_size = c->batch_size;
    cc->split = c->split_dataset;
    cc->recon_epochs = c->recon_epochs;
    cc->recon_steps_max = c->recon_steps_max;
    cc->recon_lr = c->recon_lr;
    int stateful = strcmp(c->algorithm, "fedavg") == 0;
    cc->train_epochs = stateful ? c->client_epochs : c->post_recon_epochs;
    cc->train_steps_max = stateful ? 0 : c->post_recon_steps_max;
    cc->train_lr = c->client_lr;
    cc->l2 = c->l2;
    cc->init_scale = c->init_scale;
}

void fr_mf_client_cfg_eval(fr_mf_client_cfg *cc, const fr_config *c) {
    fr_mf_client_cfg_train(cc, c);
    cc->split = 1; /* scoring on the reconstruction data would not be fair */
    cc->recon_epochs = c->eval_recon_epochs;
    cc->recon_steps_max = c->eval_recon_steps_max;
    cc->recon_lr = c->eval_recon_lr;
}

fr_status fr_mf_client_create(fr_mf_client **out, int32_t dim, int bias, fr_error *err) {
    fr_mf_client *c = calloc(1, sizeof *c);
    if (!c) return fr_nomem(err, "client scratch", sizeof *c);
    c->K = dim;
    c->bias = bias;
    c->user = fr_calloc((size_t)dim, sizeof(float));
    c->duser = fr_calloc((size_t)dim, sizeof(float));
    if (!c->user || !c->duser) {
        fr_mf_client_destroy(c);
        return fr_nomem(err, "client user vector", (size_t)dim * 8);
    }
    *out = c;
    return FR_OK;
}

/* Frees the per-example buffers (those that grow with the client's data). */
static void free_example_buffers(fr_mf_client *c) {
    fr_free(c->order); fr_free(c->irow); fr_free(c->urow); fr_free(c->y);
    fr_free(c->items); fr_free(c->item); fr_free(c->item0); fr_free(c->ditem);
    fr_free(c->ibias); fr_free(c->ibias0); fr_free(c->dibias); fr_free(c->touched);
}

void fr_mf_client_destroy(fr_mf_client *c) {
    if (!c) return;
    free_example_buffers(c);
    fr_free(c->user); fr_free(c->duser);
    free(c);
}

static fr_status reserve(fr_mf_client *c, int64_t n, fr_error *err) {
    if (n <= c->cap_n) return FR_OK;
    free_example_buffers(c);
    size_t K = (size_t)c->K;
    c->order = fr_alloc((size_t)n, 4);
    c->irow = fr_alloc((size_t)n, 4);
    c->urow = fr_calloc((size_t)n, 4);
    c->y = fr_alloc((size_t)n, 4);
    c->items = fr_alloc((size_t)n, 4);
    c->item = fr_alloc((size_t)n * K, 4);
    c->item0 = fr_alloc((size_t)n * K, 4);
    c->ditem = fr_calloc((size_t)n * K, 4);
    c->ibias = fr_alloc((size_t)n, 4);
    c->ibias0 = fr_alloc((size_t)n, 4);
    c->dibias = fr_calloc((size_t)n, 4);
    c->touched = fr_alloc((size_t)n, 1);
    if (!c->order || !c->irow || !c->urow || !c->y || !c->items || !c->item || !c->item0 ||
        !c->ditem || !c->ibias || !c->ibias0 || !c->dibias || !c->touched) {
        c->cap_n = 0;
        return fr_nomem(err, "client scratch", (size_t)n * (K * 12 + 40));
    }
    c->cap_n = n;
    return FR_OK;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Caps, shuffles and gathers the client's item rows from the global model. */
static fr_status prepare(fr_mf_client *c, const fr_mf_model *m, fr_user_view v,
                         const fr_mf_client_cfg *cc, fr_rng *rng, fr_error *err) {
    int64_t n = v.n;
    if (cc->max_examples > 0 && n > cc->max_examples) n = cc->max_examples;
    fr_status st = reserve(c, n, err);
    if (st != FR_OK) return st;
    c->n = n;
    for (int64_t i = 0; i < n; i++) c->order[i] = (int32_t)i;
    fr_rng_shuffle_i32(rng, c->order, n);
    for (int64_t i = 0; i < n; i++) c->items[i] = v.item[i];
    qsort(c->items, (size_t)n, 4, cmp_i32);
    int32_t R = 0;
    for (int64_t i = 0; i < n; i++)
        if (R == 0 || c->items[R - 1] != c->items[i]) c->items[R++] = c->items[i];
    c->R = R;
    for (int64_t p = 0; p < n; p++) {
        int32_t it = v.item[c->order[p]];
        const int32_t *hit = bsearch(&it, c->items, (size_t)R, 4, cmp_i32);
        c->irow[p] = (int32_t)(hit - c->items);
        c->y[p] = v.rating ? v.rating[c->order[p]] : 1.0f;
    }
    const int32_t K = c->K;
    const float *gitem = fr_mf_item(m);
    const float *gib = fr_mf_ibias(m);
    for (int32_t r = 0; r < R; r++) {
        memcpy(c->item + (int64_t)r * K, gitem + (int64_t)c->items[r] * K, (size_t)K * 4);
        c->ibias[r] = gib ? gib[c->items[r]] : 0.0f;
    }
    memcpy(c->item0, c->item, (size_t)R * (size_t)K * 4);
    memcpy(c->ibias0, c->ibias, (size_t)R * 4);
    memset(c->touched, 0, (size_t)R);
    const float *gb = fr_mf_gbias(m);
    c->gbias = c->gbias0 = gb ? gb[0] : 0.0f;
    return FR_OK;
}

enum { BATCHES_ALL, BATCHES_EVEN, BATCHES_ODD };

/* Whether batch b takes part when `which` batches are selected. */
static int batch_selected(int which, int64_t b) {
    return which == BATCHES_ALL || (which == BATCHES_EVEN) == (b % 2 == 0);
}

static fr_mf_view param_view(fr_mf_client *c) {
    fr_mf_view p = { c->user, c->bias ? &c->ubias : NULL, c->item,
                     c->bias ? c->ibias : NULL, c->bias ? &c->gbias : NULL };
    return p;
}

typedef struct sgd_stats {
    double loss_sum;
    int64_t n_correct, n_examples;
} sgd_stats;

/* SGD over the selected batches for `epochs` passes, at most steps_max steps (0: no
 * cap), on the user (train_user) and/or the items and global bias (train_items). */
static void run_sgd(fr_mf_client *c, int which, int32_t bs, int32_t epochs, int32_t steps_max,
                    double lr, double l2, int train_user, int train_items, sgd_stats *stats) {
    const int32_t K = c->K;
    const int64_t nb = (c->n + bs - 1) / bs;
    fr_mf_view p = param_view(c);
    fr_mf_view g = { train_user ? c->duser : NULL, train_user && c->bias ? &c->dubias : NULL,
                     train_items ? c->ditem : NULL, train_items && c->bias ? c->dibias : NULL,
                     train_items && c->bias ? &c->dgbias : NULL };
    int64_t steps = 0;
    for (int32_t ep = 0; ep < epochs; ep++) {
        for (int64_t b = 0; b < nb; b++) {
            if (!batch_selected(which, b)) continue;
            if (steps_max > 0 && steps >= steps_max) return;
            int64_t s = b * bs, e = s + bs < c->n ? s + bs : c->n;
            fr_mf_batch batch = { (int32_t)(e - s), c->urow + s, c->irow + s, c->y + s };
            memset(c->duser, 0, (size_t)K * 4);
            c->dubias = c->dgbias = 0.0f;
            int64_t correct = 0;
            double loss = fr_mf_forward_backward(&g, &p, &batch, K, l2, &correct, NULL);
            if (stats) {
                stats->loss_sum += loss * batch.n;
                stats->n_correct += correct;
                stats->n_examples += batch.n;
            }
            if (train_user) {
                for (int32_t k = 0; k < K; k++) c->user[k] -= (float)(lr * c->duser[k]);
                c->ubias -= (float)(lr * c->dubias);
            }
            if (train_items) {
                for (int32_t i = 0; i < batch.n; i++) { /* apply each row once, then zero it */
                    int32_t r = batch.irow[i];
                    float *w = c->item + (int64_t)r * K, *dw = c->ditem + (int64_t)r * K;
                    for (int32_t k = 0; k < K; k++) {
                        w[k] -= (float)(lr * dw[k]);
                        dw[k] = 0.0f;
                    }
                    c->ibias[r] -= (float)(lr * c->dibias[r]);
                    c->dibias[r] = 0.0f;
                    c->touched[r] = 1;
                }
                c->gbias -= (float)(lr * c->dgbias);
            }
            steps++;
        }
    }
}

/* Examples in the selected batches (one pass). */
static int64_t count_examples(const fr_mf_client *c, int which, int32_t bs) {
    int64_t nb = (c->n + bs - 1) / bs, total = 0;
    for (int64_t b = 0; b < nb; b++) {
        if (!batch_selected(which, b)) continue;
        int64_t s = b * bs, e = s + bs < c->n ? s + bs : c->n;
        total += e - s;
    }
    return total;
}

/* Writes the delta of the trained rows (and of the global bias) into out. */
static fr_status emit_delta(fr_update *out, fr_mf_client *c, const fr_mf_model *m, fr_error *err) {
    int32_t n_rows = 0;
    for (int32_t r = 0; r < c->R; r++) n_rows += c->touched[r];
    fr_status st = fr_update_reserve(out, &m->layout, n_rows, err);
    if (st != FR_OK) return st;
    const int32_t K = c->K;
    const int64_t width = fr_layout_sparse_width(&m->layout);
    int32_t j = 0;
    for (int32_t r = 0; r < c->R; r++) {
        if (!c->touched[r]) continue;
        out->rows[j] = c->items[r];
        float *dst = out->sparse + (int64_t)j * width;
        const float *w = c->item + (int64_t)r * K, *w0 = c->item0 + (int64_t)r * K;
        for (int32_t k = 0; k < K; k++) dst[k] = w[k] - w0[k];
        if (c->bias) dst[K] = c->ibias[r] - c->ibias0[r];
        j++;
    }
    out->n_rows = n_rows;
    if (c->bias) out->dense[0] = c->gbias - c->gbias0;
    return FR_OK;
}

static void reset_metrics(fr_update *out) {
    out->n_rows = 0;
    out->weight = 0.0;
    out->loss_sum = 0.0;
    out->n_correct = out->n_examples = 0;
}

fr_status fr_fedrecon_client_update(fr_update *out, fr_mf_client *c, const fr_mf_model *m,
                                    fr_user_view v, const fr_mf_client_cfg *cc,
                                    uint64_t seed, uint32_t round, fr_error *err) {
    reset_metrics(out);
    fr_rng shuffle, init;
    fr_rng_init(&shuffle, seed, round, (uint32_t)v.user, FR_PURPOSE_SHUFFLE);
    fr_rng_init(&init, seed, round, (uint32_t)v.user, FR_PURPOSE_INIT_LOCAL);
    fr_status st = prepare(c, m, v, cc, &shuffle, err);
    if (st != FR_OK) return st;
    fr_mf_init_user(c->user, c->K, cc->init_scale, &init);
    c->ubias = 0.0f;
    int recon_which = cc->split ? BATCHES_EVEN : BATCHES_ALL;
    int train_which = cc->split ? BATCHES_ODD : BATCHES_ALL;
    run_sgd(c, recon_which, cc->batch_size, cc->recon_epochs, cc->recon_steps_max, cc->recon_lr,
            cc->l2, 1, 0, NULL);
    sgd_stats stats = { 0 };
    run_sgd(c, train_which, cc->batch_size, cc->train_epochs, cc->train_steps_max, cc->train_lr,
            cc->l2, 0, 1, &stats);
    out->loss_sum = stats.loss_sum;
    out->n_correct = stats.n_correct;
    out->n_examples = stats.n_examples;
    out->weight = stats.n_examples > 0 ? (double)count_examples(c, train_which, cc->batch_size) : 0.0;
    return emit_delta(out, c, m, err);
}

fr_status fr_fedavg_mf_client_update(fr_update *out, fr_mf_client *c, const fr_mf_model *m,
                                     float *user_state, fr_user_view v,
                                     const fr_mf_client_cfg *cc, uint64_t seed,
                                     uint32_t round, fr_error *err) {
    reset_metrics(out);
    fr_rng shuffle;
    fr_rng_init(&shuffle, seed, round, (uint32_t)v.user, FR_PURPOSE_SHUFFLE);
    fr_status st = prepare(c, m, v, cc, &shuffle, err);
    if (st != FR_OK) return st;
    memcpy(c->user, user_state, (size_t)c->K * 4);
    c->ubias = c->bias ? user_state[c->K] : 0.0f;
    sgd_stats stats = { 0 };
    run_sgd(c, BATCHES_ALL, cc->batch_size, cc->train_epochs, 0, cc->train_lr, cc->l2, 1, 1, &stats);
    memcpy(user_state, c->user, (size_t)c->K * 4);
    if (c->bias) user_state[c->K] = c->ubias;
    out->loss_sum = stats.loss_sum;
    out->n_correct = stats.n_correct;
    out->n_examples = stats.n_examples;
    out->weight = (double)c->n;
    return emit_delta(out, c, m, err);
}

fr_status fr_mf_eval_user(fr_mf_eval_sum *sum, fr_mf_client *c, const fr_mf_model *m,
                          fr_user_view v, const fr_mf_client_cfg *cc, uint64_t seed,
                          fr_error *err) {
    fr_rng rng;
    fr_rng_init(&rng, seed, 0, (uint32_t)v.user, FR_PURPOSE_EVAL);
    fr_status st = prepare(c, m, v, cc, &rng, err);
    if (st != FR_OK) return st;
    fr_mf_init_user(c->user, c->K, cc->init_scale, &rng);
    c->ubias = 0.0f;
    run_sgd(c, BATCHES_EVEN, cc->batch_size, cc->recon_epochs, cc->recon_steps_max, cc->recon_lr,
            cc->l2, 1, 0, NULL);
    fr_mf_view p = param_view(c);
    const int32_t bs = cc->batch_size;
    for (int64_t i = 0; i < c->n; i++) {
        if (!batch_selected(BATCHES_ODD, i / bs)) continue;
        double d = (double)fr_mf_predict(&p, 0, c->irow[i], c->K) - c->y[i];
        sum->sq_err += d * d;
        sum->n_correct += (d <= 0.5 && d >= -0.5);
        sum->n++;
        double db = cc->baseline - c->y[i];
        sum->base_sq_err += db * db;
        sum->base_correct += (db <= 0.5 && db >= -0.5);
    }
    return FR_OK;
}

fr_status fr_mf_eval_users(fr_mf_eval_sum *sum, const fr_mf_model *m, const fr_dataset *ds,
                           const int32_t *users, int32_t n_users, const fr_mf_client_cfg *cc,
                           uint64_t seed, fr_error *err) {
    memset(sum, 0, sizeof *sum);
    fr_mf_eval_sum *per = calloc((size_t)n_users + 1, sizeof *per);
    if (!per) return fr_nomem(err, "evaluation sums", (size_t)n_users * sizeof *per);
    fr_status status = FR_OK;
    #pragma omp parallel
    {
        fr_mf_client *c = NULL;
        fr_error local_err = { "" };
        fr_status st = fr_mf_client_create(&c, m->dim, m->bias, &local_err);
        #pragma omp for schedule(dynamic, 8)
        for (int32_t i = 0; i < n_users; i++) {
            if (st == FR_OK)
                st = fr_mf_eval_user(&per[i], c, m, fr_dataset_user(ds, users[i]), cc, seed,
                                     &local_err);
        }
        #pragma omp critical
        if (st != FR_OK && status == FR_OK) {
            status = st;
            if (err) *err = local_err;
        }
        fr_mf_client_destroy(c);
    }
    for (int32_t i = 0; i < n_users; i++) { /* user order: independent of threads */
        sum->sq_err += per[i].sq_err;
        sum->n_correct += per[i].n_correct;
        sum->n += per[i].n;
        sum->base_sq_err += per[i].base_sq_err;
        sum->base_correct += per[i].base_correct;
    }
    free(per);
    return status;
}
