/* optim.c - SGD (with momentum) and Adam over flat buffers; equations in optim.h.
 * Leaves out: AdamW, Yogi and the sparse (lazy) variants; they come with the models
 * that need them. */
#include "fedrec/optim.h"

#include <math.h>
#include <string.h>
#include "fedrec/alloc.h"

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
    if (kind == FR_OPTIM_ADAM || momentum != 0.0) {
        o->m = fr_calloc((size_t)n, sizeof(float));
        if (!o->m) return fr_nomem(err, "optimizer first moment", (size_t)n * sizeof(float));
    }
    if (kind == FR_OPTIM_ADAM) {
        o->v = fr_calloc((size_t)n, sizeof(float));
        if (!o->v) {
            fr_optim_free(o);
            return fr_nomem(err, "optimizer second moment", (size_t)n * sizeof(float));
        }
    }
    return FR_OK;
}

void fr_optim_step(fr_optim *o, float *params, const float *grad) {
    o->t++;
    if (o->kind == FR_OPTIM_SGD) {
        if (!o->m) {
            for (int64_t i = 0; i < o->n; i++) params[i] -= (float)(o->lr * grad[i]);
            return;
        }
        for (int64_t i = 0; i < o->n; i++) {
            o->m[i] = (float)(o->momentum * o->m[i] + grad[i]);
            params[i] -= (float)(o->lr * o->m[i]);
        }
        return;
    }
    const double c1 = 1.0 - pow(o->beta1, (double)o->t);
    const double c2 = 1.0 - pow(o->beta2, (double)o->t);
    for (int64_t i = 0; i < o->n; i++) {
        double g = grad[i];
        double m = o->beta1 * o->m[i] + (1.0 - o->beta1) * g;
        double v = o->beta2 * o->v[i] + (1.0 - o->beta2) * g * g;
        o->m[i] = (float)m;
        o->v[i] = (float)v;
        params[i] -= (float)(o->lr * (m / c1) / (sqrt(v / c2) + o->eps));
    }
}

void fr_optim_free(fr_optim *o) {
    fr_free(o->m);
    fr_free(o->v);
    o->m = o->v = NULL;
}
