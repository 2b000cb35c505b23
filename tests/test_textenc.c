/* test_textenc.c - the feature-hashing text encoder and the user/item sentences it
 * encodes: pinned output bits, the 1 + ln tf weighting, unit norm, similar texts
 * closer than unrelated ones, dim/seed/case/separator behaviour, the length limit, and
 * the data-set functions on tiny MovieLens-1M and MovieLens-100K directories this test
 * writes (including ML-1M's code-to-name tables and the no-metadata errors).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fedrec/alloc.h"
#include "fedrec/dataset.h"
#include "fedrec/textenc.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------- */

static double dot(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Cosine of the encodings of two texts; both are unit vectors, so their dot product. */
static double cosine(const char *a, const char *b, int32_t dim, uint64_t seed) {
    float *x = fr_alloc((size_t)dim, sizeof(float)), *y = fr_alloc((size_t)dim, sizeof(float));
    assert_true(x && y);
    fr_text_encode(a, dim, seed, x);
    fr_text_encode(b, dim, seed, y);
    double c = dot(x, y, dim);
    fr_free(x);
    fr_free(y);
    return c;
}

static int count_nonzero(const float *x, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += x[i] != 0.0f;
    return k;
}

static void assert_same(const char *a, const char *b, int32_t dim, uint64_t seed) {
    float x[64], y[64];
    assert_true(dim <= 64);
    fr_text_encode(a, dim, seed, x);
    fr_text_encode(b, dim, seed, y);
    if (memcmp(x, y, (size_t)dim * sizeof(float)) != 0)
        fail_msg("'%s' and '%s' encode differently", a, b);
}

static void assert_differ(const char *a, const char *b, int32_t dim, uint64_t seed) {
    float x[64], y[64];
    fr_text_encode(a, dim, seed, x);
    fr_text_encode(b, dim, seed, y);
    if (memcmp(x, y, (size_t)dim * sizeof(float)) == 0)
        fail_msg("'%s' and '%s' encode the same", a, b);
}

/* Creates tmpdir/NAME (static rotating storage). */
static const char *make_dir(const char *name) {
    static char paths[4][600];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 600, "%s/%s", tu_tmpdir(), name);
    assert_int_equal(mkdir(p, 0700), 0);
    return p;
}

static void load_ok(const char *dir, fr_dataset *ds) {
    fr_error err = { { 0 } };
    if (fr_dataset_load(dir, FR_FORMAT_AUTO, ds, &err) != FR_OK)
        fail_msg("loading %s failed: %s", dir, err.msg);
}

static void user_text_is(const fr_dataset *ds, int32_t u, const char *want) {
    char buf[256];
    size_t n = fr_user_profile_text(ds, u, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void item_text_is(const fr_dataset *ds, int32_t i, const char *want) {
    char buf[256];
    size_t n = fr_item_text(ds, i, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

/* Row r of x [n x dim] is the encoding of TEXT (a zero row when TEXT is ""). */
static void row_encodes(const float *x, int32_t r, int32_t dim, const char *text) {
    float want[64];
    assert_true(dim <= 64);
    fr_text_encode(text, dim, 5, want);
    assert_memory_equal(x + (size_t)r * (size_t)dim, want, (size_t)dim * sizeof(float));
    double norm2 = dot(want, want, dim);
    if (text[0]) assert_true(fabs(norm2 - 1.0) < 1e-6);
    else assert_true(norm2 == 0.0);
}

/* ---- the encoder ------------------------------------------------------------------ */

static void test_pinned_bits(void **state) {
    (void)state;
    /* These values pin the hashing (FNV-1a + fmix64, seed and kind bytes, bucket = hash
     * mod dim, sign = top bit), the feature set and the 1 + ln tf weighting: computed
     * once with this implementation, they must only change on purpose. If you change
     * the encoding, update them and say so, because every stored text feature changes.
     * The first text repeats words (tf 3 and 2) and holds a UTF-8 letter. */
    const float want1[8] = { 0x1.f97cb2p-4f, 0.0f, 0.0f, 0x1.abee9ap-3f,
                             -0x1.093492p-2f, 0x1.2ec586p-1f, 0x1.2ec586p-1f, 0x1.abee9ap-2f };
    float x[16];
    fr_text_encode("The cat, the CAT; the caf\xC3\xA9!", 8, 7, x);
    assert_memory_equal(x, want1, sizeof want1);

    fr_text_encode("Toy Story (1995); genres: Animation, Children's, Comedy", 16, 42, x);
    assert_true(x[0] == 0.0f && x[5] == 0.0f && x[12] == 0.0f);
    assert_true(x[1] == 0x1.d8f72p-4f);
    assert_true(x[2] == -0x1.d8f72p-2f);
    assert_true(x[9] == 0x1.279a74p-1f);
    assert_true(x[10] == 0x1.62b958p-2f);
    assert_true(x[11] == -0x1.d8f72p-3f);
}

static void test_deterministic_and_unit_norm(void **state) {
    (void)state;
    const char *texts[] = { "a", "gender: male; age: 25-34; occupation: programmer",
                            "title: Misérables, Les (1995); genres: Drama, Musical",
                            "x x x x x x x x x x x x", "K-12 student", "日本語のテキスト" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        float x[384], y[384];
        fr_text_encode(texts[t], 384, 11, x);
        fr_text_encode(texts[t], 384, 11, y);
        assert_memory_equal(x, y, sizeof x);
        double n2 = dot(x, x, 384);
        if (fabs(n2 - 1.0) > 1e-6) fail_msg("'%s': squared norm %.9g", texts[t], n2);
    }
}

static void test_sublinear_weighting(void **state) {
    (void)state;
    /* "x x x x": unigram "x" and 3-gram "^x$" occur 4 times, the bigram "x x" 3 times.
     * With 4096 buckets the three features land apart (checked), so the normalised
     * magnitudes are (1 + ln 4, 1 + ln 4, 1 + ln 3) / norm. */
    float x[4096];
    fr_text_encode("x x x x", 4096, 3, x);
    assert_int_equal(count_nonzero(x, 4096), 3);
    double a = 1.0 + log(4.0), b = 1.0 + log(3.0), norm = sqrt(2 * a * a + b * b);
    int n_a = 0, n_b = 0;
    for (int i = 0; i < 4096; i++) {
        if (x[i] == 0.0f) continue;
        double m = fabs(x[i]);
        n_a += fabs(m - a / norm) < 1e-6;
        n_b += fabs(m - b / norm) < 1e-6;
    }
    assert_int_equal(n_a, 2);
    assert_int_equal(n_b, 1);
}

static void test_similar_texts_are_closer(void **state) {
    (void)state;
    const char *a = "age: 25; occupation: programmer";
    const char *near = "age: 25; occupation: programmer; zip code: 1";
    const char *far = "occupation: artist; age: 56";
    for (uint64_t seed = 1; seed <= 5; seed++) {
        double c_near = cosine(a, near, 256, seed), c_far = cosine(a, far, 256, seed);
        if (!(c_near > c_far + 0.2))
            fail_msg("seed %d: cos(near) %.4f is not clearly above cos(far) %.4f", (int)seed,
                     c_near, c_far);
    }
    /* Unrelated texts are nearly orthogonal; identical ones are at cosine 1. */
    double c = cosine("title: Heat (1995)", "gender: female; zip code: 02139", 384, 1);
    assert_true(fabs(c) < 0.2);
    assert_true(fabs(cosine(a, a, 384, 1) - 1.0) < 1e-6);
}

static void test_dim_and_seed_change_the_output(void **state) {
    (void)state;
    const char *t = "title: Toy Story (1995); genres: Animation, Children's, Comedy";
    float x16[16], x17[17], s1[32], s2[32];
    fr_text_encode(t, 16, 1, x16);
    fr_text_encode(t, 17, 1, x17);
    assert_true(memcmp(x16, x17, sizeof x16) != 0);
    fr_text_encode(t, 32, 1, s1);
    fr_text_encode(t, 32, 2, s2);
    assert_true(memcmp(s1, s2, sizeof s1) != 0);
    assert_true(fabs(dot(s1, s2, 32)) < 0.9);
}

static void test_empty_texts_are_zero(void **state) {
    (void)state;
    const char *empties[] = { "", " ;:,.!? ()[]-\t\n" };
    for (size_t t = 0; t < 2; t++) {
        float x[32];
        for (int i = 0; i < 32; i++) x[i] = 9.0f; /* the encoder overwrites */
        fr_text_encode(empties[t], 32, 1, x);
        assert_int_equal(count_nonzero(x, 32), 0);
    }
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = 9.0f;
    fr_text_encode(NULL, 32, 1, x);
    assert_int_equal(count_nonzero(x, 32), 0);
    x[0] = 9.0f;
    fr_text_encode("abc", 0, 1, x); /* dim < 1 writes nothing */
    assert_true(x[0] == 9.0f);
}

static void test_words_case_and_separators(void **state) {
    (void)state;
    assert_same("Toy Story", "toy STORY", 64, 1);            /* ASCII lower-cased */
    assert_same("toy,story", "toy  story", 64, 1);           /* punctuation separates */
    assert_same("K-12 student", "k 12 student", 64, 1);      /* digits kept, '-' splits */
    assert_same("  toy story!  ", "toy story", 64, 1);
    assert_differ("toy story", "story toy", 64, 1);          /* bigrams see the order */
    assert_differ("1995", "1996", 64, 1);                    /* digits are words */
    assert_differ("caf\xC3\xA9", "caf", 64, 1);              /* UTF-8 stays in the word */
    assert_differ("CAF\xC3\x89", "caf\xC3\xA9", 64, 1);      /* only ASCII is lower-cased */
}

static void test_length_limit(void **state) {
    (void)state;
    /* Words "w000 ".."w499": word k is bytes [5k, 5k+4). Word 409 ends at 2049 and
     * crosses FR_TEXT_MAX_BYTES (2048), so words 0..408 are encoded and nothing after. */
    static char text[2600], prefix[2600];
    for (int k = 0; k < 500; k++) snprintf(text + 5 * k, 6, "w%03d ", k);
    memcpy(prefix, text, 5 * 409);
    prefix[5 * 409] = '\0';
    assert_same(text, prefix, 64, 1);
    char more[2600];
    memcpy(more, text, 5 * 408 + 4); /* words 0..408, the last ending at byte 2044 */
    more[5 * 408 + 4] = '\0';
    assert_same(more, prefix, 64, 1);
    more[5 * 408 + 3] = '\0'; /* "w40" instead of "w408": a different last word */
    assert_differ(more, prefix, 64, 1);
}

/* ---- sentences and feature matrices ---------------------------------------------- */

static void test_ml1m_texts_and_features(void **state) {
    (void)state;
    const char *dir = make_dir("ml1m");
    tu_write("ml1m/ratings.dat", "1::1::5::10\n2::2::3::11\n3::1::4::12\n4::2::1::13\n"
                                 "5::1::2::14\n7::3::2::15\n");
    tu_write("ml1m/users.dat", "1::F::1::10::48067\n2::M::25::12::55117\n3::M::30::21::9\n"
                               "4::F::56::0::02139\n5::M::50::20::10001-2345\n");
    tu_write("ml1m/movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n"
                                "2::Heat (1995)::Action|Crime|Thriller\n");
    fr_dataset ds;
    load_ok(dir, &ds);
    assert_int_equal(ds.n_users, 6);
    user_text_is(&ds, 0, "gender: female; age: Under 18; occupation: K-12 student; "
                         "zip code: 48067");
    user_text_is(&ds, 1, "gender: male; age: 25-34; occupation: programmer; zip code: 55117");
    /* Not in the README's tables: written as the numbers they are. */
    user_text_is(&ds, 2, "gender: male; age: 30; occupation: 21; zip code: 9");
    user_text_is(&ds, 3, "gender: female; age: 56+; occupation: other; zip code: 02139");
    user_text_is(&ds, 4, "gender: male; age: 50-55; occupation: writer; zip code: 10001-2345");
    user_text_is(&ds, 5, ""); /* user 7 has no users.dat line */
    user_text_is(&ds, 6, ""); /* out of range */
    item_text_is(&ds, 0, "title: Toy Story (1995); genres: Animation, Children's, Comedy");
    item_text_is(&ds, 1, "title: Heat (1995); genres: Action, Crime, Thriller");
    item_text_is(&ds, 2, ""); /* movie 3 has no movies.dat line */

    float *u, *it;
    fr_error err = { { 0 } };
    assert_int_equal(fr_user_text_features(&ds, 48, 5, &u, &err), FR_OK);
    row_encodes(u, 1, 48, "gender: male; age: 25-34; occupation: programmer; zip code: 55117");
    row_encodes(u, 4, 48, "gender: male; age: 50-55; occupation: writer; zip code: 10001-2345");
    row_encodes(u, 5, 48, "");
    assert_int_equal(fr_item_text_features(&ds, 48, 5, &it, &err), FR_OK);
    row_encodes(it, 0, 48, "title: Toy Story (1995); genres: Animation, Children's, Comedy");
    row_encodes(it, 2, 48, "");
    fr_free(u);
    fr_free(it);

    assert_int_equal(fr_user_text_features(&ds, 0, 5, &u, &err), FR_ERR_USAGE);
    assert_string_equal(err.msg, "text features: dim 0 must be at least 1");
    assert_null(u);
    fr_dataset_free(&ds);
}

static void test_ml1m_code_tables(void **state) {
    (void)state;
    /* The MovieLens-1M README's tables ("USERS FILE DESCRIPTION"), transcribed here
     * independently of textenc.c. User k+1 has occupation k and the k-th age group. */
    static const char *const occupations[21] = {
        "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
        "customer service", "doctor/health care", "executive/managerial", "farmer",
        "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
        "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
        "unemployed", "writer",
    };
    static const int age_codes[7] = { 1, 18, 25, 35, 45, 50, 56 };
    static const char *const age_names[7] = { "Under 18", "18-24", "25-34", "35-44",
                                              "45-49", "50-55", "56+" };
    const char *dir = make_dir("ml1m-codes");
    char ratings[2048] = "", users[2048] = "";
    for (int k = 0; k < 21; k++) {
        size_t r = strlen(ratings), u = strlen(users);
        snprintf(ratings + r, sizeof ratings - r, "%d::1::3::%d\n", k + 1, k);
        snprintf(users + u, sizeof users - u, "%d::F::%d::%d::%05d\n", k + 1, age_codes[k % 7],
                 k, k);
    }
    tu_write("ml1m-codes/ratings.dat", ratings);
    tu_write("ml1m-codes/users.dat", users);
    fr_dataset ds;
    load_ok(dir, &ds);
    assert_int_equal(ds.n_users, 21);
    for (int k = 0; k < 21; k++) {
        char want[200];
        snprintf(want, sizeof want, "gender: female; age: %s; occupation: %s; zip code: %05d",
                 age_names[k % 7], occupations[k], k);
        user_text_is(&ds, k, want);
    }
    fr_dataset_free(&ds);
}

static void test_text_buffer_contract(void **state) {
    (void)state;
    const char *dir = make_dir("ml1m-buf");
    tu_write("ml1m-buf/ratings.dat", "2::2::3::11\n");
    tu_write("ml1m-buf/users.dat", "2::M::25::12::55117\n");
    tu_write("ml1m-buf/movies.dat", "2::Heat (1995)::Action|Crime|Thriller\n");
    fr_dataset ds;
    load_ok(dir, &ds);
    const char *full = "gender: male; age: 25-34; occupation: programmer; zip code: 55117";
    assert_int_equal(fr_user_profile_text(&ds, 0, NULL, 0), strlen(full));
    char buf[11];
    memset(buf, 'z', sizeof buf);
    assert_int_equal(fr_user_profile_text(&ds, 0, buf, 10), strlen(full));
    assert_string_equal(buf, "gender: m"); /* 9 bytes and the terminator */
    assert_int_equal(buf[10], 'z');        /* nothing past cap */
    assert_int_equal(fr_item_text(&ds, 0, buf, 1), strlen("title: Heat (1995); genres: "
                                                          "Action, Crime, Thriller"));
    assert_string_equal(buf, "");
    fr_dataset_free(&ds);
}

static void test_ml100k_texts(void **state) {
    (void)state;
    const char *dir = make_dir("ml100k");
    tu_write("ml100k/u.data", "1\t1\t5\t874965758\n2\t1682\t4\t876893171\n3\t1\t3\t1\n");
    tu_write("ml100k/u.item",
             "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
             "1682|Scream of Stone (Schrei aus Stein) (1991)|08-Mar-1996||"
             "http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n");
    /* Age 25 and a numeric-looking zip: ML-100K values are written as they are. */
    tu_write("ml100k/u.user", "1|24|M|technician|85711\n2|25|F|other|94043\n");
    fr_dataset ds;
    load_ok(dir, &ds);
    user_text_is(&ds, 0, "gender: male; age: 24; occupation: technician; zip code: 85711");
    user_text_is(&ds, 1, "gender: female; age: 25; occupation: other; zip code: 94043");
    user_text_is(&ds, 2, "");
    item_text_is(&ds, 0, "title: Toy Story (1995); genres: Animation, Children's, Comedy");
    item_text_is(&ds, 1, "title: Scream of Stone (Schrei aus Stein) (1991); genres: Drama");

    float *u;
    fr_error err = { { 0 } };
    assert_int_equal(fr_user_text_features(&ds, 40, 5, &u, &err), FR_OK);
    row_encodes(u, 0, 40, "gender: male; age: 24; occupation: technician; zip code: 85711");
    row_encodes(u, 2, 40, "");
    fr_free(u);
    fr_dataset_free(&ds);
}

static void test_no_metadata_errors(void **state) {
    (void)state;
    const char *dir = make_dir("bare");
    tu_write("bare/ratings.dat", "1::1::5::10\n");
    fr_dataset ds;
    load_ok(dir, &ds);
    float *x = (float *)&x;
    fr_error err = { { 0 } };
    char expect[1400];
    assert_int_equal(fr_user_text_features(&ds, 8, 1, &x, &err), FR_ERR_INPUT);
    snprintf(expect, sizeof expect, "%s: no user metadata (users.dat or u.user beside it) to "
             "build user text features from", ds.source);
    assert_string_equal(err.msg, expect);
    assert_non_null(strstr(err.msg, "bare/ratings.dat: "));
    assert_null(x);
    assert_int_equal(fr_item_text_features(&ds, 8, 1, &x, &err), FR_ERR_INPUT);
    snprintf(expect, sizeof expect, "%s: no item metadata (movies.dat or u.item beside it) to "
             "build item text features from", ds.source);
    assert_string_equal(err.msg, expect);
    assert_null(x);
    user_text_is(&ds, 0, "");
    item_text_is(&ds, 0, "");
    fr_dataset_free(&ds);

    /* Items only: item features work, user features still fail. */
    dir = make_dir("items-only");
    tu_write("items-only/ratings.dat", "1::1::5::10\n");
    tu_write("items-only/movies.dat", "1::Toy Story (1995)::Animation\n");
    load_ok(dir, &ds);
    assert_int_equal(fr_user_text_features(&ds, 8, 1, &x, &err), FR_ERR_INPUT);
    assert_int_equal(fr_item_text_features(&ds, 8, 1, &x, &err), FR_OK);
    fr_free(x);
    fr_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pinned_bits),
        cmocka_unit_test(test_deterministic_and_unit_norm),
        cmocka_unit_test(test_sublinear_weighting),
        cmocka_unit_test(test_similar_texts_are_closer),
        cmocka_unit_test(test_dim_and_seed_change_the_output),
        cmocka_unit_test(test_empty_texts_are_zero),
        cmocka_unit_test(test_words_case_and_separators),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_ml1m_texts_and_features),
        cmocka_unit_test(test_ml1m_code_tables),
        cmocka_unit_test(test_text_buffer_contract),
        cmocka_unit_test(test_ml100k_texts),
        cmocka_unit_test(test_no_metadata_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tu_tmpdir_cleanup();
    return failed;
}
