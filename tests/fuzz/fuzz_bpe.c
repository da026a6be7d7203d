/* fuzz_bpe.c — libFuzzer target for the BPE pre-tokeniser, merges and decoder on GPT-2's files
 * (.cache/gpt2, or $FEDPEP_CACHE/gpt2; run from the repository root). Any bytes must encode to
 * ids inside the vocabulary and decode back to exactly the same bytes; with special tokens on,
 * encoding must still never fail or leave the vocabulary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bpe.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The one tokenizer of this fuzzing process: loading GPT-2's files per input would be too slow. */
static bpe_t *g_bpe;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *cache = getenv("FEDPEP_CACHE");
    char v[512], m[512];
    snprintf(v, sizeof v, "%s/gpt2/vocab.json", cache && *cache ? cache : ".cache");
    snprintf(m, sizeof m, "%s/gpt2/merges.txt", cache && *cache ? cache : ".cache");
    fp_error err = {0};
    g_bpe = bpe_new_roberta(v, m, &err);
    if (!g_bpe) {
        fprintf(stderr, "fuzz_bpe: %s\n", err.msg);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fp_error err = {0};
    for (int specials = 0; specials < 2; specials++) {
        tok_ids ids = {0};
        if (bpe_encode(g_bpe, (const char *)data, size, specials, &ids, &err))
            abort();
        for (size_t i = 0; i < ids.n; i++)
            if (ids.ids[i] < 0 || ids.ids[i] >= bpe_vocab_size(g_bpe))
                abort();
        char *text;
        size_t len;
        if (bpe_decode(g_bpe, ids.ids, ids.n, &text, &len, &err))
            abort();
        /* Without specials the round trip is exact; with them "<mask>" eats the space before. */
        if (!specials && (len != size || memcmp(text, data, size) != 0))
            abort();
        free(text);
        tok_ids_free(&ids);
    }
    return 0;
}
