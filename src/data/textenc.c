/* textenc.c - feature hashing of short texts, and the profile/item sentences it encodes.
 *
 * The encoder is the "hashing trick" (Weinberger et al., "Feature Hashing for Large
 * Scale Multitask Learning", ICML 2009: a hash picks the bucket, a second hash bit the
 * sign, so collisions cancel in expectation) over word unigrams, word bigrams and
 * character 3-grams (fastText's "^word$" padding, Bojanowski et al., TACL 2017), with
 * sublinear term frequency 1 + ln tf (Manning, Raghavan & Schütze, "Introduction to
 * Information Retrieval", eq. 6.13) and L2 normalisation. Hash: 64-bit FNV-1a
 * (Fowler/Noll/Vo) finalised with MurmurHash3's fmix64 so every bit of the bucket
 * index depends on every input byte.
 *
 * Determinism: features are collected into a stack array, sorted by hash, counted,
 * and added to their buckets in that order in float; ln tf is a fixed-length series
 * using + - * / only (libm's log is not guaranteed to round the same everywhere); the
 * norm uses sqrt, which IEEE 754 rounds exactly.
 *
 * The profile sentence of a MovieLens-1M user translates its README's age-group and
 * occupation codes into their names; MovieLens-100K stores ages and occupations
 * as they should be written already.
 *
 * Leaves out: anything a real sentence encoder knows (see textenc.h), Unicode case
 * folding, and the u.occupation/u.genre files (their contents are fixed).
 */
#include "fedrec/textenc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"

/* At most 1024 words, 1023 bigrams and 2048 bytes' worth of 3-grams fit in
 * FR_TEXT_MAX_BYTES (see feats_add's guard). */
#define TE_MAX_FEATS (2 * FR_TEXT_MAX_BYTES)

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define LN2 0.69314718055994530942

/* ---- hashing ----------------------------------------------------------------------- */

static uint64_t fnv_byte(uint64_t h, unsigned char b) { return (h ^ b) * FNV_PRIME; }

static unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* FNV-1a state after the 8 seed bytes (little-endian) and the feature kind. */
static uint64_t fnv_start(uint64_t seed, char kind) {
    uint64_t h = FNV_OFFSET;
    for (int i = 0; i < 8; i++) h = fnv_byte(h, (unsigned char)(seed >> (8 * i)));
    return fnv_byte(h, (unsigned char)kind);
}

/* Folds the bytes [s, e) in, lower-casing ASCII letters. */
static uint64_t fnv_lower(uint64_t h, const char *s, const char *e) {
    for (; s < e; s++) h = fnv_byte(h, lower((unsigned char)*s));
    return h;
}

/* MurmurHash3's 64-bit finaliser. */
static uint64_t fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* ---- features ---------------------------------------------------------------------- */

typedef struct feats {
    uint64_t h[TE_MAX_FEATS]; /* [n] finalised feature hashes */
    int n;
    uint64_t seed;
} feats;

/* A word's bytes [s, e); also a character inside a word. */
typedef struct span {
    const char *s, *e;
} span;

static void feats_add(feats *f, uint64_t h) {
    if (f->n < TE_MAX_FEATS) f->h[f->n++] = fmix64(h); /* never full: see TE_MAX_FEATS */
}

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

/* The UTF-8 character starting at p inside [p, e): a lead byte and up to three
 * continuation bytes (a stray continuation byte is a character of its own). */
static span next_char(const char *p, const char *e) {
    const char *q = p + 1;
    while (q < e && q - p < 4 && ((unsigned char)*q & 0xC0) == 0x80) q++;
    return (span){ p, q };
}

/* Character 3-grams of "^word$". win[] holds the last three characters. */
static void add_trigrams(feats *f, span w) {
    static const char caret[] = "^", dollar[] = "$";
    span win[3] = { { NULL, NULL }, { NULL, NULL }, { NULL, NULL } };
    int have = 0;
    const char *p = w.s;
    for (int done = 0; !done;) {
        span c;
        if (have == 0) {
            c = (span){ caret, caret + 1 };
        } else if (p < w.e) {
            c = next_char(p, w.e);
            p = c.e;
        } else {
            c = (span){ dollar, dollar + 1 };
            done = 1;
        }
        win[0] = win[1];
        win[1] = win[2];
        win[2] = c;
        if (++have < 3) continue;
        uint64_t h = fnv_start(f->seed, 'c');
        for (int k = 0; k < 3; k++) h = fnv_lower(h, win[k].s, win[k].e);
        feats_add(f, h);
    }
}

/* One word: its unigram, the bigram with the previous word (if any), its 3-grams. */
static void add_word(feats *f, span w, const span *prev) {
    feats_add(f, fnv_lower(fnv_start(f->seed, 'w'), w.s, w.e));
    if (prev) {
        uint64_t h = fnv_lower(fnv_start(f->seed, 'b'), prev->s, prev->e);
        feats_add(f, fnv_lower(fnv_byte(h, ' '), w.s, w.e));
    }
    add_trigrams(f, w);
}

/* Splits text into words and collects their features; words must end within the
 * first FR_TEXT_MAX_BYTES bytes. */
static void collect(feats *f, const char *text) {
    span prev = { NULL, NULL };
    size_t i = 0;
    for (;;) {
        while (i < FR_TEXT_MAX_BYTES && text[i] && !is_word_byte((unsigned char)text[i])) i++;
        if (i >= FR_TEXT_MAX_BYTES || !text[i]) return;
        size_t start = i;
        /* Stops at the NUL, or one byte past the limit when the word crosses it. */
        while (i <= FR_TEXT_MAX_BYTES && is_word_byte((unsigned char)text[i])) i++;
        if (i > FR_TEXT_MAX_BYTES) return;
        span w = { text + start, text + i };
        add_word(f, w, prev.s ? &prev : NULL);
        prev = w;
    }
}

/* ---- weighting --------------------------------------------------------------------- */

/* ln n for n >= 1 with + - * / only: n = m 2^k, m in [1/sqrt2, sqrt2], and
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.172, summed to 16 terms (truncation
 * error below 1e-17, far under double rounding). */
static double ln_count(int n) {
    double m = (double)n;
    int k = 0;
    for (; m >= 2.0; k++) m *= 0.5; /* exact */
    if (m > 1.4142135623730951) {
        m *= 0.5;
        k++;
    }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
    for (int j = 0; j < 16; j++) {
        sum += term / (double)(2 * j + 1);
        term *= s2;
    }
    /* Products and sums in separate statements: no compiler may fuse them into an FMA
     * (clang's default -ffp-contract=on fuses within one expression). */
    double lnk = (double)k * LN2, lnm = 2.0 * sum;
    return lnk + lnm;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Adds sign * (1 + ln tf) of every distinct feature to out [dim], in hash order. */
static void accumulate(feats *f, int32_t dim, float *out) {
    qsort(f->h, (size_t)f->n, sizeof f->h[0], cmp_u64);
    for (int i = 0; i < f->n;) {
        int j = i + 1;
        while (j < f->n && f->h[j] == f->h[i]) j++;
        uint64_t h = f->h[i];
        double w = 1.0 + ln_count(j - i);
        out[h % (uint64_t)dim] += (float)((h >> 63) ? -w : w);
        i = j;
    }
}

static void l2_normalise(float *out, int32_t dim) {
    double ss = 0.0;
    for (int32_t i = 0; i < dim; i++) {
        double sq = (double)out[i] * (double)out[i]; /* own statement: never an FMA */
        ss += sq;
    }
    if (ss == 0.0) return;
    double norm = sqrt(ss);
    for (int32_t i = 0; i < dim; i++) out[i] = (float)((double)out[i] / norm);
}

void fr_text_encode(const char *text, int32_t dim, uint64_t seed, float *out /*[dim]*/) {
    if (dim < 1) return;
    for (int32_t i = 0; i < dim; i++) out[i] = 0.0f;
    if (!text) return;
    feats f;
    f.n = 0;
    f.seed = seed;
    collect(&f, text);
    accumulate(&f, dim, out);
    l2_normalise(out, dim);
}

/* ---- sentences --------------------------------------------------------------------- */

/* snprintf-style appending: len counts every byte asked for, buf keeps what fits. */
typedef struct sbuf {
    char *buf;
    size_t cap, len;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->cap > 0 && b->len < b->cap - 1) {
        size_t room = b->cap - 1 - b->len;
        memcpy(b->buf + b->len, s, n < room ? n : room);
    }
    b->len += n;
    if (b->cap > 0) b->buf[b->len < b->cap - 1 ? b->len : b->cap - 1] = '\0';
}

static void sb_put(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

/* Starts a "name: " field, after "; " unless it is the first. */
static void sb_field(sbuf *b, const char *name) {
    if (b->len > 0) sb_put(b, "; ");
    sb_put(b, name);
    sb_put(b, ": ");
}

/* MovieLens-1M README, "USERS FILE DESCRIPTION". */
static const struct {
    int code;
    const char *name;
} ml1m_ages[7] = {
    { 1, "Under 18" }, { 18, "18-24" }, { 25, "25-34" }, { 35, "35-44" },
    { 45, "45-49" },   { 50, "50-55" }, { 56, "56+" },
};

static const char *const ml1m_occupations[21] = {
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
};

static void put_age(sbuf *b, int32_t age, int ml1m) {
    for (int i = 0; ml1m && i < 7; i++)
        if (ml1m_ages[i].code == age) {
            sb_put(b, ml1m_ages[i].name);
            return;
        }
    char num[16];
    snprintf(num, sizeof num, "%d", (int)age);
    sb_put(b, num);
}

/* A MovieLens-1M occupation code "0".."20" as its name; anything else as written. */
static void put_occupation(sbuf *b, const char *occ, int ml1m) {
    size_t n = strlen(occ);
    if (ml1m && n >= 1 && n <= 2 && strspn(occ, "0123456789") == n) {
        int code = atoi(occ);
        if (code <= 20) {
            sb_put(b, ml1m_occupations[code]);
            return;
        }
    }
    sb_put(b, occ);
}

size_t fr_user_profile_text(const fr_dataset *ds, int32_t user, char *buf, size_t cap) {
    sbuf b = { buf, cap, 0 };
    if (cap > 0) buf[0] = '\0';
    const fr_user_meta *m = ds->users_meta;
    if (!m || user < 0 || user >= ds->n_users) return 0;
    int ml1m = ds->format == FR_FORMAT_ML_DAT;
    if (m->gender[user] == 'M' || m->gender[user] == 'F') {
        sb_field(&b, "gender");
        sb_put(&b, m->gender[user] == 'M' ? "male" : "female");
    }
    if (m->age[user] >= 0) {
        sb_field(&b, "age");
        put_age(&b, m->age[user], ml1m);
    }
    if (m->occupation[user] && m->occupation[user][0]) {
        sb_field(&b, "occupation");
        put_occupation(&b, m->occupation[user], ml1m);
    }
    if (m->zip[user] && m->zip[user][0]) {
        sb_field(&b, "zip code");
        sb_put(&b, m->zip[user]);
    }
    return b.len;
}

size_t fr_item_text(const fr_dataset *ds, int32_t item, char *buf, size_t cap) {
    sbuf b = { buf, cap, 0 };
    if (cap > 0) buf[0] = '\0';
    const fr_item_meta *m = ds->items_meta;
    if (!m || item < 0 || item >= ds->n_items) return 0;
    const char *title = m->title[item], *genres = m->genres[item];
    if (title && title[0]) {
        sb_field(&b, "title");
        sb_put(&b, title);
    }
    if (genres && genres[0]) {
        sb_field(&b, "genres");
        for (const char *g = genres;; g++) { /* "A|B|C" -> "A, B, C" */
            size_t n = strcspn(g, "|");
            sb_putn(&b, g, n);
            g += n;
            if (!*g) break;
            sb_put(&b, ", ");
        }
    }
    return b.len;
}

/* ---- feature matrices -------------------------------------------------------------- */

typedef size_t (*text_fn)(const fr_dataset *, int32_t, char *, size_t);

/* Encodes text(ds, i) for i < n into *out [n x dim]. */
static fr_status encode_all(const fr_dataset *ds, text_fn text, int32_t n, int32_t dim,
                            uint64_t seed, float **out, fr_error *err) {
    if (dim < 1) return fr_fail(err, FR_ERR_USAGE, "text features: dim %d must be at least 1", dim);
    size_t count = (size_t)(n > 0 ? n : 0) * (size_t)dim;
    float *x = fr_alloc(count, sizeof(float)); /* [n x dim] */
    if (!x) return fr_nomem(err, "text features", count * sizeof(float));
    /* Longer than the encoder reads, so a word crossing FR_TEXT_MAX_BYTES is seen whole. */
    char buf[2 * FR_TEXT_MAX_BYTES];
    for (int32_t i = 0; i < n; i++) {
        text(ds, i, buf, sizeof buf);
        fr_text_encode(buf, dim, seed, x + (size_t)i * (size_t)dim);
    }
    *out = x;
    return FR_OK;
}

fr_status fr_user_text_features(const fr_dataset *ds, int32_t dim, uint64_t seed, float **out,
                                fr_error *err) {
    *out = NULL;
    if (!ds->users_meta)
        return fr_fail(err, FR_ERR_INPUT, "%s: no user metadata (users.dat or u.user beside "
                       "it) to build user text features from", ds->source);
    return encode_all(ds, fr_user_profile_text, ds->n_users, dim, seed, out, err);
}

fr_status fr_item_text_features(const fr_dataset *ds, int32_t dim, uint64_t seed, float **out,
                                fr_error *err) {
    *out = NULL;
    if (!ds->items_meta)
        return fr_fail(err, FR_ERR_INPUT, "%s: no item metadata (movies.dat or u.item beside "
                       "it) to build item text features from", ds->source);
    return encode_all(ds, fr_item_text, ds->n_items, dim, seed, out, err);
}
