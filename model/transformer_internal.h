/* transformer_internal.h — private to model/transformer*.c: the activation arena (struct tf_acts
 * and what one block keeps) and the small helpers that the forward pass (transformer.c), the
 * backward pass (transformer_backward.c) and the arena (transformer_acts.c) all read.
 * Must never be included anywhere else: the public API is transformer.h. The helpers are
 * static inline so the split costs no call in the hot paths. */
#ifndef FEDPEP_MODEL_TRANSFORMER_INTERNAL_H
#define FEDPEP_MODEL_TRANSFORMER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/attention.h"
#include "model/transformer.h"

/* What one block keeps for backward (or, for the scratch slot, only passes through). */
typedef struct layer_acts {
    float *qkv;                 /* [N][3d] */
    float *A;                   /* [B][H][T][P+T] */
    float *ln1_mean, *ln1_rstd; /* [N] pre-LN */
    float *res_a;               /* [N][d] */
    float *ln2_mean, *ln2_rstd; /* [N] */
    float *fc;                  /* [N][f] */
    float *res_m;               /* [N][d] */
    float *ln3_mean, *ln3_rstd; /* [N] post-LN */
    float *out;                 /* [N][d] post-LN; == res_m for pre-LN */
    /* inputs of the weight products: the arena's shared work buffers unless the arena was made
     * for weight gradients, then kept per layer */
    float *attn_in, *att, *mlp_in, *gelu; /* [N][d] ×3, [N][f] */
} layer_acts;

/* Dropout sites: distinct streams per layer and place, all from the step's seed. */
enum { SITE_ATTN = 0, SITE_ATTN_OUT = 1, SITE_MLP_OUT = 2, SITES_PER_LAYER = 4 };

struct tf_acts {
    model_config cfg;
    tf_acts_spec spec;
    float *block; /* the one float allocation */
    size_t n_floats;
    int *ints;     /* the one int allocation: positions, row index, row targets */
    mm_bf16_t *mm; /* the bf16 products' context, made by the first forward pass over weights
                      with bf16 copies (NULL until then: every product runs in fp32) */

    float *emb;                           /* [N][d] embedding output (block 0 input) */
    float *emb_mean, *emb_rstd;           /* [N] RoBERTa embedding LN */
    layer_acts *slots;                    /* [saved_layers + 1]; the last one is the scratch */
    float *attn_in, *att, *mlp_in, *gelu; /* shared work buffers [N][d] ×3, [N][f] */
    float *attn_scratch;                  /* attn_slots × attention_scratch_floats */
    int attn_slots;                       /* threads attention may run its heads on */
    float *Ed, *dEd;                      /* [B][P][L][2][d] per-example dropped prefix and grad */
    float *hidden, *lnf_mean, *lnf_rstd;  /* [N][d], [N] GPT-2 ln_f; [R][d] when pruned */
    float *px, *patt, *pdatt;             /* [R][d] target rows of the last block's input, attention
                                             output and its gradient, when pruned */
    /* LM head at target rows */
    float *h_rows, *t1, *t2, *t3, *t3_mean, *t3_rstd; /* [R][d] …, [R] */
    float *logits, *dlogits;                          /* [R][V] */
    float *ex_loss;                                   /* [B] */
    int *pos;                                         /* [N] */
    int *tok_x, *mask_x;         /* [N] the batch with the input prompt's rows prepended */
    int *row_index, *row_target; /* [R] row_index in the (expanded) b·T' + t' numbering */
    int *row_caller;             /* [R] the same rows as the caller numbers them, b·T + t */
    int *ex_rows;                /* [B] target rows per example */
    /* classification head */
    float *pooled, *cls_logits, *dcls, *dpooled; /* [B][d], [B][C], [B][C], [B][d] */
    /* backward buffers, one block's worth */
    float *dhidden, *dcur, *dnext, *dres_m, *dtmp, *dmlp_in, *dres_a, *datt, *dattn_in; /* [N][d] */
    float *dg, *dfc;                                                                    /* [N][f] */
    float *dqkv;            /* [N][3d] */
    float *dt1, *dt2, *dt3; /* [R][d] */

    /* the last forward pass */
    bool have_forward;
    int save_from;    /* first layer that kept activations */
    int lowest_tuned; /* L when no prompt layer is trainable */
    int lm_rows;
    bool pruned; /* the last block after attention runs on the lm_rows rows only */
    tf_result res;
    tf_prompt prompt;
    tf_cls_head head;
    bool has_head;
    tf_batch batch; /* the batch the blocks see: T includes the input prompt's P_in rows */
    int P_in;       /* input prompt rows at the start of every example */
    tf_options opt;
    const tf_weights *w;
    int backward_layers; /* blocks the last backward went through (tests) */
    int backward_lowest; /* lowest block it touched, L if none */
};

/* ---------------------------------------------------------------- shared helpers */

/* RoBERTa normalises the embedding sum; USE-lite-style encoders and GPT-2 do not. */
static inline bool has_embedding_ln(const model_config *c)
{
    return c->arch == MODEL_ARCH_ROBERTA && !c->no_embedding_ln;
}

/* Layer l sees a prefix this step. */
static inline bool layer_present(const tf_prompt *pr, int l)
{
    return pr && pr->P > 0 && (!pr->present || pr->present[l]);
}

/* Where attention reads layer l's prefix: E, or this step's per-example dropped copy Ed. */
static inline attn_prefix prefix_of(const tf_acts_t *a, int l)
{
    const tf_prompt *pr = &a->prompt;
    const int L = a->cfg.n_layers, d = a->cfg.d_model;
    attn_prefix p = {NULL, NULL, L * 2 * d, 0};
    if (!layer_present(pr, l))
        return p;
    const float *base = pr->E;
    if (a->opt.prefix_dropout > 0.0f) {
        base = a->Ed;
        p.batch_stride = (size_t)pr->P * L * 2 * d;
    }
    p.k = base + tf_prompt_index(L, d, 0, l, 0);
    p.v = base + tf_prompt_index(L, d, 0, l, 1);
    return p;
}

/* Attention shape of block l (its width, and P only when the layer sees its prefix). */
static inline attn_shape shape_of(const tf_acts_t *a, int l)
{
    attn_shape s = {a->batch.B,
                    a->batch.T,
                    a->cfg.n_heads,
                    model_layer_width(&a->cfg, l) / a->cfg.n_heads,
                    layer_present(&a->prompt, l) ? a->prompt.P : 0,
                    a->cfg.arch == MODEL_ARCH_GPT2};
    return s;
}

/* Dropout stream of site k of layer l; l = L: the embeddings (k 0) and the prefix (k 1). */
static inline uint64_t site(const tf_acts_t *a, int l, int k)
{
    return (uint64_t)l * SITES_PER_LAYER + k;
}

/* Rows block l computes after its attention: all B·T, or the target rows of a pruned last block. */
static inline int rows_of(const tf_acts_t *a, int l)
{
    return a->pruned && l == a->cfg.n_layers - 1 ? a->lm_rows : a->batch.B * a->batch.T;
}

/* The slot block l writes: its own when it keeps activations, else the scratch slot. */
static inline layer_acts *slot_of(tf_acts_t *a, int l)
{
    return l >= a->save_from ? &a->slots[l - a->save_from] : &a->slots[a->spec.saved_layers];
}

/* Rows of the input prompt: I[p] + wpe[pos] (+ token type) in place of the word embedding;
 * out [B][P_in + T][d_embed] (forward writes the embeddings, backward recomputes the
 * LayerNorm inputs). Defined in transformer.c. */
void tf_input_prompt_embed(tf_acts_t *a, float *out);

#endif
