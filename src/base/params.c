/* params.c - the offset table of a flat parameter buffer (see params.h). */
#include "fedrec/params.h"

#include <stdio.h>
#include <string.h>

int fr_layout_add(fr_param_layout *l, const char *name, int64_t rows, int64_t cols,
                  fr_scope scope, int row_sparse) {
    if (l->n >= FR_MAX_TENSORS) return -1;
    fr_tensor_info *t = &l->t[l->n];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = l->size;
    t->rows = rows;
    t->cols = cols;
    t->scope = scope;
    t->row_sparse = row_sparse;
    l->size += rows * cols;
    return l->n++;
}

int fr_layout_find(const fr_param_layout *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->t[i].name, name) == 0) return i;
    return -1;
}
