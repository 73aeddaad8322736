/*
 * clock.h - the one place that reads the clocks and does deadline arithmetic: milliseconds of
 * the wall clock and the monotonic clock, and absolute deadlines for pthread_cond_timedwait
 * (CLOCK_REALTIME, the default clock of a condition variable).
 *
 * A clock that tests can replace is a struct clock: code that must be tested at a chosen
 * instant (the check-in engine near local midnight) takes one instead of calling
 * clock_wall_ms; clock_system() is the real one.
 */
#ifndef PATROL_CLOCK_H
#define PATROL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

/* Milliseconds of CLOCK_MONOTONIC (for durations; arbitrary origin). */
int64_t clock_mono_ms(void);

/* Seconds between two CLOCK_MONOTONIC readings (b - a). */
double clock_elapsed_s(const struct timespec *a, const struct timespec *b);

/* The CLOCK_REALTIME instant ms milliseconds from now (ms >= 0), normalised. */
struct timespec clock_deadline(long long ms);

/* A replaceable wall clock: now_ms(ctx) in ms since the epoch. */
struct clock {
    int64_t (*now_ms)(void *ctx);
    void *ctx;
};

/* The system's wall clock (clock_wall_ms). */
const struct clock *clock_system(void);

/* c's time now; c NULL is the system clock. */
int64_t clock_now_ms(const struct clock *c);

#endif
