/* test_default_model.c — the shipped models load through the loader every checkpoint uses
 * (train_model_open) and make known predictions: with the zero-shot label-description head of
 * SST-2 (train/describe.h) an obviously positive review is "great" and an obviously negative one
 * "terrible", and their tokenizer gives USE-lite's ids. models/default is USE-lite (`make model`
 * must reproduce it; test_use_lite checks the bytes); models/deep is its 6-block student
 * (`make model-deep`, models/deep/MODEL.md), which reads the same SentencePiece ids. */
#include "tests/support/test.h"

#include "model/transformer.h"
#include "train/describe.h"

typedef struct {
    const char *dir, *rebuild; /* the command that makes the folder */
    int n_layers, d_model, embed_width;
    bool sentence_head;
} shipped_model;

static void check_shipped_model(const shipped_model *want)
{
    fp_error err = {0};
    train_model_t *m = train_model_open(want->dir, NULL, NULL, &err);
    if (!m) {
        fail_msg("%s: %s (%s rebuilds it)", want->dir, err.msg, want->rebuild);
        return;
    }
    assert_int_equal(m->cfg.n_layers, want->n_layers);
    assert_int_equal(m->cfg.d_model, want->d_model);
    assert_int_equal(model_embed_width(&m->cfg), want->embed_width);
    assert_int_equal(m->w.has_sentence_head, want->sentence_head);
    assert_false(m->w.has_lm_head);
    /* USE-LITE.md §1.6: the golden ids of "How old are you?" */
    tok_ids ids = {0};
    assert_int_equal(train_tok_encode(m->tok, "How old are you?", 16, &ids, &err), FP_OK);
    const int want_ids[] = {728, 446, 31, 19, 54};
    assert_int_equal(ids.n, 5);
    assert_memory_equal(ids.ids, want_ids, sizeof want_ids);
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
        if (cls != known[i].want)
            fail_msg("%s: \"%s\" classified %d, want %d", want->dir, known[i].text, cls,
                     known[i].want);
    }
    free(head);
    train_model_destroy(&m);
}

static void default_model_loads_and_predicts(void **state)
{
    (void)state;
    const shipped_model use_lite = {"models/default", "`make model`", 2, 512, 256, true};
    check_shipped_model(&use_lite);
}

static void deep_model_loads_and_predicts(void **state)
{
    (void)state;
    const shipped_model deep = {
        "models/deep", "`make model-deep DEEP_OUT=models/deep`", 6, 256, 256, false};
    check_shipped_model(&deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_model_loads_and_predicts),
        cmocka_unit_test(deep_model_loads_and_predicts),
    };
    return cmocka_run_group_tests_name("shipped_models", tests, NULL, NULL);
}
