/* conv.c - STUB: replaced by the real kernels. */
#include "cpu.h"

iris_status iris_cpu_conv2d(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_conv2d: not yet implemented"); }
