/* use_lite.c — USE-lite TF.js package → fedpep model folder; see use_lite.h.
 * Every tensor is looked up by its TF.js name with its exact shape (a wrong package fails naming
 * the tensor), then copied into ONE allocation in the layout of model/weights.c's RoBERTa table.
 * Must never modify the package, and never write a model whose tensors it did not all find. */
#include "model/use_lite.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file_io.h"
#include "model/hf_config.h"
#include "model/safetensors.h"
#include "model/tfjs_weights.h"
#include "model/weights.h"

/* TF.js name prefixes (USE-LITE.md §1.3): P for most tensors, S = P + TransformerStack/ for the
 * FFN kernels and the timing signal, M for the attention kernels. */
#define USE_P "module_apply_default/Encoder_en/KonaTransformer/Encode/"
#define USE_S USE_P "TransformerStack/"
#define USE_M "module/Encoder_en/KonaTransformer/Encode/"

#define USE_TIMESCALES 128              /* half the embedding width: sin half, cos half */
#define USE_VOCAB_MAX ((size_t)1 << 26) /* vocab.json is 218 KB; far above */

void use_lite_model_config(model_config *c)
{
    memset(c, 0, sizeof *c);
    c->arch = MODEL_ARCH_ROBERTA;
    c->vocab_size = 8002;
    c->d_model = 512;
    c->d_embed = 256;
    c->n_layers = 2;
    c->n_heads = 4;
    c->d_ff = 1536;
    c->max_positions = 512;
    c->position_offset = 0;
    c->type_vocab_size = 1;
    c->layer_norm_eps = 1e-6f;
    c->pre_ln = true;
    c->final_ln = false;
    c->no_embedding_ln = true;
    c->prefix_keeps_positions = true;
    c->hidden_act = MODEL_ACT_RELU;
    c->pad_token_id = 8000;
    c->bos_token_id = 1;
    c->eos_token_id = 2;
    c->mask_token_id = 8001;
}

/* The one allocation the converted tensors live in, handed out front to back. */
typedef struct arena {
    float *base;
    size_t used, cap;
} arena;

static float *take(arena *a, size_t n)
{
    assert(a->used + n <= a->cap); /* converted_numel counts the same tensors */
    float *p = a->base + a->used;
    a->used += n;
    return p;
}

/* Floats of every converted tensor of cfg. */
static size_t converted_numel(const model_config *c)
{
    const size_t d = (size_t)c->d_model, e = (size_t)model_embed_width(c), f = (size_t)c->d_ff;
    size_t n = ((size_t)c->vocab_size + (size_t)c->max_positions + 1) * e + d * d + d;
    for (int l = 0; l < c->n_layers; l++) {
        const size_t w = (size_t)model_layer_width(c, l);
        n += 2 * w + 3 * w * w + 3 * w + d * w + d + 2 * d + f * d + f + d * f + d;
        if (l == 0 && model_has_input_projection(c))
            n += d * e + d;
    }
    return n;
}

typedef struct converter {
    const tfjs_weights_t *tw;
    arena mem;
    fp_error *err;
    progress_t *progress;
} converter;

/* Progress in steps: reading the package, the embeddings, each layer, the sentence head, then
 * the three files. */
static int convert_steps(const model_config *c)
{
    return c->n_layers + 6;
}

/* Step `at` (from 0) of convert_steps begins: what, and the layer when >= 0. */
static void step_begins(progress_t *p, const model_config *c, int at, const char *what, int layer)
{
    progress_set(p, at);
    if (layer >= 0)
        progress_label(p, "step %d/%d: %s %d", at + 1, convert_steps(c), what, layer);
    else
        progress_label(p, "step %d/%d: %s", at + 1, convert_steps(c), what);
}

/* The float32 tensor name (printf-style) with shape dims[0..ndim). */
static fp_status get(converter *cv, const float **out, int ndim, const int64_t *dims,
                     const char *fmt, int layer)
{
    char name[256];
    snprintf(name, sizeof name, fmt, layer);
    return tfjs_weights_get_f32(cv->tw, name, ndim, dims, out, cv->err);
}

/* A vector [n] copied as is. */
static fp_status vec(converter *cv, const float **slot, int64_t n, const char *fmt, int layer)
{
    const float *src;
    fp_status st = get(cv, &src, 1, &n, fmt, layer);
    if (st)
        return st;
    float *dst = take(&cv->mem, (size_t)n);
    memcpy(dst, src, (size_t)n * sizeof *dst);
    *slot = dst;
    return FP_OK;
}

/* Columns [col, col + out) of a TF kernel src [in][ld], transposed to nn.Linear's [out][in]. */
static const float *transpose_block(converter *cv, const float *src, int in, int ld, int col,
                                    int out)
{
    float *dst = take(&cv->mem, (size_t)in * (size_t)out);
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++)
            dst[(size_t)o * in + i] = src[(size_t)i * ld + col + o];
    return dst;
}

/* A kernel [in][out] (or [1][1][in][out] for a 1×1 conv) → *slot as [out][in]. */
static fp_status kernel(converter *cv, lin_w *slot, bool conv, int in, int out, const char *fmt,
                        int layer)
{
    const int64_t dims[4] = {1, 1, in, out};
    const float *src;
    fp_status st =
        conv ? get(cv, &src, 4, dims, fmt, layer) : get(cv, &src, 2, dims + 2, fmt, layer);
    if (st)
        return st;
    *slot = (lin_w){transpose_block(cv, src, in, out, 0, out), in, LIN_OUT_IN, NULL};
    return FP_OK;
}

/* The core scales queries by 1/sqrt(d_head) itself; the package's constant must agree, else
 * the converted model would silently compute something else. */
static fp_status check_query_scale(converter *cv, int l, int width, int heads)
{
    const float *y;
    fp_status st =
        get(cv, &y, 0, NULL, USE_S "Layer_%d/TransformerLayer/MultiheadAttention/mul/y", l);
    if (st)
        return st;
    const float want = 1.0f / sqrtf((float)(width / heads));
    if (fabsf(*y - want) > 1e-6f * want)
        return fp_fail(cv->err, FP_EFORMAT,
                       "USE-lite layer %d scales queries by %g, not 1/sqrt(d_head) = %g", l,
                       (double)*y, (double)want);
    return FP_OK;
}

/* Block l: pre-LN attention (fused qkv split into q, k, v), output projection, layer 0's
 * residual projection, pre-LN ReLU FFN. */
static fp_status convert_layer(converter *cv, const model_config *c, tf_layer_weights *y, int l)
{
    const int w = model_layer_width(c, l), d = c->d_model, f = c->d_ff;
    fp_status st = check_query_scale(cv, l, w, c->n_heads);
    const float *qkv, *qkv_b;
    const int64_t qkv_dims[4] = {1, 1, w, 3 * w}, qkv_b_dims[1] = {3 * w};
    if (!st)
        st = get(cv, &qkv, 4, qkv_dims,
                 USE_M "Layer_%d/TransformerLayer/MultiheadAttention/"
                       "qkv_transform_single/kernel/part_0",
                 l);
    if (!st)
        st = get(cv, &qkv_b, 1, qkv_b_dims,
                 USE_P "Layer_%d/TransformerLayer/MultiheadAttention/"
                       "qkv_transform_single/bias/ConcatPartitions/"
                       "concat",
                 l);
    if (st)
        return st;
    y->q = (lin_w){transpose_block(cv, qkv, w, 3 * w, 0, w), w, LIN_OUT_IN, NULL};
    y->k = (lin_w){transpose_block(cv, qkv, w, 3 * w, w, w), w, LIN_OUT_IN, NULL};
    y->v = (lin_w){transpose_block(cv, qkv, w, 3 * w, 2 * w, w), w, LIN_OUT_IN, NULL};
    float *b = take(&cv->mem, 3 * (size_t)w);
    memcpy(b, qkv_b, 3 * (size_t)w * sizeof *b);
    y->q_b = b;
    y->k_b = b + w;
    y->v_b = b + 2 * w;

#define LN_ATT USE_P "Layer_%d/TransformerLayer/layer_prepostprocess/layer_norm/"
#define LN_FFN USE_P "Layer_%d/TransformerLayer/FFN/layer_prepostprocess/layer_norm/"
    if ((st = vec(cv, &y->ln1_w, w, LN_ATT "layer_norm_scale/ConcatPartitions/concat", l)) ||
        (st = vec(cv, &y->ln1_b, w, LN_ATT "layer_norm_bias/ConcatPartitions/concat", l)) ||
        (st = kernel(cv, &y->o, true, w, d,
                     USE_M "Layer_%d/TransformerLayer/MultiheadAttention/output_transform_single/"
                           "kernel/part_0",
                     l)) ||
        (st = vec(cv, &y->o_b, d,
                  USE_P "Layer_%d/TransformerLayer/MultiheadAttention/output_transform_single/"
                        "bias/ConcatPartitions/concat",
                  l)) ||
        (st = vec(cv, &y->ln2_w, d, LN_FFN "layer_norm_scale/ConcatPartitions/concat", l)) ||
        (st = vec(cv, &y->ln2_b, d, LN_FFN "layer_norm_bias/ConcatPartitions/concat", l)) ||
        (st = kernel(cv, &y->fc, false, d, f,
                     USE_S "Layer_%d/TransformerLayer/FFN/conv1/Tensordot/Reshape_1", l)) ||
        (st = vec(cv, &y->fc_b, f,
                  USE_P "Layer_%d/TransformerLayer/FFN/conv1/bias/ConcatPartitions/concat", l)) ||
        (st = kernel(cv, &y->proj, false, f, d,
                     USE_S "Layer_%d/TransformerLayer/FFN/conv2/Tensordot/Reshape_1", l)) ||
        (st = vec(cv, &y->proj_b, d,
                  USE_P "Layer_%d/TransformerLayer/FFN/conv2/bias/ConcatPartitions/concat", l)))
        return st;
#undef LN_ATT
#undef LN_FFN
    if (l != 0 || !model_has_input_projection(c))
        return FP_OK;
    if ((st = kernel(cv, &y->in_proj, false, w, d,
                     USE_P "Layer_%d/TransformerLayer/dense/kernel/ConcatPartitions/concat", l)))
        return st;
    return vec(cv, &y->in_proj_b, d,
               USE_P "Layer_%d/TransformerLayer/dense/bias/ConcatPartitions/concat", l);
}

/* wte = 2·E (the exported graph adds the embedding twice); wpe[i] = the timing signal of
 * position i in float32 as TF computes it: sin(i·inv_k) for k < 128, then cos(i·inv_k);
 * wtt = one zero row (USE has no token types). */
static fp_status convert_embeddings(converter *cv, const model_config *c, tf_weights *w)
{
    const int e = model_embed_width(c);
    const int64_t emb_dims[2] = {c->vocab_size, e}, inv_dims[2] = {1, USE_TIMESCALES};
    const float *emb, *inv;
    fp_status st = get(cv, &emb, 2, emb_dims, "module/Embeddings_en", 0);
    if (!st)
        st = get(cv, &inv, 2, inv_dims, USE_S "Layer_%d/AddTimingSignal/TimingSignal/ExpandDims_1",
                 0);
    if (st)
        return st;
    if (e != 2 * USE_TIMESCALES)
        return fp_fail(cv->err, FP_EFORMAT, "USE-lite: embedding width %d is not 2 x %d", e,
                       USE_TIMESCALES);
    const size_t n = (size_t)c->vocab_size * (size_t)e;
    float *wte = take(&cv->mem, n);
    for (size_t i = 0; i < n; i++)
        wte[i] = 2.0f * emb[i];
    float *wpe = take(&cv->mem, (size_t)c->max_positions * (size_t)e);
    for (int i = 0; i < c->max_positions; i++)
        for (int k = 0; k < USE_TIMESCALES; k++) {
            const float t = (float)i * inv[k];
            wpe[(size_t)i * e + k] = sinf(t);
            wpe[(size_t)i * e + USE_TIMESCALES + k] = cosf(t);
        }
    float *wtt = take(&cv->mem, (size_t)e);
    memset(wtt, 0, (size_t)e * sizeof *wtt);
    w->wte = wte;
    w->wpe = wpe;
    w->wtt = wtt;
    return FP_OK;
}

/* Every tensor of the converted model into w (its buffers in mem.base, its layers array). */
static fp_status convert_weights(converter *cv, const model_config *c, tf_weights *w)
{
    memset(w, 0, sizeof *w);
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    cv->mem.cap = converted_numel(c);
    cv->mem.base = malloc(cv->mem.cap * sizeof *cv->mem.base);
    w->block = cv->mem.base; /* tf_weights_free frees it */
    if (!w->layers || !cv->mem.base)
        return fp_fail(cv->err, FP_ENOMEM, "out of memory converting USE-lite (%zu floats)",
                       cv->mem.cap);
    step_begins(cv->progress, c, 1, "embeddings", -1);
    fp_status st = convert_embeddings(cv, c, w);
    for (int l = 0; !st && l < c->n_layers; l++) {
        step_begins(cv->progress, c, 2 + l, "layer", l);
        st = convert_layer(cv, c, &w->layers[l], l);
    }
    if (!st) {
        step_begins(cv->progress, c, 2 + c->n_layers, "sentence head", -1);
        st = kernel(cv, &w->sentence_dense, false, c->d_model, c->d_model,
                    "module/Encoder_en/hidden_layers/tanh_layer_%d/weights", 0);
    }
    if (!st)
        st = vec(cv, &w->sentence_dense_b, c->d_model,
                 "module/Encoder_en/hidden_layers/tanh_layer_%d/bias", 0);
    w->has_sentence_head = true;
    w->has_lm_head = false;
    return st;
}

/* out_dir/vocab.json = a byte copy of the package's (fedpep's loader recognises the unigram
 * [piece, score] array by its shape). */
static fp_status copy_vocab(const char *package_dir, const char *path, fp_error *err)
{
    char *bytes;
    size_t len;
    fp_status st =
        tfjs_read_package_file(package_dir, "vocab.json", USE_VOCAB_MAX, &bytes, &len, err);
    if (st)
        return st;
    const void *parts[1] = {bytes};
    st = fp_file_write_atomic(path, parts, &len, 1, err);
    free(bytes);
    return st;
}

fp_status use_lite_convert(const char *package_dir, const char *out_dir, progress_t *progress,
                           fp_error *err)
{
    fp_error local;
    if (!err)
        err = &local; /* the status of a failure is read back from it */
    model_config cfg;
    use_lite_model_config(&cfg);
    const int L = cfg.n_layers;
    progress_label(progress, "step 1/%d: reading %s", convert_steps(&cfg), package_dir);
    progress_begin(progress, 0, convert_steps(&cfg));
    tfjs_weights_t *tw = tfjs_weights_open(package_dir, err);
    if (!tw) {
        fp_wrap(err, "USE-lite package");
        return err->status;
    }
    converter cv = {.tw = tw, .err = err, .progress = progress};
    tf_weights w;
    fp_status st = convert_weights(&cv, &cfg, &w);
    if (st)
        fp_wrap(err, "USE-lite"); /* short: the tensor names are long */
    model_paths p;
    const size_t cap = sizeof p.config;
    if (!st && (snprintf(p.config, cap, "%s/config.json", out_dir) >= (int)cap ||
                snprintf(p.weights, cap, "%s/model.safetensors", out_dir) >= (int)cap ||
                snprintf(p.vocab, cap, "%s/vocab.json", out_dir) >= (int)cap))
        st = fp_fail(err, FP_EINVAL, "folder name too long: %s", out_dir);
    if (!st && mkdir(out_dir, 0755) && errno != EEXIST)
        st = fp_fail(err, FP_EIO, "mkdir %s: %s", out_dir, strerror(errno));
    /* Weights first, config last: a folder with a config.json is a complete model. */
    if (!st) {
        step_begins(progress, &cfg, L + 3, "vocab.json", -1);
        st = copy_vocab(package_dir, p.vocab, err);
    }
    if (!st) {
        step_begins(progress, &cfg, L + 4, "model.safetensors", -1);
        st = tf_weights_save(&w, &cfg, p.weights, err);
    }
    if (!st) {
        step_begins(progress, &cfg, L + 5, "config.json", -1);
        st = hf_config_save(p.config, &cfg, err);
    }
    if (!st)
        progress_set(progress, convert_steps(&cfg));
    tf_weights_free(&w);
    tfjs_weights_destroy(&tw);
    return st;
}
