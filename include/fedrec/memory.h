/* memory.h - FedMem's local dynamic memory of a client and the server's aggregation of
 * the memory prototypes the clients upload.
 *
 * Source: shared/reference/002 (FedMem implementation notes):
 *   "核心算法 / 1. Surprise-based Memory Update" - the surprise gate, refresh of a
 *     present item, utility eviction when full, and the utility formula
 *     Utility = α Recency + β Frequency, Recency = exp(-Δt / τ);
 *   "核心算法 / 2. Prototype Aggregation" - extract_prototypes (k-means over the
 *     memory's text embeddings, kmeans.h) and aggregate_prototypes (方法1 mean,
 *     方法2 data-size weighted mean, 方法3 re-clustering);
 *   "关键创新点 / 2. 原型聚合的隐私保护" - 50 items -> 5 prototypes, "10×压缩";
 *   "常见问题 / Q1 冷启动" - a new user's memory initialised from the global abstract
 *     memory (initialize_from_global).
 *
 * Leaves out: the retrieval of memory entries during training (memory.query), the
 * surprise (loss) itself, which the caller computes, and any transport of uploads.
 *
 * Dimension letters: C capacity (entries at most), n entries held (n <= C), Dt, Di, De the
 * lengths of an entry's text, image and id embeddings (0 = the embedding is absent),
 * K prototypes, D a prototype's length (= Dt on a client), m clients uploading.
 *
 * Deterministic: no randomness except the k-means seeding (kmeans.h); no threads.
 */
#ifndef FEDREC_MEMORY_H
#define FEDREC_MEMORY_H

#include <stdint.h>
#include "fedrec/kmeans.h"
#include "fedrec/status.h"

/* The frequency term of the utility, f the number of times the item entered or was
 * refreshed. The document gives both: the pseudocode's `log(1 + mem['frequency'])` and
 * the formula block's "log(1 + freq) / log(1 + freq + 10)  # 归一化频率" (bounded by 1,
 * so α and β weigh two terms of the same scale). Natural logarithms. */
typedef enum fr_mem_freq {
    FR_MEM_FREQ_LOG,       /* log(1 + f) */
    FR_MEM_FREQ_LOG_RATIO, /* log(1 + f) / log(1 + f + 10) */
} fr_mem_freq;

typedef struct fr_mem_opts {
    int32_t capacity;          /* C >= 1 (the document suggests 20-200) */
    double surprise_threshold; /* an observation enters only when loss > threshold */
    double alpha;              /* weight of recency, >= 0 */
    double beta;               /* weight of frequency, >= 0 */
    double tau;                /* > 0: Recency = exp(-(now - last) / tau). The document calls
                                * τ a half-life (半衰期) but writes exp(-Δt/τ); the formula is
                                * kept, so recency falls to 1/e (not 1/2) after τ. */
    fr_mem_freq freq;
    int32_t dim_text, dim_image, dim_id; /* Dt, Di, De >= 0; 0 = not stored */
} fr_mem_opts;

/* Item ids >= 0 are real items. Entries made from prototypes (fr_mem_init_from_prototypes)
 * carry the id -1 - k for prototype k, so they never collide with an item. */
#define FR_MEM_PROTO_ID(k) (-1 - (int32_t)(k))
#define FR_MEM_NO_ITEM INT32_MIN

/* What fr_mem_observe did with one observation. */
typedef enum fr_mem_event {
    FR_MEM_REJECTED = 0, /* loss <= threshold: no entry changed, present or not (m->now
                          * still advances) */
    FR_MEM_INSERTED,     /* a new entry took a free slot */
    FR_MEM_REFRESHED,    /* the item was present: time, frequency, surprise, embeddings */
    FR_MEM_REPLACED,     /* the memory was full: the lowest-utility entry was evicted and
                          * the new entry took its slot */
} fr_mem_event;

typedef struct fr_mem_outcome {
    fr_mem_event event;
    int32_t slot;    /* the entry's slot after the call; -1 when rejected */
    int32_t evicted; /* item id of the evicted entry under FR_MEM_REPLACED (negative for
                      * a prototype entry), else FR_MEM_NO_ITEM */
} fr_mem_outcome;

/* Running counts since creation or the last fr_mem_reset_counts (e.g. one per round for
 * the history). An insertion into a full memory counts once in inserted and once in
 * evicted; memory updates of a round = inserted + refreshed. */
typedef struct fr_mem_counts {
    int64_t inserted, refreshed, evicted, rejected;
} fr_mem_counts;

/* The memory. Entries occupy slots 0 .. n-1 with no gaps: an insertion appends, a
 * replacement reuses the evicted slot, so the embedding arrays' first n rows are the
 * entries. Fields are readable; change them only through the functions below. */
typedef struct fr_memory {
    fr_mem_opts o;
    int32_t n;          /* entries held, 0 .. C */
    int32_t *item;      /* [C] item id of each slot */
    double *last;       /* [C] time the entry entered or was last refreshed */
    int64_t *freq;      /* [C] times entered + refreshed (1 on entry) */
    double *surprise;   /* [C] largest loss seen for the item while held */
    uint64_t *seq;      /* [C] insertion number (ties in eviction: the lowest goes) */
    uint64_t next_seq;
    double now;         /* latest time seen; -inf before the first */
    float *text;        /* [C x Dt], NULL when Dt = 0 */
    float *image;       /* [C x Di], NULL when Di = 0 */
    float *id_emb;      /* [C x De], NULL when De = 0 */
    fr_mem_counts counts;
} fr_memory;

/* Makes an empty memory with room for o->capacity entries. m is overwritten (not freed
 * first); the caller owns it and frees it with fr_mem_destroy. On failure m is left
 * zeroed (destroy is then a no-op) and err says why: FR_ERR_USAGE for capacity < 1, a
 * negative dimension, a non-finite threshold, alpha or beta negative or not finite, tau
 * not a positive finite number, an unknown frequency form; FR_ERR_NOMEM. */
fr_status fr_mem_create(fr_memory *m, const fr_mem_opts *o, fr_error *err);
/* Frees m's arrays and zeroes it; safe on a zeroed memory. */
void fr_mem_destroy(fr_memory *m);

/* One observation of item (>= 0) at time now with the model's loss on it and its
 * embeddings text[Dt], image[Di], id_emb[De] (each required when its dimension is > 0,
 * ignored otherwise; copied, the caller keeps ownership). As the document's
 * update_memory:
 *   1. loss <= surprise_threshold: rejected, nothing changes (also for a present item);
 *      strict as the training loop's `if loss_val > surprise_threshold` (update_memory's
 *      own `if loss_val < surprise_threshold: return` would let equality in);
 *   2. item present: last = now, freq += 1, surprise = max(surprise, loss), embeddings
 *      overwritten (refreshed);
 *   3. else if n == C: the entry of lowest utility
 *        U = alpha * exp(-(now - last) / tau) + beta * F(freq)    (F: o.freq)
 *      is evicted, ties to the lowest insertion number (the entry inserted first, as
 *      Python's min over an insertion-ordered dict); the new entry takes its slot;
 *   4. the new entry: last = now, freq = 1, surprise = loss.
 * The new item itself is never an eviction candidate. Time must not go backwards
 * (now >= m->now, the latest time seen, so Δt >= 0); m->now becomes now, even when the
 * observation is rejected. Cost O(C (Dt + Di + De)) at most: the item is
 * found by a linear scan. out may be NULL; counts are updated.
 * Errors leave m unchanged: FR_ERR_USAGE for item < 0, a NULL embedding whose dimension
 * is > 0, now not finite or earlier than m->now; FR_ERR_INPUT for a non-finite loss or
 * embedding entry. */
fr_status fr_mem_observe(fr_memory *m, int32_t item, const float *text, const float *image,
                         const float *id_emb, double loss, double now, fr_mem_outcome *out,
                         fr_error *err);

/* F(f) of the chosen form, f >= 0. */
double fr_mem_freq_score(fr_mem_freq form, int64_t f);
/* The utility of the entry in slot (0 .. n-1) at time now, as step 3 computes it. */
double fr_mem_utility(const fr_memory *m, int32_t slot, double now);
/* The slot holding item (any id, prototypes' included), or -1. */
int32_t fr_mem_find(const fr_memory *m, int32_t item);
/* The entries' text embeddings [n x Dt] (row s = slot s), or NULL when Dt = 0 or n = 0.
 * Owned by m; valid until the next call that changes m. The input of k-means. */
const float *fr_mem_text(const fr_memory *m);
/* Zeroes m->counts. */
void fr_mem_reset_counts(fr_memory *m);

/* The client's upload P_c = KMeans(M_c, K) (document: extract_prototypes): k-means of
 * the n text embeddings into proto[K x Dt], *k of them (k < K when the memory holds
 * fewer than K distinct text rows; rows k .. K-1 zeroed; *k = 0 for an empty memory,
 * FR_OK). km chooses iterations, tolerance and the seeding stream; res (may be NULL) gets
 * the k-means report. Errors: FR_ERR_USAGE for Dt = 0 or K < 1, and those of fr_kmeans. */
fr_status fr_mem_prototypes(float *proto, int32_t *k, fr_kmeans_result *res,
                            const fr_memory *m, int32_t K, const fr_kmeans_opts *km,
                            fr_error *err);

/* Cold start (document, 常见问题 Q1: "新用户可以使用全局抽象记忆作为初始化",
 * `if len(user_sequence) < min_seq_len: user_memory.initialize_from_global(...)`; the
 * length test is the caller's). Empties m and makes one entry per global prototype k,
 * in order: item FR_MEM_PROTO_ID(k), text = proto[k] (D must equal Dt), image and id
 * embeddings zero (the global memory is text prototypes only), last = now, freq = 1,
 * surprise = 0. The user's own surprising items then enter beside them and, being
 * newer, outlast them at equal frequency: the global entries are evicted first as the
 * memory fills. m->now becomes now. Counts are not changed (no observation happened).
 * Errors leave m unchanged: FR_ERR_USAGE for K < 0 or K > C, D != Dt, Dt = 0, NULL proto
 * with K > 0, now not finite or earlier than m->now; FR_ERR_INPUT for a non-finite
 * prototype entry. */
fr_status fr_mem_init_from_prototypes(fr_memory *m, const float *proto, int32_t K, int32_t D,
                                      double now, fr_error *err);

/* Upload sizes in bytes, for the communication accounting. Prototypes: K x D float32,
 * nothing else. Raw entries, each record: item id int32 (4), last time float64 (8),
 * frequency int64 (8), surprise float64 (8), then the Dt + Di + De float32 embeddings.
 * With D = Dt = 256, 50 entries and K = 5 (the document's example): 52600 vs 5120
 * bytes, 10.3x. Negative arguments, or a size past INT64_MAX, give -1. */
#define FR_MEM_RECORD_HEADER_BYTES 28
int64_t fr_mem_proto_bytes(int32_t K, int32_t D);
int64_t fr_mem_raw_bytes(int32_t n, int32_t dim_text, int32_t dim_image, int32_t dim_id);

/* ---- server: aggregation of the uploaded prototypes ---- */

/* The document's aggregate_prototypes, input List[Tensor[K, D]], output Tensor[K, D]. */
typedef enum fr_proto_agg {
    FR_PROTO_MEAN,     /* 方法1 `mean(client_prototypes, dim=0)`: out[j] = (1/m) sum_c P_c[j] */
    FR_PROTO_WEIGHTED, /* 方法2 `sum(w_i * P_i) / sum(w_i)`: out[j] = sum_c w_c P_c[j] / sum w_c */
    FR_PROTO_RECLUSTER,/* 方法3 `kmeans(concat(client_prototypes), K)`: every uploaded row,
                        * weighted by its client's w_c, clustered into K by fr_kmeans */
} fr_proto_agg;
/* On alignment: each client's k-means numbers its clusters arbitrarily, so row j of two
 * clients need not describe the same region; MEAN and WEIGHTED average row j with row j
 * all the same, exactly as the document's elementwise mean over the stacked [m, K, D]
 * tensor does (with prototypes seeded from the same global memory the rows are at best
 * loosely aligned). RECLUSTER does not depend on the numbering. */

typedef struct fr_proto_upload {
    const float *proto; /* [k x D], owned by the caller */
    int32_t k;          /* rows; MEAN and WEIGHTED need k = K, RECLUSTER any k >= 0 */
    double weight;      /* w_c: the client's data size; WEIGHTED and RECLUSTER, ignored by
                         * MEAN. Finite, >= 0, positive total. */
} fr_proto_upload;

/* Aggregates the m uploads up[m] into out[K x D] (caller-allocated), *k rows of it (K for
 * MEAN and WEIGHTED; RECLUSTER may give fewer, see fr_kmeans; the rest zeroed). Sums in
 * double, clients in order. km (RECLUSTER only, else may be NULL) gives k-means'
 * iterations, tolerance and seeding stream. Errors, leaving out unspecified:
 * FR_ERR_USAGE for m < 1, K or D < 1, an unknown mode, a NULL proto with k > 0, k != K
 * under MEAN/WEIGHTED or k < 0, a bad weight or zero total weight (WEIGHTED,
 * RECLUSTER), no rows at all or NULL km (RECLUSTER); FR_ERR_INPUT for a non-finite
 * prototype entry; FR_ERR_NOMEM. */
fr_status fr_proto_aggregate(float *out, int32_t *k, const fr_proto_upload *up, int32_t m,
                             int32_t K, int32_t D, fr_proto_agg mode, const fr_kmeans_opts *km,
                             fr_error *err);

#endif
