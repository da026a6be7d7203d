/* hf_config.h — reads and writes Hugging Face config.json files of the RoBERTa and GPT-2 families
 * into and from a model_config, and finds the files of a model folder.
 *
 * A model folder is what Hugging Face's save_pretrained writes and what fedpep saves:
 *   config.json, model.safetensors, and the tokenizer pair vocab.json + merges.txt.
 * Reading checks every field the transformer depends on and refuses what fedpep does not
 * implement (another model_type, activation or attention variant) with the field's name, rather
 * than running a different model than the checkpoint describes. */
#ifndef FEDPEP_MODEL_HF_CONFIG_H
#define FEDPEP_MODEL_HF_CONFIG_H

#include "common/status.h"
#include "model/bpe.h"
#include "model/model_config.h"

/* Parses config.json at path. RoBERTa: model_type "roberta", hidden_act "gelu" or "relu",
 * absolute positions; position_offset = pad_token_id + 1; fedpep's optional switches
 * "fedpep_pre_ln" (false), "fedpep_embedding_layernorm" (true) and
 * "fedpep_prefix_shifts_positions" (true) describe USE-lite-style encoders (docs/loaders.md).
 * GPT-2: model_type "gpt2", activation "gelu_new"; n_inner null → 4·n_embd. mask_token_id comes
 * from a "mask_token_id" field when present (fedpep writes one), else -1: set it from the tokenizer
 * (hf_config_set_mask_token or hf_model_load_config do). FP_ENOTFOUND if missing, FP_EIO if
 * unreadable, FP_EFORMAT naming the field otherwise. */
fp_status hf_config_load(const char *path, model_config *cfg, fp_error *err);
/* The same from JSON text in memory; name is used in messages. */
fp_status hf_config_parse(const char *json, size_t len, const char *name, model_config *cfg,
                          fp_error *err);

/* Sets cfg->mask_token_id after checking it is inside the vocabulary (or -1 for none). */
fp_status hf_config_set_mask_token(model_config *cfg, int mask_token_id, fp_error *err);

/* Checks that cfg is a model fedpep runs and HF can describe (dims positive, d divisible by H,
 * the flavour flags matching arch, token ids inside the vocabulary). */
fp_status hf_config_validate(const model_config *cfg, fp_error *err);

/* Writes cfg as a Hugging Face config.json (loadable by transformers' AutoConfig) atomically
 * (path.tmp, fsync, rename). Adds "mask_token_id" when cfg has one. */
fp_status hf_config_save(const char *path, const model_config *cfg, fp_error *err);

#define MODEL_PATH_MAX 4096

typedef struct model_paths {
    char config[MODEL_PATH_MAX];  /* dir/config.json */
    char weights[MODEL_PATH_MAX]; /* dir/model.safetensors */
    char vocab[MODEL_PATH_MAX];   /* dir/vocab.json */
    char merges[MODEL_PATH_MAX];  /* dir/merges.txt */
    bool has_tokenizer;           /* vocab.json and merges.txt both exist */
} model_paths;

/* Fills the paths of the files of model folder dir. FP_ENOTFOUND naming the file when
 * config.json or model.safetensors is missing; the tokenizer pair is optional. */
fp_status model_dir_paths(const char *dir, model_paths *paths, fp_error *err);

/* Reads dir/config.json and, when tokenizer is not NULL, dir's tokenizer files (or, when the
 * folder has none, fallback_vocab + fallback_merges if given; e.g. the cached GPT-2 pair).
 * RoBERTa models load the tokenizer with bpe_new_roberta (GPT-2's files get RoBERTa's layout,
 * <mask> last) and must agree with it on pad/bos/eos; mask_token_id is then the tokenizer's
 * "<mask>". The tokenizer's ids must fit the model's vocab_size. *tokenizer is NULL on failure. */
fp_status hf_model_load_config(const char *dir, const char *fallback_vocab,
                               const char *fallback_merges, model_config *cfg, bpe_t **tokenizer,
                               fp_error *err);

#endif
