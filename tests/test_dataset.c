/* test_dataset.c - the CSR dataset: building from raw rows, trimming users, formats,
 * summary statistics.
 *
 * Builds every dataset from small in-memory arrays or tiny files written by the test
 * itself; no shared data is needed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fedrec/dataset.h"
#include "testutil.h"

/* Rows (raw user, raw item, rating, time), deliberately out of order, with ties. */
static const int64_t U_RAW[] = { 30, 7, 30, 1000, 7, 30, 7, 30 };
static const int64_t I_RAW[] = { 5, 900, 12, 5, 12, 900, 5, 77 };
static const float RATING[] = { 1, 2, 3, 4, 5, 1.5f, 2.5f, 3.5f };
static const int64_t TIME[] = { 50, 20, 10, 5, 20, 50, 10, 40 };
#define N_ROWS 8

static void test_from_triples_dense_remap(void **state) {
    (void)state;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, N_ROWS, U_RAW, I_RAW, RATING, TIME, &err),
                     FR_OK);
    assert_int_equal(ds.n_users, 3);
    assert_int_equal(ds.n_items, 4);
    assert_int_equal(ds.n_inter, N_ROWS);
    /* Ascending raw ids: users 7, 30, 1000; items 5, 12, 77, 900. */
    assert_int_equal(ds.user_raw[0], 7);
    assert_int_equal(ds.user_raw[1], 30);
    assert_int_equal(ds.user_raw[2], 1000);
    assert_int_equal(ds.item_raw[0], 5);
    assert_int_equal(ds.item_raw[1], 12);
    assert_int_equal(ds.item_raw[2], 77);
    assert_int_equal(ds.item_raw[3], 900);
    assert_int_equal(ds.user_ptr[0], 0);
    assert_int_equal(ds.user_ptr[1], 3);
    assert_int_equal(ds.user_ptr[2], 7);
    assert_int_equal(ds.user_ptr[3], 8);
    fr_dataset_free(&ds);
    assert_null(ds.item);
    fr_dataset_free(&ds); /* freeing twice is harmless */
}

static void test_from_triples_time_order_ties_in_file_order(void **state) {
    (void)state;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, N_ROWS, U_RAW, I_RAW, RATING, TIME, &err),
                     FR_OK);
    /* User 7: rows (900,t20,r2) (12,t20,r5) (5,t10,r2.5) -> 5@10, then the tie at 20 in
     * file order: 900, 12. */
    fr_user_view v = fr_dataset_user(&ds, 0);
    assert_int_equal(v.n, 3);
    assert_int_equal(ds.item_raw[v.item[0]], 5);
    assert_int_equal(ds.item_raw[v.item[1]], 900);
    assert_int_equal(ds.item_raw[v.item[2]], 12);
    assert_true(v.rating[0] == 2.5f && v.rating[1] == 2.0f && v.rating[2] == 5.0f);
    assert_int_equal(v.time[0], 10);
    assert_int_equal(v.time[1], 20);
    assert_int_equal(v.time[2], 20);
    /* User 30: (5,50) (12,10) (900,50) (77,40) -> 12@10, 77@40, 5@50, 900@50. */
    v = fr_dataset_user(&ds, 1);
    assert_int_equal(v.n, 4);
    assert_int_equal(ds.item_raw[v.item[0]], 12);
    assert_int_equal(ds.item_raw[v.item[1]], 77);
    assert_int_equal(ds.item_raw[v.item[2]], 5);
    assert_int_equal(ds.item_raw[v.item[3]], 900);
    assert_true(v.rating[2] == 1.0f && v.rating[3] == 1.5f);
    fr_dataset_free(&ds);
}

static void test_from_triples_without_time_keeps_file_order(void **state) {
    (void)state;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, N_ROWS, U_RAW, I_RAW, NULL, NULL, &err),
                     FR_OK);
    assert_null(ds.rating);
    assert_null(ds.time);
    fr_user_view v = fr_dataset_user(&ds, 1); /* user 30: 5, 12, 900, 77 as in the file */
    assert_int_equal(v.n, 4);
    assert_null(v.rating);
    assert_int_equal(ds.item_raw[v.item[0]], 5);
    assert_int_equal(ds.item_raw[v.item[1]], 12);
    assert_int_equal(ds.item_raw[v.item[2]], 900);
    assert_int_equal(ds.item_raw[v.item[3]], 77);
    fr_dataset_free(&ds);
}

static void test_from_triples_sparse_huge_ids(void **state) {
    (void)state;
    /* Ids far apart take the sort-and-search path rather than the direct table. */
    const int64_t users[] = { INT64_MAX, 0, 5000000000LL, 0 };
    const int64_t items[] = { 1, INT64_MAX, 1, 123456789012LL };
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, 4, users, items, NULL, NULL, &err), FR_OK);
    assert_int_equal(ds.n_users, 3);
    assert_int_equal(ds.n_items, 3);
    assert_true(ds.user_raw[0] == 0 && ds.user_raw[1] == 5000000000LL &&
                ds.user_raw[2] == INT64_MAX);
    assert_true(ds.item_raw[0] == 1 && ds.item_raw[1] == 123456789012LL &&
                ds.item_raw[2] == INT64_MAX);
    fr_user_view v = fr_dataset_user(&ds, 0);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.item[0], 2);
    assert_int_equal(v.item[1], 1);
    fr_dataset_free(&ds);
}

static void test_from_triples_empty(void **state) {
    (void)state;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, 0, NULL, NULL, NULL, NULL, &err), FR_OK);
    assert_int_equal(ds.n_users, 0);
    assert_int_equal(ds.n_inter, 0);
    fr_dataset_free(&ds);
    assert_int_equal(fr_dataset_from_triples(&ds, -1, NULL, NULL, NULL, NULL, &err),
                     FR_ERR_USAGE);
    assert_null(ds.user_ptr);
}

static void test_limit_users(void **state) {
    (void)state;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, N_ROWS, U_RAW, I_RAW, RATING, TIME, &err),
                     FR_OK);
    /* <= 0 and >= n_users keep everything. */
    assert_int_equal(fr_dataset_limit_users(&ds, 0, &err), FR_OK);
    assert_int_equal(ds.n_users, 3);
    assert_int_equal(fr_dataset_limit_users(&ds, 3, &err), FR_OK);
    assert_int_equal(ds.n_users, 3);
    assert_int_equal(ds.n_items, 4);
    /* The first user (raw 7) rated items 5, 900, 12: item 77 disappears. */
    assert_int_equal(fr_dataset_limit_users(&ds, 1, &err), FR_OK);
    assert_int_equal(ds.n_users, 1);
    assert_int_equal(ds.n_items, 3);
    assert_int_equal(ds.n_inter, 3);
    assert_int_equal(ds.user_raw[0], 7);
    assert_int_equal(ds.item_raw[0], 5);
    assert_int_equal(ds.item_raw[1], 12);
    assert_int_equal(ds.item_raw[2], 900);
    fr_user_view v = fr_dataset_user(&ds, 0);
    assert_int_equal(ds.item_raw[v.item[0]], 5);
    assert_int_equal(ds.item_raw[v.item[1]], 900);
    assert_int_equal(ds.item_raw[v.item[2]], 12);
    assert_true(v.rating[0] == 2.5f);
    assert_int_equal(v.time[2], 20);
    fr_dataset_free(&ds);
}

static void test_top_users(void **state) {
    (void)state;
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, N_ROWS, U_RAW, I_RAW, RATING, TIME, &err),
                     FR_OK);
    /* Counts: user 7 has 3 rows, user 30 has 4, user 1000 has 1. */
    assert_int_equal(fr_dataset_top_users(&ds, 0, &err), FR_OK);
    assert_int_equal(ds.n_users, 3);
    assert_int_equal(fr_dataset_top_users(&ds, 5, &err), FR_OK);
    assert_int_equal(ds.n_users, 3);
    /* The top two are 7 and 30, still in ascending raw order; 1000's item 5 is also
     * rated by 7 and 30, so every item stays. */
    assert_int_equal(fr_dataset_top_users(&ds, 2, &err), FR_OK);
    assert_int_equal(ds.n_users, 2);
    assert_int_equal(ds.n_items, 4);
    assert_int_equal(ds.n_inter, 7);
    assert_int_equal(ds.user_raw[0], 7);
    assert_int_equal(ds.user_raw[1], 30);
    assert_int_equal(ds.user_ptr[1], 3);
    assert_int_equal(ds.user_ptr[2], 7);
    /* The top one is 30 (4 rows): its rows in time order 12 (10), 77 (40), 5 (50),
     * 900 (50), with ratings and times moved along. */
    assert_int_equal(fr_dataset_top_users(&ds, 1, &err), FR_OK);
    assert_int_equal(ds.n_users, 1);
    assert_int_equal(ds.user_raw[0], 30);
    assert_int_equal(ds.n_inter, 4);
    assert_int_equal(ds.n_items, 4);
    fr_user_view v = fr_dataset_user(&ds, 0);
    assert_int_equal(v.n, 4);
    assert_int_equal(ds.item_raw[v.item[0]], 12);
    assert_int_equal(ds.item_raw[v.item[1]], 77);
    assert_int_equal(ds.item_raw[v.item[2]], 5);
    assert_int_equal(ds.item_raw[v.item[3]], 900);
    assert_true(v.rating[0] == 3.0f && v.rating[1] == 3.5f && v.rating[3] == 1.5f);
    assert_int_equal(v.time[1], 40);
    fr_dataset_free(&ds);
}

static void test_top_users_ties_and_dropped_items(void **state) {
    (void)state;
    /* Users 9 and 4 have two rows each, 2 has one; items 100 and 200 belong only to
     * users that are dropped. */
    const int64_t u[] = { 9, 2, 4, 9, 4 };
    const int64_t i[] = { 200, 100, 300, 200, 400 };
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&ds, 5, u, i, NULL, NULL, &err), FR_OK);
    /* Keeping one of two users with two rows: the smaller raw id, 4. */
    assert_int_equal(fr_dataset_top_users(&ds, 1, &err), FR_OK);
    assert_int_equal(ds.n_users, 1);
    assert_int_equal(ds.user_raw[0], 4);
    assert_int_equal(ds.n_items, 2);
    assert_int_equal(ds.item_raw[0], 300);
    assert_int_equal(ds.item_raw[1], 400);
    assert_int_equal(ds.item[0], 0);
    assert_int_equal(ds.item[1], 1);
    assert_null(ds.rating);
    assert_null(ds.time);
    fr_dataset_free(&ds);
}

static void test_format_names(void **state) {
    (void)state;
    const char *names[] = { "auto", "movielens", "ml100k", "csv", "tsv", "seq", "pairs",
                            "synthetic" };
    const fr_format formats[] = { FR_FORMAT_AUTO, FR_FORMAT_ML_DAT, FR_FORMAT_ML100K,
                                  FR_FORMAT_CSV, FR_FORMAT_TSV, FR_FORMAT_SEQ,
                                  FR_FORMAT_PAIRS, FR_FORMAT_SYNTHETIC };
    fr_error err = { { 0 } };
    for (int k = 0; k < 8; k++) {
        fr_format f = FR_FORMAT_AUTO;
        assert_int_equal(fr_format_parse(names[k], &f, &err), FR_OK);
        assert_int_equal(f, formats[k]);
        assert_string_equal(fr_format_name(formats[k]), names[k]);
    }
    fr_format f;
    assert_int_equal(fr_format_parse("parquet", &f, &err), FR_ERR_USAGE);
    assert_non_null(strstr(err.msg, "'parquet'"));
    assert_non_null(strstr(err.msg, "movielens"));
}

/* ---- statistics ------------------------------------------------------------------- */

static void test_stats_tiny_file(void **state) {
    (void)state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/stats", tu_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    /* Users 1 (3 ratings), 2 (1 rating), 3 (4 ratings); ratings 5,3,4 | 1 | 2,5,4,4. */
    tu_write("stats/ratings.dat",
             "1::10::5::100\n1::20::3::101\n1::30::4::102\n"
             "2::10::1::100\n"
             "3::10::2::100\n3::20::5::101\n3::40::4::102\n3::50::4::103\n");
    /* Genres over the movies that have ratings: Drama x3, Comedy x2, Action x2 (ties by
     * name: Action before Comedy), Horror x1. Movie 99 has no ratings and is ignored. */
    tu_write("stats/movies.dat",
             "10::Ten (1990)::Drama|Comedy\n20::Twenty (1991)::Drama\n"
             "30::Thirty (1992)::Action|Comedy\n40::Forty (1993)::Action|Drama|Horror\n"
             "99::Unrated (1999)::Western\n");
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_load(dir, FR_FORMAT_AUTO, &ds, &err), FR_OK);
    fr_dataset_stats st;
    assert_int_equal(fr_dataset_stats_compute(&ds, &st, &err), FR_OK);
    assert_int_equal(st.n_users, 3);
    assert_int_equal(st.n_items, 5);
    assert_int_equal(st.n_inter, 8);
    assert_true(fabs(st.density - 8.0 / 15.0) < 1e-12);
    assert_int_equal(st.has_rating, 1);
    assert_true(fabs(st.rating_mean - 28.0 / 8.0) < 1e-12);
    assert_true(fabs(st.rating_median - 4.0) < 1e-12); /* 1 2 3 4 4 4 5 5 */
    const int64_t hist[10] = { 1, 1, 1, 3, 2, 0, 0, 0, 0, 0 };
    for (int k = 0; k < 10; k++) assert_int_equal(st.rating_hist[k], hist[k]);
    assert_int_equal(st.per_user_min, 1);
    assert_int_equal(st.per_user_max, 4);
    assert_true(fabs(st.per_user_mean - 8.0 / 3.0) < 1e-12);
    assert_true(fabs(st.per_user_median - 3.0) < 1e-12);
    assert_int_equal(st.per_user_p10, 1);
    assert_int_equal(st.per_user_p90, 4);
    assert_int_equal(st.n_genres, 4);
    assert_string_equal(st.genre_name[0], "Drama");
    assert_int_equal(st.genre_count[0], 3);
    assert_string_equal(st.genre_name[1], "Action");
    assert_int_equal(st.genre_count[1], 2);
    assert_string_equal(st.genre_name[2], "Comedy");
    assert_int_equal(st.genre_count[2], 2);
    assert_string_equal(st.genre_name[3], "Horror");
    assert_int_equal(st.genre_count[3], 1);
    fr_dataset_free(&ds);
}

static void test_stats_implicit_even_median(void **state) {
    (void)state;
    const int64_t users[] = { 1, 1, 2, 2, 2, 2 };
    const int64_t items[] = { 1, 2, 1, 2, 3, 4 };
    const float ratings[] = { 1, 2, 3, 4, 0.2f, 12 };
    fr_dataset ds;
    fr_error err = { { 0 } };
    fr_dataset_stats st;
    assert_int_equal(fr_dataset_from_triples(&ds, 6, users, items, NULL, NULL, &err), FR_OK);
    assert_int_equal(fr_dataset_stats_compute(&ds, &st, &err), FR_OK);
    assert_int_equal(st.has_rating, 0);
    assert_int_equal(st.n_genres, 0);
    assert_true(fabs(st.per_user_median - 3.0) < 1e-12); /* counts 2 and 4 */
    fr_dataset_free(&ds);
    /* Ratings outside 1..10 land in the end bins; the median of an even count is the
     * mean of the two middle values. */
    assert_int_equal(fr_dataset_from_triples(&ds, 6, users, items, ratings, NULL, &err), FR_OK);
    assert_int_equal(fr_dataset_stats_compute(&ds, &st, &err), FR_OK);
    assert_true(fabs(st.rating_median - 2.5) < 1e-12);
    assert_int_equal(st.rating_hist[0], 2);
    assert_int_equal(st.rating_hist[9], 1);
    fr_dataset_free(&ds);
}

/* The random hold-out: each user's rows permuted together (same multiset, ratings and
 * times still with their items), seeded, and chosen by data.holdout = auto only for a
 * TSV without a time column. */
static void test_shuffle_users(void **state) {
    (void)state;
    enum { U = 40, PER = 12 };
    int64_t users[U * PER], items[U * PER], times[U * PER];
    float ratings[U * PER];
    for (int i = 0; i < U * PER; i++) {
        users[i] = i / PER;
        items[i] = (i * 7) % 97;
        ratings[i] = (float)items[i];
        times[i] = i;
    }
    fr_dataset a, b;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(&a, U * PER, users, items, ratings, times, &err), FR_OK);
    assert_int_equal(fr_dataset_from_triples(&b, U * PER, users, items, ratings, times, &err), FR_OK);
    fr_dataset_shuffle_users(&a, 9);
    fr_dataset_shuffle_users(&b, 9);
    assert_memory_equal(a.item, b.item, sizeof(int32_t) * U * PER); /* seeded */
    int moved = 0, last_moved = 0;
    for (int32_t u = 0; u < U; u++) {
        fr_user_view v = fr_dataset_user(&a, u);
        int64_t tsum = 0;
        for (int64_t i = 0; i < v.n; i++) {
            assert_true(v.rating[i] == (float)a.item_raw[v.item[i]]); /* rows stay whole */
            tsum += v.time[i];
            moved += v.time[i] != u * PER + i;
        }
        assert_true(tsum == (int64_t)PER * u * PER + PER * (PER - 1) / 2); /* a permutation */
        last_moved += v.time[v.n - 1] != u * PER + PER - 1;
    }
    assert_true(moved > U * PER / 2);
    assert_true(last_moved > U / 2); /* the held-out item is mostly not the file's last */
    fr_dataset_shuffle_users(&b, 10);
    assert_memory_not_equal(a.item, b.item, sizeof(int32_t) * U * PER);
    fr_dataset_free(&a);
    fr_dataset_free(&b);
    /* auto: a TSV without time is unordered; with time, or a sequence file, it is not */
    fr_dataset ds;
    const char *p = tu_write("nt.tsv", "user\titem\n1\t2\n1\t3\n2\t2\n");
    assert_int_equal(fr_dataset_load(p, FR_FORMAT_AUTO, &ds, &err), FR_OK);
    assert_true(fr_dataset_unordered(&ds));
    fr_dataset_free(&ds);
    p = tu_write("t.tsv", "user\titem\ttimestamp\n1\t2\t5\n1\t3\t4\n2\t2\t1\n");
    assert_int_equal(fr_dataset_load(p, FR_FORMAT_AUTO, &ds, &err), FR_OK);
    assert_false(fr_dataset_unordered(&ds));
    fr_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_triples_dense_remap),
        cmocka_unit_test(test_from_triples_time_order_ties_in_file_order),
        cmocka_unit_test(test_from_triples_without_time_keeps_file_order),
        cmocka_unit_test(test_from_triples_sparse_huge_ids),
        cmocka_unit_test(test_from_triples_empty),
        cmocka_unit_test(test_limit_users),
        cmocka_unit_test(test_top_users),
        cmocka_unit_test(test_top_users_ties_and_dropped_items),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_stats_tiny_file),
        cmocka_unit_test(test_stats_implicit_even_median),
        cmocka_unit_test(test_shuffle_users),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
