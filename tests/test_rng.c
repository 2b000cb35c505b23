/* test_rng.c - Philox4x32-10 against the Random123 known-answer vectors, and the
 * properties fedrec relies on: streams are reproducible, independent of each other,
 * and the derived draws are unbiased. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include "fedrec/rng.h"

static void test_known_answers(void **state) {
    (void)state;
    /* Random123 kat_vectors, philox4x32 with 10 rounds. */
    struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
        { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
          { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
        { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
          { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        fr_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++) assert_int_equal(out[j], kat[i].out[j]);
    }
}

static void test_streams_reproducible_and_distinct(void **state) {
    (void)state;
    fr_rng a, b, c;
    fr_rng_init(&a, 42, 3, 7, FR_PURPOSE_SHUFFLE);
    fr_rng_init(&b, 42, 3, 7, FR_PURPOSE_SHUFFLE);
    fr_rng_init(&c, 42, 3, 8, FR_PURPOSE_SHUFFLE);
    int same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = fr_rng_u32(&a), y = fr_rng_u32(&b), z = fr_rng_u32(&c);
        assert_int_equal(x, y);
        same_ac += x == z;
    }
    assert_true(same_ac < 3);
}

/* Bulk fills give the words of single draws, from any starting offset in a block. */
static void test_fill_matches_single_draws(void **state) {
    (void)state;
    for (int skip = 0; skip < 5; skip++)
        for (int n = 0; n < 11; n++) {
            fr_rng a, b;
            fr_rng_init(&a, 7, 1, 2, FR_PURPOSE_DROPOUT);
            fr_rng_init(&b, 7, 1, 2, FR_PURPOSE_DROPOUT);
            for (int i = 0; i < skip; i++) (void)fr_rng_u32(&a), (void)fr_rng_u32(&b);
            uint32_t bulk[16];
            fr_rng_fill_u32(&a, bulk, n);
            for (int i = 0; i < n; i++) assert_int_equal(bulk[i], fr_rng_u32(&b));
            assert_int_equal(fr_rng_u32(&a), fr_rng_u32(&b)); /* and the stream goes on alike */
        }
}

static void test_below_is_uniform(void **state) {
    (void)state;
    fr_rng r;
    fr_rng_init(&r, 1, 0, 0, FR_PURPOSE_EVAL);
    enum { N = 7, DRAWS = 70000 };
    int count[N] = { 0 };
    for (int i = 0; i < DRAWS; i++) {
        uint32_t v = fr_rng_below(&r, N);
        assert_true(v < N);
        count[v]++;
    }
    double chi2 = 0.0, expect = DRAWS / (double)N;
    for (int i = 0; i < N; i++) chi2 += (count[i] - expect) * (count[i] - expect) / expect;
    assert_true(chi2 < 22.5); /* p = 0.001 for 6 degrees of freedom */
}

static void test_uniform_and_normal_moments(void **state) {
    (void)state;
    fr_rng r;
    fr_rng_init(&r, 9, 1, 2, FR_PURPOSE_SYNTH);
    double su = 0, sn = 0, sn2 = 0;
    enum { DRAWS = 200000 };
    for (int i = 0; i < DRAWS; i++) {
        double u = fr_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        su += u;
        double z = fr_rng_normal(&r);
        sn += z;
        sn2 += z * z;
    }
    assert_true(fabs(su / DRAWS - 0.5) < 0.005);
    assert_true(fabs(sn / DRAWS) < 0.01);
    assert_true(fabs(sn2 / DRAWS - 1.0) < 0.02);
}

static void test_shuffle_is_permutation(void **state) {
    (void)state;
    int32_t a[100];
    for (int i = 0; i < 100; i++) a[i] = i;
    fr_rng r;
    fr_rng_init(&r, 5, 0, 0, FR_PURPOSE_SHUFFLE);
    fr_rng_shuffle_i32(&r, a, 100);
    int seen[100] = { 0 }, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 80);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_streams_reproducible_and_distinct),
        cmocka_unit_test(test_fill_matches_single_draws),
        cmocka_unit_test(test_below_is_uniform),
        cmocka_unit_test(test_uniform_and_normal_moments),
        cmocka_unit_test(test_shuffle_is_permutation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
