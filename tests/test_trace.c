/* test_trace.c — the availability trace ([faults] trace, actors/trace.h): the strict CSV loader
 * (accepted forms, every malformed row refused with file:line), lookups over round ranges, and
 * the fault decision of a traced (client, round) following the trace while unlisted pairs keep
 * the random model (actors/faults.h). */
#include "tests/support/test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actors/faults.h"
#include "actors/trace.h"
#include "common/config.h"
#include "tests/support/faults_check.h"

static fault_trace_t *parse(const char *text, int clients, fp_error *err)
{
    return fault_trace_parse(text, strlen(text), "t.csv", clients, err);
}

static void a_well_formed_trace_is_looked_up_by_client_and_round(void **state)
{
    (void)state;
    fp_error err = {0};
    fault_trace_t *t = parse("# a comment\n\n client , round,available,speed\r\n"
                             "0,3,0,1\n"
                             "1,0-9,1,0.5\n"
                             "2,*,1,.25\n"
                             "1,10,0,1\n"
                             "0,0,1,1",
                             3, &err);
    assert_non_null(t);
    assert_int_equal(fault_trace_rows(t), 5);
    bool a;
    double s;
    assert_true(fault_trace_lookup(t, 3, 0, &a, &s));
    assert_false(a);
    assert_true(fault_trace_lookup(t, 0, 0, &a, &s));
    assert_true(a);
    assert_false(fault_trace_lookup(t, 1, 0, &a, &s));
    assert_false(fault_trace_lookup(t, 4, 0, &a, &s));
    for (uint32_t r = 0; r <= 9; r++) {
        assert_true(fault_trace_lookup(t, r, 1, &a, &s));
        assert_true(a);
        assert_close(s, 0.5, 0);
    }
    assert_true(fault_trace_lookup(t, 10, 1, &a, &s));
    assert_false(a);
    assert_false(fault_trace_lookup(t, 11, 1, &a, &s));
    assert_true(fault_trace_lookup(t, 123456, 2, &a, &s));
    assert_close(s, 0.25, 0);
    assert_false(fault_trace_lookup(NULL, 0, 0, &a, &s));
    fault_trace_destroy(&t);
    assert_null(t);
    /* A header alone is an empty trace. */
    t = parse("client,round,available,speed\n", 3, &err);
    assert_non_null(t);
    assert_false(fault_trace_lookup(t, 0, 0, &a, &s));
    fault_trace_destroy(&t);
}

static void malformed_traces_are_refused_with_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"", "t.csv: no header"},
        {"# only a comment\n", "t.csv: no header"},
        {"client,round,available\n", "t.csv:1: the header"},
        {"client,round,available,speed,extra\n", "t.csv:1: the header"},
        {"client,round,speed,available\n", "t.csv:1: the header"},
        {"0,1,1,1\n", "t.csv:1: the header"},
        {"client,round,available,speed\n0,1,1\n", "t.csv:2: 3 fields"},
        {"client,round,available,speed\n0,1,1,1,1\n", "t.csv:2: 5 fields"},
        {"client,round,available,speed\nx,1,1,1\n", "t.csv:2: client is not a number"},
        {"client,round,available,speed\n-1,1,1,1\n", "t.csv:2: client is not a number"},
        {"client,round,available,speed\n,1,1,1\n", "t.csv:2: client is not a number"},
        {"client,round,available,speed\n99999999999,1,1,1\n", "t.csv:2: client is not"},
        {"client,round,available,speed\n\n3,1,1,1\n", "t.csv:3: client 3 out of range"},
        {"client,round,available,speed\n0,a,1,1\n", "t.csv:2: round must be"},
        {"client,round,available,speed\n0,5-3,1,1\n", "t.csv:2: round must be"},
        {"client,round,available,speed\n0,1-,1,1\n", "t.csv:2: round must be"},
        {"client,round,available,speed\n0,-2,1,1\n", "t.csv:2: round must be"},
        {"client,round,available,speed\n0,**,1,1\n", "t.csv:2: round must be"},
        {"client,round,available,speed\n0,1,2,1\n", "t.csv:2: available must be 0 or 1"},
        {"client,round,available,speed\n0,1,yes,1\n", "t.csv:2: available must be 0 or 1"},
        {"client,round,available,speed\n0,1,1,0\n", "t.csv:2: speed must be"},
        {"client,round,available,speed\n0,1,1,1.5\n", "t.csv:2: speed must be"},
        {"client,round,available,speed\n0,1,1,-0.5\n", "t.csv:2: speed must be"},
        {"client,round,available,speed\n0,1,1,nan\n", "t.csv:2: speed must be"},
        {"client,round,available,speed\n0,1,1,0.5x\n", "t.csv:2: speed must be"},
        {"client,round,available,speed\n0,1,1,\n", "t.csv:2: speed must be"},
        {"client,round,available,speed\n0,1,1,1\n0,1,0,1\n", "t.csv:3: client 0 round 1 is "
                                                             "already given at line 2"},
        {"client,round,available,speed\n0,2-4,1,1\n1,3,1,1\n0,4-8,0,1\n",
         "t.csv:4: client 0 round 4 is already given at line 2"},
        {"client,round,available,speed\n0,7,1,1\n0,*,0,1\n", "t.csv:3: client 0 round"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_error err = {0};
        fault_trace_t *t = parse(bad[i].text, 3, &err);
        if (t || err.status != FP_EFORMAT || !strstr(err.msg, bad[i].want))
            fail_msg("case %zu (%s): got %s", i, bad[i].want, t ? "a trace" : err.msg);
    }
    /* An embedded NUL is refused, not read as the end of the text. */
    static const char nul[] = "client,round,available,speed\n0,1,1\0,1\n";
    fp_error err = {0};
    assert_null(fault_trace_parse(nul, sizeof nul - 1, "t.csv", 3, &err));
    assert_non_null(strstr(err.msg, "t.csv:2:"));
}

static void a_trace_file_is_loaded_and_a_missing_one_refused(void **state)
{
    (void)state;
    char path[] = "/tmp/fedpep_trace_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("client,round,available,speed\n1,2,0,1\n", f);
    fclose(f);
    fp_error err = {0};
    fault_trace_t *t = fault_trace_load(path, 2, &err);
    assert_non_null(t);
    assert_int_equal(fault_trace_rows(t), 1);
    fault_trace_destroy(&t);
    assert_null(fault_trace_load(path, 1, &err)); /* client 1 out of range for 1 client */
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, ":2: client 1 out of range"));
    unlink(path);
    assert_null(fault_trace_load(path, 2, &err));
    assert_int_equal(err.status, FP_ENOTFOUND);
}

static void traced_pairs_follow_the_trace_and_the_rest_the_random_model(void **state)
{
    (void)state;
    fedpep_config cfg;
    config_defaults(&cfg);
    cfg.federation.clients = 20;
    cfg.faults.dropout = 0.5;
    cfg.faults.straggler_prob = 0.5;
    cfg.faults.straggler_slowdown = 3;
    cfg.faults.straggler_delay_s = 0.2;
    fp_error err = {0};
    fault_trace_t *t = parse("client,round,available,speed\n"
                             "0,*,1,1\n"     /* always there, full speed */
                             "1,0-4,0,1\n"   /* gone for rounds 0..4 */
                             "2,*,1,0.25\n", /* always 4x slower */
                             20, &err);
    assert_non_null(t);
    int random_drops = 0;
    for (uint32_t r = 0; r < 10; r++) {
        faults_round_t f0 = faults_for_trace(&cfg, t, r, 0);
        assert_false(f0.drop);
        assert_false(f0.slow);
        assert_int_equal(faults_hold_ms(&f0, 100), 0);
        faults_round_t f1 = faults_for_trace(&cfg, t, r, 1);
        if (r <= 4) {
            assert_true(f1.drop);
        } else {
            faults_round_t want = faults_for(&cfg, r, 1); /* unlisted round: random model */
            assert_faults_equal(f1, want);
        }
        faults_round_t f2 = faults_for_trace(&cfg, t, r, 2);
        assert_false(f2.drop);
        assert_true(f2.slow);
        assert_int_equal(faults_hold_ms(&f2, 100), 300); /* (1/0.25 − 1) × 100 ms */
        for (uint32_t k = 3; k < 20; k++) {
            faults_round_t a = faults_for_trace(&cfg, t, r, k), b = faults_for(&cfg, r, k);
            assert_faults_equal(a, b);
            random_drops += a.drop;
        }
        faults_round_t none = faults_for_trace(&cfg, NULL, r, 1), want = faults_for(&cfg, r, 1);
        assert_faults_equal(none, want);
    }
    assert_true(random_drops > 40 && random_drops < 130); /* the random model still applies */
    fault_trace_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_well_formed_trace_is_looked_up_by_client_and_round),
        cmocka_unit_test(malformed_traces_are_refused_with_file_and_line),
        cmocka_unit_test(a_trace_file_is_loaded_and_a_missing_one_refused),
        cmocka_unit_test(traced_pairs_follow_the_trace_and_the_rest_the_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
