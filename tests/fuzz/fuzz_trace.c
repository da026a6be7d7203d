/* fuzz_trace.c — libFuzzer target: arbitrary bytes as an availability trace ([faults] trace,
 * actors/trace.h) for a run of 8 clients. Parsing must return a status (never crash, leak or
 * read past len); a trace that parses must answer every lookup with available ∈ {0, 1} and
 * 0 < speed ≤ 1 for clients in range only, and an empty trace lists nothing; a refused one
 * must say why. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actors/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copied into an exact-size buffer so ASan catches any read past len. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    fp_error err;
    fault_trace_t *t = fault_trace_parse(text, size, "fuzz", 8, &err);
    if (t) {
        size_t listed = 0;
        for (uint32_t k = 0; k < 9; k++)
            for (uint32_t r = 0; r < 40; r++) {
                bool a = false;
                double s = 0;
                if (fault_trace_lookup(t, r, k, &a, &s)) {
                    assert(k < 8 && s > 0 && s <= 1 && (a == true || a == false));
                    listed++;
                }
            }
        assert(listed == 0 || fault_trace_rows(t) > 0);
        fault_trace_destroy(&t);
    } else {
        assert(err.status != FP_OK && err.msg[0]);
    }
    free(text);
    return 0;
}
