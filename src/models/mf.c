/* mf.c - matrix factorization: parameters, prediction and the loss gradient.
 *
 * The model of the TensorFlow Federated "Federated Reconstruction for matrix
 * factorization" tutorial (shared/reference/001) and of Singhal et al., "Federated
 * Reconstruction: Partially Local Federated Learning", NeurIPS 2021, section 5:
 * yhat = u . v_i, trained on squared error. Biases and L2 are optional extras, off by
 * default as in the tutorial.
 * Leaves out: implicit-feedback losses (those models live in their own files).
 */
#include "fedrec/mf.h"

#include <string.h>
#include "fedrec/alloc.h"

fr_status fr_mf_create(fr_mf_model *m, int32_t n_items, int32_t dim, int bias,
                       double init_scale, uint64_t seed, fr_error *err) {
    memset(m, 0, sizeof *m);
    m->n_items = n_items;
    m->dim = dim;
    m->bias = bias;
    m->t_item = fr_layout_add(&m->layout, "item_embedding", n_items, dim, FR_SCOPE_GLOBAL, 1);
    m->t_ibias = bias ? fr_layout_add(&m->layout, "item_bias", n_items, 1, FR_SCOPE_GLOBAL, 1) : -1;
    m->t_gbias = bias ? fr_layout_add(&m->layout, "global_bias", 1, 1, FR_SCOPE_GLOBAL, 0) : -1;
    m->params = fr_calloc((size_t)m->layout.size, sizeof(float));
    if (!m->params) return fr_nomem(err, "MF parameters", (size_t)m->layout.size * sizeof(float));
    fr_rng rng;
    fr_rng_init(&rng, seed, 0, 0, FR_PURPOSE_INIT_GLOBAL);
    float *item = fr_mf_item(m);
    for (int64_t i = 0; i < (int64_t)n_items * dim; i++)
        item[i] = (float)((2.0 * fr_rng_uniform(&rng) - 1.0) * init_scale);
    return FR_OK;
}

void fr_mf_destroy(fr_mf_model *m) {
    fr_free(m->params);
    memset(m, 0, sizeof *m);
}

float *fr_mf_item(const fr_mf_model *m) { return m->params + m->layout.t[m->t_item].offset; }
float *fr_mf_ibias(const fr_mf_model *m) {
    return m->t_ibias < 0 ? NULL : m->params + m->layout.t[m->t_ibias].offset;
}
float *fr_mf_gbias(const fr_mf_model *m) {
    return m->t_gbias < 0 ? NULL : m->params + m->layout.t[m->t_gbias].offset;
}

static double predict_d(const fr_mf_view *p, int32_t ur, int32_t ir, int32_t K) {
    const float *u = p->user + (int64_t)ur * K;  /* [K] */
    const float *v = p->item + (int64_t)ir * K;  /* [K] */
    double s = 0.0;
    for (int32_t k = 0; k < K; k++) s += (double)u[k] * v[k];
    if (p->gbias) s += p->gbias[0];
    if (p->ubias) s += p->ubias[ur];
    if (p->ibias) s += p->ibias[ir];
    return s;
}

float fr_mf_predict(const fr_mf_view *p, int32_t urow, int32_t irow, int32_t K) {
    return (float)predict_d(p, urow, irow, K);
}

double fr_mf_forward_backward(fr_mf_view *grad, const fr_mf_view *p, const fr_mf_batch *b,
                              int32_t K, double l2, int64_t *n_correct, double *sq_err) {
    const int32_t B = b->n;
    double loss = 0.0;
    for (int32_t e = 0; e < B; e++) {
        const int32_t ur = b->urow[e], ir = b->irow[e];
        const float *u = p->user + (int64_t)ur * K;  /* [K] */
        const float *v = p->item + (int64_t)ir * K;  /* [K] */
        double yhat = predict_d(p, ur, ir, K);
        double diff = yhat - b->y[e];
        loss += diff * diff;
        if (sq_err) *sq_err += diff * diff;
        if (n_correct && (diff <= 0.5 && diff >= -0.5)) (*n_correct)++;
        if (l2 > 0.0) {
            double r = 0.0;
            for (int32_t k = 0; k < K; k++) r += (double)u[k] * u[k] + (double)v[k] * v[k];
            if (p->ubias) r += (double)p->ubias[ur] * p->ubias[ur];
            if (p->ibias) r += (double)p->ibias[ir] * p->ibias[ir];
            loss += l2 * r;
        }
        if (!grad) continue;
        /* L = (1/B) sum (yhat - y)^2 + (l2/B) sum |theta|^2, yhat = u.v + g + bu + bi:
         * dL/dyhat = 2 diff / B; dyhat/du = v, dyhat/dv = u, dyhat/db = 1. */
        const double dy = 2.0 * diff / B;
        const double dr = 2.0 * l2 / B;
        if (grad->user) {
            float *du = grad->user + (int64_t)ur * K;
            for (int32_t k = 0; k < K; k++) du[k] += (float)(dy * v[k] + dr * u[k]);
        }
        if (grad->item) {
            float *dv = grad->item + (int64_t)ir * K;
            for (int32_t k = 0; k < K; k++) dv[k] += (float)(dy * u[k] + dr * v[k]);
        }
        if (grad->ubias && p->ubias) grad->ubias[ur] += (float)(dy + dr * p->ubias[ur]);
        if (grad->ibias && p->ibias) grad->ibias[ir] += (float)(dy + dr * p->ibias[ir]);
        if (grad->gbias && p->gbias) grad->gbias[0] += (float)dy;
    }
    return loss / B;
}

void fr_mf_init_user(float *user, int32_t K, double s, fr_rng *rng) {
    for (int32_t k = 0; k < K; k++) user[k] = (float)((2.0 * fr_rng_uniform(rng) - 1.0) * s);
}
