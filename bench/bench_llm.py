"""bench_llm.py - iris vs llama.cpp on a 1B-class Llama GGUF with random weights.

1. Writes bench/models/llama1b-f16.gguf (TinyLlama-1.1B shape: embedding 2048, 22 layers,
   32 heads over 4 KV heads, FFN 5632, vocabulary 32000; random N(0, 0.02) weights) with
   the pip `gguf` package, then bin/quantize makes the q4_0, q8_0 and q4_k files
   (git-ignored, ~4.7 GB together; made once).
2. For each type runs bin/bench_llm (iris: prompt of 128 tokens, 64 generated, 2 threads)
   and llama.cpp through llama-cpp-python on the same file, the same token ids, the same
   thread count, interleaved, several rounds; prints a markdown table of median tokens/s.

Needs: pip gguf numpy llama-cpp-python (builds llama.cpp from source), `make bin/bench_llm bin/quantize`.
Run: python3 bench/bench_llm.py [--types q4_0,q8_0,q4_k] [--rounds 3] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "bench", "models")
SHAPE = dict(n_embd=2048, n_layer=22, n_head=32, n_head_kv=4, n_ff=5632, n_vocab=32000, n_ctx=2048)


def write_f16(path):
    import gguf
    s = SHAPE
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("random-llama-1.1b")
    w.add_context_length(s["n_ctx"])
    w.add_embedding_length(s["n_embd"])
    w.add_block_count(s["n_layer"])
    w.add_feed_forward_length(s["n_ff"])
    w.add_head_count(s["n_head"])
    w.add_head_count_kv(s["n_head_kv"])
    w.add_rope_dimension_count(s["n_embd"] // s["n_head"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1)
    # SentencePiece-style vocabulary: <unk> <s> </s>, 256 byte tokens, then filler pieces
    toks = [b"<unk>", b"<s>", b"</s>"] + [("<0x%02X>" % i).encode() for i in range(256)]
    toks += [("\u2581w%d" % i).encode() for i in range(s["n_vocab"] - len(toks))]
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores([0.0] * len(toks))
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (len(toks) - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)

    def rand(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)

    E, F, D = s["n_embd"], s["n_ff"], s["n_embd"] // s["n_head"]
    KV = s["n_head_kv"] * D
    w.add_tensor("token_embd.weight", rand(s["n_vocab"], E))
    w.add_tensor("output_norm.weight", np.ones(E, np.float32))
    w.add_tensor("output.weight", rand(s["n_vocab"], E))
    for i in range(s["n_layer"]):
        w.add_tensor("blk.%d.attn_norm.weight" % i, np.ones(E, np.float32))
        w.add_tensor("blk.%d.attn_q.weight" % i, rand(E, E))
        w.add_tensor("blk.%d.attn_k.weight" % i, rand(KV, E))
        w.add_tensor("blk.%d.attn_v.weight" % i, rand(KV, E))
        w.add_tensor("blk.%d.attn_output.weight" % i, rand(E, E))
        w.add_tensor("blk.%d.ffn_norm.weight" % i, np.ones(E, np.float32))
        w.add_tensor("blk.%d.ffn_gate.weight" % i, rand(F, E))
        w.add_tensor("blk.%d.ffn_up.weight" % i, rand(F, E))
        w.add_tensor("blk.%d.ffn_down.weight" % i, rand(E, F))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def prompt_ids(n, n_vocab):
    # the same ids bin/bench_llm uses
    ids, x = [1], 12345
    for _ in range(1, n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        ids.append(100 + (x >> 8) % (n_vocab - 200))
    return ids


def run_iris(path, threads, P, G, reps, fast):
    cmd = [os.path.join(ROOT, "bin", "bench_llm"), "-m", path, "-t", str(threads), "-p", str(P), "-g", str(G),
           "-r", str(reps)] + (["--fast"] if fast else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_llamacpp(path, threads, P, G, reps):
    # in a child process so its memory and threads go away between runs
    code = r'''
import json, sys, time
from llama_cpp import Llama
path, threads, P, G, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ids = json.loads(sys.argv[6])
llm = Llama(model_path=path, n_ctx=P + G + 8, n_batch=P, n_ubatch=P, n_threads=threads, n_threads_batch=threads,
            verbose=False)
pp, tg = [], []
for r in range(reps + 1):
    llm.reset()
    t0 = time.perf_counter(); llm.eval(ids); t1 = time.perf_counter()
    for g in range(G):
        llm.eval([ids[1 + g % (P - 1)]])  # the logits of a random-weight model mean nothing
    t2 = time.perf_counter()
    if r: pp.append(P / (t1 - t0)); tg.append(G / (t2 - t1))
pp.sort(); tg.sort()
import llama_cpp
print(json.dumps({"engine": "llama.cpp (llama-cpp-python %s)" % llama_cpp.__version__, "pp_tok_s": pp[len(pp)//2],
                  "tg_tok_s": tg[len(tg)//2], "pp_min": pp[0], "pp_max": pp[-1], "tg_min": tg[0], "tg_max": tg[-1]}))
'''
    ids = prompt_ids(P, SHAPE["n_vocab"])
    out = subprocess.run([sys.executable, "-c", code, path, str(threads), str(P), str(G), str(reps), json.dumps(ids)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--types", default="q4_0,q8_0,q4_k")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--no-fast", action="store_true", help="skip iris --fast runs")
    a = ap.parse_args()
    os.makedirs(MODELS, exist_ok=True)
    f16 = os.path.join(MODELS, "llama1b-f16.gguf")
    if not os.path.exists(f16):
        t = time.time()
        write_f16(f16 + ".tmp")
        os.rename(f16 + ".tmp", f16)
        print("wrote %s in %.0f s" % (f16, time.time() - t), file=sys.stderr)
    results = {}
    for typ in a.types.split(","):
        path = os.path.join(MODELS, "llama1b-%s.gguf" % typ)
        if not os.path.exists(path):
            subprocess.run([os.path.join(ROOT, "bin", "quantize"), f16, path, typ], check=True)
        runs = {"iris": [], "iris-fast": [], "llama.cpp": []}
        for r in range(a.rounds):
            runs["llama.cpp"].append(run_llamacpp(path, a.threads, a.prompt, a.gen, a.reps))
            runs["iris"].append(run_iris(path, a.threads, a.prompt, a.gen, a.reps, False))
            if not a.no_fast:
                runs["iris-fast"].append(run_iris(path, a.threads, a.prompt, a.gen, a.reps, True))
            print(typ, "round", r, {k: (v[-1]["pp_tok_s"], v[-1]["tg_tok_s"]) for k, v in runs.items() if v},
                  file=sys.stderr, flush=True)
        # median of the rounds, and the best single run: on a shared machine the best run is
        # the one least disturbed by other processes
        results[typ] = {k: {"pp": statistics.median(x["pp_tok_s"] for x in v),
                            "tg": statistics.median(x["tg_tok_s"] for x in v),
                            "pp_best": max(x["pp_max"] for x in v), "tg_best": max(x["tg_max"] for x in v),
                            "engine": v[0]["engine"]} for k, v in runs.items() if v}
    print("| type | engine | prompt %d tok/s median (best) | generation %d tok/s median (best) |" % (a.prompt, a.gen))
    print("|---|---|---|---|")
    for typ, res in results.items():
        for k, v in res.items():
            print("| %s | %s | %.1f (%.1f) | %.2f (%.2f) |" % (typ, v["engine"], v["pp"], v["pp_best"], v["tg"],
                                                              v["tg_best"]))
    print(json.dumps(results), file=sys.stderr)


if __name__ == "__main__":
    main()
