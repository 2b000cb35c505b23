/* alloc.h - the one allocation wrapper and its policy.
 *
 * Policy: an allocation that fails returns NULL; the caller frees what it holds and
 * returns FR_ERR_NOMEM (fr_nomem() writes the message). Nothing aborts. Sizes are
 * checked for overflow (count * size), so a corrupt header cannot wrap a size.
 * Buffers for numeric arrays are 64-byte aligned and freed with fr_free.
 */
#ifndef FEDREC_ALLOC_H
#define FEDREC_ALLOC_H

#include <stddef.h>
#include "fedrec/status.h"

void *fr_alloc(size_t count, size_t size);   /* uninitialised, 64-byte aligned */
void *fr_calloc(size_t count, size_t size);  /* zeroed, 64-byte aligned */
void *fr_realloc(void *p, size_t count, size_t size); /* not aligned beyond malloc's */
void fr_free(void *p);
char *fr_strdup(const char *s);

/* Writes "out of memory: WHAT (BYTES bytes)" and returns FR_ERR_NOMEM. */
fr_status fr_nomem(fr_error *err, const char *what, size_t bytes);

#endif
