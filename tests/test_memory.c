/* test_memory.c - FedMem's local dynamic memory: the surprise gate (strict), refresh
 * semantics, eviction of the lowest utility under both frequency forms on hand-computed
 * cases, first-inserted-goes ties, a long random stream against a brute-force eviction
 * check (capacity, no duplicates, counts, determinism), prototypes by k-means, the cold
 * start from global prototypes, upload byte counts, the three prototype aggregation
 * modes on hand-computed inputs, and argument errors.
 * Leaves out: the training that produces the losses. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/memory.h"
#include "fedrec/rng.h"

/* C capacity, n entries, Dt/Di/De text/image/id embedding lengths, K prototypes, D a
 * prototype's length. */

/* ---- helpers ---- */

static void assert_near(double a, double b, double tol) {
    if (!(fabs(a - b) <= tol)) fail_msg("%.17g and %.17g differ by more than %g", a, b, tol);
}

static fr_mem_opts base_opts(int32_t capacity, fr_mem_freq freq) {
    return (fr_mem_opts){ .capacity = capacity, .surprise_threshold = 0.5, .alpha = 1.0,
                          .beta = 1.0, .tau = 10.0, .freq = freq, .dim_text = 2,
                          .dim_image = 1, .dim_id = 0 };
}

static void create_ok(fr_memory *m, const fr_mem_opts *o) {
    fr_error err = { "" };
    if (fr_mem_create(m, o, &err) != FR_OK) fail_msg("fr_mem_create: %s", err.msg);
}

/* Observes item with text (v, -v) and image (10 v), expecting event. */
static fr_mem_outcome obs(fr_memory *m, int32_t item, float v, double loss, double now,
                          fr_mem_event want) {
    const float text[2] = { v, -v }, image[1] = { 10 * v };
    fr_mem_outcome out;
    fr_error err = { "" };
    if (fr_mem_observe(m, item, text, image, NULL, loss, now, &out, &err) != FR_OK)
        fail_msg("fr_mem_observe: %s", err.msg);
    if (out.event != want) fail_msg("item %d at %g: event %d, want %d", item, now, out.event, want);
    return out;
}

/* ---- the surprise gate ---- */

static void test_threshold_gate(void **state) {
    (void)state;
    fr_mem_opts o = base_opts(4, FR_MEM_FREQ_LOG);
    fr_memory m;
    create_ok(&m, &o);
    fr_mem_outcome out = obs(&m, 1, 1.0f, 0.5, 0.0, FR_MEM_REJECTED); /* equal: out */
    assert_int_equal(out.slot, -1);
    assert_int_equal(out.evicted, FR_MEM_NO_ITEM);
    obs(&m, 1, 1.0f, 0.49, 1.0, FR_MEM_REJECTED);
    obs(&m, 1, 1.0f, -3.0, 1.0, FR_MEM_REJECTED);
    assert_int_equal(m.n, 0);
    assert_true(m.now == 1.0); /* a rejected observation still advances time */
    out = obs(&m, 1, 1.0f, 0.5000001, 2.0, FR_MEM_INSERTED);
    assert_int_equal(out.slot, 0);
    assert_int_equal(m.n, 1);
    /* A present item with a small loss is rejected too: nothing refreshed. */
    obs(&m, 1, 7.0f, 0.1, 3.0, FR_MEM_REJECTED);
    assert_int_equal(m.freq[0], 1);
    assert_true(m.last[0] == 2.0);
    assert_true(m.text[0] == 1.0f);
    assert_int_equal(m.counts.rejected, 4);
    assert_int_equal(m.counts.inserted, 1);
    assert_int_equal(m.counts.refreshed, 0);
    assert_int_equal(m.counts.evicted, 0);
    fr_mem_reset_counts(&m);
    assert_int_equal(m.counts.rejected, 0);
    fr_mem_destroy(&m);
    fr_mem_destroy(&m); /* safe twice */
}

/* ---- refresh ---- */

static void test_refresh(void **state) {
    (void)state;
    fr_mem_opts o = base_opts(4, FR_MEM_FREQ_LOG);
    fr_memory m;
    create_ok(&m, &o);
    obs(&m, 3, 0.0f, 0.9, 0.0, FR_MEM_INSERTED);
    obs(&m, 7, 1.0f, 0.8, 1.0, FR_MEM_INSERTED);
    fr_mem_outcome out = obs(&m, 7, 2.0f, 0.6, 3.0, FR_MEM_REFRESHED);
    assert_int_equal(out.slot, 1);
    assert_int_equal(out.evicted, FR_MEM_NO_ITEM);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.item[1], 7);
    assert_true(m.last[1] == 3.0);
    assert_int_equal(m.freq[1], 2);
    assert_true(m.surprise[1] == 0.8); /* max(0.8, 0.6) */
    assert_true(m.text[2] == 2.0f && m.text[3] == -2.0f && m.image[1] == 20.0f);
    obs(&m, 7, 3.0f, 0.95, 4.0, FR_MEM_REFRESHED);
    assert_int_equal(m.freq[1], 3);
    assert_true(m.surprise[1] == 0.95);
    assert_true(m.text[2] == 3.0f);
    /* The other entry is untouched. */
    assert_int_equal(m.freq[0], 1);
    assert_true(m.last[0] == 0.0 && m.surprise[0] == 0.9 && m.text[0] == 0.0f);
    assert_int_equal(m.counts.refreshed, 2);
    assert_int_equal(m.counts.inserted, 2);
    assert_int_equal(fr_mem_find(&m, 7), 1);
    assert_int_equal(fr_mem_find(&m, 8), -1);
    const float *t = fr_mem_text(&m);
    assert_ptr_equal(t, m.text);
    fr_mem_destroy(&m);
}

/* ---- eviction, hand-computed ---- */

/* C = 2, alpha = beta = 1, tau = 10. Item 1 enters at t = 0 and is refreshed at t = 0
 * (freq 2, last 0); item 2 enters at t = 4 (freq 1). Item 3 arrives at t = 5:
 *   recency: item 1 exp(-0.5) = 0.6065307, item 2 exp(-0.1) = 0.9048374
 *   LOG:       F(2) = ln 3 = 1.0986123, F(1) = ln 2 = 0.6931472
 *              U1 = 1.7051429, U2 = 1.5979846  -> item 2 goes
 *   LOG_RATIO: F(2) = ln 3 / ln 13 = 0.4283173, F(1) = ln 2 / ln 12 = 0.2789429
 *              U1 = 1.0348480, U2 = 1.1837804  -> item 1 goes */
static void eviction_case(fr_mem_freq freq, int32_t want_evicted, double want_u1,
                          double want_u2) {
    fr_mem_opts o = base_opts(2, freq);
    fr_memory m;
    create_ok(&m, &o);
    obs(&m, 1, 1.0f, 0.6, 0.0, FR_MEM_INSERTED);
    obs(&m, 1, 1.0f, 0.6, 0.0, FR_MEM_REFRESHED);
    obs(&m, 2, 2.0f, 0.7, 4.0, FR_MEM_INSERTED);
    assert_near(fr_mem_utility(&m, 0, 5.0), want_u1, 1e-14);
    assert_near(fr_mem_utility(&m, 1, 5.0), want_u2, 1e-14);
    const int32_t slot = fr_mem_find(&m, want_evicted);
    fr_mem_outcome out = obs(&m, 3, 3.0f, 0.55, 5.0, FR_MEM_REPLACED);
    assert_int_equal(out.evicted, want_evicted);
    assert_int_equal(out.slot, slot); /* the new entry takes the evicted slot */
    assert_int_equal(m.n, 2);
    assert_int_equal(m.item[slot], 3);
    assert_int_equal(m.freq[slot], 1);
    assert_true(m.last[slot] == 5.0 && m.surprise[slot] == 0.55);
    assert_true(m.text[2 * slot] == 3.0f && m.image[slot] == 30.0f);
    assert_int_equal(fr_mem_find(&m, want_evicted), -1);
    assert_int_equal(m.counts.evicted, 1);
    assert_int_equal(m.counts.inserted, 3);
    fr_mem_destroy(&m);
}

static void test_eviction_log(void **state) {
    (void)state;
    assert_near(fr_mem_freq_score(FR_MEM_FREQ_LOG, 0), 0.0, 0.0);
    assert_near(fr_mem_freq_score(FR_MEM_FREQ_LOG, 2), 1.0986122886681098, 1e-15);
    eviction_case(FR_MEM_FREQ_LOG, 2, 1.7051429483807432, 1.5979845985959047);
}

static void test_eviction_log_ratio(void **state) {
    (void)state;
    assert_near(fr_mem_freq_score(FR_MEM_FREQ_LOG_RATIO, 0), 0.0, 0.0);
    assert_near(fr_mem_freq_score(FR_MEM_FREQ_LOG_RATIO, 1), 0.2789429456511298, 1e-15);
    eviction_case(FR_MEM_FREQ_LOG_RATIO, 1, 1.0348480007440282, 1.1837803636870894);
}

/* Equal utilities: the entry inserted first goes, whatever its slot, and a refresh does
 * not make an entry younger in that order (Python's dict keeps a key's place). */
static void test_eviction_ties(void **state) {
    (void)state;
    fr_mem_opts o = base_opts(3, FR_MEM_FREQ_LOG);
    o.alpha = 0.0; /* utility = ln(1 + freq): all equal at freq 1 */
    fr_memory m;
    create_ok(&m, &o);
    obs(&m, 10, 0.0f, 1.0, 0.0, FR_MEM_INSERTED);
    obs(&m, 11, 0.0f, 1.0, 1.0, FR_MEM_INSERTED);
    obs(&m, 12, 0.0f, 1.0, 2.0, FR_MEM_INSERTED);
    const int32_t want[4] = { 10, 11, 12, 13 };
    const int32_t slot[4] = { 0, 1, 2, 0 };
    for (int32_t t = 0; t < 4; t++) {
        fr_mem_outcome out = obs(&m, 13 + t, 0.0f, 1.0, 3.0 + t, FR_MEM_REPLACED);
        assert_int_equal(out.evicted, want[t]);
        assert_int_equal(out.slot, slot[t]);
    }
    fr_mem_destroy(&m);

    o.beta = 0.0; /* every utility 0 */
    o.capacity = 2;
    create_ok(&m, &o);
    obs(&m, 1, 0.0f, 1.0, 0.0, FR_MEM_INSERTED);
    obs(&m, 2, 0.0f, 1.0, 1.0, FR_MEM_INSERTED);
    obs(&m, 1, 0.0f, 1.0, 2.0, FR_MEM_REFRESHED);
    fr_mem_outcome out = obs(&m, 3, 0.0f, 1.0, 3.0, FR_MEM_REPLACED);
    assert_int_equal(out.evicted, 1);
    fr_mem_destroy(&m);
}

/* ---- a long random stream ---- */

typedef struct snapshot {
    int32_t n, item[8];
    int64_t freq[8];
    double last[8], surprise[8];
    float text[8 * 2], image[8];
    fr_mem_counts counts;
} snapshot;

/* 3000 observations of 40 items, C = 8; every eviction checked against a brute-force
 * argmin of the utilities (ties: lowest insertion number). */
static void run_stream(fr_mem_freq freq, snapshot *s) {
    fr_mem_opts o = base_opts(8, freq);
    o.alpha = 0.7;
    o.beta = 0.3;
    o.tau = 25.0;
    fr_memory m;
    create_ok(&m, &o);
    fr_rng r;
    fr_rng_init(&r, 99, 0, 0, FR_PURPOSE_EVAL);
    double now = 0.0;
    int64_t refreshed = 0, inserted = 0, evicted = 0, rejected = 0;
    for (int32_t step = 0; step < 3000; step++) {
        now += (double)fr_rng_below(&r, 3); /* sometimes the same time */
        const int32_t item = (int32_t)fr_rng_below(&r, 40);
        const double loss = fr_rng_uniform(&r);
        const float v = (float)fr_rng_normal(&r);
        int32_t want = -2; /* the evicted item, when an eviction is due */
        if (loss > o.surprise_threshold && fr_mem_find(&m, item) < 0 && m.n == o.capacity) {
            int32_t best = 0;
            for (int32_t t = 1; t < m.n; t++) {
                const double ut = o.alpha * exp(-(now - m.last[t]) / o.tau) +
                                  o.beta * fr_mem_freq_score(freq, m.freq[t]);
                const double ub = o.alpha * exp(-(now - m.last[best]) / o.tau) +
                                  o.beta * fr_mem_freq_score(freq, m.freq[best]);
                if (ut < ub || (ut == ub && m.seq[t] < m.seq[best])) best = t;
            }
            want = m.item[best];
        }
        const float text[2] = { v, -v }, image[1] = { 10 * v };
        fr_mem_outcome out;
        fr_error err = { "" };
        assert_int_equal(fr_mem_observe(&m, item, text, image, NULL, loss, now, &out, &err),
                         FR_OK);
        switch (out.event) {
        case FR_MEM_REJECTED: rejected++; assert_true(loss <= o.surprise_threshold); break;
        case FR_MEM_REFRESHED: refreshed++; break;
        case FR_MEM_INSERTED: inserted++; break;
        case FR_MEM_REPLACED:
            inserted++, evicted++;
            assert_int_equal(out.evicted, want);
            break;
        }
        if (want != -2) assert_int_equal(out.event, FR_MEM_REPLACED);
        assert_true(m.n <= o.capacity);
        for (int32_t a = 0; a < m.n; a++)
            for (int32_t b = a + 1; b < m.n; b++) assert_int_not_equal(m.item[a], m.item[b]);
        if (out.event != FR_MEM_REJECTED) assert_int_equal(m.item[out.slot], item);
    }
    assert_int_equal(m.counts.inserted, inserted);
    assert_int_equal(m.counts.refreshed, refreshed);
    assert_int_equal(m.counts.evicted, evicted);
    assert_int_equal(m.counts.rejected, rejected);
    assert_int_equal(inserted - evicted, m.n);
    assert_int_equal(m.n, o.capacity);
    assert_true(evicted > 100 && refreshed > 100);
    memset(s, 0, sizeof(*s));
    s->n = m.n;
    memcpy(s->item, m.item, sizeof(s->item));
    memcpy(s->freq, m.freq, sizeof(s->freq));
    memcpy(s->last, m.last, sizeof(s->last));
    memcpy(s->surprise, m.surprise, sizeof(s->surprise));
    memcpy(s->text, m.text, sizeof(s->text));
    memcpy(s->image, m.image, sizeof(s->image));
    s->counts = m.counts;
    fr_mem_destroy(&m);
}

static void test_random_stream(void **state) {
    (void)state;
    snapshot a, b, c;
    run_stream(FR_MEM_FREQ_LOG, &a);
    run_stream(FR_MEM_FREQ_LOG, &b);
    assert_memory_equal(&a, &b, sizeof(a)); /* deterministic */
    run_stream(FR_MEM_FREQ_LOG_RATIO, &c);
    assert_true(memcmp(a.item, c.item, sizeof(a.item)) != 0 ||
                memcmp(a.freq, c.freq, sizeof(a.freq)) != 0);
}

/* ---- prototypes ---- */

static void test_prototypes(void **state) {
    (void)state;
    fr_mem_opts o = base_opts(50, FR_MEM_FREQ_LOG);
    o.surprise_threshold = 0.0;
    fr_memory m;
    create_ok(&m, &o);
    fr_kmeans_opts km = { .max_iter = 100, .seed = 5, .stream = 17 };
    float proto[5 * 2];
    int32_t k = -1;
    fr_kmeans_result res;
    fr_error err = { "" };
    /* Empty memory: nothing to upload. */
    assert_int_equal(fr_mem_prototypes(proto, &k, &res, &m, 5, &km, &err), FR_OK);
    assert_int_equal(k, 0);
    /* 50 items, text (v, -v) with v near one of five levels 0, 10, .., 40. */
    for (int32_t i = 0; i < 50; i++)
        obs(&m, i, (float)(10 * (i % 5)) + 0.01f * (float)(i / 5), 1.0, i, FR_MEM_INSERTED);
    assert_int_equal(fr_mem_prototypes(proto, &k, &res, &m, 5, &km, &err), FR_OK);
    assert_int_equal(k, 5);
    assert_true(res.converged);
    int seen[5] = { 0 };
    for (int32_t j = 0; j < 5; j++) {
        const int32_t level = (int32_t)lround(proto[2 * j] / 10.0);
        assert_true(level >= 0 && level < 5 && !seen[level]);
        seen[level] = 1;
        assert_near(proto[2 * j], 10.0 * level + 0.045, 1e-5); /* mean of 0.01 * 0..9 */
        assert_near(proto[2 * j + 1], -proto[2 * j], 1e-6);
    }
    /* The prototypes are the communication the document counts: 10x fewer bytes. */
    assert_int_equal(fr_mem_proto_bytes(k, o.dim_text), 40);
    assert_true(fr_mem_raw_bytes(m.n, o.dim_text, o.dim_image, o.dim_id) >
                10 * fr_mem_proto_bytes(k, o.dim_text));
    /* Fewer entries than K: one prototype per distinct row. */
    fr_mem_destroy(&m);
    create_ok(&m, &o);
    obs(&m, 1, 1.0f, 1.0, 0.0, FR_MEM_INSERTED);
    obs(&m, 2, 2.0f, 1.0, 0.0, FR_MEM_INSERTED);
    assert_int_equal(fr_mem_prototypes(proto, &k, NULL, &m, 5, &km, &err), FR_OK);
    assert_int_equal(k, 2);
    for (int32_t e = 4; e < 10; e++) assert_true(proto[e] == 0.0f);
    /* Errors. */
    assert_int_equal(fr_mem_prototypes(proto, &k, NULL, &m, 0, &km, &err), FR_ERR_USAGE);
    assert_int_equal(fr_mem_prototypes(proto, &k, NULL, &m, 5, NULL, &err), FR_ERR_USAGE);
    fr_mem_destroy(&m);
    o.dim_text = 0;
    create_ok(&m, &o);
    assert_int_equal(fr_mem_prototypes(proto, &k, NULL, &m, 5, &km, &err), FR_ERR_USAGE);
    assert_null(fr_mem_text(&m));
    fr_mem_destroy(&m);
}

/* ---- cold start ---- */

static void test_cold_start(void **state) {
    (void)state;
    fr_mem_opts o = base_opts(4, FR_MEM_FREQ_LOG);
    fr_memory m;
    create_ok(&m, &o);
    fr_error err = { "" };
    obs(&m, 9, 9.0f, 1.0, 1.0, FR_MEM_INSERTED); /* replaced by the cold start */
    fr_mem_reset_counts(&m);
    const float global[2 * 2] = { 1, 2, 3, 4 }; /* K = 2 global prototypes, D = 2 */
    assert_int_equal(fr_mem_init_from_prototypes(&m, global, 2, 2, 5.0, &err), FR_OK);
    assert_int_equal(m.n, 2);
    for (int32_t j = 0; j < 2; j++) {
        assert_int_equal(m.item[j], FR_MEM_PROTO_ID(j));
        assert_int_equal(fr_mem_find(&m, FR_MEM_PROTO_ID(j)), j);
        assert_true(m.last[j] == 5.0 && m.surprise[j] == 0.0);
        assert_int_equal(m.freq[j], 1);
        assert_true(m.image[j] == 0.0f);
    }
    assert_memory_equal(fr_mem_text(&m), global, sizeof(global));
    assert_int_equal(fr_mem_find(&m, 9), -1);
    assert_true(m.now == 5.0);
    assert_int_equal(m.counts.inserted, 0);
    /* The user's own items join, then push the global entries out, oldest first. */
    obs(&m, 20, 1.0f, 1.0, 6.0, FR_MEM_INSERTED);
    obs(&m, 21, 1.0f, 1.0, 7.0, FR_MEM_INSERTED);
    fr_mem_outcome out = obs(&m, 22, 1.0f, 1.0, 8.0, FR_MEM_REPLACED);
    assert_int_equal(out.evicted, FR_MEM_PROTO_ID(0));
    out = obs(&m, 23, 1.0f, 1.0, 9.0, FR_MEM_REPLACED);
    assert_int_equal(out.evicted, FR_MEM_PROTO_ID(1));
    /* Errors leave the memory as it was. */
    const int32_t n = m.n;
    assert_int_equal(fr_mem_init_from_prototypes(&m, global, 5, 2, 10.0, &err), FR_ERR_USAGE);
    assert_int_equal(fr_mem_init_from_prototypes(&m, global, -1, 2, 10.0, &err), FR_ERR_USAGE);
    assert_int_equal(fr_mem_init_from_prototypes(&m, global, 2, 3, 10.0, &err), FR_ERR_USAGE);
    assert_int_equal(fr_mem_init_from_prototypes(&m, NULL, 2, 2, 10.0, &err), FR_ERR_USAGE);
    assert_int_equal(fr_mem_init_from_prototypes(&m, global, 2, 2, 1.0, &err), FR_ERR_USAGE);
    assert_int_equal(fr_mem_init_from_prototypes(&m, global, 2, 2, NAN, &err), FR_ERR_USAGE);
    const float bad[2 * 2] = { 1, 2, NAN, 4 };
    assert_int_equal(fr_mem_init_from_prototypes(&m, bad, 2, 2, 10.0, &err), FR_ERR_INPUT);
    assert_int_equal(m.n, n);
    assert_int_equal(m.item[0], 22);
    /* No prototypes: an empty memory. */
    assert_int_equal(fr_mem_init_from_prototypes(&m, NULL, 0, 2, 10.0, &err), FR_OK);
    assert_int_equal(m.n, 0);
    fr_mem_destroy(&m);
}

/* ---- byte counts ---- */

static void test_bytes(void **state) {
    (void)state;
    /* The document's example: 50 items -> 5 prototypes of 256 floats. */
    assert_int_equal(fr_mem_proto_bytes(5, 256), 5 * 256 * 4);
    assert_int_equal(fr_mem_raw_bytes(50, 256, 0, 0), 50 * (28 + 256 * 4));
    assert_true(fr_mem_raw_bytes(50, 256, 0, 0) > 10 * fr_mem_proto_bytes(5, 256));
    /* With image and id embeddings too. */
    assert_int_equal(fr_mem_raw_bytes(3, 384, 512, 64), 3 * (28 + (384 + 512 + 64) * 4));
    assert_int_equal(fr_mem_raw_bytes(0, 384, 0, 0), 0);
    assert_int_equal(fr_mem_proto_bytes(0, 384), 0);
    assert_int_equal(fr_mem_proto_bytes(-1, 4), -1);
    assert_int_equal(fr_mem_raw_bytes(1, 1, -1, 0), -1);
    /* Large sizes in 64 bits; past INT64_MAX, -1 (no wrap). */
    assert_int_equal(fr_mem_raw_bytes(INT32_MAX, 1 << 20, 0, 0),
                     (int64_t)INT32_MAX * (28 + 4 * (int64_t)(1 << 20)));
    assert_int_equal(fr_mem_proto_bytes(INT32_MAX, 1 << 20), (int64_t)INT32_MAX * (4 << 20));
    assert_int_equal(fr_mem_proto_bytes(INT32_MAX, INT32_MAX), -1);
    assert_int_equal(fr_mem_raw_bytes(INT32_MAX, INT32_MAX, 0, 0), -1);
    assert_int_equal(fr_mem_raw_bytes(INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX), -1);
}

/* ---- server aggregation ---- */

static void aggregate_ok(float *out, int32_t *k, const fr_proto_upload *up, int32_t m,
                         int32_t K, int32_t D, fr_proto_agg mode, const fr_kmeans_opts *km) {
    fr_error err = { "" };
    if (fr_proto_aggregate(out, k, up, m, K, D, mode, km, &err) != FR_OK)
        fail_msg("fr_proto_aggregate: %s", err.msg);
}

static void test_aggregate_means(void **state) {
    (void)state;
    const float p1[2 * 2] = { 1, 2, 3, 4 }, p2[2 * 2] = { 3, 6, 5, 0 };
    fr_proto_upload up[2] = { { p1, 2, 1.0 }, { p2, 2, 3.0 } };
    float out[2 * 2];
    int32_t k = 0;
    aggregate_ok(out, &k, up, 2, 2, 2, FR_PROTO_MEAN, NULL);
    assert_int_equal(k, 2);
    const float mean[4] = { 2, 4, 4, 2 };
    assert_memory_equal(out, mean, sizeof(mean));
    aggregate_ok(out, &k, up, 2, 2, 2, FR_PROTO_WEIGHTED, NULL);
    const float wmean[4] = { 2.5f, 5.0f, 4.5f, 1.0f }; /* (1 p1 + 3 p2) / 4 */
    assert_memory_equal(out, wmean, sizeof(wmean));
    /* Weights are ignored by MEAN; a zero weight drops a client from WEIGHTED. */
    up[1].weight = 0.0;
    aggregate_ok(out, &k, up, 2, 2, 2, FR_PROTO_MEAN, NULL);
    assert_memory_equal(out, mean, sizeof(mean));
    aggregate_ok(out, &k, up, 2, 2, 2, FR_PROTO_WEIGHTED, NULL);
    assert_memory_equal(out, p1, sizeof(p1));
    /* Thirds in double: (1 + 2 + 4) / 3 rounded once. */
    const float a[1] = { 1 }, b[1] = { 2 }, c[1] = { 4 };
    fr_proto_upload three[3] = { { a, 1, 1 }, { b, 1, 1 }, { c, 1, 1 } };
    aggregate_ok(out, &k, three, 3, 1, 1, FR_PROTO_MEAN, NULL);
    assert_true(out[0] == (float)(7.0 / 3.0));
}

static void test_aggregate_recluster(void **state) {
    (void)state;
    /* Client A (w = 1): (0,0), (10,10); client B (w = 3): (2,0), (10,12); client C
     * (w = 5) uploads nothing. K = 2: {(0,0) w1, (2,0) w3} -> (1.5, 0) and
     * {(10,10) w1, (10,12) w3} -> (10, 11.5), whatever the seeds. */
    const float pa[2 * 2] = { 0, 0, 10, 10 }, pb[2 * 2] = { 2, 0, 10, 12 };
    fr_proto_upload up[3] = { { pa, 2, 1.0 }, { pb, 2, 3.0 }, { NULL, 0, 5.0 } };
    fr_kmeans_opts km = { .max_iter = 50, .seed = 1 };
    float out[5 * 2];
    int32_t k = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        km.seed = seed;
        aggregate_ok(out, &k, up, 3, 2, 2, FR_PROTO_RECLUSTER, &km);
        assert_int_equal(k, 2);
        const int lo = out[0] < out[2] ? 0 : 1;
        assert_true(out[2 * lo] == 1.5f && out[2 * lo + 1] == 0.0f);
        assert_true(out[2 * (1 - lo)] == 10.0f && out[2 * (1 - lo) + 1] == 11.5f);
    }
    /* Unequal row counts are fine; K above the rows gives one centroid per row. */
    up[1].k = 1;
    aggregate_ok(out, &k, up, 3, 5, 2, FR_PROTO_RECLUSTER, &km);
    assert_int_equal(k, 3);
    for (int32_t e = 6; e < 10; e++) assert_true(out[e] == 0.0f);
    /* Same inputs, same seed: the same bits. */
    float again[5 * 2];
    int32_t k2 = 0;
    aggregate_ok(again, &k2, up, 3, 5, 2, FR_PROTO_RECLUSTER, &km);
    assert_int_equal(k2, k);
    assert_memory_equal(again, out, sizeof(out));
}

static void test_aggregate_errors(void **state) {
    (void)state;
    const float p[2 * 2] = { 1, 2, 3, 4 };
    fr_proto_upload up[2] = { { p, 2, 1.0 }, { p, 2, 1.0 } };
    fr_kmeans_opts km = { .max_iter = 10 };
    float out[4];
    int32_t k = 7;
    fr_error err = { "" };
    assert_int_equal(fr_proto_aggregate(out, &k, up, 0, 2, 2, FR_PROTO_MEAN, NULL, &err),
                     FR_ERR_USAGE);
    assert_int_equal(k, 0);
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 0, 2, FR_PROTO_MEAN, NULL, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 0, FR_PROTO_MEAN, NULL, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, (fr_proto_agg)9, NULL, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_proto_aggregate(NULL, &k, up, 2, 2, 2, FR_PROTO_MEAN, NULL, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_RECLUSTER, NULL, &err),
                     FR_ERR_USAGE);
    /* Row j of every client is averaged: every client needs K rows. */
    up[1].k = 1;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_MEAN, NULL, &err),
                     FR_ERR_USAGE);
    assert_true(strstr(err.msg, "client 1") != NULL);
    up[1].k = -1;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_RECLUSTER, &km, &err),
                     FR_ERR_USAGE);
    up[1].k = 2;
    up[1].proto = NULL;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_MEAN, NULL, &err),
                     FR_ERR_USAGE);
    up[1].proto = p;
    up[1].weight = -1.0;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_WEIGHTED, NULL, &err),
                     FR_ERR_USAGE);
    up[1].weight = NAN;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_RECLUSTER, &km, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_MEAN, NULL, &err),
                     FR_OK); /* MEAN ignores weights */
    up[0].weight = up[1].weight = 0.0;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_WEIGHTED, NULL, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_RECLUSTER, &km, &err),
                     FR_ERR_USAGE);
    up[0].weight = up[1].weight = 1.0;
    up[0].k = up[1].k = 0;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_RECLUSTER, &km, &err),
                     FR_ERR_USAGE);
    up[0].k = up[1].k = 2;
    const float bad[4] = { 1, INFINITY, 3, 4 };
    up[1].proto = bad;
    assert_int_equal(fr_proto_aggregate(out, &k, up, 2, 2, 2, FR_PROTO_MEAN, NULL, &err),
                     FR_ERR_INPUT);
}

/* ---- argument errors ---- */

static void test_create_errors(void **state) {
    (void)state;
    fr_memory m;
    fr_error err = { "" };
    const fr_mem_opts good = base_opts(4, FR_MEM_FREQ_LOG);
    fr_mem_opts o;
#define BAD(field, value)                                                     \
    do {                                                                      \
        o = good;                                                             \
        o.field = value;                                                      \
        assert_int_equal(fr_mem_create(&m, &o, &err), FR_ERR_USAGE);          \
        assert_null(m.item);                                                  \
        fr_mem_destroy(&m);                                                   \
    } while (0)
    BAD(capacity, 0);
    BAD(dim_text, -1);
    BAD(dim_id, -2);
    BAD(surprise_threshold, NAN);
    BAD(alpha, -1.0);
    BAD(beta, INFINITY);
    BAD(tau, 0.0);
    BAD(tau, NAN);
    BAD(freq, (fr_mem_freq)7);
#undef BAD
    assert_int_equal(fr_mem_create(&m, NULL, &err), FR_ERR_USAGE);
    assert_int_equal(fr_mem_create(NULL, &good, &err), FR_ERR_USAGE);
}

static void test_observe_errors(void **state) {
    (void)state;
    fr_mem_opts o = base_opts(2, FR_MEM_FREQ_LOG);
    fr_memory m;
    create_ok(&m, &o);
    obs(&m, 1, 1.0f, 1.0, 5.0, FR_MEM_INSERTED);
    const float text[2] = { 1, 2 }, image[1] = { 3 }, nan_text[2] = { 1, NAN };
    fr_error err = { "" };
    fr_mem_outcome out;
    assert_int_equal(fr_mem_observe(&m, -1, text, image, NULL, 1.0, 6.0, &out, &err),
                     FR_ERR_USAGE);
    assert_int_equal(out.event, FR_MEM_REJECTED);
    assert_int_equal(fr_mem_observe(&m, 2, NULL, image, NULL, 1.0, 6.0, &out, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_mem_observe(&m, 2, text, NULL, NULL, 1.0, 6.0, &out, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_mem_observe(&m, 2, text, image, NULL, 1.0, 4.0, &out, &err),
                     FR_ERR_USAGE); /* time went back */
    assert_int_equal(fr_mem_observe(&m, 2, text, image, NULL, 1.0, INFINITY, &out, &err),
                     FR_ERR_USAGE);
    assert_int_equal(fr_mem_observe(&m, 2, text, image, NULL, NAN, 6.0, &out, &err),
                     FR_ERR_INPUT);
    assert_int_equal(fr_mem_observe(&m, 1, nan_text, image, NULL, 1.0, 6.0, &out, &err),
                     FR_ERR_INPUT);
    /* Nothing changed. */
    assert_int_equal(m.n, 1);
    assert_int_equal(m.freq[0], 1);
    assert_true(m.now == 5.0 && m.text[0] == 1.0f);
    assert_int_equal(m.counts.inserted + m.counts.rejected, 1);
    /* A not-created memory. */
    fr_memory z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(fr_mem_observe(&z, 1, text, image, NULL, 1.0, 6.0, NULL, &err),
                     FR_ERR_USAGE);
    /* An absent embedding may be NULL; the id embedding here has dimension 0. */
    assert_int_equal(fr_mem_observe(&m, 2, text, image, NULL, 1.0, 6.0, NULL, &err), FR_OK);
    fr_mem_destroy(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_gate),
        cmocka_unit_test(test_refresh),
        cmocka_unit_test(test_eviction_log),
        cmocka_unit_test(test_eviction_log_ratio),
        cmocka_unit_test(test_eviction_ties),
        cmocka_unit_test(test_random_stream),
        cmocka_unit_test(test_prototypes),
        cmocka_unit_test(test_cold_start),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_aggregate_means),
        cmocka_unit_test(test_aggregate_recluster),
        cmocka_unit_test(test_aggregate_errors),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_observe_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
