/* mmrec_head.c - the head of mmrec.h over SASRec's final hidden states, forward and
 * backward: the semantic expert (cross-attention over the memory), the visual expert
 * and router per candidate item, the fusion coefficients, the scores of each position's
 * candidates (its own: target and sampled negatives; in-batch: the batch's targets, by
 * matrix products), the recommendation loss and InfoNCE.
 *
 * Every score is s = a0 h.e + a1 (w_vis ve + w_sem sem.e) with (a0, a1) per position
 * from the fusion mode and (w_vis, w_sem, ve = vis.e) per item, so one form serves
 * every mode (mmrec.h): none (1, 0), residual (1, g), weighted (1 - beta, beta),
 * learned softmax(theta), adaptive softmax(h W_a + b_a); without a visual expert
 * (w_vis, w_sem, ve) = (0, 1, 0). InfoNCE's logits are cos(sem, e) / tau = sem.e /
 * (|sem| |e| tau), so it reuses sem.e.
 * Leaves out: dropout, and thread sharding (one work per thread, mmrec.h).
 */
#include "mmrec_internal.h"

#include <math.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/loss.h"

#define NORM_EPS 1e-12

/* Rows [n x 2] of logits become their softmax in place. */
static void softmax2_rows(float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double mx = fmax(p[2 * i], p[2 * i + 1]);
        double e0 = exp(p[2 * i] - mx), e1 = exp(p[2 * i + 1] - mx);
        p[2 * i] = (float)(e0 / (e0 + e1));
        p[2 * i + 1] = (float)(e1 / (e0 + e1));
    }
}

/* Differentiates p = softmax(x) for one row of 2: dx = p (dp - p.dp), in place over dp. */
static void softmax2_backward(float *dp, const float *p) {
    double pd = (double)p[0] * dp[0] + (double)p[1] * dp[1];
    dp[0] = (float)(p[0] * (dp[0] - pd));
    dp[1] = (float)(p[1] * (dp[1] - pd));
}

/* ---- item terms ---- */

fr_status mm_items_alloc(mm_items *it, int32_t cap, int C, int dv, int backward) {
    memset(it, 0, sizeof *it);
    it->cap = cap < 1 ? 1 : cap;
    const int64_t n = it->cap, nv = dv > 0 ? n : 1;
    int ok = 1;
#define A(ptr, count) ok &= ((ptr) = fr_alloc((size_t)(count), sizeof *(ptr))) != NULL;
    A(it->id, n) A(it->e, n * C) A(it->enorm, n) A(it->x, nv * (dv > 0 ? dv : 1))
    A(it->vpre, nv * C) A(it->vis, nv * C) A(it->vmean, nv) A(it->vrstd, nv) A(it->wr, 2 * nv)
    A(it->ve, nv)
    if (backward) {
        A(it->dve, nv) A(it->dwr, 2 * nv) A(it->qn, n) A(it->de, n * C) A(it->dvis, nv * C)
        A(it->dvpre, nv * C)
    }
#undef A
    if (ok) return FR_OK;
    mm_items_free(it);
    return FR_ERR_NOMEM;
}

void mm_items_free(mm_items *it) {
    float *f[] = { it->e, it->x, it->vpre, it->vis, it->vmean, it->vrstd, it->wr, it->ve,
                   it->enorm, it->dve, it->dwr, it->qn, it->de, it->dvis, it->dvpre };
    for (size_t k = 0; k < sizeof f / sizeof *f; k++) fr_free(f[k]);
    fr_free(it->id);
    memset(it, 0, sizeof *it);
}

/* e_u = E[id + 1], |e_u|; vis_u = LN_vis(x_u W_img + b_img), ve_u = vis_u . e_u,
 * (w_vis, w_sem)_u = softmax(e_u W_r + b_r). */
void mm_items_forward(mm_items *it, const fr_mmrec *m, const mm_tensors *t, int with_vis) {
    const int C = m->cfg.sas.dim, Dv = m->cfg.dim_image;
    const int32_t n = it->n;
    for (int32_t u = 0; u < n; u++) {
        float *e = it->e + (int64_t)u * C;
        memcpy(e, t->item + ((int64_t)it->id[u] + 1) * C, (size_t)C * sizeof(float));
        it->enorm[u] = (float)fmax(sqrt(mm_dot(e, e, C)), NORM_EPS);
    }
    if (!with_vis || Dv == 0 || n == 0) return;
    for (int32_t u = 0; u < n; u++)
        memcpy(it->x + (int64_t)u * Dv, m->image + (int64_t)it->id[u] * Dv,
               (size_t)Dv * sizeof(float));
    fr_linear_forward(it->vpre, it->x, t->img_w, t->img_b, n, Dv, C);
    fr_layernorm_forward(it->vis, it->vmean, it->vrstd, it->vpre, t->vis_g, t->vis_b, n, C,
                         m->cfg.sas.ln_eps);
    for (int32_t u = 0; u < n; u++)
        it->ve[u] = (float)mm_dot(it->vis + (int64_t)u * C, it->e + (int64_t)u * C, C);
    fr_linear_forward(it->wr, it->e, t->router_w, t->router_b, n, C, 2);
    softmax2_rows(it->wr, n);
}

/* Takes de (the scores' gradient on each e_u, filled by mm_scores_backward) and dve,
 * dwr, qn; adds the InfoNCE norm term, the visual expert's and the router's paths, and
 * scatters de into the item table's gradient. */
void mm_items_backward(mm_items *it, const fr_mmrec *m, const mm_tensors *t, mm_tensors *g) {
    const int C = m->cfg.sas.dim, Dv = m->cfg.dim_image;
    const int32_t n = it->n;
    const int with_vis = Dv > 0 && m->cfg.fusion != FR_MM_FUSION_NONE;
    for (int32_t u = 0; u < n; u++) {
        /* cos = s.e / (|s| |e|): the |e| factor gives -qn e / |e|^2, qn = sum dcos cos */
        const double en = it->enorm[u];
        if (it->qn[u] != 0.0f)
            mm_axpy(it->de + (int64_t)u * C, -it->qn[u] / (en * en), it->e + (int64_t)u * C, C);
    }
    if (with_vis && n > 0) {
        /* ve = vis . e */
        for (int32_t u = 0; u < n; u++) {
            const float *e = it->e + (int64_t)u * C, *vis = it->vis + (int64_t)u * C;
            float *dvis = it->dvis + (int64_t)u * C;
            for (int c = 0; c < C; c++) dvis[c] = it->dve[u] * e[c];
            mm_axpy(it->de + (int64_t)u * C, it->dve[u], vis, C);
        }
        /* vis = LN_vis(vpre), vpre = x W_img + b_img (x fixed) */
        memset(it->dvpre, 0, (size_t)n * C * sizeof(float));
        fr_layernorm_backward(it->dvpre, g->vis_g, g->vis_b, it->dvis, it->vpre, t->vis_g,
                              it->vmean, it->vrstd, n, C);
        fr_linear_backward(NULL, g->img_w, g->img_b, it->dvpre, it->x, t->img_w, n, Dv, C);
        /* (w_vis, w_sem) = softmax(e W_r + b_r) */
        for (int32_t u = 0; u < n; u++) softmax2_backward(it->dwr + 2 * u, it->wr + 2 * u);
        fr_linear_backward(it->de, g->router_w, g->router_b, it->dwr, it->e, t->router_w, n, C,
                           2);
    }
    for (int32_t u = 0; u < n; u++) {
        float *grow = g->item + ((int64_t)it->id[u] + 1) * C;
        const float *de = it->de + (int64_t)u * C;
        for (int c = 0; c < C; c++) grow[c] += de[c];
    }
}

/* ---- semantic expert ---- */

/* z = m W_txt + b_txt, [k|v] = z W_kv + b_kv, q = h W_q + b_q; per sequence the
 * cross-attention of its tokens over its visible entries; sem = LN_sem(o W_o + b_o),
 * 0 where nothing is visible. */
void mm_semantic_forward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t) {
    const int64_t M = w->n_tok, J = w->moff[w->n_seq];
    const int C = w->C;
    const float *H = fr_sasrec_hidden(w->sas);  /* [M x C] */
    if (J > 0) {
        fr_linear_forward(w->z, w->mtext, t->txt_w, t->txt_b, J, w->Dt, C);
        fr_linear_forward(w->kv, w->z, t->kv_w, t->kv_b, J, C, 2 * C);
    }
    fr_linear_forward(w->q, H, t->q_w, t->q_b, M, C, C);
    for (int32_t s = 0; s < w->n_seq; s++) {
        const int64_t o = w->off[s], mo = w->moff[s];
        const int T = (int)(w->off[s + 1] - o), nj = (int)(w->moff[s + 1] - mo);
        for (int i = 0; i < T; i++) { /* an entry holding the position's target is hidden */
            const int32_t p = w->tgt[o + i];
            uint8_t any = 0;
            for (int j = 0; j < nj; j++) {
                uint8_t v = p < 0 || w->mitem[mo + j] != p;
                w->mask[i * nj + j] = v;
                any |= v;
            }
            w->seen[o + i] = any;
        }
        fr_cross_attention_forward(w->o + o * C, w->att + w->aoff[s], w->scratch, w->q + o * C,
                                   w->kv + mo * 2 * C, w->mask, T, nj, C, w->Hm);
    }
    fr_linear_forward(w->o2, w->o, t->o_w, t->o_b, M, C, C);
    fr_layernorm_forward(w->sem, w->sem_mean, w->sem_rstd, w->o2, t->sem_g, t->sem_b, M, C,
                         m->cfg.sas.ln_eps);
    for (int64_t i = 0; i < M; i++) {
        float *s = w->sem + i * C;
        if (!w->seen[i]) memset(s, 0, (size_t)C * sizeof(float));
        w->snorm[i] = (float)fmax(sqrt(mm_dot(s, s, C)), NORM_EPS);
    }
}

/* Differentiates the above from ds = dL/dsem (w->ds), adding into dh = dL/dh (w->dh). */
void mm_semantic_backward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t,
                          mm_tensors *g) {
    const int64_t M = w->n_tok, MC = M * w->C, J = w->moff[w->n_seq];
    const int C = w->C;
    const float *H = fr_sasrec_hidden(w->sas);
    (void)m;
    for (int64_t i = 0; i < M; i++) /* sem = 0 there: a constant */
        if (!w->seen[i]) memset(w->ds + i * C, 0, (size_t)C * sizeof(float));
    /* sem = LN_sem(o2), o2 = o W_o + b_o */
    memset(w->dt1, 0, (size_t)MC * sizeof(float));
    fr_layernorm_backward(w->dt1, g->sem_g, g->sem_b, w->ds, w->o2, t->sem_g, w->sem_mean,
                          w->sem_rstd, M, C);
    memset(w->dt2, 0, (size_t)MC * sizeof(float));
    fr_linear_backward(w->dt2, g->o_w, g->o_b, w->dt1, w->o, t->o_w, M, C, C);
    /* o = cross-attention(q, kv) per sequence */
    memset(w->dq, 0, (size_t)MC * sizeof(float));
    memset(w->dkv, 0, (size_t)(J * 2 * C) * sizeof(float));
    for (int32_t s = 0; s < w->n_seq; s++) {
        const int64_t o = w->off[s], mo = w->moff[s];
        const int T = (int)(w->off[s + 1] - o), nj = (int)(w->moff[s + 1] - mo);
        fr_cross_attention_backward(w->dq + o * C, w->dkv + mo * 2 * C, w->scratch,
                                    w->dt2 + o * C, w->att + w->aoff[s], w->q + o * C,
                                    w->kv + mo * 2 * C, T, nj, C, w->Hm);
    }
    /* q = h W_q + b_q; [k|v] = z W_kv + b_kv; z = m W_txt + b_txt (m fixed) */
    fr_linear_backward(w->dh, g->q_w, g->q_b, w->dq, H, t->q_w, M, C, C);
    if (J == 0) return;
    memset(w->dz, 0, (size_t)(J * C) * sizeof(float));
    fr_linear_backward(w->dz, g->kv_w, g->kv_b, w->dkv, w->z, t->kv_w, J, C, 2 * C);
    fr_linear_backward(NULL, g->txt_w, g->txt_b, w->dz, w->mtext, t->txt_w, J, w->Dt, C);
}

/* ---- fusion coefficients ---- */

void mm_fusion_forward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t) {
    const int64_t M = w->n_tok;
    const fr_mmrec_cfg *cfg = &m->cfg;
    float a[2] = { 1.0f, 0.0f };
    if (cfg->fusion == FR_MM_FUSION_ADAPTIVE) { /* a = softmax(h W_a + b_a) */
        fr_linear_forward(w->alpha, fr_sasrec_hidden(w->sas), t->adapt_w, t->adapt_b, M, w->C, 2);
        softmax2_rows(w->alpha, M);
        return;
    }
    if (cfg->fusion == FR_MM_FUSION_RESIDUAL) a[1] = t->gate[0];
    if (cfg->fusion == FR_MM_FUSION_WEIGHTED) {
        a[0] = 1.0f - cfg->fusion_weight;
        a[1] = cfg->fusion_weight;
    }
    if (cfg->fusion == FR_MM_FUSION_LEARNED) {
        memcpy(a, t->theta, sizeof a);
        softmax2_rows(a, 1);
    }
    for (int64_t i = 0; i < M; i++) memcpy(w->alpha + 2 * i, a, sizeof a);
}

/* From dalpha = dL/d(a0, a1) per token. */
void mm_fusion_backward(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t,
                        mm_tensors *g) {
    const int64_t M = w->n_tok;
    const fr_mm_fusion f = m->cfg.fusion;
    if (f == FR_MM_FUSION_ADAPTIVE) {
        for (int64_t i = 0; i < M; i++) softmax2_backward(w->dalpha + 2 * i, w->alpha + 2 * i);
        fr_linear_backward(w->dh, g->adapt_w, g->adapt_b, w->dalpha, fr_sasrec_hidden(w->sas),
                           t->adapt_w, M, w->C, 2);
        return;
    }
    if (f != FR_MM_FUSION_RESIDUAL && f != FR_MM_FUSION_LEARNED) return;
    double da[2] = { 0.0, 0.0 };
    for (int64_t i = 0; i < M; i++) da[0] += w->dalpha[2 * i], da[1] += w->dalpha[2 * i + 1];
    if (f == FR_MM_FUSION_RESIDUAL) { /* a1 = g */
        g->gate[0] += (float)da[1];
        return;
    }
    float p[2], dp[2] = { (float)da[0], (float)da[1] };  /* (a0, a1) = softmax(theta) */
    memcpy(p, t->theta, sizeof p);
    softmax2_rows(p, 1);
    softmax2_backward(dp, p);
    g->theta[0] += dp[0];
    g->theta[1] += dp[1];
}
