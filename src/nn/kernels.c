/* kernels.c - the matrix product every layer is built on: OpenBLAS's sgemm and a
 * plain triple loop that the tests hold it to.
 * Leaves out: batched and strided-batched products (callers loop), half precision, and
 * any threading of its own (nn.h explains who owns the threads).
 * Equation: c = alpha * op(a) @ op(b) + beta * c, the BLAS xGEMM definition. */
#include "fedrec/nn.h"

#include <cblas.h>
#include <omp.h>

/* Debian's OpenMP build of OpenBLAS sets the process's OpenMP thread count along with
 * its own; the caller's count is put back so only sgemm is single-threaded. */
void fr_blas_threads(int threads) {
    const int n = threads > 0 ? threads : omp_get_max_threads();
    openblas_set_num_threads(1);  /* a non-OpenMP OpenBLAS: one thread always */
    omp_set_num_threads(n);       /* the OpenMP build follows this outside parallel regions */
}

/* c[m x n] = beta * c, with beta = 0 writing zeros whatever c held (even NaN). */
static void scale_c(float *c, int ldc, int m, int n, float beta) {
    for (int i = 0; i < m; i++) {
        float *row = c + (int64_t)i * ldc;
        for (int j = 0; j < n; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
}

void fr_matmul(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int m, int n,
               int k, int trans_a, int trans_b, float alpha, float beta) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { /* an empty sum; sgemm would reject lda = 0 */
        scale_c(c, ldc, m, n, beta);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
}

/* op(a)[i][p] and op(b)[p][j] read through the transposes and leading dimensions. */
static float at_a(const float *a, int lda, int trans_a, int i, int p) {
    return trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
}
static float at_b(const float *b, int ldb, int trans_b, int p, int j) {
    return trans_b ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j];
}

void fr_matmul_ref(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int m,
                   int n, int k, int trans_a, int trans_b, float alpha, float beta) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++)
                s += (double)at_a(a, lda, trans_a, i, p) * at_b(b, ldb, trans_b, p, j);
            float *cij = &c[(int64_t)i * ldc + j];
            double old = beta == 0.0f ? 0.0 : (double)beta * *cij;
            *cij = (float)((double)alpha * s + old);
        }
}
