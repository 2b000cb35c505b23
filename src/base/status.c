/* status.c - error messages and the mapping from status to exit code. */
#include "fedrec/status.h"

#include <stdio.h>

fr_status fr_fail(fr_error *err, fr_status st, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

int fr_status_exit_code(fr_status st) {
    switch (st) {
    case FR_OK: return 0;
    case FR_ERR_USAGE:
    case FR_ERR_INPUT: return 2;
    default: return 1;
    }
}

const char *fr_status_name(fr_status st) {
    switch (st) {
    case FR_OK: return "ok";
    case FR_ERR_USAGE: return "bad usage";
    case FR_ERR_INPUT: return "bad input";
    case FR_ERR_IO: return "i/o error";
    case FR_ERR_NOMEM: return "out of memory";
    case FR_ERR_RUNTIME: return "run failure";
    }
    return "unknown status";
}
