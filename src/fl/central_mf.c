/* central_mf.c - centralized MF by minibatch SGD (the ceiling for R1's federated
 * algorithms); the loss and gradient are mf.c's.
 * Leaves out: ALS and other solvers: the point is the same model and loss trained with
 * all data in one place. */
#include "fedrec/central_mf.h"

#include <string.h>
#include "fedrec/alloc.h"

fr_status fr_central_mf_init(fr_central_mf *c, const fr_mf_model *m, const fr_dataset *ds,
                             const int32_t *users, int32_t n_users, int32_t max_examples,
                             int32_t batch_size, double init_scale, uint64_t seed,
                             fr_error *err) {
    memset(c, 0, sizeof *c);
    c->n_users = n_users;
    c->K = m->dim;
    c->bias = m->bias;
    c->batch_size = batch_size;
    int64_t E = 0;
    for (int32_t i = 0; i < n_users; i++) {
        int64_t n = fr_dataset_user(ds, users[i]).n;
        E += (max_examples > 0 && n > max_examples) ? max_examples : n;
    }
    c->n_examples = E;
    size_t K = (size_t)c->K, N = (size_t)m->n_items;
    c->user = fr_alloc((size_t)n_users * K, 4);
    c->duser = fr_calloc((size_t)n_users * K, 4);
    c->ubias = fr_calloc((size_t)n_users + 1, 4);
    c->dubias = fr_calloc((size_t)n_users + 1, 4);
    c->ditem = fr_calloc(N * K, 4);
    c->dibias = fr_calloc(N, 4);
    c->urow = fr_alloc((size_t)E + 1, 4);
    c->irow = fr_alloc((size_t)E + 1, 4);
    c->y = fr_alloc((size_t)E + 1, 4);
    c->perm = fr_alloc((size_t)E + 1, 4);
    c->bu = fr_alloc((size_t)batch_size, 4);
    c->bi = fr_alloc((size_t)batch_size, 4);
    c->by = fr_alloc((size_t)batch_size, 4);
    if (!c->user || !c->duser || !c->ubias || !c->dubias || !c->ditem || !c->dibias ||
        !c->urow || !c->irow || !c->y || !c->perm || !c->bu || !c->bi || !c->by) {
        fr_central_mf_free(c);
        return fr_nomem(err, "centralized MF", (size_t)E * 16 + (size_t)n_users * K * 8);
    }
    int64_t e = 0;
    for (int32_t i = 0; i < n_users; i++) {
        fr_user_view v = fr_dataset_user(ds, users[i]);
        int64_t n = (max_examples > 0 && v.n > max_examples) ? max_examples : v.n;
        for (int64_t j = 0; j < n; j++, e++) {
            c->urow[e] = i;
            c->irow[e] = v.item[j];
            c->y[e] = v.rating ? v.rating[j] : 1.0f;
        }
        fr_rng rng;
        fr_rng_init(&rng, seed, 0, (uint32_t)users[i], FR_PURPOSE_INIT_LOCAL);
        fr_mf_init_user(c->user + (size_t)i * K, c->K, init_scale, &rng);
    }
    for (int64_t i = 0; i < E; i++) c->perm[i] = (int32_t)i;
    return FR_OK;
}

double fr_central_mf_epoch(fr_central_mf *c, fr_mf_model *m, uint32_t epoch, double lr,
                           double l2, uint64_t seed, int64_t *n_correct) {
    const int32_t K = c->K;
    fr_rng rng;
    fr_rng_init(&rng, seed, epoch, 0, FR_PURPOSE_SHUFFLE);
    fr_rng_shuffle_i32(&rng, c->perm, c->n_examples);
    float *item = fr_mf_item(m), *ibias = fr_mf_ibias(m), *gbias = fr_mf_gbias(m);
    float dg = 0.0f;
    fr_mf_view p = { c->user, c->bias ? c->ubias : NULL, item, ibias, gbias };
    fr_mf_view g = { c->duser, c->bias ? c->dubias : NULL, c->ditem,
                     c->bias ? c->dibias : NULL, c->bias ? &dg : NULL };
    double loss_sum = 0.0;
    for (int64_t s = 0; s < c->n_examples; s += c->batch_size) {
        int32_t B = (int32_t)(c->n_examples - s < c->batch_size ? c->n_examples - s : c->batch_size);
        for (int32_t b = 0; b < B; b++) {
            int32_t e = c->perm[s + b];
            c->bu[b] = c->urow[e];
            c->bi[b] = c->irow[e];
            c->by[b] = c->y[e];
        }
        fr_mf_batch batch = { B, c->bu, c->bi, c->by };
        dg = 0.0f;
        loss_sum += B * fr_mf_forward_backward(&g, &p, &batch, K, l2, n_correct, NULL);
        for (int32_t b = 0; b < B; b++) { /* apply each touched row once, then zero it */
            float *u = c->user + (int64_t)c->bu[b] * K, *du = c->duser + (int64_t)c->bu[b] * K;
            float *v = item + (int64_t)c->bi[b] * K, *dv = c->ditem + (int64_t)c->bi[b] * K;
            for (int32_t k = 0; k < K; k++) {
                u[k] -= (float)(lr * du[k]);
                du[k] = 0.0f;
                v[k] -= (float)(lr * dv[k]);
                dv[k] = 0.0f;
            }
            if (c->bias) {
                c->ubias[c->bu[b]] -= (float)(lr * c->dubias[c->bu[b]]);
                c->dubias[c->bu[b]] = 0.0f;
                ibias[c->bi[b]] -= (float)(lr * c->dibias[c->bi[b]]);
                c->dibias[c->bi[b]] = 0.0f;
            }
        }
        if (c->bias) gbias[0] -= (float)(lr * dg);
    }
    return c->n_examples ? loss_sum / (double)c->n_examples : 0.0;
}

void fr_central_mf_free(fr_central_mf *c) {
    fr_free(c->user); fr_free(c->duser); fr_free(c->ubias); fr_free(c->dubias);
    fr_free(c->ditem); fr_free(c->dibias); fr_free(c->urow); fr_free(c->irow);
    fr_free(c->y); fr_free(c->perm); fr_free(c->bu); fr_free(c->bi); fr_free(c->by);
    memset(c, 0, sizeof *c);
}
