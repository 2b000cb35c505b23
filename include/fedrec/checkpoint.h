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

/* train.init_from: starts a model from the tensors of another model.safetensors (a
 * SASRec checkpoint for mmrec, whose SASRec tensors have the same names), matched by
 * NAME:
 *   - a tensor of the file whose name is in L is copied into params; its shape must
 *     be L's [rows x cols] (a 1-D tensor of rows*cols values also fits a [1 x n] or
 *     [n x 1] tensor), else FR_ERR_INPUT
 *     "PATH: tensor 'NAME' is 100 x 32 in the file but 101 x 32 in the model";
 *   - a tensor of L the file lacks keeps its value in params (its initialisation);
 *   - a tensor of the file L lacks (optimizer moments, another model's head) is
 *     ignored.
 * *n_loaded (may be NULL) receives how many tensors of L were loaded, and loaded[L->n]
 * (may be NULL) 1 for each of them, 0 for the others. When no tensor of the file is in
 * L the call fails with FR_ERR_INPUT "PATH: none of its N tensors ('first', ...) is a
 * tensor of this model" (a file without tensors: "PATH: holds no tensors ..."). Every
 * shape is checked before anything is copied, so on failure params is as it was. A
 * missing or malformed file is FR_ERR_INPUT naming it (fr_safetensors_read). The file's
 * metadata (model, configuration) is not read. */
fr_status fr_checkpoint_init_from(const char *path, const fr_param_layout *L, float *params,
                                  uint8_t *loaded, int *n_loaded, fr_error *err);

#endif
