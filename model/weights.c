/* weights.c — the tensor table of RoBERTa and GPT-2 checkpoints, random initialisation, loading
 * from safetensors and saving; see weights.h.
 * Must never modify tensor data it did not allocate (the map is shared and read-only). */
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

fp_status tf_config_check(const model_config *c, fp_error *err)
{
    if (c->arch != MODEL_ARCH_ROBERTA && c->arch != MODEL_ARCH_GPT2)
        return fp_fail(err, FP_EINVAL, "model config: unknown architecture %d", (int)c->arch);
    if (c->vocab_size <= 0 || c->max_positions <= 0 || c->n_layers <= 0 || c->d_model <= 0 ||
        c->n_heads <= 0 || c->d_ff <= 0)
        return fp_fail(err, FP_EINVAL,
                       "model config: sizes must be positive (vocab %d, positions %d, layers %d, "
                       "d %d, heads %d, d_ff %d)",
                       c->vocab_size, c->max_positions, c->n_layers, c->d_model, c->n_heads,
                       c->d_ff);
    if (c->d_model % c->n_heads)
        return fp_fail(err, FP_EINVAL, "model config: d_model %d not divisible by %d heads",
                       c->d_model, c->n_heads);
    if (c->arch == MODEL_ARCH_ROBERTA && (c->type_vocab_size <= 0 || c->final_ln))
        return fp_fail(err, FP_EINVAL,
                       "model config: an encoder needs type_vocab_size > 0 and no final LayerNorm");
    if (c->arch == MODEL_ARCH_GPT2 && (!c->pre_ln || c->no_embedding_ln))
        return fp_fail(err, FP_EINVAL,
                       "model config: GPT-2 is pre-LN and has no embedding LayerNorm to drop");
    if (c->hidden_act != MODEL_ACT_ARCH && c->hidden_act != MODEL_ACT_RELU)
        return fp_fail(err, FP_EINVAL, "model config: unknown hidden_act %d", (int)c->hidden_act);
    if (c->position_offset < 0 || c->position_offset >= c->max_positions)
        return fp_fail(err, FP_EINVAL, "model config: position_offset %d outside [0, %d)",
                       c->position_offset, c->max_positions);
    if (!(c->layer_norm_eps > 0.0f))
        return fp_fail(err, FP_EINVAL, "model config: layer_norm_eps must be > 0");
    /* The arena's buffers are sized by d_model, so the embeddings may be narrower, not wider. */
    if (c->d_embed < 0 || c->d_embed > c->d_model || model_embed_width(c) % c->n_heads ||
        (model_has_input_projection(c) && c->arch != MODEL_ARCH_ROBERTA))
        return fp_fail(err, FP_EINVAL,
                       "model config: embedding width %d must be in (0, d_model %d], divisible "
                       "by %d heads, and differ from d_model only in an encoder",
                       c->d_embed, c->d_model, c->n_heads);
    return FP_OK;
}

/* Table builder: appends one entry when there is room; always counts. */
typedef struct table {
    tf_tensor_spec *specs;
    size_t cap, n;
    tf_tensor_spec sink; /* written instead when only counting; never read */
    tf_layer_weights sink_layer; /* slots of a block when only counting (w->layers unset) */
} table;

/* Where the entries of block l point: into w->layers, or nowhere when only counting. */
static tf_layer_weights *layer_slots(table *t, tf_weights *w, int l)
{
    return t->specs ? &w->layers[l] : &t->sink_layer;
}

static tf_tensor_spec *add(table *t, const char *name, int64_t d0, int64_t d1, tf_slot_kind kind)
{
    tf_tensor_spec *s = t->specs && t->n < t->cap ? &t->specs[t->n] : &t->sink;
    t->n++;
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = d1 ? 2 : 1;
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->numel = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    s->kind = kind;
    return s;
}

/* A vector [d0], or a matrix [d0][d1] read as plain rows (embedding tables) when d1 > 0. */
static void add_vec(table *t, const char *name, int64_t d0, int64_t d1, const float **slot,
                    bool norm)
{
    tf_tensor_spec *s = add(t, name, d0, d1, TF_SLOT_VEC);
    s->vec = slot;
    s->is_norm_weight = norm;
}

/* A matrix stored [d0][d1] in the given layout (OUT_IN: d0 = out, IN_OUT: d0 = in). */
static void add_lin(table *t, const char *name, int64_t d0, int64_t d1, lin_w *slot,
                    lin_layout layout)
{
    tf_tensor_spec *s = add(t, name, d0, d1, TF_SLOT_LIN);
    s->lin = slot;
    s->layout = layout;
}

/* Marks the entries from index first on as one optional group. */
static void mark_optional(table *t, size_t first, tf_optional_group group)
{
    if (t->specs)
        for (size_t i = first; i < t->n && i < t->cap; i++)
            t->specs[i].optional = group;
}

static void roberta_table(table *t, const model_config *c, tf_weights *w)
{
    const int64_t d = c->d_model, f = c->d_ff, de = model_embed_width(c);
    char n[96];
    add_vec(t, "roberta.embeddings.word_embeddings.weight", c->vocab_size, de, &w->wte, false);
    add_vec(t, "roberta.embeddings.position_embeddings.weight", c->max_positions, de, &w->wpe,
            false);
    add_vec(t, "roberta.embeddings.token_type_embeddings.weight", c->type_vocab_size, de, &w->wtt,
            false);
    if (!c->no_embedding_ln) {
        add_vec(t, "roberta.embeddings.LayerNorm.weight", de, 0, &w->emb_ln_w, true);
        add_vec(t, "roberta.embeddings.LayerNorm.bias", de, 0, &w->emb_ln_b, false);
    }
    for (int l = 0; l < c->n_layers; l++) {
        tf_layer_weights *y = layer_slots(t, w, l);
        const int64_t di = model_layer_width(c, l); /* block input and attention width */
#define NAME(suffix) (snprintf(n, sizeof n, "roberta.encoder.layer.%d.%s", l, suffix), n)
        add_lin(t, NAME("attention.self.query.weight"), di, di, &y->q, LIN_OUT_IN);
        add_vec(t, NAME("attention.self.query.bias"), di, 0, &y->q_b, false);
        add_lin(t, NAME("attention.self.key.weight"), di, di, &y->k, LIN_OUT_IN);
        add_vec(t, NAME("attention.self.key.bias"), di, 0, &y->k_b, false);
        add_lin(t, NAME("attention.self.value.weight"), di, di, &y->v, LIN_OUT_IN);
        add_vec(t, NAME("attention.self.value.bias"), di, 0, &y->v_b, false);
        add_lin(t, NAME("attention.output.dense.weight"), d, di, &y->o, LIN_OUT_IN);
        add_vec(t, NAME("attention.output.dense.bias"), d, 0, &y->o_b, false);
        if (di != d) { /* fedpep's name for USE-lite's residual projection of block 0 */
            add_lin(t, NAME("attention.input_projection.weight"), d, di, &y->in_proj,
                    LIN_OUT_IN);
            add_vec(t, NAME("attention.input_projection.bias"), d, 0, &y->in_proj_b, false);
        }
        if (c->pre_ln) { /* Hugging Face roberta-prelayernorm's names: LN before each sublayer */
            add_vec(t, NAME("attention.LayerNorm.weight"), di, 0, &y->ln1_w, true);
            add_vec(t, NAME("attention.LayerNorm.bias"), di, 0, &y->ln1_b, false);
            add_vec(t, NAME("intermediate.LayerNorm.weight"), d, 0, &y->ln2_w, true);
            add_vec(t, NAME("intermediate.LayerNorm.bias"), d, 0, &y->ln2_b, false);
        } else {
            add_vec(t, NAME("attention.output.LayerNorm.weight"), d, 0, &y->ln2_w, true);
            add_vec(t, NAME("attention.output.LayerNorm.bias"), d, 0, &y->ln2_b, false);
        }
        add_lin(t, NAME("intermediate.dense.weight"), f, d, &y->fc, LIN_OUT_IN);
        add_vec(t, NAME("intermediate.dense.bias"), f, 0, &y->fc_b, false);
        add_lin(t, NAME("output.dense.weight"), d, f, &y->proj, LIN_OUT_IN);
        add_vec(t, NAME("output.dense.bias"), d, 0, &y->proj_b, false);
        if (!c->pre_ln) {
            add_vec(t, NAME("output.LayerNorm.weight"), d, 0, &y->ln3_w, true);
            add_vec(t, NAME("output.LayerNorm.bias"), d, 0, &y->ln3_b, false);
        }
#undef NAME
    }
    size_t first = t->n;
    if (de == d) { /* the decoder is tied to wte, so it needs embeddings as wide as the stream */
        add_lin(t, "lm_head.dense.weight", d, d, &w->head_dense, LIN_OUT_IN);
        add_vec(t, "lm_head.dense.bias", d, 0, &w->head_dense_b, false);
        add_vec(t, "lm_head.layer_norm.weight", d, 0, &w->head_ln_w, true);
        add_vec(t, "lm_head.layer_norm.bias", d, 0, &w->head_ln_b, false);
        add_vec(t, "lm_head.bias", c->vocab_size, 0, &w->head_bias, false);
    }
    mark_optional(t, first, TF_OPT_LM_HEAD);
    first = t->n;
    add_lin(t, "sentence_head.dense.weight", d, d, &w->sentence_dense, LIN_OUT_IN);
    add_vec(t, "sentence_head.dense.bias", d, 0, &w->sentence_dense_b, false);
    mark_optional(t, first, TF_OPT_SENTENCE_HEAD);
}

static void gpt2_table(table *t, const model_config *c, tf_weights *w)
{
    const int64_t d = c->d_model, f = c->d_ff;
    char n[96];
    add_vec(t, "wte.weight", c->vocab_size, d, &w->wte, false);
    add_vec(t, "wpe.weight", c->max_positions, d, &w->wpe, false);
    tf_tensor_spec *s;
    for (int l = 0; l < c->n_layers; l++) {
        tf_layer_weights *y = layer_slots(t, w, l);
#define NAME(suffix) (snprintf(n, sizeof n, "h.%d.%s", l, suffix), n)
        add_vec(t, NAME("ln_1.weight"), d, 0, &y->ln1_w, true);
        add_vec(t, NAME("ln_1.bias"), d, 0, &y->ln1_b, false);
        s = add(t, NAME("attn.c_attn.weight"), d, 3 * d, TF_SLOT_QKV_W);
        s->layer = y;
        s = add(t, NAME("attn.c_attn.bias"), 3 * d, 0, TF_SLOT_QKV_B);
        s->layer = y;
        add_lin(t, NAME("attn.c_proj.weight"), d, d, &y->o, LIN_IN_OUT);
        add_vec(t, NAME("attn.c_proj.bias"), d, 0, &y->o_b, false);
        add_vec(t, NAME("ln_2.weight"), d, 0, &y->ln2_w, true);
        add_vec(t, NAME("ln_2.bias"), d, 0, &y->ln2_b, false);
        add_lin(t, NAME("mlp.c_fc.weight"), d, f, &y->fc, LIN_IN_OUT);
        add_vec(t, NAME("mlp.c_fc.bias"), f, 0, &y->fc_b, false);
        add_lin(t, NAME("mlp.c_proj.weight"), f, d, &y->proj, LIN_IN_OUT);
        add_vec(t, NAME("mlp.c_proj.bias"), d, 0, &y->proj_b, false);
#undef NAME
    }
    add_vec(t, "ln_f.weight", d, 0, &w->lnf_w, true);
    add_vec(t, "ln_f.bias", d, 0, &w->lnf_b, false);
}

size_t tf_weights_table(const model_config *cfg, tf_weights *w, tf_tensor_spec *specs,
                        size_t cap)
{
    table t = {.specs = specs, .cap = cap};
    if (cfg->arch == MODEL_ARCH_ROBERTA)
        roberta_table(&t, cfg, w);
    else
        gpt2_table(&t, cfg, w);
    return t.n;
}

/* Points the slot of spec at data (numel floats laid out as the spec says). */
static void assign(const tf_tensor_spec *s, const float *data, int d)
{
    switch (s->kind) {
    case TF_SLOT_VEC:
        *s->vec = data;
        break;
    case TF_SLOT_LIN:
        *s->lin = (lin_w){data, (int)s->shape[1], s->layout, NULL};
        break;
    case TF_SLOT_QKV_W: /* [d][3d] Conv1D: Q, K, V are column blocks with ld 3d */
        s->layer->q = (lin_w){data, 3 * d, LIN_IN_OUT, NULL};
        s->layer->k = (lin_w){data + d, 3 * d, LIN_IN_OUT, NULL};
        s->layer->v = (lin_w){data + 2 * d, 3 * d, LIN_IN_OUT, NULL};
        break;
    case TF_SLOT_QKV_B:
        s->layer->q_b = data;
        s->layer->k_b = data + d;
        s->layer->v_b = data + 2 * d;
        break;
    }
}

/* Allocates w->layers and the spec table; the caller frees *specs. */
static fp_status start(tf_weights *w, const model_config *cfg, tf_tensor_spec **specs, size_t *n,
                       fp_error *err)
{
    memset(w, 0, sizeof *w);
    fp_status st = tf_config_check(cfg, err);
    if (st)
        return st;
    w->layers = calloc((size_t)cfg->n_layers, sizeof *w->layers);
    *n = tf_weights_table(cfg, w, NULL, 0);
    *specs = calloc(*n, sizeof **specs);
    if (!w->layers || !*specs) {
        free(*specs);
        tf_weights_free(w);
        return fp_fail(err, FP_ENOMEM, "out of memory for the weight table");
    }
    tf_weights_table(cfg, w, *specs, *n);
    return FP_OK;
}

/* One allocation for every tensor of the table, filled by fill (NULL: zeros). */
static fp_status init_block(tf_weights *w, const model_config *cfg, float std, uint64_t seed,
                            bool random, fp_error *err);

fp_status tf_weights_init_random(tf_weights *w, const model_config *cfg, float std,
                                 uint64_t seed, fp_error *err)
{
    return init_block(w, cfg, std, seed, true, err);
}

fp_status tf_weights_init_zero(tf_weights *w, const model_config *cfg, fp_error *err)
{
    return init_block(w, cfg, 0.0f, 0, false, err);
}

size_t tf_weights_numel(const model_config *cfg)
{
    tf_weights w = {0};
    w.layers = calloc((size_t)cfg->n_layers, sizeof *w.layers);
    size_t n = tf_weights_table(cfg, &w, NULL, 0), total = 0;
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    if (w.layers && specs) {
        tf_weights_table(cfg, &w, specs, n);
        for (size_t i = 0; i < n; i++)
            total += specs[i].numel;
    }
    free(specs);
    free(w.layers);
    return total;
}

static fp_status init_block(tf_weights *w, const model_config *cfg, float std, uint64_t seed,
                            bool random, fp_error *err)
{
    tf_tensor_spec *specs;
    size_t n;
    fp_status st = start(w, cfg, &specs, &n, err);
    if (st)
        return st;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += specs[i].numel;
    w->block = malloc(total * sizeof *w->block);
    if (!w->block) {
        free(specs);
        tf_weights_free(w);
        return fp_fail(err, FP_ENOMEM, "out of memory for %zu weights", total);
    }
    rng_t r;
    rng_seed(&r, seed);
    float *p = w->block;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < specs[i].numel; j++)
            p[j] = random ? (specs[i].is_norm_weight ? 1.0f : 0.0f) + std * (float)rng_normal(&r)
                          : 0.0f;
        assign(&specs[i], p, cfg->d_model);
        p += specs[i].numel;
    }
    w->has_lm_head = cfg->arch == MODEL_ARCH_ROBERTA && !model_has_input_projection(cfg);
    w->has_sentence_head = false; /* allocated (numel counts it) but not part of a random model */
    free(specs);
    return FP_OK;
}

/* The name under which a checkpoint stores canonical name `canon`, trying the optional
 * prefixes; NULL if the file has none of them. */
static const char *find_name(const st_file_t *f, const char *canon, const model_config *cfg,
                             char *buf, size_t cap)
{
    if (st_find(f, canon))
        return canon;
    if (cfg->arch == MODEL_ARCH_ROBERTA && !strncmp(canon, "roberta.", 8)) {
        if (st_find(f, canon + 8))
            return canon + 8;
    } else if (cfg->arch == MODEL_ARCH_GPT2) {
        snprintf(buf, cap, "transformer.%s", canon);
        if (st_find(f, buf))
            return buf;
    }
    return NULL;
}

/* fedpep ties the LM decoder to the word embeddings (as RoBERTa and GPT-2 do). A checkpoint that
 * stores a decoder matrix anyway must hold the same values, else the model would silently be a
 * different one. */
static fp_status check_tied_decoder(const tf_weights *w, const model_config *cfg,
                                    const st_file_t *file, fp_error *err)
{
    static const char *const names[] = {"lm_head.decoder.weight", "lm_head.weight"};
    const int64_t shape[2] = {cfg->vocab_size, cfg->d_model};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        if (!st_find(file, names[k]))
            continue;
        const float *values = NULL;
        float *owned = NULL;
        fp_status st = st_get_f32(file, names[k], 2, shape, &values, &owned, err);
        if (st)
            return st;
        bool same = values == w->wte ||
                    !memcmp(values, w->wte, (size_t)cfg->vocab_size * cfg->d_model * sizeof *values);
        free(owned);
        if (!same)
            return fp_fail(err, FP_EFORMAT,
                           "checkpoint has an untied %s (different from the word embeddings); "
                           "fedpep supports tied LM heads only",
                           names[k]);
    }
    return FP_OK;
}

fp_status tf_weights_from_safetensors(tf_weights *w, const model_config *cfg,
                                      const st_file_t *file, fp_error *err)
{
    tf_tensor_spec *specs;
    size_t n;
    fp_status st = start(w, cfg, &specs, &n, err);
    if (st)
        return st;
    w->converted = calloc(n, sizeof *w->converted);
    if (!w->converted) {
        free(specs);
        tf_weights_free(w);
        return fp_fail(err, FP_ENOMEM, "out of memory for the weight table");
    }
    size_t found[TF_OPT_GROUPS] = {0}, listed[TF_OPT_GROUPS] = {0};
    for (size_t i = 0; i < n && !st; i++) {
        char buf[128];
        const char *name = find_name(file, specs[i].name, cfg, buf, sizeof buf);
        listed[specs[i].optional]++;
        if (!name) {
            if (!specs[i].optional)
                st = fp_fail(err, FP_ENOTFOUND, "checkpoint has no tensor %s", specs[i].name);
            continue;
        }
        const float *values = NULL;
        float *owned = NULL;
        st = st_get_f32(file, name, specs[i].ndim, specs[i].shape, &values, &owned, err);
        if (st)
            break;
        if (owned)
            w->converted[w->n_converted++] = owned;
        assign(&specs[i], values, cfg->d_model);
        found[specs[i].optional]++;
    }
    static const char *const group_names[TF_OPT_GROUPS] = {
        "", "lm_head (dense, layer_norm, bias)", "sentence_head (dense weight and bias)"};
    for (int g = TF_OPT_LM_HEAD; g < TF_OPT_GROUPS && !st; g++)
        if (found[g] && found[g] != listed[g])
            st = fp_fail(err, FP_ENOTFOUND, "checkpoint has only %zu of the %zu %s tensors",
                         found[g], listed[g], group_names[g]);
    w->has_lm_head = listed[TF_OPT_LM_HEAD] > 0 && found[TF_OPT_LM_HEAD] == listed[TF_OPT_LM_HEAD];
    w->has_sentence_head =
        listed[TF_OPT_SENTENCE_HEAD] > 0 &&
        found[TF_OPT_SENTENCE_HEAD] == listed[TF_OPT_SENTENCE_HEAD];
    if (!st)
        st = model_has_input_projection(cfg) ? FP_OK : check_tied_decoder(w, cfg, file, err);
    free(specs);
    if (st)
        tf_weights_free(w);
    return st;
}

/* The data pointer currently held by the slot of s. */
static const float *slot_data(const tf_tensor_spec *s)
{
    switch (s->kind) {
    case TF_SLOT_VEC:
        return *s->vec;
    case TF_SLOT_LIN:
        return s->lin->w;
    case TF_SLOT_QKV_W:
        return s->layer->q.w;
    case TF_SLOT_QKV_B:
        return s->layer->q_b;
    }
    return NULL;
}

fp_status tf_weights_save(const tf_weights *w, const model_config *cfg, const char *path,
                          fp_error *err)
{
    /* The table records slot addresses; build it over a copy so w stays const. */
    tf_weights tmp = *w;
    tmp.layers = malloc((size_t)cfg->n_layers * sizeof *tmp.layers);
    size_t n = tf_weights_table(cfg, &tmp, NULL, 0);
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    st_write_tensor *out = calloc(n, sizeof *out);
    fp_status st = FP_OK;
    if (!tmp.layers || !specs || !out) {
        st = fp_fail(err, FP_ENOMEM, "out of memory saving weights");
        goto done;
    }
    memcpy(tmp.layers, w->layers, (size_t)cfg->n_layers * sizeof *tmp.layers);
    tf_weights_table(cfg, &tmp, specs, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const tf_tensor_spec *s = &specs[i];
        if ((s->optional == TF_OPT_LM_HEAD && !w->has_lm_head) ||
            (s->optional == TF_OPT_SENTENCE_HEAD && !w->has_sentence_head))
            continue;
        const float *data = slot_data(s);
        if (!data) {
            st = fp_fail(err, FP_EINVAL, "saving weights: tensor %s is not set", s->name);
            goto done;
        }
        out[m].name = s->name;
        out[m].ndim = s->ndim;
        out[m].shape[0] = s->shape[0];
        out[m].shape[1] = s->shape[1];
        out[m].data = data;
        m++;
    }
    st = st_write(path, out, m, NULL, 0, err);
done:
    free(out);
    free(specs);
    free(tmp.layers);
    return st;
}

void tf_weights_free(tf_weights *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_converted; i++)
        free(w->converted[i]);
    free(w->converted);
    free(w->layers);
    free(w->block);
    free(w->bf16_block);
    memset(w, 0, sizeof *w);
}
