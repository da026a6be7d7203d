/* cmd_tune.c — `fedpep tune CONFIG [section.key=value ...] [--layers 0,1,2 | --fraction F]
 * [--epochs N] [--time SECONDS]`: centralised deep prompt tuning (train/tune.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/config.h"
#include "train/tune.h"

static void tune_usage(FILE *out)
{
    fprintf(out, "usage: fedpep tune CONFIG [section.key=value ...] [options]\n"
                 "  centralised deep prompt tuning of model.path on data.task's training split,\n"
                 "  evaluated on the eval split after every epoch.\n"
                 "  --layers 0,1,2   tune exactly these layers' prefixes (others get none);\n"
                 "                   none: no prompt, the linear head alone (a probe)\n"
                 "  --fraction F     tune the top ceil(F * L) layers (default: all layers)\n"
                 "  --select RHO     FedPepTAO's layer selection, made centrally: the scores of\n"
                 "                   §2 at the initial prompt on 8 batches of score_batch\n"
                 "                   training examples; tunes the K = round(RHO * L) best\n"
                 "  --select-lowest RHO  the K layers of lowest score instead (a control)\n"
                 "  --epochs N       epochs (default client.local_epochs)\n"
                 "  --time SECONDS   training time budget; evaluates once it is spent\n"
                 "  --describe-head  (model.head = linear) start the head from the label\n"
                 "                   descriptions and evaluate it before training (epoch 0)\n"
                 "  --zero-shot      only that: the label-description zero-shot metric\n");
}

static int parse_layers(const char *s, train_tune_options *o)
{
    o->n_layers = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v >= TRAIN_MAX_LAYERS || o->n_layers == TRAIN_MAX_LAYERS)
            return -1;
        o->layers[o->n_layers++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return o->n_layers ? 0 : -1;
}

int cmd_tune(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        tune_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    train_tune_options o = {0};
    const char **over = calloc((size_t)argc, sizeof *over);
    size_t n_over = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has_arg = i + 1 < argc;
        if (!strcmp(a, "--layers") && has_arg && !strcmp(argv[i + 1], "none")) {
            o.no_prompt = true;
            i++;
        } else if (!strcmp(a, "--layers") && has_arg) {
            if (parse_layers(argv[++i], &o)) {
                fprintf(stderr, "fedpep tune: bad --layers '%s'\n", argv[i]);
                free(over);
                return 2;
            }
        } else if (!strcmp(a, "--fraction") && has_arg)
            o.layer_fraction = atof(argv[++i]);
        else if ((!strcmp(a, "--select") || !strcmp(a, "--select-lowest")) && has_arg) {
            o.select_lowest = !strcmp(a, "--select-lowest");
            o.select_rho = atof(argv[++i]);
            if (!(o.select_rho > 0 && o.select_rho <= 1)) {
                fprintf(stderr, "fedpep tune: %s needs a fraction in (0, 1], not '%s'\n", a,
                        argv[i]);
                free(over);
                return 2;
            }
        } else if (!strcmp(a, "--epochs") && has_arg)
            o.epochs = atoi(argv[++i]);
        else if (!strcmp(a, "--time") && has_arg)
            o.time_budget_s = atof(argv[++i]);
        else if (!strcmp(a, "--describe-head"))
            o.describe_head = true;
        else if (!strcmp(a, "--zero-shot"))
            o.describe_head = o.zero_shot_only = true;
        else if (!strncmp(a, "--", 2)) {
            fprintf(stderr, "fedpep tune: unknown option '%s'\n", a);
            tune_usage(stderr);
            free(over);
            return 2;
        } else
            over[n_over++] = a;
    }
    fedpep_config cfg;
    cli_run_setup run;
    int rc = cli_run_setup_open(&run, "tune", argv[1], over, n_over, &cfg);
    free(over);
    if (rc)
        return rc;
    fp_error err = {0};
    o.fallback_vocab = run.vocab;
    o.fallback_merges = run.merges;
    o.progress = run.progress;
    train_tune_result res;
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line per epoch as it ends, also into a pipe */
    fp_status st = train_tune(&cfg, &o, stdout, &res, &err);
    cli_run_setup_close(&run);
    if (st) {
        fprintf(stderr, "fedpep tune: %s\n", err.msg);
        return 1;
    }
    printf("best %.4f  last %.4f  after %d epochs (%lld steps)\n", res.best_metric, res.last_metric,
           res.epochs, (long long)res.steps);
    return 0;
}
