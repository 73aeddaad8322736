/*
 * fuzz_batch_protobuf.c - libFuzzer target for batch_parse_protobuf: the wire pre-count, the
 * budgeted protobuf-c unpack and the conversion to fixes, which ingest_check then judges. No
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
    if (batch_parse_protobuf(a, data, size, 64, &m, msg, sizeof(msg)) == ERR_OK)
        fuzz_judge(a, &m);
    arena_free(a);
    return 0;
}
