/* timer.c - monotonic wall-clock seconds (see timer.h). */
#include "fedrec/timer.h"

#include <time.h>

double fr_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
