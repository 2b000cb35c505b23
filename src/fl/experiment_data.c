/* experiment_data.c - the dataset an experiment's configuration names: the built-in
 * synthetic generator or a file/directory, limited to the first max_clients users or
 * the top_users most active ones (never both). */
#include <string.h>
#include "fedrec/synth.h"
#include "fedrec/train.h"

fr_status fr_experiment_data(const fr_config *c, fr_dataset *ds, fr_error *err) {
    memset(ds, 0, sizeof *ds);
    if (c->max_clients > 0 && c->top_users > 0)
        return fr_fail(err, FR_ERR_USAGE, "[data] top_users (%d) and max_clients (%d) both "
                       "choose users; set one of them", c->top_users, c->max_clients);
    fr_format fmt;
    fr_status st = fr_format_parse(c->data_format, &fmt, err);
    if (st != FR_OK) return st;
    if (c->data_path[0] == 0 || strcmp(c->data_path, "synthetic") == 0 || fmt == FR_FORMAT_SYNTHETIC) {
        fr_synth_config sc;
        fr_synth_config_default(&sc);
        sc.n_users = c->synth_users;
        sc.n_items = c->synth_items;
        sc.rank = c->synth_rank;
        sc.mean_per_user = c->synth_mean_per_user;
        sc.min_per_user = c->synth_min_per_user;
        sc.zipf_s = c->synth_zipf;
        sc.noise = c->synth_noise;
        sc.seed = c->seed;
        st = fr_synth_generate(&sc, ds, NULL, NULL, err);
    } else {
        st = fr_dataset_load(c->data_path, fmt, ds, err);
    }
    if (st == FR_OK && c->max_clients > 0) st = fr_dataset_limit_users(ds, c->max_clients, err);
    if (st == FR_OK && c->top_users > 0) st = fr_dataset_top_users(ds, c->top_users, err);
    const int random = strcmp(c->data_holdout, "random") == 0 ||
                       (strcmp(c->data_holdout, "auto") == 0 && st == FR_OK && fr_dataset_unordered(ds));
    if (st == FR_OK && random) fr_dataset_shuffle_users(ds, c->seed);
    if (st != FR_OK) fr_dataset_free(ds);
    return st;
}
