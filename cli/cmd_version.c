/* cmd_version.c — `fedpep version`. */
#include <stdio.h>

#include "cli/commands.h"
#include "common/version.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("fedpep %s\n", FEDPEP_VERSION);
    return 0;
}
