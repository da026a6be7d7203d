/* test_actor.c — the common actor loop against a real broker: registration, dispatch and replies,
 * refusal of bad input, heartbeats during a long callback, watched peers, broker restart and
 * reconnection, giving up, and a clean exit with BYE on SIGTERM (in a child process). */
#include "tests/test_broker_fixture.h"

#include "messages/permissions.h"

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/actor.h"

/* ---- a test role: answers SCORE_REQUEST, stops on BYE from anyone but the broker ---- */

typedef struct echo {
    pthread_mutex_t lock; /* the role runs in the actor's thread; the test reads from its own */
    int starts;
    int reconnects;
    int answered;
    int peers_at_start;
    uint64_t bytes_from_coordinator;
    char events[512]; /* "+id -id " in order, from on_peer */
    int sleep_ms;     /* per request, to simulate a long computation */
} echo_t;

static fp_status echo_start(void *self, actor_t *actor, bool reconnected, fp_error *err)
{
    echo_t *e = self;
    pthread_mutex_lock(&e->lock);
    e->starts++;
    e->reconnects += reconnected;
    e->peers_at_start = (int)actor_peers(actor)->n;
    pthread_mutex_unlock(&e->lock);
    return FP_OK;
}

static fp_status echo_message(void *self, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err)
{
    echo_t *e = self;
    if (msg->type == MSG_BYE && strcmp(msg->from, ENVELOPE_BROKER_ID)) {
        actor_stop(actor, 0);
        return FP_OK;
    }
    if (msg->type != MSG_SCORE_REQUEST)
        return FP_OK;
    if (e->sleep_ms)
        zclock_sleep(e->sleep_ms);
    msg_t reply;
    fp_status st = msg_init(&reply, MSG_SCORE_REPLY, "", actor_id(actor), err);
    if (!st)
        st = msg_f64s_alloc(&reply.score_reply.scores, 1, err);
    if (!st) {
        reply.score_reply.scores.v[0] = 0.5;
        reply.score_reply.n = 1;
        reply.score_reply.batch = 1;
        st = actor_reply(actor, msg, &reply, err);
    }
    msg_clear(&reply);
    pthread_mutex_lock(&e->lock);
    e->answered++;
    actor_peer_bytes(actor, "coordinator", NULL, &e->bytes_from_coordinator);
    pthread_mutex_unlock(&e->lock);
    return st;
}

static fp_status echo_peer(void *self, actor_t *actor, const msg_peer_t *peer, bool alive,
                           fp_error *err)
{
    echo_t *e = self;
    pthread_mutex_lock(&e->lock);
    size_t n = strlen(e->events);
    snprintf(e->events + n, sizeof e->events - n, "%c%s ", alive ? '+' : '-', peer->id);
    pthread_mutex_unlock(&e->lock);
    return FP_OK;
}

static const actor_role_t ECHO = {
    .name = "echo",
    .on_start = echo_start,
    .on_message = echo_message,
    .on_peer = echo_peer,
};

static int echo_get(echo_t *e, const int *field)
{
    pthread_mutex_lock(&e->lock);
    int v = *field;
    pthread_mutex_unlock(&e->lock);
    return v;
}

/* Waits until *field >= want (up to 5 s). */
static void echo_wait(echo_t *e, const int *field, int want)
{
    for (int i = 0; i < 500 && echo_get(e, field) < want; i++)
        zclock_sleep(10);
    assert_true(echo_get(e, field) >= want);
}

/* ---- running actor_run in a thread ---- */

typedef struct running {
    pthread_t thread;
    actor_options_t opt;
    echo_t *echo;
    fp_status status;
    int exit_code;
    fp_error err;
} running_t;

static void *run_main(void *arg)
{
    running_t *r = arg;
    r->status = actor_run(&r->opt, &ECHO, r->echo, &r->exit_code, &r->err);
    return NULL;
}

static void echo_options(actor_options_t *o, const char *ep, const char *id, msg_role role)
{
    actor_options_defaults(o);
    assert_true(strlen(ep) < sizeof o->endpoint);
    memcpy(o->endpoint, ep, strlen(ep) + 1);
    snprintf(o->id, sizeof o->id, "%s", id);
    o->role = role;
    msg_id_role(id, &o->index); /* the broker registers client.K only as client K */
    o->tick_ms = 20;
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 400;
}

static void start(running_t *r, echo_t *e)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->lock, NULL);
    r->echo = e;
    assert_int_equal(pthread_create(&r->thread, NULL, run_main, r), 0);
}

static void join(running_t *r)
{
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->echo->lock);
}

/* The coordinator asks; returns the reply's seq check. */
static void ask(raw_peer_t *coord, const char *to)
{
    msg_t m, got;
    assert_int_equal(msg_init(&m, MSG_SCORE_REQUEST, "run-1", "x", NULL), FP_OK);
    m.round = 4;
    m.score_request.batch = 8;
    uint64_t seq = raw_send(coord, to, &m);
    msg_clear(&m);
    raw_expect(coord, MSG_SCORE_REPLY, &got);
    assert_string_equal(got.from, to);
    assert_int_equal(got.re, seq);
    assert_int_equal(got.round, 4);
    assert_string_equal(got.run, "run-1");
    msg_clear(&got);
}

static void say_bye_to(raw_peer_t *from, const char *to)
{
    raw_say(from, to, MSG_BYE);
}

/* A fast broker, a raw coordinator, and an echo actor `id` it has seen join. */
typedef struct scene {
    char ep[256];
    zactor_t *broker;
    raw_peer_t coord;
    running_t r;
    echo_t e;
} scene_t;

static void scene_open(scene_t *s, const char *id, int sleep_ms)
{
    memset(s, 0, sizeof *s);
    s->broker = fast_broker(s->ep, sizeof s->ep);
    raw_register(&s->coord, s->ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    echo_options(&s->r.opt, s->ep, id, MSG_ROLE_CLIENT);
    start(&s->r, &s->e);
    s->e.sleep_ms = sleep_ms; /* read only when a request arrives, after the join below */
    raw_expect_peer(&s->coord, id, true);
}

/* Stops the actor with a BYE from the coordinator and checks it ended well. */
static void scene_close(scene_t *s)
{
    say_bye_to(&s->coord, s->r.opt.id);
    raw_expect_peer(&s->coord, s->r.opt.id, false); /* its BYE on the way out */
    join(&s->r);
    assert_int_equal(s->r.status, FP_OK);
    assert_int_equal(s->r.exit_code, 0);
    broker_stats_t st = broker_actor_stats(s->broker);
    assert_int_equal(st.departed, 1);
    assert_int_equal(st.expired, 0); /* nobody was ever presumed dead */
    raw_close(&s->coord);
    zactor_destroy(&s->broker);
}

static void registers_answers_and_leaves(void **state)
{
    (void)state;
    scene_t s;
    scene_open(&s, "client.1", 0);
    raw_peer_t *coord = &s.coord;
    ask(coord, "client.1");

    /* Garbage and a forged 'from' are refused by the actor, never seen by the role. */
    const char *garbage = "\x81\xa1v\x01";
    assert_true(zmq_send(zsock_resolve(coord->sock), "client.1", 8, ZMQ_SNDMORE) == 8);
    assert_true(zmq_send(zsock_resolve(coord->sock), garbage, 4, 0) == 4);
    msg_t got;
    raw_expect(coord, MSG_ERROR, &got);
    assert_string_equal(got.from, "client.1");
    assert_int_equal(got.error.code, FP_EFORMAT);
    msg_clear(&got);
    msg_t forged;
    assert_int_equal(msg_init(&forged, MSG_SCORE_REQUEST, "", "x", NULL), FP_OK);
    forged.score_request.batch = 1;
    memcpy(coord->id, "store", 6);
    raw_send(coord, "client.1", &forged);
    memcpy(coord->id, "coordinator", 12);
    msg_clear(&forged);
    raw_expect(coord, MSG_ERROR, &got);
    assert_int_equal(got.error.code, FP_EINVAL);
    msg_clear(&got);
    assert_int_equal(echo_get(&s.e, &s.e.answered), 1);

    scene_close(&s);
    assert_int_equal(s.e.starts, 1);
    assert_int_equal(s.e.reconnects, 0);
    assert_true(s.e.bytes_from_coordinator > 20);
}

/* The role blocks for 3 x the liveness window inside a callback; its agent thread keeps it
 * alive (scene_close checks that the broker never declared anyone dead). */
static void heartbeats_go_on_during_a_long_callback(void **state)
{
    (void)state;
    scene_t s;
    scene_open(&s, "client.2", 3 * FAST_HEARTBEAT_MS * FAST_LIVENESS);
    ask(&s.coord, "client.2");
    scene_close(&s);
}

/* ---- a second test role: the pinger asks every client that joins, once, then says BYE ---- */

typedef struct pinger {
    pthread_mutex_t lock;
    int started;
    int peers_at_start; /* watching everyone, with nobody else there: 0 (never itself) */
    int replies;
    uint64_t sent_to_client, received_from_client;
    size_t last_request_bytes, reply_bytes;
    uint64_t request_seq, reply_re;
} pinger_t;

static fp_status pinger_peer(void *self, actor_t *actor, const msg_peer_t *peer, bool alive,
                             fp_error *err)
{
    pinger_t *p = self;
    if (!alive || peer->role != MSG_ROLE_CLIENT)
        return FP_OK;
    msg_t m;
    fp_status st = msg_init(&m, MSG_SCORE_REQUEST, "", actor_id(actor), err);
    if (!st) {
        m.round = 2;
        m.score_request.batch = 4;
        st = actor_send(actor, peer->id, &m, err);
    }
    pthread_mutex_lock(&p->lock);
    p->request_seq = m.seq;
    p->last_request_bytes = actor_last_sent_bytes(actor);
    pthread_mutex_unlock(&p->lock);
    msg_clear(&m);
    return st;
}

static fp_status pinger_message(void *self, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err)
{
    pinger_t *p = self;
    if (msg->type != MSG_SCORE_REPLY)
        return FP_OK;
    pthread_mutex_lock(&p->lock);
    p->replies++;
    p->reply_re = msg->re;
    p->reply_bytes = bytes;
    actor_peer_bytes(actor, msg->from, &p->sent_to_client, &p->received_from_client);
    pthread_mutex_unlock(&p->lock);
    msg_t bye;
    fp_status st = msg_init(&bye, MSG_BYE, "", actor_id(actor), err);
    if (!st)
        st = actor_send(actor, msg->from, &bye, err);
    msg_clear(&bye);
    return st;
}

static fp_status pinger_start(void *self, actor_t *actor, bool reconnected, fp_error *err)
{
    pinger_t *p = self;
    pthread_mutex_lock(&p->lock);
    p->started++;
    p->peers_at_start = (int)actor_peers(actor)->n;
    pthread_mutex_unlock(&p->lock);
    return FP_OK;
}

static const actor_role_t PINGER = {
    .name = "pinger",
    .on_start = pinger_start,
    .on_message = pinger_message,
    .on_peer = pinger_peer,
};

/* Two real actors through the broker: the coordinator-role pinger hears the client join (a
 * PEER_STATE push), asks it, gets the reply matched by re, counts bytes both ways, and tells it
 * to stop; the client's BYE ends the exchange. */
static void two_actors_talk(void **state)
{
    (void)state;
    char ep[256];
    zactor_t *broker = fast_broker(ep, sizeof ep);
    actor_options_t po, eo;
    echo_options(&po, ep, "coordinator", MSG_ROLE_COORDINATOR);
    echo_options(&eo, ep, "client.9", MSG_ROLE_CLIENT);
    eo.index = 9;
    po.watch_peers = true; /* everyone: the directory then lists the pinger itself too */
    pinger_t p = {0};
    echo_t e = {0};
    pthread_mutex_init(&p.lock, NULL);
    pthread_mutex_init(&e.lock, NULL);
    actor_result_t pr, er;
    zactor_t *pinger = actor_spawn(&po, &PINGER, &p, &pr);
    for (int i = 0; i < 300; i++) {
        pthread_mutex_lock(&p.lock);
        int started = p.started;
        pthread_mutex_unlock(&p.lock);
        if (started)
            break;
        zclock_sleep(10);
    }
    zactor_t *echo = actor_spawn(&eo, &ECHO, &e, &er);
    for (int i = 0; i < 500 && broker_actor_stats(broker).departed < 1; i++)
        zclock_sleep(10); /* until the client has said BYE */
    zactor_destroy(&echo);
    zactor_destroy(&pinger);
    assert_int_equal(er.status, FP_OK);
    assert_int_equal(er.exit_code, 0);
    assert_int_equal(pr.status, FP_OK);
    assert_int_equal(p.started, 1);
    assert_int_equal(p.peers_at_start, 0);
    assert_int_equal(p.replies, 1);
    assert_int_equal(p.reply_re, p.request_seq);
    assert_true(p.last_request_bytes > 0);
    assert_int_equal(p.sent_to_client, p.last_request_bytes); /* counted when the reply came */
    assert_int_equal(p.received_from_client, p.reply_bytes);
    assert_int_equal(e.answered, 1);
    assert_int_equal(e.bytes_from_coordinator, p.last_request_bytes); /* same bytes, both ends */
    broker_stats_t s = broker_actor_stats(broker);
    assert_int_equal(s.forwarded, 3); /* request, reply, BYE */
    assert_int_equal(s.expired, 0);
    pthread_mutex_destroy(&p.lock);
    pthread_mutex_destroy(&e.lock);
    zactor_destroy(&broker);
}

/* actor_spawn: the same loop in a zactor; zactor_destroy stops it cleanly, with BYE. */
static void spawned_actor_stops_on_destroy(void **state)
{
    (void)state;
    char ep[256];
    zactor_t *broker = fast_broker(ep, sizeof ep);
    raw_peer_t coord;
    raw_register(&coord, ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    actor_options_t o;
    echo_options(&o, ep, "client.5", MSG_ROLE_CLIENT);
    echo_t e = {0};
    pthread_mutex_init(&e.lock, NULL);
    actor_result_t result;
    zactor_t *actor = actor_spawn(&o, &ECHO, &e, &result);
    assert_non_null(actor);
    raw_expect_peer(&coord, "client.5", true);
    ask(&coord, "client.5");
    zactor_destroy(&actor);
    raw_expect_peer(&coord, "client.5", false);
    assert_int_equal(result.status, FP_OK);
    assert_int_equal(result.exit_code, 0);
    broker_stats_t s = broker_actor_stats(broker);
    assert_int_equal(s.departed, 1);
    assert_int_equal(s.expired, 0);
    pthread_mutex_destroy(&e.lock);
    raw_close(&coord);
    zactor_destroy(&broker);
}

static void watcher_sees_joins_and_departures(void **state)
{
    (void)state;
    char ep[256];
    /* A 2 s liveness window: the raw peers do not answer heartbeats while the test waits. */
    zactor_t *broker = fixture_broker(NULL, 1000, 0, 200, 10, ep, sizeof ep);
    raw_peer_t c1, c2, c3, ev;
    raw_register(&c1, ep, "client.1", MSG_ROLE_CLIENT, 1);
    raw_register(&c2, ep, "client.2", MSG_ROLE_CLIENT, 2);
    raw_register(&ev, ep, "store", MSG_ROLE_STORE, 0);
    running_t r = {0};
    echo_t e;
    echo_options(&r.opt, ep, "evaluator", MSG_ROLE_EVALUATOR);
    r.opt.watch_peers = true;
    r.opt.watch_role = MSG_ROLE_CLIENT;
    start(&r, &e);
    echo_wait(&e, &e.starts, 1);
    assert_int_equal(echo_get(&e, &e.peers_at_start), 2); /* known before on_start */
    raw_register(&c3, ep, "client.3", MSG_ROLE_CLIENT, 3);
    raw_say(&c2, ENVELOPE_BROKER_ID, MSG_BYE);
    raw_close(&c2);
    for (int i = 0; i < 300; i++) {
        pthread_mutex_lock(&e.lock);
        bool done = strstr(e.events, "-client.2") != NULL;
        pthread_mutex_unlock(&e.lock);
        if (done)
            break;
        zclock_sleep(10);
    }
    say_bye_to(&c1, "evaluator");
    join(&r);
    assert_int_equal(r.status, FP_OK);
    /* The snapshot's two in either order, then the join and the departure; never the store. */
    assert_true(!strncmp(e.events, "+client.1 +client.2 ", 20) ||
                !strncmp(e.events, "+client.2 +client.1 ", 20));
    assert_string_equal(e.events + 20, "+client.3 -client.2 ");
    raw_close(&c1);
    raw_close(&c3);
    raw_close(&ev);
    zactor_destroy(&broker);
}

/* The broker goes away for outage_ms and comes back on the same ipc:// path with a new epoch: the
 * actor registers again (on_start with reconnected = true) and messages flow again. A short
 * outage is noticed through ERROR ESTATE (our socket reconnects by itself and the new broker does
 * not know it); a long one through the broker's silence, then HELLO with back-off. */
static void restart_broker_after(int outage_ms)
{
    const char *dir = test_tmpdir("broker_restart");
    char ipc[FP_CONFIG_STR_MAX + 1], ep[256];
    assert_true(strlen(dir) + 17 < sizeof ipc);
    snprintf(ipc, sizeof ipc, "ipc://%.130s/broker.ipc", dir);
    zactor_t *broker =
        fixture_broker(ipc, 1000, 0, FAST_HEARTBEAT_MS, FAST_LIVENESS, ep, sizeof ep);
    raw_peer_t coord;
    raw_register(&coord, ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    running_t r = {0};
    echo_t e;
    echo_options(&r.opt, ep, "client.1", MSG_ROLE_CLIENT);
    start(&r, &e);
    raw_expect_peer(&coord, "client.1", true);
    ask(&coord, "client.1");
    raw_close(&coord);

    zactor_destroy(&broker);
    zclock_sleep(outage_ms);
    int64_t t0 = zclock_mono();
    broker = fixture_broker(ipc, 1000, 0, FAST_HEARTBEAT_MS, FAST_LIVENESS, ep, sizeof ep);
    echo_wait(&e, &e.starts, 2);
    printf("outage %d ms: re-registered %lld ms after the new broker started\n", outage_ms,
           (long long)(zclock_mono() - t0));
    assert_int_equal(echo_get(&e, &e.reconnects), 1);
    raw_register(&coord, ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    ask(&coord, "client.1"); /* messages after the reconnection arrive */
    say_bye_to(&coord, "client.1");
    join(&r);
    assert_int_equal(r.status, FP_OK);
    assert_int_equal(e.answered, 2);
    raw_close(&coord);
    zactor_destroy(&broker);
    test_rmtree(dir);
}

static void broker_restart_reconnects_and_continues(void **state)
{
    (void)state;
    restart_broker_after(100);
}

static void broker_lost_then_back_reconnects(void **state)
{
    (void)state;
    restart_broker_after(3 * FAST_HEARTBEAT_MS * FAST_LIVENESS);
}

static void no_broker_gives_up(void **state)
{
    (void)state;
    running_t r = {0};
    echo_t e;
    echo_options(&r.opt, "tcp://127.0.0.1:9", "client.1", MSG_ROLE_CLIENT);
    r.opt.give_up_ms = 300;
    int64_t t0 = zclock_mono();
    start(&r, &e);
    join(&r);
    assert_int_equal(r.status, FP_ENET);
    assert_int_equal(r.exit_code, 1);
    assert_int_equal(e.starts, 0);
    assert_true(zclock_mono() - t0 < 3000);
    assert_non_null(strstr(r.err.msg, "no broker"));

    /* Bad options are refused before anything starts. */
    actor_options_t o;
    echo_options(&o, "tcp://127.0.0.1:9", "broker", MSG_ROLE_CLIENT);
    fp_error err = {0};
    assert_int_equal(actor_run(&o, &ECHO, &e, NULL, &err), FP_EINVAL);
    echo_options(&o, "tcp://127.0.0.1:9", "client.1", MSG_ROLE_ANY);
    assert_int_equal(actor_run(&o, &ECHO, &e, NULL, &err), FP_EINVAL);
}

/* The child of sigterm_exits_cleanly_with_bye: an echo actor in its own process. */
static int child_echo(const char *endpoint, const char *id)
{
    actor_options_t o;
    echo_options(&o, endpoint, id, MSG_ROLE_CLIENT);
    echo_t e = {0};
    pthread_mutex_init(&e.lock, NULL);
    int code = 1;
    fp_error err = {0};
    if (actor_run(&o, &ECHO, &e, &code, &err))
        fprintf(stderr, "child: %s\n", err.msg);
    pthread_mutex_destroy(&e.lock);
    return code;
}

static void sigterm_exits_cleanly_with_bye(void **state)
{
    (void)state;
    char ep[256];
    /* A 2 s liveness window, so a departure within it can only be the child's BYE. */
    zactor_t *broker = fixture_broker(NULL, 1000, 0, 200, 10, ep, sizeof ep);
    raw_peer_t coord;
    raw_register(&coord, ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    char self_exe[4096];
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    assert_true(n > 0);
    self_exe[n] = 0;
    char *argv[] = {self_exe, "--echo-actor", ep, "client.7", NULL};
    pid_t pid;
    extern char **environ;
    assert_int_equal(posix_spawn(&pid, self_exe, NULL, NULL, argv, environ), 0);
    raw_expect_peer(&coord, "client.7", true);
    ask(&coord, "client.7");
    int64_t t0 = zclock_mono();
    assert_int_equal(kill(pid, SIGTERM), 0);
    raw_expect_peer(&coord, "client.7", false);
    assert_true(zclock_mono() - t0 < 1500);
    int status = 0;
    for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
        zclock_sleep(10);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* also: no leak reported by ASan in the child */
    broker_stats_t s = broker_actor_stats(broker);
    assert_int_equal(s.departed, 1);
    assert_int_equal(s.expired, 0);
    raw_close(&coord);
    zactor_destroy(&broker);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--echo-actor"))
        return child_echo(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registers_answers_and_leaves),
        cmocka_unit_test(heartbeats_go_on_during_a_long_callback),
        cmocka_unit_test(two_actors_talk),
        cmocka_unit_test(spawned_actor_stops_on_destroy),
        cmocka_unit_test(watcher_sees_joins_and_departures),
        cmocka_unit_test(broker_restart_reconnects_and_continues),
        cmocka_unit_test(broker_lost_then_back_reconnects),
        cmocka_unit_test(no_broker_gives_up),
        cmocka_unit_test(sigterm_exits_cleanly_with_bye),
    };
    zsys_init();
    zsys_set_logstream(NULL);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
