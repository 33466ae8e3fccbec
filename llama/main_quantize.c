/* main_quantize.c - bin/quantize: rewrite an F32/F16 GGUF model with quantized weights
   (the rules are in llama/quantize.h). Exit codes: 0 ok, 1 failure while converting or
   writing, 2 usage. */
#include <string.h>

#include "../cli/cli.h"
#include "../core/iris.h"
#include "quantize.h"

static iris_cli_common c;
static const char *in_path, *out_path, *type_name;

static const iris_cli_opt opts[] = {IRIS_CLI_COMMON_OPTS(&c), IRIS_OPT_END};
static const iris_cli_opt args[] = {
    IRIS_ARG_STRING("IN", &in_path, "F32/F16 GGUF model"),
    IRIS_ARG_STRING("OUT", &out_path, "quantized GGUF to write (replaced atomically)"),
    IRIS_ARG_STRING("TYPE", &type_name, "q4_0, q8_0 or q4_k"),
    IRIS_OPT_END};
static const iris_cli_spec spec = {
    "quantize", "Rewrite an F32/F16 GGUF model with Q4_0, Q8_0 or Q4_K weights (llama-quantize's type choices).",
    .opts = opts, .args = args, .epilog = "examples:\n  quantize model-f16.gguf model-q4_0.gguf q4_0\n"};

int main(int argc, char **argv) {
    c = iris_cli_common_defaults();
    int rc = iris_cli_start(&spec, argc, argv);
    if (rc >= 0) return rc;
    iris_cli_set_verbosity(c.quiet, c.verbose);
    iris_dtype want;
    if (!strcmp(type_name, "q4_0")) want = IRIS_Q4_0;
    else if (!strcmp(type_name, "q8_0")) want = IRIS_Q8_0;
    else if (!strcmp(type_name, "q4_k")) want = IRIS_Q4_K;
    else return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "unknown type '%s' (q4_0, q8_0, q4_k)", type_name);
    int n_threads = c.threads;
    if (n_threads <= 0) {
        iris_ctx *tmp;
        n_threads = 1;
        if (iris_ctx_create(&tmp, NULL) == IRIS_OK) n_threads = iris_ctx_threads(tmp), iris_ctx_free(tmp);
    }
    iris_quantize_stats st;
    if (iris_llama_quantize(in_path, out_path, want, n_threads, &st)) return iris_cli_fatal(1, "%s", iris_last_error());
    iris_cli_info("%s: %d tensors as %s, %d kept or fell back; %.1f MiB -> %.1f MiB", out_path, st.n_quantized,
                  iris_dtype_name(want), st.n_other, st.in_bytes / 1048576.0, st.out_bytes / 1048576.0);
    return 0;
}
