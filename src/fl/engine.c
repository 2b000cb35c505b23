/* engine.c - the federated round loop (see engine.h): synchronous rounds and FedBuff's
 * buffered asynchronous aggregation over any fr_fl_model, with model selection, server
 * optimizers, early stopping and the history lines.
 *
 * Asynchronous rounds train lazily but exactly: a client's update depends only on the
 * model version it was dispatched with, so dispatched clients wait in a pending list
 * and are trained together (in parallel) just before the model changes, or earlier if
 * one of them arrives first. The simulated clock alone decides the order of events.
 * Leaves out: client dropouts and partial work (FedBuff's stragglers finish, late).
 */
#include "fedrec/engine.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/aggregate.h"
#include "fedrec/alloc.h"
#include "fedrec/optim.h"
#include "fedrec/rng.h"
#include "fedrec/timer.h"

/* Everything a run holds besides the model. */
typedef struct engine {
    fr_fl_model *m;
    const fr_config *c;
    int threads;
    fr_history *h;
    fr_optim opt;
    fr_update *ups;        /* [n_ups] client updates (sync: one per sampled client;
                              async: one per slot) */
    int32_t n_ups;
    double *weights;       /* [n_ups] */
    double *scores;        /* [n_ups] */
    int32_t *pick;         /* [n_ups] indices handed to aggregation */
    fr_update *sel;        /* [n_ups] updates handed to aggregation (shallow copies) */
    const fr_update **views; /* [n_ups] pointers to them, for a model's server_update */
    float *avg, *grad, *best;   /* [size] */
    float *best_m, *best_v;     /* [size] or NULL: the server optimizer's moments with best */
    int64_t best_t;
    double *acc, *row_w;   /* [size], [rows] */
    int64_t model_bytes;   /* GLOBAL floats * 4: what a client downloads */
    fr_row_averaging rowavg;
    fr_weighting weighting;
    fr_duration_dist dur;
    /* early stopping */
    double best_key;
    int32_t since_best, best_round;
    double last_key;       /* the latest validation, of round last_round */
    int32_t last_round;
    double t_start, t_eval;
} engine;

static void engine_free(engine *e) {
    if (e->ups)
        for (int32_t i = 0; i < e->n_ups; i++) fr_update_free(&e->ups[i]);
    fr_free(e->ups);
    fr_free(e->weights);
    fr_free(e->scores);
    fr_free(e->pick);
    fr_free(e->sel);
    fr_free(e->views);
    fr_free(e->avg);
    fr_free(e->grad);
    fr_free(e->best);
    fr_free(e->best_m);
    fr_free(e->best_v);
    fr_free(e->acc);
    fr_free(e->row_w);
    fr_optim_free(&e->opt);
}

static int64_t max_sparse_rows(const fr_param_layout *l) {
    int64_t r = 1;
    for (int i = 0; i < l->n; i++)
        if (l->t[i].row_sparse && l->t[i].rows > r) r = l->t[i].rows;
    return r;
}

static fr_status engine_init(engine *e, fr_fl_model *m, const fr_config *c, int threads,
                             fr_history *h, int32_t n_ups, fr_error *err) {
    memset(e, 0, sizeof *e);
    e->m = m;
    e->c = c;
    e->threads = threads;
    e->h = h;
    e->n_ups = n_ups;
    const fr_param_layout *L = m->layout;
    const int64_t P = L->size;
    fr_optim_kind kind = strcmp(c->server_optimizer, "adam") == 0   ? FR_OPTIM_ADAM
                         : strcmp(c->server_optimizer, "yogi") == 0 ? FR_OPTIM_YOGI
                                                                    : FR_OPTIM_SGD;
    fr_status st = fr_optim_init(&e->opt, kind, P, c->server_lr, c->server_momentum,
                                 c->server_beta1, c->server_beta2, c->server_eps, err);
    if (st != FR_OK) return st;
    e->ups = fr_calloc((size_t)n_ups, sizeof *e->ups);
    e->weights = fr_alloc((size_t)n_ups, sizeof(double));
    e->scores = fr_alloc((size_t)n_ups, sizeof(double));
    e->pick = fr_alloc((size_t)n_ups, sizeof(int32_t));
    e->sel = fr_alloc((size_t)n_ups, sizeof(fr_update));
    e->views = fr_alloc((size_t)n_ups, sizeof *e->views);
    e->avg = fr_alloc((size_t)P, sizeof(float));
    e->grad = fr_alloc((size_t)P, sizeof(float));
    e->best = fr_alloc((size_t)P, sizeof(float));
    e->acc = fr_alloc((size_t)P, sizeof(double));
    e->row_w = fr_alloc((size_t)max_sparse_rows(L) + 1, sizeof(double)); /* 0 rows: item table frozen */
    if (!e->ups || !e->weights || !e->scores || !e->pick || !e->sel || !e->views || !e->avg || !e->grad ||
        !e->best || !e->acc || !e->row_w) {
        engine_free(e);
        return fr_nomem(err, "federated round buffers", (size_t)P * 32);
    }
    for (int i = 0; i < L->n; i++)
        if (L->t[i].scope == FR_SCOPE_GLOBAL) e->model_bytes += 4 * L->t[i].rows * L->t[i].cols;
    e->rowavg = strcmp(c->row_averaging, "touched") == 0 ? FR_ROWAVG_TOUCHED : FR_ROWAVG_ALL;
    e->weighting = strcmp(c->weighting, "uniform") == 0 ? FR_WEIGHT_UNIFORM : FR_WEIGHT_EXAMPLES;
    e->dur = strcmp(c->async_duration, "pareto") == 0     ? FR_DUR_PARETO
             : strcmp(c->async_duration, "constant") == 0 ? FR_DUR_CONSTANT
                                                          : FR_DUR_LOGNORMAL;
    memcpy(e->best, m->params, (size_t)P * sizeof(float));
    if (c->eval_keep_best && (e->opt.m || e->opt.v)) {
        e->best_m = e->opt.m ? fr_calloc((size_t)P, sizeof(float)) : NULL;
        e->best_v = e->opt.v ? fr_alloc((size_t)P, sizeof(float)) : NULL;
        if ((e->opt.m && !e->best_m) || (e->opt.v && !e->best_v)) {
            engine_free(e);
            return fr_nomem(err, "server optimizer moments", (size_t)P * 8);
        }
        if (e->best_v) memcpy(e->best_v, e->opt.v, (size_t)P * sizeof(float));
    }
    e->best_key = -1.0;
    e->best_round = 0;
    return FR_OK;
}

/* Trains clients[i] into ups[slots[i]] (slots NULL: ups[i]) for i < n in parallel, all
 * from the current parameters, with the random streams of round rounds[i] (rounds
 * NULL: round). The first error (lowest i) wins. */
static fr_status train_clients(engine *e, const int32_t *clients, const int32_t *slots,
                               const uint32_t *rounds, int32_t n, uint32_t round,
                               fr_error *err) {
    fr_fl_model *m = e->m;
    const int want_score = strcmp(e->c->selection, "best") == 0;
    fr_status first = FR_OK;
    int32_t first_i = n;
#pragma omp parallel num_threads(e->threads)
    {
        fr_error e2 = { "" };
        int slot = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int32_t i = 0; i < n; i++) {
            fr_update *up = &e->ups[slots ? slots[i] : i];
            fr_status st = m->client_update(m->ctx, slot, m->params, clients[i],
                                            rounds ? rounds[i] : round, want_score, up, &e2);
            up->client = clients[i];
            if (st != FR_OK) {
#pragma omp critical
                if (i < first_i) {
                    first_i = i;
                    first = st;
                    *err = e2;
                }
            }
        }
    }
    return first;
}

/* Aggregates ups[idx[0..n-1]] with weights w[0..n-1] (model selection applied) and
 * takes one server step: the model's own, or the mean and the server optimizer. */
static fr_status server_step(engine *e, const int32_t *idx, const double *w, int32_t n,
                             uint32_t round, fr_error *err) {
    const fr_param_layout *L = e->m->layout;
    const int64_t P = L->size;
    int32_t k = n;
    if (strcmp(e->c->selection, "best") == 0) {
        for (int32_t i = 0; i < n; i++) e->scores[i] = e->ups[idx[i]].score;
        k = fr_select_best(e->pick, e->scores, n, e->c->select_m);
        /* aggregate the chosen ones in their original order */
        for (int32_t a = 1; a < k; a++)
            for (int32_t b = a; b > 0 && e->pick[b - 1] > e->pick[b]; b--) {
                int32_t t = e->pick[b];
                e->pick[b] = e->pick[b - 1];
                e->pick[b - 1] = t;
            }
    } else {
        for (int32_t i = 0; i < n; i++) e->pick[i] = i;
    }
    double *wk = e->scores;  /* reuse as the chosen weights */
    for (int32_t i = 0; i < k; i++) {
        e->sel[i] = e->ups[idx[e->pick[i]]];
        wk[i] = w[e->pick[i]];
    }
    if (e->m->server_update) {
        for (int32_t i = 0; i < k; i++) e->views[i] = &e->sel[i];
        return e->m->server_update(e->m->ctx, e->m->params, e->views, wk, k, round, err);
    }
    fr_aggregate(e->avg, e->acc, e->row_w, L, e->sel, wk, k, e->rowavg);
    for (int64_t i = 0; i < P; i++) e->grad[i] = -e->avg[i];
    fr_optim_step(&e->opt, e->m->params, e->grad);
    return FR_OK;
}

static double base_weight(const engine *e, const fr_update *u) {
    return e->weighting == FR_WEIGHT_UNIFORM ? 1.0 : u->weight;
}

static fr_status check_finite(const engine *e, int32_t round, fr_error *err) {
    const float *p = e->m->params;
    for (int64_t i = 0; i < e->m->layout->size; i++)
        if (!isfinite(p[i]))
            return fr_fail(err, FR_ERR_RUNTIME, "round %d: the model diverged (non-finite "
                           "parameters); lower the learning rates", round);
    return FR_OK;
}

/* Validation (when due), early stopping and the history line. *stop is set when
 * patience runs out. */
static fr_status finish_round(engine *e, int32_t round, cJSON *line, int *stop, fr_error *err) {
    const fr_config *c = e->c;
    fr_status st = check_finite(e, round, err);
    if (st == FR_OK && ((c->eval_every > 0 && round % c->eval_every == 0) || round == c->rounds)) {
        double t0 = fr_now_seconds();
        fr_fl_eval v = { 0.0, NULL };
        st = e->m->validate(e->m->ctx, e->m->params, &v, err);
        if (st == FR_OK && !isfinite(v.key))
            st = fr_fail(err, FR_ERR_RUNTIME, "round %d: the validation %s is not a number",
                         round, e->m->key_name ? e->m->key_name : "figure");
        if (v.json) cJSON_AddItemToObject(line, "valid", v.json);
        if (st == FR_OK) {
            e->last_key = v.key;
            e->last_round = round;
            if (e->best_round == 0 || v.key > e->best_key) {
                e->best_key = v.key;
                e->best_round = round;
                e->since_best = 0;
                if (c->eval_keep_best) {
                    const size_t bytes = (size_t)e->m->layout->size * sizeof(float);
                    memcpy(e->best, e->m->params, bytes);
                    if (e->best_m) memcpy(e->best_m, e->opt.m, bytes);
                    if (e->best_v) memcpy(e->best_v, e->opt.v, bytes);
                    e->best_t = e->opt.t;
                }
            } else if (c->eval_patience > 0 && ++e->since_best >= c->eval_patience) {
                *stop = 1;
            }
        }
        e->t_eval += fr_now_seconds() - t0;
    }
    if (st == FR_OK) st = fr_history_append(e->h, line, err);
    return st;
}

static const char *key_name(const engine *e) {
    return e->m->key_name ? e->m->key_name : "key";
}

static void add_round_stats(const engine *e, cJSON *line, int32_t round,
                            const fr_update *const *u, int32_t n, int64_t bytes_up,
                            int64_t bytes_down, double sim_time, double secs) {
    double loss = 0.0;
    int64_t ex = 0, ok = 0;
    for (int32_t i = 0; i < n; i++) {
        loss += u[i]->loss_sum;
        ex += u[i]->n_examples;
        ok += u[i]->n_correct;
    }
    cJSON_AddNumberToObject(line, "round", round);
    cJSON_AddNumberToObject(line, "loss", ex ? loss / (double)ex : 0.0);
    if (e->m->accuracy_name)
        cJSON_AddNumberToObject(line, e->m->accuracy_name, ex ? (double)ok / (double)ex : 0.0);
    cJSON_AddNumberToObject(line, "clients", n);
    cJSON_AddNumberToObject(line, "examples", (double)ex);
    cJSON_AddNumberToObject(line, "bytes_up", (double)bytes_up);
    cJSON_AddNumberToObject(line, "bytes_down", (double)bytes_down);
    cJSON_AddNumberToObject(line, "sim_time", sim_time);
    cJSON_AddNumberToObject(line, "seconds", secs);
}

/* Bytes one dispatched client receives: the model and the model's side payload. */
static int64_t model_down(const engine *e) {
    return e->model_bytes + (e->m->side_bytes_down ? e->m->side_bytes_down(e->m->ctx) : 0);
}

static int32_t clients_per_round(const engine *e) {
    const fr_config *c = e->c;
    int64_t k = c->clients_per_round;
    if (c->clients_fraction > 0.0) {
        /* ceil of the exact product: a product that is a whole number up to rounding
         * (0.28 * 25 = 7.000000000000001) must not round up to the next one */
        double x = c->clients_fraction * (double)e->m->n_clients, r = round(x);
        k = fabs(x - r) <= 1e-9 * fmax(1.0, x) ? (int64_t)r : (int64_t)ceil(x);
    }
    if (k > e->m->n_clients) k = e->m->n_clients;
    return k < 1 ? 1 : (int32_t)k;
}

static fr_status run_sync(engine *e, fr_fl_outcome *out, int progress, fr_error *err) {
    const fr_config *c = e->c;
    const int32_t k = e->n_ups;
    int32_t *sel = fr_alloc((size_t)k, sizeof(int32_t)), *who = fr_alloc((size_t)k, sizeof(int32_t));
    const fr_update **views = fr_alloc((size_t)k, sizeof *views);
    if (!sel || !who || !views) {
        fr_free(sel);
        fr_free(who);
        fr_free(views);
        return fr_nomem(err, "round client lists", (size_t)k * 16);
    }
    fr_status st = FR_OK;
    double sim = 0.0;
    for (int32_t round = 1; round <= c->rounds && st == FR_OK; round++) {
        double t0 = fr_now_seconds();
        int32_t n = fr_sample_clients(sel, e->m->n_clients, k, c->seed, (uint32_t)round);
        double slowest = 0.0;
        for (int32_t i = 0; i < n; i++) {
            who[i] = e->m->clients[sel[i]];
            double d = fr_client_duration(e->dur, c->async_duration_scale, c->async_duration_param,
                                          c->seed, (uint32_t)round, (uint32_t)who[i]);
            slowest = d > slowest ? d : slowest;
        }
        sim += slowest;
        st = train_clients(e, who, NULL, NULL, n, (uint32_t)round, err);
        if (st != FR_OK) break;
        int64_t bytes_up = 0;
        for (int32_t i = 0; i < n; i++) {
            e->weights[i] = base_weight(e, &e->ups[i]);
            sel[i] = i;
            views[i] = &e->ups[i];
            bytes_up += fr_update_bytes(&e->ups[i], e->m->layout);
        }
        st = server_step(e, sel, e->weights, n, (uint32_t)round, err);
        if (st != FR_OK) break;
        out->client_updates += n;
        cJSON *line = cJSON_CreateObject();
        add_round_stats(e, line, round, views, n, bytes_up, (int64_t)n * model_down(e), sim,
                        fr_now_seconds() - t0);
        if (e->m->round_end)
            st = e->m->round_end(e->m->ctx, views, e->weights, n, (uint32_t)round, line, err);
        if (st != FR_OK) {
            cJSON_Delete(line);
            break;
        }
        int stop = 0;
        double te = e->t_eval;
        st = finish_round(e, round, line, &stop, err);
        out->train_seconds += fr_now_seconds() - t0 - (e->t_eval - te);
        cJSON_Delete(line);
        out->rounds = round;
        if (progress) {
            fprintf(stderr, "\rround %d/%d  best valid %s %.4f (round %d)   ", round, c->rounds,
                    key_name(e), e->best_round ? e->best_key : 0.0, e->best_round);
            fflush(stderr);
        }
        if (stop) break;
    }
    if (progress) fputc('\n', stderr);
    out->sim_time = sim;
    fr_free(sel);
    fr_free(who);
    fr_free(views);
    return st;
}

/* ---- asynchronous rounds (FedBuff) ---- */

typedef struct async_state {
    fr_async_clock clock;
    uint8_t *in_flight;    /* [n_clients] by client index */
    int32_t *free_slots, n_free;      /* slots of e->ups not in use */
    int32_t *pend_client, *pend_slot, n_pend;  /* dispatched, not yet trained */
    uint32_t *pend_round;  /* their random-stream rounds: 1 + dispatch number */
    uint8_t *pending;      /* [slots] 1 while the slot waits for training */
    int32_t *buf_slot;     /* [K] arrived updates waiting for the server step */
    double *buf_w;         /* [K] their weights */
    int64_t *buf_stale;    /* [K] */
    int32_t n_buf;
    int64_t version;
} async_state;

static void async_free(async_state *a) {
    fr_async_clock_free(&a->clock);
    fr_free(a->in_flight);
    fr_free(a->free_slots);
    fr_free(a->pend_client);
    fr_free(a->pend_slot);
    fr_free(a->pend_round);
    fr_free(a->pending);
    fr_free(a->buf_slot);
    fr_free(a->buf_w);
    fr_free(a->buf_stale);
}

/* Picks an idle client uniformly (stream (seed, dispatch number, 0, SAMPLE_CLIENTS)) and
 * puts it in flight with the current model version. */
static fr_status dispatch_one(engine *e, async_state *a, fr_error *err) {
    const fr_config *c = e->c;
    fr_rng rng;
    fr_rng_init(&rng, c->seed, (uint32_t)a->clock.n_dispatched, 0, FR_PURPOSE_SAMPLE_CLIENTS);
    int32_t ci;
    do ci = (int32_t)fr_rng_below(&rng, (uint32_t)e->m->n_clients);
    while (a->in_flight[ci]);
    int32_t slot = a->free_slots[--a->n_free];
    int32_t client = e->m->clients[ci];
    double d = fr_client_duration(e->dur, c->async_duration_scale, c->async_duration_param,
                                  c->seed, (uint32_t)a->clock.n_dispatched, (uint32_t)client);
    int64_t no;
    fr_status st = fr_async_dispatch(&a->clock, ci, slot, a->version, d, &no, err);
    if (st != FR_OK) return st;
    a->in_flight[ci] = 1;
    a->pending[slot] = 1;
    a->pend_round[a->n_pend] = (uint32_t)(no + 1);
    a->pend_client[a->n_pend] = client;
    a->pend_slot[a->n_pend++] = slot;
    return FR_OK;
}

/* Trains every pending client from the current parameters. A client's random streams
 * use 1 + its dispatch number as the round, so two trips of one client differ. */
static fr_status flush_pending(engine *e, async_state *a, fr_error *err) {
    if (a->n_pend == 0) return FR_OK;
    fr_status st = train_clients(e, a->pend_client, a->pend_slot, a->pend_round, a->n_pend, 0,
                                 err);
    for (int32_t i = 0; i < a->n_pend; i++) a->pending[a->pend_slot[i]] = 0;
    a->n_pend = 0;
    return st;
}

static fr_status run_async(engine *e, fr_fl_outcome *out, int progress, fr_error *err) {
    const fr_config *c = e->c;
    const int32_t C = c->async_concurrency < e->m->n_clients ? c->async_concurrency : e->m->n_clients;
    const int32_t K = c->async_buffer;
    const int32_t slots = e->n_ups;  /* C + K */
    fr_staleness_kind sk = strcmp(c->async_staleness, "poly") == 0       ? FR_STALE_POLY
                           : strcmp(c->async_staleness, "constant") == 0 ? FR_STALE_CONSTANT
                                                                         : FR_STALE_SQRT;
    async_state a;
    memset(&a, 0, sizeof a);
    fr_status st = fr_async_clock_init(&a.clock, C, err);
    a.in_flight = fr_calloc((size_t)e->m->n_clients, 1);
    a.free_slots = fr_alloc((size_t)slots, sizeof(int32_t));
    a.pend_client = fr_alloc((size_t)slots, sizeof(int32_t));
    a.pend_slot = fr_alloc((size_t)slots, sizeof(int32_t));
    a.pend_round = fr_alloc((size_t)slots, sizeof(uint32_t));
    a.pending = fr_calloc((size_t)slots, 1);
    a.buf_slot = fr_alloc((size_t)K, sizeof(int32_t));
    a.buf_w = fr_alloc((size_t)K, sizeof(double));
    a.buf_stale = fr_alloc((size_t)K, sizeof(int64_t));
    const fr_update **views = fr_alloc((size_t)K, sizeof *views);
    if (st == FR_OK && (!a.in_flight || !a.free_slots || !a.pend_client || !a.pend_slot || !a.pend_round ||
                        !a.pending || !a.buf_slot || !a.buf_w || !a.buf_stale || !views))
        st = fr_nomem(err, "asynchronous state", (size_t)slots * 32);
    for (int32_t s = 0; s < slots && st == FR_OK; s++) a.free_slots[a.n_free++] = slots - 1 - s;
    for (int32_t i = 0; i < C && st == FR_OK; i++) st = dispatch_one(e, &a, err);
    double t0 = fr_now_seconds();
    int64_t bytes_up = 0, bytes_down = (int64_t)C * model_down(e);
    int32_t round = 0;
    while (st == FR_OK && round < c->rounds) {
        fr_async_job job;
        if (!fr_async_next(&a.clock, &job)) break;
        if (a.pending[job.slot]) st = flush_pending(e, &a, err);
        if (st != FR_OK) break;
        a.in_flight[job.client] = 0;
        fr_update *u = &e->ups[job.slot];
        int64_t s = a.version - job.version;
        a.buf_slot[a.n_buf] = job.slot;
        a.buf_stale[a.n_buf] = s;
        a.buf_w[a.n_buf] = base_weight(e, u) * fr_staleness_weight(sk, c->async_staleness_a, s);
        views[a.n_buf] = u;
        a.n_buf++;
        bytes_up += fr_update_bytes(u, e->m->layout);
        out->client_updates++;
        if (a.n_buf == K) {
            st = flush_pending(e, &a, err);  /* they were dispatched with this version */
            if (st != FR_OK) break;
            st = server_step(e, a.buf_slot, a.buf_w, K, (uint32_t)round + 1, err);
            if (st != FR_OK) break;
            a.version++;
            round++;
            double stale = 0.0;
            for (int32_t i = 0; i < K; i++) stale += (double)a.buf_stale[i];
            cJSON *line = cJSON_CreateObject();
            add_round_stats(e, line, round, views, K, bytes_up, bytes_down, a.clock.now,
                            fr_now_seconds() - t0);
            cJSON_AddNumberToObject(line, "staleness_mean", stale / K);
            if (e->m->round_end)
                st = e->m->round_end(e->m->ctx, views, a.buf_w, K, (uint32_t)round, line, err);
            if (st != FR_OK) {
                cJSON_Delete(line);
                break;
            }
            for (int32_t i = 0; i < K; i++) a.free_slots[a.n_free++] = a.buf_slot[i];
            a.n_buf = 0;
            bytes_up = bytes_down = 0;
            int stop = 0;
            double te = e->t_eval;
            st = finish_round(e, round, line, &stop, err);
            out->train_seconds += fr_now_seconds() - t0 - (e->t_eval - te);
            t0 = fr_now_seconds();
            cJSON_Delete(line);
            out->rounds = round;
            if (progress) {
                fprintf(stderr, "\rround %d/%d  sim %.0fs  best valid %s %.4f   ", round,
                        c->rounds, a.clock.now, key_name(e), e->best_round ? e->best_key : 0.0);
                fflush(stderr);
            }
            if (stop) break;
        }
        if (st == FR_OK) {
            st = dispatch_one(e, &a, err);
            bytes_down += model_down(e);
        }
    }
    if (progress) fputc('\n', stderr);
    out->sim_time = a.clock.now;
    fr_free(views);
    async_free(&a);
    return st;
}

fr_status fr_fl_run(fr_fl_model *m, const fr_config *c, int threads, fr_history *h,
                    int progress, fr_fl_outcome *out, fr_error *err) {
    memset(out, 0, sizeof *out);
    if (m->n_clients < 1) return fr_fail(err, FR_ERR_INPUT, "no client has data to train on");
    const int async = strcmp(c->mode, "async") == 0;
    engine e;
    int32_t n_ups;
    if (async) {
        int32_t C = c->async_concurrency < m->n_clients ? c->async_concurrency : m->n_clients;
        if (c->async_buffer > C)
            return fr_fail(err, FR_ERR_USAGE, "async.buffer (%d) must not exceed the clients in "
                           "flight (async.concurrency, here %d)", c->async_buffer, C);
        n_ups = C + c->async_buffer;
    } else {
        engine tmp = { .m = m, .c = c };
        n_ups = clients_per_round(&tmp);
    }
    fr_status st = engine_init(&e, m, c, threads, h, n_ups, err);
    if (st != FR_OK) return st;
    st = async ? run_async(&e, out, progress, err) : run_sync(&e, out, progress, err);
    if (st == FR_OK) { /* hand over the kept parameters and their optimizer moments */
        if (c->eval_keep_best) {
            out->best_round = e.best_round;
            out->best_key = e.best_round ? e.best_key : -1.0;
            memcpy(m->params, e.best, (size_t)m->layout->size * sizeof(float));
            out->opt_m = e.best_m;
            out->opt_v = e.best_v;
            out->opt_steps = e.best_t;
            e.best_m = e.best_v = NULL;
        } else { /* the last parameters, validated last */
            out->best_round = e.last_round == out->rounds ? out->rounds : 0;
            out->best_key = e.last_round == out->rounds ? e.last_key : -1.0;
            out->opt_m = e.opt.m;
            out->opt_v = e.opt.v;
            out->opt_steps = e.opt.t;
            e.opt.m = e.opt.v = NULL;
        }
    }
    engine_free(&e);
    return st;
}

void fr_fl_outcome_free(fr_fl_outcome *out) {
    fr_free(out->opt_m);
    fr_free(out->opt_v);
    out->opt_m = out->opt_v = NULL;
}
