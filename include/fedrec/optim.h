/* optim.h - optimizers over a flat parameter buffer.
 *
 * SGD with optional (heavy-ball) momentum:  m = mu*m + g;  p -= lr * m   (mu = 0: plain)
 * Adam (Kingma & Ba, ICLR 2015, algorithm 1):
 *     m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *     p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * The moments share the parameters' layout. On the server the "gradient" is the
 * negated average client delta, so SGD with lr 1 is FedAvg and Adam is FedAdam
 * (Reddi et al., "Adaptive Federated Optimization", ICLR 2021).
 */
#ifndef FEDREC_OPTIM_H
#define FEDREC_OPTIM_H

#include <stdint.h>
#include "fedrec/status.h"

typedef enum fr_optim_kind { FR_OPTIM_SGD, FR_OPTIM_ADAM } fr_optim_kind;

typedef struct fr_optim {
    fr_optim_kind kind;
    double lr, momentum, beta1, beta2, eps;
    int64_t n;    /* parameters */
    int64_t t;    /* steps taken */
    float *m;     /* [n] first moment (SGD momentum buffer), NULL when unused */
    float *v;     /* [n] second moment (Adam), NULL when unused */
} fr_optim;

/* Allocates the moment buffers the kind needs (zeroed). */
fr_status fr_optim_init(fr_optim *o, fr_optim_kind kind, int64_t n, double lr, double momentum,
                        double beta1, double beta2, double eps, fr_error *err);
/* Applies one step: params[n] updated in place from grad[n]. */
void fr_optim_step(fr_optim *o, float *params, const float *grad);
void fr_optim_free(fr_optim *o);

#endif
