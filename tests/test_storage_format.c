/* test_storage_format.c — opening files that are not a healthy fedpep database of this version
 * gives a clear error naming the path (never a crash, never a write to someone else's file), and
 * migrations bring older files forward in one transaction. */
#include "test_storage_fixture.h"

#include "common/rng.h"
#include "storage/schema.h"
#include "storage/store_hash.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Opens with flags and expects status, with the path in the reason. */
static void expect_open(const char *path, int flags, fp_status want)
{
    store_db_t *db = NULL;
    fp_error err = {0};
    fp_status st = store_db_open(&db, path, flags, &err);
    if (st != want)
        fail_msg("open %s: got %s (%s), want %s", path, fp_status_name(st), err.msg,
                 fp_status_name(want));
    assert_null(db);
    assert_non_null(strstr(err.msg, path));
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(raw, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(raw);
}

/* A database with a run, rounds and 64 KiB checkpoints, closed (so its WAL is folded in). */
static void make_real_db(const char *path, int rounds)
{
    store_db_t *db = fx_open(path, STORE_DB_CREATE);
    int64_t run = fx_run(db, "r");
    fp_error err = {0};
    unsigned char *big = calloc(1, 65536);
    for (int32_t r = 0; r < rounds; r++) {
        store_client_round clients[FX_CLIENTS];
        store_round round = fx_round(r, clients);
        memset(big, r + 1, 65536);
        store_checkpoint_blobs ck = {{big, 65536}, {big, 100}, {big, 32}};
        assert_int_equal(
            store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err), FP_OK);
    }
    free(big);
    store_db_close(&db);
}

static size_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (size_t)sb.st_size;
}

static void missing_file_is_not_found(void **state)
{
    fx_db *fx = *state;
    expect_open(fx->path, 0, FP_ENOTFOUND);
    expect_open(fx->path, STORE_DB_READONLY, FP_ENOTFOUND);
    assert_int_equal(access(fx->path, F_OK), -1); /* and nothing was created */
    expect_open(fx->dir, 0, FP_EIO);              /* a folder */
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, fx->path, STORE_DB_READONLY | STORE_DB_CREATE, &err),
                     FP_EINVAL);
    assert_int_equal(store_db_open(&db, "", 0, &err), FP_EINVAL);
}

static void random_bytes_are_not_a_database(void **state)
{
    fx_db *fx = *state;
    rng_t rng;
    rng_seed(&rng, 3);
    const size_t sizes[] = {1, 99, 100, 512, 4096, 65536};
    for (size_t i = 0; i < 6; i++) {
        unsigned char *junk = malloc(sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++)
            junk[j] = (unsigned char)rng_next(&rng);
        write_file(fx->path, junk, sizes[i]);
        expect_open(fx->path, 0, FP_EFORMAT);
        expect_open(fx->path, STORE_DB_READONLY, FP_EFORMAT);
        /* Refused files are left exactly as they were. */
        FILE *f = fopen(fx->path, "rb");
        unsigned char *back = malloc(sizes[i]);
        assert_int_equal(fread(back, 1, sizes[i], f), sizes[i]);
        fclose(f);
        assert_memory_equal(back, junk, sizes[i]);
        free(back);
        free(junk);
    }
    const char text[] = "[run]\nname = not a database\n";
    write_file(fx->path, text, sizeof text - 1);
    expect_open(fx->path, 0, FP_EFORMAT);
}

static void empty_file_is_created_or_refused(void **state)
{
    fx_db *fx = *state;
    write_file(fx->path, "", 0);
    expect_open(fx->path, STORE_DB_READONLY, FP_EFORMAT);
    store_db_t *db = fx_open(fx->path, 0); /* an empty file is an empty SQLite database */
    store_db_close(&db);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 3);
}

/* A truncated file: the header survives, the pages do not. Reads fail with FP_EDB; VERIFY at
 * open catches it up front. */
static void truncated_database_is_corrupt(void **state)
{
    fx_db *fx = *state;
    make_real_db(fx->path, 8);
    size_t size = file_size(fx->path);
    assert_true(size > 8 * 65536);
    assert_int_equal(truncate(fx->path, (off_t)(size / 2)), 0);
    expect_open(fx->path, STORE_DB_VERIFY, FP_EDB);
    expect_open(fx->path, STORE_DB_READONLY | STORE_DB_VERIFY, FP_EDB);

    /* Without VERIFY the damage shows at the first read that meets it. */
    store_db_t *db = NULL;
    fp_error err = {0};
    fp_status st = store_db_open(&db, fx->path, STORE_DB_READONLY, &err);
    if (st == FP_OK) {
        store_checkpoint ck;
        fp_status a = FP_OK;
        for (int i = 0; i < 2 && a == FP_OK; i++) {
            a = store_db_checkpoint_latest(db, 1, &ck, &err);
            store_checkpoint_clear(&ck);
        }
        store_round *rounds = NULL;
        size_t n = 0;
        fp_status b = store_db_rounds_list(db, 1, &rounds, &n, &err);
        free(rounds);
        assert_true(a == FP_EDB || b == FP_EDB);
        assert_non_null(strstr(err.msg, fx->path));
        store_db_close(&db);
    } else {
        assert_int_equal(st, FP_EDB); /* SQLite 3.40 sees the short file at open already */
        assert_non_null(strstr(err.msg, "malformed"));
    }

    /* Cut inside the header: not a database any more. */
    assert_int_equal(truncate(fx->path, 50), 0);
    expect_open(fx->path, 0, FP_EFORMAT);
}

static void overwritten_pages_are_corrupt(void **state)
{
    fx_db *fx = *state;
    make_real_db(fx->path, 4);
    const long page = fx_sql_int(fx->path, "PRAGMA page_size");
    assert_true((size_t)page * 8 < file_size(fx->path));
    /* Overwrite pages 2..8: the tables' roots, made first. Bytes inside a blob have no SQLite
     * checksum; damage there is the blob checksum's job (see below). */
    FILE *f = fopen(fx->path, "r+b");
    assert_non_null(f);
    rng_t rng;
    rng_seed(&rng, 9);
    fseek(f, page, SEEK_SET);
    for (long i = 0; i < 7 * page; i++)
        fputc((int)rng_below(&rng, 256), f);
    fclose(f);
    expect_open(fx->path, STORE_DB_VERIFY, FP_EDB);
    expect_open(fx->path, STORE_DB_READONLY | STORE_DB_VERIFY, FP_EDB);
}

/* Damage inside blob bytes is invisible to SQLite; the row's checksum catches it on load. */
static void damaged_blob_bytes_fail_the_checksum(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    int64_t run = fx_run(db, "r");
    fx_commit_ok(db, run, 0);
    fx_commit_ok(db, run, 1);
    unsigned char prompt[300], adam[500];
    memset(prompt, 0x5a, sizeof prompt);
    memset(adam, 0xa5, sizeof adam);
    fp_error err = {0};
    assert_int_equal(store_db_client_state_save(db, run, 4, 1, (store_blob){prompt, 300},
                                                (store_blob){adam, 500}, &err),
                     FP_OK);
    store_db_close(&db);

    /* Flip one bit inside round 1's prompt blob, found by its bytes in the file. */
    size_t size = file_size(fx->path);
    unsigned char *bytes = malloc(size);
    FILE *f = fopen(fx->path, "r+b");
    assert_int_equal(fread(bytes, 1, size, f), size);
    fx_ckpt want;
    fx_ckpt_blobs(&want, 1);
    unsigned char *at = memmem(bytes, size, want.prompt + 1000, 64);
    assert_non_null(at);
    fseek(f, (long)(at - bytes) + 10, SEEK_SET);
    fputc(at[10] ^ 0x04, f);
    fclose(f);
    free(bytes);

    db = fx_open(fx->path, STORE_DB_VERIFY); /* the structure is fine */
    store_checkpoint ck;
    assert_int_equal(store_db_checkpoint_latest(db, run, &ck, &err), FP_EDB);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_non_null(strstr(err.msg, fx->path));
    assert_null(ck.prompt.data);
    store_client_state cs;
    assert_int_equal(store_db_client_state_load(db, run, 4, &cs, &err), FP_OK);
    store_client_state_clear(&cs);
    store_db_close(&db);

    raw_exec(fx->path, "UPDATE client_state SET adam = zeroblob(500)");
    db = fx_open(fx->path, 0);
    assert_int_equal(store_db_client_state_load(db, run, 4, &cs, &err), FP_EDB);
    assert_non_null(strstr(err.msg, "checksum"));
    store_db_close(&db);
}

/* The checksum is part of the file format: pinned values, every byte and the length count. */
static void blob_hash_is_stable_and_sensitive(void **state)
{
    (void)state;
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    assert_true(store_hash64(0, NULL, 0) == store_hash64(0, buf, 0));
    assert_true(store_hash64(0, buf, 1000) == 0xd72543d89a218b37ULL);
    assert_true(store_hash64(0, "", 0) == 0x9090306c6e91ed59ULL);
    uint64_t base = store_hash64(0, buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i += 37) {
        buf[i] ^= 1;
        assert_true(store_hash64(0, buf, sizeof buf) != base);
        buf[i] ^= 1;
    }
    for (size_t n = 0; n < 70; n++) /* every tail length differs from its neighbour */
        assert_true(store_hash64(0, buf, n) != store_hash64(0, buf, n + 1));
    /* Chaining depends on where one blob ends and the next begins. */
    assert_true(store_hash64(store_hash64(0, buf, 10), buf + 10, 20) !=
                store_hash64(store_hash64(0, buf, 20), buf + 20, 10));
}

static void foreign_sqlite_database_is_refused(void **state)
{
    fx_db *fx = *state;
    raw_exec(fx->path, "CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x')");
    size_t size = file_size(fx->path);
    expect_open(fx->path, 0, FP_EFORMAT);
    expect_open(fx->path, STORE_DB_READONLY, FP_EFORMAT);
    /* Not converted to WAL, not migrated, not tagged. */
    assert_int_equal(file_size(fx->path), size);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 0);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA application_id"), 0);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM sqlite_schema"), 1);
    char wal[400];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    assert_int_equal(access(wal, F_OK), -1);

    /* Another application's id without tables is foreign too. */
    unlink(fx->path);
    raw_exec(fx->path, "PRAGMA application_id = 1234; PRAGMA user_version = 1");
    expect_open(fx->path, 0, FP_EFORMAT);
}

static void newer_schema_is_refused(void **state)
{
    fx_db *fx = *state;
    make_real_db(fx->path, 1);
    raw_exec(fx->path, "PRAGMA user_version = 7");
    expect_open(fx->path, 0, FP_EVERSION);
    expect_open(fx->path, STORE_DB_READONLY, FP_EVERSION);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 7);
}

/* Test schemas: version 1 a table, version 2 adds a column and a table. */
static const schema_step STEPS_V2[] = {
    {1, "CREATE TABLE a (x INTEGER)"},
    {2, "ALTER TABLE a ADD COLUMN y INTEGER DEFAULT 5; CREATE TABLE b (z TEXT)"},
};
static const schema_step STEPS_BAD_V2[] = {
    {1, "CREATE TABLE a (x INTEGER)"},
    {2, "CREATE TABLE c (z TEXT); CREATE TABLE a (x INTEGER)"}, /* second statement fails */
};
static const schema_step STEPS_MISNUMBERED[] = {{2, "CREATE TABLE a (x INTEGER)"}};

static fp_status open_with(const char *path, int flags, const schema_step *steps, size_t n,
                           fp_error *err)
{
    schema_def def = {steps, n};
    struct store_db *db = NULL;
    fp_status st = store_db_open_schema(&db, path, flags, &def, err);
    store_db_close(&db);
    return st;
}

static void older_schema_is_migrated_in_one_transaction(void **state)
{
    fx_db *fx = *state;
    fp_error err = {0};
    assert_int_equal(open_with(fx->path, STORE_DB_CREATE, STEPS_V2, 1, &err), FP_OK);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 1);
    raw_exec(fx->path, "INSERT INTO a (x) VALUES (41)");

    /* A reader cannot migrate, so it refuses. */
    assert_int_equal(open_with(fx->path, STORE_DB_READONLY, STEPS_V2, 2, &err), FP_EVERSION);
    assert_non_null(strstr(err.msg, "older"));

    /* A failing step rolls the whole migration back. */
    assert_int_equal(open_with(fx->path, 0, STEPS_BAD_V2, 2, &err), FP_EDB);
    assert_non_null(strstr(err.msg, "version 2"));
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 1);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'c'"),
                     0);

    assert_int_equal(open_with(fx->path, 0, STEPS_V2, 2, &err), FP_OK);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 2);
    assert_int_equal(fx_sql_int(fx->path, "SELECT x + y FROM a"), 46); /* data kept, column added */
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'b'"),
                     1);
    /* and the old code now meets a newer file */
    assert_int_equal(open_with(fx->path, 0, STEPS_V2, 1, &err), FP_EVERSION);

    assert_int_equal(open_with(fx->path, 0, STEPS_MISNUMBERED, 1, &err), FP_EVERSION);
    unlink(fx->path);
    assert_int_equal(open_with(fx->path, STORE_DB_CREATE, STEPS_MISNUMBERED, 1, &err), FP_EINVAL);
}

/* Processes creating the same new file at once: every one opens it, the schema is made once. */
static void concurrent_creators_agree(void **state)
{
    fx_db *fx = *state;
    enum { CREATORS = 4 };
    pid_t pids[CREATORS];
    fflush(NULL);
    for (int i = 0; i < CREATORS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            store_db_t *db = NULL;
            fp_error e = {0};
            fp_status st = store_db_open(&db, fx->path, STORE_DB_CREATE, &e);
            if (st)
                fprintf(stderr, "creator %d: %s\n", i, e.msg);
            store_run_spec spec = fx_spec(i % 2 ? "odd" : "even");
            int64_t id = 0;
            if (!st)
                st = store_db_run_begin(db, &spec, &id, NULL, NULL);
            store_db_close(&db);
            _exit(st);
        }
    }
    for (int i = 0; i < CREATORS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), FP_OK);
    }
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 3);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM runs"), 2);
}

/* A file written by the first release (schema v1: no reasons, no retries) with a run and a
 * committed round migrates to this build's version: its rows read back unchanged, with no
 * reason, 0 retries, no CPU time and no global scores, and it takes the next round. Then the
 * real schema extended by a future step: the file migrates and keeps working, and this build
 * refuses it as too new. */
static void real_schema_migrates_forward(void **state)
{
    fx_db *fx = *state;
    const schema_def *cur = schema_current();
    assert_int_equal(cur->n_steps, 3);
    schema_def v1 = {cur->steps, 1};
    struct store_db *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open_schema(&db, fx->path, STORE_DB_CREATE, &v1, &err), FP_OK);
    store_db_close(&db);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 1);
    raw_exec(
        fx->path,
        "INSERT INTO runs (id, name, config, model, task, strategy, seed, status, "
        "created_ms, updated_ms) VALUES (1, 'old', '', 'm', 'sst2', 'fedpeptao', 7, 'failed', "
        "1, 2);"
        "INSERT INTO rounds VALUES (1, 0, 'ok', 1, 1, 0, 0, 0.5, NULL, NULL, NULL, NULL, NULL, "
        "10, 20, 30, 40, 50);"
        "INSERT INTO client_rounds VALUES (1, 0, 0, 'ok', 5, 2, 0.5, 30);"
        "INSERT INTO checkpoints VALUES (1, 0, x'00', x'00', x'00', 0);");
    db = fx_open(fx->path, 0);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 3);
    store_run run = {0};
    assert_int_equal(store_db_run_find(db, "old", &run, &err), FP_OK);
    assert_int_equal(run.status, STORE_RUN_FAILED);
    assert_string_equal(run.reason, "");
    store_run_clear(&run);
    store_round *rounds = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, 1, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rounds[0].retries, 0);
    assert_string_equal(rounds[0].reason, "");
    assert_int_equal(rounds[0].slowest_client_ms, 40);
    assert_int_equal(rounds[0].client_cpu_ms, -1);
    assert_true(isnan(rounds[0].global_metric));
    free(rounds);
    store_run_spec spec = {"old", "", "m", "sst2", "fedpeptao", 7};
    int64_t id = 0;
    assert_int_equal(store_db_run_begin(db, &spec, &id, NULL, &err), FP_OK); /* running again */
    fx_commit_ok(db, 1, 1);
    store_db_close(&db);

    char future[400];
    snprintf(future, sizeof future, "%s/future.db", fx->dir);
    make_real_db(future, 3);
    schema_step steps[4] = {
        cur->steps[0], cur->steps[1], cur->steps[2], {4, "ALTER TABLE runs ADD COLUMN note TEXT"}};
    schema_def def = {steps, 4};
    assert_int_equal(store_db_open_schema(&db, future, 0, &def, &err), FP_OK);
    assert_int_equal(store_db_rounds_list(db, 1, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 3);
    free(rounds);
    fx_commit_ok(db, 1, 3);
    store_db_close(&db);
    assert_int_equal(fx_sql_int(future, "PRAGMA user_version"), 4);
    assert_int_equal(fx_sql_int(future, "SELECT count(*) FROM runs WHERE note IS NULL"), 1);
    expect_open(future, 0, FP_EVERSION); /* this build knows up to version 3 only */
}

/* A file of schema v2 (the release before the CPU time and global scores) whose rounds were
 * committed by that release: opened read-only it is refused as older (a reader never
 * migrates); opened for writing it migrates to v3, its rounds read back with the new columns
 * NULL (not measured, not evaluated), every old value unchanged, and its next round stores the
 * new columns, which read back as written. */
static void v2_file_gains_cpu_and_global_columns(void **state)
{
    fx_db *fx = *state;
    const schema_def *cur = schema_current();
    schema_def v2 = {cur->steps, 2};
    struct store_db *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open_schema(&db, fx->path, STORE_DB_CREATE, &v2, &err), FP_OK);
    store_db_close(&db);
    raw_exec(fx->path,
             "INSERT INTO runs (id, name, config, model, task, strategy, seed, status, "
             "created_ms, updated_ms) VALUES (1, 'v2', '', 'm', 'sst2', 'fedprompt', 7, "
             "'running', 1, 2);"
             "INSERT INTO rounds (run, round, status, sampled, completed, dropped, late, "
             "train_loss, eval_metric, eval_loss, eval_accuracy, eval_f1, eval_mcc, bytes_down, "
             "bytes_up, wall_ms, slowest_client_ms, committed_ms, retries) VALUES (1, 0, 'ok', "
             "1, 1, 0, 0, 0.5, 0.75, 0.6, 0.75, NULL, NULL, 10, 20, 30, 40, 50, 2);"
             "INSERT INTO client_rounds VALUES (1, 0, 0, 'ok', 5, 2, 0.5, 30);"
             "INSERT INTO checkpoints VALUES (1, 0, x'00', x'00', x'00', 0);");
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 2);
    expect_open(fx->path, STORE_DB_READONLY, FP_EVERSION);
    db = fx_open(fx->path, 0);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 3);
    store_round *rounds = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, 1, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 1);
    assert_true(rounds[0].eval_metric == 0.75 && rounds[0].train_loss == 0.5);
    assert_int_equal(rounds[0].bytes_up, 20);
    assert_int_equal(rounds[0].retries, 2);
    assert_int_equal(rounds[0].client_cpu_ms, -1);
    assert_int_equal(rounds[0].client_cpu_max_ms, -1);
    assert_true(isnan(rounds[0].global_metric) && isnan(rounds[0].global_loss) &&
                isnan(rounds[0].global_accuracy) && isnan(rounds[0].global_f1) &&
                isnan(rounds[0].global_mcc));
    free(rounds);
    fx_commit_ok(db, 1, 1);
    assert_int_equal(store_db_rounds_list(db, 1, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 2);
    store_client_round want_c[FX_CLIENTS];
    store_round want = fx_round(1, want_c);
    assert_int_equal(rounds[1].client_cpu_ms, want.client_cpu_ms);
    assert_int_equal(rounds[1].client_cpu_max_ms, want.client_cpu_max_ms);
    assert_true(rounds[1].global_metric == want.global_metric);
    assert_true(rounds[1].global_mcc == want.global_mcc);
    free(rounds);
    store_db_close(&db);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds WHERE client_cpu_ms IS "
                                          "NULL AND global_metric IS NULL"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(missing_file_is_not_found),
        FX_TEST(random_bytes_are_not_a_database),
        FX_TEST(empty_file_is_created_or_refused),
        FX_TEST(truncated_database_is_corrupt),
        FX_TEST(overwritten_pages_are_corrupt),
        FX_TEST(damaged_blob_bytes_fail_the_checksum),
        cmocka_unit_test(blob_hash_is_stable_and_sensitive),
        FX_TEST(foreign_sqlite_database_is_refused),
        FX_TEST(newer_schema_is_refused),
        FX_TEST(older_schema_is_migrated_in_one_transaction),
        FX_TEST(concurrent_creators_agree),
        FX_TEST(real_schema_migrates_forward),
        FX_TEST(v2_file_gains_cpu_and_global_columns),
    };
    return cmocka_run_group_tests_name("storage_format", tests, NULL, NULL);
}
