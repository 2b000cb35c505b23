/* aggregate.h - what the server does with client updates, for every model: weighted
 * averaging with both definitions of a row-sparse row's average, model selection, and
 * the simulated clock of asynchronous rounds (FedBuff).
 *
 * Row averaging (a row-sparse tensor, e.g. an item embedding, travels as touched rows):
 *   FR_ROWAVG_ALL      avg_r = sum_{c touched r} w_c delta_{c,r} / sum_{all c} w_c
 *                      (FedAvg's definition, McMahan et al. 2017: an untouched row is a
 *                      zero delta from that client);
 *   FR_ROWAVG_TOUCHED  avg_r = sum_{c touched r} w_c delta_{c,r} / sum_{c touched r} w_c
 *                      (the mean over the clients that have the row; rows nobody touched
 *                      stay 0).
 * Dense GLOBAL tensors always use sum_c w_c delta_c / sum_c w_c.
 * Sums run over clients in the given order and accumulate in double, so the result does
 * not depend on threads.
 *
 * Asynchronous rounds (Nguyen et al., "Federated Learning with Buffered Asynchronous
 * Aggregation", AISTATS 2022): a simulated clock; each dispatched client finishes after
 * a duration drawn from a heavy-tailed distribution on the stream
 * (seed, dispatch index, client, FR_PURPOSE_ASYNC); at most `concurrency` clients are in
 * flight; the server applies the buffer after every K arrivals, each update weighted by
 * its staleness s (model versions since the client was dispatched).
 */
#ifndef FEDREC_AGGREGATE_H
#define FEDREC_AGGREGATE_H

#include <stdint.h>
#include "fedrec/fl.h"
#include "fedrec/params.h"

typedef enum fr_row_averaging { FR_ROWAVG_ALL, FR_ROWAVG_TOUCHED } fr_row_averaging;

/* avg[l->size] = the weighted mean of the n updates' deltas as defined above, with
 * weights[n] (> 0) given by the caller (examples, uniform, staleness-discounted...).
 * acc[l->size] and row_w[rows of the row-sparse tensors, i.e. the largest row-sparse
 * tensor's row count] are caller-provided double scratch. Returns sum of weights
 * (0 when n == 0, and avg is all zero). */
double fr_aggregate(float *avg, double *acc, double *row_w, const fr_param_layout *l,
                    const fr_update *ups, const double *weights, int32_t n,
                    fr_row_averaging mode);

/* Model selection (R5): out[m] = indices of the m highest scores[n], best first; ties
 * go to the lower index. m is clamped to n; returns the number written. */
int32_t fr_select_best(int32_t *out, const double *scores, int32_t n, int32_t m);

/* ---- asynchronous rounds ---- */

typedef enum fr_duration_dist {
    FR_DUR_LOGNORMAL,  /* exp(mu + sigma N(0,1)), mu chosen so the median is `scale` */
    FR_DUR_PARETO,     /* scale * U^(-1/alpha), U uniform in (0, 1]: Pareto(alpha, scale) */
    FR_DUR_CONSTANT    /* always `scale` (every client equally fast) */
} fr_duration_dist;

/* Seconds client `client` needs for its dispatch number `dispatch` (0, 1, 2... over the
 * whole run): from the stream (seed, dispatch, client, FR_PURPOSE_ASYNC). param is
 * sigma (log-normal) or alpha (Pareto). */
double fr_client_duration(fr_duration_dist dist, double scale, double param, uint64_t seed,
                          uint32_t dispatch, uint32_t client);

typedef enum fr_staleness_kind {
    FR_STALE_SQRT,      /* 1 / sqrt(1 + s) (FedBuff's choice) */
    FR_STALE_POLY,      /* (1 + s)^-a */
    FR_STALE_CONSTANT   /* 1 */
} fr_staleness_kind;
double fr_staleness_weight(fr_staleness_kind kind, double a, int64_t s);

/* The simulated clock: a priority queue of in-flight clients ordered by finish time,
 * ties broken by dispatch number (so the order is total and deterministic). */
typedef struct fr_async_job {
    double finish;      /* simulated seconds */
    int64_t dispatch;   /* dispatch number, unique, increasing */
    int32_t client;     /* user id */
    int32_t slot;       /* caller's handle (e.g. where its update is stored) */
    int64_t version;    /* model version it was dispatched with */
} fr_async_job;

typedef struct fr_async_clock {
    double now;
    int64_t n_dispatched;
    int32_t n, cap;     /* jobs in flight, capacity */
    fr_async_job *heap; /* [cap] binary min-heap */
} fr_async_clock;

fr_status fr_async_clock_init(fr_async_clock *q, int32_t capacity, fr_error *err);
void fr_async_clock_free(fr_async_clock *q);
/* Dispatches client now with a duration; returns its dispatch number. FR_ERR_RUNTIME
 * when full. */
fr_status fr_async_dispatch(fr_async_clock *q, int32_t client, int32_t slot, int64_t version,
                            double duration, int64_t *dispatch, fr_error *err);
/* Pops the earliest finisher into *job and moves the clock to its finish time. Returns
 * 0 when nothing is in flight. */
int fr_async_next(fr_async_clock *q, fr_async_job *job);

#endif
