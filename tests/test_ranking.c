/* test_ranking.c - HR/NDCG/MRR on hand-computed ranks, leave-one-out parts, and
 * negatives that avoid the history, repeat per user and seed, and are uniform. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include "fedrec/ranking.h"

static void test_metrics_by_hand(void **state) {
    (void)state;
    fr_rank_metrics m;
    memset(&m, 0, sizeof m);
    fr_rank_metrics_add(&m, 0);  /* top */
    fr_rank_metrics_add(&m, 3);  /* 4th */
    fr_rank_metrics_add(&m, 12); /* 13th */
    fr_rank_metrics_add(&m, 40); /* out of every cutoff */
    assert_int_equal(m.n, 4);
    assert_true(m.hr[0] == 1.0 && m.hr[1] == 2.0 && m.hr[2] == 2.0 && m.hr[3] == 3.0);
    assert_true(fabs(m.ndcg[1] - (1.0 + 1.0 / log2(5.0))) < 1e-12);
    assert_true(fabs(m.ndcg[3] - (1.0 + 1.0 / log2(5.0) + 1.0 / log2(14.0))) < 1e-12);
    assert_true(fabs(m.mrr - (1.0 + 0.25 + 1.0 / 13 + 1.0 / 41)) < 1e-12);
    fr_rank_metrics b = m;
    fr_rank_metrics_merge(&b, &m);
    assert_int_equal(b.n, 8);
    assert_true(b.hr[3] == 6.0);
}

static void test_rank_of_ties(void **state) {
    (void)state;
    const float s[5] = { 0.1f, 0.9f, 0.5f, 0.5f, 0.7f };
    assert_int_equal(fr_rank_of(0.5f, s, 5), 4); /* 0.9, 0.7 and both tied 0.5s */
    assert_int_equal(fr_rank_of(0.7f, s, 5), 2); /* 0.9, and the tie */
    assert_int_equal(fr_rank_of(1.0f, s, 5), 0);
    assert_int_equal(fr_rank_of(0.0f, s, 5), 5);
    const float flat[3] = { 0.2f, 0.2f, 0.2f }; /* a constant scorer ranks the target last */
    assert_int_equal(fr_rank_of(0.2f, flat, 3), 3);
    const float with_nan[3] = { NAN, 0.1f, 0.3f };
    assert_int_equal(fr_rank_of(0.2f, with_nan, 3), 2);  /* NaN and 0.3 */
    assert_int_equal(fr_rank_of(NAN, s, 5), 5);
}

static void test_leave_one_out(void **state) {
    (void)state;
    int32_t items[5] = { 7, 3, 9, 4, 1 };
    fr_user_view v = { 0, 5, items, NULL, NULL };
    fr_loo l = fr_loo_split(v);
    assert_int_equal(l.n_train, 3);
    assert_int_equal(l.valid, 4);
    assert_int_equal(l.test, 1);
    v.n = 2;
    l = fr_loo_split(v);
    assert_int_equal(l.n_train, 2);
    assert_int_equal(l.valid, -1);
    assert_int_equal(l.test, -1);
}

static void test_negatives(void **state) {
    (void)state;
    int32_t hist[6] = { 0, 2, 4, 6, 8, 2 };
    fr_user_view v = { 5, 6, hist, NULL, NULL };
    int32_t a[10], b[10];
    fr_error err;
    assert_int_equal(fr_sample_negatives(a, 10, v, 20, 42, &err), FR_OK);
    assert_int_equal(fr_sample_negatives(b, 10, v, 20, 42, &err), FR_OK);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < 10; i++) {
        assert_true(a[i] >= 0 && a[i] < 20);
        assert_true(a[i] % 2 == 1 || a[i] >= 10); /* never an item of the history */
        for (int j = 0; j < i; j++) assert_true(a[i] != a[j]);
    }
    /* 15 items remain outside the history: asking 16 is an error */
    assert_int_equal(fr_sample_negatives(a, 16, v, 20, 42, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "user 5"));
    /* uniform over the 15 allowed items across users */
    int count[20] = { 0 };
    for (int u = 0; u < 3000; u++) {
        v.user = u;
        assert_int_equal(fr_sample_negatives(a, 5, v, 20, 1, &err), FR_OK);
        for (int i = 0; i < 5; i++) count[a[i]]++;
    }
    for (int i = 0; i < 20; i++) {
        int allowed = i % 2 == 1 || i >= 10;
        if (!allowed) assert_int_equal(count[i], 0);
        else assert_true(fabs(count[i] - 1000.0) < 120.0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_by_hand),
        cmocka_unit_test(test_rank_of_ties),
        cmocka_unit_test(test_leave_one_out),
        cmocka_unit_test(test_negatives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
