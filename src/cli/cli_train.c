/* cli_train.c - `fedrec train`: configuration file + overrides -> a run directory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fedrec/train.h"

static void train_usage(FILE *out) {
    fputs("usage: fedrec train [--config FILE] [--data PATH] [--format NAME] [--out DIR]\n"
          "                    [--seed N] [--threads N] [--set SECTION.KEY=VALUE ...]\n"
          "\n"
          "Trains a model as the configuration says and writes DIR/history.jsonl (one\n"
          "JSON object per round), DIR/final.json (test figures, wall time, the whole\n"
          "configuration) and DIR/model.safetensors. Without --config the defaults\n"
          "below apply; without --data the built-in synthetic data set is used.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE   INI experiment file (configs/*.ini)\n"
          "  -d, --data PATH     data file or directory (sets data.path)\n"
          "  -f, --format NAME   auto|movielens|ml100k|csv|tsv|seq|pairs|synthetic\n"
          "  -o, --out DIR       run directory (default runs/NAME, NAME from the config file)\n"
          "  -s, --seed N        random seed (sets run.seed)\n"
          "  -t, --threads N     worker threads (results do not depend on it)\n"
          "      --set K=V       override one setting, e.g. --set train.rounds=50\n"
          "  -q, --quiet         no progress line\n"
          "  -h, --help          this text\n"
          "\n"
          "settings (section.key, default, meaning):\n",
          out);
    fr_config_print_help(out);
}

int cli_train(int argc, char **argv) {
    static const struct option opts[] = {
        { "config", required_argument, 0, 'c' }, { "data", required_argument, 0, 'd' },
        { "format", required_argument, 0, 'f' }, { "out", required_argument, 0, 'o' },
        { "seed", required_argument, 0, 's' },   { "threads", required_argument, 0, 't' },
        { "set", required_argument, 0, 'S' },    { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 }
    };
    fr_config c;
    fr_config_defaults(&c);
    fr_error err = { "" };
    const char *config_path = NULL, *out = NULL;
    char *sets[256];
    int n_sets = 0, threads = 0, quiet = 0;
    char data_set[1100] = "", format_set[64] = "", seed_set[64] = "";
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:d:f:o:s:t:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'd': snprintf(data_set, sizeof data_set, "data.path=%s", optarg); break;
        case 'f': snprintf(format_set, sizeof format_set, "data.format=%s", optarg); break;
        case 'o': out = optarg; break;
        case 's': snprintf(seed_set, sizeof seed_set, "run.seed=%s", optarg); break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1024) {
                fprintf(stderr, "fedrec train: --threads: '%s' is not a number in [1, 1024]\n", optarg);
                return 2;
            }
            threads = (int)v;
            break;
        }
        case 'S':
            if (n_sets == 256) {
                fprintf(stderr, "fedrec train: too many --set options\n");
                return 2;
            }
            sets[n_sets++] = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'h': train_usage(stdout); return 0;
        default: train_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fedrec train: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    fr_status st = FR_OK;
    if (config_path) st = fr_config_load_ini(&c, config_path, &err);
    if (st == FR_OK && data_set[0]) st = fr_config_set(&c, data_set, &err);
    if (st == FR_OK && format_set[0]) st = fr_config_set(&c, format_set, &err);
    if (st == FR_OK && seed_set[0]) st = fr_config_set(&c, seed_set, &err);
    for (int i = 0; i < n_sets && st == FR_OK; i++) st = fr_config_set(&c, sets[i], &err);
    if (st != FR_OK) return cli_report(st, &err);

    char out_buf[1100];
    if (!out) {
        const char *name = "default";
        char stem[256] = "";
        if (config_path) {
            const char *base = strrchr(config_path, '/');
            snprintf(stem, sizeof stem, "%s", base ? base + 1 : config_path);
            char *dot = strrchr(stem, '.');
            if (dot) *dot = 0;
            name = stem;
        }
        snprintf(out_buf, sizeof out_buf, "runs/%s", name);
        out = out_buf;
    }
    fr_train_opts o = { out, threads, !quiet && isatty(2) };
    cJSON *final = NULL;
    st = fr_train_run(&c, &o, &final, &err);
    if (st != FR_OK) return cli_report(st, &err);
    cJSON *test = cJSON_GetObjectItem(final, "test");
    char *text = cJSON_PrintUnformatted(test);
    printf("%s: test %s\n", out, text ? text : "{}");
    printf("wall_seconds %.3f\n", cJSON_GetObjectItem(final, "wall_seconds")->valuedouble);
    free(text);
    cJSON_Delete(final);
    return 0;
}
