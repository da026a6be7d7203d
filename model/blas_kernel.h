/* blas_kernel.h — makes OpenBLAS use the kernels this CPU can run fastest.
 *
 * Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) does not know AMD Zen 4 and runs it with its AVX2
 * "Haswell" kernels, although the CPU has AVX-512: measured here (AMD EPYC, one thread) sgemm at
 * 101 GFLOP/s against 180–197 with the SkylakeX/Cooperlake kernels that OpenBLAS 0.3.22+ picks
 * for Zen 4, and fedpep's distillation step 1.64× faster. OpenBLAS reads its choice
 * (OPENBLAS_CORETYPE) once, while the library loads, before any code of ours runs; so when that
 * variable is unset, the detected core is Haswell or Zen and the CPU has AVX-512 F/BW/VL/DQ,
 * blas_use_native_kernel sets it (COOPERLAKE when the CPU also has AVX-512 BF16, else SKYLAKEX)
 * and executes the program again, once, with the same arguments. A user's own
 * OPENBLAS_CORETYPE is always kept; FEDPEP_BLAS_NATIVE=0 turns the choice off.
 *
 * Every fedpep process calls it first (cli/main.c, the test and bench programs), so processes
 * that compare results bit for bit use the same kernels. The kernels round differently, so a
 * result is exact for a given CPU type, kernel and thread count. */
#ifndef FEDPEP_MODEL_BLAS_KERNEL_H
#define FEDPEP_MODEL_BLAS_KERNEL_H

/* Re-executes /proc/self/exe with argv under the better kernel, or returns (nothing to change,
 * turned off, or the exec failed: the detected kernel is correct, only slower). */
void blas_use_native_kernel(char **argv);

/* The kernel family OpenBLAS runs ("Cooperlake", "Haswell", ...). */
const char *blas_kernel_name(void);

#endif
