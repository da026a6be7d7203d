/* transformer_acts.c — the activation arena of the model core: one float and one int allocation
 * carved into every buffer forward and backward use (sized once for tf_acts_spec), and the views
 * callers read after a forward pass. See transformer_internal.h for the buffers' shapes.
 * Must never touch the numbers in the buffers, and never allocate after tf_acts_new. */
#include <stdlib.h>

#include "model/parallel.h"
#include "model/transformer_internal.h"

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
    /* one scratch per thread that can run a head (attention.h) */
    a->attn_slots = par_max_threads() < g->n_heads ? par_max_threads() : g->n_heads;
    a->attn_scratch = take(c, (size_t)a->attn_slots * attention_scratch_floats(sh));
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
    float **nd[] = {&a->dcur,    &a->dnext,  &a->dres_m, &a->dtmp,
                    &a->dmlp_in, &a->dres_a, &a->datt,   &a->dattn_in};
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
    mm_bf16_destroy(&a->mm);
    free(a);
    *self_p = NULL;
}

size_t tf_acts_bytes(const tf_acts_t *self)
{
    const size_t N = (size_t)self->spec.B * (self->spec.T + self->spec.P_in);
    return self->n_floats * sizeof(float) +
           (3 * N + 3 * (size_t)self->spec.max_lm_rows + (size_t)self->spec.B) * sizeof(int);
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

const float *tf_acts_example_loss(const tf_acts_t *self)
{
    return self->ex_loss;
}

const float *tf_acts_cls_logits(const tf_acts_t *self)
{
    return self->has_head ? self->cls_logits : NULL;
}

const float *tf_acts_hidden(const tf_acts_t *self)
{
    return self->pruned ? NULL : self->hidden;
}

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

mm_bf16_stats tf_acts_bf16_stats(const tf_acts_t *self)
{
    return self->mm ? mm_bf16_get_stats(self->mm) : (mm_bf16_stats){0};
}

int tf_acts_backward_layers(const tf_acts_t *self, int *lowest)
{
    if (lowest)
        *lowest = self->backward_lowest;
    return self->backward_layers;
}
