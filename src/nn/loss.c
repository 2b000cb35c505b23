/* loss.c - BCE on sampled negatives and on labelled logits, BPR, InfoNCE and softmax
 * cross-entropy (loss.h gives each equation and its source).
 * Leaves out: label smoothing and sampled-softmax corrections (logQ); they arrive with
 * the models that need them. */
#include "fedrec/loss.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

static double softplus(double x) { /* log(1 + e^x) without overflow */
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* A subnormal gradient (|g| < FLT_MIN, from a saturated sigmoid) becomes 0: it could
 * not move a parameter of ordinary size by one ulp, and arithmetic on subnormals costs
 * about a hundred times more in every layer it flows back through. */
static float flush(float g) { return fabsf(g) < FLT_MIN ? 0.0f : g; }

static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

double fr_bce_loss(float *dpos, float *dneg, const float *pos, const float *neg, int64_t n) {
    if (n <= 0) return 0.0;
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        /* -log s(p) = softplus(-p); -log(1 - s(q)) = softplus(q) */
        loss += softplus(-(double)pos[i]) + softplus((double)neg[i]);
        /* d softplus(-p)/dp = -(1 - s(p)) = s(p) - 1; d softplus(q)/dq = s(q) */
        if (dpos) dpos[i] += (float)((sigmoid(pos[i]) - 1.0) / (double)n);
        if (dneg) dneg[i] += (float)(sigmoid(neg[i]) / (double)n);
    }
    return loss / (double)n;
}

double fr_bpr_loss(float *dpos, float *dneg, const float *pos, const float *neg, int64_t n) {
    if (n <= 0) return 0.0;
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)pos[i] - neg[i];
        loss += softplus(-d); /* -log s(d) */
        /* dL/dd = s(d) - 1; dd/dp = 1, dd/dq = -1 */
        double g = (sigmoid(d) - 1.0) / (double)n;
        if (dpos) dpos[i] += (float)g;
        if (dneg) dneg[i] -= (float)g;
    }
    return loss / (double)n;
}

/* -log softmax(x)[t] for one row of k logits, adding scale * d/dx into dx (may be NULL):
 * d/dx_j = softmax(x)_j - [j == t]. */
static double row_nll(float *dx, const float *x, int64_t k, int64_t t, double mult, double scale) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < k; j++) mx = fmax(mx, mult * x[j]);
    double s = 0.0;
    for (int64_t j = 0; j < k; j++) s += exp(mult * x[j] - mx);
    double lse = mx + log(s);
    if (dx)
        for (int64_t j = 0; j < k; j++) {
            double p = exp(mult * x[j] - lse);
            dx[j] += (float)(scale * mult * (p - (j == t ? 1.0 : 0.0)));
        }
    return lse - mult * x[t];
}

double fr_infonce_loss(float *dz, const float *z, int64_t n, int64_t m, double temperature) {
    if (n <= 0) return 0.0;
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++)
        loss += row_nll(dz ? dz + i * (m + 1) : NULL, z + i * (m + 1), m + 1, 0,
                        1.0 / temperature, 1.0 / (double)n);
    return loss / (double)n;
}

double fr_softmax_ce_loss(float *dz, const float *z, const int32_t *y, int64_t n, int64_t c) {
    if (n <= 0) return 0.0;
    double loss = 0.0;
    for (int64_t i = 0; i < n; i++)
        loss += row_nll(dz ? dz + i * c : NULL, z + i * c, c, y[i], 1.0, 1.0 / (double)n);
    return loss / (double)n;
}

double fr_bce_logits(float *dz, const float *z, const float *y, int64_t n) {
    double sum = 0.0;
    const double inv = n > 0 ? 1.0 / (double)n : 0.0;
    for (int64_t i = 0; i < n; i++) {
        sum += softplus((double)z[i]) - y[i] * (double)z[i];
        dz[i] = flush((float)((sigmoid(z[i]) - y[i]) * inv));
    }
    return sum;
}

double fr_bce_torch_f32(float *dz, const float *z, const float *y, int64_t n) {
    double sum = 0.0;
    const double inv = n > 0 ? 1.0 / (double)n : 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float p = 1.0f / (1.0f + expf(-z[i]));
        const double lp = p > 0.0f ? fmax(log((double)p), -100.0) : -100.0;
        const double lq = p < 1.0f ? fmax(log1p(-(double)p), -100.0) : -100.0;
        sum -= y[i] * lp + (1.0 - y[i]) * lq;
        const double pq = (double)p * (1.0 - (double)p);
        dz[i] = flush((float)(((double)p - y[i]) / fmax(pq, 1e-12) * pq * inv));
    }
    return sum;
}
