/* run_setup.c — the set-up `fedpep simulate` and `fedpep tune` share before they train: the
 * configuration with its overrides, the cached GPT-2 tokenizer pair for model folders that carry
 * none, and the progress line. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/progress.h"

void cli_fallback_tokenizer(char *vocab, char *merges, size_t n)
{
    const char *cache = getenv("FEDPEP_CACHE");
    if (!cache || !*cache)
        cache = ".cache";
    snprintf(vocab, n, "%s/gpt2/vocab.json", cache);
    snprintf(merges, n, "%s/gpt2/merges.txt", cache);
}

int cli_run_setup_open(cli_run_setup *s, const char *cmd, const char *path, const char *const *over,
                       size_t n_over, fedpep_config *cfg)
{
    s->progress = NULL;
    int rc = cli_load_config(cmd, path, over, n_over, cfg);
    if (rc)
        return rc;
    cli_fallback_tokenizer(s->vocab, s->merges, sizeof s->vocab);
    snprintf(s->prefix, sizeof s->prefix, "%s: ", cmd);
    s->progress = progress_new(
        &(progress_options){.out = stderr, .prefix = s->prefix, .tty = PROGRESS_TTY_AUTO});
    return 0;
}

void cli_run_setup_close(cli_run_setup *s)
{
    progress_destroy(&s->progress);
}
