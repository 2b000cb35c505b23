/* test_synth.c - the built-in synthetic dataset: determinism, shape, popularity skew,
 * planted low-rank structure, no repeated items, increasing times, config checks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/synth.h"
#include "testutil.h"

static void generate(const fr_synth_config *c, fr_dataset *ds, float **P, float **Q) {
    fr_error err = { { 0 } };
    fr_status st = fr_synth_generate(c, ds, P, Q, &err);
    if (st != FR_OK) fail_msg("fr_synth_generate: %s", err.msg);
}

static void test_defaults(void **state) {
    (void)state;
    fr_synth_config c;
    fr_synth_config_default(&c);
    assert_int_equal(c.n_users, 2000);
    assert_int_equal(c.n_items, 1000);
    assert_int_equal(c.rank, 8);
    assert_true(c.mean_per_user == 60 && c.min_per_user == 10);
    assert_true(c.zipf_s == 0.8 && c.noise == 0.3);
}

static void test_determinism(void **state) {
    (void)state;
    fr_synth_config c;
    fr_synth_config_default(&c);
    c.n_users = 300;
    c.n_items = 200;
    c.seed = 7;
    fr_dataset a, b, d;
    float *pa, *qa, *pb, *qb;
    generate(&c, &a, &pa, &qa);
    generate(&c, &b, &pb, &qb);
    assert_int_equal(a.n_inter, b.n_inter);
    assert_memory_equal(a.user_ptr, b.user_ptr, (size_t)(a.n_users + 1) * sizeof(int64_t));
    assert_memory_equal(a.item, b.item, (size_t)a.n_inter * sizeof(int32_t));
    assert_memory_equal(a.rating, b.rating, (size_t)a.n_inter * sizeof(float));
    assert_memory_equal(a.time, b.time, (size_t)a.n_inter * sizeof(int64_t));
    assert_memory_equal(pa, pb, (size_t)c.n_users * (size_t)c.rank * sizeof(float));
    assert_memory_equal(qa, qb, (size_t)c.n_items * (size_t)c.rank * sizeof(float));

    c.seed = 8;
    generate(&c, &d, NULL, NULL);
    int64_t n = a.n_inter < d.n_inter ? a.n_inter : d.n_inter, same = 0;
    for (int64_t k = 0; k < n; k++) same += a.item[k] == d.item[k];
    assert_true(a.n_inter != d.n_inter || same < n / 2);
    fr_dataset_free(&a);
    fr_dataset_free(&b);
    fr_dataset_free(&d);
    fr_free(pa);
    fr_free(qa);
    fr_free(pb);
    fr_free(qb);
}

static int cmp_desc_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

static void test_shape_and_invariants(void **state) {
    (void)state;
    fr_synth_config c;
    fr_synth_config_default(&c);
    fr_dataset ds;
    generate(&c, &ds, NULL, NULL);
    assert_int_equal(ds.n_users, c.n_users);
    assert_int_equal(ds.n_items, c.n_items);
    assert_int_equal(ds.format, FR_FORMAT_SYNTHETIC);
    assert_int_equal(ds.user_raw[0], 1);
    assert_int_equal(ds.user_raw[c.n_users - 1], c.n_users);
    assert_int_equal(ds.item_raw[c.n_items - 1], c.n_items);
    assert_int_equal(ds.user_ptr[ds.n_users], ds.n_inter);
    double mean_count = (double)ds.n_inter / ds.n_users;
    assert_true(mean_count > 0.7 * c.mean_per_user && mean_count < 1.3 * c.mean_per_user);

    char *seen = calloc((size_t)ds.n_items, 1);
    assert_non_null(seen);
    int64_t hist[6] = { 0 };
    double sum = 0;
    for (int32_t u = 0; u < ds.n_users; u++) {
        fr_user_view v = fr_dataset_user(&ds, u);
        assert_true(v.n >= c.min_per_user && v.n <= c.n_items / 2);
        for (int64_t k = 0; k < v.n; k++) {
            assert_true(v.item[k] >= 0 && v.item[k] < ds.n_items);
            assert_int_equal(seen[v.item[k]], 0); /* no item twice within a user */
            seen[v.item[k]] = 1;
            float r = v.rating[k];
            assert_true(r == floorf(r) && r >= 1 && r <= 5);
            hist[(int)r]++;
            sum += r;
            if (k > 0) assert_true(v.time[k] > v.time[k - 1]);
        }
        for (int64_t k = 0; k < v.n; k++) seen[v.item[k]] = 0;
    }
    free(seen);
    double mean = sum / (double)ds.n_inter;
    assert_true(mean > 3.2 && mean < 3.8);
    for (int r = 1; r <= 5; r++) assert_true(hist[r] > ds.n_inter / 50); /* all used */
    fr_dataset_free(&ds);
}

static void test_popularity_skew(void **state) {
    (void)state;
    fr_synth_config c;
    fr_synth_config_default(&c);
    fr_dataset ds;
    generate(&c, &ds, NULL, NULL);
    int64_t *count = calloc((size_t)ds.n_items, sizeof(int64_t));
    assert_non_null(count);
    for (int64_t k = 0; k < ds.n_inter; k++) count[ds.item[k]]++;
    qsort(count, (size_t)ds.n_items, sizeof(int64_t), cmp_desc_i64);
    int64_t top = 0;
    for (int32_t i = 0; i < ds.n_items / 10; i++) top += count[i];
    /* Uniform popularity would give 10%; Zipf 0.8 gives about half. */
    assert_true((double)top > 0.3 * (double)ds.n_inter);
    /* The permutation hides popularity from the ids: the most popular items are not
     * simply the lowest ids. */
    int64_t low = 0;
    int64_t *by_id = calloc((size_t)ds.n_items, sizeof(int64_t));
    assert_non_null(by_id);
    for (int64_t k = 0; k < ds.n_inter; k++) by_id[ds.item[k]]++;
    for (int32_t i = 0; i < ds.n_items / 10; i++) low += by_id[i];
    assert_true((double)low < 0.5 * (double)top);
    free(count);
    free(by_id);
    fr_dataset_free(&ds);
}

static void test_planted_structure(void **state) {
    (void)state;
    fr_synth_config c;
    fr_synth_config_default(&c);
    fr_dataset ds;
    float *P, *Q;
    generate(&c, &ds, &P, &Q);
    /* Pearson correlation between the rating and the planted dot product p_u . q_i. */
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int32_t u = 0; u < ds.n_users; u++) {
        fr_user_view v = fr_dataset_user(&ds, u);
        for (int64_t k = 0; k < v.n; k++) {
            double dot = 0;
            for (int32_t j = 0; j < c.rank; j++)
                dot += (double)P[(size_t)u * c.rank + j] * Q[(size_t)v.item[k] * c.rank + j];
            double y = v.rating[k];
            sx += dot;
            sy += y;
            sxx += dot * dot;
            syy += y * y;
            sxy += dot * y;
        }
    }
    double n = (double)ds.n_inter;
    double cov = sxy / n - (sx / n) * (sy / n);
    double corr = cov / sqrt((sxx / n - (sx / n) * (sx / n)) * (syy / n - (sy / n) * (sy / n)));
    assert_true(corr > 0.75);
    fr_dataset_free(&ds);
    fr_free(P);
    fr_free(Q);
}

static void test_steep_popularity_fallback(void **state) {
    (void)state;
    /* Zipf 4 with half the catalogue per user: redraws pile up and the weighted
     * sampling without replacement takes over; still no repeats, right counts. */
    fr_synth_config c;
    fr_synth_config_default(&c);
    c.n_users = 50;
    c.n_items = 40;
    c.min_per_user = 20;
    c.mean_per_user = 30;
    c.zipf_s = 4;
    fr_dataset ds;
    generate(&c, &ds, NULL, NULL);
    for (int32_t u = 0; u < ds.n_users; u++) {
        fr_user_view v = fr_dataset_user(&ds, u);
        assert_int_equal(v.n, 20);
        char seen[40] = { 0 };
        for (int64_t k = 0; k < v.n; k++) {
            assert_int_equal(seen[v.item[k]], 0);
            seen[v.item[k]] = 1;
        }
    }
    fr_dataset_free(&ds);
}

static void test_bad_config(void **state) {
    (void)state;
    fr_synth_config c;
    fr_dataset ds;
    fr_error err = { { 0 } };
    float *P = (float *)&c; /* must be reset to NULL on failure */
    fr_synth_config_default(&c);
    c.n_users = 0;
    assert_int_equal(fr_synth_generate(&c, &ds, &P, NULL, &err), FR_ERR_USAGE);
    assert_null(P);
    assert_null(ds.user_ptr);
    assert_non_null(strstr(err.msg, "n_users"));
    fr_synth_config_default(&c);
    c.min_per_user = 600;
    assert_int_equal(fr_synth_generate(&c, &ds, NULL, NULL, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "min_per_user"));
    fr_synth_config_default(&c);
    c.noise = -1;
    assert_int_equal(fr_synth_generate(&c, &ds, NULL, NULL, &err), FR_ERR_USAGE);
    fr_synth_config_default(&c);
    c.mean_per_user = NAN;
    assert_int_equal(fr_synth_generate(&c, &ds, NULL, NULL, &err), FR_ERR_USAGE);
    fr_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_shape_and_invariants),
        cmocka_unit_test(test_popularity_skew),
        cmocka_unit_test(test_planted_structure),
        cmocka_unit_test(test_steep_popularity_fallback),
        cmocka_unit_test(test_bad_config),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
