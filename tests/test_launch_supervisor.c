/* test_launch_supervisor.c — process supervision with stand-in children (/bin/sh scripts):
 * restart on crash up to the limit, exit codes, final exits, fatal exits never restarted and
 * the cause read from the log, injected kills, environment and logs, ordered shutdown with
 * SIGKILL after the grace period, and no process left behind (not even a grandchild, not even
 * when the supervising process itself is killed). */
#include "tests/support/test.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch/supervisor.h"

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static sup_options quiet_options(int max_restarts)
{
    sup_options o = {.max_restarts = max_restarts,
                     .restart_delay_ms = 0,
                     .grace_ms = 300,
                     .wake_fd = -1,
                     .events = NULL,
                     .env = NULL};
    return o;
}

static int add_sh(sup_t *sup, const char *name, const char *script, fp_restart restart,
                  bool final_exit, int stage, const char *log)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    sup_spec spec = {.name = name,
                     .argv = argv,
                     .restart = restart,
                     .final_exit = final_exit,
                     .stop_stage = stage,
                     .log_path = log};
    fp_error err = {0};
    int i = sup_add(sup, &spec, &err);
    assert_true(i >= 0);
    assert_int_equal(sup_start(sup, i, &err), FP_OK);
    return i;
}

/* Polls until child i reaches a state other than RUNNING/RESTARTING, or fails after 10 s. */
static void settle(sup_t *sup, int i)
{
    int64_t end = test_now_ms() + 10000;
    while (test_now_ms() < end) {
        sup_state s = sup_state_of(sup, i);
        if (s != SUP_RUNNING && s != SUP_RESTARTING)
            return;
        fp_error err = {0};
        assert_int_equal(sup_poll(sup, 50, NULL, &err), FP_OK);
    }
    fail_msg("%s did not settle", sup_name(sup, i));
}

static void crash_restarts_up_to_the_limit(void **state)
{
    (void)state;
    sup_options o = quiet_options(2);
    sup_t *sup = sup_new(&o, NULL);
    int crash = add_sh(sup, "crash", "exit 3", FP_RESTART_ON_FAILURE, false, 0, NULL);
    int sig = add_sh(sup, "sig", "kill -9 $$", FP_RESTART_ALWAYS, false, 0, NULL);
    int ok = add_sh(sup, "ok", "exit 0", FP_RESTART_ON_FAILURE, false, 0, NULL);
    int never = add_sh(sup, "never", "exit 5", FP_RESTART_NEVER, false, 0, NULL);
    int missing = sup_add(sup,
                          &(sup_spec){.name = "missing",
                                      .argv = (const char *[]){"/nonexistent/x", NULL},
                                      .restart = FP_RESTART_NEVER},
                          NULL);
    assert_int_equal(sup_start(sup, missing, NULL), FP_OK);
    for (int i = 0; i < sup_count(sup); i++)
        settle(sup, i);
    assert_int_equal(sup_state_of(sup, crash), SUP_GAVE_UP);
    assert_int_equal(sup_starts(sup, crash), 3);
    assert_int_equal(sup_restarts(sup, crash), 2);
    assert_int_equal(sup_last_status(sup, crash), 3);
    assert_int_equal(sup_state_of(sup, sig), SUP_GAVE_UP);
    assert_int_equal(sup_last_status(sup, sig), -SIGKILL);
    assert_int_equal(sup_starts(sup, sig), 3);
    assert_int_equal(sup_state_of(sup, ok), SUP_EXITED); /* on-failure: a clean exit stays */
    assert_int_equal(sup_starts(sup, ok), 1);
    assert_int_equal(sup_last_status(sup, ok), 0);
    assert_int_equal(sup_state_of(sup, never), SUP_EXITED);
    assert_int_equal(sup_last_status(sup, never), 5);
    assert_int_equal(sup_last_status(sup, missing), 127);
    assert_int_equal(sup_pid(sup, crash), 0);
    sup_destroy(&sup);
    assert_null(sup);
}

/* The coordinator-like child: an exit code is final, a death by signal is restarted. */
static void final_exit_propagates_code_and_survives_a_kill(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("sup");
    char script[1024];
    snprintf(script, sizeof script,
             "if [ -e %s/once ]; then exit 7; else touch %s/once; kill -9 $$; fi", dir, dir);
    sup_options o = quiet_options(3);
    sup_t *sup = sup_new(&o, NULL);
    int c = add_sh(sup, "coordinator", script, FP_RESTART_ON_FAILURE, true, 0, NULL);
    settle(sup, c);
    assert_int_equal(sup_state_of(sup, c), SUP_EXITED);
    assert_int_equal(sup_last_status(sup, c), 7);
    assert_int_equal(sup_starts(sup, c), 2);
    assert_int_equal(sup_restarts(sup, c), 1);
    sup_destroy(&sup);
    test_rmtree(dir);
}

static void injected_kills_restart_without_counting(void **state)
{
    (void)state;
    sup_options o = quiet_options(0); /* no ordinary restart allowed at all */
    o.restart_delay_ms = 20;
    sup_t *sup = sup_new(&o, NULL);
    int c = add_sh(sup, "client.0", "exec sleep 30", FP_RESTART_ON_FAILURE, false, 0, NULL);
    fp_error err = {0};
    for (int k = 0; k < 3; k++) {
        pid_t before = sup_pid(sup, c);
        assert_true(test_pid_alive(before));
        assert_int_equal(sup_kill(sup, c, SIGKILL, true, &err), FP_OK);
        int64_t end = test_now_ms() + 5000;
        while (sup_starts(sup, c) < k + 2 && test_now_ms() < end)
            assert_int_equal(sup_poll(sup, 50, NULL, &err), FP_OK);
        assert_int_equal(sup_starts(sup, c), k + 2);
        assert_int_equal(sup_state_of(sup, c), SUP_RUNNING);
        assert_true(sup_pid(sup, c) != before);
        assert_false(test_pid_alive(before));
    }
    assert_int_equal(sup_restarts(sup, c), 0);
    /* An ordinary kill now uses up the (zero) budget. */
    assert_int_equal(sup_kill(sup, c, SIGKILL, false, &err), FP_OK);
    settle(sup, c);
    assert_int_equal(sup_state_of(sup, c), SUP_GAVE_UP);
    assert_int_equal(sup_kill(sup, c, SIGKILL, true, &err), FP_ESTATE);
    assert_int_equal(sup_kill(sup, 99, SIGKILL, true, &err), FP_EINVAL);
    sup_destroy(&sup);
}

static void environment_log_and_events(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("sup");
    char log[600], events_path[600];
    snprintf(log, sizeof log, "%s/child.log", dir);
    snprintf(events_path, sizeof events_path, "%s/events", dir);
    FILE *events = fopen(events_path, "w");
    const char *env[] = {"FEDPEP_TEST_VAR=hello", "HOME=/elsewhere", NULL};
    sup_options o = quiet_options(1);
    o.events = events;
    o.env = env;
    sup_t *sup = sup_new(&o, NULL);
    int c = add_sh(sup, "echo", "echo \"$FEDPEP_TEST_VAR $HOME\"; echo oops >&2; exit 1",
                   FP_RESTART_ON_FAILURE, false, 0, log);
    settle(sup, c);
    sup_destroy(&sup);
    fclose(events);
    char *text = test_read_file(log, NULL);
    assert_non_null(text);
    assert_string_equal(text, "hello /elsewhere\noops\nhello /elsewhere\noops\n"); /* appended */
    free(text);
    text = test_read_file(events_path, NULL);
    assert_non_null(strstr(text, "launch: echo exited with code 1; restart 1/1"));
    assert_non_null(strstr(text, "no restart left"));
    free(text);
    test_rmtree(dir);
}

/* Exit codes of fatal_exits (2, 78: the same failure on every start) are never restarted, whatever
 * the policy, for an ordinary child and a final_exit one alike; other codes still are. The
 * error line of the latest instance is the cause, in the events and from sup_cause. */
static void fatal_exits_are_not_restarted_and_say_why(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("sup");
    char log78[600], log2[600], logc[600], log1[600], events_path[600], script[1600];
    snprintf(log78, sizeof log78, "%s/input.log", dir);
    snprintf(log2, sizeof log2, "%s/usage.log", dir);
    snprintf(logc, sizeof logc, "%s/coordinator.log", dir);
    snprintf(log1, sizeof log1, "%s/flaky.log", dir);
    snprintf(events_path, sizeof events_path, "%s/events", dir);
    FILE *events = fopen(events_path, "w");
    assert_non_null(events);
    static const int fatal[] = {2, 78, 0};
    sup_options o = quiet_options(3);
    o.events = events;
    o.fatal_exits = fatal;
    sup_t *sup = sup_new(&o, NULL);
    assert_non_null(sup);
    int input = add_sh(sup, "client.0",
                       "echo 'I: registered'; echo 'fedpep client.0: error: train.tsv: cannot "
                       "open' >&2; echo 'I: after'; exit 78",
                       FP_RESTART_ALWAYS, false, 0, log78);
    int usage = add_sh(sup, "store", "echo 'error: bad [run] db' >&2; exit 2",
                       FP_RESTART_ON_FAILURE, false, 0, log2);
    int coord =
        add_sh(sup, "coordinator", "echo 'fedpep coordinator: error: truncated' >&2; exit 78",
               FP_RESTART_ON_FAILURE, true, 0, logc);
    /* Each attempt says which it is: the cause is the latest instance's, not the first's. */
    snprintf(script, sizeof script,
             "n=$(cat %s/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > %s/n; "
             "echo \"fedpep client.1: error: attempt $n\" >&2; echo \"trailing $n\"; exit 1",
             dir, dir);
    int flaky = add_sh(sup, "client.1", script, FP_RESTART_ON_FAILURE, false, 0, log1);
    int quiet = add_sh(sup, "client.2", "kill -9 $$", FP_RESTART_NEVER, false, 0, NULL);
    for (int i = 0; i < sup_count(sup); i++)
        settle(sup, i);
    assert_int_equal(sup_state_of(sup, input), SUP_FATAL);
    assert_int_equal(sup_starts(sup, input), 1);
    assert_int_equal(sup_last_status(sup, input), 78);
    assert_int_equal(sup_state_of(sup, usage), SUP_FATAL);
    assert_int_equal(sup_starts(sup, usage), 1);
    assert_int_equal(sup_state_of(sup, coord), SUP_FATAL);
    assert_int_equal(sup_state_of(sup, flaky), SUP_GAVE_UP);
    assert_int_equal(sup_starts(sup, flaky), 4);
    char cause[256];
    assert_true(sup_cause(sup, input, cause, sizeof cause));
    assert_string_equal(cause, "error: train.tsv: cannot open");
    assert_true(sup_cause(sup, usage, cause, sizeof cause));
    assert_string_equal(cause, "error: bad [run] db");
    assert_true(sup_cause(sup, flaky, cause, sizeof cause));
    assert_string_equal(cause, "error: attempt 4");
    assert_true(sup_cause(sup, flaky, cause, 10)); /* cut to the buffer */
    assert_string_equal(cause, "error: at");
    assert_false(sup_cause(sup, quiet, cause, sizeof cause)); /* no log file of its own */
    assert_string_equal(cause, "");
    assert_string_equal(sup_log_path(sup, input), log78);
    assert_null(sup_log_path(sup, quiet));
    sup_destroy(&sup);
    fclose(events);
    char *text = test_read_file(events_path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "launch: client.0 exited with code 78: not restarted (a fatal "
                                 "failure: it would recur on every start)\n"
                                 "launch: client.0: error: train.tsv: cannot open\n"));
    assert_non_null(strstr(text, "launch: store exited with code 2: not restarted"));
    assert_non_null(strstr(text, "launch: coordinator exited with code 78: not restarted"));
    assert_non_null(strstr(text, "launch: client.1: error: attempt 1\n"));
    assert_non_null(strstr(text, "no restart left (max_restarts = 3)\n"
                                 "launch: client.1: error: attempt 4\n"));
    free(text);
    test_rmtree(dir);
}

/* Without an error line, sup_cause gives the last line the instance wrote; a log that existed
 * before the start is not the instance's. Bad fatal_exits are refused. */
static void cause_without_an_error_line(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("sup");
    char log[600];
    snprintf(log, sizeof log, "%s/old.log", dir);
    FILE *f = fopen(log, "w");
    assert_non_null(f);
    fputs("fedpep x: error: from an earlier run\n", f);
    fclose(f);
    sup_options o = quiet_options(0);
    sup_t *sup = sup_new(&o, NULL);
    int c = add_sh(sup, "x", "echo 'first'; echo 'AddressSanitizer: boom'; kill -SEGV $$",
                   FP_RESTART_NEVER, false, 0, log);
    settle(sup, c);
    char cause[128];
    assert_false(sup_cause(sup, c, cause, sizeof cause));
    assert_string_equal(cause, "AddressSanitizer: boom");
    int silent = add_sh(sup, "y", "exit 1", FP_RESTART_NEVER, false, 0, log);
    settle(sup, silent);
    assert_false(sup_cause(sup, silent, cause, sizeof cause));
    assert_string_equal(cause, ""); /* the earlier lines are x's */
    sup_destroy(&sup);
    fp_error err = {0};
    o.fatal_exits = (const int[]){300, 0};
    assert_null(sup_new(&o, &err));
    assert_int_equal(err.status, FP_EINVAL);
    test_rmtree(dir);
}

/* Stage 0 stops before stage 1; a child that ignores SIGTERM is killed after the grace period,
 * with its whole process group (the grandchild it started too). */
static void shutdown_in_order_and_nothing_left(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("sup");
    char order[600], first[1400], second[1400], stubborn[2000], gpid_path[600];
    snprintf(order, sizeof order, "%s/order", dir);
    snprintf(gpid_path, sizeof gpid_path, "%s/grandchild", dir);
    snprintf(first, sizeof first,
             "trap 'echo first >> %s; exit 0' TERM; while :; do sleep 0.02; done", order);
    snprintf(second, sizeof second,
             "trap 'echo second >> %s; exit 0' TERM; while :; do sleep 0.02; done", order);
    snprintf(stubborn, sizeof stubborn,
             "trap '' TERM; sleep 30 & echo $! > %s.tmp; mv %s.tmp %s; wait", gpid_path, gpid_path,
             gpid_path);
    sup_options o = quiet_options(3);
    o.grace_ms = 300;
    sup_t *sup = sup_new(&o, NULL);
    int a = add_sh(sup, "first", first, FP_RESTART_ALWAYS, false, 0, "/dev/null");
    int b = add_sh(sup, "second", second, FP_RESTART_ALWAYS, false, 1, "/dev/null");
    int s = add_sh(sup, "stubborn", stubborn, FP_RESTART_ALWAYS, false, 0, NULL);
    pid_t pa = sup_pid(sup, a), pb = sup_pid(sup, b), ps = sup_pid(sup, s);
    char *gp = NULL;
    for (int t = 0; t < 500 && !(gp = test_read_file(gpid_path, NULL)); t++)
        nap_ms(10);
    assert_non_null(gp);
    pid_t grandchild = (pid_t)atoi(gp);
    free(gp);
    nap_ms(50); /* let the shells install their traps */
    assert_true(test_pid_alive(grandchild));
    int64_t t0 = test_now_ms();
    sup_shutdown(sup);
    int64_t took = test_now_ms() - t0;
    assert_true(took >= 250 && took < 5000);
    assert_false(test_pid_alive(pa));
    assert_false(test_pid_alive(pb));
    assert_false(test_pid_alive(ps));
    for (int t = 0; t < 100 && test_pid_alive(grandchild); t++)
        nap_ms(10);
    assert_false(test_pid_alive(grandchild));
    assert_int_equal(sup_state_of(sup, a), SUP_EXITED);
    assert_int_equal(sup_last_status(sup, a), 0);
    assert_int_equal(sup_last_status(sup, s), -SIGKILL);
    char *text = test_read_file(order, NULL);
    assert_string_equal(text, "first\nsecond\n");
    free(text);
    assert_int_equal(sup_start(sup, a, NULL), FP_ESTATE); /* no start after shutdown */
    sup_shutdown(sup);                                    /* idempotent */
    sup_destroy(&sup);
    test_rmtree(dir);
}

/* A supervising process killed with SIGKILL takes its children with it (PR_SET_PDEATHSIG). */
static void children_die_with_the_supervisor(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t mid = fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        sup_options o = quiet_options(0);
        sup_t *sup = sup_new(&o, NULL);
        const char *argv[] = {"/bin/sleep", "30", NULL};
        sup_spec spec = {.name = "sleeper", .argv = argv, .restart = FP_RESTART_NEVER};
        int i = sup_add(sup, &spec, NULL);
        if (i < 0 || sup_start(sup, i, NULL))
            _exit(1);
        pid_t child = sup_pid(sup, i);
        if (write(fds[1], &child, sizeof child) != sizeof child)
            _exit(1);
        for (;;)
            pause();
    }
    pid_t child = 0;
    assert_int_equal(read(fds[0], &child, sizeof child), (ssize_t)sizeof child);
    assert_true(test_pid_alive(child));
    kill(mid, SIGKILL);
    int ws = 0;
    assert_int_equal(waitpid(mid, &ws, 0), mid);
    for (int t = 0; t < 200 && test_pid_alive(child); t++)
        nap_ms(10);
    assert_false(test_pid_alive(child));
    close(fds[0]);
    close(fds[1]);
}

static void bad_arguments(void **state)
{
    (void)state;
    fp_error err = {0};
    sup_options o = quiet_options(-1);
    assert_null(sup_new(&o, &err));
    assert_int_equal(err.status, FP_EINVAL);
    o = quiet_options(1);
    sup_t *sup = sup_new(&o, &err);
    assert_int_equal(sup_add(sup, &(sup_spec){.name = "x", .argv = (const char *[]){NULL}}, &err),
                     -1);
    assert_int_equal(sup_start(sup, 0, &err), FP_EINVAL);
    assert_int_equal(sup_state_of(sup, 5), SUP_IDLE);
    assert_int_equal(sup_last_status(sup, 5), INT32_MIN);
    sup_destroy(&sup);
    sup_destroy(NULL);
}

int main(void)
{
    /* Orphaned grandchildren are re-parented to this process, so none lingers as a zombie. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_restarts_up_to_the_limit),
        cmocka_unit_test(final_exit_propagates_code_and_survives_a_kill),
        cmocka_unit_test(injected_kills_restart_without_counting),
        cmocka_unit_test(environment_log_and_events),
        cmocka_unit_test(fatal_exits_are_not_restarted_and_say_why),
        cmocka_unit_test(cause_without_an_error_line),
        cmocka_unit_test(shutdown_in_order_and_nothing_left),
        cmocka_unit_test(children_die_with_the_supervisor),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
