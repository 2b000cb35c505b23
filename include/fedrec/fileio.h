/* fileio.h - whole-file reads and atomic writes.
 *
 * fr_write_atomic writes to "PATH.tmp.PID", flushes it to disk, then renames it over
 * PATH, so a reader sees the old file or the new one, never half of one, and a failed
 * write leaves nothing behind.
 */
#ifndef FEDREC_FILEIO_H
#define FEDREC_FILEIO_H

#include <stddef.h>
#include <stdio.h>
#include "fedrec/status.h"

/* Reads PATH whole into a NUL-terminated buffer the caller frees with fr_free.
 * FR_ERR_INPUT "PATH: cannot open: reason" when missing or unreadable. */
fr_status fr_read_file(const char *path, char **data, size_t *len, fr_error *err);

/* Writes LEN bytes atomically (see above). FR_ERR_IO on failure. */
fr_status fr_write_atomic(const char *path, const void *data, size_t len, fr_error *err);

/* Streams a file atomically: fr_atomic_open gives a FILE* to a temporary; commit flushes,
 * fsyncs and renames; abort closes and deletes the temporary. */
typedef struct fr_atomic_file {
    FILE *f;
    char path[1024];
    char tmp[1100];
} fr_atomic_file;
fr_status fr_atomic_open(fr_atomic_file *af, const char *path, fr_error *err);
fr_status fr_atomic_commit(fr_atomic_file *af, fr_error *err);
void fr_atomic_abort(fr_atomic_file *af);

/* mkdir -p; FR_ERR_IO naming the path on failure. */
fr_status fr_mkdirs(const char *path, fr_error *err);

int fr_is_dir(const char *path);
int fr_file_exists(const char *path);

#endif
