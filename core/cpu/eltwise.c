/* eltwise.c - STUB: replaced by the real kernels. */
#include "cpu.h"

iris_status iris_cpu_unary(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_unary: not yet implemented"); }
iris_status iris_cpu_binary(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_binary: not yet implemented"); }
void iris_cpu_act(iris_act act, float alpha, float *x, int64_t n) { (void)act; (void)alpha; (void)x; (void)n; }
