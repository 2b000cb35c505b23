/* movielens_meta.c - item and user metadata that sits beside MovieLens ratings.
 *
 * MovieLens-1M:   movies.dat  MovieID::Title::Genres            (Latin-1)
 *                 users.dat   UserID::Gender::Age::Occupation::Zip-code
 * MovieLens-100K: u.item      id|title|release|video release|url|19 genre flags (Latin-1)
 *                 u.user      id|age|gender|occupation|zip
 * Text is converted from Latin-1 to UTF-8 (GroupLens ship Latin-1; every byte >= 0x80
 * becomes a two-byte sequence). u.item's genre flags become a '|'-joined list of names
 * in u.genre's order, so both data sets give fr_item_meta.genres the same shape. Rows
 * for ids that have no ratings are ignored; a later row for the same id replaces an
 * earlier one.
 *
 * Leaves out: u.genre/u.occupation (their contents are fixed and listed here), tags,
 * links, and the newer MovieLens CSV metadata.
 */
#include <stdio.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/fileio.h"
#include "loader_internal.h"

/* u.genre, in flag order. */
static const char *const ml100k_genres[19] = {
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
};

/* Dense id of RAW in the ascending table ids[n], or -1. */
static int32_t dense_of(const int64_t *ids, int32_t n, int64_t raw) {
    int32_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == raw) return mid;
        if (ids[mid] < raw) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static fr_status items_meta_ensure(fr_dataset *ds, fr_error *err) {
    if (ds->items_meta) return FR_OK;
    size_t n = ds->n_items > 0 ? (size_t)ds->n_items : 1;
    fr_item_meta *m = fr_calloc(1, sizeof *m);
    if (m) {
        m->title = fr_calloc(n, sizeof(char *));
        m->genres = fr_calloc(n, sizeof(char *));
    }
    if (!m || !m->title || !m->genres) {
        if (m) {
            fr_free(m->title);
            fr_free(m->genres);
        }
        fr_free(m);
        return fr_nomem(err, "item metadata", n * 2 * sizeof(char *));
    }
    ds->items_meta = m;
    return FR_OK;
}

static fr_status users_meta_ensure(fr_dataset *ds, fr_error *err) {
    if (ds->users_meta) return FR_OK;
    size_t n = ds->n_users > 0 ? (size_t)ds->n_users : 1;
    fr_user_meta *m = fr_calloc(1, sizeof *m);
    if (m) {
        m->gender = fr_calloc(n, 1);
        m->age = fr_alloc(n, sizeof(int32_t));
        m->occupation = fr_calloc(n, sizeof(char *));
        m->zip = fr_calloc(n, sizeof(char *));
    }
    if (!m || !m->gender || !m->age || !m->occupation || !m->zip) {
        if (m) {
            fr_free(m->gender);
            fr_free(m->age);
            fr_free(m->occupation);
            fr_free(m->zip);
        }
        fr_free(m);
        return fr_nomem(err, "user metadata", n * 24);
    }
    for (size_t u = 0; u < n; u++) m->age[u] = -1;
    ds->users_meta = m;
    return FR_OK;
}

/* Replaces *slot with a UTF-8 copy of the Latin-1 field. */
static fr_status set_text(char **slot, fr_span f, fr_error *err) {
    char *s = fr_latin1_to_utf8(f);
    if (!s) return fr_nomem(err, "metadata text", (size_t)(f.e - f.s) * 2 + 1);
    fr_free(*slot);
    *slot = s;
    return FR_OK;
}

static fr_status set_user(fr_dataset *ds, int32_t u, fr_span gender, int64_t age,
                          fr_span occupation, fr_span zip, fr_error *err) {
    fr_user_meta *m = ds->users_meta;
    m->gender[u] = *gender.s;
    m->age[u] = (int32_t)age;
    fr_status st = set_text(&m->occupation[u], fr_span_trim(occupation), err);
    if (st == FR_OK) st = set_text(&m->zip[u], fr_span_trim(zip), err);
    return st;
}

static fr_status check_gender(fr_span g, const char *field, const char *path, int64_t line,
                              fr_error *err) {
    if (g.e - g.s == 1 && (*g.s == 'M' || *g.s == 'F')) return FR_OK;
    return fr_loader_fail(err, path, line, "field '%s': '%.*s' is not M or F", field,
                          (int)(g.e - g.s > 60 ? 60 : g.e - g.s), g.s);
}

/* Opens PATH when it exists; *buf stays NULL when it does not. */
static fr_status read_optional(const char *path, char **buf, size_t *len, fr_error *err) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return FR_OK;
    fclose(f);
    return fr_read_file(path, buf, len, err);
}

/* ---- MovieLens-1M ----------------------------------------------------------------- */

static fr_status load_movies_dat(fr_dataset *ds, const char *path, const char *buf,
                                 size_t len, fr_error *err) {
    fr_status st = items_meta_ensure(ds, err);
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line, f[3];
    while (st == FR_OK && fr_line_iter_next(&it, &line)) {
        if (fr_span_blank(line)) continue;
        int nf = fr_split(line, "::", 2, f, 3);
        if (nf < 3)
            return fr_loader_fail(err, path, it.lineno,
                                  "expected 3 fields separated by '::', found %d", nf);
        /* A title could hold "::"; the genres are whatever follows the last one. */
        fr_span genres = { line.e, line.e };
        while (genres.s - 2 >= f[1].e && !(genres.s[-2] == ':' && genres.s[-1] == ':'))
            genres.s--;
        fr_span title = { f[1].s, genres.s - 2 };
        int64_t id;
        if ((st = fr_parse_id(fr_span_trim(f[0]), "MovieID", path, it.lineno, &id, err)))
            return st;
        int32_t i = dense_of(ds->item_raw, ds->n_items, id);
        if (i < 0) continue;
        st = set_text(&ds->items_meta->title[i], title, err);
        if (st == FR_OK) st = set_text(&ds->items_meta->genres[i], fr_span_trim(genres), err);
    }
    return st;
}

/* ---- MovieLens-100K --------------------------------------------------------------- */

static fr_status load_u_item(fr_dataset *ds, const char *path, const char *buf, size_t len,
                             fr_error *err) {
    fr_status st = items_meta_ensure(ds, err);
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line, f[24];
    while (st == FR_OK && fr_line_iter_next(&it, &line)) {
        if (fr_span_blank(line)) continue;
        int nf = fr_split(line, "|", 1, f, 24);
        if (nf != 24)
            return fr_loader_fail(err, path, it.lineno,
                                  "expected 24 fields separated by '|', found %d", nf);
        int64_t id;
        if ((st = fr_parse_id(fr_span_trim(f[0]), "movie id", path, it.lineno, &id, err)))
            return st;
        char genres[256];
        size_t used = 0;
        genres[0] = 0;
        for (int g = 0; g < 19; g++) {
            int64_t flag;
            st = fr_parse_int(fr_span_trim(f[5 + g]), ml100k_genres[g], path, it.lineno, 0, 1,
                              &flag, err);
            if (st != FR_OK) return st;
            if (flag)
                used += (size_t)snprintf(genres + used, sizeof genres - used, "%s%s",
                                         used ? "|" : "", ml100k_genres[g]);
        }
        int32_t i = dense_of(ds->item_raw, ds->n_items, id);
        if (i < 0) continue;
        st = set_text(&ds->items_meta->title[i], fr_span_trim(f[1]), err);
        if (st == FR_OK)
            st = set_text(&ds->items_meta->genres[i], (fr_span){ genres, genres + used }, err);
    }
    return st;
}

/* Where the fields of a user line are: users.dat (UserID::Gender::Age::Occupation::Zip)
 * and u.user (id|age|gender|occupation|zip) differ only in this. */
typedef struct user_layout {
    const char *delim;
    int gender_col, age_col;                 /* id is column 0, occupation 3, zip 4 */
    const char *id_name, *gender_name, *age_name;
} user_layout;

static const user_layout users_dat_layout = { "::", 1, 2, "UserID", "Gender", "Age" };
static const user_layout u_user_layout = { "|", 2, 1, "user id", "gender", "age" };

static fr_status load_user_lines(fr_dataset *ds, const user_layout *lay, const char *path,
                                 const char *buf, size_t len, fr_error *err) {
    fr_status st = users_meta_ensure(ds, err);
    fr_line_iter it;
    fr_line_iter_init(&it, buf, len);
    fr_span line, f[5];
    const size_t dlen = strlen(lay->delim);
    while (st == FR_OK && fr_line_iter_next(&it, &line)) {
        if (fr_span_blank(line)) continue;
        int nf = fr_split(line, lay->delim, dlen, f, 5);
        if (nf != 5)
            return fr_loader_fail(err, path, it.lineno,
                                  "expected 5 fields separated by '%s', found %d", lay->delim, nf);
        int64_t id, age;
        fr_span gender = fr_span_trim(f[lay->gender_col]);
        if ((st = fr_parse_id(fr_span_trim(f[0]), lay->id_name, path, it.lineno, &id, err)))
            return st;
        for (int col = 1; col <= 2; col++) { /* report the leftmost bad field first */
            if (col == lay->gender_col)
                st = check_gender(gender, lay->gender_name, path, it.lineno, err);
            else
                st = fr_parse_int(fr_span_trim(f[lay->age_col]), lay->age_name, path, it.lineno,
                                  0, 150, &age, err);
            if (st != FR_OK) return st;
        }
        int32_t u = dense_of(ds->user_raw, ds->n_users, id);
        if (u >= 0) st = set_user(ds, u, gender, age, f[3], f[4], err);
    }
    return st;
}

static fr_status load_users_dat(fr_dataset *ds, const char *path, const char *buf,
                                size_t len, fr_error *err) {
    return load_user_lines(ds, &users_dat_layout, path, buf, len, err);
}

static fr_status load_u_user(fr_dataset *ds, const char *path, const char *buf, size_t len,
                             fr_error *err) {
    return load_user_lines(ds, &u_user_layout, path, buf, len, err);
}

/* ---- entry points ----------------------------------------------------------------- */

typedef fr_status (*meta_parser)(fr_dataset *, const char *, const char *, size_t,
                                 fr_error *);

static fr_status load_one(fr_dataset *ds, const char *dir, const char *name, meta_parser parse,
                          fr_error *err) {
    char path[1100];
    snprintf(path, sizeof path, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/",
             name);
    char *buf;
    size_t len;
    fr_status st = read_optional(path, &buf, &len, err);
    if (st != FR_OK || !buf) return st;
    st = parse(ds, path, buf, len, err);
    fr_free(buf);
    return st;
}

fr_status fr_meta_load_ml1m(fr_dataset *ds, const char *dir, fr_error *err) {
    fr_status st = load_one(ds, dir, "movies.dat", load_movies_dat, err);
    if (st == FR_OK) st = load_one(ds, dir, "users.dat", load_users_dat, err);
    return st;
}

fr_status fr_meta_load_ml100k(fr_dataset *ds, const char *dir, fr_error *err) {
    fr_status st = load_one(ds, dir, "u.item", load_u_item, err);
    if (st == FR_OK) st = load_one(ds, dir, "u.user", load_u_user, err);
    return st;
}
