/* test_sentencepiece.c — the SentencePiece unigram tokenizer (model/sentencepiece.h): the JS
 * quirks on a hand-made vocabulary (tests/data/sp_tiny_vocab.json) whose answers are worked out
 * in the comments, malformed vocabularies, added specials, decoding, and on USE-lite's real
 * vocabulary (.cache/use-lite, fetched by `make`) the golden ids of USE-LITE.md §1.6 and the
 * TF.js reference ids of tests/data/sp_expected.tsv (tests/reference/sp_reference.sh); and a
 * model folder whose vocab.json is [piece, score] pairs opening with it (train/model_bundle.h). */
#include "tests/support/test.h"

#include <time.h>

#include "model/hf_config.h"
#include "model/sentencepiece.h"
#include "model/weights.h"
#include "train/model_bundle.h"

static sp_t *load_tiny(void)
{
    fp_error err = {0};
    sp_t *sp = sp_new("tests/data/sp_tiny_vocab.json", &err);
    if (!sp)
        fail_msg("tiny vocab: %s", err.msg);
    return sp;
}

static const char *use_lite_vocab(void)
{
    static char path[512];
    const char *cache = getenv("FEDPEP_CACHE");
    snprintf(path, sizeof path, "%s/use-lite/package/dist/vocab.json",
             cache && *cache ? cache : ".cache");
    return path;
}

/* USE-lite's vocabulary, or NULL (the test then skips, saying so) when the cache is absent. */
static sp_t *load_use_lite(void)
{
    fp_error err = {0};
    sp_t *sp = sp_new(use_lite_vocab(), &err);
    if (!sp && err.status == FP_EIO) {
        fprintf(stderr, "SKIP: %s absent (run `make setup` to fetch USE-lite)\n", use_lite_vocab());
        return NULL;
    }
    if (!sp)
        fail_msg("USE-lite vocab: %s", err.msg);
    return sp;
}

static void expect_ids(const sp_t *sp, const char *text, const int *want, size_t n)
{
    tok_ids ids = {0};
    fp_error err = {0};
    assert_int_equal(sp_encode(sp, text, strlen(text), &ids, &err), FP_OK);
    if (ids.n != n)
        fail_msg("\"%s\": %zu ids, want %zu", text, ids.n, n);
    for (size_t i = 0; i < n; i++)
        if (ids.ids[i] != want[i])
            fail_msg("\"%s\": id %zu is %d, want %d", text, i, ids.ids[i], want[i]);
    tok_ids_free(&ids);
}

#define EXPECT(sp, text, ...)                                                                      \
    do {                                                                                           \
        const int want_[] = {__VA_ARGS__};                                                         \
        expect_ids(sp, text, want_, sizeof want_ / sizeof want_[0]);                               \
    } while (0)

static void tiny_viterbi_and_quirks(void **state)
{
    (void)state;
    sp_t *sp = load_tiny();
    assert_int_equal(sp_vocab_size(sp), 17);
    assert_int_equal(sp_piece_count(sp), 17);
    /* "▁ab": ▁a(-2.5)+b(-1) = -3.5 beats ▁(-2)+ab(-3) and ▁+a+b (-4). */
    EXPECT(sp, "ab", 10, 8);
    /* "▁bc": ▁+bc and ▁+b+c both -4: the tie goes to the later start, c. */
    EXPECT(sp, "bc", 6, 8, 11);
    /* "▁:)": ▁:) has a null score (0) so best[3] = 0 = "unset", and the unknown ")" after
     * ▁(-2)+:(0) overwrites it although -2 < 0: the JS quirk. */
    EXPECT(sp, ":)", 6, 13, 0);
    /* Unknowns become id 0, consecutive ones merged; a space is a ▁. */
    EXPECT(sp, "xyz", 6, 0);
    EXPECT(sp, "x y", 6, 0, 6, 0);
    EXPECT(sp, "a  b", 10, 6, 6, 8);
    /* A non-BMP character is one unknown between known pieces. */
    EXPECT(sp,
           "a\xf0\x9f\x98\x80"
           "b",
           10, 0, 8);
    /* NFKC: e + combining acute → é. */
    EXPECT(sp, "e\xcc\x81", 6, 15);
    /* NFKC turns the ligature ﬁ into "fi": ▁+fi ends at 3 with -3.5, but no piece ends at 2, so
     * best[2] stays 0 and the unknown "i" from there scores 0 >= -3.5: the JS answer is ▁, unk. */
    EXPECT(sp, "\xef\xac\x81", 6, 0);
    EXPECT(sp, "fi.", 6, 0); /* the same, the "." merged into the unknown */
    /* Reserved names are ordinary text. */
    EXPECT(sp, "<s>", 6, 0);
    /* Invalid UTF-8 reads as U+FFFD: unknown. */
    EXPECT(sp,
           "a\xff\xfe"
           "b",
           10, 0, 8);
    EXPECT(sp, " ", 6, 6);
    tok_ids ids = {0};
    /* Without the dummy prefix "ab" is a(-1)+b(-1) = -2 against ab(-3); a space is still ▁. */
    assert_int_equal(sp_encode_ex(sp, "ab c", 4, false, &ids, NULL), FP_OK);
    assert_int_equal(ids.n, 4);
    assert_int_equal(ids.ids[0], 7);
    assert_int_equal(ids.ids[1], 8);
    assert_int_equal(ids.ids[2], 6);
    assert_int_equal(ids.ids[3], 11);
    ids.n = 0;
    assert_int_equal(sp_encode(sp, "", 0, &ids, NULL), FP_OK);
    assert_int_equal(ids.n, 0);
    /* Appends after what the list holds. */
    assert_int_equal(sp_encode(sp, "ab", 2, &ids, NULL), FP_OK);
    assert_int_equal(sp_encode(sp, "ab", 2, &ids, NULL), FP_OK);
    assert_int_equal(ids.n, 4);
    /* An embedded NUL is text too (length-delimited input). */
    tok_ids_free(&ids);
    assert_int_equal(sp_encode(sp, "a\0b", 3, &ids, NULL), FP_OK);
    assert_int_equal(ids.n, 3);
    tok_ids_free(&ids);
    sp_destroy(&sp);
    assert_null(sp);
}

static void tiny_lookup_specials_decode(void **state)
{
    (void)state;
    sp_t *sp = load_tiny();
    assert_int_equal(sp_token_id(sp, "<s>"), SP_BOS_ID);
    assert_int_equal(sp_token_id(sp, "\xe2\x96\x81"
                                     "a"),
                     10);
    assert_int_equal(sp_token_id(sp, "zz"), -1);
    assert_int_equal(sp_token_id(sp, "\xe2\x96\x81:"), -1); /* a prefix only */
    assert_string_equal(sp_token_str(sp, 12), "bc");
    assert_null(sp_token_str(sp, 17));
    assert_true(sp_token_score(sp, 13) == 0.0);
    assert_close(sp_token_score(sp, 10), -2.5, 0);

    fp_error err = {0};
    assert_int_equal(sp_add_specials(sp, SP_ADDED_SPECIALS, 2, &err), FP_OK);
    assert_int_equal(sp_vocab_size(sp), 19);
    assert_int_equal(sp_piece_count(sp), 17);
    assert_int_equal(sp_token_id(sp, "<pad>"), 17);
    assert_int_equal(sp_token_id(sp, "<mask>"), 18);
    const char *again[] = {"<mask>", "<s>", "<cls>"};
    assert_int_equal(sp_add_specials(sp, again, 3, &err), FP_OK);
    assert_int_equal(sp_vocab_size(sp), 20);
    assert_int_equal(sp_token_id(sp, "<cls>"), 19);
    EXPECT(sp, "<mask>", 6, 0, 7, 0); /* added specials are never matched inside text */

    const int ids[] = {10, 8, 6, 6, 0, SP_EOS_ID, 18, 6, 15};
    char *text;
    size_t len;
    assert_int_equal(sp_decode(sp, ids, 9, &text, &len, &err), FP_OK);
    assert_string_equal(text, "ab  \xef\xbf\xbd<mask> \xc3\xa9");
    assert_int_equal(len, strlen(text));
    free(text);
    assert_int_equal(sp_decode(sp, NULL, 0, &text, &len, &err), FP_OK);
    assert_string_equal(text, "");
    free(text);
    const int bad[] = {6, 20};
    assert_int_equal(sp_decode(sp, bad, 2, &text, &len, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "20"));
    sp_destroy(&sp);
}

static void malformed_vocabularies(void **state)
{
    (void)state;
    static const char R[] = "[\"\\ufffd\",0],[\"<s>\",0],[\"</s>\",0],[\"e1\",0],[\"e2\",0],"
                            "[\"e3\",0]";
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"", "1"},
        {"{\"a\": 1}", "not a JSON array"},
        {"[[\"\\ufffd\",0],[\"<s>\",0]]", "need more than"},
        {"[]", "need more than"},
        {"[%s,[\"a\"]]", "entry 6 is not"},
        {"[%s,[\"a\",1,2]]", "entry 6 is not"},
        {"[%s,[1,1]]", "entry 6 is not"},
        {"[%s,\"a\"]", "entry 6 is not"},
        {"[%s,[\"a\",\"-1\"]]", "score is not a number"},
        {"[%s,[\"a\",true]]", "score is not a number"},
        {"[%s,[\"\",-1]]", "empty piece"},
        {"[%s,[\"a\",-1]", "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, cases[i].json, R);
        fp_error err = {0};
        sp_t *sp = sp_new_from_memory(json, strlen(json), "v.json", &err);
        if (sp)
            fail_msg("case %zu (%s) loaded", i, json);
        assert_int_equal(err.status, FP_EFORMAT);
        if (!strstr(err.msg, cases[i].why) || !strstr(err.msg, "v.json"))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].why);
    }
    char ok[512];
    snprintf(ok, sizeof ok, "[%s,[\"a\",-1],[\"a\",-2]]", R);
    fp_error err = {0};
    sp_t *sp = sp_new_from_memory(ok, strlen(ok), "v.json", &err);
    assert_non_null(sp);
    assert_int_equal(sp_token_id(sp, "a"), 6); /* duplicates: lookup gives the first... */
    EXPECT(sp, "a", 0, 7);                     /* ...encoding the last (the JS trie overwrites) */
    sp_destroy(&sp);
    sp = sp_new("tests/data/no-such-vocab.json", &err);
    assert_null(sp);
    assert_int_equal(err.status, FP_ENOTFOUND);
    assert_false(sp_vocab_file_is_unigram("tests/data/no-such-vocab.json"));
    assert_true(sp_vocab_file_is_unigram("tests/data/sp_tiny_vocab.json"));
}

static void use_lite_golden_ids(void **state)
{
    (void)state;
    sp_t *sp = load_use_lite();
    if (!sp)
        skip();
    assert_int_equal(sp_vocab_size(sp), 8000);
    EXPECT(sp, "the movie was wonderful and moving .", 9, 888, 33, 3781, 12, 1747, 30, 6);
    EXPECT(sp, "a dull , tedious mess of a film", 11, 1090, 120, 30, 8, 30, 703, 1353, 2477, 14, 11,
           722);
    EXPECT(sp, "How old are you?", 728, 446, 31, 19, 54);
    /* The 7 pieces with a null score. */
    const char *nulls[] = {
        ":", "://", "\xe2\x96\x81:", "\xe2\x96\x81:)", "\xe2\x96\x81:(", "):", "\xe2\x96\x81:-)"};
    for (size_t i = 0; i < 7; i++) {
        int id = sp_token_id(sp, nulls[i]);
        assert_true(id >= SP_RESERVED);
        assert_true(sp_token_score(sp, id) == 0.0);
    }
    assert_int_equal(sp_add_specials(sp, SP_ADDED_SPECIALS, 2, NULL), FP_OK);
    assert_int_equal(sp_token_id(sp, "<pad>"), 8000);
    assert_int_equal(sp_token_id(sp, "<mask>"), 8001);
    assert_int_equal(sp_vocab_size(sp), 8002);
    sp_destroy(&sp);
}

/* Every line of tests/data/sp_expected.tsv ("ids<TAB>text") must give exactly the TF.js ids;
 * ASCII lines without unknowns must decode back to themselves. Prints the throughput. */
static void use_lite_matches_tfjs_reference(void **state)
{
    (void)state;
    sp_t *sp = load_use_lite();
    if (!sp)
        skip();
    size_t flen;
    char *file = test_read_file("tests/data/sp_expected.tsv", &flen);
    assert_non_null(file);
    size_t lines = 0, ids_total = 0, bytes = 0, roundtrips = 0;
    double secs = 0;
    tok_ids ids = {0};
    for (char *line = file, *nl; line < file + flen; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(file + flen - line));
        assert_non_null(nl);
        *nl = '\0';
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        const char *text = tab + 1;
        ids.n = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(sp_encode(sp, text, strlen(text), &ids, NULL), FP_OK);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        char got[4096];
        size_t w = 0;
        bool ascii = true, unk = false;
        for (size_t i = 0; i < ids.n && w < sizeof got - 16; i++) {
            w += (size_t)snprintf(got + w, sizeof got - w, i ? " %d" : "%d", ids.ids[i]);
            unk |= ids.ids[i] == SP_UNK_ID;
        }
        got[w] = '\0';
        if (strcmp(got, line) != 0)
            fail_msg("line %zu \"%s\": ids [%s], TF.js [%s]", lines + 1, text, got, line);
        for (const char *c = text; *c; c++)
            ascii &= (unsigned char)*c < 0x80;
        if (ascii && !unk && *text) {
            char *back;
            size_t blen;
            assert_int_equal(sp_decode(sp, ids.ids, ids.n, &back, &blen, NULL), FP_OK);
            assert_string_equal(back, text);
            free(back);
            roundtrips++;
        }
        lines++;
        ids_total += ids.n;
        bytes += strlen(text);
    }
    assert_true(lines > 1000);
    assert_true(roundtrips > 1000);
    printf("sentencepiece: %zu reference lines match TF.js (%zu decode round trips); "
           "%zu ids, %.2f MB/s, %.0f lines/s (this build)\n",
           lines, roundtrips, ids_total, (double)bytes / secs / 1e6, (double)lines / secs);
    tok_ids_free(&ids);
    free(file);
    sp_destroy(&sp);
}

/* A tiny RoBERTa-shaped model folder (random weights, vocab_size ids) carrying vocab_json. */
static void write_model(const char *dir, int vocab_size, const char *vocab_json)
{
    model_config c = {.arch = MODEL_ARCH_ROBERTA,
                      .vocab_size = vocab_size,
                      .max_positions = 20,
                      .n_layers = 1,
                      .d_model = 16,
                      .n_heads = 4,
                      .d_ff = 32,
                      .type_vocab_size = 1,
                      .layer_norm_eps = 1e-5f,
                      .pad_token_id = 1,
                      .bos_token_id = 0,
                      .eos_token_id = 2,
                      .mask_token_id = -1,
                      .position_offset = 2};
    char path[512];
    fp_error err = {0};
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(hf_config_save(path, &c, &err), FP_OK);
    tf_weights w = {0};
    assert_int_equal(tf_weights_init_random(&w, &c, 0.02f, 7, &err), FP_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(tf_weights_save(&w, &c, path, &err), FP_OK);
    tf_weights_free(&w);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(vocab_json, f);
    fclose(f);
}

static void model_folder_with_unigram_vocab(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("sentencepiece");
    size_t vlen;
    char *vocab = test_read_file("tests/data/sp_tiny_vocab.json", &vlen);
    assert_non_null(vocab);
    write_model(dir, 19, vocab);
    fp_error err = {0};
    train_model_t *m = train_model_open(dir, NULL, NULL, &err);
    if (!m)
        fail_msg("open: %s", err.msg);
    assert_int_equal(train_tok_vocab_size(m->tok), 19);
    assert_int_equal(m->tok->bos, SP_BOS_ID);
    assert_int_equal(m->tok->eos, SP_EOS_ID);
    assert_int_equal(m->tok->pad, 17);
    assert_int_equal(m->tok->mask, 18);
    assert_int_equal(m->cfg.mask_token_id, 18);
    assert_int_equal(train_tok_id(m->tok, "bc"), 12);
    tok_ids ids = {0};
    assert_int_equal(train_tok_encode(m->tok, "ab", 2, &ids, &err), FP_OK);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], 10);
    assert_int_equal(ids.ids[1], 8);
    tok_ids_free(&ids);
    train_model_destroy(&m);

    /* The model's embedding table must hold <pad> and <mask> too. */
    write_model(dir, 18, vocab);
    assert_null(train_model_open(dir, NULL, NULL, &err));
    assert_int_equal(err.status, FP_EFORMAT);
    assert_non_null(strstr(err.msg, "vocab_size 18"));
    /* A malformed unigram vocabulary names the folder and the entry. */
    write_model(dir, 19, "[[\"a\", 1], \"b\"]");
    assert_null(train_model_open(dir, NULL, NULL, &err));
    assert_int_equal(err.status, FP_EFORMAT);
    assert_non_null(strstr(err.msg, dir));
    assert_non_null(strstr(err.msg, "need more than"));
    free(vocab);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_viterbi_and_quirks),
        cmocka_unit_test(tiny_lookup_specials_decode),
        cmocka_unit_test(malformed_vocabularies),
        cmocka_unit_test(use_lite_golden_ids),
        cmocka_unit_test(use_lite_matches_tfjs_reference),
        cmocka_unit_test(model_folder_with_unigram_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
