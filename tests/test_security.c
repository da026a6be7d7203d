/* test_security.c — the attacks of issue #19, each made by a rogue peer on the broker's port
 * during a live exchange, and each failing for the attacker:
 *   - hijacking a role: a second HELLO as "store" (or as any live id) is refused, and the
 *     messages for that id still reach its owner; an id that does not name the role claimed
 *     ("coordinator" as a client, "rogue") is refused;
 *   - ending a run, reading private state, forging a round or the selection: RUN {done}, SAVE,
 *     LOAD of another client's state or of the checkpoint, SELECTION from a client are refused
 *     by the store's actor loop, the database keeps what the real coordinator wrote, and every
 *     refusal is counted;
 *   - a client forging the store's SAVED, or a RUN, to the coordinator is refused by the loop
 *     before the role sees it; the real store's SAVED passes.
 * Plus the table itself (messages/permissions.h) against the directions of docs/protocol.md. */
#include "tests/support/test.h"
#include "tests/test_broker_fixture.h"
#include "tests/test_store_actor_fixture.h"

#include "actors/actor.h"
#include "actors/store_role.h"
#include "messages/permissions.h"
#include "storage/store_db.h"

/* ---- the table ---- */

static void ids_name_roles_and_the_table_follows_the_protocol(void **state)
{
    (void)state;
    uint32_t k = 99;
    assert_int_equal(msg_id_role("coordinator", &k), MSG_ROLE_COORDINATOR);
    assert_int_equal(k, 0);
    assert_int_equal(msg_id_role("store", NULL), MSG_ROLE_STORE);
    assert_int_equal(msg_id_role("evaluator", NULL), MSG_ROLE_EVALUATOR);
    assert_int_equal(msg_id_role("launcher", NULL), MSG_ROLE_LAUNCHER);
    assert_int_equal(msg_id_role("broker", NULL), MSG_ROLE_BROKER);
    assert_int_equal(msg_id_role("client.0", &k), MSG_ROLE_CLIENT);
    assert_int_equal(k, 0);
    assert_int_equal(msg_id_role("client.4294967295", &k), MSG_ROLE_CLIENT);
    assert_int_equal(k, 4294967295u);
    static const char *const NOT_ROLES[] = {
        "client.4294967296", "client.01", "client.", "client.1x", "client-1", "Client.1",
        "coordinator2",      "rogue",     "",        "client.-1", "store.1",  NULL};
    for (int i = 0; NOT_ROLES[i]; i++)
        if (msg_id_role(NOT_ROLES[i], NULL) != MSG_ROLE_ANY)
            fail_msg("'%s' names a role", NOT_ROLES[i]);
    assert_int_equal(msg_id_role(NULL, NULL), MSG_ROLE_ANY);

    /* Who sends what, from docs/protocol.md's directions; everything else is refused. */
    static const struct {
        msg_type type;
        msg_role senders[3];
    } WHO[] = {
        {MSG_SCORE_REQUEST, {MSG_ROLE_COORDINATOR, MSG_ROLE_EVALUATOR}},
        {MSG_SCORE_REPLY, {MSG_ROLE_CLIENT}},
        {MSG_SELECTION, {MSG_ROLE_EVALUATOR}},
        {MSG_TRAIN, {MSG_ROLE_COORDINATOR}},
        {MSG_UPDATE, {MSG_ROLE_CLIENT}},
        {MSG_EVAL_REQUEST, {MSG_ROLE_COORDINATOR, MSG_ROLE_EVALUATOR}},
        {MSG_EVAL_REPLY, {MSG_ROLE_CLIENT, MSG_ROLE_EVALUATOR}},
        {MSG_RUN, {MSG_ROLE_COORDINATOR}},
        {MSG_SAVE, {MSG_ROLE_COORDINATOR}},
        {MSG_SAVE_CLIENT, {MSG_ROLE_CLIENT}},
        {MSG_SAVED, {MSG_ROLE_STORE}},
        {MSG_LOAD, {MSG_ROLE_COORDINATOR, MSG_ROLE_CLIENT}},
        {MSG_STATE, {MSG_ROLE_STORE}},
        {MSG_WELCOME, {MSG_ROLE_BROKER}},
        {MSG_DIRECTORY, {MSG_ROLE_BROKER}},
        {MSG_PEER_STATE, {MSG_ROLE_BROKER}},
        {MSG_HELLO, {MSG_ROLE_ANY}},             /* to the broker only */
        {MSG_DIRECTORY_REQUEST, {MSG_ROLE_ANY}}, /* to the broker only */
    };
    for (size_t i = 0; i < sizeof WHO / sizeof WHO[0]; i++)
        for (int r = 0; r < MSG_ROLE_COUNT; r++) {
            bool want = false;
            for (int j = 0; j < 3; j++)
                want = want || ((int)WHO[i].senders[j] == r && r != MSG_ROLE_ANY);
            if (msg_role_may_send((msg_role)r, WHO[i].type) != want)
                fail_msg("%s from a %s: %s, want %s", msg_type_name(WHO[i].type),
                         msg_role_name((msg_role)r), want ? "refused" : "allowed",
                         want ? "allowed" : "refused");
        }
    for (int r = MSG_ROLE_BROKER; r < MSG_ROLE_COUNT; r++) {
        assert_true(msg_role_may_send((msg_role)r, MSG_ERROR));
        assert_true(msg_role_may_send((msg_role)r, MSG_HEARTBEAT));
        assert_true(msg_role_may_send((msg_role)r, MSG_BYE));
    }
    assert_false(msg_role_may_send(MSG_ROLE_ANY, MSG_ERROR));
    assert_false(msg_role_may_send((msg_role)MSG_ROLE_COUNT, MSG_ERROR));
    assert_false(msg_role_may_send(MSG_ROLE_COORDINATOR, (msg_type)MSG_TYPE_COUNT));

    assert_true(msg_hello_matches_id("client.3", MSG_ROLE_CLIENT, 3));
    assert_false(msg_hello_matches_id("client.3", MSG_ROLE_CLIENT, 4));
    assert_false(msg_hello_matches_id("client.3", MSG_ROLE_COORDINATOR, 0));
    assert_false(msg_hello_matches_id("coordinator", MSG_ROLE_CLIENT, 0));
    assert_true(msg_hello_matches_id("coordinator", MSG_ROLE_COORDINATOR, 0));
    assert_false(msg_hello_matches_id("broker", MSG_ROLE_BROKER, 0));
    assert_false(msg_hello_matches_id("rogue", MSG_ROLE_CLIENT, 0));
}

/* ---- the broker: no takeover, no id outside its role ---- */

static void a_live_id_cannot_be_taken_over(void **state)
{
    (void)state;
    char ep[256];
    /* slow heartbeats: the raw peers here do not read while the test talks to the broker */
    zactor_t *broker = fixture_broker(NULL, 1000, 0, 1000, 30, ep, sizeof ep);
    raw_peer_t coord, store, rogue;
    raw_register(&coord, ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    raw_register(&store, ep, "store", MSG_ROLE_STORE, 0);
    raw_open(&rogue, ep, "store");

    fp_status code = FP_OK;
    assert_int_equal(raw_hello(&rogue, "store", MSG_ROLE_STORE, 0, &code), MSG_ERROR);
    assert_int_equal(code, FP_ESTATE);
    assert_int_equal(raw_hello(&rogue, "coordinator", MSG_ROLE_COORDINATOR, 0, &code), MSG_ERROR);
    assert_int_equal(code, FP_ESTATE);
    /* ids that do not name the role claimed */
    assert_int_equal(raw_hello(&rogue, "coordinator", MSG_ROLE_CLIENT, 0, &code), MSG_ERROR);
    assert_int_equal(code, FP_EINVAL);
    assert_int_equal(raw_hello(&rogue, "client.2", MSG_ROLE_CLIENT, 5, &code), MSG_ERROR);
    assert_int_equal(raw_hello(&rogue, "rogue", MSG_ROLE_COORDINATOR, 0, &code), MSG_ERROR);
    assert_int_equal(raw_hello(&rogue, "broker", MSG_ROLE_STORE, 0, &code), MSG_ERROR);
    assert_int_equal(broker_actor_stats(broker).refused, 6);

    /* What the coordinator sends to "store" still reaches the store, from the coordinator. */
    msg_t m, got;
    make_run(&m, MSG_RUN_DONE, "tiny");
    raw_send(&coord, "store", &m);
    msg_clear(&m);
    char source[MSG_ID_CAP];
    assert_true(raw_recv(&store, source, &got));
    assert_int_equal(got.type, MSG_RUN);
    assert_string_equal(source, "coordinator");
    msg_clear(&got);
    /* The rogue, unregistered, can send nothing: ESTATE from the broker. */
    make_run(&m, MSG_RUN_DONE, "tiny");
    raw_send(&rogue, "store", &m);
    msg_clear(&m);
    raw_expect(&rogue, MSG_ERROR, &got);
    assert_int_equal(got.error.code, FP_ESTATE);
    msg_clear(&got);
    assert_int_equal(broker_actor_stats(broker).forwarded, 1); /* the coordinator's RUN only */

    /* A free id is the rogue's to take (CURVE is what stops that), and its own client id once
     * the owner's connection is gone. */
    assert_int_equal(raw_hello(&rogue, "client.7", MSG_ROLE_CLIENT, 7, NULL), MSG_WELCOME);
    raw_close(&store);
    raw_peer_t back;
    raw_open(&back, ep, "store");
    msg_type t = MSG_ERROR;
    for (int i = 0; i < 100 && t != MSG_WELCOME; i++) {
        t = raw_hello(&back, "store", MSG_ROLE_STORE, 0, NULL);
        if (t != MSG_WELCOME)
            zclock_sleep(20); /* libzmq has not seen the old connection close yet */
    }
    assert_int_equal(t, MSG_WELCOME);
    raw_close(&back);
    raw_close(&rogue);
    raw_close(&coord);
    zactor_destroy(&broker);
}

/* ---- the store: a rogue client cannot end, forge or read ---- */

typedef struct store_scene {
    char dir[200], db[300], ep[150];
    zactor_t *broker, *store_actor;
    store_role_t *store;
    actor_result_t result;
} store_scene_t;

static void store_scene_start(store_scene_t *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", test_tmpdir("security"));
    snprintf(s->db, sizeof s->db, "%s/s.db", s->dir);
    s->broker = fast_broker(s->ep, sizeof s->ep);
    fp_error err = {0};
    store_role_options_t so = {.db_path = s->db};
    s->store = store_role_new(&so, &err);
    if (!s->store)
        fail_msg("store: %s", err.msg);
    actor_options_t o;
    fixture_actor_options(&o, s->ep, STORE_ACTOR_ID, MSG_ROLE_STORE, NULL);
    s->store_actor = actor_spawn(&o, store_role_actor(), s->store, &s->result);
    assert_non_null(s->store_actor);
}

static void store_scene_stop(store_scene_t *s)
{
    zactor_destroy(&s->store_actor);
    store_role_destroy(&s->store);
    zactor_destroy(&s->broker);
    test_rmtree(s->dir);
}

/* Sends m from p to the store and returns the answer's type (ERROR, SAVED or STATE); retries
 * while the store is not registered yet. */
static msg_type ask_store(raw_peer_t *p, msg_t *m, msg_t *answer)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t seq = raw_send(p, STORE_ACTOR_ID, m);
        char source[MSG_ID_CAP];
        while (raw_recv(p, source, answer)) {
            if (!strcmp(source, STORE_ACTOR_ID) && answer->re == seq)
                return answer->type;
            bool absent = !strcmp(source, ENVELOPE_BROKER_ID) && answer->type == MSG_ERROR &&
                          answer->error.code == FP_ENOTFOUND;
            msg_clear(answer);
            if (absent)
                break;
        }
        zclock_sleep(50);
    }
    fail_msg("the store does not answer");
    return MSG_NONE;
}

static void expect_refused(raw_peer_t *p, msg_t *m, const char *text)
{
    msg_t a;
    assert_int_equal(ask_store(p, m, &a), MSG_ERROR);
    assert_int_equal(a.error.code, FP_EINVAL);
    if (!a.error.text || !strstr(a.error.text, text))
        fail_msg("refusal '%s' does not say '%s'", a.error.text ? a.error.text : "", text);
    msg_clear(&a);
    msg_clear(m);
}

static void load_of(msg_t *m, const char *from, const char *client)
{
    assert_int_equal(msg_init(m, MSG_LOAD, RUN_NAME, from, NULL), FP_OK);
    assert_int_equal(msg_set_id(m->load.client, client, NULL), FP_OK);
}

static void the_store_refuses_a_rogue_client(void **state)
{
    (void)state;
    store_scene_t s;
    store_scene_start(&s);
    raw_peer_t coord, owner, rogue;
    raw_register(&coord, s.ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    raw_register(&owner, s.ep, "client.3", MSG_ROLE_CLIENT, 3);
    raw_register(&rogue, s.ep, "client.7", MSG_ROLE_CLIENT, 7);
    msg_t m, a;
    make_run(&m, MSG_RUN_RUNNING, "tiny");
    assert_int_equal(ask_store(&coord, &m, &a), MSG_SAVED);
    msg_clear(&a);
    msg_clear(&m);
    make_save(&m, 0, 0);
    assert_int_equal(ask_store(&coord, &m, &a), MSG_SAVED);
    msg_clear(&a);
    msg_clear(&m);
    assert_int_equal(msg_init(&m, MSG_SAVE_CLIENT, RUN_NAME, "client.3", NULL), FP_OK);
    const uint8_t secret[4] = {0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(msg_blob_copy(&m.save_client.state, secret, 4, NULL), FP_OK);
    assert_int_equal(ask_store(&owner, &m, &a), MSG_SAVED);
    msg_clear(&a);
    msg_clear(&m);

    /* The attacks. */
    make_run(&m, MSG_RUN_DONE, "tiny");
    expect_refused(&rogue, &m, "RUN: a client may not send it");
    make_save(&m, 1, 9);
    expect_refused(&rogue, &m, "SAVE: a client may not send it");
    assert_int_equal(msg_init(&m, MSG_SELECTION, RUN_NAME, "client.7", NULL), FP_OK);
    m.selection.num_layers = 3;
    assert_int_equal(msg_u32s_alloc(&m.selection.layers, 1, NULL), FP_OK);
    expect_refused(&rogue, &m, "SELECTION: a client may not send it");
    load_of(&m, "client.7", "client.3");
    expect_refused(&rogue, &m, "a client may load only its own");
    load_of(&m, "client.7", "");
    expect_refused(&rogue, &m, "only the coordinator");
    /* The owner still reads its own state. */
    load_of(&m, "client.3", "client.3");
    assert_int_equal(ask_store(&owner, &m, &a), MSG_STATE);
    assert_true(a.state.found);
    assert_int_equal(a.state.client_state.n, 4);
    assert_memory_equal(a.state.client_state.data, secret, 4);
    msg_clear(&a);
    msg_clear(&m);

    raw_close(&rogue);
    raw_close(&owner);
    raw_close(&coord);
    zactor_destroy(&s.store_actor);
    assert_int_equal(s.result.refused, 5);

    /* The database holds what the coordinator wrote: a running run with round 0 only. */
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, s.db, STORE_DB_READONLY, &err), FP_OK);
    store_run run = {0};
    assert_int_equal(store_db_run_find(db, RUN_NAME, &run, &err), FP_OK);
    assert_int_equal(run.status, STORE_RUN_RUNNING);
    store_round *rounds = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, run.id, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 1);
    free(rounds);
    store_run_clear(&run);
    store_db_close(&db);
    store_scene_stop(&s);
}

/* ---- the actor loop: a type outside the sender's role never reaches the role ---- */

static fp_status count_message(void *self, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err)
{
    (void)actor, (void)bytes, (void)err;
    if (msg->type == MSG_SAVED)
        __atomic_fetch_add((int *)self, 1, __ATOMIC_SEQ_CST);
    return FP_OK;
}

static const actor_role_t COUNTER = {.name = "counter", .on_message = count_message};

static void a_client_cannot_forge_the_stores_answers(void **state)
{
    (void)state;
    char ep[150];
    zactor_t *broker = fast_broker(ep, sizeof ep);
    int saved = 0;
    actor_options_t o;
    fixture_actor_options(&o, ep, "coordinator", MSG_ROLE_COORDINATOR, NULL);
    actor_result_t result;
    zactor_t *coord = actor_spawn(&o, &COUNTER, &saved, &result);
    assert_non_null(coord);
    raw_peer_t rogue, store;
    raw_register(&rogue, ep, "client.1", MSG_ROLE_CLIENT, 1);
    raw_register(&store, ep, "store", MSG_ROLE_STORE, 0);
    msg_t m, got;
    /* Forged SAVED and RUN from the client: each answered ERROR by the loop. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(msg_init(&m, i ? MSG_RUN : MSG_SAVED, RUN_NAME, "client.1", NULL), FP_OK);
        if (i)
            make_run(&m, MSG_RUN_DONE, "tiny");
        else
            m.saved.answers = MSG_SAVE;
        for (;;) { /* until the coordinator is registered */
            raw_send(&rogue, "coordinator", &m);
            char source[MSG_ID_CAP];
            assert_true(raw_recv(&rogue, source, &got));
            bool refused = !strcmp(source, "coordinator");
            if (refused) {
                assert_int_equal(got.type, MSG_ERROR);
                assert_int_equal(got.error.code, FP_EINVAL);
            }
            msg_clear(&got);
            if (refused)
                break;
            zclock_sleep(50);
        }
        msg_clear(&m);
    }
    /* The store's own SAVED reaches the role. */
    assert_int_equal(msg_init(&m, MSG_SAVED, RUN_NAME, "store", NULL), FP_OK);
    m.saved.answers = MSG_SAVE;
    raw_send(&store, "coordinator", &m);
    msg_clear(&m);
    for (int i = 0; i < 100 && !__atomic_load_n(&saved, __ATOMIC_SEQ_CST); i++)
        zclock_sleep(20);
    zactor_destroy(&coord);
    raw_close(&store);
    raw_close(&rogue);
    zactor_destroy(&broker);
    assert_int_equal(saved, 1);
    assert_int_equal(result.refused, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids_name_roles_and_the_table_follows_the_protocol),
        cmocka_unit_test(a_live_id_cannot_be_taken_over),
        cmocka_unit_test(the_store_refuses_a_rogue_client),
        cmocka_unit_test(a_client_cannot_forge_the_stores_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
