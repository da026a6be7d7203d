/* test_config.c — the run configuration: every option parses, defaults match the table, every
 * kind of bad input fails with the right status and line, dump/load round-trips, overrides,
 * and the embedded default and docs/config.md stay in sync with their sources. */
#include "tests/support/test.h"

#include "common/config.h"
#include "common/config_table.h"
#include "fl/strategy.h"

#define CONFIG_MAX_OPTIONS_TEST 128

/* Loads text as "t.ini"; returns the status and leaves the reason in err. */
static fp_status load_text(const char *text, fedpep_config *cfg, fp_error *err)
{
    memset(err, 0, sizeof *err);
    return config_load_string(text, strlen(text), "t.ini", NULL, 0, cfg, err);
}

static void expect_fail(const char *text, fp_status status, const char *needle)
{
    fedpep_config cfg;
    fp_error err;
    fp_status st = load_text(text, &cfg, &err);
    if (st != status || !strstr(err.msg, needle))
        fail_msg("input:\n%s\ngot %s '%s', want %s containing '%s'", text, fp_status_name(st),
                 err.msg, fp_status_name(status), needle);
}

static const void *at(const fedpep_config *cfg, const config_option *opt)
{
    return (const char *)cfg + opt->offset;
}

static void defaults_are_the_documented_protocol(void **state)
{
    (void)state;
    fedpep_config c;
    config_defaults(&c);
    assert_string_equal(c.run.name, "default");
    assert_int_equal(c.run.seed, 42);
    assert_int_equal(c.run.strategy, FP_STRATEGY_FEDPEPTAO);
    assert_int_equal(c.run.rounds, 100);
    assert_string_equal(c.model.path, "models/default");
    assert_int_equal(c.model.prompt_length, 0);
    assert_int_equal(c.model.precision, FP_PRECISION_FP32);
    assert_int_equal(config_prompt_length(&c, false), 20);
    assert_int_equal(config_prompt_length(&c, true), 5);
    assert_true(c.model.dropout == 0.1);
    assert_int_equal(c.model.head, FP_HEAD_VERBALIZER);
    assert_int_equal(c.data.task, FP_TASK_SST2);
    assert_string_equal(c.data.dir, "");
    assert_int_equal(c.data.partition, FP_PARTITION_DIRICHLET);
    assert_true(c.data.size_alpha == 5.0 && c.data.label_alpha == 1.0);
    assert_int_equal(c.federation.clients, 100);
    assert_int_equal(c.federation.clients_per_round, 10);
    assert_true(c.federation.layer_fraction == 0.5);
    assert_true(c.federation.personalize);
    assert_int_equal(c.federation.score_batch, 8);
    assert_true(c.client.lr == 0.04 && c.client.beta1 == 0.9 && c.client.beta2 == 0.999);
    assert_true(c.client.eps == 1e-8 && c.client.weight_decay == 0.1 && c.client.clip_norm == 1);
    assert_int_equal(c.client.local_epochs, 2);
    assert_int_equal(c.client.batch_size, 8);
    assert_int_equal(c.client.max_local_steps, 0);
    assert_int_equal(c.server.step, FP_SERVER_STEP_PARALLEL);
    assert_true(c.server.momentum == 0.9 && c.server.lr == 0.05);
    assert_true(c.server.lr_decay == 0.99 && c.server.lr_min == 1e-4);
    assert_int_equal(c.faults.kill_coordinator_at_round, -1);
    assert_int_equal(c.eval.every, 1);
    assert_int_equal(config_check(&c, NULL), FP_OK);
    /* config_load with no file is exactly the defaults. */
    fedpep_config d;
    fp_error err;
    assert_int_equal(config_load(NULL, NULL, 0, &d, &err), FP_OK);
    assert_true(config_equal(&c, &d));
    assert_string_equal(config_strategy_name(FP_STRATEGY_RANDOM_LAYERS), "random-layers");
    assert_string_equal(config_task_name(FP_TASK_MR), "mr");
    assert_string_equal(config_task_name(FP_TASK_COUNT), "?");
}

/* A valid value different from the option's default, as text. */
static void other_value(const config_option *opt, const fedpep_config *defaults, char *out,
                        size_t n)
{
    static const struct {
        const char *section, *key, *value;
    } special[] = {
        /* Values that keep the cross-option rules satisfied. */
        {"run", "rounds", "7"},
        {"federation", "clients", "50"},
        {"federation", "clients_per_round", "5"},
        {"federation", "min_clients", "2"},
        {"faults", "straggler_clients", "3"},
        {"faults", "kill_coordinator_at_round", "2"},
        {"eval", "every", "2"},
        {"server", "lr", "0.5"},
        {"server", "lr_min", "0.001"},
    };
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        if (!strcmp(special[i].section, opt->section) && !strcmp(special[i].key, opt->key)) {
            snprintf(out, n, "%s", special[i].value);
            return;
        }
    }
    const void *p = at(defaults, opt);
    switch (opt->type) {
    case CONFIG_INT:
        snprintf(out, n, "%lld",
                 (long long)(*(const int *)p != (int)opt->min ? opt->min : opt->min + 1));
        break;
    case CONFIG_I64:
        snprintf(out, n, "%lld", (long long)opt->max);
        break;
    case CONFIG_DOUBLE:
        snprintf(out, n, "%.17g",
                 *(const double *)p != opt->min ? opt->min : (opt->min + opt->max) / 2);
        break;
    case CONFIG_BOOL:
        snprintf(out, n, "%s", *(const bool *)p ? "off" : "YES");
        break;
    case CONFIG_STRING:
        snprintf(out, n, "some/%s-value", opt->key);
        break;
    case CONFIG_ENUM: {
        int last = 0;
        while (opt->names[last + 1])
            last++;
        snprintf(out, n, "%s", opt->names[*(const int *)p == last ? 0 : last]);
        break;
    }
    }
}

/* The dump of cfg, as a malloc'd string. */
static char *dump(const fedpep_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(config_dump(cfg, f), FP_OK);
    fclose(f);
    return buf;
}

static void every_option_parses_from_file_and_override(void **state)
{
    (void)state;
    fedpep_config defaults;
    config_defaults(&defaults);
    char ini[16384] = "";
    char *overrides[CONFIG_MAX_OPTIONS_TEST];
    size_t n = 0;
    for (size_t s = 0; config_sections[s]; s++) {
        snprintf(ini + strlen(ini), sizeof ini - strlen(ini), "[%s]\n", config_sections[s]);
        for (size_t i = 0; i < config_option_count; i++) {
            const config_option *opt = &config_options[i];
            if (strcmp(opt->section, config_sections[s]))
                continue;
            char value[200];
            other_value(opt, &defaults, value, sizeof value);
            snprintf(ini + strlen(ini), sizeof ini - strlen(ini), "%s = %s\n", opt->key, value);
            char assign[256];
            snprintf(assign, sizeof assign, "%s.%s=%s", opt->section, opt->key, value);
            overrides[n++] = strdup(assign);
        }
    }
    assert_int_equal(n, config_option_count);

    fedpep_config from_file, from_overrides;
    fp_error err;
    if (load_text(ini, &from_file, &err))
        fail_msg("%s", err.msg);
    if (config_load_string(NULL, 0, "none", (const char *const *)overrides, n, &from_overrides,
                           &err))
        fail_msg("%s", err.msg);
    assert_true(config_equal(&from_file, &from_overrides));
    for (size_t i = 0; i < config_option_count; i++) {
        const config_option *opt = &config_options[i];
        if (opt->type == CONFIG_STRING)
            assert_string_not_equal(at(&from_file, opt), at(&defaults, opt));
        else if (!memcmp(at(&from_file, opt), at(&defaults, opt), opt->size))
            fail_msg("[%s] %s was not set from the file", opt->section, opt->key);
    }
    for (size_t i = 0; i < n; i++)
        free(overrides[i]);

    /* Dump of a config with every option changed reads back equal. */
    char *text = dump(&from_file);
    fedpep_config again;
    if (load_text(text, &again, &err))
        fail_msg("%s\n%s", err.msg, text);
    assert_true(config_equal(&from_file, &again));
    free(text);
}

static void dump_round_trips_defaults_and_awkward_doubles(void **state)
{
    (void)state;
    fedpep_config c, back;
    fp_error err;
    const char *ov[] = {"client.lr = 0.1", "client.eps=3.0000000000000004e-9", "server.tau=1e-12",
                        "data.dir=/tmp/some dir/with spaces", "run.seed=9007199254740991"};
    assert_int_equal(config_load(NULL, ov, 5, &c, &err), FP_OK);
    assert_string_equal(c.data.dir, "/tmp/some dir/with spaces");
    assert_int_equal(c.run.seed, 9007199254740991LL);
    char *text = dump(&c);
    assert_non_null(strstr(text, "\n[client]\nlr = 0.1\n"));
    assert_int_equal(load_text(text, &back, &err), FP_OK);
    assert_true(config_equal(&c, &back));
    assert_true(back.client.eps == 3.0000000000000004e-9);
    back.client.eps = 3e-9;
    assert_false(config_equal(&c, &back));
    free(text);
}

static void overrides_win_over_the_file_and_are_checked(void **state)
{
    (void)state;
    const char *ini = "[run]\nrounds = 50\n[client]\nlr = 0.01\n";
    const char *ov[] = {"run.rounds=3", " client . lr = 0.2 "};
    fedpep_config c;
    fp_error err;
    assert_int_equal(config_load_string(ini, strlen(ini), "t.ini", ov, 2, &c, &err), FP_OK);
    assert_int_equal(c.run.rounds, 3);
    assert_true(c.client.lr == 0.2);

    struct {
        const char *assign;
        fp_status status;
        const char *needle;
    } bad[] = {
        {"run.rounds=abc", FP_EFORMAT, "override 1: [run] rounds: not an integer"},
        {"run.rounds", FP_EFORMAT, "expected section.key=value"},
        {"rounds=3", FP_EFORMAT, "expected section.key=value"},
        {"run.bogus=1", FP_EFORMAT, "[run] bogus: unknown key"},
        {"nope.x=1", FP_EFORMAT, "[nope]: unknown section"},
        {"run.rounds=0", FP_ELIMIT, "0 is out of range [1, 1000000]"},
        {"run.name=a;b", FP_EFORMAT, "';'"},
        {"run.name=", FP_ELIMIT, "length 0"},
        {"federation.clients=4", FP_ELIMIT,
         "override 1: [federation] clients_per_round = 10 is more than [federation] clients = 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_status st = config_load(NULL, &bad[i].assign, 1, &c, &err);
        (void)st;
        if (st != bad[i].status || !strstr(err.msg, bad[i].needle))
            fail_msg("%s: got %s '%s'", bad[i].assign, fp_status_name(st), err.msg);
    }
    /* The relation is blamed on the option that broke it, here given by the second override. */
    const char *two[] = {"federation.clients=20", "federation.clients_per_round=30"};
    assert_int_equal(config_load(NULL, two, 2, &c, &err), FP_ELIMIT);
    assert_non_null(strstr(err.msg, "override 2: [federation] clients_per_round = 30 is more"));
    const char *dup[] = {"run.rounds=3", "run.rounds=4"};
    assert_int_equal(config_load(NULL, dup, 2, &c, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "override 2: [run] rounds: given twice (first in override 1)"));
    /* config_override alone applies one assignment. */
    config_defaults(&c);
    assert_int_equal(config_override(&c, "faults.dropout=0.25", &err), FP_OK);
    assert_true(c.faults.dropout == 0.25);
    assert_int_equal(config_override(&c, "faults.dropout=2", &err), FP_ELIMIT);
    assert_true(c.faults.dropout == 0.25);
}

static void bad_values_name_file_line_section_and_key(void **state)
{
    (void)state;
    expect_fail("[run]\nname = x\nbogus = 1\n", FP_EFORMAT, "t.ini:3: [run] bogus: unknown key");
    expect_fail("# c\n[nope]\nx = 1\n", FP_EFORMAT, "t.ini:3: [nope]: unknown section");
    expect_fail("seed = 1\n", FP_EFORMAT, "t.ini:1: seed: key outside any [section]");
    expect_fail("[run]\nrounds = 12x\n", FP_EFORMAT, "t.ini:2: [run] rounds: not an integer");
    expect_fail("[run]\nrounds = 1.5\n", FP_EFORMAT, "t.ini:2: [run] rounds: not an integer");
    expect_fail("[run]\nrounds =\n", FP_EFORMAT, "t.ini:2: [run] rounds: not an integer");
    expect_fail("[run]\nrounds = 99999999999999999999\n", FP_ELIMIT, "t.ini:2: [run] rounds:");
    expect_fail("[run]\nrounds = 0\n", FP_ELIMIT,
                "t.ini:2: [run] rounds: 0 is out of range [1, 1000000]");
    expect_fail("[run]\nseed = -1\n", FP_ELIMIT, "t.ini:2: [run] seed: -1 is out of range");
    expect_fail("[client]\nlr = fast\n", FP_EFORMAT, "t.ini:2: [client] lr: not a number");
    expect_fail("[client]\nlr = nan\n", FP_EFORMAT, "t.ini:2: [client] lr: not a number");
    expect_fail("[client]\nlr = inf\n", FP_EFORMAT, "t.ini:2: [client] lr: not a number");
    expect_fail("[client]\nlr = 0x1p-3\n", FP_EFORMAT, "t.ini:2: [client] lr: not a number");
    expect_fail("[client]\nlr = 1e999\n", FP_ELIMIT, "t.ini:2: [client] lr: 1e999 is out of");
    expect_fail("\n\n[client]\nbeta1 = 1.5\n", FP_ELIMIT,
                "t.ini:4: [client] beta1: 1.5 is out of range [0, 0.999999]");
    expect_fail("[federation]\npersonalize = maybe\n", FP_EFORMAT,
                "t.ini:2: [federation] personalize: not a boolean");
    expect_fail("[run]\nstrategy = fedsgd\n", FP_EFORMAT,
                "t.ini:2: [run] strategy: 'fedsgd' is not one of: fedpeptao, fedprompt");
    expect_fail("[data]\ntask = boolq\n", FP_EFORMAT, "t.ini:2: [data] task: 'boolq' is not one");
    expect_fail("[model]\nprecision = fp16\n", FP_EFORMAT,
                "t.ini:2: [model] precision: 'fp16' is not one of: fp32, bf16");
    expect_fail("[model]\nprecision =\n", FP_EFORMAT, "[model] precision:");
    expect_fail("[run]\nname = a;b\n", FP_EFORMAT, "t.ini:2: [run] name:");
    expect_fail("[federation]\nclients = 5\nclients_per_round = 6\n", FP_ELIMIT,
                "t.ini:3: [federation] clients_per_round = 6 is more than [federation] "
                "clients = 5");
    expect_fail("[federation]\nclients_per_round = 6\nclients = 5\n", FP_ELIMIT,
                "t.ini:3: [federation] clients_per_round = 6 is more than");
    expect_fail("[server]\nlr_min = 0.5\n", FP_ELIMIT,
                "t.ini:2: [server] lr_min = 0.5 is more than [server] lr = 0.05");
    expect_fail("[faults]\nkill_coordinator_at_round = 100\n", FP_ELIMIT,
                "t.ini:2: [faults] kill_coordinator_at_round = 100 is not below [run] "
                "rounds = 100");
}

static void bad_syntax_and_duplicates_give_the_first_bad_line(void **state)
{
    (void)state;
    expect_fail("[run]\nrounds = 3\n\n[model]\n\n[run]\nrounds = 4\n", FP_EFORMAT,
                "t.ini:7: [run] rounds: given twice (first at line 2)");
    expect_fail("[run]\nrounds 3\n", FP_EFORMAT, "t.ini:2: expected 'key = value'");
    expect_fail("[run\nrounds = 3\n", FP_EFORMAT, "t.ini:1: section header without ']'");
    expect_fail("[run]\nrounds = 3\n  4\n", FP_EFORMAT,
                "t.ini:3: [run] rounds: indented line continues");
    /* The first error in the file wins, whoever found it. */
    expect_fail("[run]\nbad line\nrounds = x\n", FP_EFORMAT, "t.ini:2: expected");
    expect_fail("[run]\nrounds = x\nbad line\n", FP_EFORMAT, "t.ini:2: [run] rounds: not an int");
    /* Comments, blank lines, CRLF, a BOM, ':' separators and inline comments are INI. */
    fedpep_config c;
    fp_error err;
    const char ok[] = "\xEF\xBB\xBF; comment\r\n# comment\r\n\r\n[run]\r\nrounds: 9 ; inline\r\n";
    assert_int_equal(load_text(ok, &c, &err), FP_OK);
    assert_int_equal(c.run.rounds, 9);

    char text[512];
    memset(text, 0, sizeof text);
    strcpy(text, "[run]\nname = ");
    memset(text + strlen(text), 'x', 300);
    expect_fail(text, FP_ELIMIT, "t.ini:2: line longer than 196 bytes");
    /* Found by fuzz_config: carriage returns inside a line count towards its length. */
    memset(text + strlen("[run]\nname = "), '\r', 300);
    expect_fail(text, FP_ELIMIT, "t.ini:2: line longer than 196 bytes");
    char exact[256] = "[run]\n;";
    memset(exact + strlen(exact), 'n', 195); /* a 196-byte comment line */
    strcat(exact, "\r\nrounds = 4\n");
    fedpep_config fits;
    assert_int_equal(load_text(exact, &fits, &err), FP_OK);
    assert_int_equal(fits.run.rounds, 4);
    exact[strlen("[run]\n;") + 195] = 'n'; /* now 197 bytes */
    expect_fail(exact, FP_ELIMIT, "t.ini:2: line longer than 196 bytes");
    const char nul[] = "[run]\nrounds = 3\0\n";
    assert_int_equal(config_load_string(nul, sizeof nul - 1, "t.ini", NULL, 0, &c, &err),
                     FP_EFORMAT);
    assert_non_null(strstr(err.msg, "t.ini:2: NUL byte"));
    assert_int_equal(load_text("", &c, &err), FP_OK);
}

static void files_missing_or_present(void **state)
{
    (void)state;
    fedpep_config c;
    fp_error err;
    assert_int_equal(config_load("/nonexistent/x.ini", NULL, 0, &c, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.ini: cannot open"));

    const char *dir = test_tmpdir("config");
    assert_int_equal(config_load(dir, NULL, 0, &c, &err), FP_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    char path[512];
    snprintf(path, sizeof path, "%s/bad.ini", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[run]\nrounds = 5\n[client]\nlr = -1\n", f);
    fclose(f);
    assert_int_equal(config_load(path, NULL, 0, &c, &err), FP_ELIMIT);
    char want[600];
    snprintf(want, sizeof want, "%s:4: [client] lr: -1 is out of range", path);
    assert_non_null(strstr(err.msg, want));
    test_rmtree(dir);
}

static void embedded_default_is_configs_default_ini(void **state)
{
    (void)state;
    char *file = test_read_file("configs/default.ini", NULL);
    if (!file)
        fail_msg("configs/default.ini not found: run the tests from the repository root");
    if (strcmp(file, config_default_ini))
        fail_msg("common/config_default.c differs from configs/default.ini: regenerate it "
                 "(docs/config.md)");
    free(file);

    fedpep_config c;
    fp_error err;
    if (config_load("configs/default.ini", NULL, 0, &c, &err))
        fail_msg("%s", err.msg);
    fedpep_config e;
    assert_int_equal(config_load_string(config_default_ini, strlen(config_default_ini), "embedded",
                                        NULL, 0, &e, &err),
                     FP_OK);
    assert_true(config_equal(&c, &e));
    assert_string_equal(c.model.path, "models/default");
    assert_int_equal(c.data.task, FP_TASK_SST2);
    assert_int_equal(c.federation.clients, 10);
    assert_int_equal(c.federation.clients_per_round, 3);
    assert_true(c.faults.dropout == 0.1);
    assert_int_equal(c.faults.straggler_clients, 1);
    assert_true(c.run.rounds <= 10);
    assert_true(c.client.max_local_steps > 0 && c.data.max_train_examples > 0);
}

static void docs_hold_the_generated_table(void **state)
{
    (void)state;
    char *doc = test_read_file("docs/config.md", NULL);
    if (!doc)
        fail_msg("docs/config.md not found: run the tests from the repository root");
    char *table = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);
    assert_int_equal(config_doc_markdown(f), FP_OK);
    fclose(f);
    if (!strstr(doc, table))
        fail_msg("docs/config.md does not contain the current option table: regenerate it "
                 "(docs/config.md says how)");
    char *readme = test_read_file("README.md", NULL);
    if (!readme || !strstr(readme, table))
        fail_msg("README.md does not contain the current option table between its "
                 "options:begin/end markers: regenerate it with `fedpep config --doc`");
    free(readme);
    /* Each row shows the table's own default text. */
    for (size_t i = 0; i < config_option_count; i++) {
        char row[256];
        snprintf(row, sizeof row, "| `%s` | ", config_options[i].key);
        const char *p = strstr(table, row);
        assert_non_null(p);
        char def[200];
        if (config_options[i].def[0])
            snprintf(def, sizeof def, "| `%s` |", config_options[i].def);
        else
            snprintf(def, sizeof def, "| *(empty)* |");
        assert_non_null(strstr(p, def));
    }
    free(table);
    free(doc);
}

static void data_dir_resolution(void **state)
{
    (void)state;
    fedpep_config c;
    config_defaults(&c);
    char dir[256];
    const char *old = getenv("FEDPEP_SHARED");
    char *saved = old ? strdup(old) : NULL;
    setenv("FEDPEP_SHARED", "/srv/shared", 1);
    assert_int_equal(config_data_dir(&c, dir, sizeof dir, NULL), FP_OK);
    assert_string_equal(dir, "/srv/shared/datasets");
    unsetenv("FEDPEP_SHARED");
    assert_int_equal(config_data_dir(&c, dir, sizeof dir, NULL), FP_OK);
    assert_string_equal(dir, "../shared/datasets");
    strcpy(c.data.dir, "/data/x");
    assert_int_equal(config_data_dir(&c, dir, sizeof dir, NULL), FP_OK);
    assert_string_equal(dir, "/data/x");
    assert_int_equal(config_data_dir(&c, dir, 4, NULL), FP_ELIMIT);
    if (saved) {
        setenv("FEDPEP_SHARED", saved, 1);
        free(saved);
    }
}

static int by_offset(const void *a, const void *b)
{
    const config_option *x = *(const config_option *const *)a;
    const config_option *y = *(const config_option *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static size_t align_of(const config_option *opt)
{
    switch (opt->type) {
    case CONFIG_I64:
        return _Alignof(int64_t);
    case CONFIG_DOUBLE:
        return _Alignof(double);
    case CONFIG_INT:
    case CONFIG_ENUM:
        return _Alignof(int);
    default:
        return 1;
    }
}

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* Every field of fedpep_config has a table row: within each section struct the rows, sorted by
 * offset, tile the struct exactly (gaps only where alignment demands), so no field escapes
 * parse, dump and config_equal. */
static void table_covers_every_field(void **state)
{
    (void)state;
#define SECTION(name, type)                                                                        \
    {                                                                                              \
#name, offsetof(fedpep_config, name), sizeof(type)                                         \
    }
    const struct {
        const char *name;
        size_t offset, size;
    } sections[] = {
        SECTION(run, fp_config_run),       SECTION(model, fp_config_model),
        SECTION(data, fp_config_data),     SECTION(federation, fp_config_federation),
        SECTION(client, fp_config_client), SECTION(server, fp_config_server),
        SECTION(faults, fp_config_faults), SECTION(broker, fp_config_broker),
        SECTION(launch, fp_config_launch), SECTION(eval, fp_config_eval),
    };
#undef SECTION
    size_t n_sections = sizeof sections / sizeof sections[0];
    for (size_t s = 0; s < n_sections; s++) {
        assert_string_equal(config_sections[s], sections[s].name);
        const config_option *rows[CONFIG_MAX_OPTIONS_TEST];
        size_t n = 0;
        for (size_t i = 0; i < config_option_count; i++)
            if (!strcmp(config_options[i].section, sections[s].name))
                rows[n++] = &config_options[i];
        assert_true(n > 0);
        qsort(rows, n, sizeof rows[0], by_offset);
        size_t end = sections[s].offset, max_align = 1;
        for (size_t i = 0; i < n; i++) {
            size_t a = align_of(rows[i]);
            max_align = a > max_align ? a : max_align;
            if (rows[i]->offset != align_up(end, a))
                fail_msg("[%s] %s at %zu, expected %zu: a field without a row?", rows[i]->section,
                         rows[i]->key, rows[i]->offset, align_up(end, a));
            end = rows[i]->offset + rows[i]->size;
        }
        if (sections[s].offset + sections[s].size != align_up(end, max_align))
            fail_msg("[%s]: struct ends at %zu, rows at %zu: a field without a row?",
                     sections[s].name, sections[s].offset + sections[s].size, end);
    }
    assert_null(config_sections[n_sections]);
}

/* Every configured strategy has its descriptor in fl/ (indexed by fp_strategy, the one list of
 * strategies), and server.step matches fl_server_step_variant, so the glue may convert it. */
static void strategy_enum_matches_fl(void **state)
{
    (void)state;
    assert_int_equal(FP_SERVER_STEP_PARALLEL, FL_STEP_PARALLEL);
    assert_int_equal(FP_SERVER_STEP_SEQUENTIAL, FL_STEP_SEQUENTIAL);
    for (int s = 0; s < FP_STRATEGY_COUNT; s++) {
        const fl_strategy_desc *d = fl_strategy_get((fp_strategy)s);
        assert_non_null(d);
        assert_int_equal(d->id, s);
        assert_string_not_equal(config_strategy_name((fp_strategy)s), "?");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_the_documented_protocol),
        cmocka_unit_test(table_covers_every_field),
        cmocka_unit_test(strategy_enum_matches_fl),
        cmocka_unit_test(every_option_parses_from_file_and_override),
        cmocka_unit_test(dump_round_trips_defaults_and_awkward_doubles),
        cmocka_unit_test(overrides_win_over_the_file_and_are_checked),
        cmocka_unit_test(bad_values_name_file_line_section_and_key),
        cmocka_unit_test(bad_syntax_and_duplicates_give_the_first_bad_line),
        cmocka_unit_test(files_missing_or_present),
        cmocka_unit_test(embedded_default_is_configs_default_ini),
        cmocka_unit_test(docs_hold_the_generated_table),
        cmocka_unit_test(data_dir_resolution),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
