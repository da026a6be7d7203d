/* msg_fields.c — what each field kind means in memory: its semantic check, emptiness,
 * equality and release. Used by the decoder (after it copied a value out of the packet), by
 * msg_validate (before encoding) and by msg_clear/msg_equal. Never reads the wire. */
#include "messages/msg_schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Record arrays are {T *v; uint32_t n} for different T; read and write the pointer through
 * memcpy so no object is accessed through an lvalue of another pointer type. */
typedef struct records_view {
    char *v;
    uint32_t n;
} records_view;

static records_view records_get(const field_t *f, const void *base)
{
    const char *p = (const char *)base + f->off;
    records_view r;
    void *v;
    memcpy(&v, p, sizeof v);
    r.v = v;
    memcpy(&r.n, p + sizeof(void *), sizeof r.n);
    return r;
}

_Static_assert(offsetof(msg_peers_t, n) == sizeof(void *) &&
                   offsetof(msg_client_rows_t, n) == sizeof(void *),
               "record arrays are {pointer, uint32_t n}");

static int enum_get(const field_t *f, const void *base)
{
    int v;
    memcpy(&v, (const char *)base + f->off, sizeof v);
    return v;
}

void msg_path(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

bool msg_id_valid(const char *s, size_t len)
{
    if (len > MSG_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF, and no
 * NUL so the text is also a valid C string. */
bool msg_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            extra = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

static fp_status validate_tensor(const field_t *f, const msg_tensor_t *t, const msg_limits *lim,
                                 const char *path, fp_error *err)
{
    if (t->ndim == 0)
        return (f->flags & FF_OPTIONAL) ? FP_OK
                                        : fp_fail(err, FP_EFORMAT, "%s: tensor missing", path);
    if (t->ndim > MSG_TENSOR_MAX_DIMS)
        return fp_fail(err, FP_ELIMIT, "%s: %u dims, at most %d", path, t->ndim,
                       MSG_TENSOR_MAX_DIMS);
    size_t count = 1;
    for (uint32_t d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0)
            return fp_fail(err, FP_EFORMAT, "%s: shape[%u] is 0", path, d);
        if (t->shape[d] > lim->max_tensor_elements / count)
            return fp_fail(err, FP_ELIMIT, "%s: more than %zu elements", path,
                           lim->max_tensor_elements);
        count *= t->shape[d];
    }
    if (!t->data)
        return fp_fail(err, FP_EINVAL, "%s: data is NULL", path);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(t->data[i]))
            return fp_fail(err, FP_ENUMERIC, "%s: element %zu is not finite", path, i);
    return FP_OK;
}

/* Arrays of numbers: length within limits and, for doubles, every value finite. */
static fp_status validate_array(const field_t *f, const void *v, uint32_t n, const msg_limits *lim,
                                const char *path, fp_error *err)
{
    if (n > lim->max_array)
        return fp_fail(err, FP_ELIMIT, "%s: %u items, at most %zu", path, n, lim->max_array);
    if (n == 0 && (f->flags & FF_NONEMPTY))
        return fp_fail(err, FP_EFORMAT, "%s: empty", path);
    if (n > 0 && !v)
        return fp_fail(err, FP_EINVAL, "%s: %u items but no buffer", path, n);
    if (f->kind == FK_F64S)
        for (uint32_t i = 0; i < n; i++)
            if (!isfinite(msg_get_f64((const char *)v + i * sizeof(double))))
                return fp_fail(err, FP_ENUMERIC, "%s[%u]: not finite", path, i);
    return FP_OK;
}

static fp_status validate_records(const field_t *f, const void *base, const msg_limits *lim,
                                  const char *path, fp_error *err)
{
    records_view r = records_get(f, base);
    fp_status st = validate_array(f, r.v, r.n, lim, path, err);
    if (st)
        return st;
    const schema_t *sub = f->sub;
    for (uint32_t i = 0; i < r.n; i++) {
        const char *rec = r.v + (size_t)i * sub->record_size;
        for (size_t k = 0; k < sub->n_fields; k++) {
            char sub_path[MSG_PATH_CAP];
            msg_path(sub_path, sizeof sub_path, "%s[%u].%s", path, i, sub->fields[k].key);
            st = msg_field_validate(&sub->fields[k], rec, lim, sub_path, err);
            if (st)
                return st;
        }
    }
    return FP_OK;
}

fp_status msg_field_validate(const field_t *f, const void *base, const msg_limits *lim,
                             const char *path, fp_error *err)
{
    const char *p = (const char *)base + f->off;
    switch (f->kind) {
    case FK_U32:
    case FK_U64:
    case FK_BOOL:
    case FK_RNG:
        return FP_OK;
    case FK_F64:
        if (!isfinite(msg_get_f64(p)))
            return fp_fail(err, FP_ENUMERIC, "%s: not finite", path);
        return FP_OK;
    case FK_ID: {
        size_t len = strnlen(p, MSG_ID_CAP);
        if (len > MSG_ID_MAX || !msg_id_valid(p, len))
            return fp_fail(err, FP_EFORMAT, "%s: not an id (1..%d of [A-Za-z0-9._:-])", path,
                           MSG_ID_MAX);
        if (len == 0 && (f->flags & FF_NONEMPTY))
            return fp_fail(err, FP_EFORMAT, "%s: empty", path);
        return FP_OK;
    }
    case FK_TEXT: {
        const char *s = *(char *const *)p;
        size_t len = s ? strlen(s) : 0;
        if (len > lim->max_string)
            return fp_fail(err, FP_ELIMIT, "%s: %zu bytes, at most %zu", path, len,
                           lim->max_string);
        if (!msg_utf8_valid((const uint8_t *)(s ? s : ""), len))
            return fp_fail(err, FP_EFORMAT, "%s: not valid UTF-8", path);
        if (len == 0 && (f->flags & FF_NONEMPTY))
            return fp_fail(err, FP_EFORMAT, "%s: empty", path);
        return FP_OK;
    }
    case FK_ENUM: {
        int v = enum_get(f, base);
        if (v < f->enum_min || v >= f->enum_count)
            return fp_fail(err, FP_EFORMAT, "%s: value %d is not allowed here", path, v);
        return FP_OK;
    }
    case FK_TENSOR:
        return validate_tensor(f, (const msg_tensor_t *)p, lim, path, err);
    case FK_U32S:
        return validate_array(f, ((const msg_u32s_t *)p)->v, ((const msg_u32s_t *)p)->n, lim, path,
                              err);
    case FK_U64S:
        return validate_array(f, ((const msg_u64s_t *)p)->v, ((const msg_u64s_t *)p)->n, lim, path,
                              err);
    case FK_F64S:
        return validate_array(f, ((const msg_f64s_t *)p)->v, ((const msg_f64s_t *)p)->n, lim, path,
                              err);
    case FK_BLOB: {
        const msg_blob_t *b = (const msg_blob_t *)p;
        if (b->n > lim->max_message_bytes)
            return fp_fail(err, FP_ELIMIT, "%s: %zu bytes, at most %zu", path, b->n,
                           lim->max_message_bytes);
        if (b->n == 0 && (f->flags & FF_NONEMPTY))
            return fp_fail(err, FP_EFORMAT, "%s: empty", path);
        if (b->n > 0 && !b->data)
            return fp_fail(err, FP_EINVAL, "%s: %zu bytes but no buffer", path, b->n);
        return FP_OK;
    }
    case FK_RECORDS:
        return validate_records(f, base, lim, path, err);
    }
    return fp_fail(err, FP_EINVAL, "%s: unknown field kind", path);
}

bool msg_field_empty(const field_t *f, const void *base)
{
    const char *p = (const char *)base + f->off;
    switch (f->kind) {
    case FK_ID:
        return p[0] == 0;
    case FK_TEXT: {
        const char *s = *(char *const *)p;
        return !s || !s[0];
    }
    case FK_TENSOR:
        return ((const msg_tensor_t *)p)->ndim == 0;
    case FK_U32S:
        return ((const msg_u32s_t *)p)->n == 0;
    case FK_U64S:
        return ((const msg_u64s_t *)p)->n == 0;
    case FK_F64S:
        return ((const msg_f64s_t *)p)->n == 0;
    case FK_BLOB:
        return ((const msg_blob_t *)p)->n == 0;
    case FK_RECORDS:
        return records_get(f, base).n == 0;
    case FK_U32: { /* optional scalars: their zero is their absence (they encode as before) */
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v == 0;
    }
    case FK_U64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v == 0;
    }
    case FK_F64: { /* +0.0 only: -0.0 keeps its sign on the wire */
        uint64_t bits;
        memcpy(&bits, p, sizeof bits);
        return bits == 0;
    }
    case FK_BOOL:
        return !*(const bool *)p;
    default:
        return false;
    }
}

void msg_field_free(const field_t *f, void *base)
{
    char *p = (char *)base + f->off;
    switch (f->kind) {
    case FK_TEXT:
        free(*(char **)p);
        *(char **)p = NULL;
        break;
    case FK_TENSOR:
        msg_tensor_free((msg_tensor_t *)p);
        break;
    case FK_U32S:
        free(((msg_u32s_t *)p)->v);
        memset(p, 0, sizeof(msg_u32s_t));
        break;
    case FK_U64S:
        free(((msg_u64s_t *)p)->v);
        memset(p, 0, sizeof(msg_u64s_t));
        break;
    case FK_F64S:
        free(((msg_f64s_t *)p)->v);
        memset(p, 0, sizeof(msg_f64s_t));
        break;
    case FK_BLOB:
        free(((msg_blob_t *)p)->data);
        memset(p, 0, sizeof(msg_blob_t));
        break;
    case FK_RECORDS: {
        records_view r = records_get(f, base);
        for (uint32_t i = 0; r.v && i < r.n; i++)
            for (size_t k = 0; k < f->sub->n_fields; k++)
                msg_field_free(&f->sub->fields[k], r.v + (size_t)i * f->sub->record_size);
        free(r.v);
        void *none = NULL;
        uint32_t zero = 0;
        memcpy(p, &none, sizeof none);
        memcpy(p + sizeof none, &zero, sizeof zero);
        break;
    }
    default:
        break;
    }
}

static bool same_bytes(const void *a, const void *b, size_t n)
{
    return n == 0 || (a && b && memcmp(a, b, n) == 0);
}

bool msg_field_equal(const field_t *f, const void *a, const void *b)
{
    const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
    switch (f->kind) {
    case FK_U32:
        return *(const uint32_t *)pa == *(const uint32_t *)pb;
    case FK_U64:
        return *(const uint64_t *)pa == *(const uint64_t *)pb;
    case FK_F64:
        return memcmp(pa, pb, sizeof(double)) == 0;
    case FK_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case FK_ID:
        return strncmp(pa, pb, MSG_ID_CAP) == 0;
    case FK_TEXT: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        return strcmp(sa ? sa : "", sb ? sb : "") == 0;
    }
    case FK_ENUM:
        return enum_get(f, a) == enum_get(f, b);
    case FK_TENSOR: {
        const msg_tensor_t *ta = (const msg_tensor_t *)pa, *tb = (const msg_tensor_t *)pb;
        if (ta->ndim != tb->ndim ||
            memcmp(ta->shape, tb->shape, ta->ndim * sizeof ta->shape[0]) != 0)
            return false;
        return same_bytes(ta->data, tb->data, msg_tensor_count(ta) * sizeof(float));
    }
    case FK_U32S: {
        const msg_u32s_t *xa = (const msg_u32s_t *)pa, *xb = (const msg_u32s_t *)pb;
        return xa->n == xb->n && same_bytes(xa->v, xb->v, xa->n * sizeof xa->v[0]);
    }
    case FK_U64S: {
        const msg_u64s_t *xa = (const msg_u64s_t *)pa, *xb = (const msg_u64s_t *)pb;
        return xa->n == xb->n && same_bytes(xa->v, xb->v, xa->n * sizeof xa->v[0]);
    }
    case FK_F64S: {
        const msg_f64s_t *xa = (const msg_f64s_t *)pa, *xb = (const msg_f64s_t *)pb;
        return xa->n == xb->n && same_bytes(xa->v, xb->v, xa->n * sizeof xa->v[0]);
    }
    case FK_BLOB: {
        const msg_blob_t *xa = (const msg_blob_t *)pa, *xb = (const msg_blob_t *)pb;
        return xa->n == xb->n && same_bytes(xa->data, xb->data, xa->n);
    }
    case FK_RNG:
        return memcmp(pa, pb, 4 * sizeof(uint64_t)) == 0;
    case FK_RECORDS: {
        records_view ra = records_get(f, a), rb = records_get(f, b);
        if (ra.n != rb.n)
            return false;
        for (uint32_t i = 0; i < ra.n; i++)
            for (size_t k = 0; k < f->sub->n_fields; k++)
                if (!msg_field_equal(&f->sub->fields[k], ra.v + (size_t)i * f->sub->record_size,
                                     rb.v + (size_t)i * f->sub->record_size))
                    return false;
        return true;
    }
    }
    return false;
}
