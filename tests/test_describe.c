/* test_describe.c — label descriptions (exact strings for every template shape) and the zero-shot
 * head built from them: unit rows, zero bias, and each description classified as its own class
 * through the real forward pass; model.head = descriptions keeps that head fixed while the
 * prompt trains. */
#include "tests/support/test.h"

#include <math.h>

#include "model/transformer.h"
#include "train/describe.h"
#include "train/local_round.h"
#include "train/run_setup.h"
#include "train/task_data.h"
#include "train/tune.h"
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

/* A fixture tree in dir (n bytes) and a config on it with model.head = descriptions. */
static void descriptions_setup(const char *tag, int n_train, int n_dev, char *dir, size_t n,
                               fedpep_config *cfg)
{
    fixture_tree(tag, dir, n, n_train, n_dev);
    fixture_config(cfg, dir);
    cfg->data.task = FP_TASK_SST2;
    cfg->model.prompt_length = 4;
    cfg->model.max_seq_len = 32;
    cfg->model.dropout = cfg->model.prefix_dropout = 0;
    cfg->model.head = FP_HEAD_DESCRIPTIONS;
    cfg->client.batch_size = 8;
    cfg->client.local_epochs = 1;
}

/* model.head = descriptions: the task data builds the description head, the layout keeps it out
 * of θ, every client starts from it and a local round moves the prompt but not the head. */
static void fixed_description_head_trains_only_the_prompt(void **state)
{
    (void)state;
    char dir[256];
    fedpep_config cfg;
    descriptions_setup("describe-fixed", 48, 16, dir, sizeof dir, &cfg);
    fp_error err = {0};
    train_model_t *m = train_model_open(cfg.model.path, NULL, NULL, &err);
    assert_non_null(m);
    train_task_data d;
    assert_int_equal(train_task_data_load(&cfg, m, 4, &d, &err), FP_OK);
    const int C = d.train->n_classes, D = m->cfg.d_model;
    const size_t nh = (size_t)C * (D + 1);
    float *want = malloc(nh * sizeof(float));
    assert_int_equal(train_head_from_descriptions(m, d.train->task, want, &err), FP_OK);
    assert_non_null(d.fixed_head);
    assert_memory_equal(d.fixed_head, want, nh * sizeof(float));

    int layers[3] = {0, 1, 2};
    train_layout lay, trained;
    assert_int_equal(
        train_run_layout(&lay, &cfg, &m->cfg, 4, layers, 3, false, false, C, d.fixed_head, &err),
        FP_OK);
    assert_int_equal(
        train_run_layout(&trained, &cfg, &m->cfg, 4, layers, 3, false, false, C, NULL, &err),
        FP_OK);
    assert_ptr_equal(lay.fixed_head, d.fixed_head);
    assert_int_equal(lay.n_theta, lay.n_rows);
    assert_int_equal(trained.n_theta, trained.n_rows + nh);

    train_client_t *c = train_client_new(&lay, 0, 42, false, &err);
    assert_non_null(c);
    assert_memory_equal(c->head, want, nh * sizeof(float));
    float *E0 = malloc(lay.n_prompt * sizeof(float));
    memcpy(E0, c->E, lay.n_prompt * sizeof(float));
    train_opts o = train_opts_from_config(&cfg, false, false);
    train_worker_t *w = train_worker_new(m, &lay, d.train, 8, 8, d.train->max_len, &err);
    assert_non_null(w);
    train_round_in in = {.set = d.train, .idx = d.all_train, .n = (int)d.train->n};
    train_round_result rr;
    assert_int_equal(train_local_round(w, c, &o, &in, NULL, &rr, &err), FP_OK);
    assert_int_equal(rr.steps, 6);
    assert_memory_equal(c->head, want, nh * sizeof(float)); /* bit for bit */
    double moved = 0;
    for (size_t i = 0; i < lay.n_prompt; i++)
        moved += fabs((double)c->E[i] - E0[i]);
    assert_true(moved > 0);

    /* Without a prompt nothing would train; without a head there is nothing to fix. */
    train_layout none;
    assert_int_equal(
        train_run_layout(&none, &cfg, &m->cfg, 4, layers, 0, false, false, C, d.fixed_head, &err),
        FP_EINVAL);
    assert_non_null(strstr(err.msg, "nothing to train"));
    assert_int_equal(train_layout_fix_head(&trained, NULL, &err), FP_EINVAL);

    train_worker_destroy(&w);
    train_client_destroy(&c);
    free(E0);
    free(want);
    train_task_data_free(&d);
    train_model_destroy(&m);
    test_rmtree(dir);
}

/* `tune` with model.head = descriptions: the zero-shot evaluation comes first (epoch 0), the
 * prompt alone then learns the visible label; a probe without a prompt is refused. */
static void tune_with_fixed_descriptions_learns_through_the_prompt(void **state)
{
    (void)state;
    char dir[256];
    fedpep_config cfg;
    descriptions_setup("describe-tune", 96, 48, dir, sizeof dir, &cfg);
    cfg.client.lr = 0.5;
    fp_error err = {0};
    train_tune_options o = {.epochs = 12};
    train_tune_result res;
    FILE *log = tmpfile();
    assert_int_equal(train_tune(&cfg, &o, log, &res, &err), FP_OK);
    rewind(log);
    char line[512];
    assert_non_null(fgets(line, sizeof line, log));
    assert_non_null(strstr(line, "fixed label-description head"));
    assert_non_null(fgets(line, sizeof line, log));
    assert_non_null(strstr(line, "epoch 0  label descriptions"));
    fclose(log);
    assert_int_equal(res.epochs, 12);
    assert_true(res.best_metric >= 0.9); /* chance is ~0.5; the fixed head alone gives 0.44 */
    assert_true(res.best_metric > res.zero_shot_metric);
    o = (train_tune_options){.epochs = 1, .no_prompt = true};
    assert_int_equal(train_tune(&cfg, &o, NULL, &res, &err), FP_EINVAL);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptions_follow_the_template),
        cmocka_unit_test(description_head_picks_each_description),
        cmocka_unit_test(fixed_description_head_trains_only_the_prompt),
        cmocka_unit_test(tune_with_fixed_descriptions_learns_through_the_prompt),
    };
    return cmocka_run_group_tests_name("describe", tests, NULL, NULL);
}
