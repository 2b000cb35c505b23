/* fl_scale.c - does a federated round cost what its clients cost, whatever the population?
 *
 * For one synthetic population (ML-1M-shaped users: log-normal interaction counts, mean
 * --per-user, at least 20; 3416 items), runs --rounds rounds of federated SASRec (the
 * ML-1M model: d 50, 2 blocks, 1 head, maxlen 200) with --clients clients per round
 * through the shared engine, and prints one JSON object:
 *   population, clients_per_round, rounds, threads,
 *   seconds_per_round    median wall time of a round (client training + aggregation +
 *                        server step; no validation),
 *   clients_per_second   clients_per_round / seconds_per_round,
 *   peak_rss_mb          the process's peak resident memory,
 *   bytes_per_idle_client  what the population adds to resident memory, per client:
 *                        the growth of RSS while its data was loaded (the clients' own
 *                        interactions, ids and offsets) plus its entry in the client list;
 *                        the engine keeps nothing else per idle client,
 *   data_bytes_per_client  the interactions alone (item, rating, time per row),
 *   fixed_mb             the rest of the peak: model, optimizer, per-thread workspaces
 *                        and per-round buffers, which grow with clients per round.
 * bench/fl-scale runs it for 1k, 10k and 100k users.
 * Usage: bench_fl_scale --users N [--clients K] [--rounds R] [--threads T] [--per-user M]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fedrec/alloc.h"
#include "fedrec/config.h"
#include "fedrec/engine.h"
#include "fedrec/fileio.h"
#include "fedrec/history.h"
#include "fedrec/ranking.h"
#include "fedrec/sasrec.h"
#include "fedrec/sasrec_client.h"
#include "fedrec/train.h"

static double rss_mb_now(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* No validation in a throughput benchmark: an empty evaluation. */
/* The benchmark times rounds only: validation is a constant. */
static fr_status no_eval(void *ctx, const float *params, fr_fl_eval *out, fr_error *err) {
    (void)ctx, (void)params, (void)err;
    out->key = 0.0;
    out->json = NULL;
    return FR_OK;
}

static void set(fr_config *c, const char *kv) {
    fr_error err;
    if (fr_config_set(c, kv, &err) != FR_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(2);
    }
}

int main(int argc, char **argv) {
    int users = 1000, clients = 128, rounds = 5, threads = 2;
    double per_user = 165.6;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--users")) users = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clients")) clients = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--per-user")) per_user = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_fl_scale --users N [--clients K] [--rounds R] "
                            "[--threads T] [--per-user M]\n");
            return 2;
        }
    }
    if (users < 10 || clients < 1 || rounds < 1 || rounds > 1000 || threads < 1) return 2;
    fr_blas_threads(threads);
    fr_config c;
    fr_config_defaults(&c);
    char kv[96];
    const char *sets[] = { "data.path=synthetic", "synthetic.items=3416", "synthetic.min_per_user=20",
                           "model.model=sasrec", "model.dim=50", "model.blocks=2", "model.heads=1",
                           "model.maxlen=200", "model.dropout=0.2", "train.algorithm=fedavg",
                           "train.client_lr=1", "train.server_optimizer=adam", "train.server_lr=0.001",
                           "eval.every=0" };
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) set(&c, sets[i]);
    snprintf(kv, sizeof kv, "synthetic.users=%d", users), set(&c, kv);
    snprintf(kv, sizeof kv, "synthetic.mean_per_user=%g", per_user), set(&c, kv);
    snprintf(kv, sizeof kv, "train.clients_per_round=%d", clients), set(&c, kv);
    snprintf(kv, sizeof kv, "train.rounds=%d", rounds), set(&c, kv);

    double rss0 = rss_mb_now();
    fr_error err;
    fr_dataset ds;
    fr_sasrec m;
    fr_sasrec_clients *cl = NULL;
    if (fr_experiment_data(&c, &ds, &err) != FR_OK) goto fail;
    double rss_data = rss_mb_now();
    fr_sasrec_cfg mc = { ds.n_items, 50, 2, 1, 200, 0.2f, FR_ACT_RELU, 1, 1e-8f };
    if (fr_sasrec_create(&m, &mc, c.seed, &err) != FR_OK) goto fail;
    if (fr_sasrec_clients_create(&cl, &m, &ds, &c, threads, &err) != FR_OK) goto fail;
    int32_t *ids = fr_alloc((size_t)ds.n_users, sizeof(int32_t));
    int32_t n_clients = 0;
    for (int32_t u = 0; u < ds.n_users; u++)
        if (fr_loo_split(fr_dataset_user(&ds, u)).n_train >= 2) ids[n_clients++] = u;
    fr_fl_model fm = { .layout = &m.layout, .params = m.params, .clients = ids,
                       .n_clients = n_clients, .ctx = cl,
                       .client_update = fr_sasrec_client_update, .validate = no_eval };
    char path[] = "/tmp/fedrec-flscale-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    fr_history h = { 0 };
    fr_fl_outcome out;
    if (fr_history_open(&h, path, &err) != FR_OK) goto fail;
    if (fr_fl_run(&fm, &c, threads, &h, 0, &out, &err) != FR_OK) goto fail;
    fr_fl_outcome_free(&out);
    if (fr_history_commit(&h, &err) != FR_OK) goto fail;
    char *text;
    size_t len;
    if (fr_read_file(path, &text, &len, &err) != FR_OK) goto fail;
    double secs[1000];
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < 1000; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        secs[n++] = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "seconds"));
        cJSON_Delete(j);
    }
    fr_free(text);
    unlink(path);
    qsort(secs, (size_t)n, sizeof *secs, cmp_double);
    double med = n % 2 ? secs[n / 2] : 0.5 * (secs[n / 2 - 1] + secs[n / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak = (double)ru.ru_maxrss / 1024.0;
    double data_bytes = (double)ds.n_inter * (sizeof(int32_t) + sizeof(float) + sizeof(int64_t));
    printf("{\"population\":%d,\"clients\":%d,\"interactions\":%lld,\"clients_per_round\":%d,"
           "\"rounds\":%d,\"threads\":%d,\"seconds_per_round\":%.4f,\"clients_per_second\":%.1f,"
           "\"peak_rss_mb\":%.1f,\"bytes_per_idle_client\":%.0f,\"data_bytes_per_client\":%.0f,"
           "\"fixed_mb\":%.1f}\n",
           ds.n_users, n_clients, (long long)ds.n_inter, clients, n, threads, med, clients / med, peak,
           ((rss_data - rss0) * 1048576.0 + 4.0 * n_clients) / ds.n_users, data_bytes / ds.n_users,
           peak - (rss_data - rss0));
    fr_free(ids);
    fr_sasrec_clients_destroy(cl);
    fr_sasrec_destroy(&m);
    fr_dataset_free(&ds);
    return 0;
fail:
    fprintf(stderr, "bench: %s\n", err.msg);
    return 1;
}
