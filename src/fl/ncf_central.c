/* ncf_central.c - centralized training of the implicit-feedback scorers (train.algorithm
 * = central): the same model on all users' examples shuffled together, Adam, the
 * engine's keep-best and patience rules.
 * Leaves out: sparse Adam (every batch steps the whole parameter vector). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/loss.h"
#include "fedrec/optim.h"
#include "fedrec/rng.h"
#include "fedrec/timer.h"
#include "ncf_internal.h"

/* ---- centralized training of the same scorer ---- */

/* Every client's examples of one epoch (negatives redrawn each epoch, as a round),
 * shuffled together (seeded by the epoch), in batches of B that mix users as
 * centralized NCF training does; one thread; Adam on [item table | scorer | user
 * table] with central.lr. ex is the epoch's scratch: ex->user/item/label [total]. */
typedef struct central_ex {
    int32_t *user, *item, *order;
    float *label;
    int64_t cap;
} central_ex;

static double central_epoch(ncf_run *r, central_ex *ex, float *grad, fr_optim *opt, int32_t epoch,
                            int64_t *n_ex, fr_error *err, fr_status *st) {
    ncf_slot *s = &r->slot[0];
    const int32_t K = r->K;
    const int64_t P = r->layout.size;
    double loss = 0.0;
    int64_t E = 0;
    for (int32_t ci = 0; ci < r->n_clients && *st == FR_OK; ci++) {
        const int32_t user = r->clients[ci];
        int64_t e;
        int32_t nr;
        *st = ncf_build_examples(s, r, fr_dataset_user(&r->ds, user), (uint32_t)epoch, &e, &nr, err);
        if (*st != FR_OK) break;
        for (int32_t i = 0; i < nr; i++) s->local_of[s->rows[i]] = -1;
        for (int64_t i = 0; i < e; i++, E++) {
            ex->user[E] = user;
            ex->item[E] = s->ex_item[i];
            ex->label[E] = s->ex_label[i];
            ex->order[E] = (int32_t)E;
        }
    }
    *n_ex = E;
    if (*st != FR_OK) return 0.0;
    fr_rng shuf;
    fr_rng_init(&shuf, r->c->seed, (uint32_t)epoch, 0, FR_PURPOSE_SHUFFLE);
    fr_rng_shuffle_i32(&shuf, ex->order, E);
    const float *sc = r->scorer_off >= 0 ? r->params + r->scorer_off : NULL;
    for (int64_t b0 = 0; b0 < E; b0 += r->B) {
        const int64_t n = b0 + r->B < E ? r->B : E - b0;
        for (int64_t i = 0; i < n; i++) {
            const int32_t x = ex->order[b0 + i];
            s->bl[i] = ex->item[x];
            s->y[i] = ex->label[x];
            memcpy(s->q + i * K, r->params + (int64_t)s->bl[i] * K, (size_t)K * sizeof(float));
            if (r->user_vec)
                memcpy(s->u + i * K, r->uvec + (int64_t)ex->user[x] * K, (size_t)K * sizeof(float));
        }
        fr_ncf_forward(s->work, &r->nc, sc, r->user_vec ? s->u : NULL, s->q, n, s->z);
        loss += fr_bce_logits(s->dz, s->z, s->y, n);
        memset(grad, 0, (size_t)(P + (int64_t)r->ds.n_users * K) * sizeof(float));
        fr_ncf_backward(s->work, &r->nc, sc, r->user_vec ? s->u : NULL, s->q, n, s->dz,
                        r->scorer_off >= 0 ? grad + r->scorer_off : NULL,
                        r->user_vec ? s->du : NULL, s->dq);
        for (int64_t i = 0; i < n; i++) {
            float *gi = grad + (int64_t)s->bl[i] * K;                                   /* [K] */
            float *gu = grad + P + (int64_t)ex->user[ex->order[b0 + i]] * K;            /* [K] */
            for (int32_t k = 0; k < K; k++) {
                gi[k] += s->dq[i * K + k];
                if (r->user_vec) gu[k] += s->du[i * K + k];
            }
        }
        fr_optim_step(opt, r->params, grad);
    }
    return loss;
}

fr_status ncf_train_central(ncf_run *r, fr_history *h, int progress, fr_fl_outcome *out,
                               fr_error *err) {
    const fr_config *c = r->c;
    const int64_t total = r->layout.size + (int64_t)r->ds.n_users * r->K;
    float *grad = fr_alloc((size_t)total, sizeof(float)), *best = fr_alloc((size_t)total, sizeof(float));
    central_ex ex = { 0 };
    for (int32_t ci = 0; ci < r->n_clients; ci++) {
        const fr_loo l = fr_loo_split(fr_dataset_user(&r->ds, r->clients[ci]));
        ex.cap += l.n_train * (1 + (int64_t)c->negatives);
    }
    fr_optim opt;
    fr_status st = fr_optim_init(&opt, FR_OPTIM_ADAM, total, c->central_lr, 0.0, c->central_beta1,
                                 c->central_beta2, c->central_eps, err);
    if (st == FR_OK && ex.cap > INT32_MAX)
        st = fr_fail(err, FR_ERR_USAGE, "train.algorithm = central: %lld examples an epoch, more "
                     "than %d", (long long)ex.cap, INT32_MAX);
    if (st == FR_OK) {
        const size_t m = (size_t)(ex.cap > 0 ? ex.cap : 1);
        ex.user = fr_alloc(m, sizeof(int32_t));
        ex.item = fr_alloc(m, sizeof(int32_t));
        ex.order = fr_alloc(m, sizeof(int32_t));
        ex.label = fr_alloc(m, sizeof(float));
        if (!ex.user || !ex.item || !ex.order || !ex.label)
            st = fr_nomem(err, "an epoch's examples", m * 16);
    }
    if (st == FR_OK && (!grad || !best)) st = fr_nomem(err, "central gradients", (size_t)total * 8);
    int32_t since = 0;
    for (int32_t ep = 1; ep <= c->central_epochs && st == FR_OK; ep++) {
        double t0 = fr_now_seconds();
        int64_t n_ex;
        double loss = central_epoch(r, &ex, grad, &opt, ep, &n_ex, err, &st);
        if (st != FR_OK) break;
        if (!isfinite(loss)) {
            st = fr_fail(err, FR_ERR_RUNTIME, "epoch %d: the model diverged; lower central.lr", ep);
            break;
        }
        out->train_seconds += fr_now_seconds() - t0;
        out->rounds = ep;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "epoch", ep);
        cJSON_AddNumberToObject(line, "loss", n_ex ? loss / (double)n_ex : 0.0);
        cJSON_AddNumberToObject(line, "examples", (double)n_ex);
        cJSON_AddNumberToObject(line, "seconds", fr_now_seconds() - t0);
        int stop = 0;
        if ((c->eval_every > 0 && ep % c->eval_every == 0) || ep == c->central_epochs) {
            const int had = r->have_best;
            const double before = r->best_key;
            fr_fl_eval v = { 0.0, NULL };
            st = ncf_validate(r, r->params, &v, err);
            if (v.json) cJSON_AddItemToObject(line, "valid", v.json);
            if (st == FR_OK && (!had || v.key > before)) {
                out->best_round = ep;
                since = 0;
                memcpy(best, r->params, (size_t)total * sizeof(float));
            } else if (st == FR_OK && c->eval_patience > 0 && ++since >= c->eval_patience) {
                stop = 1;
            }
        }
        if (st == FR_OK) st = fr_history_append(h, line, err);
        cJSON_Delete(line);
        if (progress) {
            fprintf(stderr, "\repoch %d/%d  best valid HR@10 %.4f (epoch %d)   ", ep, c->central_epochs,
                    r->have_best ? r->best_key : 0.0, out->best_round);
            fflush(stderr);
        }
        if (stop) break;
    }
    if (progress) fputc('\n', stderr);
    if (st == FR_OK && c->eval_keep_best && out->best_round > 0)
        memcpy(r->params, best, (size_t)total * sizeof(float));
    fr_optim_free(&opt);
    fr_free(grad);
    fr_free(best);
    fr_free(ex.user);
    fr_free(ex.item);
    fr_free(ex.order);
    fr_free(ex.label);
    return st;
}

