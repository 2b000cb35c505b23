/* test_safetensors.c - round trip (names, shapes, exact float bits, metadata), header
 * padding, and every kind of corrupt file the reader must refuse with FR_ERR_INPUT.
 * Leaks on the error paths are caught by the AddressSanitizer build. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"
#include "fedrec/safetensors.h"

static const char *tmp_path(const char *name) {
    static char paths[4][700];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 700, "%s/%s", tu_tmpdir(), name);
    return p;
}

static fr_st_tensor make_tensor(const char *name, float *data, int ndim, const int64_t *shape) {
    fr_st_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.ndim = ndim;
    t.numel = 1;
    for (int d = 0; d < ndim; d++) {
        t.shape[d] = shape[d];
        t.numel *= shape[d];
    }
    t.data = data;
    return t;
}

/* Writes "u64 len | header | data" as given, without any padding or checks. */
static const char *write_raw(const char *name, const char *header, const void *data,
                             size_t data_len) {
    size_t hlen = strlen(header);
    size_t total = 8 + hlen + data_len;
    unsigned char *buf = fr_alloc(total, 1);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (data_len) memcpy(buf + 8 + hlen, data, data_len);
    const char *path = tmp_path(name);
    fr_error err = {""};
    assert_int_equal(fr_write_atomic(path, buf, total, &err), FR_OK);
    fr_free(buf);
    return path;
}

/* Reads path expecting FR_ERR_INPUT whose message contains want; st must come back empty. */
static void expect_bad(const char *path, const char *want) {
    fr_safetensors st;
    fr_error err = {""};
    assert_int_equal(fr_safetensors_read(path, &st, &err), FR_ERR_INPUT);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
    assert_true(strncmp(err.msg, path, strlen(path)) == 0);
    assert_int_equal(st.n, 0);
    assert_null(st.tensors);
    assert_null(st.metadata);
}

static void test_round_trip(void **state) {
    (void)state;
    float emb[12];
    for (int i = 0; i < 12; i++) emb[i] = (float)i * 0.1f - 0.55f;
    /* Bits that a text round trip would lose: -0, a denormal, NaN with a payload, inf. */
    uint32_t odd_bits[5] = {0x80000000u, 0x00000001u, 0x7fc12345u, 0x7f800000u, 0x3eaaaaabu};
    float odd[5];
    memcpy(odd, odd_bits, sizeof odd);
    float scalar = 3.25f;
    int64_t s_emb[2] = {3, 4}, s_odd[1] = {5}, s_empty[2] = {0, 7};
    fr_st_tensor t[4] = {
        make_tensor("item_embedding", emb, 2, s_emb),
        make_tensor("bias", odd, 1, s_odd),
        make_tensor("scalar", &scalar, 0, NULL),
        make_tensor("empty", NULL, 2, s_empty),
    };
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "fedrec");
    cJSON_AddStringToObject(meta, "config", "{\"train\": {\"rounds\": 3}}");
    const char *path = tmp_path("model.safetensors");
    fr_error err = {""};
    assert_int_equal(fr_safetensors_write(path, t, 4, meta, &err), FR_OK);
    cJSON_Delete(meta);

    fr_safetensors st;
    assert_int_equal(fr_safetensors_read(path, &st, &err), FR_OK);
    assert_int_equal(st.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(st.tensors[i].name, t[i].name); /* order kept */
        assert_int_equal(st.tensors[i].ndim, t[i].ndim);
        assert_int_equal(st.tensors[i].numel, t[i].numel);
        for (int d = 0; d < t[i].ndim; d++) assert_int_equal(st.tensors[i].shape[d], t[i].shape[d]);
        if (t[i].numel)
            assert_memory_equal(st.tensors[i].data, t[i].data, (size_t)t[i].numel * 4);
    }
    const fr_st_tensor *b = fr_safetensors_get(&st, "bias");
    assert_non_null(b);
    uint32_t got[5];
    memcpy(got, b->data, sizeof got);
    assert_memory_equal(got, odd_bits, sizeof got);
    assert_null(fr_safetensors_get(&st, "nope"));
    assert_string_equal(fr_safetensors_meta(&st, "format"), "fedrec");
    assert_string_equal(fr_safetensors_meta(&st, "config"), "{\"train\": {\"rounds\": 3}}");
    assert_null(fr_safetensors_meta(&st, "missing"));
    fr_safetensors_free(&st);
    assert_int_equal(st.n, 0);
    fr_safetensors_free(&st); /* twice is harmless */
}

static void test_header_padding(void **state) {
    (void)state;
    /* Names of growing length move the JSON length through every remainder mod 8. */
    for (int extra = 0; extra < 8; extra++) {
        char name[32];
        snprintf(name, sizeof name, "w%.*s", extra, "xxxxxxxx");
        float v[2] = {1.0f, -2.0f};
        int64_t shape[1] = {2};
        fr_st_tensor t = make_tensor(name, v, 1, shape);
        const char *path = tmp_path("padded.safetensors");
        fr_error err = {""};
        assert_int_equal(fr_safetensors_write(path, &t, 1, NULL, &err), FR_OK);

        char *raw = NULL;
        size_t len = 0;
        assert_int_equal(fr_read_file(path, &raw, &len, &err), FR_OK);
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n |= (uint64_t)(unsigned char)raw[i] << (8 * i);
        assert_int_equal(n % 8, 0);
        assert_int_equal(len, 8 + n + sizeof v);
        assert_int_equal(raw[8], '{');
        size_t close = (size_t)(strrchr(raw + 8, '}') - raw); /* data holds no '}' byte */
        assert_true(close < 8 + n);
        assert_true(8 + n - (close + 1) < 8);
        for (size_t i = close + 1; i < 8 + n; i++) assert_int_equal(raw[i], ' ');
        assert_memory_equal(raw + 8 + n, v, sizeof v);
        assert_null(strstr(raw + 8, "__metadata__"));
        fr_free(raw);

        fr_safetensors st;
        assert_int_equal(fr_safetensors_read(path, &st, &err), FR_OK);
        assert_int_equal(st.n, 1);
        assert_null(st.metadata);
        assert_null(fr_safetensors_meta(&st, "format"));
        fr_safetensors_free(&st);
    }
}

static void test_reads_foreign_layout(void **state) {
    (void)state;
    /* Another writer may put the data in a different order from the header. */
    float data[3] = {1.5f, 2.5f, 3.5f};
    const char *path = write_raw("foreign.safetensors",
                                 "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]},"
                                 "\"__metadata__\":null}   ",
                                 data, sizeof data);
    fr_safetensors st;
    fr_error err = {""};
    assert_int_equal(fr_safetensors_read(path, &st, &err), FR_OK);
    assert_int_equal(st.n, 2);
    assert_string_equal(st.tensors[0].name, "b");
    assert_true(st.tensors[0].data[0] == 2.5f && st.tensors[0].data[1] == 3.5f);
    assert_true(st.tensors[1].data[0] == 1.5f);
    fr_safetensors_free(&st);

    path = write_raw("nothing.safetensors", "{}", NULL, 0);
    assert_int_equal(fr_safetensors_read(path, &st, &err), FR_OK);
    assert_int_equal(st.n, 0);
    fr_safetensors_free(&st);
}

static void test_write_refuses_bad_arguments(void **state) {
    (void)state;
    float v[1] = {0};
    int64_t shape[1] = {1};
    fr_st_tensor t[2] = {make_tensor("same", v, 1, shape), make_tensor("same", v, 1, shape)};
    const char *path = tmp_path("refused.safetensors");
    fr_error err = {""};
    assert_int_not_equal(fr_safetensors_write(path, t, 2, NULL, &err), FR_OK);
    assert_non_null(strstr(err.msg, "'same' is repeated"));
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddNumberToObject(meta, "step", 3);
    assert_int_not_equal(fr_safetensors_write(path, t, 1, meta, &err), FR_OK);
    assert_non_null(strstr(err.msg, "'step' is not a string"));
    cJSON_Delete(meta);
    t[0].numel = 2; /* inconsistent with the shape */
    assert_int_not_equal(fr_safetensors_write(path, t, 1, NULL, &err), FR_OK);
    assert_false(fr_file_exists(path));
}

/* A valid two-tensor file to damage. */
static const char *write_valid(const char *name, size_t *size) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[2] = {7, 8};
    int64_t sa[2] = {2, 3}, sb[1] = {2};
    fr_st_tensor t[2] = {make_tensor("a", a, 2, sa), make_tensor("b", b, 1, sb)};
    const char *path = tmp_path(name);
    fr_error err = {""};
    assert_int_equal(fr_safetensors_write(path, t, 2, NULL, &err), FR_OK);
    char *raw = NULL;
    assert_int_equal(fr_read_file(path, &raw, size, &err), FR_OK);
    fr_free(raw);
    return path;
}

static void test_truncated_files(void **state) {
    (void)state;
    size_t size = 0;
    const char *path = write_valid("truncated.safetensors", &size);
    char *raw = NULL;
    fr_error err = {""};
    assert_int_equal(fr_read_file(path, &raw, &size, &err), FR_OK);
    /* Cut inside the data, inside the header, inside the length. */
    size_t cuts[4] = {size - 4, size - 32, 20, 5};
    const char *want[4] = {"out of bounds", "out of bounds", "exceeds the file size",
                           "file too short"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fr_write_atomic(path, raw, cuts[i], &err), FR_OK);
        expect_bad(path, want[i]);
    }
    assert_int_equal(fr_write_atomic(path, raw, 0, &err), FR_OK);
    expect_bad(path, "file too short");
    /* Trailing bytes nobody describes. */
    char *longer = fr_alloc(size + 4, 1);
    memcpy(longer, raw, size);
    memset(longer + size, 0, 4);
    assert_int_equal(fr_write_atomic(path, longer, size + 4, &err), FR_OK);
    expect_bad(path, "4 bytes after the last tensor");
    fr_free(longer);
    fr_free(raw);
}

static void test_garbage_header_length(void **state) {
    (void)state;
    size_t size = 0;
    const char *path = write_valid("garbage.safetensors", &size);
    char *raw = NULL;
    fr_error err = {""};
    assert_int_equal(fr_read_file(path, &raw, &size, &err), FR_OK);
    memset(raw, 0xff, 8);
    assert_int_equal(fr_write_atomic(path, raw, size, &err), FR_OK);
    expect_bad(path, "header: header length 18446744073709551615 exceeds the file size");
    memset(raw, 0, 8); /* length 0: no JSON at all */
    assert_int_equal(fr_write_atomic(path, raw, size, &err), FR_OK);
    expect_bad(path, "header: does not start with '{'");
    fr_free(raw);
}

static void test_bad_headers(void **state) {
    (void)state;
    static const struct {
        const char *header;
        size_t data_len;
        const char *want;
    } cases[] = {
        {"{not json}", 0, "not valid JSON"},
        {"{\"a\": [1, 2", 0, "not valid JSON"},
        {"[1, 2]", 0, "does not start with '{'"},
        {"{} x", 0, "unexpected text after the JSON object"},
        {"{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "tensor 'w': dtype 'F16' is not supported (only F32)"},
        {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is missing"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
         "data_offsets [0, 8] out of bounds (data section has 4 bytes)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,4]}}", 8, "out of bounds"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "hold 8 bytes but its shape needs 12"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
         "data_offsets is not [begin, end]"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
         "data_offsets is not [begin, end]"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "shape has 5 dimensions (at most 4)"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
         "shape[0] is not a non-negative integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
         "shape[0] is not a non-negative integer"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,4]}}", 4, "shape is too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
         "tensor 'b' overlaps tensor 'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
         "4 unused bytes before tensor 'b'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
         "tensor 'a' appears twice"},
        {"{\"w\":[1]}", 0, "tensor 'w' is not an object"},
        {"{\"__metadata__\":{\"step\":3}}", 0, "__metadata__ value 'step' is not a string"},
        {"{\"__metadata__\":[\"x\"]}", 0, "__metadata__ is not an object"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice"},
        {"{\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":"
         "{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "is longer than 127 bytes"},
    };
    static const unsigned char zeros[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_raw("bad.safetensors", cases[i].header, zeros, cases[i].data_len);
        expect_bad(path, cases[i].want);
        fr_safetensors st;
        fr_error err = {""};
        fr_safetensors_read(path, &st, &err);
        assert_non_null(strstr(err.msg, ": header: "));
    }

    /* A NUL byte inside the header. */
    const char text[] = "{\"a\"\0:1}";
    unsigned char buf[8 + sizeof text - 1] = {(unsigned char)(sizeof text - 1)};
    memcpy(buf + 8, text, sizeof text - 1);
    const char *path = tmp_path("nul.safetensors");
    fr_error err = {""};
    assert_int_equal(fr_write_atomic(path, buf, sizeof buf, &err), FR_OK);
    expect_bad(path, "contains a NUL byte");
}

static void test_missing_file(void **state) {
    (void)state;
    fr_safetensors st;
    fr_error err = {""};
    const char *path = tmp_path("absent.safetensors");
    assert_int_equal(fr_safetensors_read(path, &st, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "cannot open: No such file or directory"));
    assert_int_equal(fr_safetensors_read(tu_tmpdir(), &st, &err), FR_ERR_INPUT);
    assert_non_null(strstr(err.msg, "is a directory"));
    assert_int_equal(st.n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_header_padding),
        cmocka_unit_test(test_reads_foreign_layout),
        cmocka_unit_test(test_write_refuses_bad_arguments),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_garbage_header_length),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_missing_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
