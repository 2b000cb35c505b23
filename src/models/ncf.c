/* ncf.c - the implicit-feedback scorers (see ncf.h): dot product, affine and MLP, with
 * their backward passes and the logit BCE. The MLP uses the linear and activation
 * layers of nn.h, which are gradient-checked on their own.
 * Leaves out: NeuMF's GMF+MLP fusion (none of the reference systems uses it).
 */
#include "fedrec/ncf.h"

#include <math.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/nn.h"

struct fr_ncf_work {
    int64_t cap;
    float *x;                          /* [N x 2K] the MLP input [u ; q] */
    float *pre[FR_NCF_MAX_LAYERS];     /* [N x width[l+1]] before the activation */
    float *act[FR_NCF_MAX_LAYERS];     /* [N x width[l+1]] after it */
    float *da, *db;                    /* [N x max width] gradient ping-pong */
    float *dw;                         /* [max layer size] scratch when the scorer is frozen */
};

fr_status fr_ncf_cfg_init(fr_ncf_cfg *c, fr_ncf_scorer scorer, int32_t dim,
                          const int32_t *hidden, int32_t n_hidden, int relu, fr_error *err) {
    memset(c, 0, sizeof *c);
    c->scorer = scorer;
    c->dim = dim;
    c->relu = relu;
    if (scorer != FR_NCF_MLP) return FR_OK;
    if (n_hidden < 0 || n_hidden > FR_NCF_MAX_LAYERS - 1)
        return fr_fail(err, FR_ERR_USAGE, "model.layers: at most %d hidden layers (got %d)",
                       FR_NCF_MAX_LAYERS - 1, n_hidden);
    c->n_layers = n_hidden + 1;
    c->width[0] = 2 * dim;
    for (int32_t l = 0; l < n_hidden; l++) c->width[l + 1] = hidden[l];
    c->width[c->n_layers] = 1;
    return FR_OK;
}

int64_t fr_ncf_scorer_size(const fr_ncf_cfg *c) {
    if (c->scorer == FR_NCF_DOT) return 0;
    if (c->scorer == FR_NCF_AFFINE) return (int64_t)c->dim + 1;
    int64_t n = 0;
    for (int l = 0; l < c->n_layers; l++) n += ((int64_t)c->width[l] + 1) * c->width[l + 1];
    return n;
}

/* Offsets of layer l's W [in x out] and b [out] in s. */
static int64_t layer_off(const fr_ncf_cfg *c, int l) {
    int64_t o = 0;
    for (int i = 0; i < l; i++) o += ((int64_t)c->width[i] + 1) * c->width[i + 1];
    return o;
}

void fr_ncf_scorer_init(const fr_ncf_cfg *c, float *s, fr_rng *rng) {
    if (c->scorer == FR_NCF_AFFINE) {
        const double a = 1.0 / sqrt((double)c->dim);
        for (int32_t k = 0; k <= c->dim; k++) s[k] = (float)(a * (2.0 * fr_rng_uniform(rng) - 1.0));
        return;
    }
    for (int l = 0; l < c->n_layers; l++) {
        const double a = 1.0 / sqrt((double)c->width[l]);
        float *p = s + layer_off(c, l);
        const int64_t n = ((int64_t)c->width[l] + 1) * c->width[l + 1];
        for (int64_t i = 0; i < n; i++) p[i] = (float)(a * (2.0 * fr_rng_uniform(rng) - 1.0));
    }
}

void fr_ncf_work_destroy(fr_ncf_work *w) {
    if (!w) return;
    fr_free(w->x);
    for (int l = 0; l < FR_NCF_MAX_LAYERS; l++) {
        fr_free(w->pre[l]);
        fr_free(w->act[l]);
    }
    fr_free(w->da);
    fr_free(w->db);
    fr_free(w->dw);
    fr_free(w);
}

fr_status fr_ncf_work_create(fr_ncf_work **out, const fr_ncf_cfg *c, int64_t cap, fr_error *err) {
    *out = NULL;
    fr_ncf_work *w = fr_calloc(1, sizeof *w);
    if (!w) return fr_nomem(err, "scorer work space", sizeof *w);
    w->cap = cap;
    int64_t wmax = 2 * (int64_t)c->dim, lmax = (int64_t)c->dim + 1;
    int ok = 1;
    if (c->scorer == FR_NCF_MLP) {
        ok = (w->x = fr_alloc((size_t)(cap * 2 * c->dim), sizeof(float))) != NULL;
        for (int l = 0; l < c->n_layers && ok; l++) {
            const int64_t o = c->width[l + 1];
            wmax = o > wmax ? o : wmax;
            const int64_t ls = ((int64_t)c->width[l] + 1) * o;
            lmax = ls > lmax ? ls : lmax;
            w->pre[l] = fr_alloc((size_t)(cap * o), sizeof(float));
            w->act[l] = fr_alloc((size_t)(cap * o), sizeof(float));
            ok = w->pre[l] && w->act[l];
        }
    }
    w->da = fr_alloc((size_t)(cap * wmax), sizeof(float));
    w->db = fr_alloc((size_t)(cap * wmax), sizeof(float));
    w->dw = fr_alloc((size_t)lmax, sizeof(float));
    if (!ok || !w->da || !w->db || !w->dw) {
        fr_ncf_work_destroy(w);
        return fr_nomem(err, "scorer work space", (size_t)(cap * wmax * 8));
    }
    *out = w;
    return FR_OK;
}

void fr_ncf_forward(fr_ncf_work *w, const fr_ncf_cfg *c, const float *s, const float *u,
                    const float *q, int64_t n, float *z) {
    const int K = c->dim;
    if (c->scorer == FR_NCF_DOT) {
        for (int64_t i = 0; i < n; i++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) acc += (double)u[i * K + k] * q[i * K + k];
            z[i] = (float)acc;
        }
        return;
    }
    if (c->scorer == FR_NCF_AFFINE) {
        fr_linear_forward(z, q, s, s + K, n, K, 1);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(w->x + i * 2 * K, u + i * K, (size_t)K * sizeof(float));
        memcpy(w->x + i * 2 * K + K, q + i * K, (size_t)K * sizeof(float));
    }
    const float *in = w->x;
    for (int l = 0; l < c->n_layers; l++) {
        const int ic = c->width[l], oc = c->width[l + 1];
        const float *W = s + layer_off(c, l);
        const int last = l == c->n_layers - 1;
        fr_linear_forward(last ? z : w->pre[l], in, W, W + (int64_t)ic * oc, n, ic, oc);
        if (last) break;
        if (c->relu) fr_activation_forward(w->act[l], w->pre[l], n * oc, FR_ACT_RELU);
        else memcpy(w->act[l], w->pre[l], (size_t)(n * oc) * sizeof(float));
        in = w->act[l];
    }
}

void fr_ncf_backward(fr_ncf_work *w, const fr_ncf_cfg *c, const float *s, const float *u,
                     const float *q, int64_t n, const float *dz, float *ds, float *du,
                     float *dq) {
    const int K = c->dim;
    if (c->scorer == FR_NCF_DOT) {
        for (int64_t i = 0; i < n; i++)
            for (int k = 0; k < K; k++) {
                dq[i * K + k] = dz[i] * u[i * K + k];
                if (du) du[i * K + k] = dz[i] * q[i * K + k];
            }
        return;
    }
    if (c->scorer == FR_NCF_AFFINE) {
        memset(dq, 0, (size_t)(n * K) * sizeof(float));
        float *dw = ds ? ds : w->dw;
        if (!ds) memset(dw, 0, (size_t)(K + 1) * sizeof(float));
        fr_linear_backward(dq, dw, dw + K, dz, q, s, n, K, 1);
        if (du) memset(du, 0, (size_t)(n * K) * sizeof(float));
        return;
    }
    const float *dout = dz;
    float *buf[2] = { w->da, w->db };
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const int ic = c->width[l], oc = c->width[l + 1];
        const float *W = s + layer_off(c, l);
        const float *in = l ? w->act[l - 1] : w->x;
        float *din = buf[l & 1];
        float *dW = ds ? ds + layer_off(c, l) : w->dw;
        if (!ds) memset(dW, 0, (size_t)(((int64_t)ic + 1) * oc) * sizeof(float));
        memset(din, 0, (size_t)(n * ic) * sizeof(float));
        fr_linear_backward(din, dW, dW + (int64_t)ic * oc, dout, in, W, n, ic, oc);
        if (l == 0) break;
        if (c->relu) { /* through the previous layer's ReLU, in place */
            const float *pre = w->pre[l - 1];
#pragma omp simd
            for (int64_t i = 0; i < n * ic; i++) din[i] = pre[i] > 0.0f ? din[i] : 0.0f;
        }
        dout = din; /* the next layer writes the other buffer */
    }
    const float *dx = buf[0]; /* layer 0's input gradient [N x 2K] */
    for (int64_t i = 0; i < n; i++) {
        if (du) memcpy(du + i * K, dx + i * 2 * K, (size_t)K * sizeof(float));
        memcpy(dq + i * K, dx + i * 2 * K + K, (size_t)K * sizeof(float));
    }
}
