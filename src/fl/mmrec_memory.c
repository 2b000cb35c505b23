/* mmrec_memory.c - client memories and the global abstract memory of a federated
 * FedMem/FedDMMR run (see mmrec_memory.h). */
#include "fedrec/mmrec_memory.h"

#include <string.h>

#include "fedrec/alloc.h"

void fr_mm_memories_destroy(fr_mm_memories *s) {
    if (s->mem)
        for (int32_t u = 0; u < s->n_users; u++) fr_mem_destroy(&s->mem[u]);
    fr_free(s->mem);
    fr_free(s->started);
    fr_free(s->proto);
    fr_free(s->proto_k);
    fr_free(s->global);
    fr_free(s->updates);
    memset(s, 0, sizeof *s);
}

fr_status fr_mm_memories_create(fr_mm_memories *s, const fr_config *c, int32_t n_users,
                                int32_t Dt, int32_t Di, int32_t De, fr_error *err) {
    memset(s, 0, sizeof *s);
    s->n_users = n_users;
    s->enabled = c->mem_enabled;
    s->K = c->mem_enabled ? c->mem_prototypes : 0;
    s->Dt = Dt;
    s->Di = Di;
    s->De = De;
    s->cold_start = c->mem_cold_start;
    s->global_keys = c->mem_global_keys;
    s->mo = (fr_mem_opts){ c->mem_capacity, c->mem_threshold, c->mem_alpha, c->mem_beta,
                           c->mem_tau,
                           strcmp(c->mem_freq, "log") == 0 ? FR_MEM_FREQ_LOG : FR_MEM_FREQ_LOG_RATIO,
                           Dt, Di, De };
    s->agg = strcmp(c->mem_proto_aggregation, "weighted") == 0    ? FR_PROTO_WEIGHTED
             : strcmp(c->mem_proto_aggregation, "recluster") == 0 ? FR_PROTO_RECLUSTER
                                                                  : FR_PROTO_MEAN;
    s->km = (fr_kmeans_opts){ c->mem_kmeans_iters, 1e-6, c->seed, 0, 0 };
    if (!s->enabled) return FR_OK;
    if (s->K > c->mem_capacity)
        return fr_fail(err, FR_ERR_USAGE, "memory.prototypes (%d) must not exceed "
                       "memory.capacity (%d)", s->K, c->mem_capacity);
    s->mem = fr_calloc((size_t)n_users, sizeof *s->mem);
    s->started = fr_calloc((size_t)n_users, 1);
    s->updates = fr_calloc((size_t)n_users, sizeof *s->updates);
    if (s->K > 0) {
        s->proto = fr_calloc((size_t)n_users * (size_t)s->K * (size_t)Dt, sizeof(float));
        s->proto_k = fr_calloc((size_t)n_users, sizeof(int32_t));
        s->global = fr_calloc((size_t)s->K * (size_t)Dt, sizeof(float));
    }
    fr_status st = FR_OK;
    if (!s->mem || !s->started || !s->updates || (s->K > 0 && (!s->proto || !s->proto_k || !s->global)))
        st = fr_nomem(err, "client memories", (size_t)n_users * (size_t)(s->K + 1) * (size_t)Dt * 4);
    for (int32_t u = 0; u < n_users && st == FR_OK; u++) st = fr_mem_create(&s->mem[u], &s->mo, err);
    if (st != FR_OK) fr_mm_memories_destroy(s);
    return st;
}

fr_status fr_mm_memories_touch(fr_mm_memories *s, int32_t user, int64_t n_train, double now,
                               fr_error *err) {
    if (!s->enabled || s->started[user] || s->global_k == 0) return FR_OK;
    s->started[user] = 1;
    if (n_train >= s->cold_start || s->mem[user].n > 0) return FR_OK;
    return fr_mem_init_from_prototypes(&s->mem[user], s->global, s->global_k, s->Dt, now, err);
}

int32_t fr_mm_memories_max_keys(const fr_mm_memories *s) {
    return (s->enabled ? s->mo.capacity : 0) + (s->global_keys ? s->K : 0);
}

int32_t fr_mm_memories_keys(const fr_mm_memories *s, int32_t user, float *text,
                            int32_t *item, int32_t cap) {
    int32_t n = 0;
    const size_t row = (size_t)s->Dt * sizeof(float);
    if (s->enabled) {
        const fr_memory *m = &s->mem[user];
        for (int32_t j = 0; j < m->n && n < cap; j++, n++) {
            memcpy(text + (size_t)n * (size_t)s->Dt, m->text + (size_t)j * (size_t)s->Dt, row);
            item[n] = m->item[j];
        }
    }
    for (int32_t k = 0; s->global_keys && k < s->global_k && n < cap; k++, n++) {
        memcpy(text + (size_t)n * (size_t)s->Dt, s->global + (size_t)k * (size_t)s->Dt, row);
        item[n] = FR_MEM_PROTO_ID(k);
    }
    return n;
}

fr_status fr_mm_memories_upload(fr_mm_memories *s, int32_t user, uint32_t round,
                                int64_t *bytes, fr_error *err) {
    *bytes = 0;
    if (s->K == 0) return FR_OK;
    float *p = s->proto + (size_t)user * (size_t)s->K * (size_t)s->Dt;
    s->proto_k[user] = 0;
    if (s->mem[user].n == 0) return FR_OK;
    fr_kmeans_opts km = s->km;
    km.round = round;
    km.stream = (uint32_t)user;
    fr_status st = fr_mem_prototypes(p, &s->proto_k[user], NULL, &s->mem[user], s->K, &km, err);
    if (st == FR_OK) *bytes = fr_mem_proto_bytes(s->proto_k[user], s->Dt);
    return st;
}

fr_status fr_mm_memories_round_end(void *ctx, const fr_update *const *ups,
                                   const double *weights, int32_t n, uint32_t round,
                                   cJSON *line, fr_error *err) {
    fr_mm_memories *s = ctx;
    if (!s->enabled) return FR_OK;
    int64_t updates = 0, bytes = 0;
    for (int32_t i = 0; i < n; i++) {
        updates += s->updates[ups[i]->client];
        bytes += ups[i]->side_bytes;
    }
    fr_status st = FR_OK;
    if (s->K > 0) {
        fr_proto_upload *up = fr_alloc((size_t)n, sizeof *up);
        if (!up) return fr_nomem(err, "prototype uploads", (size_t)n * sizeof *up);
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++) {
            const int32_t u = ups[i]->client, k = s->proto_k[u];
            if (k == 0 || (s->agg != FR_PROTO_RECLUSTER && k != s->K)) continue;
            up[m++] = (fr_proto_upload){ s->proto + (size_t)u * (size_t)s->K * (size_t)s->Dt, k,
                                         weights[i] };
        }
        if (m > 0) {
            fr_kmeans_opts km = s->km;
            km.round = round;
            km.stream = 0xFFFFFFFFu;
            int32_t k = 0;
            st = fr_proto_aggregate(s->global, &k, up, m, s->K, s->Dt, s->agg, &km, err);
            if (st == FR_OK) s->global_k = k;
        }
        fr_free(up);
    }
    if (st == FR_OK && line) {
        cJSON_AddNumberToObject(line, "memory_updates", (double)updates);
        cJSON_AddNumberToObject(line, "proto_bytes_up", (double)bytes);
        cJSON_AddNumberToObject(line, "global_memory_rows", s->global_k);
    }
    return st;
}

int64_t fr_mm_memories_down_bytes(void *ctx) {
    const fr_mm_memories *s = ctx;
    return s->global_k > 0 ? fr_mem_proto_bytes(s->K, s->Dt) : 0;
}
