/* test_batch_unigram.c — train/batch.c with a SentencePiece unigram tokenizer: the template is
 * encoded in pieces, yet the joined ids must equal sp_encode of the whole rendered string (the
 * dummy "▁" only at its start, the <mask> as its id, the blank before it absorbed), label words
 * must be one id each, and unigram rows carry no <s>/</s>. Runs on the tiny fixture vocabulary
 * and on USE-lite's real one (skipped with a message when `make` has not fetched it). */
#include "tests/support/test.h"

#include <string.h>
#include <unistd.h>

#include "data/template.h"
#include "model/sentencepiece.h"
#include "train/batch.h"

#define USE_LITE_VOCAB ".cache/use-lite/package/dist/vocab.json"
#define TINY_VOCAB "tests/data/sp_tiny_vocab.json"

static train_tok_t *open_tok(const char *path)
{
    fp_error err = {0};
    sp_t *sp = sp_new(path, &err);
    if (!sp)
        fail_msg("%s", err.msg);
    train_tok_t *tok = train_tok_from_unigram(sp, &err);
    if (!tok)
        fail_msg("%s", err.msg);
    assert_false(tok->wrap_bos_eos);
    return tok;
}

/* sp_encode of the whole rendered string: the part before <mask> (its trailing blanks go with
 * the mask, as RoBERTa's lstrip does), the mask id, the rest as the string's continuation. */
static tok_ids reference_ids(train_tok_t *tok, const fp_task *task, bool decoder,
                             const fp_example *ex, const char *suffix)
{
    const sp_t *sp = tok->impl;
    char text[4096];
    fp_rendered r;
    fp_error err = {0};
    assert_int_equal(template_render(task, decoder, ex, text, sizeof text - 64, &r, &err), FP_OK);
    strcat(text, suffix);
    size_t len = strlen(text);
    tok_ids ids = {0};
    if (r.mask_at == FP_NO_MASK) {
        assert_int_equal(sp_encode(sp, text, len, &ids, &err), FP_OK);
        return ids;
    }
    size_t before = r.mask_at;
    while (before && text[before - 1] == ' ')
        before--;
    assert_int_equal(sp_encode(sp, text, before, &ids, &err), FP_OK);
    tok_ids_push(&ids, tok->mask);
    size_t after = r.mask_at + strlen(FP_MASK);
    assert_int_equal(sp_encode_ex(sp, text + after, len - after, false, &ids, &err), FP_OK);
    return ids;
}

static const fp_example EXAMPLES[] = {{"a lovely, sunny day", NULL, 1, 1},
                                      {"It's cold.", NULL, 0, 2},
                                      {"Who wrote Hamlet?", "Shakespeare wrote it in 1600 .", 1, 3},
                                      {"What is the capital of France ?", NULL, 4, 4},
                                      {"ab abc:)", "fi bc a", 0, 5}};

/* The prompt of every example under the single-sentence, pair and TREC templates (encoder and
 * decoder) equals the whole string's encoding. */
static void check_prompts(train_tok_t *tok)
{
    const char *tasks[] = {"sst-2", "rte", "trec", "mrpc", "mr"};
    for (size_t t = 0; t < sizeof tasks / sizeof *tasks; t++) {
        const fp_task *task = task_find(tasks[t]);
        for (size_t e = 0; e < sizeof EXAMPLES / sizeof *EXAMPLES; e++) {
            fp_example ex = EXAMPLES[e];
            if (task->text_b_col < 0)
                ex.text_b = NULL;
            else if (!ex.text_b)
                continue;
            for (int decoder = 0; decoder < 2; decoder++) {
                tok_ids got = {0};
                int mask_pos = -2;
                fp_error err = {0};
                assert_int_equal(
                    train_prompt_encode(tok, task, decoder, &ex, &got, &mask_pos, &err), FP_OK);
                tok_ids want = reference_ids(tok, task, decoder, &ex, "");
                if (got.n != want.n || memcmp(got.ids, want.ids, got.n * sizeof(int)))
                    fail_msg("%s %s '%s': %zu ids, whole string %zu", task->name,
                             decoder ? "decoder" : "encoder", ex.text_a, got.n, want.n);
                if (decoder)
                    assert_int_equal(mask_pos, -1);
                else
                    assert_int_equal(got.ids[mask_pos], tok->mask);
                assert_int_not_equal(got.ids[0], tok->bos); /* no <s>/</s> for unigram */
                assert_int_not_equal(got.ids[got.n - 1], tok->eos);
                tok_ids_free(&got);
                tok_ids_free(&want);
            }
        }
    }
}

/* Decoder rows of a set: prompt + one class's label tokens = the whole prompt + label word. */
static void check_decoder_set(train_tok_t *tok)
{
    const fp_task *task = task_find("sst-2");
    fp_example ex = EXAMPLES[0];
    dataset_t ds = {.task = task, .examples = &ex, .n = 1};
    model_config cfg = {.arch = MODEL_ARCH_GPT2};
    train_set_t *s = NULL;
    fp_error err = {0};
    assert_int_equal(train_set_encode(tok, &cfg, &ds, NULL, 0, 200, false, &s, &err), FP_OK);
    for (int c = 0; c < s->n_classes; c++) {
        tok_ids want = reference_ids(tok, task, true, &ex, template_label_word(task, true, c));
        assert_int_equal(s->ex[0].n + s->class_len[c], (int)want.n);
        assert_memory_equal(s->ex[0].ids, want.ids, s->ex[0].n * sizeof(int));
        assert_memory_equal(s->class_tokens[c], want.ids + s->ex[0].n,
                            s->class_len[c] * sizeof(int));
        tok_ids_free(&want);
    }
    train_set_destroy(&s);
}

static void tiny_vocab_pieces_join_to_the_whole_string(void **state)
{
    (void)state;
    train_tok_t *tok = open_tok(TINY_VOCAB);
    check_prompts(tok);
    check_decoder_set(tok);
    /* The continuation of " ab" is "▁a" "b", not the dummy-prefixed "▁" "▁a" "b". */
    tok_ids ids = {0};
    fp_error err = {0};
    assert_int_equal(train_tok_encode_part(tok, " ab", 3, false, &ids, &err), FP_OK);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], sp_token_id(tok->impl, "▁a"));
    assert_int_equal(ids.ids[1], sp_token_id(tok->impl, "b"));
    tok_ids_free(&ids);
    /* "c" continuing a string gets no "▁"; opening one it does. */
    assert_int_equal(train_tok_encode_part(tok, "c", 1, false, &ids, &err), FP_OK);
    assert_int_equal(ids.n, 1);
    assert_int_equal(train_tok_encode_part(tok, "c", 1, true, &ids, &err), FP_OK);
    assert_int_equal(ids.n, 3);
    assert_int_equal(ids.ids[1], sp_token_id(tok->impl, "▁"));
    tok_ids_free(&ids);
    train_tok_destroy(&tok);
}

static void use_lite_batches_match_whole_string_and_label_words_are_one_id(void **state)
{
    (void)state;
    if (access(USE_LITE_VOCAB, R_OK) != 0) {
        print_message("skipped: %s absent (run `make` to fetch USE-lite)\n", USE_LITE_VOCAB);
        skip();
    }
    train_tok_t *tok = open_tok(USE_LITE_VOCAB);
    check_prompts(tok);
    check_decoder_set(tok);
    const sp_t *sp = tok->impl;
    /* The cue words and the "." after the mask are the whole string's ids. */
    fp_example ex = EXAMPLES[0];
    dataset_t ds = {.task = task_find("sst-2"), .examples = &ex, .n = 1};
    model_config cfg = {.arch = MODEL_ARCH_ROBERTA};
    train_set_t *s = NULL;
    fp_error err = {0};
    assert_int_equal(train_set_encode(tok, &cfg, &ds, NULL, 0, 200, false, &s, &err), FP_OK);
    const train_example *e = &s->ex[0];
    /* "... It was <mask> ." : the " ." after the mask is "▁" "." as in the whole string (the
     * vocabulary has no "▁."), not the dummy-prefixed "▁" "▁" ".". */
    assert_int_equal(e->mask_pos, e->n - 3);
    assert_int_equal(e->ids[e->n - 2], sp_token_id(sp, "▁"));
    assert_int_equal(e->ids[e->n - 1], sp_token_id(sp, "."));
    assert_int_equal(e->ids[e->n - 4], sp_token_id(sp, "▁was"));
    assert_int_equal(e->ids[e->n - 5], sp_token_id(sp, "▁It"));
    assert_int_equal(s->word_id[0], sp_token_id(sp, "▁terrible"));
    assert_int_equal(s->word_id[1], sp_token_id(sp, "▁great"));
    train_set_destroy(&s);
    /* Label words: one id each where USE-lite's vocabulary has the word; a task whose word it
     * lacks fails loudly, naming the word (CoLA " unacceptable", SUBJ " subjective", TREC
     * " Description" ...: see docs/train.md). */
    const char *ok[] = {"sst-2", "mr", "mpqa", "rte", "qnli", "mrpc"};
    const char *bad[][2] = {{"cola", "unacceptable"}, {"subj", "subjective"},
                            {"trec", "Description"}};
    fp_example pair = EXAMPLES[2];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        ds.task = task_find(ok[i]);
        ds.examples = ds.task->text_b_col >= 0 ? &pair : &ex;
        assert_int_equal(train_set_encode(tok, &cfg, &ds, NULL, 0, 200, false, &s, &err), FP_OK);
        for (int c = 0; c < s->n_classes; c++)
            assert_int_equal(s->class_len[c], 1);
        train_set_destroy(&s);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ds.task = task_find(bad[i][0]);
        ds.examples = ds.task->text_b_col >= 0 ? &pair : &ex;
        assert_int_equal(train_set_encode(tok, &cfg, &ds, NULL, 0, 200, false, &s, &err),
                         FP_EFORMAT);
        assert_non_null(strstr(err.msg, bad[i][1]));
        assert_null(s);
        /* The linear head needs no label word, and sees no <mask> or cue words. */
        assert_int_equal(train_set_encode(tok, &cfg, &ds, NULL, 0, 200, true, &s, &err), FP_OK);
        assert_int_equal(s->max_class_len, 0);
        for (size_t k = 0; k < s->n; k++)
            for (int t = 0; t < s->ex[k].n; t++)
                assert_int_not_equal(s->ex[k].ids[t], tok->mask);
        train_set_destroy(&s);
    }
    train_tok_destroy(&tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_vocab_pieces_join_to_the_whole_string),
        cmocka_unit_test(use_lite_batches_match_whole_string_and_label_words_are_one_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
