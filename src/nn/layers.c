/* layers.c - linear, layer norm, ReLU/GELU, residual, inverted dropout and embedding
 * lookups, each with forward and backward (nn.h gives shapes and the contract).
 * Leaves out: fused kernels (linear + activation, residual + layer norm), the tanh
 * approximation of GELU, and threads (callers shard rows; nn.h).
 * Sources: layer norm, Ba et al. 2016 eq. 3-4 (backward as in karpathy/llm.c);
 * GELU, Hendrycks & Gimpel 2016 ("x Phi(x)", section 2); inverted dropout, Srivastava
 * et al. 2014 with the 1/(1-p) scale moved to training time. */
#include "fedrec/nn.h"

#include <math.h>
#include <string.h>

/* fr_matmul takes int dimensions; a packed batch of more than INT_MAX rows goes
 * through in chunks of ROW_CHUNK rows. */
#define ROW_CHUNK ((int64_t)1 << 30)

static int chunk_rows(int64_t n, int64_t r0) {
    return (int)(n - r0 < ROW_CHUNK ? n - r0 : ROW_CHUNK);
}

/* ---- linear: out[N x OC] = inp[N x C] @ w[C x OC] + b[OC] ---- */

void fr_linear_forward(float *out, const float *inp, const float *w, const float *b, int64_t n,
                       int c, int oc) {
    if (b) /* start every row at the bias, then let sgemm add the product (beta = 1) */
        for (int64_t i = 0; i < n; i++) memcpy(out + i * oc, b, (size_t)oc * sizeof(float));
    for (int64_t r0 = 0; r0 < n; r0 += ROW_CHUNK)
        fr_matmul(out + r0 * oc, oc, inp + r0 * c, c, w, oc, chunk_rows(n, r0), oc, c, 0, 0,
                  1.0f, b ? 1.0f : 0.0f);
}

/* db[OC] += column sums of dout[N x OC], summed in double a block of columns at a time
 * so 25k rows do not lose float bits. */
static void add_column_sums(float *db, const float *dout, int64_t n, int oc) {
    enum { BLOCK = 64 };
    double acc[BLOCK];
    for (int j0 = 0; j0 < oc; j0 += BLOCK) {
        int nb = oc - j0 < BLOCK ? oc - j0 : BLOCK;
        for (int j = 0; j < nb; j++) acc[j] = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *row = dout + i * oc + j0;
            if (nb == BLOCK) /* a fixed trip count, which the compiler vectorizes */
                for (int j = 0; j < BLOCK; j++) acc[j] += row[j];
            else
                for (int j = 0; j < nb; j++) acc[j] += row[j];
        }
        for (int j = 0; j < nb; j++) db[j0 + j] += (float)acc[j];
    }
}

/* Differentiates out = inp @ w + b. */
void fr_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int64_t n, int c, int oc) {
    for (int64_t r0 = 0; r0 < n; r0 += ROW_CHUNK) {
        int rows = chunk_rows(n, r0);
        if (dinp) /* dinp += dout @ w^T */
            fr_matmul(dinp + r0 * c, c, dout + r0 * oc, oc, w, oc, rows, c, oc, 0, 1, 1.0f,
                      1.0f);
        if (dw) /* dw += inp^T @ dout */
            fr_matmul(dw, oc, inp + r0 * c, c, dout + r0 * oc, oc, c, oc, rows, 1, 0, 1.0f,
                      1.0f);
    }
    if (db) add_column_sums(db, dout, n, oc);
}

void fr_linear_forward_ref(float *out, const float *inp, const float *w, const float *b,
                           int64_t n, int c, int oc) {
    for (int64_t i = 0; i < n; i++)
        for (int o = 0; o < oc; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < c; k++) s += (double)inp[i * c + k] * w[(int64_t)k * oc + o];
            out[i * oc + o] = (float)s;
        }
}

void fr_linear_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, int64_t n, int c, int oc) {
    for (int64_t i = 0; dinp && i < n; i++)
        for (int k = 0; k < c; k++) {
            double s = 0.0;
            for (int o = 0; o < oc; o++) s += (double)dout[i * oc + o] * w[(int64_t)k * oc + o];
            dinp[i * c + k] += (float)s;
        }
    for (int k = 0; dw && k < c; k++)
        for (int o = 0; o < oc; o++) {
            double s = 0.0;
            for (int64_t i = 0; i < n; i++) s += (double)inp[i * c + k] * dout[i * oc + o];
            dw[(int64_t)k * oc + o] += (float)s;
        }
    for (int o = 0; db && o < oc; o++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += dout[i * oc + o];
        db[o] += (float)s;
    }
}

/* ---- layer norm: out = (inp - mean) * rstd * gamma + beta ---- */

/* Row loops go LANES channels at a time, then a tail. Reductions keep LANES partial
 * sums added up in a fixed order (the same result on every run), and the fixed trip
 * count is what lets -O2's cheap vectorizer take these loops (~2x here). */
enum { LANES = 8 };

/* sum_k x[k], in double */
static double row_sum(const float *x, int c) {
    double acc[LANES] = { 0 }, s = 0.0;
    int k = 0;
    for (; k + LANES <= c; k += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += x[k + l];
    for (; k < c; k++) s += x[k];
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

/* sum_k (x[k] - m)^2, in double */
static double row_sq_dev(const float *x, int c, double m) {
    double acc[LANES] = { 0 }, s = 0.0;
    int k = 0;
    for (; k + LANES <= c; k += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += (x[k + l] - m) * (x[k + l] - m);
    for (; k < c; k++) s += (x[k] - m) * (x[k] - m);
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

/* y[C] = (x - m) * r * gamma + beta, LANES at a time (y does not alias the others:
 * nn.h offers no in-place layer norm). */
static void norm_row(float *restrict y, const float *restrict x, const float *restrict gamma,
                     const float *restrict beta, float m, float r, int c) {
    int k = 0;
    for (; k + LANES <= c; k += LANES)
        for (int l = 0; l < LANES; l++)
            y[k + l] = (x[k + l] - m) * r * gamma[k + l] + beta[k + l];
    for (; k < c; k++) y[k] = (x[k] - m) * r * gamma[k] + beta[k];
}

void fr_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *gamma, const float *beta, int64_t n, int c, float eps) {
    for (int64_t i = 0; i < n; i++) {
        const float *x = inp + i * c;
        /* two passes in double: the variance suffers no cancellation */
        float m = (float)(row_sum(x, c) / c);
        float r = (float)(1.0 / sqrt(row_sq_dev(x, c, m) / c + eps));
        norm_row(out + i * c, x, gamma, beta, m, r, c);
        mean[i] = m;
        rstd[i] = r;
    }
}

/* Row means of dnorm = dout * gamma and of dnorm * norm, norm = (x - m) * r. */
static void dnorm_means(float *dnorm_mean, float *dnorm_norm_mean, const float *x,
                        const float *dy, const float *gamma, float m, float r, int c) {
    float a[LANES] = { 0 }, b[LANES] = { 0 }, sa = 0.0f, sb = 0.0f;
    int k = 0;
    for (; k + LANES <= c; k += LANES)
        for (int l = 0; l < LANES; l++) {
            float dnorm = dy[k + l] * gamma[k + l];
            a[l] += dnorm;
            b[l] += dnorm * (x[k + l] - m) * r;
        }
    for (; k < c; k++) {
        float dnorm = dy[k] * gamma[k];
        sa += dnorm;
        sb += dnorm * (x[k] - m) * r;
    }
    for (int l = 0; l < LANES; l++) sa += a[l], sb += b[l];
    *dnorm_mean = sa / (float)c;
    *dnorm_norm_mean = sb / (float)c;
}

/* dgamma[C] += (x - m) * r * dy for one row, LANES at a time. */
static void add_dgamma_row(float *restrict dgamma, const float *restrict x,
                           const float *restrict dy, float m, float r, int c) {
    int k = 0;
    for (; k + LANES <= c; k += LANES)
        for (int l = 0; l < LANES; l++) dgamma[k + l] += (x[k + l] - m) * r * dy[k + l];
    for (; k < c; k++) dgamma[k] += (x[k] - m) * r * dy[k];
}

/* dx[C] += (dy * gamma - dm - (x - m) * r * dnm) * r for one row, LANES at a time. */
static void add_dinp_row(float *restrict dx, const float *restrict x, const float *restrict dy,
                         const float *restrict gamma, float m, float r, float dm, float dnm,
                         int c) {
    int k = 0;
    for (; k + LANES <= c; k += LANES)
        for (int l = 0; l < LANES; l++)
            dx[k + l] += (dy[k + l] * gamma[k + l] - dm - (x[k + l] - m) * r * dnm) * r;
    for (; k < c; k++) dx[k] += (dy[k] * gamma[k] - dm - (x[k] - m) * r * dnm) * r;
}

/* Differentiates out = norm * gamma + beta with norm = (inp - mean) * rstd:
 * dinp = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * gamma;
 * dgamma += norm * dout, dbeta += dout. */
void fr_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *gamma, const float *mean,
                           const float *rstd, int64_t n, int c) {
    for (int64_t i = 0; i < n; i++) {
        const float *x = inp + i * c, *dy = dout + i * c;
        const float m = mean[i], r = rstd[i];
        if (dgamma) add_dgamma_row(dgamma, x, dy, m, r, c);
        for (int k = 0; dbeta && k < c; k++) dbeta[k] += dy[k];
        if (!dinp) continue;
        float dm, dnm;
        dnorm_means(&dm, &dnm, x, dy, gamma, m, r, c);
        add_dinp_row(dinp + i * c, x, dy, gamma, m, r, dm, dnm, c);
    }
}

/* ---- element-wise activations ---- */

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

void fr_activation_forward(float *out, const float *inp, int64_t n, fr_activation act) {
    if (act == FR_ACT_RELU) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
    } else { /* x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 */
        for (int64_t i = 0; i < n; i++)
            out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * INV_SQRT2));
    }
}

/* Differentiates out = act(inp): relu' = [x > 0]; gelu' = Phi(x) + x phi(x). */
void fr_activation_backward(float *dinp, const float *dout, const float *inp, int64_t n,
                            fr_activation act) {
    if (!dinp) return;
    if (act == FR_ACT_RELU) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * INV_SQRT2));
        float pdf = INV_SQRT_2PI * expf(-0.5f * x * x);
        dinp[i] += (cdf + x * pdf) * dout[i];
    }
}

/* ---- residual: out = a + b ---- */

void fr_residual_forward(float *out, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* Differentiates out = a + b. */
void fr_residual_backward(float *da, float *db, const float *dout, int64_t n) {
    for (int64_t i = 0; da && i < n; i++) da[i] += dout[i];
    for (int64_t i = 0; db && i < n; i++) db[i] += dout[i];
}

/* ---- inverted dropout: out = keep * inp / (1 - p) ---- */

void fr_dropout_forward(float *out, uint8_t *keep, const float *inp, int64_t n, float p,
                        fr_rng *rng) {
    if (p == 0.0f) {
        if (out != inp) memmove(out, inp, (size_t)n * sizeof(float));
        if (keep) memset(keep, 1, (size_t)n);
        return;
    }
    const double drop_below = (double)p * 4294967296.0; /* drop when word < p 2^32 */
    const float scale = 1.0f / (1.0f - p);
    uint32_t words[256];
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        const int64_t m = n - i0 < 256 ? n - i0 : 256;
        fr_rng_fill_u32(rng, words, m);
        for (int64_t j = 0; j < m; j++) {
            uint8_t k = (double)words[j] >= drop_below;
            keep[i0 + j] = k;
            out[i0 + j] = k ? inp[i0 + j] * scale : 0.0f;
        }
    }
}

/* Differentiates out = keep * inp / (1 - p). */
void fr_dropout_backward(float *dinp, const float *dout, const uint8_t *keep, int64_t n,
                         float p) {
    if (!dinp) return;
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++)
        if (keep[i]) dinp[i] += dout[i] * scale;
}

/* ---- embedding: out[i] = scale * table[ids[i]] ---- */

void fr_embedding_forward(float *out, const int32_t *ids, const float *table, int64_t n, int c,
                          float scale, int padding_row) {
    for (int64_t i = 0; i < n; i++) {
        float *y = out + i * c;
        if (padding_row && ids[i] == 0) {
            memset(y, 0, (size_t)c * sizeof(float));
            continue;
        }
        const float *row = table + (int64_t)ids[i] * c;
        for (int k = 0; k < c; k++) y[k] = scale * row[k];
    }
}

/* Differentiates out[i] = scale * table[ids[i]]; the padding row gets nothing. */
void fr_embedding_backward(float *dtable, uint8_t *touched, const float *dout,
                           const int32_t *ids, int64_t n, int c, float scale, int padding_row) {
    for (int64_t i = 0; i < n; i++) {
        if (padding_row && ids[i] == 0) continue;
        float *drow = dtable + (int64_t)ids[i] * c;
        const float *dy = dout + i * c;
        for (int k = 0; k < c; k++) drow[k] += scale * dy[k];
        if (touched) touched[ids[i]] = 1;
    }
}
