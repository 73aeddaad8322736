/*
 * utf8.h - keeping text valid UTF-8 before it goes into JSON: a message cut at a byte limit
 * can end inside a character, and an echoed query argument can hold any byte. jansson refuses
 * invalid UTF-8 outright, which would turn a 400 with a reason into a body saying nothing.
 */
#ifndef PATROL_UTF8_H
#define PATROL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Is s[0..n) well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF)? */
bool utf8_valid(const char *s, size_t n);

/*
 * Makes the NUL-terminated s valid UTF-8 in place: a character cut off at the end is dropped,
 * every other byte that starts no well-formed character becomes '?'. Returns s.
 */
char *utf8_repair(char *s);

#endif
