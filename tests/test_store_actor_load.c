/* test_store_actor_load.c — what the store role keeps besides rounds and gives back on LOAD,
 * without sockets (test_store_role_fixture.h): a client's state (SAVE_CLIENT) that only moves
 * forward, the layer selection that is fixed for a run, LOAD before anything was saved, and the
 * client index and rows blob the store parses. */
#include "tests/test_store_role_fixture.h"

static void test_client_state(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    msg_t m = {0}, reply = {0};
    const uint8_t blob[6] = {9, 8, 7, 6, 5, 4};

    assert_int_equal(msg_init(&m, MSG_SAVE_CLIENT, RUN_NAME, "client.4", NULL), FP_OK);
    m.round = 2;
    assert_int_equal(msg_blob_copy(&m.save_client.state, blob, sizeof blob, NULL), FP_OK);
    expect_error_unchanged(s, fx->path, &m, FP_ENOTFOUND); /* no run */
    begin_run(s);
    expect_saved(s, &m);

    load(s, "client.4", &reply);
    assert_true(reply.state.found);
    assert_int_equal(reply.round, 2);
    assert_int_equal(reply.state.client_state.n, sizeof blob);
    assert_memory_equal(reply.state.client_state.data, blob, sizeof blob);
    assert_int_equal(reply.state.rows.ndim, 0);
    msg_clear(&reply);
    load(s, "client.5", &reply); /* never saved */
    assert_false(reply.state.found);
    msg_clear(&reply);

    m.round = 1; /* a stale save must not roll the client back */
    expect_error_unchanged(s, fx->path, &m, FP_ESTATE);
    m.round = 3;
    expect_saved(s, &m);
    assert_int_equal(fx_sql_int(fx->path, "SELECT round FROM client_state WHERE client = 4"), 3);
    assert_int_equal(msg_set_id(m.from, "coordinator", NULL), FP_OK); /* not a client */
    expect_error_unchanged(s, fx->path, &m, FP_EINVAL);
    msg_clear(&m);

    assert_int_equal(msg_init(&m, MSG_LOAD, RUN_NAME, "evaluator", NULL), FP_OK);
    assert_int_equal(msg_set_id(m.load.client, "evaluator", NULL), FP_OK); /* not a client id */
    expect_error_unchanged(s, fx->path, &m, FP_EINVAL);
    msg_clear(&m);
    store_role_destroy(&s);
}

static void make_selection(msg_t *m, uint32_t second)
{
    assert_int_equal(msg_init(m, MSG_SELECTION, RUN_NAME, "evaluator", NULL), FP_OK);
    m->selection.num_layers = 4;
    assert_int_equal(msg_u32s_alloc(&m->selection.layers, 2, NULL), FP_OK);
    m->selection.layers.v[0] = 1;
    m->selection.layers.v[1] = second;
    assert_int_equal(msg_f64s_alloc(&m->selection.scores, 3, NULL), FP_OK);
    for (int l = 0; l < 3; l++)
        m->selection.scores.v[l] = 0.5 * l + 0.25;
}

static void test_selection(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    begin_run(s);
    msg_t m = {0};
    make_selection(&m, 3);
    expect_saved(s, &m);
    expect_saved(s, &m); /* identical again: fine */
    msg_clear(&m);
    make_selection(&m, 2); /* the selection is fixed for a run */
    expect_error_unchanged(s, fx->path, &m, FP_ESTATE);
    msg_clear(&m);

    store_db_t *db = fx_open(fx->path, STORE_DB_READONLY);
    store_layer *layers = NULL;
    size_t n = 0;
    assert_int_equal(store_db_layers_load(db, run_id_of(db), &layers, &n, NULL), FP_OK);
    assert_int_equal(n, 4);
    for (int l = 0; l < 3; l++)
        assert_true(layers[l].score == 0.5 * l + 0.25);
    assert_true(isnan(layers[3].score));
    assert_false(layers[0].selected);
    assert_true(layers[1].selected);
    assert_false(layers[2].selected);
    assert_true(layers[3].selected);
    free(layers);
    store_db_close(&db);

    save_round(s, 0);
    msg_t st = {0};
    load(s, NULL, &st);
    assert_int_equal(st.state.layers.n, 2);
    assert_int_equal(st.state.layers.v[0], 1);
    assert_int_equal(st.state.layers.v[1], 3);
    msg_clear(&st);
    store_role_destroy(&s);
}

static void test_load_nothing_yet(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    msg_t st = {0};
    load(s, NULL, &st); /* no such run */
    assert_false(st.state.found);
    assert_int_equal(st.round, 0);
    msg_clear(&st);
    begin_run(s);
    load(s, NULL, &st); /* run without rounds */
    assert_false(st.state.found);
    msg_clear(&st);
    store_role_destroy(&s);
}

static void test_client_index_and_rows_blob(void **state)
{
    (void)state;
    assert_int_equal(store_role_client_index("client.12"), 12);
    assert_int_equal(store_role_client_index("client-3"), 3);
    assert_int_equal(store_role_client_index("client.0"), 0);
    assert_int_equal(store_role_client_index("client.2147483647"), 2147483647);
    assert_int_equal(store_role_client_index("client.2147483648"), -1);
    assert_int_equal(store_role_client_index("client.99999999999"), -1);
    assert_int_equal(store_role_client_index("client12"), -1);
    assert_int_equal(store_role_client_index("client."), -1);
    assert_int_equal(store_role_client_index(".5"), -1);
    assert_int_equal(store_role_client_index("coordinator"), -1);
    assert_int_equal(store_role_client_index(""), -1);
    assert_int_equal(store_role_client_index(NULL), -1);

    msg_tensor_t t = {0}, back = {0};
    uint32_t shape[2] = {3, 2};
    float v[6] = {1, -2, 3.5f, 0, 1e-30f, -0.0f};
    assert_int_equal(msg_tensor_copy(&t, 2, shape, v, NULL), FP_OK);
    uint8_t *blob = NULL;
    size_t n = 0;
    assert_int_equal(store_role_rows_blob(&t, &blob, &n, NULL), FP_OK);
    assert_int_equal(n, 4 + 8 + 24);
    assert_int_equal(blob[0], 2); /* little-endian ndim */
    assert_int_equal(store_role_rows_parse(blob, n, &back, NULL), FP_OK);
    assert_int_equal(back.ndim, 2);
    assert_memory_equal(back.shape, shape, sizeof shape);
    assert_memory_equal(back.data, v, sizeof v);
    msg_tensor_free(&back);
    /* every truncation and a bad header are refused */
    fp_error err = {0};
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(store_role_rows_parse(blob, cut, &back, &err), FP_EFORMAT);
    blob[0] = 0;
    assert_int_equal(store_role_rows_parse(blob, n, &back, &err), FP_EFORMAT);
    blob[0] = 9;
    assert_int_equal(store_role_rows_parse(blob, n, &back, &err), FP_EFORMAT);
    blob[0] = 2;
    blob[4] = 0; /* a zero dimension */
    assert_int_equal(store_role_rows_parse(blob, n, &back, &err), FP_EFORMAT);
    assert_null(back.data);
    free(blob);
    msg_tensor_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_client_state),
        FX_TEST(test_selection),
        FX_TEST(test_load_nothing_yet),
        cmocka_unit_test(test_client_index_and_rows_blob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
