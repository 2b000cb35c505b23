/* train.h - a whole experiment: data from the configuration, training with the chosen
 * algorithm, evaluation, and the run directory (history.jsonl, final.json,
 * model.safetensors). The command line is a thin layer over these calls.
 */
#ifndef FEDREC_TRAIN_H
#define FEDREC_TRAIN_H

#include <cJSON.h>
#include "fedrec/config.h"
#include "fedrec/dataset.h"
#include "fedrec/status.h"

typedef struct fr_train_opts {
    const char *out_dir;  /* the run directory; created when missing */
    int threads;          /* 0: OpenMP's default */
    int progress;         /* 1: a progress line on stderr */
} fr_train_opts;

/* The experiment's data: the built-in synthetic set when data.path is "" or
 * "synthetic", else the file or directory in data.path, limited to the first
 * data.max_clients users or to the data.top_users most active ones
 * (fr_dataset_top_users; setting both is FR_ERR_USAGE). FR_ERR_INPUT/FR_ERR_USAGE with
 * a FILE:LINE message on bad data. */
fr_status fr_experiment_data(const fr_config *c, fr_dataset *ds, fr_error *err);

/* Trains as configured and writes the run directory. Nothing is written when the data
 * or the configuration is bad. *final_out (when not NULL) receives final.json's object. */
fr_status fr_train_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                       fr_error *err);

/* Re-evaluates a checkpoint on the test users of its own split of data_path ("" to use
 * the path recorded in the checkpoint) and returns {"test": {...}} as in final.json. */
fr_status fr_eval_checkpoint(const char *model_path, const char *data_path,
                             const char *format, int threads, cJSON **result, fr_error *err);

#endif
