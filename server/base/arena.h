/*
 * arena.h - a bump allocator for memory that lives exactly as long as one request.
 *
 * Allocations are never freed one by one; arena_free releases everything at once. Blocks
 * grow geometrically; an allocation larger than a block gets a block of its own. Not
 * thread-safe: one arena belongs to one request.
 */
#ifndef PATROL_ARENA_H
#define PATROL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/* New empty arena, or NULL when out of memory. Free with arena_free. */
struct arena *arena_new(void);

/* Releases the arena and everything allocated from it. arena_free(NULL) is a no-op. */
void arena_free(struct arena *a);

/* n bytes aligned for any type, or NULL when out of memory (or n overflows). */
void *arena_alloc(struct arena *a, size_t n);

/* Zeroed array of n elements of size sz, or NULL. */
void *arena_calloc(struct arena *a, size_t n, size_t sz);

/* Copy of s (NULL gives NULL) / of its first n bytes, NUL-terminated. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* Formatted string in the arena, or NULL. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Bytes handed out so far (for limits and tests). */
size_t arena_used(const struct arena *a);

#endif
