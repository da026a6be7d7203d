/* test_train_rounds.c — train/: a local round (only the right rows change; the step is
 * fl_client_step's AdamW), the input-prompt layout, layer statistics, and centralised tuning that
 * really learns on a tiny random model. Batches: test_train.c. */
#include "tests/support/test.h"

#include "tests/test_train_group.h"

#include "common/config.h"
#include "data/template.h"
#include "fl/client_step.h"
#include "fl/prompt_rows.h"
#include "train/batch.h"
#include "train/client_state.h"
#include "train/evaluate.h"
#include "train/layer_stats.h"
#include "train/local_round.h"
#include "train/model_bundle.h"
#include "train/task_data.h"
#include "train/tune.h"

static void test_config(const fixture *f, fedpep_config *cfg, bool linear)
{
    config_defaults(cfg);
    snprintf(cfg->model.path, sizeof cfg->model.path, "%s", f->model);
    snprintf(cfg->data.dir, sizeof cfg->data.dir, "%s", f->data);
    cfg->data.task = FP_TASK_SST2;
    cfg->model.prompt_length = 4;
    cfg->model.max_seq_len = 32;
    cfg->model.head = linear ? FP_HEAD_LINEAR : FP_HEAD_VERBALIZER;
}

static void local_round_changes_only_trained_rows_and_steps_adamw(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    fedpep_config cfg;
    test_config(f, &cfg, false);
    cfg.model.dropout = cfg.model.prefix_dropout = 0; /* the gradient then does not depend on
                                                        the step's stream */
    cfg.client.batch_size = 16;
    cfg.client.max_local_steps = 1;
    train_task_data d;
    assert_int_equal(train_task_data_load(&cfg, f->m, 4, &d, &err), FP_OK);
    int travel[1] = {1};
    train_layout lay;
    assert_int_equal(train_layout_init(&lay, &f->m->cfg, 4, travel, 1, false, 0, &err), FP_OK);
    assert_false(lay.present[0]);
    assert_false(lay.present[2]);
    train_opts o = train_opts_from_config(&cfg, false, false);
    train_worker_t *w = train_worker_new(f->m, &lay, d.train, 16, 16, d.train->max_len, &err);
    assert_non_null(w);
    train_client_t *c = train_client_new(&lay, 3, 42, false, &err);
    size_t np = lay.n_prompt, nr = lay.n_rows;
    float *E0 = malloc(np * sizeof(float)), *wg = malloc(nr * sizeof(float));
    float *rows = malloc(nr * sizeof(float));
    for (size_t i = 0; i < nr; i++)
        wg[i] = 0.01f * (float)((int)(i % 7) - 3);
    memcpy(E0, c->E, np * sizeof(float));

    /* Expected: E[:, S] ← w_t, then one fl_client_step on the gradient of the whole shard. */
    int shard[16];
    for (int i = 0; i < 16; i++)
        shard[i] = 2 * i;
    fl_prompt_shape sh = {4, 3, 32};
    float *Ewant = malloc(np * sizeof(float)), *dE = calloc(np, sizeof(float));
    memcpy(Ewant, E0, np * sizeof(float));
    fl_prompt_scatter(&sh, Ewant, travel, 1, wg);
    train_batch_t *b = train_batch_new(16, d.train->max_len);
    assert_int_equal(train_batch_fill(b, d.train, shard, 16, -1, &err), FP_OK);
    tf_prompt pr = {
        .P = 4, .E = Ewant, .present = lay.present, .trainable = lay.trainable, .dE = dE};
    tf_options opt = {.grad = true};
    tf_result res;
    assert_int_equal(
        tf_forward(w->acts, &f->m->cfg, &f->m->w, &pr, NULL, &b->view, &opt, &res, &err), FP_OK);
    assert_int_equal(tf_backward(w->acts, &err), FP_OK);
    float *theta = malloc(nr * sizeof(float)), *g = malloc(nr * sizeof(float));
    fl_prompt_gather(&sh, Ewant, travel, 1, theta);
    fl_prompt_gather(&sh, dE, travel, 1, g);
    fl_adamw_t *ref = fl_adamw_new(nr);
    fl_adamw_config acfg = o.adamw;
    acfg.total_steps = 10;
    fl_client_extras none = {0};
    assert_int_equal(fl_client_step(ref, &acfg, &none, theta, g, &err), FP_OK);

    train_round_in in = {
        .round = 5, .w_global = wg, .set = d.train, .idx = shard, .n = 16, .total_steps = 10};
    train_round_result rr;
    assert_int_equal(train_local_round(w, c, &o, &in, rows, &rr, &err), FP_OK);
    assert_int_equal(rr.steps, 1);
    assert_int_equal(rr.n_k, 16);
    assert_close(rr.loss, res.loss, 1e-5);
    assert_int_equal(c->opt->step, 1);
    for (size_t i = 0; i < nr; i++)
        assert_close(rows[i], theta[i], 2e-5); /* batch order: float summation */
    /* Layers 0 and 2 are untouched, layer 1 moved away from w_t. */
    double moved = 0;
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 3; l++)
            for (int s2 = 0; s2 < 2; s2++) {
                size_t at = tf_prompt_index(3, 32, p, l, s2);
                if (l != 1)
                    assert_memory_equal(c->E + at, E0 + at, 32 * sizeof(float));
                else
                    for (int i = 0; i < 32; i++)
                        moved += fabs(c->E[at + i] - Ewant[at + i]);
            }
    assert_true(moved > 1e-4);
    /* Two local epochs of batch 8 over 16 examples: 4 steps; the state saves and restores. */
    o.max_local_steps = 0;
    o.batch_size = 8;
    in.round = 6;
    assert_int_equal(train_local_round(w, c, &o, &in, rows, &rr, &err), FP_OK);
    assert_int_equal(rr.steps, 4);
    assert_int_equal(c->opt->step, 5);
    uint8_t *sb, *ab;
    size_t sl, al;
    assert_int_equal(train_client_save(c, &sb, &sl, &ab, &al, &err), FP_OK);
    train_client_t *back = train_client_new(&lay, 3, 1, false, &err);
    assert_int_equal(train_client_load(back, sb, sl, ab, al, &err), FP_OK);
    assert_memory_equal(back->E, c->E, np * sizeof(float));
    assert_int_equal(back->last_round, 6);
    assert_int_equal(back->opt->step, 5);
    assert_int_equal(train_client_load(back, sb, sl - 4, ab, al, &err), FP_EFORMAT);
    free(sb);
    free(ab);
    train_client_destroy(&back);

    fl_adamw_destroy(&ref);
    free(theta);
    free(g);
    free(Ewant);
    free(dE);
    free(E0);
    free(wg);
    free(rows);
    train_batch_destroy(&b);
    train_client_destroy(&c);
    train_worker_destroy(&w);
    train_task_data_free(&d);
}

static void input_prompt_layout_trains_and_sends_the_input_prompt(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    fedpep_config cfg;
    test_config(f, &cfg, true);
    cfg.client.max_local_steps = 2;
    train_task_data d;
    assert_int_equal(train_task_data_load(&cfg, f->m, 4, &d, &err), FP_OK);
    train_layout lay;
    assert_int_equal(train_layout_init_input(&lay, &f->m->cfg, 4, 2, &err), FP_OK);
    assert_int_equal(lay.n_rows, 4 * 32);
    assert_int_equal(lay.n_theta, 4 * 32 + 2 * 33);
    train_opts o = train_opts_from_config(&cfg, false, false);
    train_worker_t *w = train_worker_new(f->m, &lay, d.train, 8, 8, d.train->max_len, &err);
    assert_non_null(w);
    train_client_t *c = train_client_new(&lay, 0, 42, false, &err);
    float wg[128], rows[128];
    for (int i = 0; i < 128; i++)
        wg[i] = 0.001f * (float)i;
    float head0[66];
    memcpy(head0, c->head, sizeof head0);
    train_round_in in = {.round = 0, .w_global = wg, .set = d.train, .idx = d.all_train, .n = 20};
    train_round_result rr;
    assert_int_equal(train_local_round(w, c, &o, &in, rows, &rr, &err), FP_OK);
    assert_int_equal(rr.steps, 2);
    assert_memory_equal(rows, c->E, sizeof rows);
    double moved = 0, head_moved = 0;
    for (int i = 0; i < 128; i++)
        moved += fabs(rows[i] - wg[i]);
    for (int i = 0; i < 66; i++)
        head_moved += fabs(c->head[i] - head0[i]);
    assert_true(moved > 1e-4);
    assert_true(head_moved > 1e-4);
    train_eval_result ev;
    assert_int_equal(train_eval_init(&ev, 2, &err), FP_OK);
    assert_int_equal(train_evaluate_client(w, c, wg, d.eval, d.all_eval, 10, 8, &ev, &err), FP_OK);
    assert_int_equal(confusion_total(&ev.cm), 10);
    train_client_destroy(&c);
    train_worker_destroy(&w);
    train_task_data_free(&d);
}

static void layer_statistics_are_finite_and_reported_for_all_but_the_last(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    fedpep_config cfg;
    test_config(f, &cfg, false);
    train_task_data d;
    assert_int_equal(train_task_data_load(&cfg, f->m, 4, &d, &err), FP_OK);
    int all[3] = {0, 1, 2};
    train_layout lay;
    assert_int_equal(train_layout_init(&lay, &f->m->cfg, 4, all, 3, false, 0, &err), FP_OK);
    float *E0 = malloc(lay.n_prompt * sizeof(float));
    train_initial_prompt(&lay, 42, E0, NULL);
    double s[2] = {NAN, NAN}, s2[2];
    assert_int_equal(train_layer_stats(f->m, 4, E0, d.train, d.all_train, 20, 8, s, &err), FP_OK);
    assert_int_equal(train_layer_stats(f->m, 4, E0, d.train, d.all_train, 20, 8, s2, &err), FP_OK);
    for (int l = 0; l < 2; l++) {
        assert_true(isfinite(s[l]) && s[l] >= 8.0 - 1e-9); /* each of b terms is >= 1 */
        assert_true(s[l] == s2[l]);
    }
    assert_int_equal(train_layer_stats(f->m, 4, E0, d.train, d.all_train, 1, 8, s, &err),
                     FP_EINVAL);
    /* The gradient callback agrees with a central difference along one coordinate. */
    train_grad_t *g = train_grad_new(f->m, 4, d.train, d.all_train, 4, NULL, &err);
    assert_non_null(g);
    float *grad = malloc(lay.n_prompt * sizeof(float)), *gp = malloc(lay.n_prompt * 4);
    assert_int_equal(train_grad_fn(g, E0, grad, &err), FP_OK);
    size_t j = 0;
    for (size_t i = 0; i < lay.n_prompt; i++)
        if (fabsf(grad[i]) > fabsf(grad[j]))
            j = i;
    float *Ex = malloc(lay.n_prompt * sizeof(float));
    memcpy(Ex, E0, lay.n_prompt * sizeof(float));
    train_batch_t *b = train_batch_new(4, d.train->max_len);
    train_batch_fill(b, d.train, d.all_train, 4, -1, &err);
    tf_acts_spec spec = {
        .B = 4, .T = d.train->max_len, .P = 4, .saved_layers = 3, .max_lm_rows = 4};
    tf_acts_t *acts = tf_acts_new(&f->m->cfg, spec, &err);
    tf_prompt pr = {.P = 4, .E = Ex};
    tf_options opt = {0};
    tf_result rp, rm;
    double h = 1e-2;
    Ex[j] = E0[j] + (float)h;
    tf_forward(acts, &f->m->cfg, &f->m->w, &pr, NULL, &b->view, &opt, &rp, &err);
    Ex[j] = E0[j] - (float)h;
    tf_forward(acts, &f->m->cfg, &f->m->w, &pr, NULL, &b->view, &opt, &rm, &err);
    assert_close((rp.loss - rm.loss) / (2 * h), grad[j], 2e-2 * fabs(grad[j]) + 1e-4);
    tf_acts_destroy(&acts);
    train_batch_destroy(&b);
    free(Ex);
    free(grad);
    free(gp);
    train_grad_destroy(&g);
    free(E0);
    train_task_data_free(&d);
}

static void tune_learns_a_visible_label(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    fedpep_config cfg;
    test_config(f, &cfg, true);
    cfg.client.lr = 0.05;
    cfg.client.batch_size = 8;
    train_tune_options o = {.epochs = 6};
    train_tune_result res;
    FILE *log = tmpfile();
    assert_int_equal(train_tune(&cfg, &o, log, &res, &err), FP_OK);
    rewind(log);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, log))
        lines += !strncmp(line, "epoch ", 6);
    fclose(log);
    assert_int_equal(lines, 6);
    assert_int_equal(res.epochs, 6);
    assert_int_equal(res.steps, 6 * 12);
    /* 48 balanced-ish dev examples: chance is ~0.5. */
    assert_true(res.best_metric >= 0.85);
    assert_true(res.last_metric >= 0.8);

    /* A subset of layers by list, and an unknown layer refused. */
    o = (train_tune_options){.epochs = 1, .n_layers = 1, .layers = {2}};
    assert_int_equal(train_tune(&cfg, &o, NULL, &res, &err), FP_OK);
    o.layers[0] = 3;
    assert_int_equal(train_tune(&cfg, &o, NULL, &res, &err), FP_EINVAL);
    /* No prompt at all (--layers none): the linear head alone learns the visible label. */
    o = (train_tune_options){.epochs = 6, .no_prompt = true};
    log = tmpfile();
    assert_int_equal(train_tune(&cfg, &o, log, &res, &err), FP_OK);
    rewind(log);
    assert_non_null(fgets(line, sizeof line, log));
    assert_non_null(strstr(line, "layers none (0)"));
    fclose(log);
    assert_true(res.best_metric >= 0.85); /* chance is ~0.5 */

    /* --select: the layer of highest FedPepTAO score (K = 1 of the 2 scored layers), and with
     * --select-lowest the other one, both as the score line printed before them ranks them. */
    int picked[2];
    for (int lowest = 0; lowest < 2; lowest++) {
        o = (train_tune_options){.epochs = 1, .select_rho = 0.3, .select_lowest = lowest};
        log = tmpfile();
        assert_int_equal(train_tune(&cfg, &o, log, &res, &err), FP_OK);
        rewind(log);
        double s0 = 0, s1 = 0;
        assert_non_null(fgets(line, sizeof line, log));
        const char *scores = strstr(line, "): 0:");
        assert_non_null(scores);
        assert_int_equal(sscanf(scores, "): 0:%lf 1:%lf", &s0, &s1), 2);
        assert_true(s0 != s1 && s0 > 0 && s1 > 0);
        assert_non_null(fgets(line, sizeof line, log));
        const char *at = strstr(line, "layers ");
        assert_non_null(at);
        assert_int_equal(sscanf(at, "layers %d (1)", &picked[lowest]), 1);
        assert_int_equal(picked[lowest], (s1 > s0) != lowest ? 1 : 0);
        fclose(log);
    }
    assert_int_not_equal(picked[0], picked[1]);

    /* A time budget ends training inside the first epoch, which is still evaluated. */
    o = (train_tune_options){.epochs = 50, .time_budget_s = 0.001};
    assert_int_equal(train_tune(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_int_equal(res.epochs, 1);
    assert_true(res.steps >= 1 && res.steps < 12);
    assert_true(res.last_metric >= 0.0 && res.last_metric <= 1.0);

    /* Label descriptions: evaluated before training (epoch 0), alone with zero_shot_only. */
    o = (train_tune_options){.epochs = 1, .describe_head = true, .zero_shot_only = true};
    log = tmpfile();
    assert_int_equal(train_tune(&cfg, &o, log, &res, &err), FP_OK);
    rewind(log);
    assert_non_null(fgets(line, sizeof line, log)); /* the header */
    assert_non_null(fgets(line, sizeof line, log));
    assert_non_null(strstr(line, "epoch 0  label descriptions"));
    assert_null(fgets(line, sizeof line, log));
    fclose(log);
    assert_int_equal(res.epochs, 0);
    assert_true(res.zero_shot_metric >= 0.0 && res.zero_shot_metric <= 1.0);
    assert_true(res.best_metric == res.zero_shot_metric && res.last_metric == res.zero_shot_metric);
    o.zero_shot_only = false; /* then it trains from that head */
    assert_int_equal(train_tune(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_int_equal(res.epochs, 1);
    cfg.model.head = FP_HEAD_VERBALIZER; /* a verbalizer has no head to describe */
    assert_int_equal(train_tune(&cfg, &o, NULL, &res, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "linear"));
    cfg.model.head = FP_HEAD_LINEAR;

    /* A folder that is not a model is an error naming the file, not a crash. */
    snprintf(cfg.model.path, sizeof cfg.model.path, "%s", f->data);
    o = (train_tune_options){.epochs = 1};
    assert_int_equal(train_tune(&cfg, &o, NULL, &res, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "config.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(local_round_changes_only_trained_rows_and_steps_adamw),
        cmocka_unit_test(input_prompt_layout_trains_and_sends_the_input_prompt),
        cmocka_unit_test(layer_statistics_are_finite_and_reported_for_all_but_the_last),
        cmocka_unit_test(tune_learns_a_visible_label),
    };
    return cmocka_run_group_tests_name("train_rounds", tests, train_group_setup,
                                       train_group_teardown);
}
