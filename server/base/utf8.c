/*
 * utf8.c - UTF-8 well-formedness (see utf8.h).
 */
#include "utf8.h"

#include <string.h>

/* Length of the well-formed character at s (at most n bytes available), or 0 when none. */
static size_t char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* <= U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    while (n > 0) {
        size_t k = char_len(p, n);
        if (k == 0)
            return false;
        p += k;
        n -= k;
    }
    return true;
}

/* Is s[0..n) the start of a character that the end of the string cut off? */
static bool cut_short(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (c < 0xC2 || c > 0xF4 || n >= need)
        return false;
    for (size_t i = 1; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return false;
    return true;
}

char *utf8_repair(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s);
    while (n > 0) {
        size_t k = char_len(p, n);
        if (k > 0) {
            p += k;
            n -= k;
            continue;
        }
        if (cut_short(p, n)) {
            *p = '\0';
            break;
        }
        *p++ = '?';
        n--;
    }
    return s;
}
