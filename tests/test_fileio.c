/* test_fileio.c - whole-file reads, atomic writes (no temporary left behind, on success
 * or failure), mkdir -p. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"

/* Number of entries in dir whose name contains ".tmp." (atomic-write temporaries). */
static int count_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static const char *tmp_path(const char *name) {
    static char paths[4][700];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 700, "%s/%s", tu_tmpdir(), name);
    return p;
}

static void test_write_then_read(void **state) {
    (void)state;
    const char *path = tmp_path("roundtrip.bin");
    const char payload[] = "hello\0world";
    fr_error err = {""};
    assert_int_equal(fr_write_atomic(path, payload, sizeof payload - 1, &err), FR_OK);
    assert_int_equal(count_temporaries(tu_tmpdir()), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fr_read_file(path, &data, &len, &err), FR_OK);
    assert_int_equal(len, sizeof payload - 1);
    assert_memory_equal(data, payload, len);
    assert_int_equal(data[len], '\0');
    fr_free(data);

    /* A second write replaces the file whole. */
    assert_int_equal(fr_write_atomic(path, "x", 1, &err), FR_OK);
    assert_int_equal(fr_read_file(path, &data, &len, &err), FR_OK);
    assert_int_equal(len, 1);
    assert_string_equal(data, "x");
    fr_free(data);
    assert_int_equal(count_temporaries(tu_tmpdir()), 0);
}

static void test_write_empty_and_large(void **state) {
    (void)state;
    const char *path = tmp_path("empty.bin");
    fr_error err = {""};
    char *data = NULL;
    size_t len = 99;
    assert_int_equal(fr_write_atomic(path, NULL, 0, &err), FR_OK);
    assert_int_equal(fr_read_file(path, &data, &len, &err), FR_OK);
    assert_int_equal(len, 0);
    assert_non_null(data);
    assert_string_equal(data, "");
    fr_free(data);

    /* Larger than the first read buffer would be without a size hint. */
    size_t big = 300000;
    unsigned char *buf = fr_alloc(big, 1);
    assert_non_null(buf);
    for (size_t i = 0; i < big; i++) buf[i] = (unsigned char)(i * 7 + 3);
    path = tmp_path("large.bin");
    assert_int_equal(fr_write_atomic(path, buf, big, &err), FR_OK);
    assert_int_equal(fr_read_file(path, &data, &len, &err), FR_OK);
    assert_int_equal(len, big);
    assert_memory_equal(data, buf, big);
    fr_free(data);
    fr_free(buf);
}

static void test_read_file_without_size(void **state) {
    (void)state;
    /* /proc files report size 0; the reader must not trust st_size. */
    if (!fr_file_exists("/proc/self/status")) skip();
    char *data = NULL;
    size_t len = 0;
    fr_error err = {""};
    assert_int_equal(fr_read_file("/proc/self/status", &data, &len, &err), FR_OK);
    assert_true(len > 0);
    assert_non_null(strstr(data, "Name:"));
    fr_free(data);
}

static void test_write_into_missing_directory(void **state) {
    (void)state;
    const char *path = tmp_path("no/such/dir/file.txt");
    fr_error err = {""};
    assert_int_equal(fr_write_atomic(path, "abc", 3, &err), FR_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    assert_false(fr_file_exists(path));
    assert_int_equal(count_temporaries(tu_tmpdir()), 0);
}

static void test_write_over_directory_removes_temporary(void **state) {
    (void)state;
    /* The temporary is created and written, then the rename fails: it must go. */
    const char *dir = tmp_path("a_directory");
    assert_int_equal(mkdir(dir, 0777), 0);
    fr_error err = {""};
    assert_int_equal(fr_write_atomic(dir, "abc", 3, &err), FR_ERR_IO);
    assert_true(strncmp(err.msg, dir, strlen(dir)) == 0);
    assert_non_null(strstr(err.msg, "cannot rename"));
    assert_true(fr_is_dir(dir));
    assert_int_equal(count_temporaries(tu_tmpdir()), 0);
}

static void test_atomic_stream(void **state) {
    (void)state;
    const char *path = tmp_path("stream.txt");
    fr_error err = {""};
    fr_atomic_file af;

    assert_int_equal(fr_atomic_open(&af, path, &err), FR_OK);
    fprintf(af.f, "partial");
    assert_int_equal(count_temporaries(tu_tmpdir()), 1);
    assert_false(fr_file_exists(path)); /* nothing visible before the commit */
    fr_atomic_abort(&af);
    fr_atomic_abort(&af); /* idempotent */
    assert_false(fr_file_exists(path));
    assert_int_equal(count_temporaries(tu_tmpdir()), 0);

    assert_int_equal(fr_atomic_open(&af, path, &err), FR_OK);
    fprintf(af.f, "line %d\n", 1);
    assert_int_equal(fr_atomic_commit(&af, &err), FR_OK);
    fr_atomic_abort(&af); /* after a commit: must not delete anything */
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(fr_read_file(path, &data, &len, &err), FR_OK);
    assert_string_equal(data, "line 1\n");
    fr_free(data);
    assert_int_equal(count_temporaries(tu_tmpdir()), 0);

    assert_int_equal(fr_atomic_open(&af, tmp_path("missing/x"), &err), FR_ERR_IO);
    assert_null(af.f);
    fr_atomic_abort(&af);
}

static void test_read_missing_file(void **state) {
    (void)state;
    const char *path = tmp_path("does-not-exist.txt");
    char *data = (char *)"sentinel";
    size_t len = 5;
    fr_error err = {""};
    assert_int_equal(fr_read_file(path, &data, &len, &err), FR_ERR_INPUT);
    assert_null(data);
    assert_int_equal(len, 0);
    char expect[900];
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err.msg, expect);
}

static void test_read_directory(void **state) {
    (void)state;
    char *data = NULL;
    size_t len = 0;
    fr_error err = {""};
    assert_int_equal(fr_read_file(tu_tmpdir(), &data, &len, &err), FR_ERR_INPUT);
    assert_null(data);
    char expect[900];
    snprintf(expect, sizeof expect, "%s: is a directory", tu_tmpdir());
    assert_string_equal(err.msg, expect);
}

static void test_mkdirs(void **state) {
    (void)state;
    fr_error err = {""};
    const char *deep = tmp_path("m/n//o/p");
    assert_int_equal(fr_mkdirs(deep, &err), FR_OK);
    assert_true(fr_is_dir(deep));
    assert_int_equal(fr_mkdirs(deep, &err), FR_OK); /* existing is fine */
    const char *slash = tmp_path("q/r/");
    assert_int_equal(fr_mkdirs(slash, &err), FR_OK);
    assert_true(fr_is_dir(slash));

    const char *file = tu_write("plain.txt", "x");
    assert_true(fr_file_exists(file));
    assert_false(fr_is_dir(file));
    char under[800];
    snprintf(under, sizeof under, "%s/sub", file);
    assert_int_equal(fr_mkdirs(under, &err), FR_ERR_IO);
    assert_non_null(strstr(err.msg, "Not a directory"));
    assert_int_equal(fr_mkdirs(file, &err), FR_ERR_IO);
    assert_int_equal(fr_mkdirs("", &err), FR_ERR_IO);
    assert_false(fr_file_exists(tmp_path("nothing-here")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_write_empty_and_large),
        cmocka_unit_test(test_read_file_without_size),
        cmocka_unit_test(test_write_into_missing_directory),
        cmocka_unit_test(test_write_over_directory_removes_temporary),
        cmocka_unit_test(test_atomic_stream),
        cmocka_unit_test(test_read_missing_file),
        cmocka_unit_test(test_read_directory),
        cmocka_unit_test(test_mkdirs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return rc;
}
