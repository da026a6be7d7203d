/* test_broker_fixture.h — shared by the tests that talk to a real broker (test_broker.c,
 * test_actor.c, the role tests): a broker in a thread on an ephemeral port with fast heartbeats,
 * "raw" peers — bare DEALER sockets driven frame by frame, so tests control exactly what goes on
 * the wire — and the options of a role under test. */
#ifndef FEDPEP_TESTS_TEST_BROKER_FIXTURE_H
#define FEDPEP_TESTS_TEST_BROKER_FIXTURE_H

#include "tests/support/test.h"

#include <czmq.h>

#include "actors/actor.h"
#include "broker/broker.h"
#include "messages/envelope.h"
#include "messages/protocol.h"

#define FAST_HEARTBEAT_MS 100
#define FAST_LIVENESS 5

static inline zactor_t *fixture_broker(const char *endpoint, int hwm, size_t max_bytes, uint32_t hb,
                                       uint32_t liveness, char *bound, size_t n)
{
    broker_options_t o;
    broker_options_defaults(&o);
    const char *ep = endpoint ? endpoint : "tcp://127.0.0.1:*";
    assert_true(strlen(ep) < sizeof o.endpoint);
    memcpy(o.endpoint, ep, strlen(ep) + 1);
    o.hwm = hwm;
    o.heartbeat_ms = hb;
    o.liveness = liveness;
    if (max_bytes)
        o.limits.max_message_bytes = max_bytes;
    fp_error err = {0};
    zactor_t *b = broker_start(&o, bound, n, &err);
    if (!b)
        fail_msg("broker_start: %s", err.msg);
    return b;
}

static inline zactor_t *fast_broker(char *bound, size_t n)
{
    return fixture_broker(NULL, 1000, 0, FAST_HEARTBEAT_MS, FAST_LIVENESS, bound, n);
}

/* The options of a role under test on endpoint ep: its id and role, the run it names in its
 * messages (NULL: none) and a 20 ms tick, so that its deadlines and re-sends are checked often. */
static inline void fixture_actor_options(actor_options_t *o, const char *ep, const char *id,
                                         msg_role role, const char *run)
{
    actor_options_defaults(o);
    snprintf(o->endpoint, sizeof o->endpoint, "%s", ep);
    snprintf(o->id, sizeof o->id, "%s", id);
    if (run)
        snprintf(o->run, sizeof o->run, "%s", run);
    o->role = role;
    o->tick_ms = 20;
}

/* A raw peer: a DEALER with a receive timeout, and its own sequence counter. */
typedef struct raw_peer {
    zsock_t *sock;
    char id[MSG_ID_CAP];
    uint64_t seq;
    bool lenient; /* skip undecodable payloads (other peers' garbage, forwarded opaquely) */
} raw_peer_t;

/* rcvhwm: how many messages may wait for us (set before connecting, so it counts). */
static inline void raw_open_hwm(raw_peer_t *p, const char *endpoint, const char *id, int rcvhwm)
{
    memset(p, 0, sizeof *p);
    p->sock = zsock_new(ZMQ_DEALER);
    assert_non_null(p->sock);
    zsock_set_rcvhwm(p->sock, rcvhwm);
    zsock_set_rcvtimeo(p->sock, 3000);
    zsock_set_linger(p->sock, 0);
    assert_int_equal(zsock_connect(p->sock, "%s", endpoint), 0);
    snprintf(p->id, sizeof p->id, "%s", id);
}

static inline void raw_open(raw_peer_t *p, const char *endpoint, const char *id)
{
    raw_open_hwm(p, endpoint, id, 1000);
}

static inline void raw_close(raw_peer_t *p)
{
    zsock_destroy(&p->sock);
}

/* Fills the header (from, seq) and sends [to][payload]. Returns the seq used. */
static inline uint64_t raw_send(raw_peer_t *p, const char *to, msg_t *m)
{
    memcpy(m->from, p->id, sizeof m->from);
    m->seq = ++p->seq;
    fp_error err = {0};
    if (envelope_send_msg(p->sock, NULL, to, m, NULL, NULL, NULL, &err))
        fail_msg("raw_send: %s", err.msg);
    return m->seq;
}

static inline uint64_t raw_say(raw_peer_t *p, const char *to, msg_type type)
{
    msg_t m;
    assert_int_equal(msg_init(&m, type, "", p->id, NULL), FP_OK);
    if (type == MSG_DIRECTORY_REQUEST)
        m.directory_request.role = MSG_ROLE_ANY;
    uint64_t seq = raw_send(p, to, &m);
    msg_clear(&m);
    return seq;
}

/* Receives one message (any type but HEARTBEAT, which is answered so we stay alive); source gets
 * the sender id. Returns false on timeout. */
static inline bool raw_recv(raw_peer_t *p, char *source, msg_t *out)
{
    for (;;) {
        zmsg_t *msg = zmsg_recv(p->sock);
        if (!msg)
            return false;
        assert_int_equal(zmsg_size(msg), 2);
        zframe_t *src = zmsg_first(msg);
        zframe_t *payload = zmsg_next(msg);
        char id[MSG_ID_CAP];
        assert_true(envelope_frame_id(src, id));
        fp_error err = {0};
        fp_status st = msg_decode(zframe_data(payload), zframe_size(payload), NULL, out, &err);
        zmsg_destroy(&msg);
        if (st && p->lenient)
            continue;
        if (st)
            fail_msg("raw_recv: undecodable from %s: %s", id, err.msg);
        if (out->type == MSG_HEARTBEAT) {
            msg_clear(out);
            raw_say(p, ENVELOPE_BROKER_ID, MSG_HEARTBEAT);
            continue;
        }
        if (source)
            snprintf(source, MSG_ID_CAP, "%s", id);
        return true;
    }
}

/* Receives until a message of `type` arrives (others are dropped); fails the test on timeout. */
static inline void raw_expect(raw_peer_t *p, msg_type type, msg_t *out)
{
    for (;;) {
        if (!raw_recv(p, NULL, out))
            fail_msg("%s: timed out waiting for %s", p->id, msg_type_name(type));
        if (out->type == type)
            return;
        msg_clear(out);
    }
}

/* Sends HELLO as id (role, index) on the open peer p (whose id becomes id) and returns the
 * broker's answer: MSG_WELCOME, or MSG_ERROR with its code in *code (may be NULL); MSG_NONE when
 * nothing came within p's receive timeout. Other messages are skipped. */
static inline msg_type raw_hello(raw_peer_t *p, const char *id, msg_role role, uint32_t index,
                                 fp_status *code)
{
    msg_t m;
    assert_int_equal(msg_init(&m, MSG_HELLO, "", id, NULL), FP_OK);
    m.hello.role = role;
    m.hello.index = index;
    m.hello.pid = 1;
    assert_int_equal(msg_set_id(m.hello.software, "test", NULL), FP_OK);
    snprintf(p->id, sizeof p->id, "%s", id);
    raw_send(p, ENVELOPE_BROKER_ID, &m);
    msg_clear(&m);
    for (;;) {
        if (!raw_recv(p, NULL, &m))
            return MSG_NONE;
        msg_type t = m.type;
        if (t == MSG_WELCOME)
            assert_true(m.welcome.heartbeat_ms > 0);
        if (t == MSG_ERROR && code)
            *code = m.error.code;
        msg_clear(&m);
        if (t == MSG_WELCOME || t == MSG_ERROR)
            return t;
    }
}

/* Registers with HELLO and waits for WELCOME. */
static inline void raw_register_hwm(raw_peer_t *p, const char *endpoint, const char *id,
                                    msg_role role, uint32_t index, int rcvhwm)
{
    raw_open_hwm(p, endpoint, id, rcvhwm);
    if (raw_hello(p, id, role, index, NULL) != MSG_WELCOME)
        fail_msg("%s: HELLO refused", id);
}

static inline void raw_register(raw_peer_t *p, const char *endpoint, const char *id, msg_role role,
                                uint32_t index)
{
    raw_register_hwm(p, endpoint, id, role, index, 1000);
}

/* Waits for PEER_STATE about `id` with the given alive flag (other notices are skipped). */
static inline void raw_expect_peer(raw_peer_t *p, const char *id, bool alive)
{
    for (;;) {
        msg_t m;
        raw_expect(p, MSG_PEER_STATE, &m);
        bool match = !strcmp(m.peer_state.id, id) && m.peer_state.alive == alive;
        msg_clear(&m);
        if (match)
            return;
    }
}

#endif
