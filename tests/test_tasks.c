/* test_tasks.c — the nine tasks on the real files under $FEDPEP_SHARED/datasets: row and class
 * counts as in ASSETS.md, the seeded QNLI split, subsampling, templates and label words. */
#include "tests/support/test.h"

#include "data/dataset.h"
#include "data/template.h"

static char data_dir[512];

static int setup(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof data_dir, "%s/datasets", test_shared_dir());
    return 0;
}

static dataset_t *load(fp_task_id id, fp_split split)
{
    dataset_t *ds = NULL;
    fp_error err = {0};
    if (dataset_load(task_get(id), split, data_dir, 42, 0.2, &ds, &err))
        fail_msg("%s", err.msg);
    return ds;
}

static void real_files_have_the_documented_rows_and_classes(void **state)
{
    (void)state;
    /* Rows from ASSETS.md; class counts (in class-index order) counted from the files. */
    const struct {
        fp_task_id id;
        fp_split split;
        size_t rows;
        size_t classes[FP_TASK_MAX_CLASSES];
    } want[] = {
        {FP_TASK_SST2, FP_SPLIT_TRAIN, 67349, {29780, 37569}},
        {FP_TASK_SST2, FP_SPLIT_EVAL, 872, {428, 444}},
        {FP_TASK_MR, FP_SPLIT_TRAIN, 7662, {3873, 3789}},
        {FP_TASK_MR, FP_SPLIT_EVAL, 2000, {951, 1049}},
        {FP_TASK_SUBJ, FP_SPLIT_TRAIN, 7000, {3539, 3461}},
        {FP_TASK_SUBJ, FP_SPLIT_EVAL, 2000, {967, 1033}},
        {FP_TASK_MPQA, FP_SPLIT_TRAIN, 7606, {5249, 2357}},
        {FP_TASK_MPQA, FP_SPLIT_EVAL, 2000, {1352, 648}},
        {FP_TASK_TREC, FP_SPLIT_TRAIN, 4952, {1058, 1149, 76, 1109, 755, 805}},
        {FP_TASK_TREC, FP_SPLIT_EVAL, 500, {138, 94, 9, 65, 81, 113}},
        {FP_TASK_COLA, FP_SPLIT_TRAIN, 8551, {2528, 6023}},
        {FP_TASK_COLA, FP_SPLIT_EVAL, 1043, {322, 721}},
        {FP_TASK_MRPC, FP_SPLIT_TRAIN, 3668, {1194, 2474}},
        {FP_TASK_MRPC, FP_SPLIT_EVAL, 408, {129, 279}},
        {FP_TASK_RTE, FP_SPLIT_TRAIN, 2490, {1249, 1241}},
        {FP_TASK_RTE, FP_SPLIT_EVAL, 277, {146, 131}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        dataset_t *ds = load(want[i].id, want[i].split);
        const fp_task *t = task_get(want[i].id);
        if (ds->n != want[i].rows)
            fail_msg("%s split %d: %zu rows, want %zu", t->name, want[i].split, ds->n,
                     want[i].rows);
        size_t counts[FP_TASK_MAX_CLASSES];
        dataset_class_counts(ds, counts);
        for (int c = 0; c < FP_TASK_MAX_CLASSES; c++)
            if (counts[c] != want[i].classes[c])
                fail_msg("%s split %d class %d: %zu, want %zu", t->name, want[i].split, c,
                         counts[c], want[i].classes[c]);
        for (size_t k = 0; k < ds->n; k++) {
            const fp_example *ex = &ds->examples[k];
            assert_true(ex->text_a[0] && ex->text_a[0] != ' ');
            assert_true(ex->text_a[strlen(ex->text_a) - 1] != ' ');
            assert_int_equal(ex->text_b != NULL, t->text_b_col >= 0);
        }
        dataset_destroy(&ds);
        assert_null(ds);
    }
}

static void first_rows_are_read_exactly(void **state)
{
    (void)state;
    dataset_t *ds = load(FP_TASK_SST2, FP_SPLIT_EVAL);
    /* "it 's a charming and often affecting journey . \t1": trailing blank trimmed. */
    assert_string_equal(ds->examples[0].text_a, "it 's a charming and often affecting journey .");
    assert_int_equal(ds->examples[0].label, 1);
    assert_int_equal(ds->examples[0].line, 2);
    dataset_destroy(&ds);

    ds = load(FP_TASK_MRPC, FP_SPLIT_EVAL); /* BOM header */
    assert_string_equal(ds->examples[0].text_a, "He said the foodservice pie business doesn 't fit "
                                                "the company 's long-term growth strategy .");
    assert_int_equal(ds->examples[0].label, 1);
    dataset_destroy(&ds);

    ds = load(FP_TASK_COLA, FP_SPLIT_EVAL); /* no header, no final newline */
    assert_string_equal(ds->examples[0].text_a, "The sailors rode the breeze clear of the rocks.");
    assert_int_equal(ds->examples[0].line, 1);
    assert_int_equal(ds->examples[ds->n - 1].line, 1043);
    dataset_destroy(&ds);

    ds = load(FP_TASK_MR, FP_SPLIT_EVAL); /* CRLF */
    assert_null(strchr(ds->examples[0].text_a, '\r'));
    assert_string_equal(ds->examples[0].text_a,
                        "all the characters are clinically depressed and have abandoned their "
                        "slim hopes and dreams .");
    assert_int_equal(ds->examples[0].label, 0);
    dataset_destroy(&ds);

    ds = load(FP_TASK_TREC, FP_SPLIT_EVAL);
    assert_string_equal(ds->examples[0].text_a, "How far is it from Denver to Aspen ?");
    assert_int_equal(ds->examples[0].label, 5); /* NUM */
    dataset_destroy(&ds);
}

static void qnli_is_a_seeded_disjoint_split_of_dev(void **state)
{
    (void)state;
    dataset_t *train = load(FP_TASK_QNLI, FP_SPLIT_TRAIN);
    dataset_t *eval = load(FP_TASK_QNLI, FP_SPLIT_EVAL);
    assert_int_equal(eval->n, 1093); /* round(0.2 * 5463) */
    assert_int_equal(train->n + eval->n, 5463);
    /* Disjoint and covering, each in file order. */
    char *seen = calloc(5465, 1);
    for (size_t i = 0; i < train->n; i++) {
        assert_true(i == 0 || train->examples[i].line > train->examples[i - 1].line);
        seen[train->examples[i].line]++;
    }
    for (size_t i = 0; i < eval->n; i++) {
        assert_true(i == 0 || eval->examples[i].line > eval->examples[i - 1].line);
        seen[eval->examples[i].line]++;
    }
    for (int line = 2; line <= 5464; line++)
        assert_int_equal(seen[line], 1);
    free(seen);
    size_t counts[FP_TASK_MAX_CLASSES];
    dataset_class_counts(eval, counts);
    assert_true(counts[0] > 450 && counts[1] > 450);

    /* Same seed, same split; another seed, another split. */
    dataset_t *again = NULL, *other = NULL;
    assert_int_equal(
        dataset_load(task_get(FP_TASK_QNLI), FP_SPLIT_EVAL, data_dir, 42, 0.2, &again, NULL),
        FP_OK);
    assert_int_equal(
        dataset_load(task_get(FP_TASK_QNLI), FP_SPLIT_EVAL, data_dir, 43, 0.2, &other, NULL),
        FP_OK);
    int same = 0;
    for (size_t i = 0; i < eval->n; i++) {
        assert_int_equal(again->examples[i].line, eval->examples[i].line);
        same += other->examples[i].line == eval->examples[i].line;
    }
    assert_true(same < (int)eval->n / 2);
    fp_error err;
    dataset_t *bad = NULL;
    assert_int_equal(
        dataset_load(task_get(FP_TASK_QNLI), FP_SPLIT_EVAL, data_dir, 1, 1.0, &bad, &err),
        FP_EINVAL);
    assert_null(bad);
    dataset_destroy(&train);
    dataset_destroy(&eval);
    dataset_destroy(&again);
    dataset_destroy(&other);
}

static void subsample_is_seeded_and_in_file_order(void **state)
{
    (void)state;
    dataset_t *a = load(FP_TASK_SST2, FP_SPLIT_EVAL), *b = load(FP_TASK_SST2, FP_SPLIT_EVAL);
    assert_int_equal(dataset_subsample(a, 100, 7, NULL), FP_OK);
    assert_int_equal(dataset_subsample(b, 100, 7, NULL), FP_OK);
    assert_int_equal(a->n, 100);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->examples[i].line, b->examples[i].line);
        assert_true(i == 0 || a->examples[i].line > a->examples[i - 1].line);
    }
    assert_true(a->examples[99].line > 500); /* drawn from the whole file, not its head */
    assert_int_equal(dataset_subsample(a, 0, 7, NULL), FP_OK);
    assert_int_equal(dataset_subsample(a, 1000, 7, NULL), FP_OK);
    assert_int_equal(a->n, 100);
    dataset_destroy(&a);
    dataset_destroy(&b);
}

static void render(fp_task_id id, bool decoder, const char *a, const char *b, const char *want,
                   size_t want_mask)
{
    fp_example ex = {a, b, 0, 1};
    char out[256];
    fp_rendered r;
    fp_error err;
    if (template_render(task_get(id), decoder, &ex, out, sizeof out, &r, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(out, want);
    assert_int_equal(r.len, strlen(want));
    assert_int_equal(r.mask_at, want_mask);
    if (want_mask != FP_NO_MASK)
        assert_memory_equal(out + r.mask_at, FP_MASK, strlen(FP_MASK));
}

static void templates_render_exactly(void **state)
{
    (void)state;
    render(FP_TASK_SST2, false, "a gem", NULL, "a gem . It was <mask> .", 15);
    render(FP_TASK_MR, false, "dull", NULL, "dull . It was <mask> .", 14);
    render(FP_TASK_COLA, false, "x y", NULL, "x y . It was <mask> .", 13);
    render(FP_TASK_RTE, false, "A man sleeps.", "Nobody sleeps.",
           "A man sleeps. ? <mask> , Nobody sleeps.", 16);
    render(FP_TASK_QNLI, false, "Who?", "Me.", "Who? ? <mask> , Me.", 7);
    render(FP_TASK_MRPC, false, "s1", "s2", "s1 ? <mask> , s2", 5);
    render(FP_TASK_TREC, false, "How far is it ?", NULL, "<mask> : How far is it ?", 0);
    render(FP_TASK_SST2, true, "a gem", NULL, "a gem It was", FP_NO_MASK);
    render(FP_TASK_TREC, true, "How far ?", NULL, "How far ? It was", FP_NO_MASK);
    render(FP_TASK_RTE, true, "A man sleeps.", "Nobody sleeps.",
           "A man sleeps. Nobody sleeps. They are", FP_NO_MASK);
    /* a linear classifier head reads the text alone */
    const struct {
        fp_task_id id;
        const char *a, *b, *want;
    } text[] = {{FP_TASK_SST2, "a gem", NULL, "a gem"},
                {FP_TASK_TREC, "How far ?", NULL, "How far ?"},
                {FP_TASK_RTE, "A man sleeps.", "Nobody sleeps.", "A man sleeps. Nobody sleeps."}};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
        fp_example tx = {text[i].a, text[i].b, 0, 1};
        char out[64];
        fp_rendered tr;
        fp_error terr;
        assert_int_equal(template_render_style(task_get(text[i].id), FP_STYLE_TEXT, &tx, out,
                                               sizeof out, &tr, &terr),
                         FP_OK);
        assert_string_equal(out, text[i].want);
        assert_int_equal(tr.mask_at, FP_NO_MASK);
    }

    /* Too small a buffer: ELIMIT and the size needed. */
    fp_example ex = {"a gem", NULL, 0, 3};
    char small[8];
    fp_rendered r;
    fp_error err;
    assert_int_equal(
        template_render(task_get(FP_TASK_SST2), false, &ex, small, sizeof small, &r, &err),
        FP_ELIMIT);
    assert_int_equal(r.len, strlen("a gem . It was <mask> ."));
    assert_string_equal(small, "");
    assert_int_equal(
        template_render(task_get(FP_TASK_RTE), false, &ex, small, sizeof small, &r, &err),
        FP_EINVAL);
    assert_non_null(strstr(err.msg, "line 3"));
}

static void task_table_matches_config_and_paper(void **state)
{
    (void)state;
    for (int i = 0; i < FP_TASK_COUNT; i++) {
        const fp_task *t = task_get((fp_task_id)i);
        assert_int_equal(t->id, i);
        assert_string_equal(t->name, config_task_name((fp_task_id)i));
        assert_ptr_equal(task_find(t->name), t);
        assert_true(t->n_classes >= 2 && t->n_classes <= FP_TASK_MAX_CLASSES);
        for (int c = 0; c < t->n_classes; c++) {
            for (int dec = 0; dec < 2; dec++) {
                const char *w = template_label_word(t, dec, c);
                assert_non_null(w);
                assert_true(w[0] == ' ' && w[1] && w[1] != ' ' && !strchr(w + 1, ' '));
            }
            assert_non_null(t->labels[c]);
        }
        assert_null(template_label_word(t, false, t->n_classes));
        assert_null(template_label_word(t, false, -1));
        bool glue = i == FP_TASK_QNLI || i == FP_TASK_SST2 || i == FP_TASK_COLA ||
                    i == FP_TASK_MRPC || i == FP_TASK_RTE;
        assert_string_equal(t->eval_file, glue ? "dev.tsv" : "test.tsv");
    }
    assert_null(task_find("boolq"));
    assert_null(task_get(FP_TASK_COUNT));
    /* FEDPEPTAO.md §1 label words, class order as in the reference. */
    assert_string_equal(task_get(FP_TASK_SST2)->label_words[1], " great");
    assert_string_equal(task_get(FP_TASK_RTE)->label_words[0], " Yes");
    assert_string_equal(task_get(FP_TASK_QNLI)->labels[0], "entailment");
    assert_string_equal(task_get(FP_TASK_MRPC)->label_words[0], " No");
    assert_string_equal(task_get(FP_TASK_SUBJ)->label_words[0], " subjective");
    assert_string_equal(task_get(FP_TASK_TREC)->labels[2], "ABBR");
    assert_string_equal(task_get(FP_TASK_TREC)->label_words[2], " Expression");
    assert_int_equal(task_get(FP_TASK_COLA)->metric, FP_METRIC_MCC);
    assert_int_equal(task_get(FP_TASK_MRPC)->metric, FP_METRIC_ACC_F1);
    assert_int_equal(task_get(FP_TASK_SST2)->metric, FP_METRIC_ACCURACY);
    assert_true(task_get(FP_TASK_QNLI)->carve);
}

/* Every label word is one GPT-2/RoBERTa BPE token ("\u0120word" in vocab.json), as the verbalizer
 * needs. Checked against the BPE files make setup fetches; skipped if they are absent. */
static void label_words_are_single_bpe_tokens(void **state)
{
    (void)state;
    char *vocab = test_read_file(".cache/gpt2/vocab.json", NULL);
    if (!vocab) {
        skip();
        return;
    }
    char missing[128] = "";
    for (int i = 0; i < FP_TASK_COUNT; i++) {
        const fp_task *t = task_get((fp_task_id)i);
        for (int c = 0; c < t->n_classes; c++) {
            for (int dec = 0; dec < 2; dec++) {
                /* U+0120 'Ġ' is how byte-level BPE spells the leading space; the JSON may
                 * hold it raw or escaped. */
                const char *word = template_label_word(t, dec, c) + 1;
                char raw[64], escaped[64];
                snprintf(raw, sizeof raw, "\"\xC4\xA0%s\":", word);
                snprintf(escaped, sizeof escaped, "\"\\u0120%s\":", word);
                if (!strstr(vocab, raw) && !strstr(vocab, escaped))
                    snprintf(missing, sizeof missing, "%s class %d '%s'", t->name, c, word);
            }
        }
    }
    free(vocab);
    if (missing[0])
        fail_msg("not one BPE token: %s", missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_files_have_the_documented_rows_and_classes),
        cmocka_unit_test(first_rows_are_read_exactly),
        cmocka_unit_test(qnli_is_a_seeded_disjoint_split_of_dev),
        cmocka_unit_test(subsample_is_seeded_and_in_file_order),
        cmocka_unit_test(templates_render_exactly),
        cmocka_unit_test(task_table_matches_config_and_paper),
        cmocka_unit_test(label_words_are_single_bpe_tokens),
    };
    return cmocka_run_group_tests_name("tasks", tests, setup, NULL);
}
