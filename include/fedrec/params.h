/* params.h - a model's parameters as one flat float buffer with an offset table.
 *
 * Each named tensor has an offset into the buffer, a shape [rows x cols] and a scope:
 *   FR_SCOPE_GLOBAL  aggregated by the server and sent to every client;
 *   FR_SCOPE_LOCAL   lives on the client only (a user embedding) and never travels;
 *   FR_SCOPE_FROZEN  pretrained, read but not trained.
 * A tensor marked row_sparse is indexed by item: a client reports the rows it touched
 * and sends only those. Gradients and optimizer moments share the same layout, so
 * averaging, clipping, checkpointing and the optimizer are each one loop.
 */
#ifndef FEDREC_PARAMS_H
#define FEDREC_PARAMS_H

#include <stdint.h>
#include "fedrec/status.h"

#define FR_MAX_TENSORS 96  /* SASRec with 4 blocks (52) and the mmrec head (18) */

typedef enum fr_scope { FR_SCOPE_GLOBAL, FR_SCOPE_LOCAL, FR_SCOPE_FROZEN } fr_scope;

typedef struct fr_tensor_info {
    char name[64];
    int64_t offset;   /* in floats from the start of the buffer */
    int64_t rows, cols;
    fr_scope scope;
    int row_sparse;   /* 1: rows are items; travels as touched rows only */
} fr_tensor_info;

typedef struct fr_param_layout {
    int n;
    fr_tensor_info t[FR_MAX_TENSORS];
    int64_t size;     /* total floats */
} fr_param_layout;

/* Appends a tensor and returns its index, or -1 when the table is full. */
int fr_layout_add(fr_param_layout *l, const char *name, int64_t rows, int64_t cols,
                  fr_scope scope, int row_sparse);

/* Index of the tensor named name, or -1. */
int fr_layout_find(const fr_param_layout *l, const char *name);

#endif
