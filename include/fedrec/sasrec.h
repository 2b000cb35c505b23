/* sasrec.h - SASRec, self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).
 *
 * For a user's sequence of items s[0..T-1] (the most recent maxlen), position t predicts
 * s[t+1]:
 *     x = dropout(E[s] * sqrt(C) + P[pos])                     (section III-B, eq. 1)
 *     L blocks, each self-attention (causal) and a point-wise feed-forward network
 *     (eq. 2-5) with residuals, dropout and layer norms,
 *     h = LayerNorm(x_L);  r(t, i) = h_t . E[i]                (eq. 6, shared item embedding)
 *     loss = -sum_t [log s(r(t, s[t+1])) + log(1 - s(r(t, n_t)))] / #positions   (eq. 9)
 * with n_t drawn uniformly from items the user never touched.
 *
 * Layer-norm placement, selectable:
 *   post-LN (the Transformer's):  x = LN(x + Drop(Attn(x)));  x = LN(x + Drop(FFN(x)))
 *   pre-LN  (the paper's eq. 4-5, g(x) = x + Drop(g(LN(x)))):
 *           x = x + Drop(Attn(LN(x)));  x = x + Drop(FFN(LN(x)))
 * and a final LN in both. Attention has a fused Q|K|V projection and an output
 * projection, as torch.nn.MultiheadAttention (the public PyTorch SASRec); the FFN is
 * C -> C -> C with ReLU or GELU and dropout after the activation and after the second
 * layer. Attention probabilities get dropout too.
 *
 * Item ids: dense 0..N-1 in the API; the embedding table has a padding row 0 and item i
 * at row i+1 (SASRec's convention). Sequences are packed without padding: a batch is a
 * list of sequences of different lengths, so padded positions are never computed.
 * Positions: the j-th of T input items gets position maxlen - T + j, so the most recent
 * item always sits at position maxlen - 1, as with the paper's left padding.
 *
 * Dimension letters: C channels (d), L blocks, H heads, N items, T tokens of one
 * sequence, M tokens of a packed batch, S sequences of a batch.
 *
 * Threads: functions here run on the calling thread only. The caller parallelizes over
 * workspaces (fixed shards of a batch, clients, users being evaluated).
 */
#ifndef FEDREC_SASREC_H
#define FEDREC_SASREC_H

#include <stdint.h>
#include "fedrec/nn.h"
#include "fedrec/params.h"
#include "fedrec/rng.h"
#include "fedrec/status.h"

#define FR_SASREC_MAX_BLOCKS 4

typedef struct fr_sasrec_cfg {
    int32_t n_items;   /* N */
    int dim;           /* C */
    int blocks;        /* L, 1..FR_SASREC_MAX_BLOCKS */
    int heads;         /* H, divides C */
    int maxlen;        /* longest sequence the model sees */
    float dropout;     /* on embeddings, attention probabilities, projections, FFN */
    fr_activation act; /* FFN activation */
    int pre_ln;        /* 1: pre-LN, 0: post-LN */
    float ln_eps;      /* 1e-8 as the reference implementations */
} fr_sasrec_cfg;

/* Pointers to each tensor of a buffer with the model's layout (parameters, gradients). */
typedef struct fr_sasrec_block_t {
    float *ln1_g, *ln1_b;    /* [C] */
    float *qkv_w, *qkv_b;    /* [C x 3C], [3C] */
    float *proj_w, *proj_b;  /* [C x C], [C] */
    float *ln2_g, *ln2_b;    /* [C] */
    float *fc1_w, *fc1_b;    /* [C x C], [C] */
    float *fc2_w, *fc2_b;    /* [C x C], [C] */
} fr_sasrec_block_t;

typedef struct fr_sasrec_tensors {
    float *item;   /* [(N+1) x C], row 0 padding */
    float *pos;    /* [maxlen x C] */
    fr_sasrec_block_t blk[FR_SASREC_MAX_BLOCKS];
    float *lnf_g, *lnf_b;  /* [C] */
} fr_sasrec_tensors;

typedef struct fr_sasrec {
    fr_sasrec_cfg cfg;
    fr_param_layout layout;  /* all GLOBAL; item_embedding is row-sparse */
    float *params;           /* [layout.size], owned */
} fr_sasrec;

/* Creates the model: weight matrices and embeddings Xavier-normal (std
 * sqrt(2 / (rows + cols))), biases 0, layer-norm gains 1, drawn from the stream
 * (seed, 0, 0, FR_PURPOSE_INIT_GLOBAL); the padding row is 0. FR_ERR_USAGE on a bad
 * configuration. */
fr_status fr_sasrec_create(fr_sasrec *m, const fr_sasrec_cfg *cfg, uint64_t seed,
                           fr_error *err);
void fr_sasrec_destroy(fr_sasrec *m);

/* Fills t with pointers into buf, which has m's layout. */
void fr_sasrec_tensors_of(fr_sasrec_tensors *t, const fr_sasrec *m, float *buf);

/* A packed batch and every activation forward saves for backward. One per thread. */
typedef struct fr_sasrec_work fr_sasrec_work;

/* Room for cap_seq sequences and cap_tok tokens in all (each at most maxlen). */
fr_status fr_sasrec_work_create(fr_sasrec_work **w, const fr_sasrec *m, int32_t cap_seq,
                                int64_t cap_tok, fr_error *err);
void fr_sasrec_work_destroy(fr_sasrec_work *w);

/* Empties the batch. */
void fr_sasrec_work_clear(fr_sasrec_work *w);

/* Appends one sequence: input[T] items, target[T] the item each position should score
 * high (-1: no loss at that position), negative[T] the item it should score low
 * (ignored where target is -1); target and negative may be NULL (no loss: scoring
 * only). T is cut to the last maxlen positions. dropout_rng is the stream its dropout
 * masks are drawn from (copied; every forward starts from it again). FR_ERR_RUNTIME
 * when the workspace is full. */
fr_status fr_sasrec_work_add(fr_sasrec_work *w, const int32_t *input, const int32_t *target,
                             const int32_t *negative, int64_t t, const fr_rng *dropout_rng,
                             fr_error *err);

/* Positions with a target in the batch. */
int64_t fr_sasrec_work_positions(const fr_sasrec_work *w);

/* Runs the batch forward with parameters params (m's layout); train = 1 applies
 * dropout. Returns the summed BCE over positions with a target (0 when none). */
double fr_sasrec_forward(fr_sasrec_work *w, const fr_sasrec *m, const float *params, int train);

/* Backward of the last forward for the loss scaled by loss_scale (1 / positions of the
 * whole batch for a mean): adds into grad (m's layout, caller-zeroed). touched[N+1]
 * (caller-zeroed, may be NULL) gets 1 for every item-table row with a gradient. */
void fr_sasrec_backward(fr_sasrec_work *w, const fr_sasrec *m, const float *params,
                        float *grad, uint8_t *touched, float loss_scale);

/* The final hidden state of the last position of sequence s of the last forward. */
const float *fr_sasrec_last_hidden(const fr_sasrec_work *w, int32_t s);

/* The final hidden states of the last forward, [M x C]: the tokens of every sequence
 * packed in order, sequence s in rows fr_sasrec_offsets(w)[s] .. [s+1] - 1 (after the
 * cut to maxlen). Valid until the next forward or clear. */
const float *fr_sasrec_hidden(const fr_sasrec_work *w);
/* Sequences in the batch, and their token offsets [seqs + 1] (offsets[seqs] = M). */
int32_t fr_sasrec_work_seqs(const fr_sasrec_work *w);
const int64_t *fr_sasrec_offsets(const fr_sasrec_work *w);

/* Backward of the last (training) forward from a gradient on its hidden states instead
 * of SASRec's own loss: dout [M x C] = dL/d fr_sasrec_hidden (read only). Adds into grad
 * and marks touched as fr_sasrec_backward does (the input rows only: scoring rows are
 * the caller's). A model with a head of its own (mmrec.h) runs SASRec forward without
 * targets and comes back through here. */
void fr_sasrec_backward_hidden(fr_sasrec_work *w, const fr_sasrec *m, const float *params,
                               const float *dout, float *grad, uint8_t *touched);

/* Scores cands[n] (dense item ids) for the history hist[len] (the last maxlen count):
 * one forward without dropout, then dot products with the item embedding. w is
 * cleared and used. */
fr_status fr_sasrec_score(fr_sasrec_work *w, const fr_sasrec *m, const float *params,
                          const int32_t *hist, int64_t len, const int32_t *cands, int32_t n,
                          float *scores, fr_error *err);

/* Floating-point operations (mult-add = 2) of one forward over a sequence of t tokens
 * with `scored` positions scored against a positive and a negative, counting matrix
 * products, attention (full T x T squares, as the kernel computes them) and the
 * scores; backward is about twice this. */
double fr_sasrec_seq_flops(const fr_sasrec_cfg *cfg, int64_t t, int64_t scored);
/* The same summed over the last packed batch. */
double fr_sasrec_work_flops(const fr_sasrec_work *w, const fr_sasrec *m);

#endif
