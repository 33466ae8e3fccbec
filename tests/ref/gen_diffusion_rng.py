"""gen_diffusion_rng.py - reference noise for tests/test_diffusion_rng.c -> diffusion_rng.safetensors

    PYTHONPATH=/usr/lib/python3/dist-packages /usr/bin/python3 tests/ref/gen_diffusion_rng.py

(the PYTHONPATH picks Debian's torch 1.13 over any newer torch installed under /usr/local.)

cpu_<i>:  torch.Generator().manual_seed(SEEDS[i]) and successive torch.randn(size, generator=g)
          for size in CALLS, concatenated: the real torch CPU generator (mt19937 + its
          Box-Muller; the >= 16 path is the AVX2 kernel on x86, which this torch uses).
cuda_<i>: the same calls through torch's CUDA randn as AUTOMATIC1111 re-computes it on the CPU
          (modules/rng_philox.py, its "NV" source): written here again in numpy from that
          published description, independently of the C code. No CUDA device is involved. The
          one published output, A1111's docstring example (seed 0, shape (3, 4); torch.randn on
          CUDA gives the same to the 4 digits torch prints), must be met before anything is
          written: to 3e-7, because those printed values are float64 results with an exact 2*pi
          where the code as published uses float32(2^-32 * 6.2831855) (up to 2 float32 ulps).
*_big:    seed 42, a 4x64x64 latent and then a 17-element draw (offset / stream continuation).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refio  # noqa: E402

SEEDS = [0, 42, 2**32 + 5, 2**63 - 1, 2**64 - 1]
CALLS = [1, 3, 15, 16, 17, 100, 4 * 32 * 32, 1]
BIG_CALLS = [4 * 64 * 64, 17]


class Philox:
    """Philox4x32-10 per element: counter (offset, 0, index, 0), key (seed lo, seed hi);
    the first two output words feed one Box-Muller sine value computed in float64."""

    M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    W0, W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)

    def __init__(self, seed):
        self.key = (np.uint32(seed & 0xFFFFFFFF), np.uint32(seed >> 32))
        self.offset = 0

    def randn(self, n):
        c0 = np.full(n, self.offset & 0xFFFFFFFF, dtype=np.uint32)
        c1 = np.zeros(n, dtype=np.uint32)
        c2 = np.arange(n, dtype=np.uint32)
        c3 = np.zeros(n, dtype=np.uint32)
        k0, k1 = self.key
        with np.errstate(over="ignore"):
            for r in range(10):
                p0 = c0.astype(np.uint64) * self.M0
                p1 = c2.astype(np.uint64) * self.M1
                hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), p0.astype(np.uint32)
                hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), p1.astype(np.uint32)
                c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
                k0, k1 = np.uint32(k0 + self.W0), np.uint32(k1 + self.W1)
        self.offset += 1
        inv = np.float64(np.float32(2.3283064e-10))
        inv_2pi = np.float64(np.float32(2.3283064e-10 * 6.2831855))
        u = c0.astype(np.float64) * inv + np.float64(np.float32(2.3283064e-10) / np.float32(2))
        v = c1.astype(np.float64) * inv_2pi + np.float64(np.float32(2.3283064e-10 * 6.2831855) / np.float32(2))
        return (np.sqrt(-2.0 * np.log(u)) * np.sin(v)).astype(np.float32)


def torch_calls(seed, calls):
    g = torch.Generator().manual_seed(seed)
    return np.concatenate([torch.randn(n, generator=g).numpy() for n in calls])


def philox_calls(seed, calls):
    p = Philox(seed)
    return np.concatenate([p.randn(n) for n in calls])


def main():
    assert torch.__version__.startswith("1.13"), f"torch {torch.__version__}: run with Debian's torch 1.13 (see top)"
    # A1111's documented output of Generator(seed=0).randn((3, 4)), the same as torch.randn on CUDA
    a1111 = np.array([[-0.92466259, -0.42534415, -2.6438457, 0.14518388],
                      [-0.12086647, -0.57972564, -0.62285122, -0.32838709],
                      [-1.07454231, -0.36314407, -1.67105067, 2.26550497]], dtype=np.float32)
    got = Philox(0).randn(12).reshape(3, 4)
    assert np.allclose(got, a1111, atol=3e-7, rtol=0), got
    # shapes do not matter, only element counts: torch.randn((2, 3, 4)) == torch.randn(24)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(torch.randn((2, 3, 4), generator=g1).flatten(), torch.randn(24, generator=g2))

    t = {}
    for i, s in enumerate(SEEDS):
        t[f"cpu_{i}"] = torch_calls(s, CALLS)
        t[f"cuda_{i}"] = philox_calls(s, CALLS)
    t["cpu_big"] = torch_calls(42, BIG_CALLS)
    t["cuda_big"] = philox_calls(42, BIG_CALLS)
    meta = {"seeds": ",".join(str(s) for s in SEEDS), "calls": ",".join(map(str, CALLS)),
            "big_calls": ",".join(map(str, BIG_CALLS)), "torch": torch.__version__}
    out = os.path.join(os.path.dirname(__file__), "diffusion_rng.safetensors")
    refio.save(out, t, meta)
    print("wrote", out, sum(a.size for a in t.values()), "floats")


if __name__ == "__main__":
    main()
