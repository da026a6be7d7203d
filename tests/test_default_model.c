/* test_default_model.c — the shipped models/default loads through the loader every checkpoint
 * uses (train_model_open) and makes known predictions: with the zero-shot label-description head
 * of SST-2 (train/describe.h) an obviously positive review is "great" and an obviously negative
 * one "terrible", and its own tokenizer gives USE-lite's ids. `make model` must reproduce the
 * folder (test_use_lite checks the bytes). */
#include "tests/support/test.h"

#include "model/transformer.h"
#include "train/describe.h"

#define MODEL_DIR "models/default"

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
    const struct {
        const char *text;
        int want; /* 1 = " great", 0 = " terrible" */
    } known[] = {{"a wonderful , moving and beautiful film", 1},
                 {"a great film .", 1},
                 {"this movie is terrible .", 0},
                 {"i hated it .", 0}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        int cls = -1;
        assert_int_equal(train_head_classify(m, head, C, known[i].text, &cls, &err), FP_OK);
        assert_int_equal(cls, known[i].want);
    }
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
