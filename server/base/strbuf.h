/*
 * strbuf.h - the one growable byte buffer of patrold, with a size cap (as curl's dynbuf): SQL
 * array literals, COPY data, JSON text, stream buffers, request bodies.
 *
 * Failure is sticky: after an allocation fails or the cap would be passed, every later append
 * does nothing and strbuf_error says why, so a builder can append unchecked and test once at
 * the end. The content is always NUL-terminated (when any was added). Not thread-safe.
 */
#ifndef PATROL_STRBUF_H
#define PATROL_STRBUF_H

#include "err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
    char *p;      /* the bytes, NUL-terminated; NULL until something is added */
    size_t len;   /* bytes used, without the NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* len may not exceed this; 0 = no cap */
    enum err err; /* ERR_OK, ERR_INTERNAL (out of memory) or ERR_TOO_LARGE (over max) */
};

/* An empty buffer holding at most max bytes (0: no cap). Nothing is allocated yet. */
void strbuf_init(struct strbuf *b, size_t max);

/* Frees the bytes and empties b (it can be used again). strbuf_free of an empty b is a no-op. */
void strbuf_free(struct strbuf *b);

/* Cuts b back to its first len bytes (len <= b->len) and clears a failure: to drop what was
 * sent, or to undo an append that failed. */
void strbuf_truncate(struct strbuf *b, size_t len);

/* Appends n bytes / a string / formatted text. */
void strbuf_add(struct strbuf *b, const void *bytes, size_t n);
void strbuf_adds(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* ERR_OK, or why an append was refused. */
enum err strbuf_error(const struct strbuf *b);

/*
 * Hands the bytes to the caller (new: free with free; "" allocated when b is empty) and
 * empties b. NULL when b has failed or memory ran out; b is emptied either way.
 */
char *strbuf_take(struct strbuf *b);

#endif
