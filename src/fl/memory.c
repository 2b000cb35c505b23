/* memory.c - FedMem's local dynamic memory (surprise gate, refresh, utility eviction),
 * its prototypes, the cold start from global prototypes, upload sizes, and the server's
 * prototype aggregation. Source: shared/reference/002, "核心算法 / 1. Surprise-based
 * Memory Update" (update_memory and the utility formula) and "2. Prototype Aggregation"
 * (extract_prototypes, aggregate_prototypes); "常见问题 / Q1" for the cold start.
 *
 * Leaves out: memory retrieval during training and the loss that drives the gate.
 *
 * Where the document disagrees with itself, the choice made:
 *   - the gate: update_memory returns when `loss_val < surprise_threshold` (so a loss
 *     equal to the threshold would enter), but the training loop calls it only
 *     `if loss_val > surprise_threshold`; the caller's strict test is what runs, so an
 *     observation enters only when loss > threshold;
 *   - the frequency term: `log(1 + freq)` in the pseudocode, `log(1 + freq) /
 *     log(1 + freq + 10)` in the formula; both are offered (fr_mem_freq);
 *   - τ is called a half-life but used as exp(-Δt/τ); the formula is kept.
 *
 * Dimension letters: C capacity, n entries held, Dt/Di/De text/image/id embedding
 * lengths, K prototypes, D a prototype's length, m uploading clients, R rows uploaded.
 */
#include "fedrec/memory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"

/* ---- creation ---- */

fr_status fr_mem_create(fr_memory *m, const fr_mem_opts *o, fr_error *err) {
    if (!m) return fr_fail(err, FR_ERR_USAGE, "memory: m is NULL");
    memset(m, 0, sizeof(*m));
    if (!o) return fr_fail(err, FR_ERR_USAGE, "memory: options are NULL");
    if (o->capacity < 1)
        return fr_fail(err, FR_ERR_USAGE, "memory: capacity = %d, need at least 1", o->capacity);
    if (o->dim_text < 0 || o->dim_image < 0 || o->dim_id < 0)
        return fr_fail(err, FR_ERR_USAGE,
                       "memory: embedding dimensions text %d, image %d, id %d; need >= 0",
                       o->dim_text, o->dim_image, o->dim_id);
    if (!isfinite(o->surprise_threshold))
        return fr_fail(err, FR_ERR_USAGE, "memory: surprise_threshold is not a finite number");
    if (!isfinite(o->alpha) || o->alpha < 0.0 || !isfinite(o->beta) || o->beta < 0.0)
        return fr_fail(err, FR_ERR_USAGE,
                       "memory: alpha = %g, beta = %g; need finite numbers >= 0", o->alpha,
                       o->beta);
    if (!isfinite(o->tau) || !(o->tau > 0.0))
        return fr_fail(err, FR_ERR_USAGE, "memory: tau = %g, need a finite number > 0", o->tau);
    if (o->freq != FR_MEM_FREQ_LOG && o->freq != FR_MEM_FREQ_LOG_RATIO)
        return fr_fail(err, FR_ERR_USAGE, "memory: unknown frequency form %d", (int)o->freq);

    const size_t c = (size_t)o->capacity;
    m->item = fr_alloc(c, sizeof(int32_t));
    m->last = fr_alloc(c, sizeof(double));
    m->freq = fr_alloc(c, sizeof(int64_t));
    m->surprise = fr_alloc(c, sizeof(double));
    m->seq = fr_alloc(c, sizeof(uint64_t));
    m->text = o->dim_text ? fr_calloc(c * (size_t)o->dim_text, sizeof(float)) : NULL;
    m->image = o->dim_image ? fr_calloc(c * (size_t)o->dim_image, sizeof(float)) : NULL;
    m->id_emb = o->dim_id ? fr_calloc(c * (size_t)o->dim_id, sizeof(float)) : NULL;
    if (!m->item || !m->last || !m->freq || !m->surprise || !m->seq ||
        (o->dim_text && !m->text) || (o->dim_image && !m->image) || (o->dim_id && !m->id_emb)) {
        const size_t bytes =
            c * (36 + 4 * ((size_t)o->dim_text + (size_t)o->dim_image + (size_t)o->dim_id));
        fr_mem_destroy(m);
        return fr_nomem(err, "memory entries", bytes);
    }
    m->o = *o;
    m->now = -INFINITY;
    return FR_OK;
}

void fr_mem_destroy(fr_memory *m) {
    if (!m) return;
    fr_free(m->item);
    fr_free(m->last);
    fr_free(m->freq);
    fr_free(m->surprise);
    fr_free(m->seq);
    fr_free(m->text);
    fr_free(m->image);
    fr_free(m->id_emb);
    memset(m, 0, sizeof(*m));
}

/* ---- utility ---- */

double fr_mem_freq_score(fr_mem_freq form, int64_t f) {
    const double l = log1p((double)f);
    return form == FR_MEM_FREQ_LOG_RATIO ? l / log1p((double)f + 10.0) : l;
}

double fr_mem_utility(const fr_memory *m, int32_t slot, double now) {
    const double recency = exp(-(now - m->last[slot]) / m->o.tau);
    return m->o.alpha * recency + m->o.beta * fr_mem_freq_score(m->o.freq, m->freq[slot]);
}

int32_t fr_mem_find(const fr_memory *m, int32_t item) {
    for (int32_t s = 0; s < m->n; s++)
        if (m->item[s] == item) return s;
    return -1;
}

const float *fr_mem_text(const fr_memory *m) {
    return m->n > 0 && m->o.dim_text > 0 ? m->text : NULL;
}

void fr_mem_reset_counts(fr_memory *m) { memset(&m->counts, 0, sizeof(m->counts)); }

/* The slot of lowest utility at time now; ties to the lowest insertion number. */
static int32_t lowest_utility(const fr_memory *m, double now) {
    int32_t best = 0;
    double best_u = fr_mem_utility(m, 0, now);
    for (int32_t s = 1; s < m->n; s++) {
        const double u = fr_mem_utility(m, s, now);
        if (u < best_u || (u == best_u && m->seq[s] < m->seq[best])) best = s, best_u = u;
    }
    return best;
}

/* ---- observation ---- */

/* Index of the first non-finite entry of v[len], or -1. */
static int64_t first_nonfinite(const float *v, int64_t len) {
    for (int64_t p = 0; p < len; p++)
        if (!isfinite(v[p])) return p;
    return -1;
}

static void copy_row(float *base, int32_t slot, const float *v, int32_t dim) {
    if (dim > 0) memcpy(base + (int64_t)slot * dim, v, (size_t)dim * sizeof(float));
}

fr_status fr_mem_observe(fr_memory *m, int32_t item, const float *text, const float *image,
                         const float *id_emb, double loss, double now, fr_mem_outcome *out,
                         fr_error *err) {
    if (out) *out = (fr_mem_outcome){ FR_MEM_REJECTED, -1, FR_MEM_NO_ITEM };
    if (!m || !m->item) return fr_fail(err, FR_ERR_USAGE, "memory: not created");
    if (item < 0)
        return fr_fail(err, FR_ERR_USAGE, "memory: item %d, need >= 0 (negative ids are "
                       "prototype entries)", item);
    const struct { const char *name; const float *v; int32_t dim; } emb[3] = {
        { "text", text, m->o.dim_text },
        { "image", image, m->o.dim_image },
        { "id", id_emb, m->o.dim_id },
    };
    for (int e = 0; e < 3; e++) {
        if (emb[e].dim == 0) continue;
        if (!emb[e].v)
            return fr_fail(err, FR_ERR_USAGE, "memory: item %d: %s embedding is NULL (dim %d)",
                           item, emb[e].name, emb[e].dim);
        const int64_t bad = first_nonfinite(emb[e].v, emb[e].dim);
        if (bad >= 0)
            return fr_fail(err, FR_ERR_INPUT, "memory: item %d: %s embedding entry %lld is "
                           "not finite", item, emb[e].name, (long long)bad);
    }
    if (!isfinite(now) || now < m->now)
        return fr_fail(err, FR_ERR_USAGE, "memory: item %d at time %g, need a finite time "
                       ">= %g (time never goes back)", item, now, m->now);
    if (!isfinite(loss))
        return fr_fail(err, FR_ERR_INPUT, "memory: item %d: loss %g is not finite", item, loss);

    m->now = now;
    if (!(loss > m->o.surprise_threshold)) { /* step 1: not surprising */
        m->counts.rejected++;
        return FR_OK;
    }
    int32_t slot = fr_mem_find(m, item);
    fr_mem_outcome res = { FR_MEM_REFRESHED, slot, FR_MEM_NO_ITEM };
    if (slot >= 0) { /* step 2: refresh */
        m->last[slot] = now;
        m->freq[slot] += 1;
        if (loss > m->surprise[slot]) m->surprise[slot] = loss;
        m->counts.refreshed++;
    } else {
        if (m->n < m->o.capacity) {
            slot = m->n++;
            res.event = FR_MEM_INSERTED;
        } else { /* step 3: evict the lowest utility */
            slot = lowest_utility(m, now);
            res.event = FR_MEM_REPLACED;
            res.evicted = m->item[slot];
            m->counts.evicted++;
        }
        res.slot = slot; /* step 4: the new entry */
        m->item[slot] = item;
        m->last[slot] = now;
        m->freq[slot] = 1;
        m->surprise[slot] = loss;
        m->seq[slot] = m->next_seq++;
        m->counts.inserted++;
    }
    copy_row(m->text, slot, text, m->o.dim_text);
    copy_row(m->image, slot, image, m->o.dim_image);
    copy_row(m->id_emb, slot, id_emb, m->o.dim_id);
    if (out) *out = res;
    return FR_OK;
}

/* ---- prototypes and cold start ---- */

fr_status fr_mem_prototypes(float *proto, int32_t *k, fr_kmeans_result *res,
                            const fr_memory *m, int32_t K, const fr_kmeans_opts *km,
                            fr_error *err) {
    fr_kmeans_result own;
    if (!res) res = &own;
    memset(res, 0, sizeof(*res));
    if (k) *k = 0;
    if (!proto || !k || !m || !km)
        return fr_fail(err, FR_ERR_USAGE, "memory prototypes: a NULL argument");
    if (m->o.dim_text < 1)
        return fr_fail(err, FR_ERR_USAGE, "memory prototypes: the memory holds no text "
                       "embeddings (dim_text = 0)");
    if (K < 1) return fr_fail(err, FR_ERR_USAGE, "memory prototypes: K = %d, need >= 1", K);
    if (m->n == 0) {
        memset(proto, 0, (size_t)K * (size_t)m->o.dim_text * sizeof(float));
        return FR_OK;
    }
    const fr_status st =
        fr_kmeans(proto, NULL, res, m->text, NULL, m->n, m->o.dim_text, K, km, err);
    if (st == FR_OK) *k = res->k;
    return st;
}

fr_status fr_mem_init_from_prototypes(fr_memory *m, const float *proto, int32_t K, int32_t D,
                                      double now, fr_error *err) {
    if (!m || !m->item) return fr_fail(err, FR_ERR_USAGE, "memory: not created");
    const int32_t dt = m->o.dim_text;
    if (dt < 1)
        return fr_fail(err, FR_ERR_USAGE, "memory cold start: the memory holds no text "
                       "embeddings (dim_text = 0)");
    if (K < 0 || K > m->o.capacity)
        return fr_fail(err, FR_ERR_USAGE, "memory cold start: %d prototypes, need 0 .. %d "
                       "(the capacity)", K, m->o.capacity);
    if (D != dt)
        return fr_fail(err, FR_ERR_USAGE, "memory cold start: prototypes of length %d, the "
                       "text embeddings have %d", D, dt);
    if (K > 0 && !proto) return fr_fail(err, FR_ERR_USAGE, "memory cold start: proto is NULL");
    if (!isfinite(now) || now < m->now)
        return fr_fail(err, FR_ERR_USAGE, "memory cold start: time %g, need a finite time "
                       ">= %g", now, m->now);
    const int64_t bad = first_nonfinite(proto, (int64_t)K * dt);
    if (bad >= 0)
        return fr_fail(err, FR_ERR_INPUT, "memory cold start: prototype %lld, entry %lld is "
                       "not finite", (long long)(bad / dt), (long long)(bad % dt));

    m->n = K;
    m->now = now;
    for (int32_t j = 0; j < K; j++) {
        m->item[j] = FR_MEM_PROTO_ID(j);
        m->last[j] = now;
        m->freq[j] = 1;
        m->surprise[j] = 0.0;
        m->seq[j] = m->next_seq++;
    }
    if (K > 0) memcpy(m->text, proto, (size_t)K * dt * sizeof(float));
    if (m->image) memset(m->image, 0, (size_t)m->o.capacity * m->o.dim_image * sizeof(float));
    if (m->id_emb) memset(m->id_emb, 0, (size_t)m->o.capacity * m->o.dim_id * sizeof(float));
    return FR_OK;
}

/* ---- upload sizes ---- */

int64_t fr_mem_proto_bytes(int32_t K, int32_t D) {
    if (K < 0 || D < 0) return -1;
    const int64_t elems = (int64_t)K * D; /* < 2^62 */
    if (elems > INT64_MAX / (int64_t)sizeof(float)) return -1;
    return elems * (int64_t)sizeof(float);
}

int64_t fr_mem_raw_bytes(int32_t n, int32_t dim_text, int32_t dim_image, int32_t dim_id) {
    if (n < 0 || dim_text < 0 || dim_image < 0 || dim_id < 0) return -1;
    const int64_t dims = (int64_t)dim_text + dim_image + dim_id;
    const int64_t record = FR_MEM_RECORD_HEADER_BYTES + dims * (int64_t)sizeof(float);
    if (n > 0 && record > INT64_MAX / n) return -1;
    return (int64_t)n * record;
}

/* ---- server: prototype aggregation ---- */

static fr_status check_uploads(const fr_proto_upload *up, int32_t m, int32_t K, int32_t D,
                               fr_proto_agg mode, int64_t *rows, fr_error *err) {
    const int weighted = mode != FR_PROTO_MEAN;
    double total = 0.0;
    *rows = 0;
    for (int32_t c = 0; c < m; c++) {
        if (up[c].k < 0 || (mode != FR_PROTO_RECLUSTER && up[c].k != K))
            return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: client %d uploads %d "
                           "rows, need %s%d", c, up[c].k,
                           mode == FR_PROTO_RECLUSTER ? ">= " : "K = ",
                           mode == FR_PROTO_RECLUSTER ? 0 : K);
        if (up[c].k > 0 && !up[c].proto)
            return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: client %d: proto is NULL",
                           c);
        if (weighted && (!isfinite(up[c].weight) || up[c].weight < 0.0))
            return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: client %d weight %g, "
                           "need a finite number >= 0", c, up[c].weight);
        const int64_t bad = up[c].k > 0 ? first_nonfinite(up[c].proto, (int64_t)up[c].k * D) : -1;
        if (bad >= 0)
            return fr_fail(err, FR_ERR_INPUT, "prototype aggregation: client %d, prototype "
                           "%lld, entry %lld is not finite", c, (long long)(bad / D),
                           (long long)(bad % D));
        if (up[c].k > 0) total += up[c].weight;
        *rows += up[c].k;
    }
    if (weighted && !(total > 0.0))
        return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: the clients' weights sum "
                       "to 0");
    if (mode == FR_PROTO_RECLUSTER && *rows > INT32_MAX)
        return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: %lld rows, more than k-means "
                       "takes", (long long)*rows);
    return FR_OK;
}

/* out[K x D] = sum_c s_c P_c / sum_c s_c, s_c = 1 (MEAN) or w_c (WEIGHTED), in double. */
static fr_status mean_rows(float *out, const fr_proto_upload *up, int32_t m, int32_t K,
                           int32_t D, int weighted, fr_error *err) {
    const size_t kd = (size_t)K * (size_t)D;
    double *acc = fr_calloc(kd, sizeof(double)); /* [K x D] */
    if (!acc) return fr_nomem(err, "prototype sums", kd * sizeof(double));
    double total = 0.0;
    for (int32_t c = 0; c < m; c++) {
        const double s = weighted ? up[c].weight : 1.0;
        total += s;
        for (size_t e = 0; e < kd; e++) acc[e] += s * up[c].proto[e];
    }
    for (size_t e = 0; e < kd; e++) out[e] = (float)(acc[e] / total);
    fr_free(acc);
    return FR_OK;
}

/* Concatenates every uploaded row (clients in order) with its client's weight and
 * clusters them into K. */
static fr_status recluster(float *out, int32_t *k, const fr_proto_upload *up, int32_t m,
                           int32_t rows, int32_t K, int32_t D, const fr_kmeans_opts *km,
                           fr_error *err) {
    float *x = fr_alloc((size_t)rows * D, sizeof(float)); /* [R x D] */
    double *w = fr_alloc((size_t)rows, sizeof(double));  /* [R] */
    fr_status st = FR_OK;
    if (!x || !w) {
        st = fr_nomem(err, "uploaded prototypes", (size_t)rows * (4 * (size_t)D + 8));
        goto done;
    }
    int64_t r = 0;
    for (int32_t c = 0; c < m; c++) {
        if (up[c].k == 0) continue;
        memcpy(x + r * D, up[c].proto, (size_t)up[c].k * D * sizeof(float));
        for (int32_t j = 0; j < up[c].k; j++) w[r + j] = up[c].weight;
        r += up[c].k;
    }
    fr_kmeans_result res;
    st = fr_kmeans(out, NULL, &res, x, w, rows, D, K, km, err);
    if (st == FR_OK) *k = res.k;
done:
    fr_free(x);
    fr_free(w);
    return st;
}

fr_status fr_proto_aggregate(float *out, int32_t *k, const fr_proto_upload *up, int32_t m,
                             int32_t K, int32_t D, fr_proto_agg mode, const fr_kmeans_opts *km,
                             fr_error *err) {
    if (k) *k = 0;
    if (!out || !k || !up)
        return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: a NULL argument");
    if (m < 1) return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: %d clients", m);
    if (K < 1 || D < 1)
        return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: K = %d, D = %d; need >= 1",
                       K, D);
    if (mode != FR_PROTO_MEAN && mode != FR_PROTO_WEIGHTED && mode != FR_PROTO_RECLUSTER)
        return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: unknown mode %d", (int)mode);
    if (mode == FR_PROTO_RECLUSTER && !km)
        return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: re-clustering needs k-means "
                       "options");
    int64_t rows = 0;
    fr_status st = check_uploads(up, m, K, D, mode, &rows, err);
    if (st != FR_OK) return st;
    if (mode == FR_PROTO_RECLUSTER) {
        if (rows == 0)
            return fr_fail(err, FR_ERR_USAGE, "prototype aggregation: no client uploaded a row");
        return recluster(out, k, up, m, (int32_t)rows, K, D, km, err);
    }
    st = mean_rows(out, up, m, K, D, mode == FR_PROTO_WEIGHTED, err);
    if (st == FR_OK) *k = K;
    return st;
}
