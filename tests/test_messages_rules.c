/* test_messages_rules.c — the decoder against well-formed MessagePack that breaks a rule of the
 * protocol: integers that do not fit, non-finite floats, ids and text (UTF-8, lengths),
 * cross-field rules, configured limits; and the ERROR a receiver sends back, which names the
 * refused request as far as the bytes allow. Each case must be refused with the right status and
 * a reason naming the problem (test_messages_malformed_fixture.h); nothing may leak. */
#include "tests/test_messages_malformed_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars_ids_and_text_are_checked),
        cmocka_unit_test(cross_field_rules_hold),
        cmocka_unit_test(configured_limits_are_enforced),
        cmocka_unit_test(error_reply_names_the_refused_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
