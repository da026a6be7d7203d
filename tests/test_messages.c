/* test_messages.c — the wire contract round-trips: every type, full and minimal, decodes to
 * exactly what was encoded; equality sees every field; bytes written by an independent
 * packer decode to the documented fields. Malformed input lives in test_messages_malformed.c.
 * With FEDPEP_WRITE_SEEDS=DIR it also writes every sample as a fuzz seed into DIR. */
#include "tests/support/test.h"

#include <msgpack.h>

#include "tests/support/msg_sample.h"
#include "messages/msg_schema.h" /* the field tables, to prove msg_equal covers them all */
#include "messages/protocol.h"

static void encode_ok(const msg_t *m, uint8_t **buf, size_t *len)
{
    fp_error err = {0};
    fp_status st = msg_encode(m, NULL, buf, len, &err);
    if (st)
        fail_msg("encode %s: %s %s", msg_type_name(m->type), fp_status_name(st), err.msg);
}

static void decode_ok(const uint8_t *buf, size_t len, msg_t *m)
{
    fp_error err = {0};
    fp_status st = msg_decode(buf, len, NULL, m, &err);
    if (st)
        fail_msg("decode: %s %s", fp_status_name(st), err.msg);
}

static void every_type_round_trips(void **state)
{
    (void)state;
    const char *seed_dir = getenv("FEDPEP_WRITE_SEEDS");
    for (int t = 1; t < MSG_TYPE_COUNT; t++) {
        for (int full = 0; full <= 1; full++) {
            msg_t a, b, c;
            fp_error err = {0};
            if (msg_sample(&a, (msg_type)t, 1234, full, &err))
                fail_msg("sample %s: %s", msg_type_name((msg_type)t), err.msg);
            uint8_t *buf, *buf2;
            size_t len, len2;
            encode_ok(&a, &buf, &len);
            decode_ok(buf, len, &b);
            if (!msg_equal(&a, &b))
                fail_msg("%s (full=%d) changed in a round trip", msg_type_name((msg_type)t), full);
            /* Canonical: re-encoding what we decoded gives the same bytes. */
            encode_ok(&b, &buf2, &len2);
            assert_int_equal(len, len2);
            assert_memory_equal(buf, buf2, len);
            decode_ok(buf2, len2, &c);
            assert_true(msg_equal(&b, &c));
            if (seed_dir) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s-%s.msgpack", seed_dir,
                         msg_type_name((msg_type)t), full ? "full" : "min");
                FILE *f = fopen(path, "wb");
                assert_non_null(f);
                assert_int_equal(fwrite(buf, 1, len, f), len);
                fclose(f);
            }
            free(buf);
            free(buf2);
            msg_clear(&a);
            msg_clear(&b);
            msg_clear(&c);
        }
    }
}

static void names_are_complete_and_unique(void **state)
{
    (void)state;
    for (int t = 1; t < MSG_TYPE_COUNT; t++) {
        const char *name = msg_type_name((msg_type)t);
        assert_non_null(name);
        assert_string_not_equal(name, "?");
        assert_int_equal(msg_type_from_name(name), t);
        assert_non_null(msg_schema_of((msg_type)t));
    }
    assert_string_equal(msg_type_name(MSG_NONE), "NONE");
    assert_string_equal(msg_type_name(MSG_TYPE_COUNT), "?");
    assert_int_equal(msg_type_from_name("NONE"), MSG_NONE);
    assert_int_equal(msg_type_from_name("train"), MSG_NONE); /* names are case-sensitive */
    for (int r = 0; r < MSG_ROLE_COUNT; r++)
        assert_string_not_equal(msg_role_name((msg_role)r), "?");
    for (int s = 0; s < MSG_CLIENT_STATUS_COUNT; s++)
        assert_string_not_equal(msg_client_status_name((msg_client_status)s), "?");
    assert_true(msg_type_has_round(MSG_TRAIN));
    assert_false(msg_type_has_round(MSG_HEARTBEAT));
}

/* Changes one field of a (valid, full) message in place, to a different but still
 * representable value. Returns false when the field cannot be changed (e.g. empty array). */
static bool perturb(const field_t *f, void *base)
{
    char *p = (char *)base + f->off;
    switch (f->kind) {
    case FK_U32:
        (*(uint32_t *)p)++;
        return true;
    case FK_U64:
        (*(uint64_t *)p)++;
        return true;
    case FK_F64:
        msg_put_f64(p, msg_get_f64(p) + 1.0);
        return true;
    case FK_BOOL:
        *(bool *)p = !*(bool *)p;
        return true;
    case FK_ID:
        if (!p[0])
            p[1] = 0;
        p[0] = p[0] == 'z' ? 'y' : 'z';
        return true;
    case FK_TEXT:
        return msg_set_text((char **)p, "something else", NULL) == FP_OK;
    case FK_ENUM: {
        int v;
        memcpy(&v, p, sizeof v);
        v = v + 1 < f->enum_count ? v + 1 : f->enum_min;
        memcpy(p, &v, sizeof v);
        return f->enum_count - f->enum_min > 1;
    }
    case FK_TENSOR: {
        msg_tensor_t *t = (msg_tensor_t *)p;
        if (!t->ndim)
            return false;
        t->data[msg_tensor_count(t) - 1] += 1.0f;
        return true;
    }
    case FK_U32S: {
        msg_u32s_t *a = (msg_u32s_t *)p;
        return a->n ? (a->v[a->n - 1]++, true) : false;
    }
    case FK_U64S: {
        msg_u64s_t *a = (msg_u64s_t *)p;
        return a->n ? (a->v[a->n - 1]++, true) : false;
    }
    case FK_F64S: {
        msg_f64s_t *a = (msg_f64s_t *)p;
        return a->n ? (a->v[a->n - 1] += 1, true) : false;
    }
    case FK_BLOB: {
        msg_blob_t *b = (msg_blob_t *)p;
        return b->n ? (b->data[b->n - 1] ^= 1, true) : false;
    }
    case FK_RNG:
        ((uint64_t *)p)[3] ^= 1;
        return true;
    case FK_RECORDS: {
        char *v;
        uint32_t n;
        memcpy(&v, p, sizeof v);
        memcpy(&n, p + sizeof v, sizeof n);
        if (!n)
            return false;
        /* Perturb every field of the last record, one at a time, via recursion on a copy
         * would need deep copies; perturbing the last field is enough to see the walk. */
        return perturb(&f->sub->fields[f->sub->n_fields - 1],
                       v + (size_t)(n - 1) * f->sub->record_size);
    }
    }
    return false;
}

/* msg_equal must notice a change in any field: otherwise the round trip test above would
 * prove nothing about that field. Each field of each full sample is perturbed in a fresh
 * decoded copy. */
static void equality_sees_every_field(void **state)
{
    (void)state;
    int checked = 0;
    for (int t = 1; t < MSG_TYPE_COUNT; t++) {
        msg_t a;
        assert_int_equal(msg_sample(&a, (msg_type)t, 99, true, NULL), FP_OK);
        uint8_t *buf;
        size_t len;
        encode_ok(&a, &buf, &len);
        const schema_t *s = msg_schema_of((msg_type)t);
        size_t n_header = msg_header_count((msg_type)t);
        for (size_t i = 0; i < n_header + s->n_fields; i++) {
            const field_t *f = i < n_header ? &MSG_HEADER_FIELDS[i] : &s->fields[i - n_header];
            msg_t b;
            decode_ok(buf, len, &b);
            assert_true(msg_equal(&a, &b));
            if (perturb(f, &b)) {
                if (msg_equal(&a, &b))
                    fail_msg("msg_equal misses %s.%s", s->name, f->key);
                checked++;
            }
            msg_clear(&b);
        }
        free(buf);
        msg_clear(&a);
    }
    assert_true(checked > 80);
}

/* Bytes written by hand with the msgpack packer (not our encoder), in an unusual key order
 * and with float32 scalars, decode to the documented fields. */
static void independent_packer_update_decodes(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
#define KEY(s) (msgpack_pack_str(&pk, strlen(s)), msgpack_pack_str_body(&pk, s, strlen(s)))
    msgpack_pack_map(&pk, 14);
    KEY("seq");
    msgpack_pack_uint8(&pk, 9);
    KEY("re");
    msgpack_pack_uint32(&pk, 8);
    KEY("rows");
    msgpack_pack_map(&pk, 2);
    KEY("data");
    /* little-endian float32: 1.0, -2.5, 0.5, 3.0, 0, 1e-3 */
    const uint8_t le[24] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, 0x00, 0x00, 0x00, 0x3f,
                            0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x00, 0x00, 0x6f, 0x12, 0x83, 0x3a};
    msgpack_pack_bin(&pk, sizeof le);
    msgpack_pack_bin_body(&pk, le, sizeof le);
    KEY("shape");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, 2);
    msgpack_pack_uint16(&pk, 3);
    KEY("type");
    KEY("UPDATE");
    KEY("from");
    KEY("client-3");
    KEY("round");
    msgpack_pack_uint64(&pk, 41);
    KEY("run");
    KEY("r1");
    KEY("n");
    msgpack_pack_uint32(&pk, 731);
    KEY("steps");
    msgpack_pack_uint8(&pk, 184);
    KEY("loss");
    msgpack_pack_float(&pk, 0.25f);
    KEY("compute_ms");
    msgpack_pack_uint16(&pk, 5000);
    KEY("wall_ms");
    msgpack_pack_uint64(&pk, 5100);
    KEY("v");
    msgpack_pack_uint8(&pk, MSG_PROTOCOL_VERSION);
    KEY("control_delta");
    msgpack_pack_map(&pk, 2);
    KEY("shape");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint32(&pk, 2);
    msgpack_pack_uint64(&pk, 3);
    KEY("data");
    msgpack_pack_bin(&pk, sizeof le);
    msgpack_pack_bin_body(&pk, le, sizeof le);
#undef KEY
    msg_t m;
    decode_ok((const uint8_t *)sb.data, sb.size, &m);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(m.type, MSG_UPDATE);
    assert_string_equal(m.from, "client-3");
    assert_string_equal(m.run, "r1");
    assert_int_equal(m.round, 41);
    assert_int_equal(m.seq, 9);
    assert_int_equal(m.re, 8);
    assert_int_equal(m.update.n, 731);
    assert_int_equal(m.update.steps, 184);
    assert_true(m.update.loss == 0.25);
    assert_int_equal(m.update.compute_ms, 5000);
    assert_int_equal(m.update.wall_ms, 5100);
    assert_int_equal(m.update.rows.ndim, 2);
    assert_int_equal(m.update.rows.shape[0], 2);
    assert_int_equal(m.update.rows.shape[1], 3);
    const float want[6] = {1.0f, -2.5f, 0.5f, 3.0f, 0.0f, 1e-3f};
    for (int i = 0; i < 6; i++) {
        assert_true(m.update.rows.data[i] == want[i]);
        assert_true(m.update.control_delta.data[i] == want[i]);
    }
    assert_int_equal(m.update.control_delta.ndim, 2);
    /* Decoded tensors are owned and aligned, never pointers into the packet. */
    assert_int_equal((uintptr_t)m.update.rows.data % 64, 0);
    msg_clear(&m);
    /* msg_clear leaves a zeroed message that can be cleared again. */
    assert_int_equal(m.type, MSG_NONE);
    assert_null(m.update.rows.data);
    msg_clear(&m);
}

/* The fields of a few central types, checked one by one after a round trip. */
static void train_fields_survive(void **state)
{
    (void)state;
    msg_t a, b;
    assert_int_equal(msg_init(&a, MSG_TRAIN, "run-1", "coordinator", NULL), FP_OK);
    a.round = 12;
    assert_int_equal(msg_u32s_alloc(&a.train.layers, 2, NULL), FP_OK);
    a.train.layers.v[0] = 0;
    a.train.layers.v[1] = 5;
    const uint32_t shape[4] = {5, 2, 2, 4};
    float src[80];
    for (int i = 0; i < 80; i++)
        src[i] = (float)i * 0.25f - 7.0f;
    assert_int_equal(msg_tensor_copy(&a.train.rows, 4, shape, src, NULL), FP_OK);
    a.train.deadline_ms = 30000;
    a.train.epochs = 2;
    a.train.max_steps = 0;
    a.train.batch = 8;
    a.train.lr = 0.04;
    a.train.lr_step = 3;
    a.train.lr_total = 400;
    a.train.prox_mu = 0.0;
    a.train.seed = UINT64_MAX;
    uint8_t *buf;
    size_t len;
    encode_ok(&a, &buf, &len);
    /* A first attempt is encoded without the key, exactly as before the key existed. */
    assert_null(memmem(buf, len, "attempt", 7));
    size_t first_len = len;
    free(buf);
    a.train.attempt = 3;
    encode_ok(&a, &buf, &len);
    assert_int_equal(len, first_len + 1 + 7 + 1); /* fixstr "attempt", positive fixint 3 */
    decode_ok(buf, len, &b);
    free(buf);
    assert_int_equal(b.train.attempt, 3);
    assert_int_equal(b.type, MSG_TRAIN);
    assert_string_equal(b.run, "run-1");
    assert_string_equal(b.from, "coordinator");
    assert_int_equal(b.round, 12);
    assert_int_equal(b.train.layers.n, 2);
    assert_int_equal(b.train.layers.v[1], 5);
    assert_int_equal(b.train.rows.ndim, 4);
    assert_memory_equal(b.train.rows.shape, shape, sizeof shape);
    assert_memory_equal(b.train.rows.data, src, sizeof src);
    assert_int_equal(b.train.control.ndim, 0);
    assert_null(b.train.control.data);
    assert_int_equal(b.train.deadline_ms, 30000);
    assert_int_equal(b.train.epochs, 2);
    assert_int_equal(b.train.batch, 8);
    assert_true(b.train.lr == 0.04);
    assert_int_equal(b.train.lr_step, 3);
    assert_int_equal(b.train.lr_total, 400);
    assert_true(b.train.seed == UINT64_MAX);
    msg_clear(&a);
    msg_clear(&b);
}

static void eval_reply_and_save_fields_survive(void **state)
{
    (void)state;
    msg_t a, b;
    assert_int_equal(msg_sample(&a, MSG_EVAL_REPLY, 5, true, NULL), FP_OK);
    uint8_t *buf;
    size_t len;
    encode_ok(&a, &buf, &len);
    decode_ok(buf, len, &b);
    free(buf);
    assert_int_equal(b.eval_reply.classes, 2);
    assert_int_equal(b.eval_reply.n, 100);
    assert_int_equal(b.eval_reply.confusion.n, 4);
    assert_int_equal(b.eval_reply.confusion.v[0], 40);
    assert_int_equal(b.eval_reply.confusion.v[3], 48);
    msg_clear(&a);
    msg_clear(&b);

    assert_int_equal(msg_sample(&a, MSG_SAVE, 5, true, NULL), FP_OK);
    encode_ok(&a, &buf, &len);
    decode_ok(buf, len, &b);
    free(buf);
    assert_int_equal(b.save.clients.n, 4);
    assert_int_equal(b.save.clients.v[2].client, 23);
    assert_true(b.save.eval_mcc == 0.74);
    assert_int_equal(b.save.clients.v[2].status, MSG_CLIENT_DROPPED);
    assert_int_equal(b.save.clients.v[3].status, MSG_CLIENT_LATE);
    assert_int_equal(b.save.server_state.n, 48);
    assert_memory_equal(b.save.server_state.data, a.save.server_state.data, 48);
    assert_memory_equal(b.save.rng, a.save.rng, sizeof a.save.rng);
    assert_true(b.save.evaluated);
    assert_int_equal(b.save.status, MSG_ROUND_FAILED);
    assert_int_equal(b.save.retries, 1);
    assert_string_equal(b.save.reason, a.save.reason);
    msg_clear(&a);
    msg_clear(&b);

    /* A failed run's reason, and a final ERROR. */
    assert_int_equal(msg_sample(&a, MSG_RUN, 5, true, NULL), FP_OK);
    encode_ok(&a, &buf, &len);
    decode_ok(buf, len, &b);
    free(buf);
    assert_int_equal(b.run_row.status, MSG_RUN_FAILED);
    assert_string_equal(b.run_row.reason, a.run_row.reason);
    msg_clear(&a);
    msg_clear(&b);
    assert_int_equal(msg_sample(&a, MSG_ERROR, 5, false, NULL), FP_OK);
    encode_ok(&a, &buf, &len);
    assert_null(memmem(buf, len, "final", 5)); /* false is absent */
    free(buf);
    a.error.final = true;
    encode_ok(&a, &buf, &len);
    decode_ok(buf, len, &b);
    free(buf);
    assert_true(b.error.final);
    msg_clear(&a);
    msg_clear(&b);
}

/* The encoder refuses what the decoder would refuse, and says which field. */
static void encoder_refuses_invalid_messages(void **state)
{
    (void)state;
    msg_t m;
    fp_error err = {0};
    uint8_t *buf = (uint8_t *)"not touched";
    size_t len = 99;
    assert_int_equal(msg_sample(&m, MSG_UPDATE, 1, false, NULL), FP_OK);
    m.update.rows.data[2] = NAN;
    assert_int_equal(msg_encode(&m, NULL, &buf, &len, &err), FP_ENUMERIC);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, "UPDATE.rows"));
    m.update.rows.data[2] = 0;
    m.update.n = 0;
    assert_int_equal(msg_encode(&m, NULL, &buf, &len, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "UPDATE.n"));
    msg_clear(&m);

    assert_int_equal(msg_init(&m, MSG_HEARTBEAT, "run", "bad id!", &err), FP_EINVAL);
    assert_int_equal(msg_init(&m, MSG_HEARTBEAT, "run", "", &err), FP_EINVAL);
    assert_int_equal(msg_init(&m, MSG_NONE, "run", "a", &err), FP_EINVAL);
    char long_id[80];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[79] = 0;
    assert_int_equal(msg_init(&m, MSG_HEARTBEAT, long_id, "a", &err), FP_EINVAL);

    /* A message bigger than the limit is refused at encode time. */
    assert_int_equal(msg_sample(&m, MSG_TRAIN, 1, true, NULL), FP_OK);
    msg_limits lim = msg_limits_default();
    lim.max_message_bytes = 100;
    assert_int_equal(msg_encode(&m, &lim, &buf, &len, &err), FP_ELIMIT);
    assert_null(buf);
    msg_clear(&m);
}

static void replies_answer_their_request(void **state)
{
    (void)state;
    msg_t req, reply;
    assert_int_equal(msg_sample(&req, MSG_SAVE, 8, true, NULL), FP_OK);
    assert_int_equal(msg_reply_init(&reply, MSG_SAVED, &req, "store", NULL), FP_OK);
    assert_string_equal(reply.run, req.run);
    assert_string_equal(reply.from, "store");
    assert_true(reply.re == req.seq);
    assert_int_equal(reply.round, req.round);
    assert_int_equal(reply.seq, 0);
    reply.saved.answers = MSG_SAVE;
    assert_int_equal(msg_validate(&reply, NULL, NULL), FP_OK);
    msg_clear(&reply);
    /* A reply type without a round does not inherit one. */
    assert_int_equal(msg_reply_init(&reply, MSG_HEARTBEAT, &req, "store", NULL), FP_OK);
    assert_int_equal(reply.round, 0);
    fp_error err = {0};
    assert_int_equal(msg_reply_init(&reply, MSG_SAVED, &req, "not an id", &err), FP_EINVAL);
    msg_clear(&req);
}

static void heap_messages_are_destroyed_once(void **state)
{
    (void)state;
    msg_t *m = msg_new();
    assert_non_null(m);
    assert_int_equal(msg_sample(m, MSG_STATE, 3, true, NULL), FP_OK);
    msg_destroy(&m);
    assert_null(m);
    msg_destroy(&m);
    msg_destroy(NULL);
}

/* docs/protocol.md is the reference for other implementations: every type has a section and
 * every key of its body (and of its records) is named there, in backquotes. */
static char *read_doc(void)
{
    const char *candidates[] = {"docs/protocol.md", "../docs/protocol.md", "../../docs/protocol.md",
                                "../../../docs/protocol.md"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        FILE *f = fopen(candidates[i], "rb");
        if (!f)
            continue;
        char *text = calloc(1, 1 << 20);
        assert_non_null(text);
        size_t n = fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
        text[n] = 0;
        return text;
    }
    fail_msg("docs/protocol.md not found from the current directory");
    return NULL;
}

static void doc_names_every_key(void **state)
{
    (void)state;
    char *doc = read_doc();
    for (int t = 1; t < MSG_TYPE_COUNT; t++) {
        const schema_t *s = msg_schema_of((msg_type)t);
        char heading[64];
        snprintf(heading, sizeof heading, "\n### %s ", s->name);
        char *start = strstr(doc, heading);
        if (!start) {
            fail_msg("docs/protocol.md has no section '### %s'", s->name);
            continue;
        }
        char *end = strstr(start + 1, "\n### ");
        char *after = end ? end : start + strlen(start);
        char saved = *after;
        *after = 0; /* search within the section only */
        for (size_t i = 0; i < s->n_fields; i++) {
            const field_t *f = &s->fields[i];
            char key[80];
            snprintf(key, sizeof key, "`%s`", f->key);
            if (!strstr(start, key))
                fail_msg("docs/protocol.md: %s does not document %s", s->name, key);
            for (size_t k = 0; f->sub && k < f->sub->n_fields; k++) {
                snprintf(key, sizeof key, "`%s`", f->sub->fields[k].key);
                if (!strstr(start, key))
                    fail_msg("docs/protocol.md: %s.%s does not document %s", s->name, f->key, key);
            }
        }
        assert_true(msg_type_has_round((msg_type)t) == (strstr(start, "*round*") != NULL));
        *after = saved;
    }
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_round_trips),
        cmocka_unit_test(names_are_complete_and_unique),
        cmocka_unit_test(equality_sees_every_field),
        cmocka_unit_test(independent_packer_update_decodes),
        cmocka_unit_test(train_fields_survive),
        cmocka_unit_test(eval_reply_and_save_fields_survive),
        cmocka_unit_test(encoder_refuses_invalid_messages),
        cmocka_unit_test(replies_answer_their_request),
        cmocka_unit_test(heap_messages_are_destroyed_once),
        cmocka_unit_test(doc_names_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
