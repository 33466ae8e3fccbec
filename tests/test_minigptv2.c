/* test_minigptv2.c - the MiniGPT-v2 pair against a PyTorch MiniGPT-v2 on a tiny random model
   (tests/ref/gen_minigptv2_tiny.py): released-file layouts (eva_vit_g.pth, the checkpoint with
   llama_proj and peft LoRA pairs, a Hugging Face Llama) converted by tools/convert_minigptv2.py.
   The tower: 56 px, 14 px patches (4x4), width 32, 2 heads, 2 of the file's 3 EVA blocks, the
   position embedding interpolated from 3x3; 4 rows of 64 for the language model. References: the
   Blip2ImageEvalProcessor pixels, ln_vision(tower)[:, 1:], llama_proj over 4-token groups, and
   LlamaForCausalLM logits on the LoRA-merged weights (text, and text + image rows + text). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../llama/model.h"
#include "../vision/llava.h"
#include "test.h"

#define MMPROJ "tests/ref/minigptv2/mmproj.gguf"
#define MODEL "tests/ref/minigptv2/model.gguf"
#define REF "minigptv2/ref.safetensors"

TEST(minigptv2_mmproj_info) {
    iris_llava_vision *v = NULL;
    CHECK_OK(iris_llava_vision_load(&v, MMPROJ, NULL));
    if (!v) return;
    const iris_llava_vision_info *in = iris_llava_vision_get_info(v);
    CHECK(!strcmp(in->projector, "minigptv2"));
    CHECK_INT(in->image_size, 56);
    CHECK_INT(in->n_patches, 16);
    CHECK_INT(in->n_tokens, 4);
    CHECK_INT(in->n_layers_run, 2);
    CHECK_INT(in->n_embd, 64);
    CHECK_INT(in->anyres, 0);
    CHECK_INT(iris_llava_n_rows(v, 40, 28), 4);
    iris_llava_vision_free(v);
}

/* Pixels: the same u8 values on both sides (Pillow's bicubic, reproduced exactly), only the float
   normalisation rounds (values below 2.2: 1e-5 is ~20 ulps; one level off would be 0.015).
   Tower and projector: F32 on both sides from the same weights (F16 matrices rounded by the
   reference as MiniGPT-v2's fp16 conversion does); only summation orders differ. ln_vision
   normalises each token, so features are O(1); 2 blocks of width 32 and one 128-wide linear give
   errors ~1e-6; 1e-4 absolute + relative still catches a wrong token grouping, bias or norm. */
TEST(minigptv2_vision_matches_pytorch) {
    iris_llava_vision *v = NULL;
    CHECK_OK(iris_llava_vision_load(&v, MMPROJ, NULL));
    int64_t n_px = 0, n_feat = 0, n_proj = 0;
    float *px = test_ref_f32(REF, "pixels", &n_px), *feat = test_ref_f32(REF, "features", &n_feat);
    float *proj = test_ref_f32(REF, "projected", &n_proj);
    iris_image img = {0};
    if (!v || !px || !feat || !proj || !test_llava_photo(&img, "wide")) goto done;
    iris_llava_pixels pix;
    CHECK_OK(iris_llava_preprocess(v, &img, &pix));
    if (pix.data) {
        CHECK_INT(pix.n_tiles, 1);
        CHECK_INT((int64_t)3 * pix.size * pix.size, n_px);
        if ((int64_t)3 * pix.size * pix.size == n_px) CHECK_CLOSE(pix.data, px, n_px, 1e-5, 0);
    }
    iris_llava_pixels_free(&pix);

    iris_ctx *ctx = test_ctx(2);
    iris_ctx_reset(ctx);
    iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 4, (int64_t[]){1, 3, 56, 56}, px);
    iris_tensor *f = iris_llava_encode(ctx, v, x);
    iris_tensor *y = iris_llava_project(ctx, v, f);
    CHECK_OK(iris_ctx_status(ctx));
    float *gf = f ? test_read_f32(f) : NULL, *gy = y ? test_read_f32(y) : NULL;
    if (gf && gy) {
        CHECK_INT(iris_nelements(f), n_feat);
        CHECK_INT(iris_nelements(y), n_proj);
        CHECK_CLOSE(gf, feat, n_feat, 1e-4, 1e-4);
        CHECK_CLOSE(gy, proj, n_proj, 1e-4, 1e-4);
    }
    free(gf), free(gy);
    /* the one call, from the PNG */
    float *rows = NULL;
    int n_rows = 0;
    CHECK_OK(iris_llava_embed(ctx, v, &img, &rows, &n_rows));
    CHECK_INT(n_rows, 4);
    if (rows && (int64_t)n_rows * 64 == n_proj) CHECK_CLOSE(rows, proj, n_proj, 1e-4, 1e-4);
    free(rows);
done:
    iris_image_free(&img);
    free(px), free(feat), free(proj);
    iris_llava_vision_free(v);
}

static int32_t *ids_of(const char *name, int64_t *n) {
    float *f = test_ref_f32(REF, name, n);
    if (!f) return NULL;
    int32_t *ids = malloc((size_t)*n * sizeof *ids);
    for (int64_t i = 0; ids && i < *n; i++) ids[i] = (int32_t)f[i];
    free(f);
    return ids;
}

/* The language GGUF with the LoRA merged (the generator checked its Q/V equal F16(W + s B A)) against
   transformers running the same F16 weights in F32. With an F32 KV cache and the batched (non-exact)
   path iris also computes in F32 from those weights: only summation orders differ, ~1e-6 on logits
   of size ~3, checked to 1e-4. The default mode (llama.cpp's arithmetic: F16-rounded activations
   into F16 products, F16 cache) moves logits by up to ~2e-3 here, checked to 2e-2 as in
   test_llama_tiny.c. A LoRA left unmerged moves them by ~0.5. The image rows are the reference's own
   projected rows, so this checks the embedding-input path, not the vision half again. */
static void check_language(int exact, int kv_f32, double atol) {
    iris_llama *m = NULL;
    CHECK_OK(iris_llama_load(&m, MODEL, NULL));
    int64_t n = 0, n_pre = 0, n_post = 0, n_img = 0;
    int32_t *ids = ids_of("ids", &n), *pre = ids_of("mm_pre", &n_pre), *post = ids_of("mm_post", &n_post);
    float *want = test_ref_f32(REF, "logits", NULL), *want_mm = test_ref_f32(REF, "mm_logits", NULL);
    float *img = test_ref_f32(REF, "projected", &n_img);
    iris_llama_state *s = NULL;
    float *got = NULL;
    if (!m || !ids || !pre || !post || !want || !want_mm || !img) goto done;
    const int32_t V = m->hp.n_vocab;
    CHECK_INT(V, 512);
    CHECK_INT(m->hp.n_embd, 64);
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.exact = exact;
    sp.kv_f32 = kv_f32;
    sp.ctx.n_threads = 2;
    CHECK_OK(iris_llama_state_new(&s, m, 64, &sp));
    got = malloc((size_t)n * V * sizeof *got);
    if (!s || !got) goto done;
    CHECK_OK(iris_llama_eval_all(s, ids, (int)n, got));
    CHECK_MSG(test_close(got, want, n * V, atol, 1e-4, __FILE__, __LINE__, "logits"), "text logits (exact %d)", exact);
    CHECK_OK(iris_llama_set_pos(s, 0));
    CHECK_OK(iris_llama_eval(s, pre, (int)n_pre, NULL));
    CHECK_OK(iris_llama_eval_embd(s, img, (int)(n_img / 64), NULL));
    CHECK_OK(iris_llama_eval(s, post, (int)n_post, got));
    CHECK_MSG(test_close(got, want_mm, V, atol, 1e-4, __FILE__, __LINE__, "mm logits"), "image logits (exact %d)",
              exact);
done:
    free(got);
    iris_llama_state_free(s);
    iris_llama_free(m);
    free(ids), free(pre), free(post), free(want), free(want_mm), free(img);
}

TEST(minigptv2_language_model_matches_transformers) {
    check_language(0, 1, 1e-4);
    check_language(1, 0, 2e-2);
}

/* ---- hostile files: the tiny mmproj with one thing changed ---- */

typedef struct {
    const char *set_str_key, *set_str;
    const char *set_u32_key;
    uint32_t set_u32;
    const char *drop_tensor;
    int add_pinpoints;
} edit;

static int write_edited(const char *out, const edit *e) {
    iris_gguf src;
    if (iris_gguf_open(&src, MMPROJ)) return 0;
    iris_gguf_writer *w;
    int ok = iris_gguf_writer_new(&w) == IRIS_OK;
    if (ok) ok = !iris_gguf_writer_copy_kvs(w, &src);
    if (ok && e->set_str_key) ok = !iris_gguf_writer_set_str(w, e->set_str_key, e->set_str);
    if (ok && e->set_u32_key) ok = !iris_gguf_writer_set_u32(w, e->set_u32_key, e->set_u32);
    if (ok && e->add_pinpoints) {
        uint32_t pp[2] = {56, 112};
        ok = !iris_gguf_writer_set_array(w, "clip.vision.image_grid_pinpoints", IRIS_GGUF_U32, pp, 2);
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

TEST(minigptv2_mmproj_hostile_files) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/iris_minigptv2_%d.gguf", (int)getpid());
    struct { edit e; const char *what; } cases[] = {
        {{.set_str_key = "clip.projector_type", .set_str = "minigptv3"}, "minigptv3"},
        {{.drop_tensor = "v.ln_vision.weight"}, "v.ln_vision.weight"},
        {{.drop_tensor = "mm.proj.weight"}, "mm.proj.weight"},
        {{.drop_tensor = "mm.proj.bias"}, "mm.proj.bias"},
        {{.drop_tensor = "v.blk.1.attn_v.bias"}, "v.blk.1.attn_v.bias"},
        {{.set_u32_key = "clip.vision.embedding_length", .set_u32 = 16}, "v.patch_embd.weight"},
        {{.set_u32_key = "clip.vision.image_size", .set_u32 = 42}, "4 patches, the tile has 9"},
        {{.add_pinpoints = 1}, "grid"},
        /* an mlp file must still have its pre-norm and mm.0 / mm.2: this one has neither */
        {{.set_str_key = "clip.projector_type", .set_str = "mlp"}, "v.pre_ln.weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!write_edited(path, &cases[i].e)) {
            CHECK_MSG(0, "could not write the edited file %d: %s", (int)i, iris_last_error());
            continue;
        }
        iris_llava_vision *v = NULL;
        iris_status st = iris_llava_vision_load(&v, path, NULL);
        const char *msg = iris_last_error();
        CHECK_MSG(st != IRIS_OK && v == NULL, "%s loaded", cases[i].what);
        CHECK_MSG(strstr(msg, path) && !strchr(msg, '\n'), "'%s' names the file in one line", msg);
        CHECK_MSG(strstr(msg, cases[i].what) != NULL, "'%s' says '%s'", msg, cases[i].what);
        iris_llava_vision_free(v);
    }
    unlink(path);
}
