/* common.c - the options every tool shares, and the context they describe. */
#include "cli.h"

const char *const iris_cli_device_names[] = {"auto", "cpu", "cuda", NULL};

iris_cli_common iris_cli_common_defaults(void) {
    return (iris_cli_common){.threads = 0, .device = IRIS_CLI_DEVICE_AUTO, .shard = {0, 1}, .decode_threads = 2};
}

iris_status iris_cli_ctx_create(iris_ctx **out, const iris_cli_common *c, const iris_ctx_params *base) {
    iris_ctx_params p = base ? *base : iris_ctx_default_params();
    p.n_threads = c->threads;
    if (c->verbose > 1) p.verbose = 1;
    if (c->device != IRIS_CLI_DEVICE_CPU) {
        p.device = IRIS_CUDA;
        iris_status st = iris_ctx_create(out, &p);
        if (st == IRIS_OK || c->device == IRIS_CLI_DEVICE_CUDA) return st;
        iris_cli_debug(1, "using the CPU: %s", iris_last_error());
        iris_clear_error();
    }
    p.device = IRIS_CPU;
    return iris_ctx_create(out, &p);
}
