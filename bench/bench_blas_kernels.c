/* bench_blas_kernels.c — the figures of docs/benchmarks.md "OpenBLAS's kernels on AMD Zen 4":
 * sgemm GFLOP/s of the kernels OpenBLAS runs (best of 20, one 1536×256 · 256×1024 product, CPU
 * time) and the worst relative error of cblas_sgemm against a double-precision reference over
 * fedpep's product shapes (M 1–4096, K and N 64–8002, all four transpositions, α = 1, β = 0.5).
 * Run it once per kernel choice, side by side:
 *   OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell    build/release/bench/bench_blas_kernels
 *   OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=COOPERLAKE build/release/bench/bench_blas_kernels
 * Never part of `make test`; exits 1 if an entry's error exceeds 1e-5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/blas_kernel.h"

#include <cblas.h>

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double throughput(void)
{
    const int M = 1536, K = 256, N = 1024;
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N),
          *c = malloc(sizeof(float) * M * N);
    for (long i = 0; i < (long)M * K; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (long i = 0; i < (long)K * N; i++)
        b[i] = (float)(i % 5) * 0.1f;
    double best = 1e9;
    for (int r = 0; r < 20; r++) {
        double t = cpu_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
        t = cpu_s() - t;
        best = t < best ? t : best;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * M * N * K / best / 1e9;
}

/* worst |c − reference| / Σ|a·b| over sampled entries of every shape and transposition */
static double worst_error(void)
{
    static const int Ms[] = {1, 7, 64, 511, 1024, 2048, 4096}, Ks[] = {256, 512, 1024, 1536, 64},
                     Ns[] = {256, 512, 1024, 1536, 64, 8002};
    double worst = 0;
    srand(1);
    for (int im = 0; im < 7; im++)
        for (int ik = 0; ik < 5; ik++)
            for (int in = 0; in < 6; in++)
                for (int t = 0; t < 4; t++) {
                    const int M = Ms[im], K = Ks[ik], N = Ns[in], ta = t & 1, tb = t >> 1;
                    if ((long)M * N * K > 600000000L)
                        continue;
                    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N),
                          *c = malloc(sizeof(float) * M * N);
                    for (long i = 0; i < (long)M * K; i++)
                        a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
                    for (long i = 0; i < (long)K * N; i++)
                        b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
                    for (long i = 0; i < (long)M * N; i++)
                        c[i] = 0.25f;
                    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                                tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, a, ta ? M : K, b,
                                tb ? K : N, 0.5f, c, N);
                    for (int s = 0; s < 50; s++) {
                        int i = rand() % M, j = rand() % N;
                        double ref = 0.125, mag = 0;
                        for (int k = 0; k < K; k++) {
                            double x = ta ? a[(long)k * M + i] : a[(long)i * K + k];
                            double y = tb ? b[(long)j * K + k] : b[(long)k * N + j];
                            ref += x * y;
                            mag += fabs(x * y);
                        }
                        double e = fabs(c[(long)i * N + j] - ref) / (mag + 1e-30);
                        worst = e > worst ? e : worst;
                    }
                    free(a);
                    free(b);
                    free(c);
                }
    return worst;
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_use_native_kernel(argv);
    double gflops = throughput(), err = worst_error();
    printf("%s kernels: sgemm 1536x256 * 256x1024 %.1f GFLOP/s (best of 20, CPU time); "
           "worst relative error over fedpep's shapes %.2g\n",
           blas_kernel_name(), gflops, err);
    return err > 1e-5;
}
