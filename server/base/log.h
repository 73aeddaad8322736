/*
 * log.h - one-line log records on stderr: local time, level, request id, message.
 *
 * Thread-safe (one write(2) per record). The level threshold is process-wide.
 */
#ifndef PATROL_LOG_H
#define PATROL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *s);

void log_set_level(enum log_level level);

/* Writes a record; rid may be NULL (no request). */
void log_msg(enum log_level level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)

#endif
