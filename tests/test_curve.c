/* test_curve.c — CurveZMQ on the broker's socket (messages/curve.h, [broker] curve_dir):
 *   - `fedpep keygen`'s folder: a key pair per actor, the allow-list of public keys bound to
 *     their ids, secrets readable by their owner only, keys kept when run again;
 *   - the broker accepts only allow-listed keys (a plain peer and an unlisted key get no
 *     answer at all: zauth refuses them in the handshake), and a listed key registers only the
 *     id its certificate names; the real actor loop registers with its key;
 *   - no plaintext crosses the wire: a TCP relay between a peer and the broker records every
 *     byte while a message carrying a marker goes through; the marker arrives, and is absent
 *     from the recording with CURVE on and present without it (so the recording can tell). */
#include "tests/support/test.h"
#include "tests/test_broker_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/actor.h"
#include "messages/curve.h"

#define MARKER "PLAINTEXT-MARKER-19"

static char g_keys[140];

static void keygen_writes_pairs_and_an_allow_list(void **state)
{
    (void)state;
    char path[400];
    struct stat st;
    static const char *const IDS[] = {"broker",    "coordinator", "store",
                                      "evaluator", "client.0",    "client.1"};
    for (size_t i = 0; i < sizeof IDS / sizeof IDS[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.cert_secret", g_keys, IDS[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 077, 0); /* the owner's alone */
        snprintf(path, sizeof path, "%s/allow/%s.cert", g_keys, IDS[i]);
        assert_int_equal(access(path, F_OK) == 0, strcmp(IDS[i], "broker") != 0);
        snprintf(path, sizeof path, "%s/allow/%s.cert_secret", g_keys, IDS[i]);
        assert_int_not_equal(access(path, F_OK), 0); /* no secret in the allow-list */
    }
    snprintf(path, sizeof path, "%s/allow/client.1.cert", g_keys);
    zcert_t *c = zcert_load(path);
    assert_non_null(c);
    assert_string_equal(zcert_meta(c, CURVE_META_ID), "client.1");
    assert_string_equal(zcert_meta(c, CURVE_META_ROLE), "client");
    char before[41];
    snprintf(before, sizeof before, "%s", zcert_public_txt(c));
    zcert_destroy(&c);
    /* Again, with one more client: the existing keys stay. */
    fp_error err = {0};
    assert_int_equal(curve_keygen(g_keys, 3, &err), FP_OK);
    c = zcert_load(path);
    assert_non_null(c);
    assert_string_equal(zcert_public_txt(c), before);
    zcert_destroy(&c);
    snprintf(path, sizeof path, "%s/allow/client.2.cert", g_keys);
    assert_int_equal(access(path, F_OK), 0);
}

static zactor_t *curve_broker(const char *keys, char *ep, size_t n)
{
    broker_options_t o;
    broker_options_defaults(&o);
    snprintf(o.endpoint, sizeof o.endpoint, "tcp://127.0.0.1:*");
    snprintf(o.curve_dir, sizeof o.curve_dir, "%s", keys ? keys : "");
    o.heartbeat_ms = 1000;
    o.liveness = 30;
    fp_error err = {0};
    zactor_t *b = broker_start(&o, ep, n, &err);
    if (!b)
        fail_msg("broker_start: %s", err.msg);
    return b;
}

/* A raw peer holding the key pair of `key_id` (NULL: a fresh key nobody listed; "": no CURVE). */
static void curve_open(raw_peer_t *p, const char *ep, const char *key_id)
{
    memset(p, 0, sizeof *p);
    p->sock = zsock_new(ZMQ_DEALER);
    assert_non_null(p->sock);
    zsock_set_rcvtimeo(p->sock, 1000);
    zsock_set_linger(p->sock, 0);
    fp_error err = {0};
    if (key_id && key_id[0]) {
        assert_int_equal(curve_client_setup(p->sock, g_keys, key_id, &err), FP_OK);
    } else if (!key_id) {
        char path[400];
        snprintf(path, sizeof path, "%s/broker.cert", g_keys);
        zcert_t *broker = zcert_load(path), *stranger = zcert_new();
        assert_non_null(broker);
        zcert_apply(stranger, p->sock);
        zsock_set_curve_serverkey(p->sock, zcert_public_txt(broker));
        zcert_destroy(&broker);
        zcert_destroy(&stranger);
    }
    assert_int_equal(zsock_connect(p->sock, "%s", ep), 0);
}

static void only_listed_keys_register_as_their_own_id(void **state)
{
    (void)state;
    char ep[150];
    zactor_t *broker = curve_broker(g_keys, ep, sizeof ep);
    raw_peer_t coord, plain, stranger, thief;
    curve_open(&coord, ep, "coordinator");
    assert_int_equal(raw_hello(&coord, "coordinator", MSG_ROLE_COORDINATOR, 0, NULL), MSG_WELCOME);

    curve_open(&plain, ep, "");
    assert_int_equal(raw_hello(&plain, "client.1", MSG_ROLE_CLIENT, 1, NULL), MSG_NONE);
    curve_open(&stranger, ep, NULL);
    assert_int_equal(raw_hello(&stranger, "client.1", MSG_ROLE_CLIENT, 1, NULL), MSG_NONE);
    /* client.0's key cannot register client.1, nor the coordinator. */
    curve_open(&thief, ep, "client.0");
    assert_int_equal(raw_hello(&thief, "client.1", MSG_ROLE_CLIENT, 1, NULL), MSG_ERROR);
    assert_int_equal(raw_hello(&thief, "store", MSG_ROLE_STORE, 0, NULL), MSG_ERROR);
    assert_int_equal(broker_actor_stats(broker).refused, 2);
    assert_int_equal(broker_actor_stats(broker).registered, 1);
    /* The plain peer and the stranger were refused in the handshake, and counted (libzmq
     * retries them, so at least once each). */
    for (int i = 0; i < 100 && broker_actor_stats(broker).unauthenticated < 2; i++)
        zclock_sleep(20);
    assert_true(broker_actor_stats(broker).unauthenticated >= 2);

    /* The actor loop with its key registers (the coordinator hears of it). */
    actor_options_t o;
    actor_options_defaults(&o);
    snprintf(o.endpoint, sizeof o.endpoint, "%s", ep);
    snprintf(o.id, sizeof o.id, "client.1");
    snprintf(o.curve_dir, sizeof o.curve_dir, "%s", g_keys);
    o.role = MSG_ROLE_CLIENT;
    o.index = 1;
    static const actor_role_t NOTHING = {.name = "nothing"};
    actor_result_t result;
    zactor_t *actor = actor_spawn(&o, &NOTHING, NULL, &result);
    assert_non_null(actor);
    zsock_set_rcvtimeo(coord.sock, 5000);
    raw_expect_peer(&coord, "client.1", true);
    zactor_destroy(&actor);
    assert_int_equal(result.status, FP_OK);
    /* Without its key file the actor does not start. */
    snprintf(o.id, sizeof o.id, "client.9");
    o.index = 9;
    fp_error err = {0};
    assert_int_equal(actor_run(&o, &NOTHING, NULL, NULL, &err), FP_EIO);
    assert_non_null(strstr(err.msg, "client.9.cert_secret"));

    raw_close(&thief);
    raw_close(&stranger);
    raw_close(&plain);
    raw_close(&coord);
    zactor_destroy(&broker);
}

/* ---- a TCP relay that records what crosses it ---- */

typedef struct relay {
    int listener, port, target_port;
    pthread_t thread;
    volatile int stop;
    char *seen; /* every byte both ways */
    size_t n, cap;
} relay_t;

static void *relay_main(void *arg)
{
    relay_t *r = arg;
    int a = accept(r->listener, NULL, NULL);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->target_port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int b = socket(AF_INET, SOCK_STREAM, 0);
    if (a < 0 || b < 0 || connect(b, (struct sockaddr *)&to, sizeof to)) {
        r->stop = 2;
        return NULL;
    }
    struct pollfd fds[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    char buf[65536];
    while (!r->stop && poll(fds, 2, 50) >= 0)
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                r->stop = 1;
                break;
            }
            if (write(fds[1 - i].fd, buf, (size_t)got) != got)
                r->stop = 1;
            size_t room = r->cap - r->n, take = (size_t)got < room ? (size_t)got : room;
            memcpy(r->seen + r->n, buf, take);
            r->n += take;
        }
    close(a);
    close(b);
    return NULL;
}

static void relay_start(relay_t *r, const char *broker_ep)
{
    memset(r, 0, sizeof *r);
    const char *colon = strrchr(broker_ep, ':');
    assert_non_null(colon);
    r->target_port = atoi(colon + 1);
    r->cap = 1 << 20;
    r->seen = malloc(r->cap);
    assert_non_null(r->seen);
    r->listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in at = {.sin_family = AF_INET};
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof at;
    assert_int_equal(bind(r->listener, (struct sockaddr *)&at, sizeof at), 0);
    assert_int_equal(listen(r->listener, 1), 0);
    assert_int_equal(getsockname(r->listener, (struct sockaddr *)&at, &len), 0);
    r->port = ntohs(at.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(relay_t *r)
{
    r->stop = 1;
    shutdown(r->listener, SHUT_RDWR); /* wakes accept() if nobody came */
    pthread_join(r->thread, NULL);
    close(r->listener);
}

/* The coordinator, through the relay, sends client.0 an ERROR whose text is MARKER; client.0
 * receives it. Returns whether the relay saw the marker in clear. */
static bool marker_seen_on_the_wire(const char *keys)
{
    char ep[150], via[64];
    zactor_t *broker = curve_broker(keys, ep, sizeof ep);
    relay_t r;
    relay_start(&r, ep);
    snprintf(via, sizeof via, "tcp://127.0.0.1:%d", r.port);
    raw_peer_t coord, client;
    curve_open(&coord, via, keys ? "coordinator" : "");
    curve_open(&client, ep, keys ? "client.0" : "");
    assert_int_equal(raw_hello(&coord, "coordinator", MSG_ROLE_COORDINATOR, 0, NULL), MSG_WELCOME);
    assert_int_equal(raw_hello(&client, "client.0", MSG_ROLE_CLIENT, 0, NULL), MSG_WELCOME);
    msg_t m;
    assert_int_equal(msg_init(&m, MSG_ERROR, "t", "coordinator", NULL), FP_OK);
    m.error.code = FP_EINVAL;
    assert_int_equal(msg_set_text(&m.error.text, MARKER, NULL), FP_OK);
    raw_send(&coord, "client.0", &m);
    msg_clear(&m);
    raw_expect(&client, MSG_ERROR, &m);
    assert_string_equal(m.error.text, MARKER); /* it did travel */
    msg_clear(&m);
    raw_close(&coord);
    raw_close(&client);
    relay_stop(&r);
    zactor_destroy(&broker);
    assert_int_not_equal(r.stop, 2);
    assert_true(r.n > 0);
    bool seen = memmem(r.seen, r.n, MARKER, strlen(MARKER)) != NULL;
    free(r.seen);
    return seen;
}

static void no_plaintext_crosses_the_wire(void **state)
{
    (void)state;
    assert_true(marker_seen_on_the_wire(NULL)); /* the recording can tell */
    assert_false(marker_seen_on_the_wire(g_keys));
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_keys, sizeof g_keys, "%s/keys", test_tmpdir("curve"));
    fp_error err = {0};
    if (curve_keygen(g_keys, 2, &err))
        fail_msg("keygen: %s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *slash = strrchr(g_keys, '/');
    *slash = 0;
    test_rmtree(g_keys);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keygen_writes_pairs_and_an_allow_list),
        cmocka_unit_test(only_listed_keys_register_as_their_own_id),
        cmocka_unit_test(no_plaintext_crosses_the_wire),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
