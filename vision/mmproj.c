/* mmproj.c - loads a LLaVA vision projector GGUF in llama.cpp's layout (`clip.*` metadata, `v.*` and
   `mm.*` tensors), and MiniGPT-v2's in the same layout (projector type "minigptv2": an EVA tower, no
   v.pre_ln, v.ln_vision after the tower, mm.proj over four tokens; docs/CAPTION.md). Every size comes
   from a hostile file: each is range-checked, every tensor's shape is checked against the metadata,
   and every failure is one line naming the file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llava_impl.h"

iris_llava_vision_params iris_llava_vision_default_params(void) {
    iris_llava_vision_params p = {IRIS_CPU};
    return p;
}

const iris_llava_vision_info *iris_llava_vision_get_info(const iris_llava_vision *v) { return v ? &v->info : NULL; }

void iris_llava_vision_free(iris_llava_vision *v) {
    if (!v) return;
    for (int i = 0; i < v->n_owned; i++) iris_tensor_free(v->owned[i]);
    free(v->owned);
    free(v->newline);
    iris_clip_tower_free(&v->tower);
    iris_gguf_close(&v->gguf);
    free(v);
}

static const char *path_of(const iris_llava_vision *v) { return v->gguf.map.path; }

static iris_status own(iris_llava_vision *v, iris_tensor *t) {
    if (v->n_owned == v->cap_owned) {
        int cap = v->cap_owned ? 2 * v->cap_owned : 64;
        iris_tensor **o = realloc(v->owned, (size_t)cap * sizeof *o);
        if (!o) {
            iris_tensor_free(t);
            return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path_of(v));
        }
        v->owned = o, v->cap_owned = cap;
    }
    v->owned[v->n_owned++] = t;
    return IRIS_OK;
}

/* Tensor `name` of iris-order shape; vectors in a float type, matrices also quantized. Placed on
   the model's device. */
static iris_status get(void *user, const char *name, int ndim, const int64_t *shape, iris_tensor **out) {
    iris_llava_vision *v = user;
    *out = NULL;
    if (!iris_gguf_find_tensor(&v->gguf, name))
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor %s missing", path_of(v), name);
    iris_tensor *t;
    iris_status st = iris_gguf_tensor_shaped(&v->gguf, name, ndim, shape, &t);
    if (st) return st;
    int is_float = t->dtype == IRIS_F32 || t->dtype == IRIS_F16 || t->dtype == IRIS_BF16;
    if (!is_float && (ndim < 2 || !iris_dtype_get(t->dtype)->is_quantized)) {
        iris_fail(IRIS_ERR_FORMAT, "%s: tensor %s has type %s", path_of(v), name, iris_dtype_name(t->dtype));
        iris_tensor_free(t);
        return IRIS_ERR_FORMAT;
    }
    if (v->device != IRIS_CPU) { /* uploaded once; the mapped header is dropped */
        iris_tensor *d = NULL;
        st = iris_tensor_to_device(&d, t, v->device);
        if (!st) memcpy(d->name, t->name, sizeof d->name);
        iris_tensor_free(t);
        if (st) return st;
        t = d;
    }
    if ((st = own(v, t))) return st;
    *out = t;
    return IRIS_OK;
}

static iris_status get_int(const iris_llava_vision *v, const char *key, int64_t lo, int64_t hi, int64_t def, int *out) {
    int64_t x;
    iris_status st = iris_gguf_get_i64(&v->gguf, key, &x);
    if (st == IRIS_ERR_NOT_FOUND) {
        if (def < 0) return iris_fail(IRIS_ERR_FORMAT, "%s: metadata %s missing", path_of(v), key);
        x = def;
    } else if (st) {
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s is not an integer", path_of(v), key);
    }
    if (x < lo || x > hi)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s = %lld is outside [%lld, %lld]", path_of(v), key, (long long)x,
                         (long long)lo, (long long)hi);
    *out = (int)x;
    return IRIS_OK;
}

static int get_flag(const iris_llava_vision *v, const char *key) {
    bool b = false;
    return iris_gguf_get_bool(&v->gguf, key, &b) == IRIS_OK && b;
}

/* image_mean / image_std: three finite numbers (std non-zero). */
static iris_status get_rgb(const iris_llava_vision *v, const char *key, float *out, int is_std) {
    const iris_gguf_value *a;
    if (iris_gguf_get_array(&v->gguf, key, IRIS_GGUF_ANY, &a) || a->n < 3 || iris_gguf_arr_str(a, 0, NULL) ||
        iris_gguf_arr_item(a, 0))
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s missing or not 3 numbers", path_of(v), key);
    for (int i = 0; i < 3; i++) {
        out[i] = iris_gguf_arr_f32(a, (uint64_t)i);
        if (!isfinite(out[i]) || (is_std && !(fabsf(out[i]) > 1e-12f)))
            return iris_fail(IRIS_ERR_FORMAT, "%s: %s[%d] = %g", path_of(v), key, i, (double)out[i]);
    }
    return IRIS_OK;
}

static iris_status load_projector_type(iris_llava_vision *v) {
    const char *type = NULL;
    if (iris_gguf_get_str(&v->gguf, "clip.projector_type", &type) &&
        iris_gguf_get_str(&v->gguf, "clip.vision.projector_type", &type)) {
        if (!get_flag(v, "clip.has_llava_projector"))
            return iris_fail(IRIS_ERR_FORMAT, "%s: no clip.projector_type (not a vision projector file?)", path_of(v));
        type = "mlp"; /* the oldest LLaVA files only say they have one */
    }
    if (!strcmp(type, "mlp")) v->kind = IRIS_PROJ_MLP;
    else if (!strcmp(type, "minigptv2")) v->kind = IRIS_PROJ_MINIGPTV2;
    else
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: projector type '%.64s' is not supported (mlp, minigptv2)",
                         path_of(v), type);
    snprintf(v->projector, sizeof v->projector, "%s", type);
    v->info.projector = v->projector;
    return IRIS_OK;
}

/* Blocks to run: the feature layer, counted as transformers' hidden_states index (0 = embeddings).
   Newer converters store it (unsigned); the legacy one stores no key and has already dropped the
   layers after the penultimate one, so every block in the file runs. */
static iris_status load_feature_layer(iris_llava_vision *v, int n_blocks) {
    const iris_gguf_value *a;
    if (iris_gguf_get_array(&v->gguf, "clip.vision.feature_layer", IRIS_GGUF_ANY, &a)) {
        if (iris_gguf_find_kv(&v->gguf, "clip.vision.feature_layer"))
            return iris_fail(IRIS_ERR_FORMAT, "%s: clip.vision.feature_layer is not an array", path_of(v));
        v->info.n_layers_run = n_blocks;
        return IRIS_OK;
    }
    if (a->n != 1 || iris_gguf_arr_str(a, 0, NULL) || iris_gguf_arr_item(a, 0))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: %llu feature layers (one is supported)", path_of(v),
                         (unsigned long long)a->n);
    int64_t f = iris_gguf_arr_i64(a, 0);
    if (f < 1 || f > n_blocks)
        return iris_fail(IRIS_ERR_FORMAT, "%s: feature layer %lld outside [1, %d blocks]", path_of(v), (long long)f,
                         n_blocks);
    v->info.n_layers_run = (int)f;
    return IRIS_OK;
}

/* LLaVA 1.6: (height, width) pairs, each a whole number of tiles. */
static iris_status load_pinpoints(iris_llava_vision *v) {
    const iris_gguf_value *a;
    if (iris_gguf_get_array(&v->gguf, "clip.vision.image_grid_pinpoints", IRIS_GGUF_ANY, &a)) return IRIS_OK;
    int S = v->info.image_size;
    if (a->n < 2 || a->n % 2 || a->n > 2 * IRIS_LLAVA_MAX_PINPOINTS || iris_gguf_arr_str(a, 0, NULL) ||
        iris_gguf_arr_item(a, 0))
        return iris_fail(IRIS_ERR_FORMAT, "%s: image_grid_pinpoints has %llu values (pairs, at most %d)", path_of(v),
                         (unsigned long long)a->n, IRIS_LLAVA_MAX_PINPOINTS);
    for (uint64_t i = 0; i < a->n; i++) {
        int64_t x = iris_gguf_arr_i64(a, i);
        if (x < S || x > 16 * S || x % S)
            return iris_fail(IRIS_ERR_FORMAT, "%s: grid pinpoint %lld is not 1..16 tiles of %d", path_of(v),
                             (long long)x, S);
        v->pinpoints[i / 2][i % 2] = (int)x;
    }
    const char *merge = NULL;
    if (!iris_gguf_get_str(&v->gguf, "clip.vision.mm_patch_merge_type", &merge) && strcmp(merge, "spatial_unpad"))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: patch merge '%.64s' with a grid is not supported (spatial_unpad)",
                         path_of(v), merge);
    v->info.anyres = 1;
    v->info.n_pinpoints = (int)(a->n / 2);
    v->info.pinpoints = (const int (*)[2])v->pinpoints;
    return IRIS_OK;
}

/* model.image_newline (llava_surgery_v2) or v.image_newline (newer converters), kept on the host. */
static iris_status load_newline(iris_llava_vision *v) {
    const char *name = iris_gguf_find_tensor(&v->gguf, "model.image_newline") ? "model.image_newline" : "v.image_newline";
    int64_t E = v->info.n_embd;
    if (!iris_gguf_find_tensor(&v->gguf, name))
        return iris_fail(IRIS_ERR_FORMAT, "%s: a grid model needs tensor model.image_newline", path_of(v));
    iris_tensor *t;
    iris_status st = iris_gguf_tensor_shaped(&v->gguf, name, 1, &E, &t);
    if (st) return st;
    if (!(v->newline = malloc((size_t)E * sizeof(float)))) st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path_of(v));
    for (int64_t i = 0; i < E && !st; i++) {
        if (t->dtype == IRIS_F32) v->newline[i] = ((const float *)t->data)[i];
        else if (t->dtype == IRIS_F16) v->newline[i] = iris_f16_to_f32(((const uint16_t *)t->data)[i]);
        else st = iris_fail(IRIS_ERR_FORMAT, "%s: %s has type %s", path_of(v), name, iris_dtype_name(t->dtype));
    }
    iris_tensor_free(t);
    return st;
}

/* mlp: mm.0 [H, D], GELU, mm.2 [E, H] */
static iris_status load_mlp(iris_llava_vision *v) {
    iris_gguf *g = &v->gguf;
    const int64_t D = v->info.width;
    const iris_gguf_tensor_info *m0 = iris_gguf_find_tensor(g, "mm.0.weight"), *m2 = iris_gguf_find_tensor(g, "mm.2.weight");
    if (!m0 || !m2 || m0->n_dims != 2 || m2->n_dims != 2)
        return iris_fail(IRIS_ERR_FORMAT, "%s: mlp projector needs 2-d tensors mm.0.weight and mm.2.weight", path_of(v));
    int64_t H = m0->ne[1], E = m2->ne[1];
    if (H < 1 || H > 1 << 18 || E < 1 || E > 1 << 18)
        return iris_fail(IRIS_ERR_FORMAT, "%s: projector widths %lld, %lld", path_of(v), (long long)H, (long long)E);
    v->info.n_embd = (int)E;
    v->info.n_tokens = v->info.n_patches;
    iris_status st;
    if ((st = get(v, "mm.0.weight", 2, (int64_t[]){H, D}, &v->mm0_w)) || (st = get(v, "mm.0.bias", 1, &H, &v->mm0_b)) ||
        (st = get(v, "mm.2.weight", 2, (int64_t[]){E, H}, &v->mm2_w)) || (st = get(v, "mm.2.bias", 1, &E, &v->mm2_b)))
        return st;
    return IRIS_OK;
}

/* minigptv2: v.ln_vision [D] (nn.LayerNorm's eps 1e-5 unless the file says), mm.proj [E, 4D] over
   four consecutive patch tokens; one tile, so no grid. */
static iris_status load_minigptv2(iris_llava_vision *v) {
    iris_gguf *g = &v->gguf;
    const int64_t D = v->info.width;
    if (v->info.anyres)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: a minigptv2 projector with an image grid is not supported", path_of(v));
    v->ln_vision_eps = 1e-5f;
    if (!iris_gguf_get_f32(g, "clip.minigptv2.ln_vision_epsilon", &v->ln_vision_eps) &&
        !(v->ln_vision_eps > 0 && v->ln_vision_eps < 1))
        return iris_fail(IRIS_ERR_FORMAT, "%s: ln_vision epsilon %g", path_of(v), (double)v->ln_vision_eps);
    const iris_gguf_tensor_info *p = iris_gguf_find_tensor(g, "mm.proj.weight");
    if (!p || p->n_dims != 2)
        return iris_fail(IRIS_ERR_FORMAT, "%s: minigptv2 projector needs a 2-d tensor mm.proj.weight", path_of(v));
    int64_t E = p->ne[1];
    if (E < 1 || E > 1 << 18) return iris_fail(IRIS_ERR_FORMAT, "%s: projector width %lld", path_of(v), (long long)E);
    v->info.n_embd = (int)E;
    v->info.n_tokens = v->info.n_patches / 4;
    iris_status st;
    if ((st = get(v, "v.ln_vision.weight", 1, &D, &v->ln_vision_w)) || (st = get(v, "v.ln_vision.bias", 1, &D, &v->ln_vision_b)) ||
        (st = get(v, "mm.proj.weight", 2, (int64_t[]){E, 4 * D}, &v->proj_w)) || (st = get(v, "mm.proj.bias", 1, &E, &v->proj_b)))
        return st;
    return IRIS_OK;
}

static iris_status load(iris_llava_vision *v) {
    iris_gguf *g = &v->gguf;
    const char *arch = NULL;
    if (!iris_gguf_get_str(g, "general.architecture", &arch) && strcmp(arch, "clip"))
        return iris_fail(IRIS_ERR_FORMAT, "%s: architecture '%.64s', expected a clip projector", path_of(v), arch);
    if (iris_gguf_find_kv(g, "clip.has_vision_encoder") && !get_flag(v, "clip.has_vision_encoder"))
        return iris_fail(IRIS_ERR_FORMAT, "%s: the file has no vision encoder", path_of(v));
    iris_llava_vision_info *in = &v->info;
    int n_blocks;
    iris_status st;
    if ((st = load_projector_type(v)) || (st = get_int(v, "clip.vision.image_size", 1, 8192, -1, &in->image_size)) ||
        (st = get_int(v, "clip.vision.patch_size", 1, in->image_size, -1, &in->patch_size)) ||
        (st = get_int(v, "clip.vision.embedding_length", 1, 1 << 16, -1, &in->width)) ||
        (st = get_int(v, "clip.vision.feed_forward_length", 1, 1 << 18, -1, &in->ffn)) ||
        (st = get_int(v, "clip.vision.attention.head_count", 1, in->width, -1, &in->n_heads)) ||
        (st = get_int(v, "clip.vision.block_count", 1, 1024, -1, &n_blocks)) ||
        (st = get_rgb(v, "clip.vision.image_mean", in->mean, 0)) || (st = get_rgb(v, "clip.vision.image_std", in->std, 1)))
        return st;
    if (in->image_size % in->patch_size || in->width % in->n_heads)
        return iris_fail(IRIS_ERR_FORMAT, "%s: image %d / patch %d, width %d / %d heads do not divide", path_of(v),
                         in->image_size, in->patch_size, in->width, in->n_heads);
    int side = in->image_size / in->patch_size;
    in->n_patches = side * side;
    if (in->n_patches > 1 << 16) return iris_fail(IRIS_ERR_FORMAT, "%s: %d patches per tile", path_of(v), in->n_patches);
    if (v->kind == IRIS_PROJ_MINIGPTV2 && in->n_patches % 4)
        return iris_fail(IRIS_ERR_FORMAT, "%s: minigptv2 groups 4 patches, the tile has %d", path_of(v), in->n_patches);
    if (get_flag(v, "clip.use_silu"))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: SiLU vision MLP is not supported (GELU, quick GELU)", path_of(v));
    float eps = 1e-5f;
    if (!iris_gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &eps) && !(eps > 0 && eps < 1))
        return iris_fail(IRIS_ERR_FORMAT, "%s: layer norm epsilon %g", path_of(v), (double)eps);
    if ((st = load_feature_layer(v, n_blocks)) || (st = load_pinpoints(v))) return st;

    const int64_t D = in->width, P = in->patch_size, N = in->n_patches;
    const int eva = v->kind == IRIS_PROJ_MINIGPTV2;
    if ((st = get(v, "v.patch_embd.weight", 4, (int64_t[]){D, 3, P, P}, &v->patch_w)) ||
        (iris_gguf_find_tensor(g, "v.patch_embd.bias") && (st = get(v, "v.patch_embd.bias", 1, &D, &v->patch_b))) ||
        (st = get(v, "v.class_embd", 1, &D, &v->class_embd)) ||
        (st = get(v, "v.position_embd.weight", 2, (int64_t[]){N + 1, D}, &v->pos_embd)))
        return st;
    if (!eva && ((st = get(v, "v.pre_ln.weight", 1, &D, &v->pre_ln_w)) || (st = get(v, "v.pre_ln.bias", 1, &D, &v->pre_ln_b))))
        return st;

    /* The legacy converter names fc1 ffn_down and fc2 ffn_up: tell them apart by shape (fc1 is [F, D]). */
    const iris_gguf_tensor_info *up = iris_gguf_find_tensor(g, "v.blk.0.ffn_up.weight");
    int swapped = !eva && up && up->n_dims == 2 && up->ne[1] == D && up->ne[0] == in->ffn && in->ffn != D;
    iris_clip_tower *t = &v->tower;
    t->dim = in->width, t->n_layers = in->n_layers_run, t->n_heads = in->n_heads, t->ffn = in->ffn, t->eps = eps;
    t->act = get_flag(v, "clip.use_gelu") ? IRIS_ACT_GELU : IRIS_ACT_QUICK_GELU;
    iris_clip_source src = {v, get, NULL, path_of(v)};
    const iris_clip_layout *lay = eva ? &iris_clip_layout_gguf_eva : swapped ? &iris_clip_layout_gguf_swapped : &iris_clip_layout_gguf;
    if ((st = iris_clip_tower_load(t, lay, &src, "v."))) return st;
    st = eva ? load_minigptv2(v) : load_mlp(v);
    if (!st && in->anyres) st = load_newline(v);
    return st;
}

static iris_status finish(iris_llava_vision **out, iris_llava_vision *v, iris_status st) {
    if (!st) st = load(v);
    if (st) {
        iris_llava_vision_free(v);
        return st;
    }
    *out = v;
    return IRIS_OK;
}

iris_status iris_llava_vision_load(iris_llava_vision **out, const char *path, const iris_llava_vision_params *p) {
    *out = NULL;
    iris_llava_vision *v = calloc(1, sizeof *v);
    if (!v) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    v->device = p ? p->device : IRIS_CPU;
    return finish(out, v, iris_gguf_open(&v->gguf, path));
}

iris_status iris_llava_vision_parse(iris_llava_vision **out, const uint8_t *data, size_t size, const char *name,
                                    const iris_llava_vision_params *p) {
    *out = NULL;
    iris_llava_vision *v = calloc(1, sizeof *v);
    if (!v) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", name);
    v->device = p ? p->device : IRIS_CPU;
    return finish(out, v, iris_gguf_parse(&v->gguf, data, size, name));
}
