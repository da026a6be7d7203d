/* test_wire_rows.c — the travelling rows on the wire at each block's own width
 * (train/wire_rows.h, actors/wire_tensor.h, the `widths` rules of messages/msg_schema.c).
 *
 * A USE-lite-shaped layout (L = 3, d = 8, d_embed = 4, P = 2): packing layers {0, 2} keeps 4
 * floats of each block-0 row and 8 of each block-2 row in [P][K][2] order, and unpacking puts
 * every value back with zeros beyond block 0's width, so rows whose tails are zero (as every
 * prompt's are: train_initial_prompt) survive the round trip exactly; the input prompt packs
 * to [P][d_embed]. The model-aware check refuses a missing width, a block's wrong width, and a
 * wrong shape, each naming what is wrong; the message layer refuses a zero width, more widths
 * than layers and 4-D rows beside widths; a TRAIN with widths survives encode/decode. */
#include "tests/support/test.h"

#include "actors/wire_tensor.h"
#include "model/model_config.h"
#include "train/wire_rows.h"

enum { P = 2, L = 3, D = 8, D0 = 4 };

static model_config use_lite_shape(void)
{
    model_config mc = {0};
    mc.n_layers = L, mc.d_model = D, mc.d_embed = D0, mc.n_heads = 2;
    return mc;
}

static void layout(train_layout *lay, bool input)
{
    model_config mc = use_lite_shape();
    int travel[2] = {0, 2};
    fp_status st = input ? train_layout_init_input(lay, &mc, P, 0, NULL)
                         : train_layout_init(lay, &mc, P, travel, 2, false, 0, NULL);
    assert_int_equal(st, FP_OK);
}

static void rows_pack_at_block_width_and_come_back(void **state)
{
    (void)state;
    train_layout lay;
    layout(&lay, false);
    assert_int_equal(train_wire_groups(&lay), 2);
    assert_int_equal(train_wire_width(&lay, 0), D0);
    assert_int_equal(train_wire_width(&lay, 1), D);
    assert_int_equal(train_wire_row_floats(&lay), 2 * D0 + 2 * D);
    assert_int_equal(train_wire_floats(&lay), P * (2 * D0 + 2 * D));
    assert_int_equal(lay.n_rows, P * 2 * 2 * D);
    /* rows[p][k][s][i] = 1000 p + 100 k + 10 s + i, zero beyond block 0's width */
    float rows[P * 2 * 2 * D], packed[P * (2 * D0 + 2 * D)], back[P * 2 * 2 * D];
    for (int p = 0; p < P; p++)
        for (int k = 0; k < 2; k++)
            for (int s = 0; s < 2; s++)
                for (int i = 0; i < D; i++)
                    rows[((p * 2 + k) * 2 + s) * D + i] =
                        k == 0 && i >= D0 ? 0.0f : (float)(1000 * p + 100 * k + 10 * s + i);
    train_wire_pack(&lay, rows, packed);
    size_t at = 0;
    for (int p = 0; p < P; p++)
        for (int k = 0; k < 2; k++)
            for (int s = 0; s < 2; s++)
                for (int i = 0; i < (k ? D : D0); i++)
                    assert_true(packed[at++] == (float)(1000 * p + 100 * k + 10 * s + i));
    assert_int_equal(at, train_wire_floats(&lay));
    for (size_t i = 0; i < lay.n_rows; i++)
        back[i] = -1.0f;
    train_wire_unpack(&lay, packed, back);
    for (size_t i = 0; i < lay.n_rows; i++)
        assert_true(back[i] == rows[i]);
}

static void input_prompt_packs_to_the_embedding_width(void **state)
{
    (void)state;
    train_layout lay;
    layout(&lay, true);
    assert_int_equal(train_wire_groups(&lay), 1);
    assert_int_equal(train_wire_width(&lay, 0), D0);
    assert_int_equal(train_wire_floats(&lay), P * D0);
    float rows[P * D] = {0}, packed[P * D0], back[P * D];
    for (int p = 0; p < P; p++)
        for (int i = 0; i < D0; i++)
            rows[p * D + i] = (float)(10 * p + i + 1);
    train_wire_pack(&lay, rows, packed);
    assert_true(packed[D0] == 11.0f);
    train_wire_unpack(&lay, packed, back);
    assert_memory_equal(back, rows, sizeof rows); /* float bytes: exact copies, zeros included */
}

static void the_receiver_checks_widths_and_shape_against_its_model(void **state)
{
    (void)state;
    train_layout lay;
    layout(&lay, false);
    float rows[P * 2 * 2 * D] = {0};
    msg_tensor_t t = {0};
    msg_u32s_t widths = {0};
    assert_int_equal(wire_tensor_pack(&lay, rows, &t, &widths, NULL), FP_OK);
    assert_int_equal(t.ndim, 2);
    assert_int_equal(t.shape[0], P);
    assert_int_equal(t.shape[1], 2 * D0 + 2 * D);
    assert_int_equal(widths.n, 2);
    assert_int_equal(widths.v[0], D0);
    assert_int_equal(widths.v[1], D);
    fp_error err = {0};
    assert_int_equal(wire_tensor_check(&lay, "TRAIN", &widths, &t, &err), FP_OK);
    assert_int_equal(wire_tensor_check(&lay, "UPDATE", NULL, &t, &err), FP_OK);

    widths.v[0] = D; /* the zero tail sent, as before */
    assert_int_equal(wire_tensor_check(&lay, "TRAIN", &widths, &t, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "TRAIN.widths[0] = 8: block 0 of the model is 4 floats wide"));
    widths.v[0] = D0;
    widths.v[1] = D0;
    assert_int_equal(wire_tensor_check(&lay, "TRAIN", &widths, &t, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "widths[1] = 4: block 2 of the model is 8 floats wide"));
    widths.v[1] = D;
    msg_u32s_t none = {0};
    assert_int_equal(wire_tensor_check(&lay, "EVAL_REQUEST", &none, &t, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "EVAL_REQUEST.widths: 0 widths for 2 travelling layers"));

    /* the old full-width shape, and a cut row */
    msg_tensor_t full = {0}, cut = {0};
    uint32_t full_shape[4] = {P, 2, 2, D}, cut_shape[2] = {P, 2 * D0 + 2 * D - 1};
    assert_int_equal(msg_tensor_alloc(&full, 4, full_shape, NULL), FP_OK);
    assert_int_equal(msg_tensor_alloc(&cut, 2, cut_shape, NULL), FP_OK);
    assert_int_equal(wire_tensor_check(&lay, "UPDATE", NULL, &full, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "UPDATE.rows: 4 dimensions"));
    assert_non_null(strstr(err.msg, "the model needs [2][24]"));
    assert_int_equal(wire_tensor_check(&lay, "TRAIN", &widths, &cut, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "[2][23...], the model needs [2][24]"));
    msg_tensor_free(&full);
    msg_tensor_free(&cut);
    msg_tensor_free(&t);
    free(widths.v);
}

static void widths_travel_and_malformed_ones_are_refused(void **state)
{
    (void)state;
    train_layout lay;
    layout(&lay, false);
    float rows[P * 2 * 2 * D];
    for (size_t i = 0; i < lay.n_rows; i++)
        rows[i] = (float)i;
    msg_t m, back = {0};
    assert_int_equal(msg_init(&m, MSG_TRAIN, "run", "coordinator", NULL), FP_OK);
    assert_int_equal(msg_u32s_alloc(&m.train.layers, 2, NULL), FP_OK);
    m.train.layers.v[0] = 0, m.train.layers.v[1] = 2;
    assert_int_equal(wire_tensor_pack(&lay, rows, &m.train.rows, &m.train.widths, NULL), FP_OK);
    m.train.deadline_ms = 1000, m.train.epochs = 1, m.train.batch = 4;
    uint8_t *buf = NULL;
    size_t len = 0;
    fp_error err = {0};
    assert_int_equal(msg_encode(&m, NULL, &buf, &len, &err), FP_OK);
    assert_int_equal(msg_decode(buf, len, NULL, &back, &err), FP_OK);
    assert_true(msg_equal(&m, &back));
    assert_int_equal(back.train.widths.n, 2);
    assert_int_equal(back.train.widths.v[1], D);
    free(buf);
    msg_clear(&back);

    msg_limits lim = msg_limits_default();
    m.train.widths.v[1] = 0;
    assert_int_equal(msg_validate(&m, &lim, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "TRAIN.widths: [1] is 0"));
    m.train.widths.v[1] = D;
    m.train.layers.n = 1; /* two widths for one layer */
    assert_int_equal(msg_validate(&m, &lim, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "TRAIN.widths: 2 widths for 1 layers"));
    m.train.layers.n = 2;
    uint32_t four[4] = {P, 2, 2, D};
    assert_int_equal(msg_tensor_alloc(&m.train.rows, 4, four, NULL), FP_OK);
    assert_int_equal(msg_validate(&m, &lim, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "TRAIN.rows: 4 dimensions"));
    msg_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_pack_at_block_width_and_come_back),
        cmocka_unit_test(input_prompt_packs_to_the_embedding_width),
        cmocka_unit_test(the_receiver_checks_widths_and_shape_against_its_model),
        cmocka_unit_test(widths_travel_and_malformed_ones_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
