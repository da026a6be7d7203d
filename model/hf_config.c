/* hf_config.c — Hugging Face config.json ⇄ model_config for RoBERTa and GPT-2; see hf_config.h.
 *
 * Absent optional fields take the defaults of transformers' RobertaConfig / GPT2Config, so a
 * terse config.json means what it means to Hugging Face. Fields that would change the
 * computation in ways fedpep does not implement are refused by name, never ignored.
 * This file must never guess a dimension: every shape comes from the file or fails. */
#include "model/hf_config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file_io.h"
#include "model/safetensors.h"

#define MAX_DIM (1 << 24) /* far above any real model; keeps products of dims in range */

/* Reads integer key into *out: absent or null → def (or an error if required). */
static fp_status get_int(json_t *root, const char *name, const char *key, bool required, int def,
                         int min, int *out, fp_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required)
            return fp_fail(err, FP_EFORMAT, "%s: field '%s' missing", name, key);
        *out = def;
        return FP_OK;
    }
    if (!json_is_integer(v))
        return fp_fail(err, FP_EFORMAT, "%s: field '%s' is not an integer", name, key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > MAX_DIM)
        return fp_fail(err, FP_EFORMAT, "%s: field '%s' = %lld outside [%d, %d]", name, key,
                       (long long)x, min, MAX_DIM);
    *out = (int)x;
    return FP_OK;
}

static fp_status get_eps(json_t *root, const char *name, const char *key, double def, float *out,
                         fp_error *err)
{
    json_t *v = json_object_get(root, key);
    double x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_number(v))
            return fp_fail(err, FP_EFORMAT, "%s: field '%s' is not a number", name, key);
        x = json_number_value(v);
    }
    if (!(x > 0 && x < 1))
        return fp_fail(err, FP_EFORMAT, "%s: field '%s' = %g outside (0, 1)", name, key, x);
    *out = (float)x;
    return FP_OK;
}

/* The string value of key, def when absent; NULL (with err) when present but not a string. */
static const char *get_str(json_t *root, const char *name, const char *key, const char *def,
                           fp_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return def;
    if (!json_is_string(v)) {
        fp_fail(err, FP_EFORMAT, "%s: field '%s' is not a string", name, key);
        return NULL;
    }
    return json_string_value(v);
}

/* Refuses a boolean flag that is present with the value fedpep does not implement. */
static fp_status refuse_flag(json_t *root, const char *name, const char *key, bool bad,
                             fp_error *err)
{
    json_t *v = json_object_get(root, key);
    if (v && json_is_boolean(v) && json_boolean_value(v) == bad)
        return fp_fail(err, FP_EFORMAT, "%s: %s = %s is not supported", name, key,
                       bad ? "true" : "false");
    return FP_OK;
}

/* Reads boolean key into *out: absent or null → def; anything but true/false is an error. */
static fp_status get_bool(json_t *root, const char *name, const char *key, bool def, bool *out,
                          fp_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return FP_OK;
    }
    if (!json_is_boolean(v))
        return fp_fail(err, FP_EFORMAT, "%s: field '%s' is not true or false", name, key);
    *out = json_boolean_value(v);
    return FP_OK;
}

/* fedpep's own keys for USE-lite-style encoders (transformers keeps unknown keys as they are). */
#define KEY_PRE_LN "fedpep_pre_ln"
#define KEY_EMB_LN "fedpep_embedding_layernorm"
#define KEY_PREFIX_SHIFT "fedpep_prefix_shifts_positions"
#define KEY_POSITION_OFFSET "fedpep_position_offset"

static fp_status parse_roberta(json_t *r, const char *name, model_config *c, fp_error *err)
{
    c->arch = MODEL_ARCH_ROBERTA;
    fp_status st;
    if ((st = get_int(r, name, "vocab_size", true, 0, 1, &c->vocab_size, err)) ||
        (st = get_int(r, name, "hidden_size", true, 0, 1, &c->d_model, err)) ||
        (st = get_int(r, name, "num_hidden_layers", true, 0, 1, &c->n_layers, err)) ||
        (st = get_int(r, name, "num_attention_heads", true, 0, 1, &c->n_heads, err)) ||
        (st = get_int(r, name, "intermediate_size", true, 0, 1, &c->d_ff, err)) ||
        (st = get_int(r, name, "max_position_embeddings", true, 0, 1, &c->max_positions, err)) ||
        (st = get_int(r, name, "type_vocab_size", false, 2, 1, &c->type_vocab_size, err)) ||
        (st = get_int(r, name, "pad_token_id", false, 1, 0, &c->pad_token_id, err)) ||
        (st = get_int(r, name, "bos_token_id", false, 0, 0, &c->bos_token_id, err)) ||
        (st = get_int(r, name, "eos_token_id", false, 2, 0, &c->eos_token_id, err)) ||
        (st = get_int(r, name, "mask_token_id", false, -1, 0, &c->mask_token_id, err)) ||
        (st = get_eps(r, name, "layer_norm_eps", 1e-12, &c->layer_norm_eps, err)) ||
        (st = refuse_flag(r, name, "is_decoder", true, err)) ||
        (st = refuse_flag(r, name, "add_cross_attention", true, err)))
        return st;
    bool emb_ln, shifts;
    if ((st = get_bool(r, name, KEY_PRE_LN, false, &c->pre_ln, err)) ||
        (st = get_bool(r, name, KEY_EMB_LN, true, &emb_ln, err)) ||
        (st = get_bool(r, name, KEY_PREFIX_SHIFT, true, &shifts, err)))
        return st;
    c->no_embedding_ln = !emb_ln;
    c->prefix_keeps_positions = !shifts;
    const char *act = get_str(r, name, "hidden_act", "gelu", err);
    if (!act)
        return err ? err->status : FP_EFORMAT;
    if (strcmp(act, "relu") == 0)
        c->hidden_act = MODEL_ACT_RELU;
    else if (strcmp(act, "gelu") != 0)
        return fp_fail(err, FP_EFORMAT,
                       "%s: hidden_act '%.32s' is not supported (\"gelu\" or \"relu\")", name, act);
    const char *pos = get_str(r, name, "position_embedding_type", "absolute", err);
    if (!pos)
        return err ? err->status : FP_EFORMAT;
    if (strcmp(pos, "absolute") != 0)
        return fp_fail(err, FP_EFORMAT, "%s: position_embedding_type '%.32s' is not supported",
                       name, pos);
    c->final_ln = false;
    /* ALBERT's key for embeddings narrower than the stream; absent: as wide */
    if ((st = get_int(r, name, "embedding_size", false, c->d_model, 1, &c->d_embed, err)) ||
        (st = get_int(r, name, KEY_POSITION_OFFSET, false, c->pad_token_id + 1, 0,
                      &c->position_offset, err)))
        return st;
    if (c->d_embed == c->d_model)
        c->d_embed = 0; /* the zero value means "as wide as d_model" everywhere else */
    return FP_OK;
}

static fp_status parse_gpt2(json_t *r, const char *name, model_config *c, fp_error *err)
{
    c->arch = MODEL_ARCH_GPT2;
    fp_status st;
    if ((st = get_int(r, name, "vocab_size", true, 0, 1, &c->vocab_size, err)) ||
        (st = get_int(r, name, "n_embd", true, 0, 1, &c->d_model, err)) ||
        (st = get_int(r, name, "n_layer", true, 0, 1, &c->n_layers, err)) ||
        (st = get_int(r, name, "n_head", true, 0, 1, &c->n_heads, err)) ||
        (st = get_int(r, name, "bos_token_id", false, 50256, 0, &c->bos_token_id, err)) ||
        (st = get_int(r, name, "eos_token_id", false, 50256, 0, &c->eos_token_id, err)) ||
        (st = get_eps(r, name, "layer_norm_epsilon", 1e-5, &c->layer_norm_eps, err)) ||
        (st = refuse_flag(r, name, "scale_attn_weights", false, err)) ||
        (st = refuse_flag(r, name, "scale_attn_by_inverse_layer_idx", true, err)) ||
        (st = refuse_flag(r, name, "add_cross_attention", true, err)))
        return st;
    /* n_positions sizes the position table; old configs only have n_ctx. */
    const char *pos_key = json_object_get(r, "n_positions") ? "n_positions" : "n_ctx";
    if ((st = get_int(r, name, pos_key, true, 0, 1, &c->max_positions, err)))
        return st;
    int inner;
    if ((st = get_int(r, name, "n_inner", false, 0, 1, &inner, err)))
        return st;
    c->d_ff = inner ? inner : 4 * c->d_model;
    const char *act = get_str(r, name, "activation_function", "gelu_new", err);
    if (!act)
        return err ? err->status : FP_EFORMAT;
    /* gelu_pytorch_tanh is the same tanh approximation as gelu_new. */
    if (strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0)
        return fp_fail(err, FP_EFORMAT,
                       "%s: activation_function '%.32s' is not supported (GPT-2 uses \"gelu_new\")",
                       name, act);
    c->type_vocab_size = 0;
    c->pad_token_id = -1;
    c->mask_token_id = -1;
    c->pre_ln = true;
    c->final_ln = true;
    c->position_offset = 0;
    return FP_OK;
}

static fp_status check_token(const model_config *c, const char *what, int id, bool optional,
                             fp_error *err)
{
    if ((optional && id == -1) || (id >= 0 && id < c->vocab_size))
        return FP_OK;
    return fp_fail(err, FP_EINVAL, "model config: %s %d outside the vocabulary of %d", what, id,
                   c->vocab_size);
}

fp_status hf_config_validate(const model_config *c, fp_error *err)
{
    if (!c)
        return fp_fail(err, FP_EINVAL, "model config: NULL");
    if (c->arch != MODEL_ARCH_ROBERTA && c->arch != MODEL_ARCH_GPT2)
        return fp_fail(err, FP_EINVAL, "model config: unknown arch %d", (int)c->arch);
    if (c->vocab_size < 1 || c->max_positions < 1 || c->n_layers < 1 || c->d_model < 1 ||
        c->n_heads < 1 || c->d_ff < 1)
        return fp_fail(err, FP_EINVAL, "model config: a dimension is not positive");
    if (c->d_model % c->n_heads != 0)
        return fp_fail(err, FP_EINVAL, "model config: width %d not divisible by %d heads",
                       c->d_model, c->n_heads);
    if (c->d_embed < 0 || c->d_embed > c->d_model || model_embed_width(c) % c->n_heads != 0 ||
        (model_has_input_projection(c) && c->arch != MODEL_ARCH_ROBERTA))
        return fp_fail(err, FP_EINVAL,
                       "model config: embedding_size %d must be at most hidden_size %d, divisible "
                       "by %d heads, and differ from it only in an encoder",
                       model_embed_width(c), c->d_model, c->n_heads);
    if (!(c->layer_norm_eps > 0 && c->layer_norm_eps < 1))
        return fp_fail(err, FP_EINVAL, "model config: layer_norm_eps %g outside (0, 1)",
                       (double)c->layer_norm_eps);
    fp_status st;
    if ((st = check_token(c, "bos_token_id", c->bos_token_id, false, err)) ||
        (st = check_token(c, "eos_token_id", c->eos_token_id, false, err)) ||
        (st = check_token(c, "mask_token_id", c->mask_token_id, true, err)))
        return st;
    bool roberta = c->arch == MODEL_ARCH_ROBERTA;
    if (roberta ? c->final_ln : !c->pre_ln || !c->final_ln)
        return fp_fail(err, FP_EINVAL, "model config: %s",
                       roberta ? "an encoder has no final LayerNorm"
                               : "GPT-2 is pre-LN with a final LayerNorm");
    if (c->hidden_act != MODEL_ACT_ARCH && (c->hidden_act != MODEL_ACT_RELU || !roberta))
        return fp_fail(err, FP_EINVAL, "model config: hidden_act %d is not supported for %s",
                       (int)c->hidden_act, roberta ? "RoBERTa" : "GPT-2");
    if (!roberta && (c->no_embedding_ln || c->prefix_keeps_positions))
        return fp_fail(err, FP_EINVAL,
                       "model config: GPT-2 has no embedding LayerNorm switch or prefix position "
                       "switch in config.json");
    if (roberta) {
        if ((st = check_token(c, "pad_token_id", c->pad_token_id, false, err)))
            return st;
        if (c->type_vocab_size < 1)
            return fp_fail(err, FP_EINVAL, "model config: RoBERTa needs type_vocab_size >= 1");
        if (c->position_offset < 0)
            return fp_fail(err, FP_EINVAL, "model config: position_offset %d is negative",
                           c->position_offset);
    } else if (c->type_vocab_size != 0 || c->pad_token_id != -1 || c->position_offset != 0) {
        return fp_fail(err, FP_EINVAL,
                       "model config: GPT-2 has no token types, pad token or "
                       "position offset");
    }
    if (c->max_positions <= c->position_offset)
        return fp_fail(err, FP_EINVAL, "model config: %d positions leave none after offset %d",
                       c->max_positions, c->position_offset);
    return FP_OK;
}

fp_status hf_config_parse(const char *json, size_t len, const char *name, model_config *cfg,
                          fp_error *err)
{
    if (!json || !cfg)
        return fp_fail(err, FP_EINVAL, "hf_config_parse: NULL argument");
    name = name ? name : "config.json";
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fp_fail(err, FP_EFORMAT, "%s: line %d: %s", name, jerr.line, jerr.text);
    model_config c = {0};
    fp_status st = FP_OK;
    json_t *type = json_object_get(root, "model_type");
    if (!json_is_object(root))
        st = fp_fail(err, FP_EFORMAT, "%s: not a JSON object", name);
    else if (!type || !json_is_string(type))
        st = fp_fail(err, FP_EFORMAT, "%s: field 'model_type' %s", name,
                     type ? "is not a string" : "missing");
    else if (strcmp(json_string_value(type), "roberta") == 0)
        st = parse_roberta(root, name, &c, err);
    else if (strcmp(json_string_value(type), "gpt2") == 0)
        st = parse_gpt2(root, name, &c, err);
    else
        st = fp_fail(err, FP_EFORMAT,
                     "%s: model_type '%.32s' is not supported (\"roberta\" or \"gpt2\")", name,
                     json_string_value(type));
    json_decref(root);
    if (!st) {
        fp_error why = {0};
        st = hf_config_validate(&c, &why);
        if (st) /* a well-formed file describing an impossible model is a format error */
            st = fp_fail(err, FP_EFORMAT, "%s: %s", name, why.msg);
    }
    if (!st)
        *cfg = c;
    return st;
}

fp_status hf_config_load(const char *path, model_config *cfg, fp_error *err)
{
    if (!path)
        return fp_fail(err, FP_EINVAL, "hf_config_load: NULL path");
    char *buf = NULL;
    size_t len = 0;
    fp_status st = fp_file_read(path, (size_t)1 << 24, &buf, &len, err);
    if (!st)
        st = hf_config_parse(buf, len, path, cfg, err);
    free(buf);
    return st;
}

fp_status hf_config_set_mask_token(model_config *cfg, int mask_token_id, fp_error *err)
{
    if (!cfg)
        return fp_fail(err, FP_EINVAL, "hf_config_set_mask_token: NULL config");
    if (mask_token_id != -1 && (mask_token_id < 0 || mask_token_id >= cfg->vocab_size))
        return fp_fail(err, FP_EINVAL, "mask token %d outside the vocabulary of %d", mask_token_id,
                       cfg->vocab_size);
    cfg->mask_token_id = mask_token_id;
    return FP_OK;
}

/* The shortest decimal that reads back as the same float (1e-05, not 9.99999975e-06). */
static json_t *json_float(float x)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x)
            break;
    }
    return json_real(strtod(buf, NULL));
}

static int set(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v);
}

static json_t *config_json(const model_config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    if (c->arch == MODEL_ARCH_ROBERTA) {
        bad |= set(o, "architectures", json_pack("[s]", "RobertaForMaskedLM"));
        bad |= set(o, "model_type", json_string("roberta"));
        bad |= set(o, "vocab_size", json_integer(c->vocab_size));
        bad |= set(o, "hidden_size", json_integer(c->d_model));
        bad |= set(o, "num_hidden_layers", json_integer(c->n_layers));
        bad |= set(o, "num_attention_heads", json_integer(c->n_heads));
        bad |= set(o, "intermediate_size", json_integer(c->d_ff));
        bad |= set(o, "max_position_embeddings", json_integer(c->max_positions));
        bad |= set(o, "type_vocab_size", json_integer(c->type_vocab_size));
        bad |= set(o, "layer_norm_eps", json_float(c->layer_norm_eps));
        bad |= set(o, "hidden_act", json_string(c->hidden_act == MODEL_ACT_RELU ? "relu" : "gelu"));
        /* fedpep's switches only when they differ from RoBERTa, so RoBERTa files stay plain */
        if (c->pre_ln)
            bad |= set(o, KEY_PRE_LN, json_true());
        if (c->no_embedding_ln)
            bad |= set(o, KEY_EMB_LN, json_false());
        if (c->prefix_keeps_positions)
            bad |= set(o, KEY_PREFIX_SHIFT, json_false());
        if (c->position_offset != c->pad_token_id + 1)
            bad |= set(o, KEY_POSITION_OFFSET, json_integer(c->position_offset));
        if (model_has_input_projection(c))
            bad |= set(o, "embedding_size", json_integer(model_embed_width(c)));
        bad |= set(o, "position_embedding_type", json_string("absolute"));
        bad |= set(o, "hidden_dropout_prob", json_real(0.1));
        bad |= set(o, "attention_probs_dropout_prob", json_real(0.1));
        bad |= set(o, "pad_token_id", json_integer(c->pad_token_id));
    } else {
        bad |= set(o, "architectures", json_pack("[s]", "GPT2LMHeadModel"));
        bad |= set(o, "model_type", json_string("gpt2"));
        bad |= set(o, "vocab_size", json_integer(c->vocab_size));
        bad |= set(o, "n_positions", json_integer(c->max_positions));
        bad |= set(o, "n_ctx", json_integer(c->max_positions));
        bad |= set(o, "n_embd", json_integer(c->d_model));
        bad |= set(o, "n_layer", json_integer(c->n_layers));
        bad |= set(o, "n_head", json_integer(c->n_heads));
        bad |= set(o, "n_inner", json_integer(c->d_ff));
        bad |= set(o, "layer_norm_epsilon", json_float(c->layer_norm_eps));
        bad |= set(o, "activation_function", json_string("gelu_new"));
    }
    bad |= set(o, "bos_token_id", json_integer(c->bos_token_id));
    bad |= set(o, "eos_token_id", json_integer(c->eos_token_id));
    if (c->mask_token_id >= 0) /* not an HF field; transformers keeps unknown keys as is */
        bad |= set(o, "mask_token_id", json_integer(c->mask_token_id));
    bad |= set(o, "torch_dtype", json_string("float32"));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

fp_status hf_config_save(const char *path, const model_config *cfg, fp_error *err)
{
    if (!path)
        return fp_fail(err, FP_EINVAL, "hf_config_save: NULL path");
    fp_status st = hf_config_validate(cfg, err);
    if (st)
        return st;
    json_t *o = config_json(cfg);
    char *text =
        o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(o);
    if (!text)
        return fp_fail(err, FP_ENOMEM, "hf_config_save: out of memory");
    const void *parts[2] = {text, "\n"};
    size_t sizes[2] = {strlen(text), 1};
    st = fp_file_write_atomic(path, parts, sizes, 2, err);
    free(text);
    return st;
}

/* --- model folders ------------------------------------------------------------------------ */

static fp_status join(char *out, const char *dir, const char *file, fp_error *err)
{
    if ((size_t)snprintf(out, MODEL_PATH_MAX, "%s/%s", dir, file) >= MODEL_PATH_MAX)
        return fp_fail(err, FP_EINVAL, "model folder path too long: %.64s...", dir);
    return FP_OK;
}

fp_status model_dir_paths(const char *dir, model_paths *p, fp_error *err)
{
    if (!dir || !p)
        return fp_fail(err, FP_EINVAL, "model_dir_paths: NULL argument");
    fp_status st;
    if ((st = join(p->config, dir, "config.json", err)) ||
        (st = join(p->weights, dir, "model.safetensors", err)) ||
        (st = join(p->vocab, dir, "vocab.json", err)) ||
        (st = join(p->merges, dir, "merges.txt", err)))
        return st;
    if (access(p->config, R_OK) != 0)
        return fp_fail(err, FP_ENOTFOUND, "model folder %s has no readable config.json", dir);
    if (access(p->weights, R_OK) != 0)
        return fp_fail(err, FP_ENOTFOUND, "model folder %s has no readable model.safetensors", dir);
    p->has_tokenizer = access(p->vocab, R_OK) == 0 && access(p->merges, R_OK) == 0;
    return FP_OK;
}

/* Ties the tokenizer to a loaded config: vocabulary fit, mask id, RoBERTa's pad/bos/eos. */
static fp_status attach_tokenizer(model_config *cfg, bpe_t *tok, const char *dir, fp_error *err)
{
    if (bpe_vocab_size(tok) > cfg->vocab_size)
        return fp_fail(err, FP_EFORMAT, "%s: tokenizer has %d ids, the model only %d", dir,
                       bpe_vocab_size(tok), cfg->vocab_size);
    if (cfg->arch != MODEL_ARCH_ROBERTA)
        return FP_OK;
    int pad = bpe_token_id(tok, "<pad>"), bos = bpe_token_id(tok, "<s>");
    int eos = bpe_token_id(tok, "</s>");
    if (pad != cfg->pad_token_id || bos != cfg->bos_token_id || eos != cfg->eos_token_id)
        return fp_fail(err, FP_EFORMAT,
                       "%s: tokenizer ids of <pad> <s> </s> (%d %d %d) differ from config.json's "
                       "pad/bos/eos (%d %d %d)",
                       dir, pad, bos, eos, cfg->pad_token_id, cfg->bos_token_id, cfg->eos_token_id);
    return hf_config_set_mask_token(cfg, bpe_token_id(tok, "<mask>"), err);
}

fp_status hf_model_load_config(const char *dir, const char *fallback_vocab,
                               const char *fallback_merges, model_config *cfg, bpe_t **tokenizer,
                               fp_error *err)
{
    if (tokenizer)
        *tokenizer = NULL;
    model_paths p;
    fp_status st = model_dir_paths(dir, &p, err);
    if (!st)
        st = hf_config_load(p.config, cfg, err);
    if (st || !tokenizer)
        return st;
    const char *vocab = p.has_tokenizer ? p.vocab : fallback_vocab;
    const char *merges = p.has_tokenizer ? p.merges : fallback_merges;
    if (!vocab || !merges)
        return fp_fail(err, FP_ENOTFOUND, "model folder %s has no vocab.json + merges.txt", dir);
    bpe_t *tok = cfg->arch == MODEL_ARCH_ROBERTA ? bpe_new_roberta(vocab, merges, err)
                                                 : bpe_new(vocab, merges, err);
    if (!tok)
        return err ? err->status : FP_EFORMAT;
    st = attach_tokenizer(cfg, tok, dir, err);
    if (st)
        bpe_destroy(&tok);
    *tokenizer = tok;
    return st;
}
