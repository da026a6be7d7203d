/* fuzz_tfjs_manifest.c — libFuzzer target for the TF.js weights manifest parser (model.json).
 * Any input must be either refused with a reason or give tensors that tile [0, bytes) exactly,
 * in order, each with numel·4 bytes and a name that finds itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/tfjs_weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A relative path none of whose '/'-separated components is "..". */
static int inside_package(const char *p)
{
    if (!p[0] || p[0] == '/')
        return 0;
    for (size_t start = 0, i = 0;; i++)
        if (p[i] == '/' || !p[i]) {
            if (i - start == 2 && p[start] == '.' && p[start + 1] == '.')
                return 0;
            if (!p[i])
                return 1;
            start = i + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so a read one byte past the input is caught. */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    fp_error err = {0};
    tfjs_weights_t *tw = tfjs_weights_parse_manifest(copy, size, "fuzz.json", &err);
    free(copy);
    if (!tw) {
        if (err.status == FP_OK || err.msg[0] == '\0')
            abort(); /* a refusal must always say why */
        return 0;
    }
    size_t at = 0;
    for (size_t i = 0; i < tfjs_weights_count(tw); i++) {
        const tfjs_tensor *t = tfjs_weights_at(tw, i);
        size_t numel = 1;
        for (int k = 0; k < t->ndim; k++)
            numel *= (size_t)t->shape[k];
        if (t->offset != at || t->numel != numel || t->nbytes != 4 * numel || t->data ||
            tfjs_weights_find(tw, t->name) != t || (t->dtype != TFJS_F32 && t->dtype != TFJS_I32))
            abort();
        at += t->nbytes;
        const float *v;
        if (tfjs_weights_get_f32(tw, t->name, t->ndim, t->shape, &v, &err) == FP_OK)
            abort(); /* no shards loaded: no data may be handed out */
    }
    if (at != tfjs_weights_bytes(tw) || at > TFJS_MAX_BYTES)
        abort();
    for (size_t i = 0; i < tfjs_weights_shard_count(tw); i++)
        if (!inside_package(tfjs_weights_shard(tw, i)))
            abort();
    tfjs_weights_destroy(&tw);
    return 0;
}
