/*
 * proto_gpx.c - GPX track points through expat's streaming callbacks (see proto_gpx.h). The
 * element stack keeps one kind per level so only gpx/trk/trkseg/trkpt is read; text is
 * collected only inside the few trkpt children we use, into a small fixed buffer.
 *
 * Not here: judging fixes (ingest_fix.c), storing them (ingest.c).
 */
#include "proto_gpx.h"

#include "arena.h"
#include "parse.h"

#include <expat.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPX_MAX_DEPTH 64 /* deeper elements are counted, not tracked (no trkpt lives there) */
#define GPX_TEXT_MAX  96 /* longest leaf text we read (a time with nanoseconds fits) */

enum gpx_kind {
    K_OTHER,
    K_GPX,
    K_TRK,
    K_TRKSEG,
    K_TRKPT,
    K_TIME,
    K_ELE,
    K_HDOP,
    K_SPEED,
    K_COURSE,
    K_FIX
};

struct gpx_state {
    XML_Parser p;
    size_t max;
    struct ingest_fix *fixes; /* malloc'd while parsing, copied into the arena at the end */
    size_t n, cap;
    struct ingest_fix cur;
    int depth;
    enum gpx_kind stack[GPX_MAX_DEPTH];
    char text[GPX_TEXT_MAX + 1];
    size_t tlen;
    int overflow;
    enum err e;
    char *msg;
    size_t msglen;
};

__attribute__((format(printf, 3, 4))) static void fail(struct gpx_state *st, enum err e,
                                                       const char *fmt, ...)
{
    va_list ap;
    if (st->e != ERR_OK)
        return;
    st->e = e;
    va_start(ap, fmt);
    int n = vsnprintf(st->msg, st->msglen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < st->msglen)
        snprintf(st->msg + n, st->msglen - (size_t)n, " (line %lu, column %lu)",
                 (unsigned long)XML_GetCurrentLineNumber(st->p),
                 (unsigned long)XML_GetCurrentColumnNumber(st->p) + 1);
    XML_StopParser(st->p, XML_FALSE);
}

/* The local name of a possibly prefixed element or attribute name. */
static const char *local(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

static enum gpx_kind leaf_kind(const char *name)
{
    static const struct {
        const char *name;
        enum gpx_kind kind;
    } leaves[] = { { "time", K_TIME },   { "ele", K_ELE },       { "hdop", K_HDOP },
                   { "speed", K_SPEED }, { "course", K_COURSE }, { "fix", K_FIX } };
    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
        if (strcmp(name, leaves[i].name) == 0)
            return leaves[i].kind;
    return K_OTHER;
}

static void begin_trkpt(struct gpx_state *st, const char **attrs)
{
    const char *lat = NULL, *lon = NULL;
    if (st->n >= st->max) {
        fail(st, ERR_TOO_LARGE, "more than %zu track points in one upload", st->max);
        return;
    }
    for (size_t i = 0; attrs[i] != NULL; i += 2) {
        if (strcmp(local(attrs[i]), "lat") == 0)
            lat = attrs[i + 1];
        else if (strcmp(local(attrs[i]), "lon") == 0)
            lon = attrs[i + 1];
    }
    ingest_fix_init(&st->cur);
    if (lat == NULL || lon == NULL || parse_double(lat, &st->cur.lat) != ERR_OK ||
        parse_double(lon, &st->cur.lon) != ERR_OK)
        fail(st, ERR_INVALID_ARGUMENT,
             "trkpt %zu needs numeric lat and lon attributes (decimal degrees)", st->n);
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct gpx_state *st = data;
    const char *ln = local(name);
    enum gpx_kind parent = st->depth == 0               ? K_OTHER
                           : st->depth <= GPX_MAX_DEPTH ? st->stack[st->depth - 1]
                                                        : K_OTHER;
    enum gpx_kind kind = K_OTHER;
    if (st->depth == 0) {
        if (strcmp(ln, "gpx") != 0) {
            fail(st, ERR_INVALID_ARGUMENT, "the root element is <%s>, not <gpx>", name);
            return;
        }
        kind = K_GPX;
    } else if (parent == K_GPX && strcmp(ln, "trk") == 0) {
        kind = K_TRK;
    } else if (parent == K_TRK && strcmp(ln, "trkseg") == 0) {
        kind = K_TRKSEG;
    } else if (parent == K_TRKSEG && strcmp(ln, "trkpt") == 0) {
        kind = K_TRKPT;
        begin_trkpt(st, attrs);
    } else if (parent == K_TRKPT) {
        kind = leaf_kind(ln);
        st->tlen = 0;
        st->overflow = 0;
    }
    if (st->depth < GPX_MAX_DEPTH)
        st->stack[st->depth] = kind;
    st->depth++;
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
    struct gpx_state *st = data;
    if (st->depth == 0 || st->depth > GPX_MAX_DEPTH || st->stack[st->depth - 1] < K_TIME)
        return;
    if (st->tlen + (size_t)len > GPX_TEXT_MAX) {
        st->overflow = 1;
        return;
    }
    memcpy(st->text + st->tlen, s, (size_t)len);
    st->tlen += (size_t)len;
}

/* The collected text without surrounding white space (in place). */
static char *trimmed(struct gpx_state *st)
{
    char *s = st->text;
    size_t n = st->tlen;
    while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
        n--;
    s[n] = '\0';
    while (*s != '\0' && strchr(" \t\r\n", *s) != NULL)
        s++;
    return s;
}

static void end_leaf(struct gpx_state *st, enum gpx_kind kind)
{
    static const char *const names[] = {
        [K_TIME] = "time",   [K_ELE] = "ele",       [K_HDOP] = "hdop",
        [K_SPEED] = "speed", [K_COURSE] = "course", [K_FIX] = "fix"
    };
    char *s = trimmed(st);
    double v;
    int ok = !st->overflow;
    if (ok && kind == K_TIME) {
        ok = ingest_parse_time(s, 0, INGEST_ZONE_UTC, &st->cur.t_ms) == 0;
    } else if (ok && kind == K_FIX) {
        st->cur.valid = strcmp(s, "none") == 0 ? 0 : 1;
    } else if (ok) {
        ok = parse_double(s, &v) == ERR_OK;
        if (ok && kind == K_ELE)
            st->cur.altitude_m = v;
        else if (ok && kind == K_HDOP)
            st->cur.hdop = v;
        else if (ok && kind == K_SPEED)
            st->cur.speed_kmh = v * 3.6; /* GPX 1.0: metres per second */
        else if (ok && kind == K_COURSE)
            st->cur.heading = v;
    }
    if (!ok)
        fail(st, ERR_INVALID_ARGUMENT, "trkpt %zu: <%s> is not a valid %s", st->n, names[kind],
             kind == K_TIME ? "ISO 8601 time" : "number");
}

static void end_trkpt(struct gpx_state *st)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        struct ingest_fix *grown = realloc(st->fixes, cap * sizeof(*grown));
        if (grown == NULL) {
            fail(st, ERR_INTERNAL, "out of memory");
            return;
        }
        st->fixes = grown;
        st->cap = cap;
    }
    st->fixes[st->n++] = st->cur;
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
    struct gpx_state *st = data;
    (void)name;
    st->depth--;
    if (st->depth >= GPX_MAX_DEPTH || st->e != ERR_OK)
        return;
    enum gpx_kind kind = st->stack[st->depth];
    if (kind >= K_TIME)
        end_leaf(st, kind);
    else if (kind == K_TRKPT)
        end_trkpt(st);
}

static void XMLCALL on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    struct gpx_state *st = data;
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(st, ERR_INVALID_ARGUMENT, "a document type declaration (DTD) is not accepted in GPX");
}

static void XMLCALL on_entity(void *data, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_length, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    struct gpx_state *st = data;
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_length;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    fail(st, ERR_INVALID_ARGUMENT, "entity declarations are not accepted in GPX");
}

enum err gpx_parse(struct arena *a, const char *body, size_t len, size_t max_points,
                   struct ingest_msg *out, char *msg, size_t msglen)
{
    struct gpx_state st = { .max = max_points, .e = ERR_OK, .msg = msg, .msglen = msglen };
    memset(out, 0, sizeof(*out));
    out->crs = CRS_WGS84;
    if (len > INT_MAX) {
        snprintf(msg, msglen, "the GPX document is too large");
        return ERR_TOO_LARGE;
    }
    st.p = XML_ParserCreate(NULL);
    if (st.p == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    XML_SetUserData(st.p, &st);
    XML_SetElementHandler(st.p, on_start, on_end);
    XML_SetCharacterDataHandler(st.p, on_text);
    XML_SetStartDoctypeDeclHandler(st.p, on_doctype);
    XML_SetEntityDeclHandler(st.p, on_entity);
    XML_SetParamEntityParsing(st.p, XML_PARAM_ENTITY_PARSING_NEVER);

    enum XML_Status rc = XML_Parse(st.p, body, (int)len, 1);
    if (rc != XML_STATUS_OK && st.e == ERR_OK) {
        st.e = ERR_INVALID_ARGUMENT;
        snprintf(msg, msglen, "malformed XML at line %lu, column %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(st.p),
                 (unsigned long)XML_GetCurrentColumnNumber(st.p) + 1,
                 XML_ErrorString(XML_GetErrorCode(st.p)));
    }
    if (st.e == ERR_OK && st.n == 0) {
        st.e = ERR_INVALID_ARGUMENT;
        snprintf(msg, msglen, "the GPX document has no track points (gpx/trk/trkseg/trkpt)");
    }
    if (st.e == ERR_OK) {
        out->fixes = arena_calloc(a, st.n, sizeof(*out->fixes));
        if (out->fixes == NULL) {
            st.e = ERR_INTERNAL;
            snprintf(msg, msglen, "out of memory");
        } else {
            memcpy(out->fixes, st.fixes, st.n * sizeof(*out->fixes));
            out->n = st.n;
        }
    }
    XML_ParserFree(st.p);
    free(st.fixes);
    return st.e;
}
