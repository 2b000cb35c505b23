/* loss.h - losses on scores (logits) for implicit-feedback models.
 *
 * All take n rows and return the mean over rows, accumulated in double; the backward
 * pass *adds* dL/dscore into the gradient arrays (the caller zeroes them). Padded
 * positions are simply not passed in.
 *
 *   BCE (SASRec, Kang & McAuley 2018, eq. 9): L = -(1/n) sum_i [log s(p_i) + log(1 - s(q_i))]
 *   BPR (Rendle et al., UAI 2009, eq. 5):      L = -(1/n) sum_i log s(p_i - q_i)
 *   InfoNCE (van den Oord et al. 2018, eq. 4): L = -(1/n) sum_i log softmax(z_i / t)[0],
 *       z_i = [positive, M negatives]
 *   Softmax cross-entropy over C classes:     L = -(1/n) sum_i log softmax(z_i)[y_i]
 *   BCE on labelled logits (the NCF family):  L = (1/n) sum_i softplus(z_i) - y_i z_i
 * with s the logistic sigmoid. Logs of sigmoids use log s(x) = -softplus(-x), stable
 * for any x.
 * Dimension letters: n rows, M negatives per row, C classes.
 */
#ifndef FEDREC_LOSS_H
#define FEDREC_LOSS_H

#include <stdint.h>

/* pos[n], neg[n] scores; dpos, dneg may be NULL (forward only). */
double fr_bce_loss(float *dpos, float *dneg, const float *pos, const float *neg, int64_t n);
double fr_bpr_loss(float *dpos, float *dneg, const float *pos, const float *neg, int64_t n);
/* z[n x (1+M)] with the positive in column 0; dz may be NULL. */
double fr_infonce_loss(float *dz, const float *z, int64_t n, int64_t m, double temperature);
/* z[n x C], y[n] in [0, C); dz may be NULL. */
double fr_softmax_ce_loss(float *dz, const float *z, const int32_t *y, int64_t n, int64_t c);
/* z[n] logits, y[n] labels in {0, 1}; OVERWRITES dz[n] = (s(z) - y) / n (not NULL)
 * and returns the SUM of the per-row losses (a client adds batches up). A dz below
 * FLT_MIN in magnitude (subnormal: a saturated sigmoid) is written as 0. */
double fr_bce_logits(float *dz, const float *z, const float *y, int64_t n);
/* The same loss as PyTorch's float32 Sigmoid followed by BCELoss computes it, which the
 * published PFedRec/GPFedRec code trains with: p = 1/(1 + e^-z) in float (p rounds to
 * exactly 1 for z above about 16.6), loss -(y log p + (1-y) log(1-p)) with each log
 * clamped at -100, and dz = (p - y) / max(p(1-p), 1e-12) * p(1-p) / n (BCELoss's
 * backward, then Sigmoid's). It equals fr_bce_logits's gradient where p(1-p) >= 1e-12
 * and shrinks it below that: an example whose sigmoid has saturated to 1 in float gets
 * no gradient at all, even when its label is 0. Not a derivative of the returned loss
 * there; offered to reproduce those papers' training (train.bce = torch). */
double fr_bce_torch_f32(float *dz, const float *z, const float *y, int64_t n);

#endif
