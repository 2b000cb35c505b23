/* sasrec_client.c - federated SASRec's client update (see sasrec_client.h).
 *
 * Work is proportional to what the client touches: it copies, trains and sends the
 * dense tensors and the item-table rows of its own items and negatives, never the
 * whole table. Its optimizer runs over those index ranges only, which is exact: an
 * untouched row has zero gradient, and a fresh optimizer leaves it where it was.
 * Leaves out: local mini-batches (one user is one sequence: one step per epoch).
 */
#include "fedrec/sasrec_client.h"

#include <math.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/optim.h"
#include "fedrec/ranking.h"

typedef struct slot_ws {
    fr_sasrec_work *work;
    float *local, *grad;   /* [P] only the client's ranges are meaningful */
    fr_optim opt;          /* client optimizer, moments [P] */
    uint8_t *mark;         /* [N+1] table rows touched */
    uint8_t *seen;         /* [N] the user's items */
    int32_t *rows;         /* [N+1] touched rows, ascending */
    int32_t n_rows;
    int64_t *rb, *re;      /* [N+2] index ranges: dense block + one per row */
    int32_t *in, *tg, *ng; /* [maxlen], [maxlen], [epochs x maxlen] */
    int32_t *cand;         /* [1 + negatives] */
    float *cscore;         /* [1 + negatives] */
} slot_ws;

struct fr_sasrec_clients {
    const fr_sasrec *m;
    const fr_dataset *ds;
    const fr_config *c;
    int slots;
    int64_t P, item_off, dense_off;  /* dense tensors occupy [dense_off, P) */
    slot_ws *ws;
};

static void slot_free(slot_ws *w) {
    fr_sasrec_work_destroy(w->work);
    fr_free(w->local);
    fr_free(w->grad);
    fr_optim_free(&w->opt);
    fr_free(w->mark);
    fr_free(w->seen);
    fr_free(w->rows);
    fr_free(w->rb);
    fr_free(w->re);
    fr_free(w->in);
    fr_free(w->tg);
    fr_free(w->ng);
    fr_free(w->cand);
    fr_free(w->cscore);
}

void fr_sasrec_clients_destroy(fr_sasrec_clients *cl) {
    if (!cl) return;
    if (cl->ws)
        for (int s = 0; s < cl->slots; s++) slot_free(&cl->ws[s]);
    fr_free(cl->ws);
    fr_free(cl);
}

fr_status fr_sasrec_clients_create(fr_sasrec_clients **out, const fr_sasrec *m,
                                   const fr_dataset *ds, const fr_config *c, int slots,
                                   fr_error *err) {
    *out = NULL;
    fr_sasrec_clients *cl = fr_calloc(1, sizeof *cl);
    if (!cl) return fr_nomem(err, "SASRec clients", sizeof *cl);
    cl->m = m;
    cl->ds = ds;
    cl->c = c;
    cl->slots = slots;
    cl->P = m->layout.size;
    cl->item_off = m->layout.t[0].offset;
    cl->dense_off = m->layout.t[1].offset;  /* item_embedding first, then dense tensors */
    cl->ws = fr_calloc((size_t)slots, sizeof *cl->ws);
    fr_status st = cl->ws ? FR_OK : fr_nomem(err, "SASRec client slots", 0);
    const int64_t N = ds->n_items, L = c->maxlen, E = c->client_epochs;
    fr_optim_kind kind = strcmp(c->client_optimizer, "adam") == 0 ? FR_OPTIM_ADAM : FR_OPTIM_SGD;
    for (int s = 0; s < slots && st == FR_OK; s++) {
        slot_ws *w = &cl->ws[s];
        st = fr_sasrec_work_create(&w->work, m, 1, L, err);
        if (st == FR_OK)
            st = fr_optim_init(&w->opt, kind, cl->P, c->client_lr, 0.0, 0.9, 0.999, 1e-8, err);
        if (st != FR_OK) break;
        w->local = fr_alloc((size_t)cl->P, sizeof(float));
        w->grad = fr_alloc((size_t)cl->P, sizeof(float));
        w->mark = fr_calloc((size_t)N + 1, 1);
        w->seen = fr_calloc((size_t)N, 1);
        w->rows = fr_alloc((size_t)N + 1, sizeof(int32_t));
        w->rb = fr_alloc((size_t)N + 2, sizeof(int64_t));
        w->re = fr_alloc((size_t)N + 2, sizeof(int64_t));
        w->in = fr_alloc((size_t)L, sizeof(int32_t));
        w->tg = fr_alloc((size_t)L, sizeof(int32_t));
        w->ng = fr_alloc((size_t)(E * L), sizeof(int32_t));
        w->cand = fr_alloc((size_t)c->eval_negatives + 1, sizeof(int32_t));
        w->cscore = fr_alloc((size_t)c->eval_negatives + 1, sizeof(float));
        if (!w->local || !w->grad || !w->mark || !w->seen || !w->rows || !w->rb || !w->re ||
            !w->in || !w->tg || !w->ng || !w->cand || !w->cscore)
            st = fr_nomem(err, "SASRec client workspace", (size_t)cl->P * 16);
    }
    if (st != FR_OK) {
        fr_sasrec_clients_destroy(cl);
        return st;
    }
    *out = cl;
    return FR_OK;
}

/* The client's sequence and every epoch's negatives; marks the rows they touch and
 * returns the number of positions T. */
static int64_t build_sequence(slot_ws *w, const fr_sasrec_clients *cl, fr_user_view v,
                              uint32_t round) {
    const fr_config *c = cl->c;
    const int64_t n = fr_loo_split(v).n_train, L = c->maxlen;
    int64_t t = n - 1 < L ? n - 1 : L;
    for (int64_t j = 0; j < v.n; j++) w->seen[v.item[j]] = 1;
    fr_rng rng;
    fr_rng_init(&rng, c->seed, round, (uint32_t)v.user, FR_PURPOSE_NEGATIVES);
    for (int64_t j = 0; j < t; j++) {
        w->in[j] = v.item[n - 1 - t + j];
        w->tg[j] = v.item[n - t + j];
        w->mark[w->in[j] + 1] = w->mark[w->tg[j] + 1] = 1;
    }
    for (int64_t e = 0; e < c->client_epochs; e++)
        for (int64_t j = 0; j < t; j++) {
            int32_t x;
            do x = (int32_t)fr_rng_below(&rng, (uint32_t)cl->ds->n_items);
            while (w->seen[x]);
            w->ng[e * L + j] = x;
            w->mark[x + 1] = 1;
        }
    for (int64_t j = 0; j < v.n; j++) w->seen[v.item[j]] = 0;
    return t;
}

/* rows = marked rows ascending (marks cleared); ranges = dense block + each row. */
static int32_t collect_ranges(slot_ws *w, const fr_sasrec_clients *cl, int *n_ranges) {
    const int C = cl->m->cfg.dim;
    int32_t nr = 0;
    for (int32_t r = 1; r <= cl->ds->n_items; r++)
        if (w->mark[r]) {
            w->mark[r] = 0;
            w->rows[nr++] = r;
        }
    w->n_rows = nr;
    int k = 0;
    w->rb[k] = cl->dense_off;
    w->re[k++] = cl->P;
    for (int32_t i = 0; i < nr; i++, k++) {
        w->rb[k] = cl->item_off + (int64_t)w->rows[i] * C;
        w->re[k] = w->rb[k] + C;
    }
    *n_ranges = k;
    return nr;
}

static void copy_ranges(float *dst, const float *src, const slot_ws *w, int n) {
    for (int k = 0; k < n; k++)
        memcpy(dst + w->rb[k], src + w->rb[k], (size_t)(w->re[k] - w->rb[k]) * sizeof(float));
}

/* Reciprocal rank of the validation item under the local model (model selection). */
static fr_status local_score(slot_ws *w, const fr_sasrec_clients *cl, const float *global,
                             fr_user_view v, double *score, fr_error *err) {
    const fr_config *c = cl->c;
    fr_loo l = fr_loo_split(v);
    *score = 0.0;
    if (l.valid < 0 || c->eval_negatives < 1) return FR_OK;
    const int C = cl->m->cfg.dim;
    w->cand[0] = l.valid;
    /* the stream the ranking evaluation uses for validation negatives */
    fr_status st = fr_sample_negatives(w->cand + 1, c->eval_negatives, v, cl->ds->n_items,
                                       c->seed ^ 0x9E3779B97F4A7C15ULL, err);
    if (st != FR_OK) return st;
    /* candidates the client never touched keep their global rows */
    for (int32_t i = 0; i <= c->eval_negatives; i++) {
        int64_t r = (int64_t)w->cand[i] + 1;
        int touched = 0;
        int32_t lo = 0, hi = w->n_rows - 1;  /* binary search in the touched rows */
        while (lo <= hi) {
            int32_t mid = (lo + hi) / 2;
            if (w->rows[mid] == r) { touched = 1; break; }
            if (w->rows[mid] < r) lo = mid + 1; else hi = mid - 1;
        }
        if (!touched)
            memcpy(w->local + cl->item_off + r * C, global + cl->item_off + r * C,
                   (size_t)C * sizeof(float));
    }
    st = fr_sasrec_score(w->work, cl->m, w->local, v.item, l.n_train, w->cand,
                         c->eval_negatives + 1, w->cscore, err);
    if (st == FR_OK) *score = 1.0 / (double)(1 + fr_rank_of(w->cscore[0], w->cscore + 1, c->eval_negatives));
    return st;
}

fr_status fr_sasrec_client_update(void *ctx, int slot, const float *params, int32_t user,
                                  uint32_t round, int want_score, fr_update *up,
                                  fr_error *err) {
    fr_sasrec_clients *cl = ctx;
    slot_ws *w = &cl->ws[slot];
    const fr_config *c = cl->c;
    const int C = cl->m->cfg.dim;
    const int64_t L = c->maxlen;
    fr_user_view v = fr_dataset_user(cl->ds, user);
    int64_t t = build_sequence(w, cl, v, round);
    int n_ranges;
    int32_t nr = collect_ranges(w, cl, &n_ranges);
    fr_status st = fr_update_reserve(up, &cl->m->layout, nr, err);
    if (st != FR_OK) return st;
    copy_ranges(w->local, params, w, n_ranges);
    /* a fresh optimizer: zero moments on the ranges it will touch */
    w->opt.t = 0;
    if (w->opt.m)
        for (int k = 0; k < n_ranges; k++)
            memset(w->opt.m + w->rb[k], 0, (size_t)(w->re[k] - w->rb[k]) * sizeof(float));
    if (w->opt.v)
        for (int k = 0; k < n_ranges; k++)
            memset(w->opt.v + w->rb[k], 0, (size_t)(w->re[k] - w->rb[k]) * sizeof(float));
    double loss = 0.0;
    for (int32_t e = 0; e < c->client_epochs && t > 0; e++) {
        for (int k = 0; k < n_ranges; k++)
            memset(w->grad + w->rb[k], 0, (size_t)(w->re[k] - w->rb[k]) * sizeof(float));
        fr_rng drop;
        fr_rng_init(&drop, c->seed + (uint64_t)e * 0x9E3779B97F4A7C15ULL, round, (uint32_t)user,
                    FR_PURPOSE_DROPOUT);
        fr_sasrec_work_clear(w->work);
        st = fr_sasrec_work_add(w->work, w->in, w->tg, w->ng + e * L, t, &drop, err);
        if (st != FR_OK) return st;
        loss += fr_sasrec_forward(w->work, cl->m, w->local, 1);
        fr_sasrec_backward(w->work, cl->m, w->local, w->grad, NULL, (float)(1.0 / (double)t));
        if (c->prox_mu > 0.0) /* FedProx: d/dw mu/2 |w - w_global|^2 */
            for (int k = 0; k < n_ranges; k++)
                for (int64_t i = w->rb[k]; i < w->re[k]; i++)
                    w->grad[i] += (float)(c->prox_mu * ((double)w->local[i] - params[i]));
        fr_optim_step_ranges(&w->opt, w->local, w->grad, w->rb, w->re, n_ranges);
    }
    /* delta = local - global: dense tensors in layout order, then the touched rows */
    const int64_t dense = cl->P - cl->dense_off;
    for (int64_t i = 0; i < dense; i++) up->dense[i] = w->local[cl->dense_off + i] - params[cl->dense_off + i];
    up->n_rows = nr;
    for (int32_t i = 0; i < nr; i++) {
        const int64_t o = cl->item_off + (int64_t)w->rows[i] * C;
        up->rows[i] = w->rows[i];
        for (int ch = 0; ch < C; ch++) up->sparse[(int64_t)i * C + ch] = w->local[o + ch] - params[o + ch];
    }
    up->weight = (double)t;
    up->loss_sum = c->client_epochs > 0 ? loss / c->client_epochs : 0.0;
    up->n_examples = t;
    up->n_correct = 0;
    up->score = 0.0;
    if (want_score) st = local_score(w, cl, params, v, &up->score, err);
    return st;
}
