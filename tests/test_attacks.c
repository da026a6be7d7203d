/* test_attacks.c — the attacks of issue #19 against a whole run: `fedpep launch` (real broker,
 * store, evaluator, coordinator and 4 client processes, the sanitizer build, CURVE off on the
 * run folder's ipc:// socket, as `make run`) attacked by a rogue peer once round 0 is committed:
 *   - hijacking roles: HELLO as each live client (the way in for poisoning), as
 *     "store" and as "coordinator": each refused by the broker (ESTATE);
 *   - the same peer, unregistered (an unknown id): a poisoned UPDATE (rows of 1000.0, n = 10^9)
 *     to the coordinator, RUN {status: done} and LOAD of client.0's private state to the store,
 *     a forged SAVED to the coordinator: each refused by the broker (ESTATE), nothing delivered;
 *   - a second rogue that registers an id no actor holds (client.9: possible without CURVE,
 *     README "Security"): its RUN {done}, LOAD of client.0's state, LOAD of the checkpoint and
 *     SELECTION are refused by the store, its forged SAVED by the coordinator's actor loop
 *     (ERROR EINVAL each, and logged), its poisoned UPDATE is ignored (never asked for).
 * The attacked run must finish, and what it stored — every round's counts, losses and metrics,
 * every client's row, the layer table, the checkpoint and every client's private state — must
 * equal, value for value, an unattacked run of the same configuration. The poisoning of an
 * authenticated client.K (its key stolen, or itself malicious) is test_update_checks.c; with
 * CURVE on a keyless rogue does not get past the handshake (test_curve.c, test_netns.sh). */
#include "tests/support/test.h"

#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/test_broker_fixture.h"
#include "tests/test_store_actor_fixture.h"
#include "tests/test_launch_fixture.h"

#include "actors/actor.h"
#include "actors/client_blob.h"
#include "launch/launch.h"
#include "storage/store_db.h"

#define ROUNDS 8
#define N_CLIENTS 4

static int setup(void **state)
{
    return launch_fixture_setup(state, "attacks", ROUNDS, N_CLIENTS);
}

static int teardown(void **state)
{
    return launch_fixture_teardown(state);
}

/* ---- a launched run, in a thread ---- */

typedef struct launched {
    const fixture *f;
    const char *const *over; /* overrides of tiny.ini */
    size_t n_over;
    char run_dir[600], db[700];
    pthread_t thread;
    fp_status status;
    int code;
    fp_error err;
} launched_t;

static void *launch_main(void *arg)
{
    launched_t *l = arg;
    char out_path[700], events_path[700];
    snprintf(out_path, sizeof out_path, "%s.out", l->run_dir);
    snprintf(events_path, sizeof events_path, "%s.events", l->run_dir);
    FILE *out = fopen(out_path, "w"), *events = fopen(events_path, "w");
    launch_options o;
    launch_fixture_options(&o, l->f, l->over, l->n_over, l->run_dir, out, events);
    l->code = -1;
    l->status = out && events ? launch_run(&o, &l->code, &l->err) : FP_EIO;
    if (out)
        fclose(out);
    if (events)
        fclose(events);
    return NULL;
}

static void launch_start(launched_t *l, const fixture *f, const char *name, const char *const *over,
                         size_t n_over)
{
    memset(l, 0, sizeof *l);
    l->f = f;
    l->over = over;
    l->n_over = n_over;
    snprintf(l->run_dir, sizeof l->run_dir, "%s/%s", f->dir, name);
    snprintf(l->db, sizeof l->db, "%s/fedpep.db", l->run_dir);
    assert_int_equal(pthread_create(&l->thread, NULL, launch_main, l), 0);
}

static void launch_wait(launched_t *l)
{
    pthread_join(l->thread, NULL);
    if (l->status || l->code)
        fail_msg("launch %s: status %d code %d: %s", l->run_dir, l->status, l->code, l->err.msg);
}

/* Rounds of run "tiny" committed so far; -1 while the database or the run is not there yet. */
static int rounds_committed(const char *db_path)
{
    store_db_t *db = NULL;
    if (access(db_path, R_OK) || store_db_open(&db, db_path, STORE_DB_READONLY, NULL))
        return -1;
    store_run run = {0};
    store_round *rounds = NULL;
    size_t n = 0;
    int committed = -1;
    if (!store_db_run_find(db, "tiny", &run, NULL) &&
        !store_db_rounds_list(db, run.id, &rounds, &n, NULL))
        committed = (int)n;
    free(rounds);
    store_run_clear(&run);
    store_db_close(&db);
    return committed;
}

/* ---- the rogue ---- */

/* Sends m (freed) from p to `to` and returns the first answer (its type; the error code in
 * *code, the sender in source); MSG_NONE when none came within p's receive timeout. */
static msg_type attempt(raw_peer_t *p, const char *to, msg_t *m, char *source, fp_status *code)
{
    raw_send(p, to, m);
    msg_clear(m);
    msg_t a;
    if (!raw_recv(p, source, &a))
        return MSG_NONE;
    msg_type t = a.type;
    *code = t == MSG_ERROR ? a.error.code : FP_OK;
    msg_clear(&a);
    return t;
}

/* Expects m from p to `to` to be answered ERROR `code` by `by`. */
static void refused(raw_peer_t *p, const char *to, msg_t *m, const char *by, fp_status code)
{
    char source[MSG_ID_CAP] = "";
    fp_status got = FP_OK;
    const char *what = msg_type_name(m->type);
    msg_type t = attempt(p, to, m, source, &got);
    if (t != MSG_ERROR || got != code || strcmp(source, by))
        fail_msg("%s from %s to %s: answered %s (%s) by %s, not ERROR %s by %s", what, p->id, to,
                 msg_type_name(t), fp_status_name(got), source, fp_status_name(code), by);
}

static void poisoned_update(msg_t *m, const char *from, uint32_t round)
{
    assert_int_equal(msg_init(m, MSG_UPDATE, "tiny", from, NULL), FP_OK);
    m->round = round;
    uint32_t shape[2] = {2, 32};
    assert_int_equal(msg_tensor_alloc(&m->update.rows, 2, shape, NULL), FP_OK);
    for (size_t i = 0; i < msg_tensor_count(&m->update.rows); i++)
        m->update.rows.data[i] = 1000.0f;
    m->update.n = 1000000000u;
    m->update.steps = 1;
}

static void run_done(msg_t *m, const char *from)
{
    make_run(m, MSG_RUN_DONE, "tiny");
    snprintf(m->run, sizeof m->run, "tiny");
    snprintf(m->from, sizeof m->from, "%s", from);
}

static void load_of(msg_t *m, const char *from, const char *client)
{
    assert_int_equal(msg_init(m, MSG_LOAD, "tiny", from, NULL), FP_OK);
    assert_int_equal(msg_set_id(m->load.client, client, NULL), FP_OK);
}

static void forged_saved(msg_t *m, const char *from, uint32_t round)
{
    assert_int_equal(msg_init(m, MSG_SAVED, "tiny", from, NULL), FP_OK);
    m->round = round;
    m->saved.answers = MSG_SAVE;
}

/* Every attack, on the run's broker at endpoint, during round `round`. */
static void attack(const char *endpoint, uint32_t round)
{
    raw_peer_t rogue;
    raw_open(&rogue, endpoint, "rogue");
    fp_status code = FP_OK;
    /* Hijacking: every live id is refused. */
    for (uint32_t k = 0; k < N_CLIENTS; k++) {
        char id[MSG_ID_CAP];
        actor_client_id(id, k);
        code = FP_OK;
        assert_int_equal(raw_hello(&rogue, id, MSG_ROLE_CLIENT, k, &code), MSG_ERROR);
        assert_int_equal(code, FP_ESTATE);
    }
    assert_int_equal(raw_hello(&rogue, "store", MSG_ROLE_STORE, 0, &code), MSG_ERROR);
    assert_int_equal(code, FP_ESTATE);
    assert_int_equal(raw_hello(&rogue, "coordinator", MSG_ROLE_COORDINATOR, 0, &code), MSG_ERROR);
    assert_int_equal(code, FP_ESTATE);
    /* Unregistered, it delivers nothing. */
    msg_t m;
    snprintf(rogue.id, sizeof rogue.id, "client.0");
    poisoned_update(&m, "client.0", round);
    refused(&rogue, "coordinator", &m, ENVELOPE_BROKER_ID, FP_ESTATE);
    snprintf(rogue.id, sizeof rogue.id, "rogue");
    run_done(&m, "rogue");
    refused(&rogue, "store", &m, ENVELOPE_BROKER_ID, FP_ESTATE);
    load_of(&m, "rogue", "client.0");
    refused(&rogue, "store", &m, ENVELOPE_BROKER_ID, FP_ESTATE);
    forged_saved(&m, "rogue", round);
    refused(&rogue, "coordinator", &m, ENVELOPE_BROKER_ID, FP_ESTATE);
    raw_close(&rogue);

    /* A free id: registered, but no role's message passes. */
    raw_peer_t free_id;
    raw_register(&free_id, endpoint, "client.9", MSG_ROLE_CLIENT, 9);
    run_done(&m, "client.9");
    refused(&free_id, "store", &m, "store", FP_EINVAL);
    load_of(&m, "client.9", "client.0");
    refused(&free_id, "store", &m, "store", FP_EINVAL);
    load_of(&m, "client.9", "");
    refused(&free_id, "store", &m, "store", FP_EINVAL);
    assert_int_equal(msg_init(&m, MSG_SELECTION, "tiny", "client.9", NULL), FP_OK);
    m.selection.num_layers = 2;
    assert_int_equal(msg_u32s_alloc(&m.selection.layers, 1, NULL), FP_OK);
    m.selection.layers.v[0] = 1;
    refused(&free_id, "store", &m, "store", FP_EINVAL);
    forged_saved(&m, "client.9", round);
    refused(&free_id, "coordinator", &m, "coordinator", FP_EINVAL);
    poisoned_update(&m, "client.9", round);
    raw_send(&free_id, "coordinator", &m); /* no answer: an UPDATE nobody asked for is dropped */
    msg_clear(&m);
    zclock_sleep(200);
    raw_close(&free_id);
}

/* ---- what the runs stored ---- */

/* The same value, NaN included; `what` and `at` (a round, a layer) name it on failure. */
static void same_double(const char *what, int at, double a, double b)
{
    if (isnan(a) != isnan(b) || (!isnan(a) && a != b))
        fail_msg("%s of %d: %.17g and %.17g", what, at, a, b);
}

static void same_bytes(const char *what, const store_bytes *a, const store_bytes *b)
{
    if (a->size != b->size || memcmp(a->data, b->data, a->size))
        fail_msg("%s differs (%zu and %zu bytes)", what, a->size, b->size);
}

/* Client k's private state as stored (an FPCB blob: train/client_state.c's FPCS state and its
 * optimizer's), equal in a and b but for the one measurement in it: the client's local time
 * of its last round (the FPCS field after round, n_k and steps), which no two runs share. */
static void same_client_state(int k, const store_bytes *a, const store_bytes *b)
{
    const size_t ms_at = 8 + 3 * 8, ms_len = 8; /* header, round, n_k, steps */
    const uint8_t *sa, *sb, *adam_a, *adam_b;
    size_t la, lb, ladam_a, ladam_b;
    assert_int_equal(client_blob_unpack(a->data, a->size, &sa, &la, &adam_a, &ladam_a, NULL),
                     FP_OK);
    assert_int_equal(client_blob_unpack(b->data, b->size, &sb, &lb, &adam_b, &ladam_b, NULL),
                     FP_OK);
    if (la != lb || la < ms_at + ms_len || memcmp(sa, sb, ms_at) ||
        memcmp(sa + ms_at + ms_len, sb + ms_at + ms_len, la - ms_at - ms_len))
        fail_msg("client %d's private prompt differs", k);
    if (ladam_a != ladam_b || memcmp(adam_a, adam_b, ladam_a))
        fail_msg("client %d's optimizer state differs", k);
}

static void same_rounds(store_db_t *da, int64_t ra, store_db_t *db, int64_t rb)
{
    store_round *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(store_db_rounds_list(da, ra, &a, &na, NULL), FP_OK);
    assert_int_equal(store_db_rounds_list(db, rb, &b, &nb, NULL), FP_OK);
    assert_int_equal(na, ROUNDS);
    assert_int_equal(nb, ROUNDS);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].status, b[i].status);
        assert_int_equal(a[i].sampled, b[i].sampled);
        assert_int_equal(a[i].completed, b[i].completed);
        assert_int_equal(a[i].dropped, b[i].dropped);
        assert_int_equal(a[i].late, b[i].late);
        assert_int_equal(a[i].retries, b[i].retries);
        same_double("round train_loss", (int)i, a[i].train_loss, b[i].train_loss);
        same_double("round eval_metric", (int)i, a[i].eval_metric, b[i].eval_metric);
        same_double("round eval_loss", (int)i, a[i].eval_loss, b[i].eval_loss);
        same_double("round eval_accuracy", (int)i, a[i].eval_accuracy, b[i].eval_accuracy);
        same_double("round eval_f1", (int)i, a[i].eval_f1, b[i].eval_f1);
        same_double("round eval_mcc", (int)i, a[i].eval_mcc, b[i].eval_mcc);
        store_client_round *ca = NULL, *cb = NULL;
        size_t nca = 0, ncb = 0;
        assert_int_equal(store_db_round_clients(da, ra, (int32_t)i, &ca, &nca, NULL), FP_OK);
        assert_int_equal(store_db_round_clients(db, rb, (int32_t)i, &cb, &ncb, NULL), FP_OK);
        assert_int_equal(nca, ncb);
        for (size_t j = 0; j < nca; j++) {
            assert_int_equal(ca[j].client, cb[j].client);
            assert_int_equal(ca[j].status, cb[j].status);
            assert_int_equal(ca[j].n_k, cb[j].n_k);
            assert_int_equal(ca[j].steps, cb[j].steps);
            same_double("a client's loss in round", (int)i, ca[j].loss, cb[j].loss);
        }
        free(ca);
        free(cb);
    }
    free(a);
    free(b);
}

static void same_layers(store_db_t *da, int64_t ra, store_db_t *db, int64_t rb)
{
    store_layer *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(store_db_layers_load(da, ra, &a, &na, NULL), FP_OK);
    assert_int_equal(store_db_layers_load(db, rb, &b, &nb, NULL), FP_OK);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    for (size_t l = 0; l < na; l++) {
        assert_int_equal(a[l].layer, b[l].layer);
        assert_int_equal(a[l].selected, b[l].selected);
        same_double("the score", (int)l, a[l].score, b[l].score);
    }
    free(a);
    free(b);
}

static void same_state(store_db_t *da, int64_t ra, store_db_t *db, int64_t rb)
{
    store_checkpoint ca = {0}, cb = {0};
    assert_int_equal(store_db_checkpoint_latest(da, ra, &ca, NULL), FP_OK);
    assert_int_equal(store_db_checkpoint_latest(db, rb, &cb, NULL), FP_OK);
    assert_int_equal(ca.round, ROUNDS - 1);
    assert_int_equal(cb.round, ROUNDS - 1);
    assert_true(ca.prompt.size > 0);
    same_bytes("the checkpoint's prompt", &ca.prompt, &cb.prompt);
    same_bytes("the checkpoint's server state", &ca.server_state, &cb.server_state);
    same_bytes("the checkpoint's RNG", &ca.rng, &cb.rng);
    store_checkpoint_clear(&ca);
    store_checkpoint_clear(&cb);
    int found = 0;
    for (int32_t k = 0; k < N_CLIENTS; k++) {
        store_client_state sa = {0}, sb = {0};
        fp_status st_a = store_db_client_state_load(da, ra, k, &sa, NULL);
        fp_status st_b = store_db_client_state_load(db, rb, k, &sb, NULL);
        assert_int_equal(st_a, st_b);
        if (!st_a) {
            found++;
            assert_int_equal(sa.round, sb.round);
            same_client_state(k, &sa.prompt, &sb.prompt);
            char what[64];
            snprintf(what, sizeof what, "client %d's optimizer state", k);
            same_bytes(what, &sa.adam, &sb.adam);
        }
        store_client_state_clear(&sa);
        store_client_state_clear(&sb);
    }
    assert_true(found > 0);
}

static void same_results(const char *pa, const char *pb)
{
    store_db_t *da = NULL, *db = NULL;
    store_run ra = {0}, rb = {0};
    assert_int_equal(store_db_open(&da, pa, STORE_DB_READONLY, NULL), FP_OK);
    assert_int_equal(store_db_open(&db, pb, STORE_DB_READONLY, NULL), FP_OK);
    assert_int_equal(store_db_run_find(da, "tiny", &ra, NULL), FP_OK);
    assert_int_equal(store_db_run_find(db, "tiny", &rb, NULL), FP_OK);
    assert_int_equal(ra.status, STORE_RUN_FINISHED);
    assert_int_equal(rb.status, STORE_RUN_FINISHED);
    same_rounds(da, ra.id, db, rb.id);
    same_layers(da, ra.id, db, rb.id);
    same_state(da, ra.id, db, rb.id);
    store_run_clear(&ra);
    store_run_clear(&rb);
    store_db_close(&da);
    store_db_close(&db);
}

/* Waits for round 0 to be committed: every actor is registered then. Returns the round under
 * way. */
static int round_under_way(const launched_t *l)
{
    int committed = -1;
    for (int i = 0; i < 6000 && committed < 1; i++) { /* up to 10 min on a loaded machine */
        zclock_sleep(100);
        committed = rounds_committed(l->db);
    }
    assert_true(committed >= 1);
    return committed;
}

static bool log_says(const char *run_dir, const char *actor, const char *text)
{
    char path[800];
    snprintf(path, sizeof path, "%s/logs/%s.log", run_dir, actor);
    char *log = test_read_file(path, NULL);
    bool says = log && strstr(log, text);
    free(log);
    return says;
}

static void an_attacked_run_stores_what_an_unattacked_run_does(void **state)
{
    const fixture *f = *state;
    launched_t clean, attacked;
    launch_start(&clean, f, "clean", NULL, 0);
    launch_wait(&clean);

    launch_start(&attacked, f, "attacked", NULL, 0);
    int committed = round_under_way(&attacked);
    char endpoint[700];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/broker.ipc", attacked.run_dir);
    attack(endpoint, (uint32_t)committed);
    int after = rounds_committed(attacked.db);
    printf("attacked during round %d; %d of %d rounds committed when the attacks ended\n",
           committed, after, ROUNDS);
    assert_true(after < ROUNDS); /* the attacks came while the run was on */
    launch_wait(&attacked);

    same_results(clean.db, attacked.db);
    /* The refusals were logged where they happened. */
    assert_true(log_says(attacked.run_dir, "store", "refused from client.9"));
    assert_true(log_says(attacked.run_dir, "coordinator", "refused from client.9"));
}

/* Needs the "clean" run of the test before. With [broker] curve_dir (keys written by the
 * launcher for its topology: one command), a peer without a key gets no answer at all, not even
 * to HELLO (the handshake fails; the broker counts and logs it), and the run stores what the
 * run without CURVE stored. */
static void a_curve_run_refuses_a_keyless_peer_and_stores_the_same(void **state)
{
    const fixture *f = *state;
    char clean_db[700], keys[400], over_curve[450];
    snprintf(clean_db, sizeof clean_db, "%s/clean/fedpep.db", f->dir);
    assert_true(rounds_committed(clean_db) == ROUNDS);
    snprintf(keys, sizeof keys, "%s/keys", f->dir);
    snprintf(over_curve, sizeof over_curve, "broker.curve_dir=%s", keys);
    const char *over[] = {over_curve};
    launched_t curve;
    launch_start(&curve, f, "curve", over, 1);
    int under_way = round_under_way(&curve);
    char endpoint[700];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/broker.ipc", curve.run_dir);
    raw_peer_t rogue;
    raw_open(&rogue, endpoint, "rogue");
    zsock_set_rcvtimeo(rogue.sock, 1000);
    /* the HELLO waits for a connection that never completes (a second send would find the
     * queue full) */
    assert_int_equal(raw_hello(&rogue, "client.0", MSG_ROLE_CLIENT, 0, NULL), MSG_NONE);
    raw_close(&rogue);
    printf("keyless peer tried during round %d\n", under_way);
    launch_wait(&curve);
    char path[500];
    snprintf(path, sizeof path, "%s/allow/client.3.cert", keys);
    assert_int_equal(access(path, R_OK), 0); /* the launcher wrote the keys */
    assert_true(log_says(curve.run_dir, "broker", "unauthenticated connection"));
    same_results(clean_db, curve.db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_attacked_run_stores_what_an_unattacked_run_does),
        cmocka_unit_test(a_curve_run_refuses_a_keyless_peer_and_stores_the_same),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
