/* train_internal.h - the per-model experiment drivers behind fr_train_run and
 * fr_eval_checkpoint (train.c picks one by model.model). */
#ifndef FEDREC_TRAIN_INTERNAL_H
#define FEDREC_TRAIN_INTERNAL_H

#include "fedrec/train.h"

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

#endif
