/* test_train.c — train/: batches (template, mask, targets, truncation, padding, length
 * buckets) and predictions, for encoders and decoders. Local rounds and tuning:
 * test_train_rounds.c. */
#include "tests/support/test.h"

#include "tests/test_train_group.h"

#include "common/config.h"
#include "data/template.h"
#include "train/batch.h"
#include "train/evaluate.h"
#include "train/local_round.h"
#include "train/model_bundle.h"
#include "train/task_data.h"

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
        cmocka_unit_test(length_buckets_permute_and_cut_padding),
    };
    return cmocka_run_group_tests_name("train", tests, train_group_setup, train_group_teardown);
}
