/* fuzz_messages.c — libFuzzer target for the wire decoder: arbitrary bytes must either be
 * refused with a reason (leaving nothing allocated, and answerable with an ERROR that encodes)
 * or decode to a message that encodes, decodes again to an equal message, and re-encodes to
 * the same bytes. Limits are small so the fuzzer reaches them. Build: make fuzz; seeds in
 * tests/fuzz/seeds/fuzz_messages. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages/protocol.h"

static void die(const char *what, const fp_error *err)
{
    fprintf(stderr, "fuzz_messages: %s: %s %s\n", what, fp_status_name(err->status), err->msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msg_limits lim = {
        .max_message_bytes = 1 << 20,
        .max_tensor_elements = 1 << 16,
        .max_string = 4096,
        .max_array = 4096,
        .max_objects = 1 << 16,
    };
    msg_t a, b;
    fp_error err = {0};
    fp_status st = msg_decode(data, size, &lim, &a, &err);
    if (st) {
        if (st != FP_EFORMAT && st != FP_ELIMIT && st != FP_EVERSION && st != FP_ENUMERIC)
            die("unexpected status from decode", &err);
        if (err.msg[0] == 0 || a.type != MSG_NONE)
            die("refusal without a reason or with a half-built message", &err);
        /* The ERROR answering any refused input must be buildable and sendable. */
        msg_t reply;
        fp_error why = err;
        uint8_t *out = NULL;
        size_t out_len = 0;
        if (msg_error_for_bytes(&reply, "fuzz", data, size, &why, &lim, &err) ||
            msg_encode(&reply, &lim, &out, &out_len, &err))
            die("cannot answer a refused input with ERROR", &err);
        free(out);
        msg_clear(&reply);
        return 0;
    }
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    if (msg_encode(&a, &lim, &buf, &len, &err))
        die("a decoded message does not encode", &err);
    if (msg_decode(buf, len, &lim, &b, &err))
        die("our own encoding does not decode", &err);
    if (!msg_equal(&a, &b)) {
        err.status = FP_OK;
        snprintf(err.msg, sizeof err.msg, "type %s", msg_type_name(a.type));
        die("round trip changed the message", &err);
    }
    if (msg_encode(&b, &lim, &buf2, &len2, &err))
        die("second encode failed", &err);
    if (len != len2 || memcmp(buf, buf2, len) != 0) {
        snprintf(err.msg, sizeof err.msg, "%zu vs %zu bytes", len, len2);
        die("encoding is not canonical", &err);
    }
    free(buf);
    free(buf2);
    msg_clear(&a);
    msg_clear(&b);
    return 0;
}
