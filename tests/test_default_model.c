/* test_default_model.c — the shipped models/default loads through the loader every checkpoint
 * uses (train_model_open) and makes known predictions: with the zero-shot label-description head
 * of SST-2 (train/describe.h) an obviously positive review is "great" and an obviously negative
 * one "terrible", and its own tokenizer gives USE-lite's ids. `make model` must reproduce the
 * folder (test_use_lite checks the bytes). */
#include "tests/support/test.h"

#include "model/transformer.h"
#include "train/describe.h"

#define MODEL_DIR "models/default"

/* The linear head's class for text, through the frozen model with no prompt. */
static int predict(const train_model_t *m, const float *head, int C, const char *text)
{
    fp_error err;
    tok_ids ids = {0};
    assert_int_equal(train_tok_encode(m->tok, text, strlen(text), &ids, &err), FP_OK);
    const int T = (int)ids.n;
    tf_acts_t *a = tf_acts_new(&m->cfg, (tf_acts_spec){1, T, 0, 0, 0, C, false, 0}, &err);
    assert_non_null(a);
    tf_cls_head h = {C, head, head + (size_t)C * m->cfg.d_model, NULL, NULL};
    tf_batch b = {1, T, ids.ids, NULL, NULL, NULL};
    tf_options opt = {0};
    assert_int_equal(tf_forward(a, &m->cfg, &m->w, NULL, &h, &b, &opt, NULL, &err), FP_OK);
    const float *logits = tf_acts_cls_logits(a);
    int best = 0;
    for (int c = 1; c < C; c++)
        best = logits[c] > logits[best] ? c : best;
    tf_acts_destroy(&a);
    free(ids.ids);
    return best;
}

static void shipped_model_loads_and_predicts(void **state)
{
    (void)state;
    fp_error err = {0};
    train_model_t *m = train_model_open(MODEL_DIR, NULL, NULL, &err);
    if (!m) {
        fail_msg("%s: %s (run `make model`)", MODEL_DIR, err.msg);
        return;
    }
    assert_int_equal(m->cfg.n_layers, 2);
    assert_int_equal(m->cfg.d_model, 512);
    assert_int_equal(model_embed_width(&m->cfg), 256);
    assert_true(m->w.has_sentence_head);
    assert_false(m->w.has_lm_head);
    /* USE-LITE.md §1.6: the golden ids of "How old are you?" */
    tok_ids ids = {0};
    assert_int_equal(train_tok_encode(m->tok, "How old are you?", 16, &ids, &err), FP_OK);
    const int want[] = {728, 446, 31, 19, 54};
    assert_int_equal(ids.n, 5);
    assert_memory_equal(ids.ids, want, sizeof want);
    free(ids.ids);

    const fp_task *sst = task_find("sst-2");
    const int C = sst->n_classes, d = m->cfg.d_model;
    float *head = malloc(sizeof(float) * (size_t)C * (d + 1));
    assert_int_equal(train_head_from_descriptions(m, sst, head, &err), FP_OK);
    assert_int_equal(predict(m, head, C, "a wonderful , moving and beautiful film"), 1);
    assert_int_equal(predict(m, head, C, "a great film ."), 1);
    assert_int_equal(predict(m, head, C, "this movie is terrible ."), 0);
    assert_int_equal(predict(m, head, C, "i hated it ."), 0);
    free(head);
    train_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_model_loads_and_predicts),
    };
    return cmocka_run_group_tests_name("default_model", tests, NULL, NULL);
}
