/* aggregate.c - the server's side of a round for every model: the weighted average of
 * client deltas with both definitions of a row-sparse row's average (equations in
 * aggregate.h; FR_ROWAVG_ALL is FedAvg's, McMahan et al., "Communication-Efficient
 * Learning of Deep Networks from Decentralized Data", AISTATS 2017, alg. 1), top-m model
 * selection, and the simulated clock of asynchronous rounds (Nguyen et al., "Federated
 * Learning with Buffered Asynchronous Aggregation", AISTATS 2022, alg. 1: the 1/sqrt(1+s)
 * staleness weight is theirs).
 * Leaves out: robust aggregators (median, trimmed mean), secure aggregation, and the
 * server optimizer that turns the average into a step (optim.c does that).
 *
 * Cost of fr_aggregate: each client's touched rows are scattered into the accumulator
 * (no loop over all rows x all clients), so one call is
 * O(sum_c n_rows_c x sparse_width + n x dense_size + l->size).
 */
#include "fedrec/aggregate.h"

#include <math.h>
#include <omp.h>
#include <string.h>
#include "fedrec/alloc.h"
#include "fedrec/rng.h"

/* ---- averaging ---- */

/* Rows shared by the row-sparse GLOBAL tensors (the item count). */
static int64_t sparse_rows(const fr_param_layout *l) {
    int64_t rows = 0;
    for (int t = 0; t < l->n; t++)
        if (l->t[t].scope == FR_SCOPE_GLOBAL && l->t[t].row_sparse && l->t[t].rows > rows)
            rows = l->t[t].rows;
    return rows;
}

/* Adds the clients' weighted changes into acc: the sparse rows in [lo, hi) and the
 * dense entries in each dense tensor's slice [part of parts). Every entry receives its
 * clients in the order 0..n-1, whichever slice adds it: threads change no bit. */
static void accumulate(double *acc, double *row_w, const fr_param_layout *l, const fr_update *ups,
                       const double *weights, int32_t n, int touched, int64_t lo, int64_t hi,
                       int part, int parts) {
    const int64_t width = fr_layout_sparse_width(l);
    for (int32_t c = 0; c < n; c++) {
        const fr_update *u = &ups[c];
        const double wc = weights[c];
        if (!(wc > 0.0)) continue; /* a weightless client is absent */
        if (touched)
            for (int32_t r = 0; r < u->n_rows; r++)
                if (u->rows[r] >= lo && u->rows[r] < hi) row_w[u->rows[r]] += wc;
        int64_t col0 = 0, dense0 = 0; /* this tensor's column in sparse, offset in dense */
        for (int t = 0; t < l->n; t++) {
            const fr_tensor_info *ti = &l->t[t];
            if (ti->scope != FR_SCOPE_GLOBAL) continue;
            if (ti->row_sparse) {
                for (int32_t r = 0; r < u->n_rows; r++) {
                    if (u->rows[r] < lo || u->rows[r] >= hi) continue;
                    double *dst = acc + ti->offset + (int64_t)u->rows[r] * ti->cols; /* [cols] */
                    const float *src = u->sparse + (int64_t)r * width + col0;        /* [cols] */
                    for (int64_t k = 0; k < ti->cols; k++) dst[k] += wc * src[k];
                }
                col0 += ti->cols;
            } else {
                const int64_t sz = ti->rows * ti->cols;
                const int64_t k0 = sz * part / parts, k1 = sz * (part + 1) / parts;
                for (int64_t k = k0; k < k1; k++) acc[ti->offset + k] += wc * u->dense[dense0 + k];
                dense0 += sz;
            }
        }
    }
}

/* avg = acc / total (by_row: acc / row_w per row) over this part of tensor ti: a part
 * of its rows when rows_split (the same rows accumulate() gave this part when the
 * tensor has all R rows), else a part of its entries. */
static void divide(float *avg, const double *acc, const double *row_w, const fr_tensor_info *ti,
                   int rows_split, int by_row, double inv, int part, int parts) {
    if (!rows_split) {
        const int64_t sz = ti->rows * ti->cols;
        for (int64_t k = sz * part / parts; k < sz * (part + 1) / parts; k++)
            avg[ti->offset + k] = (float)(acc[ti->offset + k] * inv);
        return;
    }
    for (int64_t r = ti->rows * part / parts; r < ti->rows * (part + 1) / parts; r++) {
        const double ir = !by_row ? inv : row_w[r] > 0.0 ? 1.0 / row_w[r] : 0.0;
        const int64_t o = ti->offset + r * ti->cols;
        for (int64_t k = 0; k < ti->cols; k++) avg[o + k] = (float)(acc[o + k] * ir);
    }
}

double fr_aggregate(float *avg, double *acc, double *row_w, const fr_param_layout *l,
                    const fr_update *ups, const double *weights, int32_t n,
                    fr_row_averaging mode) {
    const int touched = mode == FR_ROWAVG_TOUCHED;
    const int64_t R = sparse_rows(l);
    double total = 0.0;
    for (int32_t c = 0; c < n; c++)
        if (weights[c] > 0.0) total += weights[c];
    /* Divide by multiplying with the reciprocal, in both modes, so a row every client
     * touched is the same in both. LOCAL and FROZEN tensors were never accumulated: acc
     * is 0 there, and so is avg. */
    const double inv = total > 0.0 ? 1.0 / total : 0.0;
    /* the work splits by row ranges and dense slices, one per thread of the team (the
     * caller's OpenMP thread count; one when called inside a parallel region) */
#pragma omp parallel
    {
        const int parts = omp_get_num_threads(), part = omp_get_thread_num();
        for (int t = 0; t < l->n; t++) {
            const fr_tensor_info *ti = &l->t[t];
            const int64_t sz = ti->rows * ti->cols;
            memset(acc + ti->offset + sz * part / parts, 0,
                   (size_t)(sz * (part + 1) / parts - sz * part / parts) * sizeof(double));
        }
        const int64_t lo = R * part / parts, hi = R * (part + 1) / parts;
        if (touched) memset(row_w + lo, 0, (size_t)(hi - lo) * sizeof(double));
#pragma omp barrier
        accumulate(acc, row_w, l, ups, weights, n, touched, lo, hi, part, parts);
        /* a tensor's division reads only its own slice's rows or entries, which this
         * thread accumulated: the row ranges of the sparse tensors are the same split */
        for (int t = 0; t < l->n; t++) {
            const fr_tensor_info *ti = &l->t[t];
            const int same_split = ti->scope == FR_SCOPE_GLOBAL && ti->rows == R && ti->row_sparse;
            if (same_split) divide(avg, acc, row_w, ti, 1, touched, inv, part, parts);
        }
#pragma omp barrier
        for (int t = 0; t < l->n; t++) {
            const fr_tensor_info *ti = &l->t[t];
            const int same_split = ti->scope == FR_SCOPE_GLOBAL && ti->rows == R && ti->row_sparse;
            if (same_split) continue;
            const int by_row = touched && ti->scope == FR_SCOPE_GLOBAL && ti->row_sparse;
            divide(avg, acc, row_w, ti, by_row, by_row, inv, part, parts);
        }
    }
    return total;
}

/* ---- model selection ---- */

/* 1 when candidate a ranks above b: higher score, then lower index. NaN ranks below
 * every number, so a diverged candidate is never picked over a finite one. */
static int ranks_above(const double *scores, int32_t a, int32_t b) {
    const double sa = scores[a], sb = scores[b];
    const int na = isnan(sa), nb = isnan(sb);
    if (na != nb) return nb;
    if (!na && sa != sb) return sa > sb;
    return a < b;
}

/* Restores the heap below position i of h[n], whose root is the candidate ranked
 * lowest (so the kept m can be challenged in O(log m)). */
static void worst_heap_down(int32_t *h, int32_t n, int32_t i, const double *scores) {
    for (;;) {
        int32_t w = i, a = 2 * i + 1, b = 2 * i + 2;
        if (a < n && ranks_above(scores, h[w], h[a])) w = a;
        if (b < n && ranks_above(scores, h[w], h[b])) w = b;
        if (w == i) return;
        int32_t tmp = h[i];
        h[i] = h[w];
        h[w] = tmp;
        i = w;
    }
}

int32_t fr_select_best(int32_t *out, const double *scores, int32_t n, int32_t m) {
    if (m > n) m = n;
    if (m <= 0) return 0;
    /* out[0..m) is a heap of the best m seen so far with the worst at the root:
     * O(n log m) time, no memory beyond out. */
    for (int32_t i = 0; i < m; i++) out[i] = i;
    for (int32_t i = m / 2 - 1; i >= 0; i--) worst_heap_down(out, m, i, scores);
    for (int32_t i = m; i < n; i++) {
        if (!ranks_above(scores, i, out[0])) continue;
        out[0] = i;
        worst_heap_down(out, m, 0, scores);
    }
    /* Heap sort: move the worst to the end each time, leaving best first. */
    for (int32_t k = m - 1; k > 0; k--) {
        int32_t tmp = out[0];
        out[0] = out[k];
        out[k] = tmp;
        worst_heap_down(out, k, 0, scores);
    }
    return m;
}

/* ---- asynchronous rounds ---- */

/* Preconditions, not checked (there is no error channel): scale > 0; sigma >= 0 for the
 * log-normal; alpha > 0 for Pareto. */
double fr_client_duration(fr_duration_dist dist, double scale, double param, uint64_t seed,
                          uint32_t dispatch, uint32_t client) {
    if (dist == FR_DUR_CONSTANT) return scale;
    fr_rng r;
    fr_rng_init(&r, seed, dispatch, client, FR_PURPOSE_ASYNC);
    if (dist == FR_DUR_LOGNORMAL) return exp(log(scale) + param * fr_rng_normal(&r));
    /* FR_DUR_PARETO: inverse CDF; 1 - [0, 1) is (0, 1], so U^(-1/alpha) is finite */
    const double u = 1.0 - fr_rng_uniform(&r);
    return scale * pow(u, -1.0 / param);
}

/* A negative s (a caller's bug) is treated as 0, so the weight never exceeds 1. */
double fr_staleness_weight(fr_staleness_kind kind, double a, int64_t s) {
    const double s1 = 1.0 + (double)(s > 0 ? s : 0);
    switch (kind) {
    case FR_STALE_SQRT: return 1.0 / sqrt(s1);
    case FR_STALE_POLY: return pow(s1, -a);
    case FR_STALE_CONSTANT: break;
    }
    return 1.0;
}

/* Job a leaves the clock before job b: earlier finish, then earlier dispatch. */
static int job_before(const fr_async_job *a, const fr_async_job *b) {
    if (a->finish != b->finish) return a->finish < b->finish;
    return a->dispatch < b->dispatch;
}

fr_status fr_async_clock_init(fr_async_clock *q, int32_t capacity, fr_error *err) {
    memset(q, 0, sizeof *q);
    if (capacity <= 0)
        return fr_fail(err, FR_ERR_USAGE, "async clock: concurrency must be positive, got %d",
                       (int)capacity);
    q->heap = fr_alloc((size_t)capacity, sizeof(fr_async_job));
    if (!q->heap)
        return fr_nomem(err, "async clock", (size_t)capacity * sizeof(fr_async_job));
    q->cap = capacity;
    return FR_OK;
}

void fr_async_clock_free(fr_async_clock *q) {
    fr_free(q->heap);
    memset(q, 0, sizeof *q);
}

/* A duration must be finite and >= 0 (FR_ERR_USAGE otherwise): then every job in flight
 * finishes at or after `now`, and the clock never runs backwards. */
fr_status fr_async_dispatch(fr_async_clock *q, int32_t client, int32_t slot, int64_t version,
                            double duration, int64_t *dispatch, fr_error *err) {
    if (q->n >= q->cap)
        return fr_fail(err, FR_ERR_RUNTIME,
                       "async clock: %d clients already in flight (capacity %d)", (int)q->n,
                       (int)q->cap);
    if (!(duration >= 0.0) || isinf(duration))
        return fr_fail(err, FR_ERR_USAGE, "async clock: client %d: duration %g is not a finite "
                       "non-negative number", (int)client, duration);
    fr_async_job job = { .finish = q->now + duration, .dispatch = q->n_dispatched++,
                         .client = client, .slot = slot, .version = version };
    /* sift up */
    int32_t i = q->n++;
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!job_before(&job, &q->heap[parent])) break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = job;
    if (dispatch) *dispatch = job.dispatch;
    return FR_OK;
}

int fr_async_next(fr_async_clock *q, fr_async_job *job) {
    if (q->n == 0) return 0;
    *job = q->heap[0];
    const fr_async_job last = q->heap[--q->n];
    /* sift the last job down from the root */
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && job_before(&q->heap[c + 1], &q->heap[c])) c++;
        if (!job_before(&q->heap[c], &last)) break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->n > 0) q->heap[i] = last;
    q->now = job->finish;
    return 1;
}
