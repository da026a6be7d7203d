/* test_storage_fixture.h — what the storage tests share: a database path in a fresh temporary
 * folder, a run, and deterministic rounds (client rows and checkpoint bytes are functions of the
 * round number, so any reader can check what it sees without knowing what was written). */
#ifndef FEDPEP_TESTS_TEST_STORAGE_FIXTURE_H
#define FEDPEP_TESTS_TEST_STORAGE_FIXTURE_H

#include "tests/support/test.h"

#include "storage/store_db.h"

#include <sqlite3.h>
#include <stdbool.h>

/* Clients per fixture round and checkpoint sizes (bytes) — small so hundreds of rounds are fast. */
enum { FX_CLIENTS = 10, FX_PROMPT = 4096, FX_SERVER = 1024, FX_RNG = 32 };

typedef struct fx_db {
    char dir[256];
    char path[320];
} fx_db;

static inline void fx_db_init(fx_db *fx, const char *tag)
{
    snprintf(fx->dir, sizeof fx->dir, "%s", test_tmpdir(tag));
    snprintf(fx->path, sizeof fx->path, "%s/fedpep.db", fx->dir);
}

/* The integer a query returns, read through a raw read-only connection (independent of the
 * code under test). */
static inline int fx_sql_int(const char *path, const char *sql)
{
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(raw, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(raw));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(raw);
    return v;
}

/* Equal, or both absent (NaN). */
static inline bool fx_same(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* cmocka setup/teardown giving each test a fresh folder (state is the fx_db). */
static inline int fx_setup(void **state)
{
    fx_db *fx = malloc(sizeof *fx);
    fx_db_init(fx, "storage");
    *state = fx;
    return 0;
}

static inline int fx_teardown(void **state)
{
    fx_db *fx = *state;
    test_rmtree(fx->dir);
    free(fx);
    return 0;
}

/* A cmocka test with its own fresh folder. */
#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

static inline store_db_t *fx_open(const char *path, int flags)
{
    store_db_t *db = NULL;
    fp_error err = {0};
    fp_status st = store_db_open(&db, path, flags, &err);
    if (st)
        fail_msg("store_db_open(%s): %s %s", path, fp_status_name(st), err.msg);
    return db;
}

static inline store_run_spec fx_spec(const char *name)
{
    store_run_spec spec = {name, "[run]\nrounds = 100\n", "roberta-base", "sst2", "fedpeptao", 42};
    return spec;
}

static inline int64_t fx_run(store_db_t *db, const char *name)
{
    store_run_spec spec = fx_spec(name);
    int64_t id = 0;
    fp_error err = {0};
    fp_status st = store_db_run_begin(db, &spec, &id, NULL, &err);
    if (st)
        fail_msg("run_begin %s: %s", name, err.msg);
    return id;
}

/* Round r: FX_CLIENTS clients (ids distinct per round); every 5th from the 4th drops, every 5th
 * from the 5th is late; the round's counts agree with its rows. */
static inline store_round fx_round(int32_t r, store_client_round clients[FX_CLIENTS])
{
    store_round round = {.round = r, .status = STORE_ROUND_OK, .sampled = FX_CLIENTS};
    for (int i = 0; i < FX_CLIENTS; i++) {
        store_client_round *c = &clients[i];
        *c = (store_client_round){.client = (r * 7 + i * 11) % 100,
                                  .status = STORE_CLIENT_OK,
                                  .n_k = 100 + i,
                                  .steps = 26 + i,
                                  .loss = 0.5 + 0.01 * i + 0.001 * r,
                                  .ms = 1000 + 10 * i};
        if (i % 5 == 3)
            *c = (store_client_round){.client = c->client,
                                      .status = STORE_CLIENT_DROPPED,
                                      .n_k = -1,
                                      .steps = -1,
                                      .loss = NAN,
                                      .ms = -1};
        else if (i % 5 == 4)
            c->status = STORE_CLIENT_LATE;
        round.completed += c->status == STORE_CLIENT_OK;
        round.dropped += c->status == STORE_CLIENT_DROPPED;
        round.late += c->status == STORE_CLIENT_LATE;
    }
    round.train_loss = 0.7 - 0.001 * r;
    round.eval_metric = 0.5 + 0.004 * r;
    round.eval_loss = 0.69 - 0.002 * r;
    round.eval_accuracy = round.eval_metric;
    round.eval_f1 = NAN;
    round.eval_mcc = NAN;
    round.bytes_down = 10 * 491520;
    round.bytes_up = 6 * 491520;
    round.wall_ms = 2000 + r;
    round.slowest_client_ms = 1090;
    round.client_cpu_ms = 5400 + r;
    round.client_cpu_max_ms = 1080 + r;
    round.global_metric = 0.48 + 0.003 * r;
    round.global_loss = 0.7 - 0.001 * r;
    round.global_accuracy = round.global_metric;
    round.global_f1 = NAN;
    round.global_mcc = 0.1 + 0.002 * r;
    return round;
}

/* Checkpoint bytes of round r: every byte is a function of (r, which blob, offset). */
typedef struct fx_ckpt {
    unsigned char prompt[FX_PROMPT], server[FX_SERVER], rng[FX_RNG];
} fx_ckpt;

static inline void fx_fill(unsigned char *b, size_t n, int32_t r, int which)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(r * 31 + which * 7 + i * 13 + (i >> 8));
}

static inline store_checkpoint_blobs fx_ckpt_blobs(fx_ckpt *ck, int32_t r)
{
    fx_fill(ck->prompt, FX_PROMPT, r, 0);
    fx_fill(ck->server, FX_SERVER, r, 1);
    fx_fill(ck->rng, FX_RNG, r, 2);
    return (store_checkpoint_blobs){
        {ck->prompt, FX_PROMPT}, {ck->server, FX_SERVER}, {ck->rng, FX_RNG}};
}

/* True if the bytes are round r's checkpoint. */
static inline bool fx_ckpt_is(const store_checkpoint *ck, int32_t r)
{
    fx_ckpt want;
    fx_ckpt_blobs(&want, r);
    return ck->round == r && ck->prompt.size == FX_PROMPT && ck->server_state.size == FX_SERVER &&
           ck->rng.size == FX_RNG && memcmp(ck->prompt.data, want.prompt, FX_PROMPT) == 0 &&
           memcmp(ck->server_state.data, want.server, FX_SERVER) == 0 &&
           memcmp(ck->rng.data, want.rng, FX_RNG) == 0;
}

/* Commits the fixture's round r. */
static inline fp_status fx_commit(store_db_t *db, int64_t run, int32_t r, bool *duplicate,
                                  fp_error *err)
{
    store_client_round clients[FX_CLIENTS];
    store_round round = fx_round(r, clients);
    fx_ckpt ck;
    store_checkpoint_blobs blobs = fx_ckpt_blobs(&ck, r);
    return store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &blobs, duplicate, err);
}

static inline void fx_commit_ok(store_db_t *db, int64_t run, int32_t r)
{
    fp_error err = {0};
    fp_status st = fx_commit(db, run, r, NULL, &err);
    if (st)
        fail_msg("commit round %d: %s %s", r, fp_status_name(st), err.msg);
}

/* Checks, in the reader's current snapshot, that the run holds exactly rounds 0..n-1, each
 * whole: its row, all its client rows, and (for the latest) its checkpoint. Returns n. */
static inline int fx_check_whole_rounds(store_db_t *db, int64_t run)
{
    fp_error err = {0};
    store_round *rounds = NULL;
    size_t n = 0;
    if (store_db_rounds_list(db, run, &rounds, &n, &err))
        fail_msg("rounds_list: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        store_client_round want[FX_CLIENTS];
        store_round w = fx_round((int32_t)i, want);
        assert_int_equal(rounds[i].round, (int32_t)i);
        assert_int_equal(rounds[i].sampled, w.sampled);
        assert_int_equal(rounds[i].completed, w.completed);
        store_client_round *got = NULL;
        size_t n_got = 0;
        if (store_db_round_clients(db, run, (int32_t)i, &got, &n_got, &err))
            fail_msg("round_clients: %s", err.msg);
        assert_int_equal(n_got, FX_CLIENTS);
        free(got);
    }
    free(rounds);
    store_checkpoint ck;
    fp_status st = store_db_checkpoint_latest(db, run, &ck, &err);
    if (n == 0) {
        assert_int_equal(st, FP_ENOTFOUND);
    } else {
        assert_int_equal(st, FP_OK);
        assert_true(fx_ckpt_is(&ck, (int32_t)n - 1));
        store_checkpoint_clear(&ck);
    }
    return (int)n;
}

#endif
