/* cmd_config.c — `fedpep config [CONFIG] [section.key=value ...]` prints the effective
 * configuration (every option, as an INI file that loads back equal), so a user sees exactly
 * what a run would use; `fedpep config --doc` prints the option tables of README.md. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/config.h"

int cli_error(const char *who, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fedpep %s: error: ", who);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_load_config(const char *cmd, const char *path, const char *const *over, size_t n_over,
                    fedpep_config *cfg)
{
    fp_error err = {0};
    if (config_load(path, over, n_over, cfg, &err))
        return cli_error(cmd, FP_EXIT_USAGE, "%s", err.msg);
    return 0;
}

int cmd_config(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: fedpep config [CONFIG] [section.key=value ...]   the effective configuration\n"
               "       fedpep config --doc                               the options, as Markdown\n");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "--doc"))
        return config_doc_markdown(stdout) ? 1 : 0;

    /* An argument with '=' is an override; the first other one is the file. */
    const char *path = NULL;
    const char **over = calloc((size_t)argc, sizeof *over);
    if (!over) {
        fprintf(stderr, "fedpep config: out of memory\n");
        return 1;
    }
    size_t n_over = 0;
    for (int i = 1; i < argc; i++) {
        if (strchr(argv[i], '='))
            over[n_over++] = argv[i];
        else if (!path)
            path = argv[i];
        else {
            fprintf(stderr, "fedpep config: unexpected argument '%s'\n", argv[i]);
            free(over);
            return 2;
        }
    }
    fedpep_config cfg;
    int rc = cli_load_config("config", path, over, n_over, &cfg);
    free(over);
    return rc ? rc : (config_dump(&cfg, stdout) ? 1 : 0);
}
