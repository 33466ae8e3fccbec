/* gemm.c - STUB: replaced by the real kernel. */
#include "cpu.h"
void iris_cpu_sgemm(iris_cpu *cpu, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    (void)cpu; (void)trans_b; (void)M; (void)N; (void)K; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
}
