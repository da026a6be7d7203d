/* commands.h — entry points of the fedpep sub-commands; each returns the process exit code
 * (0 success, 1 failure, 2 bad usage). */
#ifndef FEDPEP_CLI_COMMANDS_H
#define FEDPEP_CLI_COMMANDS_H

int cmd_version(int argc, char **argv);

#endif
