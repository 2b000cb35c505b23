/* npy.c - reading and writing float matrices in NumPy's .npy format.
 *
 * Layout (NumPy NEP 1, "A Simple File Format for NumPy Arrays"; numpy/lib/format.py):
 *     "\x93NUMPY" | major | minor | HEADER_LEN (u16 LE in 1.0, u32 LE in 2.0/3.0)
 *     | HEADER_LEN bytes: a Python dict literal, space-padded, ending in '\n'
 *     | the array bytes, C order or (fortran_order True) column-major
 * Version 3.0 differs from 2.0 only in allowing UTF-8 in the header (structured field
 * names), which this reader never needs to interpret.
 *
 * The header parser accepts the Python literal syntax np.save and other writers
 * produce: single- or double-quoted strings, True/False, tuples of integers (a Python 2
 * 'L' suffix allowed), whitespace anywhere, trailing commas. The dict must hold exactly
 * the keys 'descr', 'fortran_order' and 'shape', as numpy.lib.format requires.
 *
 * Values are decoded byte by byte with explicit byte order, so neither the reader nor
 * the writer depends on the host's endianness (only on float being IEEE binary32).
 * The writer pads the header so the data starts at a multiple of 64 bytes, as NumPy
 * does since 1.15.
 *
 * Dimension letters: R rows, C columns (a 1-D array of n is R = n, C = 1).
 *
 * Leaves out: .npz, dtypes other than float16/32/64, more than two dimensions, memory
 * mapping and streaming reads (the whole file is read with fr_read_file).
 */
#include "fedrec/npy.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_MAX_DIMS 64 /* NumPy 2's NPY_MAXDIMS: more is not a NumPy array */
#define NPY_SHOW 60     /* at most this many bytes of header text in a message */

/* What the header says. */
typedef struct npy_header {
    char order;          /* '<' little-endian, '>' big-endian */
    int itemsize;        /* 2, 4 or 8 */
    char descr[8];       /* as written, for messages ("<f8") */
    int fortran;         /* 1: column-major data */
    int ndim;
    int64_t shape[2];    /* [ndim] */
    const char *shape_s; /* [shape_s, shape_e): the shape tuple as written */
    const char *shape_e;
} npy_header;

/* A cursor over the header text, carrying what a message needs. */
typedef struct hparser {
    const char *start, *p, *end;
    const char *path;
    fr_error *err;
} hparser;

/* ---- the header's Python literal ----------------------------------------------------- */

/* Fails with "PATH: header is not a dict literal: WHAT (at byte N of the header)". */
static fr_status hp_fail(hparser *hp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fr_status hp_fail(hparser *hp, const char *fmt, ...) {
    char what[FR_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fr_fail(hp->err, FR_ERR_INPUT,
                   "%s: header is not a dict literal: %s (at byte %td of the header)", hp->path,
                   what, hp->p - hp->start);
}

static void hp_skip_ws(hparser *hp) {
    while (hp->p < hp->end && (*hp->p == ' ' || *hp->p == '\t' || *hp->p == '\n' ||
                               *hp->p == '\r'))
        hp->p++;
}

/* Skips whitespace and consumes C when it comes next; returns 1 when it did. */
static int hp_accept(hparser *hp, char c) {
    hp_skip_ws(hp);
    if (hp->p < hp->end && *hp->p == c) {
        hp->p++;
        return 1;
    }
    return 0;
}

/* Length of the token at p (up to a delimiter), capped at NPY_SHOW, for messages. */
static int hp_token_len(const hparser *hp) {
    const char *q = hp->p;
    while (q < hp->end && q - hp->p < NPY_SHOW && !strchr(" \t\r\n,:}", *q)) q++;
    return (int)(q - hp->p);
}

/* Parses a quoted string; [*s, *e) is its content as written (escapes kept). */
static fr_status hp_string(hparser *hp, const char **s, const char **e) {
    hp_skip_ws(hp);
    if (hp->p >= hp->end || (*hp->p != '\'' && *hp->p != '"'))
        return hp_fail(hp, "expected a quoted string, found '%.*s'", hp_token_len(hp), hp->p);
    char q = *hp->p++;
    *s = hp->p;
    while (hp->p < hp->end && *hp->p != q) hp->p += (*hp->p == '\\' && hp->p + 1 < hp->end) ? 2 : 1;
    if (hp->p >= hp->end) return hp_fail(hp, "unterminated string");
    *e = hp->p++;
    return FR_OK;
}

/* Parses a Python integer literal into *v; 1 when there was one (*bad set when it
 * was negative or too large). */
static int hp_int(hparser *hp, int64_t *v, int *bad) {
    hp_skip_ws(hp);
    const char *q = hp->p;
    int neg = q < hp->end && *q == '-';
    if (neg) q++;
    if (q >= hp->end || *q < '0' || *q > '9') return 0;
    *v = 0;
    *bad = neg;
    for (; q < hp->end && *q >= '0' && *q <= '9'; q++) {
        if (*v > (INT64_MAX - (*q - '0')) / 10) *bad = 1;
        else *v = *v * 10 + (*q - '0');
    }
    if (q < hp->end && (*q == 'L' || *q == 'l')) q++; /* Python 2 long */
    hp->p = q;
    return 1;
}

/* ---- the three keys ---------------------------------------------------------------- */

static fr_status parse_descr(hparser *hp, npy_header *h) {
    hp_skip_ws(hp);
    if (hp->p < hp->end && *hp->p == '[')
        return fr_fail(hp->err, FR_ERR_INPUT,
                       "%s: descr is a list (a structured dtype), not a floating-point type; "
                       "fedrec reads <f4, <f8, <f2, >f4, >f8, >f2", hp->path);
    const char *s, *e;
    fr_status st = hp_string(hp, &s, &e);
    if (st != FR_OK) return st;
    size_t n = (size_t)(e - s);
    if (n != 3 || (s[0] != '<' && s[0] != '>') || s[1] != 'f' ||
        (s[2] != '2' && s[2] != '4' && s[2] != '8'))
        return fr_fail(hp->err, FR_ERR_INPUT,
                       "%s: descr '%.*s' is not a floating-point type fedrec reads "
                       "(<f4, <f8, <f2, >f4, >f8, >f2)", hp->path,
                       (int)(n > NPY_SHOW ? NPY_SHOW : n), s);
    h->order = s[0];
    h->itemsize = s[2] - '0';
    memcpy(h->descr, s, 3);
    h->descr[3] = '\0';
    return FR_OK;
}

static fr_status parse_fortran(hparser *hp, npy_header *h) {
    hp_skip_ws(hp);
    size_t left = (size_t)(hp->end - hp->p);
    if (left >= 4 && memcmp(hp->p, "True", 4) == 0) {
        h->fortran = 1;
        hp->p += 4;
    } else if (left >= 5 && memcmp(hp->p, "False", 5) == 0) {
        h->fortran = 0;
        hp->p += 5;
    } else {
        return fr_fail(hp->err, FR_ERR_INPUT, "%s: fortran_order '%.*s' is not True or False",
                       hp->path, hp_token_len(hp), hp->p);
    }
    return FR_OK;
}

/* Fails with "PATH: shape (...): WHAT" quoting the tuple as written so far. */
static fr_status shape_fail(hparser *hp, const char *s, const char *what) {
    const char *e = s;
    while (e < hp->end && e - s < NPY_SHOW && *e != ')') e++;
    if (e < hp->end && *e == ')') e++;
    return fr_fail(hp->err, FR_ERR_INPUT, "%s: shape %.*s: %s", hp->path, (int)(e - s), s, what);
}

static fr_status parse_shape(hparser *hp, npy_header *h) {
    hp_skip_ws(hp);
    const char *s = hp->p;
    if (!hp_accept(hp, '('))
        return fr_fail(hp->err, FR_ERR_INPUT, "%s: shape '%.*s' is not a tuple of integers",
                       hp->path, hp_token_len(hp), hp->p);
    int n = 0;
    while (!hp_accept(hp, ')')) {
        int64_t v;
        int bad;
        if (!hp_int(hp, &v, &bad)) return shape_fail(hp, s, "is not a tuple of integers");
        if (bad) return shape_fail(hp, s, "a dimension is negative or too large");
        if (n < 2) h->shape[n] = v;
        if (++n > NPY_MAX_DIMS) return shape_fail(hp, s, "has too many dimensions");
        if (!hp_accept(hp, ',') && (hp_skip_ws(hp), hp->p >= hp->end || *hp->p != ')'))
            return shape_fail(hp, s, "is not a tuple of integers");
    }
    h->ndim = n;
    h->shape_s = s;
    h->shape_e = hp->p;
    if (n == 1 && memchr(s, ',', (size_t)(hp->p - s)) == NULL)
        return shape_fail(hp, s, "is a parenthesised integer, not a tuple (write (n,))");
    if (n < 1 || n > 2) {
        char what[96];
        snprintf(what, sizeof what, "has %d dimensions; fedrec reads 1-D and 2-D arrays", n);
        return shape_fail(hp, s, what);
    }
    return FR_OK;
}

/* ---- the dict ---------------------------------------------------------------------- */

static const char *const npy_keys[3] = { "descr", "fortran_order", "shape" };

/* Index of the key [s, e) in npy_keys, or -1. */
static int key_index(const char *s, const char *e) {
    for (int k = 0; k < 3; k++)
        if ((size_t)(e - s) == strlen(npy_keys[k]) && memcmp(s, npy_keys[k], (size_t)(e - s)) == 0)
            return k;
    return -1;
}

static fr_status parse_entry(hparser *hp, npy_header *h, int seen[3]) {
    const char *ks, *ke;
    fr_status st = hp_string(hp, &ks, &ke);
    if (st != FR_OK) return st;
    int k = key_index(ks, ke);
    int klen = (int)(ke - ks > NPY_SHOW ? NPY_SHOW : ke - ks);
    if (k < 0)
        return fr_fail(hp->err, FR_ERR_INPUT,
                       "%s: header: unknown key '%.*s' (a .npy header holds exactly 'descr', "
                       "'fortran_order' and 'shape')", hp->path, klen, ks);
    if (seen[k])
        return fr_fail(hp->err, FR_ERR_INPUT, "%s: header: key '%s' appears twice", hp->path,
                       npy_keys[k]);
    seen[k] = 1;
    if (!hp_accept(hp, ':')) return hp_fail(hp, "expected ':' after key '%s'", npy_keys[k]);
    if (k == 0) return parse_descr(hp, h);
    if (k == 1) return parse_fortran(hp, h);
    return parse_shape(hp, h);
}

/* Parses the header text [s, e) into *h. */
static fr_status parse_header(const char *path, const char *s, const char *e, npy_header *h,
                              fr_error *err) {
    hparser hp = { s, s, e, path, err };
    int seen[3] = { 0, 0, 0 };
    memset(h, 0, sizeof *h);
    if (!hp_accept(&hp, '{')) return hp_fail(&hp, "expected '{'");
    while (!hp_accept(&hp, '}')) {
        fr_status st = parse_entry(&hp, h, seen);
        if (st != FR_OK) return st;
        if (!hp_accept(&hp, ',') && (hp_skip_ws(&hp), hp.p >= hp.end || *hp.p != '}'))
            return hp_fail(&hp, "expected ',' or '}'");
    }
    hp_skip_ws(&hp);
    if (hp.p != hp.end) return hp_fail(&hp, "text after the closing '}'");
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return fr_fail(err, FR_ERR_INPUT, "%s: header: missing key '%s'", path, npy_keys[k]);
    return FR_OK;
}

/* ---- the preamble ------------------------------------------------------------------ */

static uint32_t load_le(const unsigned char *b, int n) {
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* Checks magic and version; the header text is buf[*hs, *he) and the array bytes
 * start at *he. */
static fr_status read_preamble(const char *path, const unsigned char *buf, size_t len,
                               size_t *hs, size_t *he, fr_error *err) {
    if (len < NPY_MAGIC_LEN + 2 || memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return fr_fail(err, FR_ERR_INPUT, "%s: magic: not a .npy file (it does not start with "
                       "\\x93NUMPY)", path);
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return fr_fail(err, FR_ERR_INPUT, "%s: version %d.%d is not a .npy version fedrec "
                       "reads (1.0, 2.0, 3.0)", path, major, minor);
    int lenbytes = major == 1 ? 2 : 4;
    if (len < (size_t)(8 + lenbytes))
        return fr_fail(err, FR_ERR_INPUT, "%s: header length: file ends after %zu bytes", path,
                       len);
    uint32_t hlen = load_le(buf + 8, lenbytes);
    *hs = (size_t)(8 + lenbytes);
    if (hlen > len - *hs)
        return fr_fail(err, FR_ERR_INPUT, "%s: header length %" PRIu32 " runs past the end of "
                       "the file (%zu bytes)", path, hlen, len);
    *he = *hs + hlen;
    return FR_OK;
}

/* ---- the data ---------------------------------------------------------------------- */

/* IEEE binary16 bits to double (exact). */
static double half_to_double(uint32_t h) {
    int exp = (int)(h >> 10 & 0x1f);
    double man = (double)(h & 0x3ff), v;
    if (exp == 0) v = ldexp(man, -24);
    else if (exp == 31) v = man != 0.0 ? NAN : INFINITY;
    else v = ldexp(man + 1024.0, exp - 25);
    return (h & 0x8000) ? -v : v;
}

/* The element at b (h->itemsize bytes in h->order) as a double. */
static double decode(const unsigned char *b, const npy_header *h) {
    uint64_t bits = 0;
    for (int i = 0; i < h->itemsize; i++) {
        int k = h->order == '<' ? h->itemsize - 1 - i : i; /* most significant first */
        bits = bits << 8 | b[k];
    }
    if (h->itemsize == 2) return half_to_double((uint32_t)bits);
    if (h->itemsize == 4) {
        uint32_t u = (uint32_t)bits;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

static fr_status bad_value(const char *path, int64_t r, int64_t c, double v, fr_error *err) {
    const char *what = isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "Inf" : "-Inf") : NULL;
    if (what)
        return fr_fail(err, FR_ERR_INPUT, "%s: data: row %" PRId64 ", column %" PRId64
                       " (0-based) is %s", path, r, c, what);
    return fr_fail(err, FR_ERR_INPUT, "%s: data: row %" PRId64 ", column %" PRId64
                   " (0-based) is %g, outside float32's range", path, r, c, v);
}

/* Converts the array bytes src (storage order) into out [R x C] row-major. */
static fr_status convert(const char *path, const unsigned char *src, const npy_header *h,
                         int64_t R, int64_t C, float *out, fr_error *err) {
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c++) {
            int64_t k = h->fortran ? c * R + r : r * C + c;
            double v = decode(src + k * h->itemsize, h);
            if (!isfinite(v) || fabs(v) > FLT_MAX) return bad_value(path, r, c, v, err);
            out[r * C + c] = (float)v;
        }
    }
    return FR_OK;
}

/* Checks the shape against the bytes after the header; sets R, C. */
static fr_status check_size(const char *path, const npy_header *h, size_t have, int64_t *R,
                            int64_t *C, fr_error *err) {
    int shown = (int)(h->shape_e - h->shape_s);
    *R = h->shape[0];
    *C = h->ndim == 2 ? h->shape[1] : 1;
    if (*C > 0 && *R > (INT64_MAX / 8) / *C)
        return fr_fail(err, FR_ERR_INPUT, "%s: shape %.*s is too large", path, shown,
                       h->shape_s);
    uint64_t need = (uint64_t)(*R * *C) * (uint64_t)h->itemsize;
    if (need > have)
        return fr_fail(err, FR_ERR_INPUT, "%s: data: truncated: shape %.*s of '%s' needs %" PRIu64
                       " bytes, the file holds %zu after the header", path, shown, h->shape_s,
                       h->descr, need, have);
    if (need < have)
        return fr_fail(err, FR_ERR_INPUT, "%s: data: %" PRIu64 " bytes after the array (shape "
                       "%.*s of '%s' needs %" PRIu64 ")", path, (uint64_t)have - need, shown,
                       h->shape_s, h->descr, need);
    return FR_OK;
}

/* Everything after fr_read_file: preamble, header, size, conversion. */
static fr_status read_buffer(const char *path, const unsigned char *buf, size_t len,
                             float **data, int64_t *rows, int64_t *cols, fr_error *err) {
    size_t hs = 0, he = 0;
    npy_header h;
    int64_t R = 0, C = 0;
    fr_status st = read_preamble(path, buf, len, &hs, &he, err);
    if (st == FR_OK)
        st = parse_header(path, (const char *)buf + hs, (const char *)buf + he, &h, err);
    if (st == FR_OK) st = check_size(path, &h, len - he, &R, &C, err);
    if (st != FR_OK) return st;
    float *out = fr_alloc((size_t)(R * C), sizeof(float)); /* [R x C] */
    if (!out) return fr_nomem(err, path, (size_t)(R * C) * sizeof(float));
    st = convert(path, buf + he, &h, R, C, out, err);
    if (st != FR_OK) {
        fr_free(out);
        return st;
    }
    *data = out;
    *rows = R;
    *cols = C;
    return FR_OK;
}

fr_status fr_npy_read(const char *path, float **data, int64_t *rows, int64_t *cols,
                      fr_error *err) {
    *data = NULL;
    *rows = *cols = 0;
    char *buf;
    size_t len;
    fr_status st = fr_read_file(path, &buf, &len, err);
    if (st != FR_OK) return st;
    st = read_buffer(path, (const unsigned char *)buf, len, data, rows, cols, err);
    fr_free(buf);
    return st;
}

/* ---- writing ----------------------------------------------------------------------- */

/* Formats the version 1.0 preamble and header for shape (R, C) into out; returns its
 * length, a multiple of NPY_ALIGN. out must hold 256 bytes. */
static size_t format_header(unsigned char *out, int64_t R, int64_t C) {
    char dict[160];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%" PRId64 ", %" PRId64
                     "), }", R, C);
    size_t total = ((size_t)(10 + n + 1) + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t hlen = total - 10;
    memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
    out[6] = 1;
    out[7] = 0;
    out[8] = (unsigned char)(hlen & 0xff);
    out[9] = (unsigned char)(hlen >> 8);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', hlen - (size_t)n - 1);
    out[total - 1] = '\n';
    return total;
}

static fr_status check_write_args(const char *path, const float *data, int64_t R, int64_t C,
                                  fr_error *err) {
    if (R < 0 || C < 0 || (C > 0 && R > (INT64_MAX / 4) / C) || (R * C > 0 && !data))
        return fr_fail(err, FR_ERR_RUNTIME, "%s: bad matrix [%" PRId64 " x %" PRId64 "]", path,
                       R, C);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++)
            if (!isfinite(data[r * C + c]))
                return fr_fail(err, FR_ERR_RUNTIME, "%s: row %" PRId64 ", column %" PRId64
                               " (0-based) is %s; .npy features must be finite", path, r, c,
                               isnan(data[r * C + c]) ? "NaN" : "Inf");
    return FR_OK;
}

/* Writes data [n] as little-endian float32 through a small staging buffer. */
static int write_floats(FILE *f, const float *data, int64_t n) {
    unsigned char chunk[4096 * 4];
    for (int64_t i = 0; i < n;) {
        size_t m = 0;
        for (; m < 4096 && i < n; m++, i++) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            for (int b = 0; b < 4; b++) chunk[4 * m + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
        if (fwrite(chunk, 4, m, f) != m) return -1;
    }
    return 0;
}

fr_status fr_npy_write(const char *path, const float *data, int64_t rows, int64_t cols,
                       fr_error *err) {
    fr_status st = check_write_args(path, data, rows, cols, err);
    if (st != FR_OK) return st;
    unsigned char head[256];
    size_t hn = format_header(head, rows, cols);
    fr_atomic_file af;
    if ((st = fr_atomic_open(&af, path, err)) != FR_OK) return st;
    errno = 0;
    if (fwrite(head, 1, hn, af.f) != hn || write_floats(af.f, data, rows * cols) != 0) {
        int e = errno ? errno : EIO;
        fr_atomic_abort(&af);
        return fr_fail(err, FR_ERR_IO, "%s: write failed (%s)", path, strerror(e));
    }
    return fr_atomic_commit(&af, err);
}
