/* checkpoint.h - model.safetensors for every model: the parameter tensors by name, the
 * optimizer's moments, and in __metadata__ the configuration, round, seed, RNG and the
 * data's shape, so a run can be evaluated (and, later, resumed) from the file alone.
 */
#ifndef FEDREC_CHECKPOINT_H
#define FEDREC_CHECKPOINT_H

#include <stdint.h>
#include "fedrec/config.h"
#include "fedrec/dataset.h"
#include "fedrec/params.h"
#include "fedrec/safetensors.h"
#include "fedrec/status.h"

typedef struct fr_checkpoint_info {
    const char *model;          /* "mf", "sasrec", ... */
    const fr_config *config;
    int32_t round;              /* rounds or epochs done */
    const char *opt_name;       /* tensor prefix of the moments, e.g. "server_optimizer" */
    const float *opt_m, *opt_v; /* [layout size] or NULL */
    int64_t opt_steps;
    const fr_dataset *data;     /* its shape goes in the metadata */
} fr_checkpoint_info;

/* Writes params (layout L) and the info atomically to path. */
fr_status fr_checkpoint_write(const char *path, const fr_param_layout *L, const float *params,
                              const fr_checkpoint_info *info, fr_error *err);

/* Opens path, checks it is a fedrec checkpoint of model `model`, and reads its
 * configuration over *c. On success *ck is open (free with fr_safetensors_free). */
fr_status fr_checkpoint_open(const char *path, const char *model, fr_safetensors *ck,
                             fr_config *c, fr_error *err);

/* The model name a checkpoint records ("" when none); ck must be open. */
const char *fr_checkpoint_model(const fr_safetensors *ck);

/* Copies every tensor of L from ck into params; FR_ERR_INPUT naming the tensor when one
 * is missing or has the wrong size. */
fr_status fr_checkpoint_load_params(const fr_safetensors *ck, const char *path,
                                    const fr_param_layout *L, float *params, fr_error *err);

#endif
