/* test_messages_malformed.c — the decoder against hostile bytes: every truncation of every
 * type, every field with a wrong type, missing, duplicated or unknown keys, wrong versions and
 * top-level shapes, lying tensor and container lengths, and the fuzzer's finds. Each case must be
 * refused with the right status and a reason naming the problem; the reason must be fit to send
 * back in an ERROR message; nothing may leak (ASan checks). Well-formed values that break a rule
 * (scalars, ids, text, cross-field rules, limits) are in test_messages_rules.c. */
#include "tests/test_messages_malformed_fixture.h"

#include <dirent.h>

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
        cmocka_unit_test(fuzz_seeds_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
