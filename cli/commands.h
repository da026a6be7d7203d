/* commands.h — entry points of the fedpep sub-commands; each returns the process exit code
 * (0 success, 1 failure, 2 bad usage). */
#ifndef FEDPEP_CLI_COMMANDS_H
#define FEDPEP_CLI_COMMANDS_H

int cmd_version(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_tune(int argc, char **argv);
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

/* The cached GPT-2 tokenizer pair ($FEDPEP_CACHE or .cache, /gpt2/{vocab.json,merges.txt}) for
 * model folders that carry none. */
#include <stddef.h>
void cli_fallback_tokenizer(char *vocab, char *merges, size_t n);

/* Loads path (NULL: defaults only) and the section.key=value overrides into cfg; on failure
 * prints "fedpep CMD: reason" and returns 2 (bad usage), else 0. */
struct fedpep_config;
int cli_load_config(const char *cmd, const char *path, const char *const *over, size_t n_over,
                    struct fedpep_config *cfg);

#endif
