/* itemfeat.c - gathering item feature rows from an .npy matrix into dense item order
 * (itemfeat.h), through the raw id or a "raw_item_id row" map file.
 *
 * The map is read whole, checked line by line (syntax, row range), then sorted by
 * (raw id, line) so duplicates sit side by side and the data's items, ascending by raw
 * id like the sorted map, are matched in one merge walk.
 * Dimension letters: N items of the data, R rows of the matrix, D feature columns,
 * M map lines.
 *
 * Leaves out: what itemfeat.h lists.
 */
#include "fedrec/itemfeat.h"

#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"
#include "fedrec/npy.h"
#include "fedrec/textenc.h"
#include "loader_internal.h"

#define SHOW(f) (int)((f).e - (f).s > 60 ? 60 : (f).e - (f).s), (f).s

typedef struct map_entry {
    int64_t raw;   /* raw item id */
    int64_t row;   /* row of the matrix */
    int64_t line;  /* 1-based line of the map file */
} map_entry;

static int cmp_entry(const void *a, const void *b) {
    const map_entry *x = a, *y = b;
    if (x->raw != y->raw) return (x->raw > y->raw) - (x->raw < y->raw);
    return (x->line > y->line) - (x->line < y->line);
}

/* Reads the map at path into *out [*n] sorted by (raw, line), every row in [0, R).
 * Duplicates are refused here too. On failure *out is NULL. */
static fr_status map_read(const char *path, const char *npy_path, int64_t R, map_entry **out,
                          int64_t *n, fr_error *err) {
    *out = NULL;
    *n = 0;
    char *buf = NULL;
    size_t len = 0;
    fr_status st = fr_read_file(path, &buf, &len, err);
    if (st != FR_OK) return st;
    map_entry *e = NULL; /* [cap] */
    int64_t m = 0, cap = 0;
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line;
    while (st == FR_OK && fr_line_iter_next(&it, &line)) {
        const char *hash = memchr(line.s, '#', (size_t)(line.e - line.s));
        if (hash) line.e = hash;
        fr_span f[3];
        int nf = fr_split_blanks(line, f, 3);
        if (nf == 0) continue;
        if (nf != 2) {
            st = fr_loader_fail(err, path, it.lineno, "expected 2 fields 'raw_item_id row', "
                                "found %d", nf);
            break;
        }
        int64_t raw, row;
        st = fr_parse_id(f[0], "raw_item_id", path, it.lineno, &raw, err);
        if (st == FR_OK) st = fr_parse_id(f[1], "row", path, it.lineno, &row, err);
        if (st != FR_OK) break;
        if (row >= R) {
            st = fr_loader_fail(err, path, it.lineno, "field 'row': %.*s is not a row of %s, "
                                "which has %lld rows", SHOW(f[1]), npy_path, (long long)R);
            break;
        }
        if (m == cap) {
            int64_t want = cap ? 2 * cap : 1024;
            map_entry *grown = fr_realloc(e, (size_t)want, sizeof *e);
            if (!grown) {
                st = fr_nomem(err, "feature map", (size_t)want * sizeof *e);
                break;
            }
            e = grown;
            cap = want;
        }
        e[m++] = (map_entry){ raw, row, it.lineno };
    }
    fr_free(buf);
    if (st != FR_OK) {
        fr_free(e);
        return st;
    }
    if (m > 0) qsort(e, (size_t)m, sizeof *e, cmp_entry);
    /* The first line, in file order, that repeats an earlier raw id. */
    int64_t dup = -1, first = 0;
    for (int64_t k = 1; k < m; k++) {
        if (e[k].raw != e[k - 1].raw) continue;
        int64_t g = k - 1;
        while (g > 0 && e[g - 1].raw == e[k].raw) g--;
        if (dup < 0 || e[k].line < e[dup].line) {
            dup = k;
            first = g;
        }
    }
    if (dup >= 0) {
        st = fr_loader_fail(err, path, e[dup].line, "raw_item_id %lld is mapped already on "
                            "line %lld", (long long)e[dup].raw, (long long)e[first].line);
        fr_free(e);
        return st;
    }
    *out = e;
    *n = m;
    return FR_OK;
}

fr_status fr_itemfeat_load(const fr_dataset *ds, const char *npy_path, const char *map_path,
                           float **out, int32_t *dim, fr_error *err) {
    *out = NULL;
    *dim = 0;
    float *x = NULL; /* [R x D] the file's matrix */
    int64_t R = 0, D = 0;
    fr_status st = fr_npy_read(npy_path, &x, &R, &D, err);
    if (st != FR_OK) return st;
    if (D < 1 || D > INT32_MAX) {
        fr_free(x);
        return fr_fail(err, FR_ERR_INPUT, "%s: field shape: %lld columns; item features need "
                       "1 .. %d", npy_path, (long long)D, INT32_MAX);
    }
    const int32_t N = ds->n_items;
    int64_t *row = fr_alloc((size_t)N ? (size_t)N : 1, sizeof(int64_t)); /* [N] */
    if (!row) {
        fr_free(x);
        return fr_nomem(err, "feature rows", (size_t)N * sizeof(int64_t));
    }
    if (map_path && map_path[0]) {
        map_entry *e = NULL; /* [M] sorted by raw id */
        int64_t M = 0;
        st = map_read(map_path, npy_path, R, &e, &M, err);
        int64_t k = 0;
        for (int32_t i = 0; st == FR_OK && i < N; i++) {
            while (k < M && e[k].raw < ds->item_raw[i]) k++;
            if (k == M || e[k].raw != ds->item_raw[i])
                st = fr_fail(err, FR_ERR_INPUT, "%s: no line for item %lld (raw id) of the "
                             "data %s", map_path, (long long)ds->item_raw[i], ds->source);
            else
                row[i] = e[k].row;
        }
        fr_free(e);
    } else {
        for (int32_t i = 0; st == FR_OK && i < N; i++) {
            if (ds->item_raw[i] < 0 || ds->item_raw[i] >= R)
                st = fr_fail(err, FR_ERR_INPUT, "%s: item %lld (raw id) has no row: the matrix "
                             "has %lld rows and row = raw item id without a feature map",
                             npy_path, (long long)ds->item_raw[i], (long long)R);
            else
                row[i] = ds->item_raw[i];
        }
    }
    float *feat = NULL; /* [N x D] */
    if (st == FR_OK) {
        feat = fr_alloc((size_t)N ? (size_t)N : 1, (size_t)D * sizeof(float));
        if (!feat) st = fr_nomem(err, "item features", (size_t)N * (size_t)D * sizeof(float));
    }
    if (st == FR_OK) {
        for (int32_t i = 0; i < N; i++)
            memcpy(feat + (int64_t)i * D, x + row[i] * D, (size_t)D * sizeof(float));
        *out = feat;
        *dim = (int32_t)D;
    }
    fr_free(row);
    fr_free(x);
    return st;
}

fr_status fr_itemfeat_text(const fr_dataset *ds, const char *npy_path, const char *map_path,
                           int32_t text_dim, uint64_t seed, float **out, int32_t *dim,
                           fr_error *err) {
    *out = NULL;
    *dim = 0;
    if (npy_path && npy_path[0]) return fr_itemfeat_load(ds, npy_path, map_path, out, dim, err);
    if (!ds->items_meta)
        return fr_fail(err, FR_ERR_INPUT, "%s: no item text features: mm.text_features is "
                       "empty and there is no movies.dat or u.item beside the data for the "
                       "built-in encoder; set mm.text_features to an .npy of item features",
                       ds->source);
    fr_status st = fr_item_text_features(ds, text_dim, seed, out, err);
    if (st == FR_OK) *dim = text_dim;
    return st;
}
