/* test_launch_run.c — `fedpep launch` end to end on a tiny random model: real broker, store,
 * evaluator, coordinator and 4 client processes (the sanitizer build of the fedpep binary).
 * A run completes with every round in the database; runs whose coordinator or store is
 * SIGKILLed in round 1 complete too and end with the same checkpoint bytes; a run whose broker
 * is SIGKILLed completes with every round; SIGTERM to the launcher stops
 * every process it started (none left alive) and exits 128 + SIGTERM. */
#include "tests/support/test.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "actors/store_role.h"
#include "common/config.h"
#include "launch/launch.h"
#include "storage/store_db.h"
#include "tests/test_launch_fixture.h"
#include "simulate/simulate.h"

static int setup(void **state)
{
    return launch_fixture_setup(state, "launch", 3, 4);
}

static int teardown(void **state)
{
    return launch_fixture_teardown(state);
}

/* Runs `fedpep launch` into f->dir/NAME; returns the launch's exit code (status in *st). */
static int launch_code(const fixture *f, const char *name, const char *const *over, size_t n,
                       int kill_broker_at, int kill_store_at, double kill_clients, char *output,
                       size_t cap, fp_status *st_out, fp_error *err_out)
{
    launch_case_t c;
    launch_case_open(&c, f, name, over, n);
    c.o.kill_broker_at_round = kill_broker_at;
    c.o.kill_store_at_round = kill_store_at;
    c.o.kill_clients = kill_clients;
    int code = -1;
    *st_out = launch_run(&c.o, &code, err_out);
    rewind(c.out);
    size_t len = fread(output, 1, cap - 1, c.out);
    output[len] = 0;
    fclose(c.out);
    fclose(c.events);
    return code;
}

static void launch_into(const fixture *f, const char *name, const char *const *over, size_t n,
                        int kill_broker_at, int kill_store_at, double kill_clients, char *output,
                        size_t cap)
{
    fp_status st;
    fp_error err = {0};
    int code = launch_code(f, name, over, n, kill_broker_at, kill_store_at, kill_clients, output,
                           cap, &st, &err);
    if (st || code != 0)
        fail_msg("launch %s: status %d code %d: %s\n%s", name, st, code, err.msg, output);
}

/* No child process reported a sanitizer error (they are the sanitizer build). */
static void check_logs_clean(const fixture *f, const char *name)
{
    const char *actors[] = {"broker",   "store",    "evaluator", "coordinator",
                            "client.0", "client.1", "client.2",  "client.3"};
    for (size_t i = 0; i < sizeof actors / sizeof actors[0]; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s/logs/%s.log", f->dir, name, actors[i]);
        char *text = test_read_file(path, NULL);
        assert_non_null(text);
        if (strstr(text, "Sanitizer") || strstr(text, "runtime error"))
            fail_msg("%s:\n%s", path, text);
        free(text);
    }
}

static void open_run(const fixture *f, const char *name, store_db_t **db, store_run *run)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s/fedpep.db", f->dir, name);
    fp_error err = {0};
    if (store_db_open(db, path, STORE_DB_READONLY, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(store_db_run_find(*db, "tiny", run, &err), FP_OK);
}

/* expect rounds, each asking clients_per_round = 2 of the 4 clients. all_ok: no fault touched
 * a client, so every round is ok at its first attempt. Otherwise a round whose attempt closed
 * with no update (both clients killed, or their messages lost with the broker) is retried and
 * asks 2 more (train/round_rules.h: ceil(overselect * (K - updates))): sampled counts every
 * client asked over its attempts, so 4 then. */
static void check_rounds(store_db_t *db, const store_run *run, int expect, bool all_ok)
{
    store_round *rounds = NULL;
    size_t n = 0;
    fp_error err = {0};
    assert_int_equal(store_db_rounds_list(db, run->id, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, (size_t)expect);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rounds[i].round, (int)i);
        if (all_ok || rounds[i].retries == 0)
            assert_int_equal(rounds[i].sampled, 2);
        else
            assert_int_equal(rounds[i].sampled, 4);
        assert_true(rounds[i].completed + rounds[i].dropped + rounds[i].late == rounds[i].sampled);
        if (rounds[i].status == STORE_ROUND_OK)
            assert_true(rounds[i].completed >= 1); /* min_clients */
        if (all_ok) {
            assert_int_equal(rounds[i].retries, 0);
            assert_int_equal(rounds[i].status, STORE_ROUND_OK);
        }
    }
    free(rounds);
    assert_int_equal(run->status, STORE_RUN_FINISHED);
}

static void expect_same_final_checkpoint(const fixture *f, const char *a, const char *b)
{
    store_db_t *da = NULL, *db = NULL;
    store_run ra = {0}, rb = {0};
    open_run(f, a, &da, &ra);
    open_run(f, b, &db, &rb);
    check_rounds(db, &rb, 3, true);
    store_checkpoint ca = {0}, cb = {0};
    fp_error err = {0};
    assert_int_equal(store_db_checkpoint_latest(da, ra.id, &ca, &err), FP_OK);
    assert_int_equal(store_db_checkpoint_latest(db, rb.id, &cb, &err), FP_OK);
    assert_int_equal(ca.round, 2);
    assert_int_equal(cb.round, 2);
    assert_int_equal(ca.prompt.size, cb.prompt.size);
    assert_true(ca.prompt.size > 0);
    assert_memory_equal(ca.prompt.data, cb.prompt.data, ca.prompt.size);
    assert_int_equal(ca.server_state.size, cb.server_state.size);
    assert_memory_equal(ca.server_state.data, cb.server_state.data, ca.server_state.size);
    store_checkpoint_clear(&ca);
    store_checkpoint_clear(&cb);
    store_run_clear(&ra);
    store_run_clear(&rb);
    store_db_close(&da);
    store_db_close(&db);
}

/* One uninterrupted run, one with the coordinator killed in round 1: same final state. */
static void run_completes_and_survives_a_coordinator_kill(void **state)
{
    fixture *f = *state;
    char out_a[8192], out_b[8192];
    launch_into(f, "plain", NULL, 0, -1, -1, 0, out_a, sizeof out_a);
    assert_non_null(strstr(out_a, "round 0 (1 of 3)  sampled 2"));
    assert_non_null(strstr(out_a, "round 2 (3 of 3)"));
    assert_non_null(strstr(out_a, "finished: coordinator exited with code 0"));
    assert_non_null(strstr(out_a, "/plain/fedpep.db"));
    assert_non_null(strstr(out_a, "sqlite3 -readonly"));
    const char *kill_over[] = {"faults.kill_coordinator_at_round=1"};
    launch_into(f, "killed", kill_over, 1, -1, -1, 0, out_b, sizeof out_b);
    assert_non_null(strstr(out_b, "round 2 (3 of 3)"));

    store_db_t *da = NULL;
    store_run ra = {0};
    open_run(f, "plain", &da, &ra);
    check_rounds(da, &ra, 3, true);
    store_run_clear(&ra);
    store_db_close(&da);
    check_logs_clean(f, "plain");
    check_logs_clean(f, "killed");
    expect_same_final_checkpoint(f, "plain", "killed");
    /* The kill really happened: the coordinator's log shows two starts. */
    char log[700];
    snprintf(log, sizeof log, "%s/killed/logs/coordinator.log", f->dir);
    char *text = test_read_file(log, NULL);
    assert_non_null(text);
    int registrations = 0;
    for (const char *p = text; (p = strstr(p, "registered")); p++)
        registrations++;
    free(text);
    assert_true(registrations >= 2);
}

/* Needs the "plain" run of the test before. The store SIGKILLed in round 1: the coordinator
 * re-sends the unacknowledged SAVE to the restarted store and the run ends with the same
 * state. The broker SIGKILLed in round 1: messages in flight are lost (their clients count as
 * dropped, the round may be retried), so only completion and consistent rounds are promised;
 * the same run also SIGKILLs clients at seeded times (--kill-clients 0.5). */
static void run_survives_store_and_broker_kills(void **state)
{
    fixture *f = *state;
    char out[8192], path[700];
    launch_into(f, "store", NULL, 0, -1, 1, 0, out, sizeof out);
    assert_non_null(strstr(out, "round 2 (3 of 3)"));
    snprintf(path, sizeof path, "%s/store.events", f->dir);
    char *events = test_read_file(path, NULL);
    assert_non_null(events);
    assert_non_null(strstr(events, "store killed by signal 9 (Killed) (injected fault)"));
    free(events);
    check_logs_clean(f, "store");
    expect_same_final_checkpoint(f, "plain", "store");

    launch_into(f, "broker", NULL, 0, 1, -1, 0.5, out, sizeof out);
    assert_non_null(strstr(out, "round 2 (3 of 3)"));
    snprintf(path, sizeof path, "%s/broker.events", f->dir);
    events = test_read_file(path, NULL);
    assert_non_null(events);
    assert_non_null(strstr(events, "broker killed by signal 9 (Killed) (injected fault)"));
    assert_non_null(strstr(events, "client.")); /* --kill-clients 0.5: seeded SIGKILLs */
    assert_non_null(strstr(strstr(events, "client."), "(injected fault); restart 0/3"));
    free(events);
    check_logs_clean(f, "broker");
    store_db_t *db = NULL;
    store_run run = {0};
    open_run(f, "broker", &db, &run);
    check_rounds(db, &run, 3, false);
    store_run_clear(&run);
    store_db_close(&db);
}

/* `fedpep launch` as a process: SIGTERM mid-run stops every child and exits 143. */
static void sigterm_stops_everything(void **state)
{
    fixture *f = *state;
    char run_dir[600], err_path[700], db_path[700];
    snprintf(run_dir, sizeof run_dir, "%s/term", f->dir);
    snprintf(err_path, sizeof err_path, "%s/term.err", f->dir);
    snprintf(db_path, sizeof db_path, "%s/term/fedpep.db", f->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *e = freopen(err_path, "w", stderr);
        FILE *o = freopen("/dev/null", "w", stdout);
        if (!e || !o)
            _exit(99);
        execl(f->exe, f->exe, "launch", f->config, "run.rounds=100", "--dir", run_dir, "--grace-ms",
              "3000", (char *)NULL);
        _exit(98);
    }
    /* Wait until the run has started (its database exists), then interrupt. */
    for (int t = 0; t < 600 && access(db_path, F_OK); t++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(access(db_path, F_OK), 0);
    kill(pid, SIGTERM);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 128 + SIGTERM);
    char *text = test_read_file(err_path, NULL);
    assert_non_null(text);
    int started = 0;
    for (const char *p = text; (p = strstr(p, "started (pid ")); p++) {
        pid_t child = (pid_t)atoi(p + strlen("started (pid "));
        assert_true(child > 0);
        for (int t = 0; t < 100 && test_pid_alive(child); t++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (test_pid_alive(child))
            fail_msg("child %d outlived the launcher\n%s", (int)child, text);
        started++;
    }
    free(text);
    assert_true(started >= 8); /* broker, store, evaluator, coordinator, 4 clients */
}

/* Runs `fedpep launch ARGS...` with output discarded; returns its exit code. */
static int launch_exit_code(const fixture *f, const char *const *args)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[16] = {f->exe, "launch"};
        for (int i = 0; args[i] && i < 13; i++)
            argv[i + 2] = args[i];
        if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(99);
        execv(f->exe, (char *const *)argv);
        _exit(98);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    return WEXITSTATUS(ws);
}

static void command_line_errors(void **state)
{
    fixture *f = *state;
    char dir[600], long_dir[900];
    snprintf(dir, sizeof dir, "%s/never", f->dir);
    int n = snprintf(long_dir, sizeof long_dir, "%s/never", f->dir);
    for (int i = 0; i < 60; i++)
        n += snprintf(long_dir + n, sizeof long_dir - (size_t)n, "/d"); /* too long for [run] db */
    assert_int_equal(launch_exit_code(f, (const char *[]){"--bogus", NULL}), 2);
    assert_int_equal(launch_exit_code(f, (const char *[]){"a.ini", "b.ini", NULL}), 2);
    assert_int_equal(launch_exit_code(f, (const char *[]){"--kill-clients", "1.5", NULL}), 2);
    assert_int_equal(
        launch_exit_code(f, (const char *[]){f->config, "run.rounds=0", "--dir", dir, NULL}), 2);
    assert_int_equal(launch_exit_code(f, (const char *[]){f->config, "--dir", long_dir, NULL}), 2);
    assert_int_equal(launch_exit_code(f, (const char *[]){"/nonexistent.ini", NULL}), 2);
    assert_int_equal(launch_exit_code(f, (const char *[]){"--help", NULL}), 0);
    assert_int_not_equal(access(dir, F_OK), 0); /* a bad config creates no run folder */
}

/* The latest checkpoint of the run "tiny" in the database at path. */
static void latest_at(const char *path, store_checkpoint *ck, store_round **rounds, size_t *n)
{
    store_db_t *db = NULL;
    store_run run = {0};
    fp_error err = {0};
    if (store_db_open(&db, path, STORE_DB_READONLY, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(store_db_run_find(db, "tiny", &run, &err), FP_OK);
    assert_int_equal(run.status, STORE_RUN_FINISHED);
    assert_int_equal(store_db_checkpoint_latest(db, run.id, ck, &err), FP_OK);
    assert_int_equal(store_db_rounds_list(db, run.id, rounds, n, &err), FP_OK);
    store_run_clear(&run);
    store_db_close(&db);
}

/* Dropout 0.3 with min_clients = clients_per_round = 2: about half of the first attempts are
 * short. They are retried with other clients (and the clients' fault draws of the new
 * attempt), so the run finishes — before, a short round was retried with the same draws and
 * failed. Its coordinator is SIGKILLed in round 1 and resumes; the final checkpoint equals, byte
 * for byte, that of `simulate` with the same configuration (the same round decisions). */
static void dropout_is_retried_resumes_and_equals_simulate(void **state)
{
    fixture *f = *state;
    const char *over[] = {"faults.dropout=0.3", "federation.min_clients=2",
                          "faults.kill_coordinator_at_round=1"};
    char out[8192], path[700];
    launch_into(f, "dropout", over, 3, -1, -1, 0, out, sizeof out);
    check_logs_clean(f, "dropout");
    snprintf(path, sizeof path, "%s/dropout/logs/coordinator.log", f->dir);
    char *log = test_read_file(path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(strstr(log, "registered") + 1, "registered")); /* killed, restarted */
    assert_non_null(strstr(log, "attempt 1:")); /* a short attempt asked more clients */
    free(log);
    fedpep_config cfg;
    fp_error err = {0};
    assert_int_equal(config_load(f->config, over, 2, &cfg, &err), FP_OK);
    int w = snprintf(cfg.run.db, sizeof cfg.run.db, "%.140s/sim-dropout.db", f->dir);
    assert_true(w > 0 && (size_t)w < sizeof cfg.run.db);
    train_sim_options so = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    if (train_simulate(&cfg, &so, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);

    store_checkpoint ca = {0}, cb = {0};
    store_round *ra = NULL, *rb = NULL;
    size_t na = 0, nb = 0;
    snprintf(path, sizeof path, "%s/dropout/fedpep.db", f->dir);
    latest_at(path, &ca, &ra, &na);
    latest_at(cfg.run.db, &cb, &rb, &nb);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    int retries = 0;
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(ra[i].status, STORE_ROUND_OK);
        assert_int_equal(ra[i].completed, 2);
        /* The same clients asked, dropped and aggregated, attempt by attempt. */
        assert_int_equal(ra[i].retries, rb[i].retries);
        assert_int_equal(ra[i].sampled, rb[i].sampled);
        assert_int_equal(ra[i].dropped, rb[i].dropped);
        /* The global model, evaluated by the evaluator process: simulate's value for value. */
        assert_int_equal(isnan(ra[i].global_metric), isnan(rb[i].global_metric));
        assert_int_equal(isnan(ra[i].global_metric), isnan(ra[i].eval_metric));
        if (!isnan(rb[i].global_metric))
            assert_true(ra[i].global_metric == rb[i].global_metric);
        retries += ra[i].retries;
    }
    assert_true(retries > 0); /* the seed gives short attempts */
    /* The store keeps the rows with their shape; simulate the floats alone. */
    msg_tensor_t rows = {0};
    assert_int_equal(store_role_rows_parse(ca.prompt.data, ca.prompt.size, &rows, &err), FP_OK);
    assert_int_equal(msg_tensor_count(&rows) * sizeof(float), cb.prompt.size);
    assert_memory_equal(rows.data, cb.prompt.data, cb.prompt.size);
    msg_tensor_free(&rows);
    assert_int_equal(ca.server_state.size, cb.server_state.size);
    assert_memory_equal(ca.server_state.data, cb.server_state.data, ca.server_state.size);
    free(ra);
    free(rb);
    store_checkpoint_clear(&ca);
    store_checkpoint_clear(&cb);
}

/* A run whose database cannot take a write ends within a bounded time: exit code 1, the cause
 * in the coordinator's "error:" line, the rounds committed before intact, a sound file.
 * env: STORE_DB_FAULT_ENV for the store (NULL = none). */
static void storage_failure_ends_the_run(const fixture *f, const char *name, const char *env,
                                         const char *cause, int min_rounds, int64_t bound_ms)
{
    char out[8192], path[700];
    if (env)
        setenv(STORE_DB_FAULT_ENV, env, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fp_status st;
    fp_error err = {0};
    int code = launch_code(f, name, NULL, 0, -1, -1, 0, out, sizeof out, &st, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    unsetenv(STORE_DB_FAULT_ENV);
    int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("%s: the run ended (exit %d) after %.1f s\n", name, code, (double)ms / 1000);
    if (st || code != 1 || ms > bound_ms)
        fail_msg("%s: status %d code %d after %lld ms: %s\n%s", name, st, code, (long long)ms,
                 err.msg, out);
    check_logs_clean(f, name);
    snprintf(path, sizeof path, "%s/%s/logs/coordinator.log", f->dir, name);
    char *log = test_read_file(path, NULL);
    assert_non_null(log);
    const char *line = strstr(log, "coordinator: error: run tiny failed: ");
    if (!line || !strstr(line, cause))
        fail_msg("%s: no error line naming \"%s\":\n%s", name, cause, log);
    free(log);
    snprintf(path, sizeof path, "%s/%s/fedpep.db", f->dir, name);
    sqlite3 *raw = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(raw);
    store_db_t *db = NULL;
    store_run run = {0};
    if (store_db_open(&db, path, STORE_DB_READONLY, &err))
        fail_msg("%s", err.msg);
    store_round *rounds = NULL;
    size_t n = 0;
    st = store_db_run_find(db, "tiny", &run, &err);
    if (st == FP_OK)
        assert_int_equal(store_db_rounds_list(db, run.id, &rounds, &n, &err), FP_OK);
    else
        assert_int_equal(st, FP_ENOTFOUND); /* the run could not even be created */
    assert_true((int)n >= min_rounds && n < 3);
    store_checkpoint ck = {0};
    if (n) { /* the committed rounds are whole: the latest has its checkpoint */
        assert_int_equal(store_db_checkpoint_latest(db, run.id, &ck, &err), FP_OK);
        assert_int_equal(ck.round, (int)n - 1);
        store_checkpoint_clear(&ck);
    }
    free(rounds);
    store_run_clear(&run);
    store_db_close(&db);
}

static void a_database_that_cannot_write_ends_the_run(void **state)
{
    fixture *f = *state;
    /* Read-only from the start (PRAGMA query_only: SQLITE_READONLY; as root a chmod would not
     * stop SQLite): the run cannot even be created. */
    storage_failure_ends_the_run(f, "readonly", "readonly", "readonly database", 0, 60000);
    /* A disk that fills up after 6 write transactions (the run, the selection, round 0's two
     * client states, its commit and its pruning): the next client state is refused, the client
     * tells the coordinator, the run ends with round 0 committed. */
    storage_failure_ends_the_run(f, "full", "full:6", "database or disk is full", 1, 60000);
}

/* Another connection holds the write lock of an existing database: every write of the store
 * finds it busy; past the store's bound (FEDPEP_STORE_BUSY_LIMIT_MS = 3 s here) the refusal is
 * final and the run ends. */
static void a_locked_database_ends_the_run(void **state)
{
    fixture *f = *state;
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s/locked", f->dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/fedpep.db", dir);
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, path, STORE_DB_CREATE, &err), FP_OK);
    store_db_close(&db);
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    setenv(STORE_BUSY_LIMIT_ENV, "3000", 1);
    storage_failure_ends_the_run(f, "locked", NULL, "locked by another connection", 0, 60000);
    unsetenv(STORE_BUSY_LIMIT_ENV);
    assert_int_equal(sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
}

int main(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans would be ours to reap, never left behind */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_completes_and_survives_a_coordinator_kill),
        cmocka_unit_test(run_survives_store_and_broker_kills),
        cmocka_unit_test(sigterm_stops_everything),
        cmocka_unit_test(command_line_errors),
        cmocka_unit_test(dropout_is_retried_resumes_and_equals_simulate),
        cmocka_unit_test(a_database_that_cannot_write_ends_the_run),
        cmocka_unit_test(a_locked_database_ends_the_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
