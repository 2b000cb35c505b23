/* sasrec_client.c - federated SASRec's client update (see sasrec_client.h).
 *
 * Work is proportional to what the client touches: it copies, trains and sends the
 * dense tensors and the item-table rows of its own items and negatives, never the
 * whole table. Its optimizer runs over those index ranges only, which is exact: an
 * untouched row has zero gradient, and a fresh optimizer leaves it where it was.
 * Local data: by default the client's newest maxlen positions form its one training
 * sequence (the paper's SASRec), one step per epoch. With train.window_stride s > 0 the
 * whole training history is used: windows of up to maxlen targets ending at the newest
 * position, s positions earlier, 2s earlier, ... Each window is one sample; an epoch
 * visits them in a seeded order, train.batch_size windows per local step.
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
    int32_t *in, *tg, *ng; /* [T], [T], [epochs x T]: every window's positions, T <= max_pos */
    int32_t *win_len;      /* [max_win] positions of each window (offsets are cumulative) */
    int64_t *win_off;      /* [max_win] */
    int32_t *order;        /* [max_win] the epoch's window order */
    int32_t *cand;         /* [1 + negatives] */
    float *cscore;         /* [1 + negatives] */
} slot_ws;

struct fr_sasrec_clients {
    const fr_sasrec *m;
    const fr_dataset *ds;
    const fr_config *c;
    int slots;
    int64_t P, item_off, dense_off;  /* dense tensors occupy [dense_off, P) */
    int64_t max_pos;                 /* most positions a client's windows hold */
    int32_t max_win;                 /* most windows a client has */
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
    fr_free(w->win_len);
    fr_free(w->win_off);
    fr_free(w->order);
    fr_free(w->cscore);
}

void fr_sasrec_clients_destroy(fr_sasrec_clients *cl) {
    if (!cl) return;
    if (cl->ws)
        for (int s = 0; s < cl->slots; s++) slot_free(&cl->ws[s]);
    fr_free(cl->ws);
    fr_free(cl);
}

/* The windows of a user with n_train training items: targets are positions 1..n-1;
 * window k ends at n-1-k*stride (stride 0: only k = 0) and holds up to L positions.
 * Returns the number of windows; *positions gets their total. */
static int32_t count_windows(int64_t n_train, int64_t L, int64_t stride, int64_t *positions) {
    int32_t k = 0;
    *positions = 0;
    for (int64_t end = n_train - 1; end >= 1; end -= stride) {
        *positions += end < L ? end : L;
        k++;
        if (stride <= 0) break;
    }
    return k;
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
    cl->max_pos = 1;
    cl->max_win = 1;
    for (int32_t u = 0; u < ds->n_users; u++) {
        int64_t pos;
        int32_t k = count_windows(fr_loo_split(fr_dataset_user(ds, u)).n_train, L, c->window_stride, &pos);
        if (k > cl->max_win) cl->max_win = k;
        if (pos > cl->max_pos) cl->max_pos = pos;
    }
    const int64_t T = cl->max_pos;
    const int32_t B = c->batch_size < cl->max_win ? c->batch_size : cl->max_win;
    fr_optim_kind kind = strcmp(c->client_optimizer, "adam") == 0 ? FR_OPTIM_ADAM : FR_OPTIM_SGD;
    for (int s = 0; s < slots && st == FR_OK; s++) {
        slot_ws *w = &cl->ws[s];
        st = fr_sasrec_work_create(&w->work, m, B, (int64_t)B * L, err);
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
        w->in = fr_alloc((size_t)T, sizeof(int32_t));
        w->tg = fr_alloc((size_t)T, sizeof(int32_t));
        w->ng = fr_alloc((size_t)(E * T), sizeof(int32_t));
        w->win_len = fr_alloc((size_t)cl->max_win, sizeof(int32_t));
        w->win_off = fr_alloc((size_t)cl->max_win, sizeof(int64_t));
        w->order = fr_alloc((size_t)cl->max_win, sizeof(int32_t));
        w->cand = fr_alloc((size_t)c->eval_negatives + 1, sizeof(int32_t));
        w->cscore = fr_alloc((size_t)c->eval_negatives + 1, sizeof(float));
        if (!w->local || !w->grad || !w->mark || !w->seen || !w->rows || !w->rb || !w->re ||
            !w->in || !w->tg || !w->ng || !w->cand || !w->cscore || !w->win_len ||
            !w->win_off || !w->order)
            st = fr_nomem(err, "SASRec client workspace", (size_t)cl->P * 16);
    }
    if (st != FR_OK) {
        fr_sasrec_clients_destroy(cl);
        return st;
    }
    *out = cl;
    return FR_OK;
}

/* The client's windows and every epoch's negatives (epoch-major, then the windows'
 * positions in order); marks the rows they touch and returns the number of windows
 * (*positions: their positions T). */
static int32_t build_windows(slot_ws *w, const fr_sasrec_clients *cl, fr_user_view v,
                             uint32_t round, int64_t *positions) {
    const fr_config *c = cl->c;
    const int64_t n = fr_loo_split(v).n_train, L = c->maxlen;
    int64_t t = 0;
    int32_t k = 0;
    for (int64_t end = n - 1; end >= 1; end -= c->window_stride) {
        const int64_t len = end < L ? end : L;  /* targets end-len+1 .. end */
        w->win_off[k] = t;
        w->win_len[k++] = (int32_t)len;
        for (int64_t j = 0; j < len; j++, t++) {
            w->in[t] = v.item[end - len + j];
            w->tg[t] = v.item[end - len + 1 + j];
            w->mark[w->in[t] + 1] = w->mark[w->tg[t] + 1] = 1;
        }
        if (c->window_stride <= 0) break;
    }
    for (int64_t j = 0; j < v.n; j++) w->seen[v.item[j]] = 1;
    fr_rng rng;
    fr_rng_init(&rng, c->seed, round, (uint32_t)v.user, FR_PURPOSE_NEGATIVES);
    for (int64_t e = 0; e < c->client_epochs; e++)
        for (int64_t j = 0; j < t; j++) {
            int32_t x;
            do x = (int32_t)fr_rng_below(&rng, (uint32_t)cl->ds->n_items);
            while (w->seen[x]);
            w->ng[e * t + j] = x;
            w->mark[x + 1] = 1;
        }
    for (int64_t j = 0; j < v.n; j++) w->seen[v.item[j]] = 0;
    *positions = t;
    return k;
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
    fr_user_view v = fr_dataset_user(cl->ds, user);
    int64_t t;
    const int32_t nw = build_windows(w, cl, v, round, &t);
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
    fr_rng order_rng;
    fr_rng_init(&order_rng, c->seed, round, (uint32_t)user, FR_PURPOSE_SHUFFLE);
    for (int32_t k = 0; k < nw; k++) w->order[k] = k;
    double loss = 0.0;
    for (int32_t e = 0; e < c->client_epochs && t > 0; e++) {
        if (nw > 1) fr_rng_shuffle_i32(&order_rng, w->order, nw);
        for (int32_t b0 = 0; b0 < nw; b0 += c->batch_size) {
            const int32_t b1 = b0 + c->batch_size < nw ? b0 + c->batch_size : nw;
            for (int k = 0; k < n_ranges; k++)
                memset(w->grad + w->rb[k], 0, (size_t)(w->re[k] - w->rb[k]) * sizeof(float));
            fr_sasrec_work_clear(w->work);
            int64_t pos = 0;
            for (int32_t b = b0; b < b1 && st == FR_OK; b++) {
                const int32_t win = w->order[b];
                const int64_t o = w->win_off[win];
                /* one dropout stream per (epoch, window), whatever the batching */
                fr_rng drop;
                fr_rng_init(&drop, c->seed + ((uint64_t)e * (uint64_t)nw + (uint64_t)win) * 0x9E3779B97F4A7C15ULL,
                            round, (uint32_t)user, FR_PURPOSE_DROPOUT);
                st = fr_sasrec_work_add(w->work, w->in + o, w->tg + o, w->ng + e * t + o,
                                        w->win_len[win], &drop, err);
                pos += w->win_len[win];
            }
            if (st != FR_OK) return st;
            loss += fr_sasrec_forward(w->work, cl->m, w->local, 1);
            fr_sasrec_backward(w->work, cl->m, w->local, w->grad, NULL, (float)(1.0 / (double)pos));
            if (c->prox_mu > 0.0) /* FedProx: d/dw mu/2 |w - w_global|^2 */
                for (int k = 0; k < n_ranges; k++)
                    for (int64_t i = w->rb[k]; i < w->re[k]; i++)
                        w->grad[i] += (float)(c->prox_mu * ((double)w->local[i] - params[i]));
            fr_optim_step_ranges(&w->opt, w->local, w->grad, w->rb, w->re, n_ranges);
        }
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
