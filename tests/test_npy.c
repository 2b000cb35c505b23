/* test_npy.c - .npy reading and writing: files built byte by byte for every dtype,
 * byte order, layout and format version the reader accepts, a round trip through the
 * writer (checked against the exact bytes np.save writes), and the exact message of
 * every malformed file.
 *
 * Leaves out: comparing with real NumPy (not installed where the tests run); the
 * expected bytes below are the format as NEP 1 and numpy/lib/format.py define it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"
#include "fedrec/npy.h"
#include "testutil.h"

/* ---- building files --------------------------------------------------------------- */

/* Writes bytes[n] to tmpdir/NAME and returns the path (static rotating storage). */
static const char *write_raw(const char *name, const void *bytes, size_t n) {
    static char paths[4][700];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 700, "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* Writes a .npy file: magic, version MAJOR.0, the header length (2 bytes for 1.0, 4
 * otherwise), DICT padded with spaces and a '\n' to a multiple of 64 bytes as np.save
 * does, then data[n]. */
static const char *write_npy(const char *name, int major, const char *dict, const void *data,
                             size_t n) {
    unsigned char buf[1024];
    size_t pre = major == 1 ? 10 : 12, dlen = strlen(dict);
    size_t total = (pre + dlen + 1 + 63) / 64 * 64, hlen = total - pre;
    assert_true(total + n <= sizeof buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, dict, dlen);
    memset(buf + pre + dlen, ' ', hlen - dlen - 1);
    buf[total - 1] = '\n';
    if (n) memcpy(buf + total, data, n);
    return write_raw(name, buf, total + n);
}

/* The header dict np.save writes for DESCR, FORTRAN ("True"/"False") and SHAPE
 * (static rotating storage). */
static const char *npy_dict(const char *descr, const char *fortran, const char *shape) {
    static char bufs[4][200];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, 200, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fortran,
             shape);
    return b;
}

/* Reads PATH and expects success with shape [R x C] and values want[R*C] exactly. */
static void read_expect(const char *path, int64_t R, int64_t C, const float *want) {
    float *x;
    int64_t r, c;
    fr_error err = { { 0 } };
    fr_status st = fr_npy_read(path, &x, &r, &c, &err);
    if (st != FR_OK) fail_msg("reading %s failed: %s", path, err.msg);
    assert_int_equal(r, R);
    assert_int_equal(c, C);
    for (int64_t i = 0; i < R * C; i++)
        if (x[i] != want[i])
            fail_msg("%s: element %d is %a, expected %a", path, (int)i, x[i], want[i]);
    fr_free(x);
}

/* Reads PATH and expects FR_ERR_INPUT with exactly the message "PATH" + SUFFIX. */
static void read_fails(const char *path, const char *suffix) {
    float *x = (float *)&x;
    int64_t r = 7, c = 7;
    fr_error err = { { 0 } };
    char expect[1400];
    snprintf(expect, sizeof expect, "%s%s", path, suffix);
    assert_int_equal(fr_npy_read(path, &x, &r, &c, &err), FR_ERR_INPUT);
    assert_string_equal(err.msg, expect);
    assert_null(x);
    assert_int_equal(r, 0);
    assert_int_equal(c, 0);
}

/* A file with a valid header for DICT and nbytes of zero data. */
static void header_fails(const char *dict, size_t nbytes, const char *suffix) {
    unsigned char zeros[256] = { 0 };
    assert_true(nbytes <= sizeof zeros);
    read_fails(write_npy("bad.npy", 1, dict, zeros, nbytes), suffix);
}

/* ---- what the reader accepts ------------------------------------------------------ */

static void test_little_endian_f4(void **state) {
    (void)state;
    /* 1.0, -2.5, 0.25, 3.0, 100.0, -0.0 as little-endian float32 */
    const unsigned char data[24] = { 0, 0, 0x80, 0x3F,   0, 0, 0x20, 0xC0, 0, 0, 0x80, 0x3E,
                                     0, 0, 0x40, 0x40,   0, 0, 0xC8, 0x42, 0, 0, 0, 0x80 };
    const float want[6] = { 1.0f, -2.5f, 0.25f, 3.0f, 100.0f, -0.0f };
    read_expect(write_npy("f4.npy", 1, npy_dict("<f4", "False", "(2, 3)"), data, 24), 2, 3, want);
}

static void test_f8_and_f2(void **state) {
    (void)state;
    /* <f8: 1.0, -2.0, 0.5, 3.0 */
    const unsigned char f8[32] = { 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0x00, 0xC0,
                                   0, 0, 0, 0, 0, 0, 0xE0, 0x3F, 0, 0, 0, 0, 0, 0, 0x08, 0x40 };
    const float want8[4] = { 1.0f, -2.0f, 0.5f, 3.0f };
    read_expect(write_npy("f8.npy", 1, npy_dict("<f8", "False", "(2, 2)"), f8, 32), 2, 2, want8);
    /* <f2: 1.0 (3C00), -2.0 (C000), 0.5 (3800), 65504 (7BFF, the largest half),
     * 2^-24 (0001, the smallest subnormal), -0.0 (8000) */
    const unsigned char f2[12] = { 0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38,
                                   0xFF, 0x7B, 0x01, 0x00, 0x00, 0x80 };
    const float want2[6] = { 1.0f, -2.0f, 0.5f, 65504.0f, 0x1p-24f, -0.0f };
    read_expect(write_npy("f2.npy", 1, npy_dict("<f2", "False", "(3, 2)"), f2, 12), 3, 2, want2);
}

static void test_big_endian(void **state) {
    (void)state;
    const float want[2] = { 1.0f, -2.5f };
    const unsigned char f4[8] = { 0x3F, 0x80, 0, 0, 0xC0, 0x20, 0, 0 };
    read_expect(write_npy("be4.npy", 1, npy_dict(">f4", "False", "(1, 2)"), f4, 8), 1, 2, want);
    const unsigned char f8[16] = { 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0xC0, 0x04, 0, 0, 0, 0, 0, 0 };
    read_expect(write_npy("be8.npy", 1, npy_dict(">f8", "False", "(1, 2)"), f8, 16), 1, 2, want);
    const unsigned char f2[4] = { 0x3C, 0x00, 0xC1, 0x00 };
    read_expect(write_npy("be2.npy", 1, npy_dict(">f2", "False", "(1, 2)"), f2, 4), 1, 2, want);
}

static void test_fortran_order(void **state) {
    (void)state;
    /* The 2 x 3 matrix [[1, 2, 3], [4, 5, 6]] stored column by column: 1 4 2 5 3 6. */
    const unsigned char data[24] = { 0, 0, 0x80, 0x3F, 0, 0, 0x80, 0x40, 0, 0, 0x00, 0x40,
                                     0, 0, 0xA0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0xC0, 0x40 };
    const float want[6] = { 1, 2, 3, 4, 5, 6 };
    read_expect(write_npy("fortran.npy", 1, npy_dict("<f4", "True", "(2, 3)"), data, 24), 2, 3,
                want);
}

static void test_versions_2_and_3(void **state) {
    (void)state;
    const unsigned char data[8] = { 0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0 };
    const float want[2] = { 1.0f, -2.5f };
    read_expect(write_npy("v2.npy", 2, npy_dict("<f4", "False", "(2, 1)"), data, 8), 2, 1, want);
    read_expect(write_npy("v3.npy", 3, npy_dict("<f4", "False", "(1, 2)"), data, 8), 1, 2, want);
}

static void test_one_dimensional(void **state) {
    (void)state;
    const unsigned char data[12] = { 0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0, 0, 0, 0x80, 0x3E };
    const float want[3] = { 1.0f, -2.5f, 0.25f };
    read_expect(write_npy("1d.npy", 1, npy_dict("<f4", "False", "(3,)"), data, 12), 3, 1, want);
    read_expect(write_npy("1df.npy", 1, npy_dict("<f4", "True", "(3,)"), data, 12), 3, 1, want);
}

static void test_header_literal_variants(void **state) {
    (void)state;
    const unsigned char data[8] = { 0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0 };
    const float want[2] = { 1.0f, -2.5f };
    /* Keys in another order, double quotes, Python 2 longs, no trailing commas, tabs. */
    read_expect(write_npy("var1.npy", 1, "{\"shape\":(1L,2L),\"descr\":\"<f4\",\t"
                          "\"fortran_order\":False}", data, 8), 1, 2, want);
    read_expect(write_npy("var2.npy", 1, "{ 'fortran_order' : False , 'shape' : ( 2 , 1 , ) , "
                          "'descr' : '<f4' , }", data, 8), 2, 1, want);
}

static void test_empty_array(void **state) {
    (void)state;
    float *x;
    int64_t r, c;
    fr_error err = { { 0 } };
    const char *p = write_npy("empty.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                              "'shape': (0, 5), }", NULL, 0);
    assert_int_equal(fr_npy_read(p, &x, &r, &c, &err), FR_OK);
    assert_int_equal(r, 0);
    assert_int_equal(c, 5);
    assert_non_null(x);
    fr_free(x);
}

/* ---- the writer ------------------------------------------------------------------- */

/* Number of entries in the test directory whose name contains PART. */
static int count_files(const char *part) {
    DIR *d = opendir(tu_tmpdir());
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static void test_write_exact_bytes_and_round_trip(void **state) {
    (void)state;
    const float x[6] = { 1.0f, -2.5f, 0.25f, 3.0f, 1e-30f, -3.4e38f }; /* [2 x 3] */
    char path[700];
    snprintf(path, sizeof path, "%s/out.npy", tu_tmpdir());
    fr_error err = { { 0 } };
    assert_int_equal(fr_npy_write(path, x, 2, 3, &err), FR_OK);

    /* np.save(path, np.float32 array of shape (2, 3)) writes exactly this header. */
    char *buf;
    size_t len;
    assert_int_equal(fr_read_file(path, &buf, &len, &err), FR_OK);
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_int_equal(len, 128 + 24);
    assert_memory_equal(buf, "\x93NUMPY\x01\x00\x76\x00", 10); /* header length 118 */
    assert_memory_equal(buf + 10, dict, sizeof dict - 1);
    for (size_t i = 10 + sizeof dict - 1; i < 127; i++) assert_int_equal(buf[i], ' ');
    assert_int_equal(buf[127], '\n');
    assert_memory_equal(buf + 128, "\x00\x00\x80\x3F\x00\x00\x20\xC0", 8);
    fr_free(buf);

    const float want[6] = { 1.0f, -2.5f, 0.25f, 3.0f, 1e-30f, -3.4e38f };
    read_expect(path, 2, 3, want);
    assert_int_equal(count_files(".tmp."), 0);
}

static void test_write_larger_than_one_chunk(void **state) {
    (void)state;
    const int64_t R = 1000, C = 9; /* 9000 floats: more than the writer's 4096 staging */
    float *x = fr_alloc((size_t)(R * C), sizeof(float));
    assert_non_null(x);
    for (int64_t i = 0; i < R * C; i++) x[i] = (float)i * 0.5f - 17.0f;
    char path[700];
    snprintf(path, sizeof path, "%s/big.npy", tu_tmpdir());
    fr_error err = { { 0 } };
    assert_int_equal(fr_npy_write(path, x, R, C, &err), FR_OK);
    read_expect(path, R, C, x);
    fr_free(x);
}

static void test_write_refusals_leave_old_file(void **state) {
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/keep.npy", tu_tmpdir());
    fr_error err = { { 0 } };
    const float good[2] = { 1.0f, 2.0f };
    assert_int_equal(fr_npy_write(path, good, 1, 2, &err), FR_OK);

    float bad[4] = { 1.0f, 2.0f, 3.0f, 0.0f };
    bad[3] = NAN;
    char expect[900];
    snprintf(expect, sizeof expect,
             "%s: row 1, column 1 (0-based) is NaN; .npy features must be finite", path);
    assert_int_equal(fr_npy_write(path, bad, 2, 2, &err), FR_ERR_RUNTIME);
    assert_string_equal(err.msg, expect);
    bad[3] = -INFINITY;
    assert_int_equal(fr_npy_write(path, bad, 2, 2, &err), FR_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "row 1, column 1 (0-based) is Inf"));
    assert_int_equal(fr_npy_write(path, good, -1, 2, &err), FR_ERR_RUNTIME);
    read_expect(path, 1, 2, good); /* untouched */

    snprintf(path, sizeof path, "%s/no-such-dir/x.npy", tu_tmpdir());
    assert_int_equal(fr_npy_write(path, good, 1, 2, &err), FR_ERR_IO);
    assert_non_null(strstr(err.msg, "no-such-dir/x.npy: cannot create temporary file"));
    assert_int_equal(count_files(".tmp."), 0);
}

/* ---- what the reader refuses ------------------------------------------------------ */

static void test_bad_preamble(void **state) {
    (void)state;
    char path[700];
    snprintf(path, sizeof path, "%s/missing.npy", tu_tmpdir());
    read_fails(path, ": cannot open: No such file or directory");
    read_fails(write_raw("magic.npy", "\x93NUMPX\x01\x00\x00\x00", 10),
               ": magic: not a .npy file (it does not start with \\x93NUMPY)");
    read_fails(write_raw("short.npy", "\x93NUM", 4),
               ": magic: not a .npy file (it does not start with \\x93NUMPY)");
    read_fails(write_raw("v4.npy", "\x93NUMPY\x04\x00\x00\x00", 10),
               ": version 4.0 is not a .npy version fedrec reads (1.0, 2.0, 3.0)");
    read_fails(write_raw("v11.npy", "\x93NUMPY\x01\x01\x00\x00", 10),
               ": version 1.1 is not a .npy version fedrec reads (1.0, 2.0, 3.0)");
    read_fails(write_raw("nolen.npy", "\x93NUMPY\x02\x00\x10\x00", 10),
               ": header length: file ends after 10 bytes");
    read_fails(write_raw("hlen.npy", "\x93NUMPY\x01\x00\xff\x00{}", 12),
               ": header length 255 runs past the end of the file (12 bytes)");
}

static void test_bad_header_syntax(void **state) {
    (void)state;
    header_fails("[1, 2]", 0,
                 ": header is not a dict literal: expected '{' (at byte 0 of the header)");
    header_fails("{'descr' '<f4'}", 0,
                 ": header is not a dict literal: expected ':' after key 'descr' (at byte 9 of "
                 "the header)");
    header_fails("{descr: '<f4'}", 0,
                 ": header is not a dict literal: expected a quoted string, found 'descr' (at "
                 "byte 1 of the header)");
    header_fails("{'descr': '<f4", 0,
                 ": header is not a dict literal: unterminated string (at byte 54 of the header)");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} x", 4,
                 ": header is not a dict literal: text after the closing '}' (at byte 58 of the "
                 "header)");
    header_fails("{'descr': '<f4' 'shape': (1,)}", 4,
                 ": header is not a dict literal: expected ',' or '}' (at byte 16 of the header)");
}

static void test_bad_keys(void **state) {
    (void)state;
    header_fails("{'descr': '<f4', 'fortran_order': False, }", 0, ": header: missing key 'shape'");
    header_fails("{'shape': (1,), 'fortran_order': False}", 4, ": header: missing key 'descr'");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4,
                 ": header: unknown key 'x' (a .npy header holds exactly 'descr', "
                 "'fortran_order' and 'shape')");
    header_fails("{'descr': '<f4', 'descr': '<f4'}", 0, ": header: key 'descr' appears twice");
}

static void test_bad_descr(void **state) {
    (void)state;
    const char *suffix =
        "' is not a floating-point type fedrec reads (<f4, <f8, <f2, >f4, >f8, >f2)";
    char expect[200];
    const char *bad[] = { "<i8", "|O", "<c8", "<f16", "|u1", "float32" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char dict[200];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }",
                 bad[i]);
        snprintf(expect, sizeof expect, ": descr '%s%s", bad[i], suffix);
        header_fails(dict, 16, expect);
    }
    header_fails("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4,
                 ": descr is a list (a structured dtype), not a floating-point type; fedrec "
                 "reads <f4, <f8, <f2, >f4, >f8, >f2");
}

static void test_bad_fortran_order_and_shape(void **state) {
    (void)state;
    header_fails("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", 4,
                 ": fortran_order '0' is not True or False");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", 96,
                 ": shape (2, 3, 4): has 3 dimensions; fedrec reads 1-D and 2-D arrays");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4,
                 ": shape (): has 0 dimensions; fedrec reads 1-D and 2-D arrays");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", 0,
                 ": shape (-1, 3): a dimension is negative or too large");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                 0, ": shape (99999999999999999999,): a dimension is negative or too large");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'a'), }", 0,
                 ": shape (2, 'a'): is not a tuple of integers");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12,
                 ": shape (3): is a parenthesised integer, not a tuple (write (n,))");
    header_fails("{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", 12,
                 ": shape '[3]' is not a tuple of integers");
    header_fails("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 2), }",
                 0, ": shape (4611686018427387904, 2) is too large");
}

static void test_bad_data_size(void **state) {
    (void)state;
    header_fails("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", 50,
                 ": data: truncated: shape (3, 4) of '<f8' needs 96 bytes, the file holds 50 "
                 "after the header");
    header_fails("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 6,
                 ": data: 2 bytes after the array (shape (2,) of '<f2' needs 4)");
}

static void test_non_finite_values(void **state) {
    (void)state;
    /* <f4 [2 x 3] with NaN (7FC00000) at row 1, column 2 */
    unsigned char f4[24] = { 0 };
    memcpy(f4 + 20, "\x00\x00\xC0\x7F", 4);
    read_fails(write_npy("nan.npy", 1, npy_dict("<f4", "False", "(2, 3)"), f4, 24),
               ": data: row 1, column 2 (0-based) is NaN");
    /* The same bytes in Fortran order: storage index 5 is row 1, column 2 again, and
     * storage index 1 is row 1, column 0. */
    memcpy(f4 + 4, "\x00\x00\x80\x7F", 4); /* +Inf */
    read_fails(write_npy("inf.npy", 1, npy_dict("<f4", "True", "(2, 3)"), f4, 24),
               ": data: row 1, column 0 (0-based) is Inf");
    /* >f2 -Inf (FC00) at index 1 of a 1-D array */
    const unsigned char f2[4] = { 0x3C, 0x00, 0xFC, 0x00 };
    read_fails(write_npy("ninf.npy", 1, npy_dict(">f2", "False", "(2,)"), f2, 4),
               ": data: row 1, column 0 (0-based) is -Inf");
    /* <f8 1e300 (7E37E43C8800759C) does not fit in float32 */
    const unsigned char f8[8] = { 0x9C, 0x75, 0x00, 0x88, 0x3C, 0xE4, 0x37, 0x7E };
    read_fails(write_npy("big.npy", 1, npy_dict("<f8", "False", "(1, 1)"), f8, 8),
               ": data: row 0, column 0 (0-based) is 1e+300, outside float32's range");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_little_endian_f4),
        cmocka_unit_test(test_f8_and_f2),
        cmocka_unit_test(test_big_endian),
        cmocka_unit_test(test_fortran_order),
        cmocka_unit_test(test_versions_2_and_3),
        cmocka_unit_test(test_one_dimensional),
        cmocka_unit_test(test_header_literal_variants),
        cmocka_unit_test(test_empty_array),
        cmocka_unit_test(test_write_exact_bytes_and_round_trip),
        cmocka_unit_test(test_write_larger_than_one_chunk),
        cmocka_unit_test(test_write_refusals_leave_old_file),
        cmocka_unit_test(test_bad_preamble),
        cmocka_unit_test(test_bad_header_syntax),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_bad_descr),
        cmocka_unit_test(test_bad_fortran_order_and_shape),
        cmocka_unit_test(test_bad_data_size),
        cmocka_unit_test(test_non_finite_values),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
