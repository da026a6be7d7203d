/* test_launch_failures.c — what a user sees when `fedpep launch` cannot run (docs/launch.md,
 * "What each failure looks like to the user"), with real processes (the sanitizer build of the
 * fedpep binary) on a tiny random model:
 *   - a truncated model.safetensors, a missing datasets folder, a database that is not SQLite:
 *     the failing role exits 78, is not restarted, the run stops within seconds with a non-zero
 *     exit code, and the summary quotes the role's error line (the cause from its log);
 *   - restarts used up (a 1-layer model makes every client fail its layer statistics): the run
 *     is marked `failed` in the database, not left `running`;
 *   - [broker] endpoint given as an override is the endpoint the run uses; given together with a
 *     different --endpoint it is refused (exit 2);
 *   - every command exits 2 for a missing configuration file. */
#include "tests/support/test.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch/launch.h"
#include "storage/store_db.h"
#include "tests/test_launch_fixture.h"

static int setup(void **state)
{
    return launch_fixture_setup(state, "launchfail", 2, 3);
}

static int teardown(void **state)
{
    return launch_fixture_teardown(state);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* What one launch showed: its exit code, the console (summary) and the process events. */
typedef struct outcome {
    int code;
    double seconds;
    char out[8192];
    char events[16384];
} outcome;

static void launch_case(const fixture *f, const char *name, const char *const *over, size_t n,
                        bool fresh, outcome *r)
{
    launch_case_t c;
    launch_case_open(&c, f, name, over, n);
    c.o.fresh = fresh;
    fp_error err = {0};
    double t0 = now_s();
    fp_status st = launch_run(&c.o, &r->code, &err);
    r->seconds = now_s() - t0;
    rewind(c.out);
    r->out[fread(r->out, 1, sizeof r->out - 1, c.out)] = 0;
    rewind(c.events);
    r->events[fread(r->events, 1, sizeof r->events - 1, c.events)] = 0;
    fclose(c.out);
    fclose(c.events);
    if (st)
        fail_msg("launch %s: %s", name, err.msg);
    printf("-- %s: exit %d after %.1f s\n%s", name, r->code, r->seconds, r->out);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* The run stopped on its own account within `limit` seconds, exited `code`, and every process
 * was started once: nothing restarted a failure that recurs. */
static void expect_fatal_stop(const outcome *r, int code, double limit)
{
    if (r->code != code || r->seconds > limit)
        fail_msg("exit %d after %.1f s (want %d within %.0f s)\n%s\n%s", r->code, r->seconds, code,
                 limit, r->out, r->events);
    if (count(r->events, "restart ") != 0)
        fail_msg("a process was restarted:\n%s", r->events);
    assert_non_null(strstr(r->events, "not restarted (a fatal failure: it would recur"));
    assert_non_null(strstr(r->out, "exited with code 78, a fatal failure: not restarted\n"));
    assert_non_null(strstr(r->out, "\ncause:    "));
    assert_non_null(strstr(r->out, "logs:     "));
}

/* The cause line of the summary ("cause:    ROLE: error: ...") contains `text`. */
static void expect_cause(const outcome *r, const char *text)
{
    const char *cause = strstr(r->out, "\ncause:    ");
    assert_non_null(cause);
    const char *end = strchr(cause + 1, '\n');
    assert_non_null(end);
    const char *hit = strstr(cause, text);
    if (!hit || hit > end || !strstr(cause, ": error: "))
        fail_msg("cause without '%s':\n%s", text, r->out);
}

static void truncated_model(void **state)
{
    fixture *f = *state;
    char model[400], path[700];
    snprintf(model, sizeof model, "%s/model-truncated", f->dir);
    mkdir(model, 0700);
    fixture_model(model, 2, 32, 0.05f, 3);
    snprintf(path, sizeof path, "%s/model.safetensors", model);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    char over[500];
    snprintf(over, sizeof over, "model.path=%s", model);
    const char *overs[] = {over};
    outcome *r = calloc(1, sizeof *r);
    launch_case(f, "truncated", overs, 1, true, r);
    expect_fatal_stop(r, 78, 60);
    expect_cause(r, "model.safetensors: safetensors: tensor");
    expect_cause(r, "outside the");
    free(r);
}

/* Also: [broker] endpoint as an override is the endpoint of the run (it used to be ignored). */
static void missing_dataset(void **state)
{
    fixture *f = *state;
    char over_data[400], over_ep[500], ep[400];
    snprintf(over_data, sizeof over_data, "data.dir=%s/no-such-folder", f->dir);
    snprintf(ep, sizeof ep, "ipc://%s/elsewhere.ipc", f->dir);
    snprintf(over_ep, sizeof over_ep, "broker.endpoint=%s", ep);
    const char *overs[] = {over_data, over_ep};
    outcome *r = calloc(1, sizeof *r);
    launch_case(f, "nodata", overs, 2, true, r);
    expect_fatal_stop(r, 78, 60);
    expect_cause(r, "/no-such-folder/sst-2/train.tsv: cannot open");
    char first[600];
    snprintf(first, sizeof first, "broker %s\n", ep);
    assert_non_null(strstr(r->out, first));
    char path[700];
    snprintf(path, sizeof path, "%s/nodata/config.ini", f->dir);
    char *config = test_read_file(path, NULL);
    assert_non_null(config);
    snprintf(first, sizeof first, "endpoint = %s\n", ep);
    assert_non_null(strstr(config, first));
    free(config);
    free(r);
}

static void database_not_sqlite(void **state)
{
    fixture *f = *state;
    char run_dir[400], db[500];
    snprintf(run_dir, sizeof run_dir, "%s/notsqlite", f->dir);
    mkdir(run_dir, 0700);
    snprintf(db, sizeof db, "%s/fedpep.db", run_dir);
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    FILE *out = fopen(db, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(junk, 1, sizeof junk, out), sizeof junk);
    fclose(out);
    outcome *r = calloc(1, sizeof *r);
    launch_case(f, "notsqlite", NULL, 0, false, r); /* resume: the folder's database */
    expect_fatal_stop(r, 78, 60);
    expect_cause(r, "store: error: ");
    expect_cause(r, "fedpep.db: not an SQLite database");
    assert_non_null(strstr(r->out, "fedpep.db (run status not recorded: "));
    /* Nobody wrote into the file that is not theirs. */
    size_t len = 0;
    char *after = test_read_file(db, &len);
    assert_non_null(after);
    assert_int_equal(len, sizeof junk);
    assert_memory_equal(after, junk, sizeof junk);
    free(after);
    free(r);
}

/* max_restarts used up: the run must not stay `running` in the database. */
static void restarts_used_up_mark_the_run_failed(void **state)
{
    fixture *f = *state;
    char model[400], over_model[500];
    snprintf(model, sizeof model, "%s/model-one-layer", f->dir);
    mkdir(model, 0700);
    fixture_model(model, 1, 32, 0.05f, 3); /* layer statistics need two layers: clients fail */
    snprintf(over_model, sizeof over_model, "model.path=%s", model);
    const char *overs[] = {over_model, "launch.max_restarts=0"};
    outcome *r = calloc(1, sizeof *r);
    launch_case(f, "gaveup", overs, 2, true, r);
    if (r->code != 1 || r->seconds > 60)
        fail_msg("exit %d after %.1f s\n%s\n%s", r->code, r->seconds, r->out, r->events);
    assert_non_null(strstr(r->out, "died 1 time (max_restarts = 0)\n"));
    expect_cause(r, "layer stats: need 2 examples and 2 layers");
    assert_non_null(strstr(r->out, "fedpep.db (run status: failed)\n"));
    assert_non_null(strstr(r->events, "no restart left (max_restarts = 0)\n"));
    char path[700];
    snprintf(path, sizeof path, "%s/gaveup/fedpep.db", f->dir);
    store_db_t *db = NULL;
    store_run run = {0};
    fp_error err = {0};
    if (store_db_open(&db, path, STORE_DB_READONLY, &err) ||
        store_db_run_find(db, "tiny", &run, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(run.status, STORE_RUN_FAILED);
    store_run_clear(&run);
    store_db_close(&db);
    free(r);
}

/* Runs `fedpep ARGS...` with stdout discarded; returns its exit code, stderr into err. */
static int run_command(const fixture *f, const char *const *args, char *err, size_t cap)
{
    char err_path[600];
    snprintf(err_path, sizeof err_path, "%s/command.err", f->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[20] = {f->exe};
        for (int i = 0; args[i] && i < 18; i++)
            argv[i + 1] = args[i];
        if (!freopen(err_path, "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(99);
        execv(f->exe, (char *const *)argv);
        _exit(98);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    char *text = test_read_file(err_path, NULL);
    snprintf(err, cap, "%s", text ? text : "");
    free(text);
    return WEXITSTATUS(ws);
}

/* A missing or broken configuration is exit 2 for every command (launch used to say 1), with
 * one "fedpep CMD: error: ..." line. */
static void every_command_exits_2_for_a_bad_config(void **state)
{
    fixture *f = *state;
    const char *missing = "/nonexistent/run.ini";
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.ini", f->dir);
    FILE *out = fopen(bad, "w");
    assert_non_null(out);
    fputs("[run]\nrounds = many\n", out);
    fclose(out);
    const char *const commands[][8] = {
        {"launch", "CONFIG", NULL},
        {"config", "CONFIG", NULL},
        {"simulate", "CONFIG", NULL},
        {"tune", "CONFIG", NULL},
        {"broker", "--config", "CONFIG", NULL},
        {"store", "--config", "CONFIG", NULL},
        {"coordinator", "--config", "CONFIG", NULL},
        {"evaluator", "--config", "CONFIG", NULL},
        {"client", "--id", "0", "--config", "CONFIG", NULL},
    };
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        for (int which = 0; which < 2; which++) {
            const char *args[8] = {NULL};
            for (int i = 0; commands[c][i]; i++)
                args[i] = strcmp(commands[c][i], "CONFIG") ? commands[c][i] : which ? bad : missing;
            char err[2048], want[64];
            int code = run_command(f, args, err, sizeof err);
            snprintf(want, sizeof want, "fedpep %s: error: ", commands[c][0]);
            if (code != 2 || !strstr(err, want) ||
                !strstr(err, which ? "bad.ini:2" : "/nonexistent/run.ini: cannot open"))
                fail_msg("fedpep %s with %s: exit %d, stderr:\n%s", commands[c][0],
                         which ? "a bad config" : "a missing config", code, err);
        }
    }
    /* --endpoint and a different [broker] endpoint: one of them would be ignored. */
    char run_dir[500], err[2048];
    snprintf(run_dir, sizeof run_dir, "%s/conflict", f->dir);
    const char *conflict[] = {"launch",
                              f->config,
                              "broker.endpoint=tcp://127.0.0.1:5999",
                              "--endpoint",
                              "tcp://127.0.0.1:5998",
                              "--dir",
                              run_dir,
                              NULL};
    assert_int_equal(run_command(f, conflict, err, sizeof err), 2);
    assert_non_null(strstr(err, "disagree"));
    assert_int_not_equal(access(run_dir, F_OK), 0); /* refused before anything was made */
}

int main(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans would be ours to reap, never left behind */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(truncated_model),
        cmocka_unit_test(missing_dataset),
        cmocka_unit_test(database_not_sqlite),
        cmocka_unit_test(restarts_used_up_mark_the_run_failed),
        cmocka_unit_test(every_command_exits_2_for_a_bad_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
