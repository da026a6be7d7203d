/* test_report.c — `fedpep report` (storage/results_report.h) on a tiny database made by real
 * simulate runs (the train fixture's random model, 4 clients, 3 rounds): FedPrompt at two seeds,
 * FedPepTAO, and FedPepTAO without server momentum (a variant). The page and its figures are
 * byte-identical when generated twice, and the page's numbers are those read from the database
 * here with SQL, independently of the report's code. */
#include "tests/support/test.h"

#include "tests/test_train_fixture.h"

#include <math.h>
#include <sqlite3.h>
#include <unistd.h>

#include "common/config.h"
#include "simulate/simulate.h"
#include "storage/results_report.h"
#include "storage/store_db.h"

static fixture_files g_fx;
static char g_db[150];
static char g_db2[150]; /* one task on two models */
static char g_db3[150]; /* the same, the other model's run recorded first */

static void run_in(const char *db, const char *model, const char *name, fp_strategy strategy,
                   int seed, double momentum, double dropout)
{
    fedpep_config cfg;
    config_defaults(&cfg);
    snprintf(cfg.model.path, sizeof cfg.model.path, "%s/%s", g_fx.dir, model);
    snprintf(cfg.data.dir, sizeof cfg.data.dir, "%s/data", g_fx.dir);
    snprintf(cfg.run.db, sizeof cfg.run.db, "%s", db);
    snprintf(cfg.run.name, sizeof cfg.run.name, "%s", name);
    cfg.run.strategy = strategy;
    cfg.run.seed = seed;
    cfg.run.rounds = 3;
    cfg.model.prompt_length = 4;
    cfg.model.max_seq_len = 32;
    cfg.model.head = FP_HEAD_DESCRIPTIONS;
    cfg.federation.clients = 4;
    cfg.federation.clients_per_round = 2;
    cfg.client.max_local_steps = 4;
    cfg.server.momentum = momentum;
    cfg.faults.dropout = dropout;
    cfg.eval.batch_size = 16;
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    fp_error err = {0};
    if (train_simulate(&cfg, &o, NULL, &res, &err))
        fail_msg("simulate %s: %s", name, err.msg);
}

static void run_one(const char *name, fp_strategy strategy, int seed, double momentum,
                    double dropout)
{
    run_in(g_db, "model", name, strategy, seed, momentum, dropout);
}

static const char *metric_of(const char *task)
{
    return !strcmp(task, "sst-2") ? "accuracy" : NULL;
}

static void generate_from(const char *path, const char *md)
{
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, path, STORE_DB_READONLY, &err), FP_OK);
    results_report_options o = {"tiny.db", md, metric_of};
    if (results_report_write(db, &o, &err))
        fail_msg("report: %s", err.msg);
    store_db_close(&db);
}

static void generate(const char *md)
{
    generate_from(g_db, md);
}

/* One number of a database by SQL. */
static double sql_real_in(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double v = sqlite3_column_type(st, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static double sql_real(const char *sql)
{
    return sql_real_in(g_db, sql);
}

static double run_real_in(const char *path, const char *what, const char *run)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM rounds AS x JOIN runs AS r ON r.id = x.run WHERE r.name = '%s'", what,
             run);
    return sql_real_in(path, sql);
}

static double run_real(const char *what, const char *run)
{
    return run_real_in(g_db, what, run);
}

/* The page's table row that starts with "| strategy | variant |". */
static char *row_of(const char *page, const char *strategy, const char *variant)
{
    char start[200];
    snprintf(start, sizeof start, "\n| %s | %s |", strategy, variant);
    const char *p = strstr(page, start);
    if (!p)
        fail_msg("no row '%s'", start + 1);
    const char *eol = strchr(p + 1, '\n');
    return strndup(p + 1, (size_t)(eol - p - 1));
}

static void contains(const char *row, const char *want)
{
    if (!strstr(row, want))
        fail_msg("'%s' not in: %s", want, row);
}

static void report_is_deterministic_and_says_what_the_database_holds(void **state)
{
    (void)state;
    char md[300], svg[320], *first_md, *first_svg;
    snprintf(md, sizeof md, "%s/results.md", g_fx.dir);
    snprintf(svg, sizeof svg, "%s/results-sst-2.svg", g_fx.dir);
    generate(md);
    size_t n_md = 0, n_svg = 0, n2 = 0;
    assert_non_null(first_md = test_read_file(md, &n_md));
    assert_non_null(first_svg = test_read_file(svg, &n_svg));
    generate(md);
    char *again = test_read_file(md, &n2);
    assert_int_equal(n2, n_md);
    assert_memory_equal(again, first_md, n_md);
    free(again);
    again = test_read_file(svg, &n2);
    assert_int_equal(n2, n_svg);
    assert_memory_equal(again, first_svg, n_svg);
    assert_non_null(strstr(again, "<svg"));
    assert_non_null(strstr(again, "fedpeptao"));
    free(again);
    snprintf(svg, sizeof svg, "%s/results-sst-2-variants.svg", g_fx.dir);
    assert_non_null(again = test_read_file(svg, &n2));
    assert_non_null(strstr(again, "server.momentum=0"));
    free(again);

    const char *page = first_md;
    contains(page, "fedpep report tiny.db --out ");
    contains(page, "Metrics: sst-2 accuracy.");
    contains(page, "| `run.seed` | `42`, `43` |"); /* the seeds differ between runs */
    contains(page, "| `federation.clients` | `4` |");
    contains(page, "| `model.precision` | `fp32` |"); /* prompt-43's by default */
    /* where the runs were recorded is no part of the protocol: the page names no run.db */
    assert_null(strstr(page, "| `run.db` |"));
    assert_null(strstr(page, g_db));

    /* FedPepTAO, one seed: best and last global, best pooled, CPU and bytes per round. */
    char *row = row_of(page, "fedpeptao", ""), want[64];
    contains(row, "| 1 | 3 |");
    snprintf(want, sizeof want, "| %.1f |", 100 * run_real("max(global_metric)", "tao"));
    contains(row, want);
    snprintf(want, sizeof want, "| %.1f |", 100 * run_real("max(eval_metric)", "tao"));
    contains(row, want);
    snprintf(want, sizeof want, "| %.2f |", run_real("avg(client_cpu_ms) / 1000.0", "tao"));
    contains(row, want);
    snprintf(want, sizeof want, "| %.1f |", run_real("avg(bytes_up) / 1000.0", "tao"));
    contains(row, want);
    free(row);

    /* FedPrompt, two seeds: mean ± sample sd of the best global metric. */
    double a = run_real("max(global_metric)", "prompt-42");
    double b = run_real("max(global_metric)", "prompt-43");
    double mean = (a + b) / 2, sd = fabs(a - b) / sqrt(2.0);
    row = row_of(page, "fedprompt", "");
    contains(row, "| 2 | 3 |");
    snprintf(want, sizeof want, "| %.1f ± %.1f |", 100 * mean, 100 * sd);
    contains(row, want);
    free(row);

    /* The variant is named by the option it changes; FedPepTAO against FedPrompt in points. */
    row = row_of(page, "fedpeptao", "server.momentum=0");
    snprintf(want, sizeof want, "| %+.1f",
             100 * (run_real("max(global_metric)", "tao-no-momentum") - mean));
    contains(row, want);
    free(row);

    /* Wins and losses: FedPepTAO (1 seed) against FedPrompt (2 seeds) is judged against twice
     * the typical spread, here FedPrompt's own sd (the only setting with seeds); FedPepTAO
     * without momentum is a variant, not a baseline. */
    double tao_g = run_real("max(global_metric)", "tao"),
           tao_q = run_real("max(eval_metric)", "tao");
    double qa = run_real("max(eval_metric)", "prompt-42"),
           qb = run_real("max(eval_metric)", "prompt-43");
    double q_mean = (qa + qb) / 2, q_sd = fabs(qa - qb) / sqrt(2.0);
    double dg = tao_g - mean, dq = tao_q - q_mean;
    const char *vg = fabs(dg) <= 2 * sd ? "within noise" : dg > 0 ? "win" : "loss";
    const char *vq = fabs(dq) <= 2 * q_sd ? "within noise" : dq > 0 ? "win" : "loss";
    char detail[200];
    snprintf(detail, sizeof detail,
             "| fedprompt | sst-2 | 1, 2 | %+.1f | %s (1 seed) | %+.1f | %s (1 seed) |", 100 * dg,
             vg, 100 * dq, vq);
    contains(page, detail);
    snprintf(detail, sizeof detail,
             "twice the typical standard deviation instead — the mean over the "
             "settings with several seeds: %.1f points global, %.1f pooled",
             100 * sd, 100 * q_sd);
    contains(page, detail);
    char model[300];
    snprintf(model, sizeof model, "%s/model", g_fx.dir);
    row = row_of(page, "fedprompt", model);
    snprintf(want, sizeof want, "| 1 | %d / %d / %d | %+.1f |", !strcmp(vg, "win"),
             !strcmp(vg, "loss"), !strcmp(vg, "within noise"), 100 * dg);
    contains(row, want);
    free(row);
    assert_null(strstr(page, "| fedpeptao | sst-2 | 1, 1 |")); /* never against itself */

    /* Variants against their strategy: the dropout run against FedPepTAO at equal rounds (one
     * seed each: judged against twice the typical spread) and its clients per round. */
    assert_true(run_real("sum(dropped)", "tao-dropout") > 0); /* the check can tell */
    double dv = run_real("max(global_metric)", "tao-dropout") - tao_g;
    snprintf(detail, sizeof detail,
             "\n| sst-2 | fedpeptao | faults.dropout=0.4 | 1, 1 | %+.1f | %s (1 seed) |", 100 * dv,
             fabs(dv) <= 2 * sd ? "within noise"
             : dv > 0           ? "win"
                                : "loss");
    const char *variant_row = strstr(page, detail);
    if (!variant_row)
        fail_msg("no row '%s'", detail + 1);
    row = strndup(variant_row + 1, (size_t)(strchr(variant_row + 1, '\n') - variant_row - 1));
    snprintf(detail, sizeof detail, "| %.1f / %.1f, %.1f / %.1f | %.1f, 0.0 | 0.0, 0.0 |",
             run_real("avg(completed)", "tao-dropout"), run_real("avg(sampled)", "tao-dropout"),
             run_real("avg(completed)", "tao"), run_real("avg(sampled)", "tao"),
             run_real("avg(dropped)", "tao-dropout"));
    contains(row, detail);
    free(row);
    contains(page, "| fedpeptao | server.momentum=0 | 1, 1 |"); /* the ablation too */
    /* a variant at seed 43 against FedPrompt's seed-43 run, not the mean of its two seeds */
    dv = run_real("max(global_metric)", "prompt-43-dropout") - b;
    snprintf(detail, sizeof detail,
             "\n| sst-2 | fedprompt | faults.dropout=0.4 | 1, 1 | %+.1f | %s (1 seed) |", 100 * dv,
             fabs(dv) <= 2 * sd ? "within noise"
             : dv > 0           ? "win"
                                : "loss");
    contains(page, detail);

    /* The layers FedPepTAO sent: the stored selection. */
    snprintf(want, sizeof want, "| tao | sst-2 | fedpeptao | 42 | %d, %d |",
             (int)sql_real("SELECT min(layer) FROM layer_scores AS l JOIN runs AS r ON r.id = "
                           "l.run WHERE r.name = 'tao' AND selected"),
             (int)sql_real("SELECT max(layer) FROM layer_scores AS l JOIN runs AS r ON r.id = "
                           "l.run WHERE r.name = 'tao' AND selected"));
    contains(page, want);
    assert_null(strstr(page, "| prompt-42 |")); /* FedPrompt sends every layer */
    free(first_md);
    free(first_svg);
}

/* The same task on a second model (issue 16: the deeper model's rows beside the default's): a
 * table of its own, named by the model, whose "vs FedPrompt" and wins are against FedPrompt on
 * that model; its model is not a variant there; and one side-by-side table of both models. */
static void a_task_on_two_models_gets_a_table_each_and_one_side_by_side(void **state)
{
    (void)state;
    char md[300], path[320];
    snprintf(md, sizeof md, "%s/two.md", g_fx.dir);
    generate_from(g_db2, md);
    size_t n = 0;
    char *page = test_read_file(md, &n), want[400];
    assert_non_null(page);
    snprintf(path, sizeof path, "%s/two-sst-2-model2.svg", g_fx.dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/two-sst-2.svg", g_fx.dir);
    assert_int_equal(access(path, F_OK), 0);
    contains(page, "Metrics: sst-2 accuracy.\n"); /* the task once */

    double a_tao = run_real_in(g_db2, "max(global_metric)", "a-tao");
    double b_tao = run_real_in(g_db2, "max(global_metric)", "b-tao");
    double b_prompt = run_real_in(g_db2, "max(global_metric)", "b-prompt");
    double b_pooled = run_real_in(g_db2, "max(eval_metric)", "b-tao");
    snprintf(want, sizeof want, "\n## sst-2 on %s/model2\n", g_fx.dir);
    const char *second = strstr(page, want);
    assert_non_null(second);
    assert_non_null(strstr(page, "\n## sst-2\n"));
    /* its FedPepTAO row: no variant, compared with FedPrompt on the same model */
    char *row = row_of(second, "fedpeptao", "");
    snprintf(want, sizeof want, "| %+.1f |", 100 * (b_tao - b_prompt));
    contains(row, want);
    free(row);
    snprintf(want, sizeof want, "| fedprompt | sst-2 on %s/model2 | 1, 1 | %+.1f |", g_fx.dir,
             100 * (b_tao - b_prompt));
    contains(page, want);
    /* the summary: a row per model, each with that model's one task and its own gap (one seed
     * each and no setting with seeds in this database: the gap is unjudged) */
    const char *models[2] = {"model", "model2"};
    double gaps[2] = {a_tao - run_real_in(g_db2, "max(global_metric)", "a-prompt"),
                      b_tao - b_prompt};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", g_fx.dir, models[k]);
        row = row_of(page, "fedprompt", path);
        snprintf(want, sizeof want, "| 1 | 0 / 0 / 0 (+1 unjudged) | %+.1f |", 100 * gaps[k]);
        contains(row, want);
        free(row);
    }

    const char *beside = strstr(page, "\n## Models side by side\n");
    assert_non_null(beside);
    snprintf(want, sizeof want, "| strategy | best global: %s/model | best global: %s/model2 |",
             g_fx.dir, g_fx.dir);
    contains(beside, want);
    snprintf(want, sizeof want, "\n| fedpeptao | %.1f | %.1f |", 100 * a_tao, 100 * b_tao);
    contains(beside, want);
    snprintf(want, sizeof want, "| %.1f | %.1f | %.1f | %.1f |", 100 * a_tao, 100 * b_tao,
             100 * run_real_in(g_db2, "max(eval_metric)", "a-tao"), 100 * b_pooled);
    contains(beside, want);
    free(page);

    /* the main model's table first, whichever run was recorded first (a rerun records anew) */
    snprintf(md, sizeof md, "%s/three.md", g_fx.dir);
    generate_from(g_db3, md);
    assert_non_null(page = test_read_file(md, &n));
    const char *main_table = strstr(page, "\n## sst-2\n"), *other = strstr(page, "\n## sst-2 on ");
    assert_non_null(main_table);
    assert_non_null(other);
    assert_true(main_table < other);
    free(page);

    /* one model only: no side-by-side section */
    snprintf(md, sizeof md, "%s/one.md", g_fx.dir);
    generate(md);
    assert_non_null(page = test_read_file(md, &n));
    assert_null(strstr(page, "Models side by side"));
    free(page);
}

static void an_empty_database_is_refused(void **state)
{
    (void)state;
    char path[300], md[300];
    snprintf(path, sizeof path, "%s/empty.db", g_fx.dir);
    snprintf(md, sizeof md, "%s/empty.md", g_fx.dir);
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, path, STORE_DB_CREATE, &err), FP_OK);
    results_report_options o = {"empty.db", md, metric_of};
    assert_int_equal(results_report_write(db, &o, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no run"));
    store_db_close(&db);
    assert_int_not_equal(access(md, F_OK), 0);
}

static int setup(void **state)
{
    fixture_files_setup(state, &g_fx, "report", 3, 64, 32);
    snprintf(g_db, sizeof g_db, "%s/tiny.db", g_fx.dir);
    run_one("prompt-42", FP_STRATEGY_FEDPROMPT, 42, 0.9, 0);
    run_one("tao", FP_STRATEGY_FEDPEPTAO, 42, 0.9, 0);
    run_one("prompt-43", FP_STRATEGY_FEDPROMPT, 43, 0.9, 0);
    /* prompt-43 as a binary from before [model] precision existed stored it: its setting is
     * still prompt-42's (a missing option reads as its default). */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(g_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE runs SET config = replace(config, 'precision = fp32' || "
                                  "char(10), '') WHERE name = 'prompt-43'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
    run_one("tao-no-momentum", FP_STRATEGY_FEDPEPTAO, 42, 0.0, 0);
    run_one("tao-dropout", FP_STRATEGY_FEDPEPTAO, 42, 0.9, 0.4);
    run_one("prompt-43-dropout", FP_STRATEGY_FEDPROMPT, 43, 0.9, 0.4);

    /* the second model: the same files under another name, as a run names its model */
    char link[200];
    snprintf(link, sizeof link, "%s/model2", g_fx.dir);
    assert_int_equal(symlink("model", link), 0);
    snprintf(g_db2, sizeof g_db2, "%s/two.db", g_fx.dir);
    run_in(g_db2, "model", "a-prompt", FP_STRATEGY_FEDPROMPT, 42, 0.9, 0);
    run_in(g_db2, "model", "a-tao", FP_STRATEGY_FEDPEPTAO, 42, 0.9, 0);
    run_in(g_db2, "model2", "b-prompt", FP_STRATEGY_FEDPROMPT, 42, 0.9, 0);
    run_in(g_db2, "model2", "b-tao", FP_STRATEGY_FEDPEPTAO, 42, 0.9, 0);
    snprintf(g_db3, sizeof g_db3, "%s/three.db", g_fx.dir);
    run_in(g_db3, "model2", "c-prompt", FP_STRATEGY_FEDPROMPT, 42, 0.9, 0);
    run_in(g_db3, "model", "d-prompt", FP_STRATEGY_FEDPROMPT, 42, 0.9, 0);
    run_in(g_db3, "model", "d-tao", FP_STRATEGY_FEDPEPTAO, 42, 0.9, 0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_is_deterministic_and_says_what_the_database_holds),
        cmocka_unit_test(a_task_on_two_models_gets_a_table_each_and_one_side_by_side),
        cmocka_unit_test(an_empty_database_is_refused),
    };
    return cmocka_run_group_tests_name("report", tests, setup, fixture_files_teardown);
}
