/* mmrec_internal.h - what mmrec.c (the model, the batch, scoring) and mmrec_head.c (the
 * head's forward and backward) share: pointers to the head's tensors and the workspace.
 *
 * Dimension letters as mmrec.h: C channels, Hm heads of the semantic expert, Dt text and
 * Dv image features, N items, M tokens of a packed batch, S sequences, P positions with
 * a target, J memory entries (all sequences' together), U distinct candidate items of a
 * batch, Ut distinct targets (the in-batch columns), W columns of a position's own
 * candidates (its target, then its sampled negatives).
 */
#ifndef FEDREC_MMREC_INTERNAL_H
#define FEDREC_MMREC_INTERNAL_H

#include "fedrec/mmrec.h"

/* a . b over n floats, summed in double */
static inline double mm_dot(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* y[n] += a x[n] */
static inline void mm_axpy(float *y, double a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += (float)(a * x[i]);
}

/* Pointers into a buffer with the model's layout; NULL for tensors the model lacks. */
typedef struct mm_tensors {
    float *item;                /* [(N+1) x C] SASRec's item table, row 0 padding */
    float *txt_w, *txt_b;       /* [Dt x C], [C] */
    float *q_w, *q_b;           /* [C x C], [C] */
    float *kv_w, *kv_b;         /* [C x 2C], [2C] */
    float *o_w, *o_b;           /* [C x C], [C] */
    float *sem_g, *sem_b;       /* [C] LN_sem */
    float *img_w, *img_b;       /* [Dv x C], [C] */
    float *vis_g, *vis_b;       /* [C] LN_vis */
    float *router_w, *router_b; /* [C x 2], [2] */
    float *gate;                /* [1] residual */
    float *theta;               /* [2] learned */
    float *adapt_w, *adapt_b;   /* [C x 2], [2] adaptive */
} mm_tensors;

void mm_tensors_of(mm_tensors *t, const fr_mmrec *m, float *buf);

/* The item-side terms of a list of items (a batch's candidates, or a block of the
 * catalogue for the cache). vis, router and their backward only with Dv > 0. */
typedef struct mm_items {
    int32_t cap, n;
    int32_t *id;           /* [cap] dense item ids */
    float *e;              /* [cap x C] gathered item rows */
    float *x;              /* [cap x Dv] gathered image features */
    float *vpre;           /* [cap x C] x W_img + b_img */
    float *vis;            /* [cap x C] LN_vis(vpre) */
    float *vmean, *vrstd;  /* [cap] */
    float *wr;             /* [cap x 2] (w_vis, w_sem) */
    float *ve;             /* [cap] vis . e */
    float *enorm;          /* [cap] max(|e|, 1e-12) */
    /* backward (NULL in a forward-only list) */
    float *dve, *dwr, *qn; /* [cap], [cap x 2], [cap]: dL/d(vis.e), dL/dw, InfoNCE norm term */
    float *de;             /* [cap x C] dL/de through these terms */
    float *dvis, *dvpre;   /* [cap x C] */
} mm_items;

fr_status mm_items_alloc(mm_items *it, int32_t cap, int C, int dv, int backward);
void mm_items_free(mm_items *it);
/* Fills the terms of it->id[0..it->n) from the tensors t; the visual expert and router
 * only when with_vis (and Dv > 0). */
void mm_items_forward(mm_items *it, const fr_mmrec *m, const mm_tensors *t, int with_vis);

struct fr_mmrec_work {
    fr_sasrec_work *sas;
    int C, Hm, Dt, Dv, maxlen;
    int32_t N, cap_seq, cap_mem, cap_neg, cap_ut;
    int64_t cap_tok;
    int use_sem;           /* the semantic expert runs: fusion != none or lambda > 0 */
    int use_vis;           /* the visual expert and router run: Dv > 0, fusion != none */
    /* the packed batch */
    int32_t n_seq;
    int64_t n_tok, n_pos, n_col;
    int64_t *off;          /* [cap_seq + 1] token offsets */
    int32_t *tgt;          /* [cap_tok] target item of each token, -1: none */
    int64_t *moff;         /* [cap_seq + 1] memory entry offsets */
    float *mtext;          /* [cap_seq * cap_mem x Dt] */
    int32_t *mitem;        /* [cap_seq * cap_mem] */
    int64_t *aoff;         /* [cap_seq + 1] offsets into att */
    /* positions: p-th token with a target, in batch order */
    int64_t *ptok;         /* [cap_tok] */
    int32_t *ptgt;         /* [cap_tok] */
    float *ploss;          /* [cap_tok] recommendation loss */
    int64_t *coff;         /* [cap_tok + 1] own columns of each position */
    int32_t *cid;          /* [cap_col] item of each own column (target, negatives) */
    int32_t *cu;           /* [cap_col] its index in the item list */
    float *che, *cse, *cdz, *cdc;  /* [cap_col] h.e, sem.e, dL/dz, dL/dcos */
    /* semantic expert */
    float *z;              /* [cap_seq * cap_mem x C] W_txt m + b_txt */
    float *kv;             /* [.. x 2C] */
    float *q;              /* [M x C] */
    float *att;            /* [sum Hm T_s J_s] */
    float *o, *o2;         /* [M x C] heads side by side; after W_o */
    float *sem;            /* [M x C] sem_t (0 where nothing is visible) */
    float *sem_mean, *sem_rstd, *snorm;  /* [M] */
    uint8_t *seen;         /* [M] 1 when some entry is visible */
    uint8_t *mask;         /* [maxlen x cap_mem] one sequence's visibility */
    float *scratch;        /* [maxlen x cap_mem] */
    /* fusion */
    float *alpha;          /* [M x 2] (a0, a1): s = a0 h.e + a1 aux.e */
    /* candidates */
    int32_t *slot;         /* [N] index into items, -1 */
    mm_items it;           /* U distinct candidates, the Ut targets first */
    int32_t n_ut;
    float *hp, *sp;        /* [cap_tok x C] the positions' h and sem (in-batch) */
    float *bhe, *bse, *bdz, *bdc;  /* [cap_tok x cap_ut] in-batch columns */
    float *bdhe, *bdse;    /* [cap_tok x cap_ut] dL/d(h.e), dL/d(sem.e) there */
    float *row, *drow, *rowc, *drowc, *rep, *drep;  /* [1 + cap_neg + cap_ut] one row */
    /* backward */
    float *dh, *ds, *dt1, *dt2;  /* [M x C] */
    float *dalpha;         /* [M x 2] */
    float *qs;             /* [cap_tok] InfoNCE norm term of sem */
    float *dhp, *dsp;      /* [cap_tok x C] */
    float *dq, *dkv, *dz;  /* [M x C], [J x 2C], [J x C] */
};

/* The head over the SASRec hidden states of the last forward (mmrec_head.c). */
void mm_semantic_forward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t);
void mm_fusion_forward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t);
double mm_scores_and_loss(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t);
/* Fills dh, ds, dalpha and the item list's dve, dwr, qn, de from the kept row gradients
 * times scale. */
void mm_scores_backward(fr_mmrec_work *w, const fr_mmrec *m, float scale);
void mm_items_backward(mm_items *it, const fr_mmrec *m, const mm_tensors *t, mm_tensors *g);
void mm_fusion_backward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t,
                        mm_tensors *g);
void mm_semantic_backward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t,
                          mm_tensors *g);

#endif
