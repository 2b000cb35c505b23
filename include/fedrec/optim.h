/* optim.h - optimizers over a flat parameter buffer.
 *
 * Coupled L2, any kind, before the update (e.g. SASRec's optional L2 on the item
 * embedding table):  g_i += l2 * p_i  for i in [l2_begin, l2_end)
 * SGD with optional (heavy-ball) momentum:  m = mu*m + g;  p -= lr * m   (mu = 0: plain)
 * Adam (Kingma & Ba, ICLR 2015, algorithm 1):
 *     m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *     p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
 * algorithm 2), in the order PyTorch's torch.optim.AdamW applies it:
 *     p *= 1 - lr*wd;  then the Adam update above (g is never touched by wd)
 * Yogi (Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018), in
 * the form FedYogi uses (Reddi et al., "Adaptive Federated Optimization", ICLR 2021,
 * algorithm 2), with eps in the role of their tau:
 *     m = b1*m + (1-b1)*g;  v = v - (1-b2) * g^2 * sign(v - g^2);
 *     p -= lr * m / (sqrt(v) + eps);        m0 = 0, v0 = eps^2
 * v moves by (1-b2)*g^2 whichever way it goes (Adam's by (1-b2)*(g^2 - v)), so a large
 * v shrinks slowly. No bias correction: algorithm 2 has none, and the server learning
 * rates and tau the paper reports were tuned for the uncorrected rule, so they carry
 * over only to it. v0 = tau^2 as in the paper's experiments ("v_{-1} >= tau^2");
 * nothing else is added. weight_decay is ignored.
 * The L2 term uses p before AdamW's decay. The moments share the parameters' layout. On
 * the server the "gradient" is the negated average client delta, so SGD with lr 1 is
 * FedAvg, SGD with momentum and lr 1 is FedAvgM (Hsu et al., "Measuring the Effects of
 * Non-Identical Data Distribution for Federated Visual Classification", 2019), Adam is
 * FedAdam and Yogi is FedYogi (Reddi et al.).
 */
#ifndef FEDREC_OPTIM_H
#define FEDREC_OPTIM_H

#include <stdint.h>
#include "fedrec/status.h"

typedef enum fr_optim_kind { FR_OPTIM_SGD, FR_OPTIM_ADAM, FR_OPTIM_ADAMW, FR_OPTIM_YOGI } fr_optim_kind;

typedef struct fr_optim {
    fr_optim_kind kind;
    double lr, momentum, beta1, beta2, eps;
    double weight_decay;       /* AdamW's decoupled wd; read by FR_OPTIM_ADAMW only */
    double l2;                 /* coupled L2 on [l2_begin, l2_end), any kind; 0: off */
    int64_t l2_begin, l2_end;  /* clamped to [0, n) when used */
    int64_t n;    /* parameters */
    int64_t t;    /* steps taken */
    float *m;     /* [n] first moment (SGD momentum buffer), NULL when unused */
    float *v;     /* [n] second moment (Adam, AdamW, Yogi), NULL when unused */
} fr_optim;

/* Allocates the moment buffers the kind needs, zeroed (Yogi's v starts at eps^2).
 * weight_decay, l2, l2_begin and l2_end start at 0; set them after init. On failure
 * nothing is left allocated. */
fr_status fr_optim_init(fr_optim *o, fr_optim_kind kind, int64_t n, double lr, double momentum,
                        double beta1, double beta2, double eps, fr_error *err);
/* Applies one step: params[n] updated in place from grad[n] (grad is not modified). */
void fr_optim_step(fr_optim *o, float *params, const float *grad);
/* One step (t advances once) applied only to the index ranges [begin[k], end[k]),
 * k < n_ranges, disjoint. Exactly fr_optim_step for those indices; the rest keep their
 * values and moments. A sparse client whose other gradients are zero and whose moments
 * there are zero (a fresh optimizer) gets fr_optim_step's result at a fraction of the
 * cost. */
void fr_optim_step_ranges(fr_optim *o, float *params, const float *grad, const int64_t *begin,
                          const int64_t *end, int n_ranges);
/* Puts the moments and the step count back to their initial values (zero; eps^2 for
 * Yogi's v), keeping the settings: a federated client's Adam state starts fresh each
 * round. */
void fr_optim_reset(fr_optim *o);
void fr_optim_free(fr_optim *o);

#endif
