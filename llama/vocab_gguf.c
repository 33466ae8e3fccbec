/* vocab_gguf.c - a vocabulary from the tokenizer.ggml.* keys of a GGUF file,
   with llama.cpp's defaults where a key is absent. */
#include <stdlib.h>
#include <string.h>

#include "vocab.h"

static int32_t get_id(const iris_gguf *g, const char *key, int32_t def) {
    uint32_t u;
    iris_status st = iris_gguf_get_u32(g, key, &u);
    if (st == IRIS_OK) return u > INT32_MAX ? -1 : (int32_t)u; /* 0xffffffff means "none" */
    int32_t i;
    if (iris_gguf_get_i32(g, key, &i) == IRIS_OK) return i < 0 ? -1 : i;
    return def;
}

static int get_flag(const iris_gguf *g, const char *key, int def) {
    bool b;
    return iris_gguf_get_bool(g, key, &b) == IRIS_OK ? (int)b : def;
}

iris_status iris_vocab_from_gguf(iris_vocab **out, const iris_gguf *g) {
    *out = NULL;
    const char *path = g->map.path[0] ? g->map.path : "gguf";
    const char *model;
    if (iris_gguf_get_str(g, "tokenizer.ggml.model", &model))
        return iris_fail(IRIS_ERR_FORMAT, "%s: no tokenizer (tokenizer.ggml.model missing)", path);
    iris_vocab_desc d = iris_vocab_default_desc();
    if (!strcmp(model, "llama")) {
        d.kind = IRIS_VOCAB_SPM;
        d.bos = 1, d.eos = 2, d.unk = 0;
        d.add_bos = 1, d.add_space_prefix = 1;
    } else if (!strcmp(model, "gpt2")) {
        d.kind = IRIS_VOCAB_BPE;
        d.add_bos = 0, d.add_space_prefix = 0;
        /* pre-tokenizers: the Llama 3 split for its family, the GPT-2 split otherwise */
        const char *pre;
        if (iris_gguf_get_str(g, "tokenizer.ggml.pre", &pre) == IRIS_OK) {
            static const char *const llama3[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"};
            for (size_t i = 0; i < sizeof llama3 / sizeof *llama3; i++)
                if (!strcmp(pre, llama3[i])) d.pre = IRIS_PRE_LLAMA3;
            if (d.pre == IRIS_PRE_LLAMA3) d.add_bos = 1;
        }
    } else {
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: tokenizer '%s' is not supported (llama and gpt2 are)", path, model);
    }

    const iris_gguf_value *tok, *scores = NULL, *types = NULL, *merges = NULL;
    if (iris_gguf_get_array(g, "tokenizer.ggml.tokens", IRIS_GGUF_STRING, &tok))
        return iris_fail(IRIS_ERR_FORMAT, "%s: tokenizer.ggml.tokens missing or not an array of strings", path);
    if (tok->n == 0 || tok->n > (1u << 24))
        return iris_fail(IRIS_ERR_FORMAT, "%s: %llu tokens", path, (unsigned long long)tok->n);
    if (iris_gguf_find_kv(g, "tokenizer.ggml.scores") &&
        iris_gguf_get_array(g, "tokenizer.ggml.scores", IRIS_GGUF_F32, &scores))
        return iris_fail(IRIS_ERR_FORMAT, "%s: tokenizer.ggml.scores is not an array of f32", path);
    if (iris_gguf_find_kv(g, "tokenizer.ggml.token_type") &&
        iris_gguf_get_array(g, "tokenizer.ggml.token_type", IRIS_GGUF_ANY, &types))
        return iris_fail(IRIS_ERR_FORMAT, "%s: tokenizer.ggml.token_type is not an array", path);
    if (d.kind == IRIS_VOCAB_BPE &&
        iris_gguf_get_array(g, "tokenizer.ggml.merges", IRIS_GGUF_STRING, &merges))
        return iris_fail(IRIS_ERR_FORMAT, "%s: a gpt2 tokenizer needs tokenizer.ggml.merges (array of strings)", path);
    if (scores && scores->n != tok->n)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %llu scores for %llu tokens", path, (unsigned long long)scores->n,
                         (unsigned long long)tok->n);
    if (types && (types->n != tok->n || types->elem_type == IRIS_GGUF_STRING || types->elem_type == IRIS_GGUF_ARRAY))
        return iris_fail(IRIS_ERR_FORMAT, "%s: token_type has %llu integers for %llu tokens", path,
                         (unsigned long long)types->n, (unsigned long long)tok->n);
    if (merges && merges->n > (1u << 24))
        return iris_fail(IRIS_ERR_FORMAT, "%s: %llu merges", path, (unsigned long long)merges->n);

    int32_t n = (int32_t)tok->n;
    const char **texts = malloc((size_t)n * sizeof *texts);
    uint32_t *lens = malloc((size_t)n * sizeof *lens);
    float *sc = scores ? malloc((size_t)n * sizeof *sc) : NULL;
    int32_t *ty = types ? malloc((size_t)n * sizeof *ty) : NULL;
    const char **mg = merges && merges->n ? malloc((size_t)merges->n * sizeof *mg) : NULL;
    iris_status st = IRIS_OK;
    if (!texts || !lens || (scores && !sc) || (types && !ty) || (merges && merges->n && !mg)) {
        st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory for the vocabulary", path);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        uint64_t len = tok->strs[i].len;
        if (len > (1u << 16)) {
            st = iris_fail(IRIS_ERR_FORMAT, "%s: token %d is %llu bytes long", path, (int)i, (unsigned long long)len);
            goto done;
        }
        texts[i] = tok->strs[i].s, lens[i] = (uint32_t)len;
        if (sc) sc[i] = iris_gguf_arr_f32(scores, (uint64_t)i);
        if (ty) ty[i] = (int32_t)iris_gguf_arr_i64(types, (uint64_t)i);
    }
    for (uint64_t i = 0; mg && i < merges->n; i++) mg[i] = merges->strs[i].s;
    d.n_tokens = n;
    d.tokens = texts;
    d.token_len = lens;
    d.scores = sc;
    d.types = ty;
    d.n_merges = mg ? (int32_t)merges->n : 0;
    d.merges = mg;
    d.bos = get_id(g, "tokenizer.ggml.bos_token_id", d.bos);
    d.eos = get_id(g, "tokenizer.ggml.eos_token_id", d.eos);
    d.eot = get_id(g, "tokenizer.ggml.eot_token_id", -1);
    d.unk = get_id(g, "tokenizer.ggml.unknown_token_id", d.unk);
    d.pad = get_id(g, "tokenizer.ggml.padding_token_id", -1);
    d.add_bos = get_flag(g, "tokenizer.ggml.add_bos_token", d.add_bos);
    d.add_eos = get_flag(g, "tokenizer.ggml.add_eos_token", 0);
    d.add_space_prefix = get_flag(g, "tokenizer.ggml.add_space_prefix", d.add_space_prefix);
    if (d.eot < 0 && ty) { /* chat models often only name their end-of-turn token */
        static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
        for (int32_t i = 0; i < n && d.eot < 0; i++)
            for (size_t k = 0; k < sizeof eot_names / sizeof *eot_names; k++)
                if (ty[i] == 3 && lens[i] == strlen(eot_names[k]) && !memcmp(texts[i], eot_names[k], lens[i]))
                    d.eot = i;
    }
    st = iris_vocab_new(out, &d);
done:
    free(texts), free(lens), free(sc), free(ty), free(mg);
    return st;
}
