/*
 * fuzz_osmand.c - libFuzzer target for the OsmAnd / Traccar Client decoders: the bytes are
 * read as a form body (split, percent-decoded, decoded as one fix) and as a Traccar Client JSON
 * body; what decodes is judged by ingest_check as the server would. No crash, no leak, no
 * sanitizer report; nothing else is asserted.
 */
#include "fuzz_judge.h"
#include "proto_osmand.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new();
    if (a == NULL)
        return 0;
    char msg[256];
    struct osmand_param *p;
    struct ingest_msg m;
    long n = osmand_split_form(a, (const char *)data, size, &p, msg, sizeof(msg));
    if (n >= 0 && osmand_from_params(a, p, (size_t)n, FUZZ_NOW_MS, &m, msg, sizeof(msg)) == ERR_OK)
        fuzz_judge(a, &m);
    if (osmand_parse_json(a, (const char *)data, size, 100, &m, msg, sizeof(msg)) == ERR_OK)
        fuzz_judge(a, &m);
    arena_free(a);
    return 0;
}
