/* file_io.h — whole files in and out: read a file into memory under a size limit, and replace a
 * file atomically. Every loader of fedpep (config, tokenizers, model configs, datasets, traces)
 * reads through fp_file_read and every writer of a model file through fp_file_write_atomic, so
 * the limits, the error wording and the crash safety are the same everywhere.
 * This module must never interpret the bytes it moves. */
#ifndef FEDPEP_COMMON_FILE_IO_H
#define FEDPEP_COMMON_FILE_IO_H

#include <stddef.h>

#include "common/status.h"

/* Reads the whole of path (a regular file or a pipe; read to its end whatever stat says) into a
 * malloc'd buffer, NUL-terminated so text parsers may treat it as a string; *len excludes the
 * NUL. Failures, with path in the message: FP_ENOTFOUND (missing; "cannot open"), FP_EIO (cannot
 * open, a folder, a read error), FP_ELIMIT (more than max_bytes), FP_ENOMEM. On failure *out is
 * NULL and *len 0. */
fp_status fp_file_read(const char *path, size_t max_bytes, char **out, size_t *len, fp_error *err);

/* Writes parts[0..n_parts) one after another to path atomically: to path.tmp, fsync, rename over
 * path, fsync of the folder, so a crash never leaves a half-written file. On failure path is
 * untouched and path.tmp removed. */
fp_status fp_file_write_atomic(const char *path, const void *const *parts, const size_t *sizes,
                               size_t n_parts, fp_error *err);

#endif
