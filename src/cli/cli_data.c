/* cli_data.c - `fedrec data stats PATH`: what the TFF tutorial explores before training
 * (counts, rating distribution, ratings per user, genres). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fedrec/dataset.h"

static void data_usage(FILE *out) {
    fputs("usage: fedrec data stats PATH [--format NAME]\n"
          "\n"
          "Prints users, items, interactions, density, the rating mean, median and\n"
          "histogram, the distribution of interactions per user and, when movies.dat or\n"
          "u.item is beside the ratings, the most frequent genres.\n"
          "\n"
          "options:\n"
          "  -f, --format NAME   auto|movielens|ml100k|csv|tsv|seq|pairs\n"
          "  -h, --help          this text\n",
          out);
}

int cli_data(int argc, char **argv) {
    static const struct option opts[] = {
        { "format", required_argument, 0, 'f' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *format = "auto";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': format = optarg; break;
        case 'h': data_usage(stdout); return 0;
        default: data_usage(stderr); return 2;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "stats") != 0) {
        data_usage(stderr);
        return 2;
    }
    const char *path = argv[optind + 1];
    fr_error err = { "" };
    fr_format fmt;
    fr_status st = fr_format_parse(format, &fmt, &err);
    fr_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (st == FR_OK) st = fr_dataset_load(path, fmt, &ds, &err);
    fr_dataset_stats s;
    if (st == FR_OK) st = fr_dataset_stats_compute(&ds, &s, &err);
    if (st != FR_OK) {
        fr_dataset_free(&ds);
        return cli_report(st, &err);
    }
    printf("source        %s (%s)\n", ds.source, fr_format_name(ds.format));
    printf("users         %d\n", s.n_users);
    printf("items         %d\n", s.n_items);
    printf("interactions  %lld\n", (long long)s.n_inter);
    printf("density       %.6f\n", s.density);
    if (s.has_rating) {
        printf("rating mean   %.4f\n", s.rating_mean);
        printf("rating median %.4g\n", s.rating_median);
        printf("rating histogram:\n");
        int64_t maxc = 1;
        for (int r = 0; r < 10; r++) if (s.rating_hist[r] > maxc) maxc = s.rating_hist[r];
        for (int r = 0; r < 10; r++) {
            if (!s.rating_hist[r]) continue;
            int bar = (int)(40 * s.rating_hist[r] / maxc);
            printf("  %2d %9lld  ", r + 1, (long long)s.rating_hist[r]);
            for (int i = 0; i < bar; i++) putchar('#');
            putchar('\n');
        }
    }
    printf("per user      min %lld  p10 %lld  median %.1f  mean %.1f  p90 %lld  max %lld\n",
           (long long)s.per_user_min, (long long)s.per_user_p10, s.per_user_median,
           s.per_user_mean, (long long)s.per_user_p90, (long long)s.per_user_max);
    if (s.n_genres > 0) {
        printf("genres (movies per genre):\n");
        for (int g = 0; g < s.n_genres; g++)
            printf("  %-14s %lld\n", s.genre_name[g], (long long)s.genre_count[g]);
    }
    fr_dataset_free(&ds);
    return 0;
}
