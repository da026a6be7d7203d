/* test_coordinator_retry.c — a retry whose clients are all gone waits for them. The real broker
 * and the real coordinator role (actor_spawn) run against raw DEALER peers: a fake store and
 * evaluator that answer the start (RUN, LOAD, SCORE_REQUEST), and four raw clients the test
 * registers and unregisters (BYE) at will, so it decides exactly which client is alive when.
 *
 * Round 0 asks two clients (A, B). The two others (C, D) leave, then A and B: the attempt
 * closes with no update and the retry asks C and D, both gone, so it has nobody pending and
 * must wait (until its deadline) for them to register again. Events about clients it does not
 * ask must not close it: here A comes back and leaves three times, as clients coming and going
 * around a broker restart do. Before, each such event closed the attempt and burnt a retry, and
 * the run failed after 4 attempts within milliseconds ("0 of 2 updates after 4 attempts"; seen
 * in test_launch_run when the broker was killed). Then C registers and must be asked at once:
 * TRAIN for round 0, attempt 1. Nothing here depends on timing: the broker tells the
 * coordinator of every join and departure in the order it handled them. */
#include "tests/support/test.h"

#include "tests/test_coordinator_fixture.h"

#include "actors/actor.h"
#include "actors/coordinator.h"
#include "common/config.h"

#define N_CLIENTS 4

static fixture_files g_fx;

/* Answers request with a reply of type (its header from the request) filled by the caller. */
static void answer(raw_peer_t *p, const msg_t *request, msg_t *reply)
{
    raw_send(p, request->from, reply);
    msg_clear(reply);
}

/* The broker's count of departures reaches want (BYEs handled, their PEER_STATEs sent). */
static void departures(zactor_t *broker, uint64_t want)
{
    for (int i = 0; i < 500 && broker_actor_stats(broker).departed < want; i++)
        zclock_sleep(10);
    assert_int_equal(broker_actor_stats(broker).departed, want);
}

/* Client k says BYE and closes its socket; the broker handled it when this returns. */
static void leave(zactor_t *broker, raw_peer_t *c, uint64_t *departed)
{
    raw_say(c, ENVELOPE_BROKER_ID, MSG_BYE);
    departures(broker, ++*departed);
    raw_close(c);
}

static void client_register(raw_peer_t *c, const char *ep, int k)
{
    char id[MSG_ID_CAP];
    actor_client_id(id, (uint32_t)k);
    raw_register(c, ep, id, MSG_ROLE_CLIENT, (uint32_t)k);
}

static void a_retry_waits_for_its_clients_to_come_back(void **state)
{
    (void)state;
    char ep[150];
    zactor_t *broker = fixture_broker(NULL, 1000, 0, 200, 100, ep, sizeof ep);
    raw_peer_t store, ev, cl[N_CLIENTS];
    raw_register(&store, ep, "store", MSG_ROLE_STORE, 0);
    raw_register(&ev, ep, "evaluator", MSG_ROLE_EVALUATOR, 0);
    for (int k = 0; k < N_CLIENTS; k++)
        client_register(&cl[k], ep, k);

    fedpep_config cfg;
    fixture_config(&cfg, g_fx.dir); /* for the shard sizes */
    snprintf(cfg.run.name, sizeof cfg.run.name, "t");
    cfg.run.rounds = 1;
    cfg.federation.clients = N_CLIENTS;
    cfg.federation.clients_per_round = 2;
    cfg.federation.min_clients = 1;
    cfg.federation.round_deadline_s = 60; /* never reached here */
    cfg.federation.on_short_round = FP_SHORT_ROUND_RETRY;
    cfg.federation.max_retries = 3;
    fixture_coordinator co;
    fixture_coordinator_start(&co, &cfg, &g_fx, ep);

    /* The start: the run is new, the evaluator selects layer 0 of the 2. */
    msg_t m, r;
    raw_expect(&store, MSG_RUN, &m);
    assert_int_equal(msg_reply_init(&r, MSG_SAVED, &m, "store", NULL), FP_OK);
    r.saved.answers = MSG_RUN;
    answer(&store, &m, &r);
    msg_clear(&m);
    raw_expect(&store, MSG_LOAD, &m);
    assert_int_equal(msg_reply_init(&r, MSG_STATE, &m, "store", NULL), FP_OK);
    answer(&store, &m, &r); /* found = false: nothing committed */
    msg_clear(&m);
    raw_expect(&ev, MSG_SCORE_REQUEST, &m);
    assert_int_equal(msg_reply_init(&r, MSG_SELECTION, &m, "evaluator", NULL), FP_OK);
    r.selection.num_layers = 2;
    assert_int_equal(msg_u32s_alloc(&r.selection.layers, 1, NULL), FP_OK);
    r.selection.layers.v[0] = 0;
    answer(&ev, &m, &r);
    msg_clear(&m);

    /* Round 0, attempt 0: TRAIN to two of the four. */
    int asked[2], n_asked = 0;
    bool got[N_CLIENTS] = {false};
    for (int k = 0; k < N_CLIENTS; k++)
        zsock_set_rcvtimeo(cl[k].sock, 20);
    for (int64_t end = zclock_mono() + 10000; n_asked < 2 && zclock_mono() < end;)
        for (int k = 0; k < N_CLIENTS && n_asked < 2; k++) {
            if (got[k] || !raw_recv(&cl[k], NULL, &m))
                continue;
            if (m.type == MSG_TRAIN) {
                assert_int_equal(m.round, 0);
                assert_int_equal(m.train.attempt, 0);
                got[k] = true;
                asked[n_asked++] = k;
            }
            msg_clear(&m);
        }
    assert_int_equal(n_asked, 2);
    int others[2], n_others = 0;
    for (int k = 0; k < N_CLIENTS; k++)
        if (!got[k])
            others[n_others++] = k;

    /* C and D leave, then A and B: attempt 0 closes with no update, and attempt 1 asks C and
     * D, who are gone. */
    uint64_t departed = 0;
    leave(broker, &cl[others[0]], &departed);
    leave(broker, &cl[others[1]], &departed);
    leave(broker, &cl[asked[0]], &departed);
    leave(broker, &cl[asked[1]], &departed);
    /* A comes and goes: a join and a departure of a client attempt 1 does not ask, each time;
     * three would have used up the 3 retries. */
    for (int i = 0; i < 3; i++) {
        client_register(&cl[asked[0]], ep, asked[0]);
        leave(broker, &cl[asked[0]], &departed);
    }
    /* C registers again: attempt 1 is still open and asks it. Checked once everything is
     * stopped, so that a failure cannot leave the threads running. */
    client_register(&cl[others[0]], ep, others[0]);
    zsock_set_rcvtimeo(cl[others[0]].sock, 100);
    int train_round = -1, train_attempt = -1;
    for (int64_t end = zclock_mono() + 10000; train_round < 0 && zclock_mono() < end;) {
        if (!raw_recv(&cl[others[0]], NULL, &m))
            continue;
        if (m.type == MSG_TRAIN)
            train_round = (int)m.round, train_attempt = (int)m.train.attempt;
        msg_clear(&m);
    }
    /* The run did not fail: the store heard nothing after the start. */
    int run_status = -1;
    zsock_set_rcvtimeo(store.sock, 200);
    while (raw_recv(&store, NULL, &m)) {
        if (m.type == MSG_RUN)
            run_status = (int)m.run_row.status;
        msg_clear(&m);
    }

    fixture_coordinator_stop(&co);
    raw_close(&cl[others[0]]);
    raw_close(&ev);
    raw_close(&store);
    zactor_destroy(&broker);
    if (run_status >= 0)
        fail_msg("the coordinator sent RUN (status %d) to the store: the run ended", run_status);
    assert_int_equal(train_round, 0);
    assert_int_equal(train_attempt, 1);
    assert_int_equal(co.result.status, FP_OK);
}

static int setup(void **state)
{
    return fixture_files_setup(state, &g_fx, "coordinator_retry", 2, 40, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_retry_waits_for_its_clients_to_come_back),
    };
    return cmocka_run_group_tests(tests, setup, fixture_files_teardown);
}
