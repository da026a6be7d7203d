/* msg_encode.c — msg_t to one MessagePack map, keys in schema order (so equal messages give
 * equal bytes). It validates first, so whatever it emits our decoder accepts; it must never
 * emit a message that a peer with the same limits would refuse. */
#include "messages/msg_schema.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/little_endian.h"

typedef struct encoder {
    msgpack_packer pk;
    int failed; /* a msgpack_pack_* returned non-zero: out of memory */
} encoder;

static void put_str(encoder *e, const char *s, size_t len)
{
    e->failed |= msgpack_pack_str(&e->pk, len);
    e->failed |= msgpack_pack_str_body(&e->pk, s, len);
}

static void put_cstr(encoder *e, const char *s)
{
    put_str(e, s ? s : "", s ? strlen(s) : 0);
}

static void put_bin(encoder *e, const void *data, size_t len)
{
    e->failed |= msgpack_pack_bin(&e->pk, len);
    e->failed |= msgpack_pack_bin_body(&e->pk, data, len);
}

/* float32 little-endian whatever the host order. */
static void put_floats_le(encoder *e, const float *v, size_t count)
{
    e->failed |= msgpack_pack_bin(&e->pk, count * sizeof(float));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    e->failed |= msgpack_pack_bin_body(&e->pk, v, count * sizeof(float));
#else
    for (size_t i = 0; i < count; i++) {
        uint8_t b[4];
        le_put_f32(b, v[i]);
        e->failed |= msgpack_pack_bin_body(&e->pk, b, sizeof b);
    }
#endif
}

static bool field_present(const field_t *f, const void *base)
{
    return !(f->flags & FF_OPTIONAL) || !msg_field_empty(f, base);
}

static void put_fields(encoder *e, const field_t *fields, size_t n, const void *base);

static void put_value(encoder *e, const field_t *f, const void *base)
{
    const char *p = (const char *)base + f->off;
    switch (f->kind) {
    case FK_U32:
        e->failed |= msgpack_pack_uint32(&e->pk, *(const uint32_t *)p);
        break;
    case FK_U64:
        e->failed |= msgpack_pack_uint64(&e->pk, *(const uint64_t *)p);
        break;
    case FK_F64:
        e->failed |= msgpack_pack_double(&e->pk, msg_get_f64(p));
        break;
    case FK_BOOL:
        e->failed |= *(const bool *)p ? msgpack_pack_true(&e->pk) : msgpack_pack_false(&e->pk);
        break;
    case FK_ID:
        put_str(e, p, strnlen(p, MSG_ID_CAP));
        break;
    case FK_TEXT:
        put_cstr(e, *(char *const *)p);
        break;
    case FK_ENUM: {
        int v;
        memcpy(&v, p, sizeof v);
        put_cstr(e, f->enum_name(v));
        break;
    }
    case FK_TENSOR: {
        const msg_tensor_t *t = (const msg_tensor_t *)p;
        e->failed |= msgpack_pack_map(&e->pk, 2);
        put_cstr(e, "shape");
        e->failed |= msgpack_pack_array(&e->pk, t->ndim);
        for (uint32_t d = 0; d < t->ndim; d++)
            e->failed |= msgpack_pack_uint32(&e->pk, t->shape[d]);
        put_cstr(e, "data");
        put_floats_le(e, t->data, msg_tensor_count(t));
        break;
    }
    case FK_U32S:
    case FK_U64S:
    case FK_F64S: {
        /* All three are {T *v; uint32_t n}. */
        const char *v;
        uint32_t n;
        memcpy(&v, p, sizeof v);
        memcpy(&n, p + sizeof v, sizeof n);
        e->failed |= msgpack_pack_array(&e->pk, n);
        for (uint32_t i = 0; i < n; i++) {
            if (f->kind == FK_U32S)
                e->failed |= msgpack_pack_uint32(&e->pk, ((const uint32_t *)v)[i]);
            else if (f->kind == FK_U64S)
                e->failed |= msgpack_pack_uint64(&e->pk, ((const uint64_t *)v)[i]);
            else
                e->failed |= msgpack_pack_double(&e->pk, msg_get_f64(v + i * sizeof(double)));
        }
        break;
    }
    case FK_BLOB: {
        const msg_blob_t *b = (const msg_blob_t *)p;
        put_bin(e, b->data, b->n);
        break;
    }
    case FK_RNG: {
        const uint64_t *r = (const uint64_t *)p;
        e->failed |= msgpack_pack_array(&e->pk, 4);
        for (int i = 0; i < 4; i++)
            e->failed |= msgpack_pack_uint64(&e->pk, r[i]);
        break;
    }
    case FK_RECORDS: {
        void *v;
        uint32_t n;
        memcpy(&v, p, sizeof v);
        memcpy(&n, p + sizeof v, sizeof n);
        e->failed |= msgpack_pack_array(&e->pk, n);
        for (uint32_t i = 0; i < n; i++)
            put_fields(e, f->sub->fields, f->sub->n_fields,
                       (const char *)v + (size_t)i * f->sub->record_size);
        break;
    }
    }
}

/* A map holding the present fields of one struct. */
static void put_fields(encoder *e, const field_t *fields, size_t n, const void *base)
{
    uint32_t present = 0;
    for (size_t i = 0; i < n; i++)
        present += field_present(&fields[i], base);
    e->failed |= msgpack_pack_map(&e->pk, present);
    for (size_t i = 0; i < n; i++)
        if (field_present(&fields[i], base)) {
            put_cstr(e, fields[i].key);
            put_value(e, &fields[i], base);
        }
}

/* The largest single str/bin MessagePack can carry is 2^32 - 1 bytes; validation bounds texts
 * and arrays by the limits, but limits are configurable, so check what bin32 can hold. */
static fp_status check_wire_sizes(const msg_t *m, const schema_t *s, fp_error *err)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const field_t *f = &s->fields[i];
        const char *p = (const char *)m + f->off;
        size_t bytes = 0;
        if (f->kind == FK_TENSOR)
            bytes = msg_tensor_count((const msg_tensor_t *)p) * sizeof(float);
        else if (f->kind == FK_BLOB)
            bytes = ((const msg_blob_t *)p)->n;
        else if (f->kind == FK_TEXT && *(char *const *)p)
            bytes = strlen(*(char *const *)p);
        if (bytes > UINT32_MAX)
            return fp_fail(err, FP_ELIMIT, "%s.%s: %zu bytes do not fit a MessagePack bin", s->name,
                           f->key, bytes);
    }
    return FP_OK;
}

fp_status msg_encode(const msg_t *m, const msg_limits *limits, uint8_t **out, size_t *out_len,
                     fp_error *err)
{
    *out = NULL;
    *out_len = 0;
    msg_limits lim = limits ? *limits : msg_limits_default();
    fp_status st = msg_validate(m, &lim, err);
    if (st)
        return st;
    const schema_t *s = msg_schema_of(m->type);
    st = check_wire_sizes(m, s, err);
    if (st)
        return st;

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    encoder e = {.failed = 0};
    msgpack_packer_init(&e.pk, &sb, msgpack_sbuffer_write);

    size_t n_header = msg_header_count(m->type);
    uint32_t present = 2 + (uint32_t)n_header;
    for (size_t i = 0; i < s->n_fields; i++)
        present += field_present(&s->fields[i], m);
    e.failed |= msgpack_pack_map(&e.pk, present);
    put_cstr(&e, "v");
    e.failed |= msgpack_pack_uint32(&e.pk, MSG_PROTOCOL_VERSION);
    put_cstr(&e, "type");
    put_cstr(&e, msg_type_name(m->type));
    for (size_t i = 0; i < n_header; i++) {
        put_cstr(&e, MSG_HEADER_FIELDS[i].key);
        put_value(&e, &MSG_HEADER_FIELDS[i], m);
    }
    for (size_t i = 0; i < s->n_fields; i++)
        if (field_present(&s->fields[i], m)) {
            put_cstr(&e, s->fields[i].key);
            put_value(&e, &s->fields[i], m);
        }

    if (e.failed) {
        msgpack_sbuffer_destroy(&sb);
        return fp_fail(err, FP_ENOMEM, "encode %s: out of memory", s->name);
    }
    if (sb.size > lim.max_message_bytes) {
        size_t size = sb.size;
        msgpack_sbuffer_destroy(&sb);
        return fp_fail(err, FP_ELIMIT, "encode %s: %zu bytes, limit %zu", s->name, size,
                       lim.max_message_bytes);
    }
    *out_len = sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&sb);
    if (!*out) /* an empty buffer cannot happen: a map header is at least one byte */
        return fp_fail(err, FP_ENOMEM, "encode %s: no buffer", s->name);
    return FP_OK;
}
