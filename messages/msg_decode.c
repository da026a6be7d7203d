/* msg_decode.c — untrusted bytes to a validated msg_t.
 *
 * Order of defence: size cap, a bounded structural scan (msg_scan.c) so msgpack-c cannot be
 * made to allocate more than the input justifies, msgpack-c's unpack into a zone, then a
 * schema-driven walk that checks every key and every value type, copies values into owned
 * buffers (never a pointer into the packet), and finally msg_validate's semantic rules.
 * Every failure clears the output, so nothing leaks and nothing half-built escapes. Reasons
 * never echo raw input bytes (they may end up in logs and in ERROR.text, which must be
 * UTF-8): names from the input are shown filtered to id characters. */
#include "messages/msg_schema.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/little_endian.h"

_Static_assert(offsetof(msg_u32s_t, n) == sizeof(void *) &&
                   offsetof(msg_u64s_t, n) == sizeof(void *) &&
                   offsetof(msg_f64s_t, n) == sizeof(void *) && sizeof(double) == 8,
               "number arrays are {pointer, uint32_t n}");

typedef struct decoder {
    const msg_limits *lim;
    fp_error *err;
} decoder;

/* Up to 24 characters of s with anything outside [A-Za-z0-9._:-] shown as '?'. */
static const char *printable(const char *s, size_t n, char out[32])
{
    size_t k = 0;
    for (; k < n && k < 24; k++)
        out[k] = msg_id_valid(&s[k], 1) ? s[k] : '?';
    if (n > 24) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = 0;
    return out;
}

static const char *kind_of(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return "an integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "a negative integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "a float";
    case MSGPACK_OBJECT_STR:
        return "a string";
    case MSGPACK_OBJECT_ARRAY:
        return "an array";
    case MSGPACK_OBJECT_MAP:
        return "a map";
    case MSGPACK_OBJECT_BIN:
        return "a bin";
    case MSGPACK_OBJECT_EXT:
        return "an ext";
    }
    return "an unknown object";
}

static fp_status wrong_type(decoder *d, const char *path, const char *want, const msgpack_object *o)
{
    return fp_fail(d->err, FP_EFORMAT, "%s: expected %s, got %s", path, want, kind_of(o));
}

static fp_status read_u64(decoder *d, const msgpack_object *o, const char *path, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return wrong_type(d, path, "an unsigned integer", o);
    *v = o->via.u64;
    return FP_OK;
}

static fp_status read_u32(decoder *d, const msgpack_object *o, const char *path, uint32_t *v)
{
    uint64_t x = 0;
    fp_status st = read_u64(d, o, path, &x);
    if (st)
        return st;
    if (x > UINT32_MAX)
        return fp_fail(d->err, FP_EFORMAT, "%s: %llu does not fit 32 bits", path,
                       (unsigned long long)x);
    *v = (uint32_t)x;
    return FP_OK;
}

static fp_status read_f64(decoder *d, const msgpack_object *o, const char *path, void *v)
{
    if (o->type != MSGPACK_OBJECT_FLOAT32 && o->type != MSGPACK_OBJECT_FLOAT64)
        return wrong_type(d, path, "a float", o);
    msg_put_f64(v, o->via.f64);
    return FP_OK;
}

static bool str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

static fp_status read_tensor(decoder *d, const msgpack_object *o, const char *path, msg_tensor_t *t)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return wrong_type(d, path, "a tensor map {shape, data}", o);
    const msgpack_object *shape = NULL, *data = NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        const msgpack_object **slot = str_is(&kv->key, "shape")  ? &shape
                                      : str_is(&kv->key, "data") ? &data
                                                                 : NULL;
        if (!slot)
            return fp_fail(d->err, FP_EFORMAT, "%s: a tensor has only 'shape' and 'data'", path);
        if (*slot)
            return fp_fail(d->err, FP_EFORMAT, "%s: duplicate key '%s'", path,
                           slot == &shape ? "shape" : "data");
        *slot = &kv->val;
    }
    if (!shape || !data)
        return fp_fail(d->err, FP_EFORMAT, "%s: missing key '%s'", path, !shape ? "shape" : "data");
    if (shape->type != MSGPACK_OBJECT_ARRAY)
        return wrong_type(d, path, "a shape array", shape);
    uint32_t ndim = shape->via.array.size;
    if (ndim == 0)
        return fp_fail(d->err, FP_EFORMAT, "%s.shape: empty", path);
    if (ndim > MSG_TENSOR_MAX_DIMS)
        return fp_fail(d->err, FP_ELIMIT, "%s.shape: %u dims, at most %d", path, ndim,
                       MSG_TENSOR_MAX_DIMS);
    uint32_t dims[MSG_TENSOR_MAX_DIMS];
    size_t count = 1;
    for (uint32_t k = 0; k < ndim; k++) {
        char p[MSG_PATH_CAP];
        msg_path(p, sizeof p, "%s.shape[%u]", path, k);
        fp_status st = read_u32(d, &shape->via.array.ptr[k], p, &dims[k]);
        if (st)
            return st;
        if (dims[k] == 0)
            return fp_fail(d->err, FP_EFORMAT, "%s: is 0", p);
        if (dims[k] > d->lim->max_tensor_elements / count)
            return fp_fail(d->err, FP_ELIMIT, "%s: shape has more than %zu elements", path,
                           d->lim->max_tensor_elements);
        count *= dims[k];
    }
    if (data->type != MSGPACK_OBJECT_BIN)
        return wrong_type(d, path, "data as a bin", data);
    if (data->via.bin.size != count * sizeof(float))
        return fp_fail(d->err, FP_EFORMAT, "%s.data: %u bytes, the shape needs %zu", path,
                       data->via.bin.size, count * sizeof(float));
    fp_status st = msg_tensor_alloc(t, ndim, dims, d->err);
    if (st)
        return st;
    const uint8_t *b = (const uint8_t *)data->via.bin.ptr;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(t->data, b, count * sizeof(float));
#else
    for (size_t i = 0; i < count; i++)
        t->data[i] = le_get_f32(b + 4 * i);
#endif
    return FP_OK;
}

/* An array field: checks the wire type, allocates n items of `size`, then reads each one. */
static fp_status read_array(decoder *d, const msgpack_object *o, const char *path, size_t size,
                            void **v, uint32_t *n)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return wrong_type(d, path, "an array", o);
    uint32_t count = o->via.array.size;
    if (count > d->lim->max_array) /* msg_scan already refused it; cheap to say twice */
        return fp_fail(d->err, FP_ELIMIT, "%s: %u items, at most %zu", path, count,
                       d->lim->max_array);
    if (count > 0 && !(*v = calloc(count, size)))
        return fp_fail(d->err, FP_ENOMEM, "%s: cannot allocate %u items", path, count);
    *n = count;
    return FP_OK;
}

static fp_status read_fields(decoder *d, const field_t *fields, size_t n_fields,
                             const msgpack_object *map, void *base, const char *prefix,
                             bool skip_header);

static fp_status read_value(decoder *d, const field_t *f, const msgpack_object *o, void *base,
                            const char *path)
{
    char *p = (char *)base + f->off;
    char item[MSG_PATH_CAP];
    fp_status st = FP_OK;
    switch (f->kind) {
    case FK_U32:
        return read_u32(d, o, path, (uint32_t *)p);
    case FK_U64:
        return read_u64(d, o, path, (uint64_t *)p);
    case FK_F64:
        return read_f64(d, o, path, p);
    case FK_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return wrong_type(d, path, "a boolean", o);
        *(bool *)p = o->via.boolean;
        return FP_OK;
    case FK_ID:
        if (o->type != MSGPACK_OBJECT_STR)
            return wrong_type(d, path, "an id string", o);
        if (o->via.str.size > MSG_ID_MAX || !msg_id_valid(o->via.str.ptr, o->via.str.size))
            return fp_fail(d->err, FP_EFORMAT, "%s: not an id (up to %d of [A-Za-z0-9._:-])", path,
                           MSG_ID_MAX);
        memcpy(p, o->via.str.ptr, o->via.str.size);
        p[o->via.str.size] = 0;
        return FP_OK;
    case FK_TEXT: {
        if (o->type != MSGPACK_OBJECT_STR)
            return wrong_type(d, path, "a string", o);
        size_t n = o->via.str.size;
        if (n > d->lim->max_string)
            return fp_fail(d->err, FP_ELIMIT, "%s: %zu bytes, at most %zu", path, n,
                           d->lim->max_string);
        if (!msg_utf8_valid((const uint8_t *)o->via.str.ptr, n))
            return fp_fail(d->err, FP_EFORMAT, "%s: not valid UTF-8 (or contains NUL)", path);
        char *s = malloc(n + 1);
        if (!s)
            return fp_fail(d->err, FP_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
        memcpy(s, o->via.str.ptr, n);
        s[n] = 0;
        *(char **)p = s;
        return FP_OK;
    }
    case FK_ENUM: {
        if (o->type != MSGPACK_OBJECT_STR)
            return wrong_type(d, path, "a name string", o);
        for (int v = f->enum_min; v < f->enum_count; v++)
            if (str_is(o, f->enum_name(v))) {
                memcpy(p, &v, sizeof v);
                return FP_OK;
            }
        char shown[32];
        return fp_fail(d->err, FP_EFORMAT, "%s: '%s' is not an allowed value", path,
                       printable(o->via.str.ptr, o->via.str.size, shown));
    }
    case FK_TENSOR:
        return read_tensor(d, o, path, (msg_tensor_t *)p);
    case FK_U32S:
    case FK_U64S:
    case FK_F64S: {
        /* All three are {T *v; uint32_t n}: own the buffer first so msg_clear frees it if an
         * item below is refused. */
        size_t size = f->kind == FK_U32S ? sizeof(uint32_t) : sizeof(uint64_t);
        void *v = NULL;
        uint32_t n = 0;
        st = read_array(d, o, path, size, &v, &n);
        memcpy(p, &v, sizeof v);
        memcpy(p + sizeof v, &n, sizeof n);
        for (uint32_t i = 0; !st && i < n; i++) {
            msg_path(item, sizeof item, "%s[%u]", path, i);
            const msgpack_object *x = &o->via.array.ptr[i];
            char *dst = (char *)v + i * size;
            st = f->kind == FK_U32S   ? read_u32(d, x, item, (uint32_t *)dst)
                 : f->kind == FK_U64S ? read_u64(d, x, item, (uint64_t *)dst)
                                      : read_f64(d, x, item, dst);
        }
        return st;
    }
    case FK_BLOB: {
        if (o->type != MSGPACK_OBJECT_BIN)
            return wrong_type(d, path, "a bin", o);
        msg_blob_t *b = (msg_blob_t *)p;
        return msg_blob_copy(b, o->via.bin.ptr, o->via.bin.size, d->err);
    }
    case FK_RNG: {
        if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
            return fp_fail(d->err, FP_EFORMAT, "%s: expected an array of 4 integers", path);
        uint64_t *r = (uint64_t *)p;
        for (uint32_t i = 0; !st && i < 4; i++) {
            msg_path(item, sizeof item, "%s[%u]", path, i);
            st = read_u64(d, &o->via.array.ptr[i], item, &r[i]);
        }
        return st;
    }
    case FK_RECORDS: {
        void *v = NULL;
        uint32_t n = 0;
        st = read_array(d, o, path, f->sub->record_size, &v, &n);
        /* Owned by the message from here on, so a failure below is freed by msg_clear. */
        memcpy(p, &v, sizeof v);
        memcpy(p + sizeof v, &n, sizeof n);
        for (uint32_t i = 0; !st && i < n; i++) {
            msg_path(item, sizeof item, "%s[%u]", path, i);
            const msgpack_object *rec = &o->via.array.ptr[i];
            if (rec->type != MSGPACK_OBJECT_MAP)
                return wrong_type(d, item, "a map", rec);
            st = read_fields(d, f->sub->fields, f->sub->n_fields, rec,
                             (char *)v + (size_t)i * f->sub->record_size, item, false);
        }
        return st;
    }
    }
    return fp_fail(d->err, FP_EINVAL, "%s: unknown field kind", path);
}

/* Reads a map whose keys must be exactly `fields` (optional ones may be missing), each once.
 * skip_header: the top-level map also holds "v" and "type", checked by the caller. */
static fp_status read_fields(decoder *d, const field_t *fields, size_t n_fields,
                             const msgpack_object *map, void *base, const char *prefix,
                             bool skip_header)
{
    uint64_t seen = 0;
    if (n_fields > 64)
        return fp_fail(d->err, FP_EINVAL, "%s: more than 64 fields in a schema", prefix);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *key = &map->via.map.ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return fp_fail(d->err, FP_EFORMAT, "%s: key %u is %s, not a string", prefix, i,
                           kind_of(key));
        if (skip_header && (str_is(key, "v") || str_is(key, "type")))
            continue;
        size_t k = 0;
        while (k < n_fields && !str_is(key, fields[k].key))
            k++;
        if (k == n_fields) {
            char shown[32];
            return fp_fail(d->err, FP_EFORMAT, "%s: unknown key '%s'", prefix,
                           printable(key->via.str.ptr, key->via.str.size, shown));
        }
        if (seen & (UINT64_C(1) << k))
            return fp_fail(d->err, FP_EFORMAT, "%s: duplicate key '%s'", prefix, fields[k].key);
        seen |= UINT64_C(1) << k;
        char path[MSG_PATH_CAP];
        msg_path(path, sizeof path, "%s.%s", prefix, fields[k].key);
        fp_status st = read_value(d, &fields[k], &map->via.map.ptr[i].val, base, path);
        if (st)
            return st;
    }
    for (size_t k = 0; k < n_fields; k++)
        if (!(seen & (UINT64_C(1) << k)) && !(fields[k].flags & FF_OPTIONAL))
            return fp_fail(d->err, FP_EFORMAT, "%s: missing key '%s'", prefix, fields[k].key);
    return FP_OK;
}

/* v and type, each exactly once, before anything else is believed. */
static fp_status read_version_and_type(decoder *d, const msgpack_object *map, msg_type *type)
{
    const msgpack_object *v = NULL, *t = NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        const msgpack_object **slot = str_is(&kv->key, "v")      ? &v
                                      : str_is(&kv->key, "type") ? &t
                                                                 : NULL;
        if (!slot)
            continue;
        if (*slot)
            return fp_fail(d->err, FP_EFORMAT, "message: duplicate key '%s'",
                           slot == &v ? "v" : "type");
        *slot = &kv->val;
    }
    if (!v)
        return fp_fail(d->err, FP_EVERSION, "message: no protocol version 'v' (we speak %d)",
                       MSG_PROTOCOL_VERSION);
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != MSG_PROTOCOL_VERSION) {
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            return fp_fail(d->err, FP_EVERSION, "message: protocol version %llu, we speak %d",
                           (unsigned long long)v->via.u64, MSG_PROTOCOL_VERSION);
        return fp_fail(d->err, FP_EVERSION, "message: 'v' is %s, not a version number", kind_of(v));
    }
    if (!t)
        return fp_fail(d->err, FP_EFORMAT, "message: missing key 'type'");
    if (t->type != MSGPACK_OBJECT_STR)
        return wrong_type(d, "message.type", "a type name", t);
    for (int k = 1; k < MSG_TYPE_COUNT; k++)
        if (str_is(t, msg_type_name((msg_type)k))) {
            *type = (msg_type)k;
            return FP_OK;
        }
    char shown[32];
    return fp_fail(d->err, FP_EFORMAT, "message: unknown type '%s'",
                   printable(t->via.str.ptr, t->via.str.size, shown));
}

static fp_status decode_object(decoder *d, const msgpack_object *root, msg_t *out)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        return fp_fail(d->err, FP_EFORMAT, "message: top level is %s, not a map", kind_of(root));
    msg_type type = MSG_NONE;
    fp_status st = read_version_and_type(d, root, &type);
    if (st)
        return st;
    const schema_t *s = msg_schema_of(type);
    out->type = type;
    /* Header and body keys live in one map: read them as one field list. */
    field_t fields[64]; /* read_fields tracks the keys seen in a 64-bit mask */
    size_t n_header = msg_header_count(type);
    if (s->n_fields + n_header > sizeof fields / sizeof fields[0])
        return fp_fail(d->err, FP_EINVAL, "%s: schema too large", s->name);
    memcpy(fields, MSG_HEADER_FIELDS, n_header * sizeof fields[0]);
    if (s->n_fields)
        memcpy(fields + n_header, s->fields, s->n_fields * sizeof fields[0]);
    st = read_fields(d, fields, n_header + s->n_fields, root, out, s->name, true);
    if (st)
        return st;
    return msg_validate(out, d->lim, d->err);
}

fp_status msg_decode(const uint8_t *buf, size_t len, const msg_limits *limits, msg_t *out,
                     fp_error *err)
{
    memset(out, 0, sizeof *out);
    msg_limits lim = limits ? *limits : msg_limits_default();
    decoder d = {.lim = &lim, .err = err};
    if (!buf || len == 0)
        return fp_fail(err, FP_EFORMAT, "message: empty");
    if (len > lim.max_message_bytes)
        return fp_fail(err, FP_ELIMIT, "message: %zu bytes, at most %zu", len,
                       lim.max_message_bytes);
    uint8_t c = buf[0];
    if (!((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf))
        return fp_fail(err, FP_EFORMAT, "message: top level is not a map (first byte 0x%02x)", c);
    fp_status st = msg_scan(buf, len, &lim, err);
    if (st)
        return st;

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&up, (const char *)buf, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        st = fp_fail(err, r == MSGPACK_UNPACK_NOMEM_ERROR ? FP_ENOMEM : FP_EFORMAT,
                     "message: msgpack-c refused it (code %d, %zu of %zu bytes)", (int)r, off, len);
    else
        st = decode_object(&d, &up.data, out);
    msgpack_unpacked_destroy(&up);
    if (st)
        msg_clear(out);
    return st;
}

/* Best effort: the header keys of bytes that failed to decode, read only after the same size
 * cap and structural scan as msg_decode, so this is as safe as decoding. */
static void peek_header(const uint8_t *buf, size_t len, const msg_limits *lim, msg_t *out)
{
    if (!buf || len == 0 || len > lim->max_message_bytes)
        return;
    uint8_t c = buf[0];
    if (!((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf) || msg_scan(buf, len, lim, NULL))
        return;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, (const char *)buf, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object_map *map = &up.data.via.map;
        for (uint32_t i = 0; i < map->size; i++) {
            const msgpack_object *k = &map->ptr[i].key, *v = &map->ptr[i].val;
            bool uint = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
            if (str_is(k, "seq") && uint)
                out->seq = v->via.u64;
            else if (str_is(k, "round") && uint && v->via.u64 <= UINT32_MAX)
                out->round = (uint32_t)v->via.u64;
            else if (str_is(k, "run") && v->type == MSGPACK_OBJECT_STR &&
                     v->via.str.size <= MSG_ID_MAX &&
                     msg_id_valid(v->via.str.ptr, v->via.str.size)) {
                memcpy(out->run, v->via.str.ptr, v->via.str.size);
                out->run[v->via.str.size] = 0;
            } else if (str_is(k, "type") && v->type == MSGPACK_OBJECT_STR) {
                for (int t = 1; t < MSG_TYPE_COUNT; t++)
                    if (str_is(v, msg_type_name((msg_type)t)))
                        out->type = (msg_type)t;
            }
        }
    }
    msgpack_unpacked_destroy(&up);
}

fp_status msg_error_for_bytes(msg_t *reply, const char *from, const uint8_t *bad, size_t bad_len,
                              const fp_error *why, const msg_limits *limits, fp_error *err)
{
    msg_limits lim = limits ? *limits : msg_limits_default();
    msg_t header; /* only the header fields are filled; it owns nothing */
    memset(&header, 0, sizeof header);
    peek_header(bad, bad_len, &lim, &header);
    fp_status st = msg_init(reply, MSG_ERROR, header.run, from, err);
    if (st)
        return st;
    reply->re = header.seq;
    reply->round = header.round;
    reply->error.answers = header.type;
    bool known = why && why->status > FP_OK && why->status < FP_STATUS_COUNT;
    reply->error.code = known ? why->status : FP_EFORMAT;
    st = msg_set_text(&reply->error.text, why ? why->msg : "", err);
    if (st)
        msg_clear(reply);
    return st;
}
