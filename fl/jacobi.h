/* jacobi.h — eigenvalues and eigenvectors of a small symmetric matrix by the cyclic Jacobi
 * method (Golub & Van Loan §8.5). Used for the b×b cosine-similarity matrices of layer scoring
 * (b ≤ 8) and the m×m Lanczos tridiagonals of SLQ (m ≤ ~100): tiny, so accuracy and
 * robustness matter more than speed. Never allocates; never reads outside a[n·n]. */
#ifndef FEDPEP_FL_JACOBI_H
#define FEDPEP_FL_JACOBI_H

#include "common/status.h"

/* The sweep limit: cyclic Jacobi converges quadratically, 100 sweeps means something is wrong. */
#define FL_JACOBI_MAX_SWEEPS 100

/* Diagonalises the symmetric a[n][n] (row-major; overwritten) until the off-diagonal
 * Frobenius norm is at most 1e-14 · |A|_F. Writes the eigenvalues ascending into eigval[n] and,
 * if eigvec is not NULL, the matching unit eigenvectors as the COLUMNS of eigvec[n][n]
 * (A = Q Λ Qᵀ). sweeps (may be NULL) receives the sweeps used. FP_EINVAL if a is not
 * symmetric (|a_ij − a_ji| > 1e-12 · |A|_F) or not finite; FP_ENUMERIC if the sweep limit
 * passes without convergence. */
fp_status fl_jacobi_eigen(double *a, int n, double *eigval, double *eigvec, int *sweeps,
                          fp_error *err);

#endif
