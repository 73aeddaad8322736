/*
 * log.c - stderr logging for patrold. Records look like
 *   2026-11-28T08:01:02.345+0800 INFO  [r3f2a-17] GET /healthz 200 0.2ms
 * Time is local (the server's configured zone, set through TZ at start).
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_threshold = LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };

int log_level_parse(const char *s)
{
    static const char *const names[] = { "debug", "info", "warn", "error" };
    for (int i = 0; i < 4; i++)
        if (s != NULL && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level level)
{
    atomic_store(&log_threshold, (int)level);
}

static int log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&log_threshold);
}

void log_msg(enum log_level level, const char *rid, const char *fmt, ...)
{
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;
    int w;

    if (!log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    w = snprintf(buf + n, sizeof(buf) - n, ".%03ld", (long)(tv.tv_usec / 1000));
    n += (size_t)w;
    n += strftime(buf + n, sizeof(buf) - n, "%z", &tm);
    w = snprintf(buf + n, sizeof(buf) - n, " %s [%s] ", level_names[level], rid ? rid : "-");
    n += (size_t)w;
    va_start(ap, fmt);
    w = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    va_end(ap);
    if (w < 0)
        w = 0;
    n += (size_t)w;
    if (n > sizeof(buf) - 2)
        n = sizeof(buf) - 2; /* truncated record: keep the newline */
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, n) < 0) {
        /* nowhere left to report it */
    }
}
