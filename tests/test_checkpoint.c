/* test_checkpoint.c - train.init_from: a checkpoint of a small layout loaded by name into
 * a bigger one (extra tensors keep their values, the file's optimizer moments are
 * ignored), 1-D tensors into [1 x n], and the exact message of every refusal (shape
 * mismatch, no common tensor, no tensors, missing and malformed files), each leaving
 * the parameters untouched.
 */
#include <stdio.h>
#include <string.h>

#include "fedrec/checkpoint.h"
#include "testutil.h"

/* Writes a checkpoint of a [2 x 3] and b [1 x 4] (values 1..10) with Adam moments;
 * returns its path (static storage). */
static const char *write_small(void) {
    static char path[700];
    snprintf(path, sizeof path, "%s/small.safetensors", tu_tmpdir());
    fr_param_layout L;
    memset(&L, 0, sizeof L);
    assert_int_equal(fr_layout_add(&L, "a", 2, 3, FR_SCOPE_GLOBAL, 0), 0);
    assert_int_equal(fr_layout_add(&L, "b", 1, 4, FR_SCOPE_GLOBAL, 0), 1);
    assert_int_equal(L.size, 10);
    float params[10], m[10], v[10];
    for (int k = 0; k < 10; k++) {
        params[k] = (float)(k + 1);
        m[k] = -1.0f;
        v[k] = -2.0f;
    }
    fr_config c;
    fr_config_defaults(&c);
    fr_dataset ds;
    memset(&ds, 0, sizeof ds);
    fr_checkpoint_info info = { "sasrec", &c, 3, "server_optimizer", m, v, 3, &ds };
    fr_error err = { { 0 } };
    assert_int_equal(fr_checkpoint_write(path, &L, params, &info, &err), FR_OK);
    return path;
}

/* Fills params[n] with 100 + k. */
static void fill_init(float *params, int n) {
    for (int k = 0; k < n; k++) params[k] = (float)(100 + k);
}

static void test_load_into_bigger_layout(void **state) {
    (void)state;
    const char *path = write_small();
    /* The bigger model: c before, a, b, and d after; names decide, not positions. */
    fr_param_layout L;
    memset(&L, 0, sizeof L);
    fr_layout_add(&L, "c", 3, 3, FR_SCOPE_GLOBAL, 0);
    fr_layout_add(&L, "b", 1, 4, FR_SCOPE_GLOBAL, 0);
    fr_layout_add(&L, "a", 2, 3, FR_SCOPE_GLOBAL, 1);
    fr_layout_add(&L, "d", 1, 2, FR_SCOPE_LOCAL, 0);
    assert_int_equal(L.size, 21);
    float params[21];
    fill_init(params, 21);
    uint8_t loaded[4] = { 9, 9, 9, 9 };
    int n = -1;
    fr_error err = { { 0 } };
    assert_int_equal(fr_checkpoint_init_from(path, &L, params, loaded, &n, &err), FR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(loaded[0], 0);
    assert_int_equal(loaded[1], 1);
    assert_int_equal(loaded[2], 1);
    assert_int_equal(loaded[3], 0);
    for (int k = 0; k < 9; k++) assert_true(params[k] == (float)(100 + k));   /* c kept */
    for (int k = 0; k < 4; k++) assert_true(params[9 + k] == (float)(7 + k)); /* b */
    for (int k = 0; k < 6; k++) assert_true(params[13 + k] == (float)(1 + k)); /* a */
    assert_true(params[19] == 119.0f && params[20] == 120.0f);                /* d kept */
    /* loaded and n_loaded may be NULL. */
    assert_int_equal(fr_checkpoint_init_from(path, &L, params, NULL, NULL, &err), FR_OK);
}

static void test_one_dimensional_tensors(void **state) {
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/flat.safetensors", tu_tmpdir());
    float bias[3] = { 1, 2, 3 };
    fr_st_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "bias");
    t.ndim = 1;
    t.shape[0] = 3;
    t.numel = 3;
    t.data = bias;
    fr_error err = { { 0 } };
    assert_int_equal(fr_safetensors_write(path, &t, 1, NULL, &err), FR_OK);
    fr_param_layout L;
    memset(&L, 0, sizeof L);
    fr_layout_add(&L, "bias", 1, 3, FR_SCOPE_GLOBAL, 0);
    float params[3] = { 0, 0, 0 };
    int n = 0;
    assert_int_equal(fr_checkpoint_init_from(path, &L, params, NULL, &n, &err), FR_OK);
    assert_int_equal(n, 1);
    assert_true(params[0] == 1.0f && params[2] == 3.0f);
    /* [3 x 1] takes it too; [3 x 3] does not. */
    L.t[0].rows = 3;
    L.t[0].cols = 1;
    assert_int_equal(fr_checkpoint_init_from(path, &L, params, NULL, &n, &err), FR_OK);
    L.t[0].cols = 3;
    L.size = 9;
    float big[9] = { 0 };
    char want[1200];
    snprintf(want, sizeof want, "%s: tensor 'bias' is 3 in the file but 3 x 3 in the model", path);
    assert_int_equal(fr_checkpoint_init_from(path, &L, big, NULL, &n, &err), FR_ERR_INPUT);
    assert_string_equal(err.msg, want);
}

static void test_refusals_leave_params(void **state) {
    (void)state;
    const char *path = write_small();
    char want[1200];
    fr_error err = { { 0 } };
    /* b matches and comes first, a does not: nothing may be copied. */
    fr_param_layout L;
    memset(&L, 0, sizeof L);
    fr_layout_add(&L, "b", 1, 4, FR_SCOPE_GLOBAL, 0);
    fr_layout_add(&L, "a", 3, 2, FR_SCOPE_GLOBAL, 0);
    float params[10];
    fill_init(params, 10);
    uint8_t loaded[2] = { 9, 9 };
    int n = -1;
    assert_int_equal(fr_checkpoint_init_from(path, &L, params, loaded, &n, &err), FR_ERR_INPUT);
    snprintf(want, sizeof want, "%s: tensor 'a' is 2 x 3 in the file but 3 x 2 in the model", path);
    assert_string_equal(err.msg, want);
    for (int k = 0; k < 10; k++) assert_true(params[k] == (float)(100 + k));
    assert_int_equal(n, 0);
    assert_true(loaded[0] == 0 && loaded[1] == 0);

    /* No tensor in common. */
    memset(&L, 0, sizeof L);
    fr_layout_add(&L, "z", 2, 5, FR_SCOPE_GLOBAL, 0);
    assert_int_equal(fr_checkpoint_init_from(path, &L, params, NULL, &n, &err), FR_ERR_INPUT);
    snprintf(want, sizeof want, "%s: none of its 4 tensors ('a', 'b', 'server_optimizer.m', "
             "...) is a tensor of this model", path);
    assert_string_equal(err.msg, want);
    for (int k = 0; k < 10; k++) assert_true(params[k] == (float)(100 + k));

    /* A file without tensors. */
    char empty[700];
    snprintf(empty, sizeof empty, "%s/empty.safetensors", tu_tmpdir());
    assert_int_equal(fr_safetensors_write(empty, NULL, 0, NULL, &err), FR_OK);
    assert_int_equal(fr_checkpoint_init_from(empty, &L, params, NULL, &n, &err), FR_ERR_INPUT);
    snprintf(want, sizeof want, "%s: holds no tensors to start the model from", empty);
    assert_string_equal(err.msg, want);

    /* A missing file and one that is not safetensors. */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/none.safetensors", tu_tmpdir());
    assert_int_equal(fr_checkpoint_init_from(missing, &L, params, NULL, &n, &err), FR_ERR_INPUT);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", missing);
    assert_string_equal(err.msg, want);
    const char *junk = tu_write("junk.safetensors", "not a checkpoint");
    assert_int_equal(fr_checkpoint_init_from(junk, &L, params, NULL, &n, &err), FR_ERR_INPUT);
    assert_int_equal(strncmp(err.msg, junk, strlen(junk)), 0);
    for (int k = 0; k < 10; k++) assert_true(params[k] == (float)(100 + k));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_into_bigger_layout),
        cmocka_unit_test(test_one_dimensional_tensors),
        cmocka_unit_test(test_refusals_leave_params),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
