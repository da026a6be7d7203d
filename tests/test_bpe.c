/* test_bpe.c — GPT-2 byte-level BPE: token ids identical to OpenAI's encoder, merge order,
 * special tokens, exact round trips, and refusal of malformed vocabulary and merge files. */
#include "tests/support/test.h"

#include "model/bpe.h"

typedef struct reference {
    const char *text;
    size_t n;
    int ids[128];
} reference;

/* Produced by the npm package gpt-3-encoder@1.1.4 (OpenAI's GPT-2 encoder ported to JS) under
 * node: `node tests/reference/bpe_reference.js <unpacked package>` prints these lines. */
static const reference REFERENCE[] = {
    {"Hello, world!", 4, {15496, 11, 995, 0}},
    {"It's a great movie, isn't it? They're sure we've seen it; I'm done, you'll see, he'd go.",
     30,
     {1026, 338, 257, 1049, 3807, 11,   2125, 470, 340,  30,  1119, 821, 1654, 356, 1053,
      1775, 340, 26,  314,  1101, 1760, 11,   345, 1183, 766, 11,   339, 1549, 467, 13}},
    {"I paid $1,234.56 for 3 tickets in 2023 (about 99%).",
     18,
     {40, 3432, 720, 16, 11, 24409, 13, 3980, 329, 513, 8587, 287, 1160, 1954, 357, 10755, 7388,
      18823}},
    {"multiple   spaces   here", 7, {48101, 220, 220, 9029, 220, 220, 994}},
    {"   leading spaces", 4, {220, 220, 3756, 9029}},
    {"trailing spaces   ", 6, {9535, 4386, 9029, 220, 220, 220}},
    {"line one\nline two\n\nline four\n",
     10,
     {1370, 530, 198, 1370, 734, 198, 198, 1370, 1440, 198}},
    {"tabs\tand\r\nCRLF endings", 10, {8658, 82, 197, 392, 201, 198, 34, 7836, 37, 38168}},
    {"Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xe2\x80\x94 d\xc3\xa9j\xc3\xa0 vu",
     13,
     {34, 1878, 2634, 41492, 40560, 16345, 2634, 851, 39073, 73, 24247, 410, 84}},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83"
     "\x88\xe3\x81\xa8\xe4\xb8\xad\xe6\x96\x87",
     14,
     {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302, 30201, 40792, 23877, 229}},
    {"emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and \xe2\x9d\xa4\xef\xb8\x8f!",
     14,
     {368, 31370, 30325, 222, 41840, 235, 8582, 237, 121, 290, 43074, 97, 37929, 0}},
    {"THE QUICK Brown fox's 'quoted' \"double\" words",
     14,
     {10970, 19604, 11860, 4373, 21831, 338, 705, 421, 5191, 6, 366, 23352, 1, 2456}},
    {"a+b=c; x<y>z {json: [1,2]}",
     19,
     {64, 10, 65, 28, 66, 26, 2124, 27, 88, 29, 89, 1391, 17752, 25, 685, 16, 11, 17, 48999}},
    {"don't DON'T 'S 'sup ''s", 11, {9099, 470, 23917, 6, 51, 705, 50, 705, 37330, 10148, 82}},
    {"\xc2\xbd \xc2\xb2 \xe2\x85\xab \xd9\xa3\xd9\xa4 mixed123abc 4u",
     15,
     {23141, 1587, 110, 2343, 227, 104, 18923, 96, 149, 97, 7668, 10163, 39305, 604, 84}},
    {"hello\xc2\xa0world", 3, {31373, 1849, 6894}},
    {"-- ... !!! ??? @user #tag", 9, {438, 2644, 220, 10185, 34913, 2488, 7220, 1303, 12985}},
    {"the movie was terrible . It was <mask> .",
     11,
     {1169, 3807, 373, 7818, 764, 632, 373, 1279, 27932, 29, 764}},
    {"antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
     19,
     {415, 29207, 44390, 3699, 1042, 29631, 261, 25955, 859, 2500, 1416, 404, 873, 41896, 709, 349,
      5171, 36221, 42960}},
    {"\xc3\x9cn\xc3\xaf"
     "c\xc3\xb6"
     "d\xc3\xa9 \xc3\x9ftra\xc3\x9f"
     "e \xc4\xb0stanbul",
     16,
     {127, 250, 77, 26884, 66, 9101, 67, 2634, 6184, 253, 9535, 39683, 68, 34754, 108, 24179}},
    {"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
     11,
     {50227, 40010, 27072, 147, 251, 47048, 26897, 148, 255, 39848, 12919}},
    {"cafe\xcc\x81 combining", 5, {66, 8635, 136, 223, 19771}},
    {" ", 1, {220}},
    {"  \n  x", 5, {220, 220, 198, 220, 2124}},
    {"a  \n\n b", 5, {64, 220, 220, 628, 275}},
    {"<|endoftext|> plain text", 9, {27, 91, 437, 1659, 5239, 91, 29, 8631, 2420}},
    {"seddiiqbjyxrogvpipcrivshacwlkgcrnpcvggqynucahymzqcupuhupbwpslmlyupotkejuzlfhmwkvcpaiefwjvwdag"
     "cndvbewflrjfofskyvclfhluiaxnrhejakdxekhtialkqgkcjnmqoyzzdgbahgdpaeqaykrjimsoqqddsmkrmkontldfw"
     "vlymkusnngonhi",
     117,
     {82,    6048,  4178, 80,    50007, 28391, 3828,  36133, 541,  66,    15104, 1477,  330,
      40989, 10025, 6098, 77,    14751, 85,    1130,  80,    2047, 1229,  993,   4948,  89,
      80,    25244, 7456, 929,   65,    86,    862,   75,    76,   306,   929,   313,   365,
      73,    10277, 1652, 23940, 43021, 28435, 8957,  2086,  86,   73,    85,    16993, 363,
      66,    358,   85,   65,    413,   2704,  81,    73,    69,   1659,  15688, 85,    565,
      69,    71,    2290, 544,   87,    48624, 258,   73,    461,  34350, 988,   4352,  498,
      74,    80,    70,   74,    66,    73,    21533, 80,    726,  3019,  67,    22296, 993,
      21287, 79,    3609, 80,    323,   38584, 73,    320,   568,  38227, 1860,  5796,  74,
      26224, 74,    756,  335,   44482, 85,    306,   28015, 385,  77,    782,   261,   5303}},
    {"999999999999999999999999999999999999999912345678901234567890123456789012345678901234567890123"
     "456789012345678901234567890123456789012345678901234567890",
     64,
     {24214, 24214, 24214, 24214, 24214, 24214, 24214, 24214, 24214, 24214, 10163, 2231, 3134,
      4531,  486,   1954,  2231,  3134,  4531,  486,   1954,  2231,  3134,  4531,  486,  1954,
      2231,  3134,  4531,  486,   1954,  2231,  3134,  4531,  486,   1954,  2231,  3134, 4531,
      486,   1954,  2231,  3134,  4531,  486,   1954,  2231,  3134,  4531,  486,   1954, 2231,
      3134,  4531,  486,   1954,  2231,  3134,  4531,  486,   1954,  2231,  30924, 3829}},
    {"ababababababababababababababababababababababababababababababababababababababababababababababa"
     "babababababababababababababababababababababababababababababababababababababababababababababab"
     "ababababababab",
     100,
     {397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397,
      397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397,
      397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397,
      397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397,
      397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397,
      397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397, 397}},
    {"                                                                                             "
     "                           x",
     120,
     {220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 2124}},
};

static const char *gpt2_dir(void)
{
    static char dir[512];
    const char *cache = getenv("FEDPEP_CACHE");
    snprintf(dir, sizeof dir, "%s/gpt2", cache && *cache ? cache : ".cache");
    return dir;
}

static bpe_t *load_gpt2(void)
{
    char v[600], m[600];
    snprintf(v, sizeof v, "%s/vocab.json", gpt2_dir());
    snprintf(m, sizeof m, "%s/merges.txt", gpt2_dir());
    fp_error err = {0};
    bpe_t *bpe = bpe_new(v, m, &err);
    if (!bpe)
        fail_msg("cannot load GPT-2 BPE (run `make` to fetch it): %s", err.msg);
    return bpe;
}

static bpe_t *load_tiny(void)
{
    fp_error err = {0};
    bpe_t *bpe = bpe_new("tests/data/tiny_bpe/vocab.json", "tests/data/tiny_bpe/merges.txt", &err);
    if (!bpe)
        fail_msg("cannot load tests/data/tiny_bpe: %s", err.msg);
    return bpe;
}

static void expect_ids(bpe_t *bpe, const char *text, bool specials, const int *want, size_t n)
{
    tok_ids got = {0};
    fp_error err = {0};
    assert_int_equal(bpe_encode(bpe, text, strlen(text), specials, &got, &err), FP_OK);
    bool same = got.n == n;
    for (size_t i = 0; same && i < n; i++)
        same = got.ids[i] == want[i];
    if (!same) {
        char buf[512];
        size_t at = 0;
        for (size_t i = 0; i < got.n && at < sizeof buf - 16; i++)
            at += (size_t)snprintf(buf + at, sizeof buf - at, "%d ", got.ids[i]);
        buf[at] = '\0';
        fail_msg("\"%s\": got %zu ids [%s], want %zu", text, got.n, buf, n);
    }
    tok_ids_free(&got);
}

static void expect_round_trip(bpe_t *bpe, const char *text, size_t len, bool specials)
{
    tok_ids ids = {0};
    fp_error err = {0};
    assert_int_equal(bpe_encode(bpe, text, len, specials, &ids, &err), FP_OK);
    char *back;
    size_t back_len;
    assert_int_equal(bpe_decode(bpe, ids.ids, ids.n, &back, &back_len, &err), FP_OK);
    if (back_len != len || memcmp(back, text, len) != 0)
        fail_msg("round trip changed \"%.*s\" into \"%s\"", (int)len, text, back);
    free(back);
    tok_ids_free(&ids);
}

static void same_ids_as_openai_encoder(void **state)
{
    (void)state;
    bpe_t *bpe = load_gpt2();
    assert_int_equal(bpe_vocab_size(bpe), 50257);
    for (size_t i = 0; i < sizeof REFERENCE / sizeof REFERENCE[0]; i++) {
        expect_ids(bpe, REFERENCE[i].text, false, REFERENCE[i].ids, REFERENCE[i].n);
        expect_round_trip(bpe, REFERENCE[i].text, strlen(REFERENCE[i].text), false);
    }
    /* The cache must give the same answer the second time. */
    for (size_t i = 0; i < sizeof REFERENCE / sizeof REFERENCE[0]; i++)
        expect_ids(bpe, REFERENCE[i].text, false, REFERENCE[i].ids, REFERENCE[i].n);
    expect_ids(bpe, "", false, NULL, 0);
    assert_string_equal(bpe_token_str(bpe, 995), "\xc4\xa0world"); /* "Ġworld" */
    assert_int_equal(bpe_token_id(bpe, "\xc4\xa0world"), 995);
    assert_null(bpe_token_str(bpe, 50257));
    assert_null(bpe_token_str(bpe, -1));
    bpe_destroy(&bpe);
    assert_null(bpe);
}

static void gpt2_specials_and_appended_roberta_specials(void **state)
{
    (void)state;
    bpe_t *bpe = load_gpt2();
    /* <|endoftext|> is special in GPT-2's vocabulary: one id when specials are on. */
    int eot[] = {50256, 8631, 2420};
    expect_ids(bpe, "<|endoftext|> plain text", true, eot, 3);
    int glued[] = {64, 50256, 65};
    expect_ids(bpe, "a<|endoftext|>b", true, glued, 3);

    fp_error err = {0};
    assert_int_equal(bpe_add_specials(bpe, BPE_ROBERTA_SPECIALS, 5, &err), FP_OK);
    assert_int_equal(bpe_vocab_size(bpe), 50262);
    const char *names[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(bpe_token_id(bpe, names[i]), 50257 + i);
    /* Adding again changes nothing; an existing token keeps its id. */
    const char *again[] = {"<mask>", "<|endoftext|>"};
    assert_int_equal(bpe_add_specials(bpe, again, 2, &err), FP_OK);
    assert_int_equal(bpe_vocab_size(bpe), 50262);
    assert_int_equal(bpe_token_id(bpe, "<|endoftext|>"), 50256);

    /* <mask> swallows the space before it (lstrip); nothing else does. */
    int masked[] = {1169, 3807, 373, 7818, 764, 632, 373, 50261, 764};
    expect_ids(bpe, "the movie was terrible . It was <mask> .", true, masked, 9);
    int lstrip_all[] = {9776, 50261};
    expect_ids(bpe, "was \n\t <mask>", true, lstrip_all, 2);
    int wrapped[] = {50257, 15496, 50259, 50259, 50257, 995, 50259};
    expect_ids(bpe, "<s>Hello</s></s><s> world</s>", true, wrapped, 7);
    /* Off: the same text is plain text, as OpenAI's encoder reads it. */
    int plain[] = {1169, 3807, 373, 7818, 764, 632, 373, 1279, 27932, 29, 764};
    expect_ids(bpe, "the movie was terrible . It was <mask> .", false, plain, 11);

    char *text;
    size_t len;
    assert_int_equal(bpe_decode(bpe, masked, 9, &text, &len, &err), FP_OK);
    assert_string_equal(text, "the movie was terrible . It was<mask> .");
    free(text);
    int bad[] = {1, 50262};
    assert_int_equal(bpe_decode(bpe, bad, 2, &text, &len, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "50262"));
    bad[1] = -3;
    assert_int_equal(bpe_decode(bpe, bad, 2, &text, &len, &err), FP_EINVAL);
    bpe_destroy(&bpe);
}

static void roberta_layout_and_save(void **state)
{
    (void)state;
    char v[600], m[600];
    snprintf(v, sizeof v, "%s/vocab.json", gpt2_dir());
    snprintf(m, sizeof m, "%s/merges.txt", gpt2_dir());
    fp_error err = {0};
    bpe_t *bpe = bpe_new_roberta(v, m, &err);
    assert_non_null(bpe);
    /* GPT-2's files in RoBERTa's layout: specials first, tokens shifted by 4, <mask> last. */
    assert_int_equal(bpe_vocab_size(bpe), 50262);
    const char *names[] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(bpe_token_id(bpe, names[i]), i);
    assert_int_equal(bpe_token_id(bpe, "<mask>"), 50261);
    assert_int_equal(bpe_token_id(bpe, "<|endoftext|>"), 50260);
    int masked[] = {0, 1169 + 4, 3807 + 4, 632 + 4, 373 + 4, 50261, 764 + 4, 2};
    expect_ids(bpe, "<s>the movie It was <mask> .</s>", true, masked, 8);
    for (size_t i = 0; i < 4; i++) {
        int shifted[128];
        for (size_t k = 0; k < REFERENCE[i].n; k++)
            shifted[k] = REFERENCE[i].ids[k] + 4;
        expect_ids(bpe, REFERENCE[i].text, false, shifted, REFERENCE[i].n);
    }

    /* Saved and read back with plain bpe_new: the same ids. */
    const char *dir = test_tmpdir("bpe");
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    assert_int_equal(bpe_save(bpe, v, m, &err), FP_OK);
    bpe_t *back = bpe_new(v, m, &err);
    assert_non_null(back);
    assert_int_equal(bpe_vocab_size(back), 50262);
    expect_ids(back, "<s>the movie It was <mask> .</s>", true, masked, 8);
    for (size_t i = 0; i < sizeof REFERENCE / sizeof REFERENCE[0]; i++) {
        tok_ids a = {0}, b = {0};
        const char *t = REFERENCE[i].text;
        assert_int_equal(bpe_encode(bpe, t, strlen(t), true, &a, &err), FP_OK);
        assert_int_equal(bpe_encode(back, t, strlen(t), true, &b, &err), FP_OK);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
        tok_ids_free(&a);
        tok_ids_free(&b);
    }
    bpe_destroy(&back);
    bpe_destroy(&bpe);
    test_rmtree(dir);

    /* A vocabulary that already is RoBERTa's keeps its ids. */
    bpe = bpe_new_roberta("tests/data/tiny_bpe/vocab.json", "tests/data/tiny_bpe/merges.txt", &err);
    assert_non_null(bpe);
    assert_int_equal(bpe_vocab_size(bpe), 270);
    assert_int_equal(bpe_token_id(bpe, "<mask>"), 269);
    bpe_destroy(&bpe);
}

static void merges_apply_lowest_rank_first(void **state)
{
    (void)state;
    bpe_t *bpe = load_tiny();
    /* Ids: bytes are 4 + byte; he 260, th 261, Ġt 262, Ġthe 263, aa 264, aaaa 265, Ġa 266,
     * 's 267, 12 268, <mask> 269 (tests/data/make_tiny_bpe.py). */
    assert_int_equal(bpe_vocab_size(bpe), 270);
    int the[] = {4 + 't', 260};
    expect_ids(bpe, "the", true, the, 2); /* "h e" outranks "t h" */
    int sthe[] = {263};
    expect_ids(bpe, " the", true, sthe, 1);
    int a3[] = {264, 4 + 'a'}, a4[] = {265}, a5[] = {265, 4 + 'a'};
    expect_ids(bpe, "aaa", true, a3, 2); /* left to right, no overlap */
    expect_ids(bpe, "aaaa", true, a4, 1);
    expect_ids(bpe, "aaaaa", true, a5, 2);
    int wrapped[] = {0, 4 + 't', 260, 267, 2};
    expect_ids(bpe, "<s>the's</s>", true, wrapped, 5);
    int mask[] = {4 + 't', 260, 269, 268, 4 + '3'};
    expect_ids(bpe, "the  <mask>123", true, mask, 5);
    int pad[] = {1};
    expect_ids(bpe, "<pad>", true, pad, 1);
    int plain[] = {4 + '<', 4 + 'p', 4 + 'a', 4 + 'd', 4 + '>'};
    expect_ids(bpe, "<pad>", false, plain, 5);
    bpe_destroy(&bpe);
}

static void invalid_utf8_and_odd_whitespace_round_trip(void **state)
{
    (void)state;
    bpe_t *bpe = load_gpt2();
    const char *odd[] = {
        "\xff\xfe abc \xc3",      /* stray and truncated bytes */
        "\xed\xa0\x80 surrogate", /* an encoded surrogate is not UTF-8 */
        "\xc0\xaf overlong \xf4\x90\x80\x80 beyond",
        "\xe2\x80\xa8line\xe2\x80\xa9para\xe3\x80\x80ideographic\xc2\x85next",
        "\x0b\x0c\x1c\x1d   \x00 nul inside",
        "word\xef\xbb\xbf"
        "bom",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        expect_round_trip(bpe, odd[i], strlen(odd[i]) + (i == 4 ? 11 : 0), true);
    /* A long run of spaces and a very long word take the uncached path. */
    char big[5000];
    memset(big, ' ', 2000);
    memset(big + 2000, 'x', 2999);
    big[4999] = '\0';
    expect_round_trip(bpe, big, 4999, false);
    bpe_destroy(&bpe);
}

/* ids of text as the concatenation of the pieces' ids: a check of where pre-tokens split. */
static void expect_split(bpe_t *bpe, const char *text, const char *const *pieces, size_t n)
{
    tok_ids want = {0}, got = {0};
    fp_error err = {0};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(bpe_encode(bpe, pieces[i], strlen(pieces[i]), false, &want, &err), FP_OK);
    assert_int_equal(bpe_encode(bpe, text, strlen(text), false, &got, &err), FP_OK);
    assert_int_equal(got.n, want.n);
    assert_memory_equal(got.ids, want.ids, got.n * sizeof *got.ids);
    tok_ids_free(&want);
    tok_ids_free(&got);
}

/* \s is Unicode White_Space, as in OpenAI's Python `regex` original: U+0085 is a space and
 * U+FEFF is not. The JS port differs on both; over 297,773 dataset and corpus lines this was
 * the only difference (docs/loaders.md). */
static void white_space_follows_the_python_original(void **state)
{
    (void)state;
    bpe_t *bpe = load_gpt2();
    const char *bom[] = {"a", " \xef\xbb\xbf", " b"};
    expect_split(bpe, "a \xef\xbb\xbf b", bom, 3);
    const char *nel[] = {" ", "\xc2\x85", "b"};
    expect_split(bpe,
                 " \xc2\x85"
                 "b",
                 nel, 3);
    const char *nbsp[] = {"x", "\xc2\xa0", " y"};
    expect_split(bpe, "x\xc2\xa0 y", nbsp, 3);
    bpe_destroy(&bpe);
}

static void cache_overflow_keeps_answers(void **state)
{
    (void)state;
    bpe_t *bpe = load_gpt2();
    fp_error err = {0};
    tok_ids first = {0}, second = {0};
    char word[32];
    /* More distinct words than half the cache, twice: the second pass runs after a clear. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 20000; i++) {
            int n = snprintf(word, sizeof word, " w%xq", (unsigned)i * 2654435761u);
            assert_int_equal(bpe_encode(bpe, word, (size_t)n, false, pass ? &second : &first, &err),
                             FP_OK);
        }
    assert_int_equal(first.n, second.n);
    assert_memory_equal(first.ids, second.ids, first.n * sizeof *first.ids);
    tok_ids_free(&first);
    tok_ids_free(&second);
    bpe_destroy(&bpe);
}

/* decode(encode(x)) == x over the first 2,000 sentences of SST-2's training split. */
static void dataset_sentences_round_trip(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/datasets/sst-2/train.tsv", test_shared_dir());
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    bpe_t *bpe = load_gpt2();
    char line[4096];
    int n = 0;
    size_t tokens = 0;
    while (n < 2001 && fgets(line, sizeof line, f)) {
        if (n++ == 0)
            continue; /* header */
        char *tab = strchr(line, '\t');
        size_t len = tab ? (size_t)(tab - line) : strlen(line);
        tok_ids ids = {0};
        fp_error err = {0};
        assert_int_equal(bpe_encode(bpe, line, len, false, &ids, &err), FP_OK);
        tokens += ids.n;
        tok_ids_free(&ids);
        expect_round_trip(bpe, line, len, false);
    }
    fclose(f);
    assert_int_equal(n, 2001);
    assert_true(tokens > 2000 * 5);
    bpe_destroy(&bpe);
}

typedef struct bad_files {
    const char *why, *vocab, *merges, *must_name;
} bad_files;

static void malformed_files_are_refused(void **state)
{
    (void)state;
    /* A valid byte-level vocabulary to damage: the tiny fixture's text. */
    FILE *f = fopen("tests/data/tiny_bpe/vocab.json", "r");
    assert_non_null(f);
    char good[16384];
    size_t glen = fread(good, 1, sizeof good - 1, f);
    good[glen] = '\0';
    fclose(f);
    const bad_files BAD[] = {
        {"vocab not JSON", "{\"a\": ", "", "vocab.json"},
        {"vocab an array", "[1, 2]", "", "vocab.json"},
        {"vocab empty", "{}", "", "vocab.json"},
        {"negative id", "{\"a\": -1}", "", "'a'"},
        {"string id", "{\"a\": \"1\"}", "", "'a'"},
        {"huge id", "{\"a\": 99999999999}", "", "'a'"},
        {"shared id", "{\"a\": 0, \"b\": 0}", "", "id 0"},
        {"not byte-level", "{\"a\": 0, \"b\": 1}", "", "byte 0x00"},
        {"three parts", good, "#version: 0.2\nh e x\n", "merges.txt:2"},
        {"one part", good, "h e\nhe\n", "merges.txt:2"},
        {"double space", good, "h  e\n", "merges.txt:1"},
        {"unknown left", good, "#version: 0.2\nh e\nzz e\n", "merges.txt:3"},
        {"result not in vocab", good, "e h\n", "merges.txt:1: merge 'e h'"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        fp_error err = {0};
        bpe_t *bpe = bpe_new_from_memory(BAD[i].vocab, strlen(BAD[i].vocab), BAD[i].merges,
                                         strlen(BAD[i].merges), &err);
        if (bpe || err.status != FP_EFORMAT || !strstr(err.msg, BAD[i].must_name))
            fail_msg("case '%s': got %s \"%s\", want EFORMAT naming \"%s\"", BAD[i].why,
                     bpe ? "success" : fp_status_name(err.status), err.msg, BAD[i].must_name);
    }
    /* CRLF line ends and a missing "#version" line are fine. */
    fp_error err = {0};
    const char *crlf = "h e\r\nt h\r\n";
    bpe_t *bpe = bpe_new_from_memory(good, glen, crlf, strlen(crlf), &err);
    assert_non_null(bpe);
    int the[] = {4 + 't', 260};
    expect_ids(bpe, "the", false, the, 2);
    bpe_destroy(&bpe);
    assert_null(bpe_new("/nonexistent/vocab.json", "tests/data/tiny_bpe/merges.txt", &err));
    assert_int_equal(err.status, FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/vocab.json: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_ids_as_openai_encoder),
        cmocka_unit_test(gpt2_specials_and_appended_roberta_specials),
        cmocka_unit_test(roberta_layout_and_save),
        cmocka_unit_test(merges_apply_lowest_rank_first),
        cmocka_unit_test(invalid_utf8_and_odd_whitespace_round_trip),
        cmocka_unit_test(white_space_follows_the_python_original),
        cmocka_unit_test(cache_overflow_keeps_answers),
        cmocka_unit_test(dataset_sentences_round_trip),
        cmocka_unit_test(malformed_files_are_refused),
    };
    return cmocka_run_group_tests_name("bpe", tests, NULL, NULL);
}
