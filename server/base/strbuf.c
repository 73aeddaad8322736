/*
 * strbuf.c - the capped growable buffer of strbuf.h.
 */
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void strbuf_free(struct strbuf *b)
{
    size_t max = b->max;
    free(b->p);
    strbuf_init(b, max);
}

void strbuf_truncate(struct strbuf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
    if (b->p != NULL)
        b->p[b->len] = '\0';
    b->err = ERR_OK;
}

/* Makes room for n more bytes (plus the NUL). ERR_OK, or the sticky failure. */
static enum err strbuf_reserve(struct strbuf *b, size_t n)
{
    if (b->err != ERR_OK)
        return b->err;
    if (n > SIZE_MAX - 1 - b->len || (b->max != 0 && b->len + n > b->max)) {
        b->err = ERR_TOO_LARGE;
        return b->err;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return ERR_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *grown = realloc(b->p, cap);
    if (grown == NULL) {
        b->err = ERR_INTERNAL;
        return b->err;
    }
    b->p = grown;
    b->cap = cap;
    return ERR_OK;
}

void strbuf_add(struct strbuf *b, const void *bytes, size_t n)
{
    if (strbuf_reserve(b, n) != ERR_OK)
        return;
    if (n > 0)
        memcpy(b->p + b->len, bytes, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void strbuf_adds(struct strbuf *b, const char *s)
{
    strbuf_add(b, s, strlen(s));
}

void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        if (b->err == ERR_OK)
            b->err = ERR_INTERNAL;
        return;
    }
    if (strbuf_reserve(b, (size_t)n) != ERR_OK)
        return;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

enum err strbuf_error(const struct strbuf *b)
{
    return b->err;
}

char *strbuf_take(struct strbuf *b)
{
    char *p = NULL;
    if (b->err == ERR_OK && strbuf_reserve(b, 0) == ERR_OK) {
        p = b->p;
        p[b->len] = '\0';
        b->p = NULL;
    }
    strbuf_free(b);
    return p;
}
