/* loader.c - reading interaction files into a dataset (fr_dataset_load).
 *
 * One pass over the whole file held in memory: each line is split into fields and its
 * numbers parsed by hand (no sscanf), the raw rows are collected, and
 * fr_dataset_from_triples builds the CSR layout. Formats are described in dataset.h;
 * FR_FORMAT_AUTO recognises a file by its name (ratings.dat, u.data, user_artists.dat,
 * *.csv, *.tsv) and otherwise by its first lines:
 *   a first line containing "::"                 -> MovieLens ratings.dat
 *   a first field that is not a number           -> CSV/TSV header (comma or tab)
 *   3-4 numeric tab-separated fields             -> MovieLens-100K style, no header
 *   2 numbers per line (spaces or tabs)          -> SASRec pairs
 *   more numbers on some line                    -> one sequence per line
 * A directory is searched for the ratings file; MovieLens metadata beside it is read by
 * movielens_meta.c. Rating ranges: MovieLens formats 1..5 (explicit --format or the
 * file's own name), anything else [0, 1e9] (listening counts, click weights).
 *
 * Leaves out: quoted CSV fields that contain the delimiter, compressed files.
 */
#include "fedrec/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"
#include "loader_internal.h"

#define WEIGHT_MAX 1e9
#define MAX_COLUMNS 256
#define DETECT_LINES 1000

/* ---- text helpers (shared with movielens_meta.c) ---------------------------------- */

void fr_line_iter_init(fr_line_iter *it, const char *buf, size_t len) {
    it->p = buf;
    it->end = buf + len;
    it->lineno = 0;
}

int fr_line_iter_next(fr_line_iter *it, fr_span *line) {
    if (it->p >= it->end) return 0;
    const char *s = it->p;
    const char *nl = memchr(s, '\n', (size_t)(it->end - s));
    const char *e = nl ? nl : it->end;
    it->p = nl ? nl + 1 : it->end;
    it->lineno++;
    if (e > s && e[-1] == '\r') e--;
    line->s = s;
    line->e = e;
    return 1;
}

int fr_span_blank(fr_span line) {
    for (const char *p = line.s; p < line.e; p++)
        if (*p != ' ' && *p != '\t') return 0;
    return 1;
}

fr_span fr_span_trim(fr_span f) {
    while (f.s < f.e && (*f.s == ' ' || *f.s == '\t')) f.s++;
    while (f.e > f.s && (f.e[-1] == ' ' || f.e[-1] == '\t')) f.e--;
    return f;
}

int fr_split(fr_span line, const char *delim, size_t dlen, fr_span *fields, int max) {
    int n = 0;
    const char *s = line.s, *p = line.s;
    while (p + dlen <= line.e) {
        if (*p == delim[0] && (dlen == 1 || memcmp(p, delim, dlen) == 0)) {
            if (n < max) fields[n] = (fr_span){ s, p };
            n++;
            p += dlen;
            s = p;
        } else {
            p++;
        }
    }
    if (n < max) fields[n] = (fr_span){ s, line.e };
    return n + 1;
}

int fr_split_blanks(fr_span line, fr_span *fields, int max) {
    int n = 0;
    const char *p = line.s;
    for (;;) {
        while (p < line.e && (*p == ' ' || *p == '\t')) p++;
        if (p >= line.e) break;
        const char *s = p;
        while (p < line.e && *p != ' ' && *p != '\t') p++;
        if (n < max) fields[n] = (fr_span){ s, p };
        n++;
    }
    return n;
}

fr_status fr_loader_fail(fr_error *err, const char *path, int64_t line, const char *fmt, ...) {
    char what[FR_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* Quoted field text may hold control bytes (a stray '\r'): show them escaped, so the
     * message stays one printable line. */
    char shown[FR_ERROR_MAX];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)what; *p && n + 5 < sizeof shown; p++) {
        if (*p >= 0x20 && *p != 0x7F) {
            shown[n++] = (char)*p;
        } else if (*p == '\t' || *p == '\r') {
            shown[n++] = '\\';
            shown[n++] = *p == '\t' ? 't' : 'r';
        } else {
            n += (size_t)snprintf(shown + n, sizeof shown - n, "\\x%02X", *p);
        }
    }
    shown[n] = 0;
    return fr_fail(err, FR_ERR_INPUT, "%s:%lld: %s", path, (long long)line, shown);
}

#define SHOW(f) (int)((f).e - (f).s > 60 ? 60 : (f).e - (f).s), (f).s

/* 0: an integer in *out; 1: not integer syntax; 2: integer that overflows int64. */
static int scan_i64(fr_span f, int64_t *out) {
    const char *p = f.s;
    int neg = 0;
    if (p < f.e && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p == f.e) return 1;
    for (const char *q = p; q < f.e; q++)
        if (*q < '0' || *q > '9') return 1;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < f.e; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10) return 2;
        v = v * 10 + d;
    }
    *out = neg ? (v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

/* strtod over a bounded copy of the field; 1 when the whole field is a number. */
static int scan_double(fr_span f, double *out) {
    char buf[64];
    size_t n = (size_t)(f.e - f.s);
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, f.s, n);
    buf[n] = 0;
    char *end;
    *out = strtod(buf, &end);
    return end == buf + n;
}

fr_status fr_parse_int(fr_span f, const char *field, const char *path, int64_t line,
                       int64_t lo, int64_t hi, int64_t *out, fr_error *err) {
    double d;
    int r = scan_i64(f, out);
    if (r == 1)
        return fr_loader_fail(err, path, line, "field '%s': '%.*s' is not %s", field, SHOW(f),
                              scan_double(f, &d) ? "an integer" : "a number");
    if (r == 2 || *out < lo || *out > hi)
        return fr_loader_fail(err, path, line, "field '%s': %.*s is out of range [%lld, %lld]",
                              field, SHOW(f), (long long)lo, (long long)hi);
    return FR_OK;
}

fr_status fr_parse_id(fr_span f, const char *field, const char *path, int64_t line,
                      int64_t *out, fr_error *err) {
    /* The fast path: plain digits, as in every real file. */
    const char *p = f.s;
    if (p < f.e && f.e - p <= 18) {
        int64_t v = 0;
        for (; p < f.e && *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
        if (p == f.e) {
            *out = v;
            return FR_OK;
        }
    }
    return fr_parse_int(f, field, path, line, 0, INT64_MAX, out, err);
}

fr_status fr_parse_real(fr_span f, const char *field, const char *path, int64_t line,
                        double lo, double hi, double *out, fr_error *err) {
    /* The fast path: one digit, as in every MovieLens rating. */
    if (f.e - f.s == 1 && *f.s >= '0' && *f.s <= '9') {
        *out = *f.s - '0';
    } else if (!scan_double(f, out)) {
        return fr_loader_fail(err, path, line, "field '%s': '%.*s' is not a number", field,
                              SHOW(f));
    }
    if (!isfinite(*out) || *out < lo || *out > hi)
        return fr_loader_fail(err, path, line, "field '%s': %.*s is out of range [%.15g, %.15g]",
                              field, SHOW(f), lo, hi);
    return FR_OK;
}

char *fr_latin1_to_utf8(fr_span f) {
    size_t n = 0;
    for (const char *p = f.s; p < f.e; p++) n += ((unsigned char)*p >= 0x80) ? 2 : 1;
    char *out = fr_alloc(n + 1, 1);
    if (!out) return NULL;
    char *q = out;
    for (const char *p = f.s; p < f.e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80) {
            *q++ = (char)(0xC0 | (c >> 6));
            *q++ = (char)(0x80 | (c & 0x3F));
        } else {
            *q++ = (char)c;
        }
    }
    *q = 0;
    return out;
}

/* ---- collected rows --------------------------------------------------------------- */

typedef struct rows {
    int64_t n, cap;
    int64_t *user, *item, *time; /* [cap] raw ids, timestamps */
    float *rating;               /* [cap] */
} rows;

static void rows_free(rows *r) {
    fr_free(r->user);
    fr_free(r->item);
    fr_free(r->time);
    fr_free(r->rating);
    memset(r, 0, sizeof *r);
}

static fr_status rows_grow(rows *r, int64_t want, fr_error *err) {
    if (want <= r->cap) return FR_OK;
    int64_t cap = r->cap ? r->cap : 1024;
    while (cap < want) cap *= 2;
    int64_t *u = fr_realloc(r->user, (size_t)cap, sizeof(int64_t));
    if (u) r->user = u;
    int64_t *i = fr_realloc(r->item, (size_t)cap, sizeof(int64_t));
    if (i) r->item = i;
    int64_t *t = fr_realloc(r->time, (size_t)cap, sizeof(int64_t));
    if (t) r->time = t;
    float *x = fr_realloc(r->rating, (size_t)cap, sizeof(float));
    if (x) r->rating = x;
    if (!u || !i || !t || !x) return fr_nomem(err, "interaction rows", (size_t)cap * 28);
    r->cap = cap;
    return FR_OK;
}

/* ---- delimited tables: ML ratings.dat, u.data, CSV/TSV, pairs --------------------- */

typedef struct table_spec {
    const char *delim;      /* NULL: runs of spaces and tabs */
    size_t dlen;
    const char *delim_name; /* for messages: "'::'", "tabs", "','", "spaces" */
    int n_fields;           /* every data line has exactly this many */
    int col_user, col_item, col_rating, col_time; /* field index, -1 when absent */
    double rating_lo, rating_hi;
} table_spec;

/* Strips blanks and one pair of surrounding double quotes. */
static fr_span unquote(fr_span f) {
    f = fr_span_trim(f);
    if (f.e - f.s >= 2 && *f.s == '"' && f.e[-1] == '"') {
        f.s++;
        f.e--;
    }
    return f;
}

static fr_status parse_table(const char *path, const char *buf, size_t len, int64_t skip_to,
                             const table_spec *ts, rows *r, fr_error *err) {
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line, fields[MAX_COLUMNS];
    fr_status st;
    while (fr_line_iter_next(&it, &line)) {
        if (it.lineno <= skip_to || fr_span_blank(line)) continue;
        int nf = ts->delim ? fr_split(line, ts->delim, ts->dlen, fields, MAX_COLUMNS)
                           : fr_split_blanks(line, fields, MAX_COLUMNS);
        if (nf != ts->n_fields)
            return fr_loader_fail(err, path, it.lineno,
                                  "expected %d fields separated by %s, found %d",
                                  ts->n_fields, ts->delim_name, nf);
        if (r->n == r->cap && (st = rows_grow(r, r->n + 1, err)) != FR_OK) return st;
        int64_t k = r->n;
        st = fr_parse_id(unquote(fields[ts->col_user]), "user", path, it.lineno,
                         &r->user[k], err);
        if (st != FR_OK) return st;
        st = fr_parse_id(unquote(fields[ts->col_item]), "item", path, it.lineno,
                         &r->item[k], err);
        if (st != FR_OK) return st;
        if (ts->col_rating >= 0) {
            double v;
            st = fr_parse_real(unquote(fields[ts->col_rating]), "rating", path, it.lineno,
                               ts->rating_lo, ts->rating_hi, &v, err);
            if (st != FR_OK) return st;
            r->rating[k] = (float)v;
        }
        if (ts->col_time >= 0) {
            st = fr_parse_int(unquote(fields[ts->col_time]), "timestamp", path, it.lineno,
                              INT64_MIN, INT64_MAX, &r->time[k], err);
            if (st != FR_OK) return st;
        }
        r->n++;
    }
    return FR_OK;
}

/* Column roles a CSV/TSV header may name, with their accepted spellings. */
static const char *const user_names[] = { "user", "userid", "user_id", "uid", NULL };
static const char *const item_names[] = { "item", "itemid", "item_id", "movieid", "movie_id",
                                          "artistid", "iid", NULL };
static const char *const rating_names[] = { "rating", "weight", "score", NULL };
static const char *const time_names[] = { "timestamp", "time", "ts", NULL };

static int name_in(fr_span f, const char *const *names) {
    size_t n = (size_t)(f.e - f.s);
    for (int k = 0; names[k]; k++)
        if (strlen(names[k]) == n && strncasecmp(f.s, names[k], n) == 0) return 1;
    return 0;
}

/* Reads the header (the first non-blank line) of a CSV/TSV file into ts. */
static fr_status parse_header(const char *path, const char *buf, size_t len, char delim,
                              table_spec *ts, int64_t *header_line, fr_error *err) {
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line = { buf, buf }, fields[MAX_COLUMNS];
    while (fr_line_iter_next(&it, &line) && fr_span_blank(line)) {}
    *header_line = it.lineno;
    int nf = fr_split(line, &delim, 1, fields, MAX_COLUMNS);
    if (nf > MAX_COLUMNS)
        return fr_loader_fail(err, path, it.lineno, "header has %d columns (at most %d)", nf,
                              MAX_COLUMNS);
    ts->delim = delim == '\t' ? "\t" : ",";
    ts->dlen = 1;
    ts->delim_name = delim == '\t' ? "tabs" : "','";
    ts->n_fields = nf;
    ts->col_user = ts->col_item = ts->col_rating = ts->col_time = -1;
    ts->rating_lo = 0;
    ts->rating_hi = WEIGHT_MAX;
    static const char *const role_name[4] = { "user", "item", "rating", "timestamp" };
    for (int c = 0; c < nf; c++) {
        fr_span name = unquote(fields[c]);
        int role = name_in(name, user_names)     ? 0
                   : name_in(name, item_names)   ? 1
                   : name_in(name, rating_names) ? 2
                   : name_in(name, time_names)   ? 3
                                                 : -1;
        if (role < 0) continue;
        int *col = role == 0 ? &ts->col_user
                   : role == 1 ? &ts->col_item
                   : role == 2 ? &ts->col_rating
                               : &ts->col_time;
        if (*col >= 0) {
            fr_span first = unquote(fields[*col]);
            return fr_loader_fail(err, path, it.lineno,
                                  "header has two '%s' columns ('%.*s' and '%.*s')",
                                  role_name[role], SHOW(first), SHOW(name));
        }
        *col = c;
    }
    if (ts->col_user < 0)
        return fr_loader_fail(err, path, it.lineno, "header has no 'user' column");
    if (ts->col_item < 0)
        return fr_loader_fail(err, path, it.lineno, "header has no 'item' column");
    return FR_OK;
}

/* ---- sequences: `user item1 item2 ...` -------------------------------------------- */

static fr_status parse_seq(const char *path, const char *buf, size_t len, rows *r,
                           fr_error *err) {
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line;
    fr_status st;
    while (fr_line_iter_next(&it, &line)) {
        const char *p = line.s;
        int64_t user = 0;
        int first = 1;
        for (;;) {
            while (p < line.e && (*p == ' ' || *p == '\t')) p++;
            if (p >= line.e) break;
            fr_span tok = { p, p };
            while (tok.e < line.e && *tok.e != ' ' && *tok.e != '\t') tok.e++;
            p = tok.e;
            if (first) {
                st = fr_parse_id(tok, "user", path, it.lineno, &user, err);
                if (st != FR_OK) return st;
                first = 0;
                continue;
            }
            if (r->n == r->cap && (st = rows_grow(r, r->n + 1, err)) != FR_OK) return st;
            st = fr_parse_id(tok, "item", path, it.lineno, &r->item[r->n], err);
            if (st != FR_OK) return st;
            r->user[r->n++] = user;
        }
    }
    return FR_OK;
}

/* ---- recognising a format --------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* The format a file's name implies, or FR_FORMAT_AUTO when the name says nothing. */
static fr_format format_from_name(const char *path) {
    const char *b = base_name(path);
    if (strcmp(b, "ratings.dat") == 0) return FR_FORMAT_ML_DAT;
    if (strcmp(b, "u.data") == 0) return FR_FORMAT_ML100K;
    if (strcmp(b, "user_artists.dat") == 0 || ends_with(b, ".tsv")) return FR_FORMAT_TSV;
    if (ends_with(b, ".csv")) return FR_FORMAT_CSV;
    return FR_FORMAT_AUTO;
}

static int is_integer(fr_span f) {
    int64_t v;
    return scan_i64(fr_span_trim(f), &v) == 0;
}

/* Recognises the format from the first lines. *loose_fields is set (3 or 4) when the
 * file is a header-less numeric TSV that is not named u.data. */
static fr_status format_from_content(const char *path, const char *buf, size_t len,
                                     fr_format *out, int *loose_fields, fr_error *err) {
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line = { buf, buf }, fields[8];
    while (fr_line_iter_next(&it, &line) && fr_span_blank(line)) {}
    int has_tab = memchr(line.s, '\t', (size_t)(line.e - line.s)) != NULL;
    int has_comma = memchr(line.s, ',', (size_t)(line.e - line.s)) != NULL;
    for (const char *p = line.s; p + 1 < line.e; p++) {
        if (p[0] == ':' && p[1] == ':') {
            *out = FR_FORMAT_ML_DAT;
            return FR_OK;
        }
    }
    char delim = has_tab ? '\t' : has_comma ? ',' : 0;
    int nf = delim ? fr_split(line, &delim, 1, fields, 8) : fr_split_blanks(line, fields, 8);
    if (!is_integer(fields[0])) {
        if (delim) {
            *out = delim == '\t' ? FR_FORMAT_TSV : FR_FORMAT_CSV;
            return FR_OK;
        }
    } else if (delim == '\t' && (nf == 3 || nf == 4)) {
        *out = FR_FORMAT_ML100K;
        *loose_fields = nf;
        return FR_OK;
    } else if (delim != ',') {
        /* Numbers separated by blanks: pairs if every line has two, else sequences. */
        int most = 0;
        do {
            if (fr_span_blank(line)) continue;
            int k = fr_split_blanks(line, fields, 8);
            if (k > most) most = k;
        } while (it.lineno < DETECT_LINES && most <= 2 && fr_line_iter_next(&it, &line));
        if (most >= 2) {
            *out = most == 2 ? FR_FORMAT_PAIRS : FR_FORMAT_SEQ;
            return FR_OK;
        }
    }
    return fr_fail(err, FR_ERR_INPUT,
                   "%s: unrecognised format (use --format movielens, ml100k, csv, tsv, seq or "
                   "pairs)", path);
}

/* ---- the entry point -------------------------------------------------------------- */

static const char *const dir_candidates[] = { "ratings.dat", "u.data", "ratings.csv",
                                              "ratings.tsv", "user_artists.dat", "Beauty.txt",
                                              NULL };

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

/* Picks the ratings file inside directory DIR into file[size]. */
static fr_status find_in_dir(const char *dir, char *file, size_t size, fr_error *err) {
    size_t n = strlen(dir);
    const char *sep = (n > 0 && dir[n - 1] == '/') ? "" : "/";
    for (int k = 0; dir_candidates[k]; k++) {
        snprintf(file, size, "%s%s%s", dir, sep, dir_candidates[k]);
        if (is_file(file)) return FR_OK;
    }
    return fr_fail(err, FR_ERR_INPUT,
                   "%s: no ratings file found (looked for ratings.dat, u.data, ratings.csv, "
                   "ratings.tsv, user_artists.dat, Beauty.txt)", dir);
}

static fr_status load_file(const char *file, fr_format format, const char *buf, size_t len,
                           fr_dataset *ds, fr_error *err) {
    int loose = 0;
    fr_status st = FR_OK;
    if (format == FR_FORMAT_AUTO) format = format_from_name(file);
    if (format == FR_FORMAT_AUTO) st = format_from_content(file, buf, len, &format, &loose, err);
    if (st != FR_OK) return st;

    rows r = { 0 };
    /* Most formats hold one row per line: reserve that many up front. */
    int64_t lines = 1;
    for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + len - p))) != NULL; p++)
        lines++;
    if ((st = rows_grow(&r, lines, err)) != FR_OK) goto done;

    table_spec ts = { 0 };
    int64_t header_line = 0;
    switch (format) {
    case FR_FORMAT_ML_DAT:
        ts = (table_spec){ "::", 2, "'::'", 4, 0, 1, 2, 3, 1, 5 };
        break;
    case FR_FORMAT_ML100K:
        ts = (table_spec){ "\t", 1, "tabs", 4, 0, 1, 2, 3, 1, 5 };
        if (loose) {
            ts.n_fields = loose;
            ts.col_time = loose == 4 ? 3 : -1;
            ts.rating_lo = 0;
            ts.rating_hi = WEIGHT_MAX;
        }
        break;
    case FR_FORMAT_CSV:
    case FR_FORMAT_TSV:
        st = parse_header(file, buf, len, format == FR_FORMAT_TSV ? '\t' : ',', &ts,
                          &header_line, err);
        break;
    case FR_FORMAT_PAIRS:
        ts = (table_spec){ NULL, 0, "spaces", 2, 0, 1, -1, -1, 0, 0 };
        break;
    case FR_FORMAT_SEQ:
        break;
    default:
        st = fr_fail(err, FR_ERR_USAGE, "%s: format '%s' cannot be read from a file", file,
                     fr_format_name(format));
        break;
    }
    if (st != FR_OK) goto done;
    st = format == FR_FORMAT_SEQ ? parse_seq(file, buf, len, &r, err)
                                 : parse_table(file, buf, len, header_line, &ts, &r, err);
    if (st != FR_OK) goto done;
    if (r.n == 0) {
        st = fr_fail(err, FR_ERR_INPUT, "%s: no interactions", file);
        goto done;
    }
    int has_rating = format != FR_FORMAT_SEQ && ts.col_rating >= 0;
    int has_time = format != FR_FORMAT_SEQ && ts.col_time >= 0;
    st = fr_dataset_from_triples(ds, r.n, r.user, r.item, has_rating ? r.rating : NULL,
                                 has_time ? r.time : NULL, err);
    if (st != FR_OK) goto done;
    snprintf(ds->source, sizeof ds->source, "%s", file);
    ds->format = format;

done:
    rows_free(&r);
    return st;
}

fr_status fr_dataset_load(const char *path, fr_format format, fr_dataset *ds, fr_error *err) {
    memset(ds, 0, sizeof *ds);
    if (!path || !*path) return fr_fail(err, FR_ERR_USAGE, "no data path given");
    if (strlen(path) > 900) return fr_fail(err, FR_ERR_USAGE, "%.60s...: path too long", path);
    if (format == FR_FORMAT_SYNTHETIC)
        return fr_fail(err, FR_ERR_USAGE,
                       "%s: the synthetic format is generated, not loaded (fr_synth_generate)",
                       path);

    char file[1024];
    fr_status st = FR_OK;
    if (is_dir(path)) {
        st = find_in_dir(path, file, sizeof file, err);
        if (st != FR_OK) return st;
    } else {
        snprintf(file, sizeof file, "%s", path);
    }

    char *buf = NULL;
    size_t len = 0;
    st = fr_read_file(file, &buf, &len, err);
    if (st != FR_OK) return st;
    /* A UTF-8 byte-order mark (spreadsheet exports) is not part of the first field. */
    size_t bom = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    int blank = 1;
    for (size_t k = bom; k < len && blank; k++)
        blank = buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r' || buf[k] == '\n';
    if (blank) {
        fr_free(buf);
        return fr_fail(err, FR_ERR_INPUT, "%s: empty file", file);
    }
    st = load_file(file, format, buf + bom, len - bom, ds, err);
    fr_free(buf);
    if (st != FR_OK) return st;

    /* Metadata beside the ratings file. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash) {
        slash[slash == dir ? 1 : 0] = 0;
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    if (ds->format == FR_FORMAT_ML_DAT) st = fr_meta_load_ml1m(ds, dir, err);
    if (ds->format == FR_FORMAT_ML100K) st = fr_meta_load_ml100k(ds, dir, err);
    if (st != FR_OK) fr_dataset_free(ds);
    return st;
}
