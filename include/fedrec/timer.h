/* timer.h - wall-clock seconds for the timing fields of histories and benchmarks
 * (CLOCK_MONOTONIC; never part of a result that must be reproducible). */
#ifndef FEDREC_TIMER_H
#define FEDREC_TIMER_H

double fr_now_seconds(void);

#endif
