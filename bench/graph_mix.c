/* graph_mix.c - what does it cost to give every client its rows of R_i = G + sum_j S_ij D_j
 * (GPFedRec's per-client aggregate), one client at a time (fr_graph_mix_rows, what each
 * client's request costs) against all clients at once item by item (fr_graph_mix_all,
 * its item index included)?
 *
 * Data shaped like a GPFedRec round on MovieLens-100K: n = 943 users, N = 1682 items,
 * k = 32; each user changed the rows of about 106 clicked items (popularity-skewed,
 * Zipf 0.8) plus 4 uniform negatives per click, and asks for the rows of its next
 * round (the same clicks, fresh negatives). Graphs: the true cosine of the users'
 * tables with the users above the mean (about half of them; configs/gpfedrec-ml100k.ini)
 * and the top 10. Prints one JSON object per graph:
 *   graph, n, N, k, edges_per_user, threads, runs,
 *   users_s     median seconds of n fr_graph_mix_rows calls (OpenMP over users),
 *   items_s     median seconds of fr_item_index_build + fr_graph_mix_all,
 *   speedup     users_s / items_s, both measured in this run,
 *   pays        fr_graph_mix_all_pays's choice (1: items),
 *   item_ops    sum over items of changers x askers (the item form's row operations),
 *   user_ops    sum over edges i -> j of user j's changed rows (the per-user lookups),
 *   ns_per_item_op, ns_per_user_op  the medians over those counts (what calibrates
 *               FR_GRAPH_MIX_ITEM_COST),
 *   identical   1 when both gave the same bits for every row.
 * Usage: bench_graph_mix [--runs R] [--threads T]
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/graph.h"
#include "fedrec/item_index.h"
#include "fedrec/rng.h"
#include "fedrec/timer.h"
#include "bench_median.h"

enum { USERS = 943, ITEMS = 1682, K = 32, CLICKS = 106, NEGS = 4 };

/* rows[n x ITEMS] / d[n]: user i's clicks (Zipf-skewed, fixed per user) and NEGS
 * uniform negatives per click drawn from `stream`, sorted without repeats; values
 * N(0, 0.1) plus a per-user-group offset so the graph has structure. */
static void make_rows(fr_sparse_rows *d, int32_t *rows, float *val, const double *cdf, uint32_t stream) {
    uint8_t *mark = calloc(ITEMS, 1);
    fr_rng click, neg, noise;
    for (int32_t i = 0; i < USERS; i++) {
        fr_rng_init(&click, 7, 0, (uint32_t)i, FR_PURPOSE_SYNTH);
        fr_rng_init(&neg, 7, stream, (uint32_t)i, FR_PURPOSE_NEGATIVES);
        fr_rng_init(&noise, 7, stream, (uint32_t)i, FR_PURPOSE_INIT_GLOBAL);
        for (int c = 0; c < CLICKS; c++) {
            const double u = fr_rng_uniform(&click);
            int32_t lo = 0, hi = ITEMS - 1;
            while (lo < hi) {
                const int32_t mid = (lo + hi) / 2;
                if (cdf[mid] < u) lo = mid + 1; else hi = mid;
            }
            mark[lo] = 1;
            for (int q = 0; q < NEGS; q++) mark[fr_rng_below(&neg, ITEMS)] = 1;
        }
        int32_t *ri = rows + (int64_t)i * ITEMS, nr = 0;
        float *vi = val + (int64_t)i * ITEMS * K;
        for (int32_t r = 0; r < ITEMS; r++)
            if (mark[r]) {
                mark[r] = 0;
                ri[nr] = r;
                for (int q = 0; q < K; q++)
                    vi[(int64_t)nr * K + q] = (float)(0.1 * fr_rng_normal(&noise) + (i % 3 == q % 3 ? 0.05 : 0.0));
                nr++;
            }
        d[i] = (fr_sparse_rows){ nr, ri, vi };
    }
    free(mark);
}

int main(int argc, char **argv) {
    int runs = 5, threads = 2;
    for (int a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--runs") == 0) runs = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--threads") == 0) threads = atoi(argv[a + 1]);
    }
    if (runs < 1 || threads < 1) {
        fprintf(stderr, "usage: bench_graph_mix [--runs R >= 1] [--threads T >= 1]\n");
        return 2;
    }
    double *cdf = malloc(ITEMS * sizeof(double)), total = 0.0;
    for (int32_t r = 0; r < ITEMS; r++) total += pow(r + 1.0, -0.8);
    double run = 0.0;
    for (int32_t r = 0; r < ITEMS; r++) cdf[r] = run += pow(r + 1.0, -0.8) / total;
    fr_sparse_rows *d = malloc(USERS * sizeof *d), *req = malloc(USERS * sizeof *req);
    int32_t *drows = malloc((size_t)USERS * ITEMS * sizeof(int32_t));
    int32_t *qrows = malloc((size_t)USERS * ITEMS * sizeof(int32_t));
    float *dval = malloc((size_t)USERS * ITEMS * K * sizeof(float));
    float *qval = malloc((size_t)USERS * ITEMS * K * sizeof(float));
    float *base = calloc((size_t)ITEMS * K, sizeof(float));
    float **o1 = malloc(USERS * sizeof(float *)), **o2 = malloc(USERS * sizeof(float *));
    double *t_users = malloc((size_t)runs * sizeof(double)), *t_items = malloc((size_t)runs * sizeof(double));
    make_rows(d, drows, dval, cdf, 1);
    make_rows(req, qrows, qval, cdf, 2);
    for (int32_t i = 0; i < USERS; i++) {
        o1[i] = malloc((size_t)(req[i].n_rows > 0 ? req[i].n_rows : 1) * K * sizeof(float));
        o2[i] = malloc((size_t)(req[i].n_rows > 0 ? req[i].n_rows : 1) * K * sizeof(float));
    }
    fr_rng br;
    fr_rng_init(&br, 7, 9, 0, FR_PURPOSE_INIT_GLOBAL);
    for (int64_t e = 0; e < (int64_t)ITEMS * K; e++) base[e] = (float)(0.1 * fr_rng_normal(&br));
    const char *names[2] = { "cosine above the mean", "cosine top 10" };
    const fr_graph_opts graphs[2] = { { .sim = FR_GRAPH_COSINE, .threshold = 1.0 },
                                      { .sim = FR_GRAPH_COSINE, .top_n = 10 } };
    int rc = 0;
    for (int gi = 0; gi < 2 && rc == 0; gi++) {
        fr_graph g;
        fr_error err;
        if (fr_graph_build_tables(&g, base, d, USERS, ITEMS, K, &graphs[gi], &err) != FR_OK) {
            fprintf(stderr, "bench: %s\n", err.msg);
            rc = 1;
            break;
        }
        int identical = 1;
        for (int r = 0; r < runs && rc == 0; r++) {
            double t0 = fr_now_seconds();
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
            for (int32_t i = 0; i < USERS; i++)
                fr_graph_mix_rows(&g, i, d, K, req[i].rows, req[i].n_rows, o1[i]);
            t_users[r] = fr_now_seconds() - t0;
            t0 = fr_now_seconds();
            fr_item_index ix = { 0 };
            if (fr_item_index_build(&ix, d, USERS, ITEMS, K, threads, &err) != FR_OK ||
                fr_graph_mix_all(&g, &ix, req, o2, threads, &err) != FR_OK) {
                fprintf(stderr, "bench: %s\n", err.msg);
                rc = 1;
            }
            t_items[r] = fr_now_seconds() - t0;
            fr_item_index_free(&ix);
            for (int32_t i = 0; i < USERS; i++)
                identical &= memcmp(o1[i], o2[i], (size_t)req[i].n_rows * K * sizeof(float)) == 0;
        }
        double item_ops = 0.0, user_ops = 0.0;
        int64_t *cnt = calloc(2 * ITEMS, sizeof(int64_t));
        for (int32_t i = 0; i < USERS; i++) {
            for (int32_t b = 0; b < d[i].n_rows; b++) cnt[d[i].rows[b]]++;
            for (int32_t b = 0; b < req[i].n_rows; b++) cnt[ITEMS + req[i].rows[b]]++;
        }
        for (int32_t r = 0; r < ITEMS; r++) item_ops += (double)cnt[r] * cnt[ITEMS + r];
        for (int64_t e = 0; e < g.off[USERS]; e++) user_ops += d[g.nbr[e]].n_rows;
        free(cnt);
        if (rc == 0) {
            const double tu = bench_median(t_users, runs), ti = bench_median(t_items, runs);
            printf("{\"graph\":\"%s\",\"n\":%d,\"N\":%d,\"k\":%d,\"edges_per_user\":%.1f,"
                   "\"threads\":%d,\"runs\":%d,\"users_s\":%.4f,\"items_s\":%.4f,"
                   "\"speedup\":%.2f,\"pays\":%d,\"item_ops\":%.0f,\"user_ops\":%.0f,"
                   "\"ns_per_item_op\":%.2f,\"ns_per_user_op\":%.2f,\"identical\":%d}\n",
                   names[gi], USERS, ITEMS, K, (double)g.off[USERS] / USERS, threads, runs, tu,
                   ti, tu / ti, fr_graph_mix_all_pays(&g, d, ITEMS, req), item_ops, user_ops,
                   ti / item_ops * 1e9, tu / user_ops * 1e9, identical);
        }
        fr_graph_free(&g);
    }
    for (int32_t i = 0; i < USERS; i++) free(o1[i]), free(o2[i]);
    free(o1), free(o2), free(cdf), free(d), free(req), free(drows), free(qrows);
    free(dval), free(qval), free(base), free(t_users), free(t_items);
    return rc;
}
