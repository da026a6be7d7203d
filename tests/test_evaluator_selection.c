/* test_evaluator_selection.c — the evaluator's SELECTION reaches the store even when the store
 * drops it, refuses it or is not there yet (issue 6). The real broker and the real evaluator role
 * (actor_spawn) run against raw DEALER peers registered as "coordinator", "client.0" and a FAKE
 * "store" the test drives message by message, so the test decides what the store answers and
 * when: nothing (the evaluator must re-send the identical SELECTION about every second), SAVED
 * (re-sending stops), ERROR (final: re-sending stops and the refusal is logged), or a store that
 * registers late. This file must never depend on the real store or on wall-clock timing tighter
 * than seconds (it runs under ASan on a loaded machine). */
#include "tests/support/test.h"

#include <fcntl.h>
#include <unistd.h>

#include "tests/test_broker_fixture.h"
#include "tests/test_train_fixture.h"

#include "actors/actor.h"
#include "actors/evaluator.h"
#include "actors/update_check.h"
#include "common/config.h"

/* Broker heartbeat 200 ms x liveness 100: raw peers the test leaves idle for seconds are never
 * declared dead under it. */
#define RIG_HEARTBEAT_MS 200
#define RIG_LIVENESS 100
/* How long a re-send may take: the evaluator re-sends every second; 3 s leaves room for a
 * loaded machine. */
#define RESEND_WITHIN_MS 3000
/* Silence that proves re-sending stopped: more than two re-send periods. */
#define QUIET_MS 2200

static fixture_files g_fx;

/* The scores client.0 reports for the L - 1 = 2 scored layers of the 3-layer fixture model:
 * inside the statistic's range for a batch of 8 ([8, 8 (ln 1e-5 + 1e5)], fl/layer_score.h), or
 * the evaluator would refuse them. */
static const double CLIENT_SCORES[2] = {10.25, 40.0};

typedef struct rig {
    zactor_t *broker;
    char ep[150]; /* fits actor_options_t.endpoint */
    raw_peer_t coord, client, store;
    bool store_up;
    fedpep_config cfg;
    evaluator_t *ev;
    zactor_t *actor;
    actor_result_t result;
    msg_t answer; /* the SELECTION the coordinator received: what the store must get too */
} rig_t;

static void rig_register_store(rig_t *r)
{
    raw_register(&r->store, r->ep, "store", MSG_ROLE_STORE, 0);
    zsock_set_rcvtimeo(r->store.sock, 20); /* polled against a clock, see store_selections */
    r->store_up = true;
}

/* client.0's training examples in cfg's partition (its only client). */
static uint64_t client_examples(const fedpep_config *cfg)
{
    fp_error err = {0};
    shard_sizes_t shards;
    train_model_t *m = train_model_open(cfg->model.path, g_fx.vocab, g_fx.merges, &err);
    assert_non_null(m);
    assert_int_equal(shard_sizes_load(&shards, cfg, m, config_prompt_length(cfg, m->decoder), &err),
                     FP_OK);
    train_model_destroy(&m);
    uint64_t n = shards.train[0];
    shard_sizes_free(&shards);
    assert_true(n >= 8);
    return n;
}

/* Broker, raw coordinator and client.0 (and the fake store when store_first), the evaluator
 * role in a thread; then one selection: the coordinator asks, client.0 reports its scores, the
 * coordinator gets its SELECTION into r->answer. */
static void rig_start(rig_t *r, bool store_first)
{
    memset(r, 0, sizeof *r);
    r->broker = fixture_broker(NULL, 1000, 0, RIG_HEARTBEAT_MS, RIG_LIVENESS, r->ep, sizeof r->ep);
    if (store_first)
        rig_register_store(r);
    raw_register(&r->coord, r->ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    raw_register(&r->client, r->ep, "client.0", MSG_ROLE_CLIENT, 0);

    fixture_config(&r->cfg, g_fx.dir);
    snprintf(r->cfg.run.name, sizeof r->cfg.run.name, "t");
    r->cfg.federation.clients = 1;
    r->cfg.federation.clients_per_round = 1;
    r->cfg.federation.min_clients = 1;
    r->cfg.federation.round_deadline_s = 60; /* the selection waits for client.0's scores */
    fp_error err = {0};
    evaluator_options_t eo = {
        .cfg = &r->cfg, .fallback_vocab = g_fx.vocab, .fallback_merges = g_fx.merges};
    r->ev = evaluator_new(&eo, &err);
    if (!r->ev)
        fail_msg("evaluator_new: %s", err.msg);
    actor_options_t o;
    fixture_actor_options(&o, r->ep, "evaluator", MSG_ROLE_EVALUATOR, "t");
    o.reconnect_min_ms = 100;
    r->actor = actor_spawn(&o, evaluator_actor(), r->ev, &r->result);
    assert_non_null(r->actor);
    raw_expect_peer(&r->coord, "evaluator", true); /* the broker tells coordinators of joins */

    /* n_k, as the evaluator checks it; known before the SELECTION is sent, so that the timing
     * of the store's copies is not delayed by loading the data */
    uint64_t n_k = client_examples(&r->cfg);
    msg_t m;
    assert_int_equal(msg_init(&m, MSG_SCORE_REQUEST, "t", "coordinator", NULL), FP_OK);
    m.score_request.batch = 1;
    uint64_t asked = raw_send(&r->coord, "evaluator", &m);
    msg_clear(&m);

    msg_t req, rep;
    raw_expect(&r->client, MSG_SCORE_REQUEST, &req);
    assert_int_equal(msg_reply_init(&rep, MSG_SCORE_REPLY, &req, "client.0", NULL), FP_OK);
    assert_int_equal(msg_f64s_alloc(&rep.score_reply.scores, 2, NULL), FP_OK);
    memcpy(rep.score_reply.scores.v, CLIENT_SCORES, sizeof CLIENT_SCORES);
    rep.score_reply.n = n_k;
    rep.score_reply.batch = (uint32_t)r->cfg.federation.score_batch;
    raw_send(&r->client, "evaluator", &rep);
    msg_clear(&rep);
    msg_clear(&req);

    raw_expect(&r->coord, MSG_SELECTION, &r->answer);
    assert_int_equal(r->answer.re, asked);
    /* The selection is the pure one of client.0's scores (a single client: S = its scores). */
    int layers[3], k;
    double S[3];
    int64_t n = (int64_t)n_k;
    assert_int_equal(evaluator_select(&r->cfg, 3, CLIENT_SCORES, &n, layers, &k, S, &err), FP_OK);
    const msg_selection_t *sel = &r->answer.selection;
    assert_int_equal(sel->num_layers, 3);
    assert_int_equal(sel->layers.n, (uint32_t)k);
    for (int i = 0; i < k; i++)
        assert_int_equal(sel->layers.v[i], layers[i]);
    assert_int_equal(sel->scores.n, 2);
    assert_memory_equal(sel->scores.v, CLIENT_SCORES, sizeof CLIENT_SCORES);
}

/* Stops the evaluator (it must still be running: nothing here may stop it), then the peers. */
static void rig_stop(rig_t *r)
{
    zactor_destroy(&r->actor);
    assert_int_equal(r->result.status, FP_OK);
    assert_int_equal(r->result.exit_code, 0);
    evaluator_destroy(&r->ev);
    msg_clear(&r->answer);
    if (r->store_up)
        raw_close(&r->store);
    raw_close(&r->client);
    raw_close(&r->coord);
    zactor_destroy(&r->broker);
}

/* a and b carry the same SELECTION: same run, sender and body; seq, re and round may differ
 * (a re-send is a new message; the coordinator's copy is a reply). */
static bool same_selection(const msg_t *a, const msg_t *b)
{
    msg_t h = *b; /* shallow: only the header is changed, the body is compared, nothing freed */
    h.seq = a->seq;
    h.re = a->re;
    h.round = a->round;
    return a->type == MSG_SELECTION && msg_equal(a, &h);
}

/* What the fake store saw while it listened. */
typedef struct heard {
    int selections; /* SELECTIONs received */
    int others;     /* anything else (the evaluator sends the store nothing else) */
    bool all_same;  /* every SELECTION equal to the coordinator's answer */
    uint64_t seq;   /* seq of the last SELECTION */
    int64_t at;     /* when it arrived (zclock_mono) */
    msg_t last;     /* the last SELECTION, to answer */
} heard_t;

/* The fake store listens for up to ms, answering only the broker's heartbeats, and returns once
 * `want` SELECTIONs came (want = 0: listens the whole time). The caller clears h->last. Never
 * asserts, so it may run while stderr is captured. */
static void store_selections(rig_t *r, int ms, int want, heard_t *h)
{
    memset(h, 0, sizeof *h);
    h->all_same = true;
    int64_t end = zclock_mono() + ms;
    while (zclock_mono() < end && (!want || h->selections < want)) {
        msg_t m;
        if (!raw_recv(&r->store, NULL, &m))
            continue;
        if (m.type != MSG_SELECTION) {
            h->others++;
            msg_clear(&m);
            continue;
        }
        h->selections++;
        h->all_same = h->all_same && same_selection(&r->answer, &m);
        h->seq = m.seq;
        h->at = zclock_mono();
        msg_clear(&h->last);
        h->last = m;
    }
}

/* The fake store answers the SELECTION it holds with `type` (SAVED or ERROR with `code`). */
static void store_answer_code(rig_t *r, const msg_t *selection, msg_type type, fp_status code,
                              const char *text)
{
    msg_t m;
    assert_int_equal(msg_reply_init(&m, type, selection, "store", NULL), FP_OK);
    if (type == MSG_SAVED) {
        m.saved.answers = MSG_SELECTION;
    } else {
        m.error.code = code;
        m.error.answers = MSG_SELECTION;
        assert_int_equal(msg_set_text(&m.error.text, text, NULL), FP_OK);
    }
    raw_send(&r->store, "evaluator", &m);
    msg_clear(&m);
}

static void store_answer(rig_t *r, const msg_t *selection, msg_type type, const char *text)
{
    store_answer_code(r, selection, type, FP_EINVAL, text);
}

/* Returns once the evaluator has handled everything the fake store sent before (its answer):
 * the store sends the evaluator a SCORE_REQUEST, which a store may not send, and the actor
 * loop's refusal (ERROR, re = its seq) comes after the answer was handled, since what one
 * connection sends reaches the evaluator in order (DEALER -> broker -> DEALER -> the actor loop).
 * Without it, the coordinator's request that follows may overtake the answer at the broker (two
 * connections are not ordered), and the evaluator would rightly send the selection to the store
 * once more. Re-sends that cross the answer (sent before it was handled, e.g. on a loaded machine)
 * are allowed: their number is returned. -1: no reply within RESEND_WITHIN_MS, or something else
 * than the same selection came. Never asserts (like store_selections). */
static int store_synced(rig_t *r)
{
    msg_t m;
    if (msg_init(&m, MSG_SCORE_REQUEST, "t", "store", NULL))
        return -1;
    m.score_request.batch = 1;
    uint64_t asked = raw_send(&r->store, "evaluator", &m);
    msg_clear(&m);
    int crossed = 0;
    for (int64_t end = zclock_mono() + RESEND_WITHIN_MS; zclock_mono() < end;) {
        if (!raw_recv(&r->store, NULL, &m))
            continue;
        bool same = same_selection(&r->answer, &m), reply = m.re == asked;
        msg_clear(&m);
        if (reply)
            return crossed;
        if (!same)
            return -1;
        crossed++;
    }
    return -1;
}

/* Sends a message of `type` from peer p to the evaluator that looks like an acknowledgement of
 * the SELECTION but must not count as one (wrong sender, or a SAVED of something else). */
static void fake_ack(raw_peer_t *p, msg_type type, msg_type answers)
{
    msg_t m;
    assert_int_equal(msg_init(&m, type, "t", p->id, NULL), FP_OK);
    if (type == MSG_SAVED) {
        m.saved.answers = answers;
    } else {
        m.error.code = FP_EINVAL;
        m.error.answers = answers;
    }
    raw_send(p, "evaluator", &m);
    msg_clear(&m);
}

/* The coordinator asks again; it must get the same SELECTION back (answered from memory). */
static void coordinator_asks_again(rig_t *r)
{
    msg_t m;
    assert_int_equal(msg_init(&m, MSG_SCORE_REQUEST, "t", "coordinator", NULL), FP_OK);
    m.score_request.batch = 1;
    uint64_t asked = raw_send(&r->coord, "evaluator", &m);
    msg_clear(&m);
    raw_expect(&r->coord, MSG_SELECTION, &m);
    assert_int_equal(m.re, asked);
    assert_true(same_selection(&r->answer, &m));
    msg_clear(&m);
}

/* (1) A store that drops the SELECTION gets the identical SELECTION again about a second later;
 * acknowledgements from others, or of other messages, do not stop that; its SAVED does, and a
 * later request is then answered without bothering the store. */
static void a_dropped_selection_is_sent_again_until_saved(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    heard_t first, again, after;
    store_selections(&r, RESEND_WITHIN_MS, 1, &first);
    assert_int_equal(first.selections, 1);
    assert_true(first.all_same);
    /* Dropped. None of these is the store's SAVED of the SELECTION. */
    fake_ack(&r.coord, MSG_SAVED, MSG_SELECTION);
    fake_ack(&r.coord, MSG_ERROR, MSG_SELECTION);
    fake_ack(&r.store, MSG_SAVED, MSG_SAVE);

    store_selections(&r, RESEND_WITHIN_MS, 1, &again);
    assert_int_equal(again.selections, 1);
    assert_true(again.all_same);
    assert_true(again.seq > first.seq); /* a new message with the same content */
    int64_t gap = again.at - first.at;
    if (gap < 500 || gap > RESEND_WITHIN_MS)
        fail_msg("re-sent after %lld ms; expected about 1000", (long long)gap);

    store_answer(&r, &again.last, MSG_SAVED, NULL);
    assert_true(store_synced(&r) >= 0);
    coordinator_asks_again(&r);
    store_selections(&r, QUIET_MS, 0, &after);
    assert_int_equal(after.selections, 0);
    assert_int_equal(after.others, 0);
    assert_int_equal(first.others + again.others, 0);
    msg_clear(&first.last);
    msg_clear(&again.last);
    rig_stop(&r);
}

/* Redirects file descriptor 2 into path (the evaluator logs with fprintf); returns the old
 * one for stderr_back. */
static int stderr_to(const char *path)
{
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    assert_true(dup2(fd, 2) == 2);
    close(fd);
    return saved;
}

static void stderr_back(int saved)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

/* (2) The store's ERROR about the SELECTION is final: no further re-send, the refusal is logged
 * with its code and reason, and the evaluator keeps serving (it does not stop). */
static void a_refused_selection_is_logged_and_not_sent_again(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    heard_t first, after;
    store_selections(&r, RESEND_WITHIN_MS, 1, &first);
    assert_int_equal(first.selections, 1);
    assert_true(first.all_same);

    char log[300];
    snprintf(log, sizeof log, "%s/refusal.log", g_fx.dir);
    int saved = stderr_to(log);
    store_answer(&r, &first.last, MSG_ERROR, "run t is not known");
    int crossed = store_synced(&r);
    store_selections(&r, QUIET_MS, 0, &after);
    stderr_back(saved);
    assert_true(crossed >= 0);

    assert_int_equal(after.selections, 0);
    assert_int_equal(first.others + after.others, 0);
    char *text = test_read_file(log, NULL);
    assert_non_null(text);
    if (!strstr(text, "evaluator: the store refused the selection (EINVAL): run t is not known"))
        fail_msg("the refusal is not in the log: [%s]", text);
    free(text);
    coordinator_asks_again(&r); /* still serving, and the store is not asked again */
    store_selections(&r, 300, 0, &after);
    assert_int_equal(after.selections, 0);
    msg_clear(&first.last);
    rig_stop(&r);
}

/* (2b) A failure of the store's own (its database busy) is not a refusal: it is logged, the
 * identical SELECTION comes again, and SAVED then stops it. */
static void a_store_failure_is_retried(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, true);
    heard_t first, again, after;
    store_selections(&r, RESEND_WITHIN_MS, 1, &first);
    assert_int_equal(first.selections, 1);
    char log[300];
    snprintf(log, sizeof log, "%s/busy.log", g_fx.dir);
    int saved = stderr_to(log);
    store_answer_code(&r, &first.last, MSG_ERROR, FP_EDB, "database is locked");
    store_selections(&r, RESEND_WITHIN_MS, 1, &again);
    stderr_back(saved);
    assert_int_equal(again.selections, 1);
    assert_true(again.all_same);
    char *text = test_read_file(log, NULL);
    assert_non_null(text);
    if (!strstr(text, "could not store (will send again) the selection (EDB): database is locked"))
        fail_msg("the store failure is not in the log: [%s]", text);
    free(text);
    store_answer(&r, &again.last, MSG_SAVED, NULL);
    assert_true(store_synced(&r) >= 0);
    store_selections(&r, QUIET_MS, 0, &after);
    assert_int_equal(after.selections, 0);
    msg_clear(&first.last);
    msg_clear(&again.last);
    rig_stop(&r);
}

/* (3) No store at first: the broker answers ENOTFOUND (which is not a refusal) and the evaluator
 * keeps trying; a store that registers later still gets the SELECTION, and SAVED stops it. */
static void a_store_that_comes_late_still_gets_the_selection(void **state)
{
    (void)state;
    rig_t r;
    rig_start(&r, false);
    /* The first attempt and at least one re-send hit no store. */
    for (int i = 0; i < 300 && broker_actor_stats(r.broker).unroutable < 2; i++)
        zclock_sleep(20);
    assert_true(broker_actor_stats(r.broker).unroutable >= 2);

    rig_register_store(&r);
    heard_t late, after;
    store_selections(&r, RESEND_WITHIN_MS, 1, &late);
    assert_int_equal(late.selections, 1);
    assert_true(late.all_same);
    store_answer(&r, &late.last, MSG_SAVED, NULL);
    assert_true(store_synced(&r) >= 0);
    store_selections(&r, QUIET_MS, 0, &after);
    assert_int_equal(after.selections, 0);
    assert_int_equal(late.others + after.others, 0);
    msg_clear(&late.last);
    rig_stop(&r);
}

static int setup(void **state)
{
    return fixture_files_setup(state, &g_fx, "evaluator_selection", 3, 40, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_dropped_selection_is_sent_again_until_saved),
        cmocka_unit_test(a_refused_selection_is_logged_and_not_sent_again),
        cmocka_unit_test(a_store_failure_is_retried),
        cmocka_unit_test(a_store_that_comes_late_still_gets_the_selection),
    };
    return cmocka_run_group_tests(tests, setup, fixture_files_teardown);
}
