/* test_log_flood.c — logs stay small under a flood of malformed input (common/ratelog.h).
 *   - ratelog alone: the first event of a peer is a line, then at most one line per interval
 *     summarising the count since the last line; keys are bounded; totals in one summary line.
 *   - real processes (`fedpep broker`, `fedpep store`, the sanitizer build, over ipc://):
 *     50,000 garbage frames at the broker from a connection that never reads, and 50,000
 *     garbage messages at an actor (the store) from a registered peer, forwarded by the broker
 *     (paced, so each is answered: all are counted), then 10,000 more unpaced and 2,000 valid
 *     requests, whose answers find the peer's queue full: the broker bounces each with ERROR
 *     ENET "its queue is full" to the store, and under load the store's own queue to the broker
 *     fills too. Both processes stay alive and keep routing and answering, each log stays under
 *     LOG_BOUND bytes, and each says the counts in one summary line when it stops. Before the
 *     rate limit, every garbage frame wrote one or two lines (about 5 MB of store log here), and
 *     every bounced answer or full queue one more. */
#include "tests/support/test.h"
#include "tests/test_broker_fixture.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "actors/store_role.h"
#include "common/ratelog.h"

#define FLOOD 50000
#define WINDOW 200   /* garbage frames in flight at once toward the store */
#define BOUNCED 2000 /* valid requests whose answers cannot be delivered */
#define LOG_BOUND 4096

static void ratelog_limits_lines_per_key(void **state)
{
    (void)state;
    assert_null(ratelog_new("x", "from", 0));
    ratelog_t *rl = ratelog_new("malformed input", "from", 1000);
    assert_non_null(rl);
    char line[256];
    assert_true(ratelog_event(rl, "client.3", "bad map", 0, line, sizeof line));
    assert_string_equal(line, "malformed input from client.3: bad map");
    for (int i = 1; i < 1000; i++)
        assert_false(ratelog_event(rl, "client.3", "short", i, line, sizeof line));
    assert_true(ratelog_event(rl, NULL, "no key", 5, line, sizeof line)); /* its own key */
    assert_string_equal(line, "malformed input from unknown: no key");
    assert_false(ratelog_flush(rl, 999, line, sizeof line)); /* not due yet */
    assert_true(ratelog_flush(rl, 1000, line, sizeof line));
    assert_string_equal(line,
                        "malformed input from client.3: 999 in the last 1.0 s; latest: short");
    assert_false(ratelog_flush(rl, 1000, line, sizeof line)); /* nothing pending */
    /* the next event after the interval is a line of its own: one event since the last */
    assert_false(ratelog_event(rl, "client.3", "again", 1500, line, sizeof line));
    assert_true(ratelog_event(rl, "client.3", "again", 2000, line, sizeof line));
    assert_string_equal(line, "malformed input from client.3: 2 in the last 1.0 s; latest: again");
    /* more keys than the table: the rest are counted together */
    for (int k = 0; k < 2 * RATELOG_MAX_KEYS; k++) {
        char key[32];
        snprintf(key, sizeof key, "peer.%d", k);
        ratelog_event(rl, key, "x", 3000, line, sizeof line);
    }
    assert_int_equal(ratelog_total(rl), 1000 + 1 + 2 + 2 * RATELOG_MAX_KEYS);
    char summary[2048];
    assert_int_equal(ratelog_summary(rl, summary, sizeof summary), ratelog_total(rl));
    assert_non_null(strstr(summary, "malformed input: 1067 in total; 1002 from client.3 "
                                    "(latest: again), 34 from others (latest: x), "));
    assert_int_equal(ratelog_summary(rl, summary, 40), ratelog_total(rl)); /* cut, not overrun */
    assert_int_equal(strlen(summary), 39);
    ratelog_destroy(&rl);
    assert_null(rl);
    ratelog_destroy(NULL);
    rl = ratelog_new("quiet", "from", 10);
    assert_int_equal(ratelog_summary(rl, summary, sizeof summary), 0);
    assert_string_equal(summary, "");
    ratelog_destroy(&rl);
}

/* Starts `fedpep ARGS...` with stdout and stderr appended to log. */
static pid_t spawn(const char *exe, const char *log, const char *const *args)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        const char *argv[16] = {exe};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        if (!freopen(log, "a", stderr) || !freopen(log, "a", stdout))
            _exit(99);
        execv(exe, (char *const *)argv);
        _exit(98);
    }
    return pid;
}

static int stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Asks the store through the broker (LOAD of an unknown run) until it answers: proof that the
 * broker routes and the store reads and replies. Other messages (answers to the garbage, the
 * broker's refusals) are skipped. Fails after ~15 s. */
static void store_answers(raw_peer_t *p)
{
    for (int attempt = 0; attempt < 30; attempt++) {
        msg_t m, reply;
        assert_int_equal(msg_init(&m, MSG_LOAD, "no-such-run", p->id, NULL), FP_OK);
        assert_int_equal(msg_set_id(m.load.client, p->id, NULL), FP_OK);
        uint64_t seq = raw_send(p, STORE_ACTOR_ID, &m);
        msg_clear(&m);
        char source[MSG_ID_CAP];
        while (raw_recv(p, source, &reply)) {
            bool answer = !strcmp(source, STORE_ACTOR_ID) && reply.re == seq;
            bool unknown = !strcmp(source, ENVELOPE_BROKER_ID) && reply.type == MSG_ERROR &&
                           reply.error.code == FP_ENOTFOUND; /* the store is not registered yet */
            msg_clear(&reply);
            if (answer)
                return;
            if (unknown)
                break;
        }
        zclock_sleep(200);
    }
    fail_msg("the store does not answer");
}

/* Garbage payload i: never a valid message (0xc1 is a byte MessagePack never uses). */
static size_t garbage(uint8_t *buf, int i)
{
    size_t n = 8 + (size_t)(i * 7919) % 57;
    buf[0] = 0xc1;
    for (size_t k = 1; k < n; k++)
        buf[k] = (uint8_t)(i * 31 + (int)k * 17);
    return n;
}

/* Reads and drops what arrives for p (answers to the garbage) until 500 ms pass without any. */
static void drain(raw_peer_t *p)
{
    zsock_set_rcvtimeo(p->sock, 500);
    zmsg_t *m;
    while ((m = zmsg_recv(p->sock)))
        zmsg_destroy(&m);
    zsock_set_rcvtimeo(p->sock, 3000);
}

static char *read_log(const char *path, size_t *len)
{
    char *text = test_read_file(path, len);
    assert_non_null(text);
    return text;
}

static void flood_keeps_logs_small(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    char exe[512];
    snprintf(exe, sizeof exe, "%s/asan/fedpep", build && *build ? build : "build");
    if (access(exe, X_OK))
        skip();
    char dir[256], ep[320], db[320], broker_log[320], store_log[320];
    snprintf(dir, sizeof dir, "%s", test_tmpdir("flood"));
    snprintf(ep, sizeof ep, "ipc://%s/b.ipc", dir);
    snprintf(db, sizeof db, "%s/flood.db", dir);
    snprintf(broker_log, sizeof broker_log, "%s/broker.log", dir);
    snprintf(store_log, sizeof store_log, "%s/store.log", dir);
    /* A broker busy with the rogue's frames reads the peer's late: a long liveness keeps the
     * peer registered meanwhile (the point here is the logs, not liveness). */
    pid_t broker = spawn(exe, broker_log,
                         (const char *[]){"broker", "--endpoint", ep, "broker.liveness=120", NULL});
    pid_t store =
        spawn(exe, store_log, (const char *[]){"store", "--broker", ep, "--db", db, NULL});
    raw_peer_t peer;
    raw_register(&peer, ep, "client.9", MSG_ROLE_CLIENT, 9);
    store_answers(&peer);

    int64_t t0 = test_now_ms();
    /* At the broker: frame sets of one frame, and undecodable messages addressed to it. */
    zsock_t *rogue = zsock_new(ZMQ_DEALER);
    assert_non_null(rogue);
    zsock_set_linger(rogue, 0);
    assert_int_equal(zsock_connect(rogue, "%s", ep), 0);
    uint8_t buf[64];
    for (int i = 0; i < FLOOD; i++) {
        size_t n = garbage(buf, i);
        if (i % 2)
            zsock_send(rogue, "b", buf, n);
        else
            zsock_send(rogue, "sb", ENVELOPE_BROKER_ID, buf, n);
    }
    /* At the store, through the broker, from a registered peer, WINDOW frames at a time: each
     * is answered with ERROR (so every one reached the store and was counted). */
    for (int i = 0; i < FLOOD; i += WINDOW) {
        for (int k = i; k < i + WINDOW; k++) {
            size_t n = garbage(buf, k);
            assert_int_equal(zsock_send(peer.sock, "sb", STORE_ACTOR_ID, buf, n), 0);
        }
        for (int answered = 0; answered < WINDOW;) {
            char source[MSG_ID_CAP];
            msg_t m;
            if (!raw_recv(&peer, source, &m))
                fail_msg("no answer to garbage %d", i + answered);
            answered += !strcmp(source, STORE_ACTOR_ID) && m.type == MSG_ERROR;
            msg_clear(&m);
        }
    }
    /* And a peer that never reads: what does not fit the queues on the way is dropped and
     * counted, never logged frame by frame. The answers to the garbage fill the queue toward
     * the peer, so the store's answers (STATE) to the valid LOADs after them come back as
     * ERROR ENET from the broker, as many as the LOADs. */
    for (int i = 0; i < FLOOD / 5; i++) {
        size_t n = garbage(buf, i);
        assert_int_equal(zsock_send(peer.sock, "sb", STORE_ACTOR_ID, buf, n), 0);
    }
    for (int i = 0; i < BOUNCED; i++) { /* blocking sends, as above: none is lost on our side */
        msg_t m;
        assert_int_equal(msg_init(&m, MSG_LOAD, "no-such-run", peer.id, NULL), FP_OK);
        assert_int_equal(msg_set_id(m.load.client, peer.id, NULL), FP_OK);
        m.seq = ++peer.seq;
        uint8_t *load = NULL;
        size_t n = 0;
        assert_int_equal(msg_encode(&m, NULL, &load, &n, NULL), FP_OK);
        assert_int_equal(zsock_send(peer.sock, "sb", STORE_ACTOR_ID, load, n), 0);
        free(load);
        msg_clear(&m);
    }
    /* The queue toward us stays full until we read: wait (bounded) for the store to log the
     * first bounce, so that answers really were bounced before we drain. */
    bool bounced = false;
    for (int64_t end = test_now_ms() + 60000; !bounced && test_now_ms() < end;) {
        char *text = test_read_file(store_log, NULL);
        bounced = text && strstr(text, "about STATE: 'client.9': its queue is full");
        free(text);
        if (!bounced)
            zclock_sleep(100);
    }
    assert_true(bounced);
    drain(&peer);
    store_answers(&peer); /* queued behind the garbage: everything before it was handled */
    int64_t elapsed = test_now_ms() - t0;
    assert_int_equal(kill(broker, 0), 0);
    assert_int_equal(kill(store, 0), 0);
    zsock_destroy(&rogue);
    raw_close(&peer);
    assert_int_equal(stop(store), 0);
    assert_int_equal(stop(broker), 0);
    printf("flood of 2 x %d frames handled in %.1f s\n", FLOOD, (double)elapsed / 1000.0);
    assert_true(elapsed < 120000);

    size_t len = 0;
    char *text = read_log(broker_log, &len);
    if (len > LOG_BOUND)
        fail_msg("broker log of %zu bytes, more than %d; it begins:\n%.1500s", len, LOG_BOUND,
                 text);
    printf("broker log: %zu bytes\n%s", len, text);
    char want[128];
    snprintf(want, sizeof want, "malformed input: %d in total; %d from an unregistered", FLOOD,
             FLOOD);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "malformed input from an unregistered connection: "));
    free(text);
    text = read_log(store_log, &len);
    if (len > LOG_BOUND)
        fail_msg("store log of %zu bytes, more than %d; it begins:\n%.1500s", len, LOG_BOUND, text);
    printf("store log: %zu bytes\n%s", len, text);
    /* The paced flood counted in full; of the unread one, what got through. */
    unsigned long bad = 0;
    const char *at = strstr(text, "bad messages: ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "bad messages: %lu in total", &bad), 1);
    if (bad < FLOOD || bad > FLOOD + FLOOD / 5)
        fail_msg("the store counted %lu bad messages", bad);
    assert_non_null(strstr(text, "bad messages from client.9: "));
    /* The bounced answers: logged rate-limited, counted in the summary. */
    assert_non_null(strstr(text, "ERRORs received from broker ENET: about STATE: "));
    at = strstr(text, "ERRORs received: ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "ERRORs received: %lu in total", &bad), 1);
    printf("answers bounced: %lu of %d\n", bad, BOUNCED);
    assert_true(bad >= 1 && bad <= BOUNCED);
    assert_null(strstr(text, "Sanitizer"));
    assert_null(strstr(text, "runtime error"));
    free(text);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ratelog_limits_lines_per_key),
        cmocka_unit_test(flood_keeps_logs_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
