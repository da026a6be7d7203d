/* test_storage_docs.c — docs/storage.md stays true: every ```sql block of its cookbook runs
 * against a database built through the store (and every SELECT returns rows), and its schema
 * reference names every column of every table. Run from the repository root (as `make test`
 * does) or set FEDPEP_ROOT. */
#include "test_storage_fixture.h"

#include <sqlite3.h>

static char *read_docs(void)
{
    const char *root = getenv("FEDPEP_ROOT");
    char path[512];
    snprintf(path, sizeof path, "%s/docs/storage.md", root && *root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (run from the repository root or set FEDPEP_ROOT)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = 0;
    fclose(f);
    return text;
}

/* The demo run of the cookbook: rounds with drops and late clients, layer scores, client
 * state, and a second run so joins must filter. */
static void build_demo(const char *path)
{
    store_db_t *db = fx_open(path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t demo = fx_run(db, "demo");
    int64_t other = fx_run(db, "other");
    for (int32_t r = 0; r < 6; r++)
        fx_commit_ok(db, demo, r);
    fx_commit_ok(db, other, 0);
    double score[4] = {2.5, 1.0, 3.0, NAN};
    bool sel[4] = {true, false, true, false};
    assert_int_equal(store_db_layers_save(db, demo, score, sel, 4, &err), FP_OK);
    store_blob p = {"prompt", 6}, a = {"adam state", 10};
    assert_int_equal(store_db_client_state_save(db, demo, 3, 5, p, a, &err), FP_OK);
    assert_int_equal(store_db_client_state_save(db, demo, 8, 4, p, a, &err), FP_OK);
    store_db_close(&db);
}

/* Runs every statement of one block; a SELECT must return at least one row. */
static void run_block(sqlite3 *raw, const char *sql, int block)
{
    const char *tail = sql;
    while (*tail) {
        sqlite3_stmt *st = NULL;
        const char *next = NULL;
        if (sqlite3_prepare_v2(raw, tail, -1, &st, &next) != SQLITE_OK)
            fail_msg("cookbook block %d does not compile: %s\n%s", block, sqlite3_errmsg(raw),
                     tail);
        if (!st) /* trailing whitespace or a comment */
            break;
        int rows = 0, rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            rows++;
        if (rc != SQLITE_DONE)
            fail_msg("cookbook block %d fails: %s\n%s", block, sqlite3_errmsg(raw), tail);
        if (sqlite3_column_count(st) > 0 && sqlite3_stmt_readonly(st) &&
            strncmp(sqlite3_sql(st), "PRAGMA", 6) != 0 && rows == 0)
            fail_msg("cookbook block %d returns no row on the demo database:\n%s", block, tail);
        sqlite3_finalize(st);
        tail = next;
    }
}

static void cookbook_queries_run(void **state)
{
    (void)state;
    fx_db fx;
    fx_db_init(&fx, "storage-docs");
    build_demo(fx.path);
    char *docs = read_docs();
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(fx.path, &raw), SQLITE_OK);
    int blocks = 0;
    for (char *p = strstr(docs, "```sql\n"); p; p = strstr(p, "```sql\n")) {
        p += strlen("```sql\n");
        char *end = strstr(p, "```");
        assert_non_null(end);
        *end = 0;
        run_block(raw, p, ++blocks);
        p = end + 3;
    }
    assert_true(blocks >= 10);
    /* The last block deletes the demo run: everything it owned goes with it. */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw,
                                        "SELECT (SELECT count(*) FROM rounds WHERE run = 1) + "
                                        "(SELECT count(*) FROM client_state WHERE run = 1)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(raw);
    free(docs);
    test_rmtree(fx.dir);
}

/* Each table's section ("### `name`" up to the next heading) names each of its columns. */
static void schema_reference_names_every_column(void **state)
{
    (void)state;
    fx_db fx;
    fx_db_init(&fx, "storage-docs");
    store_db_t *db = fx_open(fx.path, STORE_DB_CREATE);
    store_db_close(&db);
    char *docs = read_docs();
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(fx.path, &raw), SQLITE_OK);
    sqlite3_stmt *tables = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw,
                                        "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                        "ORDER BY name",
                                        -1, &tables, NULL),
                     SQLITE_OK);
    int n_tables = 0;
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(tables, 0);
        char heading[96];
        snprintf(heading, sizeof heading, "### `%s`", table);
        char *section = strstr(docs, heading);
        if (!section)
            fail_msg("docs/storage.md has no section %s", heading);
        size_t at = (size_t)(section - docs) + strlen(heading);
        char *end = strstr(docs + at, "\n#");
        size_t len = end ? (size_t)(end - section) : strlen(section);
        char *copy = strndup(section, len);
        sqlite3_stmt *cols = NULL;
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", table);
        assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &cols, NULL), SQLITE_OK);
        while (sqlite3_step(cols) == SQLITE_ROW) {
            char quoted[96];
            snprintf(quoted, sizeof quoted, "`%s`", (const char *)sqlite3_column_text(cols, 0));
            if (!strstr(copy, quoted))
                fail_msg("docs/storage.md section %s does not describe column %s", heading, quoted);
        }
        sqlite3_finalize(cols);
        free(copy);
        n_tables++;
    }
    sqlite3_finalize(tables);
    assert_int_equal(n_tables, 6);
    sqlite3_close(raw);
    free(docs);
    test_rmtree(fx.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cookbook_queries_run),
        cmocka_unit_test(schema_reference_names_every_column),
    };
    return cmocka_run_group_tests_name("storage_docs", tests, NULL, NULL);
}
