/* transformer_backward.c — the backward pass of the model core (tf_backward): activation
 * gradients from the heads down to the lowest tuned block, the deep prompt's dE, the input
 * prompt's dI, the linear head's dW/db, and (pretraining) every weight's gradient. Each
 * *_backward here mirrors the *_forward of the same name in transformer.c, which also states the
 * block's equations. Must never write to the weights (only to the caller's gradient buffers), and
 * never allocate. */
#include <string.h>

#include "model/kernels.h"
#include "model/linear.h"
#include "model/parallel.h"
#include "model/transformer_internal.h"

/* ---------------------------------------------------------------- backward */

/* Weight-gradient buffers are tf_weights views (const pointers) of memory the caller gave us to
 * write: this is the one place that drops the const. */
static float *mut(const float *p)
{
    return (float *)(uintptr_t)p;
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

/* dhidden [N][d] (overwritten) from the LM rows' CE, mean over rows. */
static void lm_head_backward(tf_acts_t *a)
{
    const model_config *c = &a->cfg;
    const tf_weights *w = a->w;
    const int R = a->lm_rows, d = c->d_model, V = c->vocab_size;
    const int threads = par_threads((size_t)R, (size_t)V);
    PAR_FOR(threads)
    for (int r = 0; r < R; r++)
        crossentropy_backward(a->dlogits + (size_t)r * V, a->logits + (size_t)r * V, V,
                              a->row_target[r], 1.0f / (float)R);
    const tf_weights *G = a->opt.grads;
    const bool enc = c->arch == MODEL_ARCH_ROBERTA;
    lin_w dec = {w->wte, d, LIN_OUT_IN, w->wte16};
    if (G) { /* tied decoder: its gradient lands in wte's */
        lin_w gdec = {G->wte, d, LIN_OUT_IN, NULL};
        linear_backward_weight(mut(G->wte), gdec, enc ? mut(G->head_bias) : NULL,
                               enc ? a->t3 : a->h_rows, d, a->dlogits, V, R, d, V);
    }
    linear_backward_input_mm(a->mm, a->dt3, d, a->dlogits, V, dec, R, d, V, false);
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
        linear_backward_input_mm(a->mm, a->dt2, d, a->dt1, d, w->head_dense, R, d, d, false);
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
        lin_w dW = {a->head.dW, d, LIN_OUT_IN, NULL};
        linear_backward_weight(a->head.dW, dW, a->head.db, a->pooled, d, a->dcls, C, B, d, C);
    }
    lin_w W = {a->head.W, d, LIN_OUT_IN, NULL}; /* trained: fp32 */
    linear_backward_input_mm(a->mm, a->dpooled, d, a->dcls, C, W, B, d, C, false);
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

static void qkv_backward_input(mm_bf16_t *mm, float *dx, const float *dqkv,
                               const tf_layer_weights *y, int N, int d)
{
    if (y->q.layout == LIN_IN_OUT && y->q.ld == 3 * d && y->k.w == y->q.w + d &&
        y->v.w == y->q.w + 2 * d) {
        linear_backward_input_mm(mm, dx, d, dqkv, 3 * d, y->q, N, d, 3 * d, false);
        return;
    }
    linear_backward_input_mm(mm, dx, d, dqkv, 3 * d, y->q, N, d, d, false);
    linear_backward_input_mm(mm, dx, d, dqkv + d, 3 * d, y->k, N, d, d, true);
    linear_backward_input_mm(mm, dx, d, dqkv + 2 * d, 3 * d, y->v, N, d, d, true);
}

/* Weight gradients of the fused or separate Q/K/V projections (G in the weights' layout). */
static void qkv_backward_weight(const tf_layer_weights *G, const float *x, const float *dqkv, int N,
                                int d)
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

/* dmlp_in = (dg ⊙ act'(fc)) W1ᵀ (and, pretraining, W1's gradient). In bf16 the activation's
 * gradient is written in bf16 straight into the product's input (no fp32 dfc: weight gradients
 * never meet bf16 weights); in fp32, or when the bf16 product fails, through a->dfc. */
static void mlp_in_backward(tf_acts_t *a, const tf_layer_weights *y, const layer_acts *s,
                            const tf_layer_weights *G, int N)
{
    const model_config *c = &a->cfg;
    const int d = c->d_model, f = c->d_ff;
    const bool relu = c->hidden_act == MODEL_ACT_RELU, tanh = c->arch == MODEL_ARCH_GPT2;
    fp_error ignored = {0};
    uint16_t *g16 = a->mm && y->fc.w16 && !G ? mm_bf16_input(a->mm, N, f, &ignored) : NULL;
    if (g16) {
        if (relu)
            relu_backward_bf16(g16, a->dg, s->fc, N * f);
        else
            gelu_backward_bf16(g16, a->dg, s->fc, N * f, tanh);
        if (linear_backward_input_bf16_input(a->mm, a->dmlp_in, d, y->fc, N, d, f, false))
            return;
    }
    zero_floats(a->dfc, (size_t)N * f);
    if (relu)
        relu_backward(a->dfc, a->dg, s->fc, N * f);
    else
        gelu_backward(a->dfc, a->dg, s->fc, N * f, tanh);
    if (G)
        linear_backward_weight(mut(G->fc.w), G->fc, mut(G->fc_b), s->mlp_in, d, a->dfc, f, N, d, f);
    linear_backward_input_mm(a->mm, a->dmlp_in, d, a->dfc, f, y->fc, N, d, f, false);
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
    const int N = rows_of(a, l);            /* rows after the attention (target rows when pruned) */
    const size_t nd = (size_t)N * d;
    const float p = a->opt.dropout;
    const uint64_t seed = a->opt.seed;
    /* weight gradients (pretraining only): G is NULL in prompt tuning */
    const tf_layer_weights *G = a->opt.grads ? &a->opt.grads->layers[l] : NULL;

    /* out = pre ? res_m : LN3(res_m) */
    const float *dres_m = dout;
    if (!c->pre_ln) {
        zero_floats(a->dres_m, nd);
        layernorm_backward(a->dres_m, G ? mut(G->ln3_w) : NULL, G ? mut(G->ln3_b) : NULL, dout,
                           s->res_m, y->ln3_w, s->ln3_mean, s->ln3_rstd, N, d);
        dres_m = a->dres_m;
    }
    /* res_m = base + drop(gelu(fc) W2 + b2) */
    zero_floats(a->dtmp, nd);
    dropout_backward(a->dtmp, dres_m, N * d, p, seed, site(a, l, SITE_MLP_OUT), 0);
    if (G)
        linear_backward_weight(mut(G->proj.w), G->proj, mut(G->proj_b), s->gelu, f, a->dtmp, d, N,
                               f, d);
    linear_backward_input_mm(a->mm, a->dg, f, a->dtmp, d, y->proj, N, f, d, false);
    mlp_in_backward(a, y, s, G, N);
    if (!c->pre_ln) /* post-LN: the MLP residual starts from mlp_in */
        residual_forward(a->dmlp_in, a->dmlp_in, dres_m, N * d);
    /* mlp_in = LN2(res_a) */
    if (c->pre_ln) /* pre-LN: the MLP residual starts from res_a */
        memcpy(a->dres_a, dres_m, nd * sizeof(float));
    else
        zero_floats(a->dres_a, nd);
    layernorm_backward(a->dres_a, G ? mut(G->ln2_w) : NULL, G ? mut(G->ln2_b) : NULL, a->dmlp_in,
                       s->res_a, y->ln2_w, s->ln2_mean, s->ln2_rstd, N, d);
    /* res_a = x + drop(att Wo + bo) */
    zero_floats(a->dtmp, nd);
    dropout_backward(a->dtmp, a->dres_a, N * d, p, seed, site(a, l, SITE_ATTN_OUT), 0);
    if (G) /* the output projection's input: all rows, or the gathered target rows */
        linear_backward_weight(mut(G->o.w), G->o, mut(G->o_b), N == NT ? s->att : a->patt, di,
                               a->dtmp, d, N, di, d);
    if (N == NT) {
        linear_backward_input_mm(a->mm, a->datt, di, a->dtmp, d, y->o, N, di, d, false);
    } else { /* pruned: only the target rows of the attention output have a gradient */
        linear_backward_input_mm(a->mm, a->pdatt, di, a->dtmp, d, y->o, N, di, d, false);
        zero_floats(a->datt, (size_t)NT * di);
        scatter_add_rows(a->datt, a->pdatt, a->row_index, N, di);
    }
    float *dqkv = NULL;
    if (dx || G) {
        dqkv = a->dqkv;
        zero_floats(dqkv, (size_t)NT * 3 * di);
    }
    attention_backward(dqkv, prefix_grad_of(a, l), a->attn_scratch, a->attn_slots, a->datt, s->qkv,
                       s->A, prefix_of(a, l), shape_of(a, l), p, seed, site(a, l, SITE_ATTN));
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
    qkv_backward_input(a->mm, a->dattn_in, dqkv, y, NT, di);
    const float *dres = a->dres_a; /* the residual's gradient in x's width, N rows */
    if (y->in_proj.w) {
        /* dtmp (the attention output's gradient) is no longer needed */
        linear_backward_input_mm(a->mm, a->dtmp, di, a->dres_a, d, y->in_proj, N, di, d, false);
        dres = a->dtmp;
    }
    if (N == NT) {
        memcpy(dx, dres, (size_t)N * di * sizeof(float));
    } else {
        zero_floats(dx, (size_t)NT * di);
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
    zero_floats(dsum, nd);
    if (has_embedding_ln(c)) {
        zero_floats(a->dmlp_in, nd);
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
    const int d = c->d_model, de = model_embed_width(c);      /* rows of d, the first de used */
    float *g = a->dres_a, *sum = a->dtmp, *dsum = a->dmlp_in; /* free at this point */
    memset(g, 0, (size_t)N * de * sizeof(float));
    dropout_backward(g, demb, N * de, a->opt.dropout, a->opt.seed, site(a, c->n_layers, 0), 0);
    memset(a->prompt.d_input, 0, (size_t)a->P_in * d * sizeof(float));
    if (has_embedding_ln(c)) /* recompute the LayerNorm inputs of the prompt rows */
        tf_input_prompt_embed(a, sum);
    for (int b = 0; b < a->batch.B; b++)
        for (int p = 0; p < a->P_in; p++) {
            const size_t i = (size_t)b * Tx + p;
            const float *gi = g + i * de;
            if (has_embedding_ln(c)) {
                memset(dsum, 0, (size_t)de * sizeof(float));
                layernorm_backward(dsum, NULL, NULL, gi, sum + i * de, w->emb_ln_w, a->emb_mean + i,
                                   a->emb_rstd + i, 1, de);
                gi = dsum;
            }
            float *restrict dI = a->prompt.d_input + (size_t)p * d;
            for (int k = 0; k < de; k++)
                dI[k] += gi[k];
        }
}

fp_status tf_backward(tf_acts_t *a, fp_error *err)
{
    return tf_backward_seeded(a, NULL, err);
}

/* dst += src over n floats */
static void add_into(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

fp_status tf_backward_seeded(tf_acts_t *a, const float *const *dout_layers, fp_error *err)
{
    if (!a->have_forward || !a->opt.grad)
        return fp_fail(err, FP_ESTATE, "backward: no forward pass with grad = true before it");
    if (dout_layers && a->pruned)
        return fp_fail(err, FP_ESTATE,
                       "backward: block-output gradients need every row of the last block "
                       "(the forward pass kept only its target rows)");
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

    zero_floats(a->dhidden, nd);
    if (a->lm_rows > 0)
        lm_head_backward(a);
    if (a->has_head)
        cls_head_backward(a);
    if (!tune_prompt && !G && !tune_input)
        return FP_OK;

    /* through ln_f (GPT-2) into the last block's output */
    float *dcur = a->dcur, *dnext = a->dnext;
    if (c->final_ln) {
        zero_floats(dcur, nd);
        const float *xL = slot_of(a, L - 1)->out;
        layernorm_backward(dcur, G ? mut(G->lnf_w) : NULL, G ? mut(G->lnf_b) : NULL, a->dhidden, xL,
                           a->w->lnf_w, a->lnf_mean, a->lnf_rstd, rows_of(a, L - 1), d);
    } else {
        memcpy(dcur, a->dhidden, nd * sizeof(float));
    }
    for (int l = L - 1; l >= stop; l--) {
        if (dout_layers && dout_layers[l])
            add_into(dcur, dout_layers[l], nd);
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
