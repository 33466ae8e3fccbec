/* rope.c - STUB: replaced by the real kernels. */
#include "cpu.h"

iris_status iris_cpu_rope(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_rope: not yet implemented"); }
