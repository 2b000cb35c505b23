/* test_shared_data.c - the loaders on the real data kept in ../shared/data.
 *
 * Checks the counts listed in ../shared/data/README.md. That data is research-only and
 * never part of the repository: each case is skipped when its folder is absent, and the
 * whole test exits 77 (CTest: skipped) when none is there.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fedrec/dataset.h"
#include "testutil.h"

/* Loads ../shared/data/NAME, or skips the test when it is absent. */
static int load_shared(const char *name, fr_dataset *ds, double *seconds) {
    const char *p = tu_shared_data(name);
    if (!p) return 0;
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    fr_error err = { { 0 } };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fr_status st = fr_dataset_load(path, FR_FORMAT_AUTO, ds, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st != FR_OK) fail_msg("loading %s: %s", path, err.msg);
    if (seconds)
        *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return 1;
}

/* 1 when S is valid UTF-8. */
static int valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                  : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (extra < 0) return 0;
        p++;
        for (int k = 0; k < extra; k++, p++)
            if ((*p & 0xC0) != 0x80) return 0;
    }
    return 1;
}

/* Number of item titles with a byte >= 0x80; fails on any invalid UTF-8 title. */
static int count_non_ascii_titles(const fr_dataset *ds) {
    int n = 0;
    for (int32_t i = 0; i < ds->n_items; i++) {
        const char *t = ds->items_meta->title[i];
        if (!t) continue;
        assert_true(valid_utf8(t));
        for (const char *c = t; *c; c++) {
            if ((unsigned char)*c >= 0x80) {
                n++;
                break;
            }
        }
    }
    return n;
}

static int32_t dense_item(const fr_dataset *ds, int64_t raw) {
    for (int32_t i = 0; i < ds->n_items; i++)
        if (ds->item_raw[i] == raw) return i;
    return -1;
}

static void test_ml100k(void **state) {
    (void)state;
    fr_dataset ds;
    if (!load_shared("ml-100k", &ds, NULL)) skip();
    assert_int_equal(ds.format, FR_FORMAT_ML100K);
    assert_int_equal(ds.n_users, 943);
    assert_int_equal(ds.n_items, 1682);
    assert_int_equal(ds.n_inter, 100000);
    fr_dataset_stats st;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_stats_compute(&ds, &st, &err), FR_OK);
    const int64_t hist[5] = { 6110, 11370, 27145, 34174, 21201 };
    for (int r = 0; r < 5; r++) assert_int_equal(st.rating_hist[r], hist[r]);
    assert_int_equal(st.per_user_min, 20);
    int64_t tmin = ds.time[0], tmax = ds.time[0];
    for (int64_t k = 0; k < ds.n_inter; k++) {
        if (ds.time[k] < tmin) tmin = ds.time[k];
        if (ds.time[k] > tmax) tmax = ds.time[k];
    }
    assert_int_equal(tmin, 874724710);
    assert_int_equal(tmax, 893286638);
    assert_non_null(ds.items_meta);
    assert_non_null(ds.users_meta);
    assert_string_equal(ds.items_meta->title[0], "Toy Story (1995)");
    assert_string_equal(ds.items_meta->genres[0], "Animation|Children's|Comedy");
    assert_int_equal(count_non_ascii_titles(&ds), 9); /* README: 9 Latin-1 lines */
    assert_int_equal(ds.users_meta->age[0], 24);
    assert_string_equal(ds.users_meta->occupation[0], "technician");
    fr_dataset_free(&ds);
}

static void test_ml1m_half(void **state) {
    (void)state;
    fr_dataset ds;
    double seconds = 0;
    if (!load_shared("ml-1m-half", &ds, &seconds)) skip();
    print_message("ml-1m-half/ratings.dat loaded in %.3f s\n", seconds);
    assert_int_equal(ds.format, FR_FORMAT_ML_DAT);
    assert_int_equal(ds.n_users, 2999);
    assert_int_equal(ds.n_items, 3615);
    assert_int_equal(ds.n_inter, 487650);
    assert_int_equal(ds.user_raw[0], 1);
    assert_int_equal(ds.user_raw[2998], 2999);
    for (int32_t u = 0; u < ds.n_users; u++) {
        fr_user_view v = fr_dataset_user(&ds, u);
        for (int64_t k = 1; k < v.n; k++) assert_true(v.time[k] >= v.time[k - 1]);
    }
    assert_non_null(ds.items_meta);
    int32_t i73 = dense_item(&ds, 73);
    assert_true(i73 >= 0);
    assert_string_equal(ds.items_meta->title[i73], "Mis\xC3\xA9rables, Les (1995)");
    assert_true(count_non_ascii_titles(&ds) > 0);
    assert_non_null(ds.users_meta);
    assert_int_equal(ds.users_meta->gender[0], 'F');
    assert_string_equal(ds.users_meta->zip[0], "48067");

    /* The TFF tutorial's first 2000 users. */
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_limit_users(&ds, 2000, &err), FR_OK);
    assert_int_equal(ds.n_users, 2000);
    assert_int_equal(ds.user_raw[1999], 2000);
    assert_true(ds.n_items <= 3615);
    assert_string_equal(ds.items_meta->title[dense_item(&ds, 73)],
                        "Mis\xC3\xA9rables, Les (1995)");
    fr_dataset_free(&ds);
}

static void test_beauty(void **state) {
    (void)state;
    fr_dataset ds;
    if (!load_shared("beauty", &ds, NULL)) skip();
    assert_int_equal(ds.format, FR_FORMAT_SEQ);
    assert_int_equal(ds.n_users, 22363);
    assert_int_equal(ds.n_items, 12101);
    assert_int_equal(ds.n_inter, 198502);
    assert_null(ds.rating);
    fr_dataset_stats st;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_stats_compute(&ds, &st, &err), FR_OK);
    assert_int_equal(st.per_user_min, 5);
    assert_int_equal(st.per_user_max, 204);
    fr_dataset_free(&ds);
}

static void test_lastfm(void **state) {
    (void)state;
    fr_dataset ds;
    if (!load_shared("lastfm-2k", &ds, NULL)) skip();
    assert_int_equal(ds.format, FR_FORMAT_TSV);
    assert_int_equal(ds.n_users, 1892);
    assert_int_equal(ds.n_items, 17632);
    assert_int_equal(ds.n_inter, 92834);
    assert_int_equal(ds.user_raw[0], 2);
    assert_int_equal(ds.user_raw[1891], 2100);
    assert_int_equal(ds.item_raw[17631], 18745);
    float lo = ds.rating[0], hi = ds.rating[0];
    for (int64_t k = 0; k < ds.n_inter; k++) {
        if (ds.rating[k] < lo) lo = ds.rating[k];
        if (ds.rating[k] > hi) hi = ds.rating[k];
    }
    assert_true(lo == 1.0f && hi == 352698.0f);
    fr_dataset_free(&ds);
}

int main(void) {
    const char *names[] = { "ml-100k", "ml-1m-half", "beauty", "lastfm-2k" };
    int present = 0;
    for (int k = 0; k < 4; k++) present += tu_shared_data(names[k]) != NULL;
    if (!present) {
        printf("SKIP: ../shared/data not present\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml100k),
        cmocka_unit_test(test_ml1m_half),
        cmocka_unit_test(test_beauty),
        cmocka_unit_test(test_lastfm),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
