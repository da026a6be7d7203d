/* test_progress.c — the progress reporter on a fake clock: rate and ETA arithmetic, the live line
 * on a terminal (rewritten in place, redrawn at most every 200 ms, erased before other output)
 * and the plain lines into a file or pipe (one every 10 s, never a "\r"); and `tune` and
 * `simulate` reporting through it with exactly the results and stored bytes they have without. */
#include "tests/support/test.h"

#include "tests/test_train_fixture.h"

#include "common/config.h"
#include "common/progress.h"
#include "storage/store_db.h"
#include "simulate/simulate.h"
#include "train/tune.h"

typedef struct fake {
    int64_t now;
    char *buf;
    size_t len;
    FILE *out;
} fake;

static int64_t fake_clock(void *ctx)
{
    return ((fake *)ctx)->now;
}

/* A fresh memory stream at time 0. */
static void fake_open(fake *f)
{
    memset(f, 0, sizeof *f);
    f->out = open_memstream(&f->buf, &f->len);
    assert_non_null(f->out);
}

static progress_t *fake_new(fake *f, int tty, const char *prefix)
{
    fake_open(f);
    progress_options o = {
        .out = f->out, .prefix = prefix, .tty = tty, .clock = fake_clock, .clock_ctx = f};
    progress_t *p = progress_new(&o);
    assert_non_null(p);
    return p;
}

/* What was written so far (valid until the next write). */
static const char *fake_text(fake *f)
{
    fflush(f->out);
    return f->buf ? f->buf : "";
}

static void fake_free(fake *f)
{
    fclose(f->out);
    free(f->buf);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *c = text; (c = strstr(c, what)); c += strlen(what))
        n++;
    return n;
}

static void durations_for_people(void **state)
{
    (void)state;
    char d[48];
    progress_format_duration(d, sizeof d, 0.4);
    assert_string_equal(d, "0 s");
    progress_format_duration(d, sizeof d, 44.6);
    assert_string_equal(d, "45 s");
    progress_format_duration(d, sizeof d, 125);
    assert_string_equal(d, "2 min 05 s");
    progress_format_duration(d, sizeof d, 7260);
    assert_string_equal(d, "2 h 01 min");
    progress_format_duration(d, sizeof d, -3);
    assert_string_equal(d, "0 s");
}

static void rate_and_eta_from_the_clock(void **state)
{
    (void)state;
    fake f;
    progress_t *p = fake_new(&f, PROGRESS_PLAIN, "tune: ");
    assert_true(progress_eta_s(p) < 0); /* not begun */
    f.now = 1000;
    progress_label(p, "epoch %d/%d", 1, 4);
    progress_begin(p, 0, 4);
    progress_span(p, 0, 1);
    assert_true(progress_eta_s(p) < 0); /* nothing done yet */
    assert_true(progress_rate(p) < 0);
    f.now = 3600;
    char line[256];
    progress_format(p, line, sizeof line);
    assert_string_equal(line, "tune: epoch 1/4  elapsed 3 s"); /* no pace yet */
    f.now = 6000;
    progress_work(p, 50, 100); /* half an epoch in 5 s: 10 ex/s, 3.5 epochs of 10 s left */
    assert_close(progress_rate(p), 10.0, 1e-12);
    assert_close(progress_eta_s(p), 35.0, 1e-12);
    progress_format(p, line, sizeof line);
    assert_string_equal(line, "tune: epoch 1/4  50/100 examples  10.0 ex/s  ETA 35 s");
    f.now = 8000; /* no report for 2 s: the ETA counts down */
    assert_close(progress_eta_s(p), 33.0, 1e-12);
    f.now = 11000;
    progress_work(p, 100, 100);
    progress_set(p, 1); /* ends the span; its items and rate stay on show */
    assert_close(progress_eta_s(p), 30.0, 1e-12);
    progress_span(p, 1, 2); /* a new span: its own count and rate */
    assert_true(progress_rate(p) < 0);
    f.now = 12000;
    progress_work(p, 400, 100); /* more than announced: the position stops at the span's end */
    assert_close(progress_eta_s(p), 2 * 11.0 / 2, 1e-12);
    progress_set(p, 4);
    assert_close(progress_eta_s(p), 0, 0);
    progress_format(p, line, sizeof line);
    assert_null(strstr(line, "ETA")); /* done: no ETA */
    char tiny[10];
    progress_format(p, tiny, sizeof tiny); /* truncated, never overflowed */
    assert_string_equal(tiny, "tune: epo");
    progress_destroy(&p);
    assert_null(p);
    progress_destroy(&p); /* idempotent */
    fake_free(&f);
}

static void resumed_runs_extrapolate_only_new_progress(void **state)
{
    (void)state;
    fake f;
    progress_t *p = fake_new(&f, PROGRESS_PLAIN, NULL);
    progress_begin(p, 3, 10); /* rounds 0..2 were done by an earlier process */
    f.now = 4000;
    assert_true(progress_eta_s(p) < 0);
    progress_set(p, 5); /* two rounds in 4 s: 5 rounds left = 10 s */
    assert_close(progress_eta_s(p), 10.0, 1e-12);
    progress_label(p, "round %d (%d of %d) running", 5, 6, 10);
    char line[128];
    progress_format(p, line, sizeof line);
    assert_string_equal(line, "round 5 (6 of 10) running  ETA 10 s");
    f.now = 20000; /* late: the ETA stops at 0, not below */
    assert_close(progress_eta_s(p), 0, 0);
    progress_destroy(&p);
    fake_free(&f);
}

static void plain_stream_gets_a_line_every_ten_seconds(void **state)
{
    (void)state;
    fake f;
    progress_t *p = fake_new(&f, PROGRESS_PLAIN, "simulate: ");
    progress_label(p, "round 0 (1 of 2)");
    progress_begin(p, 0, 2);
    progress_span(p, 0, 2);
    assert_string_equal(fake_text(&f), ""); /* nothing at once, so short commands stay quiet */
    for (int s = 1; s <= 25; s++) {         /* a report every second for 25 s */
        f.now = s * 1000;
        progress_work(p, s, 50);
        progress_label(p, "round 0 (1 of 2)"); /* labels do not force a plain line */
    }
    const char *text = fake_text(&f);
    assert_int_equal(count(text, "\n"), 2);
    assert_null(strchr(text, '\r'));
    assert_null(strchr(text, '\033'));
    assert_non_null(strstr(text,
                           "simulate: round 0 (1 of 2)  10/50 examples  1.0 ex/s  ETA 40 s\n"
                           "simulate: round 0 (1 of 2)  20/50 examples  1.0 ex/s  ETA 30 s\n"));
    /* A note restarts the interval; progress_clear leaves a plain stream alone. */
    f.now = 29000;
    progress_note(p, "round %d done", 0);
    progress_clear(p);
    f.now = 38000;
    progress_tick(p);
    assert_int_equal(count(fake_text(&f), "\n"), 3);
    f.now = 39000;
    progress_tick(p);
    assert_int_equal(count(fake_text(&f), "\n"), 4);
    assert_non_null(strstr(fake_text(&f), "round 0 done\nsimulate: round 0 (1 of 2)  25/50"));
    progress_destroy(&p);
    assert_int_equal(count(fake_text(&f), "\n"), 4); /* nothing to erase */
    fake_free(&f);
}

static void terminal_gets_one_live_line(void **state)
{
    (void)state;
    fake f;
    progress_t *p = fake_new(&f, PROGRESS_LIVE, "tune: ");
    progress_work(p, 1, 10); /* before begin: nothing */
    assert_string_equal(fake_text(&f), "");
    progress_label(p, "epoch 1/1");
    progress_begin(p, 0, 1); /* drawn at once */
    assert_string_equal(fake_text(&f), "\rtune: epoch 1/1  elapsed 0 s\033[K");
    progress_span(p, 0, 1);
    for (int ms = 50; ms <= 1000; ms += 50) { /* a report every 50 ms, drawn every 200 ms */
        f.now = ms;
        progress_work(p, ms / 50, 20);
    }
    const char *text = fake_text(&f);
    assert_int_equal(count(text, "\r"), 1 + 5);
    assert_int_equal(count(text, "\n"), 0);
    assert_non_null(strstr(text, "\rtune: epoch 1/1  4/20 examples  20.0 ex/s  ETA 1 s\033[K"));
    assert_non_null(strstr(text, "\rtune: epoch 1/1  20/20 examples  20.0 ex/s\033[K"));
    /* A new label is drawn at once; clear erases; a note erases first and ends its line. */
    f.now = 1010;
    progress_label(p, "epoch 1/1 evaluating");
    assert_non_null(strstr(fake_text(&f), "\rtune: epoch 1/1 evaluating  20/20"));
    size_t before = strlen(fake_text(&f));
    progress_clear(p);
    assert_string_equal(fake_text(&f) + before, "\r\033[K");
    progress_clear(p); /* nothing shown: nothing written */
    assert_int_equal(strlen(fake_text(&f)), before + 4);
    f.now = 1020;
    progress_tick(p); /* erased: redrawn at once */
    before = strlen(fake_text(&f));
    progress_note(p, "epoch 1  loss %.1f", 0.5);
    assert_string_equal(fake_text(&f) + before, "\r\033[Kepoch 1  loss 0.5\n");
    /* destroy erases a line that is shown */
    progress_tick(p);
    before = strlen(fake_text(&f));
    progress_destroy(&p);
    assert_string_equal(fake_text(&f) + before - strlen("\033[K"), "\033[K\r\033[K");
    fake_free(&f);
}

static void null_reporter_does_nothing(void **state)
{
    (void)state;
    progress_t *p = NULL;
    progress_begin(p, 0, 1);
    progress_label(p, "x");
    progress_span(p, 0, 1);
    progress_work(p, 1, 2);
    progress_set(p, 1);
    progress_tick(p);
    progress_note(p, "x");
    progress_clear(p);
    progress_destroy(&p);
    progress_destroy(NULL);
    assert_true(progress_eta_s(p) < 0 && progress_rate(p) < 0);
    char line[8] = "junk";
    progress_format(p, line, sizeof line);
    assert_string_equal(line, "");
}

/* A clock that moves 40 ms each time it is read: every report is a little later. */
static int64_t ticking_clock(void *ctx)
{
    return ((fake *)ctx)->now += 40;
}

static void tiny_run_config(fedpep_config *cfg, const char *dir, const char *db)
{
    fixture_run_config(cfg, dir, db);
    cfg->client.batch_size = 8;
    cfg->client.max_local_steps = 6;
}

/* The latest checkpoint and every round row of run "t" in dir/db. */
static void stored(const char *dir, const char *db_name, store_checkpoint *ck, store_round **rounds,
                   size_t *n)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, db_name);
    store_db_t *db = NULL;
    fp_error err = {0};
    store_run run;
    assert_int_equal(store_db_open(&db, path, STORE_DB_READONLY, &err), FP_OK);
    assert_int_equal(store_db_run_find(db, "t", &run, &err), FP_OK);
    assert_int_equal(store_db_checkpoint_latest(db, run.id, ck, &err), FP_OK);
    assert_int_equal(store_db_rounds_list(db, run.id, rounds, n, &err), FP_OK);
    store_run_clear(&run);
    store_db_close(&db);
}

static void commands_report_without_changing_results(void **state)
{
    (void)state;
    char dir[200];
    fixture_tree("progress-cmds", dir, sizeof dir, 96, 48);
    fedpep_config cfg;
    fp_error err = {0};
    char vocab[600], merges[600];
    fixture_cache(vocab, merges, sizeof vocab);

    /* tune: the same figures with a live reporter as without one */
    tiny_run_config(&cfg, dir, "unused.db");
    train_tune_options o = {.epochs = 2, .fallback_vocab = vocab, .fallback_merges = merges};
    train_tune_result plain, reported;
    assert_int_equal(train_tune(&cfg, &o, NULL, &plain, &err), FP_OK);
    fake f;
    fake_open(&f);
    progress_options po = {.out = f.out,
                           .prefix = "tune: ",
                           .tty = PROGRESS_LIVE,
                           .clock = ticking_clock,
                           .clock_ctx = &f};
    o.progress = progress_new(&po);
    assert_int_equal(train_tune(&cfg, &o, NULL, &reported, &err), FP_OK);
    progress_destroy(&o.progress);
    assert_int_equal(reported.steps, plain.steps);
    assert_true(reported.last_loss == plain.last_loss);
    assert_true(reported.best_metric == plain.best_metric);
    assert_true(reported.last_metric == plain.last_metric);
    const char *text = fake_text(&f);
    assert_non_null(strstr(text, "\rtune: epoch 1/2  elapsed 0 s\033[K\rtune: epoch 1/2  "));
    assert_non_null(strstr(text, "/48 examples  "));
    assert_non_null(strstr(text, "\rtune: epoch 2/2 evaluating  48/48 examples  "));
    assert_non_null(strstr(text, " ex/s  ETA "));
    assert_int_equal(strlen(text) >= 4 ? strcmp(text + strlen(text) - 4, "\r\033[K") : 1, 0);
    fake_free(&f);

    /* simulate: the same round rows and checkpoint bytes; the progress only in its stream */
    train_sim_options so = {.stop_after_round = -1,
                            .stop_before_commit = -1,
                            .fallback_vocab = vocab,
                            .fallback_merges = merges};
    train_sim_result res;
    tiny_run_config(&cfg, dir, "a.db");
    assert_int_equal(train_simulate(&cfg, &so, NULL, &res, &err), FP_OK);
    fake_open(&f);
    po = (progress_options){.out = f.out,
                            .prefix = "simulate: ",
                            .tty = PROGRESS_PLAIN,
                            .interval_ms = 100,
                            .clock = ticking_clock,
                            .clock_ctx = &f};
    so.progress = progress_new(&po);
    tiny_run_config(&cfg, dir, "b.db");
    assert_int_equal(train_simulate(&cfg, &so, NULL, &res, &err), FP_OK);
    progress_destroy(&so.progress);
    text = fake_text(&f);
    assert_non_null(strstr(text, "simulate: round 0 (1 of 3) client "));
    assert_non_null(strstr(text, "simulate: round 2 (3 of 3) "));
    assert_null(strchr(text, '\r'));
    fake_free(&f);
    store_checkpoint ca = {0}, cb = {0};
    store_round *ra = NULL, *rb = NULL;
    size_t na = 0, nb = 0;
    stored(dir, "a.db", &ca, &ra, &na);
    stored(dir, "b.db", &cb, &rb, &nb);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(ra[i].round, rb[i].round);
        assert_int_equal(ra[i].completed, rb[i].completed);
        assert_true(ra[i].train_loss == rb[i].train_loss);
        assert_true(ra[i].eval_metric == rb[i].eval_metric ||
                    (isnan(ra[i].eval_metric) && isnan(rb[i].eval_metric)));
    }
    assert_int_equal(ca.round, cb.round);
    assert_int_equal(ca.prompt.size, cb.prompt.size);
    assert_memory_equal(ca.prompt.data, cb.prompt.data, ca.prompt.size);
    assert_int_equal(ca.server_state.size, cb.server_state.size);
    assert_memory_equal(ca.server_state.data, cb.server_state.data, ca.server_state.size);
    store_checkpoint_clear(&ca);
    store_checkpoint_clear(&cb);
    free(ra);
    free(rb);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_for_people),
        cmocka_unit_test(rate_and_eta_from_the_clock),
        cmocka_unit_test(resumed_runs_extrapolate_only_new_progress),
        cmocka_unit_test(plain_stream_gets_a_line_every_ten_seconds),
        cmocka_unit_test(terminal_gets_one_live_line),
        cmocka_unit_test(null_reporter_does_nothing),
        cmocka_unit_test(commands_report_without_changing_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
