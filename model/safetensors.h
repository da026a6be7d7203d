/* safetensors.h — read and write the safetensors format (Hugging Face), the one weights format
 * fedpep loads and saves.
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32"|"F16"|"BF16"|..., "shape": [..], "data_offsets": [begin, end]},
 *    "__metadata__": {"k": "v", ...}}
 * then the raw little-endian tensor bytes; offsets are relative to the end of the header.
 *
 * Reading maps the file read-only (MAP_SHARED), so every client process on a machine shares one
 * copy of the weights in the page cache; F32 tensors are returned as pointers into the map
 * (no copy). F16 and BF16 are converted to F32 into a buffer the caller owns.
 * Every offset, shape and dtype is validated against the file size before any byte is touched:
 * a truncated or lying file gives FP_EFORMAT with the tensor's name, never a crash. */
#ifndef FEDPEP_MODEL_SAFETENSORS_H
#define FEDPEP_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define ST_MAX_DIMS 8
/* The header key of the string metadata; no tensor may have this name. */
#define ST_METADATA_KEY "__metadata__"

typedef enum st_dtype { ST_F32 = 1, ST_F16, ST_BF16, ST_OTHER } st_dtype;

typedef struct st_tensor {
    const char *name; /* owned by the file object */
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    const void *data; /* into the read-only map; numel * element size bytes */
    /* Additions beyond the first contract: */
    size_t nbytes;          /* numel * element size, equal to data_offsets end - begin */
    const char *dtype_name; /* the dtype string of the header ("F32", "I64", ...) */
} st_tensor;

typedef struct st_file st_file_t;

/* Opens and maps path, parses and validates the header. NULL on failure with err filled. */
st_file_t *st_open(const char *path, fp_error *err);
void st_close(st_file_t **self_p);
/* Parses a safetensors image already in memory (fuzzing, tests, embedded models). The bytes are
 * not copied: they must outlive the returned object. Same validation as st_open. */
st_file_t *st_open_memory(const void *bytes, size_t len, fp_error *err);

size_t st_count(const st_file_t *self);
const st_tensor *st_at(const st_file_t *self, size_t i);
/* NULL if absent. */
const st_tensor *st_find(const st_file_t *self, const char *name);
/* Value of a __metadata__ key, or NULL. */
const char *st_metadata(const st_file_t *self, const char *key);

/* Looks up name, checks its shape equals shape[0..ndim) exactly (shape NULL: any shape, ndim
 * ignored), and gives F32 values:
 * for F32 a pointer into the map (*owned = NULL); for F16/BF16 a malloc'd converted copy
 * (*owned = that pointer, free it when done). Errors name the tensor and the mismatch. */
fp_status st_get_f32(const st_file_t *self, const char *name, int ndim, const int64_t *shape,
                     const float **values, float **owned, fp_error *err);

/* Exact IEEE conversions of one half (binary16) or bfloat16 value, subnormals, infinities and
 * NaN payloads included. */
float st_f16_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t b);

/* A tensor to write: F32 data in memory. */
typedef struct st_write_tensor {
    const char *name;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} st_write_tensor;

/* Writes tensors (sorted by name in the header, as HF does) and optional metadata pairs
 * (meta_kv[2i] = key, meta_kv[2i+1] = value) to path atomically (fp_file_write_atomic: path.tmp,
 * fsync, rename), so a crash never leaves a half-written model. */
fp_status st_write(const char *path, const st_write_tensor *tensors, size_t n_tensors,
                   const char *const *meta_kv, size_t n_meta, fp_error *err);

#endif
