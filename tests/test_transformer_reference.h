/* test_transformer_reference.h — a direct, loop-by-loop double-precision forward pass of the
 * RoBERTa / GPT-2 transformer with a deep prompt, one example at a time, written from the
 * equations (FEDPEPTAO.md §1) and sharing no code with model/transformer.c. The tests compare the
 * optimised core against it. Header-only (static functions); never used outside tests. */
#ifndef FEDPEP_TESTS_TEST_TRANSFORMER_REFERENCE_H
#define FEDPEP_TESTS_TEST_TRANSFORMER_REFERENCE_H

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/transformer.h"

/* A tiny model of either family with 2 heads, in the conventions of its family (RoBERTa:
 * pad 1, <mask> 4, positions from 2; GPT-2: pre-LN with ln_f). */
static inline model_config tiny_config(model_arch arch, int L, int d, int V, int max_positions,
                                       int d_ff)
{
    model_config c = {.arch = arch, .vocab_size = V, .max_positions = max_positions,
                      .n_layers = L, .d_model = d, .n_heads = 2, .d_ff = d_ff,
                      .layer_norm_eps = 1e-5f};
    if (arch == MODEL_ARCH_ROBERTA) {
        c.type_vocab_size = 1;
        c.pad_token_id = 1;
        c.bos_token_id = 0;
        c.eos_token_id = 2;
        c.mask_token_id = 4;
        c.position_offset = 2;
    } else {
        c.pre_ln = c.final_ln = true;
        c.pad_token_id = c.mask_token_id = -1;
        c.bos_token_id = c.eos_token_id = V - 1;
    }
    return c;
}

static inline double ref_w(lin_w W, int i, int o)
{
    return W.layout == LIN_OUT_IN ? W.w[(size_t)o * W.ld + i] : W.w[(size_t)i * W.ld + o];
}

/* y[n][out] = x[n][in] W + b */
static inline void ref_lin(double *y, const double *x, lin_w W, const float *b, int n, int in,
                           int out)
{
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++)
                s += x[(size_t)r * in + i] * ref_w(W, i, o);
            y[(size_t)r * out + o] = s;
        }
}

static inline void ref_ln(double *y, const double *x, const float *w, const float *b, int n,
                          int d, double eps)
{
    for (int r = 0; r < n; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < d; i++)
            m += x[(size_t)r * d + i] / d;
        for (int i = 0; i < d; i++)
            v += (x[(size_t)r * d + i] - m) * (x[(size_t)r * d + i] - m) / d;
        for (int i = 0; i < d; i++)
            y[(size_t)r * d + i] = (x[(size_t)r * d + i] - m) / sqrt(v + eps) * w[i] + b[i];
    }
}

static inline double ref_gelu(double x, bool tanh_approx)
{
    if (tanh_approx)
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}

/* Hidden states [P_in + T][d] of example (tokens, mask) of length T; E [P][L][2][d] with
 * present[l]; I [P_in][d] the input prompt's embeddings (virtual tokens before the text). */
static inline void ref_hidden_in(double *hid, const model_config *c, const tf_weights *w,
                                 const int *tok, const int *mask_text, int T_text, int P,
                                 const float *E, const bool *present, int P_in, const float *I)
{
    const int T = T_text + P_in;
    int *mask = malloc(sizeof(int) * T);
    for (int t = 0; t < T; t++)
        mask[t] = t < P_in || !mask_text || mask_text[t - P_in];
    const int d = c->d_model, H = c->n_heads, f = c->d_ff, L = c->n_layers;
    const int de = model_embed_width(c);
    const bool pre = c->pre_ln, gpt = c->arch == MODEL_ARCH_GPT2;
    double *x = calloc((size_t)T * d, sizeof *x), *ai = calloc((size_t)T * d, sizeof *x);
    double *q = calloc((size_t)T * d, sizeof *q), *k = calloc((size_t)T * d, sizeof *q);
    double *v = calloc((size_t)T * d, sizeof *q), *o = calloc((size_t)T * d, sizeof *q);
    double *ra = calloc((size_t)T * d, sizeof *q), *mi = calloc((size_t)T * d, sizeof *q);
    double *h1 = calloc((size_t)T * f, sizeof *q), *rm = calloc((size_t)T * d, sizeof *q);
    double *sc = calloc((size_t)(P + T), sizeof *sc);
    int count = 0;
    const int shift = c->prefix_keeps_positions ? 0 : P;
    for (int t = 0; t < T; t++) {
        bool real = mask[t];
        int pad = c->pad_token_id < c->max_positions ? c->pad_token_id : 0;
        int pos = gpt ? c->position_offset + shift + t
                      : (real ? c->position_offset + shift + count : pad);
        count += real;
        /* rows of the input prompt are d wide, the first de used */
        const float *emb = t < P_in ? I + (size_t)t * d : w->wte + (size_t)tok[t - P_in] * de;
        for (int i = 0; i < de; i++)
            x[t * de + i] = (double)emb[i] + w->wpe[(size_t)pos * de + i] +
                            (w->wtt ? w->wtt[i] : 0.0);
    }
    if (!gpt && !c->no_embedding_ln)
        ref_ln(x, x, w->emb_ln_w, w->emb_ln_b, T, de, c->layer_norm_eps);
    for (int l = 0; l < L; l++) {
        const tf_layer_weights *y = &w->layers[l];
        const int Pl = P > 0 && (!present || present[l]) ? P : 0;
        const int di = model_layer_width(c, l), dh = di / H; /* x is [T][di] here */
        if (pre)
            ref_ln(ai, x, y->ln1_w, y->ln1_b, T, di, c->layer_norm_eps);
        else
            memcpy(ai, x, sizeof(double) * T * di);
        ref_lin(q, ai, y->q, y->q_b, T, di, di);
        ref_lin(k, ai, y->k, y->k_b, T, di, di);
        ref_lin(v, ai, y->v, y->v_b, T, di, di);
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY;
                for (int j = 0; j < Pl + T; j++) {
                    double s = 0;
                    for (int e = 0; e < dh; e++) {
                        double kv = j < Pl ? E[tf_prompt_index(L, d, j, l, 0) + h * dh + e]
                                           : k[(j - Pl) * di + h * dh + e];
                        s += q[i * di + h * dh + e] * kv;
                    }
                    s /= sqrt(dh);
                    bool masked = j >= Pl && (!mask[j - Pl] || (gpt && j - Pl > i));
                    sc[j] = masked ? -INFINITY : s;
                    mx = sc[j] > mx ? sc[j] : mx;
                }
                double z = 0;
                for (int j = 0; j < Pl + T; j++)
                    z += exp(sc[j] - mx);
                for (int e = 0; e < dh; e++) {
                    double acc = 0;
                    for (int j = 0; j < Pl + T; j++) {
                        double vv = j < Pl ? E[tf_prompt_index(L, d, j, l, 1) + h * dh + e]
                                           : v[(j - Pl) * di + h * dh + e];
                        acc += exp(sc[j] - mx) / z * vv;
                    }
                    o[i * di + h * dh + e] = acc;
                }
            }
        ref_lin(ra, o, y->o, y->o_b, T, di, d);
        if (di != d) { /* block 0 changing width: a projected residual */
            ref_lin(mi, x, y->in_proj, y->in_proj_b, T, di, d);
            for (int i = 0; i < T * d; i++)
                ra[i] += mi[i];
        } else {
            for (int i = 0; i < T * d; i++)
                ra[i] += x[i];
        }
        ref_ln(mi, ra, y->ln2_w, y->ln2_b, T, d, c->layer_norm_eps);
        ref_lin(h1, mi, y->fc, y->fc_b, T, d, f);
        for (int i = 0; i < T * f; i++)
            h1[i] = c->hidden_act == MODEL_ACT_RELU ? fmax(h1[i], 0.0) : ref_gelu(h1[i], gpt);
        ref_lin(rm, h1, y->proj, y->proj_b, T, f, d);
        for (int i = 0; i < T * d; i++)
            rm[i] += pre ? ra[i] : mi[i];
        if (pre)
            memcpy(x, rm, sizeof(double) * T * d);
        else
            ref_ln(x, rm, y->ln3_w, y->ln3_b, T, d, c->layer_norm_eps);
    }
    if (c->final_ln)
        ref_ln(hid, x, w->lnf_w, w->lnf_b, T, d, c->layer_norm_eps);
    else
        memcpy(hid, x, sizeof(double) * T * d);
    free(x), free(ai), free(q), free(k), free(v), free(o), free(ra), free(mi), free(h1), free(rm);
    free(sc);
    free(mask);
}

/* Without an input prompt: hidden states [T][d]. */
static inline void ref_hidden(double *hid, const model_config *c, const tf_weights *w,
                              const int *tok, const int *mask, int T, int P, const float *E,
                              const bool *present)
{
    ref_hidden_in(hid, c, w, tok, mask, T, P, E, present, 0, NULL);
}

/* LM logits [V] of one hidden row h [d]. */
static inline void ref_lm_logits(double *logits, const model_config *c, const tf_weights *w,
                                 const double *h)
{
    const int d = c->d_model, V = c->vocab_size;
    double t1[d], t3[d];
    const double *top = h;
    if (c->arch == MODEL_ARCH_ROBERTA) {
        ref_lin(t1, h, w->head_dense, w->head_dense_b, 1, d, d);
        for (int i = 0; i < d; i++)
            t1[i] = ref_gelu(t1[i], false);
        ref_ln(t3, t1, w->head_ln_w, w->head_ln_b, 1, d, c->layer_norm_eps);
        top = t3;
    }
    for (int v = 0; v < V; v++) {
        double s = c->arch == MODEL_ARCH_ROBERTA ? w->head_bias[v] : 0.0;
        for (int i = 0; i < d; i++)
            s += top[i] * w->wte[(size_t)v * d + i];
        logits[v] = s;
    }
}

#endif
