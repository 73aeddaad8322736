/*
 * fuzz_batch_json.c - libFuzzer target for batch_parse_json (with a small fix limit so the
 * limit path is reached too); what decodes is judged by ingest_check in each batch CRS. No
 * crash, no leak, no sanitizer report; nothing else is asserted.
 */
#include "fuzz_judge.h"
#include "proto_batch.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new();
    if (a == NULL)
        return 0;
    char msg[256];
    struct ingest_msg m;
    if (batch_parse_json(a, (const char *)data, size, 64, &m, msg, sizeof(msg)) == ERR_OK)
        fuzz_judge(a, &m);
    arena_free(a);
    return 0;
}
