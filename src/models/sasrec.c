/* sasrec.c - SASRec's forward and backward over a packed batch (equations in sasrec.h).
 *
 * Sequences are packed end to end: every [M x C] activation holds the tokens of all
 * sequences, so the linear layers are one matrix product each over the whole batch and
 * only attention runs per sequence. Dropout masks come from each sequence's own stream,
 * drawn in a fixed order (embedding, then per block: attention, projection, FFN
 * activation, FFN output), so a sequence gets the same masks whatever else is packed
 * with it.
 * Leaves out: training loops, negative sampling and evaluation (train_sasrec.c,
 * rank_eval.c); multi-head attention heads of unequal size.
 */
#include "fedrec/sasrec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fedrec/alloc.h"

/* Everything one block saves in forward. Names follow the pre-LN reading; post-LN uses
 * the same buffers as commented. */
typedef struct block_cache {
    float *x_in;           /* [M x C] block input */
    float *a;              /* [M x C] pre: LN1(x_in); post: LN1(r1) */
    float *a_mean, *a_rstd;/* [M] */
    float *qkv;            /* [M x 3C] */
    float *att;            /* [sum H*T*T] softmax probabilities */
    uint8_t *akeep;        /* [sum H*T*T] attention dropout mask */
    float *o;              /* [M x C] attention output (heads side by side) */
    uint8_t *ykeep;        /* [M x C] projection dropout */
    float *r1;             /* [M x C] x_in + y */
    float *f;              /* [M x C] pre: LN2(r1); post: unused (FFN reads a) */
    float *f_mean, *f_rstd;/* [M] pre: LN2 stats; post: LN2(r2) stats */
    float *hpre;           /* [M x C] FFN first layer before the activation */
    float *hd;             /* [M x C] after activation and dropout */
    uint8_t *hkeep, *zkeep;/* [M x C] */
    float *r2;             /* [M x C] post only: a + z, input of LN2 */
} block_cache;

struct fr_sasrec_work {
    int32_t cap_seq;
    int64_t cap_tok, cap_att;
    int C, H, L, maxlen;
    /* the packed batch */
    int32_t n_seq;
    int64_t n_tok, n_att, n_pos;
    int64_t *off;          /* [cap_seq+1] token offsets */
    int64_t *att_off;      /* [cap_seq+1] offsets into att buffers */
    int32_t *row;          /* [cap_tok] item-table rows of the inputs */
    int32_t *posi;         /* [cap_tok] positions */
    int32_t *tgt, *neg;    /* [cap_tok] table rows, 0 = no loss */
    fr_rng *rng0;          /* [cap_seq] dropout streams as given */
    fr_rng *rng;           /* [cap_seq] the streams while forward draws */
    /* activations */
    uint8_t *ekeep;        /* [M x C] embedding dropout */
    block_cache blk[FR_SASREC_MAX_BLOCKS];
    float *x_last;         /* [M x C] input of the final LN */
    float *out;            /* [M x C] final hidden states */
    float *out_mean, *out_rstd;   /* [M] */
    float *lpos, *lneg, *dlpos, *dlneg;  /* [M] logits and their gradients */
    /* backward scratch */
    float *d0, *d1, *dm, *t1, *t2;  /* [M x C] */
    float *dqkv;           /* [M x 3C] */
    float *scratch;        /* [maxlen x maxlen] */
};

/* ---- parameters ---- */

static int add_blocks(fr_param_layout *l, int blocks, int C) {
    static const char *names[] = { "ln1_g", "ln1_b", "qkv_w", "qkv_b", "proj_w", "proj_b",
                                   "ln2_g", "ln2_b", "fc1_w", "fc1_b", "fc2_w", "fc2_b" };
    const int64_t rows[] = { 1, 1, C, 1, C, 1, 1, 1, C, 1, C, 1 };
    const int64_t cols[] = { C, C, 3 * C, 3 * C, C, C, C, C, C, C, C, C };
    for (int b = 0; b < blocks; b++)
        for (int k = 0; k < 12; k++) {
            char name[64];
            snprintf(name, sizeof name, "block%d.%s", b, names[k]);
            if (fr_layout_add(l, name, rows[k], cols[k], FR_SCOPE_GLOBAL, 0) < 0) return -1;
        }
    return 0;
}

void fr_sasrec_tensors_of(fr_sasrec_tensors *t, const fr_sasrec *m, float *buf) {
    const fr_param_layout *l = &m->layout;
    int k = 0;
    memset(t, 0, sizeof *t);
    t->item = buf + l->t[k++].offset;
    t->pos = buf + l->t[k++].offset;
    for (int b = 0; b < m->cfg.blocks; b++) {
        fr_sasrec_block_t *p = &t->blk[b];
        float **dst[] = { &p->ln1_g, &p->ln1_b, &p->qkv_w, &p->qkv_b, &p->proj_w, &p->proj_b,
                          &p->ln2_g, &p->ln2_b, &p->fc1_w, &p->fc1_b, &p->fc2_w, &p->fc2_b };
        for (int j = 0; j < 12; j++) *dst[j] = buf + l->t[k++].offset;
    }
    t->lnf_g = buf + l->t[k++].offset;
    t->lnf_b = buf + l->t[k++].offset;
}

static void xavier(float *w, int64_t rows, int64_t cols, fr_rng *rng) {
    double sd = sqrt(2.0 / (double)(rows + cols));
    for (int64_t i = 0; i < rows * cols; i++) w[i] = (float)(sd * fr_rng_normal(rng));
}

fr_status fr_sasrec_create(fr_sasrec *m, const fr_sasrec_cfg *cfg, uint64_t seed,
                           fr_error *err) {
    memset(m, 0, sizeof *m);
    if (cfg->n_items < 1 || cfg->dim < 1 || cfg->blocks < 1 ||
        cfg->blocks > FR_SASREC_MAX_BLOCKS || cfg->heads < 1 || cfg->dim % cfg->heads ||
        cfg->maxlen < 1 || cfg->dropout < 0.0f || cfg->dropout >= 1.0f)
        return fr_fail(err, FR_ERR_USAGE,
                       "sasrec: bad shape (items %d, dim %d, blocks %d (1..%d), heads %d "
                       "(must divide dim), maxlen %d, dropout %g in [0, 1))",
                       cfg->n_items, cfg->dim, cfg->blocks, FR_SASREC_MAX_BLOCKS, cfg->heads,
                       cfg->maxlen, cfg->dropout);
    m->cfg = *cfg;
    const int C = cfg->dim;
    fr_param_layout *l = &m->layout;
    fr_layout_add(l, "item_embedding", (int64_t)cfg->n_items + 1, C, FR_SCOPE_GLOBAL, 1);
    fr_layout_add(l, "pos_embedding", cfg->maxlen, C, FR_SCOPE_GLOBAL, 0);
    add_blocks(l, cfg->blocks, C);
    fr_layout_add(l, "final_ln_g", 1, C, FR_SCOPE_GLOBAL, 0);
    if (fr_layout_add(l, "final_ln_b", 1, C, FR_SCOPE_GLOBAL, 0) < 0)
        return fr_fail(err, FR_ERR_USAGE, "sasrec: too many tensors");
    m->params = fr_calloc((size_t)l->size, sizeof(float));
    if (!m->params) return fr_nomem(err, "SASRec parameters", (size_t)l->size * sizeof(float));

    fr_rng rng;
    fr_rng_init(&rng, seed, 0, 0, FR_PURPOSE_INIT_GLOBAL);
    fr_sasrec_tensors t;
    fr_sasrec_tensors_of(&t, m, m->params);
    xavier(t.item + C, cfg->n_items, C, &rng);  /* row 0 stays the zero padding */
    xavier(t.pos, cfg->maxlen, C, &rng);
    for (int b = 0; b < cfg->blocks; b++) {
        fr_sasrec_block_t *p = &t.blk[b];
        xavier(p->qkv_w, C, 3 * C, &rng);
        xavier(p->proj_w, C, C, &rng);
        xavier(p->fc1_w, C, C, &rng);
        xavier(p->fc2_w, C, C, &rng);
        for (int c = 0; c < C; c++) p->ln1_g[c] = p->ln2_g[c] = 1.0f;
    }
    for (int c = 0; c < C; c++) t.lnf_g[c] = 1.0f;
    return FR_OK;
}

void fr_sasrec_destroy(fr_sasrec *m) {
    fr_free(m->params);
    memset(m, 0, sizeof *m);
}

/* ---- workspace ---- */

/* Every buffer of the workspace, listed once for allocation and freeing. */
#define WORK_F(w, b) \
    X(b->x_in, MC) X(b->a, MC) X(b->a_mean, M) X(b->a_rstd, M) X(b->qkv, 3 * MC) \
    X(b->att, A) X(b->o, MC) X(b->r1, MC) X(b->f, MC) X(b->f_mean, M) X(b->f_rstd, M) \
    X(b->hpre, MC) X(b->hd, MC) X(b->r2, MC)
#define WORK_U8(w, b) X(b->akeep, A) X(b->ykeep, MC) X(b->hkeep, MC) X(b->zkeep, MC)

static int work_alloc(fr_sasrec_work *w) {
    const int64_t M = w->cap_tok, MC = M * w->C, A = w->cap_att;
    int ok = 1;
#define X(ptr, n) ok &= ((ptr) = fr_alloc((size_t)(n), sizeof *(ptr))) != NULL;
    for (int l = 0; l < w->L; l++) {
        block_cache *b = &w->blk[l];
        WORK_F(w, b)
        WORK_U8(w, b)
    }
    X(w->off, w->cap_seq + 1) X(w->att_off, w->cap_seq + 1) X(w->row, M) X(w->posi, M)
    X(w->tgt, M) X(w->neg, M) X(w->rng0, w->cap_seq) X(w->rng, w->cap_seq) X(w->ekeep, MC)
    X(w->x_last, MC) X(w->out, MC) X(w->out_mean, M) X(w->out_rstd, M) X(w->lpos, M)
    X(w->lneg, M) X(w->dlpos, M) X(w->dlneg, M) X(w->d0, MC) X(w->d1, MC) X(w->dm, MC) X(w->t1, MC)
    X(w->t2, MC) X(w->dqkv, 3 * MC) X(w->scratch, (int64_t)w->maxlen * w->maxlen)
#undef X
    return ok;
}

void fr_sasrec_work_destroy(fr_sasrec_work *w) {
    if (!w) return;
#define X(ptr, n) fr_free(ptr);
    for (int l = 0; l < w->L; l++) {
        block_cache *b = &w->blk[l];
        WORK_F(w, b)
        WORK_U8(w, b)
    }
    X(w->off, 0) X(w->att_off, 0) X(w->row, 0) X(w->posi, 0) X(w->tgt, 0) X(w->neg, 0)
    X(w->rng0, 0) X(w->rng, 0) X(w->ekeep, 0) X(w->x_last, 0) X(w->out, 0) X(w->out_mean, 0)
    X(w->out_rstd, 0) X(w->lpos, 0) X(w->lneg, 0) X(w->dlpos, 0) X(w->dlneg, 0) X(w->d0, 0)
    X(w->d1, 0) X(w->dm, 0) X(w->t1, 0) X(w->t2, 0) X(w->dqkv, 0) X(w->scratch, 0)
#undef X
    fr_free(w);
}

fr_status fr_sasrec_work_create(fr_sasrec_work **out, const fr_sasrec *m, int32_t cap_seq,
                                int64_t cap_tok, fr_error *err) {
    *out = NULL;
    fr_sasrec_work *w = fr_calloc(1, sizeof *w);
    if (!w) return fr_nomem(err, "SASRec workspace", sizeof *w);
    w->cap_seq = cap_seq < 1 ? 1 : cap_seq;
    w->cap_tok = cap_tok < 1 ? 1 : cap_tok;
    w->C = m->cfg.dim;
    w->H = m->cfg.heads;
    w->L = m->cfg.blocks;
    w->maxlen = m->cfg.maxlen;
    /* attention needs sum_s H T_s^2 <= H * maxlen * min(cap_tok, cap_seq * maxlen) */
    int64_t tok = w->cap_tok < (int64_t)w->cap_seq * w->maxlen ? w->cap_tok
                                                                 : (int64_t)w->cap_seq * w->maxlen;
    w->cap_att = (int64_t)w->H * w->maxlen * tok;
    if (!work_alloc(w)) {
        fr_sasrec_work_destroy(w);
        return fr_nomem(err, "SASRec workspace", (size_t)w->cap_tok * w->C * 4 * 40);
    }
    fr_sasrec_work_clear(w);
    *out = w;
    return FR_OK;
}

void fr_sasrec_work_clear(fr_sasrec_work *w) {
    w->n_seq = 0;
    w->n_tok = w->n_att = w->n_pos = 0;
    w->off[0] = 0;
    w->att_off[0] = 0;
}

fr_status fr_sasrec_work_add(fr_sasrec_work *w, const int32_t *input, const int32_t *target,
                             const int32_t *negative, int64_t t, const fr_rng *dropout_rng,
                             fr_error *err) {
    if (t > w->maxlen) {
        int64_t cut = t - w->maxlen;
        input += cut;
        if (target) target += cut;
        if (negative) negative += cut;
        t = w->maxlen;
    }
    if (t < 1) return FR_OK;
    if (w->n_seq >= w->cap_seq || w->n_tok + t > w->cap_tok)
        return fr_fail(err, FR_ERR_RUNTIME, "sasrec: workspace full (%d sequences, %lld tokens)",
                       w->cap_seq, (long long)w->cap_tok);
    const int64_t o = w->n_tok;
    for (int64_t j = 0; j < t; j++) {
        w->row[o + j] = input[j] + 1;
        w->posi[o + j] = (int32_t)(w->maxlen - t + j);
        int has = target && target[j] >= 0;
        w->tgt[o + j] = has ? target[j] + 1 : 0;
        w->neg[o + j] = has ? negative[j] + 1 : 0;
        w->n_pos += has;
    }
    w->rng0[w->n_seq] = *dropout_rng;
    w->n_tok += t;
    w->n_att += (int64_t)w->H * t * t;
    w->n_seq++;
    w->off[w->n_seq] = w->n_tok;
    w->att_off[w->n_seq] = w->n_att;
    return FR_OK;
}

int64_t fr_sasrec_work_positions(const fr_sasrec_work *w) { return w->n_pos; }

const float *fr_sasrec_last_hidden(const fr_sasrec_work *w, int32_t s) {
    return w->out + (w->off[s + 1] - 1) * w->C;
}

const float *fr_sasrec_hidden(const fr_sasrec_work *w) { return w->out; }

int32_t fr_sasrec_work_seqs(const fr_sasrec_work *w) { return w->n_seq; }

const int64_t *fr_sasrec_offsets(const fr_sasrec_work *w) { return w->off; }

/* ---- forward ---- */

/* Dropout over [M x C] rows, each sequence drawing from its own stream. */
static void drop_rows(fr_sasrec_work *w, float *out, uint8_t *keep, const float *inp, float p) {
    const int C = w->C;
    for (int32_t s = 0; s < w->n_seq; s++) {
        int64_t a = w->off[s] * C, n = (w->off[s + 1] - w->off[s]) * C;
        fr_dropout_forward(out + a, keep + a, inp + a, n, p, &w->rng[s]);
    }
}

static void attention_rows(fr_sasrec_work *w, block_cache *b, float p) {
    const int C = w->C;
    for (int32_t s = 0; s < w->n_seq; s++) {
        int64_t a = w->off[s];
        int t = (int)(w->off[s + 1] - a);
        fr_attention_forward(b->o + a * C, b->att + w->att_off[s], b->akeep + w->att_off[s],
                             w->scratch, b->qkv + a * 3 * C, NULL, t, C, w->H, p, &w->rng[s]);
    }
}

/* One block: x_in -> out ([M x C], may be the next block's x_in). */
static void block_forward(fr_sasrec_work *w, block_cache *b, const fr_sasrec_block_t *p,
                          float *out, int pre_ln, float drop, float eps, fr_activation act) {
    const int64_t M = w->n_tok;
    const int C = w->C;
    float *tmp = w->t1;
    if (pre_ln) fr_layernorm_forward(b->a, b->a_mean, b->a_rstd, b->x_in, p->ln1_g, p->ln1_b, M, C, eps);
    fr_linear_forward(b->qkv, pre_ln ? b->a : b->x_in, p->qkv_w, p->qkv_b, M, C, 3 * C);
    attention_rows(w, b, drop);
    fr_linear_forward(tmp, b->o, p->proj_w, p->proj_b, M, C, C);
    drop_rows(w, tmp, b->ykeep, tmp, drop);
    fr_residual_forward(b->r1, b->x_in, tmp, M * C);
    const float *ffn_in;
    if (pre_ln) {
        fr_layernorm_forward(b->f, b->f_mean, b->f_rstd, b->r1, p->ln2_g, p->ln2_b, M, C, eps);
        ffn_in = b->f;
    } else {
        fr_layernorm_forward(b->a, b->a_mean, b->a_rstd, b->r1, p->ln1_g, p->ln1_b, M, C, eps);
        ffn_in = b->a;
    }
    fr_linear_forward(b->hpre, ffn_in, p->fc1_w, p->fc1_b, M, C, C);
    fr_activation_forward(b->hd, b->hpre, M * C, act);
    drop_rows(w, b->hd, b->hkeep, b->hd, drop);
    fr_linear_forward(tmp, b->hd, p->fc2_w, p->fc2_b, M, C, C);
    drop_rows(w, tmp, b->zkeep, tmp, drop);
    if (pre_ln) {
        fr_residual_forward(out, b->r1, tmp, M * C);
    } else {
        fr_residual_forward(b->r2, b->a, tmp, M * C);
        fr_layernorm_forward(out, b->f_mean, b->f_rstd, b->r2, p->ln2_g, p->ln2_b, M, C, eps);
    }
}

static double dot(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* log s(x) = -softplus(-x) */
static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

double fr_sasrec_forward(fr_sasrec_work *w, const fr_sasrec *m, const float *params, int train) {
    const int64_t M = w->n_tok;
    const int C = w->C, L = w->L;
    const fr_sasrec_cfg *cfg = &m->cfg;
    const float drop = train ? cfg->dropout : 0.0f;
    if (M == 0) return 0.0;
    fr_sasrec_tensors t;
    fr_sasrec_tensors_of(&t, m, (float *)params);
    memcpy(w->rng, w->rng0, (size_t)w->n_seq * sizeof *w->rng);

    float *x = w->blk[0].x_in;
    fr_embedding_forward(x, w->row, t.item, M, C, sqrtf((float)C), 1);
    for (int64_t i = 0; i < M; i++) {
        const float *pe = t.pos + (int64_t)w->posi[i] * C;
        for (int c = 0; c < C; c++) x[i * C + c] += pe[c];
    }
    drop_rows(w, x, w->ekeep, x, drop);
    for (int l = 0; l < L; l++) {
        float *out = l + 1 < L ? w->blk[l + 1].x_in : w->x_last;
        block_forward(w, &w->blk[l], &t.blk[l], out, cfg->pre_ln, drop, cfg->ln_eps, cfg->act);
    }
    fr_layernorm_forward(w->out, w->out_mean, w->out_rstd, w->x_last, t.lnf_g, t.lnf_b, M, C,
                         cfg->ln_eps);

    double loss = 0.0;
    for (int64_t i = 0; i < M; i++) {
        if (!w->tgt[i]) continue;
        const float *h = w->out + i * C;
        double zp = dot(h, t.item + (int64_t)w->tgt[i] * C, C);
        double zn = dot(h, t.item + (int64_t)w->neg[i] * C, C);
        w->lpos[i] = (float)zp;
        w->lneg[i] = (float)zn;
        loss -= log_sigmoid(zp) + log_sigmoid(-zn);
    }
    return loss;
}

/* ---- backward ---- */

static void drop_rows_back(fr_sasrec_work *w, float *dinp, const float *dout,
                           const uint8_t *keep, float p) {
    /* dinp += keep * dout / (1 - p); the mask is per element, so rows need no split */
    fr_dropout_backward(dinp, dout, keep, w->n_tok * w->C, p);
}

/* Gradient of one block: dout [M x C] (the block output's gradient, read only) in,
 * dx [M x C] += the gradient of x_in. Uses dm, t1, t2 and dqkv as scratch, so dout and
 * dx must be other buffers (d0 and d1). */
static void block_backward(fr_sasrec_work *w, block_cache *b, const fr_sasrec_block_t *p,
                           fr_sasrec_block_t *g, float *dx, const float *dout, int pre_ln,
                           float drop, fr_activation act) {
    const int64_t M = w->n_tok, MC = M * w->C;
    const int C = w->C;
    float *t1 = w->t1, *t2 = w->t2;
    /* dmid: gradient of r1 (pre-LN) or of the FFN input a (post-LN) */
    float *dmid = w->dm;
    memset(dmid, 0, (size_t)MC * sizeof(float));
    const float *dz;  /* gradient of the FFN branch output z */
    if (pre_ln) {
        /* out = r1 + z */
        memcpy(dmid, dout, (size_t)MC * sizeof(float));
        dz = dout;
    } else {
        /* out = LN2(r2), r2 = a + z */
        memset(t2, 0, (size_t)MC * sizeof(float));
        fr_layernorm_backward(t2, g->ln2_g, g->ln2_b, dout, b->r2, p->ln2_g, b->f_mean,
                              b->f_rstd, M, C);
        memcpy(dmid, t2, (size_t)MC * sizeof(float));
        dz = t2;
    }
    /* z = drop(hd @ fc2_w + fc2_b) */
    memset(t1, 0, (size_t)MC * sizeof(float));
    drop_rows_back(w, t1, dz, b->zkeep, drop);
    float *dhd = w->dqkv;  /* [M x C] slice of the larger scratch */
    memset(dhd, 0, (size_t)MC * sizeof(float));
    fr_linear_backward(dhd, g->fc2_w, g->fc2_b, t1, b->hd, p->fc2_w, M, C, C);
    /* hd = drop(act(hpre)) */
    memset(t1, 0, (size_t)MC * sizeof(float));
    drop_rows_back(w, t1, dhd, b->hkeep, drop);
    memset(t2, 0, (size_t)MC * sizeof(float));
    fr_activation_backward(t2, t1, b->hpre, MC, act);
    /* hpre = ffn_in @ fc1_w + fc1_b */
    const float *ffn_in = pre_ln ? b->f : b->a;
    memset(t1, 0, (size_t)MC * sizeof(float));
    fr_linear_backward(t1, g->fc1_w, g->fc1_b, t2, ffn_in, p->fc1_w, M, C, C);
    if (pre_ln) {
        /* f = LN2(r1) */
        fr_layernorm_backward(dmid, g->ln2_g, g->ln2_b, t1, b->r1, p->ln2_g, b->f_mean,
                              b->f_rstd, M, C);
    } else {
        /* a = LN1(r1): dmid holds da; turn it into dr1 */
        fr_residual_forward(t1, t1, dmid, MC);  /* da total = residual + FFN path */
        memset(dmid, 0, (size_t)MC * sizeof(float));
        fr_layernorm_backward(dmid, g->ln1_g, g->ln1_b, t1, b->r1, p->ln1_g, b->a_mean,
                              b->a_rstd, M, C);
    }
    /* r1 = x_in + y, y = drop(o @ proj_w + proj_b) */
    for (int64_t i = 0; i < MC; i++) dx[i] += dmid[i];
    memset(t1, 0, (size_t)MC * sizeof(float));
    drop_rows_back(w, t1, dmid, b->ykeep, drop);
    memset(t2, 0, (size_t)MC * sizeof(float));
    fr_linear_backward(t2, g->proj_w, g->proj_b, t1, b->o, p->proj_w, M, C, C);
    /* o = attention(qkv) per sequence */
    memset(w->dqkv, 0, (size_t)(3 * MC) * sizeof(float));
    for (int32_t s = 0; s < w->n_seq; s++) {
        int64_t a0 = w->off[s];
        int tl = (int)(w->off[s + 1] - a0);
        fr_attention_backward(w->dqkv + a0 * 3 * C, w->scratch, t2 + a0 * C,
                              b->att + w->att_off[s], b->akeep + w->att_off[s],
                              b->qkv + a0 * 3 * C, tl, C, w->H, drop);
    }
    /* qkv = attn_in @ qkv_w + qkv_b */
    if (pre_ln) {
        memset(t1, 0, (size_t)MC * sizeof(float));
        fr_linear_backward(t1, g->qkv_w, g->qkv_b, w->dqkv, b->a, p->qkv_w, M, C, 3 * C);
        fr_layernorm_backward(dx, g->ln1_g, g->ln1_b, t1, b->x_in, p->ln1_g, b->a_mean,
                              b->a_rstd, M, C);
    } else {
        fr_linear_backward(dx, g->qkv_w, g->qkv_b, w->dqkv, b->x_in, p->qkv_w, M, C, 3 * C);
    }
}

/* Everything below the final hidden states: dh [M x C] is dL/dout (read only; it may be
 * w->t1, which is free again once the final LN's backward has read it). */
static void backward_from_hidden(fr_sasrec_work *w, const fr_sasrec *m,
                                 const fr_sasrec_tensors *t, fr_sasrec_tensors *g,
                                 const float *dh, uint8_t *touched) {
    const int64_t M = w->n_tok, MC = M * w->C;
    const int C = w->C, L = w->L;
    const fr_sasrec_cfg *cfg = &m->cfg;
    const float drop = cfg->dropout;  /* backward follows a training forward */
    /* out = LNf(x_last) */
    float *dx = w->d0;
    memset(dx, 0, (size_t)MC * sizeof(float));
    fr_layernorm_backward(dx, g->lnf_g, g->lnf_b, dh, w->x_last, t->lnf_g, w->out_mean,
                          w->out_rstd, M, C);
    for (int l = L - 1; l >= 0; l--) {
        float *din = dx == w->d0 ? w->d1 : w->d0;
        memset(din, 0, (size_t)MC * sizeof(float));
        block_backward(w, &w->blk[l], &t->blk[l], &g->blk[l], din, dx, cfg->pre_ln, drop,
                       cfg->act);
        dx = din;
    }
    /* x = drop(E[row] * sqrt(C) + P[pos]) */
    memset(w->t1, 0, (size_t)MC * sizeof(float));
    fr_dropout_backward(w->t1, dx, w->ekeep, MC, drop);
    fr_embedding_backward(g->item, touched, w->t1, w->row, M, C, sqrtf((float)C), 1);
    for (int64_t i = 0; i < M; i++) {
        float *gp = g->pos + (int64_t)w->posi[i] * C;
        for (int c = 0; c < C; c++) gp[c] += w->t1[i * C + c];
    }
}

void fr_sasrec_backward(fr_sasrec_work *w, const fr_sasrec *m, const float *params,
                        float *grad, uint8_t *touched, float loss_scale) {
    const int64_t M = w->n_tok, MC = M * w->C;
    const int C = w->C;
    if (M == 0) return;
    fr_sasrec_tensors t, g;
    fr_sasrec_tensors_of(&t, m, (float *)params);
    fr_sasrec_tensors_of(&g, m, grad);

    /* loss = -sum [log s(zp) + log s(-zn)] * scale:
     * dzp = -(1 - s(zp)) * scale, dzn = s(zn) * scale */
    float *dh = w->t1;
    memset(dh, 0, (size_t)MC * sizeof(float));
    for (int64_t i = 0; i < M; i++) {
        if (!w->tgt[i]) continue;
        double dzp = -(1.0 / (1.0 + exp((double)w->lpos[i]))) * loss_scale;
        double dzn = (1.0 / (1.0 + exp(-(double)w->lneg[i]))) * loss_scale;
        const float *h = w->out + i * C;
        float *ep = t.item + (int64_t)w->tgt[i] * C, *en = t.item + (int64_t)w->neg[i] * C;
        float *gp = g.item + (int64_t)w->tgt[i] * C, *gn = g.item + (int64_t)w->neg[i] * C;
        for (int c = 0; c < C; c++) {
            dh[i * C + c] += (float)(dzp * ep[c] + dzn * en[c]);
            gp[c] += (float)(dzp * h[c]);
            gn[c] += (float)(dzn * h[c]);
        }
        if (touched) touched[w->tgt[i]] = touched[w->neg[i]] = 1;
    }
    backward_from_hidden(w, m, &t, &g, dh, touched);
}

void fr_sasrec_backward_hidden(fr_sasrec_work *w, const fr_sasrec *m, const float *params,
                               const float *dout, float *grad, uint8_t *touched) {
    if (w->n_tok == 0) return;
    fr_sasrec_tensors t, g;
    fr_sasrec_tensors_of(&t, m, (float *)params);
    fr_sasrec_tensors_of(&g, m, grad);
    backward_from_hidden(w, m, &t, &g, dout, touched);
}

/* ---- scoring ---- */

fr_status fr_sasrec_score(fr_sasrec_work *w, const fr_sasrec *m, const float *params,
                          const int32_t *hist, int64_t len, const int32_t *cands, int32_t n,
                          float *scores, fr_error *err) {
    const int C = m->cfg.dim;
    fr_sasrec_work_clear(w);
    fr_rng none;
    fr_rng_init(&none, 0, 0, 0, FR_PURPOSE_DROPOUT);  /* unused: no dropout in eval */
    if (len < 1) {
        for (int32_t i = 0; i < n; i++) scores[i] = 0.0f;
        return FR_OK;
    }
    fr_status st = fr_sasrec_work_add(w, hist, NULL, NULL, len, &none, err);
    if (st != FR_OK) return st;
    fr_sasrec_forward(w, m, params, 0);
    const float *h = fr_sasrec_last_hidden(w, 0);  /* [C] */
    const float *item = params + m->layout.t[0].offset;  /* [(N+1) x C] */
    for (int32_t i = 0; i < n; i++) scores[i] = (float)dot(h, item + ((int64_t)cands[i] + 1) * C, C);
    return FR_OK;
}

double fr_sasrec_seq_flops(const fr_sasrec_cfg *cfg, int64_t t, int64_t scored) {
    const double T = (double)t, C = cfg->dim;
    /* per block: qkv 3C^2, projection C^2, FFN 2C^2 mult-adds per token; attention
     * S = QK^T and O = PV, T^2 C mult-adds each */
    double per_block = 2.0 * T * 6.0 * C * C + 2.0 * 2.0 * T * T * C;
    return per_block * cfg->blocks + 2.0 * 2.0 * (double)scored * C;
}

double fr_sasrec_work_flops(const fr_sasrec_work *w, const fr_sasrec *m) {
    double f = 0.0;
    for (int32_t s = 0; s < w->n_seq; s++) {
        int64_t scored = 0;
        for (int64_t i = w->off[s]; i < w->off[s + 1]; i++) scored += w->tgt[i] != 0;
        f += fr_sasrec_seq_flops(&m->cfg, w->off[s + 1] - w->off[s], scored);
    }
    return f;
}
