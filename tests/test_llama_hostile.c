/* test_llama_hostile.c - the Llama loader on broken GGUF files: wrong counts, absurd
   dimensions, shapes that disagree with the hyperparameters, truncation, offsets past
   the end, flipped bytes. Each must fail with a message (or load a consistent model),
   never crash or read out of bounds (run under ASan via `make asan`).
   Source of the files: tests/ref/llama_tiny_mha.gguf, rewritten here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../llama/model.h"
#include "test.h"

#define SRC "tests/ref/llama_tiny_mha.gguf"

static char tmp_path[64];

static const char *tmp_name(void) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/iris_llama_hostile_%d.gguf", (int)getpid());
    return tmp_path;
}

/* Rewrites SRC with one key changed (set_u32 / set_str / removed) and optionally one tensor
   left out or given another shape; returns the status of loading the result. */
typedef struct {
    const char *key;
    int64_t u32;          /* -1: not a u32 change */
    const char *str;
    int remove;
    const char *drop_tensor;
    const char *reshape_tensor; /* written as a 1-D tensor of the same bytes */
} edit;

static iris_status load_edited(edit e) {
    iris_gguf g;
    if (iris_gguf_open(&g, SRC)) { CHECK_MSG(0, "%s", iris_last_error()); return IRIS_ERR_IO; }
    iris_gguf_writer *w;
    CHECK_OK(iris_gguf_writer_new(&w));
    CHECK_OK(iris_gguf_writer_copy_kvs(w, &g));
    if (e.key && e.u32 >= 0) CHECK_OK(iris_gguf_writer_set_u32(w, e.key, (uint32_t)e.u32));
    if (e.key && e.str) CHECK_OK(iris_gguf_writer_set_str(w, e.key, e.str));
    if (e.key && e.remove) CHECK_OK(iris_gguf_writer_remove(w, e.key));
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const iris_gguf_tensor_info *ti = &g.tensors[i];
        if (e.drop_tensor && !strcmp(ti->name, e.drop_tensor)) continue;
        int64_t shape[4];
        int nd = ti->n_dims;
        for (int d = 0; d < nd; d++) shape[d] = ti->ne[nd - 1 - d];
        if (e.reshape_tensor && !strcmp(ti->name, e.reshape_tensor)) {
            shape[0] = ti->ne[0] * ti->ne[1];
            nd = 1;
        }
        CHECK_OK(iris_gguf_writer_add_tensor(w, ti->name, ti->dtype, nd, shape, g.data + ti->offset));
    }
    CHECK_OK(iris_gguf_writer_write(w, tmp_name()));
    iris_gguf_writer_free(w);
    iris_gguf_close(&g);
    iris_llama *m = NULL;
    iris_status st = iris_llama_load(&m, tmp_name(), NULL);
    if (st) CHECK_MSG(strlen(iris_last_error()) > 10, "an error message names the problem");
    iris_llama_free(m);
    unlink(tmp_name());
    return st;
}

TEST(llama_hostile_hparams) {
    /* the unchanged rewrite loads */
    CHECK_OK(load_edited((edit){.u32 = -1}));
    /* heads that do not divide, more KV heads than heads, absurd sizes, missing keys */
    CHECK(load_edited((edit){"llama.attention.head_count", 5, NULL, 0, NULL, NULL}) != IRIS_OK);
    CHECK(load_edited((edit){"llama.attention.head_count_kv", 6, NULL, 0, NULL, NULL}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){"llama.attention.head_count_kv", 2, NULL, 0, NULL, NULL}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){"llama.embedding_length", 0xfffffff0u, NULL, 0, NULL, NULL}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){"llama.block_count", 1000000, NULL, 0, NULL, NULL}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){"llama.block_count", 4, NULL, 0, NULL, NULL}) == IRIS_ERR_FORMAT); /* blk.3 missing */
    CHECK(load_edited((edit){"llama.feed_forward_length", 71, NULL, 0, NULL, NULL}) == IRIS_ERR_SHAPE);
    CHECK(load_edited((edit){"llama.rope.dimension_count", 17, NULL, 0, NULL, NULL}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){"llama.embedding_length", 0, NULL, 1, NULL, NULL}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){"general.architecture", -1, "gpt2", 0, NULL, NULL}) == IRIS_ERR_UNSUPPORTED);
    CHECK(load_edited((edit){"tokenizer.ggml.model", -1, "bert", 0, NULL, NULL}) == IRIS_ERR_UNSUPPORTED);
    CHECK(load_edited((edit){"llama.rope.scaling.type", -1, "yarn", 0, NULL, NULL}) == IRIS_ERR_UNSUPPORTED);
}

TEST(llama_hostile_tensors) {
    CHECK(load_edited((edit){.u32 = -1, .drop_tensor = "blk.1.ffn_up.weight"}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){.u32 = -1, .drop_tensor = "token_embd.weight"}) == IRIS_ERR_FORMAT);
    CHECK(load_edited((edit){.u32 = -1, .reshape_tensor = "blk.0.attn_q.weight"}) == IRIS_ERR_SHAPE);
    /* 512 token strings but fewer embedding rows */
    CHECK(load_edited((edit){.u32 = -1, .reshape_tensor = "token_embd.weight"}) == IRIS_ERR_FORMAT);
}

/* Truncations (offsets past the end) and flipped bytes: a clean error or a model that runs. */
TEST(llama_hostile_bytes) {
    char *buf;
    size_t n;
    CHECK_OK(iris_read_file(SRC, &buf, &n));
    if (!buf) return;
    int fails = 0, loads = 0;
    uint64_t rng = 12345;
    for (int trial = 0; trial < 60; trial++) {
        size_t len = n;
        char *mod = malloc(n);
        memcpy(mod, buf, n);
        if (trial < 20) {
            len = trial < 10 ? (size_t)trial * 997 % 4096 : n - 1 - (size_t)(trial - 10) * 4001;
        } else {
            /* flip a few bytes in the header / metadata region */
            for (int k = 0; k < 4; k++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                mod[(rng >> 33) % 16384] ^= (char)(1 + (rng >> 20) % 255);
            }
        }
        CHECK_OK(iris_write_atomic(tmp_name(), mod, len));
        iris_llama *m = NULL;
        if (iris_llama_load(&m, tmp_name(), NULL)) {
            fails++;
        } else {
            /* it loaded: it must also run */
            loads++;
            iris_llama_state *s;
            if (iris_llama_state_new(&s, m, 8, NULL) == IRIS_OK) {
                int32_t tok = 1;
                float *lg = malloc((size_t)m->hp.n_vocab * sizeof *lg);
                iris_llama_eval(s, &tok, 1, lg);
                free(lg);
                iris_llama_state_free(s);
            }
            iris_llama_free(m);
        }
        free(mod);
    }
    unlink(tmp_name());
    free(buf);
    CHECK_INT(fails + loads, 60);
    CHECK(fails >= 20); /* every truncation fails */
}

/* SRC plus a rope_freqs.weight of n floats: factors must be n_rot/2 positive finite numbers. */
static iris_status load_with_rope_freqs(const float *f, int64_t n) {
    iris_gguf g;
    if (iris_gguf_open(&g, SRC)) { CHECK_MSG(0, "%s", iris_last_error()); return IRIS_ERR_IO; }
    iris_gguf_writer *w;
    CHECK_OK(iris_gguf_writer_new(&w));
    CHECK_OK(iris_gguf_writer_copy_kvs(w, &g));
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const iris_gguf_tensor_info *ti = &g.tensors[i];
        int64_t shape[4];
        for (int d = 0; d < ti->n_dims; d++) shape[d] = ti->ne[ti->n_dims - 1 - d];
        CHECK_OK(iris_gguf_writer_add_tensor(w, ti->name, ti->dtype, ti->n_dims, shape, g.data + ti->offset));
    }
    CHECK_OK(iris_gguf_writer_add_tensor(w, "rope_freqs.weight", IRIS_F32, 1, (int64_t[]){n}, f));
    CHECK_OK(iris_gguf_writer_write(w, tmp_name()));
    iris_gguf_writer_free(w);
    iris_gguf_close(&g);
    iris_llama *m = NULL;
    iris_status st = iris_llama_load(&m, tmp_name(), NULL);
    if (st) CHECK_MSG(strlen(iris_last_error()) > 10, "an error message names the problem");
    else CHECK(m->rope_freqs && m->rope_freqs->ne[0] == n);
    iris_llama_free(m);
    unlink(tmp_name());
    return st;
}

TEST(llama_hostile_rope_freqs) {
    float f[9] = {1, 1.5f, 8, 8, 8, 8, 8, 8, 8};
    CHECK_OK(load_with_rope_freqs(f, 8)); /* 16-wide heads: 8 pairs */
    CHECK(load_with_rope_freqs(f, 9) != IRIS_OK);
    CHECK(load_with_rope_freqs(f, 7) != IRIS_OK);
    f[3] = 0;
    CHECK(load_with_rope_freqs(f, 8) == IRIS_ERR_FORMAT);
    f[3] = -2;
    CHECK(load_with_rope_freqs(f, 8) == IRIS_ERR_FORMAT);
    f[3] = NAN;
    CHECK(load_with_rope_freqs(f, 8) == IRIS_ERR_FORMAT);
    f[3] = INFINITY;
    CHECK(load_with_rope_freqs(f, 8) == IRIS_ERR_FORMAT);
}
