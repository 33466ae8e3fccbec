"""bench_resnet.py - ResNet-50 images/s on CPU: iris vs PyTorch vs ONNX Runtime, same inputs, same run.

    make bench && /usr/bin/python3 bench/bench_resnet.py [--threads 2] [--iters 10]

Needs torch + torchvision (Debian python3-torch python3-torchvision) and onnxruntime (pip).
Prints a markdown table for docs/BENCHMARKS.md.
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
ROOT = os.path.dirname(HERE)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def timed(fn, iters):
    fn()  # warm-up
    best = float("inf")
    t_all = time.perf_counter()
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best, (time.perf_counter() - t_all) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--batches", default="1,8")
    a = ap.parse_args()
    st = os.path.join(MODELS, "resnet50.safetensors")
    if not os.path.exists(st):
        subprocess.check_call([sys.executable, os.path.join(HERE, "make_resnet50.py")])

    import onnxruntime as ort
    import torch
    import torchvision

    torch.set_num_threads(a.threads)
    m = torchvision.models.resnet50(weights=None)
    from refio_load import load_safetensors  # noqa
    sd = {k: torch.from_numpy(v) for k, v in load_safetensors(st).items()}
    m.load_state_dict(sd, strict=False)
    m.eval()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(MODELS, "resnet50.onnx"), so, providers=["CPUExecutionProvider"])

    rows = []
    for b in [int(x) for x in a.batches.split(",")]:
        x = np.random.default_rng(b).standard_normal((b, 3, 224, 224)).astype(np.float32)
        xt = torch.from_numpy(x)
        with torch.no_grad():
            t_torch, _ = timed(lambda: m(xt), a.iters)
        t_ort, _ = timed(lambda: sess.run(None, {"input": x}), a.iters)
        out = subprocess.run([os.path.join(ROOT, "bin", "bench_resnet"), st, "--batch", str(b), "--threads",
                              str(a.threads), "--iters", str(a.iters)], capture_output=True, text=True, check=True)
        t_iris = float(re.search(r"best_s=([0-9.eE+-]+)", out.stdout).group(1))
        rows.append((b, b / t_iris, b / t_torch, b / t_ort))

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; threads={a.threads}; "
          f"torch {torch.__version__}, onnxruntime {ort.__version__}")
    print("| batch | iris img/s | PyTorch img/s | ONNX Runtime img/s | iris / PyTorch | iris / ORT |")
    print("|---|---|---|---|---|---|")
    for b, i, t, o in rows:
        print(f"| {b} | {i:.2f} | {t:.2f} | {o:.2f} | {i / t:.2f} | {i / o:.2f} |")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
