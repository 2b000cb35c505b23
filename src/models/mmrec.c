/* mmrec.c - SASRec with a client memory and multimodal experts (equations in mmrec.h):
 * the model's parameters, the packed batch, forward and backward in order, and scoring
 * with the item cache. The head's layers are in mmrec_head.c, the candidates' scores
 * and the losses in mmrec_loss.c.
 *
 * The head's tensors follow SASRec's in the one buffer, so SASRec's functions run on it
 * unchanged (they address their tensors by offset): SASRec runs forward without targets
 * and its final hidden states feed the head; backward returns through
 * fr_sasrec_backward_hidden.
 * Leaves out: the federated client, negative sampling and the memory itself (memory.h);
 * dropout inside the head.
 * Sources: FedDMMR (shared/reference/003, "Residual Enhancement Fusion"), FedMem
 * (shared/reference/002, "Fusion Module", "3. Contrastive Loss", "4. 完整损失函数").
 */
#include "mmrec_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include "fedrec/alloc.h"

/* ---- parameters ---- */

enum { INIT_ZERO, INIT_XAVIER, INIT_ONE };

typedef struct head_tensor {
    const char *name;
    int64_t rows, cols;
    int init;
} head_tensor;

/* The head's tensors in layout order for cfg; returns how many. */
static int head_tensors(head_tensor *h, const fr_mmrec_cfg *cfg) {
    const int64_t C = cfg->sas.dim, Dt = cfg->dim_text, Dv = cfg->dim_image;
    int n = 0;
    h[n++] = (head_tensor){ "mm.txt_w", Dt, C, INIT_XAVIER };
    h[n++] = (head_tensor){ "mm.txt_b", 1, C, INIT_ZERO };
    h[n++] = (head_tensor){ "mm.sem_q_w", C, C, INIT_XAVIER };
    h[n++] = (head_tensor){ "mm.sem_q_b", 1, C, INIT_ZERO };
    h[n++] = (head_tensor){ "mm.sem_kv_w", C, 2 * C, INIT_XAVIER };
    h[n++] = (head_tensor){ "mm.sem_kv_b", 1, 2 * C, INIT_ZERO };
    h[n++] = (head_tensor){ "mm.sem_o_w", C, C, INIT_XAVIER };
    h[n++] = (head_tensor){ "mm.sem_o_b", 1, C, INIT_ZERO };
    h[n++] = (head_tensor){ "mm.sem_ln_g", 1, C, INIT_ONE };
    h[n++] = (head_tensor){ "mm.sem_ln_b", 1, C, INIT_ZERO };
    if (Dv > 0) {
        h[n++] = (head_tensor){ "mm.img_w", Dv, C, INIT_XAVIER };
        h[n++] = (head_tensor){ "mm.img_b", 1, C, INIT_ZERO };
        h[n++] = (head_tensor){ "mm.vis_ln_g", 1, C, INIT_ONE };
        h[n++] = (head_tensor){ "mm.vis_ln_b", 1, C, INIT_ZERO };
        h[n++] = (head_tensor){ "mm.router_w", C, 2, INIT_XAVIER };
        h[n++] = (head_tensor){ "mm.router_b", 1, 2, INIT_ZERO };
    }
    if (cfg->fusion == FR_MM_FUSION_RESIDUAL) h[n++] = (head_tensor){ "mm.gate", 1, 1, INIT_ZERO };
    if (cfg->fusion == FR_MM_FUSION_LEARNED)
        h[n++] = (head_tensor){ "mm.fusion_theta", 1, 2, INIT_ZERO };
    if (cfg->fusion == FR_MM_FUSION_ADAPTIVE) {
        h[n++] = (head_tensor){ "mm.adapt_w", C, 2, INIT_XAVIER };
        h[n++] = (head_tensor){ "mm.adapt_b", 1, 2, INIT_ZERO };
    }
    return n;
}

/* Index of the first head tensor: the one at head_off, after all of SASRec's. */
static int first_head_tensor(const fr_mmrec *m) {
    const fr_param_layout *l = &m->sas.layout;
    int k = 0;
    while (k < l->n && l->t[k].offset < m->head_off) k++;
    return k;
}

void mm_tensors_of(mm_tensors *t, const fr_mmrec *m, float *buf) {
    const fr_param_layout *l = &m->sas.layout;
    int k = first_head_tensor(m);
    memset(t, 0, sizeof *t);
    t->item = buf + l->t[0].offset;
    float **dense[] = { &t->txt_w, &t->txt_b, &t->q_w, &t->q_b, &t->kv_w, &t->kv_b,
                        &t->o_w, &t->o_b, &t->sem_g, &t->sem_b };
    for (int j = 0; j < 10; j++) *dense[j] = buf + l->t[k++].offset;
    if (m->cfg.dim_image > 0) {
        float **vis[] = { &t->img_w, &t->img_b, &t->vis_g, &t->vis_b, &t->router_w,
                          &t->router_b };
        for (int j = 0; j < 6; j++) *vis[j] = buf + l->t[k++].offset;
    }
    if (m->cfg.fusion == FR_MM_FUSION_RESIDUAL) t->gate = buf + l->t[k++].offset;
    if (m->cfg.fusion == FR_MM_FUSION_LEARNED) t->theta = buf + l->t[k++].offset;
    if (m->cfg.fusion == FR_MM_FUSION_ADAPTIVE) {
        t->adapt_w = buf + l->t[k++].offset;
        t->adapt_b = buf + l->t[k++].offset;
    }
}

static fr_status check_cfg(const fr_mmrec_cfg *c, const float *text, const float *image,
                           fr_error *err) {
    const char *bad = NULL;
    if (c->dim_text < 1 || !text) bad = "dim_text >= 1 with text features";
    else if (c->dim_image < 0 || (c->dim_image > 0 && !image))
        bad = "dim_image >= 0, with image features when > 0";
    else if (c->mem_heads < 1 || c->sas.dim % c->mem_heads) bad = "mem_heads dividing dim";
    else if ((int)c->fusion < 0 || c->fusion > FR_MM_FUSION_ADAPTIVE) bad = "fusion";
    else if ((int)c->loss < 0 || c->loss > FR_MM_LOSS_SOFTMAX) bad = "loss";
    else if ((c->fusion == FR_MM_FUSION_LEARNED || c->fusion == FR_MM_FUSION_ADAPTIVE) &&
             !(c->gating_init > 0.0f && c->gating_init < 1.0f))
        bad = "gating_init in (0, 1) for learned and adaptive fusion";
    else if (!isfinite(c->gating_init) || !isfinite(c->fusion_weight))
        bad = "finite gating_init and fusion_weight";
    else if (!(c->lambda >= 0.0f) || !isfinite(c->lambda)) bad = "lambda >= 0";
    else if (c->lambda > 0.0f && !(c->temperature > 0.0f)) bad = "temperature > 0";
    if (!bad) return FR_OK;
    return fr_fail(err, FR_ERR_USAGE,
                   "mmrec: bad configuration, want %s (dim_text %d, dim_image %d, mem_heads %d, "
                   "dim %d, fusion %d, loss %d, gating_init %g, lambda %g, temperature %g)",
                   bad, c->dim_text, c->dim_image, c->mem_heads, c->sas.dim, (int)c->fusion,
                   (int)c->loss, c->gating_init, c->lambda, c->temperature);
}

fr_status fr_mmrec_create(fr_mmrec *m, const fr_mmrec_cfg *cfg, const float *text,
                          const float *image, uint64_t seed, fr_error *err) {
    memset(m, 0, sizeof *m);
    fr_status st = check_cfg(cfg, text, image, err);
    if (st != FR_OK) return st;
    st = fr_sasrec_create(&m->sas, &cfg->sas, seed, err);
    if (st != FR_OK) return st;
    m->cfg = *cfg;
    m->text = text;
    m->image = cfg->dim_image > 0 ? image : NULL;
    fr_param_layout *l = &m->sas.layout;
    m->head_off = l->size;
    head_tensor h[24];
    const int nh = head_tensors(h, cfg);
    for (int k = 0; k < nh; k++)
        if (fr_layout_add(l, h[k].name, h[k].rows, h[k].cols, FR_SCOPE_GLOBAL, 0) < 0) {
            fr_mmrec_destroy(m);
            return fr_fail(err, FR_ERR_USAGE, "mmrec: more than %d tensors", FR_MAX_TENSORS);
        }
    float *params = fr_calloc((size_t)l->size, sizeof(float));
    if (!params) {
        size_t bytes = (size_t)l->size * sizeof(float);
        fr_mmrec_destroy(m);
        return fr_nomem(err, "mmrec parameters", bytes);
    }
    memcpy(params, m->sas.params, (size_t)m->head_off * sizeof(float));
    fr_free(m->sas.params);
    m->sas.params = params;

    fr_rng rng;
    fr_rng_init(&rng, seed, 1, 0, FR_PURPOSE_INIT_GLOBAL);
    const int k0 = first_head_tensor(m);
    for (int k = 0; k < nh; k++) {
        float *p = params + l->t[k0 + k].offset;
        const int64_t n = h[k].rows * h[k].cols;
        if (h[k].init == INIT_XAVIER) {
            double sd = sqrt(2.0 / (double)(h[k].rows + h[k].cols));
            for (int64_t i = 0; i < n; i++) p[i] = (float)(sd * fr_rng_normal(&rng));
        } else if (h[k].init == INIT_ONE) {
            for (int64_t i = 0; i < n; i++) p[i] = 1.0f;
        }
    }
    mm_tensors t;
    mm_tensors_of(&t, m, params);
    const float logit = (float)log((double)cfg->gating_init / (1.0 - (double)cfg->gating_init));
    if (t.gate) t.gate[0] = cfg->gating_init;
    if (t.theta) t.theta[1] = logit;      /* softmax(0, logit)_1 = gating_init */
    if (t.adapt_b) t.adapt_b[1] = logit;
    return FR_OK;
}

void fr_mmrec_destroy(fr_mmrec *m) {
    fr_sasrec_destroy(&m->sas);
    memset(m, 0, sizeof *m);
}

static int in_group(const char *name, const char *group) {
    static const char *experts[] = { "mm.txt_", "mm.sem_", "mm.img_", "mm.vis_", "mm.router_" };
    static const char *fusion[] = { "mm.gate", "mm.fusion_theta", "mm.adapt_" };
    if (!strcmp(group, "experts")) {
        for (int k = 0; k < 5; k++)
            if (!strncmp(name, experts[k], strlen(experts[k]))) return 1;
    } else if (!strcmp(group, "fusion")) {
        for (int k = 0; k < 3; k++)
            if (!strncmp(name, fusion[k], strlen(fusion[k]))) return 1;
    }
    return 0;
}

int fr_mmrec_group(const fr_mmrec *m, const char *group, int *idx, int cap) {
    const fr_param_layout *l = &m->sas.layout;
    const int k0 = first_head_tensor(m);
    int n = 0;
    for (int k = 0; k < l->n; k++) {
        int hit = !strcmp(group, "item") ? k == 0
                  : !strcmp(group, "sasrec") ? k > 0 && k < k0
                  : k >= k0 && in_group(l->t[k].name, group);
        if (hit && n < cap) idx[n] = k;
        n += hit;
    }
    return n;
}

/* ---- workspace ---- */

/* Every buffer of the workspace with its element count, listed once for allocation
 * and freeing. */
#define MM_WORK_BUFFERS(w, M, MC, J, COL, UT, ROW, MJ, ATT) \
    X(w->off, w->cap_seq + 1) X(w->tgt, M) X(w->moff, w->cap_seq + 1) \
    X(w->mtext, (J) * w->Dt) X(w->mitem, J) X(w->aoff, w->cap_seq + 1) X(w->ptok, M) \
    X(w->ptgt, M) X(w->ploss, M) X(w->coff, (M) + 1) X(w->cid, COL) X(w->cu, COL) \
    X(w->che, COL) X(w->cse, COL) X(w->cdz, COL) X(w->cdc, COL) X(w->z, (J) * w->C) \
    X(w->kv, (J) * 2 * w->C) X(w->q, MC) X(w->att, ATT) X(w->o, MC) X(w->o2, MC) \
    X(w->sem, MC) X(w->sem_mean, M) X(w->sem_rstd, M) X(w->snorm, M) X(w->seen, M) \
    X(w->mask, MJ) X(w->scratch, MJ) X(w->alpha, 2 * (M)) X(w->slot, w->N) X(w->hp, MC) \
    X(w->sp, MC) X(w->bhe, (M) * (UT)) X(w->bse, (M) * (UT)) X(w->bdz, (M) * (UT)) \
    X(w->bdc, (M) * (UT)) X(w->bdhe, (M) * (UT)) X(w->bdse, (M) * (UT)) X(w->row, ROW) \
    X(w->drow, ROW) X(w->rowc, ROW) X(w->drowc, ROW) X(w->rep, ROW) X(w->drep, ROW) \
    X(w->dh, MC) X(w->ds, MC) X(w->dt1, MC) X(w->dt2, MC) X(w->dalpha, 2 * (M)) \
    X(w->qs, M) X(w->dhp, MC) X(w->dsp, MC) X(w->dq, MC) X(w->dkv, (J) * 2 * w->C) \
    X(w->dz, (J) * w->C)

void fr_mmrec_work_destroy(fr_mmrec_work *w) {
    if (!w) return;
#define X(ptr, n) fr_free(ptr);
    MM_WORK_BUFFERS(w, 0, 0, 0, 0, 0, 0, 0, 0)
#undef X
    mm_items_free(&w->it);
    fr_sasrec_work_destroy(w->sas);
    fr_free(w);
}

fr_status fr_mmrec_work_create(fr_mmrec_work **out, const fr_mmrec *m, int32_t cap_seq,
                               int64_t cap_tok, int32_t cap_mem, int32_t cap_neg,
                               fr_error *err) {
    *out = NULL;
    fr_mmrec_work *w = fr_calloc(1, sizeof *w);
    if (!w) return fr_nomem(err, "mmrec workspace", sizeof *w);
    const fr_mmrec_cfg *cfg = &m->cfg;
    w->C = cfg->sas.dim;
    w->Hm = cfg->mem_heads;
    w->Dt = cfg->dim_text;
    w->Dv = cfg->dim_image;
    w->N = cfg->sas.n_items;
    w->maxlen = cfg->sas.maxlen;
    w->cap_seq = cap_seq < 1 ? 1 : cap_seq;
    w->cap_tok = cap_tok < 1 ? 1 : cap_tok;
    w->cap_mem = cap_mem < 0 ? 0 : cap_mem;
    w->cap_neg = cap_neg < 0 ? 0 : cap_neg;
    w->use_sem = cfg->fusion != FR_MM_FUSION_NONE || cfg->lambda > 0.0f;
    w->use_vis = cfg->dim_image > 0 && cfg->fusion != FR_MM_FUSION_NONE;
    const int64_t M = w->cap_tok, MC = M * w->C, J = (int64_t)w->cap_seq * w->cap_mem;
    const int64_t COL = M * (1 + w->cap_neg);
    w->cap_ut = cfg->in_batch ? (int32_t)(M < w->N ? M : w->N) : 0;
    const int64_t ROW = 1 + w->cap_neg + w->cap_ut, MJ = (int64_t)cfg->sas.maxlen * w->cap_mem;
    const int64_t ATT = (int64_t)w->Hm * w->cap_mem * M;
    const int32_t cap_items = (int32_t)(COL < w->N ? COL : w->N);
    int ok = 1;
#define X(ptr, n) ok &= ((ptr) = fr_alloc((size_t)(n), sizeof *(ptr))) != NULL;
    MM_WORK_BUFFERS(w, M, MC, J, COL, w->cap_ut, ROW, MJ, ATT)
#undef X
    fr_status st;
    if (!ok)
        st = fr_nomem(err, "mmrec workspace", (size_t)(MC * 16 + COL * 8) * sizeof(float));
    else if (mm_items_alloc(&w->it, cap_items, w->C, w->Dv, 1) != FR_OK)
        st = fr_nomem(err, "mmrec item terms", (size_t)cap_items * (6 * w->C + w->Dv) * 4);
    else
        st = fr_sasrec_work_create(&w->sas, &m->sas, w->cap_seq, w->cap_tok, err);
    if (st != FR_OK) {
        fr_mmrec_work_destroy(w);
        return st;
    }
    for (int32_t i = 0; i < w->N; i++) w->slot[i] = -1;
    fr_mmrec_work_clear(w);
    *out = w;
    return FR_OK;
}

void fr_mmrec_work_clear(fr_mmrec_work *w) {
    fr_sasrec_work_clear(w->sas);
    w->n_seq = 0;
    w->n_tok = w->n_pos = w->n_col = 0;
    w->off[0] = w->moff[0] = w->aoff[0] = w->coff[0] = 0;
    w->it.n = 0;
    w->n_ut = 0;
}

/* 1 when every id of a[n] lies in [lo, N). */
static int ids_in_range(const int32_t *a, int64_t n, int32_t lo, int32_t N) {
    for (int64_t i = 0; i < n; i++)
        if (a[i] < lo || a[i] >= N) return 0;
    return 1;
}

fr_status fr_mmrec_work_add(fr_mmrec_work *w, const int32_t *input, const int32_t *target,
                            const int32_t *neg, int32_t n_neg, int64_t t,
                            const float *mem_text, const int32_t *mem_item, int32_t n_mem,
                            const fr_rng *dropout_rng, fr_error *err) {
    if (!target) n_neg = 0;
    if (t > w->maxlen) {
        const int64_t cut = t - w->maxlen;
        input += cut;
        if (target) target += cut;
        if (neg) neg += cut * n_neg;
        t = w->maxlen;
    }
    if (t < 1) return FR_OK;
    /* everything is checked before anything is written: a refused sequence leaves the
     * batch as it was */
    if (w->n_seq >= w->cap_seq || w->n_tok + t > w->cap_tok)
        return fr_fail(err, FR_ERR_RUNTIME, "mmrec: workspace full (%d sequences, %lld tokens)",
                       w->cap_seq, (long long)w->cap_tok);
    if (n_neg < 0 || n_neg > w->cap_neg || n_mem < 0 || n_mem > w->cap_mem)
        return fr_fail(err, FR_ERR_RUNTIME,
                       "mmrec: %d negatives and %d memory entries; the workspace holds %d and %d",
                       n_neg, n_mem, w->cap_neg, w->cap_mem);
    if ((n_neg > 0 && !neg) || (n_mem > 0 && (!mem_text || !mem_item)))
        return fr_fail(err, FR_ERR_USAGE, "mmrec: negatives or memory missing");
    int ok = ids_in_range(input, t, 0, w->N) && ids_in_range(mem_item, n_mem, INT32_MIN, w->N);
    for (int64_t j = 0; ok && target && j < t; j++)
        ok = target[j] < w->N &&
             (target[j] < 0 || n_neg == 0 || ids_in_range(neg + j * n_neg, n_neg, 0, w->N));
    if (!ok)
        return fr_fail(err, FR_ERR_USAGE, "mmrec: an item id outside [0, %d) in a sequence",
                       w->N);
    fr_status st = fr_sasrec_work_add(w->sas, input, NULL, NULL, t, dropout_rng, err);
    if (st != FR_OK) return st;

    const int64_t o = w->n_tok;
    for (int64_t j = 0; j < t; j++) {
        const int has = target && target[j] >= 0;
        w->tgt[o + j] = has ? target[j] : -1;
        if (!has) continue;
        const int64_t p = w->n_pos++, c = w->coff[p];
        w->ptok[p] = o + j;
        w->ptgt[p] = target[j];
        w->cid[c] = target[j];
        if (n_neg > 0) memcpy(w->cid + c + 1, neg + j * n_neg, (size_t)n_neg * sizeof(int32_t));
        w->coff[p + 1] = c + 1 + n_neg;
    }
    w->n_col = w->coff[w->n_pos];
    const int64_t mo = w->moff[w->n_seq];
    if (n_mem > 0) {
        memcpy(w->mtext + mo * w->Dt, mem_text, (size_t)n_mem * w->Dt * sizeof(float));
        memcpy(w->mitem + mo, mem_item, (size_t)n_mem * sizeof(int32_t));
    }
    w->n_tok += t;
    w->n_seq++;
    w->off[w->n_seq] = w->n_tok;
    w->moff[w->n_seq] = mo + n_mem;
    w->aoff[w->n_seq] = w->aoff[w->n_seq - 1] + (int64_t)w->Hm * t * n_mem;
    return FR_OK;
}

int64_t fr_mmrec_work_positions(const fr_mmrec_work *w) { return w->n_pos; }
const float *fr_mmrec_position_loss(const fr_mmrec_work *w) { return w->ploss; }
const int32_t *fr_mmrec_position_target(const fr_mmrec_work *w) { return w->ptgt; }

/* ---- forward and backward ---- */

double fr_mmrec_forward(fr_mmrec_work *w, const fr_mmrec *m, const float *params, int train) {
    w->it.n = 0;
    w->n_ut = 0;
    if (w->n_tok == 0) return 0.0;
    fr_sasrec_forward(w->sas, &m->sas, params, train);  /* no targets: hidden states only */
    mm_tensors t;
    mm_tensors_of(&t, m, (float *)params);
    if (w->use_sem) mm_semantic_forward(w, m, &t);
    mm_fusion_forward(w, m, &t);
    if (w->n_pos == 0) return 0.0;
    return mm_scores_and_loss(w, m, &t);
}

void fr_mmrec_backward(fr_mmrec_work *w, const fr_mmrec *m, const float *params,
                       float *grad, uint8_t *touched, float loss_scale) {
    const int64_t MC = w->n_tok * w->C;
    if (w->n_tok == 0) return;
    mm_tensors t, g;
    mm_tensors_of(&t, m, (float *)params);
    mm_tensors_of(&g, m, grad);
    memset(w->dh, 0, (size_t)MC * sizeof(float));
    memset(w->ds, 0, (size_t)MC * sizeof(float));
    memset(w->dalpha, 0, (size_t)(2 * w->n_tok) * sizeof(float));
    if (w->n_pos > 0) {
        mm_scores_backward(w, m, loss_scale);
        mm_items_backward(&w->it, m, &t, &g);
        for (int32_t u = 0; touched && u < w->it.n; u++) touched[w->it.id[u] + 1] = 1;
    }
    mm_fusion_backward(w, m, &t, &g);
    if (w->use_sem) mm_semantic_backward(w, m, &t, &g);
    fr_sasrec_backward_hidden(w->sas, &m->sas, params, w->dh, grad, touched);
}

/* ---- scoring ---- */

int64_t fr_mmrec_cache_size(const fr_mmrec *m) { return (int64_t)m->cfg.sas.n_items * 3; }

/* Copies the terms of it's items into cache rows [3] (w_vis, w_sem, vis . e). */
static void put_terms(float *out, const mm_items *it, int32_t u, int with_vis) {
    out[0] = with_vis ? it->wr[2 * u] : 0.0f;
    out[1] = with_vis ? it->wr[2 * u + 1] : 1.0f;
    out[2] = with_vis ? it->ve[u] : 0.0f;
}

fr_status fr_mmrec_fill_cache(const fr_mmrec *m, const float *params, float *cache,
                              fr_error *err) {
    const int32_t N = m->cfg.sas.n_items;
    const int with_vis = m->cfg.dim_image > 0;
    if (!with_vis) {
        for (int32_t i = 0; i < N; i++) put_terms(cache + 3 * (int64_t)i, NULL, 0, 0);
        return FR_OK;
    }
    mm_items it;
    const int32_t block = N < 256 ? N : 256;
    fr_status st = mm_items_alloc(&it, block, m->cfg.sas.dim, m->cfg.dim_image, 0);
    if (st != FR_OK) return fr_nomem(err, "mmrec item cache scratch", (size_t)block * 4096);
    mm_tensors t;
    mm_tensors_of(&t, m, (float *)params);
    for (int32_t i0 = 0; i0 < N; i0 += block) {
        it.n = N - i0 < block ? N - i0 : block;
        for (int32_t u = 0; u < it.n; u++) it.id[u] = i0 + u;
        mm_items_forward(&it, m, &t, 1);
        for (int32_t u = 0; u < it.n; u++) put_terms(cache + 3 * (int64_t)(i0 + u), &it, u, 1);
    }
    mm_items_free(&it);
    return FR_OK;
}

fr_status fr_mmrec_score(fr_mmrec_work *w, const fr_mmrec *m, const float *params,
                         const float *cache, const int32_t *hist, int64_t len,
                         const float *mem_text, const int32_t *mem_item, int32_t n_mem,
                         const int32_t *cands, int32_t n, float *scores, fr_error *err) {
    const int C = w->C;
    fr_mmrec_work_clear(w);
    if (!ids_in_range(cands, n, 0, w->N))
        return fr_fail(err, FR_ERR_USAGE, "mmrec: a candidate outside [0, %d)", w->N);
    if (len < 1) {
        for (int32_t i = 0; i < n; i++) scores[i] = 0.0f;
        return FR_OK;
    }
    fr_rng none;
    fr_rng_init(&none, 0, 0, 0, FR_PURPOSE_DROPOUT);  /* unused: no dropout in eval */
    fr_status st = fr_mmrec_work_add(w, hist, NULL, NULL, 0, len, mem_text, mem_item, n_mem,
                                     &none, err);
    if (st != FR_OK) return st;
    fr_mmrec_forward(w, m, params, 0);
    const int64_t i = w->n_tok - 1;
    const float *h = fr_sasrec_hidden(w->sas) + i * C;
    const float *s = w->use_sem && w->seen[i] ? w->sem + i * C : NULL;
    const double a0 = w->alpha[2 * i], a1 = w->alpha[2 * i + 1];
    const float *item = params + m->sas.layout.t[0].offset;  /* [(N+1) x C] */
    mm_tensors t;
    mm_tensors_of(&t, m, (float *)params);
    mm_items *it = &w->it;
    const int terms = w->use_vis && !cache;  /* item terms computed here, a block at a time */
    for (int32_t c0 = 0; c0 < n; c0 += it->cap) {
        const int32_t nb = n - c0 < it->cap ? n - c0 : it->cap;
        if (terms) {
            it->n = nb;
            memcpy(it->id, cands + c0, (size_t)nb * sizeof(int32_t));
            mm_items_forward(it, m, &t, 1);
        }
        for (int32_t k = 0; k < nb; k++) {
            const int32_t id = cands[c0 + k];
            const float *e = item + ((int64_t)id + 1) * C;
            float tr[3];
            if (terms) put_terms(tr, it, k, 1);
            else if (cache && w->use_vis) memcpy(tr, cache + 3 * (int64_t)id, sizeof tr);
            else put_terms(tr, NULL, 0, 0);
            const double se = s ? mm_dot(s, e, C) : 0.0;
            scores[c0 + k] = (float)(a0 * mm_dot(h, e, C) + a1 * (tr[0] * (double)tr[2] + tr[1] * se));
        }
    }
    it->n = 0;
    return FR_OK;
}
