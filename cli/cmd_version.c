/* cmd_version.c — `fedpep version`. */
#include <stdio.h>

#include "cli/commands.h"
#include "common/version.h"
#include "model/blas_kernel.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("fedpep %s\n", FEDPEP_VERSION);
    printf("blas: OpenBLAS, %s kernels\n", blas_kernel_name());
    return 0;
}
