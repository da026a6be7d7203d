/* cmd_distill.c — `fedpep distill [OUT] [options]`: makes (or resumes) a deeper student model
 * by distilling the teacher (train/distill.h). Its defaults are the shipped recipe of
 * models/deep; SIGINT/SIGTERM checkpoint before exiting, so `make model-deep` can be stopped and
 * started again at will. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/status.h"
#include "train/distill.h"

static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int usage(FILE *out, int code)
{
    distill_options d;
    distill_defaults(&d);
    fprintf(out,
            "usage: fedpep distill [OUT] [--teacher DIR] [--datasets DIR|none] [--text FILE]...\n"
            "       [--layers L] [--d D] [--heads H] [--ff F] [--relu] [--train-embeddings]\n"
            "       [--batch B] [--max-len T] [--steps N] [--warmup N] [--lr X] [--lr-final F]\n"
            "       [--weight-decay X] [--w-tok X] [--w-pool X] [--w-rel X] [--seed S]\n"
            "       [--for SECONDS] [--checkpoint-every SECONDS] [--eval-every N] [--held N]\n"
            "  distils the teacher (default %s) into a student of L blocks of width D into OUT\n"
            "  (default %s), on the lines of the --text files (default the two files of\n"
            "  ../shared/corpus) and the tasks' training splits (never a dev or test line).\n"
            "  Resumes from OUT/distill/state.bin when it exists (the recipe must match);\n"
            "  --for stops after that much CPU time with a checkpoint, as SIGINT/SIGTERM do.\n"
            "  Defaults (the shipped recipe): %d blocks, width %d, %d heads, MLP %d, GELU,\n"
            "  frozen embeddings, batch %d, %d ids, %llu steps, warm-up %d, lr %g decaying to\n"
            "  %g of it, seed %llu. OPENBLAS_NUM_THREADS sets the threads (results are exact\n"
            "  for a given thread count).\n",
            d.teacher_dir, d.out_dir, d.layers, d.d_model, d.heads, d.d_ff, d.batch, d.max_len,
            (unsigned long long)d.steps, d.warmup, d.lr, d.lr_final, (unsigned long long)d.seed);
    return code;
}

static bool parse_number(const char *s, double *out)
{
    char *end = NULL;
    *out = strtod(s, &end);
    return end != s && !*end;
}

int cmd_distill(int argc, char **argv)
{
    distill_options o;
    distill_defaults(&o);
    bool own_text = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return usage(stdout, 0);
        if (a[0] != '-') {
            o.out_dir = a;
            continue;
        }
        if (!strcmp(a, "--relu")) {
            o.relu = true;
            continue;
        }
        if (!strcmp(a, "--train-embeddings")) {
            o.train_embeddings = true;
            continue;
        }
        if (i + 1 >= argc)
            return cli_error("distill", 2, "%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--teacher")) {
            o.teacher_dir = v;
            continue;
        }
        if (!strcmp(a, "--datasets")) {
            o.datasets_dir = strcmp(v, "none") ? v : NULL;
            continue;
        }
        if (!strcmp(a, "--text")) {
            if (!own_text)
                o.n_files = 0;
            own_text = true;
            if (o.n_files == DISTILL_MAX_FILES)
                return cli_error("distill", 2, "at most %d --text files", DISTILL_MAX_FILES);
            o.files[o.n_files++] = v;
            continue;
        }
        double x;
        if (!parse_number(v, &x) || !(x >= 0) || x > 1e15)
            return cli_error("distill", 2, "bad value '%s' for %s", v, a);
        int as_int = (int)x;
        bool whole = x == (double)as_int || !strcmp(a, "--steps") || !strcmp(a, "--seed");
        if (!strcmp(a, "--layers") && whole)
            o.layers = as_int;
        else if (!strcmp(a, "--d") && whole)
            o.d_model = as_int;
        else if (!strcmp(a, "--heads") && whole)
            o.heads = as_int;
        else if (!strcmp(a, "--ff") && whole)
            o.d_ff = as_int;
        else if (!strcmp(a, "--batch") && whole)
            o.batch = as_int;
        else if (!strcmp(a, "--max-len") && whole)
            o.max_len = as_int;
        else if (!strcmp(a, "--steps"))
            o.steps = (uint64_t)x;
        else if (!strcmp(a, "--warmup") && whole)
            o.warmup = as_int;
        else if (!strcmp(a, "--lr"))
            o.lr = x;
        else if (!strcmp(a, "--lr-final"))
            o.lr_final = x;
        else if (!strcmp(a, "--weight-decay"))
            o.weight_decay = x;
        else if (!strcmp(a, "--w-tok"))
            o.w.tok = (float)x;
        else if (!strcmp(a, "--w-pool"))
            o.w.pool = (float)x;
        else if (!strcmp(a, "--w-rel"))
            o.w.rel = (float)x;
        else if (!strcmp(a, "--seed"))
            o.seed = (uint64_t)x;
        else if (!strcmp(a, "--for"))
            o.for_seconds = x;
        else if (!strcmp(a, "--checkpoint-every"))
            o.checkpoint_every = x;
        else if (!strcmp(a, "--eval-every") && whole)
            o.eval_every = as_int;
        else if (!strcmp(a, "--held") && whole)
            o.held_max = as_int;
        else
            return cli_error("distill", 2, "unknown option or bad value: %s %s", a, v);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.stop = &g_stop;
    setvbuf(stdout, NULL, _IOLBF, 0);
    o.progress = progress_new(&(progress_options){.out = stderr,
                                                  .prefix = "distill: ",
                                                  .tty = PROGRESS_TTY_AUTO,
                                                  .unit = "steps",
                                                  .rate_unit = "steps/s"});
    distill_result res;
    fp_error err = {0};
    fp_status st = distill_run(&o, stdout, &res, &err);
    progress_destroy(&o.progress);
    if (st)
        return cli_error("distill", fp_exit_code_for_setup(st), "%s", err.msg);
    printf("distill: %s at step %llu: %.0f tokens seen, %.0f CPU-s in all",
           res.finished ? "finished" : "stopped", (unsigned long long)res.step, res.tokens,
           res.cpu_s);
    if (res.evaluated)
        printf("; held-out token MSE %.4f, pooled cosine %.4f", res.held.tok, res.held.pool_cos);
    printf("\n");
    return 0;
}
