/* llava_mlp.c - LLaVA's "mlp2x_gelu" projector (llama.cpp's projector type "mlp"): two linear layers
   with the exact (erf) GELU between them, as nn.GELU() in LLaVA and transformers. */
#include "llava_impl.h"

iris_tensor *iris_llava_mlp_project(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *features) {
    iris_tensor *h = iris_linear_act(ctx, features, v->mm0_w, v->mm0_b, IRIS_ACT_GELU, 0);
    return iris_linear(ctx, h, v->mm2_w, v->mm2_b);
}
