/* test_launch_progress.c — the launcher's progress lines: exact format, and reading a database
 * that does not exist yet, then grows while a writer commits rounds beside the reader. */
#include "tests/support/test.h"

#include "launch/launch.h"
#include "launch/progress.h"
#include "tests/test_storage_fixture.h"

static void line_format(void **state)
{
    (void)state;
    store_round r = {.round = 2, .status = STORE_ROUND_OK, .sampled = 3, .completed = 2,
                     .dropped = 1, .late = 0, .train_loss = 0.693147, .eval_metric = 0.5125,
                     .bytes_down = 1500000, .bytes_up = 600000, .wall_ms = 12345};
    char buf[256];
    launch_format_round(buf, sizeof buf, &r, 5, 24.6);
    assert_string_equal(buf, "round 3/5  sampled 3 ok 2 dropped 1 late 0  loss 0.6931  "
                             "metric 0.5125  2.10 MB  12.3 s  ETA 25 s");
    r.train_loss = NAN;
    r.eval_metric = NAN;
    r.status = STORE_ROUND_FAILED;
    r.bytes_down = 900;
    r.bytes_up = 0;
    launch_format_round(buf, sizeof buf, &r, 5, -1);
    assert_string_equal(buf, "round 3/5 FAILED  sampled 3 ok 2 dropped 1 late 0  loss -  "
                             "metric -  900 B  12.3 s");
    char tiny[16];
    launch_format_round(tiny, sizeof tiny, &r, 5, -1); /* truncated, never overflowed */
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void reads_rounds_as_they_are_committed(void **state)
{
    (void)state;
    fx_db fx;
    fx_db_init(&fx, "progress");
    char out_path[400];
    snprintf(out_path, sizeof out_path, "%s/out.txt", fx.dir);
    FILE *out = fopen(out_path, "w+");
    progress_t *p = progress_new(fx.path, "demo", 4, out);
    assert_non_null(p);
    assert_int_equal(progress_poll(p), -1); /* no database yet */
    store_db_t *w = fx_open(fx.path, STORE_DB_CREATE);
    assert_int_equal(progress_poll(p), -1); /* no run yet */
    int64_t run = fx_run(w, "demo");
    assert_int_equal(progress_poll(p), 0);
    assert_int_equal(progress_mean_round_ms(p, 1234), 1234);
    fx_commit_ok(w, run, 0);
    fx_commit_ok(w, run, 1);
    assert_int_equal(progress_poll(p), 2);
    assert_int_equal(progress_poll(p), 2); /* nothing new: nothing printed twice */
    assert_close(progress_mean_round_ms(p, 0), 2000.5, 1e-9);
    fx_commit_ok(w, run, 2);
    fx_commit_ok(w, run, 3);
    fp_error err = {0};
    assert_int_equal(store_db_run_set_status(w, run, STORE_RUN_FINISHED, &err), FP_OK);
    assert_false(progress_finished(p));
    assert_int_equal(progress_poll(p), 4);
    assert_true(progress_finished(p));
    progress_destroy(&p);
    assert_null(p);
    store_db_close(&w);
    rewind(out);
    char text[2048];
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = 0;
    fclose(out);
    int lines = 0;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 4);
    assert_non_null(strstr(text, "round 1/4  sampled 10 ok 6 dropped 2 late 2  loss 0.7000"));
    assert_non_null(strstr(text, "round 4/4  sampled 10"));
    assert_non_null(strstr(text, "ETA 4 s\nround 3/4")); /* 2 rounds left x ~2 s */
    assert_null(strstr(strstr(text, "round 4/4"), "ETA"));
    test_rmtree(fx.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_format),
        cmocka_unit_test(reads_rounds_as_they_are_committed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
