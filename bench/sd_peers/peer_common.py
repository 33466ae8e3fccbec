"""peer_common.py - the command line every peer runner takes, and the one JSON line it prints.

bench_sdgen.py runs each runner as its own process (so peak RSS is the runner's alone) and reads
the last stdout line: {"peer", "load_s", "text_s", "step_s": [...], "vae_s", "total_s", "image"}.
"""
import argparse
import json
import sys


def parse_args(extra=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/work/benchdata/sd15_random.safetensors")
    ap.add_argument("--prompt", default="a photograph of an astronaut riding a horse")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("-W", "--width", type=int, default=256)
    ap.add_argument("-H", "--height", type=int, default=256)
    ap.add_argument("--sampler", choices=["euler_a", "euler"], default="euler_a")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="", help="PNG to write (empty: none)")
    if extra:
        extra(ap)
    return ap.parse_args()


def emit(result):
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
