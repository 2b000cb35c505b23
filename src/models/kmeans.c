/* kmeans.c - weighted k-means: k-means++ seeding (Arthur & Vassilvitskii, SODA 2007) and
 * Lloyd iterations, for FedMem's memory prototypes and the server's re-clustering of
 * uploaded prototypes (shared/reference/002, "核心算法 / 2. Prototype Aggregation").
 *
 * Leaves out: several restarts (n_init), the greedy k-means++ variant that draws several
 * candidates per centre (sklearn's), Elkan/Hamerly bounds, BLAS and threads. The sizes
 * FedMem needs are small (a memory of 20-200 entries, K = 3-10; the server's C x K
 * uploaded rows), and plain loops keep every sum in a fixed order.
 *
 * Dimension letters: n points, d a point's length, K clusters asked for, k clusters
 * found (k <= K).
 *
 * Numbers: distances, sums and means in double; centroids are stored as float (the
 * values returned) and every distance is taken to the stored float centroid, so the
 * returned assignment and inertia are exactly those of the returned centroids.
 */
#include "fedrec/kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/rng.h"

/* |a - b|^2 over d floats, in double, in index order. */
static double sqdist(const float *a, const float *b, int32_t d) {
    double s = 0.0;
    for (int32_t p = 0; p < d; p++) {
        const double t = (double)a[p] - (double)b[p];
        s += t * t;
    }
    return s;
}

static double weight_of(const double *w, int32_t i) { return w ? w[i] : 1.0; }

static fr_status check_args(const float *x, const double *w, int32_t n, int32_t d, int32_t K,
                            const fr_kmeans_opts *o, fr_error *err) {
    if (!x || !o) return fr_fail(err, FR_ERR_USAGE, "kmeans: points or options are NULL");
    if (n < 1) return fr_fail(err, FR_ERR_USAGE, "kmeans: n = %d points, need at least 1", n);
    if (d < 1) return fr_fail(err, FR_ERR_USAGE, "kmeans: d = %d, need at least 1", d);
    if (K < 1) return fr_fail(err, FR_ERR_USAGE, "kmeans: K = %d clusters, need at least 1", K);
    if (w) {
        double total = 0.0;
        for (int32_t i = 0; i < n; i++) {
            if (!isfinite(w[i]) || w[i] < 0.0)
                return fr_fail(err, FR_ERR_USAGE,
                               "kmeans: weight %d is %g, need a finite number >= 0", i, w[i]);
            total += w[i];
        }
        if (!(total > 0.0)) return fr_fail(err, FR_ERR_USAGE, "kmeans: every weight is 0");
        if (!isfinite(total))
            return fr_fail(err, FR_ERR_USAGE, "kmeans: the weights sum past a double");
    }
    for (int64_t e = 0; e < (int64_t)n * d; e++)
        if (!isfinite(x[e]))
            return fr_fail(err, FR_ERR_INPUT, "kmeans: point %lld, entry %lld is not finite",
                           (long long)(e / d), (long long)(e % d));
    return FR_OK;
}

/* The k-means++ draws into idx[K]; *k how many. dmin[n] is scratch and ends holding
 * each point's squared distance to its nearest seed. Arguments already checked. */
static fr_status seed_pp(int32_t *idx, int32_t *k, double *dmin, const float *x,
                         const double *w, int32_t n, int32_t d, int32_t K,
                         const fr_kmeans_opts *o, fr_error *err) {
    fr_rng r;
    fr_rng_init(&r, o->seed, o->round, o->stream, FR_PURPOSE_KMEANS);
    int32_t got = 0;
    while (got < K) {
        /* mass_i = w_i before the first seed, w_i D_i^2 after. */
        double total = 0.0;
        for (int32_t i = 0; i < n; i++) total += weight_of(w, i) * (got ? dmin[i] : 1.0);
        if (!(total > 0.0)) break; /* every weighted point sits on a seed */
        if (!isfinite(total)) {
            *k = 0;
            return fr_fail(err, FR_ERR_INPUT,
                           "kmeans: weighted squared distances overflow a double");
        }
        /* The first i whose running sum passes u; rounding can leave u at or past the
         * last running sum, and then the last point with mass is taken. */
        const double u = fr_rng_uniform(&r) * total;
        double acc = 0.0;
        int32_t pick = -1;
        for (int32_t i = 0; i < n; i++) {
            const double m = weight_of(w, i) * (got ? dmin[i] : 1.0);
            if (!(m > 0.0)) continue;
            pick = i;
            acc += m;
            if (u < acc) break;
        }
        idx[got++] = pick;
        const float *c = x + (int64_t)pick * d; /* [d] */
        for (int32_t i = 0; i < n; i++) {
            const double dd = sqdist(x + (int64_t)i * d, c, d);
            if (got == 1 || dd < dmin[i]) dmin[i] = dd;
        }
    }
    *k = got;
    return FR_OK;
}

fr_status fr_kmeans_seed(int32_t *idx, int32_t *k, const float *x, const double *w, int32_t n,
                         int32_t d, int32_t K, const fr_kmeans_opts *o, fr_error *err) {
    if (k) *k = 0;
    if (!idx || !k) return fr_fail(err, FR_ERR_USAGE, "kmeans: idx or k is NULL");
    fr_status st = check_args(x, w, n, d, K, o, err);
    if (st != FR_OK) return st;
    double *dmin = fr_alloc((size_t)n, sizeof(double)); /* [n] */
    if (!dmin) return fr_nomem(err, "kmeans distances", (size_t)n * sizeof(double));
    st = seed_pp(idx, k, dmin, x, w, n, d, K, o, err);
    fr_free(dmin);
    return st;
}

/* Assigns every point to its nearest centroid c[k x d] (ties: lower index) and returns
 * how many assignments changed. */
static int64_t assign_all(int32_t *assign, const float *x, int32_t n, int32_t d,
                          const float *c, int32_t k) {
    int64_t changed = 0;
    for (int32_t i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * d; /* [d] */
        int32_t best = 0;
        double best_d = sqdist(xi, c, d);
        for (int32_t j = 1; j < k; j++) {
            const double dj = sqdist(xi, c + (int64_t)j * d, d);
            if (dj < best_d) best_d = dj, best = j;
        }
        if (assign[i] != best) changed++;
        assign[i] = best;
    }
    return changed;
}

/* Moves each centroid with members of positive total weight to their weighted mean;
 * an empty one stays. sum[k x d] and wsum[k] are scratch. Returns the largest movement. */
static double update_centroids(float *c, double *sum, double *wsum, const int32_t *assign,
                               const float *x, const double *w, int32_t n, int32_t d,
                               int32_t k) {
    memset(sum, 0, (size_t)k * d * sizeof(double));
    memset(wsum, 0, (size_t)k * sizeof(double));
    for (int32_t i = 0; i < n; i++) {
        const double wi = weight_of(w, i);
        if (wi == 0.0) continue;
        const float *xi = x + (int64_t)i * d; /* [d] */
        double *si = sum + (int64_t)assign[i] * d;
        wsum[assign[i]] += wi;
        for (int32_t p = 0; p < d; p++) si[p] += wi * xi[p];
    }
    double move = 0.0;
    for (int32_t j = 0; j < k; j++) {
        if (!(wsum[j] > 0.0)) continue;
        float *cj = c + (int64_t)j * d; /* [d] */
        double sq = 0.0;
        for (int32_t p = 0; p < d; p++) {
            const float v = (float)(sum[(int64_t)j * d + p] / wsum[j]);
            const double t = (double)v - (double)cj[p];
            sq += t * t;
            cj[p] = v;
        }
        if (sqrt(sq) > move) move = sqrt(sq);
    }
    return move;
}

fr_status fr_kmeans(float *centroids, int32_t *assign, fr_kmeans_result *res, const float *x,
                    const double *w, int32_t n, int32_t d, int32_t K, const fr_kmeans_opts *o,
                    fr_error *err) {
    if (!centroids || !res) return fr_fail(err, FR_ERR_USAGE, "kmeans: centroids or res is NULL");
    memset(res, 0, sizeof(*res));
    fr_status st = check_args(x, w, n, d, K, o, err);
    if (st != FR_OK) return st;
    if (o->max_iter < 0)
        return fr_fail(err, FR_ERR_USAGE, "kmeans: max_iter = %d, need >= 0", o->max_iter);
    if (!isfinite(o->tol) || o->tol < 0.0)
        return fr_fail(err, FR_ERR_USAGE, "kmeans: tol = %g, need a finite number >= 0", o->tol);

    const size_t kd = (size_t)K * (size_t)d;
    double *dmin = fr_alloc((size_t)n, sizeof(double));  /* [n] */
    double *sum = fr_alloc(kd, sizeof(double));           /* [K x d] */
    double *wsum = fr_alloc((size_t)K, sizeof(double));   /* [K] */
    int32_t *idx = fr_alloc((size_t)K, sizeof(int32_t));  /* [K] */
    int32_t *own = assign ? NULL : fr_alloc((size_t)n, sizeof(int32_t)); /* [n] */
    int32_t *a = assign ? assign : own;
    if (!dmin || !sum || !wsum || !idx || !a) {
        st = fr_nomem(err, "kmeans scratch", (size_t)n * 12 + kd * 8 + (size_t)K * 12);
        goto done;
    }

    int32_t k = 0;
    st = seed_pp(idx, &k, dmin, x, w, n, d, K, o, err);
    if (st != FR_OK) goto done;
    memset(centroids, 0, kd * sizeof(float));
    for (int32_t j = 0; j < k; j++)
        memcpy(centroids + (int64_t)j * d, x + (int64_t)idx[j] * d, (size_t)d * sizeof(float));
    for (int32_t i = 0; i < n; i++) a[i] = -1;
    assign_all(a, x, n, d, centroids, k);

    res->k = k;
    for (int32_t it = 1; it <= o->max_iter; it++) {
        const double move = update_centroids(centroids, sum, wsum, a, x, w, n, d, k);
        const int64_t changed = assign_all(a, x, n, d, centroids, k);
        res->iters = it;
        if (changed == 0 || move < o->tol) {
            res->converged = 1;
            break;
        }
    }
    double inertia = 0.0;
    for (int32_t i = 0; i < n; i++)
        inertia += weight_of(w, i) * sqdist(x + (int64_t)i * d, centroids + (int64_t)a[i] * d, d);
    res->inertia = inertia;

done:
    fr_free(dmin);
    fr_free(sum);
    fr_free(wsum);
    fr_free(idx);
    fr_free(own);
    return st;
}
