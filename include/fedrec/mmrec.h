/* mmrec.h - SASRec with a client memory and multimodal experts: the model FedMem (R2,
 * shared/reference/002) and FedDMMR (R3, shared/reference/003) train, which their code
 * calls UR4RecV2MoE.
 *
 * For position t of a sequence, h_t is SASRec's final hidden state (sasrec.h; already
 * layer-normalised by SASRec's final LN) and e_i = E[i+1] the item's row of SASRec's
 * item table. Two experts join it:
 *   semantic expert (multi-head attention over the user's memory text features):
 *       z_j = W_txt m_j + b_txt                       m_j [Dt]: memory entry j's text
 *       q = h_t W_q + b_q;  [k_j | v_j] = z_j W_kv + b_kv
 *       per head: a = softmax_j(q . k_j / sqrt(C/Hm)) over the entries j visible at t;
 *       o = concat_heads(sum_j a_j v_j) W_o + b_o;    sem_t = LN_sem(o)
 *     (sem_t = 0 when no entry is visible: an empty memory)
 *   visual expert (the candidate's image features):
 *       vis_i = LN_vis(x_i W_img + b_img)             x_i [Dv] item i's image features
 *   router on the candidate's embedding (only with a visual expert; without one
 *   w_vis = 0, w_sem = 1):
 *       (w_vis_i, w_sem_i) = softmax(e_i W_r + b_r)
 *   aux_{t,i} = w_vis_i vis_i + w_sem_i sem_t
 * and the score of candidate i at position t is, by fusion mode:
 *   none      s = h_t . e_i                                 (plain SASRec)
 *   residual  s = (h_t + g aux_{t,i}) . e_i                 (FedDMMR; g learnable,
 *                                                            initialised to gating_init)
 *   weighted  s = (1 - beta) h_t . e_i + beta aux_{t,i} . e_i   (beta fixed)
 *   learned   s = p_0 h_t . e_i + p_1 aux_{t,i} . e_i, p = softmax(theta), theta
 *             learnable, initialised so that p_1 = gating_init
 *   adaptive  as learned with p = softmax(h_t W_a + b_a) per position
 * (FedMem's fusion module: weighted, learned and adaptive fusion.)
 *
 * Memory visibility: at a training position whose target is item p, an entry holding
 * item p is hidden (the model must not copy its target out of its memory); everything
 * else in the sequence's memory is visible at every position, and at positions without
 * a target (and in fr_mmrec_score) every entry is. Prototype entries (item id < 0) are
 * always visible.
 *
 * Losses over the positions with a target p (the negatives n_1..n_k of the position:
 * its sampled negatives, then with in_batch the distinct targets of the batch other
 * than p; a negative may repeat, e.g. sampled and in-batch, and then counts twice):
 *   bce      -log s(s_p) - sum_k log(1 - s(s_nk))            (SASRec's, k = 1 sampled)
 *   bpr      mean_k -log s(s_p - s_nk)                       (FedMem's L_rec; 0 if k = 0)
 *   softmax  -log softmax([s_p, s_n1..s_nk])_0               (FedDMMR's in-batch CE)
 * (loss.h's kernels), plus lambda x InfoNCE(sem_t; e_p; e_n1..e_nk) with cosine
 * similarity cos(a, b) = a.b / (max(|a|, 1e-12) max(|b|, 1e-12)) over temperature tau
 * (FedMem's L_contrastive: the memory's text preference against the items' id
 * embeddings), at positions where some memory entry is visible. in_batch works with
 * every loss (FedDMMR uses it with softmax).
 *
 * The head has no dropout; LN_sem and LN_vis use SASRec's ln_eps. With fusion none the
 * experts are computed only when lambda > 0 (for InfoNCE), so none with lambda = 0 is
 * SASRec with its BCE generalised to k negatives.
 *
 * Parameters: SASRec's tensors (same names, same layout, so a SASRec checkpoint loads)
 * followed by the head's, all GLOBAL and dense: mm.txt_w [Dt x C], mm.txt_b, mm.sem_q_w
 * [C x C], mm.sem_q_b, mm.sem_kv_w [C x 2C], mm.sem_kv_b, mm.sem_o_w [C x C], mm.sem_o_b,
 * mm.sem_ln_g, mm.sem_ln_b; with Dv > 0 mm.img_w [Dv x C], mm.img_b, mm.vis_ln_g,
 * mm.vis_ln_b, mm.router_w [C x 2], mm.router_b [2]; residual: mm.gate [1]; learned:
 * mm.fusion_theta [2]; adaptive: mm.adapt_w [C x 2], mm.adapt_b [2]. Matrices
 * Xavier-normal from the stream (seed, 1, 0, FR_PURPOSE_INIT_GLOBAL) in this order,
 * biases 0, LN gains 1, except: mm.gate = gating_init, and mm.fusion_theta and mm.adapt_b
 * = (0, log(p_1 / (1 - p_1))) with p_1 = gating_init, so learned and adaptive fusion both
 * start with the expert branch weighted about gating_init.
 *
 * Parameter groups (train.freeze): "item" the item table, "sasrec" every other SASRec
 * tensor, "experts" the mm.txt/sem/img/vis/router tensors, "fusion" mm.gate,
 * mm.fusion_theta, mm.adapt_*.
 *
 * Threads: functions run on the calling thread; one work per thread.
 */
#ifndef FEDREC_MMREC_H
#define FEDREC_MMREC_H

#include <stdint.h>
#include "fedrec/sasrec.h"

typedef enum fr_mm_fusion {
    FR_MM_FUSION_NONE, FR_MM_FUSION_RESIDUAL, FR_MM_FUSION_WEIGHTED, FR_MM_FUSION_LEARNED,
    FR_MM_FUSION_ADAPTIVE
} fr_mm_fusion;

typedef enum fr_mm_loss { FR_MM_LOSS_BCE, FR_MM_LOSS_BPR, FR_MM_LOSS_SOFTMAX } fr_mm_loss;

typedef struct fr_mmrec_cfg {
    fr_sasrec_cfg sas;
    int dim_text;          /* Dt >= 1 */
    int dim_image;         /* Dv >= 0; 0 = no visual expert, no router */
    int mem_heads;         /* Hm, divides C */
    fr_mm_fusion fusion;
    float gating_init;     /* residual: g at start; learned: p_1 at start (0 < p_1 < 1) */
    float fusion_weight;   /* weighted: beta */
    fr_mm_loss loss;
    int in_batch;          /* the batch's other targets are negatives too (any loss) */
    float lambda;          /* InfoNCE weight, 0 = off */
    float temperature;     /* > 0 */
} fr_mmrec_cfg;

typedef struct fr_mmrec {
    fr_mmrec_cfg cfg;
    fr_sasrec sas;         /* sas.layout holds SASRec's tensors then the head's; sas.params
                              is the whole buffer */
    int64_t head_off;      /* first float of the head's tensors */
    const float *text;     /* [N x Dt] item text features, borrowed: for the caller, whose
                              memory entries carry their own copies (work_add) */
    const float *image;    /* [N x Dv] item image features, borrowed (NULL when Dv = 0) */
} fr_mmrec;

/* Creates the model for item features text [N x Dt] and image [N x Dv] (borrowed; must
 * outlive the model; image is read by the visual expert). FR_ERR_USAGE on a bad
 * configuration (the message names the setting), FR_ERR_NOMEM. */
fr_status fr_mmrec_create(fr_mmrec *m, const fr_mmrec_cfg *cfg, const float *text,
                          const float *image, uint64_t seed, fr_error *err);
void fr_mmrec_destroy(fr_mmrec *m);

/* Layout indices of the tensors of a group ("item", "sasrec", "experts", "fusion") into
 * idx[cap] (the first cap of them); returns how many there are (0 for an unknown group
 * name; tensors the model lacks are skipped). */
int fr_mmrec_group(const fr_mmrec *m, const char *group, int *idx, int cap);

/* A packed batch (SASRec's work plus the head's activations). One per thread. */
typedef struct fr_mmrec_work fr_mmrec_work;

/* Room for cap_seq sequences, cap_tok tokens, cap_mem memory entries per sequence and
 * cap_neg sampled negatives per position. With in_batch the work holds [cap_tok x
 * min(cap_tok, N)] in-batch score matrices, so size cap_tok to a batch (a client's
 * windows), not to a whole data set. */
fr_status fr_mmrec_work_create(fr_mmrec_work **w, const fr_mmrec *m, int32_t cap_seq,
                               int64_t cap_tok, int32_t cap_mem, int32_t cap_neg,
                               fr_error *err);
void fr_mmrec_work_destroy(fr_mmrec_work *w);
void fr_mmrec_work_clear(fr_mmrec_work *w);

/* Appends one sequence: input[T], target[T] (-1: no loss there; NULL: scoring only),
 * neg[T x n_neg] sampled negatives per position (may be NULL when n_neg = 0), and the
 * sequence's memory: n_mem entries, mem_text [n_mem x Dt] and mem_item [n_mem] (item id,
 * or < 0 for a prototype). Pointers are copied or read during this call only. T is cut
 * to the last maxlen positions. FR_ERR_RUNTIME when full (sequences, tokens, n_neg >
 * cap_neg or n_mem > cap_mem), FR_ERR_USAGE for an item id outside [0, N); a refused
 * sequence leaves the batch unchanged. */
fr_status fr_mmrec_work_add(fr_mmrec_work *w, const int32_t *input, const int32_t *target,
                            const int32_t *neg, int32_t n_neg, int64_t t,
                            const float *mem_text, const int32_t *mem_item, int32_t n_mem,
                            const fr_rng *dropout_rng, fr_error *err);

/* Forward with parameters params; train = 1 applies SASRec's dropout. Returns the summed
 * loss (recommendation + lambda InfoNCE) over positions with a target (0 when none). */
double fr_mmrec_forward(fr_mmrec_work *w, const fr_mmrec *m, const float *params, int train);

/* Positions with a target in the last batch, and each one's recommendation loss (the
 * surprise FedMem's memory gates on), in batch order. */
int64_t fr_mmrec_work_positions(const fr_mmrec_work *w);
const float *fr_mmrec_position_loss(const fr_mmrec_work *w);
/* The target item of each scored position, batch order. */
const int32_t *fr_mmrec_position_target(const fr_mmrec_work *w);

/* Backward of the last forward (train = 1, as SASRec's) for the loss times loss_scale:
 * adds into grad (caller-zeroed, the model's layout); touched[N+1] (caller-zeroed, may be
 * NULL) gets 1 for every item-table row with a gradient (item i at row i + 1: inputs,
 * targets, negatives). */
void fr_mmrec_backward(fr_mmrec_work *w, const fr_mmrec *m, const float *params,
                       float *grad, uint8_t *touched, float loss_scale);

/* Item-side terms for scoring many candidates with the same parameters: per item i
 * (w_vis_i, w_sem_i, vis_i . e_i), [N x 3] floats ((0, 1, 0) without a visual expert);
 * fills cache from params. FR_ERR_NOMEM when its scratch cannot be had. */
int64_t fr_mmrec_cache_size(const fr_mmrec *m);
fr_status fr_mmrec_fill_cache(const fr_mmrec *m, const float *params, float *cache,
                              fr_error *err);

/* Scores cands[n] after the history hist[len] (the last maxlen count) with the memory
 * (n_mem <= cap_mem entries, all visible), without dropout: the score formula above at
 * the last position. cache from fr_mmrec_fill_cache for these params (NULL: the terms
 * are computed for the candidates). An empty history scores 0. w is cleared and used. */
fr_status fr_mmrec_score(fr_mmrec_work *w, const fr_mmrec *m, const float *params,
                         const float *cache, const int32_t *hist, int64_t len,
                         const float *mem_text, const int32_t *mem_item, int32_t n_mem,
                         const int32_t *cands, int32_t n, float *scores, fr_error *err);

#endif
