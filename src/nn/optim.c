/* optim.c - SGD (with momentum), Adam, AdamW and Yogi over flat buffers, with an
 * optional coupled L2 term on one range; equations and sources in optim.h.
 * Leaves out: AMSGrad, Adagrad (FedAdagrad) and the sparse (lazy) variants; they come
 * with the models that need them. */
#include "fedrec/optim.h"

#include <math.h>
#include <string.h>
#include "fedrec/alloc.h"

/* Yogi's v starts at tau^2 = eps^2 (Reddi et al. 2021, algorithm 2); other kinds at 0. */
static void fill_yogi_v0(fr_optim *o) {
    if (o->kind != FR_OPTIM_YOGI) return;
    const float v0 = (float)(o->eps * o->eps);
    for (int64_t i = 0; i < o->n; i++) o->v[i] = v0;
}

fr_status fr_optim_init(fr_optim *o, fr_optim_kind kind, int64_t n, double lr, double momentum,
                        double beta1, double beta2, double eps, fr_error *err) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->lr = lr;
    o->momentum = momentum;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->n = n;
    int adaptive = kind == FR_OPTIM_ADAM || kind == FR_OPTIM_ADAMW || kind == FR_OPTIM_YOGI;
    if (adaptive || momentum != 0.0) {
        o->m = fr_calloc((size_t)n, sizeof(float));
        if (!o->m) return fr_nomem(err, "optimizer first moment", (size_t)n * sizeof(float));
    }
    if (adaptive) {
        o->v = fr_calloc((size_t)n, sizeof(float));
        if (!o->v) {
            fr_optim_free(o);
            return fr_nomem(err, "optimizer second moment", (size_t)n * sizeof(float));
        }
        fill_yogi_v0(o);
    }
    return FR_OK;
}

/* The gradient of element i with the coupled L2 term: g_i + l2 * p_i inside
 * [lo, hi), g_i outside. p is read before this step changes it. */
static inline double grad_at(const float *params, const float *grad, int64_t i, double l2,
                             int64_t lo, int64_t hi) {
    double g = grad[i];
    if (i >= lo && i < hi) g += l2 * params[i];
    return g;
}

/* One step's rule on params[b..e): the step counter is already advanced. */
static void step_range(fr_optim *o, float *params, const float *grad, int64_t b, int64_t e) {
    /* an empty range when L2 is off, so the loops below need no second test */
    int64_t lo = 0, hi = 0;
    if (o->l2 != 0.0) {
        lo = o->l2_begin < 0 ? 0 : o->l2_begin;
        hi = o->l2_end > o->n ? o->n : o->l2_end;
    }
    if (o->kind == FR_OPTIM_SGD) {
        if (!o->m) {
            for (int64_t i = b; i < e; i++)
                params[i] -= (float)(o->lr * grad_at(params, grad, i, o->l2, lo, hi));
            return;
        }
        for (int64_t i = b; i < e; i++) {
            o->m[i] = (float)(o->momentum * o->m[i] + grad_at(params, grad, i, o->l2, lo, hi));
            params[i] -= (float)(o->lr * o->m[i]);
        }
        return;
    }
    if (o->kind == FR_OPTIM_YOGI) {
        for (int64_t i = b; i < e; i++) {
            double g = grad_at(params, grad, i, o->l2, lo, hi);
            double g2 = g * g, v = o->v[i];
            double m = o->beta1 * o->m[i] + (1.0 - o->beta1) * g;
            v -= (1.0 - o->beta2) * g2 * (double)((v > g2) - (v < g2)); /* sign(v - g^2) */
            o->m[i] = (float)m;
            o->v[i] = (float)v;
            params[i] -= (float)(o->lr * m / (sqrt(v) + o->eps));
        }
        return;
    }
    const double c1 = 1.0 - pow(o->beta1, (double)o->t);
    const double c2 = 1.0 - pow(o->beta2, (double)o->t);
    /* decay 1 leaves p bit-for-bit as it is, so Adam takes the same path unchanged */
    const double decay = o->kind == FR_OPTIM_ADAMW ? 1.0 - o->lr * o->weight_decay : 1.0;
    for (int64_t i = b; i < e; i++) {
        double g = grad_at(params, grad, i, o->l2, lo, hi);
        double m = o->beta1 * o->m[i] + (1.0 - o->beta1) * g;
        double v = o->beta2 * o->v[i] + (1.0 - o->beta2) * g * g;
        o->m[i] = (float)m;
        o->v[i] = (float)v;
        float p = decay == 1.0 ? params[i] : (float)(decay * params[i]);
        params[i] = p - (float)(o->lr * (m / c1) / (sqrt(v / c2) + o->eps));
    }
}

void fr_optim_step(fr_optim *o, float *params, const float *grad) {
    o->t++;
    step_range(o, params, grad, 0, o->n);
}

void fr_optim_step_ranges(fr_optim *o, float *params, const float *grad, const int64_t *begin,
                          const int64_t *end, int n_ranges) {
    o->t++;
    for (int k = 0; k < n_ranges; k++) step_range(o, params, grad, begin[k], end[k]);
}

void fr_optim_reset(fr_optim *o) {
    if (o->m) memset(o->m, 0, (size_t)o->n * sizeof(float));
    if (o->v) {
        memset(o->v, 0, (size_t)o->n * sizeof(float));
        fill_yogi_v0(o);
    }
    o->t = 0;
}

void fr_optim_free(fr_optim *o) {
    fr_free(o->m);
    fr_free(o->v);
    o->m = o->v = NULL;
}
