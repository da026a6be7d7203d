/* fuzz_safetensors.c — libFuzzer target for the safetensors header parser and converters.
 * Any input must be either refused with an error or give tensors whose bytes all lie inside the
 * input; reading every value of every tensor lets AddressSanitizer check the second part. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so a read one byte past the input is caught. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    fp_error err = {0};
    st_file_t *f = st_open_memory(copy, size, &err);
    if (!f) {
        if (err.status == 0 || err.msg[0] == '\0')
            abort(); /* a refusal must always say why */
        free(copy);
        return 0;
    }
    volatile float sink = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        if (st_find(f, t->name) != t)
            abort(); /* lookup must find every listed tensor (names are unique) */
        const float *v;
        float *owned;
        if (st_get_f32(f, t->name, t->ndim, t->shape, &v, &owned, &err) == FP_OK) {
            for (size_t k = 0; k < t->numel; k++)
                sink += v[k];
            free(owned);
        } else if (t->dtype != ST_OTHER) {
            abort(); /* a listed float tensor with its own shape must always read */
        }
    }
    (void)sink;
    st_metadata(f, "format");
    st_close(&f);
    free(copy);
    return 0;
}
