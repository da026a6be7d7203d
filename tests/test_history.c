/* test_history.c — `fedpep history`'s reports on a database the test fills through the storage
 * API: exact text rows, CSV that parses back to the stored values, reading beside a writer that
 * holds the write lock, and the command's errors for missing, foreign and corrupt files. */
#include "tests/support/test.h"
#include "tests/test_history_fixture.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/store_report.h"

typedef struct hx {
    char dir[256];
    char path[320];
    store_db_t *db; /* read-only */
} hx;

static int hx_setup(void **state)
{
    hx *h = calloc(1, sizeof *h);
    snprintf(h->dir, sizeof h->dir, "%s", test_tmpdir("history"));
    snprintf(h->path, sizeof h->path, "%s/fedpep.db", h->dir);
    hx_fill(h->path);
    fp_error err = {0};
    if (store_db_open(&h->db, h->path, STORE_DB_READONLY, &err))
        fail_msg("%s", err.msg);
    *state = h;
    return 0;
}

static int hx_teardown(void **state)
{
    hx *h = *state;
    store_db_close(&h->db);
    test_rmtree(h->dir);
    free(h);
    return 0;
}

static const char RUNS_TEXT[] =
    "id  name   task  strategy   status   rounds  best_metric  created\n"
    " 1  alpha  sst2  fedpeptao  running       3       0.7500  2026-01-02 03:04:05\n"
    " 2  beta   cola  fedprompt  failed        0            -  2026-01-02 05:57:08\n";

static const char ROUNDS_TEXT[] =
    "run alpha (id 1): tiny, sst2, fedpeptao, seed 7, running, 3 rounds, best metric 0.7500\n"
    "round  status  sampled  ok  dropped  late  train_loss  metric  bytes_down  bytes_up  wall_s"
    "  slowest_s  global  cpu_s\n"
    "    0  ok            3   3        0     0      0.7500       -       30000     29000    4.25"
    "       3.12       -   2.50\n"
    "    1  ok            3   3        0     0      0.6250  0.6250       31000     30000    4.25"
    "       3.12  0.5000      -\n"
    "    2  ok            3   1        1     1      0.5000  0.7500       32000     31000    4.25"
    "       3.12  0.6250   3.50\n"
    "round 1: ok after 2 retries\n";

static const char CLIENTS_TEXT[] = "run alpha, round 2: 3 sampled clients\n"
                                   "client  status   n_k  steps    loss     s\n"
                                   "     2  ok       120      8  0.5000  3.12\n"
                                   "     5  dropped   80      -       -     -\n"
                                   "     8  late     100      7  0.3750  9.00\n";

static void test_runs_text_and_csv(void **state)
{
    hx *h = *state;
    char *text = NULL;
    HX_CAPTURE(&text, store_report_runs(h->db, out, STORE_REPORT_TEXT, &err_));
    assert_string_equal(text, RUNS_TEXT);
    free(text);
    HX_CAPTURE(&text, store_report_runs(h->db, out, STORE_REPORT_CSV, &err_));
    assert_string_equal(text, "id,name,task,strategy,status,rounds,best_metric,created\n"
                              "1,alpha,sst2,fedpeptao,running,3,0.7500,2026-01-02 03:04:05\n"
                              "2,beta,cola,fedprompt,failed,0,,2026-01-02 05:57:08\n");
    free(text);
}

static void test_rounds_text(void **state)
{
    hx *h = *state;
    char *text = NULL;
    HX_CAPTURE(&text, store_report_rounds(h->db, "alpha", out, STORE_REPORT_TEXT, &err_));
    assert_string_equal(text, ROUNDS_TEXT);
    free(text);
    HX_CAPTURE(&text, store_report_rounds(h->db, "1", out, STORE_REPORT_TEXT, &err_)); /* by id */
    assert_string_equal(text, ROUNDS_TEXT);
    free(text);
    HX_CAPTURE(&text, store_report_rounds(h->db, "beta", out, STORE_REPORT_TEXT, &err_));
    assert_non_null(strstr(text, "0 rounds, best metric -\nfailed: " HX_BETA_REASON "\n"));
    assert_non_null(strstr(text, "(no round committed yet)\n"));
    free(text);
}

/* Splits one CSV line (no quoted fields in these reports) into at most max fields. */
static int csv_fields(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line; n < max;) {
        fields[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return n;
}

static void test_rounds_csv_parses_back(void **state)
{
    hx *h = *state;
    char *text = NULL;
    HX_CAPTURE(&text, store_report_rounds(h->db, "alpha", out, STORE_REPORT_CSV, &err_));
    int line_no = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save), line_no++) {
        char *f[16];
        assert_int_equal(csv_fields(line, f, 16), 14);
        if (line_no == 0) {
            assert_string_equal(f[0], "round");
            assert_string_equal(f[7], "metric");
            continue;
        }
        int r = line_no - 1;
        assert_int_equal(atoi(f[0]), r);
        assert_string_equal(f[1], "ok");
        assert_int_equal(atoi(f[2]), 3);
        assert_int_equal(atoi(f[3]), r == 2 ? 1 : 3);
        assert_close(strtod(f[6], NULL), 0.75 - 0.125 * r, 1e-4);
        if (r == 0)
            assert_string_equal(f[7], ""); /* not evaluated: empty field */
        else
            assert_close(strtod(f[7], NULL), 0.5 + 0.125 * r, 1e-4);
        assert_int_equal(atoll(f[8]), 30000 + 1000 * r);
        assert_int_equal(atoll(f[9]), 29000 + 1000 * r);
        assert_close(strtod(f[10], NULL), 4.25, 0.01);
        if (r == 0)
            assert_string_equal(f[12], "");
        else
            assert_close(strtod(f[12], NULL), 0.375 + 0.125 * r, 1e-4);
        if (r == 1)
            assert_string_equal(f[13], ""); /* CPU not measured: NULL */
        else
            assert_close(strtod(f[13], NULL), 2.5 + 0.5 * r, 1e-3);
    }
    assert_int_equal(line_no, 1 + HX_ALPHA_ROUNDS);
    free(text);
}

static void test_clients_of_a_round(void **state)
{
    hx *h = *state;
    char *text = NULL;
    HX_CAPTURE(&text, store_report_clients(h->db, "alpha", 2, out, STORE_REPORT_TEXT, &err_));
    assert_string_equal(text, CLIENTS_TEXT);
    free(text);
    HX_CAPTURE(&text, store_report_clients(h->db, "alpha", 2, out, STORE_REPORT_CSV, &err_));
    assert_string_equal(text, "client,status,n_k,steps,loss,s\n2,ok,120,8,0.5000,3.12\n"
                              "5,dropped,80,,,\n8,late,100,7,0.3750,9.00\n");
    free(text);

    FILE *sink = fopen("/dev/null", "w");
    fp_error err = {0};
    assert_int_equal(store_report_clients(h->db, "alpha", 3, sink, STORE_REPORT_TEXT, &err),
                     FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no round 3"));
    assert_int_equal(store_report_rounds(h->db, "gamma", sink, STORE_REPORT_TEXT, &err),
                     FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, h->path));
    assert_non_null(strstr(err.msg, "gamma"));
    assert_int_equal(store_report_rounds(h->db, "99", sink, STORE_REPORT_TEXT, &err),
                     FP_ENOTFOUND);
    fclose(sink);
}

/* Another connection holds the write lock with an uncommitted round: the read-only report still
 * works and shows committed rounds only; after the commit it shows the new one. */
static void test_reads_beside_a_writer(void **state)
{
    hx *h = *state;
    store_db_t *writer = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&writer, h->path, 0, &err), FP_OK);
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(h->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "BEGIN IMMEDIATE; UPDATE runs SET status = 'finished';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    char *text = NULL;
    HX_CAPTURE(&text, store_report_runs(h->db, out, STORE_REPORT_TEXT, &err_));
    assert_string_equal(text, RUNS_TEXT); /* the uncommitted change is invisible */
    free(text);
    assert_int_equal(sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);

    store_run run = {0};
    assert_int_equal(store_db_run_find(writer, "alpha", &run, &err), FP_OK);
    hx_commit_round(writer, run.id, 3);
    store_run_clear(&run);
    HX_CAPTURE(&text, store_report_rounds(h->db, "alpha", out, STORE_REPORT_CSV, &err_));
    assert_non_null(
        strstr(text, "\n3,ok,3,3,0,0,0.3750,0.8750,33000,32000,4.25,3.12,0.7500,4.00\n"));
    free(text);
    store_db_close(&writer);
    /* and the reader never wrote: a read-only handle refuses writes */
    store_run_spec spec = {"x", "", "m", "t", "s", 1};
    int64_t id = 0;
    assert_int_not_equal(store_db_run_begin(h->db, &spec, &id, NULL, &err), FP_OK);
}

/* A name with a comma and quotes is quoted in CSV (RFC 4180), shown as is in text. */
static void test_csv_quoting(void **state)
{
    hx *h = *state;
    store_db_t *w = NULL;
    assert_int_equal(store_db_open(&w, h->path, 0, NULL), FP_OK);
    store_run_spec odd = {"a,\"b\"", "", "tiny", "sst2", "fedavgm", 3};
    int64_t id = 0;
    assert_int_equal(store_db_run_begin(w, &odd, &id, NULL, NULL), FP_OK);
    store_db_close(&w);
    char *text = NULL;
    HX_CAPTURE(&text, store_report_runs(h->db, out, STORE_REPORT_CSV, &err_));
    assert_non_null(strstr(text, "\n3,\"a,\"\"b\"\"\",sst2,fedavgm,running,0,,"));
    free(text);
    HX_CAPTURE(&text, store_report_runs(h->db, out, STORE_REPORT_TEXT, &err_));
    assert_non_null(strstr(text, " 3  a,\"b\"  sst2"));
    free(text);
}

/* ---- the command itself ---- */

/* Runs `fedpep history args...` with stdout+stderr into a file; exit code returned, the output
 * in *text (malloc'd). Skips when the binary is not built. */
static int run_cli(const char *dir, const char *args, char **text)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char bin[512], cmd[2048], outp[512];
    snprintf(bin, sizeof bin, "%s/asan/fedpep", build);
    if (access(bin, X_OK) != 0)
        return -1;
    snprintf(outp, sizeof outp, "%s/cli.out", dir);
    snprintf(cmd, sizeof cmd, "%s history %s >%s 2>&1", bin, args, outp);
    int rc = system(cmd);
    *text = test_read_file(outp, NULL);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void test_cli_outputs_and_errors(void **state)
{
    hx *h = *state;
    char args[1024], *text = NULL;
    snprintf(args, sizeof args, "%s alpha", h->path);
    int rc = run_cli(h->dir, args, &text);
    if (rc < 0)
        skip(); /* build/asan/fedpep is built by `make test` before the tests run */
    assert_int_equal(rc, 0);
    assert_string_equal(text, ROUNDS_TEXT);
    free(text);
    snprintf(args, sizeof args, "%s alpha --clients 2", h->path);
    assert_int_equal(run_cli(h->dir, args, &text), 0);
    assert_string_equal(text, CLIENTS_TEXT);
    free(text);

    /* missing, foreign (text), corrupt (SQLite header then garbage): exit 1, path named */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/missing.db", h->dir);
    assert_int_equal(run_cli(h->dir, bad, &text), 1);
    assert_non_null(strstr(text, bad));
    free(text);
    struct stat before;
    snprintf(bad, sizeof bad, "%s/notes.txt", h->dir);
    FILE *f = fopen(bad, "w");
    for (int i = 0; i < 200; i++)
        fputs("these are notes, not a database\n", f);
    fclose(f);
    assert_int_equal(stat(bad, &before), 0);
    assert_int_equal(run_cli(h->dir, bad, &text), 1);
    assert_non_null(strstr(text, bad));
    free(text);
    struct stat after;
    assert_int_equal(stat(bad, &after), 0);
    assert_int_equal(after.st_size, before.st_size); /* untouched */
    snprintf(bad, sizeof bad, "%s/corrupt.db", h->dir);
    f = fopen(bad, "w");
    fputs("SQLite format 3", f);
    fputc('\0', f);
    for (int i = 0; i < 70000; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    assert_int_equal(run_cli(h->dir, bad, &text), 1);
    assert_non_null(strstr(text, bad));
    free(text);
    assert_int_equal(run_cli(h->dir, "", &text), 2); /* usage */
    free(text);
}

int main(void)
{
#define HX_TEST(f) cmocka_unit_test_setup_teardown(f, hx_setup, hx_teardown)
    const struct CMUnitTest tests[] = {
        HX_TEST(test_runs_text_and_csv),     HX_TEST(test_rounds_text),
        HX_TEST(test_rounds_csv_parses_back), HX_TEST(test_clients_of_a_round),
        HX_TEST(test_reads_beside_a_writer),  HX_TEST(test_cli_outputs_and_errors),
        HX_TEST(test_csv_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
