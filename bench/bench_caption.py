"""bench_caption.py - iris's caption tool next to llama.cpp (llama-cpp-python's LLaVA 1.5 handler) on the
same random full-size files, the same photos, the same thread count, in the same run:

  vision encode    ms per image, CLIP ViT-L/14-336 + projector on a decoded photo
                   (iris: bin/bench_llava; llama.cpp: mtmd_tokenize + mtmd_encode_chunk)
  captioning       a folder of N photos (copies of ../shared/data/images cycled to N), max_tokens each,
                   EOS suppressed so both generate the same number of tokens: iris `bin/caption` at
                   --batch 1 and --batch 8, llama.cpp one image at a time; images per minute and
                   generated tokens per second, wall time from model load to the last caption on both
                   sides (iris: the whole process; llama.cpp: Llama() + mtmd init + the loop)

Goals (issue 9): vision encode >= 1.2x llama.cpp's speed; folder throughput at --batch 8 >= 3x
llama.cpp's one-image-at-a-time throughput.

    /usr/bin/python3 bench/gen_caption_random.py            # once: /tmp/iris-caption/*.gguf
    python3 bench/bench_caption.py [--threads 2] [--images 16] [--max-tokens 32] [--rounds 3]
        [--models /tmp/iris-caption] [--peer-python /work/benchdata/lcpp-venv/bin/python] [--only iris|llama.cpp]
        [--bin bin]

Prints a Markdown table and writes the raw JSON to <models>/bench_caption.json (with --only, the other
side's numbers already there for the same threads/photos/tokens are kept; --table reprints it).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_IMAGES = os.path.join(ROOT, "..", "shared", "data", "images")


def folder(models, n):
    src = sorted(glob.glob(os.path.join(SHARED_IMAGES, "*.jpg")))
    if not src:
        sys.exit("no photos in %s" % SHARED_IMAGES)
    d = os.path.join(models, "photos%d" % n)
    if os.path.isdir(d) and len(os.listdir(d)) == n:
        return sorted(os.path.join(d, f) for f in os.listdir(d))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    out = []
    for i in range(n):
        s = src[i % len(src)]
        p = os.path.join(d, "%02d_%s" % (i, os.path.basename(s)))
        shutil.copy(s, p)
        out.append(p)
    return out


def run_json(cmd):
    print("+", " ".join(cmd[:6]), "..." if len(cmd) > 6 else "", file=sys.stderr)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def iris_caption(args, lm, mm, photos, batch):
    exe = os.path.join(args.bin, "caption")
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True)
    help_text = help_text.stdout + help_text.stderr
    out = os.path.join(args.models, "captions_b%d.jsonl" % batch)
    if os.path.exists(out):
        os.remove(out)
    cmd = [exe] + photos + ["-m", lm, "--mmproj", mm, "-o", out, "--batch", str(batch), "--threads",
                            str(args.threads), "--max-tokens", str(args.max_tokens), "--temp", "0", "-q"]
    note = ""
    if "--ignore-eos" in help_text:
        cmd.append("--ignore-eos")
    else:
        note = "no --ignore-eos: captions may stop early"
    if "-q" not in help_text and "--quiet" not in help_text:
        cmd.remove("-q")
    print("+", exe, "... --batch", batch, file=sys.stderr)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit("bin/caption failed (%d):\n%s" % (r.returncode, r.stderr[-2000:]))
    lines = [json.loads(x) for x in open(out) if x.strip()]
    tokens = sum(int(x.get("tokens", 0)) for x in lines)
    return {"tool": "iris", "batch": batch, "images": len(lines), "caption_tokens": tokens, "wall_s": round(wall, 3),
            "images_per_min": round(60 * len(lines) / wall, 2), "tokens_per_s": round(tokens / wall, 2), "note": note}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="/tmp/iris-caption")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="vision encode rounds over the photos")
    ap.add_argument("--peer-python", default="/work/benchdata/lcpp-venv/bin/python")
    ap.add_argument("--only", choices=["iris", "llama.cpp"])
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"), help="folder with iris's caption and bench_llava")
    ap.add_argument("--table", action="store_true", help="only print the table of <models>/bench_caption.json")
    args = ap.parse_args()
    out_json = os.path.join(args.models, "bench_caption.json")
    if args.table:
        with open(out_json) as f:
            return table(json.load(f))
    lm = os.path.join(args.models, "llama-1b-q4_0.gguf")
    mm = os.path.join(args.models, "mmproj-vitl336-f16.gguf")
    for f in (lm, mm):
        if not os.path.exists(f):
            sys.exit("%s missing: run /usr/bin/python3 bench/gen_caption_random.py" % f)
    photos = folder(args.models, args.images)
    enc_photos = photos[:min(4, len(photos))]
    res = {"threads": args.threads, "images": len(photos), "max_tokens": args.max_tokens}
    if args.only and os.path.exists(out_json):  # one side at a time: keep the other side's numbers of the same setup
        with open(out_json) as f:
            old = json.load(f)
        if all(old.get(k) == res[k] for k in res):
            res = old

    if args.only != "llama.cpp":
        res["iris_encode"] = run_json([os.path.join(args.bin, "bench_llava"), "--mmproj", mm, "-t",
                                       str(args.threads), "-r", str(args.rounds)] + enc_photos)
    if args.only != "iris":
        peer = os.path.join(ROOT, "bench", "caption_peers", "run_llamacpp.py")
        base = [args.peer_python, peer, "-m", lm, "--mmproj", mm, "--threads", str(args.threads),
                "--max-tokens", str(args.max_tokens)]
        res["llamacpp_encode"] = run_json(base + ["--skip-caption", "--encode-rounds", str(args.rounds)] + enc_photos)
        res["llamacpp_caption"] = run_json(base + ["--skip-encode"] + photos)
    if args.only != "llama.cpp":
        res["iris_b1"] = iris_caption(args, lm, mm, photos, 1)
        res["iris_b8"] = iris_caption(args, lm, mm, photos, 8)
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1)
    table(res)


def table(res):
    def g(k, f):
        return res.get(k, {}).get(f)

    lc = res.get("llamacpp_caption", {})
    lc_wall = (lc.get("folder_s") or 0) + (lc.get("load_s") or 0)
    lc_ipm = 60 * lc["images"] / lc_wall if lc_wall else None
    lc_tps = lc["caption_tokens"] / lc_wall if lc_wall else None

    def ratio(a, b, inverse=False):
        if not a or not b:
            return ""
        return "%.2fx" % ((b / a) if inverse else (a / b))

    print("\n%d threads, %d photos, %d tokens per caption; CLIP ViT-L/14-336 F16 mmproj, 1.1B Llama Q4_0 "
          "(random weights)\n" % (res["threads"], res["images"], res["max_tokens"]))
    print("| measure | iris | llama.cpp | iris / llama.cpp | goal |")
    print("|---|---|---|---|---|")
    ie, le = g("iris_encode", "encode_ms_median"), g("llamacpp_encode", "encode_ms_median")
    print("| vision encode, ms per image (median) | %s | %s | %s | >= 1.2x |" %
          (ie, le, ratio(ie, le, inverse=True)))
    for b in (1, 8):
        r = res.get("iris_b%d" % b, {})
        print("| caption tokens/s, iris --batch %d | %s | %s | %s | |" %
              (b, r.get("tokens_per_s"), "%.2f" % lc_tps if lc_tps else None, ratio(r.get("tokens_per_s"), lc_tps)))
    for b in (1, 8):
        r = res.get("iris_b%d" % b, {})
        print("| images per minute, iris --batch %d | %s | %s | %s | %s |" %
              (b, r.get("images_per_min"), "%.2f" % lc_ipm if lc_ipm else None, ratio(r.get("images_per_min"), lc_ipm),
               ">= 3x" if b == 8 else ""))
    if lc.get("decode_tokens_per_s"):
        print("\nllama.cpp decode steps alone: %.2f tokens/s." % lc["decode_tokens_per_s"])
    for b in (1, 8):
        if g("iris_b%d" % b, "note"):
            print("note (iris --batch %d): %s" % (b, g("iris_b%d" % b, "note")))

if __name__ == "__main__":
    main()
