/* tfjs_weights.h — reads the weights of a TF.js GraphModel package: the `weightsManifest` of its
 * model.json and the binary shard files it lists, as one read-only buffer of named tensors.
 *
 * Format (TF.js 'weights manifest'): model.json is a JSON object whose "weightsManifest" is an
 * array of groups {"paths": ["group1-shard1of7", ...], "weights": [{"name", "shape", "dtype"},
 * ...]}. A group's shards, concatenated in order, hold its tensors back to back in the listed
 * order, prod(shape)·4 bytes each (float32 and int32, little-endian), with nothing left over.
 * Groups are concatenated in order too, so every tensor has one offset into one buffer.
 *
 * Only what fedpep needs is accepted: float32 and int32 tensors, no `quantization`, at most
 * TFJS_MAX_DIMS dimensions, shard paths inside the package folder. Anything else — a missing,
 * short or long shard, a shape that is negative, not an integer or overflows, a duplicate name —
 * is an fp_error naming the file and the tensor; never a crash, never a partial object.
 * This file must never write to the package and never follow a path outside its folder. */
#ifndef FEDPEP_MODEL_TFJS_WEIGHTS_H
#define FEDPEP_MODEL_TFJS_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define TFJS_MAX_DIMS 8
/* Largest package this loader reads (all tensors together); far above USE-lite's 27.9 MB. */
#define TFJS_MAX_BYTES ((size_t)1 << 32)

typedef enum tfjs_dtype { TFJS_F32 = 1, TFJS_I32 = 2 } tfjs_dtype;

typedef struct tfjs_tensor {
    const char *name; /* owned by the weights object */
    tfjs_dtype dtype;
    int ndim; /* 0 for a scalar (one element) */
    int64_t shape[TFJS_MAX_DIMS];
    size_t numel;
    size_t nbytes;    /* numel · 4 */
    size_t offset;    /* bytes from the start of the whole (all groups') buffer */
    int group;        /* index of its manifest group */
    const void *data; /* into the shard buffer once loaded (tfjs_weights_open); else NULL */
} tfjs_tensor;

typedef struct tfjs_weights tfjs_weights_t;

/* Parses model.json text (len bytes; name is used in messages) into tensors with offsets but
 * no data: every check that needs no shard file. NULL with err on failure. For the fuzzer and
 * for tests; tfjs_weights_open is the normal entry. */
tfjs_weights_t *tfjs_weights_parse_manifest(const char *json, size_t len, const char *name,
                                            fp_error *err);

/* Opens the package folder dir: parses dir/model.json, checks that each group's shards hold
 * exactly the bytes its tensors need (sizes first, before any allocation), then reads all the
 * shards into one buffer. NULL with err on failure (FP_EIO / FP_ENOTFOUND naming the file,
 * FP_EFORMAT naming the group or tensor, FP_ELIMIT above TFJS_MAX_BYTES). */
tfjs_weights_t *tfjs_weights_open(const char *dir, fp_error *err);
void tfjs_weights_destroy(tfjs_weights_t **self_p);

size_t tfjs_weights_count(const tfjs_weights_t *self);
/* The i-th tensor in manifest order (i < count). */
const tfjs_tensor *tfjs_weights_at(const tfjs_weights_t *self, size_t i);
/* NULL if absent. */
const tfjs_tensor *tfjs_weights_find(const tfjs_weights_t *self, const char *name);
/* Bytes of all the tensors (= of all the shards once opened). */
size_t tfjs_weights_bytes(const tfjs_weights_t *self);
/* The shard files in reading order, as the manifest names them (relative to the folder). */
size_t tfjs_weights_shard_count(const tfjs_weights_t *self);
const char *tfjs_weights_shard(const tfjs_weights_t *self, size_t i);

/* The float32 tensor name, checked to have exactly shape[0..ndim): *values points into the
 * shard buffer (valid until destroy). FP_ENOTFOUND if absent, FP_EFORMAT naming the tensor if
 * its dtype or shape differ, FP_ESTATE if the shards were not loaded (parse_manifest only). */
fp_status tfjs_weights_get_f32(const tfjs_weights_t *self, const char *name, int ndim,
                               const int64_t *shape, const float **values, fp_error *err);

/* Reads the whole file dir/name (at most max bytes) into a malloc'd buffer with a NUL after its
 * last byte; the caller frees *bytes. FP_ENOTFOUND / FP_EIO naming the file, FP_ELIMIT if larger
 * than max. (The package's model.json, and its vocab.json for converters.) */
fp_status tfjs_read_package_file(const char *dir, const char *name, size_t max, char **bytes,
                                 size_t *len, fp_error *err);

#endif
