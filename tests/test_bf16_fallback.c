/* test_bf16_fallback.c — [model] precision = bf16 on a CPU without bf16 instructions: oneDNN's
 * ISA is capped at plain AVX-512 before its first use (a program of its own, since the cap holds
 * for the whole process), so train_model_set_precision must keep the weights fp32, say so in one
 * log line, and the step must then be the fp32 step to the bit. */
#include "tests/support/test.h"

#include <oneapi/dnnl/dnnl.h>

#include "model/matmul_bf16.h"
#include "model/transformer.h"
#include "tests/test_transformer_reference.h"
#include "train/model_bundle.h"

enum { L = 2, D = 16, V = 23, B = 2, T = 5 };

/* Logits of one forward pass at the <mask> rows of a fixed batch. */
static void logits_of(train_model_t *m, float out[B * V], mm_bf16_stats *stats)
{
    fp_error err = {0};
    tf_acts_spec spec = {.B = B, .T = T, .saved_layers = L, .max_lm_rows = B};
    tf_acts_t *a = tf_acts_new(&m->cfg, spec, &err);
    assert_non_null(a);
    int tok[B * T] = {0, 7, 4, 9, 2, 0, 8, 4, 11, 2}, tg[B * T];
    for (int i = 0; i < B * T; i++)
        tg[i] = tok[i] == 4 ? 6 : -1;
    tf_batch bt = {.B = B, .T = T, .tokens = tok, .targets = tg};
    tf_options opt = {0};
    assert_int_equal(tf_forward(a, &m->cfg, &m->w, NULL, NULL, &bt, &opt, NULL, &err), FP_OK);
    memcpy(out, tf_acts_lm_logits(a, NULL, NULL), sizeof(float) * B * V);
    *stats = tf_acts_bf16_stats(a);
    tf_acts_destroy(&a);
}

/* The number of lines in the log file, and its text in buf. */
static int lines_of(FILE *log, char *buf, size_t n)
{
    fflush(log);
    rewind(log);
    size_t len = fread(buf, 1, n - 1, log);
    buf[len] = '\0';
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    return lines;
}

static void bf16_falls_back_to_fp32_with_one_line(void **state)
{
    (void)state;
    train_model_t m = {.cfg = tiny_config(MODEL_ARCH_ROBERTA, L, D, V, 16, 32)};
    fp_error err = {0};
    assert_int_equal(tf_weights_init_random(&m.w, &m.cfg, 0.2f, 3, &err), FP_OK);
    float before[B * V], after[B * V];
    mm_bf16_stats st;
    logits_of(&m, before, &st);

    char isa[32];
    assert_false(mm_bf16_supported(isa, sizeof isa)); /* avx512_core, or less on this CPU */
    char want[96];
    snprintf(want, sizeof want, "no bf16 instructions (oneDNN ISA %s)", isa);
    FILE *log = tmpfile();
    assert_non_null(log);
    assert_int_equal(train_model_set_precision(&m, FP_PRECISION_FP32, log, &err), FP_OK);
    char text[512];
    assert_int_equal(lines_of(log, text, sizeof text), 0); /* fp32: nothing to say */
    assert_int_equal(train_model_set_precision(&m, FP_PRECISION_BF16, log, &err), FP_OK);
    assert_int_equal(lines_of(log, text, sizeof text), 1);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "stay fp32"));
    assert_null(m.w.bf16_block);
    assert_int_equal(m.w.bf16_bytes, 0);

    logits_of(&m, after, &st);
    assert_int_equal(st.calls, 0);
    assert_memory_equal(before, after, sizeof before);
    fclose(log);
    tf_weights_free(&m.w);
}

int main(void)
{
    /* Before anything runs oneDNN: the cap is read once, at its first kernel dispatch. */
    if (dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core) != dnnl_success) {
        fprintf(stderr, "test_bf16_fallback: oneDNN refuses the ISA cap\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bf16_falls_back_to_fp32_with_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
