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
    fr_mmrec_work *mwork;  /* mmrec clients */
    float *key_text;       /* [max_keys x Dt] memory keys handed to the model */
    int32_t *key_item;     /* [max_keys] */
    int64_t *tb, *te;      /* [N+1+FR_MAX_TENSORS] trained ranges (frozen tensors left out) */
    float *local, *grad;   /* [P] only the client's ranges are meaningful */
    fr_optim opt;          /* client optimizer, moments [P] */
    uint8_t *mark;         /* [N+1] table rows touched */
    uint8_t *seen;         /* [N] the user's items */
    int32_t *rows;         /* [N+1] touched rows, ascending */
    int32_t n_rows;
    int64_t *rb, *re;      /* [N+2] index ranges: dense block + one per row */
    int32_t *in, *tg, *ng; /* [T], [T], [epochs x T x neg]: every window's positions, T <= max_pos */
    int32_t *win_len;      /* [max_win] positions of each window (offsets are cumulative) */
    int64_t *win_off;      /* [max_win] */
    int32_t *order;        /* [max_win] the epoch's window order */
    int32_t *cand;         /* [1 + negatives] */
    float *cscore;         /* [1 + negatives] */
} slot_ws;

struct fr_sasrec_clients {
    const fr_sasrec *m;
    const fr_mmrec *mm;              /* NULL: plain SASRec */
    fr_mm_memories *mem;             /* mmrec: the clients' memories */
    int32_t neg;                     /* sampled negatives per position */
    int32_t max_keys;
    int item_trained;                /* the item table is GLOBAL (not frozen) */
    int n_dense;                     /* trained dense ranges */
    int64_t dense_b[FR_MAX_TENSORS], dense_e[FR_MAX_TENSORS];
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
    fr_mmrec_work_destroy(w->mwork);
    fr_free(w->key_text);
    fr_free(w->key_item);
    fr_free(w->tb);
    fr_free(w->te);
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

static fr_status clients_create(fr_sasrec_clients **out, const fr_sasrec *m,
                                const fr_mmrec *mm, fr_mm_memories *mem,
                                const fr_dataset *ds, const fr_config *c, int slots,
                                fr_error *err) {
    *out = NULL;
    fr_sasrec_clients *cl = fr_calloc(1, sizeof *cl);
    if (!cl) return fr_nomem(err, "SASRec clients", sizeof *cl);
    cl->m = m;
    cl->mm = mm;
    cl->mem = mem;
    cl->neg = mm ? c->negatives : 1;
    cl->max_keys = mem ? fr_mm_memories_max_keys(mem) : 0;
    cl->ds = ds;
    cl->c = c;
    cl->slots = slots;
    cl->P = m->layout.size;
    cl->item_off = m->layout.t[0].offset;
    cl->dense_off = m->layout.t[1].offset;  /* item_embedding first, then dense tensors */
    cl->item_trained = m->layout.t[0].scope == FR_SCOPE_GLOBAL;
    for (int i = 1; i < m->layout.n; i++) { /* trained dense tensors, adjacent ones merged */
        const fr_tensor_info *t = &m->layout.t[i];
        if (t->scope != FR_SCOPE_GLOBAL) continue;
        const int64_t b = t->offset, e = t->offset + t->rows * t->cols;
        if (cl->n_dense > 0 && cl->dense_e[cl->n_dense - 1] == b) {
            cl->dense_e[cl->n_dense - 1] = e;
        } else {
            cl->dense_b[cl->n_dense] = b;
            cl->dense_e[cl->n_dense++] = e;
        }
    }
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
        if (mm)
            st = fr_mmrec_work_create(&w->mwork, mm, B, (int64_t)B * L, cl->max_keys, cl->neg, err);
        else
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
        w->ng = fr_alloc((size_t)(E * T * cl->neg), sizeof(int32_t));
        w->tb = fr_alloc((size_t)N + 1 + FR_MAX_TENSORS, sizeof(int64_t));
        w->te = fr_alloc((size_t)N + 1 + FR_MAX_TENSORS, sizeof(int64_t));
        if (cl->max_keys > 0) {
            w->key_text = fr_alloc((size_t)cl->max_keys * (size_t)mm->cfg.dim_text, sizeof(float));
            w->key_item = fr_alloc((size_t)cl->max_keys, sizeof(int32_t));
            if (!w->key_text || !w->key_item) st = fr_nomem(err, "memory keys", 0);
        }
        w->win_len = fr_alloc((size_t)cl->max_win, sizeof(int32_t));
        w->win_off = fr_alloc((size_t)cl->max_win, sizeof(int64_t));
        w->order = fr_alloc((size_t)cl->max_win, sizeof(int32_t));
        w->cand = fr_alloc((size_t)c->eval_negatives + 1, sizeof(int32_t));
        w->cscore = fr_alloc((size_t)c->eval_negatives + 1, sizeof(float));
        if (!w->local || !w->grad || !w->mark || !w->seen || !w->rows || !w->rb || !w->re ||
            !w->in || !w->tg || !w->ng || !w->cand || !w->cscore || !w->win_len ||
            !w->win_off || !w->order || !w->tb || !w->te)
            st = fr_nomem(err, "SASRec client workspace", (size_t)cl->P * 16);
    }
    if (st != FR_OK) {
        fr_sasrec_clients_destroy(cl);
        return st;
    }
    *out = cl;
    return FR_OK;
}

fr_status fr_sasrec_clients_create(fr_sasrec_clients **out, const fr_sasrec *m,
                                   const fr_dataset *ds, const fr_config *c, int slots,
                                   fr_error *err) {
    return clients_create(out, m, NULL, NULL, ds, c, slots, err);
}

fr_status fr_mmrec_clients_create(fr_sasrec_clients **out, const fr_mmrec *m,
                                  fr_mm_memories *mem, const fr_dataset *ds,
                                  const fr_config *c, int slots, fr_error *err) {
    return clients_create(out, &m->sas, m, mem, ds, c, slots, err);
}

/* The client's windows and every epoch's negatives (epoch-major, then the windows'
 * positions in order); marks the rows they touch and returns the number of windows
 * (*positions: their positions T). */
static int32_t build_windows(slot_ws *w, const fr_sasrec_clients *cl, fr_user_view v,
                             uint32_t round, int64_t *positions) {
    const fr_config *c = cl->c;
    const int64_t n = fr_loo_split(v).n_train, L = c->maxlen;
    int64_t t = 0;
    int32_t nw = 0;
    for (int64_t end = n - 1; end >= 1; end -= c->window_stride) {
        const int64_t len = end < L ? end : L;  /* targets end-len+1 .. end */
        w->win_off[nw] = t;
        w->win_len[nw++] = (int32_t)len;
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
    const int64_t k = cl->neg;
    for (int64_t e = 0; e < c->client_epochs; e++)
        for (int64_t j = 0; j < t * k; j++) {
            int32_t x;
            do x = (int32_t)fr_rng_below(&rng, (uint32_t)cl->ds->n_items);
            while (w->seen[x]);
            w->ng[e * t * k + j] = x;
            w->mark[x + 1] = 1;
        }
    for (int64_t j = 0; j < v.n; j++) w->seen[v.item[j]] = 0;
    *positions = t;
    return nw;
}

/* rows = marked rows ascending (marks cleared); read ranges rb/re = the dense block +
 * each row (what the client copies and computes gradients for); trained ranges tb/te =
 * the trained dense tensors + each row when the item table is trained (what its
 * optimizer moves). */
static int32_t collect_ranges(slot_ws *w, const fr_sasrec_clients *cl, int *n_ranges,
                              int *n_train) {
    const int C = cl->m->cfg.dim;
    int32_t nr = 0;
    for (int32_t r = 1; r <= cl->ds->n_items; r++)
        if (w->mark[r]) {
            w->mark[r] = 0;
            w->rows[nr++] = r;
        }
    w->n_rows = nr;
    int k = 0, j = 0;
    w->rb[k] = cl->dense_off;
    w->re[k++] = cl->P;
    for (int d = 0; d < cl->n_dense; d++, j++) {
        w->tb[j] = cl->dense_b[d];
        w->te[j] = cl->dense_e[d];
    }
    for (int32_t i = 0; i < nr; i++, k++) {
        w->rb[k] = cl->item_off + (int64_t)w->rows[i] * C;
        w->re[k] = w->rb[k] + C;
        if (cl->item_trained) {
            w->tb[j] = w->rb[k];
            w->te[j++] = w->re[k];
        }
    }
    *n_ranges = k;
    *n_train = j;
    return nr;
}

static void copy_ranges(float *dst, const float *src, const slot_ws *w, int n) {
    for (int k = 0; k < n; k++)
        memcpy(dst + w->rb[k], src + w->rb[k], (size_t)(w->re[k] - w->rb[k]) * sizeof(float));
}

/* The user's memory keys (entries, then global prototypes) into the slot; how many. */
static int32_t memory_keys(slot_ws *w, const fr_sasrec_clients *cl, int32_t user) {
    if (!cl->mem || cl->max_keys == 0) return 0;
    return fr_mm_memories_keys(cl->mem, user, w->key_text, w->key_item, cl->max_keys);
}

/* Scores cands[n] after hist[len] with the slot's local parameters (and memory). */
static fr_status score_local(slot_ws *w, const fr_sasrec_clients *cl, int32_t user,
                             const int32_t *hist, int64_t len, const int32_t *cands,
                             int32_t n, float *scores, fr_error *err) {
    if (!cl->mm) return fr_sasrec_score(w->work, cl->m, w->local, hist, len, cands, n, scores, err);
    const int32_t nk = memory_keys(w, cl, user);
    return fr_mmrec_score(w->mwork, cl->mm, w->local, NULL, hist, len, w->key_text, w->key_item,
                          nk, cands, n, scores, err);
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
    st = score_local(w, cl, v.user, v.item, l.n_train, w->cand, c->eval_negatives + 1, w->cscore, err);
    if (st == FR_OK) *score = 1.0 / (double)(1 + fr_rank_of(w->cscore[0], w->cscore + 1, c->eval_negatives));
    return st;
}

/* Adds one window to the slot's batch. */
static fr_status add_window(slot_ws *w, const fr_sasrec_clients *cl, int32_t win, int64_t e,
                            int64_t t, int32_t nw, int32_t nk, uint32_t round, int32_t user,
                            fr_error *err) {
    const fr_config *c = cl->c;
    const int64_t o = w->win_off[win];
    /* one dropout stream per (epoch, window), whatever the batching */
    fr_rng drop;
    fr_rng_init(&drop, c->seed + ((uint64_t)e * (uint64_t)nw + (uint64_t)win) * 0x9E3779B97F4A7C15ULL,
                round, (uint32_t)user, FR_PURPOSE_DROPOUT);
    if (!cl->mm)
        return fr_sasrec_work_add(w->work, w->in + o, w->tg + o, w->ng + e * t + o,
                                  w->win_len[win], &drop, err);
    return fr_mmrec_work_add(w->mwork, w->in + o, w->tg + o, w->ng + (e * t + o) * cl->neg,
                             cl->neg, w->win_len[win], w->key_text, w->key_item, nk, &drop, err);
}

/* FedMem's surprise gate after a local step: every scored position offers its target
 * with its loss to the memory, at time = the round. Returns memory updates. */
static fr_status observe_memory(slot_ws *w, const fr_sasrec_clients *cl, int32_t user,
                                uint32_t round, int64_t *updates, fr_error *err) {
    fr_mm_memories *s = cl->mem;
    if (!s || !s->enabled) return FR_OK;
    const int64_t n = fr_mmrec_work_positions(w->mwork);
    const float *loss = fr_mmrec_position_loss(w->mwork);
    const int32_t *tgt = fr_mmrec_position_target(w->mwork);
    const fr_mmrec *mm = cl->mm;
    const int C = cl->m->cfg.dim;
    fr_status st = FR_OK;
    for (int64_t i = 0; i < n && st == FR_OK; i++) {
        const int32_t it = tgt[i];
        const float *img = mm->cfg.dim_image > 0 ? mm->image + (int64_t)it * mm->cfg.dim_image : NULL;
        fr_mem_outcome oc;
        st = fr_mem_observe(&s->mem[user], it, mm->text + (int64_t)it * mm->cfg.dim_text, img,
                            w->local + cl->item_off + ((int64_t)it + 1) * C, loss[i],
                            (double)round, &oc, err);
        if (st == FR_OK && oc.event != FR_MEM_REJECTED)
            (*updates)++;
    }
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
    const int64_t n_train = fr_loo_split(v).n_train;
    fr_status st = FR_OK;
    if (cl->mem) st = fr_mm_memories_touch(cl->mem, user, n_train, (double)round, err);
    if (st != FR_OK) return st;
    int64_t t;
    const int32_t nw = build_windows(w, cl, v, round, &t);
    int n_ranges, n_train_ranges;
    int32_t nr = collect_ranges(w, cl, &n_ranges, &n_train_ranges);
    const int32_t nr_sent = cl->item_trained ? nr : 0;
    st = fr_update_reserve(up, &cl->m->layout, nr_sent, err);
    if (st != FR_OK) return st;
    copy_ranges(w->local, params, w, n_ranges);
    /* a fresh optimizer: zero moments on the ranges it will touch */
    w->opt.t = 0;
    if (w->opt.m)
        for (int k = 0; k < n_train_ranges; k++)
            memset(w->opt.m + w->tb[k], 0, (size_t)(w->te[k] - w->tb[k]) * sizeof(float));
    if (w->opt.v)
        for (int k = 0; k < n_train_ranges; k++)
            memset(w->opt.v + w->tb[k], 0, (size_t)(w->te[k] - w->tb[k]) * sizeof(float));
    fr_rng order_rng;
    fr_rng_init(&order_rng, c->seed, round, (uint32_t)user, FR_PURPOSE_SHUFFLE);
    for (int32_t k = 0; k < nw; k++) w->order[k] = k;
    double loss = 0.0;
    int64_t mem_updates = 0;
    for (int32_t e = 0; e < c->client_epochs && t > 0; e++) {
        if (nw > 1) fr_rng_shuffle_i32(&order_rng, w->order, nw);
        for (int32_t b0 = 0; b0 < nw; b0 += c->batch_size) {
            const int32_t b1 = b0 + c->batch_size < nw ? b0 + c->batch_size : nw;
            for (int k = 0; k < n_ranges; k++)
                memset(w->grad + w->rb[k], 0, (size_t)(w->re[k] - w->rb[k]) * sizeof(float));
            const int32_t nk = memory_keys(w, cl, user);
            if (cl->mm) fr_mmrec_work_clear(w->mwork); else fr_sasrec_work_clear(w->work);
            int64_t pos = 0;
            for (int32_t b = b0; b < b1 && st == FR_OK; b++) {
                st = add_window(w, cl, w->order[b], e, t, nw, nk, round, user, err);
                pos += w->win_len[w->order[b]];
            }
            if (st != FR_OK) return st;
            const float scale = (float)(1.0 / (double)pos);
            if (cl->mm) {
                loss += fr_mmrec_forward(w->mwork, cl->mm, w->local, 1);
                fr_mmrec_backward(w->mwork, cl->mm, w->local, w->grad, NULL, scale);
            } else {
                loss += fr_sasrec_forward(w->work, cl->m, w->local, 1);
                fr_sasrec_backward(w->work, cl->m, w->local, w->grad, NULL, scale);
            }
            if (c->prox_mu > 0.0) /* FedProx: d/dw mu/2 |w - w_global|^2 */
                for (int k = 0; k < n_train_ranges; k++)
                    for (int64_t i = w->tb[k]; i < w->te[k]; i++)
                        w->grad[i] += (float)(c->prox_mu * ((double)w->local[i] - params[i]));
            fr_optim_step_ranges(&w->opt, w->local, w->grad, w->tb, w->te, n_train_ranges);
            if (cl->mm) st = observe_memory(w, cl, user, round, &mem_updates, err);
            if (st != FR_OK) return st;
        }
    }
    /* delta = local - global: GLOBAL dense tensors in layout order, then the touched rows */
    int64_t d = 0;
    for (int k = 0; k < cl->n_dense; k++)
        for (int64_t i = cl->dense_b[k]; i < cl->dense_e[k]; i++, d++) up->dense[d] = w->local[i] - params[i];
    up->n_rows = nr_sent;
    for (int32_t i = 0; i < nr_sent; i++) {
        const int64_t o = cl->item_off + (int64_t)w->rows[i] * C;
        up->rows[i] = w->rows[i];
        for (int ch = 0; ch < C; ch++) up->sparse[(int64_t)i * C + ch] = w->local[o + ch] - params[o + ch];
    }
    up->weight = (double)t;
    up->loss_sum = c->client_epochs > 0 ? loss / c->client_epochs : 0.0;
    up->n_examples = t;
    up->n_correct = 0;
    up->score = 0.0;
    up->side_bytes = 0;
    if (cl->mem && cl->mem->enabled) {
        cl->mem->updates[user] = mem_updates;
        st = fr_mm_memories_upload(cl->mem, user, round, &up->side_bytes, err);
    }
    if (st == FR_OK && want_score) st = local_score(w, cl, params, v, &up->score, err);
    return st;
}
