/*
 * fuzz_gpx.c - libFuzzer target for gpx_parse (expat, DTDs refused, a small point limit so the
 * limit path is reached too); what decodes is judged by ingest_check. No crash, no leak, no
 * sanitizer report; nothing else is asserted.
 */
#include "fuzz_judge.h"
#include "proto_gpx.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new();
    if (a == NULL)
        return 0;
    char msg[256];
    struct ingest_msg m;
    if (gpx_parse(a, (const char *)data, size, 64, &m, msg, sizeof(msg)) == ERR_OK)
        fuzz_judge(a, &m);
    arena_free(a);
    return 0;
}
