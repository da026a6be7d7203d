/* test_train.c — train/: batches (template, mask, targets, truncation, padding), a local round
 * (only the right rows change; the step is fl_client_step's AdamW), layer statistics, and
 * centralised tuning that really learns on a tiny random model. */
#include "tests/support/test.h"

#include "tests/test_train_fixture.h"

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

typedef struct fixture {
    char dir[100];
    char model[120], data[120];
    train_model_t *m;
} fixture;

/* Field by field: the bytes of an fp_confusion include padding after n_classes. */
static void assert_confusion_equal(const fp_confusion *a, const fp_confusion *b)
{
    assert_int_equal(a->n_classes, b->n_classes);
    for (int t = 0; t < FP_TASK_MAX_CLASSES; t++)
        for (int p = 0; p < FP_TASK_MAX_CLASSES; p++)
            if (a->count[t][p] != b->count[t][p])
                fail_msg("count[%d][%d]: %llu != %llu", t, p, (unsigned long long)a->count[t][p],
                         (unsigned long long)b->count[t][p]);
}

static int setup(void **state)
{
    static fixture f;
    fixture_tree("train", f.dir, sizeof f.dir, 96, 48);
    snprintf(f.model, sizeof f.model, "%s/model", f.dir);
    snprintf(f.data, sizeof f.data, "%s/data", f.dir);
    fp_error err = {0};
    f.m = train_model_open(f.model, NULL, NULL, &err);
    if (!f.m)
        fail_msg("open: %s", err.msg);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    train_model_destroy(&f->m);
    test_rmtree(f->dir);
    return 0;
}

/* Whole-string BPE with specials, as Hugging Face would tokenise the rendered template. */
static tok_ids reference_ids(const fixture *f, const fp_task *task, const fp_example *ex)
{
    char text[4096];
    fp_rendered r;
    fp_error err;
    assert_int_equal(template_render(task, false, ex, text, sizeof text, &r, &err), FP_OK);
    tok_ids ids = {0};
    tok_ids_push(&ids, f->m->tok->bos);
    assert_int_equal(bpe_encode((bpe_t *)f->m->tok->impl, text, r.len, true, &ids, &err), FP_OK);
    tok_ids_push(&ids, f->m->tok->eos);
    return ids;
}

static void encoder_batches_match_whole_text_tokenisation(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    fp_example ex[3] = {{"a lovely, sunny day", NULL, 1, 1},
                        {"It's cold.", NULL, 0, 2},
                        {"Who wrote Hamlet?", "Shakespeare wrote it in 1600 .", 1, 3}};
    const fp_task *tasks[3] = {task_find("sst-2"), task_find("sst-2"), task_find("rte")};
    for (int i = 0; i < 3; i++) {
        dataset_t ds = {.task = tasks[i], .examples = &ex[i], .n = 1};
        train_set_t *s = NULL;
        assert_int_equal(
            train_set_encode(f->m->tok, &f->m->cfg, &ds, NULL, 0, 100, false, &s, &err), FP_OK);
        tok_ids want = reference_ids(f, tasks[i], &ex[i]);
        assert_int_equal(s->ex[0].n, (int)want.n);
        assert_memory_equal(s->ex[0].ids, want.ids, want.n * sizeof(int));
        assert_int_equal(s->ex[0].ids[s->ex[0].mask_pos], f->m->tok->mask);
        assert_int_equal(s->truncated, 0);
        /* The batch: target = label word at the mask row only, padding masked. */
        train_batch_t *b = train_batch_new(2, 64);
        int idx[2] = {0, 0};
        assert_int_equal(train_batch_fill(b, s, idx, 2, -1, &err), FP_OK);
        int T = b->view.T;
        assert_int_equal(T, s->ex[0].n);
        for (int t = 0; t < T; t++) {
            assert_int_equal(b->targets[t], t == s->ex[0].mask_pos ? s->word_id[ex[i].label] : -1);
            assert_int_equal(b->mask[t], 1);
        }
        const char *word = template_label_word(tasks[i], false, ex[i].label);
        tok_ids w = {0};
        bpe_encode((bpe_t *)f->m->tok->impl, word, strlen(word), false, &w, &err);
        assert_int_equal(w.n, 1);
        assert_int_equal(s->word_id[ex[i].label], w.ids[0]);
        tok_ids_free(&w);
        tok_ids_free(&want);
        train_batch_destroy(&b);
        train_set_destroy(&s);
    }
}

/* Encoder evaluation: the prediction is the argmax of the label words' logits at the mask, the
 * same in a padded batch as one example at a time. */
static void encoder_prediction_is_the_best_label_word_at_the_mask(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    fp_example ex[5] = {{"a lovely, sunny day", NULL, 1, 1},
                        {"cold", NULL, 0, 2},
                        {"It's a dark and rainy night, cruel and cold.", NULL, 0, 3},
                        {"warm", NULL, 1, 4},
                        {"kind and happy", NULL, 1, 5}};
    dataset_t ds = {.task = task_find("sst-2"), .examples = ex, .n = 5};
    train_set_t *s = NULL;
    assert_int_equal(train_set_encode(f->m->tok, &f->m->cfg, &ds, NULL, 0, 40, false, &s, &err),
                     FP_OK);
    int all[3] = {0, 1, 2}, idx[5] = {0, 1, 2, 3, 4};
    train_layout lay;
    assert_int_equal(train_layout_init(&lay, &f->m->cfg, 4, all, 3, false, 0, &err), FP_OK);
    train_worker_t *w = train_worker_new(f->m, &lay, s, 4, 4, s->max_len, &err);
    assert_non_null(w);
    float *E = malloc(lay.n_prompt * sizeof(float));
    train_initial_prompt(&lay, 9, E, NULL);
    train_eval_result batched, single;
    assert_int_equal(train_eval_init(&batched, 2, &err), FP_OK);
    assert_int_equal(train_eval_init(&single, 2, &err), FP_OK);
    assert_int_equal(train_evaluate(w, E, NULL, s, idx, 5, 4, &batched, &err), FP_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(train_batch_fill(w->batch, s, &idx[i], 1, -1, &err), FP_OK);
        tf_prompt pr = train_layout_prompt(&lay, E, NULL);
        tf_options opt = {0};
        tf_result res;
        assert_int_equal(tf_forward(w->eval_acts, &f->m->cfg, &f->m->w, &pr, NULL, &w->batch->view,
                                    &opt, &res, &err),
                         FP_OK);
        const int *rows;
        int n_rows;
        const float *lg = tf_acts_lm_logits(w->eval_acts, &rows, &n_rows);
        assert_int_equal(n_rows, 1);
        assert_int_equal(rows[0], s->ex[i].mask_pos);
        int pred = lg[s->word_id[1]] > lg[s->word_id[0]];
        confusion_add(&single.cm, ex[i].label, pred, &err);
    }
    assert_confusion_equal(&batched.cm, &single.cm);
    assert_int_equal(confusion_total(&batched.cm), 5);
    free(E);
    train_worker_destroy(&w);
    train_set_destroy(&s);
}

static void truncation_cuts_texts_never_the_template(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    char longa[2000] = "", longb[600] = "";
    for (int i = 0; i < 150; i++)
        strcat(longa, " sunny");
    for (int i = 0; i < 40; i++)
        strcat(longb, " rainy");
    fp_example single = {longa + 1, NULL, 1, 1}, pair = {longa + 1, longb + 1, 0, 2};
    fp_example shortp = {"yes", longb + 1, 0, 3};
    const fp_task *sst = task_find("sst-2"), *rte = task_find("rte");
    struct {
        const fp_task *task;
        fp_example *ex;
    } cases[3] = {{sst, &single}, {rte, &pair}, {rte, &shortp}};
    for (int i = 0; i < 3; i++) {
        dataset_t ds = {.task = cases[i].task, .examples = cases[i].ex, .n = 1};
        train_set_t *s = NULL;
        assert_int_equal(train_set_encode(f->m->tok, &f->m->cfg, &ds, NULL, 0, 24, false, &s, &err),
                         FP_OK);
        const train_example *e = &s->ex[0];
        assert_int_equal(e->n, 24);
        assert_int_equal(s->truncated, 1);
        assert_int_equal(e->ids[0], f->m->tok->bos);
        assert_int_equal(e->ids[e->n - 1], f->m->tok->eos);
        assert_int_equal(e->ids[e->mask_pos], f->m->tok->mask);
        /* The template's words are all there, in order, after the (cut) first text. */
        tok_ids full = reference_ids(f, cases[i].task, cases[i].ex);
        if (cases[i].task == sst) {
            /* " . It was <mask> . </s>": the last 6 ids are the full encoding's last 6. */
            assert_memory_equal(e->ids + e->n - 6, full.ids + full.n - 6, 6 * sizeof(int));
        } else {
            /* "{s1} ? <mask> , {s2}": s1 and s2 both cut, the longer first: lengths within 1. */
            int q = e->mask_pos - 1, a = q - 1, b = e->n - 2 - (e->mask_pos + 1);
            if (cases[i].ex == &shortp)
                assert_int_equal(a, 1); /* the short text is kept whole */
            else
                assert_true(abs(a - b) <= 1);
            assert_int_equal(e->ids[e->mask_pos + 1], full.ids[full.n - 1 - 40 - 1]);
        }
        tok_ids_free(&full);
        train_set_destroy(&s);
    }
    /* A template that cannot fit is refused, not cut. */
    dataset_t ds = {.task = sst, .examples = &single, .n = 1};
    train_set_t *s = NULL;
    assert_int_equal(train_set_encode(f->m->tok, &f->m->cfg, &ds, NULL, 0, 6, false, &s, &err),
                     FP_ELIMIT);
    assert_null(s);
}

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

/* Padded tokens of the batches of order: each batch costs its longest row times its size. */
static long padded_tokens(const train_set_t *s, const int *order, int n, int batch)
{
    long total = 0;
    for (int at = 0; at < n; at += batch) {
        int b = n - at < batch ? n - at : batch, longest = 0;
        for (int i = 0; i < b; i++)
            longest = s->ex[order[at + i]].n > longest ? s->ex[order[at + i]].n : longest;
        total += (long)longest * b;
    }
    return total;
}

/* Length buckets: a seeded permutation of the shuffled order (every example once), full batches
 * of one bucket hold disjoint length ranges, much less padding than the plain shuffle. */
static void length_buckets_permute_and_cut_padding(void **state)
{
    (void)state;
    enum { N = 1000, BATCH = 8, BUCKETS = 16 };
    train_set_t s = {0};
    s.n = N;
    s.ex = calloc(N, sizeof *s.ex);
    rng_t r;
    rng_seed(&r, 5);
    for (int i = 0; i < N; i++)
        s.ex[i].n = 1 + (int)rng_below(&r, 60);
    int plain[N], order[N], again[N];
    for (int i = 0; i < N; i++)
        plain[i] = i;
    rng_shuffle_int(&r, plain, N);
    fp_error err;
    for (int pass = 0; pass < 2; pass++) {
        int *out = pass ? again : order;
        memcpy(out, plain, sizeof plain);
        rng_t rb;
        rng_seed(&rb, 9);
        assert_int_equal(train_bucket_by_length(out, N, BATCH, BUCKETS, &s, &rb, &err), FP_OK);
    }
    assert_memory_equal(order, again, sizeof order); /* seeded */
    bool seen[N] = {false};
    for (int i = 0; i < N; i++) {
        assert_false(seen[order[i]]);
        seen[order[i]] = true;
    }
    for (int start = 0; start + BATCH * BUCKETS <= N; start += BATCH * BUCKETS)
        for (int a = 0; a < BUCKETS; a++)
            for (int b = 0; b < BUCKETS; b++) { /* batch a entirely below or above batch b */
                int amin = 99, amax = 0, bmin = 99, bmax = 0;
                for (int i = 0; i < BATCH; i++) {
                    int la = s.ex[order[start + a * BATCH + i]].n;
                    int lb = s.ex[order[start + b * BATCH + i]].n;
                    amin = la < amin ? la : amin, amax = la > amax ? la : amax;
                    bmin = lb < bmin ? lb : bmin, bmax = lb > bmax ? lb : bmax;
                }
                assert_true(a == b || amax <= bmin || bmax <= amin);
            }
    long before = padded_tokens(&s, plain, N, BATCH), after = padded_tokens(&s, order, N, BATCH);
    assert_true(after * 10 < before * 7); /* at least 30% fewer padded tokens */
    memcpy(order, plain, sizeof plain);   /* 0 buckets: untouched */
    assert_int_equal(train_bucket_by_length(order, N, BATCH, 0, &s, &r, &err), FP_OK);
    assert_memory_equal(order, plain, sizeof plain);
    free(s.ex);
}

static void decoder_batches_and_lowest_loss_prediction(void **state)
{
    fixture *f = *state;
    fp_error err = {0};
    char dir[200];
    snprintf(dir, sizeof dir, "%s/gpt2", f->dir);
    mkdir(dir, 0700);
    fixture_gpt2_model(dir, 2, 32, 0.05f, 5);
    train_model_t *m = train_model_open(dir, NULL, NULL, &err);
    if (!m)
        fail_msg("open gpt2: %s", err.msg);
    assert_true(m->decoder);
    fp_example ex[4] = {{"a lovely, sunny day", NULL, 1, 1},
                        {"cold", NULL, 0, 2},
                        {"It's a dark and rainy night, cruel and cold.", NULL, 0, 3},
                        {"warm", NULL, 1, 4}};
    const fp_task *sst = task_find("sst-2");
    dataset_t ds = {.task = sst, .examples = ex, .n = 4};
    train_set_t *s = NULL;
    assert_int_equal(train_set_encode(m->tok, &m->cfg, &ds, NULL, 0, 40, false, &s, &err), FP_OK);
    /* The prompt is the whole-string BPE of "{x} It was"; no <s>, no mask. */
    char text[256];
    fp_rendered r;
    assert_int_equal(template_render(sst, true, &ex[0], text, sizeof text, &r, &err), FP_OK);
    tok_ids want = {0};
    bpe_encode((bpe_t *)m->tok->impl, text, r.len, false, &want, &err);
    assert_int_equal(s->ex[0].n, (int)want.n);
    assert_memory_equal(s->ex[0].ids, want.ids, want.n * sizeof(int));
    assert_int_equal(s->ex[0].mask_pos, -1);
    tok_ids_free(&want);
    /* Training rows: the label's tokens follow, each predicted by the row before it. */
    train_batch_t *b = train_batch_new(4, 48);
    int idx[4] = {0, 1, 2, 3};
    assert_int_equal(train_batch_fill(b, s, idx, 4, -1, &err), FP_OK);
    int T = b->view.T;
    for (int i = 0; i < 4; i++) {
        int n = s->ex[i].n, c = ex[i].label, len = s->class_len[c];
        for (int t = 0; t < T; t++) {
            int want_t = t >= n - 1 && t < n - 1 + len ? s->class_tokens[c][t - n + 1] : -1;
            assert_int_equal(b->targets[i * T + t], want_t);
            assert_int_equal(b->mask[i * T + t], t < n + len);
        }
        assert_int_equal(b->tokens[i * T + n], s->class_tokens[c][0]);
    }
    /* Prediction = the class with the lowest loss, the same batched (padded) as one by one. */
    int travel[1] = {0};
    train_layout lay;
    assert_int_equal(train_layout_init(&lay, &m->cfg, 5, travel, 1, false, 0, &err), FP_OK);
    train_worker_t *w = train_worker_new(m, &lay, s, 4, 4, s->max_len, &err);
    assert_non_null(w);
    float *E = malloc(lay.n_prompt * sizeof(float));
    train_initial_prompt(&lay, 3, E, NULL);
    train_eval_result batched, single;
    assert_int_equal(train_eval_init(&batched, 2, &err), FP_OK);
    assert_int_equal(train_eval_init(&single, 2, &err), FP_OK);
    assert_int_equal(train_evaluate(w, E, NULL, s, idx, 4, 4, &batched, &err), FP_OK);
    for (int i = 0; i < 4; i++) {
        double loss[2];
        for (int c = 0; c < 2; c++) {
            assert_int_equal(train_batch_fill(b, s, &idx[i], 1, c, &err), FP_OK);
            tf_prompt pr = {.P = 5, .E = E, .present = lay.present};
            tf_options opt = {0};
            tf_result res;
            assert_int_equal(
                tf_forward(w->eval_acts, &m->cfg, &m->w, &pr, NULL, &b->view, &opt, &res, &err),
                FP_OK);
            loss[c] = res.lm_loss;
        }
        confusion_add(&single.cm, ex[i].label, loss[1] < loss[0] ? 1 : 0, &err);
    }
    assert_confusion_equal(&batched.cm, &single.cm);
    assert_int_equal(confusion_total(&batched.cm), 4);
    free(E);
    train_worker_destroy(&w);
    train_batch_destroy(&b);
    train_set_destroy(&s);
    train_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encoder_batches_match_whole_text_tokenisation),
        cmocka_unit_test(encoder_prediction_is_the_best_label_word_at_the_mask),
        cmocka_unit_test(truncation_cuts_texts_never_the_template),
        cmocka_unit_test(decoder_batches_and_lowest_loss_prediction),
        cmocka_unit_test(local_round_changes_only_trained_rows_and_steps_adamw),
        cmocka_unit_test(input_prompt_layout_trains_and_sends_the_input_prompt),
        cmocka_unit_test(layer_statistics_are_finite_and_reported_for_all_but_the_last),
        cmocka_unit_test(tune_learns_a_visible_label),
        cmocka_unit_test(length_buckets_permute_and_cut_padding),
    };
    return cmocka_run_group_tests_name("train", tests, setup, teardown);
}
