/* mmrec_loss.c - the scores of each position's candidates and the losses of mmrec.h,
 * forward and backward.
 *
 * A position p (token i, target item) has its own columns, the target then its sampled
 * negatives, scored by dot products, and with in_batch the columns of the batch's
 * distinct targets other than its own, scored for all positions at once by two matrix
 * products [P x C] x [C x Ut] (h.e and sem.e). A column's score is
 *     z = a0 he + a1 (w_vis ve + w_sem se),  he = h_i . e, se = sem_i . e
 * (mmrec_head.c), and its InfoNCE logit is cos = se / (|sem_i| |e|) over tau. The row
 * [own columns, in-batch columns] goes through loss.h's kernels: BCE (fr_bce_logits with
 * labels (1, 0, ..), rescaled from its mean to the sum), BPR (fr_bpr_loss over the
 * pairs (z_0, z_k)), softmax cross-entropy and InfoNCE; the row's gradients are kept
 * for backward.
 * Leaves out: logQ corrections for sampled negatives.
 */
#include "mmrec_internal.h"

#include <math.h>
#include <string.h>
#include "fedrec/loss.h"

/* Item u's (w_vis, w_sem, vis . e); (0, 1, 0) without the visual expert. */
static void item_terms(const fr_mmrec_work *w, int32_t u, double *wv, double *ws, double *ve) {
    if (!w->use_vis) {
        *wv = 0.0, *ws = 1.0, *ve = 0.0;
        return;
    }
    *wv = w->it.wr[2 * u], *ws = w->it.wr[2 * u + 1], *ve = w->it.ve[u];
}

static float score(const fr_mmrec_work *w, const float *a, double he, double se, int32_t u) {
    double wv, ws, ve;
    item_terms(w, u, &wv, &ws, &ve);
    return (float)(a[0] * he + a[1] * (wv * ve + ws * se));
}

/* The recommendation loss of one row z[n] = (positive, negatives), its gradient into
 * dz[n] (overwritten); rep, drep [n] scratch. */
static double rec_row(fr_mm_loss kind, float *dz, const float *z, int64_t n, float *rep,
                      float *drep) {
    memset(dz, 0, (size_t)n * sizeof(float));
    if (kind == FR_MM_LOSS_SOFTMAX) {
        const int32_t y = 0;
        return fr_softmax_ce_loss(dz, z, &y, 1, n);
    }
    if (kind == FR_MM_LOSS_BCE) {
        /* sum_j softplus(z_j) - y_j z_j = -log s(z_0) - sum_k log(1 - s(z_k)) */
        for (int64_t j = 0; j < n; j++) rep[j] = j == 0 ? 1.0f : 0.0f;
        double loss = fr_bce_logits(dz, z, rep, n);
        for (int64_t j = 0; j < n; j++) dz[j] *= (float)n; /* its dz is of the mean */
        return loss;
    }
    if (n < 2) return 0.0; /* BPR without a negative */
    for (int64_t k = 0; k < n - 1; k++) rep[k] = z[0], drep[k] = 0.0f;
    double loss = fr_bpr_loss(drep, dz + 1, rep, z + 1, n - 1); /* mean over the pairs */
    double d0 = 0.0;
    for (int64_t k = 0; k < n - 1; k++) d0 += drep[k];
    dz[0] = (float)d0;
    return loss;
}

/* The batch's distinct candidates, the targets first (so in-batch column k is item
 * k), and the item of each own column. */
static int32_t item_slot(fr_mmrec_work *w, int32_t id) {
    mm_items *it = &w->it;
    if (w->slot[id] < 0) {
        w->slot[id] = it->n;
        it->id[it->n++] = id;
    }
    return w->slot[id];
}

static void build_items(fr_mmrec_work *w) {
    w->it.n = 0;
    for (int64_t p = 0; p < w->n_pos; p++) item_slot(w, w->cid[w->coff[p]]);
    w->n_ut = w->it.n;
    for (int64_t c = 0; c < w->n_col; c++) w->cu[c] = item_slot(w, w->cid[c]);
    for (int32_t u = 0; u < w->it.n; u++) w->slot[w->it.id[u]] = -1;
}

static int in_batch_on(const fr_mmrec_work *w, const fr_mmrec *m) {
    return m->cfg.in_batch && w->cap_ut > 0 && w->n_ut > 1;
}

/* he and se of every column: own columns by dot products, in-batch by sgemm. */
static void column_products(fr_mmrec_work *w, const fr_mmrec *m) {
    const int C = w->C;
    const int64_t P = w->n_pos;
    const float *H = fr_sasrec_hidden(w->sas);
    const mm_items *it = &w->it;
    for (int64_t p = 0; p < P; p++) {
        const float *h = H + w->ptok[p] * C, *s = w->use_sem ? w->sem + w->ptok[p] * C : NULL;
        for (int64_t c = w->coff[p]; c < w->coff[p + 1]; c++) {
            const float *e = it->e + (int64_t)w->cu[c] * C;
            w->che[c] = (float)mm_dot(h, e, C);
            w->cse[c] = s ? (float)mm_dot(s, e, C) : 0.0f;
        }
    }
    if (!in_batch_on(w, m)) return;
    const int ut = w->n_ut;
    for (int64_t p = 0; p < P; p++) {
        memcpy(w->hp + p * C, H + w->ptok[p] * C, (size_t)C * sizeof(float));
        if (w->use_sem) memcpy(w->sp + p * C, w->sem + w->ptok[p] * C, (size_t)C * sizeof(float));
    }
    /* [P x Ut] = [P x C] [Ut x C]^T; the targets are items 0..Ut-1 */
    fr_matmul(w->bhe, ut, w->hp, C, it->e, C, (int)P, ut, C, 0, 1, 1.0f, 0.0f);
    if (w->use_sem) fr_matmul(w->bse, ut, w->sp, C, it->e, C, (int)P, ut, C, 0, 1, 1.0f, 0.0f);
    else memset(w->bse, 0, (size_t)(P * ut) * sizeof(float));
}

double mm_scores_and_loss(fr_mmrec_work *w, const fr_mmrec *m, const mm_tensors *t) {
    const fr_mmrec_cfg *cfg = &m->cfg;
    build_items(w);
    mm_items_forward(&w->it, m, t, w->use_vis);
    column_products(w, m);
    const int ib = in_batch_on(w, m), ut = w->n_ut;
    double total = 0.0;
    for (int64_t p = 0; p < w->n_pos; p++) {
        const int64_t i = w->ptok[p], c0 = w->coff[p], c1 = w->coff[p + 1];
        const float *a = w->alpha + 2 * i;
        const int32_t own = w->cu[c0];
        const float *bhe = w->bhe + p * ut, *bse = w->bse + p * ut;
        int64_t n = 0;
        for (int64_t c = c0; c < c1; c++) w->row[n++] = score(w, a, w->che[c], w->cse[c], w->cu[c]);
        for (int32_t k = 0; ib && k < ut; k++)
            if (k != own) w->row[n++] = score(w, a, bhe[k], bse[k], k);
        const double lrec = rec_row(cfg->loss, w->drow, w->row, n, w->rep, w->drep);
        w->ploss[p] = (float)lrec;
        total += lrec;
        /* InfoNCE where the memory shows something */
        const int nce = cfg->lambda > 0.0f && w->use_sem && w->seen[i];
        if (nce) {
            const double sn = w->snorm[i];
            const float *en = w->it.enorm;
            n = 0;
            for (int64_t c = c0; c < c1; c++)
                w->rowc[n++] = (float)(w->cse[c] / (sn * en[w->cu[c]]));
            for (int32_t k = 0; ib && k < ut; k++)
                if (k != own) w->rowc[n++] = (float)(bse[k] / (sn * en[k]));
            memset(w->drowc, 0, (size_t)n * sizeof(float));
            total += cfg->lambda * fr_infonce_loss(w->drowc, w->rowc, 1, n - 1, cfg->temperature);
        }
        /* keep the gradients of the row's columns */
        n = 0;
        for (int64_t c = c0; c < c1; c++, n++) {
            w->cdz[c] = w->drow[n];
            w->cdc[c] = nce ? w->drowc[n] : 0.0f;
        }
        for (int32_t k = 0; ib && k < ut; k++) {
            const int live = k != own;
            w->bdz[p * ut + k] = live ? w->drow[n] : 0.0f;
            w->bdc[p * ut + k] = live && nce ? w->drowc[n] : 0.0f;
            n += live;
        }
    }
    return total;
}

/* One column's share of backward, from dz = dL/dz and dc = dL/dcos (both scaled):
 * returns dL/dhe and dL/dse; adds the fusion coefficients' gradient into da and the
 * item's terms into the item list. */
static void column_backward(fr_mmrec_work *w, const float *a, double he, double se, int32_t u,
                            double dz, double dc, double sn, double *da, double *qs,
                            double *dhe, double *dse) {
    mm_items *it = &w->it;
    double wv, ws, ve;
    item_terms(w, u, &wv, &ws, &ve);
    /* z = a0 he + a1 (wv ve + ws se) */
    da[0] += dz * he;
    da[1] += dz * (wv * ve + ws * se);
    *dhe = a[0] * dz;
    *dse = a[1] * ws * dz;
    if (w->use_vis) {
        it->dve[u] += (float)(a[1] * wv * dz);
        it->dwr[2 * u] += (float)(a[1] * ve * dz);
        it->dwr[2 * u + 1] += (float)(a[1] * se * dz);
    }
    if (dc != 0.0) { /* cos = se / (|s| |e|): the se path here, the norms' via qs and qn */
        const double k = 1.0 / (sn * it->enorm[u]), cosv = se * k;
        *dse += dc * k;
        it->qn[u] += (float)(dc * cosv);
        *qs += dc * cosv;
    }
}

void mm_scores_backward(fr_mmrec_work *w, const fr_mmrec *m, float scale) {
    const int C = w->C;
    const int64_t P = w->n_pos;
    const int ib = in_batch_on(w, m), ut = w->n_ut;
    const double lam = m->cfg.lambda;
    const float *H = fr_sasrec_hidden(w->sas);
    mm_items *it = &w->it;
    memset(it->qn, 0, (size_t)it->n * sizeof(float));
    memset(it->de, 0, (size_t)it->n * C * sizeof(float));
    if (w->use_vis) {
        memset(it->dve, 0, (size_t)it->n * sizeof(float));
        memset(it->dwr, 0, (size_t)(2 * it->n) * sizeof(float));
    }
    for (int64_t p = 0; p < P; p++) {
        const int64_t i = w->ptok[p];
        const float *h = H + i * C, *s = w->use_sem ? w->sem + i * C : NULL, *a = w->alpha + 2 * i;
        const double sn = w->snorm[i];
        double da[2] = { 0.0, 0.0 }, qs = 0.0, dhe, dse;
        for (int64_t c = w->coff[p]; c < w->coff[p + 1]; c++) {
            const int32_t u = w->cu[c];
            column_backward(w, a, w->che[c], w->cse[c], u, scale * (double)w->cdz[c],
                            scale * lam * w->cdc[c], sn, da, &qs, &dhe, &dse);
            const float *e = it->e + (int64_t)u * C;
            mm_axpy(w->dh + i * C, dhe, e, C); /* he = h . e */
            mm_axpy(it->de + (int64_t)u * C, dhe, h, C);
            if (s) { /* se = sem . e */
                mm_axpy(w->ds + i * C, dse, e, C);
                mm_axpy(it->de + (int64_t)u * C, dse, s, C);
            }
        }
        for (int32_t k = 0; ib && k < ut; k++) {
            const int64_t pk = p * ut + k;
            column_backward(w, a, w->bhe[pk], w->bse[pk], k, scale * (double)w->bdz[pk],
                            scale * lam * w->bdc[pk], sn, da, &qs, &dhe, &dse);
            w->bdhe[pk] = (float)dhe;
            w->bdse[pk] = (float)dse;
        }
        w->dalpha[2 * i] += (float)da[0];
        w->dalpha[2 * i + 1] += (float)da[1];
        if (s && qs != 0.0) mm_axpy(w->ds + i * C, -qs / (sn * sn), s, C); /* the |s| factor */
    }
    if (!ib) return;
    /* he = hp Et^T: dhp = dHE Et, dEt += dHE^T hp; likewise se with sp */
    fr_matmul(w->dhp, C, w->bdhe, ut, it->e, C, (int)P, C, ut, 0, 0, 1.0f, 0.0f);
    fr_matmul(it->de, C, w->bdhe, ut, w->hp, C, ut, C, (int)P, 1, 0, 1.0f, 1.0f);
    for (int64_t p = 0; p < P; p++) mm_axpy(w->dh + w->ptok[p] * C, 1.0, w->dhp + p * C, C);
    if (!w->use_sem) return;
    fr_matmul(w->dsp, C, w->bdse, ut, it->e, C, (int)P, C, ut, 0, 0, 1.0f, 0.0f);
    fr_matmul(it->de, C, w->bdse, ut, w->sp, C, ut, C, (int)P, 1, 0, 1.0f, 1.0f);
    for (int64_t p = 0; p < P; p++) mm_axpy(w->ds + w->ptok[p] * C, 1.0, w->dsp + p * C, C);
}
