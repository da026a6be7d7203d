/* safetensors_write.c — writes the safetensors weights format (st_write; see safetensors.h):
 * F32 tensors sorted by name in the header, as Hugging Face writes them, the header padded so that
 * the data starts 8-byte aligned, and the file replaced atomically so that a crash never leaves a
 * half-written model.
 * This file must never write a tensor it has not checked (name, rank, sizes). */
#include "model/safetensors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file_io.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors_write.c assumes a little-endian host (the format is little-endian)"
#endif

static int write_cmp_name(const void *a, const void *b)
{
    const st_write_tensor *x = *(const st_write_tensor *const *)a;
    const st_write_tensor *y = *(const st_write_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static size_t write_numel(const st_write_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* Checks the caller's tensors and returns them sorted by name in *sorted (malloc'd). */
static fp_status sort_and_check(const st_write_tensor *tensors, size_t n,
                                const st_write_tensor ***sorted, fp_error *err)
{
    const st_write_tensor **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return fp_fail(err, FP_ENOMEM, "st_write: out of memory");
    for (size_t i = 0; i < n; i++) {
        const st_write_tensor *t = &tensors[i];
        v[i] = t;
        fp_status st = FP_OK;
        if (!t->name || strcmp(t->name, ST_METADATA_KEY) == 0)
            st = fp_fail(err, FP_EINVAL, "st_write: tensor %zu has no usable name", i);
        else if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            st = fp_fail(err, FP_EINVAL, "st_write: tensor '%s': ndim %d", t->name, t->ndim);
        size_t numel = 1;
        for (int d = 0; !st && d < t->ndim; d++)
            if (t->shape[d] < 0 || __builtin_mul_overflow(numel, (size_t)t->shape[d], &numel) ||
                numel > SIZE_MAX / 4)
                st = fp_fail(err, FP_EINVAL, "st_write: tensor '%s': bad shape", t->name);
        if (!st && numel > 0 && !t->data)
            st = fp_fail(err, FP_EINVAL, "st_write: tensor '%s': NULL data", t->name);
        if (st) {
            free(v);
            return st;
        }
    }
    qsort(v, n, sizeof *v, write_cmp_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i]->name, v[i - 1]->name) == 0) {
            fp_status st = fp_fail(err, FP_EINVAL, "st_write: tensor '%s' given twice", v[i]->name);
            free(v);
            return st;
        }
    *sorted = v;
    return FP_OK;
}

/* Builds the header JSON text, padded with spaces so the data starts 8-byte aligned. */
static fp_status build_header(const st_write_tensor **v, size_t n, const char *const *meta_kv,
                              size_t n_meta, char **header, size_t *hlen, fp_error *err)
{
    json_t *root = json_object();
    bool ok = root != NULL;
    if (ok && n_meta > 0) {
        json_t *meta = json_object();
        ok = meta && json_object_set_new(root, ST_METADATA_KEY, meta) == 0;
        for (size_t i = 0; ok && i < n_meta; i++)
            ok = meta_kv[2 * i] && meta_kv[2 * i + 1] &&
                 json_object_set_new(meta, meta_kv[2 * i], json_string(meta_kv[2 * i + 1])) == 0;
    }
    size_t offset = 0;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; shape && d < v[i]->ndim; d++)
            json_array_append_new(shape, json_integer(v[i]->shape[d]));
        size_t bytes = write_numel(v[i]) * 4;
        json_t *t = json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
                              "data_offsets", (json_int_t)offset, (json_int_t)(offset + bytes));
        ok = t && json_object_set_new(root, v[i]->name, t) == 0;
        offset += bytes;
    }
    char *text = ok ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!text)
        return fp_fail(err, ok ? FP_ENOMEM : FP_EINVAL, "st_write: cannot build the header (%s)",
                       ok ? "out of memory" : "bad metadata or tensor name");
    size_t len = strlen(text);
    size_t padded = (8 + len + 7) / 8 * 8 - 8;
    char *out = realloc(text, padded + 1);
    if (!out) {
        free(text);
        return fp_fail(err, FP_ENOMEM, "st_write: out of memory");
    }
    memset(out + len, ' ', padded - len);
    out[padded] = '\0';
    *header = out;
    *hlen = padded;
    return FP_OK;
}

fp_status st_write(const char *path, const st_write_tensor *tensors, size_t n_tensors,
                   const char *const *meta_kv, size_t n_meta, fp_error *err)
{
    if (!path || (n_tensors && !tensors) || (n_meta && !meta_kv))
        return fp_fail(err, FP_EINVAL, "st_write: NULL argument");
    const st_write_tensor **v = NULL;
    fp_status st = sort_and_check(tensors, n_tensors, &v, err);
    if (st)
        return st;
    size_t hlen = 0;
    char *header = NULL;
    st = build_header(v, n_tensors, meta_kv, n_meta, &header, &hlen, err);
    /* The parts in file order: header length, header, each tensor's bytes. */
    const void **parts = malloc((n_tensors + 2) * sizeof *parts);
    size_t *sizes = malloc((n_tensors + 2) * sizeof *sizes);
    if (!st && (!parts || !sizes))
        st = fp_fail(err, FP_ENOMEM, "st_write: out of memory");
    if (!st) {
        uint64_t h64 = hlen;
        parts[0] = &h64;
        sizes[0] = sizeof h64;
        parts[1] = header;
        sizes[1] = hlen;
        for (size_t i = 0; i < n_tensors; i++) {
            parts[i + 2] = v[i]->data;
            sizes[i + 2] = write_numel(v[i]) * sizeof(float);
        }
        st = fp_file_write_atomic(path, parts, sizes, n_tensors + 2, err);
    }
    free(parts);
    free(sizes);
    free(header);
    free(v);
    return st;
}
