/* test_describe.c — label descriptions (exact strings for every template shape) and the zero-shot
 * head built from them: unit rows, zero bias, and each description classified as its own class
 * through the real forward pass. */
#include "tests/support/test.h"

#include <math.h>

#include "model/transformer.h"
#include "train/describe.h"
#include "tests/test_train_fixture.h"

static void descriptions_follow_the_template(void **state)
{
    (void)state;
    const struct {
        const char *task;
        int c;
        const char *want;
    } cases[] = {{"sst-2", 0, "It was terrible ."}, {"sst-2", 1, "It was great ."},
                 {"mr", 1, "It was great ."},       {"trec", 0, "Description :"},
                 {"trec", 5, "Number :"},           {"rte", 0, "Yes ,"},
                 {"subj", 1, "It was objective ."}};
    fp_error err;
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(
            train_class_description(task_find(cases[i].task), cases[i].c, out, sizeof out, &err),
            FP_OK);
        assert_string_equal(out, cases[i].want);
    }
    assert_int_equal(train_class_description(task_find("sst-2"), 2, out, sizeof out, &err),
                     FP_EINVAL);
    assert_int_equal(train_class_description(task_find("sst-2"), 1, out, 5, &err), FP_ELIMIT);
}

/* The head's class for text through m with no prompt. */
static int classify(const train_model_t *m, const float *head, int C, const char *text)
{
    int cls = -1;
    fp_error err;
    assert_int_equal(train_head_classify(m, head, C, text, &cls, &err), FP_OK);
    return cls;
}

static void description_head_picks_each_description(void **state)
{
    (void)state;
    char dir[256], model[300];
    fixture_tree("describe", dir, sizeof dir, 8, 8);
    snprintf(model, sizeof model, "%s/model", dir);
    fp_error err;
    train_model_t *m = train_model_open(model, NULL, NULL, &err);
    assert_non_null(m);
    const char *tasks[] = {"sst-2", "trec"};
    for (size_t k = 0; k < 2; k++) {
        const fp_task *task = task_find(tasks[k]);
        const int C = task->n_classes, d = m->cfg.d_model;
        float *head = malloc(sizeof(float) * (size_t)C * (d + 1));
        assert_int_equal(train_head_from_descriptions(m, task, head, &err), FP_OK);
        for (int c = 0; c < C; c++) {
            double norm = 0;
            for (int i = 0; i < d; i++)
                norm += (double)head[c * d + i] * head[c * d + i];
            assert_close(norm, 1.0, 1e-5);
            assert_true(head[C * d + c] == 0.0f);
            char text[64];
            assert_int_equal(train_class_description(task, c, text, sizeof text, &err), FP_OK);
            assert_int_equal(classify(m, head, C, text), c);
        }
        free(head);
    }
    train_model_destroy(&m);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptions_follow_the_template),
        cmocka_unit_test(description_head_picks_each_description),
    };
    return cmocka_run_group_tests_name("describe", tests, NULL, NULL);
}
