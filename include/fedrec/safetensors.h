/* safetensors.h - checkpoints in the safetensors format (Hugging Face): an 8-byte
 * little-endian header length, a JSON header mapping each tensor name to
 * {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} plus a
 * "__metadata__" object of string values, then the raw little-endian tensor bytes.
 * Python reads these files with `safetensors.numpy.load_file` or by hand.
 * Leaves out: dtypes other than F32 (fedrec stores only float32 parameters).
 */
#ifndef FEDREC_SAFETENSORS_H
#define FEDREC_SAFETENSORS_H

#include <stdint.h>
#include <cJSON.h>
#include "fedrec/status.h"

#define FR_ST_MAX_DIMS 4

typedef struct fr_st_tensor {
    char name[128];
    int ndim;
    int64_t shape[FR_ST_MAX_DIMS];
    float *data;          /* owned by the fr_safetensors that holds it */
    int64_t numel;
} fr_st_tensor;

typedef struct fr_safetensors {
    int n;
    fr_st_tensor *tensors;  /* [n], in header order */
    cJSON *metadata;        /* object of string values, or NULL */
} fr_safetensors;

/* Writes tensors (data borrowed, not copied) and metadata (an object whose values are
 * strings; may be NULL) atomically to path. Tensor names must be unique. */
fr_status fr_safetensors_write(const char *path, const fr_st_tensor *tensors, int n,
                               const cJSON *metadata, fr_error *err);

/* Reads a file; on failure st is empty and err says what was wrong
 * ("FILE: header: ..."). */
fr_status fr_safetensors_read(const char *path, fr_safetensors *st, fr_error *err);

/* The tensor named name, or NULL. */
const fr_st_tensor *fr_safetensors_get(const fr_safetensors *st, const char *name);

/* The metadata string under key, or NULL. */
const char *fr_safetensors_meta(const fr_safetensors *st, const char *key);

void fr_safetensors_free(fr_safetensors *st);

#endif
