/* safetensors.c — reads the safetensors weights format; see safetensors.h (st_write is in
 * safetensors_write.c).
 *
 * Reading trusts nothing: the header length, every dtype, shape and offset is checked against
 * the bytes actually present before a tensor is handed out, so a truncated, hostile or merely
 * buggy file ends in FP_EFORMAT naming the culprit, never in a read past the map.
 * This file must never write into a mapped file and never keep global state. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

/* Hugging Face refuses headers above 100 MB; so do we (a header that size is an attack). */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

struct st_file {
    void *map; /* the mmap'd file, or NULL for st_open_memory */
    size_t map_len;
    size_t n;
    st_tensor *tensors; /* sorted by name */
    size_t n_meta;
    char **meta; /* meta[2i] key, meta[2i+1] value */
};

typedef struct dtype_info {
    const char *name;
    st_dtype dtype;
    size_t size;
} dtype_info;

/* Every dtype of the safetensors specification; only the first three convert to F32. */
static const dtype_info DTYPES[] = {
    {"F32", ST_F32, 4},    {"F16", ST_F16, 2},       {"BF16", ST_BF16, 2},     {"F64", ST_OTHER, 8},
    {"I64", ST_OTHER, 8},  {"I32", ST_OTHER, 4},     {"I16", ST_OTHER, 2},     {"I8", ST_OTHER, 1},
    {"U64", ST_OTHER, 8},  {"U32", ST_OTHER, 4},     {"U16", ST_OTHER, 2},     {"U8", ST_OTHER, 1},
    {"BOOL", ST_OTHER, 1}, {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

static const dtype_info *dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, name) == 0)
            return &DTYPES[i];
    return NULL;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or NaN keeping its payload */
    } else if (exp != 0) {
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign; /* ±0 */
    } else {
        /* Subnormal half = mant · 2^-24: shift the leading 1 up to bit 10, which makes it a
         * normal float with a smaller exponent. */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400));
        bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float st_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int tensor_cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Offsets are kept here during validation only: begin relative to the data section. */
typedef struct span {
    size_t begin, end;
    const char *name;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static void file_free(st_file_t *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        free((char *)self->tensors[i].name);
    free(self->tensors);
    for (size_t i = 0; i < 2 * self->n_meta; i++)
        free(self->meta[i]);
    free(self->meta);
    if (self->map)
        munmap(self->map, self->map_len);
    free(self);
}

void st_close(st_file_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    file_free(*self_p);
    *self_p = NULL;
}

static fp_status parse_metadata(st_file_t *self, json_t *obj, fp_error *err)
{
    if (!json_is_object(obj))
        return fp_fail(err, FP_EFORMAT, "safetensors: %s is not an object", ST_METADATA_KEY);
    size_t n = json_object_size(obj);
    self->meta = calloc(2 * n + 1, sizeof *self->meta);
    if (!self->meta)
        return fp_fail(err, FP_ENOMEM, "safetensors: out of memory for metadata");
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        if (!json_is_string(value))
            return fp_fail(err, FP_EFORMAT, "safetensors: %s value of '%s' is not a string",
                           ST_METADATA_KEY, key);
        char **kv = &self->meta[2 * self->n_meta];
        kv[0] = strdup(key);
        kv[1] = strdup(json_string_value(value));
        self->n_meta++; /* counted before the check so file_free releases a half pair */
        if (!kv[0] || !kv[1])
            return fp_fail(err, FP_ENOMEM, "safetensors: out of memory for metadata");
    }
    return FP_OK;
}

/* Reads a JSON integer that must be in [0, max]; names the tensor and field on failure. */
static fp_status get_size(json_t *v, const char *tname, const char *field, size_t *out,
                          fp_error *err)
{
    if (!json_is_integer(v))
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': %s holds a non-integer", tname,
                       field);
    json_int_t x = json_integer_value(v);
    if (x < 0)
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': %s holds negative %lld", tname,
                       field, (long long)x);
    if ((unsigned long long)x > SIZE_MAX)
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': %s value %lld too large", tname,
                       field, (long long)x);
    *out = (size_t)x;
    return FP_OK;
}

static fp_status parse_tensor(st_tensor *t, const char *name, json_t *obj, const uint8_t *data,
                              size_t data_len, span *sp, fp_error *err)
{
    if (!json_is_object(obj))
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s' is not an object", name);
    json_t *jd = json_object_get(obj, "dtype");
    json_t *js = json_object_get(obj, "shape");
    json_t *jo = json_object_get(obj, "data_offsets");
    if (!jd || !json_is_string(jd))
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': dtype %s", name,
                       jd ? "is not a string" : "missing");
    const dtype_info *di = dtype_lookup(json_string_value(jd));
    if (!di)
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': unknown dtype '%.32s'", name,
                       json_string_value(jd));
    if (!js || !json_is_array(js))
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': shape %s", name,
                       js ? "is not an array" : "missing");
    if (!jo || !json_is_array(jo) || json_array_size(jo) != 2)
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': data_offsets %s", name,
                       jo ? "is not an array of 2 integers" : "missing");
    size_t ndim = json_array_size(js);
    if (ndim > ST_MAX_DIMS)
        return fp_fail(err, FP_ELIMIT, "safetensors: tensor '%s': %zu dims, at most %d", name, ndim,
                       ST_MAX_DIMS);
    t->dtype = di->dtype;
    t->dtype_name = di->name;
    t->ndim = (int)ndim;
    size_t numel = 1;
    for (size_t i = 0; i < ndim; i++) {
        size_t d = 0;
        fp_status st = get_size(json_array_get(js, i), name, "shape", &d, err);
        if (st)
            return st;
        if (d > INT64_MAX || __builtin_mul_overflow(numel, d, &numel))
            return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': shape overflows", name);
        t->shape[i] = (int64_t)d;
    }
    t->numel = numel;
    if (__builtin_mul_overflow(numel, di->size, &t->nbytes))
        return fp_fail(err, FP_EFORMAT, "safetensors: tensor '%s': byte size overflows", name);
    size_t begin = 0, end = 0;
    fp_status st = get_size(json_array_get(jo, 0), name, "data_offsets", &begin, err);
    if (!st)
        st = get_size(json_array_get(jo, 1), name, "data_offsets", &end, err);
    if (st)
        return st;
    if (begin > end || end > data_len)
        return fp_fail(err, FP_EFORMAT,
                       "safetensors: tensor '%s': data_offsets [%zu, %zu] outside the %zu data "
                       "bytes",
                       name, begin, end, data_len);
    if (end - begin != t->nbytes)
        return fp_fail(err, FP_EFORMAT,
                       "safetensors: tensor '%s': data_offsets span %zu bytes, shape and dtype "
                       "%s need %zu",
                       name, end - begin, di->name, t->nbytes);
    t->data = data + begin;
    *sp = (span){begin, end, name};
    return FP_OK;
}

static fp_status check_no_overlap(span *spans, size_t n, fp_error *err)
{
    qsort(spans, n, sizeof *spans, span_cmp);
    for (size_t i = 1; i < n; i++)
        if (spans[i].begin < spans[i - 1].end)
            return fp_fail(err, FP_EFORMAT, "safetensors: tensors '%s' and '%s' overlap",
                           spans[i - 1].name, spans[i].name);
    return FP_OK;
}

static fp_status parse_tensors(st_file_t *self, json_t *root, const uint8_t *data, size_t data_len,
                               fp_error *err)
{
    size_t cap = json_object_size(root);
    self->tensors = calloc(cap + 1, sizeof *self->tensors);
    span *spans = calloc(cap + 1, sizeof *spans);
    if (!self->tensors || !spans) {
        free(spans);
        return fp_fail(err, FP_ENOMEM, "safetensors: out of memory for %zu tensors", cap);
    }
    fp_status st = FP_OK;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (strcmp(key, ST_METADATA_KEY) == 0) {
            st = parse_metadata(self, value, err);
        } else {
            st_tensor *t = &self->tensors[self->n];
            t->name = strdup(key);
            if (!t->name) {
                st = fp_fail(err, FP_ENOMEM, "safetensors: out of memory");
                break;
            }
            self->n++;
            st = parse_tensor(t, t->name, value, data, data_len, &spans[self->n - 1], err);
        }
        if (st)
            break;
    }
    if (!st)
        st = check_no_overlap(spans, self->n, err);
    free(spans);
    if (!st)
        qsort(self->tensors, self->n, sizeof *self->tensors, tensor_cmp_name);
    return st;
}

/* Validates and indexes an image of len bytes at base; owns nothing of base. */
static fp_status parse_image(st_file_t *self, const uint8_t *base, size_t len, fp_error *err)
{
    if (len < 8)
        return fp_fail(err, FP_EFORMAT, "safetensors: %zu bytes, too short for the header length",
                       len);
    uint64_t hlen;
    memcpy(&hlen, base, sizeof hlen);
    if (hlen > len - 8)
        return fp_fail(err, FP_EFORMAT,
                       "safetensors: header length %llu larger than the %zu bytes after it",
                       (unsigned long long)hlen, len - 8);
    if (hlen > ST_MAX_HEADER)
        return fp_fail(err, FP_ELIMIT, "safetensors: header of %llu bytes exceeds %llu",
                       (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
    if (hlen < 2 || base[8] != '{')
        return fp_fail(err, FP_EFORMAT, "safetensors: header does not start with '{'");
    json_error_t jerr;
    json_t *root = json_loadb((const char *)base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fp_fail(err, FP_EFORMAT, "safetensors: header JSON, byte %d: %s", jerr.position,
                       jerr.text);
    fp_status st = FP_OK;
    if (!json_is_object(root))
        st = fp_fail(err, FP_EFORMAT, "safetensors: header is not a JSON object");
    else
        st = parse_tensors(self, root, base + 8 + hlen, len - 8 - (size_t)hlen, err);
    json_decref(root);
    return st;
}

st_file_t *st_open_memory(const void *bytes, size_t len, fp_error *err)
{
    if (!bytes && len) {
        fp_fail(err, FP_EINVAL, "safetensors: NULL buffer");
        return NULL;
    }
    st_file_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "safetensors: out of memory");
        return NULL;
    }
    if (parse_image(self, bytes ? bytes : "", len, err)) {
        file_free(self);
        return NULL;
    }
    return self;
}

st_file_t *st_open(const char *path, fp_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fp_fail(err, FP_EIO, "safetensors: open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fp_fail(err, FP_EIO, "safetensors: %s is not a readable regular file", path);
        close(fd);
        return NULL;
    }
    st_file_t *self = calloc(1, sizeof *self);
    if (!self) {
        close(fd);
        fp_fail(err, FP_ENOMEM, "safetensors: out of memory");
        return NULL;
    }
    size_t len = (size_t)sb.st_size;
    if (len > 0) {
        void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            fp_fail(err, FP_EIO, "safetensors: mmap %s: %s", path, strerror(errno));
            close(fd);
            free(self);
            return NULL;
        }
        self->map = map;
        self->map_len = len;
    }
    close(fd); /* the map keeps the file alive */
    if (parse_image(self, self->map ? self->map : (const void *)"", len, err)) {
        fp_wrap(err, "%s", path);
        file_free(self);
        return NULL;
    }
    return self;
}

size_t st_count(const st_file_t *self)
{
    return self ? self->n : 0;
}

const st_tensor *st_at(const st_file_t *self, size_t i)
{
    return self && i < self->n ? &self->tensors[i] : NULL;
}

const st_tensor *st_find(const st_file_t *self, const char *name)
{
    if (!self || !name)
        return NULL;
    st_tensor key = {.name = name};
    return bsearch(&key, self->tensors, self->n, sizeof key, tensor_cmp_name);
}

const char *st_metadata(const st_file_t *self, const char *key)
{
    if (!self || !key)
        return NULL;
    for (size_t i = 0; i < self->n_meta; i++)
        if (strcmp(self->meta[2 * i], key) == 0)
            return self->meta[2 * i + 1];
    return NULL;
}

/* Writes "[a, b, c]" of a shape into buf for error messages. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
    return buf;
}

fp_status st_get_f32(const st_file_t *self, const char *name, int ndim, const int64_t *shape,
                     const float **values, float **owned, fp_error *err)
{
    if (!self || !name || !values || !owned)
        return fp_fail(err, FP_EINVAL, "st_get_f32: NULL argument");
    *values = NULL;
    *owned = NULL;
    const st_tensor *t = st_find(self, name);
    if (!t)
        return fp_fail(err, FP_ENOTFOUND, "safetensors: no tensor '%s'", name);
    if (shape) {
        bool same = ndim == t->ndim;
        for (int i = 0; same && i < ndim; i++)
            same = shape[i] == t->shape[i];
        if (!same) {
            char want[96], have[96];
            return fp_fail(err, FP_EFORMAT,
                           "safetensors: tensor '%s': expected shape %s, file has %s", name,
                           shape_str(want, sizeof want, ndim, shape),
                           shape_str(have, sizeof have, t->ndim, t->shape));
        }
    }
    if (t->dtype == ST_OTHER)
        return fp_fail(err, FP_EFORMAT,
                       "safetensors: tensor '%s' has dtype %s; only F32, F16 and BF16 read as F32",
                       name, t->dtype_name);
    /* F32 in place only when aligned: a foreign file may place a tensor at any byte offset. */
    if (t->dtype == ST_F32 && ((uintptr_t)t->data % _Alignof(float)) == 0) {
        *values = t->data;
        return FP_OK;
    }
    float *out = malloc(t->numel ? t->numel * sizeof *out : 1);
    if (!out)
        return fp_fail(err, FP_ENOMEM, "safetensors: out of memory converting '%s' (%zu values)",
                       name, t->numel);
    const uint8_t *src = t->data;
    if (t->dtype == ST_F32) {
        memcpy(out, src, t->nbytes);
    } else {
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, sizeof h);
            out[i] = t->dtype == ST_F16 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
    }
    *values = out;
    *owned = out;
    return FP_OK;
}
