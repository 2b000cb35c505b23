/* stats.c - the summary `fedrec data stats` prints (fr_dataset_stats_compute).
 *
 * Ratings: mean, median (mean of the two middle values for an even count) and a
 * histogram of ratings rounded half up and clipped to 1..10. Interactions per user:
 * min, max, mean, median, and the 10th/90th percentiles by the nearest-rank rule
 * (the smallest count c with at least p% of the users at or below c). Genres: how many
 * items with metadata name each genre, as the TFF tutorial counts genres over
 * movies_df (every '|'-separated name of an item counts once); the 32 most frequent
 * are kept, ties by name.
 *
 * Leaves out: per-item statistics and anything that needs a split.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/dataset.h"

#define MAX_GENRES 32
#define GENRE_NAME 32

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct genre_tally {
    char name[GENRE_NAME];
    int64_t count;
} genre_tally;

static int cmp_genre(const void *a, const void *b) {
    const genre_tally *x = a, *y = b;
    if (x->count != y->count) return (x->count < y->count) - (x->count > y->count);
    return strcmp(x->name, y->name);
}

/* Smallest value with at least P of the sorted values[n] at or below it. */
static int64_t nearest_rank(const int64_t *sorted, int64_t n, double p) {
    int64_t rank = (int64_t)ceil(p * (double)n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

static fr_status count_genres(const fr_dataset *ds, fr_dataset_stats *st, fr_error *err) {
    if (!ds->items_meta || !ds->items_meta->genres) return FR_OK;
    int64_t cap = 64, n = 0;
    genre_tally *t = fr_alloc((size_t)cap, sizeof *t);
    if (!t) return fr_nomem(err, "genre counts", (size_t)cap * sizeof *t);
    for (int32_t i = 0; i < ds->n_items; i++) {
        const char *g = ds->items_meta->genres[i];
        while (g && *g) {
            const char *bar = strchr(g, '|');
            size_t len = bar ? (size_t)(bar - g) : strlen(g);
            if (len >= GENRE_NAME) len = GENRE_NAME - 1;
            if (len > 0) {
                int64_t k = 0;
                while (k < n && !(strncmp(t[k].name, g, len) == 0 && t[k].name[len] == 0)) k++;
                if (k == n) {
                    if (n == cap) {
                        genre_tally *bigger = fr_realloc(t, (size_t)cap * 2, sizeof *t);
                        if (!bigger) {
                            fr_free(t);
                            return fr_nomem(err, "genre counts", (size_t)cap * 2 * sizeof *t);
                        }
                        t = bigger;
                        cap *= 2;
                    }
                    memcpy(t[n].name, g, len);
                    t[n].name[len] = 0;
                    t[n].count = 0;
                    n++;
                }
                t[k].count++;
            }
            g = bar ? bar + 1 : NULL;
        }
    }
    qsort(t, (size_t)n, sizeof *t, cmp_genre);
    st->n_genres = n < MAX_GENRES ? (int)n : MAX_GENRES;
    for (int k = 0; k < st->n_genres; k++) {
        memcpy(st->genre_name[k], t[k].name, GENRE_NAME);
        st->genre_count[k] = t[k].count;
    }
    fr_free(t);
    return FR_OK;
}

fr_status fr_dataset_stats_compute(const fr_dataset *ds, fr_dataset_stats *st, fr_error *err) {
    memset(st, 0, sizeof *st);
    st->n_users = ds->n_users;
    st->n_items = ds->n_items;
    st->n_inter = ds->n_inter;
    if (ds->n_users > 0 && ds->n_items > 0)
        st->density = (double)ds->n_inter / ((double)ds->n_users * (double)ds->n_items);

    if (ds->rating && ds->n_inter > 0) {
        int64_t E = ds->n_inter;
        float *sorted = fr_alloc((size_t)E, sizeof(float)); /* [E] */
        if (!sorted) return fr_nomem(err, "rating copy", (size_t)E * sizeof(float));
        double sum = 0;
        for (int64_t k = 0; k < E; k++) {
            double r = ds->rating[k];
            sum += r;
            double bin = floor(r + 0.5);
            int b = bin < 1 ? 1 : bin > 10 ? 10 : (int)bin;
            st->rating_hist[b - 1]++;
            sorted[k] = ds->rating[k];
        }
        qsort(sorted, (size_t)E, sizeof(float), cmp_float);
        st->has_rating = 1;
        st->rating_mean = sum / (double)E;
        st->rating_median = E % 2 ? sorted[E / 2]
                                  : 0.5 * ((double)sorted[E / 2 - 1] + (double)sorted[E / 2]);
        fr_free(sorted);
    }

    if (ds->n_users > 0) {
        int64_t U = ds->n_users;
        int64_t *counts = fr_alloc((size_t)U, sizeof(int64_t)); /* [U] */
        if (!counts) return fr_nomem(err, "per-user counts", (size_t)U * sizeof(int64_t));
        for (int64_t u = 0; u < U; u++) counts[u] = ds->user_ptr[u + 1] - ds->user_ptr[u];
        qsort(counts, (size_t)U, sizeof(int64_t), cmp_i64);
        st->per_user_min = counts[0];
        st->per_user_max = counts[U - 1];
        st->per_user_mean = (double)ds->n_inter / (double)U;
        st->per_user_median = U % 2 ? (double)counts[U / 2]
                                    : 0.5 * (double)(counts[U / 2 - 1] + counts[U / 2]);
        st->per_user_p10 = nearest_rank(counts, U, 0.10);
        st->per_user_p90 = nearest_rank(counts, U, 0.90);
        fr_free(counts);
    }
    return count_genres(ds, st, err);
}
