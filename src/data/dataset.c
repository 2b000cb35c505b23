/* dataset.c - building the per-user CSR dataset from raw rows, trimming it, freeing it.
 *
 * fr_dataset_from_triples turns parallel arrays of raw (user, item, rating, time) rows
 * into the layout dataset.h describes:
 *   1. raw ids are remapped densely in ascending raw-id order (pandas' category codes);
 *   2. rows are bucketed by dense user with a counting sort, which keeps file order;
 *   3. inside each user the rows are sorted by (time, file position), so equal times
 *      stay in file order; without times file order is kept as it is.
 * Dimension letters: U users, N items, E interactions (rows).
 *
 * Leaves out: reading files (loader.c), metadata parsing (movielens_meta.c), summary
 * statistics (stats.c).
 */
#include "fedrec/dataset.h"
#include "fedrec/rng.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fedrec/alloc.h"

/* ---- formats ---------------------------------------------------------------------- */

static const struct {
    fr_format format;
    const char *name;
} format_names[] = {
    { FR_FORMAT_AUTO, "auto" },   { FR_FORMAT_ML_DAT, "movielens" },
    { FR_FORMAT_ML100K, "ml100k" }, { FR_FORMAT_CSV, "csv" },
    { FR_FORMAT_TSV, "tsv" },     { FR_FORMAT_SEQ, "seq" },
    { FR_FORMAT_PAIRS, "pairs" }, { FR_FORMAT_SYNTHETIC, "synthetic" },
};
#define N_FORMAT_NAMES (sizeof format_names / sizeof format_names[0])

fr_status fr_format_parse(const char *name, fr_format *out, fr_error *err) {
    for (size_t i = 0; name && i < N_FORMAT_NAMES; i++) {
        if (strcasecmp(name, format_names[i].name) == 0) {
            *out = format_names[i].format;
            return FR_OK;
        }
    }
    return fr_fail(err, FR_ERR_USAGE,
                   "unknown data format '%s' (use auto, movielens, ml100k, csv, tsv, seq, "
                   "pairs or synthetic)", name ? name : "");
}

const char *fr_format_name(fr_format f) {
    for (size_t i = 0; i < N_FORMAT_NAMES; i++)
        if (format_names[i].format == f) return format_names[i].name;
    return "unknown";
}

/* ---- freeing ---------------------------------------------------------------------- */

static void item_meta_free(fr_item_meta *m, int32_t n_items) {
    if (!m) return;
    for (int32_t i = 0; i < n_items; i++) {
        if (m->title) fr_free(m->title[i]);
        if (m->genres) fr_free(m->genres[i]);
    }
    fr_free(m->title);
    fr_free(m->genres);
    fr_free(m);
}

static void user_meta_free(fr_user_meta *m, int32_t n_users) {
    if (!m) return;
    for (int32_t u = 0; u < n_users; u++) {
        if (m->occupation) fr_free(m->occupation[u]);
        if (m->zip) fr_free(m->zip[u]);
    }
    fr_free(m->gender);
    fr_free(m->age);
    fr_free(m->occupation);
    fr_free(m->zip);
    fr_free(m);
}

void fr_dataset_free(fr_dataset *ds) {
    if (!ds) return;
    item_meta_free(ds->items_meta, ds->n_items);
    user_meta_free(ds->users_meta, ds->n_users);
    fr_free(ds->user_ptr);
    fr_free(ds->item);
    fr_free(ds->rating);
    fr_free(ds->time);
    fr_free(ds->user_raw);
    fr_free(ds->item_raw);
    memset(ds, 0, sizeof *ds);
}

/* ---- dense remapping -------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Maps raw[E] to dense[E] in ascending raw-id order; *uniq_out [*n_uniq] receives the
 * distinct raw ids, ascending (caller frees). Small id ranges use a direct table,
 * others sort the distinct ids and binary-search them. */
static fr_status remap_ids(const int64_t *raw, int64_t n, const char *what, int32_t *dense,
                           int64_t **uniq_out, int32_t *n_uniq, fr_error *err) {
    *uniq_out = NULL;
    *n_uniq = 0;
    if (n == 0) {
        *uniq_out = fr_alloc(1, sizeof(int64_t));
        return *uniq_out ? FR_OK : fr_nomem(err, what, sizeof(int64_t));
    }
    int64_t lo = raw[0], hi = raw[0];
    for (int64_t e = 1; e < n; e++) {
        if (raw[e] < lo) lo = raw[e];
        if (raw[e] > hi) hi = raw[e];
    }
    /* hi - lo computed in unsigned arithmetic: raw ids may span all of int64. */
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    if (range <= (uint64_t)n * 4 + 65536) {
        int32_t *table = fr_calloc((size_t)range + 1, sizeof(int32_t));
        if (!table) return fr_nomem(err, what, ((size_t)range + 1) * sizeof(int32_t));
        for (int64_t e = 0; e < n; e++) table[(uint64_t)raw[e] - (uint64_t)lo] = 1;
        int64_t count = 0;
        for (uint64_t k = 0; k <= range; k++) count += table[k];
        if (count > INT32_MAX) {
            fr_free(table);
            return fr_fail(err, FR_ERR_INPUT, "too many distinct %s ids (%lld)", what,
                           (long long)count);
        }
        int64_t *uniq = fr_alloc((size_t)count, sizeof(int64_t));
        if (!uniq) {
            fr_free(table);
            return fr_nomem(err, what, (size_t)count * sizeof(int64_t));
        }
        int32_t next = 0;
        for (uint64_t k = 0; k <= range; k++) {
            if (table[k]) {
                uniq[next] = (int64_t)((uint64_t)lo + k);
                table[k] = next++;
            }
        }
        for (int64_t e = 0; e < n; e++) dense[e] = table[(uint64_t)raw[e] - (uint64_t)lo];
        fr_free(table);
        *uniq_out = uniq;
        *n_uniq = next;
        return FR_OK;
    }
    int64_t *sorted = fr_alloc((size_t)n, sizeof(int64_t));
    if (!sorted) return fr_nomem(err, what, (size_t)n * sizeof(int64_t));
    memcpy(sorted, raw, (size_t)n * sizeof(int64_t));
    qsort(sorted, (size_t)n, sizeof(int64_t), cmp_i64);
    int64_t count = 0;
    for (int64_t e = 0; e < n; e++)
        if (e == 0 || sorted[e] != sorted[count - 1]) sorted[count++] = sorted[e];
    if (count > INT32_MAX) {
        fr_free(sorted);
        return fr_fail(err, FR_ERR_INPUT, "too many distinct %s ids (%lld)", what,
                       (long long)count);
    }
    for (int64_t e = 0; e < n; e++) {
        const int64_t *hit = bsearch(&raw[e], sorted, (size_t)count, sizeof(int64_t), cmp_i64);
        dense[e] = (int32_t)(hit - sorted);
    }
    int64_t *uniq = fr_realloc(sorted, (size_t)count ? (size_t)count : 1, sizeof(int64_t));
    *uniq_out = uniq ? uniq : sorted;
    *n_uniq = (int32_t)count;
    return FR_OK;
}

/* ---- building --------------------------------------------------------------------- */

typedef struct time_key {
    int64_t time;
    int64_t pos; /* file position: breaks ties so equal times keep file order */
} time_key;

static int cmp_time_key(const void *a, const void *b) {
    const time_key *x = a, *y = b;
    if (x->time != y->time) return (x->time > y->time) - (x->time < y->time);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

fr_status fr_dataset_from_triples(fr_dataset *ds, int64_t n, const int64_t *user_raw,
                                  const int64_t *item_raw, const float *rating,
                                  const int64_t *time, fr_error *err) {
    memset(ds, 0, sizeof *ds);
    if (n < 0 || (n > 0 && (!user_raw || !item_raw)))
        return fr_fail(err, FR_ERR_USAGE, "fr_dataset_from_triples: bad arguments (n=%lld)",
                       (long long)n);
    fr_status st = FR_OK;
    size_t nn = (size_t)n ? (size_t)n : 1;
    int32_t *udense = fr_alloc(nn, sizeof(int32_t));  /* [E] dense user of each row */
    int32_t *idense = fr_alloc(nn, sizeof(int32_t));  /* [E] dense item of each row */
    int64_t *order = fr_alloc(nn, sizeof(int64_t));   /* [E] rows in CSR order */
    time_key *keys = NULL;
    if (!udense || !idense || !order) {
        st = fr_nomem(err, "dataset rows", nn * 16);
        goto done;
    }
    st = remap_ids(user_raw, n, "user", udense, &ds->user_raw, &ds->n_users, err);
    if (st != FR_OK) goto done;
    st = remap_ids(item_raw, n, "item", idense, &ds->item_raw, &ds->n_items, err);
    if (st != FR_OK) goto done;

    /* Counting sort by user: stable, so each user's rows stay in file order. */
    ds->user_ptr = fr_calloc((size_t)ds->n_users + 1, sizeof(int64_t));
    ds->item = fr_alloc(nn, sizeof(int32_t));
    if (rating) ds->rating = fr_alloc(nn, sizeof(float));
    if (time) ds->time = fr_alloc(nn, sizeof(int64_t));
    if (!ds->user_ptr || !ds->item || (rating && !ds->rating) || (time && !ds->time)) {
        st = fr_nomem(err, "dataset arrays", nn * 24);
        goto done;
    }
    for (int64_t e = 0; e < n; e++) ds->user_ptr[udense[e] + 1]++;
    for (int32_t u = 0; u < ds->n_users; u++) ds->user_ptr[u + 1] += ds->user_ptr[u];
    {
        int64_t *fill = fr_alloc((size_t)ds->n_users + 1, sizeof(int64_t));
        if (!fill) {
            st = fr_nomem(err, "dataset fill pointers", ((size_t)ds->n_users + 1) * 8);
            goto done;
        }
        memcpy(fill, ds->user_ptr, ((size_t)ds->n_users + 1) * sizeof(int64_t));
        for (int64_t e = 0; e < n; e++) order[fill[udense[e]]++] = e;
        fr_free(fill);
    }

    /* Time order inside each user, ties by file position. */
    if (time) {
        int64_t longest = 0;
        for (int32_t u = 0; u < ds->n_users; u++) {
            int64_t len = ds->user_ptr[u + 1] - ds->user_ptr[u];
            if (len > longest) longest = len;
        }
        keys = fr_alloc((size_t)longest ? (size_t)longest : 1, sizeof(time_key));
        if (!keys) {
            st = fr_nomem(err, "sort keys", (size_t)longest * sizeof(time_key));
            goto done;
        }
        for (int32_t u = 0; u < ds->n_users; u++) {
            int64_t a = ds->user_ptr[u], b = ds->user_ptr[u + 1];
            int sorted = 1;
            for (int64_t k = a + 1; k < b && sorted; k++)
                if (time[order[k]] < time[order[k - 1]]) sorted = 0;
            if (sorted) continue;
            for (int64_t k = a; k < b; k++) {
                keys[k - a].time = time[order[k]];
                keys[k - a].pos = order[k];
            }
            qsort(keys, (size_t)(b - a), sizeof(time_key), cmp_time_key);
            for (int64_t k = a; k < b; k++) order[k] = keys[k - a].pos;
        }
    }

    for (int64_t k = 0; k < n; k++) {
        int64_t e = order[k];
        ds->item[k] = idense[e];
        if (rating) ds->rating[k] = rating[e];
        if (time) ds->time[k] = time[e];
    }
    ds->n_inter = n;

done:
    fr_free(udense);
    fr_free(idense);
    fr_free(order);
    fr_free(keys);
    if (st != FR_OK) fr_dataset_free(ds);
    return st;
}

/* ---- trimming --------------------------------------------------------------------- */

/* Keeps the users keep[0..U) (dense ids, strictly ascending, so the kept users stay in
 * ascending raw-id order) with all their interactions; items no kept user touched are
 * dropped and the rest renumbered in ascending order, item and user metadata moving
 * with them. Everything is allocated before ds is touched, so on FR_ERR_NOMEM ds is as
 * it was. */
static fr_status keep_users(fr_dataset *ds, const int32_t *keep, int32_t U, fr_error *err) {
    const int32_t N = ds->n_items;
    int64_t E = 0;
    for (int32_t j = 0; j < U; j++) E += ds->user_ptr[keep[j] + 1] - ds->user_ptr[keep[j]];

    /* Old dense item -> new dense item (-1 when dropped); ascending order is kept. */
    int32_t *remap = fr_alloc((size_t)N ? (size_t)N : 1, sizeof(int32_t));
    if (!remap) return fr_nomem(err, "item remap", (size_t)N * sizeof(int32_t));
    for (int32_t i = 0; i < N; i++) remap[i] = -1;
    for (int32_t j = 0; j < U; j++)
        for (int64_t k = ds->user_ptr[keep[j]]; k < ds->user_ptr[keep[j] + 1]; k++)
            remap[ds->item[k]] = 0;
    int32_t n_keep = 0;
    for (int32_t i = 0; i < N; i++)
        if (remap[i] == 0) remap[i] = n_keep++;

    size_t ee = (size_t)E ? (size_t)E : 1;
    int64_t *user_ptr = fr_alloc((size_t)U + 1, sizeof(int64_t));
    int32_t *item = fr_alloc(ee, sizeof(int32_t));
    float *rating = ds->rating ? fr_alloc(ee, sizeof(float)) : NULL;
    int64_t *time = ds->time ? fr_alloc(ee, sizeof(int64_t)) : NULL;
    int64_t *user_raw = fr_alloc((size_t)U ? (size_t)U : 1, sizeof(int64_t));
    int64_t *item_raw = fr_alloc((size_t)n_keep ? (size_t)n_keep : 1, sizeof(int64_t));
    fr_item_meta *im = NULL;
    if (ds->items_meta) {
        im = fr_calloc(1, sizeof *im);
        if (im) {
            im->title = fr_calloc((size_t)n_keep ? (size_t)n_keep : 1, sizeof(char *));
            im->genres = fr_calloc((size_t)n_keep ? (size_t)n_keep : 1, sizeof(char *));
        }
    }
    if (!user_ptr || !item || (ds->rating && !rating) || (ds->time && !time) || !user_raw ||
        !item_raw || (ds->items_meta && (!im || !im->title || !im->genres))) {
        fr_free(remap);
        fr_free(user_ptr);
        fr_free(item);
        fr_free(rating);
        fr_free(time);
        fr_free(user_raw);
        fr_free(item_raw);
        item_meta_free(im, 0);
        return fr_nomem(err, "limited dataset", ee * 24);
    }

    user_ptr[0] = 0;
    for (int32_t j = 0; j < U; j++) {
        const int64_t a = ds->user_ptr[keep[j]], n = ds->user_ptr[keep[j] + 1] - a;
        const int64_t to = user_ptr[j];
        for (int64_t k = 0; k < n; k++) item[to + k] = remap[ds->item[a + k]];
        if (rating) memcpy(rating + to, ds->rating + a, (size_t)n * sizeof(float));
        if (time) memcpy(time + to, ds->time + a, (size_t)n * sizeof(int64_t));
        user_raw[j] = ds->user_raw[keep[j]];
        user_ptr[j + 1] = to + n;
    }
    for (int32_t i = 0; i < N; i++) {
        if (remap[i] >= 0) item_raw[remap[i]] = ds->item_raw[i];
    }
    if (im) {
        /* Move the kept strings over; the dropped ones are freed below. */
        for (int32_t i = 0; i < N; i++) {
            if (remap[i] < 0) continue;
            im->title[remap[i]] = ds->items_meta->title[i];
            im->genres[remap[i]] = ds->items_meta->genres[i];
            ds->items_meta->title[i] = NULL;
            ds->items_meta->genres[i] = NULL;
        }
        item_meta_free(ds->items_meta, N);
        ds->items_meta = im;
    }
    if (ds->users_meta) {
        /* fr_user_meta is indexed by dense user: kept user keep[j] moves down to slot j
         * (j <= keep[j], and slot j was emptied before: its user moved or was dropped);
         * the dropped users' strings are freed. The arrays are not shrunk. */
        fr_user_meta *um = ds->users_meta;
        int32_t j = 0;
        for (int32_t u = 0; u < ds->n_users; u++) {
            char *occ = um->occupation[u], *zip = um->zip[u];
            char gender = um->gender[u];
            int32_t age = um->age[u];
            um->occupation[u] = NULL;
            um->zip[u] = NULL;
            um->gender[u] = 0;
            um->age[u] = -1;
            if (j < U && keep[j] == u) {
                um->occupation[j] = occ;
                um->zip[j] = zip;
                um->gender[j] = gender;
                um->age[j] = age;
                j++;
            } else {
                fr_free(occ);
                fr_free(zip);
            }
        }
    }
    fr_free(remap);
    fr_free(ds->user_ptr);
    fr_free(ds->item);
    fr_free(ds->rating);
    fr_free(ds->time);
    fr_free(ds->user_raw);
    fr_free(ds->item_raw);
    ds->user_ptr = user_ptr;
    ds->item = item;
    ds->rating = rating;
    ds->time = time;
    ds->user_raw = user_raw;
    ds->item_raw = item_raw;
    ds->n_users = U;
    ds->n_items = n_keep;
    ds->n_inter = E;
    return FR_OK;
}

fr_status fr_dataset_limit_users(fr_dataset *ds, int32_t max_users, fr_error *err) {
    if (max_users <= 0 || max_users >= ds->n_users) return FR_OK;
    int32_t *keep = fr_alloc((size_t)max_users, sizeof(int32_t)); /* [U] the first U */
    if (!keep) return fr_nomem(err, "kept users", (size_t)max_users * sizeof(int32_t));
    for (int32_t u = 0; u < max_users; u++) keep[u] = u;
    fr_status st = keep_users(ds, keep, max_users, err);
    fr_free(keep);
    return st;
}

/* Orders users by interaction count, most first; equal counts by dense id, which is
 * ascending raw id. */
typedef struct user_count {
    int64_t n;
    int32_t user;
} user_count;

static int cmp_user_count(const void *a, const void *b) {
    const user_count *x = a, *y = b;
    if (x->n != y->n) return (x->n < y->n) - (x->n > y->n);
    return (x->user > y->user) - (x->user < y->user);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

fr_status fr_dataset_top_users(fr_dataset *ds, int32_t n_users, fr_error *err) {
    if (n_users <= 0 || n_users >= ds->n_users) return FR_OK;
    const int32_t U = ds->n_users;
    user_count *uc = fr_alloc((size_t)U, sizeof *uc);                /* [U] all users */
    int32_t *keep = fr_alloc((size_t)n_users, sizeof(int32_t));      /* [n_users] */
    if (!uc || !keep) {
        fr_free(uc);
        fr_free(keep);
        return fr_nomem(err, "user ranking", (size_t)U * sizeof *uc);
    }
    for (int32_t u = 0; u < U; u++) {
        uc[u].n = ds->user_ptr[u + 1] - ds->user_ptr[u];
        uc[u].user = u;
    }
    qsort(uc, (size_t)U, sizeof *uc, cmp_user_count);
    for (int32_t j = 0; j < n_users; j++) keep[j] = uc[j].user;
    qsort(keep, (size_t)n_users, sizeof(int32_t), cmp_i32); /* back to ascending raw id */
    fr_status st = keep_users(ds, keep, n_users, err);
    fr_free(uc);
    fr_free(keep);
    return st;
}

void fr_dataset_shuffle_users(fr_dataset *ds, uint64_t seed) {
    for (int32_t u = 0; u < ds->n_users; u++) {
        const int64_t a = ds->user_ptr[u], n = ds->user_ptr[u + 1] - a;
        fr_rng rng;
        fr_rng_init(&rng, seed, 0, (uint32_t)u, FR_PURPOSE_SPLIT_USERS);
        for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates, the three arrays together */
            const int64_t j = (int64_t)(fr_rng_u64(&rng) % (uint64_t)(i + 1));
            const int32_t it = ds->item[a + i];
            ds->item[a + i] = ds->item[a + j];
            ds->item[a + j] = it;
            if (ds->rating) {
                const float r = ds->rating[a + i];
                ds->rating[a + i] = ds->rating[a + j];
                ds->rating[a + j] = r;
            }
            if (ds->time) {
                const int64_t t = ds->time[a + i];
                ds->time[a + i] = ds->time[a + j];
                ds->time[a + j] = t;
            }
        }
    }
}

int fr_dataset_unordered(const fr_dataset *ds) {
    return !ds->time && (ds->format == FR_FORMAT_CSV || ds->format == FR_FORMAT_TSV);
}
