/* train_internal.h - the per-model experiment drivers behind fr_train_run and
 * fr_eval_checkpoint (train.c picks one by model.model). */
#ifndef FEDREC_TRAIN_INTERNAL_H
#define FEDREC_TRAIN_INTERNAL_H

#include <stdio.h>
#include "fedrec/history.h"
#include "fedrec/train.h"

/* dst = DIR/NAME, a file of the run directory. */
static inline void fr_run_path(char *dst, size_t n, const char *dir, const char *name) {
    snprintf(dst, n, "%s/%s", dir, name);
}

/* The end every driver shares: commits the history when st is FR_OK (aborts it
 * otherwise), adds "wall_seconds" (since t_start) and "config" to final, writes
 * DIR/final.json, and hands final to *final_out (or frees it). Returns the status. */
fr_status fr_run_finish(fr_status st, const char *out_dir, fr_history *h, cJSON *final,
                        const fr_config *c, double t_start, cJSON **final_out, fr_error *err);

fr_status fr_train_mf_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                          fr_error *err);
fr_status fr_eval_mf_checkpoint(const char *model_path, const char *data_path,
                                const char *format, int threads, cJSON **result,
                                fr_error *err);
fr_status fr_train_sasrec_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                              fr_error *err);
fr_status fr_eval_sasrec_checkpoint(const char *model_path, const char *data_path,
                                    const char *format, int threads, cJSON **result,
                                    fr_error *err);
fr_status fr_train_mmrec_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                             fr_error *err);
fr_status fr_train_ncf_run(const fr_config *c, const fr_train_opts *o, cJSON **final_out,
                           fr_error *err);

#endif
