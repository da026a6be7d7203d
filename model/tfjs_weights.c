/* tfjs_weights.c — the TF.js weights manifest and its shards as one buffer; see tfjs_weights.h.
 * Every size is checked before it is used to allocate or read: the manifest is untrusted input.
 * Must never read outside the package folder or hand out a pointer past the shard buffer. */
#include "model/tfjs_weights.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file_io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tfjs_weights points into little-endian shard bytes: a big-endian host needs a swap"
#endif

#define PATH_CAP 4096
#define MANIFEST_MAX_BYTES ((size_t)1 << 28)

typedef struct group_span {
    size_t first_shard, n_shards; /* its files in self->shards */
    size_t offset, bytes;         /* where its tensors start in the buffer, and how many bytes */
} group_span;

struct tfjs_weights {
    tfjs_tensor *tensors;
    size_t n_tensors;
    char **shards;
    size_t n_shards;
    group_span *groups;
    size_t n_groups;
    size_t bytes;
    unsigned char *buffer; /* NULL until the shards are read */
};

void tfjs_weights_destroy(tfjs_weights_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tfjs_weights_t *self = *self_p;
    for (size_t i = 0; i < self->n_tensors; i++)
        free((char *)self->tensors[i].name);
    for (size_t i = 0; i < self->n_shards; i++)
        free(self->shards[i]);
    free(self->tensors);
    free(self->shards);
    free(self->groups);
    free(self->buffer);
    free(self);
    *self_p = NULL;
}

/* A shard path must stay inside the package folder: relative, no ".." component. */
static bool path_is_inside(const char *p, size_t len)
{
    if (len == 0 || len > 1024 || strlen(p) != len || p[0] == '/')
        return false;
    for (const char *c = p; *c;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return false;
        c += n + (end != NULL);
    }
    return true;
}

static fp_status parse_shape(json_t *shape, tfjs_tensor *t, const char *where, fp_error *err)
{
    if (!json_is_array(shape))
        return fp_fail(err, FP_EFORMAT, "%s: 'shape' is not an array", where);
    size_t ndim = json_array_size(shape);
    if (ndim > TFJS_MAX_DIMS)
        return fp_fail(err, FP_EFORMAT, "%s: %zu dimensions (at most %d)", where, ndim,
                       TFJS_MAX_DIMS);
    const size_t max_numel = TFJS_MAX_BYTES / 4;
    size_t numel = 1;
    for (size_t k = 0; k < ndim; k++) {
        json_t *v = json_array_get(shape, k);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return fp_fail(err, FP_EFORMAT, "%s: shape[%zu] is not an integer >= 0", where, k);
        json_int_t dim = json_integer_value(v);
        if ((uint64_t)dim > max_numel || (dim > 0 && numel > max_numel / (size_t)dim))
            return fp_fail(err, FP_ELIMIT, "%s: shape[%zu] = %lld makes it larger than %zu bytes",
                           where, k, (long long)dim, TFJS_MAX_BYTES);
        t->shape[k] = dim;
        numel *= (size_t)dim;
    }
    t->ndim = (int)ndim;
    t->numel = numel;
    t->nbytes = numel * 4;
    return FP_OK;
}

/* One entry {"name", "shape", "dtype"} of a group's "weights"; appends it to self. */
static fp_status parse_weight(tfjs_weights_t *self, json_t *entry, int group, const char *where,
                              fp_error *err)
{
    if (!json_is_object(entry))
        return fp_fail(err, FP_EFORMAT, "%s: not an object", where);
    json_t *name = json_object_get(entry, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        strlen(json_string_value(name)) != json_string_length(name))
        return fp_fail(err, FP_EFORMAT, "%s: 'name' is not a non-empty string", where);
    const char *n = json_string_value(name);
    if (json_object_get(entry, "quantization"))
        return fp_fail(err, FP_EFORMAT, "%s (%s): quantized weights are not supported", where, n);
    if (tfjs_weights_find(self, n))
        return fp_fail(err, FP_EFORMAT, "%s: tensor %s is listed twice", where, n);
    tfjs_tensor t = {.group = group};
    json_t *dtype = json_object_get(entry, "dtype");
    const char *d = json_is_string(dtype) ? json_string_value(dtype) : NULL;
    if (d && !strcmp(d, "float32"))
        t.dtype = TFJS_F32;
    else if (d && !strcmp(d, "int32"))
        t.dtype = TFJS_I32;
    else
        return fp_fail(err, FP_EFORMAT, "%s (%s): dtype %s is not supported (float32, int32)",
                       where, n, d ? d : "(missing)");
    char what[512];
    snprintf(what, sizeof what, "%s (%s)", where, n);
    fp_status st = parse_shape(json_object_get(entry, "shape"), &t, what, err);
    if (st)
        return st;
    if (self->bytes + t.nbytes > TFJS_MAX_BYTES)
        return fp_fail(err, FP_ELIMIT, "%s: the tensors exceed %zu bytes together", what,
                       TFJS_MAX_BYTES);
    t.offset = self->bytes;
    self->bytes += t.nbytes;
    t.name = strdup(n);
    if (!t.name)
        return fp_fail(err, FP_ENOMEM, "out of memory reading %s", where);
    self->tensors[self->n_tensors++] = t;
    return FP_OK;
}

/* Appends the shard paths and tensors of group g. */
static fp_status parse_group(tfjs_weights_t *self, json_t *group, size_t g, const char *name,
                             fp_error *err)
{
    char where[256];
    snprintf(where, sizeof where, "%s: weightsManifest[%zu]", name, g);
    json_t *paths = json_object_get(group, "paths");
    json_t *weights = json_object_get(group, "weights");
    if (!json_is_object(group) || !json_is_array(paths) || !json_is_array(weights))
        return fp_fail(err, FP_EFORMAT, "%s: not an object with arrays 'paths' and 'weights'",
                       where);
    size_t np = json_array_size(paths), nw = json_array_size(weights);
    char **shards = realloc(self->shards, (self->n_shards + np + 1) * sizeof *shards);
    if (shards)
        self->shards = shards;
    tfjs_tensor *tensors = realloc(self->tensors, (self->n_tensors + nw + 1) * sizeof *tensors);
    if (tensors)
        self->tensors = tensors;
    if (!shards || !tensors)
        return fp_fail(err, FP_ENOMEM, "out of memory reading %s", where);
    group_span *span = &self->groups[g];
    span->first_shard = self->n_shards;
    span->n_shards = np;
    span->offset = self->bytes;
    for (size_t i = 0; i < np; i++) {
        json_t *p = json_array_get(paths, i);
        if (!json_is_string(p) || !path_is_inside(json_string_value(p), json_string_length(p)))
            return fp_fail(err, FP_EFORMAT,
                           "%s.paths[%zu]: not a relative file name inside the package", where, i);
        if (!(self->shards[self->n_shards] = strdup(json_string_value(p))))
            return fp_fail(err, FP_ENOMEM, "out of memory reading %s", where);
        self->n_shards++;
    }
    for (size_t i = 0; i < nw; i++) {
        char wwhere[300];
        snprintf(wwhere, sizeof wwhere, "%s.weights[%zu]", where, i);
        fp_status st = parse_weight(self, json_array_get(weights, i), (int)g, wwhere, err);
        if (st)
            return st;
    }
    span->bytes = self->bytes - span->offset;
    return FP_OK;
}

tfjs_weights_t *tfjs_weights_parse_manifest(const char *json, size_t len, const char *name,
                                            fp_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        fp_fail(err, FP_EFORMAT, "%s:%d: not JSON: %s", name, jerr.line, jerr.text);
        return NULL;
    }
    tfjs_weights_t *self = calloc(1, sizeof *self);
    json_t *manifest = json_object_get(root, "weightsManifest");
    fp_status st = FP_OK;
    if (!self)
        st = fp_fail(err, FP_ENOMEM, "out of memory reading %s", name);
    else if (!json_is_array(manifest))
        st = fp_fail(err, FP_EFORMAT, "%s: no 'weightsManifest' array (not a TF.js model.json)",
                     name);
    else if (!(self->groups = calloc(json_array_size(manifest) + 1, sizeof *self->groups)))
        st = fp_fail(err, FP_ENOMEM, "out of memory reading %s", name);
    for (size_t g = 0; !st && g < json_array_size(manifest); g++) {
        st = parse_group(self, json_array_get(manifest, g), g, name, err);
        self->n_groups = g + 1;
    }
    json_decref(root);
    if (st)
        tfjs_weights_destroy(&self);
    return self;
}

fp_status tfjs_read_package_file(const char *dir, const char *name, size_t max, char **bytes,
                                 size_t *len, fp_error *err)
{
    char path[PATH_CAP];
    *bytes = NULL;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return fp_fail(err, FP_EINVAL, "path too long: %s/%s", dir, name);
    char *buf = NULL;
    size_t n = 0;
    fp_status st = fp_file_read(path, max, &buf, &n, err);
    if (st)
        return st;
    *bytes = buf;
    if (len)
        *len = n;
    return FP_OK;
}

/* Size of shard i (a regular file), for the byte count that precedes any allocation. */
static fp_status shard_size(const tfjs_weights_t *self, const char *dir, size_t i, size_t *size,
                            fp_error *err)
{
    char path[PATH_CAP];
    if (snprintf(path, sizeof path, "%s/%s", dir, self->shards[i]) >= (int)sizeof path)
        return fp_fail(err, FP_EINVAL, "path too long: %s/%s", dir, self->shards[i]);
    struct stat sb;
    if (stat(path, &sb))
        return fp_fail(err, errno == ENOENT ? FP_ENOTFOUND : FP_EIO,
                       "%s: weight shard listed by model.json: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return fp_fail(err, FP_EIO, "%s: weight shard is not a regular file", path);
    *size = (size_t)sb.st_size;
    return FP_OK;
}

/* Reads shard i, which must still be exactly size bytes, to dst. */
static fp_status read_shard(const tfjs_weights_t *self, const char *dir, size_t i,
                            unsigned char *dst, size_t size, fp_error *err)
{
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", dir, self->shards[i]); /* length checked by shard_size */
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_fail(err, FP_EIO, "%s: %s", path, strerror(errno));
    bool ok = fread(dst, 1, size, f) == size && fgetc(f) == EOF;
    fclose(f);
    return ok ? FP_OK : fp_fail(err, FP_EIO, "%s: changed size while being read", path);
}

/* Checks each group's shard bytes against its tensors, then reads every shard. */
static fp_status load_shards(tfjs_weights_t *self, const char *dir, fp_error *err)
{
    size_t *sizes = calloc(self->n_shards + 1, sizeof *sizes);
    if (!sizes)
        return fp_fail(err, FP_ENOMEM, "out of memory opening %s", dir);
    fp_status st = FP_OK;
    for (size_t g = 0; !st && g < self->n_groups; g++) {
        const group_span *s = &self->groups[g];
        size_t held = 0;
        for (size_t i = s->first_shard; !st && i < s->first_shard + s->n_shards; i++) {
            st = shard_size(self, dir, i, &sizes[i], err);
            held += sizes[i]; /* each below 2^63; the comparison below catches any excess */
            if (!st && held > TFJS_MAX_BYTES)
                st = fp_fail(err, FP_ELIMIT, "%s: group %zu's shards exceed %zu bytes", dir, g,
                             TFJS_MAX_BYTES);
        }
        if (!st && held != s->bytes)
            st = fp_fail(err, FP_EFORMAT,
                         "%s/model.json: group %zu's %zu shard(s) (%s...) hold %zu bytes but its "
                         "tensors need %zu: a shard is short or long, or the manifest is wrong",
                         dir, g, s->n_shards, s->n_shards ? self->shards[s->first_shard] : "none",
                         held, s->bytes);
    }
    if (!st && !(self->buffer = malloc(self->bytes ? self->bytes : 1)))
        st = fp_fail(err, FP_ENOMEM, "out of memory for %zu bytes of weights", self->bytes);
    size_t at = 0;
    for (size_t i = 0; !st && i < self->n_shards; i++) {
        st = read_shard(self, dir, i, self->buffer + at, sizes[i], err);
        at += sizes[i];
    }
    free(sizes);
    for (size_t i = 0; !st && i < self->n_tensors; i++)
        self->tensors[i].data = self->buffer + self->tensors[i].offset;
    return st;
}

tfjs_weights_t *tfjs_weights_open(const char *dir, fp_error *err)
{
    char *json = NULL, name[PATH_CAP];
    size_t len = 0;
    if (tfjs_read_package_file(dir, "model.json", MANIFEST_MAX_BYTES, &json, &len, err))
        return NULL;
    snprintf(name, sizeof name, "%s/model.json", dir);
    tfjs_weights_t *self = tfjs_weights_parse_manifest(json, len, name, err);
    free(json);
    if (self && load_shards(self, dir, err))
        tfjs_weights_destroy(&self);
    return self;
}

size_t tfjs_weights_count(const tfjs_weights_t *self)
{
    return self->n_tensors;
}

const tfjs_tensor *tfjs_weights_at(const tfjs_weights_t *self, size_t i)
{
    return i < self->n_tensors ? &self->tensors[i] : NULL;
}

const tfjs_tensor *tfjs_weights_find(const tfjs_weights_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_tensors; i++)
        if (!strcmp(self->tensors[i].name, name))
            return &self->tensors[i];
    return NULL;
}

size_t tfjs_weights_bytes(const tfjs_weights_t *self)
{
    return self->bytes;
}

size_t tfjs_weights_shard_count(const tfjs_weights_t *self)
{
    return self->n_shards;
}

const char *tfjs_weights_shard(const tfjs_weights_t *self, size_t i)
{
    return i < self->n_shards ? self->shards[i] : NULL;
}

/* "[8002, 256]" into buf. */
static const char *shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < ndim && at < cap; k++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", k ? ", " : "", (long long)shape[k]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
    return buf;
}

fp_status tfjs_weights_get_f32(const tfjs_weights_t *self, const char *name, int ndim,
                               const int64_t *shape, const float **values, fp_error *err)
{
    *values = NULL;
    const tfjs_tensor *t = tfjs_weights_find(self, name);
    if (!t)
        return fp_fail(err, FP_ENOTFOUND, "TF.js weights have no tensor %s", name);
    if (t->dtype != TFJS_F32)
        return fp_fail(err, FP_EFORMAT, "TF.js tensor %s is int32, not float32", name);
    bool same = t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++)
        same = t->shape[k] == shape[k];
    if (!same) {
        char want[128], have[128];
        return fp_fail(err, FP_EFORMAT, "TF.js tensor %s has shape %s, expected %s", name,
                       shape_text(have, sizeof have, t->ndim, t->shape),
                       shape_text(want, sizeof want, ndim, shape));
    }
    if (!t->data)
        return fp_fail(err, FP_ESTATE, "TF.js tensor %s: the shards were not loaded", name);
    *values = t->data;
    return FP_OK;
}
