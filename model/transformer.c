/* transformer.c — forward and prompt backward of RoBERTa/GPT-2 blocks with deep prompts; see
 * transformer.h for the contract and docs/model.md for the equations.
 *
 * One block, both architectures (pre = GPT-2 pre-LN, post = RoBERTa post-LN):
 *   attn_in = pre ? LN1(x) : x
 *   qkv     = attn_in Wqkv + b                        (saved)
 *   att     = attention(qkv, prefix_l)                (A saved)
 *   res_a   = x + drop(att Wo + bo)                   (saved: LN2 input)
 *   mlp_in  = LN2(res_a)
 *   fc      = mlp_in W1 + b1                          (saved: GELU input)
 *   res_m   = (pre ? res_a : mlp_in) + drop(gelu(fc) W2 + b2)   (saved)
 *   out     = pre ? res_m : LN3(res_m)                (saved: next block's input)
 * Last-block pruning: when only the LM rows are read (no linear head, no kept layer outputs), the last block runs its attention over all rows (they are its keys and
 * values) but everything after it — output projection, LN2, MLP, LN3, ln_f, the head — only on the
 * R target rows, compacted in (b, t) order. Rows nobody reads are never computed.
 * Must never write to the weights, and never allocate after tf_acts_new. */
#include "transformer.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "model/kernels.h"
#include "model/linear.h"

/* What one block keeps for backward (or, for the scratch slot, only passes through). */
typedef struct layer_acts {
    float *qkv;             /* [N][3d] */
    float *A;               /* [B][H][T][P+T] */
    float *ln1_mean, *ln1_rstd; /* [N] pre-LN */
    float *res_a;           /* [N][d] */
    float *ln2_mean, *ln2_rstd; /* [N] */
    float *fc;              /* [N][f] */
    float *res_m;           /* [N][d] */
    float *ln3_mean, *ln3_rstd; /* [N] post-LN */
    float *out;             /* [N][d] post-LN; == res_m for pre-LN */
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
    int *ints;    /* the one int allocation: positions, row index, row targets */

    float *emb;                      /* [N][d] embedding output (block 0 input) */
    float *emb_mean, *emb_rstd;      /* [N] RoBERTa embedding LN */
    layer_acts *slots;               /* [saved_layers + 1]; the last one is the scratch */
    float *attn_in, *att, *mlp_in, *gelu; /* shared work buffers [N][d] ×3, [N][f] */
    float *attn_scratch;             /* attention_scratch_floats */
    float *Ed, *dEd;                 /* [B][P][L][2][d] per-example dropped prefix and grad */
    float *hidden, *lnf_mean, *lnf_rstd; /* [N][d], [N] GPT-2 ln_f; [R][d] when pruned */
    float *px, *patt, *pdatt;        /* [R][d] target rows of the last block's input, attention
                                        output and its gradient, when pruned */
    /* LM head at target rows */
    float *h_rows, *t1, *t2, *t3, *t3_mean, *t3_rstd; /* [R][d] …, [R] */
    float *logits, *dlogits;         /* [R][V] */
    float *ex_loss;                  /* [B] */
    int *pos;                        /* [N] */
    int *tok_x, *mask_x;             /* [N] the batch with the input prompt's rows prepended */
    int *row_index, *row_target;     /* [R] row_index in the (expanded) b·T' + t' numbering */
    int *row_caller;                 /* [R] the same rows as the caller numbers them, b·T + t */
    int *ex_rows;                    /* [B] target rows per example */
    /* classification head */
    float *pooled, *cls_logits, *dcls, *dpooled; /* [B][d], [B][C], [B][C], [B][d] */
    /* backward buffers, one block's worth */
    float *dhidden, *dcur, *dnext, *dres_m, *dtmp, *dmlp_in, *dres_a, *datt, *dattn_in; /* [N][d] */
    float *dg, *dfc;                 /* [N][f] */
    float *dqkv;                     /* [N][3d] */
    float *dt1, *dt2, *dt3;          /* [R][d] */

    /* the last forward pass */
    bool have_forward;
    int save_from;      /* first layer that kept activations */
    int lowest_tuned;   /* L when no prompt layer is trainable */
    int lm_rows;
    bool pruned;        /* the last block after attention runs on the lm_rows rows only */
    tf_result res;
    tf_prompt prompt;
    tf_cls_head head;
    bool has_head;
    tf_batch batch;     /* the batch the blocks see: T includes the input prompt's P_in rows */
    int P_in;           /* input prompt rows at the start of every example */
    tf_options opt;
    const tf_weights *w;
    int backward_layers;        /* blocks the last backward went through (tests) */
    int backward_lowest;        /* lowest block it touched, L if none */
};

/* Weight-gradient buffers are tf_weights views (const pointers) of memory the caller gave us to
 * write: this is the one place that drops the const. */
static float *mut(const float *p) { return (float *)(uintptr_t)p; }

/* Sizing pass then assignment pass over the same list of buffers. */
typedef struct carve {
    float *base;
    size_t off;
} carve;

static float *take(carve *c, size_t n)
{
    float *p = c->base ? c->base + c->off : NULL;
    c->off += (n + 15) & ~(size_t)15; /* 64-byte alignment of every buffer */
    return p;
}

static void layout(tf_acts_t *a, carve *c)
{
    const model_config *g = &a->cfg;
    const tf_acts_spec *s = &a->spec;
    const size_t Tx = (size_t)s->T + s->P_in; /* rows per example inside the blocks */
    const size_t N = (size_t)s->B * Tx, d = g->d_model, f = g->d_ff;
    const size_t R = s->max_lm_rows, V = g->vocab_size, C = s->max_classes;
    const size_t Aln = (size_t)s->B * g->n_heads * Tx * (s->P + Tx);
    const size_t prompt = (size_t)s->P * g->n_layers * 2 * d;
    a->emb = take(c, N * d);
    a->emb_mean = take(c, N);
    a->emb_rstd = take(c, N);
    for (int i = 0; i <= s->saved_layers; i++) {
        layer_acts *y = &a->slots[i];
        y->qkv = take(c, N * 3 * d);
        y->A = take(c, Aln);
        y->res_a = take(c, N * d);
        y->ln2_mean = take(c, N);
        y->ln2_rstd = take(c, N);
        y->fc = take(c, N * f);
        y->res_m = take(c, N * d);
        if (g->pre_ln) {
            y->ln1_mean = take(c, N);
            y->ln1_rstd = take(c, N);
            y->out = y->res_m;
        } else {
            y->ln3_mean = take(c, N);
            y->ln3_rstd = take(c, N);
            y->out = take(c, N * d);
        }
    }
    a->attn_in = take(c, N * d);
    a->att = take(c, N * d);
    a->mlp_in = take(c, N * d);
    a->gelu = take(c, N * f);
    for (int i = 0; i <= s->saved_layers; i++) {
        layer_acts *y = &a->slots[i];
        bool own = s->weight_grads && i < s->saved_layers;
        y->attn_in = own ? take(c, N * d) : a->attn_in;
        y->att = own ? take(c, N * d) : a->att;
        y->mlp_in = own ? take(c, N * d) : a->mlp_in;
        y->gelu = own ? take(c, N * f) : a->gelu;
    }
    attn_shape sh = {s->B, (int)Tx, g->n_heads, g->d_model / g->n_heads, s->P, false};
    a->attn_scratch = take(c, attention_scratch_floats(sh));
    a->Ed = take(c, (size_t)s->B * prompt);
    a->dEd = take(c, (size_t)s->B * prompt);
    a->hidden = take(c, N * d);
    a->px = take(c, R * d);
    a->patt = take(c, R * d);
    a->pdatt = take(c, R * d);
    a->lnf_mean = take(c, N);
    a->lnf_rstd = take(c, N);
    a->h_rows = take(c, R * d);
    a->t1 = take(c, R * d);
    a->t2 = take(c, R * d);
    a->t3 = take(c, R * d);
    a->t3_mean = take(c, R);
    a->t3_rstd = take(c, R);
    a->logits = take(c, R * V);
    a->dlogits = take(c, R * V);
    a->ex_loss = take(c, s->B);
    a->pooled = take(c, s->B * d);
    a->cls_logits = take(c, s->B * C);
    a->dcls = take(c, s->B * C);
    a->dpooled = take(c, s->B * d);
    /* Backward through blocks needs a layer that keeps activations; an arena without one
     * (inference, or a head trained on frozen features) gets no block-gradient buffers. */
    const size_t nb = s->saved_layers > 0 ? N : 0;
    a->dhidden = take(c, N * d);
    float **nd[] = {&a->dcur, &a->dnext, &a->dres_m, &a->dtmp,
                    &a->dmlp_in, &a->dres_a, &a->datt, &a->dattn_in};
    for (size_t i = 0; i < sizeof nd / sizeof *nd; i++)
        *nd[i] = take(c, nb * d);
    a->dg = take(c, nb * f);
    a->dfc = take(c, nb * f);
    a->dqkv = take(c, nb * 3 * d);
    a->dt1 = take(c, R * d);
    a->dt2 = take(c, R * d);
    a->dt3 = take(c, R * d);
}

tf_acts_t *tf_acts_new(const model_config *cfg, tf_acts_spec spec, fp_error *err)
{
    if (tf_config_check(cfg, err))
        return NULL;
    if (spec.B <= 0 || spec.T <= 0 || spec.P < 0 || spec.saved_layers < 0 ||
        spec.saved_layers > cfg->n_layers || spec.max_lm_rows < 0 || spec.max_classes < 0 ||
        spec.max_lm_rows > spec.B * spec.T || spec.P_in < 0 ||
        (spec.weight_grads && spec.saved_layers != cfg->n_layers)) {
        fp_fail(err, FP_EINVAL,
                "activation arena: bad sizes (B %d, T %d, P %d, saved layers %d of %d (all for "
                "weight gradients), lm rows %d, classes %d)",
                spec.B, spec.T, spec.P, spec.saved_layers, cfg->n_layers, spec.max_lm_rows,
                spec.max_classes);
        return NULL;
    }
    tf_acts_t *a = calloc(1, sizeof *a);
    if (!a) {
        fp_fail(err, FP_ENOMEM, "out of memory for the activation arena");
        return NULL;
    }
    a->cfg = *cfg;
    a->spec = spec;
    a->slots = calloc((size_t)spec.saved_layers + 1, sizeof *a->slots);
    const size_t N = (size_t)spec.B * (spec.T + spec.P_in);
    a->ints = malloc((3 * N + 3 * (size_t)spec.max_lm_rows + (size_t)spec.B) * sizeof *a->ints);
    carve sizing = {NULL, 0};
    if (a->slots)
        layout(a, &sizing);
    a->n_floats = sizing.off;
    a->block = a->slots ? aligned_alloc(64, a->n_floats * sizeof(float)) : NULL;
    if (!a->block || !a->ints) {
        fp_fail(err, FP_ENOMEM, "out of memory for an activation arena of %zu MB",
                a->n_floats * sizeof(float) >> 20);
        tf_acts_destroy(&a);
        return NULL;
    }
    carve place = {a->block, 0};
    layout(a, &place);
    a->pos = a->ints;
    a->tok_x = a->pos + N;
    a->mask_x = a->tok_x + N;
    a->row_index = a->mask_x + N;
    a->row_target = a->row_index + spec.max_lm_rows;
    a->row_caller = a->row_target + spec.max_lm_rows;
    a->ex_rows = a->row_caller + spec.max_lm_rows;
    return a;
}

void tf_acts_destroy(tf_acts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tf_acts_t *a = *self_p;
    free(a->block);
    free(a->ints);
    free(a->slots);
    free(a);
    *self_p = NULL;
}

size_t tf_acts_bytes(const tf_acts_t *self)
{
    const size_t N = (size_t)self->spec.B * (self->spec.T + self->spec.P_in);
    return self->n_floats * sizeof(float) +
           (3 * N + 3 * (size_t)self->spec.max_lm_rows + (size_t)self->spec.B) * sizeof(int);
}

/* ---------------------------------------------------------------- validation */

/* RoBERTa normalises the embedding sum; USE-lite-style encoders and GPT-2 do not. */
static bool has_embedding_ln(const model_config *c)
{
    return c->arch == MODEL_ARCH_ROBERTA && !c->no_embedding_ln;
}

/* Field by field: a struct compare would also compare padding bytes. */
static bool config_equal(const model_config *x, const model_config *y)
{
    return x->arch == y->arch && x->vocab_size == y->vocab_size &&
           x->max_positions == y->max_positions && x->n_layers == y->n_layers &&
           x->d_model == y->d_model && x->n_heads == y->n_heads && x->d_ff == y->d_ff &&
           x->type_vocab_size == y->type_vocab_size && x->layer_norm_eps == y->layer_norm_eps &&
           x->pre_ln == y->pre_ln && x->final_ln == y->final_ln &&
           x->pad_token_id == y->pad_token_id && x->position_offset == y->position_offset &&
           x->hidden_act == y->hidden_act && x->no_embedding_ln == y->no_embedding_ln &&
           x->prefix_keeps_positions == y->prefix_keeps_positions &&
           model_embed_width(x) == model_embed_width(y);
}

/* Position id of a padding row (RoBERTa: pad_token_id). Padding is masked out of attention and
 * pooling, so any valid row will do when pad_token_id lies beyond the table (USE-lite: 8000). */
static int padding_position(const model_config *c)
{
    return c->pad_token_id >= 0 && c->pad_token_id < c->max_positions ? c->pad_token_id : 0;
}

static fp_status check_inputs(tf_acts_t *a, const model_config *c, const tf_prompt *pr,
                              const tf_cls_head *head, const tf_batch *bt, const tf_options *opt,
                              fp_error *err)
{
    const tf_acts_spec *s = &a->spec;
    const int L = c->n_layers, P = pr ? pr->P : 0;
    if (!config_equal(c, &a->cfg))
        return fp_fail(err, FP_EINVAL, "forward: model config differs from the arena's");
    if (bt->B <= 0 || bt->T <= 0 || bt->B > s->B || bt->T > s->T)
        return fp_fail(err, FP_ELIMIT, "forward: batch %dx%d does not fit the arena (%dx%d)",
                       bt->B, bt->T, s->B, s->T);
    if (P < 0 || P > s->P || (P > 0 && !pr->E))
        return fp_fail(err, FP_ELIMIT, "forward: prompt length %d (arena %d) or no prompt", P,
                       s->P);
    if (opt->dropout < 0.0f || opt->dropout >= 1.0f || opt->prefix_dropout < 0.0f ||
        opt->prefix_dropout >= 1.0f)
        return fp_fail(err, FP_EINVAL, "forward: dropout must be in [0, 1)");
    if (head && (head->n_classes <= 0 || head->n_classes > s->max_classes || !head->W ||
                 !head->b))
        return fp_fail(err, FP_ELIMIT, "forward: classification head of %d classes (arena %d)",
                       head->n_classes, s->max_classes);
    if (bt->labels && !head)
        return fp_fail(err, FP_EINVAL, "forward: labels given without a classification head");
    if (bt->targets && c->arch == MODEL_ARCH_ROBERTA && !a->w->has_lm_head)
        return fp_fail(err, FP_ESTATE, "forward: the checkpoint has no lm_head for MLM targets");
    for (int l = 0; pr && pr->trainable && l < L; l++)
        if (pr->trainable[l] && (P == 0 || (pr->present && !pr->present[l]) || !pr->dE))
            return fp_fail(err, FP_EINVAL,
                           "forward: layer %d is trainable but has no prefix or no dE", l);
    const int Pin = pr ? pr->P_in : 0;
    if (Pin < 0 || Pin > s->P_in || (Pin > 0 && !pr->input))
        return fp_fail(err, FP_ELIMIT, "forward: input prompt of %d tokens (arena %d) or no I",
                       Pin, s->P_in);
    if (Pin > 0 && pr->d_input && opt->grads)
        return fp_fail(err, FP_EINVAL,
                       "forward: a trainable input prompt and weight gradients together");
    /* The blocks see Tx = P_in + T rows per example: the virtual tokens, then the text. */
    const int B = bt->B, T = bt->T, Tx = T + Pin;
    const int shift = model_prefix_position_shift(c, P);
    int rows = 0;
    for (int b = 0; b < B; b++) {
        int real = 0;
        for (int tx = 0; tx < Tx; tx++) {
            const int t = tx - Pin, i = b * Tx + tx, ic = b * T + t;
            const bool virtual_tok = tx < Pin;
            int tok = virtual_tok ? 0 : bt->tokens[ic];
            if (tok < 0 || tok >= c->vocab_size)
                return fp_fail(err, FP_EINVAL, "forward: token %d at [%d][%d] outside vocab %d",
                               tok, b, t, c->vocab_size);
            bool is_real = virtual_tok || !bt->mask || bt->mask[ic];
            /* RoBERTa numbers real tokens (padding gets pad_token_id), GPT-2 numbers slots. */
            int pos;
            if (c->arch == MODEL_ARCH_ROBERTA)
                pos = is_real ? c->position_offset + shift + real : padding_position(c);
            else
                pos = c->position_offset + shift + tx;
            real += is_real;
            if (pos < 0 || pos >= c->max_positions)
                return fp_fail(err, FP_ELIMIT,
                               "forward: position %d of [%d][%d] beyond the %d position "
                               "embeddings (prompt %d + sequence too long)",
                               pos, b, t, c->max_positions, P + Pin);
            a->pos[i] = pos;
            a->tok_x[i] = tok;
            a->mask_x[i] = is_real;
            if (!virtual_tok && bt->targets && bt->targets[ic] >= 0) {
                if (bt->targets[ic] >= c->vocab_size)
                    return fp_fail(err, FP_EINVAL, "forward: target %d at [%d][%d] outside vocab",
                                   bt->targets[ic], b, t);
                if (rows == s->max_lm_rows)
                    return fp_fail(err, FP_ELIMIT, "forward: more than %d target rows",
                                   s->max_lm_rows);
                a->row_index[rows] = i;
                a->row_caller[rows] = ic;
                a->row_target[rows] = bt->targets[ic];
                rows++;
            }
        }
        if (bt->labels && (bt->labels[b] < 0 || bt->labels[b] >= head->n_classes))
            return fp_fail(err, FP_EINVAL, "forward: label %d of example %d outside [0, %d)",
                           bt->labels[b], b, head->n_classes);
    }
    a->lm_rows = rows;
    return FP_OK;
}

/* ---------------------------------------------------------------- forward */

static bool layer_present(const tf_prompt *pr, int l)
{
    return pr && pr->P > 0 && (!pr->present || pr->present[l]);
}

static attn_prefix prefix_of(const tf_acts_t *a, int l)
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

static attn_shape shape_of(const tf_acts_t *a, int l)
{
    attn_shape s = {a->batch.B, a->batch.T, a->cfg.n_heads,
                    model_layer_width(&a->cfg, l) / a->cfg.n_heads,
                    layer_present(&a->prompt, l) ? a->prompt.P : 0,
                    a->cfg.arch == MODEL_ARCH_GPT2};
    return s;
}

static uint64_t site(const tf_acts_t *a, int l, int k) { return (uint64_t)l * SITES_PER_LAYER + k; }

/* qkv [N][3d] = x [N][d] · [Wq | Wk | Wv] + [bq | bk | bv]: one sgemm when the three are column
 * blocks of one [d][3d] matrix (GPT-2 c_attn), else three into the column blocks. */
static void qkv_forward(float *qkv, const float *x, const tf_layer_weights *y, int N, int d)
{
    if (y->q.layout == LIN_IN_OUT && y->q.ld == 3 * d && y->k.w == y->q.w + d &&
        y->v.w == y->q.w + 2 * d && y->k_b == y->q_b + d && y->v_b == y->q_b + 2 * d) {
        linear_forward(qkv, 3 * d, x, d, y->q, y->q_b, N, d, 3 * d, false);
        return;
    }
    linear_forward(qkv, 3 * d, x, d, y->q, y->q_b, N, d, d, false);
    linear_forward(qkv + d, 3 * d, x, d, y->k, y->k_b, N, d, d, false);
    linear_forward(qkv + 2 * d, 3 * d, x, d, y->v, y->v_b, N, d, d, false);
}

static void qkv_backward_input(float *dx, const float *dqkv, const tf_layer_weights *y, int N,
                               int d)
{
    if (y->q.layout == LIN_IN_OUT && y->q.ld == 3 * d && y->k.w == y->q.w + d &&
        y->v.w == y->q.w + 2 * d) {
        linear_backward_input(dx, d, dqkv, 3 * d, y->q, N, d, 3 * d, false);
        return;
    }
    linear_backward_input(dx, d, dqkv, 3 * d, y->q, N, d, d, false);
    linear_backward_input(dx, d, dqkv + d, 3 * d, y->k, N, d, d, true);
    linear_backward_input(dx, d, dqkv + 2 * d, 3 * d, y->v, N, d, d, true);
}

/* Weight gradients of the fused or separate Q/K/V projections (G in the weights' layout). */
static void qkv_backward_weight(const tf_layer_weights *G, const float *x, const float *dqkv,
                                int N, int d)
{
    if (G->q.layout == LIN_IN_OUT && G->q.ld == 3 * d && G->k.w == G->q.w + d &&
        G->v.w == G->q.w + 2 * d && G->k_b == G->q_b + d) {
        linear_backward_weight(mut(G->q.w), G->q, mut(G->q_b), x, d, dqkv, 3 * d, N, d, 3 * d);
        return;
    }
    linear_backward_weight(mut(G->q.w), G->q, mut(G->q_b), x, d, dqkv, 3 * d, N, d, d);
    linear_backward_weight(mut(G->k.w), G->k, mut(G->k_b), x, d, dqkv + d, 3 * d, N, d, d);
    linear_backward_weight(mut(G->v.w), G->v, mut(G->v_b), x, d, dqkv + 2 * d, 3 * d, N, d, d);
}

/* Rows block l computes after its attention: all B·T, or the target rows of a pruned last block. */
static int rows_of(const tf_acts_t *a, int l)
{
    return a->pruned && l == a->cfg.n_layers - 1 ? a->lm_rows : a->batch.B * a->batch.T;
}

/* dst[r] = src[idx[r]] for rows of d floats. */
static void gather_rows(float *dst, const float *src, const int *idx, int R, int d)
{
    for (int r = 0; r < R; r++)
        memcpy(dst + (size_t)r * d, src + (size_t)idx[r] * d, (size_t)d * sizeof(float));
}

/* dst[idx[r]] += src[r]. */
static void scatter_add_rows(float *dst, const float *src, const int *idx, int R, int d)
{
    for (int r = 0; r < R; r++) {
        float *restrict o = dst + (size_t)idx[r] * d;
        const float *restrict g = src + (size_t)r * d;
        for (int i = 0; i < d; i++)
            o[i] += g[i];
    }
}

static void layer_forward(tf_acts_t *a, int l, const float *x, layer_acts *s)
{
    const model_config *c = &a->cfg;
    const tf_layer_weights *y = &a->w->layers[l];
    const int d = c->d_model, f = c->d_ff, di = model_layer_width(c, l); /* di: input width */
    int N = a->batch.B * a->batch.T;
    const float eps = c->layer_norm_eps, p = a->opt.dropout;
    const uint64_t seed = a->opt.seed;
    const float *attn_in = x;
    if (c->pre_ln) {
        layernorm_forward(s->attn_in, s->ln1_mean, s->ln1_rstd, x, y->ln1_w, y->ln1_b, N, di,
                          eps);
        attn_in = s->attn_in;
    }
    qkv_forward(s->qkv, attn_in, y, N, di);
    attention_forward(s->att, s->A, a->attn_scratch, s->qkv, prefix_of(a, l), a->batch.mask,
                      shape_of(a, l), p, seed, site(a, l, SITE_ATTN));
    const float *att = s->att;
    if (rows_of(a, l) != N) { /* pruned last block: continue on the target rows only */
        gather_rows(a->px, x, a->row_index, a->lm_rows, di);
        gather_rows(a->patt, s->att, a->row_index, a->lm_rows, di);
        x = a->px;
        att = a->patt;
        N = a->lm_rows;
    }
    linear_forward(s->res_a, d, att, di, y->o, y->o_b, N, di, d, false);
    dropout_forward(s->res_a, s->res_a, N * d, p, seed, site(a, l, SITE_ATTN_OUT), 0);
    if (y->in_proj.w) /* the residual changes width: res_a += x Wp + bp */
        linear_forward(s->res_a, d, x, di, y->in_proj, y->in_proj_b, N, di, d, true);
    else
        residual_forward(s->res_a, s->res_a, x, N * d); /* x is not read after this line */
    layernorm_forward(s->mlp_in, s->ln2_mean, s->ln2_rstd, s->res_a, y->ln2_w, y->ln2_b, N, d,
                      eps);
    linear_forward(s->fc, f, s->mlp_in, d, y->fc, y->fc_b, N, d, f, false);
    if (c->hidden_act == MODEL_ACT_RELU)
        relu_forward(s->gelu, s->fc, N * f);
    else
        gelu_forward(s->gelu, s->fc, N * f, c->arch == MODEL_ARCH_GPT2);
    linear_forward(s->res_m, d, s->gelu, f, y->proj, y->proj_b, N, f, d, false);
    dropout_forward(s->res_m, s->res_m, N * d, p, seed, site(a, l, SITE_MLP_OUT), 0);
    residual_forward(s->res_m, s->res_m, c->pre_ln ? s->res_a : s->mlp_in, N * d);
    if (!c->pre_ln)
        layernorm_forward(s->out, s->ln3_mean, s->ln3_rstd, s->res_m, y->ln3_w, y->ln3_b, N, d,
                          eps);
}

static layer_acts *slot_of(tf_acts_t *a, int l)
{
    return l >= a->save_from ? &a->slots[l - a->save_from] : &a->slots[a->spec.saved_layers];
}

/* The deep prompt with per-example dropout: Ed[b] = dropout(E) for the present layers. */
static void prefix_dropout_forward(tf_acts_t *a)
{
    const size_t n = (size_t)a->prompt.P * a->cfg.n_layers * 2 * a->cfg.d_model;
    for (int b = 0; b < a->batch.B; b++)
        dropout_forward(a->Ed + b * n, a->prompt.E, (int)n, a->opt.prefix_dropout, a->opt.seed,
                        site(a, a->cfg.n_layers, 1), (uint64_t)b);
}

/* MLM / LM head at the target rows: logits [R][V] and CE. */
static void lm_head_forward(tf_acts_t *a)
{
    const model_config *c = &a->cfg;
    const tf_weights *w = a->w;
    const int R = a->lm_rows, d = c->d_model, V = c->vocab_size;
    if (a->pruned) /* hidden already holds exactly the target rows */
        memcpy(a->h_rows, a->hidden, (size_t)R * d * sizeof(float));
    else
        gather_rows(a->h_rows, a->hidden, a->row_index, R, d);
    const float *top = a->h_rows;
    if (c->arch == MODEL_ARCH_ROBERTA) {
        linear_forward(a->t1, d, a->h_rows, d, w->head_dense, w->head_dense_b, R, d, d, false);
        gelu_forward(a->t2, a->t1, R * d, false);
        layernorm_forward(a->t3, a->t3_mean, a->t3_rstd, a->t2, w->head_ln_w, w->head_ln_b, R, d,
                          c->layer_norm_eps);
        top = a->t3;
    }
    lin_w dec = {w->wte, d, LIN_OUT_IN}; /* tied decoder: wte [V][d] is [out][in] */
    linear_forward(a->logits, V, top, d, dec, c->arch == MODEL_ARCH_ROBERTA ? w->head_bias : NULL,
                   R, d, V, false);
    memset(a->ex_loss, 0, (size_t)a->batch.B * sizeof(float));
    int *counts = a->ex_rows;
    memset(counts, 0, (size_t)a->batch.B * sizeof *counts);
    double total = 0;
    for (int r = 0; r < R; r++) {
        float ce = crossentropy_forward(a->logits + (size_t)r * V, V, a->row_target[r]);
        int b = a->row_index[r] / a->batch.T;
        a->ex_loss[b] += ce;
        counts[b]++;
        total += ce;
    }
    for (int b = 0; b < a->batch.B; b++)
        if (counts[b])
            a->ex_loss[b] /= (float)counts[b];
    a->res.lm_loss = R ? (float)(total / R) : 0.0f;
}

/* Mean over real tokens of the last hidden state; logits = W pooled + b; CE when labelled. */
static void cls_head_forward(tf_acts_t *a)
{
    const int B = a->batch.B, T = a->batch.T, d = a->cfg.d_model, C = a->head.n_classes;
    for (int b = 0; b < B; b++) {
        float *pool = a->pooled + (size_t)b * d;
        memset(pool, 0, (size_t)d * sizeof(float));
        int n = 0;
        for (int t = a->P_in; t < T; t++) { /* the input prompt's rows are not text */
            if (a->batch.mask && !a->batch.mask[b * T + t])
                continue;
            const float *h = a->hidden + ((size_t)b * T + t) * d;
            for (int i = 0; i < d; i++)
                pool[i] += h[i];
            n++;
        }
        float inv = n ? 1.0f / (float)n : 0.0f;
        for (int i = 0; i < d; i++)
            pool[i] *= inv;
    }
    lin_w W = {a->head.W, d, LIN_OUT_IN};
    linear_forward(a->cls_logits, C, a->pooled, d, W, a->head.b, B, d, C, false);
    double total = 0;
    if (a->batch.labels)
        for (int b = 0; b < B; b++)
            total += crossentropy_forward(a->cls_logits + (size_t)b * C, C, a->batch.labels[b]);
    a->res.cls_loss = a->batch.labels ? (float)(total / B) : 0.0f;
}

/* Rows of the input prompt: I[p] + wpe[pos] (+ token type) in place of the word embedding. */
static void input_prompt_embed(tf_acts_t *a, float *out)
{
    const tf_weights *w = a->w;
    const int d = a->cfg.d_model, de = model_embed_width(&a->cfg), Tx = a->batch.T;
    for (int b = 0; b < a->batch.B; b++)
        for (int p = 0; p < a->P_in; p++) {
            int i = b * Tx + p;
            const float *restrict src = a->prompt.input + (size_t)p * d; /* rows of d, de used */
            const float *restrict pe = w->wpe + (size_t)a->pos[i] * de;
            float *restrict o = out + (size_t)i * de;
            for (int k = 0; k < de; k++)
                o[k] = src[k] + pe[k] + (w->wtt ? w->wtt[k] : 0.0f);
        }
}

fp_status tf_forward(tf_acts_t *a, const model_config *c, const tf_weights *w,
                     const tf_prompt *prompt, const tf_cls_head *head, const tf_batch *batch,
                     const tf_options *opt, tf_result *res, fp_error *err)
{
    a->have_forward = false;
    a->w = w;
    fp_status st = check_inputs(a, c, prompt, head, batch, opt, err);
    if (st)
        return st;
    a->P_in = prompt ? prompt->P_in : 0;
    const int L = c->n_layers, N = batch->B * (batch->T + a->P_in), d = c->d_model;
    const int de = model_embed_width(c);
    a->batch = (tf_batch){batch->B, batch->T + a->P_in, a->tok_x, a->mask_x, NULL,
                          batch->labels};
    a->opt = *opt;
    memset(&a->prompt, 0, sizeof a->prompt);
    if (prompt)
        a->prompt = *prompt;
    a->has_head = head != NULL;
    if (head)
        a->head = *head;
    memset(&a->res, 0, sizeof a->res);

    a->lowest_tuned = L;
    for (int l = 0; prompt && prompt->trainable && l < L; l++)
        if (prompt->trainable[l]) {
            a->lowest_tuned = l;
            break;
        }
    if (opt->grads && (!opt->grad || !a->spec.weight_grads))
        return fp_fail(err, FP_EINVAL,
                       "forward: weight gradients need grad = true and an arena made for them");
    /* a trainable input prompt or weight gradients need backward through every block */
    const bool to_bottom = opt->grads || (a->P_in > 0 && prompt->d_input);
    a->save_from = opt->keep_all_layers || (opt->grad && to_bottom) ? 0
                   : opt->grad                                    ? a->lowest_tuned
                                                                  : L;
    if (L - a->save_from > a->spec.saved_layers)
        return fp_fail(err, FP_ELIMIT,
                       "forward: %d layers must keep activations but the arena holds %d",
                       L - a->save_from, a->spec.saved_layers);

    if (a->prompt.P > 0 && opt->prefix_dropout > 0.0f)
        prefix_dropout_forward(a);

    embedding_forward(a->emb, a->tok_x, a->pos, w->wte, w->wpe, w->wtt, N, de);
    if (a->P_in > 0)
        input_prompt_embed(a, a->emb);
    if (has_embedding_ln(c))
        layernorm_forward(a->emb, a->emb_mean, a->emb_rstd, a->emb, w->emb_ln_w, w->emb_ln_b, N,
                          de, c->layer_norm_eps);
    dropout_forward(a->emb, a->emb, N * de, opt->dropout, opt->seed, site(a, L, 0), 0);

    a->pruned = a->lm_rows > 0 && !head && !opt->keep_all_layers;
    const float *x = a->emb;
    for (int l = 0; l < L; l++) {
        layer_acts *s = slot_of(a, l);
        layer_forward(a, l, x, s);
        x = s->out;
    }
    const int M = rows_of(a, L - 1);
    if (c->final_ln)
        layernorm_forward(a->hidden, a->lnf_mean, a->lnf_rstd, x, w->lnf_w, w->lnf_b, M, d,
                          c->layer_norm_eps);
    else
        memcpy(a->hidden, x, (size_t)M * d * sizeof(float));

    a->res.lm_rows = a->lm_rows;
    if (a->lm_rows > 0)
        lm_head_forward(a);
    if (head)
        cls_head_forward(a);
    a->res.loss = a->res.lm_loss + a->res.cls_loss;
    a->have_forward = true;
    if (res)
        *res = a->res;
    return FP_OK;
}

/* ---------------------------------------------------------------- backward */

/* dhidden [N][d] (overwritten) from the LM rows' CE, mean over rows. */
static void lm_head_backward(tf_acts_t *a)
{
    const model_config *c = &a->cfg;
    const tf_weights *w = a->w;
    const int R = a->lm_rows, d = c->d_model, V = c->vocab_size;
    for (int r = 0; r < R; r++)
        crossentropy_backward(a->dlogits + (size_t)r * V, a->logits + (size_t)r * V, V,
                              a->row_target[r], 1.0f / (float)R);
    const tf_weights *G = a->opt.grads;
    const bool enc = c->arch == MODEL_ARCH_ROBERTA;
    lin_w dec = {w->wte, d, LIN_OUT_IN};
    if (G) { /* tied decoder: its gradient lands in wte's */
        lin_w gdec = {G->wte, d, LIN_OUT_IN};
        linear_backward_weight(mut(G->wte), gdec, enc ? mut(G->head_bias) : NULL,
                               enc ? a->t3 : a->h_rows, d, a->dlogits, V, R, d, V);
    }
    linear_backward_input(a->dt3, d, a->dlogits, V, dec, R, d, V, false);
    const float *drows = a->dt3;
    if (enc) {
        memset(a->dt2, 0, (size_t)R * d * sizeof(float));
        layernorm_backward(a->dt2, G ? mut(G->head_ln_w) : NULL, G ? mut(G->head_ln_b) : NULL,
                           a->dt3, a->t2, w->head_ln_w, a->t3_mean, a->t3_rstd, R, d);
        memset(a->dt1, 0, (size_t)R * d * sizeof(float));
        gelu_backward(a->dt1, a->dt2, a->t1, R * d, false);
        if (G)
            linear_backward_weight(mut(G->head_dense.w), G->head_dense, mut(G->head_dense_b),
                                   a->h_rows, d, a->dt1, d, R, d, d);
        linear_backward_input(a->dt2, d, a->dt1, d, w->head_dense, R, d, d, false);
        drows = a->dt2;
    }
    if (a->pruned) {
        for (size_t i = 0; i < (size_t)R * d; i++)
            a->dhidden[i] += drows[i];
    } else {
        scatter_add_rows(a->dhidden, drows, a->row_index, R, d);
    }
}

static void cls_head_backward(tf_acts_t *a)
{
    const int B = a->batch.B, T = a->batch.T, d = a->cfg.d_model, C = a->head.n_classes;
    if (!a->batch.labels)
        return;
    for (int b = 0; b < B; b++)
        crossentropy_backward(a->dcls + (size_t)b * C, a->cls_logits + (size_t)b * C, C,
                              a->batch.labels[b], 1.0f / (float)B);
    if (a->head.dW) {
        memset(a->head.dW, 0, (size_t)C * d * sizeof(float));
        memset(a->head.db, 0, (size_t)C * sizeof(float));
        lin_w dW = {a->head.dW, d, LIN_OUT_IN};
        linear_backward_weight(a->head.dW, dW, a->head.db, a->pooled, d, a->dcls, C, B, d, C);
    }
    lin_w W = {a->head.W, d, LIN_OUT_IN};
    linear_backward_input(a->dpooled, d, a->dcls, C, W, B, d, C, false);
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int t = a->P_in; t < T; t++)
            n += !a->batch.mask || a->batch.mask[b * T + t];
        if (!n)
            continue;
        const float inv = 1.0f / (float)n;
        const float *restrict g = a->dpooled + (size_t)b * d;
        for (int t = a->P_in; t < T; t++) {
            if (a->batch.mask && !a->batch.mask[b * T + t])
                continue;
            float *restrict dh = a->dhidden + ((size_t)b * T + t) * d;
            for (int i = 0; i < d; i++)
                dh[i] += g[i] * inv;
        }
    }
}

/* Gradient destination for layer l's prefix, or {NULL} when not trainable. */
static attn_prefix_grad prefix_grad_of(tf_acts_t *a, int l)
{
    const tf_prompt *pr = &a->prompt;
    const int L = a->cfg.n_layers, d = a->cfg.d_model;
    attn_prefix_grad g = {NULL, NULL, L * 2 * d, 0};
    if (!pr->trainable || !pr->trainable[l])
        return g;
    float *base = pr->dE;
    if (a->opt.prefix_dropout > 0.0f) {
        base = a->dEd;
        g.batch_stride = (size_t)pr->P * L * 2 * d;
    }
    g.k = base + tf_prompt_index(L, d, 0, l, 0);
    g.v = base + tf_prompt_index(L, d, 0, l, 1);
    return g;
}

/* Zeroes the gradient rows of the trainable layers (in dE, or in every example's dEd). */
static void zero_prefix_grads(tf_acts_t *a)
{
    const tf_prompt *pr = &a->prompt;
    const int L = a->cfg.n_layers, d = a->cfg.d_model, P = pr->P;
    const bool per_example = a->opt.prefix_dropout > 0.0f;
    const size_t n = (size_t)P * L * 2 * d;
    for (int b = 0; b < (per_example ? a->batch.B : 1); b++) {
        float *base = per_example ? a->dEd + b * n : pr->dE;
        for (int p = 0; p < P; p++)
            for (int l = 0; l < L; l++)
                if (pr->trainable[l])
                    memset(base + tf_prompt_index(L, d, p, l, 0), 0, 2 * (size_t)d * sizeof(float));
    }
}

/* dE[p][l] = Σ_b dropout_backward(dEd[b][p][l]) for the trainable layers. */
static void prefix_dropout_backward(tf_acts_t *a)
{
    const tf_prompt *pr = &a->prompt;
    const int L = a->cfg.n_layers, d = a->cfg.d_model, P = pr->P;
    const size_t n = (size_t)P * L * 2 * d;
    /* The mask covers the whole [P][L][2][d] block in order, so the backward pass runs over the
     * whole block too (rows of untrainable layers were zeroed and stay zero in a temporary). */
    float *sum = a->Ed; /* Ed is no longer needed once attention backward is done */
    memset(sum, 0, n * sizeof(float));
    for (int b = 0; b < a->batch.B; b++) {
        float *g = a->dEd + b * n;
        for (int p = 0; p < P; p++)
            for (int l = 0; l < L; l++)
                if (!pr->trainable[l])
                    memset(g + tf_prompt_index(L, d, p, l, 0), 0, 2 * (size_t)d * sizeof(float));
        dropout_backward(sum, g, (int)n, a->opt.prefix_dropout, a->opt.seed,
                         site(a, a->cfg.n_layers, 1), (uint64_t)b);
    }
    for (int p = 0; p < P; p++)
        for (int l = 0; l < L; l++)
            if (pr->trainable[l])
                memcpy(pr->dE + tf_prompt_index(L, d, p, l, 0),
                       sum + tf_prompt_index(L, d, p, l, 0), 2 * (size_t)d * sizeof(float));
}

/* Backward through block l: dout = dL/d(out_l) in; dx = dL/d(x_l) out (NULL at the lowest tuned
 * block, which only needs its prefix gradient). x is the block's input. */
static void layer_backward(tf_acts_t *a, int l, const float *x, const float *dout, float *dx)
{
    const model_config *c = &a->cfg;
    const tf_layer_weights *y = &a->w->layers[l];
    const layer_acts *s = slot_of(a, l);
    const int NT = a->batch.B * a->batch.T, d = c->d_model, f = c->d_ff;
    const int di = model_layer_width(c, l); /* input and attention width */
    const int N = rows_of(a, l); /* rows after the attention (target rows when pruned) */
    const size_t nd = (size_t)N * d;
    const float p = a->opt.dropout;
    const uint64_t seed = a->opt.seed;
    /* weight gradients (pretraining only): G is NULL in prompt tuning */
    const tf_layer_weights *G = a->opt.grads ? &a->opt.grads->layers[l] : NULL;

    /* out = pre ? res_m : LN3(res_m) */
    const float *dres_m = dout;
    if (!c->pre_ln) {
        memset(a->dres_m, 0, nd * sizeof(float));
        layernorm_backward(a->dres_m, G ? mut(G->ln3_w) : NULL, G ? mut(G->ln3_b) : NULL, dout,
                           s->res_m, y->ln3_w, s->ln3_mean, s->ln3_rstd, N, d);
        dres_m = a->dres_m;
    }
    /* res_m = base + drop(gelu(fc) W2 + b2) */
    memset(a->dtmp, 0, nd * sizeof(float));
    dropout_backward(a->dtmp, dres_m, N * d, p, seed, site(a, l, SITE_MLP_OUT), 0);
    if (G)
        linear_backward_weight(mut(G->proj.w), G->proj, mut(G->proj_b), s->gelu, f, a->dtmp, d, N,
                               f, d);
    linear_backward_input(a->dg, f, a->dtmp, d, y->proj, N, f, d, false);
    memset(a->dfc, 0, (size_t)N * f * sizeof(float));
    if (c->hidden_act == MODEL_ACT_RELU)
        relu_backward(a->dfc, a->dg, s->fc, N * f);
    else
        gelu_backward(a->dfc, a->dg, s->fc, N * f, c->arch == MODEL_ARCH_GPT2);
    if (G)
        linear_backward_weight(mut(G->fc.w), G->fc, mut(G->fc_b), s->mlp_in, d, a->dfc, f, N, d,
                               f);
    linear_backward_input(a->dmlp_in, d, a->dfc, f, y->fc, N, d, f, false);
    if (!c->pre_ln) /* post-LN: the MLP residual starts from mlp_in */
        residual_forward(a->dmlp_in, a->dmlp_in, dres_m, N * d);
    /* mlp_in = LN2(res_a) */
    if (c->pre_ln) /* pre-LN: the MLP residual starts from res_a */
        memcpy(a->dres_a, dres_m, nd * sizeof(float));
    else
        memset(a->dres_a, 0, nd * sizeof(float));
    layernorm_backward(a->dres_a, G ? mut(G->ln2_w) : NULL, G ? mut(G->ln2_b) : NULL,
                       a->dmlp_in, s->res_a, y->ln2_w, s->ln2_mean, s->ln2_rstd, N, d);
    /* res_a = x + drop(att Wo + bo) */
    memset(a->dtmp, 0, nd * sizeof(float));
    dropout_backward(a->dtmp, a->dres_a, N * d, p, seed, site(a, l, SITE_ATTN_OUT), 0);
    if (G) /* the output projection's input: all rows, or the gathered target rows */
        linear_backward_weight(mut(G->o.w), G->o, mut(G->o_b), N == NT ? s->att : a->patt, di,
                               a->dtmp, d, N, di, d);
    if (N == NT) {
        linear_backward_input(a->datt, di, a->dtmp, d, y->o, N, di, d, false);
    } else { /* pruned: only the target rows of the attention output have a gradient */
        linear_backward_input(a->pdatt, di, a->dtmp, d, y->o, N, di, d, false);
        memset(a->datt, 0, (size_t)NT * di * sizeof(float));
        scatter_add_rows(a->datt, a->pdatt, a->row_index, N, di);
    }
    float *dqkv = NULL;
    if (dx || G) {
        dqkv = a->dqkv;
        memset(dqkv, 0, (size_t)NT * 3 * di * sizeof(float));
    }
    attention_backward(dqkv, prefix_grad_of(a, l), a->attn_scratch, a->datt, s->qkv, s->A,
                       prefix_of(a, l), shape_of(a, l), p, seed, site(a, l, SITE_ATTN));
    a->backward_layers++;
    a->backward_lowest = l;
    if (G)
        qkv_backward_weight(G, c->pre_ln ? s->attn_in : x, dqkv, NT, di);
    if (G && y->in_proj.w) /* the projected residual's input: x, or its gathered target rows */
        linear_backward_weight(mut(G->in_proj.w), G->in_proj, mut(G->in_proj_b),
                               N == NT ? x : a->px, di, a->dres_a, d, N, di, d);
    if (!dx)
        return;
    /* dx = d(residual)/dx · dres_a + d(attn_in)/dx · dattn_in */
    qkv_backward_input(a->dattn_in, dqkv, y, NT, di);
    const float *dres = a->dres_a; /* the residual's gradient in x's width, N rows */
    if (y->in_proj.w) {
        /* dtmp (the attention output's gradient) is no longer needed */
        linear_backward_input(a->dtmp, di, a->dres_a, d, y->in_proj, N, di, d, false);
        dres = a->dtmp;
    }
    if (N == NT) {
        memcpy(dx, dres, (size_t)N * di * sizeof(float));
    } else {
        memset(dx, 0, (size_t)NT * di * sizeof(float));
        scatter_add_rows(dx, dres, a->row_index, N, di);
    }
    if (c->pre_ln) {
        layernorm_backward(dx, G ? mut(G->ln1_w) : NULL, G ? mut(G->ln1_b) : NULL, a->dattn_in, x,
                           y->ln1_w, s->ln1_mean, s->ln1_rstd, NT, di);
    } else {
        residual_forward(dx, dx, a->dattn_in, NT * di);
    }
}

/* Weight gradients of the embeddings from demb = dL/d(block 0 input) (pretraining only).
 * The embedding LayerNorm ran in place, so its input (the sum of the rows) is recomputed. */
static void embeddings_backward(tf_acts_t *a, const float *demb)
{
    const model_config *c = &a->cfg;
    const tf_weights *w = a->w, *G = a->opt.grads;
    const int N = a->batch.B * a->batch.T, d = model_embed_width(c);
    const size_t nd = (size_t)N * d;
    float *dsum = a->dres_a, *sum = a->dtmp; /* free at this point */
    memset(dsum, 0, nd * sizeof(float));
    if (has_embedding_ln(c)) {
        memset(a->dmlp_in, 0, nd * sizeof(float));
        dropout_backward(a->dmlp_in, demb, N * d, a->opt.dropout, a->opt.seed,
                         site(a, c->n_layers, 0), 0);
        embedding_forward(sum, a->batch.tokens, a->pos, w->wte, w->wpe, w->wtt, N, d);
        layernorm_backward(dsum, mut(G->emb_ln_w), mut(G->emb_ln_b), a->dmlp_in, sum, w->emb_ln_w,
                           a->emb_mean, a->emb_rstd, N, d);
    } else {
        dropout_backward(dsum, demb, N * d, a->opt.dropout, a->opt.seed, site(a, c->n_layers, 0),
                         0);
    }
    if (c->arch == MODEL_ARCH_ROBERTA) {
        float *restrict gtt = mut(G->wtt); /* row 0 of the token types */
        for (int n = 0; n < N; n++)
            for (int i = 0; i < d; i++)
                gtt[i] += dsum[(size_t)n * d + i];
    }
    embedding_backward(mut(G->wte), mut(G->wpe), dsum, a->batch.tokens, a->pos, N, d);
}

/* dI[p] = Σ_b d(embedding row of virtual token p) through the embedding dropout and (RoBERTa)
 * LayerNorm, from demb = dL/d(block 0 input). OVERWRITES dI. */
static void input_prompt_backward(tf_acts_t *a, const float *demb)
{
    const model_config *c = &a->cfg;
    const tf_weights *w = a->w;
    const int N = a->batch.B * a->batch.T, Tx = a->batch.T;
    const int d = c->d_model, de = model_embed_width(c); /* rows of d, the first de used */
    float *g = a->dres_a, *sum = a->dtmp, *dsum = a->dmlp_in; /* free at this point */
    memset(g, 0, (size_t)N * de * sizeof(float));
    dropout_backward(g, demb, N * de, a->opt.dropout, a->opt.seed, site(a, c->n_layers, 0), 0);
    memset(a->prompt.d_input, 0, (size_t)a->P_in * d * sizeof(float));
    if (has_embedding_ln(c)) /* recompute the LayerNorm inputs of the prompt rows */
        input_prompt_embed(a, sum);
    for (int b = 0; b < a->batch.B; b++)
        for (int p = 0; p < a->P_in; p++) {
            const size_t i = (size_t)b * Tx + p;
            const float *gi = g + i * de;
            if (has_embedding_ln(c)) {
                memset(dsum, 0, (size_t)de * sizeof(float));
                layernorm_backward(dsum, NULL, NULL, gi, sum + i * de, w->emb_ln_w,
                                   a->emb_mean + i, a->emb_rstd + i, 1, de);
                gi = dsum;
            }
            float *restrict dI = a->prompt.d_input + (size_t)p * d;
            for (int k = 0; k < de; k++)
                dI[k] += gi[k];
        }
}

fp_status tf_backward(tf_acts_t *a, fp_error *err)
{
    if (!a->have_forward || !a->opt.grad)
        return fp_fail(err, FP_ESTATE, "backward: no forward pass with grad = true before it");
    const model_config *c = &a->cfg;
    const int L = c->n_layers, N = a->batch.B * a->batch.T, d = c->d_model;
    const size_t nd = (size_t)N * d;
    a->backward_layers = 0;
    a->backward_lowest = L;
    const tf_weights *G = a->opt.grads;
    const bool tune_prompt = a->lowest_tuned < L;
    const bool tune_input = a->P_in > 0 && a->prompt.d_input;
    /* the lowest block backward visits: the lowest tuned one, or block 0 for weight gradients
     * and a trainable input prompt */
    const int stop = G || tune_input ? 0 : a->lowest_tuned;
    if (tune_prompt)
        zero_prefix_grads(a);

    memset(a->dhidden, 0, nd * sizeof(float));
    if (a->lm_rows > 0)
        lm_head_backward(a);
    if (a->has_head)
        cls_head_backward(a);
    if (!tune_prompt && !G && !tune_input)
        return FP_OK;

    /* through ln_f (GPT-2) into the last block's output */
    float *dcur = a->dcur, *dnext = a->dnext;
    if (c->final_ln) {
        memset(dcur, 0, nd * sizeof(float));
        const float *xL = slot_of(a, L - 1)->out;
        layernorm_backward(dcur, G ? mut(G->lnf_w) : NULL, G ? mut(G->lnf_b) : NULL, a->dhidden,
                           xL, a->w->lnf_w, a->lnf_mean, a->lnf_rstd, rows_of(a, L - 1), d);
    } else {
        memcpy(dcur, a->dhidden, nd * sizeof(float));
    }
    for (int l = L - 1; l >= stop; l--) {
        const float *x = l > 0 ? slot_of(a, l - 1)->out : a->emb;
        layer_backward(a, l, x, dcur, l > stop || G || tune_input ? dnext : NULL);
        float *t = dcur;
        dcur = dnext;
        dnext = t;
    }
    if (G)
        embeddings_backward(a, dcur);
    if (tune_input)
        input_prompt_backward(a, dcur);
    if (tune_prompt && a->opt.prefix_dropout > 0.0f)
        prefix_dropout_backward(a);
    return FP_OK;
}

/* ---------------------------------------------------------------- views */

const float *tf_acts_lm_logits(const tf_acts_t *self, const int **row_index, int *n_rows)
{
    if (row_index)
        *row_index = self->row_caller;
    if (n_rows)
        *n_rows = self->lm_rows;
    return self->logits;
}

const float *tf_acts_example_loss(const tf_acts_t *self) { return self->ex_loss; }

const float *tf_acts_cls_logits(const tf_acts_t *self)
{
    return self->has_head ? self->cls_logits : NULL;
}

const float *tf_acts_hidden(const tf_acts_t *self) { return self->pruned ? NULL : self->hidden; }

const float *tf_acts_layer_output(const tf_acts_t *self, int l)
{
    if (!self->have_forward || l < 0 || l >= self->cfg.n_layers)
        return NULL;
    if (self->pruned && l == self->cfg.n_layers - 1)
        return NULL; /* only the target rows were computed */
    if (l >= self->save_from)
        return self->slots[l - self->save_from].out;
    /* the scratch slot holds the last block that ran without keeping activations */
    return l == self->save_from - 1 ? self->slots[self->spec.saved_layers].out : NULL;
}

int tf_acts_backward_layers(const tf_acts_t *self, int *lowest)
{
    if (lowest)
        *lowest = self->backward_lowest;
    return self->backward_layers;
}
