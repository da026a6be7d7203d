/* cmd_init_model.c — `fedpep init-model DIR [--layers L] [--d D] [--heads H] [--ff F]
 * [--positions P] | --like MODEL] [--std X] [--seed S]`: writes an untrained, randomly
 * initialised model (train/init_model.h): a RoBERTa-style placeholder so the system can run
 * before a pretrained model is installed, or a never-trained twin of MODEL (same config,
 * tokenizer files and heads) as the "no pretraining" baseline. Never writes over a folder's
 * files it did not write. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "train/init_model.h"

static int usage(FILE *out, int code)
{
    fprintf(out, "usage: fedpep init-model DIR [--layers L] [--d D] [--heads H] [--ff F]\n"
                 "                         [--positions P] [--std X] [--seed S]\n"
                 "       fedpep init-model DIR --like MODEL [--std X] [--seed S]\n"
                 "  writes an UNTRAINED RoBERTa-style model with random weights (default 4\n"
                 "  layers, width 256, 4 heads, MLP 4 D, 130 positions, std 0.02, seed 42) and\n"
                 "  GPT-2's tokenizer in RoBERTa's layout (from $FEDPEP_CACHE or .cache /gpt2)\n"
                 "  into DIR: a placeholder to run the system end to end, not a model to learn\n"
                 "  with. --like MODEL instead copies MODEL's config.json and tokenizer files\n"
                 "  and draws fresh weights of its shape: the never-trained baseline of MODEL.\n"
                 "  Refuses a DIR holding files it did not write.\n");
    return code;
}

static int bad_value(const char *arg)
{
    fprintf(stderr, "fedpep init-model: bad value '%s'\n", arg);
    return usage(stderr, 2);
}

int cmd_init_model(int argc, char **argv)
{
    init_model_options o;
    init_model_defaults(&o);
    const char *dir = NULL, *like = NULL, *shape_flag = NULL;
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
            if (field)
                shape_flag = argv[i];
            char *end = NULL;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0 || (field && v > 1 << 20))
                return bad_value(argv[i]);
            if (field)
                *field = (int)v;
            else
                o.seed = (uint64_t)v;
        } else if (!strcmp(argv[i], "--std") && i + 1 < argc) {
            char *end = NULL;
            double v = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(v > 0) || !isfinite((float)v))
                return bad_value(argv[i]);
            o.std = (float)v;
        } else if (!strcmp(argv[i], "--like") && i + 1 < argc && !like) {
            like = argv[++i];
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "fedpep init-model: bad argument '%s'\n", argv[i]);
            return usage(stderr, 2);
        }
    }
    if (!dir)
        return usage(stderr, 2);
    if (like && shape_flag) {
        fprintf(stderr,
                "fedpep init-model: %s cannot be combined with --like (the shape is "
                "%s's)\n",
                shape_flag, like);
        return usage(stderr, 2);
    }
    char vocab[1024], merges[1024];
    cli_fallback_tokenizer(vocab, merges, sizeof vocab);
    o.vocab = vocab;
    o.merges = merges;
    fp_error err = {0};
    if (like ? init_model_write_like(dir, like, &o, &err) : init_model_write(dir, &o, &err)) {
        fprintf(stderr, "fedpep init-model: %s\n", err.msg);
        return 1;
    }
    if (like)
        printf("fedpep init-model: wrote %s: an UNTRAINED model shaped like %s (random weights, "
               "std %g, seed %llu)\n",
               dir, like, (double)o.std, (unsigned long long)o.seed);
    else
        printf("fedpep init-model: wrote %s: an UNTRAINED PLACEHOLDER (random weights, %d "
               "layers, width %d, seed %llu); results with it are at chance level\n",
               dir, o.layers, o.d_model, (unsigned long long)o.seed);
    return 0;
}
