/* blob.h — little-endian byte writer and bounds-checked reader for fl/ state blobs.
 *
 * Client and server optimizer states are saved as flat blobs: a 4-byte magic, a u32 format
 * version, then fixed-width fields. Writing byte by byte (never memcpy of a struct) makes the
 * bytes identical on every machine, so a restored state continues bit for bit. The reader
 * never reads past the end: a short or corrupt blob is an FP_EFORMAT, never a crash. */
#ifndef FEDPEP_FL_BLOB_H
#define FEDPEP_FL_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* A writer over a caller-sized buffer, or, with buf NULL, a measuring writer: the puts only add
 * to len (and read no value). Writing past cap is a programming error (asserted). */
typedef struct fl_blob_writer {
    uint8_t *buf;
    size_t cap, len;
} fl_blob_writer;

void fl_blob_put_u32(fl_blob_writer *w, uint32_t x);
void fl_blob_put_u64(fl_blob_writer *w, uint64_t x);
void fl_blob_put_f64(fl_blob_writer *w, double x);
void fl_blob_put_f32s(fl_blob_writer *w, const float *x, size_t n);

/* Writes every field of one blob of ctx into w. A blob has one such function, run once to
 * measure and once to write, so its size and its bytes cannot disagree. */
typedef void (*fl_blob_write_fn)(const void *ctx, fl_blob_writer *w);

/* The number of bytes write(ctx, w) puts. */
size_t fl_blob_measure(fl_blob_write_fn write, const void *ctx);

/* Measures, allocates exactly that much and writes: *blob (the caller frees) and *len.
 * FP_ENOMEM, saying "WHAT: cannot allocate ...", leaving *blob and *len untouched. */
fp_status fl_blob_build(fl_blob_write_fn write, const void *ctx, const char *what, uint8_t **blob,
                        size_t *len, fp_error *err);

/* A reader; every get returns FP_EFORMAT (with err filled) when the blob is too short. */
typedef struct fl_blob_reader {
    const uint8_t *buf;
    size_t len, pos;
} fl_blob_reader;

fp_status fl_blob_get_u32(fl_blob_reader *r, uint32_t *x, fp_error *err);
fp_status fl_blob_get_u64(fl_blob_reader *r, uint64_t *x, fp_error *err);
fp_status fl_blob_get_f64(fl_blob_reader *r, double *x, fp_error *err);
fp_status fl_blob_get_f32s(fl_blob_reader *r, float *x, size_t n, fp_error *err);

/* Checks the 4-byte magic and the version; FP_EFORMAT / FP_EVERSION otherwise. */
fp_status fl_blob_get_header(fl_blob_reader *r, const char magic[4], uint32_t version,
                             fp_error *err);
void fl_blob_put_header(fl_blob_writer *w, const char magic[4], uint32_t version);

/* FP_EFORMAT unless every byte was consumed (trailing garbage means a different layout). */
fp_status fl_blob_expect_end(const fl_blob_reader *r, fp_error *err);

#endif
