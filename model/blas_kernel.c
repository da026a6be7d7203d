/* blas_kernel.c — see blas_kernel.h. */
#include "model/blas_kernel.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

/* The kernel a CPU with these features should run, or NULL to keep OpenBLAS's own choice. */
static const char *better_kernel(const char *detected)
{
    if (!detected || (strcasecmp(detected, "haswell") && strcasecmp(detected, "zen")))
        return NULL;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq"))
        return NULL;
    return __builtin_cpu_supports("avx512bf16") ? "COOPERLAKE" : "SKYLAKEX";
}

void blas_use_native_kernel(char **argv)
{
    const char *off = getenv("FEDPEP_BLAS_NATIVE");
    if (!argv || !argv[0] || getenv("OPENBLAS_CORETYPE") || (off && !strcmp(off, "0")))
        return;
    const char *pick = better_kernel(openblas_get_corename());
    if (!pick || setenv("OPENBLAS_CORETYPE", pick, 1))
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* not re-executed: say nothing that is not so */
}

const char *blas_kernel_name(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}
