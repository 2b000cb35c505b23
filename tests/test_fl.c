/* test_fl.c - client sampling, the user split, weighted averaging of row-sparse
 * updates, and what an update can carry. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/aggregate.h"
#include "fedrec/fl.h"
#include "fedrec/mf.h"

static void test_sampling(void **state) {
    (void)state;
    int32_t a[50], b[50];
    assert_int_equal(fr_sample_clients(a, 1600, 50, 42, 3), 50);
    assert_int_equal(fr_sample_clients(b, 1600, 50, 42, 3), 50);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < 50; i++) {
        assert_true(a[i] >= 0 && a[i] < 1600);
        if (i) assert_true(a[i] > a[i - 1]); /* ascending, hence distinct */
    }
    fr_sample_clients(b, 1600, 50, 42, 4);
    assert_memory_not_equal(a, b, sizeof a);
    /* k >= n takes everyone */
    int32_t all[10];
    assert_int_equal(fr_sample_clients(all, 10, 20, 1, 1), 10);
    for (int i = 0; i < 10; i++) assert_int_equal(all[i], i);
    /* every client equally likely: 20000 rounds of 5 of 20 */
    int count[20] = { 0 };
    for (uint32_t r = 0; r < 20000; r++) {
        int32_t s[5];
        fr_sample_clients(s, 20, 5, 7, r);
        for (int i = 0; i < 5; i++) count[s[i]]++;
    }
    for (int i = 0; i < 20; i++) assert_true(abs(count[i] - 5000) < 300);
}

static void test_split(void **state) {
    (void)state;
    fr_user_split s;
    fr_error err;
    assert_int_equal(fr_split_users(&s, 2000, 0.8, 0.1, 42, &err), FR_OK);
    assert_int_equal(s.n_train, 1600);
    assert_int_equal(s.n_val, 200);
    assert_int_equal(s.n_test, 200);
    char *seen = calloc(2000, 1);
    for (int i = 0; i < s.n_train; i++) seen[s.train[i]]++;
    for (int i = 0; i < s.n_val; i++) seen[s.val[i]]++;
    for (int i = 0; i < s.n_test; i++) seen[s.test[i]]++;
    for (int i = 0; i < 2000; i++) assert_int_equal(seen[i], 1);
    free(seen);
    fr_user_split t;
    assert_int_equal(fr_split_users(&t, 2000, 0.8, 0.1, 42, &err), FR_OK);
    assert_memory_equal(s.test, t.test, (size_t)s.n_test * 4);
    fr_user_split_free(&t);
    assert_int_equal(fr_split_users(&t, 2000, 0.8, 0.1, 43, &err), FR_OK);
    assert_memory_not_equal(s.test, t.test, (size_t)s.n_test * 4);
    fr_user_split_free(&t);
    fr_user_split_free(&s);
}

static void test_weighted_average(void **state) {
    (void)state;
    fr_mf_model m;
    fr_error err;
    assert_int_equal(fr_mf_create(&m, 4, 2, 1, 0.05, 1, &err), FR_OK);
    /* width = K + item bias = 3; dense = global bias */
    assert_int_equal(fr_layout_sparse_width(&m.layout), 3);
    assert_int_equal(fr_layout_dense_size(&m.layout), 1);
    fr_update u[2];
    memset(u, 0, sizeof u);
    assert_int_equal(fr_update_reserve(&u[0], &m.layout, 1, &err), FR_OK);
    assert_int_equal(fr_update_reserve(&u[1], &m.layout, 2, &err), FR_OK);
    u[0].weight = 1; u[0].n_rows = 1; u[0].rows[0] = 2;
    float s0[3] = { 3, 6, 9 };
    memcpy(u[0].sparse, s0, sizeof s0);
    u[0].dense[0] = 1;
    u[1].weight = 2; u[1].n_rows = 2; u[1].rows[0] = 0; u[1].rows[1] = 2;
    float s1[6] = { 3, 3, 3, 6, 0, 0 };
    memcpy(u[1].sparse, s1, sizeof s1);
    u[1].dense[0] = 4;
    float *avg = fr_alloc((size_t)m.layout.size, 4);
    double *acc = fr_alloc((size_t)m.layout.size, 8), row_w[4];
    const double w[2] = { 1, 2 }, ones[2] = { 1, 1 };
    assert_true(fr_aggregate(avg, acc, row_w, &m.layout, u, w, 2, FR_ROWAVG_ALL) == 3.0);
    const float *item = avg + m.layout.t[m.t_item].offset;   /* [4 x 2] */
    const float *ib = avg + m.layout.t[m.t_ibias].offset;    /* [4] */
    const float *gb = avg + m.layout.t[m.t_gbias].offset;    /* [1] */
    assert_true(fabsf(item[0] - 2.0f) < 1e-6f && fabsf(item[1] - 2.0f) < 1e-6f); /* row 0: (2*3)/3 */
    assert_true(fabsf(ib[0] - 2.0f) < 1e-6f);
    assert_true(fabsf(item[4] - 5.0f) < 1e-6f && fabsf(item[5] - 2.0f) < 1e-6f); /* row 2: (3+12)/3, 6/3 */
    assert_true(fabsf(ib[2] - 3.0f) < 1e-6f);
    assert_true(item[2] == 0.0f && item[6] == 0.0f); /* untouched rows */
    assert_true(fabsf(gb[0] - 3.0f) < 1e-6f);          /* (1 + 8)/3 */
    assert_true(fr_aggregate(avg, acc, row_w, &m.layout, u, ones, 2, FR_ROWAVG_ALL) == 2.0);
    assert_true(fabsf(gb[0] - 2.5f) < 1e-6f);
    /* bytes: ids + values, global tensors only */
    assert_int_equal(fr_update_bytes(&u[1], &m.layout), 4 * (2 * (1 + 3) + 1));
    fr_free(avg);
    fr_free(acc);
    fr_update_free(&u[0]);
    fr_update_free(&u[1]);
    fr_mf_destroy(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_weighted_average),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
