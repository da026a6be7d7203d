/* jacobi.c — cyclic Jacobi eigen-solver for small symmetric matrices (see jacobi.h). */
#include "jacobi.h"

#include <math.h>

static double off_norm(const double *a, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                s += a[i * n + j] * a[i * n + j];
    return sqrt(s);
}

/* One rotation in the (p, q) plane that zeroes a_pq: A ← JᵀAJ, Q ← QJ. */
static void rotate(double *a, double *q, int n, int p, int r)
{
    double apq = a[p * n + r];
    double theta = (a[r * n + r] - a[p * n + p]) / (2.0 * apq);
    double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
    double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
    for (int k = 0; k < n; k++) { /* columns p and r */
        double akp = a[k * n + p], akr = a[k * n + r];
        a[k * n + p] = c * akp - s * akr;
        a[k * n + r] = s * akp + c * akr;
    }
    for (int k = 0; k < n; k++) { /* rows p and r */
        double apk = a[p * n + k], ark = a[r * n + k];
        a[p * n + k] = c * apk - s * ark;
        a[r * n + k] = s * apk + c * ark;
    }
    a[p * n + r] = a[r * n + p] = 0.0; /* exact zero, not round-off */
    if (q)
        for (int k = 0; k < n; k++) {
            double qkp = q[k * n + p], qkr = q[k * n + r];
            q[k * n + p] = c * qkp - s * qkr;
            q[k * n + r] = s * qkp + c * qkr;
        }
}

fp_status fl_jacobi_eigen(double *a, int n, double *eigval, double *eigvec, int *sweeps,
                          fp_error *err)
{
    if (n < 1)
        return fp_fail(err, FP_EINVAL, "jacobi: order %d < 1", n);
    double fro = 0.0;
    for (int i = 0; i < n * n; i++) {
        if (!isfinite(a[i]))
            return fp_fail(err, FP_EINVAL, "jacobi: entry %d is not finite", i);
        fro += a[i] * a[i];
    }
    fro = sqrt(fro);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (fabs(a[i * n + j] - a[j * n + i]) > 1e-12 * fro)
                return fp_fail(err, FP_EINVAL, "jacobi: matrix not symmetric at (%d, %d)", i, j);
    if (eigvec)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                eigvec[i * n + j] = i == j;
    int sweep = 0;
    while (off_norm(a, n) > 1e-14 * fro) {
        if (sweep == FL_JACOBI_MAX_SWEEPS)
            return fp_fail(err, FP_ENUMERIC, "jacobi: no convergence after %d sweeps", sweep);
        for (int p = 0; p < n - 1; p++)
            for (int r = p + 1; r < n; r++)
                if (a[p * n + r] != 0.0)
                    rotate(a, eigvec, n, p, r);
        sweep++;
    }
    for (int i = 0; i < n; i++)
        eigval[i] = a[i * n + i];
    /* Insertion sort ascending, carrying the eigenvector columns along. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && eigval[j - 1] > eigval[j]; j--) {
            double t = eigval[j];
            eigval[j] = eigval[j - 1];
            eigval[j - 1] = t;
            if (eigvec)
                for (int k = 0; k < n; k++) {
                    t = eigvec[k * n + j];
                    eigvec[k * n + j] = eigvec[k * n + j - 1];
                    eigvec[k * n + j - 1] = t;
                }
        }
    if (sweeps)
        *sweeps = sweep;
    return FP_OK;
}
