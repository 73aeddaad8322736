/*
 * clock.c - clock readings and deadlines (see clock.h).
 */
#include "clock.h"

#include <stddef.h>

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double clock_elapsed_s(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

struct timespec clock_deadline(long long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (ms < 0)
        ms = 0;
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int64_t system_now(void *ctx)
{
    (void)ctx;
    return clock_wall_ms();
}

static const struct clock system_clock = { system_now, NULL };

const struct clock *clock_system(void)
{
    return &system_clock;
}

int64_t clock_now_ms(const struct clock *c)
{
    return c != NULL ? c->now_ms(c->ctx) : clock_wall_ms();
}
