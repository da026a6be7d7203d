/* commands.h — entry points of the fedpep sub-commands; each returns the process exit code:
 * FP_EXIT_OK (0), FP_EXIT_FAILURE (1), FP_EXIT_USAGE (2: bad command line, or a configuration
 * that is missing or invalid), FP_EXIT_INPUT (78: a model, dataset or database it was pointed at
 * is unusable; `fedpep launch` does not restart it). See common/status.h. */
#ifndef FEDPEP_CLI_COMMANDS_H
#define FEDPEP_CLI_COMMANDS_H

int cmd_version(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_broker(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_coordinator(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_evaluator(int argc, char **argv);
int cmd_launch(int argc, char **argv);
int cmd_init_model(int argc, char **argv);
int cmd_import_use_lite(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

/* The cached GPT-2 tokenizer pair ($FEDPEP_CACHE or .cache, /gpt2/{vocab.json,merges.txt}) for
 * model folders that carry none. */
#include <stddef.h>
void cli_fallback_tokenizer(char *vocab, char *merges, size_t n);

/* Prints "fedpep WHO: error: MESSAGE" on stderr — the one line a command prints with its cause
 * when it fails, which `fedpep launch` shows for a process it supervises — and returns code. */
int cli_error(const char *who, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Loads path (NULL: defaults only) and the section.key=value overrides into cfg; on failure
 * prints "fedpep CMD: error: reason" and returns FP_EXIT_USAGE (2), else 0. */
struct fedpep_config;
int cli_load_config(const char *cmd, const char *path, const char *const *over, size_t n_over,
                    struct fedpep_config *cfg);

/* What `fedpep simulate` and `fedpep tune` need before they train (cli/run_setup.c): the loaded
 * configuration, the fallback tokenizer pair and a progress line "CMD: ..." on stderr (live on a
 * terminal, every 10 s into a file). */
struct progress;
typedef struct cli_run_setup {
    char vocab[4200], merges[4200];
    char prefix[32]; /* the progress line's, "CMD: " */
    struct progress *progress;
} cli_run_setup;

/* cli_load_config into cfg (the caller's), then the tokenizer pair and the progress line; returns
 * 0, or the exit code after printing the cause. cli_run_setup_close frees the progress line. */
int cli_run_setup_open(cli_run_setup *s, const char *cmd, const char *path, const char *const *over,
                       size_t n_over, struct fedpep_config *cfg);
void cli_run_setup_close(cli_run_setup *s);

#endif
