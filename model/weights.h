/* weights.h — the frozen parameters of a transformer as a struct of pointers (llm.c style), and
 * the one table that names every tensor the way Hugging Face checkpoints do.
 *
 * The pointers point either into a read-only safetensors map (no copy; F16/BF16 tensors are the
 * only ones converted, into buffers this struct owns) or into ONE allocation made by
 * tf_weights_init_random. Weight matrices are lin_w views in the checkpoint's own orientation:
 * RoBERTa nn.Linear [out][in], GPT-2 Conv1D [in][out] (c_attn [d][3d] serves Q, K and V as three
 * column blocks). Biases and norms are plain [n] vectors.
 * Never writes through these pointers: the weights are shared by every client of a process. */
#ifndef FEDPEP_MODEL_WEIGHTS_H
#define FEDPEP_MODEL_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "model/linear.h"
#include "model/model_config.h"
#include "model/safetensors.h"

typedef struct tf_layer_weights {
    const float *ln1_w, *ln1_b; /* pre-LN only: before attention (GPT-2 ln_1) [d] */
    lin_w q, k, v;              /* [d] -> [d] each */
    const float *q_b, *k_b, *v_b;
    lin_w o; /* attention output projection [d] -> [d] */
    const float *o_b;
    const float *ln2_w, *ln2_b; /* LN of the attention residual (RoBERTa attention.output.
                                   LayerNorm, GPT-2 ln_2) [d] */
    lin_w fc;                   /* [d] -> [d_ff] */
    const float *fc_b;
    lin_w proj; /* [d_ff] -> [d] */
    const float *proj_b;
    const float *ln3_w, *ln3_b; /* post-LN only: LN of the MLP residual (output.LayerNorm) [d] */
    lin_w in_proj;              /* block 0 of a model whose d_embed differs from d: the residual
                                   projection [d_embed] -> [d] (in_proj.w NULL otherwise) */
    const float *in_proj_b;
} tf_layer_weights;

typedef struct tf_weights {
    const float *wte;                 /* [V][d], also the tied LM decoder */
    const float *wpe;                 /* [max_positions][d] */
    const float *wtt;                 /* RoBERTa token type row 0 [d]; NULL for GPT-2 */
    const float *emb_ln_w, *emb_ln_b; /* RoBERTa embedding LayerNorm [d] */
    tf_layer_weights *layers;         /* [L], owned */
    const float *lnf_w, *lnf_b;       /* GPT-2 final ln_f [d] */
    bool has_lm_head;                 /* RoBERTa: the lm_head.* tensors were present */
    lin_w head_dense;                 /* RoBERTa MLM head [d] -> [d] */
    const float *head_dense_b, *head_ln_w, *head_ln_b;
    const float *head_bias; /* [V], RoBERTa lm_head.bias */
    bool has_sentence_head;   /* the optional sentence_head.* tensors were present */
    lin_w sentence_dense;     /* USE-lite's sentence head: tanh(mean pool · W + b) [d] -> [d],
                                 frozen; zero-shot by cosine to label descriptions */
    const float *sentence_dense_b;
    /* bf16 copies of the frozen matrices (tf_weights_to_bf16): every lin_w's w16 and wte16 point
     * into bf16_block; NULL when the weights are used in fp32 only */
    const uint16_t *wte16;
    uint16_t *bf16_block;
    size_t bf16_bytes;
    /* ownership */
    float *block;       /* the one allocation of random weights, or NULL */
    float **converted;  /* F16/BF16 → F32 copies made while loading */
    size_t n_converted;
} tf_weights;

/* Tensors a checkpoint may lack, as a group: all of a group or none must be present. */
typedef enum tf_optional_group {
    TF_REQUIRED = 0,
    TF_OPT_LM_HEAD = 1,       /* RoBERTa lm_head.*: a bare encoder checkpoint has none */
    TF_OPT_SENTENCE_HEAD = 2, /* sentence_head.*: only USE-lite-derived models have one */
    TF_OPT_GROUPS = 3
} tf_optional_group;

/* One tensor of the table: its canonical Hugging Face name, shape and where it goes. */
typedef enum tf_slot_kind { TF_SLOT_VEC, TF_SLOT_LIN, TF_SLOT_QKV_W, TF_SLOT_QKV_B } tf_slot_kind;

typedef struct tf_tensor_spec {
    char name[96];      /* canonical: "roberta.…" for RoBERTa bodies, no prefix for GPT-2 */
    int ndim;
    int64_t shape[2];
    size_t numel;
    tf_slot_kind kind;
    const float **vec;  /* TF_SLOT_VEC */
    lin_w *lin;         /* TF_SLOT_LIN */
    lin_layout layout;  /* TF_SLOT_LIN: the orientation this name is stored in */
    tf_layer_weights *layer; /* TF_SLOT_QKV_*: GPT-2 fused c_attn */
    bool is_norm_weight; /* a LayerNorm gain (random init around 1) */
    tf_optional_group optional; /* a head a checkpoint may lack as a whole (0: required) */
} tf_tensor_spec;

/* Checks a config for what this code supports (positive sizes, d % H == 0, known arch).
 * FP_EINVAL with the offending field. */
fp_status tf_config_check(const model_config *cfg, fp_error *err);

/* Number of tensors in the table of cfg; fills specs when not NULL (cap entries at most; then
 * w->layers must be allocated). Slots point into w. */
size_t tf_weights_table(const model_config *cfg, tf_weights *w, tf_tensor_spec *specs,
                        size_t cap);

/* Random weights in one allocation: N(0, std²) entries, LayerNorm gains 1 + N(0, std²)
 * (so tests exercise non-trivial norms), seeded. FP_ENOMEM / FP_EINVAL. */
fp_status tf_weights_init_random(tf_weights *w, const model_config *cfg, float std,
                                 uint64_t seed, fp_error *err);

/* Zeroed buffers in the same table layout as tf_weights_init_random, in one allocation: the
 * gradients of full-weight training (tf_options.grads) and the flat view an optimizer steps
 * (w->block, tf_weights_numel floats, in table order for both). */
fp_status tf_weights_init_zero(tf_weights *w, const model_config *cfg, fp_error *err);
/* Number of floats of all the tensors of cfg's table. */
size_t tf_weights_numel(const model_config *cfg);

/* Points w at the tensors of an open safetensors file (which must outlive w). Accepts the
 * optional "roberta." / "transformer." prefixes. Errors name the missing or misshapen tensor. */
fp_status tf_weights_from_safetensors(tf_weights *w, const model_config *cfg,
                                      const st_file_t *file, fp_error *err);

/* Writes the weights under their canonical names (a checkpoint Hugging Face can read). */
fp_status tf_weights_save(const tf_weights *w, const model_config *cfg, const char *path,
                          fp_error *err);

/* Makes a bf16 copy (round to nearest even) of every weight matrix of the table and of the
 * word embeddings (the tied decoder) in one allocation beside the fp32 views, which stay: the
 * embeddings, biases and norms are read in fp32, and a caller may still run fp32 products.
 * Costs half the bytes of those matrices (w->bf16_bytes). Only for FROZEN weights: tf_forward
 * refuses weight gradients on them. A second call does nothing. FP_ENOMEM. */
fp_status tf_weights_to_bf16(tf_weights *w, const model_config *cfg, fp_error *err);

/* Frees what w owns and zeroes it; safe on a zeroed or already freed struct. */
void tf_weights_free(tf_weights *w);

#endif
