/* linear.c - STUB: replaced by the real kernels. */
#include "cpu.h"

iris_status iris_cpu_linear(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_linear: not yet implemented"); }
iris_status iris_cpu_matmul(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_matmul: not yet implemented"); }
