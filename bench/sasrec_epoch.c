/* sasrec_epoch.c - how fast centralized SASRec trains and evaluates (issue 3's target:
 * one epoch of an ML-1M-shaped set in at most 7 s on 2 cores, ten times the public
 * PyTorch SASRec's ~70 s).
 *
 * Generates the ML-1M-shaped synthetic set (6040 users, 3416 items, ~1M interactions,
 * log-normal counts per user with at least 20), trains SASRec with the paper's
 * MovieLens settings (maxlen 200, d 50, 2 blocks, 1 head, batch 128, dropout 0.2) for
 * --epochs epochs through `fedrec train`'s own code, validating all users with the
 * sampled protocol (100 negatives) after each, and prints one JSON object:
 *   epoch_seconds  median over the epochs of the training time of one epoch
 *   eval_seconds   median time of one validation of all users (sampled protocol)
 *   gflops         forward + backward matrix-product and attention FLOPs of an epoch
 *                  (3x the forward count) over epoch_seconds
 *   sgemm_gflops   this machine's OpenBLAS sgemm throughput on the same threads,
 *                  measured in the same run (median of 3 products of 1536^3)
 *   sgemm_share    gflops / sgemm_gflops
 *   peak_rss_mb    the process's peak resident memory
 * Usage: bench_sasrec_epoch [--epochs N] [--threads T] [--users U]
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fedrec/alloc.h"
#include "fedrec/config.h"
#include "fedrec/fileio.h"
#include "fedrec/ranking.h"
#include "fedrec/sasrec.h"
#include "fedrec/train.h"
#include "fedrec/timer.h"
#include "bench_median.h"

/* sgemm GFLOP/s on `threads` threads: median of 3 products of n^3. */
static double sgemm_gflops(int threads) {
    const int n = 1536;
    float *a = fr_alloc((size_t)n * n, 4), *b = fr_alloc((size_t)n * n, 4),
          *c = fr_alloc((size_t)n * n, 4);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    openblas_set_num_threads(threads);
    double t[3];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int r = 0; r < 3; r++) {
        double t0 = fr_now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[r] = fr_now_seconds() - t0;
    }
    openblas_set_num_threads(1);
    fr_free(a);
    fr_free(b);
    fr_free(c);
    return 2.0 * n * (double)n * n / bench_median(t, 3) / 1e9;
}

static void set(fr_config *c, const char *kv) {
    fr_error err;
    if (fr_config_set(c, kv, &err) != FR_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(2);
    }
}

int main(int argc, char **argv) {
    int epochs = 3, threads = 2;
    char users[64] = "synthetic.users=6040";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--epochs") == 0) epochs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--users") == 0) snprintf(users, sizeof users, "synthetic.users=%s", argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_sasrec_epoch [--epochs N] [--threads T] [--users U]\n");
            return 2;
        }
    }
    if (epochs < 1 || epochs > 100 || threads < 1) return 2;
    fr_config c;
    fr_config_defaults(&c);
    const char *sets[] = { "data.path=synthetic", "synthetic.items=3416", "synthetic.mean_per_user=165.6",
                           "synthetic.min_per_user=20", "model.model=sasrec", "model.dim=50",
                           "model.blocks=2", "model.heads=1", "model.maxlen=200", "model.dropout=0.2",
                           "train.algorithm=central", "central.lr=0.001", "central.batch_size=128",
                           "eval.negatives=100", "eval.every=1", "eval.full=false" };
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) set(&c, sets[i]);
    set(&c, users);
    char kv[64];
    snprintf(kv, sizeof kv, "central.epochs=%d", epochs);
    set(&c, kv);

    /* the data once more, for its shape and the FLOP count */
    fr_dataset ds;
    fr_error err;
    if (fr_experiment_data(&c, &ds, &err) != FR_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    fr_sasrec_cfg mc = { ds.n_items, 50, 2, 1, 200, 0.2f, FR_ACT_RELU, 1, 1e-8f };
    double fwd = 0.0;
    for (int32_t u = 0; u < ds.n_users; u++) {
        int64_t t = fr_loo_split(fr_dataset_user(&ds, u)).n_train - 1;
        if (t < 1) continue;
        if (t > 200) t = 200;
        fwd += fr_sasrec_seq_flops(&mc, t, t);
    }
    int64_t n_inter = ds.n_inter;
    int32_t n_users = ds.n_users, n_items = ds.n_items;
    fr_dataset_free(&ds);

    char dir[] = "/tmp/fedrec-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    fr_train_opts o = { dir, threads, 0 };
    cJSON *final = NULL;
    if (fr_train_run(&c, &o, &final, &err) != FR_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    char *text;
    size_t len;
    if (fr_read_file(path, &text, &len, &err) != FR_OK) return 1;
    double ep_s[100], ev_s[100];
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < 100; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        ep_s[n] = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "seconds"));
        ev_s[n] = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "eval_seconds"));
        n++;
        cJSON_Delete(j);
    }
    fr_free(text);
    double epoch_seconds = bench_median(ep_s, n), eval_seconds = bench_median(ev_s, n);
    double gflops = 3.0 * fwd / epoch_seconds / 1e9;
    double peak = sgemm_gflops(threads);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(final, "test"), "sampled");
    printf("{\"users\":%d,\"items\":%d,\"interactions\":%lld,\"threads\":%d,\"epochs\":%d,"
           "\"epoch_seconds\":%.3f,\"eval_seconds\":%.3f,\"gflops\":%.2f,\"sgemm_gflops\":%.2f,"
           "\"sgemm_share\":%.3f,\"peak_rss_mb\":%.1f,\"test_sampled_hr@10\":%.4f}\n",
           n_users, n_items, (long long)n_inter, threads, n, epoch_seconds, eval_seconds, gflops,
           peak, gflops / peak, (double)ru.ru_maxrss / 1024.0,
           cJSON_GetNumberValue(cJSON_GetObjectItem(t, "hr@10")));
    cJSON_Delete(final);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
