"""bench_sdgen.py - Stable Diffusion 1.5 on CPU: iris `sdgen` vs stable-diffusion.cpp, diffusers and OpenVINO.

    make && /usr/bin/python3 bench/bench_sdgen.py [--peers iris,sdcpp,diffusers,openvino] [--sizes 256,512]
        [--steps 4] [--sampler euler_a[,euler]] [--threads 2] [--nice 0]

Same checkpoint (bench/gen_sd15_random.py: real SD 1.5 shapes, random weights), prompt, seed, sampler,
steps, CFG 7 and thread count for every peer; the peers run one after another, never together.
Each peer is its own process (bench/sd_peers/run_*.py, or bin/sdgen), so its peak RSS is read the same
way for all: the ru_maxrss that wait4() returns for it (loading included). Per-stage times come from
the peers themselves (see the runners). OpenVINO is timed on the UNet at batch 2 (one guided step)
and the VAE decoder only. PSNR compares iris's PNG with stable-diffusion.cpp's for the same settings
(both use the "cuda" Philox noise). Prints a markdown table and writes everything to --json.

Needs (outside the repo, see bench/README_sdgen.md): the checkpoint, /work/benchdata/venv with
stable-diffusion-cpp-python and openvino, the ONNX exports (bench/sd_peers/export_onnx.py).
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.path.join(HERE, "sd_peers")
DATA = os.environ.get("IRIS_BENCHDATA", "/work/benchdata")
VENV_PY = os.path.join(DATA, "venv", "bin", "python")
SYS_PY = "/usr/bin/python3"
ALL_PEERS = ["iris", "sdcpp", "diffusers", "openvino-f32", "openvino-bf16"]


def parse_iris_stages(stderr):
    """bin/sdgen --verbose timings -> {"text_s", "step_s": [...], "vae_s", "stage_peak_mb": {...}}.

    The format is not final; this accepts lines such as "text 0.41 s", "step 3/20: 1.52 s (peak 310 MB)",
    "[sdgen] vae-decode: 1234 ms, peak 1.2 GB": a stage word, an optional index, a time in s or ms,
    an optional peak with a unit. Keep all format knowledge here.
    """
    out = {"text_s": None, "step_s": [], "vae_s": None, "stage_peak_mb": {}}
    unit = {"B": 1e-6, "KB": 1e-3, "KIB": 1.024e-3, "MB": 1.0, "MIB": 1.048576, "GB": 1e3, "GIB": 1073.741824}
    for line in stderr.splitlines():
        m = re.search(r"\b(text|step|vae[- ]decode|vae[- ]encode)\b(.*)", line, re.I)
        if not m:
            continue
        stage, rest = m.group(1).lower().replace(" ", "-"), m.group(2)
        peak = re.search(r"peak\D*?([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B)\b", rest, re.I)
        if peak:
            mb = float(peak.group(1)) * unit[peak.group(2).upper()]
            out["stage_peak_mb"][stage] = max(out["stage_peak_mb"].get(stage, 0.0), mb)
            rest = rest[:peak.start()] + rest[peak.end():]
        t = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b", rest)
        if not t:
            continue
        sec = float(t.group(1)) / (1000.0 if t.group(2) == "ms" else 1.0)
        if stage == "step":
            out["step_s"].append(sec)
        elif stage == "text":
            out["text_s"] = (out["text_s"] or 0.0) + sec
        elif stage == "vae-decode":
            out["vae_s"] = sec
    return out


def run_measured(cmd, nice, timeout, env):
    """Run cmd alone; return (rc, stdout, stderr, wall seconds, peak RSS in MB from wait4)."""
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, cwd=PEERS_DIR, env=env)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.1)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keeps Popen from waiting again
        wall = time.perf_counter() - t0
        fo.seek(0)
        fe.seek(0)
        return p.returncode, fo.read(), fe.read(), wall, ru.ru_maxrss / 1024.0  # Linux: ru_maxrss in KiB


def peer_cmd(peer, a, size, sampler, steps, out_png):
    common = ["--ckpt", a.ckpt, "--prompt", a.prompt, "--seed", str(a.seed), "--steps", str(steps),
              "--cfg", str(a.cfg), "-W", str(size), "-H", str(size), "--sampler", sampler,
              "--threads", str(a.threads), "--out", out_png]
    if peer == "iris":
        return [a.sdgen, a.prompt, "-m", a.ckpt, "-o", out_png, "--seed", str(a.seed), "--steps", str(steps),
                "--cfg", str(a.cfg), "-W", str(size), "-H", str(size), "--sampler", sampler,
                "--threads", str(a.threads), "--verbose"] + a.sdgen_args.split()
    if peer == "sdcpp":
        return [VENV_PY, "run_sdcpp.py"] + common + (["--flash-attn"] if a.sdcpp_flash_attn else [])
    if peer == "diffusers":
        return [SYS_PY, "run_diffusers.py"] + common
    if peer.startswith("openvino-"):
        return [VENV_PY, "run_openvino.py", "--precision", peer.split("-")[1], "--onnx", a.onnx] + common
    raise ValueError(peer)


def run_peer(peer, a, size, sampler, steps, env):
    out_png = os.path.join(a.outdir, f"{peer}_{sampler}_{size}.png") if not peer.startswith("openvino") else ""
    if out_png and os.path.exists(out_png):
        os.remove(out_png)
    cmd = peer_cmd(peer, a, size, sampler, steps, out_png)
    rc, so, se, wall, rss = run_measured(cmd, a.nice, a.timeout, env)
    r = {"peer": peer, "size": size, "sampler": sampler, "steps": steps, "rc": rc, "wall_s": wall,
         "peak_rss_mb": rss, "loadavg_1min_after": os.getloadavg()[0], "cmd": cmd}
    if rc != 0:
        r["error"] = (se or so)[-2000:]
        return r
    if peer == "iris":
        r.update(parse_iris_stages(se))
        r["image"] = out_png
        r["stderr_tail"] = se[-2000:]
    else:
        r.update(json.loads(so.strip().splitlines()[-1]))
        r["peer"] = peer
    return r


def psnr(png_a, png_b):
    from PIL import Image
    x = np.asarray(Image.open(png_a).convert("RGB"), np.float64)
    y = np.asarray(Image.open(png_b).convert("RGB"), np.float64)
    if x.shape != y.shape:
        return None
    mse = np.mean((x - y) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)


def table(results):
    rows = ["| peer | sampler | size | s/step (median) | first step s | text s | VAE decode s | peak RSS MB "
            "| PSNR vs sd.cpp dB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.get("rc"):
            rows.append(f"| {r['peer']} | {r['sampler']} | {r['size']} | failed (rc {r['rc']}) | | | | | |")
            continue
        st = r.get("step_s") or []
        rows.append(f"| {r['peer']} | {r['sampler']} | {r['size']}² | {fmt(np.median(st) if st else None)} | "
                    f"{fmt(st[0] if st else None)} | {fmt(r.get('text_s'))} | {fmt(r.get('vae_s'))} | "
                    f"{fmt(r['peak_rss_mb'], '{:.0f}')} | {fmt(r.get('psnr_vs_sdcpp'), '{:.1f}')} |")
    return "\n".join(rows)


def versions():
    v = {"cpu": platform.processor(), "python": sys.version.split()[0]}
    try:
        v["cpu"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    probe = "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in %r}))"
    for py, pk in ((SYS_PY, ["torch", "diffusers", "transformers"]),
                   (VENV_PY, ["stable-diffusion-cpp-python", "openvino"])):
        try:
            v.update(json.loads(subprocess.run([py, "-c", probe % pk], capture_output=True, text=True).stdout))
        except (OSError, ValueError):
            pass
    try:
        v["iris_commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                          text=True).stdout.strip()
    except OSError:
        pass
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peers", default="iris,sdcpp,diffusers,openvino",
                    help="comma list of " + ", ".join(ALL_PEERS) + " (openvino = both precisions)")
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--sampler", default="euler_a", help="euler_a, euler or both comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--prompt", default="a photograph of an astronaut riding a horse")
    ap.add_argument("--ckpt", default=os.path.join(DATA, "sd15_random.safetensors"))
    ap.add_argument("--onnx", default=os.path.join(DATA, "onnx"))
    ap.add_argument("--sdgen", default=os.path.join(ROOT, "bin", "sdgen"))
    ap.add_argument("--sdgen-args", default="", help="extra flags for bin/sdgen")
    ap.add_argument("--sdcpp-flash-attn", action="store_true", help="sd.cpp with --diffusion-fa")
    ap.add_argument("--outdir", default=os.path.join(DATA, "bench_out"))
    ap.add_argument("--json", default=os.path.join(DATA, "bench_out", "bench_sdgen.json"))
    ap.add_argument("--nice", type=int, default=0, help="run every peer under nice -n N (smoke tests)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per peer run")
    a = ap.parse_args()
    peers = []
    for p in a.peers.split(","):
        peers += ["openvino-f32", "openvino-bf16"] if p == "openvino" else [p]
    bad = [p for p in peers if p not in ALL_PEERS]
    if bad:
        sys.exit(f"bench_sdgen: unknown peer(s) {bad}; choose from {ALL_PEERS}")
    if not os.path.exists(a.ckpt):
        sys.exit(f"bench_sdgen: {a.ckpt} missing: run /usr/bin/python3 bench/gen_sd15_random.py")
    if "iris" in peers and not os.access(a.sdgen, os.X_OK):
        print(f"bench_sdgen: {a.sdgen} not built, skipping iris", file=sys.stderr)
        peers.remove("iris")
    os.makedirs(a.outdir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), PYTHONUNBUFFERED="1")
    load0 = os.getloadavg()[0]
    if load0 > 0.5:
        # ggml's and OpenMP's spinning thread barriers collapse when the cores are shared: times mean little
        print(f"bench_sdgen: warning: load average {load0:.1f} before the run; other work shares the CPU",
              file=sys.stderr)
    results = []
    for si, sampler in enumerate(a.sampler.split(",")):
        for size in [int(s) for s in a.sizes.split(",")]:
            for peer in peers:
                if peer.startswith("openvino") and si > 0:
                    continue  # no sampler in the OpenVINO timing
                print(f"[{time.strftime('%H:%M:%S')}] {peer} {sampler} {size}x{size} {a.steps} steps ...",
                      file=sys.stderr, flush=True)
                r = run_peer(peer, a, size, sampler, a.steps, env)
                print(f"    rc {r['rc']}, {r['wall_s']:.1f} s wall, peak RSS {r['peak_rss_mb']:.0f} MB"
                      + (f"\n{r['error']}" if r.get("error") else ""), file=sys.stderr, flush=True)
                results.append(r)
            by = {r["peer"]: r for r in results if r["size"] == size and r["sampler"] == sampler and not r["rc"]}
            if "iris" in by and "sdcpp" in by and by["iris"].get("image") and by["sdcpp"].get("image"):
                by["iris"]["psnr_vs_sdcpp"] = psnr(by["iris"]["image"], by["sdcpp"]["image"])
    info = versions()
    info.update(threads=a.threads, steps=a.steps, cfg=a.cfg, seed=a.seed, prompt=a.prompt, nice=a.nice,
                loadavg_1min_before=load0)
    with open(a.json, "w") as f:
        json.dump({"info": info, "results": results}, f, indent=1)
    print(f"{info.get('cpu')}, {a.threads} threads, {a.steps} steps, CFG {a.cfg}, seed {a.seed}; "
          f"sd.cpp {info.get('stable-diffusion-cpp-python')}, torch {info.get('torch')}, "
          f"diffusers {info.get('diffusers')}, OpenVINO {info.get('openvino')}, iris {info.get('iris_commit')}; "
          f"load average before {load0:.1f}\n")
    print(table(results))
    print(f"\n(details: {a.json})")


if __name__ == "__main__":
    main()
