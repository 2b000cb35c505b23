/* status.h - how every fedrec library call reports failure.
 *
 * Library functions return an fr_status and, on failure, fill an fr_error with one
 * line that names what was wrong, in the form "FILE:LINE: what is wrong" whenever the
 * failure is tied to an input file. Library code never prints and never exits; only
 * the command-line program turns a status into a message and an exit code:
 * FR_OK -> 0, FR_ERR_INPUT/FR_ERR_USAGE -> 2, anything else -> 1.
 */
#ifndef FEDREC_STATUS_H
#define FEDREC_STATUS_H

#include <stdarg.h>

typedef enum fr_status {
    FR_OK = 0,
    FR_ERR_USAGE,    /* bad option, bad configuration value */
    FR_ERR_INPUT,    /* bad input file: missing, malformed, out of range, empty */
    FR_ERR_IO,       /* a write or read that should have worked failed */
    FR_ERR_NOMEM,    /* an allocation failed */
    FR_ERR_RUNTIME,  /* anything else that stops a run (divergence, internal check) */
} fr_status;

#define FR_ERROR_MAX 1024

typedef struct fr_error {
    char msg[FR_ERROR_MAX]; /* one line, no trailing newline; "" when none */
} fr_error;

/* Sets err->msg (when err is not NULL) and returns st, so callers can write
 * `return fr_fail(err, FR_ERR_INPUT, "%s:%ld: rating '%s' is not a number", ...)`. */
fr_status fr_fail(fr_error *err, fr_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The exit code the command line uses for a status (0, 1 or 2). */
int fr_status_exit_code(fr_status st);

/* A short name for a status ("bad input", "out of memory", ...). */
const char *fr_status_name(fr_status st);

#endif
