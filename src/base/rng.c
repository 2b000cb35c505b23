/* rng.c - Philox4x32-10 streams (Salmon et al., SC 2011, section 4 and table 2).
 * Leaves out: other Philox widths and round counts. */
#include "fedrec/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void fr_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void fr_rng_init(fr_rng *r, uint64_t seed, uint32_t round, uint32_t client, uint32_t purpose) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = round;
    r->ctr[2] = client;
    r->ctr[3] = purpose;
    r->idx = 4;
}

uint32_t fr_rng_u32(fr_rng *r) {
    if (r->idx == 4) {
        fr_philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->idx = 0;
    }
    return r->buf[r->idx++];
}

void fr_rng_fill_u32(fr_rng *r, uint32_t *out, int64_t n) {
    int64_t i = 0;
    while (i < n && r->idx < 4) out[i++] = r->buf[r->idx++];
    for (; i + 4 <= n; i += 4) { /* whole blocks straight into out */
        fr_philox4x32_10(r->ctr, r->key, out + i);
        r->ctr[0]++;
    }
    while (i < n) out[i++] = fr_rng_u32(r);
}

uint64_t fr_rng_u64(fr_rng *r) {
    uint64_t hi = fr_rng_u32(r);
    return (hi << 32) | fr_rng_u32(r);
}

double fr_rng_uniform(fr_rng *r) {
    return (double)(fr_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t fr_rng_below(fr_rng *r, uint32_t n) {
    /* Lemire's multiply-and-reject: unbiased, usually one draw. */
    uint64_t m = (uint64_t)fr_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)fr_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double fr_rng_normal(fr_rng *r) {
    double u1 = fr_rng_uniform(r);
    double u2 = fr_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void fr_rng_shuffle_i32(fr_rng *r, int32_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = fr_rng_below(r, (uint32_t)(i + 1));
        int32_t t = a[i]; a[i] = a[j]; a[j] = t;
    }
}
