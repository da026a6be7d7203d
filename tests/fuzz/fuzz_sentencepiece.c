/* fuzz_sentencepiece.c — libFuzzer target for the SentencePiece unigram tokenizer. The first byte
 * picks the mode: even → the rest is text, encoded with USE-lite's vocabulary
 * (.cache/use-lite/package/dist/vocab.json, or $FEDPEP_CACHE; the tiny test vocabulary when the
 * cache is absent; run from the repository root; bit 1 of that byte drops the leading "▁"): ids
 * must lie in the vocabulary, no two unknowns may be adjacent, decoding must succeed; odd → the rest is a vocab.json, which must load or fail
 * with a reason, and a loaded one must encode a fixed text inside its own vocabulary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/sentencepiece.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The one tokenizer of this fuzzing process: loading the vocabulary per input would be slow. */
static sp_t *g_sp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *cache = getenv("FEDPEP_CACHE");
    char path[512];
    snprintf(path, sizeof path, "%s/use-lite/package/dist/vocab.json",
             cache && *cache ? cache : ".cache");
    fp_error err = {0};
    g_sp = sp_new(path, &err);
    if (!g_sp)
        g_sp = sp_new("tests/data/sp_tiny_vocab.json", &err);
    if (!g_sp || sp_add_specials(g_sp, SP_ADDED_SPECIALS, 2, &err)) {
        fprintf(stderr, "fuzz_sentencepiece: %s\n", err.msg);
        exit(1);
    }
    return 0;
}

static void check_encode(const sp_t *sp, const char *text, size_t len, bool prefix)
{
    tok_ids ids = {0};
    fp_error err = {0};
    if (sp_encode_ex(sp, text, len, prefix, &ids, &err))
        abort(); /* only out of memory may fail */
    for (size_t i = 0; i < ids.n; i++) {
        if (ids.ids[i] < 0 || ids.ids[i] >= sp_piece_count(sp))
            abort(); /* added specials are never produced */
        if (i && ids.ids[i] == SP_UNK_ID && ids.ids[i - 1] == SP_UNK_ID)
            abort();
        if (ids.ids[i] > SP_UNK_ID && ids.ids[i] < SP_RESERVED)
            abort(); /* reserved ids are never matched */
    }
    if (len > 0 && ids.n == 0)
        abort(); /* NFKC never empties a text, so at least the leading ▁ is there */
    char *back;
    size_t blen;
    if (sp_decode(sp, ids.ids, ids.n, &back, &blen, &err) || strlen(back) > blen)
        abort();
    free(back);
    tok_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        check_encode(g_sp, rest, n, (data[0] & 2) == 0); /* bit 1 drops the leading ▁ */
        return 0;
    }
    fp_error err = {0};
    sp_t *sp = sp_new_from_memory(rest, n, "fuzz.json", &err);
    if (!sp) {
        if (err.status == FP_OK || err.msg[0] == '\0')
            abort(); /* a failure must say why */
        return 0;
    }
    static const char text[] = "the movie: a \xf0\x9f\x98\x80 caf\xc3\xa9  ok";
    check_encode(sp, text, sizeof text - 1, true);
    sp_destroy(&sp);
    return 0;
}
