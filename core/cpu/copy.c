/* copy.c - STUB: replaced by the real kernels. */
#include "cpu.h"

iris_status iris_cpu_copy(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_copy: not yet implemented"); }
iris_status iris_cpu_concat(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_concat: not yet implemented"); }
iris_status iris_cpu_get_rows(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_get_rows: not yet implemented"); }
void iris_cpu_to_f32(iris_dtype t, const void *src, float *dst, int64_t n) { (void)t; (void)src; (void)dst; (void)n; }
