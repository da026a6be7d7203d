/* cmd_init_model.c — `fedpep init-model DIR [--layers L] [--d D] [--heads H] [--ff F]
 * [--positions P] [--seed S]`: writes an untrained, randomly initialised RoBERTa-style model
 * (launch/init_model.h) so the system can run before a pretrained model is installed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "launch/init_model.h"

static int usage(FILE *out, int code)
{
    fprintf(out, "usage: fedpep init-model DIR [--layers L] [--d D] [--heads H] [--ff F]\n"
                 "                         [--positions P] [--seed S]\n"
                 "  writes an UNTRAINED RoBERTa-style model with random weights (default 4\n"
                 "  layers, width 256, 4 heads, MLP 4 D, 130 positions, seed 42) and GPT-2's\n"
                 "  tokenizer in RoBERTa's layout (from $FEDPEP_CACHE or .cache /gpt2) into DIR:\n"
                 "  a placeholder to run the system end to end, not a model to learn with.\n");
    return code;
}

int cmd_init_model(int argc, char **argv)
{
    init_model_options o;
    init_model_defaults(&o);
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout, 0);
        int *field = !strcmp(argv[i], "--layers")      ? &o.layers
                     : !strcmp(argv[i], "--d")         ? &o.d_model
                     : !strcmp(argv[i], "--heads")     ? &o.heads
                     : !strcmp(argv[i], "--ff")        ? &o.d_ff
                     : !strcmp(argv[i], "--positions") ? &o.max_positions
                                                       : NULL;
        bool is_seed = !strcmp(argv[i], "--seed");
        if ((field || is_seed) && i + 1 < argc) {
            char *end = NULL;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0 || (field && v > 1 << 20)) {
                fprintf(stderr, "fedpep init-model: bad value '%s'\n", argv[i]);
                return usage(stderr, 2);
            }
            if (field)
                *field = (int)v;
            else
                o.seed = (uint64_t)v;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "fedpep init-model: bad argument '%s'\n", argv[i]);
            return usage(stderr, 2);
        }
    }
    if (!dir)
        return usage(stderr, 2);
    char vocab[1024], merges[1024];
    cli_fallback_tokenizer(vocab, merges, sizeof vocab);
    o.vocab = vocab;
    o.merges = merges;
    fp_error err = {0};
    if (init_model_write(dir, &o, &err)) {
        fprintf(stderr, "fedpep init-model: %s\n", err.msg);
        return 1;
    }
    printf("fedpep init-model: wrote %s: an UNTRAINED PLACEHOLDER (random weights, %d layers, "
           "width %d, seed %llu); results with it are at chance level\n",
           dir, o.layers, o.d_model, (unsigned long long)o.seed);
    return 0;
}
