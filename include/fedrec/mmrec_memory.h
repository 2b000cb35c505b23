/* mmrec_memory.h - FedMem's client memories and global abstract memory in a federated
 * run (shared/reference/002, "训练流程"): every client keeps a surprise memory of its
 * own across rounds (memory.h); after local training it uploads K k-means prototypes
 * of the memory's text embeddings; the server aggregates the round's uploads into the
 * global abstract memory, which goes to every client with the model. The model
 * (mmrec.h) reads a client's memory entries and the global prototypes as the semantic
 * expert's keys (memory.global_keys = false: the global prototypes reach a client
 * only through the cold start below).
 *
 * Time is the round: an observation in round r happens at time r, so memory.tau is in
 * rounds. Cold start (document Q1): a client with fewer than memory.cold_start
 * training items whose memory is empty starts it from the global memory the first
 * time it is trained or evaluated after a global memory exists.
 *
 * Aggregation (memory.aggregation): mean and weighted average row j of every upload
 * with row j (the document's elementwise mean over the stacked [m, K, D] tensor), so
 * only uploads with all K rows take part (a memory with fewer than K distinct text rows
 * gives fewer); recluster clusters every uploaded row (weighted by its client's data
 * size) into K. A round without a usable upload keeps the previous global memory.
 *
 * Determinism: clients write only their own slots; the server aggregates in the
 * engine's fixed order; k-means seeding streams are (seed, round, user, KMEANS) on a
 * client and (seed, round, 0xFFFFFFFF, KMEANS) on the server.
 */
#ifndef FEDREC_MMREC_MEMORY_H
#define FEDREC_MMREC_MEMORY_H

#include <stdint.h>
#include "fedrec/config.h"
#include "fedrec/fl.h"
#include "fedrec/memory.h"
#include "cJSON.h"

typedef struct fr_mm_memories {
    int32_t n_users;
    int enabled;            /* memory.enabled */
    int32_t K, Dt, Di, De;  /* prototypes per client (0 = none), entry widths */
    fr_mem_opts mo;
    fr_proto_agg agg;
    fr_kmeans_opts km;      /* round and stream set per call */
    int32_t cold_start;
    int global_keys;        /* memory.global_keys */
    fr_memory *mem;         /* [n_users] */
    uint8_t *started;       /* [n_users] 1 once the cold-start check was made */
    float *proto;           /* [n_users x K x Dt] the latest upload of each client */
    int32_t *proto_k;       /* [n_users] its rows */
    float *global;          /* [K x Dt] the global abstract memory */
    int32_t global_k;       /* its rows (0 before the first aggregation) */
    int64_t *updates;       /* [n_users] memory updates (inserted + refreshed) of the
                               client's latest round */
} fr_mm_memories;

/* Empty memories for n_users clients with the [memory] settings; Dt, Di, De the widths
 * of text, image and id embeddings an entry holds. Nothing is allocated when memory is
 * disabled and no prototypes are used. */
fr_status fr_mm_memories_create(fr_mm_memories *s, const fr_config *c, int32_t n_users,
                                int32_t Dt, int32_t Di, int32_t De, fr_error *err);
void fr_mm_memories_destroy(fr_mm_memories *s);

/* The cold-start check for user (n_train training items) at time now. */
fr_status fr_mm_memories_touch(fr_mm_memories *s, int32_t user, int64_t n_train, double now,
                               fr_error *err);

/* The keys the model sees for user: the memory's entries, then (memory.global_keys) the
 * global prototypes (ids FR_MEM_PROTO_ID(k)). text [cap x Dt], item [cap]; returns how
 * many (<= cap). */
int32_t fr_mm_memories_keys(const fr_mm_memories *s, int32_t user, float *text,
                            int32_t *item, int32_t cap);
/* Most keys a user can have: capacity, + K with memory.global_keys. */
int32_t fr_mm_memories_max_keys(const fr_mm_memories *s);

/* The client's upload after local training in round: K prototypes of its memory into
 * its slot; returns the bytes uploaded (0 without prototypes or with an empty memory). */
fr_status fr_mm_memories_upload(fr_mm_memories *s, int32_t user, uint32_t round,
                                int64_t *bytes, fr_error *err);

/* The server's end of a round (an fr_fl_model round_end): aggregates the uploads of the
 * round's clients into the global memory and adds "memory_updates" (the clients' memory
 * insertions and refreshes of the round), "proto_bytes_up" and "global_memory_rows" to
 * the history line. ctx is the fr_mm_memories. */
fr_status fr_mm_memories_round_end(void *ctx, const fr_update *const *ups,
                                   const double *weights, int32_t n, uint32_t round,
                                   cJSON *line, fr_error *err);
/* Bytes of the global memory each dispatched client receives (K x Dt float32 once a
 * global memory exists). ctx is the fr_mm_memories. */
int64_t fr_mm_memories_down_bytes(void *ctx);

#endif
