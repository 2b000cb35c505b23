/* graph_build.c - what does building the user-relation graph cost at ML-100K, HetRec and
 * ML-1M user counts?
 *
 * For n = 943, 2999 and 6040 users with vectors of dim = 32*100 and 32*384 floats
 * (N(0, 1), fixed seed), times fr_graph_build (cosine, top_n = 10, uniform weights, the
 * default 256-row blocks) and prints one JSON object per case:
 *   n, dim, threads, runs,
 *   seconds_median   median wall time of --runs builds,
 *   sgemm_gflops     2 n^2 dim / seconds_median / 1e9: the product's flops (every block
 *                    computes all n columns) over the whole build's time, so it is a
 *                    lower bound on sgemm's own rate.
 * Leaves out: threshold mode (one extra O(n dim) pass) and the sparse mixing.
 * Usage: bench_graph_build [--runs R] [--threads T] [--top-n K]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedrec/alloc.h"
#include "fedrec/graph.h"
#include "fedrec/rng.h"
#include "fedrec/timer.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* x[n x dim] ~ N(0, 1) from the stream (seed 1, synth). */
static void fill(float *x, int64_t len) {
    fr_rng r;
    fr_rng_init(&r, 1, 0, 0, FR_PURPOSE_SYNTH);
    for (int64_t p = 0; p < len; p++) x[p] = (float)fr_rng_normal(&r);
}

/* Times `runs` builds; returns 0 on failure (printed). */
static int run_case(int32_t n, int64_t dim, int runs, int top_n, int threads) {
    float *x = fr_alloc((size_t)n * dim, sizeof(float)); /* [n x dim] */
    double *sec = calloc((size_t)runs, sizeof(double));   /* [runs] */
    if (!x || !sec) {
        fprintf(stderr, "bench: out of memory\n");
        fr_free(x), free(sec);
        return 0;
    }
    fill(x, (int64_t)n * dim);
    const fr_graph_opts o = { .sim = FR_GRAPH_COSINE, .top_n = top_n };
    int ok = 1;
    for (int r = 0; r < runs && ok; r++) {
        fr_graph g;
        fr_error err;
        double t0 = fr_now_seconds();
        ok = fr_graph_build(&g, x, n, dim, &o, &err) == FR_OK;
        sec[r] = fr_now_seconds() - t0;
        if (!ok) fprintf(stderr, "bench: %s\n", err.msg);
        fr_graph_free(&g);
    }
    if (ok) {
        qsort(sec, (size_t)runs, sizeof *sec, cmp_double);
        double med = runs % 2 ? sec[runs / 2] : 0.5 * (sec[runs / 2 - 1] + sec[runs / 2]);
        printf("{\"n\": %d, \"dim\": %lld, \"threads\": %d, \"runs\": %d, \"top_n\": %d, "
               "\"seconds_median\": %.4f, \"sgemm_gflops\": %.1f}\n",
               n, (long long)dim, threads, runs, top_n, med,
               2.0 * n * (double)n * (double)dim / med / 1e9);
        fflush(stdout);
    }
    fr_free(x);
    free(sec);
    return ok;
}

int main(int argc, char **argv) {
    int runs = 5, threads = omp_get_max_threads(), top_n = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--top-n")) top_n = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_graph_build [--runs R] [--threads T] [--top-n K]\n");
            return 2;
        }
    }
    if (runs < 1 || threads < 1) {
        fprintf(stderr, "bench: --runs and --threads must be at least 1\n");
        return 2;
    }
    omp_set_num_threads(threads);
    const int32_t users[3] = { 943, 2999, 6040 };
    const int64_t dims[2] = { 32 * 100, 32 * 384 };
    for (int u = 0; u < 3; u++)
        for (int d = 0; d < 2; d++)
            if (!run_case(users[u], dims[d], runs, top_n, threads)) return 1;
    return 0;
}
