/* test_data_loader.c — the TSV loader on hand-written files: every malformed row is an error
 * naming the file and line (never skipped), and the accepted quirks (BOM, CRLF, no final newline,
 * blanks around text) load exactly. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "data/dataset.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", test_tmpdir("data"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_rmtree(dir);
    return 0;
}

/* Writes bytes to dir/name and returns the path (static storage). */
static const char *write_file(const char *name, const char *bytes, size_t n)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
    return path;
}

static void expect_bad(fp_task_id id, const char *content, const char *needle)
{
    const char *path = write_file("bad.tsv", content, strlen(content));
    dataset_t *ds = NULL;
    fp_error err = {0};
    fp_status st = dataset_load_file(task_get(id), path, &ds, &err);
    assert_null(ds);
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, needle);
    if (st != FP_EFORMAT || !strstr(err.msg, want))
        fail_msg("content:\n%s\ngot %s '%s', want EFORMAT with '%s'", content, fp_status_name(st),
                 err.msg, want);
}

static void malformed_rows_fail_with_file_and_line(void **state)
{
    (void)state;
    const char *hdr = "sentence\tlabel\n";
    char buf[512];
#define SST(rows) (snprintf(buf, sizeof buf, "%s%s", hdr, rows), buf)
    expect_bad(FP_TASK_SST2, SST("good film\t1\nbad film\n"), ":3: 1 columns, expected 2");
    expect_bad(FP_TASK_SST2, SST("a\t1\nb\t0\nc\t1\textra\n"), ":4: 3 columns, expected 2");
    expect_bad(FP_TASK_SST2, SST("a\t1\nb\t2\n"), ":3: unknown label '2' in column 2");
    expect_bad(FP_TASK_SST2, SST("a\t1\nb\t\n"), ":3: unknown label '' in column 2");
    expect_bad(FP_TASK_SST2, SST("a\t1\n  \t0\n"), ":3: empty text in column 1");
    expect_bad(FP_TASK_SST2, SST("a\t1\n\nb\t0\n"), ":3: empty line");
    expect_bad(FP_TASK_SST2, SST("caf\xC3\t1\n"), ":2: column 1: invalid UTF-8");
    expect_bad(FP_TASK_SST2, SST("a\t1\nover\xC0\xAFlong\t1\n"), ":3: column 1: invalid UTF-8");
    expect_bad(FP_TASK_SST2, SST("surrogate \xED\xA0\x80\t1\n"), ":2: column 1: invalid UTF-8");
    expect_bad(FP_TASK_SST2, SST("a\t1\n\t\t\t\t\t\t\t\t\t\n"), ":3: > 8 columns, expected 2");
    expect_bad(FP_TASK_SST2, "index\tsentence\n0\ta\n",
               ":1: expected a header of 2 columns "
               "starting with 'sentence'");
    expect_bad(FP_TASK_SST2, "sentence\tlabel\n", ": no examples");
    /* String labels must match exactly. */
    expect_bad(FP_TASK_RTE,
               "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n"
               "1\ta\tb\tEntailment\n",
               ":3: unknown label 'Entailment'");
    expect_bad(FP_TASK_RTE, "index\tsentence1\tsentence2\tlabel\n0\ta\t \tentailment\n",
               ":2: empty text in column 3");
    expect_bad(FP_TASK_TREC, "sentence\tlabel\nWhat ?\tLOC\nWho ?\thum\n",
               ":3: unknown label 'hum'");
    expect_bad(FP_TASK_SUBJ, "sentence\tlabel\nx\tobjective\ny\t1\n", ":3: unknown label '1'");
    /* No header: line numbers start at the first row. */
    expect_bad(FP_TASK_COLA, "gj04\t1\t\tok .\ngj04\t1\t*\n", ":2: 3 columns, expected 4");
    expect_bad(FP_TASK_MRPC,
               "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
               "1\t1\t2\ta\tb\nyes\t1\t2\ta\tb\n",
               ":3: unknown label 'yes' in column 1");
#undef SST

    const char nul[] = "sentence\tlabel\na\t1\nb\0\t1\n";
    const char *path = write_file("nul.tsv", nul, sizeof nul - 1);
    dataset_t *ds = NULL;
    fp_error err;
    assert_int_equal(dataset_load_file(task_get(FP_TASK_SST2), path, &ds, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, ":3: NUL byte"));

    char missing[512];
    snprintf(missing, sizeof missing, "%s/none.tsv", dir);
    assert_int_equal(dataset_load_file(task_get(FP_TASK_SST2), missing, &ds, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "none.tsv: cannot open"));
    assert_int_equal(dataset_load(task_get(FP_TASK_SST2), FP_SPLIT_TRAIN, dir, 1, 0.2, &ds, &err),
                     FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/sst-2/train.tsv"));
    assert_int_equal(dataset_load_file(task_get(FP_TASK_SST2), dir, &ds, &err), FP_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

static void accepted_quirks_load_exactly(void **state)
{
    (void)state;
    /* BOM, CRLF, blanks around text, no final newline, UTF-8 text, an empty non-text column. */
    const char text[] = "\xEF\xBB\xBFidx\tsentence\tlabel\r\n"
                        "0\t  caf\xC3\xA9 ol\xC3\xA9 \t1\r\n"
                        "1\t\xF0\x9F\x8E\xAC film \t0";
    const char *path = write_file("mr.tsv", text, sizeof text - 1);
    dataset_t *ds = NULL;
    fp_error err;
    if (dataset_load_file(task_get(FP_TASK_MR), path, &ds, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ds->n, 2);
    assert_string_equal(ds->examples[0].text_a, "caf\xC3\xA9 ol\xC3\xA9");
    assert_int_equal(ds->examples[0].label, 1);
    assert_int_equal(ds->examples[0].line, 2);
    assert_string_equal(ds->examples[1].text_a, "\xF0\x9F\x8E\xAC film");
    assert_int_equal(ds->examples[1].label, 0);
    assert_null(ds->examples[1].text_b);
    dataset_destroy(&ds);

    const char pair[] = "index\tquestion\tsentence\tlabel\n7\tWho?\tMe.\tnot_entailment\n";
    path = write_file("qnli.tsv", pair, sizeof pair - 1);
    if (dataset_load_file(task_get(FP_TASK_QNLI), path, &ds, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(ds->examples[0].text_a, "Who?");
    assert_string_equal(ds->examples[0].text_b, "Me.");
    assert_int_equal(ds->examples[0].label, 1);
    size_t counts[FP_TASK_MAX_CLASSES];
    dataset_class_counts(ds, counts);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 1);
    dataset_destroy(&ds);
    dataset_destroy(&ds); /* idempotent */
    dataset_destroy(NULL);
}

/* Random byte edits of a valid pair-task file: each load either succeeds with sane examples or
 * fails with EFORMAT naming a line; never a crash, leak or out-of-bounds read (ASan watches). */
static void mutated_files_fail_cleanly(void **state)
{
    (void)state;
    const char good[] = "index\tsentence1\tsentence2\tlabel\n"
                        "0\tA man sleeps.\tNobody sleeps.\tnot_entailment\n"
                        "1\tIt rains \xC3\xA9.\tWater falls.\tentailment\n";
    const char alphabet[] = "\t\n\r \xC3\xA9\xFF\x80"
                            "aentilmo_";
    rng_t rng;
    rng_seed(&rng, 1234);
    int ok = 0, bad = 0;
    for (int trial = 0; trial < 400; trial++) {
        char text[sizeof good];
        memcpy(text, good, sizeof good);
        size_t n = sizeof good - 1;
        int edits = 1 + (int)rng_below(&rng, 3);
        for (int e = 0; e < edits && n > 0; e++) {
            size_t at = rng_below(&rng, n);
            if (rng_below(&rng, 4) == 0)
                n = at; /* truncate */
            else
                text[at] = alphabet[rng_below(&rng, sizeof alphabet - 1)];
        }
        const char *path = write_file("mut.tsv", text, n);
        dataset_t *ds = NULL;
        fp_error err = {0};
        fp_status st = dataset_load_file(task_get(FP_TASK_RTE), path, &ds, &err);
        if (st == FP_OK) {
            ok++;
            for (size_t i = 0; i < ds->n; i++) {
                assert_true(ds->examples[i].label == 0 || ds->examples[i].label == 1);
                assert_true(ds->examples[i].text_a[0] && ds->examples[i].text_b[0]);
            }
            dataset_destroy(&ds);
        } else {
            bad++;
            assert_int_equal(st, FP_EFORMAT);
            assert_null(ds);
            assert_non_null(strstr(err.msg, "mut.tsv:"));
        }
    }
    assert_true(ok > 0 && bad > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_rows_fail_with_file_and_line),
        cmocka_unit_test(accepted_quirks_load_exactly),
        cmocka_unit_test(mutated_files_fail_cleanly),
    };
    return cmocka_run_group_tests_name("data_loader", tests, setup, teardown);
}
