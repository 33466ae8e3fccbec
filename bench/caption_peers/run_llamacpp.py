"""run_llamacpp.py - llama.cpp's side of the caption benchmark, through llama-cpp-python's LLaVA 1.5
chat handler (libmtmd underneath), one image at a time as llama.cpp's multimodal tools do.

    /work/benchdata/lcpp-venv/bin/python bench/caption_peers/run_llamacpp.py -m llama.gguf --mmproj mmproj.gguf \
        [--threads 2] [--max-tokens 32] [--encode-rounds 3] [--skip-encode] [--skip-caption] IMAGE...

Prints one JSON line:
  encode_ms_median/min   vision encode per image: mtmd_tokenize (preprocess) + mtmd_encode_chunk (CLIP
                         tower + projector) on an already decoded bitmap, the span bin/bench_llava times
  folder_s, images_per_min, tokens_per_s
                         every image captioned in turn with create_chat_completion (greedy, repeat
                         penalty off, max_tokens), wall time from the first image to the last
                         caption (the models are loaded before); tokens_per_s = generated tokens /
                         folder_s, as bench_caption.py computes it for iris
  decode_tokens_per_s    llama.cpp's own counter for the single-token decode steps alone
With random weights captions are garbage and EOS may come early: --ignore-eos (default on) puts a
-1e9 logit bias on the EOS token so every image gets exactly --max-tokens tokens.

Build the venv once (outside the repository; takes a while on 2 cores):
  python3 -m venv /work/benchdata/lcpp-venv
  CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_BLAS=OFF -DLLAMA_CURL=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
      nice -n 15 /work/benchdata/lcpp-venv/bin/pip install llama-cpp-python==0.3.36
"""
import argparse
import base64
import ctypes
import json
import os
import statistics
import sys
import time

DEFAULT_PROMPT = "Describe this image in one sentence."


def data_url(path):
    ext = os.path.splitext(path)[1].lower().lstrip(".") or "jpeg"
    with open(path, "rb") as f:
        return "data:image/%s;base64,%s" % ("jpeg" if ext == "jpg" else ext, base64.b64encode(f.read()).decode())


def encode_times(handler, images, rounds):
    """ms per image for preprocess + encode of an already decoded bitmap (first pass is a warm-up)."""
    mtmd = handler._mtmd_cpp
    ctx = handler.mtmd_ctx
    bitmaps = []
    for p in images:
        with open(p, "rb") as f:
            bitmaps.append(handler._create_bitmap_from_bytes(f.read()))
    marker = mtmd.mtmd_default_marker()
    times, n_tokens = [], 0
    try:
        for r in range(rounds + 1):
            for bm in bitmaps:
                text = mtmd.mtmd_input_text()
                text.text, text.text_len = marker, len(marker)
                text.add_special, text.parse_special = False, True
                chunks = mtmd.mtmd_input_chunks_init()
                arr = (mtmd.mtmd_bitmap_p_ctypes * 1)(bm)
                t0 = time.perf_counter()
                if mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), arr, 1) != 0:
                    sys.exit("mtmd_tokenize failed")
                for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                    ch = mtmd.mtmd_input_chunks_get(chunks, i)
                    if mtmd.mtmd_input_chunk_get_type(ch) == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                        if mtmd.mtmd_encode_chunk(ctx, ch) != 0:
                            sys.exit("mtmd_encode_chunk failed")
                        n_tokens = mtmd.mtmd_input_chunk_get_n_tokens(ch)
                dt = time.perf_counter() - t0
                mtmd.mtmd_input_chunks_free(chunks)
                if r > 0:
                    times.append(1e3 * dt)
    finally:
        for bm in bitmaps:
            mtmd.mtmd_bitmap_free(bm)
    return times, n_tokens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--mmproj", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--encode-rounds", type=int, default=3)
    ap.add_argument("--ignore-eos", type=int, default=1)
    ap.add_argument("--skip-encode", action="store_true")
    ap.add_argument("--skip-caption", action="store_true")
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()

    import llama_cpp
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    t0 = time.perf_counter()
    handler = Llava15ChatHandler(clip_model_path=a.mmproj, verbose=False)
    llm = Llama(model_path=a.model, chat_handler=handler, n_ctx=a.n_ctx, n_threads=a.threads,
                n_threads_batch=a.threads, n_batch=512, verbose=False)
    handler._init_mtmd_context(llm)
    out = {"tool": "llama.cpp", "version": "llama-cpp-python " + llama_cpp.__version__, "threads": a.threads,
           "images": len(a.images), "load_s": round(time.perf_counter() - t0, 3)}

    if not a.skip_encode:
        times, n_tok = encode_times(handler, a.images, a.encode_rounds)
        out.update(encode_ms_median=round(statistics.median(times), 2), encode_ms_min=round(min(times), 2),
                   encodes=len(times), rows_per_image=n_tok)

    if not a.skip_caption:
        bias = {int(llm.token_eos()): -1e9} if a.ignore_eos else None
        urls = [data_url(p) for p in a.images]  # read before the clock starts
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        tokens, per_image = 0, []
        t0 = time.perf_counter()
        for url in urls:
            t1 = time.perf_counter()
            r = llm.create_chat_completion(
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                       {"type": "text", "text": a.prompt}]}],
                max_tokens=a.max_tokens, temperature=0.0, repeat_penalty=1.0, logit_bias=bias)
            n = r["usage"]["completion_tokens"]
            tokens += n
            per_image.append({"tokens": n, "seconds": round(time.perf_counter() - t1, 3)})
        folder_s = time.perf_counter() - t0
        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        out.update(max_tokens=a.max_tokens, caption_tokens=tokens, folder_s=round(folder_s, 3),
                   images_per_min=round(60 * len(urls) / folder_s, 2), tokens_per_s=round(tokens / folder_s, 2),
                   decode_tokens_per_s=round(1e3 * perf.n_eval / perf.t_eval_ms, 2) if perf.t_eval_ms > 0 else None,
                   per_image=per_image)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
