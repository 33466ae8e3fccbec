/* norm.c - STUB: replaced by the real kernels. */
#include "cpu.h"

iris_status iris_cpu_group_norm(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_group_norm: not yet implemented"); }
iris_status iris_cpu_layer_norm(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_layer_norm: not yet implemented"); }
iris_status iris_cpu_rms_norm(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_rms_norm: not yet implemented"); }
iris_status iris_cpu_softmax(void *state, const iris_op_call *c) { (void)state; (void)c; return iris_fail(IRIS_ERR_UNSUPPORTED, "iris_cpu_softmax: not yet implemented"); }
