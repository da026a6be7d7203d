/* weights_bf16.c — the bf16 copies of a model's frozen weight matrices (tf_weights_to_bf16, see
 * weights.h). Must never change an fp32 view: every other reader keeps using them. */
#include <stdlib.h>

#include "model/matmul_bf16.h"
#include "model/weights.h"

/* Floats of the matrix behind spec s, or 0 when it gets no bf16 copy (vectors, biases, and a
 * matrix of an optional group the checkpoint lacks). */
static size_t matrix_numel(const tf_tensor_spec *s)
{
    if (s->kind == TF_SLOT_LIN && s->lin->w)
        return s->numel;
    if (s->kind == TF_SLOT_QKV_W && s->layer->q.w)
        return s->numel;
    return 0;
}

/* Converts the matrix of s into dst and points its views' w16 at it; the fused Q/K/V matrix
 * keeps its three column blocks at the fp32 offsets (ld 3d). */
static void convert(const tf_tensor_spec *s, uint16_t *dst, int d)
{
    if (s->kind == TF_SLOT_LIN) {
        mm_bf16_from_f32(dst, s->lin->w, s->numel);
        s->lin->w16 = dst;
        return;
    }
    mm_bf16_from_f32(dst, s->layer->q.w, s->numel);
    s->layer->q.w16 = dst;
    s->layer->k.w16 = dst + d;
    s->layer->v.w16 = dst + 2 * d;
}

fp_status tf_weights_to_bf16(tf_weights *w, const model_config *cfg, fp_error *err)
{
    if (w->bf16_block)
        return FP_OK;
    const size_t n = tf_weights_table(cfg, w, NULL, 0);
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    if (!specs)
        return fp_fail(err, FP_ENOMEM, "bf16 weights: out of memory for the table");
    tf_weights_table(cfg, w, specs, n);
    const size_t n_wte = (size_t)cfg->vocab_size * model_embed_width(cfg);
    size_t total = n_wte;
    for (size_t i = 0; i < n; i++)
        total += matrix_numel(&specs[i]);
    uint16_t *block = malloc(total * sizeof *block);
    if (!block) {
        free(specs);
        return fp_fail(err, FP_ENOMEM, "bf16 weights: out of memory for %zu values", total);
    }
    mm_bf16_from_f32(block, w->wte, n_wte);
    w->wte16 = block;
    uint16_t *next = block + n_wte;
    for (size_t i = 0; i < n; i++) {
        const size_t k = matrix_numel(&specs[i]);
        if (k) {
            convert(&specs[i], next, cfg->d_model);
            next += k;
        }
    }
    free(specs);
    w->bf16_block = block;
    w->bf16_bytes = total * sizeof *block;
    return FP_OK;
}
