/* test_rank_eval.c - the shared ranking evaluation with scorers whose ranks are known:
 * an oracle (rank 0), an adversary (last), scores by item id against hand-computed
 * full ranks (the user's other items are left out, unseen ones are not), the histories
 * and negatives of validation and test, thread-count independence, the user sample,
 * error propagation, short users, and the JSON summary. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fedrec/alloc.h"
#include "fedrec/rank_eval.h"
#include "fedrec/rng.h"

#define REC_CANDS 64

/* What the score calls for one user saw. Each user is evaluated by one thread, so a
 * record is written by one thread only; the checks run after fr_rank_eval returns. */
typedef struct call_rec {
    int calls;
    int64_t order;                   /* place of the first call among users; n_slots = 1 only */
    int slot_ok;                     /* every call had 0 <= slot < n_slots */
    int hist_ok;                     /* hist was the prefix of the user's sequence */
    int64_t len;                     /* history length */
    int32_t last_hist;               /* hist[len-1], -1 when len = 0 */
    int32_t n_sampled, n_full;       /* n_cands of the sampled / full call, 0 if none */
    int32_t sampled[REC_CANDS];      /* first candidates of the sampled call */
    int32_t full[REC_CANDS];         /* first candidates of the full call */
} call_rec;

typedef enum score_mode { ORACLE, ADVERSARY, BY_ID, HASH } score_mode;

typedef struct test_ctx {
    const fr_dataset *ds;
    fr_eval_split split;
    score_mode mode;
    int32_t n_neg;      /* tells the sampled call (1 + n_neg candidates) from the full one */
    int n_slots;
    call_rec *rec;      /* [n_users] or NULL */
    int64_t n_called;   /* users called so far; counted only when n_slots = 1 */
    int32_t fail[2];    /* users whose calls fail, -1: none */
    int fail_ms[2];     /* how long each of them takes to fail */
} test_ctx;

static int32_t target_of(const test_ctx *c, int32_t user) {
    fr_user_view v = fr_dataset_user(c->ds, user);
    return v.item[c->split == FR_EVAL_VALID ? v.n - 2 : v.n - 1];
}

/* A fixed pseudo-random score of (user, item, history length), on 64 levels so that
 * ties occur. */
static float hash_score(int32_t user, int32_t item, int64_t len) {
    uint32_t h = (uint32_t)user * 2654435761u ^ (uint32_t)item * 40503u ^ (uint32_t)len * 97u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return (float)(h >> 26) / 64.0f;
}

static fr_status test_score(void *ctx, int slot, int32_t user, const int32_t *hist, int64_t len,
                            const int32_t *cands, int32_t n_cands, float *scores,
                            fr_error *err) {
    test_ctx *c = ctx;
    if (c->rec) {
        call_rec *r = &c->rec[user];
        fr_user_view v = fr_dataset_user(c->ds, user);
        if (r->calls++ == 0) {
            r->slot_ok = r->hist_ok = 1;
            if (c->n_slots == 1) r->order = c->n_called++;
        }
        r->slot_ok &= slot >= 0 && slot < c->n_slots;
        r->hist_ok &= len <= v.n && memcmp(hist, v.item, (size_t)len * sizeof(int32_t)) == 0;
        r->len = len;
        r->last_hist = len > 0 ? hist[len - 1] : -1;
        int sampled = n_cands == c->n_neg + 1;
        int32_t *dst = sampled ? r->sampled : r->full;
        if (sampled) r->n_sampled = n_cands;
        else r->n_full = n_cands;
        for (int32_t k = 0; k < n_cands && k < REC_CANDS; k++) dst[k] = cands[k];
    }
    for (int f = 0; f < 2; f++) {
        if (user != c->fail[f]) continue;
        struct timespec ts = { 0, c->fail_ms[f] * 1000000L };
        nanosleep(&ts, NULL);
        return fr_fail(err, FR_ERR_RUNTIME, "scorer failed for user %d", user);
    }
    const int32_t target = target_of(c, user);
    for (int32_t k = 0; k < n_cands; k++) {
        switch (c->mode) {
        case ORACLE: scores[k] = cands[k] == target ? 1.0f : 0.0f; break;
        case ADVERSARY: scores[k] = cands[k] == target ? -1.0f : 0.0f; break;
        case BY_ID: scores[k] = (float)cands[k]; break;
        case HASH: scores[k] = hash_score(user, cands[k], len); break;
        }
    }
    return FR_OK;
}

/* Builds a dataset from rows (user[e], item[e]) in time order, then adds filler users
 * (raw ids n_users, n_users+1, ...) with 2 interactions each so that every item
 * 0..n_items-1 occurs: dense ids then equal raw ids, and the fillers are too short to
 * be evaluated. */
static void make_ds(fr_dataset *ds, int64_t n, const int64_t *user, const int64_t *item,
                    int32_t n_users, int32_t n_items) {
    int64_t total = n + n_items;
    int64_t *u = fr_alloc((size_t)total, sizeof(int64_t));
    int64_t *it = fr_alloc((size_t)total, sizeof(int64_t));
    assert_non_null(u);
    assert_non_null(it);
    for (int64_t e = 0; e < n; e++) u[e] = user[e], it[e] = item[e];
    for (int32_t j = 0; j < n_items; j++) u[n + j] = n_users + j / 2, it[n + j] = j;
    fr_error err;
    assert_int_equal(fr_dataset_from_triples(ds, total, u, it, NULL, NULL, &err), FR_OK);
    assert_int_equal(ds->n_items, n_items);
    fr_free(u);
    fr_free(it);
}

/* n_users users with 1..max_len interactions each over n_items items (repeats allowed). */
static void make_random_ds(fr_dataset *ds, int32_t n_users, int32_t n_items, int max_len,
                           uint64_t seed) {
    int64_t cap = (int64_t)n_users * max_len;
    int64_t *u = fr_alloc((size_t)cap, sizeof(int64_t));
    int64_t *it = fr_alloc((size_t)cap, sizeof(int64_t));
    assert_non_null(u);
    assert_non_null(it);
    fr_rng rng;
    fr_rng_init(&rng, seed, 0, 0, FR_PURPOSE_SYNTH);
    int64_t n = 0;
    for (int32_t a = 0; a < n_users; a++) {
        int len = 1 + (int)fr_rng_below(&rng, (uint32_t)max_len);
        for (int k = 0; k < len; k++, n++) u[n] = a, it[n] = fr_rng_below(&rng, (uint32_t)n_items);
    }
    make_ds(ds, n, u, it, n_users, n_items);
    fr_free(u);
    fr_free(it);
}

static int64_t distinct_items(fr_user_view v) {
    int64_t d = 0;
    for (int64_t i = 0; i < v.n; i++) {
        int seen = 0;
        for (int64_t j = 0; j < i && !seen; j++) seen = v.item[j] == v.item[i];
        d += !seen;
    }
    return d;
}

static void assert_metrics_equal(const fr_rank_metrics *a, const fr_rank_metrics *b) {
    assert_int_equal(a->n, b->n);
    for (int k = 0; k < FR_RANK_NK; k++) {
        assert_true(a->hr[k] == b->hr[k]);
        assert_true(a->ndcg[k] == b->ndcg[k]);
    }
    assert_true(a->mrr == b->mrr);
}

static fr_rank_eval_opts opts(fr_eval_split split, int32_t n_neg, int full, int n_slots) {
    fr_rank_eval_opts o = { split, n_neg, full, 0, 42, n_slots, 0 };
    return o;
}

static test_ctx ctx_for(const fr_dataset *ds, fr_eval_split split, score_mode mode,
                        const fr_rank_eval_opts *o, call_rec *rec) {
    test_ctx c = { ds, split, mode, o->n_neg, o->n_slots, rec, 0, { -1, -1 }, { 0, 0 } };
    if (rec) memset(rec, 0, (size_t)ds->n_users * sizeof *rec);
    return c;
}

static int64_t count_eligible(const fr_dataset *ds) {
    int64_t n = 0;
    for (int32_t u = 0; u < ds->n_users; u++) n += fr_dataset_user(ds, u).n >= 3;
    return n;
}

static void test_oracle_ranks_first(void **state) {
    (void)state;
    fr_dataset ds;
    make_random_ds(&ds, 40, 50, 10, 1);
    const int64_t eligible = count_eligible(&ds);
    assert_true(eligible > 10);
    for (int split = 0; split < 2; split++) {
        fr_rank_eval_opts o = opts(split ? FR_EVAL_TEST : FR_EVAL_VALID, 10, 1, 2);
        test_ctx c = ctx_for(&ds, o.split, ORACLE, &o, NULL);
        fr_rank_eval_result res;
        fr_error err;
        assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
        const fr_rank_metrics *m[2] = { &res.sampled, &res.full };
        for (int k = 0; k < 2; k++) {
            assert_int_equal(m[k]->n, eligible);
            assert_true(m[k]->hr[0] == (double)eligible);    /* HR@1 = 1 */
            assert_true(m[k]->ndcg[0] == (double)eligible);
            assert_true(m[k]->mrr == (double)eligible);      /* MRR = 1 */
        }
    }
    fr_dataset_free(&ds);
}

/* Paired negatives: validation and test draw 2 n negatives from one stream, the first
 * half for validation and the second for test; the halves are disjoint and avoid the
 * user's items. */
static void test_paired_negatives(void **state) {
    (void)state;
    fr_dataset ds;
    make_random_ds(&ds, 30, 60, 8, 3);
    enum { NNEG = 12 };
    call_rec *rec[2] = { calloc((size_t)ds.n_users, sizeof(call_rec)),
                         calloc((size_t)ds.n_users, sizeof(call_rec)) };
    assert_true(rec[0] && rec[1]);
    for (int split = 0; split < 2; split++) {
        fr_rank_eval_opts o = opts(split ? FR_EVAL_TEST : FR_EVAL_VALID, NNEG, 0, 2);
        o.paired = 1;
        test_ctx c = ctx_for(&ds, o.split, HASH, &o, rec[split]);
        fr_rank_eval_result res;
        fr_error err;
        assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
    }
    int checked = 0;
    for (int32_t u = 0; u < ds.n_users; u++) {
        fr_user_view v = fr_dataset_user(&ds, u);
        if (v.n < 3) continue;
        int32_t want[2 * NNEG];
        fr_error err;
        assert_int_equal(fr_sample_negatives(want, 2 * NNEG, v, ds.n_items, 42, &err), FR_OK);
        for (int split = 0; split < 2; split++) {
            const call_rec *r = &rec[split][u];
            assert_int_equal(r->n_sampled, NNEG + 1);
            assert_memory_equal(r->sampled + 1, want + split * NNEG, NNEG * sizeof(int32_t));
        }
        for (int i = 0; i < NNEG; i++)
            for (int j = 0; j < NNEG; j++) assert_int_not_equal(rec[0][u].sampled[1 + i], rec[1][u].sampled[1 + j]);
        checked++;
    }
    assert_true(checked > 10);
    free(rec[0]);
    free(rec[1]);
    fr_dataset_free(&ds);
}

static void test_adversary_ranks_last(void **state) {
    (void)state;
    fr_dataset ds;
    make_random_ds(&ds, 40, 50, 12, 2);
    const int32_t n_neg = 15;
    for (int split = 0; split < 2; split++) {
        fr_rank_eval_opts o = opts(split ? FR_EVAL_TEST : FR_EVAL_VALID, n_neg, 1, 3);
        test_ctx c = ctx_for(&ds, o.split, ADVERSARY, &o, NULL);
        fr_rank_eval_result res;
        fr_error err;
        assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
        fr_rank_metrics want_s, want_f;
        memset(&want_s, 0, sizeof want_s);
        memset(&want_f, 0, sizeof want_f);
        for (int32_t u = 0; u < ds.n_users; u++) {
            fr_user_view v = fr_dataset_user(&ds, u);
            if (v.n < 3) continue;
            fr_rank_metrics_add(&want_s, n_neg);
            fr_rank_metrics_add(&want_f, ds.n_items - distinct_items(v));
        }
        assert_metrics_equal(&res.sampled, &want_s);
        assert_metrics_equal(&res.full, &want_f);
        assert_true(res.full.hr[3] == 0.0); /* every user has > 20 unseen items */
    }
    fr_dataset_free(&ds);
}

static void test_full_rank_excludes_own_items(void **state) {
    (void)state;
    /* items 0..9 scored by id. user 0: 7 9 3 5; user 1: 4 6 4 2 (a repeat). */
    const int64_t user[8] = { 0, 0, 0, 0, 1, 1, 1, 1 };
    const int64_t item[8] = { 7, 9, 3, 5, 4, 6, 4, 2 };
    fr_dataset ds;
    make_ds(&ds, 8, user, item, 2, 10);
    /* test:  user 0 target 5, higher 6 7 8 9, own 7 9        -> rank 2 (6, 8)
     *        user 1 target 2, higher 3..9, own 4 6           -> rank 5 (3, 5, 7, 8, 9)
     * valid: user 0 target 3, higher 4..9, own 7 9 and the later 5 -> rank 3 (4, 6, 8)
     *        user 1 target 4, higher 5..9, own 6 and the later 2  -> rank 4 (5, 7, 8, 9)
     * Without the exclusion the ranks would be 4, 7, 6, 5; excluding unseen items too
     * would give 0. */
    const int64_t want[2][2] = { { 3, 4 }, { 2, 5 } };
    call_rec rec[16];
    assert_true(ds.n_users <= 16);
    for (int split = 0; split < 2; split++) {
        fr_rank_eval_opts o = opts(split ? FR_EVAL_TEST : FR_EVAL_VALID, 4, 1, 2);
        test_ctx c = ctx_for(&ds, o.split, BY_ID, &o, rec);
        fr_rank_eval_result res;
        fr_error err;
        assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
        fr_rank_metrics want_f, want_s;
        memset(&want_f, 0, sizeof want_f);
        memset(&want_s, 0, sizeof want_s);
        fr_rank_metrics_add(&want_f, want[split][0]);
        fr_rank_metrics_add(&want_f, want[split][1]);
        assert_metrics_equal(&res.full, &want_f);
        assert_true(fabs(res.full.mrr - (1.0 / (want[split][0] + 1) + 1.0 / (want[split][1] + 1)))
                    < 1e-12);
        /* sampled: the negatives scored higher than the target, from what the scorer saw */
        for (int32_t u = 0; u < 2; u++) {
            assert_int_equal(rec[u].n_sampled, 5);
            int64_t r = 0;
            for (int k = 1; k < 5; k++) r += rec[u].sampled[k] > rec[u].sampled[0];
            fr_rank_metrics_add(&want_s, r);
        }
        assert_metrics_equal(&res.sampled, &want_s);
    }
    fr_dataset_free(&ds);
}

static void test_valid_and_test_inputs(void **state) {
    (void)state;
    fr_dataset ds;
    make_random_ds(&ds, 30, 50, 10, 3);
    assert_true(ds.n_items <= REC_CANDS);
    const int32_t n_neg = 8;
    call_rec *rec[2];
    for (int split = 0; split < 2; split++) {
        rec[split] = fr_calloc((size_t)ds.n_users, sizeof(call_rec));
        assert_non_null(rec[split]);
        fr_rank_eval_opts o = opts(split ? FR_EVAL_TEST : FR_EVAL_VALID, n_neg, 1, 4);
        test_ctx c = ctx_for(&ds, o.split, HASH, &o, rec[split]);
        fr_rank_eval_result res;
        fr_error err;
        assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
    }
    int64_t checked = 0;
    for (int32_t u = 0; u < ds.n_users; u++) {
        fr_user_view v = fr_dataset_user(&ds, u);
        if (v.n < 3) {
            assert_int_equal(rec[0][u].calls, 0);
            assert_int_equal(rec[1][u].calls, 0);
            continue;
        }
        checked++;
        const call_rec *va = &rec[0][u], *te = &rec[1][u];
        assert_int_equal(va->calls, 2);
        assert_int_equal(te->calls, 2);
        assert_true(va->hist_ok && te->hist_ok && va->slot_ok && te->slot_ok);
        assert_int_equal(va->len, v.n - 2);
        assert_int_equal(te->len, v.n - 1);
        assert_int_equal(va->last_hist, v.item[v.n - 3]);
        assert_int_equal(te->last_hist, v.item[v.n - 2]);
        /* sampled: the target first, then the negatives of the documented streams */
        assert_int_equal(va->n_sampled, n_neg + 1);
        assert_int_equal(va->sampled[0], v.item[v.n - 2]);
        assert_int_equal(te->sampled[0], v.item[v.n - 1]);
        int32_t neg[2][8];
        fr_error err;
        assert_int_equal(fr_sample_negatives(neg[0], n_neg, v, ds.n_items,
                                             42 ^ 0x9E3779B97F4A7C15ULL, &err), FR_OK);
        assert_int_equal(fr_sample_negatives(neg[1], n_neg, v, ds.n_items, 42, &err), FR_OK);
        assert_memory_equal(va->sampled + 1, neg[0], sizeof neg[0]);
        assert_memory_equal(te->sampled + 1, neg[1], sizeof neg[1]);
        assert_memory_not_equal(va->sampled + 1, te->sampled + 1, sizeof neg[0]);
        /* full: the whole catalogue in id order */
        assert_int_equal(va->n_full, ds.n_items);
        for (int32_t j = 0; j < ds.n_items; j++) assert_int_equal(te->full[j], j);
    }
    assert_true(checked > 10);
    fr_free(rec[0]);
    fr_free(rec[1]);
    fr_dataset_free(&ds);
}

static void test_thread_count_independent(void **state) {
    (void)state;
    fr_dataset ds;
    make_random_ds(&ds, 300, 80, 15, 4);
    call_rec *rec = fr_calloc((size_t)ds.n_users, sizeof(call_rec));
    assert_non_null(rec);
    for (int split = 0; split < 2; split++) {
        for (int max_users = 0; max_users <= 100; max_users += 100) {
            fr_rank_eval_result res[3];
            const int slots[3] = { 1, 4, 3 };
            for (int k = 0; k < 3; k++) {
                fr_rank_eval_opts o = opts(split ? FR_EVAL_TEST : FR_EVAL_VALID, 20, 1, slots[k]);
                o.max_users = max_users;
                test_ctx c = ctx_for(&ds, o.split, HASH, &o, rec);
                fr_error err;
                assert_int_equal(fr_rank_eval(&res[k], &ds, &o, test_score, &c, &err), FR_OK);
                for (int32_t u = 0; u < ds.n_users; u++)
                    if (rec[u].calls) assert_true(rec[u].slot_ok);
            }
            assert_true(res[0].sampled.n > 50 && res[0].full.n == res[0].sampled.n);
            assert_true(res[0].full.mrr < (double)res[0].full.n); /* not trivially all top */
            assert_memory_equal(&res[0], &res[1], sizeof res[0]);
            assert_memory_equal(&res[0], &res[2], sizeof res[0]);
        }
    }
    fr_free(rec);
    fr_dataset_free(&ds);
}

/* Runs the evaluation with max_users and returns which users were scored. */
static void sampled_users(const fr_dataset *ds, int32_t max_users, uint64_t seed, int n_slots,
                          call_rec *rec, char *picked, int64_t *n_eval) {
    fr_rank_eval_opts o = opts(FR_EVAL_TEST, 5, 0, n_slots);
    o.max_users = max_users;
    o.seed = seed;
    test_ctx c = ctx_for(ds, o.split, HASH, &o, rec);
    fr_rank_eval_result res;
    fr_error err;
    assert_int_equal(fr_rank_eval(&res, ds, &o, test_score, &c, &err), FR_OK);
    int64_t n = 0;
    for (int32_t u = 0; u < ds->n_users; u++) {
        picked[u] = rec[u].calls > 0;
        n += picked[u];
        if (picked[u]) {
            assert_int_equal(rec[u].calls, 1);
            assert_true(fr_dataset_user(ds, u).n >= 3);
        }
    }
    assert_int_equal(res.sampled.n, n);
    assert_int_equal(res.full.n, 0);
    *n_eval = n;
}

static void test_max_users_sample(void **state) {
    (void)state;
    fr_dataset ds;
    make_random_ds(&ds, 200, 60, 8, 5);
    const int64_t eligible = count_eligible(&ds);
    assert_true(eligible > 100);
    call_rec *rec = fr_calloc((size_t)ds.n_users, sizeof(call_rec));
    char *a = fr_calloc((size_t)ds.n_users, 1), *b = fr_calloc((size_t)ds.n_users, 1);
    assert_true(rec && a && b);
    int64_t n;
    sampled_users(&ds, 50, 7, 4, rec, a, &n);
    assert_int_equal(n, 50);
    sampled_users(&ds, 50, 7, 1, rec, b, &n); /* same seed, other thread count */
    assert_int_equal(n, 50);
    assert_memory_equal(a, b, (size_t)ds.n_users);
    int64_t next = 0; /* one thread: the sample is evaluated in user order */
    for (int32_t u = 0; u < ds.n_users; u++)
        if (b[u]) assert_int_equal(rec[u].order, next++);
    sampled_users(&ds, 50, 8, 4, rec, b, &n); /* another seed, another sample */
    assert_int_equal(n, 50);
    assert_memory_not_equal(a, b, (size_t)ds.n_users);
    /* max_users at or above the eligible count, or 0: everyone */
    const int32_t all_sizes[3] = { 0, (int32_t)eligible, (int32_t)eligible + 10 };
    for (int k = 0; k < 3; k++) {
        sampled_users(&ds, all_sizes[k], 7, 2, rec, a, &n);
        assert_int_equal(n, eligible);
    }
    fr_free(rec);
    fr_free(a);
    fr_free(b);
    fr_dataset_free(&ds);
}

static void test_score_error_propagates(void **state) {
    (void)state;
    fr_dataset ds;
    make_random_ds(&ds, 120, 40, 8, 6);
    /* two failing users: the first eligible one from 40 on, and one 40 further on */
    int32_t bad[2] = { -1, -1 };
    for (int k = 0, from = 40; k < 2; from = bad[k++] + 40)
        for (int32_t u = from; u < ds.n_users && bad[k] < 0; u++)
            if (fr_dataset_user(&ds, u).n >= 3) bad[k] = u;
    assert_true(bad[0] >= 0 && bad[1] > bad[0]);
    char want[64];
    call_rec *rec = fr_calloc((size_t)ds.n_users, sizeof(call_rec));
    assert_non_null(rec);
    for (int full = 0; full < 2; full++) {
        for (int slots = 1; slots <= 4; slots += 3) {
            fr_rank_eval_opts o = opts(FR_EVAL_TEST, full ? 0 : 10, full, slots);
            test_ctx c = ctx_for(&ds, o.split, HASH, &o, rec);
            fr_rank_eval_result res;
            fr_error err = { "" };
            /* both fail, the later user last when threads run them side by side: the
             * lower user's error is still the one returned */
            c.fail[0] = bad[1];
            c.fail_ms[0] = 100;
            c.fail[1] = bad[0];
            c.fail_ms[1] = 20;
            assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_ERR_RUNTIME);
            snprintf(want, sizeof want, "scorer failed for user %d", bad[0]);
            assert_string_equal(err.msg, want);
            assert_int_equal(res.sampled.n, 0);
            assert_int_equal(res.full.n, 0);
            if (slots == 1) /* the evaluation stopped at the failure */
                for (int32_t u = bad[0] + 1; u < ds.n_users; u++) assert_int_equal(rec[u].calls, 0);
            c.fail[1] = -1;
            assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_ERR_RUNTIME);
            snprintf(want, sizeof want, "scorer failed for user %d", bad[1]);
            assert_string_equal(err.msg, want);
        }
    }
    /* too few items outside a user's history for the negatives asked */
    fr_rank_eval_opts o = opts(FR_EVAL_VALID, 39, 0, 2);
    test_ctx c = ctx_for(&ds, o.split, HASH, &o, NULL);
    fr_rank_eval_result res;
    fr_error err;
    assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "negatives asked"));
    o.n_neg = 40; /* the whole catalogue */
    assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_ERR_INPUT);
    o.n_neg = 5;
    o.n_slots = 0;
    assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "n_slots"));
    fr_free(rec);
    fr_dataset_free(&ds);
}

static void test_short_users_skipped(void **state) {
    (void)state;
    /* users 0..3 with 1, 2, 3 and 5 interactions */
    const int64_t user[11] = { 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3 };
    const int64_t item[11] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1 };
    fr_dataset ds;
    make_ds(&ds, 11, user, item, 4, 30);
    call_rec rec[32];
    assert_true(ds.n_users <= 32);
    fr_rank_eval_opts o = opts(FR_EVAL_VALID, 5, 1, 2);
    test_ctx c = ctx_for(&ds, o.split, HASH, &o, rec);
    fr_rank_eval_result res;
    fr_error err;
    assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
    assert_int_equal(res.sampled.n, 2);
    assert_int_equal(res.full.n, 2);
    for (int32_t u = 0; u < ds.n_users; u++) assert_int_equal(rec[u].calls, u == 2 || u == 3 ? 2 : 0);
    /* n_neg = 0 skips (a); full = 0 skips (b) */
    o.n_neg = 0;
    c = ctx_for(&ds, o.split, HASH, &o, rec);
    assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
    assert_int_equal(res.sampled.n, 0);
    assert_int_equal(res.full.n, 2);
    assert_int_equal(rec[3].calls, 1);
    assert_int_equal(rec[3].n_full, ds.n_items);
    o.full = 0;
    c = ctx_for(&ds, o.split, HASH, &o, rec);
    assert_int_equal(fr_rank_eval(&res, &ds, &o, test_score, &c, &err), FR_OK);
    assert_int_equal(res.sampled.n + res.full.n, 0);
    assert_int_equal(rec[3].calls, 0);
    fr_dataset_free(&ds);
}

static void test_metrics_json(void **state) {
    (void)state;
    static const char *const keys[10] = { "hr@1", "ndcg@1", "hr@5", "ndcg@5", "hr@10",
                                          "ndcg@10", "hr@20", "ndcg@20", "mrr", "users" };
    fr_rank_metrics m;
    memset(&m, 0, sizeof m);
    fr_rank_metrics_add(&m, 0);
    fr_rank_metrics_add(&m, 3);
    const double want[10] = { 0.5, 0.5, 1.0, (1.0 + 1.0 / log2(5.0)) / 2, 1.0,
                              (1.0 + 1.0 / log2(5.0)) / 2, 1.0, (1.0 + 1.0 / log2(5.0)) / 2,
                              (1.0 + 0.25) / 2, 2.0 };
    for (int pass = 0; pass < 2; pass++) {
        cJSON *j = fr_rank_metrics_to_json(&m);
        assert_non_null(j);
        assert_int_equal(cJSON_GetArraySize(j), 10);
        int k = 0;
        for (cJSON *it = j->child; it; it = it->next, k++) { /* keys in this order */
            assert_string_equal(it->string, keys[k]);
            assert_true(cJSON_IsNumber(it));
            assert_true(fabs(it->valuedouble - (pass ? 0.0 : want[k])) < 1e-12);
        }
        cJSON_Delete(j);
        memset(&m, 0, sizeof m); /* second pass: no users, all zeros */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_ranks_first),
        cmocka_unit_test(test_paired_negatives),
        cmocka_unit_test(test_adversary_ranks_last),
        cmocka_unit_test(test_full_rank_excludes_own_items),
        cmocka_unit_test(test_valid_and_test_inputs),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_max_users_sample),
        cmocka_unit_test(test_score_error_propagates),
        cmocka_unit_test(test_short_users_skipped),
        cmocka_unit_test(test_metrics_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
