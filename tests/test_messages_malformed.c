/* test_messages_malformed.c — the decoder against hostile bytes: every truncation of every
 * type, every field with a wrong type, missing, duplicated or unknown keys, lying tensor and
 * container lengths, limits, versions, cross-field rules, and the fuzzer's finds. Each case
 * must be refused with the right status and a reason naming the problem; the reason must be
 * fit to send back in an ERROR message; nothing may leak (ASan checks). */
#include "tests/support/test.h"

#include <dirent.h>
#include <msgpack.h>

#include "tests/support/msg_sample.h"
#include "messages/msg_schema.h"
#include "messages/protocol.h"

/* ---- helpers ---- */

/* A string literal of raw MessagePack bytes and its length (without the terminating NUL). */
#define RAW(lit) lit, sizeof(lit) - 1

static void sample_bytes(msg_type type, bool full, uint8_t **buf, size_t *len)
{
    msg_t m;
    fp_error err = {0};
    if (msg_sample(&m, type, 7, full, &err) || msg_encode(&m, NULL, buf, len, &err))
        fail_msg("sample %s: %s", msg_type_name(type), err.msg);
    msg_clear(&m);
}

/* Decodes and expects a refusal with status and a reason containing `why`. Also checks that
 * the output is left cleared and that the reason can travel back in an ERROR message. */
static void expect_refused_lim(const uint8_t *buf, size_t len, const msg_limits *lim,
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

static void expect_refused(const uint8_t *buf, size_t len, fp_status status, const char *why,
                           const char *label)
{
    expect_refused_lim(buf, len, NULL, status, why, label);
}

static void expect_accepted(const uint8_t *buf, size_t len, const char *label)
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
static uint8_t *rewrite(const uint8_t *in, size_t in_len, const char *key, rewrite_op op,
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
static void rewritten_refused(const uint8_t *buf, size_t len, const char *key, rewrite_op op,
                              const void *raw_bytes, size_t raw_len, fp_status status,
                              const char *why, const char *label)
{
    size_t bad_len;
    uint8_t *bad = rewrite(buf, len, key, op, raw_bytes, raw_len, &bad_len);
    expect_refused(bad, bad_len, status, why, label);
    free(bad);
}

/* Replace `key` of a sample of `type` with raw bytes and expect a refusal. */
static void replaced_refused(msg_type type, bool full, const char *key, const void *raw,
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

static void raw_init(raw *r)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
}

static void raw_str(raw *r, const char *s)
{
    msgpack_pack_str(&r->pk, strlen(s));
    msgpack_pack_str_body(&r->pk, s, strlen(s));
}

/* {"shape": shape[0..ndim), "data": bin of data_bytes bytes of `fill`}. */
static void raw_tensor(raw *r, const uint64_t *shape, int ndim, size_t data_bytes, float fill)
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

/* ---- generic sweeps over every type ---- */

static void every_truncation_is_refused(void **state)
{
    (void)state;
    for (int t = 1; t < MSG_TYPE_COUNT; t++) {
        uint8_t *buf;
        size_t len;
        sample_bytes((msg_type)t, true, &buf, &len);
        for (size_t k = 0; k < len; k++) {
            /* A fresh copy of exactly k bytes so ASan sees any read past the end. */
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, buf, k);
            char label[64];
            snprintf(label, sizeof label, "%s cut at %zu/%zu", msg_type_name((msg_type)t), k, len);
            expect_refused(cut, k, FP_EFORMAT, k == 0 ? "empty" : "truncated", label);
            free(cut);
        }
        free(buf);
    }
}

/* A value of the wrong MessagePack type for each field kind. */
static const char *wrong_value(field_kind kind, size_t *len)
{
    switch (kind) {
    case FK_U32:
    case FK_U64:
        *len = 2;
        return "\xa1"
               "1"; /* str "1" */
    case FK_F64:
        *len = 1;
        return "\x01"; /* int 1 */
    case FK_BOOL:
        *len = 1;
        return "\x01";
    case FK_ID:
    case FK_TEXT:
    case FK_ENUM:
        *len = 3;
        return "\xc4\x01x"; /* bin */
    case FK_TENSOR:
        *len = 2;
        return "\x91\x01"; /* array */
    case FK_U32S:
    case FK_U64S:
    case FK_F64S:
        *len = 1;
        return "\x80"; /* map */
    case FK_BLOB:
        *len = 2;
        return "\xa1x"; /* str, not bin */
    case FK_RNG:
        *len = 4;
        return "\x93\x01\x02\x03"; /* 3 items */
    case FK_RECORDS:
        *len = 2;
        return "\x91\x01"; /* array of int */
    }
    *len = 1;
    return "\xc0";
}

/* For each type and each key of its full sample: nil, a wrong-typed value, the key missing,
 * the key twice, and an unknown key beside it. */
static void every_field_checked_for_type_presence_and_uniqueness(void **state)
{
    (void)state;
    int cases = 0;
    for (int t = 1; t < MSG_TYPE_COUNT; t++) {
        msg_type type = (msg_type)t;
        const schema_t *s = msg_schema_of(type);
        uint8_t *buf;
        size_t len;
        sample_bytes(type, true, &buf, &len);
        size_t n_header = msg_header_count(type);
        for (size_t i = 0; i < n_header + s->n_fields; i++) {
            const field_t *f = i < n_header ? &MSG_HEADER_FIELDS[i] : &s->fields[i - n_header];
            char path[96], missing[96], label[128];
            snprintf(path, sizeof path, "%s.%s", s->name, f->key);
            snprintf(missing, sizeof missing, "missing key '%s'", f->key);
            size_t wlen;
            const char *w = wrong_value(f->kind, &wlen);
            snprintf(label, sizeof label, "%s = nil", path);
            rewritten_refused(buf, len, f->key, OP_REPLACE, "\xc0", 1, FP_EFORMAT, path, label);
            snprintf(label, sizeof label, "%s wrong type", path);
            rewritten_refused(buf, len, f->key, OP_REPLACE, w, wlen, FP_EFORMAT, path, label);
            snprintf(label, sizeof label, "%s twice", path);
            rewritten_refused(buf, len, f->key, OP_DUP, NULL, 0, FP_EFORMAT, "duplicate key",
                              label);
            snprintf(label, sizeof label, "%s dropped", path);
            size_t bad_len;
            uint8_t *bad = rewrite(buf, len, f->key, OP_DROP, NULL, 0, &bad_len);
            if (f->flags & FF_OPTIONAL)
                expect_accepted(bad, bad_len, label);
            else
                expect_refused(bad, bad_len, FP_EFORMAT, missing, label);
            free(bad);
            cases += 4;
        }
        rewritten_refused(buf, len, "bogus", OP_ADD, "\x01", 1, FP_EFORMAT, "unknown key 'bogus'",
                          s->name);
        if (!msg_type_has_round(type)) {
            rewritten_refused(buf, len, "round", OP_ADD, "\x01", 1, FP_EFORMAT,
                              "unknown key 'round'", s->name);
        }
        /* v and type: missing, twice, wrong. */
        rewritten_refused(buf, len, "v", OP_DROP, NULL, 0, FP_EVERSION, "no protocol version",
                          "v dropped");
        rewritten_refused(buf, len, "v", OP_DUP, NULL, 0, FP_EFORMAT, "duplicate key 'v'",
                          "v twice");
        rewritten_refused(buf, len, "type", OP_DROP, NULL, 0, FP_EFORMAT, "missing key 'type'",
                          "type dropped");
        rewritten_refused(buf, len, "type", OP_DUP, NULL, 0, FP_EFORMAT, "duplicate key 'type'",
                          "type twice");
        free(buf);
    }
    assert_true(cases > 400);
}

/* ---- the table of crafted inputs ---- */

static void version_and_type_are_checked_first(void **state)
{
    (void)state;
    replaced_refused(MSG_TRAIN, true, "v", RAW("\x02"), NULL, FP_EVERSION, "protocol version 2");
    replaced_refused(MSG_TRAIN, true, "v",
                     RAW("\xa1"
                         "1"),
                     NULL, FP_EVERSION, "'v' is a string");
    replaced_refused(MSG_TRAIN, true, "v", RAW("\xff"), NULL, FP_EVERSION, "negative");
    replaced_refused(MSG_TRAIN, true, "v", RAW("\xcf\0\0\0\x01\0\0\0\x01"), NULL, FP_EVERSION,
                     "protocol version 4294967297");
    /* The version is checked before the fields: a v2 message with an unknown layout says
     * EVERSION, not "unknown key". */
    replaced_refused(MSG_TRAIN, true, "rows", RAW("\xc0"), NULL, FP_EFORMAT, "TRAIN.rows");
    uint8_t *buf, *bad, *worse;
    size_t len, bad_len, worse_len;
    sample_bytes(MSG_HEARTBEAT, false, &buf, &len);
    bad = rewrite(buf, len, "v", OP_REPLACE, "\x07", 1, &bad_len);
    worse = rewrite(bad, bad_len, "newfangled", OP_ADD, "\x01", 1, &worse_len);
    expect_refused(worse, worse_len, FP_EVERSION, "protocol version 7", "v7 with new keys");
    free(bad);
    free(worse);
    replaced_refused(MSG_HEARTBEAT, false, "type", RAW("\xa4NOPE"), NULL, FP_EFORMAT,
                     "unknown type 'NOPE'");
    replaced_refused(MSG_HEARTBEAT, false, "type", RAW("\xa4NONE"), NULL, FP_EFORMAT,
                     "unknown type 'NONE'");
    replaced_refused(MSG_HEARTBEAT, false, "type", RAW("\xa5train"), NULL, FP_EFORMAT,
                     "unknown type 'train'");
    /* Raw bytes from the input are never echoed: only id characters survive. */
    replaced_refused(MSG_HEARTBEAT, false, "type", RAW("\xa3\xff\n\x01"), NULL, FP_EFORMAT,
                     "unknown type '?"
                     "?"
                     "?'");
    replaced_refused(MSG_HEARTBEAT, false, "type", RAW("\x01"), NULL, FP_EFORMAT,
                     "message.type: expected a type name");
    free(buf);
}

static void top_level_shape_is_checked(void **state)
{
    (void)state;
    expect_refused((const uint8_t *)"", 0, FP_EFORMAT, "empty", "empty input");
    expect_refused(NULL, 0, FP_EFORMAT, "empty", "NULL input");
    expect_refused((const uint8_t *)"\x91\x01", 2, FP_EFORMAT, "not a map", "array");
    expect_refused((const uint8_t *)"\x01", 1, FP_EFORMAT, "not a map", "integer");
    expect_refused((const uint8_t *)"\xa1x", 2, FP_EFORMAT, "not a map", "string");
    expect_refused((const uint8_t *)"\xc0", 1, FP_EFORMAT, "not a map", "nil");
    expect_refused((const uint8_t *)"\x80", 1, FP_EVERSION, "no protocol version", "{}");
    expect_refused((const uint8_t *)"\x81\x01\x01", 3, FP_EVERSION, "no protocol version",
                   "{1: 1}");
    /* A non-string key among valid ones. */
    uint8_t *buf, *bad;
    size_t len, bad_len;
    sample_bytes(MSG_HEARTBEAT, false, &buf, &len);
    bad = malloc(len + 2);
    memcpy(bad, buf, len);
    bad[0]++; /* fixmap count + 1 */
    bad[len] = 0x05;
    bad[len + 1] = 0x06;
    bad_len = len + 2;
    expect_refused(bad, bad_len, FP_EFORMAT, "not a string", "integer key");
    /* Trailing garbage and two messages back to back. */
    memcpy(bad, buf, len);
    bad[len] = 0;
    expect_refused(bad, len + 1, FP_EFORMAT, "1 trailing bytes", "trailing byte");
    free(bad);
    bad = malloc(2 * len);
    memcpy(bad, buf, len);
    memcpy(bad + len, buf, len);
    expect_refused(bad, 2 * len, FP_EFORMAT, "trailing bytes", "two messages");
    free(bad);
    /* The reserved byte 0xc1 as a value. */
    rewritten_refused(buf, len, "from", OP_REPLACE, "\xc1", 1, FP_EFORMAT, "reserved byte 0xc1",
                      "0xc1");
    /* An ext value. */
    rewritten_refused(buf, len, "from", OP_REPLACE, "\xd4\x01\x02", 3, FP_EFORMAT, "got an ext",
                      "ext");
    free(buf);
}

/* Headers that claim far more than the input holds must be refused before anything is
 * allocated for them (ASan would abort on a 100 GB request). */
static void lying_lengths_and_counts_are_refused_cheaply(void **state)
{
    (void)state;
    msg_limits open = msg_limits_default();
    open.max_array = SIZE_MAX; /* so the byte-count check, not the limit, has to catch it */
    const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01};
    expect_refused(map32, sizeof map32, FP_ELIMIT, "map of 4294967295 items", "map32 limit");
    expect_refused_lim(map32, sizeof map32, &open, FP_EFORMAT, "claims 4294967295 items",
                       "map32 lying");
    const uint8_t array32[] = {0x82, 0xa1, 'v',  0x01, 0xa4, 't',  'y', 'p',
                               'e',  0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_refused(array32, sizeof array32, FP_ELIMIT, "array of 4294967295", "array32");
    expect_refused_lim(array32, sizeof array32, &open, FP_EFORMAT, "only 1 bytes remain",
                       "array32 lying");
    const uint8_t array16[] = {0x81, 0xa1, 'v', 0xdc, 0xff, 0xff, 0x01, 0x02};
    expect_refused_lim(array16, sizeof array16, &open, FP_EFORMAT, "claims 65535 items",
                       "array16 lying");
    const uint8_t str32[] = {0x81, 0xa1, 'v', 0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'};
    expect_refused(str32, sizeof str32, FP_EFORMAT, "needs 4294967280 bytes", "str32");
    const uint8_t bin32[] = {0x81, 0xa1, 'v', 0xc6, 0x7f, 0xff, 0xff, 0xff};
    expect_refused(bin32, sizeof bin32, FP_EFORMAT, "needs 2147483647 bytes", "bin32");
    const uint8_t ext32[] = {0x81, 0xa1, 'v', 0xc9, 0x00, 0x00, 0x00, 0x10, 0x01};
    expect_refused(ext32, sizeof ext32, FP_EFORMAT, "needs 17 bytes", "ext32");
    const uint8_t len_cut[] = {0x81, 0xa1, 'v', 0xda, 0x00};
    expect_refused(len_cut, sizeof len_cut, FP_EFORMAT, "truncated in a length", "str16 cut");
    /* A map whose keys all fit but values are missing. */
    const uint8_t half_map[] = {0x82, 0xa1, 'v', 0x01, 0xa4, 't', 'y', 'p', 'e'};
    expect_refused(half_map, sizeof half_map, FP_EFORMAT, "truncated", "half map");
    /* Lying bin inside a real message: tensor data claims more than is there. */
    uint8_t *buf;
    size_t len;
    sample_bytes(MSG_EVAL_REQUEST, false, &buf, &len);
    const uint8_t lying_tensor[] = {0x82, 0xa5, 's', 'h', 'a',  'p',  'e',  0x91, 0x02, 0xa4,
                                    'd',  'a',  't', 'a', 0xc6, 0x00, 0x10, 0x00, 0x00};
    size_t bad_len;
    uint8_t *bad =
        rewrite(buf, len, "rows", OP_REPLACE, lying_tensor, sizeof lying_tensor, &bad_len);
    expect_refused(bad, bad_len, FP_EFORMAT, "needs 1048576 bytes", "tensor bin lies");
    free(bad);
    free(buf);
}

static void tensors_must_match_their_shape(void **state)
{
    (void)state;
    struct {
        uint64_t shape[10];
        int ndim;
        size_t bytes;
        float fill;
        fp_status status;
        const char *why;
    } cases[] = {
        {{2, 3}, 2, 24, 0.5f, FP_OK, ""},
        {{2, 3}, 2, 20, 0.5f, FP_EFORMAT, "TRAIN.rows.data: 20 bytes, the shape needs 24"},
        {{2, 3}, 2, 28, 0.5f, FP_EFORMAT, "TRAIN.rows.data: 28 bytes, the shape needs 24"},
        {{2, 3}, 2, 23, 0.5f, FP_EFORMAT, "23 bytes"},
        {{2, 3}, 2, 0, 0.5f, FP_EFORMAT, "0 bytes"},
        {{0, 3}, 2, 0, 0.5f, FP_EFORMAT, "TRAIN.rows.shape[0]: is 0"},
        {{0}, 0, 0, 0.5f, FP_EFORMAT, "TRAIN.rows.shape: empty"},
        {{1, 1, 1, 1, 1, 1, 1, 1, 1}, 9, 4, 0.5f, FP_ELIMIT, "9 dims, at most 8"},
        {{65536, 65536, 65536}, 3, 4, 0.5f, FP_ELIMIT, "more than 16777216 elements"},
        {{UINT64_C(1) << 32}, 1, 4, 0.5f, FP_EFORMAT, "shape[0]: 4294967296 does not fit"},
        {{UINT32_MAX, UINT32_MAX}, 2, 4, 0.5f, FP_ELIMIT, "more than"},
        {{2, 3}, 2, 24, NAN, FP_ENUMERIC, "TRAIN.rows: element 0 is not finite"},
        {{2, 3}, 2, 24, INFINITY, FP_ENUMERIC, "not finite"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raw r;
        raw_init(&r);
        raw_tensor(&r, cases[i].shape, cases[i].ndim, cases[i].bytes, cases[i].fill);
        uint8_t *buf, *bad;
        size_t len, bad_len;
        sample_bytes(MSG_TRAIN, false, &buf, &len);
        bad = rewrite(buf, len, "rows", OP_REPLACE, r.sb.data, r.sb.size, &bad_len);
        char label[32];
        snprintf(label, sizeof label, "tensor case %zu", i);
        if (cases[i].status == FP_OK)
            expect_accepted(bad, bad_len, label);
        else
            expect_refused(bad, bad_len, cases[i].status, cases[i].why, label);
        free(buf);
        free(bad);
        msgpack_sbuffer_destroy(&r.sb);
    }
    /* Negative and float dims, missing data, extra and duplicate keys inside the tensor. */
    const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } odd[] = {
        {RAW("\x82\xa5shape\x91\xff\xa4"
             "data\xc4\x00"),
         "shape[0]: expected an unsigned"},
        {RAW("\x82\xa5shape\x91\xca\x40\0\0\0\xa4"
             "data\xc4\x00"),
         "shape[0]: expected an"},
        {RAW("\x81\xa5shape\x91\x01"), "missing key 'data'"},
        {RAW("\x81\xa4"
             "data\xc4\x04\0\0\0\0"),
         "missing key 'shape'"},
        {RAW("\x83\xa5shape\x91\x01\xa4"
             "data\xc4\x04\0\0\0\0\xa1x\x01"),
         "only 'shape' and"},
        {RAW("\x83\xa5shape\x91\x01\xa5shape\x91\x01\xa4"
             "data\xc4\x04\0\0\0\0"),
         "duplicate key 'shape'"},
        {RAW("\x82\xa5shape\x91\x01\xa4"
             "data\xa4\0\0\0\0"),
         "data as a bin"},
        {RAW("\x82\xa5shape\x01\xa4"
             "data\xc4\x04\0\0\0\0"),
         "a shape array"},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        replaced_refused(MSG_TRAIN, false, "rows", odd[i].bytes, odd[i].len, NULL, FP_EFORMAT,
                         odd[i].why);
}

static void scalars_ids_and_text_are_checked(void **state)
{
    (void)state;
    /* integers */
    replaced_refused(MSG_HELLO, true, "index", RAW("\xcf\0\0\0\x01\0\0\0\0"), NULL, FP_EFORMAT,
                     "HELLO.index: 4294967296 does not fit 32 bits");
    replaced_refused(MSG_HELLO, true, "pid", RAW("\xd0\x80"), NULL, FP_EFORMAT,
                     "HELLO.pid: expected an unsigned integer, got a negative integer");
    replaced_refused(MSG_UPDATE, true, "n", RAW("\xcb\x40\0\0\0\0\0\0\0"), NULL, FP_EFORMAT,
                     "UPDATE.n: expected an unsigned integer, got a float");
    /* floats: non-finite is ENUMERIC, an integer is not a float */
    replaced_refused(MSG_UPDATE, true, "loss", RAW("\xcb\x7f\xf8\0\0\0\0\0\0"), NULL, FP_ENUMERIC,
                     "UPDATE.loss: not finite");
    replaced_refused(MSG_UPDATE, true, "loss", RAW("\xca\xff\x80\0\0"), NULL, FP_ENUMERIC,
                     "UPDATE.loss: not finite");
    replaced_refused(MSG_SCORE_REPLY, true, "scores",
                     RAW("\x92\xcb\0\0\0\0\0\0\0\0\xcb\x7f\xf0\0\0"
                         "\0\0\0\0"),
                     NULL, FP_ENUMERIC, "SCORE_REPLY.scores[1]: not finite");
    replaced_refused(MSG_SCORE_REPLY, true, "scores", RAW("\x91\x01"), NULL, FP_EFORMAT,
                     "SCORE_REPLY.scores[0]: expected a float");
    /* ids */
    replaced_refused(MSG_HELLO, true, "from",
                     RAW("\xa3"
                         "a b"),
                     NULL, FP_EFORMAT, "HELLO.from: not an id");
    replaced_refused(MSG_HELLO, true, "from", RAW("\xa0"), NULL, FP_EFORMAT, "HELLO.from: empty");
    replaced_refused(MSG_HELLO, true, "run",
                     RAW("\xa3"
                         "a/b"),
                     NULL, FP_EFORMAT, "HELLO.run: not an id");
    char buf64[2 + 64] = {(char)0xd9, 64}; /* str8 of 64 'a': one more than an id may have */
    memset(buf64 + 2, 'a', 64);
    replaced_refused(MSG_HELLO, true, "run", buf64, sizeof buf64, NULL, FP_EFORMAT,
                     "HELLO.run: not an id");
    /* text: UTF-8, NUL, limits */
    const struct {
        const char *bytes;
        size_t len;
    } bad_text[] = {
        {RAW("\xa2\xc3\x28")}, /* bad continuation */
        {RAW("\xa3"
             "a\0b")},                 /* NUL */
        {RAW("\xa2\xc0\xaf")},         /* overlong '/' */
        {RAW("\xa3\xed\xa0\x80")},     /* surrogate */
        {RAW("\xa4\xf4\x90\x80\x80")}, /* above U+10FFFF */
        {RAW("\xa1\xe2")},             /* cut sequence */
        {RAW("\xa1\xff")},
    };
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++)
        replaced_refused(MSG_ERROR, true, "text", bad_text[i].bytes, bad_text[i].len, NULL,
                         FP_EFORMAT, "ERROR.text: not valid UTF-8");
    uint8_t *buf, *ok;
    size_t len, ok_len;
    sample_bytes(MSG_ERROR, true, &buf, &len);
    ok = rewrite(buf, len, "text", OP_REPLACE, "\xa9\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10,
                 &ok_len);
    expect_accepted(ok, ok_len, "UTF-8 text");
    free(ok);
    free(buf);
    msg_limits lim = msg_limits_default();
    lim.max_string = 8;
    replaced_refused(MSG_BYE, true, "reason",
                     RAW("\xa9"
                         "123456789"),
                     &lim, FP_ELIMIT, "BYE.reason: 9 bytes, at most 8");
    /* enums */
    replaced_refused(MSG_HELLO, true, "role",
                     RAW("\xa3"
                         "any"),
                     NULL, FP_EFORMAT, "HELLO.role: 'any' is not an allowed value");
    replaced_refused(MSG_HELLO, true, "role",
                     RAW("\xa6"
                         "CLIENT"),
                     NULL, FP_EFORMAT, "HELLO.role: 'CLIENT'");
    replaced_refused(MSG_ERROR, true, "code", RAW("\xa2OK"), NULL, FP_EFORMAT,
                     "ERROR.code: 'OK' is not an allowed value");
    replaced_refused(MSG_SAVED, true, "answers", RAW("\xa5HELLO"), NULL, FP_EFORMAT,
                     "SAVED.answers: HELLO is not something the store saves");
    replaced_refused(MSG_STATE, true, "rng", RAW("\x94\x01\x02\x03\xa1x"), NULL, FP_EFORMAT,
                     "STATE.rng[3]: expected an unsigned integer");
}

static void cross_field_rules_hold(void **state)
{
    (void)state;
    replaced_refused(MSG_TRAIN, true, "layers", RAW("\x92\x04\x01"), NULL, FP_EFORMAT,
                     "TRAIN.layers: not strictly increasing at [1] (1 after 4)");
    replaced_refused(MSG_TRAIN, true, "layers", RAW("\x92\x04\x04"), NULL, FP_EFORMAT,
                     "not strictly increasing");
    replaced_refused(MSG_TRAIN, true, "layers", RAW("\x90"), NULL, FP_EFORMAT,
                     "TRAIN.layers: empty");
    replaced_refused(MSG_TRAIN, true, "deadline_ms", RAW("\x00"), NULL, FP_EFORMAT,
                     "TRAIN.deadline_ms");
    replaced_refused(MSG_TRAIN, true, "lr_step", RAW("\xcd\x10\x00"), NULL, FP_EFORMAT,
                     "TRAIN.lr_step: 4096 beyond lr_total 2000");
    replaced_refused(MSG_TRAIN, true, "lr", RAW("\xcb\xbf\xf0\0\0\0\0\0\0"), NULL, FP_EFORMAT,
                     "lr and prox_mu must be >= 0");
    /* The attempt of a round and the retries of a saved round: at most 1000 (max_retries). */
    replaced_refused(MSG_TRAIN, true, "attempt", RAW("\xcd\x03\xe9"), NULL, FP_EFORMAT,
                     "TRAIN.attempt: 1001 beyond 1000");
    replaced_refused(MSG_TRAIN, true, "attempt", RAW("\xce\xff\xff\xff\xff"), NULL, FP_EFORMAT,
                     "TRAIN.attempt: 4294967295 beyond 1000");
    replaced_refused(MSG_TRAIN, true, "attempt", RAW("\xff"), NULL, FP_EFORMAT, "TRAIN.attempt");
    replaced_refused(MSG_TRAIN, true, "attempt", RAW("\xcf\0\0\0\x01\0\0\0\0"), NULL, FP_EFORMAT,
                     "TRAIN.attempt");
    replaced_refused(MSG_SAVE, true, "retries", RAW("\xcd\x03\xe9"), NULL, FP_EFORMAT,
                     "SAVE.retries: 1001 beyond 1000");
    /* A failure reason belongs to a failed round, a failed run. */
    replaced_refused(MSG_SAVE, true, "status", RAW("\xa2ok"), NULL, FP_EFORMAT,
                     "SAVE.reason: a round that is ok has no failure reason");
    replaced_refused(MSG_RUN, true, "status", RAW("\xa7running"), NULL, FP_EFORMAT,
                     "RUN.reason: only a failed run has a failure reason");
    replaced_refused(MSG_RUN, true, "reason", RAW("\xa2\xc3\x28"), NULL, FP_EFORMAT, "RUN.reason");
    replaced_refused(MSG_ERROR, true, "final", RAW("\x01"), NULL, FP_EFORMAT, "ERROR.final");
    raw r;
    raw_init(&r);
    const uint64_t shape[2] = {2, 3};
    raw_tensor(&r, shape, 2, 24, 1.0f);
    replaced_refused(MSG_TRAIN, true, "control", r.sb.data, r.sb.size, NULL, FP_EFORMAT,
                     "TRAIN.control: shape differs from rows");
    replaced_refused(MSG_UPDATE, true, "control_delta", r.sb.data, r.sb.size, NULL, FP_EFORMAT,
                     "UPDATE.control_delta: shape differs from rows");
    replaced_refused(MSG_UPDATE, true, "n", RAW("\x00"), NULL, FP_EFORMAT,
                     "UPDATE.n: must be >= 1");
    replaced_refused(MSG_SELECTION, true, "layers", RAW("\x92\x01\x0c"), NULL, FP_EFORMAT,
                     "SELECTION.layers: layer 12 >= num_layers 12");
    replaced_refused(MSG_SELECTION, true, "num_layers", RAW("\x00"), NULL, FP_EFORMAT,
                     "SELECTION.num_layers");
    replaced_refused(MSG_SELECTION, true, "num_layers", RAW("\x08"), NULL, FP_EFORMAT,
                     "SELECTION.scores: 11 scores for 8 layers");
    replaced_refused(MSG_EVAL_REPLY, true, "n", RAW("\x63"), NULL, FP_EFORMAT,
                     "EVAL_REPLY.confusion: counts exceed n = 99");
    replaced_refused(MSG_EVAL_REPLY, true, "n", RAW("\x65"), NULL, FP_EFORMAT,
                     "EVAL_REPLY.confusion: counts sum to 100, n = 101");
    replaced_refused(MSG_EVAL_REPLY, true, "classes", RAW("\x03"), NULL, FP_EFORMAT,
                     "EVAL_REPLY.confusion: 4 cells for 3 classes");
    replaced_refused(MSG_EVAL_REPLY, true, "confusion",
                     "\x94\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xcf\xff\xff\xff\xff\xff\xff\xff"
                     "\xff\x01\x01",
                     21, NULL, FP_EFORMAT, "counts exceed");
    replaced_refused(MSG_SAVE, true, "sampled", RAW("\x03"), NULL, FP_EFORMAT,
                     "SAVE: completed 2 + dropped 1 + late 1 exceed sampled 3");
    replaced_refused(MSG_WELCOME, true, "liveness", RAW("\x00"), NULL, FP_EFORMAT,
                     "WELCOME: heartbeat_ms and liveness");
    replaced_refused(MSG_SAVE_CLIENT, true, "state", RAW("\xc4\x00"), NULL, FP_EFORMAT,
                     "SAVE_CLIENT.state: empty");
    /* STATE with found = false must carry nothing else. */
    uint8_t *buf;
    size_t len;
    sample_bytes(MSG_STATE, true, &buf, &len);
    rewritten_refused(buf, len, "found", OP_REPLACE, "\xc2", 1, FP_EFORMAT,
                      "STATE: found is false but state is present", "STATE lies");
    free(buf);
    /* Records: a bad field deep inside names its index. */
    msgpack_sbuffer_destroy(&r.sb);
    raw_init(&r);
    msgpack_pack_array(&r.pk, 2);
    for (int i = 0; i < 2; i++) {
        msgpack_pack_map(&r.pk, i == 0 ? 6 : 5);
        raw_str(&r, "client");
        msgpack_pack_uint8(&r.pk, 1);
        raw_str(&r, "status");
        raw_str(&r, i == 0 ? "ok" : "bogus");
        raw_str(&r, "n");
        msgpack_pack_uint8(&r.pk, 3);
        raw_str(&r, "steps");
        msgpack_pack_uint8(&r.pk, 3);
        raw_str(&r, "loss");
        msgpack_pack_double(&r.pk, 0.5);
        if (i == 0) {
            raw_str(&r, "ms");
            msgpack_pack_uint8(&r.pk, 9);
        }
    }
    replaced_refused(MSG_SAVE, true, "clients", r.sb.data, r.sb.size, NULL, FP_EFORMAT,
                     "SAVE.clients[1].status: 'bogus' is not an allowed value");
    msgpack_sbuffer_destroy(&r.sb);
    replaced_refused(MSG_SAVE, true, "clients", RAW("\x91\x80"), NULL, FP_EFORMAT,
                     "SAVE.clients[0]: missing key 'client'");
    replaced_refused(MSG_DIRECTORY, true, "peers", RAW("\x91\x81\xa1x\x01"), NULL, FP_EFORMAT,
                     "DIRECTORY.peers[0]: unknown key 'x'");
}

static void configured_limits_are_enforced(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    sample_bytes(MSG_TRAIN, true, &buf, &len);
    msg_limits lim = msg_limits_default();
    expect_accepted(buf, len, "TRAIN under default limits");
    lim.max_message_bytes = len - 1;
    expect_refused_lim(buf, len, &lim, FP_ELIMIT, "bytes, at most", "message bytes");
    lim = msg_limits_default();
    lim.max_tensor_elements = 35; /* the sample's rows have 2 * 2 * (3 + 3 + 5) = 44 */
    expect_refused_lim(buf, len, &lim, FP_ELIMIT, "TRAIN.rows: shape has more than 35",
                       "tensor elements");
    lim = msg_limits_default();
    lim.max_array = 20; /* maps count too: TRAIN's has 21 keys */
    expect_refused_lim(buf, len, &lim, FP_ELIMIT, "map of 21 items", "map length");
    lim = msg_limits_default();
    lim.max_objects = 20;
    expect_refused_lim(buf, len, &lim, FP_ELIMIT, "more than 20 MessagePack objects",
                       "object count");
    free(buf);
    sample_bytes(MSG_SCORE_REPLY, true, &buf, &len);
    lim = msg_limits_default();
    lim.max_array = 10; /* its map has 10 keys, its scores 11 items */
    expect_refused_lim(buf, len, &lim, FP_ELIMIT, "array of 11 items", "array length");
    free(buf);
    /* Nesting deeper than MSG_MAX_DEPTH inside an otherwise plausible message. */
    uint8_t deep[] = {0x82, 0xa1, 'v',  0x01, 0xa1, 'x',  0x91, 0x91,
                      0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x01};
    expect_refused(deep, sizeof deep, FP_ELIMIT, "nested deeper than 8", "deep nesting");
}

/* The ERROR a receiver sends back tells the sender which request failed, as far as the bad
 * bytes allow, and always encodes. */
static void error_reply_names_the_refused_request(void **state)
{
    (void)state;
    msg_t sent;
    assert_int_equal(msg_sample(&sent, MSG_UPDATE, 3, true, NULL), FP_OK);
    uint8_t *buf, *bad;
    size_t len, bad_len;
    fp_error err = {0};
    assert_int_equal(msg_encode(&sent, NULL, &buf, &len, &err), FP_OK);
    bad = rewrite(buf, len, "loss", OP_REPLACE, RAW("\xa4oops"), &bad_len);
    msg_t got, reply;
    fp_error why = {0};
    assert_int_equal(msg_decode(bad, bad_len, NULL, &got, &why), FP_EFORMAT);
    assert_int_equal(msg_error_for_bytes(&reply, "coordinator", bad, bad_len, &why, NULL, &err),
                     FP_OK);
    assert_int_equal(reply.type, MSG_ERROR);
    assert_int_equal(reply.error.code, FP_EFORMAT);
    assert_int_equal(reply.error.answers, MSG_UPDATE);
    assert_true(reply.re == sent.seq);
    assert_int_equal(reply.round, sent.round);
    assert_string_equal(reply.run, sent.run);
    assert_string_equal(reply.from, "coordinator");
    assert_non_null(strstr(reply.error.text, "UPDATE.loss: expected a float, got a string"));
    uint8_t *out;
    size_t out_len;
    assert_int_equal(msg_encode(&reply, NULL, &out, &out_len, &err), FP_OK);
    free(out);
    msg_clear(&reply);
    free(bad);

    /* Bytes with nothing readable: an ERROR that answers NONE. */
    const uint8_t junk[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(msg_decode(junk, sizeof junk, NULL, &got, &why), FP_ELIMIT);
    assert_int_equal(msg_error_for_bytes(&reply, "broker", junk, sizeof junk, &why, NULL, &err),
                     FP_OK);
    assert_int_equal(reply.error.answers, MSG_NONE);
    assert_int_equal(reply.error.code, FP_ELIMIT);
    assert_true(reply.re == 0 && reply.round == 0 && reply.run[0] == 0);
    assert_int_equal(msg_encode(&reply, NULL, &out, &out_len, &err), FP_OK);
    free(out);
    msg_clear(&reply);
    /* A garbage run id in the refused bytes is not copied. */
    bad = rewrite(buf, len, "run", OP_REPLACE,
                  RAW("\xa3"
                      "a b"),
                  &bad_len);
    assert_int_equal(msg_decode(bad, bad_len, NULL, &got, &why), FP_EFORMAT);
    assert_int_equal(msg_error_for_bytes(&reply, "coordinator", bad, bad_len, &why, NULL, &err),
                     FP_OK);
    assert_string_equal(reply.run, "");
    assert_int_equal(reply.error.answers, MSG_UPDATE);
    msg_clear(&reply);
    free(bad);
    free(buf);
    msg_clear(&sent);
}

/* Every committed fuzz seed goes through the fuzzer's property here too: valid messages
 * (*.msgpack) decode, re-encode to the same bytes; everything else is refused with a reason.
 * A crash the fuzzer finds is committed as a seed, so it is replayed by `make test`. */
static void fuzz_seeds_replay(void **state)
{
    (void)state;
    const char *dirs[] = {"tests/fuzz/seeds/fuzz_messages", "../tests/fuzz/seeds/fuzz_messages",
                          "../../tests/fuzz/seeds/fuzz_messages"};
    DIR *dir = NULL;
    const char *found = NULL;
    for (size_t i = 0; !dir && i < sizeof dirs / sizeof dirs[0]; i++)
        if ((dir = opendir(dirs[i])))
            found = dirs[i];
    if (!dir)
        fail_msg("tests/fuzz/seeds/fuzz_messages not found from the current directory");
    int valid = 0, refused = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", found, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        uint8_t *buf = malloc(1 << 16);
        size_t len = fread(buf, 1, 1 << 16, f);
        fclose(f);
        msg_t m;
        fp_error err = {0};
        fp_status st = msg_decode(buf, len, NULL, &m, &err);
        bool want_valid = strstr(e->d_name, ".msgpack") != NULL;
        if (want_valid != (st == FP_OK))
            fail_msg("seed %s: %s %s", e->d_name, fp_status_name(st), err.msg);
        if (st == FP_OK) {
            uint8_t *again;
            size_t again_len;
            assert_int_equal(msg_encode(&m, NULL, &again, &again_len, &err), FP_OK);
            assert_int_equal(again_len, len);
            assert_memory_equal(again, buf, len);
            free(again);
            msg_clear(&m);
            valid++;
        } else {
            assert_true(err.msg[0] != 0);
            assert_int_equal(m.type, MSG_NONE);
            refused++;
        }
        free(buf);
    }
    if (dir)
        closedir(dir);
    assert_true(valid >= 2 * (MSG_TYPE_COUNT - 1));
    assert_true(refused >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(every_field_checked_for_type_presence_and_uniqueness),
        cmocka_unit_test(version_and_type_are_checked_first),
        cmocka_unit_test(top_level_shape_is_checked),
        cmocka_unit_test(lying_lengths_and_counts_are_refused_cheaply),
        cmocka_unit_test(tensors_must_match_their_shape),
        cmocka_unit_test(scalars_ids_and_text_are_checked),
        cmocka_unit_test(cross_field_rules_hold),
        cmocka_unit_test(configured_limits_are_enforced),
        cmocka_unit_test(error_reply_names_the_refused_request),
        cmocka_unit_test(fuzz_seeds_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
