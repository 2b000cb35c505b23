/* loader_internal.h - text-scanning helpers shared by loader.c and movielens_meta.c.
 *
 * Private to src/data: not installed, not part of the public API. The helpers read a
 * whole file, walk it line by line (1-based physical line numbers, a trailing '\r'
 * stripped), split a line into fields, parse numbers without sscanf, and format the
 * "FILE:LINE: what is wrong" messages every loader error uses.
 */
#ifndef FEDREC_DATA_LOADER_INTERNAL_H
#define FEDREC_DATA_LOADER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fedrec/dataset.h"

/* A field of a line: the bytes [s, e), not NUL-terminated. */
typedef struct fr_span {
    const char *s, *e;
} fr_span;

/* Walks a buffer line by line; lineno is the 1-based number of the line last returned. */
typedef struct fr_line_iter {
    const char *p, *end;
    int64_t lineno;
} fr_line_iter;

void fr_line_iter_init(fr_line_iter *it, const char *buf, size_t len);
/* Next line without its '\n' and trailing '\r'; 0 at the end of the buffer. */
int fr_line_iter_next(fr_line_iter *it, fr_span *line);
/* 1 when the line holds only spaces and tabs (or nothing). */
int fr_span_blank(fr_span line);
/* Strips spaces and tabs at both ends. */
fr_span fr_span_trim(fr_span f);

/* Splits LINE at every occurrence of DELIM (DLEN bytes); stores up to MAX fields and
 * returns how many there are in all. */
int fr_split(fr_span line, const char *delim, size_t dlen, fr_span *fields, int max);

/* Splits LINE at runs of spaces and tabs (leading and trailing blanks make no field);
 * stores up to MAX fields and returns how many there are in all. */
int fr_split_blanks(fr_span line, fr_span *fields, int max);

/* Sets "PATH:LINE: message" and returns FR_ERR_INPUT. */
fr_status fr_loader_fail(fr_error *err, const char *path, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses a non-negative integer id; messages name the field. */
fr_status fr_parse_id(fr_span f, const char *field, const char *path, int64_t line,
                      int64_t *out, fr_error *err);
/* Parses an integer in [lo, hi]. */
fr_status fr_parse_int(fr_span f, const char *field, const char *path, int64_t line,
                       int64_t lo, int64_t hi, int64_t *out, fr_error *err);
/* Parses a finite real number in [lo, hi]. */
fr_status fr_parse_real(fr_span f, const char *field, const char *path, int64_t line,
                        double lo, double hi, double *out, fr_error *err);

/* Copies a Latin-1 field into a new NUL-terminated UTF-8 string (every byte >= 0x80
 * becomes two bytes). NULL when out of memory. */
char *fr_latin1_to_utf8(fr_span f);

/* Metadata beside the ratings file (movielens_meta.c). Missing files are not an
 * error; malformed ones are. Rows for ids absent from ds are ignored. */
fr_status fr_meta_load_ml1m(fr_dataset *ds, const char *dir, fr_error *err);
fr_status fr_meta_load_ml100k(fr_dataset *ds, const char *dir, fr_error *err);

#endif
