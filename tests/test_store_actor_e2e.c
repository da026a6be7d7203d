/* test_store_actor_e2e.c — the store as a real process (`fedpep store`) behind the real broker:
 * raw peers send RUN, SELECTION, SAVE, SAVE_CLIENT and LOAD over ZeroMQ and get SAVED / STATE /
 * ERROR back; the store is killed with SIGKILL mid-run and restarted, the coordinator re-sends
 * the unacknowledged SAVE (acknowledged as a duplicate) and the run continues; SIGTERM ends the
 * store with exit code 0. Skipped when build/asan/fedpep is not built (`make test` builds it). */
#include "tests/support/test.h"
#include "tests/test_broker_fixture.h"
#include "tests/test_store_actor_fixture.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/store_role.h"
#include "storage/store_db.h"

typedef struct e2e {
    char dir[256], db[320], bin[512], endpoint[256];
    zactor_t *broker;
    raw_peer_t coord;
    pid_t store;
} e2e;

static pid_t spawn_store(e2e *t)
{
    char log[400];
    snprintf(log, sizeof log, "%s/store.log", t->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen(log, "a", stderr);
        freopen("/dev/null", "w", stdout);
        execl(t->bin, t->bin, "store", "--broker", t->endpoint, "--db", t->db, "--keep-checkpoints",
              "2", "broker.heartbeat_ms=100", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int stop_store(pid_t pid, int sig)
{
    kill(pid, sig);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Sends m to the store and returns its answer (SAVED, STATE or ERROR from "store"). Until the
 * store has registered, the broker answers ERROR ENOTFOUND: wait and re-send (up to ~10 s). */
static void ask(e2e *t, msg_t *m, msg_t *reply)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t seq = raw_send(&t->coord, STORE_ACTOR_ID, m);
        char source[MSG_ID_CAP];
        while (raw_recv(&t->coord, source, reply)) {
            if (!strcmp(source, STORE_ACTOR_ID) && reply->re == seq)
                return;
            msg_clear(reply); /* broker notices, or a late answer to an earlier attempt */
            if (!strcmp(source, "broker"))
                break;
        }
        zclock_sleep(100);
    }
    fail_msg("no answer from the store to %s", msg_type_name(m->type));
}

static void ask_saved(e2e *t, msg_t *m)
{
    msg_t reply;
    ask(t, m, &reply);
    if (reply.type != MSG_SAVED)
        fail_msg("%s: got %s %s", msg_type_name(m->type), msg_type_name(reply.type),
                 reply.type == MSG_ERROR ? reply.error.text : "");
    assert_int_equal(reply.saved.answers, m->type);
    assert_string_equal(reply.run, RUN_NAME);
    msg_clear(&reply);
}

static void save(e2e *t, uint32_t r)
{
    msg_t m;
    make_save(&m, r, 0);
    ask_saved(t, &m);
    msg_clear(&m);
}

static void test_store_process_through_broker(void **state)
{
    (void)state;
    e2e t = {0};
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    snprintf(t.bin, sizeof t.bin, "%s/asan/fedpep", build);
    if (access(t.bin, X_OK) != 0)
        skip();
    snprintf(t.dir, sizeof t.dir, "%s", test_tmpdir("store-e2e"));
    snprintf(t.db, sizeof t.db, "%s/runs/e2e.db", t.dir); /* the folder does not exist yet */
    t.broker = fast_broker(t.endpoint, sizeof t.endpoint);
    raw_register(&t.coord, t.endpoint, "coordinator", MSG_ROLE_COORDINATOR, 0);
    t.store = spawn_store(&t);

    msg_t m, reply;
    make_run(&m, MSG_RUN_RUNNING, "tiny");
    ask_saved(&t, &m);
    msg_clear(&m);
    /* the selection comes from the evaluator (only it may send SELECTION) */
    raw_peer_t coord = t.coord;
    raw_register(&t.coord, t.endpoint, "evaluator", MSG_ROLE_EVALUATOR, 0);
    assert_int_equal(msg_init(&m, MSG_SELECTION, RUN_NAME, "evaluator", NULL), FP_OK);
    m.selection.num_layers = 3;
    assert_int_equal(msg_u32s_alloc(&m.selection.layers, 1, NULL), FP_OK);
    m.selection.layers.v[0] = 2;
    ask_saved(&t, &m);
    msg_clear(&m);
    raw_close(&t.coord);
    t.coord = coord;
    for (uint32_t r = 0; r < 3; r++)
        save(&t, r);

    /* a client's private state travels under its own id */
    raw_peer_t client;
    raw_register(&client, t.endpoint, "client.3", MSG_ROLE_CLIENT, 3);
    assert_int_equal(msg_init(&m, MSG_SAVE_CLIENT, RUN_NAME, "client.3", NULL), FP_OK);
    m.round = 2;
    const uint8_t blob[3] = {1, 2, 3};
    assert_int_equal(msg_blob_copy(&m.save_client.state, blob, 3, NULL), FP_OK);
    raw_send(&client, STORE_ACTOR_ID, &m);
    msg_clear(&m);
    raw_expect(&client, MSG_SAVED, &reply);
    assert_int_equal(reply.saved.answers, MSG_SAVE_CLIENT);
    msg_clear(&reply);
    assert_int_equal(msg_init(&m, MSG_LOAD, RUN_NAME, "client.3", NULL), FP_OK);
    assert_int_equal(msg_set_id(m.load.client, "client.3", NULL), FP_OK);
    raw_send(&client, STORE_ACTOR_ID, &m);
    msg_clear(&m);
    raw_expect(&client, MSG_STATE, &reply);
    assert_true(reply.state.found);
    assert_int_equal(reply.round, 2);
    assert_memory_equal(reply.state.client_state.data, blob, 3);
    msg_clear(&reply);
    raw_close(&client);

    /* kill -9 between a commit and its ack, as far as the coordinator knows: restart, re-send */
    assert_int_equal(stop_store(t.store, SIGKILL), 128 + SIGKILL);
    t.store = spawn_store(&t);
    save(&t, 2); /* duplicate of a committed round: acknowledged again */
    save(&t, 3);
    make_save(&m, 3, 0.5); /* a different round 3: refused */
    ask(&t, &m, &reply);
    assert_int_equal(reply.type, MSG_ERROR);
    assert_int_equal(reply.error.code, FP_ESTATE);
    assert_int_equal(reply.error.answers, MSG_SAVE);
    assert_int_equal(reply.re, m.seq);
    msg_clear(&reply);
    msg_clear(&m);

    /* resume point: round 3 with its rows, rng and the selection */
    assert_int_equal(msg_init(&m, MSG_LOAD, RUN_NAME, "coordinator", NULL), FP_OK);
    ask(&t, &m, &reply);
    msg_clear(&m);
    make_save(&m, 3, 0);
    assert_int_equal(reply.type, MSG_STATE);
    assert_true(reply.state.found);
    assert_int_equal(reply.round, 3);
    assert_int_equal(reply.state.rows.ndim, 3);
    assert_memory_equal(reply.state.rows.data, m.save.rows.data, 24 * sizeof(float));
    assert_memory_equal(reply.state.rng, m.save.rng, sizeof m.save.rng);
    assert_int_equal(reply.state.layers.n, 1);
    assert_int_equal(reply.state.layers.v[0], 2);
    msg_clear(&reply);
    msg_clear(&m);

    assert_int_equal(stop_store(t.store, SIGTERM), 0); /* clean shutdown */
    raw_close(&t.coord);
    zactor_destroy(&t.broker);

    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, t.db, STORE_DB_READONLY, &err), FP_OK);
    store_run run = {0};
    assert_int_equal(store_db_run_find(db, RUN_NAME, &run, &err), FP_OK);
    store_round *rounds = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, run.id, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rounds[i].round, (int32_t)i);
    free(rounds);
    store_run_clear(&run);
    store_db_close(&db);
    test_rmtree(t.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_process_through_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
