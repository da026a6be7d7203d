/* model_config.h — the shape and flavour of a transformer, as read from a Hugging Face
 * config.json (RoBERTa and GPT-2 families) or written for models fedpep creates.
 * Pure data: no allocation, no I/O. The loader (hf_config.c) fills it; the transformer reads it. */
#ifndef FEDPEP_MODEL_MODEL_CONFIG_H
#define FEDPEP_MODEL_MODEL_CONFIG_H

#include <stdbool.h>

typedef enum model_arch {
    MODEL_ARCH_ROBERTA = 1, /* encoder: bidirectional, learned positions with padding offset,
                               masked-LM head (dense → GELU → LayerNorm → tied decoder + bias) */
    MODEL_ARCH_GPT2 = 2,    /* decoder: causal, learned positions from 0, tied LM head */
} model_arch;

/* The MLP activation. Zero is each architecture's own GELU, so a zero-initialised config keeps
 * RoBERTa's and GPT-2's behaviour. */
typedef enum model_act {
    MODEL_ACT_ARCH = 0, /* RoBERTa: exact GELU (erf); GPT-2: gelu_new (tanh approximation) */
    MODEL_ACT_RELU = 1, /* max(x, 0) (USE-lite) */
} model_act;

typedef struct model_config {
    model_arch arch;
    int vocab_size;     /* rows of the token embedding */
    int max_positions;  /* rows of the position embedding (RoBERTa includes the offset rows) */
    int n_layers;       /* L */
    int d_model;        /* d */
    int n_heads;        /* H; d_head = d / H */
    int d_ff;           /* MLP inner width (GPT-2: n_inner or 4d) */
    int type_vocab_size; /* RoBERTa token_type embeddings rows (1); 0 for GPT-2 */
    float layer_norm_eps;
    bool pre_ln;        /* true: x + f(LN(x)) (GPT-2; an encoder may be pre-LN too, USE-lite);
                           false: LN(x + f(x)) (RoBERTa) */
    bool final_ln;      /* a LayerNorm after the last block (GPT-2 ln_f; never for encoders) */
    int pad_token_id;   /* RoBERTa 1; GPT-2 has none (-1) */
    int bos_token_id;   /* <s> 0 for RoBERTa, <|endoftext|> 50256 for GPT-2 */
    int eos_token_id;   /* </s> 2 for RoBERTa, 50256 for GPT-2 */
    int mask_token_id;  /* <mask> 50264 for roberta-base; -1 for GPT-2 */
    int position_offset; /* first position id of a real token: pad_token_id + 1 for RoBERTa (or
                            config.json's fedpep_position_offset), 0 for GPT-2 */
    /* Switches for USE-lite-style encoders. Each one's zero value is RoBERTa's and GPT-2's
     * behaviour, so configs written before they existed mean what they meant. */
    model_act hidden_act;        /* MLP activation (MLM head keeps RoBERTa's GELU) */
    bool no_embedding_ln;        /* encoder without the embedding LayerNorm (its two tensors are
                                    then not in the weights table); GPT-2 has none anyway */
    bool prefix_keeps_positions; /* the deep prompt does not shift positions: the first real
                                    token is at position_offset + 0 (+ P_in), not + P */
    int d_embed;  /* width of the embeddings and of block 0's input and attention (USE-lite 256);
                     0 = d_model. When it differs, block 0 adds a residual projection
                     d_embed → d_model, its attention runs d_embed wide (H heads of d_embed / H)
                     and its output projection maps d_embed → d_model. */
} model_config;

/* Width of the embeddings (block 0's input). */
static inline int model_embed_width(const model_config *c)
{
    return c->d_embed > 0 ? c->d_embed : c->d_model;
}

/* Width of block l's input, its attention and its deep-prompt rows: d_embed for block 0, d_model
 * for the others. The prompt keeps d_model floats per row; block 0 reads the first d_embed. */
static inline int model_layer_width(const model_config *c, int l)
{
    return l == 0 ? model_embed_width(c) : c->d_model;
}

/* True when block 0 changes width (and carries the residual projection). */
static inline bool model_has_input_projection(const model_config *c)
{
    return model_embed_width(c) != c->d_model;
}

/* How far a deep prompt of P rows moves the positions of the text (P, or 0 when
 * prefix_keeps_positions): the first real token is at position_offset + this (+ P_in). */
static inline int model_prefix_position_shift(const model_config *c, int P)
{
    return c->prefix_keeps_positions ? 0 : P;
}

#endif
