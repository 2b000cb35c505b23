/* engine.h - the federated round loop every model shares.
 *
 * A model plugs in through fr_fl_model: a flat parameter layout, a list of clients, a
 * client update (train locally from the global parameters, return the delta of the
 * GLOBAL tensors, row-sparse ones as touched rows) and an evaluation. The engine does
 * the rest, as settings of one loop (fr_config [train], [async], [eval]):
 *   sync:  sample clients (count or fraction) -> client updates in parallel ->
 *          [model selection: keep the best select_m by the score clients report] ->
 *          weighted or uniform mean (row-sparse rows over all clients' weight or the
 *          touching clients' weight) -> server optimizer on the pseudo-gradient
 *          g = -mean delta (SGD lr 1 = FedAvg, momentum = FedAvgM, Adam = FedAdam,
 *          Yogi = FedYogi; Reddi et al., ICLR 2021), or the model's own server update
 *          (e.g. graph-guided aggregation) -> validation every eval.every rounds by the
 *          model's validate(), keeping the parameters with the best key (HR@10 for
 *          ranking models; eval.keep_best = false keeps the last ones), stopping after
 *          eval.patience validations without improvement.
 *   async: FedBuff (aggregate.h): concurrency clients in flight on a simulated clock,
 *          a server step after every K arrivals with staleness-discounted weights;
 *          a round is one server step.
 * Simulated time: a sync round lasts as long as its slowest client (durations drawn as
 * for async), so both modes report HR@10 against the same clock.
 * History (one line per round): round, loss, clients, examples, bytes_up, bytes_down,
 * sim_time, seconds, and async's mean staleness, and valid{...} when validated.
 * bytes_down counts a model download per client dispatched since the previous line (in
 * async round 1 that is the initial concurrency plus the refills so far).
 *
 * Determinism: client updates depend only on (seed, round, client); the engine combines
 * them in a fixed order; any thread count gives the same bits.
 */
#ifndef FEDREC_ENGINE_H
#define FEDREC_ENGINE_H

#include <stdint.h>
#include "fedrec/config.h"
#include "fedrec/fl.h"
#include "fedrec/history.h"
#include "fedrec/params.h"
#include "cJSON.h"
#include "fedrec/status.h"

/* What a validation gives the engine. */
typedef struct fr_fl_eval {
    double key;      /* the figure early stopping and keep-best compare; higher is better */
    cJSON *json;     /* the history line's "valid" object; the engine takes ownership */
} fr_fl_eval;

typedef struct fr_fl_model {
    const fr_param_layout *layout;
    float *params;            /* [layout->size] the global parameters; the engine updates
                                 them and leaves the best validated ones at the end (the
                                 last ones with eval.keep_best = false) */
    const int32_t *clients;   /* [n_clients] user ids that can be sampled */
    int32_t n_clients;
    void *ctx;
    /* Trains `client` in round `round` from params; fills up (delta = local - global of
     * GLOBAL tensors, weight = examples, loss_sum, n_examples, score when selection is
     * on). slot in [0, threads) names the caller's per-thread workspace. A model with
     * client state (a local user vector, a personal model) keeps it in ctx, indexed by
     * client: the engine never trains one client twice at once. */
    fr_status (*client_update)(void *ctx, int slot, const float *params, int32_t client,
                               uint32_t round, int want_score, fr_update *up, fr_error *err);
    /* Validation of params (and of any client state in ctx). */
    fr_status (*validate)(void *ctx, const float *params, fr_fl_eval *out, fr_error *err);
    const char *key_name;      /* the key's name in progress lines, e.g. "HR@10" */
    const char *accuracy_name; /* NULL, or the history key under which the round's
                                  n_correct / n_examples is written */
    /* Optional: replaces the weighted mean and the server optimizer. Gets the n updates
     * the round aggregates (up[i]->client names the sender), their weights (examples or
     * 1, times the staleness discount), and updates params in place. NULL: FedAvg and
     * the [train] server optimizer. */
    fr_status (*server_update)(void *ctx, float *params, const fr_update *const *ups,
                               const double *weights, int32_t n, uint32_t round,
                               fr_error *err);
    /* Optional: the model's own end of a round, after the parameters' server step (sync:
     * every round; async: every server step), with all n updates the round received in
     * their fixed order and their weights (FedMem aggregates the memory prototypes the
     * clients uploaded here). It may add fields to the round's history line. */
    fr_status (*round_end)(void *ctx, const fr_update *const *ups, const double *weights,
                           int32_t n, uint32_t round, cJSON *line, fr_error *err);
    /* Optional: bytes sent to each dispatched client besides the parameters (FedMem's
     * global memory), counted in bytes_down. */
    int64_t (*side_bytes_down)(void *ctx);
} fr_fl_model;

typedef struct fr_fl_outcome {
    int32_t rounds;        /* server steps done */
    int32_t best_round;    /* round of the parameters left in model->params (0: initial) */
    double best_key;       /* their validation key (-1 before any validation) */
    double sim_time;       /* simulated seconds at the end */
    int64_t client_updates;/* client updates computed */
    double train_seconds;  /* wall time spent in rounds (validation excluded) */
    float *opt_m, *opt_v;  /* [layout size] or NULL: the server optimizer's moments that
                              go with the parameters left (free with fr_fl_outcome_free) */
    int64_t opt_steps;
} fr_fl_outcome;

void fr_fl_outcome_free(fr_fl_outcome *out);

/* Runs c->rounds rounds (or until early stopping) and appends to h. threads >= 1.
 * On success *out owns the optimizer moments; free it with fr_fl_outcome_free. */
fr_status fr_fl_run(fr_fl_model *m, const fr_config *c, int threads, fr_history *h,
                    int progress, fr_fl_outcome *out, fr_error *err);

#endif
