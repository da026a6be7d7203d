/* test_storage_crash.c — a round is all there or absent whatever instant the store dies at, the
 * store resumes and commits it after the crash, and readers beside a busy writer only ever see
 * whole rounds. Crashes are real: a forked child is SIGKILLed between the statements of its
 * commit (the test hook of store_db.h names each point). */
#include "test_storage_fixture.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_STEPS = 64 };

typedef struct step_log {
    int n;
    char name[MAX_STEPS][16];
} step_log;

static void record_step(void *arg, const char *step)
{
    step_log *log = arg;
    if (log->n < MAX_STEPS)
        snprintf(log->name[log->n++], sizeof log->name[0], "%s", step);
}

typedef struct kill_at {
    int at, seen;
} kill_at;

static void kill_at_step(void *arg, const char *step)
{
    (void)step;
    kill_at *k = arg;
    if (++k->seen == k->at)
        kill(getpid(), SIGKILL);
}

/* The steps of committing one fixture round, learned from a commit on a scratch database. */
static step_log learn_steps(const char *dir)
{
    char path[320];
    snprintf(path, sizeof path, "%s/scratch.db", dir);
    store_db_t *db = fx_open(path, STORE_DB_CREATE);
    int64_t run = fx_run(db, "r");
    step_log log = {0};
    store_db_set_hook(db, record_step, &log);
    fx_commit_ok(db, run, 0);
    store_db_close(&db);
    return log;
}

/* In a child: open, commit round `round` and get killed at hook call `at`. Never returns. */
static void child_commit_and_die(const char *path, int64_t run, int32_t round, int at)
{
    store_db_t *db = NULL;
    if (store_db_open(&db, path, 0, NULL))
        _exit(20);
    kill_at k = {at, 0};
    store_db_set_hook(db, kill_at_step, &k);
    fx_commit(db, run, round, NULL, NULL);
    _exit(21); /* the kill did not happen */
}

/* A child process that commits rounds 0..rounds-1 of run with its own connection and exits 0
 * (20: cannot open, 21: a commit failed). */
static pid_t fork_writer(const char *path, int64_t run, int32_t rounds)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    store_db_t *w = NULL;
    if (store_db_open(&w, path, 0, NULL))
        _exit(20);
    for (int32_t r = 0; r < rounds; r++)
        if (fx_commit(w, run, r, NULL, NULL))
            _exit(21);
    store_db_close(&w);
    _exit(0);
}

static void killed_commit_is_all_or_nothing(void **state)
{
    fx_db *fx = *state;
    step_log steps = learn_steps(fx->dir);
    /* begin, round, a client row each, checkpoint, run, commit, committed */
    assert_int_equal(steps.n, FX_CLIENTS + 6);
    assert_string_equal(steps.name[steps.n - 1], "committed");
    for (int at = 1; at <= steps.n; at++) {
        char path[320];
        snprintf(path, sizeof path, "%s/kill-%02d.db", fx->dir, at);
        store_db_t *db = fx_open(path, STORE_DB_CREATE);
        int64_t run = fx_run(db, "r");
        fx_commit_ok(db, run, 0);
        fx_commit_ok(db, run, 1);
        store_db_close(&db);

        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_commit_and_die(path, run, 2, at);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("kill at step %d (%s): child exited %d", at, steps.name[at - 1],
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);

        /* Only a kill after COMMIT returned leaves round 2; nothing else leaves any of it. */
        bool after_commit = strcmp(steps.name[at - 1], "committed") == 0;
        db = fx_open(path, STORE_DB_VERIFY);
        int n = fx_check_whole_rounds(db, run);
        if (n != (after_commit ? 3 : 2))
            fail_msg("kill at step %d (%s): %d rounds", at, steps.name[at - 1], n);
        store_client_round *clients = NULL;
        size_t nc = 99;
        fp_error err = {0};
        assert_int_equal(store_db_round_clients(db, run, 2, &clients, &nc, &err), FP_OK);
        assert_int_equal(nc, after_commit ? FX_CLIENTS : 0);
        free(clients);

        /* The restarted store commits the round (a retry if it had landed) and goes on. */
        bool dup = !after_commit;
        assert_int_equal(fx_commit(db, run, 2, &dup, &err), FP_OK);
        assert_int_equal(dup, after_commit);
        fx_commit_ok(db, run, 3);
        assert_int_equal(fx_check_whole_rounds(db, run), 4);
        store_db_close(&db);
    }
}

/* A writer process commits rounds while this process reads snapshots: every snapshot holds
 * rounds 0..n-1, each whole, with round n-1's checkpoint; n never goes back. */
static void readers_see_whole_rounds_beside_a_writer(void **state)
{
    fx_db *fx = *state;
    enum { ROUNDS = 60 };
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    int64_t run = fx_run(db, "r");
    store_db_close(&db);

    pid_t pid = fork_writer(fx->path, run, ROUNDS);
    store_db_t *reader = fx_open(fx->path, STORE_DB_READONLY);
    fp_error err = {0};
    int last = 0, snapshots = 0, distinct = 0, status = 0;
    bool done = false;
    while (!done) {
        done = waitpid(pid, &status, WNOHANG) == pid;
        assert_int_equal(store_db_read_begin(reader, &err), FP_OK);
        int n = fx_check_whole_rounds(reader, run);
        assert_int_equal(store_db_read_end(reader, &err), FP_OK);
        assert_true(n >= last);
        distinct += n != last;
        last = n;
        snapshots++;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(last, ROUNDS);
    print_message("    %d snapshots saw %d different round counts\n", snapshots, distinct);
    store_db_close(&reader);
}

typedef struct writer_job {
    const char *path;
    int64_t run;
    int32_t rounds;
    fp_status status; /* read only after the join */
    atomic_int done;  /* set last by the writer */
} writer_job;

static void *writer_thread(void *arg)
{
    writer_job *job = arg;
    store_db_t *w = NULL;
    job->status = store_db_open(&w, job->path, 0, NULL);
    for (int32_t r = 0; !job->status && r < job->rounds; r++)
        job->status = fx_commit(w, job->run, r, NULL, NULL);
    store_db_close(&w);
    atomic_store(&job->done, 1);
    return NULL;
}

/* The same with a writer thread: one handle per thread, one process. */
static void reader_thread_beside_a_writer_thread(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    writer_job job = {.path = fx->path, .run = fx_run(db, "r"), .rounds = 30};
    atomic_init(&job.done, 0);
    store_db_close(&db);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, writer_thread, &job), 0);
    store_db_t *reader = fx_open(fx->path, STORE_DB_READONLY);
    fp_error err = {0};
    int last = 0;
    while (!atomic_load(&job.done)) {
        assert_int_equal(store_db_read_begin(reader, &err), FP_OK);
        int n = fx_check_whole_rounds(reader, job.run);
        assert_int_equal(store_db_read_end(reader, &err), FP_OK);
        assert_true(n >= last);
        last = n;
    }
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(job.status, FP_OK);
    assert_int_equal(fx_check_whole_rounds(reader, job.run), job.rounds);
    store_db_close(&reader);
}

/* Two writers (the store and, say, a maintenance tool) wait for each other instead of failing. */
static void two_writers_take_turns(void **state)
{
    fx_db *fx = *state;
    enum { ROUNDS = 20 };
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    int64_t a = fx_run(db, "a"), b = fx_run(db, "b");
    store_db_close(&db);
    pid_t pid = fork_writer(fx->path, a, ROUNDS);
    db = fx_open(fx->path, 0);
    for (int32_t r = 0; r < ROUNDS; r++)
        fx_commit_ok(db, b, r);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(fx_check_whole_rounds(db, a), ROUNDS);
    assert_int_equal(fx_check_whole_rounds(db, b), ROUNDS);
    store_db_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(killed_commit_is_all_or_nothing),
        FX_TEST(readers_see_whole_rounds_beside_a_writer),
        FX_TEST(reader_thread_beside_a_writer_thread),
        FX_TEST(two_writers_take_turns),
    };
    return cmocka_run_group_tests_name("storage_crash", tests, NULL, NULL);
}
