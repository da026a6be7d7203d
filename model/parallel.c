/* parallel.c — thread counts of the model core's own loops; see parallel.h. */
#include "parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <string.h>

#include <cblas.h>

#include "model/blas_kernel.h"

int par_threads(size_t n, size_t work)
{
    int t = openblas_get_num_threads();
    if (t < 1 || n * work < PAR_MIN_FLOATS)
        return 1;
    return (size_t)t > n ? (int)n : t;
}

int par_max_threads(void)
{
#ifdef _OPENMP
    const int n = omp_get_num_procs();
    return n > 1 ? n : 1;
#else
    return 1;
#endif
}

int par_thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int par_blas_serial_begin(void)
{
    const int saved = openblas_get_num_threads();
    if (saved > 1)
        openblas_set_num_threads(1);
    return saved;
}

void par_blas_serial_end(int saved)
{
    if (saved > 1)
        openblas_set_num_threads(saved);
}

bool par_blas_split_exact(void)
{
    const char *k = blas_kernel_name();
    return !strcmp(k, "SkylakeX") || !strcmp(k, "Cooperlake");
}
