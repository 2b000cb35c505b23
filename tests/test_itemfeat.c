/* test_itemfeat.c - item feature matrices in dense item order: rows by raw id, rows by
 * a map file (comments, blanks, tabs, lines for items the data lacks), the built-in
 * text encoder as fallback, and the exact message of every bad input.
 *
 * Every matrix, map and data set is a tiny file this test writes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fedrec/alloc.h"
#include "fedrec/dataset.h"
#include "fedrec/itemfeat.h"
#include "fedrec/npy.h"
#include "fedrec/textenc.h"
#include "testutil.h"

/* A data set of items with raw ids 1, 3 and 4 (two users). */
static void small_data(fr_dataset *ds) {
    const int64_t u[] = { 10, 10, 20, 20 };
    const int64_t i[] = { 4, 1, 3, 4 };
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_from_triples(ds, 4, u, i, NULL, NULL, &err), FR_OK);
    snprintf(ds->source, sizeof ds->source, "clicks.csv");
}

/* Writes NAME as an .npy matrix [R x 2] with x[r][c] = 10 r + c; returns its path. */
static const char *write_matrix(const char *name, int64_t R) {
    static char paths[4][700];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 700, "%s/%s", tu_tmpdir(), name);
    float x[64];
    assert_true(R * 2 <= 64);
    for (int64_t r = 0; r < R; r++)
        for (int c = 0; c < 2; c++) x[r * 2 + c] = (float)(10 * r + c);
    fr_error err = { { 0 } };
    assert_int_equal(fr_npy_write(p, x, R, 2, &err), FR_OK);
    return p;
}

/* Expects features item by item to be rows rows[0..N) of write_matrix's matrix. */
static void expect_rows(const float *feat, int32_t dim, const int64_t *rows, int n) {
    assert_int_equal(dim, 2);
    for (int i = 0; i < n; i++) {
        assert_true(feat[2 * i] == (float)(10 * rows[i]));
        assert_true(feat[2 * i + 1] == (float)(10 * rows[i] + 1));
    }
}

/* Expects fr_itemfeat_load to fail with FR_ERR_INPUT and exactly the message want. */
static void load_fails(const fr_dataset *ds, const char *npy, const char *map, const char *want) {
    float *feat = (float *)1;
    int32_t dim = -1;
    fr_error err = { { 0 } };
    assert_int_equal(fr_itemfeat_load(ds, npy, map, &feat, &dim, &err), FR_ERR_INPUT);
    assert_string_equal(err.msg, want);
    assert_null(feat);
    assert_int_equal(dim, 0);
}

static void test_rows_by_raw_id(void **state) {
    (void)state;
    fr_dataset ds;
    small_data(&ds);
    const char *npy = write_matrix("raw.npy", 6);
    float *feat = NULL;
    int32_t dim = 0;
    fr_error err = { { 0 } };
    assert_int_equal(fr_itemfeat_load(&ds, npy, NULL, &feat, &dim, &err), FR_OK);
    const int64_t rows[] = { 1, 3, 4 }; /* rows 0, 2 and 5 are not used */
    expect_rows(feat, dim, rows, 3);
    fr_free(feat);
    assert_int_equal(fr_itemfeat_load(&ds, npy, "", &feat, &dim, &err), FR_OK);
    expect_rows(feat, dim, rows, 3);
    fr_free(feat);
    /* Exactly as many rows as the largest id needs. */
    assert_int_equal(fr_itemfeat_load(&ds, write_matrix("five.npy", 5), NULL, &feat, &dim, &err),
                     FR_OK);
    fr_free(feat);
    fr_dataset_free(&ds);
}

static void test_rows_by_map(void **state) {
    (void)state;
    fr_dataset ds;
    small_data(&ds);
    const char *npy = write_matrix("mapped.npy", 3);
    const char *map = tu_write("items.map", "# raw_item_id row\n"
                                            "4 0\n"
                                            "\n"
                                            "  1\t2   # trailing comment\n"
                                            "99 1\n" /* not an item of the data */
                                            "3 1\r\n");
    float *feat = NULL;
    int32_t dim = 0;
    fr_error err = { { 0 } };
    assert_int_equal(fr_itemfeat_load(&ds, npy, map, &feat, &dim, &err), FR_OK);
    const int64_t rows[] = { 2, 1, 0 }; /* items 1, 3, 4 */
    expect_rows(feat, dim, rows, 3);
    fr_free(feat);
    fr_dataset_free(&ds);
}

static void test_missing_rows(void **state) {
    (void)state;
    fr_dataset ds;
    small_data(&ds);
    char want[1200];
    const char *npy = write_matrix("short.npy", 4);
    snprintf(want, sizeof want, "%s: item 4 (raw id) has no row: the matrix has 4 rows and "
             "row = raw item id without a feature map", npy);
    load_fails(&ds, npy, NULL, want);

    const char *map = tu_write("partial.map", "1 0\n4 1\n");
    snprintf(want, sizeof want, "%s: no line for item 3 (raw id) of the data clicks.csv", map);
    load_fails(&ds, npy, map, want);
    map = tu_write("empty.map", "# nothing\n\n");
    snprintf(want, sizeof want, "%s: no line for item 1 (raw id) of the data clicks.csv", map);
    load_fails(&ds, npy, map, want);
    fr_dataset_free(&ds);
}

/* Writes a map of TEXT and expects "MAP:" + suffix. */
static void map_fails(const fr_dataset *ds, const char *npy, const char *text, const char *suffix) {
    const char *map = tu_write("bad.map", text);
    char want[2400];
    snprintf(want, sizeof want, "%s:%s", map, suffix);
    load_fails(ds, npy, map, want);
}

static void test_bad_map_lines(void **state) {
    (void)state;
    fr_dataset ds;
    small_data(&ds);
    const char *npy = write_matrix("for-maps.npy", 5);
    char suffix[900];
    map_fails(&ds, npy, "1 0\nabc 1\n", "2: field 'raw_item_id': 'abc' is not a number");
    map_fails(&ds, npy, "1 0\n3 1.5\n", "2: field 'row': '1.5' is not an integer");
    map_fails(&ds, npy, "1 0\n3 -1\n", "2: field 'row': -1 is out of range "
                                       "[0, 9223372036854775807]");
    map_fails(&ds, npy, "# a\n1\n", "2: expected 2 fields 'raw_item_id row', found 1");
    map_fails(&ds, npy, "1 0 7\n", "1: expected 2 fields 'raw_item_id row', found 3");
    snprintf(suffix, sizeof suffix, "3: field 'row': 5 is not a row of %s, which has 5 rows",
             npy);
    map_fails(&ds, npy, "1 0\n3 4\n4 5\n", suffix);
    /* Duplicates: the first line that repeats an earlier id, named with that line. */
    map_fails(&ds, npy, "3 1\n1 0\n4 2\n1 3\n3 4\n",
              "4: raw_item_id 1 is mapped already on line 2");
    map_fails(&ds, npy, "7 1\n7 1\n7 2\n", "2: raw_item_id 7 is mapped already on line 1");
    /* A syntax error is reported before a duplicate earlier in the file. */
    map_fails(&ds, npy, "1 0\n1 0\nx 2\n", "3: field 'raw_item_id': 'x' is not a number");
    fr_dataset_free(&ds);
}

static void test_bad_files(void **state) {
    (void)state;
    fr_dataset ds;
    small_data(&ds);
    fr_error err = { { 0 } };
    char want[1200], path[700];
    /* A NaN at row 3, column 1 of the matrix: the file, row and column are named. */
    snprintf(path, sizeof path, "%s", write_matrix("nan.npy", 5));
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    const unsigned char nan_le[4] = { 0x00, 0x00, 0xC0, 0x7F };
    assert_int_equal(fseek(f, -(long)((10 - 7) * 4), SEEK_END), 0); /* element 3*2+1 = 7 */
    assert_int_equal(fwrite(nan_le, 1, 4, f), 4);
    assert_int_equal(fclose(f), 0);
    snprintf(want, sizeof want, "%s: data: row 3, column 1 (0-based) is NaN", path);
    load_fails(&ds, path, NULL, want);
    /* A missing matrix, a missing map. */
    snprintf(path, sizeof path, "%s/none.npy", tu_tmpdir());
    float *feat = NULL;
    int32_t dim = 0;
    assert_int_equal(fr_itemfeat_load(&ds, path, NULL, &feat, &dim, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "none.npy: cannot open"));
    snprintf(path, sizeof path, "%s/none.map", tu_tmpdir());
    assert_int_equal(fr_itemfeat_load(&ds, write_matrix("ok.npy", 5), path, &feat, &dim, &err),
                     FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "none.map: cannot open"));
    assert_null(feat);
    /* A matrix without columns. */
    snprintf(path, sizeof path, "%s/nocols.npy", tu_tmpdir());
    assert_int_equal(fr_npy_write(path, NULL, 5, 0, &err), FR_OK);
    snprintf(want, sizeof want, "%s: field shape: 0 columns; item features need 1 .. "
             "2147483647", path);
    load_fails(&ds, path, NULL, want);
    fr_dataset_free(&ds);
}

static void test_text_features(void **state) {
    (void)state;
    char dir[700];
    snprintf(dir, sizeof dir, "%s/ml", tu_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    tu_write("ml/ratings.dat", "1::1::5::10\n1::3::3::11\n2::4::4::12\n");
    tu_write("ml/movies.dat", "1::Toy Story (1995)::Animation|Comedy\n"
                              "3::Heat (1995)::Action|Crime\n");
    fr_dataset ds;
    fr_error err = { { 0 } };
    assert_int_equal(fr_dataset_load(dir, FR_FORMAT_AUTO, &ds, &err), FR_OK);
    float *feat = NULL, *ref = NULL;
    int32_t dim = 0;
    /* Empty path: the built-in encoder at text_dim; the map is not used. */
    assert_int_equal(fr_itemfeat_text(&ds, "", "/no/such.map", 16, 7, &feat, &dim, &err), FR_OK);
    assert_int_equal(dim, 16);
    assert_int_equal(fr_item_text_features(&ds, 16, 7, &ref, &err), FR_OK);
    assert_memory_equal(feat, ref, 3 * 16 * sizeof(float));
    for (int k = 0; k < 16; k++) assert_true(feat[2 * 16 + k] == 0.0f); /* 4: no title */
    fr_free(feat);
    fr_free(ref);
    assert_int_equal(fr_itemfeat_text(&ds, NULL, NULL, 0, 7, &feat, &dim, &err), FR_ERR_USAGE);
    assert_null(feat);
    /* A path: the .npy rows, by raw id. */
    assert_int_equal(fr_itemfeat_text(&ds, write_matrix("text.npy", 5), NULL, 16, 7, &feat,
                                      &dim, &err), FR_OK);
    const int64_t rows[] = { 1, 3, 4 };
    expect_rows(feat, dim, rows, 3);
    fr_free(feat);
    fr_dataset_free(&ds);

    /* Neither a path nor metadata. */
    small_data(&ds);
    assert_int_equal(fr_itemfeat_text(&ds, "", NULL, 16, 7, &feat, &dim, &err), FR_ERR_INPUT);
    assert_string_equal(err.msg, "clicks.csv: no item text features: mm.text_features is empty "
                                 "and there is no movies.dat or u.item beside the data for the "
                                 "built-in encoder; set mm.text_features to an .npy of item "
                                 "features");
    assert_null(feat);
    assert_int_equal(dim, 0);
    fr_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_by_raw_id),
        cmocka_unit_test(test_rows_by_map),
        cmocka_unit_test(test_missing_rows),
        cmocka_unit_test(test_bad_map_lines),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_text_features),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
