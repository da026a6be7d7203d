/* test_messages_malformed_fixture.h — shared by test_messages_malformed.c and
 * test_messages_rules.c: encoded samples of every type, the expectations (refused with a status
 * and a reason fit for an ERROR, or accepted), a rewriter that replaces, drops, duplicates or adds
 * one top-level key of an encoded message, and a tiny packer for crafted values. */
#ifndef FEDPEP_TESTS_TEST_MESSAGES_MALFORMED_FIXTURE_H
#define FEDPEP_TESTS_TEST_MESSAGES_MALFORMED_FIXTURE_H

#include "tests/support/test.h"

#include <msgpack.h>

#include "tests/support/msg_sample.h"
#include "messages/msg_schema.h"
#include "messages/protocol.h"

/* A string literal of raw MessagePack bytes and its length (without the terminating NUL). */
#define RAW(lit) lit, sizeof(lit) - 1

static inline void sample_bytes(msg_type type, bool full, uint8_t **buf, size_t *len)
{
    msg_t m;
    fp_error err = {0};
    if (msg_sample(&m, type, 7, full, &err) || msg_encode(&m, NULL, buf, len, &err))
        fail_msg("sample %s: %s", msg_type_name(type), err.msg);
    msg_clear(&m);
}

/* Decodes and expects a refusal with status and a reason containing `why`. Also checks that
 * the output is left cleared and that the reason can travel back in an ERROR message. */
static inline void expect_refused_lim(const uint8_t *buf, size_t len, const msg_limits *lim,
                                      fp_status status, const char *why, const char *label)
{
    msg_t m;
    fp_error err = {0};
    fp_status st = msg_decode(buf, len, lim, &m, &err);
    if (st != status || !strstr(err.msg, why)) {
        if (st == FP_OK)
            msg_clear(&m);
        fail_msg("%s: got %s \"%s\", want %s containing \"%s\"", label, fp_status_name(st), err.msg,
                 fp_status_name(status), why);
    }
    assert_int_equal(m.type, MSG_NONE);
    msg_t reply;
    assert_int_equal(msg_init(&reply, MSG_ERROR, "", "broker", NULL), FP_OK);
    reply.error.code = st;
    assert_int_equal(msg_set_text(&reply.error.text, err.msg, NULL), FP_OK);
    uint8_t *out;
    size_t out_len;
    if (msg_encode(&reply, NULL, &out, &out_len, &err))
        fail_msg("%s: the reason cannot be sent back: %s", label, err.msg);
    free(out);
    msg_clear(&reply);
}

static inline void expect_refused(const uint8_t *buf, size_t len, fp_status status, const char *why,
                                  const char *label)
{
    expect_refused_lim(buf, len, NULL, status, why, label);
}

static inline void expect_accepted(const uint8_t *buf, size_t len, const char *label)
{
    msg_t m;
    fp_error err = {0};
    if (msg_decode(buf, len, NULL, &m, &err))
        fail_msg("%s: refused: %s", label, err.msg);
    msg_clear(&m);
}

typedef enum { OP_REPLACE, OP_DROP, OP_DUP, OP_ADD } rewrite_op;

/* Re-packs the top-level map of `in` with one change to `key`: its value replaced by the raw
 * MessagePack bytes `raw`, the pair dropped, the pair written twice, or (OP_ADD) a new pair
 * key -> raw appended. Returns a malloc'ed buffer. */
static inline uint8_t *rewrite(const uint8_t *in, size_t in_len, const char *key, rewrite_op op,
                               const void *raw, size_t raw_len, size_t *out_len)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, (const char *)in, in_len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_map *map = &up.data.via.map;
    size_t klen = strlen(key);
    int found = 0;
    for (uint32_t i = 0; i < map->size; i++)
        found += map->ptr[i].key.via.str.size == klen &&
                 memcmp(map->ptr[i].key.via.str.ptr, key, klen) == 0;
    assert_true(op == OP_ADD ? 1 : found == 1);
    uint32_t size = map->size + (op == OP_DROP ? -1 : op == OP_REPLACE ? 0 : 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, size);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object_kv *kv = &map->ptr[i];
        bool is_key = kv->key.via.str.size == klen && memcmp(kv->key.via.str.ptr, key, klen) == 0;
        if (is_key && op == OP_DROP)
            continue;
        msgpack_pack_object(&pk, kv->key);
        if (is_key && op == OP_REPLACE)
            msgpack_sbuffer_write(&sb, raw, raw_len);
        else
            msgpack_pack_object(&pk, kv->val);
        if (is_key && op == OP_DUP) {
            msgpack_pack_object(&pk, kv->key);
            msgpack_pack_object(&pk, kv->val);
        }
    }
    if (op == OP_ADD) {
        msgpack_pack_str(&pk, klen);
        msgpack_pack_str_body(&pk, key, klen);
        msgpack_sbuffer_write(&sb, raw, raw_len);
    }
    msgpack_unpacked_destroy(&up);
    *out_len = sb.size;
    return (uint8_t *)msgpack_sbuffer_release(&sb);
}

/* rewrite() then expect_refused() on the result. */
static inline void rewritten_refused(const uint8_t *buf, size_t len, const char *key, rewrite_op op,
                                     const void *raw_bytes, size_t raw_len, fp_status status,
                                     const char *why, const char *label)
{
    size_t bad_len;
    uint8_t *bad = rewrite(buf, len, key, op, raw_bytes, raw_len, &bad_len);
    expect_refused(bad, bad_len, status, why, label);
    free(bad);
}

/* Replace `key` of a sample of `type` with raw bytes and expect a refusal. */
static inline void replaced_refused(msg_type type, bool full, const char *key, const void *raw,
                                    size_t raw_len, const msg_limits *lim, fp_status status,
                                    const char *why)
{
    uint8_t *buf, *bad;
    size_t len, bad_len;
    sample_bytes(type, full, &buf, &len);
    bad = rewrite(buf, len, key, OP_REPLACE, raw, raw_len, &bad_len);
    char label[96];
    snprintf(label, sizeof label, "%s.%s replaced", msg_type_name(type), key);
    expect_refused_lim(bad, bad_len, lim, status, why, label);
    free(buf);
    free(bad);
}

/* A tiny packer for crafted values. */
typedef struct raw {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} raw;

static inline void raw_init(raw *r)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
}

static inline void raw_str(raw *r, const char *s)
{
    msgpack_pack_str(&r->pk, strlen(s));
    msgpack_pack_str_body(&r->pk, s, strlen(s));
}

/* {"shape": shape[0..ndim), "data": bin of data_bytes bytes of `fill`}. */
static inline void raw_tensor(raw *r, const uint64_t *shape, int ndim, size_t data_bytes,
                              float fill)
{
    msgpack_pack_map(&r->pk, 2);
    raw_str(r, "shape");
    msgpack_pack_array(&r->pk, ndim);
    for (int i = 0; i < ndim; i++)
        msgpack_pack_uint64(&r->pk, shape[i]);
    raw_str(r, "data");
    msgpack_pack_bin(&r->pk, data_bytes);
    for (size_t i = 0; i + 4 <= data_bytes; i += 4)
        msgpack_pack_bin_body(&r->pk, &fill, 4);
    for (size_t i = data_bytes / 4 * 4; i < data_bytes; i++)
        msgpack_pack_bin_body(&r->pk, "", 1);
}

#endif
