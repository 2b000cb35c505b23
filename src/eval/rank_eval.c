/* rank_eval.c - leave-one-out ranking evaluation shared by the implicit-feedback models
 * (contract in rank_eval.h; parts, negatives and metrics from ranking.h).
 *
 * For each evaluated user: (a) the held-out item against n_neg sampled negatives, one
 * score call with candidates [target, negatives...]; (b) the held-out item against the
 * whole catalogue, one score call with items 0..N-1, where the rank counts only items
 * the user never interacted with (all of its sequence, later items included, minus the
 * target itself). Ranks are kept per user and added to the metrics in user order, so
 * the figures do not depend on the thread count or on the schedule.
 *
 * Random streams (Philox, rng.h), all with purpose FR_PURPOSE_EVAL:
 *   test negatives        fr_sample_negatives with seed             -> (seed, 0, user)
 *   validation negatives  fr_sample_negatives with seed ^ VALID_SALT -> (seed^salt, 0, user)
 *   paired negatives      2 x n_neg from (seed, 0, user): validation the first half,
 *                         test the second (the two sets are disjoint)
 *   the max_users sample  (seed, 1, 0): round 1 keeps it apart from user 0's negatives
 *
 * Dimension letters: N items, U evaluated users, S slots (threads).
 *
 * Leaves out: the scoring itself (each model's score function), metrics other than
 * HR/NDCG/MRR, and popularity-sampled negatives.
 */
#include "fedrec/rank_eval.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/rng.h"

/* XORed into the seed for the validation negatives (the 64-bit golden ratio). */
#define VALID_SALT 0x9E3779B97F4A7C15ULL

/* One thread's buffers. */
typedef struct slot_ws {
    int32_t *cands;      /* [1 + n_neg] target then sampled negatives; NULL if n_neg = 0 */
    int32_t *all;        /* [N] 0..N-1, the full-ranking candidates; NULL unless full */
    float *scores;       /* [max(1 + n_neg, N)] */
    unsigned char *seen; /* [N] 1 for the user's items while it is ranked; NULL unless full */
    fr_error err;
} slot_ws;

typedef struct eval_ws {
    slot_ws *slot;       /* [S] */
    int n_slots;
} eval_ws;

static void ws_free(eval_ws *w) {
    for (int s = 0; w->slot && s < w->n_slots; s++) {
        fr_free(w->slot[s].cands);
        fr_free(w->slot[s].all);
        fr_free(w->slot[s].scores);
        fr_free(w->slot[s].seen);
    }
    fr_free(w->slot);
    w->slot = NULL;
}

static fr_status ws_init(eval_ws *w, int n_slots, int32_t n_neg, int full, int32_t n_items,
                         fr_error *err) {
    w->n_slots = n_slots;
    w->slot = fr_calloc((size_t)n_slots, sizeof(slot_ws));
    if (!w->slot) return fr_nomem(err, "evaluation slots", (size_t)n_slots * sizeof(slot_ws));
    size_t n_scores = (size_t)n_neg + 1;
    if (full && (size_t)n_items > n_scores) n_scores = (size_t)n_items;
    for (int s = 0; s < n_slots; s++) {
        slot_ws *z = &w->slot[s];
        z->scores = fr_alloc(n_scores, sizeof(float));
        if (!z->scores) goto nomem;
        if (n_neg > 0 && !(z->cands = fr_alloc(2 * (size_t)n_neg + 1, sizeof(int32_t)))) goto nomem;
        if (full) {
            z->all = fr_alloc((size_t)n_items, sizeof(int32_t));
            z->seen = fr_calloc((size_t)n_items, 1);
            if (!z->all || !z->seen) goto nomem;
            for (int32_t j = 0; j < n_items; j++) z->all[j] = j;
        }
    }
    return FR_OK;
nomem:
    ws_free(w);
    return fr_nomem(err, "evaluation buffers of one slot",
                    n_scores * 4 + ((size_t)n_neg + 1) * 4 + (full ? (size_t)n_items * 5 : 0));
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The users to evaluate, ascending: every user with a validation item, or a seeded
 * sample of max_users of them (partial Fisher-Yates, then sorted). *out is owned by
 * the caller (fr_free). */
static fr_status pick_users(int32_t **out, int32_t *n_out, const fr_dataset *ds,
                            int32_t max_users, uint64_t seed, fr_error *err) {
    int32_t *users = fr_alloc((size_t)ds->n_users + 1, sizeof(int32_t));
    if (!users) return fr_nomem(err, "evaluated users", (size_t)ds->n_users * 4);
    int32_t n = 0;
    for (int32_t u = 0; u < ds->n_users; u++)
        if (fr_loo_split(fr_dataset_user(ds, u)).valid >= 0) users[n++] = u;
    if (max_users > 0 && max_users < n) {
        fr_rng rng;
        fr_rng_init(&rng, seed, 1, 0, FR_PURPOSE_EVAL);
        for (int32_t i = 0; i < max_users; i++) {
            int32_t j = i + (int32_t)fr_rng_below(&rng, (uint32_t)(n - i));
            int32_t t = users[i];
            users[i] = users[j];
            users[j] = t;
        }
        n = max_users;
        qsort(users, (size_t)n, sizeof(int32_t), cmp_i32);
    }
    *out = users;
    *n_out = n;
    return FR_OK;
}

/* Ranks one user's held-out item: *rank_s against the sampled negatives (when
 * n_neg > 0), *rank_f against the catalogue minus the user's other items (when full). */
static fr_status eval_user(int64_t *rank_s, int64_t *rank_f, slot_ws *z, int slot,
                           fr_user_view v, const fr_dataset *ds, const fr_rank_eval_opts *o,
                           fr_score_fn score, void *ctx) {
    const int valid = o->split == FR_EVAL_VALID;
    const int64_t len = valid ? v.n - 2 : v.n - 1;  /* history s[0..len-1] */
    const int32_t target = v.item[len];
    fr_status st;
    if (o->n_neg > 0) {
        z->cands[0] = target;
        if (o->paired) { /* 2 n_neg at once: the first half validates, the second tests */
            st = fr_sample_negatives(z->cands + 1, 2 * o->n_neg, v, ds->n_items, o->seed, &z->err);
            if (st == FR_OK && !valid)
                memmove(z->cands + 1, z->cands + 1 + o->n_neg, (size_t)o->n_neg * sizeof(int32_t));
        } else {
            uint64_t seed = valid ? o->seed ^ VALID_SALT : o->seed;
            st = fr_sample_negatives(z->cands + 1, o->n_neg, v, ds->n_items, seed, &z->err);
        }
        if (st != FR_OK) return st;
        st = score(ctx, slot, v.user, v.item, len, z->cands, o->n_neg + 1, z->scores, &z->err);
        if (st != FR_OK) return st;
        *rank_s = fr_rank_of(z->scores[0], z->scores + 1, o->n_neg);
    }
    if (o->full) {
        st = score(ctx, slot, v.user, v.item, len, z->all, ds->n_items, z->scores, &z->err);
        if (st != FR_OK) return st;
        for (int64_t i = 0; i < v.n; i++) z->seen[v.item[i]] = 1; /* target too: j != target */
        const float ts = z->scores[target];
        int64_t r = 0;
        for (int32_t j = 0; j < ds->n_items; j++) r += !z->seen[j] && !(z->scores[j] < ts); /* as fr_rank_of */
        for (int64_t i = 0; i < v.n; i++) z->seen[v.item[i]] = 0;
        *rank_f = r;
    }
    return FR_OK;
}

fr_status fr_rank_eval(fr_rank_eval_result *res, const fr_dataset *ds,
                       const fr_rank_eval_opts *o, fr_score_fn score, void *ctx,
                       fr_error *err) {
    memset(res, 0, sizeof *res);
    if (o->n_slots < 1)
        return fr_fail(err, FR_ERR_USAGE, "rank evaluation: n_slots must be >= 1 (got %d)",
                       o->n_slots);
    if (o->n_neg < 0 || o->max_users < 0)
        return fr_fail(err, FR_ERR_USAGE,
                       "rank evaluation: n_neg (%d) and max_users (%d) must be >= 0", o->n_neg,
                       o->max_users);
    if (!score) return fr_fail(err, FR_ERR_USAGE, "rank evaluation: no score function");
    if (o->n_neg == 0 && !o->full) return FR_OK;

    int32_t *users = NULL, n_users = 0;
    fr_status st = pick_users(&users, &n_users, ds, o->max_users, o->seed, err);
    if (st != FR_OK) return st;
    if (n_users == 0) {
        fr_free(users);
        return FR_OK;
    }
    if (o->n_neg >= ds->n_items) { /* every evaluated user holds at least one item */
        fr_free(users);
        return fr_fail(err, FR_ERR_INPUT,
                       "rank evaluation: %d negatives asked but the catalogue has %d items",
                       o->n_neg, ds->n_items);
    }
    eval_ws w = { NULL, 0 };
    int64_t *rank_s = fr_alloc((size_t)n_users, sizeof(int64_t));  /* [U] -1: none */
    int64_t *rank_f = fr_alloc((size_t)n_users, sizeof(int64_t));  /* [U] -1: none */
    if (!rank_s || !rank_f) {
        st = fr_nomem(err, "per-user ranks", (size_t)n_users * 16);
        goto done;
    }
    st = ws_init(&w, o->n_slots, o->n_neg, o->full, ds->n_items, err);
    if (st != FR_OK) goto done;
    for (int32_t i = 0; i < n_users; i++) rank_s[i] = rank_f[i] = -1;

    /* The error of the lowest-indexed failing user wins: a user is skipped only when a
     * lower-indexed one has already failed, so the outcome does not depend on timing. */
    int32_t fail_at = n_users;
    fr_status fail_st = FR_OK;
    #pragma omp parallel for schedule(dynamic, 16) num_threads(o->n_slots)
    for (int32_t i = 0; i < n_users; i++) {
        int32_t stop;
        #pragma omp atomic read
        stop = fail_at;
        if (i > stop) continue;
        int slot = omp_get_thread_num();
        slot_ws *z = &w.slot[slot];
        fr_status s = eval_user(&rank_s[i], &rank_f[i], z, slot, fr_dataset_user(ds, users[i]),
                                ds, o, score, ctx);
        if (s != FR_OK) {
            #pragma omp critical(fr_rank_eval_fail)
            if (i < fail_at) {
                #pragma omp atomic write
                fail_at = i;
                fail_st = s;
                if (err) *err = z->err;
            }
        }
    }
    if (fail_st != FR_OK) {
        st = fail_st;
        goto done;
    }
    for (int32_t i = 0; i < n_users; i++) { /* user order: independent of threads */
        if (rank_s[i] >= 0) fr_rank_metrics_add(&res->sampled, rank_s[i]);
        if (rank_f[i] >= 0) fr_rank_metrics_add(&res->full, rank_f[i]);
    }
done:
    ws_free(&w);
    fr_free(rank_s);
    fr_free(rank_f);
    fr_free(users);
    return st;
}

cJSON *fr_rank_metrics_to_json(const fr_rank_metrics *m) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    const double n = m->n > 0 ? (double)m->n : 1.0; /* n = 0: the sums are 0 too */
    int ok = 1;
    for (int k = 0; k < FR_RANK_NK; k++) {
        char hr[16], ndcg[16];
        snprintf(hr, sizeof hr, "hr@%d", fr_rank_cutoffs[k]);
        snprintf(ndcg, sizeof ndcg, "ndcg@%d", fr_rank_cutoffs[k]);
        ok = ok && cJSON_AddNumberToObject(j, hr, m->hr[k] / n);
        ok = ok && cJSON_AddNumberToObject(j, ndcg, m->ndcg[k] / n);
    }
    ok = ok && cJSON_AddNumberToObject(j, "mrr", m->mrr / n);
    ok = ok && cJSON_AddNumberToObject(j, "users", (double)m->n);
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

double fr_rank_eval_hr10(const fr_rank_eval_result *res) {
    const fr_rank_metrics *m = res->sampled.n ? &res->sampled : &res->full;
    return m->n ? m->hr[2] / (double)m->n : 0.0;
}

cJSON *fr_rank_eval_json(const fr_rank_eval_result *res) {
    cJSON *o = cJSON_CreateObject();
    if (res->sampled.n) cJSON_AddItemToObject(o, "sampled", fr_rank_metrics_to_json(&res->sampled));
    if (res->full.n) cJSON_AddItemToObject(o, "full", fr_rank_metrics_to_json(&res->full));
    return o;
}
