/* test_llava_vision.c - the LLaVA vision half against transformers on tiny random models
   (tests/ref/gen_llava_tiny.py): a LLaVA 1.5 (one 32px tile, 8px patches, 3 CLIP layers, feature
   layer -2) and a LLaVA 1.6 (the same tower with grid pinpoints 32x64, 64x32, 64x64), each as the
   legacy converter writes it (last layer dropped, F16, swapped MLP names) and as newer converters do
   (every layer, feature_layer key, F32). Photos: 40x28 and 20x36 PNGs (pads top/bottom resp. sides;
   the 1.6 grid is 1x2 resp. 2x1 and unpads columns resp. nothing). References: the pixels
   transformers' processors make, hidden_states[-2] without the class token, the projector's output,
   and the image rows of inputs_embeds as transformers hands them to the language model. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../vision/llava.h"
#include "test.h"

static const char *models[] = {"llava15", "llava16"};
static const char *photos[] = {"wide", "tall"};
static const char *files[] = {"mmproj_legacy", "mmproj"};

static iris_llava_vision *open_model(const char *model, const char *file) {
    char path[256];
    snprintf(path, sizeof path, "tests/ref/llava/%s_%s.gguf", model, file);
    iris_llava_vision *v = NULL;
    CHECK_OK(iris_llava_vision_load(&v, path, NULL));
    return v;
}

static float *ref(const char *model, const char *photo, const char *what, int64_t *n) {
    char file[128], name[64];
    snprintf(file, sizeof file, "llava/%s.safetensors", model);
    snprintf(name, sizeof name, "%s.%s", photo, what);
    return test_ref_f32(file, name, n);
}

/* The pixels are the same u8 values on both sides (Pillow's bicubic reproduced exactly), so only
   the float normalisation's rounding differs: values below 2.2, 1e-5 is ~20 ulps. One level off
   would be 1/255/0.27 = 0.015. */
TEST(llava_preprocess_matches_transformers) {
    for (int m = 0; m < 2; m++) {
        iris_llava_vision *v = open_model(models[m], "mmproj_legacy");
        if (!v) continue;
        for (int p = 0; p < 2; p++) {
            iris_image img;
            if (!test_llava_photo(&img, photos[p])) continue;
            iris_llava_pixels px;
            int64_t n = 0;
            float *want = ref(models[m], photos[p], "pixels", &n);
            CHECK_OK(iris_llava_preprocess(v, &img, &px));
            if (want && px.data) {
                CHECK_INT((int64_t)px.n_tiles * 3 * px.size * px.size, n);
                if ((int64_t)px.n_tiles * 3 * px.size * px.size == n)
                    CHECK_MSG(test_close(px.data, want, n, 1e-5, 0, __FILE__, __LINE__, "pixels"), "%s %s pixels",
                              models[m], photos[p]);
            }
            free(want);
            iris_llava_pixels_free(&px);
            iris_image_free(&img);
        }
        iris_llava_vision_free(v);
    }
}

/* Both sides compute in F32 from the same weights (the generator rounds them to F16 first); only the
   summation order of the GEMMs and attention differs. 3 layers of width 32 with values up to ~4: the
   error is ~1e-6; 1e-4 absolute + relative still catches any wrong layer, token or weight. */
static void check_vision(const char *model, const char *file) {
    iris_llava_vision *v = open_model(model, file);
    if (!v) return;
    const iris_llava_vision_info *in = iris_llava_vision_get_info(v);
    CHECK_INT(in->n_layers_run, 2);
    CHECK_INT(in->n_embd, 64);
    iris_ctx *ctx = test_ctx(2);
    for (int p = 0; p < 2; p++) {
        int64_t n_px = 0, n_feat = 0, n_proj = 0, n_emb = 0;
        float *px = ref(model, photos[p], "pixels", &n_px), *feat = ref(model, photos[p], "features", &n_feat);
        float *proj = ref(model, photos[p], "projected", &n_proj), *emb = ref(model, photos[p], "embeds", &n_emb);
        iris_image img;
        if (px && feat && proj && emb && test_llava_photo(&img, photos[p])) {
            int64_t S = in->image_size, T = n_px / (3 * S * S);
            iris_ctx_reset(ctx);
            iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 4, (int64_t[]){T, 3, S, S}, px);
            iris_tensor *f = iris_llava_encode(ctx, v, x);
            iris_tensor *y = iris_llava_project(ctx, v, f);
            CHECK_OK(iris_ctx_status(ctx));
            float *gf = f ? test_read_f32(f) : NULL, *gy = y ? test_read_f32(y) : NULL;
            if (gf && gy) {
                CHECK_INT(iris_nelements(f), n_feat);
                CHECK_INT(iris_nelements(y), n_proj);
                CHECK_MSG(test_close(gf, feat, n_feat, 1e-4, 1e-4, __FILE__, __LINE__, "features"), "%s %s %s features",
                          model, file, photos[p]);
                CHECK_MSG(test_close(gy, proj, n_proj, 1e-4, 1e-4, __FILE__, __LINE__, "projected"),
                          "%s %s %s projected", model, file, photos[p]);
            }
            /* packing alone, from transformers' own projected tiles: exact copies */
            int n_rows = iris_llava_n_rows(v, img.w, img.h);
            CHECK_INT((int64_t)n_rows * in->n_embd, n_emb);
            iris_llava_pixels pix;
            float *rows = malloc((size_t)n_emb * sizeof *rows);
            CHECK_OK(iris_llava_preprocess(v, &img, &pix));
            int got_rows = 0;
            if (rows && pix.data && (int64_t)n_rows * in->n_embd == n_emb) {
                CHECK_OK(iris_llava_pack(v, &pix, proj, rows, &got_rows));
                CHECK_INT(got_rows, n_rows);
                CHECK_MSG(test_close(rows, emb, n_emb, 0, 0, __FILE__, __LINE__, "pack"), "%s %s pack", model, photos[p]);
            }
            /* the one call, from the PNG */
            float *all = NULL;
            int n_all = 0;
            CHECK_OK(iris_llava_embed(ctx, v, &img, &all, &n_all));
            CHECK_INT(n_all, n_rows);
            if (all && (int64_t)n_all * in->n_embd == n_emb)
                CHECK_MSG(test_close(all, emb, n_emb, 1e-4, 1e-4, __FILE__, __LINE__, "embed"), "%s %s %s embed",
                          model, file, photos[p]);
            free(all);
            free(rows);
            iris_llava_pixels_free(&pix);
            free(gf), free(gy);
            iris_image_free(&img);
        }
        free(px), free(feat), free(proj), free(emb);
    }
    iris_llava_vision_free(v);
}

TEST(llava15_vision_matches_transformers) {
    for (int f = 0; f < 2; f++) check_vision("llava15", files[f]);
}

TEST(llava16_vision_matches_transformers) {
    for (int f = 0; f < 2; f++) check_vision("llava16", files[f]);
    iris_llava_vision *v = open_model("llava16", "mmproj");
    if (v) {
        const iris_llava_vision_info *in = iris_llava_vision_get_info(v);
        CHECK(in->anyres);
        CHECK_INT(in->n_pinpoints, 3);
        iris_llava_vision_free(v);
    }
}

/* ---- hostile files: a copy of the legacy 1.6 file with one thing changed ---- */

typedef struct {
    const char *set_str_key, *set_str;   /* replace a string key */
    const char *remove_key;              /* drop a key */
    const char *set_u32_key;             /* replace an integer key */
    uint32_t set_u32;
    const char *drop_tensor;             /* leave a tensor out */
    int feature_layer;                   /* > 0: add clip.vision.feature_layer = [n] */
} edit;

static int write_edited(const char *out, const edit *e) {
    iris_gguf src;
    if (iris_gguf_open(&src, "tests/ref/llava/llava16_mmproj_legacy.gguf")) return 0;
    iris_gguf_writer *w;
    int ok = iris_gguf_writer_new(&w) == IRIS_OK;
    if (ok) ok = !iris_gguf_writer_copy_kvs(w, &src);
    if (ok && e->set_str_key) ok = !iris_gguf_writer_set_str(w, e->set_str_key, e->set_str);
    if (ok && e->remove_key) ok = !iris_gguf_writer_remove(w, e->remove_key);
    if (ok && e->set_u32_key) ok = !iris_gguf_writer_set_u32(w, e->set_u32_key, e->set_u32);
    if (ok && e->feature_layer) {
        uint32_t f = (uint32_t)e->feature_layer;
        ok = !iris_gguf_writer_set_array(w, "clip.vision.feature_layer", IRIS_GGUF_U32, &f, 1);
    }
    for (int64_t i = 0; ok && i < src.n_tensors; i++) {
        const iris_gguf_tensor_info *t = &src.tensors[i];
        if (e->drop_tensor && !strcmp(t->name, e->drop_tensor)) continue;
        int64_t shape[4];
        for (int d = 0; d < t->n_dims; d++) shape[d] = t->ne[t->n_dims - 1 - d];
        ok = !iris_gguf_writer_add_tensor(w, t->name, t->dtype, t->n_dims, shape, src.data + t->offset);
    }
    if (ok) ok = !iris_gguf_writer_write(w, out);
    iris_gguf_writer_free(w);
    iris_gguf_close(&src);
    return ok;
}

static void expect_error(const char *path, const char *what) {
    iris_llava_vision *v = NULL;
    iris_status st = iris_llava_vision_load(&v, path, NULL);
    const char *msg = iris_last_error();
    CHECK_MSG(st != IRIS_OK && v == NULL, "%s loaded", what);
    CHECK_MSG(strstr(msg, path) != NULL, "'%s' names the file (%s)", msg, what);
    CHECK_MSG(strchr(msg, '\n') == NULL, "'%s' is one line", msg);
    CHECK_MSG(strstr(msg, what) != NULL, "'%s' says '%s'", msg, what);
    iris_llava_vision_free(v);
}

TEST(llava_mmproj_hostile_files) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/iris_mmproj_%d.gguf", (int)getpid());
    struct { edit e; const char *what; } cases[] = {
        {{.set_str_key = "clip.projector_type", .set_str = "ldpv2"}, "ldpv2"},
        {{.drop_tensor = "v.blk.1.attn_k.weight"}, "v.blk.1.attn_k.weight"},
        {{.drop_tensor = "model.image_newline"}, "image_newline"},
        {{.drop_tensor = "mm.2.weight"}, "mm.2.weight"},
        {{.remove_key = "clip.vision.patch_size"}, "clip.vision.patch_size"},
        {{.set_u32_key = "clip.vision.image_size", .set_u32 = 48}, "grid pinpoint 32"},
        {{.set_u32_key = "clip.vision.embedding_length", .set_u32 = 40}, "v.patch_embd.weight"},
        {{.set_u32_key = "clip.vision.block_count", .set_u32 = 5}, "v.blk.2.ln1.weight"},
        {{.feature_layer = 9}, "feature layer 9"},
        {{.set_str_key = "clip.vision.mm_patch_merge_type", .set_str = "flat"}, "flat"},
        {{.set_str_key = "general.architecture", .set_str = "llama"}, "llama"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!write_edited(path, &cases[i].e)) {
            CHECK_MSG(0, "could not write the edited file %d: %s", (int)i, iris_last_error());
            continue;
        }
        expect_error(path, cases[i].what);
    }
    /* a truncated copy */
    FILE *in = fopen("tests/ref/llava/llava16_mmproj_legacy.gguf", "rb"), *out = fopen(path, "wb");
    if (in && out) {
        char buf[20000];
        size_t n = fread(buf, 1, sizeof buf, in);
        fwrite(buf, 1, n, out);
    }
    if (in) fclose(in);
    if (out) fclose(out);
    iris_llava_vision *v = NULL;
    CHECK(iris_llava_vision_load(&v, path, NULL) != IRIS_OK && v == NULL);
    CHECK_MSG(strstr(iris_last_error(), path) && !strchr(iris_last_error(), '\n'), "'%s'", iris_last_error());
    unlink(path);
    CHECK(iris_llava_vision_load(&v, "tests/ref/llava/no_such.gguf", NULL) != IRIS_OK && v == NULL);
}

/* Pillow 13's Image.resize(BICUBIC) on random u8 images (shrinking, growing, mixed, both pass
   orders): exact, as the fixed-point arithmetic is reproduced. */
TEST(image_resize_pil_bicubic_matches_pillow) {
    iris_safetensors *st = test_ref("llava/pil_bicubic.safetensors");
    if (!st) return;
    for (int i = 0; i < 8; i++) {
        char sn[16], dn[16];
        snprintf(sn, sizeof sn, "src%d", i);
        snprintf(dn, sizeof dn, "dst%d", i);
        iris_tensor *s = NULL, *d = NULL;
        CHECK_OK(iris_safetensors_get(st, sn, &s));
        CHECK_OK(iris_safetensors_get(st, dn, &d));
        if (s && d && s->dtype == IRIS_U8 && d->dtype == IRIS_U8) {
            iris_image src = {.w = (int)s->ne[1], .h = (int)s->ne[0], .c = 3, .data = (uint8_t *)s->data}, out;
            CHECK_OK(iris_image_resize(&out, &src, (int)d->ne[1], (int)d->ne[0], IRIS_RESIZE_PIL_BICUBIC));
            if (out.data) {
                size_t n = (size_t)out.w * out.h * 3, off = 0;
                for (size_t k = 0; k < n; k++) off += out.data[k] != ((const uint8_t *)d->data)[k];
                CHECK_MSG(off == 0, "case %d (%dx%d -> %dx%d): %zu of %zu values differ", i, src.w, src.h, out.w,
                          out.h, off, n);
            }
            iris_image_free(&out);
        }
        iris_tensor_free(s);
        iris_tensor_free(d);
    }
}
