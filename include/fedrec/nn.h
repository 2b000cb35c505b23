/* nn.h - neural-network layers with forward and backward passes (llm.c's contract).
 *
 * Arguments go in the order outputs, saved caches, inputs, parameters, dimensions.
 * Forward overwrites its outputs; backward *adds* into dinp and the parameter
 * gradients (the caller zeroes them first). A NULL dinp skips that gradient.
 * All tensors are row-major float arrays.
 *
 * Dimension letters: N rows (tokens of a packed batch), C channels in, OC channels out,
 * T tokens of one sequence, H attention heads (C = H * D, D channels per head),
 * V rows of an embedding table.
 *
 * Every optimized kernel has a plain reference version (`_ref`) beside it; tests hold
 * the two together, and every layer has a finite-difference gradient check in double
 * precision (tests/test_layers.c, tests/test_attention.c).
 *
 * Threads: none of these functions starts threads of its own. fr_matmul calls
 * OpenBLAS's sgemm. Debian's OpenMP build of OpenBLAS runs it on one thread inside an
 * OpenMP parallel region and on omp_get_max_threads() threads outside one (it follows
 * that count, whatever openblas_set_num_threads said); fr_blas_threads(threads) sets the
 * count to the run's --threads, so a run never uses more threads than it was given.
 * Callers parallelize over fixed shards of work, and sgemm splits rows and columns, not
 * the inner sum, so results do not depend on the thread count.
 */
#ifndef FEDREC_NN_H
#define FEDREC_NN_H

#include <stdint.h>
#include "fedrec/rng.h"

/* ---- matrix product (kernels.c) ---- */

/* Sets the threads of fedrec's parallel regions and of sgemm calls made outside them
 * to threads (<= 0: leave OpenMP's current count). */
void fr_blas_threads(int threads);

/* c[m x n] = alpha * op(a) @ op(b) + beta * c, row-major, with leading dimensions
 * lda, ldb, ldc (row strides in floats). op(a) is a[m x k] (trans_a = 0, lda >= k) or
 * the transpose of a[k x m] (trans_a = 1, lda >= m); likewise op(b) is b[k x n] or the
 * transpose of b[n x k]. beta = 0 ignores c's old contents (even NaN). */
void fr_matmul(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int m, int n,
               int k, int trans_a, int trans_b, float alpha, float beta);
/* The same by three plain loops, accumulating in double. */
void fr_matmul_ref(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int m,
                   int n, int k, int trans_a, int trans_b, float alpha, float beta);

/* ---- linear (layers.c): out = inp @ w + b ---- */

/* out[N x OC], inp[N x C], w[C x OC], b[OC] or NULL (no bias). */
void fr_linear_forward(float *out, const float *inp, const float *w, const float *b, int64_t n,
                       int c, int oc);
/* dinp[N x C] += dout @ w^T; dw[C x OC] += inp^T @ dout; db[OC] += column sums of dout
 * (db NULL when there is no bias). */
void fr_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int64_t n, int c, int oc);
void fr_linear_forward_ref(float *out, const float *inp, const float *w, const float *b,
                           int64_t n, int c, int oc);
void fr_linear_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, int64_t n, int c, int oc);

/* ---- layer norm (layers.c), Ba et al. 2016 ----
 * out = (inp - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps), var biased.
 * out[N x C], mean[N], rstd[N] saved for backward, inp[N x C], gamma[C], beta[C]. */
void fr_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *gamma, const float *beta, int64_t n, int c, float eps);
void fr_layernorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *gamma, const float *mean,
                           const float *rstd, int64_t n, int c);

/* ---- element-wise (layers.c) ---- */

typedef enum fr_activation { FR_ACT_RELU, FR_ACT_GELU } fr_activation;
/* out[N] = act(inp[N]); GELU is the exact x * Phi(x) with Phi the normal CDF (erf). */
void fr_activation_forward(float *out, const float *inp, int64_t n, fr_activation act);
/* dinp[N] += act'(inp) * dout */
void fr_activation_backward(float *dinp, const float *dout, const float *inp, int64_t n,
                            fr_activation act);

/* out[N] = a[N] + b[N] (out may alias a or b). Backward is da += dout, db += dout:
 * fr_residual_backward adds dout into both. */
void fr_residual_forward(float *out, const float *a, const float *b, int64_t n);
void fr_residual_backward(float *da, float *db, const float *dout, int64_t n);

/* Inverted dropout: keep each element with probability 1 - p and scale it by 1/(1-p).
 * keep[N] (saved, 0/1) is drawn from rng, one 32-bit word per element in order, so a
 * stream opened at the same (seed, round, client, purpose) gives the same mask on any
 * thread. p = 0 copies inp and sets keep to all 1 without drawing. out may alias inp. */
void fr_dropout_forward(float *out, uint8_t *keep, const float *inp, int64_t n, float p,
                        fr_rng *rng);
/* dinp[N] += keep * dout / (1 - p) */
void fr_dropout_backward(float *dinp, const float *dout, const uint8_t *keep, int64_t n,
                         float p);

/* ---- embedding (layers.c) ----
 * out[N x C] = scale * table[ids[i]] ; row 0 of a table with a padding row is the
 * padding: its output is all zeros and it never receives a gradient (pass
 * padding_row = 1; 0 when the table has no padding row). ids[N] in [0, V). */
void fr_embedding_forward(float *out, const int32_t *ids, const float *table, int64_t n, int c,
                          float scale, int padding_row);
/* dtable[V x C] rows ids[i] += scale * dout[i]. When touched is not NULL, touched[V]
 * (bytes, caller-zeroed) gets 1 for every row that received a gradient, so a caller
 * can send or update only those rows (a row-sparse gradient). */
void fr_embedding_backward(float *dtable, uint8_t *touched, const float *dout,
                           const int32_t *ids, int64_t n, int c, float scale, int padding_row);

/* ---- causal multi-head self-attention over one sequence (attention.c) ----
 * Vaswani et al. 2017, eq. 1: for each head h with D = C / H channels,
 *     S = Q_h K_h^T / sqrt(D), S[i][j] = -inf for j > i (causal) or key_valid[j] == 0,
 *     P = softmax_rows(S), Pd = dropout(P), O_h = Pd V_h.
 * qkv[T x 3C] holds Q | K | V side by side (the fused projection's output; head h
 * uses columns h*D..h*D+D-1 of each part). out[T x C] holds the heads side by side.
 * att[H x T x T] saves P (entries above the diagonal are 0), keep[H x T x T] the
 * dropout mask (may be NULL when p = 0). key_valid[T] (NULL = all valid) masks padded
 * keys; a query row whose keys are all masked outputs zeros. scratch[T x T] is work
 * space the caller provides. Dropout draws one word per causal entry (j <= i), row
 * by row, heads in order (the reference version draws the same). */
void fr_attention_forward(float *out, float *att, uint8_t *keep, float *scratch,
                          const float *qkv, const uint8_t *key_valid, int t, int c, int h,
                          float p, fr_rng *rng);
/* dqkv[T x 3C] += the gradient through the expression above. */
void fr_attention_backward(float *dqkv, float *scratch, const float *dout, const float *att,
                           const uint8_t *keep, const float *qkv, int t, int c, int h, float p);
/* Plain loops, no BLAS, for the tests. */
void fr_attention_forward_ref(float *out, float *att, uint8_t *keep, const float *qkv,
                              const uint8_t *key_valid, int t, int c, int h, float p,
                              fr_rng *rng);
void fr_attention_backward_ref(float *dqkv, const float *dout, const float *att,
                               const uint8_t *keep, const float *qkv, int t, int c, int h,
                               float p);

/* ---- multi-head cross-attention of T queries over J keys (attention.c) ----
 * For each head h with D = C / H channels:
 *     S = Q_h K_h^T / sqrt(D), S[i][j] = -inf where mask[i*J + j] == 0,
 *     P = softmax_rows(S), O_h = P V_h.
 * q[T x C] the queries; kv[J x 2C] holds K | V side by side; out[T x C] the heads side
 * by side; att[H x T x J] saves P; mask[T x J] (NULL: every key visible to every
 * query). A query that sees no key (or J = 0) outputs zeros and its row of P is zero.
 * scratch[T x J]. No dropout and no causal order (the keys are a set: the memory
 * entries of mmrec.h's semantic expert). */
void fr_cross_attention_forward(float *out, float *att, float *scratch, const float *q,
                                const float *kv, const uint8_t *mask, int t, int j, int c,
                                int h);
/* dq[T x C] += and dkv[J x 2C] += the gradients through the expression above (either
 * may be NULL). */
void fr_cross_attention_backward(float *dq, float *dkv, float *scratch, const float *dout,
                                 const float *att, const float *q, const float *kv, int t,
                                 int j, int c, int h);
void fr_cross_attention_forward_ref(float *out, float *att, const float *q, const float *kv,
                                    const uint8_t *mask, int t, int j, int c, int h);
void fr_cross_attention_backward_ref(float *dq, float *dkv, const float *dout,
                                     const float *att, const float *q, const float *kv, int t,
                                     int j, int c, int h);

#endif
