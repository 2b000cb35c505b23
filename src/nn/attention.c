/* attention.c - multi-head attention, forward and backward, by per-head matrix products
 * (fr_matmul), and plain-loop references: causal self-attention over one sequence
 * (SASRec's blocks) and cross-attention of a sequence's tokens over a set of keys
 * with a per-query mask (mmrec.h's semantic expert over a user's memory).
 * Leaves out: batching several sequences (callers loop and shard), relative position
 * terms, dropout in cross-attention, and skipping the zero upper triangle in the
 * products (T is ~50-200, so full T x T products cost little and keep the code plain).
 * Source: Vaswani et al. 2017, eq. 1 (scaled dot-product attention) with the causal
 * mask of section 3.2.3. Dropout on the attention weights is not in the paper's
 * equations; it follows common implementations (SASRec's, Kang & McAuley 2018).
 *
 * T tokens, C channels, H heads, J keys of cross-attention. Per head h (D = C / H
 * channels), with Q_h, K_h, V_h read from qkv[T x 3C] at row stride 3C and dO_h from
 * dout[T x C] at row stride C:
 *     S = Q_h K_h^T / sqrt(D), P = softmax over j <= i with key_valid[j],
 *     Pd = P * keep / (1 - p), O_h = Pd V_h.
 * Backward (dP = dPd * keep / (1 - p), dS = P * (dP - rowsum(dP * P))):
 *     dV_h += Pd^T dO_h, dPd = dO_h V_h^T, dQ_h += dS K_h / sqrt(D),
 *     dK_h += dS^T Q_h / sqrt(D).
 * Cross-attention is the same with Q_h from q[T x C], K_h, V_h from kv[J x 2C], the
 * mask in place of causality and key_valid, and no dropout (Pd = P). */
#include "fedrec/nn.h"

#include <math.h>
#include <string.h>

/* Dropout keeps an entry when its word is >= p * 2^32. */
static double drop_threshold(float p) { return (double)p * 4294967296.0; }

/* p[0..T-1] = row i of softmax(s) over the keys j <= i with key_valid[j] (NULL: all
 * valid); zero elsewhere, and all zero when no key is valid. */
static void causal_softmax_row(float *prow, const float *s, const uint8_t *key_valid, int i,
                               int t) {
    float mx = 0.0f;
    int any = 0;
    for (int j = 0; j <= i; j++)
        if (!key_valid || key_valid[j]) {
            mx = any && mx > s[j] ? mx : s[j];
            any = 1;
        }
    memset(prow, 0, (size_t)t * sizeof(float));
    if (!any) return;
    float sum = 0.0f;
    for (int j = 0; j <= i; j++)
        if (!key_valid || key_valid[j]) {
            prow[j] = expf(s[j] - mx);
            sum += prow[j];
        }
    const float inv = 1.0f / sum;
    for (int j = 0; j <= i; j++) prow[j] *= inv;
}

/* keep[0..T-1] for row i: one word per j <= i (none when p = 0: all kept), 0 above
 * the diagonal. */
static void draw_keep_row(uint8_t *keep, int i, int t, float p, fr_rng *rng) {
    const double drop_below = drop_threshold(p);
    if (p == 0.0f) {
        memset(keep, 1, (size_t)i + 1);
    } else {
        uint32_t words[256];
        for (int j0 = 0; j0 <= i; j0 += 256) {
            const int m = i + 1 - j0 < 256 ? i + 1 - j0 : 256;
            fr_rng_fill_u32(rng, words, m);
            for (int j = 0; j < m; j++) keep[j0 + j] = (double)words[j] >= drop_below;
        }
    }
    memset(keep + i + 1, 0, (size_t)(t - i - 1));
}

/* dst[n] = keep ? src * inv_keep : 0 (dst may be src). */
static void apply_keep(float *dst, const float *src, const uint8_t *keep, int64_t n,
                       float inv_keep) {
    for (int64_t j = 0; j < n; j++) dst[j] = keep[j] ? src[j] * inv_keep : 0.0f;
}

void fr_attention_forward(float *out, float *att, uint8_t *keep, float *scratch,
                          const float *qkv, const uint8_t *key_valid, int t, int c, int h,
                          float p, fr_rng *rng) {
    const int d = c / h;
    const float scale = 1.0f / sqrtf((float)d), inv_keep = 1.0f / (1.0f - p);
    for (int hh = 0; hh < h; hh++) {
        const float *q = qkv + hh * d, *k = q + c, *v = q + 2 * c;
        float *att_h = att + (int64_t)hh * t * t;
        uint8_t *keep_h = keep ? keep + (int64_t)hh * t * t : NULL;
        /* S = Q_h K_h^T / sqrt(D) */
        fr_matmul(scratch, t, q, 3 * c, k, 3 * c, t, t, d, 0, 1, scale, 0.0f);
        for (int i = 0; i < t; i++) { /* row i of S is read before Pd overwrites it */
            float *s = scratch + (int64_t)i * t, *prow = att_h + (int64_t)i * t;
            causal_softmax_row(prow, s, key_valid, i, t);
            if (keep_h) draw_keep_row(keep_h + (int64_t)i * t, i, t, p, rng);
            if (p > 0.0f) apply_keep(s, prow, keep_h + (int64_t)i * t, t, inv_keep);
        }
        /* O_h = Pd V_h */
        fr_matmul(out + hh * d, c, p > 0.0f ? scratch : att_h, t, v, 3 * c, t, d, t, 0, 0,
                  1.0f, 0.0f);
    }
}

/* Row i of dS, in place over row i of dPd: dP = dPd * keep / (1 - p) (keep NULL when
 * p = 0), dS = P * (dP - sum_j P dP) * scale for j <= i, 0 above the diagonal.
 * Differentiates P = softmax(S) row-wise, where dS_j = P_j (dP_j - sum_k P_k dP_k). */
static void softmax_backward_row(float *g, const float *prow, const uint8_t *keep, int i, int t,
                                 float inv_keep, float scale) {
    if (keep) apply_keep(g, g, keep, i + 1, inv_keep);
    float dot = 0.0f;
    for (int j = 0; j <= i; j++) dot += prow[j] * g[j];
    for (int j = 0; j <= i; j++) g[j] = prow[j] * (g[j] - dot) * scale;
    memset(g + i + 1, 0, (size_t)(t - i - 1) * sizeof(float));
}

/* Differentiates O_h = dropout(softmax(Q_h K_h^T / sqrt(D))) V_h for every head. */
void fr_attention_backward(float *dqkv, float *scratch, const float *dout, const float *att,
                           const uint8_t *keep, const float *qkv, int t, int c, int h, float p) {
    if (!dqkv) return;
    const int d = c / h;
    const float scale = 1.0f / sqrtf((float)d), inv_keep = 1.0f / (1.0f - p);
    for (int hh = 0; hh < h; hh++) {
        const float *q = qkv + hh * d, *k = q + c, *v = q + 2 * c, *dout_h = dout + hh * d;
        float *dq = dqkv + hh * d, *dk = dq + c, *dv = dq + 2 * c;
        const float *att_h = att + (int64_t)hh * t * t;
        const uint8_t *keep_h = p > 0.0f ? keep + (int64_t)hh * t * t : NULL;
        /* dV_h += Pd^T dO_h, Pd rebuilt in scratch from P and keep */
        const float *pd = att_h;
        if (keep_h) {
            apply_keep(scratch, att_h, keep_h, (int64_t)t * t, inv_keep);
            pd = scratch;
        }
        fr_matmul(dv, 3 * c, pd, t, dout_h, c, t, d, t, 1, 0, 1.0f, 1.0f);
        /* dPd = dO_h V_h^T, overwriting Pd; then dS row by row */
        fr_matmul(scratch, t, dout_h, c, v, 3 * c, t, t, d, 0, 1, 1.0f, 0.0f);
        for (int i = 0; i < t; i++)
            softmax_backward_row(scratch + (int64_t)i * t, att_h + (int64_t)i * t,
                                 keep_h ? keep_h + (int64_t)i * t : NULL, i, t, inv_keep, scale);
        /* dQ_h += dS K_h / sqrt(D); dK_h += dS^T Q_h / sqrt(D) (the scale is in dS) */
        fr_matmul(dq, 3 * c, scratch, t, k, 3 * c, t, d, t, 0, 0, 1.0f, 1.0f);
        fr_matmul(dk, 3 * c, scratch, t, q, 3 * c, t, d, t, 1, 0, 1.0f, 1.0f);
    }
}

/* ---- reference: plain loops in double, no BLAS, no scratch ---- */

/* Row r's channel e of part (0 Q, 1 K, 2 V) of head hh in qkv[T x 3C]. */
static double ref_qkv(const float *qkv, int part, int r, int hh, int e, int c, int d) {
    return qkv[(int64_t)r * 3 * c + part * c + hh * d + e];
}

/* S[i][j] = Q_h[i] . K_h[j] / sqrt(D) */
static double ref_score(const float *qkv, int i, int j, int hh, int c, int d) {
    double s = 0.0;
    for (int e = 0; e < d; e++)
        s += ref_qkv(qkv, 0, i, hh, e, c, d) * ref_qkv(qkv, 1, j, hh, e, c, d);
    return s / sqrt((double)d);
}

/* Row i of P for head hh into prow[T]: softmax over valid j <= i, else 0. */
static void ref_softmax_row(float *prow, const float *qkv, const uint8_t *key_valid, int hh,
                            int i, int t, int c, int d) {
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j <= i; j++)
        if (!key_valid || key_valid[j]) mx = fmax(mx, ref_score(qkv, i, j, hh, c, d));
    for (int j = 0; j <= i; j++)
        if (!key_valid || key_valid[j]) sum += exp(ref_score(qkv, i, j, hh, c, d) - mx);
    for (int j = 0; j < t; j++) {
        int live = j <= i && (!key_valid || key_valid[j]);
        prow[j] = live ? (float)(exp(ref_score(qkv, i, j, hh, c, d) - mx) / sum) : 0.0f;
    }
}

void fr_attention_forward_ref(float *out, float *att, uint8_t *keep, const float *qkv,
                              const uint8_t *key_valid, int t, int c, int h, float p,
                              fr_rng *rng) {
    const int d = c / h;
    const double drop_below = drop_threshold(p);
    for (int hh = 0; hh < h; hh++)
        for (int i = 0; i < t; i++) {
            float *prow = att + ((int64_t)hh * t + i) * t;
            uint8_t *krow = keep ? keep + ((int64_t)hh * t + i) * t : NULL;
            ref_softmax_row(prow, qkv, key_valid, hh, i, t, c, d);
            for (int j = 0; krow && j < t; j++)
                krow[j] = j <= i && (p == 0.0f || (double)fr_rng_u32(rng) >= drop_below);
            for (int e = 0; e < d; e++) {
                double o = 0.0;
                for (int j = 0; j <= i; j++) {
                    double pd = (krow && !krow[j]) ? 0.0 : prow[j] / (1.0 - p);
                    o += pd * ref_qkv(qkv, 2, j, hh, e, c, d);
                }
                out[(int64_t)i * c + hh * d + e] = (float)o;
            }
        }
}

/* dP[i][j] = keep * (dO_h[i] . V_h[j]) / (1 - p) */
static double ref_dp(const float *dout, const uint8_t *krow, const float *qkv, int i, int j,
                     int hh, int c, int d, float p) {
    if (krow && !krow[j]) return 0.0;
    double s = 0.0;
    for (int e = 0; e < d; e++)
        s += (double)dout[(int64_t)i * c + hh * d + e] * ref_qkv(qkv, 2, j, hh, e, c, d);
    return s / (1.0 - p);
}

void fr_attention_backward_ref(float *dqkv, const float *dout, const float *att,
                               const uint8_t *keep, const float *qkv, int t, int c, int h,
                               float p) {
    if (!dqkv) return;
    const int d = c / h;
    const double scale = 1.0 / sqrt((double)d);
    for (int hh = 0; hh < h; hh++)
        for (int i = 0; i < t; i++) {
            const float *prow = att + ((int64_t)hh * t + i) * t;
            const uint8_t *krow = p > 0.0f ? keep + ((int64_t)hh * t + i) * t : NULL;
            double dot = 0.0; /* sum_j P dP */
            for (int j = 0; j <= i; j++)
                dot += prow[j] * ref_dp(dout, krow, qkv, i, j, hh, c, d, p);
            for (int j = 0; j <= i; j++) {
                double ds = prow[j] * (ref_dp(dout, krow, qkv, i, j, hh, c, d, p) - dot) * scale;
                double pd = (krow && !krow[j]) ? 0.0 : prow[j] / (1.0 - p);
                for (int e = 0; e < d; e++) {
                    float *row_i = dqkv + (int64_t)i * 3 * c + hh * d + e;
                    float *row_j = dqkv + (int64_t)j * 3 * c + hh * d + e;
                    row_i[0] += (float)(ds * ref_qkv(qkv, 1, j, hh, e, c, d));     /* dQ */
                    row_j[c] += (float)(ds * ref_qkv(qkv, 0, i, hh, e, c, d));     /* dK */
                    row_j[2 * c] += (float)(pd * dout[(int64_t)i * c + hh * d + e]); /* dV */
                }
            }
        }
}

/* ---- cross-attention: T queries over J keys, a mask per query ---- */

/* prow[J] = softmax of s[J] over the keys with mrow[j] (NULL: all); all zero when none. */
static void masked_softmax_row(float *prow, const float *s, const uint8_t *mrow, int nj) {
    float mx = 0.0f;
    int any = 0;
    for (int j = 0; j < nj; j++)
        if (!mrow || mrow[j]) {
            mx = any && mx > s[j] ? mx : s[j];
            any = 1;
        }
    memset(prow, 0, (size_t)nj * sizeof(float));
    if (!any) return;
    float sum = 0.0f;
    for (int j = 0; j < nj; j++)
        if (!mrow || mrow[j]) {
            prow[j] = expf(s[j] - mx);
            sum += prow[j];
        }
    const float inv = 1.0f / sum;
    for (int j = 0; j < nj; j++) prow[j] *= inv;
}

void fr_cross_attention_forward(float *out, float *att, float *scratch, const float *q,
                                const float *kv, const uint8_t *mask, int t, int j, int c,
                                int h) {
    const int d = c / h;
    const float scale = 1.0f / sqrtf((float)d);
    if (j == 0) {
        memset(out, 0, (size_t)t * c * sizeof(float));
        return;
    }
    for (int hh = 0; hh < h; hh++) {
        const float *qh = q + hh * d, *k = kv + hh * d, *v = kv + c + hh * d;
        float *att_h = att + (int64_t)hh * t * j;
        /* S = Q_h K_h^T / sqrt(D) */
        fr_matmul(scratch, j, qh, c, k, 2 * c, t, j, d, 0, 1, scale, 0.0f);
        for (int i = 0; i < t; i++)
            masked_softmax_row(att_h + (int64_t)i * j, scratch + (int64_t)i * j,
                               mask ? mask + (int64_t)i * j : NULL, j);
        /* O_h = P V_h */
        fr_matmul(out + hh * d, c, att_h, j, v, 2 * c, t, d, j, 0, 0, 1.0f, 0.0f);
    }
}

/* Differentiates O_h = softmax(Q_h K_h^T / sqrt(D)) V_h for every head. */
void fr_cross_attention_backward(float *dq, float *dkv, float *scratch, const float *dout,
                                 const float *att, const float *q, const float *kv, int t,
                                 int j, int c, int h) {
    const int d = c / h;
    const float scale = 1.0f / sqrtf((float)d);
    if (j == 0) return;
    for (int hh = 0; hh < h; hh++) {
        const float *qh = q + hh * d, *k = kv + hh * d, *v = kv + c + hh * d;
        const float *dout_h = dout + hh * d, *att_h = att + (int64_t)hh * t * j;
        /* dV_h += P^T dO_h */
        if (dkv) fr_matmul(dkv + c + hh * d, 2 * c, att_h, j, dout_h, c, j, d, t, 1, 0, 1.0f, 1.0f);
        /* dP = dO_h V_h^T; dS = P (dP - sum_j P dP) / sqrt(D), row by row (a masked
         * entry has P = 0, so dS = 0 there) */
        fr_matmul(scratch, j, dout_h, c, v, 2 * c, t, j, d, 0, 1, 1.0f, 0.0f);
        for (int i = 0; i < t; i++) {
            float *g = scratch + (int64_t)i * j;
            const float *prow = att_h + (int64_t)i * j;
            float dot = 0.0f;
            for (int jj = 0; jj < j; jj++) dot += prow[jj] * g[jj];
            for (int jj = 0; jj < j; jj++) g[jj] = prow[jj] * (g[jj] - dot) * scale;
        }
        /* dQ_h += dS K_h; dK_h += dS^T Q_h (the scale is in dS) */
        if (dq) fr_matmul(dq + hh * d, c, scratch, j, k, 2 * c, t, d, j, 0, 0, 1.0f, 1.0f);
        if (dkv) fr_matmul(dkv + hh * d, 2 * c, scratch, j, qh, c, j, d, t, 1, 0, 1.0f, 1.0f);
    }
}

/* S[i][jj] of head hh: Q_h[i] . K_h[jj] / sqrt(D), in double */
static double ref_cross_score(const float *q, const float *kv, int i, int jj, int hh, int c,
                              int d) {
    double s = 0.0;
    for (int e = 0; e < d; e++)
        s += (double)q[(int64_t)i * c + hh * d + e] * kv[(int64_t)jj * 2 * c + hh * d + e];
    return s / sqrt((double)d);
}

void fr_cross_attention_forward_ref(float *out, float *att, const float *q, const float *kv,
                                    const uint8_t *mask, int t, int j, int c, int h) {
    const int d = c / h;
    for (int hh = 0; hh < h; hh++)
        for (int i = 0; i < t; i++) {
            float *prow = att + ((int64_t)hh * t + i) * j;
            const uint8_t *mrow = mask ? mask + (int64_t)i * j : NULL;
            double mx = -INFINITY, sum = 0.0;
            for (int jj = 0; jj < j; jj++)
                if (!mrow || mrow[jj]) mx = fmax(mx, ref_cross_score(q, kv, i, jj, hh, c, d));
            for (int jj = 0; jj < j; jj++)
                if (!mrow || mrow[jj]) sum += exp(ref_cross_score(q, kv, i, jj, hh, c, d) - mx);
            for (int jj = 0; jj < j; jj++)
                prow[jj] = (!mrow || mrow[jj])
                               ? (float)(exp(ref_cross_score(q, kv, i, jj, hh, c, d) - mx) / sum)
                               : 0.0f;
            for (int e = 0; e < d; e++) {
                double o = 0.0;
                for (int jj = 0; jj < j; jj++)
                    o += (double)prow[jj] * kv[(int64_t)jj * 2 * c + c + hh * d + e];
                out[(int64_t)i * c + hh * d + e] = (float)o;
            }
        }
}

void fr_cross_attention_backward_ref(float *dq, float *dkv, const float *dout,
                                     const float *att, const float *q, const float *kv, int t,
                                     int j, int c, int h) {
    const int d = c / h;
    const double scale = 1.0 / sqrt((double)d);
    for (int hh = 0; hh < h; hh++)
        for (int i = 0; i < t; i++) {
            const float *prow = att + ((int64_t)hh * t + i) * j;
            const float *dorow = dout + (int64_t)i * c + hh * d;
            double dot = 0.0; /* sum_j P dP, dP[jj] = dO_h[i] . V_h[jj] */
            for (int jj = 0; jj < j; jj++) {
                const float *vrow = kv + (int64_t)jj * 2 * c + c + hh * d;
                double dp = 0.0;
                for (int e = 0; e < d; e++) dp += (double)dorow[e] * vrow[e];
                dot += prow[jj] * dp;
            }
            for (int jj = 0; jj < j; jj++) {
                const float *krow = kv + (int64_t)jj * 2 * c + hh * d;
                double dp = 0.0;
                for (int e = 0; e < d; e++) dp += (double)dorow[e] * krow[c + e];
                double ds = prow[jj] * (dp - dot) * scale;
                for (int e = 0; e < d; e++) {
                    if (dq) dq[(int64_t)i * c + hh * d + e] += (float)(ds * krow[e]);
                    if (dkv) {
                        dkv[(int64_t)jj * 2 * c + hh * d + e] +=
                            (float)(ds * q[(int64_t)i * c + hh * d + e]);
                        dkv[(int64_t)jj * 2 * c + c + hh * d + e] += (float)(prow[jj] * dorow[e]);
                    }
                }
            }
        }
}
