/* transformer.c — input checks and the forward pass of RoBERTa/GPT-2 blocks with deep prompts;
 * see transformer.h for the contract and docs/model.md for the equations. The backward pass is in
 * transformer_backward.c (each *_backward there mirrors the *_forward of the same name here), the
 * arena in transformer_acts.c.
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
 * Last-block pruning: when only the LM rows are read (no linear head, no kept layer outputs), the
 * last block runs its attention over all rows (they are its keys and values) but everything after
 * it — output projection, LN2, MLP, LN3, ln_f, the head — only on the R target rows, compacted in
 * (b, t) order. Rows nobody reads are never computed. Must never write to the weights, and never
 * allocate after tf_acts_new. */
#include "transformer.h"

#include <math.h>
#include <string.h>

#include "model/kernels.h"
#include "model/linear.h"
#include "model/transformer_internal.h"

/* ---------------------------------------------------------------- validation */

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
        return fp_fail(err, FP_ELIMIT, "forward: batch %dx%d does not fit the arena (%dx%d)", bt->B,
                       bt->T, s->B, s->T);
    if (P < 0 || P > s->P || (P > 0 && !pr->E))
        return fp_fail(err, FP_ELIMIT, "forward: prompt length %d (arena %d) or no prompt", P,
                       s->P);
    if (opt->dropout < 0.0f || opt->dropout >= 1.0f || opt->prefix_dropout < 0.0f ||
        opt->prefix_dropout >= 1.0f)
        return fp_fail(err, FP_EINVAL, "forward: dropout must be in [0, 1)");
    if (head && (head->n_classes <= 0 || head->n_classes > s->max_classes || !head->W || !head->b))
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
        return fp_fail(err, FP_ELIMIT, "forward: input prompt of %d tokens (arena %d) or no I", Pin,
                       s->P_in);
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

/* qkv [N][3d] = x [N][d] · [Wq | Wk | Wv] + [bq | bk | bv]: one sgemm when the three are column
 * blocks of one [d][3d] matrix (GPT-2 c_attn), else three into the column blocks. */
static void qkv_forward(mm_bf16_t *mm, float *qkv, const float *x, const tf_layer_weights *y, int N,
                        int d)
{
    if (y->q.layout == LIN_IN_OUT && y->q.ld == 3 * d && y->k.w == y->q.w + d &&
        y->v.w == y->q.w + 2 * d && y->k_b == y->q_b + d && y->v_b == y->q_b + 2 * d) {
        linear_forward_mm(mm, qkv, 3 * d, x, d, y->q, y->q_b, N, d, 3 * d, false);
        return;
    }
    linear_forward_mm(mm, qkv, 3 * d, x, d, y->q, y->q_b, N, d, d, false);
    linear_forward_mm(mm, qkv + d, 3 * d, x, d, y->k, y->k_b, N, d, d, false);
    linear_forward_mm(mm, qkv + 2 * d, 3 * d, x, d, y->v, y->v_b, N, d, d, false);
}

/* dst[r] = src[idx[r]] for rows of d floats. */
static void gather_rows(float *dst, const float *src, const int *idx, int R, int d)
{
    for (int r = 0; r < R; r++)
        memcpy(dst + (size_t)r * d, src + (size_t)idx[r] * d, (size_t)d * sizeof(float));
}

/* res_m = act(fc) W2 + b2. In bf16 the activation is written in bf16 straight into the
 * product's input (its fp32 values are read only by weight gradients, which bf16 weights never
 * have); in fp32, or when the bf16 product fails, through s->gelu. */
static void mlp_out_forward(tf_acts_t *a, const tf_layer_weights *y, layer_acts *s, int N)
{
    const model_config *c = &a->cfg;
    const int d = c->d_model, f = c->d_ff;
    const bool relu = c->hidden_act == MODEL_ACT_RELU, tanh = c->arch == MODEL_ARCH_GPT2;
    fp_error ignored = {0};
    uint16_t *x16 = a->mm && y->proj.w16 ? mm_bf16_input(a->mm, N, f, &ignored) : NULL;
    if (x16) {
        if (relu)
            relu_forward_bf16(x16, s->fc, N * f);
        else
            gelu_forward_bf16(x16, s->fc, N * f, tanh);
        if (linear_forward_bf16_input(a->mm, s->res_m, d, y->proj, y->proj_b, N, f, d, false))
            return;
    }
    if (relu)
        relu_forward(s->gelu, s->fc, N * f);
    else
        gelu_forward(s->gelu, s->fc, N * f, tanh);
    linear_forward_mm(a->mm, s->res_m, d, s->gelu, f, y->proj, y->proj_b, N, f, d, false);
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
        layernorm_forward(s->attn_in, s->ln1_mean, s->ln1_rstd, x, y->ln1_w, y->ln1_b, N, di, eps);
        attn_in = s->attn_in;
    }
    qkv_forward(a->mm, s->qkv, attn_in, y, N, di);
    attention_forward(s->att, s->A, a->attn_scratch, a->attn_slots, s->qkv, prefix_of(a, l),
                      a->batch.mask, shape_of(a, l), p, seed, site(a, l, SITE_ATTN));
    const float *att = s->att;
    if (rows_of(a, l) != N) { /* pruned last block: continue on the target rows only */
        gather_rows(a->px, x, a->row_index, a->lm_rows, di);
        gather_rows(a->patt, s->att, a->row_index, a->lm_rows, di);
        x = a->px;
        att = a->patt;
        N = a->lm_rows;
    }
    linear_forward_mm(a->mm, s->res_a, d, att, di, y->o, y->o_b, N, di, d, false);
    dropout_forward(s->res_a, s->res_a, N * d, p, seed, site(a, l, SITE_ATTN_OUT), 0);
    if (y->in_proj.w) /* the residual changes width: res_a += x Wp + bp */
        linear_forward_mm(a->mm, s->res_a, d, x, di, y->in_proj, y->in_proj_b, N, di, d, true);
    else
        residual_forward(s->res_a, s->res_a, x, N * d); /* x is not read after this line */
    layernorm_forward(s->mlp_in, s->ln2_mean, s->ln2_rstd, s->res_a, y->ln2_w, y->ln2_b, N, d, eps);
    linear_forward_mm(a->mm, s->fc, f, s->mlp_in, d, y->fc, y->fc_b, N, d, f, false);
    mlp_out_forward(a, y, s, N);
    dropout_forward(s->res_m, s->res_m, N * d, p, seed, site(a, l, SITE_MLP_OUT), 0);
    residual_forward(s->res_m, s->res_m, c->pre_ln ? s->res_a : s->mlp_in, N * d);
    if (!c->pre_ln)
        layernorm_forward(s->out, s->ln3_mean, s->ln3_rstd, s->res_m, y->ln3_w, y->ln3_b, N, d,
                          eps);
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
        linear_forward_mm(a->mm, a->t1, d, a->h_rows, d, w->head_dense, w->head_dense_b, R, d, d,
                          false);
        gelu_forward(a->t2, a->t1, R * d, false);
        layernorm_forward(a->t3, a->t3_mean, a->t3_rstd, a->t2, w->head_ln_w, w->head_ln_b, R, d,
                          c->layer_norm_eps);
        top = a->t3;
    }
    lin_w dec = {w->wte, d, LIN_OUT_IN, w->wte16}; /* tied decoder: wte [V][d] is [out][in] */
    linear_forward_mm(a->mm, a->logits, V, top, d, dec,
                      c->arch == MODEL_ARCH_ROBERTA ? w->head_bias : NULL, R, d, V, false);
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
    lin_w W = {a->head.W, d, LIN_OUT_IN, NULL}; /* trained: fp32 */
    linear_forward_mm(a->mm, a->cls_logits, C, a->pooled, d, W, a->head.b, B, d, C, false);
    double total = 0;
    if (a->batch.labels)
        for (int b = 0; b < B; b++)
            total += crossentropy_forward(a->cls_logits + (size_t)b * C, C, a->batch.labels[b]);
    a->res.cls_loss = a->batch.labels ? (float)(total / B) : 0.0f;
}

/* Rows of the input prompt (see transformer_internal.h). */
void tf_input_prompt_embed(tf_acts_t *a, float *out)
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
    a->batch = (tf_batch){batch->B, batch->T + a->P_in, a->tok_x, a->mask_x, NULL, batch->labels};
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
    if (w->bf16_block && opt->grads) /* a step would leave the bf16 copies stale */
        return fp_fail(err, FP_EINVAL,
                       "forward: weight gradients need fp32-only weights; these "
                       "carry bf16 copies, which are for frozen weights");
    if (w->bf16_block && !a->mm && !(a->mm = mm_bf16_new(err)))
        return fp_wrap(err, "forward: ");
    /* a trainable input prompt or weight gradients need backward through every block */
    const bool to_bottom = opt->grads || (a->P_in > 0 && prompt->d_input);
    a->save_from = opt->keep_all_layers || (opt->grad && to_bottom) ? 0
                   : opt->grad                                      ? a->lowest_tuned
                                                                    : L;
    if (L - a->save_from > a->spec.saved_layers)
        return fp_fail(err, FP_ELIMIT,
                       "forward: %d layers must keep activations but the arena holds %d",
                       L - a->save_from, a->spec.saved_layers);

    if (a->prompt.P > 0 && opt->prefix_dropout > 0.0f)
        prefix_dropout_forward(a);

    embedding_forward(a->emb, a->tok_x, a->pos, w->wte, w->wpe, w->wtt, N, de);
    if (a->P_in > 0)
        tf_input_prompt_embed(a, a->emb);
    if (has_embedding_ln(c))
        layernorm_forward(a->emb, a->emb_mean, a->emb_rstd, a->emb, w->emb_ln_w, w->emb_ln_b, N, de,
                          c->layer_norm_eps);
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
