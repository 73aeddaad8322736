/*
 * fuzz_layerdef.c - libFuzzer target for layerdef_check: the bytes are parsed by jansson as
 * the server parses a request body, then checked as the properties of every layer in every
 * write mode, with and without a prefix. Oracles:
 *   - the result is 0 or -1; -1 comes with a non-empty message, 0 with the class flag clear;
 *   - create and replace give the same answer and message (both replace the whole feature);
 *   - what create accepts, patch accepts (a patch only relaxes: missing members, nulls);
 *   - a prefix changes nothing but the message, which names the member with the prefix;
 *   - every member of an accepted object has SQL text that reads back as the value.
 * Short inputs are also fed as strings to the scalar validators, with their own oracles.
 */
#include "err.h"
#include "layerdef.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_layerdef: %s: ", #cond);                                         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * layerdef_check read as these checks were written: 0 or -1, and *unproc when the refusal is
 * a broken rule (ERR_UNPROCESSABLE, 422) rather than a type error (ERR_INVALID_ARGUMENT, 400).
 * No other code may come back.
 */
static int check_rc(const struct layer_def *l, json_t *props, enum prop_mode mode,
                    const char *prefix, char *msg, size_t msglen, bool *unproc)
{
    enum err e = layerdef_check(l, props, mode, prefix, msg, msglen);
    if (e != ERR_OK && e != ERR_INVALID_ARGUMENT && e != ERR_UNPROCESSABLE) {
        fprintf(stderr, "layerdef_check returned %s\n", err_slug(e));
        abort();
    }
    *unproc = e == ERR_UNPROCESSABLE;
    return e == ERR_OK ? 0 : -1;
}

struct outcome {
    int rc;
    bool unproc;
    char msg[512];
};

static void run(const struct layer_def *l, json_t *j, enum prop_mode mode, const char *prefix,
                struct outcome *o)
{
    memset(o->msg, 0x5a, sizeof(o->msg));
    o->msg[0] = '\0';
    o->unproc = true;
    o->rc = check_rc(l, j, mode, prefix, o->msg, sizeof(o->msg), &o->unproc);
    CHECK(o->rc == 0 || o->rc == -1, "%s: rc %d", l->id, o->rc);
    CHECK(memchr(o->msg, '\0', sizeof(o->msg)) != NULL, "%s: message not terminated", l->id);
    if (o->rc == 0)
        CHECK(!o->unproc, "%s: accepted with the 422 flag set", l->id);
    else
        CHECK(o->msg[0] != '\0', "%s: refused without a message", l->id);
}

/* Every member of an accepted object converts to SQL text that means the same value. */
static void check_sql(const struct layer_def *l, json_t *props)
{
    const char *key;
    json_t *v;
    json_object_foreach(props, key, v)
    {
        const struct prop_def *p = layerdef_prop(l, key);
        CHECK(p != NULL, "%s: accepted unknown member %s", l->id, key);
        CHECK(!(p->flags & PROP_READONLY), "%s: accepted read-only member %s", l->id, key);
        CHECK(layerdef_sql_cast(p) != NULL, "%s.%s: no cast", l->id, key);
        char *s = layerdef_sql_value(p, v);
        if (json_is_null(v)) {
            CHECK(s == NULL, "%s.%s: null as text", l->id, key);
            continue;
        }
        if (s == NULL)
            continue; /* out of memory */
        switch (p->type) {
        case PROP_INT:
            CHECK(strtoll(s, NULL, 10) == json_integer_value(v), "%s.%s: %s", l->id, key, s);
            break;
        case PROP_NUMBER: {
            double x = strtod(s, NULL);
            CHECK(isfinite(x) && x == json_number_value(v), "%s.%s: %s", l->id, key, s);
            break;
        }
        case PROP_BOOL:
            CHECK(strcmp(s, json_is_true(v) ? "true" : "false") == 0, "%s.%s: %s", l->id, key, s);
            break;
        case PROP_OBJECT:
        case PROP_ARRAY: {
            json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
            CHECK(back != NULL && json_equal(back, v), "%s.%s: %s", l->id, key, s);
            json_decref(back);
            break;
        }
        default:
            CHECK(strcmp(s, json_string_value(v)) == 0, "%s.%s: %s", l->id, key, s);
            break;
        }
        free(s);
    }
}

static void check_layer(const struct layer_def *l, json_t *j)
{
    struct outcome create, replace, patch, pre;
    run(l, j, PROP_CREATE, "", &create);
    run(l, j, PROP_REPLACE, "", &replace);
    run(l, j, PROP_PATCH, "", &patch);
    CHECK(create.rc == replace.rc && create.unproc == replace.unproc &&
              strcmp(create.msg, replace.msg) == 0,
          "%s: create [%d %s] and replace [%d %s] differ", l->id, create.rc, create.msg, replace.rc,
          replace.msg);
    CHECK(create.rc != 0 || patch.rc == 0, "%s: create accepts, patch refuses: %s", l->id,
          patch.msg);
    static const enum prop_mode modes[] = { PROP_CREATE, PROP_PATCH };
    for (size_t m = 0; m < 2; m++) {
        const struct outcome *plain = modes[m] == PROP_CREATE ? &create : &patch;
        run(l, j, modes[m], "features[12].", &pre);
        CHECK(pre.rc == plain->rc && pre.unproc == plain->unproc,
              "%s: a prefix changed the answer: [%s] vs [%s]", l->id, plain->msg, pre.msg);
        /* Every message names the member (or the object) with the prefix, unless cut off. */
        if (pre.rc != 0 && strlen(pre.msg) + 1 < sizeof(pre.msg))
            CHECK(strstr(pre.msg, "'features[12].") != NULL, "%s: prefix missing: %s", l->id,
                  pre.msg);
    }
    if (patch.rc == 0) /* what create accepts is a subset */
        check_sql(l, j);
}

static void check_validators(const uint8_t *data, size_t size)
{
    char s[64];
    if (size >= sizeof(s))
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t n = strlen(s);
    if (layerdef_valid_date(s))
        CHECK(n == 10 && s[4] == '-' && s[7] == '-', "date %s", s);
    int sec = -1;
    if (layerdef_valid_time(s, &sec))
        CHECK((n == 5 || n == 8) && sec >= 0 && sec < 86400, "time %s -> %d", s, sec);
    else
        CHECK(sec == -1, "time %s refused but set", s);
    if (layerdef_valid_mmdd(s))
        CHECK(n == 5 && s[2] == '-', "mmdd %s", s);
    if (layerdef_valid_timestamp(s)) {
        char date[11];
        memcpy(date, s, 10);
        date[10] = '\0';
        CHECK(n >= 20 && layerdef_valid_date(date), "timestamp %s", s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_validators(data, size);
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (j == NULL)
        return 0;
    for (size_t i = 0; i < layerdef_count; i++)
        check_layer(layerdef_all[i], j);
    check_layer(layerdef_find("patrol_points")->child, j);
    json_decref(j);
    return 0;
}
