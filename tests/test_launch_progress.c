/* test_launch_progress.c — what the launcher prints while a run goes (launch/console.h): the
 * exact round line, numbered from 0 like the database; a database that does not exist yet, then
 * grows while a writer commits rounds beside the reader; the ETA on the console's clock; and
 * process events held until the round lines committed before them. */
#include "tests/support/test.h"

#include "launch/console.h"
#include "launch/launch.h"
#include "tests/test_storage_fixture.h"

static void line_format(void **state)
{
    (void)state;
    store_round r = {.round = 2,
                     .status = STORE_ROUND_OK,
                     .sampled = 3,
                     .completed = 2,
                     .dropped = 1,
                     .late = 0,
                     .train_loss = 0.693147,
                     .eval_metric = 0.5125,
                     .bytes_down = 1500000,
                     .bytes_up = 600000,
                     .wall_ms = 12345};
    char buf[256];
    launch_format_round(buf, sizeof buf, &r, 5, 24.6);
    assert_string_equal(buf, "round 2 (3 of 5)  sampled 3 ok 2 dropped 1 late 0  loss 0.6931  "
                             "metric 0.5125  2.10 MB  12.3 s  ETA 25 s");
    launch_format_round(buf, sizeof buf, &r, 5, 125);
    assert_non_null(strstr(buf, "12.3 s  ETA 2 min 05 s"));
    r.train_loss = NAN;
    r.eval_metric = NAN;
    r.status = STORE_ROUND_FAILED;
    r.bytes_down = 900;
    r.bytes_up = 0;
    launch_format_round(buf, sizeof buf, &r, 5, -1);
    assert_string_equal(buf, "round 2 (3 of 5) FAILED  sampled 3 ok 2 dropped 1 late 0  loss -  "
                             "metric -  900 B  12.3 s");
    char tiny[16];
    launch_format_round(tiny, sizeof tiny, &r, 5, -1); /* truncated, never overflowed */
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static int64_t g_now;

static int64_t fake_clock(void *ctx)
{
    (void)ctx;
    return g_now;
}

static void reads_rounds_as_they_are_committed(void **state)
{
    (void)state;
    fx_db fx;
    fx_db_init(&fx, "progress");
    char out_path[400], ev_path[400];
    snprintf(out_path, sizeof out_path, "%s/out.txt", fx.dir);
    snprintf(ev_path, sizeof ev_path, "%s/events.txt", fx.dir);
    FILE *out = fopen(out_path, "w+"), *events = fopen(ev_path, "w+");
    g_now = 0;
    progress_options po = {.out = out, .tty = PROGRESS_PLAIN, .clock = fake_clock};
    console_t *c = console_new(fx.path, "demo", 4, events, &po);
    assert_non_null(c);
    assert_int_equal(console_poll(c), -1); /* no database yet */
    store_db_t *w = fx_open(fx.path, STORE_DB_CREATE);
    assert_int_equal(console_poll(c), -1); /* no run yet */
    int64_t run = fx_run(w, "demo");
    assert_int_equal(console_poll(c), 0); /* found at 0 ms: the ETA is measured from here */
    assert_int_equal(console_mean_round_ms(c, 1234), 1234);
    fx_commit_ok(w, run, 0);
    fx_commit_ok(w, run, 1);
    g_now = 4000; /* two rounds in 4 s, two left: ETA 4 s */
    assert_int_equal(console_poll(c), 2);
    assert_int_equal(console_poll(c), 2); /* nothing new: nothing printed twice */
    assert_close(console_mean_round_ms(c, 0), 2000.5, 1e-9);
    g_now = 15000; /* round 2 still running after 11 s: one plain progress line */
    assert_int_equal(console_poll(c), 2);
    fx_commit_ok(w, run, 2);
    fx_commit_ok(w, run, 3);
    fp_error err = {0};
    assert_int_equal(store_db_run_set_status(w, run, STORE_RUN_FINISHED, &err), FP_OK);
    assert_false(console_finished(c));
    g_now = 40000;
    assert_int_equal(console_poll(c), 4);
    assert_true(console_finished(c));
    console_destroy(&c);
    assert_null(c);
    console_destroy(&c);
    store_db_close(&w);
    char *text = test_read_file(out_path, NULL);
    fclose(out);
    fclose(events);
    int lines = 0;
    for (const char *ch = text; *ch; ch++)
        lines += *ch == '\n';
    assert_int_equal(lines, 5);
    assert_null(strchr(text, '\r')); /* a file gets plain lines */
    assert_non_null(
        strstr(text, "round 0 (1 of 4)  sampled 10 ok 6 dropped 2 late 2  loss 0.7000"));
    assert_non_null(strstr(text, "  ETA 12 s\nround 1 (2 of 4)"));
    assert_non_null(strstr(text, "  ETA 4 s\nround 2 (3 of 4) running  ETA 0 s\nround 2 (3 of 4)"));
    assert_non_null(strstr(text, "round 3 (4 of 4)  sampled 10"));
    assert_null(strstr(strstr(text, "round 3 (4 of 4)"), "ETA"));
    free(text);
    test_rmtree(fx.dir);
}

/* The supervisor's event lines wait for the round lines committed before them: the last round's
 * line comes before "coordinator exited". */
static void events_come_after_the_rounds_before_them(void **state)
{
    (void)state;
    fx_db fx;
    fx_db_init(&fx, "events");
    char *out_text = NULL;
    size_t out_len = 0;
    FILE *both = open_memstream(&out_text, &out_len);
    progress_options po = {.out = both, .tty = PROGRESS_LIVE, .clock = fake_clock};
    g_now = 0;
    console_t *c = console_new(fx.path, "demo", 2, both, &po); /* one terminal for both */
    assert_non_null(c);
    FILE *ev = console_events(c);
    assert_true(ev != both);
    fprintf(ev, "launch: broker started (pid 1)\n");
    fflush(ev);
    fflush(both);
    assert_int_equal(out_len, 0); /* held */
    assert_int_equal(console_poll(c), -1);
    fflush(both);
    assert_string_equal(out_text, "launch: broker started (pid 1)\n");
    store_db_t *w = fx_open(fx.path, STORE_DB_CREATE);
    int64_t run = fx_run(w, "demo");
    g_now = 100;
    assert_int_equal(console_poll(c), 0); /* the live line appears */
    fflush(both);
    assert_non_null(strstr(out_text, "\rround 0 (1 of 2) running  elapsed 0 s\033[K"));
    fx_commit_ok(w, run, 0);
    fx_commit_ok(w, run, 1);
    fprintf(ev, "launch: coordinator exited with code 0\n"); /* reaped before the next poll */
    fflush(ev);
    g_now = 5000;
    assert_int_equal(console_poll(c), 2);
    fflush(both);
    const char *r1 = strstr(out_text, "round 1 (2 of 2)  sampled");
    const char *exit_line = strstr(out_text, "launch: coordinator exited");
    assert_non_null(r1);
    assert_non_null(exit_line);
    assert_true(r1 < exit_line);
    /* the live line was erased before each permanent line, and not redrawn after the last */
    assert_non_null(strstr(out_text, "\033[K\r\033[Kround 0 (1 of 2)  sampled"));
    assert_null(strstr(exit_line, "running"));
    fprintf(ev, "launch: store exited with code 0\n");
    fflush(ev);
    console_destroy(&c); /* releases what is still held */
    fflush(both);
    assert_non_null(strstr(out_text, "exited with code 0\nlaunch: store exited with code 0\n"));
    store_db_close(&w);
    fclose(both);
    free(out_text);
    test_rmtree(fx.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_format),
        cmocka_unit_test(reads_rounds_as_they_are_committed),
        cmocka_unit_test(events_come_after_the_rounds_before_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
