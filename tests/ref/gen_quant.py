"""gen_quant.py - reference blocks and dot products for tests/test_quant.c.

Run by hand (outputs are committed; tests need no Python):

    pip install gguf numpy llama-cpp-python==0.3.36   # the last one builds llama.cpp (~15 min)
    python3 tests/ref/gen_quant.py                     # -> tests/ref/quant.safetensors

Two independent references:
  * gguf-py (gguf/quants.py): quantize for F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and
    dequantize for every block type;
  * ggml itself, from the llama.cpp that the llama-cpp-python sdist vendors, called through
    ctypes: the reference quantizers quantize_row_*_ref (the only source for the K-quants,
    which gguf-py cannot quantize), the run-time activation quantizers quantize_row_q8_0 /
    q8_1 / q8_K of the CPU backend, and its ggml_vec_dot_* kernels.
Where both implement a quantizer this script asserts that they agree bit for bit.

Also copies a few real tensors: the F32 originals from stories260K-f32.gguf and the same
tensors as llama-quantize stored them in the q4_0 / q8_0 / q4_k_m files.
"""
import ctypes
import importlib.metadata
import importlib.util
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refio  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("IRIS_DATA", os.path.join(HERE, "..", "..", "..", "shared", "data"))
LLAMA_CPP_COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"  # vendor/llama.cpp of llama-cpp-python 0.3.36

N = 512  # elements per row: 2 super-blocks, 16 legacy blocks
BLOCK = {T.Q4_0: (32, 18), T.Q4_1: (32, 20), T.Q5_0: (32, 22), T.Q5_1: (32, 24), T.Q8_0: (32, 34),
         T.Q2_K: (256, 84), T.Q3_K: (256, 110), T.Q4_K: (256, 144), T.Q5_K: (256, 176),
         T.Q6_K: (256, 210), T.Q8_K: (256, 292)}
LEGACY = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]
KQ = [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
# offsets of the f16 fields inside a block (random-block test keeps them finite)
HALVES = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
          T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def ggml_libs():
    spec = importlib.util.find_spec("llama_cpp")
    lib = os.path.join(os.path.dirname(spec.origin), "lib")
    base = ctypes.CDLL(os.path.join(lib, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(lib, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
    cpu.ggml_cpu_init()
    return base, cpu


def name(t):
    return t.name.lower()


def gname(t):
    """ggml's spelling in function names: q4_0, q4_K"""
    return "q" + t.name[1:]


def test_rows(rng):
    """Rows that exercise the encoders' corner cases."""
    rows = []
    rows.append(rng.standard_normal(N))                                # plain
    r = rng.standard_normal(N) * 0.02
    r[rng.integers(0, N, 12)] *= 60.0                                  # outliers
    rows.append(r)
    r = rng.standard_normal(N)
    r[32:64] = 0.0                                                     # an all-zero block
    r[256:512] = 0.0                                                   # an all-zero super-block
    rows.append(r)
    rows.append(rng.uniform(0.0, 2.0, N))                              # all positive (min > 0)
    rows.append(-rng.uniform(0.5, 1.0, N))                             # all negative
    r = rng.standard_normal(N) * 1e-3
    r[:128] *= 1e-4                                                    # tiny, near f16 subnormals
    r[384:] *= 1e6                                                     # large
    rows.append(r)
    r = np.repeat(rng.standard_normal(N // 32), 32)                    # constant blocks
    rows.append(r)
    r = np.zeros(N)
    idx = rng.integers(0, N, 40)
    r[idx] = rng.standard_normal(40)                                   # sparse
    rows.append(r)
    r = (rng.integers(-254, 255, N) / 2.0)                             # halves: exact .5 ties
    r[::32] = 127.0                                                    # amax 127 -> d = 1
    rows.append(r)
    r = np.tile(np.linspace(-1, 1, 16), N // 16) * rng.uniform(0.5, 2, N // 16).repeat(16)
    rows.append(r)                                                     # smooth ramps
    return np.stack(rows).astype(np.float32)


def ggml_quantize(base, t, x):
    bs, ts = BLOCK[t]
    fn = getattr(base, "quantize_row_%s_ref" % gname(t))
    out = np.zeros((x.shape[0], x.shape[1] // bs * ts), np.uint8)
    for r in range(x.shape[0]):
        row = np.ascontiguousarray(x[r], dtype=np.float32)
        fn(row.ctypes.data_as(ctypes.c_void_p), out[r].ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(x.shape[1]))
    return out


def ggml_runtime_quantize(cpu, fname, ts, bs, x):
    fn = getattr(cpu, fname)
    out = np.zeros((x.shape[0], x.shape[1] // bs * ts), np.uint8)
    for r in range(x.shape[0]):
        row = np.ascontiguousarray(x[r], dtype=np.float32)
        fn(row.ctypes.data_as(ctypes.c_void_p), out[r].ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(x.shape[1]))
    return out


def ggml_dot(cpu, fname, n, w, y):
    fn = getattr(cpu, fname)
    s = ctypes.c_float(0)
    fn(ctypes.c_int(n), ctypes.byref(s), ctypes.c_size_t(0), w.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(0),
       y.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(0), ctypes.c_int(1))
    return s.value


def dequant_q8_k(q):
    blocks = q.reshape(-1, 292)
    d = blocks[:, :4].copy().view(np.float32)
    qs = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
    return (d * qs).reshape(q.shape[0], -1)


def random_blocks(rng, t, nblk):
    bs, ts = BLOCK[t]
    b = rng.integers(0, 256, (nblk, ts), dtype=np.uint8)
    for off in HALVES[t]:
        h = (rng.standard_normal(nblk) * 0.05).astype(np.float16)
        b[:, off:off + 2] = h.view(np.uint8).reshape(nblk, 2)
    return b.reshape(1, -1)


def main():
    rng = np.random.default_rng(20240607)
    base, cpu = ggml_libs()
    out, meta = {}, {}
    x = test_rows(rng)
    out["x"] = x

    # --- encoders: gguf-py and ggml reference, which must agree where both exist
    for t in LEGACY + KQ + [T.Q8_K]:
        ref = ggml_quantize(base, t, x)
        if t in LEGACY:
            py = gguf.quants.quantize(x, t)
            assert np.array_equal(py, ref), "gguf-py and ggml disagree on %s" % t.name
        out["q_" + name(t)] = ref
        if t == T.Q8_K:
            out["dq_" + name(t)] = dequant_q8_k(ref)
        else:
            out["dq_" + name(t)] = gguf.quants.dequantize(ref, t).astype(np.float32)
    out["q_f16"] = gguf.quants.quantize(x, T.F16).view(np.uint8)
    out["q_bf16"] = gguf.quants.quantize(x, T.BF16).view(np.uint8)

    # --- decoders on arbitrary bit patterns (gguf-py)
    for t in LEGACY + KQ:
        b = random_blocks(rng, t, 6)
        out["rb_" + name(t)] = b
        out["rbdq_" + name(t)] = gguf.quants.dequantize(b, t).astype(np.float32).reshape(1, -1)

    # --- activations quantized by ggml's CPU backend, and ggml's own dot products
    a = (rng.standard_normal(x.shape) * rng.uniform(0.1, 3, (x.shape[0], 1))).astype(np.float32)
    a[:, 5] = 0.0
    a[2, 64:96] = 0.0
    a[3, 256:] = 0.0
    a[8] = x[8]  # exact .5 ties: the run-time and reference Q8_0 encoders differ here
    out["a"] = a
    a8 = ggml_runtime_quantize(cpu, "quantize_row_q8_0", 34, 32, a)
    a81 = ggml_runtime_quantize(cpu, "quantize_row_q8_1", 36, 32, a)
    a8k = ggml_runtime_quantize(cpu, "quantize_row_q8_K", 292, 256, a)
    out["a_q8_0"] = a8
    out["a_q8_k"] = a8k
    out["a_q8_0_ref"] = ggml_quantize(base, T.Q8_0, a)
    dots = {}
    for t in LEGACY + KQ:
        w = out["q_" + name(t)]
        if t in (T.Q4_1, T.Q5_1):
            fname, act = "ggml_vec_dot_%s_q8_1" % name(t), a81
        elif t in LEGACY:
            fname, act = "ggml_vec_dot_%s_q8_0" % name(t), a8
        else:
            fname, act = "ggml_vec_dot_%s_q8_K" % gname(t), a8k
        dots[name(t)] = [ggml_dot(cpu, fname, N, w[r], act[r]) for r in range(x.shape[0])]
    a16 = a.astype(np.float16)
    x16 = out["q_f16"].view(np.float16)
    dots["f16"] = [ggml_dot(cpu, "ggml_vec_dot_f16", N, np.ascontiguousarray(x16[r]), np.ascontiguousarray(a16[r]))
                   for r in range(x.shape[0])]
    dots["f32"] = [ggml_dot(cpu, "ggml_vec_dot_f32", N, np.ascontiguousarray(x[r]), np.ascontiguousarray(a[r]))
                   for r in range(x.shape[0])]
    for k, v in dots.items():
        out["dot_" + k] = np.array(v, np.float32)

    # --- real tensors: our encoders must reproduce what llama-quantize wrote
    def tensors(path):
        return {t.name: t for t in GGUFReader(os.path.join(DATA, "llm", path)).tensors}
    f32 = tensors("stories260K-f32.gguf")
    picks = [("stories260K-q4_0.gguf", "blk.0.attn_q.weight", None), ("stories260K-q4_0.gguf", "output.weight", 32),
             ("stories260K-q4_0.gguf", "token_embd.weight", 32), ("stories260K-q8_0.gguf", "blk.1.ffn_up.weight", 64),
             ("stories260K-q4_k_m.gguf", "blk.2.attn_k.weight", None), ("stories260K-q4_k_m.gguf", "blk.0.attn_v.weight", None)]
    for i, (path, tname, nrows) in enumerate(picks):
        q = tensors(path)[tname]
        src = np.asarray(f32[tname].data, np.float32)
        qb = np.asarray(q.data)
        if nrows:
            src, qb = src[:nrows], qb[:nrows]
        out["real%d_f32" % i] = np.ascontiguousarray(src)
        out["real%d_%s" % (i, q.tensor_type.name.lower())] = np.ascontiguousarray(qb)
        meta["real%d" % i] = "%s %s %s rows=%s" % (path, tname, q.tensor_type.name, nrows or "all")

    meta.update({
        "generator": "tests/ref/gen_quant.py",
        "gguf": importlib.metadata.version("gguf"),
        "numpy": np.__version__,
        "llama_cpp_python": importlib.metadata.version("llama-cpp-python"),
        "llama_cpp_commit": LLAMA_CPP_COMMIT,
        "rows": "x: 10 rows of %d (plain, outliers, zero block+super-block, positive, negative, tiny/large, "
                "constant blocks, sparse, .5 ties, ramps)" % N,
    })
    path = os.path.join(HERE, "quant.safetensors")
    refio.save(path, out, meta)
    print("wrote %s (%d bytes, %d tensors)" % (path, os.path.getsize(path), len(out)))


if __name__ == "__main__":
    main()
