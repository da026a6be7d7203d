/* msg.c — a message's life in memory: init, clear, the setters that copy into owned buffers,
 * validation and equality over the schema tables. No wire format here (msg_encode.c,
 * msg_decode.c) and never a pointer that the message does not own after a setter returns. */
#include "messages/msg_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENSOR_ALIGN 64

msg_limits msg_limits_default(void)
{
    return (msg_limits){
        .max_message_bytes = (size_t)256 << 20,
        .max_tensor_elements = (size_t)16 << 20,
        .max_string = (size_t)1 << 20,
        .max_array = 65536,
        .max_objects = (size_t)1 << 20,
    };
}

fp_status msg_set_id(char *field, const char *id, fp_error *err)
{
    size_t len = id ? strnlen(id, MSG_ID_CAP) : 0;
    if (len > MSG_ID_MAX || !msg_id_valid(id ? id : "", len))
        return fp_fail(err, FP_EINVAL, "'%.*s' is not an id (up to %d of [A-Za-z0-9._:-])",
                       MSG_ID_MAX, id ? id : "", MSG_ID_MAX);
    memcpy(field, id ? id : "", len);
    field[len] = 0;
    return FP_OK;
}

fp_status msg_init(msg_t *m, msg_type type, const char *run, const char *from, fp_error *err)
{
    memset(m, 0, sizeof *m);
    if (!msg_schema_of(type))
        return fp_fail(err, FP_EINVAL, "msg_init: %d is not a message type", (int)type);
    fp_status st = msg_set_id(m->run, run, err);
    if (!st)
        st = msg_set_id(m->from, from, err);
    if (!st && !m->from[0])
        st = fp_fail(err, FP_EINVAL, "msg_init: from is empty");
    if (st)
        return st;
    m->type = type;
    return FP_OK;
}

void msg_clear(msg_t *m)
{
    if (!m)
        return;
    const schema_t *s = msg_schema_of(m->type);
    for (size_t i = 0; s && i < s->n_fields; i++)
        msg_field_free(&s->fields[i], m);
    memset(m, 0, sizeof *m);
}

msg_t *msg_new(void)
{
    return calloc(1, sizeof(msg_t));
}

void msg_destroy(msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    msg_clear(*self_p);
    free(*self_p);
    *self_p = NULL;
}

size_t msg_tensor_count(const msg_tensor_t *t)
{
    if (t->ndim == 0 || t->ndim > MSG_TENSOR_MAX_DIMS)
        return 0;
    size_t n = 1;
    for (uint32_t d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

void msg_tensor_free(msg_tensor_t *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

fp_status msg_tensor_alloc(msg_tensor_t *t, uint32_t ndim, const uint32_t *shape, fp_error *err)
{
    msg_tensor_free(t);
    if (ndim == 0 || ndim > MSG_TENSOR_MAX_DIMS)
        return fp_fail(err, FP_EINVAL, "tensor: %u dims, want 1..%d", ndim, MSG_TENSOR_MAX_DIMS);
    size_t count = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] == 0)
            return fp_fail(err, FP_EINVAL, "tensor: shape[%u] is 0", d);
        if (shape[d] > SIZE_MAX / sizeof(float) / TENSOR_ALIGN / count)
            return fp_fail(err, FP_EINVAL, "tensor: shape overflows");
        count *= shape[d];
    }
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    size_t bytes = (count * sizeof(float) + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
    float *data = aligned_alloc(TENSOR_ALIGN, bytes);
    if (!data)
        return fp_fail(err, FP_ENOMEM, "tensor: cannot allocate %zu bytes", bytes);
    memset(data, 0, bytes);
    t->ndim = ndim;
    memcpy(t->shape, shape, ndim * sizeof shape[0]);
    t->data = data;
    return FP_OK;
}

fp_status msg_tensor_copy(msg_tensor_t *t, uint32_t ndim, const uint32_t *shape, const float *src,
                          fp_error *err)
{
    fp_status st = msg_tensor_alloc(t, ndim, shape, err);
    if (st)
        return st;
    memcpy(t->data, src, msg_tensor_count(t) * sizeof(float));
    return FP_OK;
}

fp_status msg_set_text(char **field, const char *text, fp_error *err)
{
    char *copy = strdup(text ? text : "");
    if (!copy)
        return fp_fail(err, FP_ENOMEM, "cannot copy text");
    free(*field);
    *field = copy;
    return FP_OK;
}

/* One zeroed buffer of n items of the given size for an array field; NULL for n = 0. */
static fp_status alloc_items(void **v, size_t n, size_t size, fp_error *err)
{
    void *p = NULL;
    if (n > 0 && !(p = calloc(n, size)))
        return fp_fail(err, FP_ENOMEM, "cannot allocate %zu items", n);
    free(*v);
    *v = p;
    return FP_OK;
}

#define DEFINE_ALLOC(fn, type, item)                                                               \
    fp_status fn(type *a, uint32_t n, fp_error *err)                                               \
    {                                                                                              \
        void *v = a->v;                                                                            \
        fp_status st = alloc_items(&v, n, sizeof(item), err);                                      \
        if (st)                                                                                    \
            return st;                                                                             \
        a->v = v;                                                                                  \
        a->n = n;                                                                                  \
        return FP_OK;                                                                              \
    }
DEFINE_ALLOC(msg_u32s_alloc, msg_u32s_t, uint32_t)
DEFINE_ALLOC(msg_u64s_alloc, msg_u64s_t, uint64_t)
DEFINE_ALLOC(msg_f64s_alloc, msg_f64s_t, double)
DEFINE_ALLOC(msg_peers_alloc, msg_peers_t, msg_peer_t)
DEFINE_ALLOC(msg_client_rows_alloc, msg_client_rows_t, msg_client_row_t)

fp_status msg_blob_copy(msg_blob_t *b, const void *data, size_t n, fp_error *err)
{
    void *p = NULL;
    if (n > 0) {
        if (!(p = malloc(n)))
            return fp_fail(err, FP_ENOMEM, "cannot allocate a %zu-byte blob", n);
        memcpy(p, data, n);
    }
    free(b->data);
    b->data = p;
    b->n = n;
    return FP_OK;
}

fp_status msg_validate(const msg_t *m, const msg_limits *limits, fp_error *err)
{
    msg_limits lim = limits ? *limits : msg_limits_default();
    const schema_t *s = msg_schema_of(m->type);
    if (!s)
        return fp_fail(err, FP_EFORMAT, "message type %d is unknown", (int)m->type);
    char path[MSG_PATH_CAP];
    size_t n_header = msg_header_count(m->type);
    for (size_t i = 0; i < n_header; i++) {
        msg_path(path, sizeof path, "%s.%s", s->name, MSG_HEADER_FIELDS[i].key);
        fp_status st = msg_field_validate(&MSG_HEADER_FIELDS[i], m, &lim, path, err);
        if (st)
            return st;
    }
    for (size_t i = 0; i < s->n_fields; i++) {
        msg_path(path, sizeof path, "%s.%s", s->name, s->fields[i].key);
        fp_status st = msg_field_validate(&s->fields[i], m, &lim, path, err);
        if (st)
            return st;
    }
    return s->check ? s->check(m, err) : FP_OK;
}

bool msg_equal(const msg_t *a, const msg_t *b)
{
    if (a->type != b->type)
        return false;
    const schema_t *s = msg_schema_of(a->type);
    if (!s)
        return true; /* two cleared messages */
    size_t n_header = msg_header_count(a->type);
    for (size_t i = 0; i < n_header; i++)
        if (!msg_field_equal(&MSG_HEADER_FIELDS[i], a, b))
            return false;
    for (size_t i = 0; i < s->n_fields; i++)
        if (!msg_field_equal(&s->fields[i], a, b))
            return false;
    return true;
}

fp_status msg_reply_init(msg_t *reply, msg_type type, const msg_t *request, const char *from,
                         fp_error *err)
{
    fp_status st = msg_init(reply, type, request->run, from, err);
    if (st)
        return st;
    reply->re = request->seq;
    reply->round = msg_type_has_round(type) ? request->round : 0;
    return FP_OK;
}
