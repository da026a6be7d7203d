/* parallel.h — the model core's own threads: attention's per-head loop and the row-wise and
 * element-wise kernels run on OpenMP threads, as many as OpenBLAS uses (openblas_set_num_threads /
 * OPENBLAS_NUM_THREADS), so one setting governs sgemm, oneDNN (matmul_bf16.h) and these loops.
 *
 * Every split here gives each output element to exactly one thread, which computes it with the
 * same operations in the same order as one thread would: results are bit-identical whatever the
 * thread count (runs are reproducible and kill -9 recovery is byte-exact only because of that).
 * A sum over rows or examples is never split. Built without OpenMP, everything runs serially. */
#ifndef FEDPEP_MODEL_PARALLEL_H
#define FEDPEP_MODEL_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>

/* Below this many floats in a whole loop a second thread costs more to wake (a few µs) than it
 * saves: a 512 × 768 LayerNorm is ~390 000. */
#define PAR_MIN_FLOATS 32768

/* Threads for a loop of n independent items costing about `work` floats each: OpenBLAS's count,
 * but 1 when n · work < PAR_MIN_FLOATS, and never more than n. */
int par_threads(size_t n, size_t work);

/* The most threads worth providing buffers for: the machine's processors (1 without OpenMP). */
int par_max_threads(void);

/* The calling OpenMP thread's index in its team (0 outside a parallel region). */
int par_thread_num(void);

/* Around a parallel region whose threads call cblas_sgemm: OpenBLAS's pthread build ignores
 * OpenMP and would hand each thread's product to its own worker pool (both threads queueing on
 * it), so inside the region every sgemm must run on its caller's thread. begin sets OpenBLAS to
 * one thread and returns the count to give back to end; it changes nothing when that count is
 * already 1. */
int par_blas_serial_begin(void);
void par_blas_serial_end(int saved);

/* Whether OpenBLAS's kernels give every element of a product the same value whatever block of
 * rows or columns it is computed in — measured true for the SkylakeX and Cooperlake kernels (none
 * of 4.8 million elements differ over nine splits of the step's shapes), false for Haswell's
 * (1.8–46 thousand differ in each; OpenBLAS's own threads do not reproduce one thread there
 * either). Only then may a product
 * be split over threads without changing its result. */
bool par_blas_split_exact(void);

/* `PAR_FOR(n) for (...)`: the loop on n threads, iterations split in equal contiguous blocks. */
#ifdef _OPENMP
#define PAR_PRAGMA_(x) _Pragma(#x)
#define PAR_FOR(n) PAR_PRAGMA_(omp parallel for num_threads(n) schedule(static) if ((n) > 1))
#else
#define PAR_FOR(n)
#endif

#endif
