/* dataset.h - interactions of many users in one CSR structure, and their loaders.
 *
 * A dataset holds every user's interactions in one compressed-sparse-row layout:
 * user u owns positions [user_ptr[u], user_ptr[u+1]) of item/rating/time, kept in time
 * order (ties in file order). Raw user and item ids are remapped densely to 0..n-1 in
 * ascending raw-id order (as pandas' category codes do), so "the first 2000 users" means
 * the 2000 smallest raw ids. Clients are views into this structure (fr_user_view), never
 * copies.
 *
 * Formats (fr_format):
 *   FR_FORMAT_ML_DAT    MovieLens-1M `ratings.dat`: UserID::MovieID::Rating::Timestamp
 *   FR_FORMAT_ML100K    MovieLens-100K `u.data`: user TAB item TAB rating TAB timestamp
 *   FR_FORMAT_CSV/TSV   a header line naming the columns (user, item, and optionally
 *                       rating, timestamp; common synonyms accepted), comma/tab separated
 *   FR_FORMAT_SEQ       one user per line `user item1 item2 ...` in time order
 *                       (S3-Rec/ICLRec's Beauty.txt)
 *   FR_FORMAT_PAIRS     SASRec's `user item` per line, grouped by user in time order
 * A directory is accepted and searched for ratings.dat, u.data, ratings.csv/.tsv;
 * movies.dat/users.dat (or u.item/u.user) beside it are loaded as metadata.
 *
 * Errors: every malformed input yields FR_ERR_INPUT and one message
 * "FILE:LINE: what is wrong" (LINE omitted when the problem is the whole file).
 */
#ifndef FEDREC_DATASET_H
#define FEDREC_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "fedrec/status.h"

typedef enum fr_format {
    FR_FORMAT_AUTO = 0,
    FR_FORMAT_ML_DAT,
    FR_FORMAT_ML100K,
    FR_FORMAT_CSV,
    FR_FORMAT_TSV,
    FR_FORMAT_SEQ,
    FR_FORMAT_PAIRS,
    FR_FORMAT_SYNTHETIC, /* not a file: the built-in generator (synth.h) */
} fr_format;

/* Parses a --format name ("auto", "movielens", "ml100k", "csv", "tsv", "seq", "pairs",
 * "synthetic"); returns FR_ERR_USAGE naming the allowed values otherwise. */
fr_status fr_format_parse(const char *name, fr_format *out, fr_error *err);
const char *fr_format_name(fr_format f);

/* Item metadata from movies.dat (Latin-1, converted to UTF-8) or u.item. */
typedef struct fr_item_meta {
    char **title;   /* [n_items] UTF-8, NULL entry when the item has no metadata line */
    char **genres;  /* [n_items] '|'-separated genre names, NULL entry when unknown */
} fr_item_meta;

/* User metadata from users.dat (Gender::Age::Occupation::Zip) or u.user
 * (id|age|gender|occupation|zip). Occupation is kept as text ("12" or "programmer"). */
typedef struct fr_user_meta {
    char *gender;       /* [n_users] 'M', 'F', or 0 when unknown */
    int32_t *age;       /* [n_users] -1 when unknown */
    char **occupation;  /* [n_users] NULL when unknown */
    char **zip;         /* [n_users] NULL when unknown */
} fr_user_meta;

typedef struct fr_dataset {
    int32_t n_users;
    int32_t n_items;
    int64_t n_inter;
    int64_t *user_ptr;  /* [n_users+1] CSR row pointers */
    int32_t *item;      /* [n_inter] dense item ids, per user in time order */
    float *rating;      /* [n_inter] explicit ratings, NULL for implicit data */
    int64_t *time;      /* [n_inter] timestamps, NULL when the format has none */
    int64_t *user_raw;  /* [n_users] raw id of each dense user, ascending */
    int64_t *item_raw;  /* [n_items] raw id of each dense item, ascending */
    fr_item_meta *items_meta; /* NULL unless a movies.dat/u.item was found */
    fr_user_meta *users_meta; /* NULL unless a users.dat/u.user was found */
    char source[1024];  /* the file the interactions came from */
    fr_format format;
} fr_dataset;

/* A client's read-only view of one user's interactions (no copy). */
typedef struct fr_user_view {
    int32_t user;
    int64_t n;
    const int32_t *item;  /* [n] */
    const float *rating;  /* [n] or NULL */
    const int64_t *time;  /* [n] or NULL */
} fr_user_view;

static inline fr_user_view fr_dataset_user(const fr_dataset *ds, int32_t u) {
    int64_t a = ds->user_ptr[u], b = ds->user_ptr[u + 1];
    fr_user_view v = { u, b - a, ds->item + a, ds->rating ? ds->rating + a : NULL,
                       ds->time ? ds->time + a : NULL };
    return v;
}

/* Loads PATH (a file or a directory) in FORMAT (FR_FORMAT_AUTO recognises it by name
 * and content). On success *ds owns everything it points to; free with
 * fr_dataset_free. On failure *ds is left empty (safe to free) and err says why. */
fr_status fr_dataset_load(const char *path, fr_format format, fr_dataset *ds, fr_error *err);

/* Builds a dataset from parallel arrays of raw (user, item, rating, time); ratings and
 * times may be NULL. Used by the loaders and by tests. Rows keep their order as the
 * file order for ties. */
fr_status fr_dataset_from_triples(fr_dataset *ds, int64_t n, const int64_t *user_raw,
                                  const int64_t *item_raw, const float *rating,
                                  const int64_t *time, fr_error *err);

/* Keeps only the first max_users dense users (ascending raw id); items that no longer
 * occur are dropped and ids remapped. max_users <= 0 or >= n_users keeps all.
 * (data.max_clients.) Item and user metadata follow their items and users. On failure
 * (FR_ERR_NOMEM only) ds is unchanged. */
fr_status fr_dataset_limit_users(fr_dataset *ds, int32_t max_users, fr_error *err);

/* Keeps the n_users users with the most interactions, equal counts going to the
 * smaller raw user id; the kept users stay in ascending raw-id order (dense ids are
 * renumbered 0..n_users-1, so "dense order = raw order" still holds), items that no
 * longer occur are dropped and ids remapped, metadata follows as in
 * fr_dataset_limit_users. n_users <= 0 or >= the number of users keeps all. On failure
 * (FR_ERR_NOMEM only) ds is unchanged. (data.top_users.)
 *
 * With data.max_clients: the two choose users by different rules, so a configuration
 * may set one of them, not both (fr_config_validate and fr_experiment_data refuse the
 * pair with FR_ERR_USAGE). */
fr_status fr_dataset_top_users(fr_dataset *ds, int32_t n_users, fr_error *err);

/* Puts each user's interactions (items, ratings, times together) in a seeded random
 * order, so that leave-one-out holds out random items: the hold-out for data without
 * timestamps (Last.fm's listen counts), where file order would hold out the highest
 * artist ids. Depends only on (seed, user); never fails. */
void fr_dataset_shuffle_users(fr_dataset *ds, uint64_t seed);
/* 1 when leave-one-out should hold out random items under data.holdout = auto: a
 * CSV/TSV table without a time column (its order carries no time). Sequence formats
 * (seq, pairs) are in time order by definition and keep it. */
int fr_dataset_unordered(const fr_dataset *ds);

void fr_dataset_free(fr_dataset *ds);

/* Summary the `fedrec data stats` command prints. */
typedef struct fr_dataset_stats {
    int32_t n_users, n_items;
    int64_t n_inter;
    double density;
    int has_rating;
    double rating_mean, rating_median;
    int64_t rating_hist[10]; /* counts of ratings rounded to 1..10 (index r-1) */
    int64_t per_user_min, per_user_max;
    double per_user_mean, per_user_median;
    int64_t per_user_p10, per_user_p90;
    int n_genres;
    char genre_name[32][32]; /* most frequent genres first, over the movies list */
    int64_t genre_count[32];
} fr_dataset_stats;

fr_status fr_dataset_stats_compute(const fr_dataset *ds, fr_dataset_stats *st, fr_error *err);

#endif
