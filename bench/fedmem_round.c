/* fedmem_round.c - what do FedMem's memory, prototypes and experts cost per federated
 * round, against FedAvg-SASRec on the same data, model and loss?
 *
 * Runs four variants on the -ml100k configs (or --data-set ml1m: the -ml1m ones), so that
 * the costs can be told apart:
 *   fedavg-sasrec     the baseline (fedavg-sasrec-DS.ini);
 *   fedmem-nomemory   fedmem-DS.ini with memory.enabled = false: the experts, fusion and
 *                     contrastive loss over an empty memory;
 *   fedmem-noproto    the memory, no prototypes (fedmem-noproto-DS.ini);
 *   fedmem            full FedMem: memory and prototypes (fedmem-DS.ini).
 * Each runs --rounds rounds, --runs times, the variants in turn within every run so
 * that all see the same machine load; it prints one JSON object per variant:
 *   variant, rounds, runs, threads,
 *   seconds_per_round_median   median over runs of the run's training seconds per round
 *                              (validation excluded; the engine's train_seconds),
 *   ratio                      that median over FedAvg-SASRec's.
 * Validation runs only once, at the end (eval.every = 0), on 100 users.
 * Needs ../shared/data (run from the project root). Writes runs under a temporary
 * directory it removes.
 * Usage: bench_fedmem_round [--rounds R] [--runs N] [--threads T] [--data-set ml100k|ml1m]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cJSON.h"
#include "fedrec/config.h"
#include "fedrec/train.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One training run of config cfg with the setting extra (or NULL); returns its training
 * seconds per round, or -1. */
static double one_run(const char *cfg, const char *extra, const char *dir, int rounds,
                      int threads) {
    fr_config c;
    fr_config_defaults(&c);
    fr_error err;
    char set[64];
    snprintf(set, sizeof set, "train.rounds=%d", rounds);
    if (fr_config_load_ini(&c, cfg, &err) != FR_OK || fr_config_set(&c, set, &err) != FR_OK ||
        fr_config_set(&c, "eval.every=0", &err) != FR_OK ||
        fr_config_set(&c, "eval.users=100", &err) != FR_OK ||
        fr_config_set(&c, "eval.full=false", &err) != FR_OK ||
        (extra && fr_config_set(&c, extra, &err) != FR_OK)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1.0;
    }
    fr_train_opts o = { dir, threads, 0 };
    cJSON *final = NULL;
    if (fr_train_run(&c, &o, &final, &err) != FR_OK) {
        fprintf(stderr, "bench: %s: %s\n", cfg, err.msg);
        return -1.0;
    }
    const double s = cJSON_GetObjectItem(final, "train_seconds")->valuedouble /
                     cJSON_GetObjectItem(final, "rounds")->valuedouble;
    cJSON_Delete(final);
    return s;
}

int main(int argc, char **argv) {
    int rounds = 20, runs = 5, threads = 2;
    const char *ds = "ml100k";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--data-set")) ds = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_fedmem_round [--rounds R] [--runs N] [--threads T] "
                            "[--data-set ml100k|ml1m]\n");
            return 2;
        }
    }
    if (rounds < 1 || runs < 1 || threads < 1) {
        fprintf(stderr, "bench: rounds, runs and threads must be positive\n");
        return 2;
    }
    enum { NV = 4 };
    static const struct { const char *name, *config, *extra; } variant[NV] = {
        { "fedavg-sasrec", "fedavg-sasrec", NULL },
        { "fedmem-nomemory", "fedmem", "memory.enabled=false" },
        { "fedmem-noproto", "fedmem-noproto", NULL },
        { "fedmem", "fedmem", NULL },
    };
    char tmpl[] = "/tmp/bench_fedmem_XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("bench: mkdtemp");
        return 1;
    }
    double *sec[NV];
    int ok = 1;
    for (int v = 0; v < NV; v++) ok = (sec[v] = calloc((size_t)runs, sizeof(double))) && ok;
    for (int r = 0; r < runs && ok; r++)
        for (int v = 0; v < NV && ok; v++) {
            char cfg[256], dir[512];
            snprintf(cfg, sizeof cfg, "configs/%s-%s.ini", variant[v].config, ds);
            snprintf(dir, sizeof dir, "%s/%s-%d", tmpl, variant[v].name, r);
            sec[v][r] = one_run(cfg, variant[v].extra, dir, rounds, threads);
            ok = sec[v][r] > 0.0;
        }
    double med[NV] = { 0 };
    for (int v = 0; v < NV && ok; v++) {
        qsort(sec[v], (size_t)runs, sizeof(double), cmp_double);
        med[v] = runs % 2 ? sec[v][runs / 2] : 0.5 * (sec[v][runs / 2 - 1] + sec[v][runs / 2]);
    }
    for (int v = 0; v < NV && ok; v++)
        printf("{\"variant\": \"%s-%s\", \"rounds\": %d, \"runs\": %d, \"threads\": %d, "
               "\"seconds_per_round_median\": %.4f, \"ratio\": %.3f}\n",
               variant[v].name, ds, rounds, runs, threads, med[v], med[v] / med[0]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    if (system(cmd) != 0) fprintf(stderr, "bench: could not remove %s\n", tmpl);
    for (int v = 0; v < NV; v++) free(sec[v]);
    return ok ? 0 : 1;
}
