"""gen_caption_random.py - a full-size LLaVA-1.5-shaped GGUF pair with random weights, for the caption
benchmark (bench/bench_caption.py):

    /usr/bin/python3 bench/gen_caption_random.py [-o /tmp/iris-caption] [--vocab ggml-vocab-llama-spm.gguf]
                                                 [--quantize bin/quantize] [--seed 1234]

Real LLaVA weights cannot be downloaded here, and timing only needs the real shapes. Written to the
output folder (never inside the repository):
  mmproj-vitl336-f16.gguf   CLIP ViT-L/14-336 + LLaVA's MLP projector in the layout llama.cpp's legacy
                            convert_image_encoder_to_gguf.py writes (what mys/ggml_llava-v1.5-7b's
                            mmproj-model-f16.gguf holds): 336 px, 14 px patches, width 1024, 16 heads,
                            MLP 4096, quick GELU, 23 of the 24 blocks stored (block_count 23, no
                            feature_layer key), fc1/fc2 under the converter's swapped names
                            (ffn_down [4096, 1024], ffn_up [1024, 4096]), F16 matrices and F32 vectors;
                            projector mm.0 [2048, 1024], mm.2 [2048, 2048] into the language model's width
  llama-1b-f16.gguf         a Llama with TinyLlama-1.1B's shapes: n_embd 2048, 22 layers, 32 heads over 4
                            KV heads, FFN 5632, context 2048, RoPE base 10000, F16 (norms F32)
  llama-1b-q4_0.gguf        the same quantized by iris's bin/quantize (llama-quantize's type rules:
                            Q4_0, output Q6_K)

The vocabulary is LLaMA's 32000-piece SentencePiece one (tokens, scores, types, bos 1 / eos 2) from
llama.cpp's vocab-only test file models/ggml-vocab-llama-spm.gguf (MIT), which the llama-cpp-python
0.3.36 sdist carries under vendor/llama.cpp/models/; ../shared/data has only the 512-piece stories260K
vocabulary, and both iris and llama.cpp should tokenize a real-looking prompt.

Values keep activations finite and O(1) in F16: matrices ~ N(0, 1/fan_in), norm weights 1, biases
and embeddings small. Each tensor has its own generator seeded by (seed, crc32(name)). Written
streaming, one tensor in memory at a time (the pip `gguf` package's writer).
"""
import argparse
import os
import subprocess
import sys
import zlib

import gguf
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_VOCAB = "/tmp/lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"

# CLIP ViT-L/14-336 as LLaVA 1.5 uses it
V_SIZE, V_PATCH, V_WIDTH, V_FFN, V_HEADS, V_LAYERS = 336, 14, 1024, 4096, 16, 24
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
# TinyLlama-1.1B
L_EMBD, L_LAYERS, L_HEADS, L_KV, L_FFN, L_CTX = 2048, 22, 32, 4, 5632, 2048


def values(seed, name, shape, kind, dtype):
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if kind == "w":  # fan_in is the innermost (last) dimension, or C*k*k for the patch conv
        fan_in = int(np.prod(shape[1:]))
        a = rng.standard_normal(shape, dtype=np.float32) * np.float32(fan_in ** -0.5)
    elif kind == "one":
        a = np.ones(shape, np.float32)
    elif kind == "zero":
        a = np.zeros(shape, np.float32)
    elif kind == "emb":
        a = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
    else:  # bias
        a = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.01)
    return a.astype(dtype)


def write(path, arch, kvs, tensors, seed):
    """tensors: (name, shape outermost first, kind, numpy dtype)."""
    w = gguf.GGUFWriter(path, arch)
    for fn, *a in kvs:
        getattr(w, fn)(*a)
    for name, shape, kind, dt in tensors:
        w.add_tensor_info(name, shape, np.dtype(dt), int(np.prod(shape)) * np.dtype(dt).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, kind, dt in tensors:
        w.write_tensor_data(values(seed, name, shape, kind, dt))
    w.close()
    print("wrote", path, "%.0f MB" % (os.path.getsize(path) / 1e6))


def mmproj(path, seed):
    D, F, N = V_WIDTH, V_FFN, (V_SIZE // V_PATCH) ** 2
    kvs = [("add_bool", "clip.has_text_encoder", False), ("add_bool", "clip.has_vision_encoder", True),
           ("add_bool", "clip.has_llava_projector", True), ("add_file_type", 1),
           ("add_name", "random-clip-vit-large-patch14-336"), ("add_description", "image encoder for LLaVA"),
           ("add_string", "clip.projector_type", "mlp"),
           ("add_uint32", "clip.vision.image_size", V_SIZE), ("add_uint32", "clip.vision.patch_size", V_PATCH),
           ("add_uint32", "clip.vision.embedding_length", D), ("add_uint32", "clip.vision.feed_forward_length", F),
           ("add_uint32", "clip.vision.projection_dim", 768), ("add_uint32", "clip.vision.attention.head_count", V_HEADS),
           ("add_float32", "clip.vision.attention.layer_norm_epsilon", 1e-5),
           ("add_uint32", "clip.vision.block_count", V_LAYERS - 1),
           ("add_array", "clip.vision.image_mean", MEAN), ("add_array", "clip.vision.image_std", STD),
           ("add_bool", "clip.use_gelu", False)]
    f16, f32 = np.float16, np.float32
    t = [("mm.0.weight", (L_EMBD, D), "w", f16), ("mm.0.bias", (L_EMBD,), "b", f32),
         ("mm.2.weight", (L_EMBD, L_EMBD), "w", f16), ("mm.2.bias", (L_EMBD,), "b", f32),
         ("v.class_embd", (D,), "emb", f32), ("v.patch_embd.weight", (D, 3, V_PATCH, V_PATCH), "w", f16),
         ("v.position_embd.weight", (N + 1, D), "emb", f16),
         ("v.pre_ln.weight", (D,), "one", f32), ("v.pre_ln.bias", (D,), "zero", f32)]
    for i in range(V_LAYERS - 1):
        b = "v.blk.%d." % i
        for p in ("attn_k", "attn_v", "attn_q", "attn_out"):
            t += [(b + p + ".weight", (D, D), "w", f16), (b + p + ".bias", (D,), "b", f32)]
        t += [(b + "ln1.weight", (D,), "one", f32), (b + "ln1.bias", (D,), "zero", f32),
              (b + "ffn_down.weight", (F, D), "w", f16), (b + "ffn_down.bias", (F,), "b", f32),  # fc1
              (b + "ffn_up.weight", (D, F), "w", f16), (b + "ffn_up.bias", (D,), "b", f32),  # fc2
              (b + "ln2.weight", (D,), "one", f32), (b + "ln2.bias", (D,), "zero", f32)]
    write(path, "clip", kvs, t, seed)


def read_vocab(path):
    r = gguf.GGUFReader(path)
    f = r.fields
    if bytes(f["tokenizer.ggml.model"].parts[-1]).decode() != "llama":
        sys.exit("%s: not a SentencePiece (llama) vocabulary" % path)
    return {"tokens": [bytes(f["tokenizer.ggml.tokens"].parts[i]) for i in f["tokenizer.ggml.tokens"].data],
            "scores": [float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data],
            "types": [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]}


def llama(path, voc, seed):
    V, E, H = len(voc["tokens"]), L_EMBD, L_EMBD // L_HEADS
    kvs = [("add_name", "random-tinyllama-1.1b-shapes"), ("add_context_length", L_CTX), ("add_embedding_length", E),
           ("add_block_count", L_LAYERS), ("add_feed_forward_length", L_FFN), ("add_head_count", L_HEADS),
           ("add_head_count_kv", L_KV), ("add_rope_dimension_count", H), ("add_rope_freq_base", 10000.0),
           ("add_layer_norm_rms_eps", 1e-5), ("add_file_type", 1), ("add_tokenizer_model", "llama"),
           ("add_tokenizer_pre", "default"), ("add_token_list", voc["tokens"]), ("add_token_scores", voc["scores"]),
           ("add_token_types", voc["types"]), ("add_bos_token_id", 1), ("add_eos_token_id", 2),
           ("add_unk_token_id", 0), ("add_add_bos_token", True), ("add_add_eos_token", False)]
    f16, f32 = np.float16, np.float32
    t = [("token_embd.weight", (V, E), "emb", f16), ("output_norm.weight", (E,), "one", f32),
         ("output.weight", (V, E), "w", f16)]
    for i in range(L_LAYERS):
        b = "blk.%d." % i
        t += [(b + "attn_norm.weight", (E,), "one", f32), (b + "attn_q.weight", (E, E), "w", f16),
              (b + "attn_k.weight", (L_KV * H, E), "w", f16), (b + "attn_v.weight", (L_KV * H, E), "w", f16),
              (b + "attn_output.weight", (E, E), "w", f16), (b + "ffn_norm.weight", (E,), "one", f32),
              (b + "ffn_gate.weight", (L_FFN, E), "w", f16), (b + "ffn_up.weight", (L_FFN, E), "w", f16),
              (b + "ffn_down.weight", (E, L_FFN), "w", f16)]
    write(path, "llama", kvs, t, seed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", default="/tmp/iris-caption")
    ap.add_argument("--vocab", default=DEFAULT_VOCAB, help="a SentencePiece vocab-only GGUF (32000 pieces)")
    ap.add_argument("--quantize", default=os.path.join(REPO, "bin", "quantize"), help="iris's bin/quantize")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    a = ap.parse_args()
    out = os.path.realpath(a.out)
    if out == REPO or out.startswith(REPO + os.sep):
        sys.exit("refusing to write %s inside the repository (%s)" % (out, REPO))
    if not os.path.exists(a.vocab):
        sys.exit("%s missing: unpack the llama-cpp-python 0.3.36 sdist (vendor/llama.cpp/models/) or pass --vocab"
                 % a.vocab)
    os.makedirs(out, exist_ok=True)
    p_mm, p_f16, p_q4 = (os.path.join(out, n) for n in ("mmproj-vitl336-f16.gguf", "llama-1b-f16.gguf",
                                                         "llama-1b-q4_0.gguf"))
    if a.force or not os.path.exists(p_mm):
        mmproj(p_mm, a.seed)
    if a.force or not os.path.exists(p_f16):
        voc = read_vocab(a.vocab)
        if len(voc["tokens"]) != 32000:
            print("note: %s has %d pieces" % (a.vocab, len(voc["tokens"])))
        llama(p_f16, voc, a.seed)
    if a.force or not os.path.exists(p_q4):
        if not os.path.exists(a.quantize):
            sys.exit("%s missing: build it (make -j2 CUDA=0)" % a.quantize)
        subprocess.run(["nice", "-n", "10", a.quantize, "--threads", "2", p_f16, p_q4, "q4_0"], check=True)
        print("wrote", p_q4, "%.0f MB" % (os.path.getsize(p_q4) / 1e6))


if __name__ == "__main__":
    main()
