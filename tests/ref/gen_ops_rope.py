"""gen_ops_rope.py - references for iris_rope (tests/test_ops_rope.c).

Run by hand: /usr/bin/python3 tests/ref/gen_ops_rope.py  (writes tests/ref/ops_rope.safetensors)

The rotation is written out in torch from the definition. The angles follow
llama.cpp's CPU kernel, which the runtime matches on purpose (see core/cpu/rope.c):
theta_scale = base ** (-2/n_dims) in float32, theta starts at float32(pos) and is
multiplied by theta_scale once per pair in float32, angle = freq_scale * theta in
float32. cos/sin are then taken in float64 of that float32 angle. For each case the
script prints how far that is from the textbook float64 angle pos*fs*base^(-2i/n_dims).
Case names: rope_<case>_{x,pos,y}; n_dims/mode/base/freq_scale live in the C test.
"""
import os

import numpy as np
import torch

import refio

torch.manual_seed(99)
T = {}


def angles(pos, n_dims, base, fs):
    """float32 angles [L, n_dims/2] exactly as llama.cpp's ggml_rope_cache_init computes them."""
    # powf(base, -2.0f/n_dims): the exponent is rounded to float32 first; the power is taken in
    # float64 and rounded once (numpy's own float32 power may be 1 ulp off glibc's powf)
    e = float(np.float32(-2.0) / np.float32(n_dims))
    ts = np.float32(float(np.float32(base)) ** e)
    out = np.zeros((len(pos), n_dims // 2), dtype=np.float32)
    for li, p in enumerate(pos):
        theta = np.float32(p)
        for i in range(n_dims // 2):
            out[li, i] = np.float32(fs) * theta
            theta = np.float32(theta * ts)
    return out


def rope(name, x, pos, n_dims, neox, base, fs, stored=None):
    """x: [..., L, H, D] as the op sees it; stored: the tensor actually saved (a transposed copy)."""
    ang = torch.from_numpy(angles(pos, n_dims, base, fs).astype(np.float64))  # [L, nd/2]
    exact = torch.tensor(pos, dtype=torch.float64)[:, None] * fs * \
        torch.pow(torch.tensor(float(base), dtype=torch.float64), -2.0 * torch.arange(n_dims // 2, dtype=torch.float64) / n_dims)
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]  # broadcast over H
    xd = x.double()
    y = xd.clone()
    if neox:
        h = n_dims // 2
        a, b = xd[..., :h], xd[..., h:n_dims]
        y[..., :h] = a * cos - b * sin
        y[..., h:n_dims] = a * sin + b * cos
    else:
        a, b = xd[..., 0:n_dims:2], xd[..., 1:n_dims:2]
        y[..., 0:n_dims:2] = a * cos - b * sin
        y[..., 1:n_dims:2] = a * sin + b * cos
    T[name + "_x"] = stored if stored is not None else x
    T[name + "_pos"] = np.array(pos, dtype=np.int32)
    T[name + "_y"] = y.float()
    print(f"{name}: max |float32 recurrence angle - float64 angle| = {(ang - exact).abs().max().item():.3g} rad")


def rnd(*s):
    return torch.randn(*s)


rope("rope_normal", rnd(1, 7, 3, 64), [5, 0, 100, 7, 3000, 12, 1], 64, False, 10000.0, 1.0)
rope("rope_neox", rnd(2, 5, 4, 80), [1, 4, 7, 10, 13], 80, True, 10000.0, 1.0)
rope("rope_partial", rnd(9, 2, 40), list(range(9)), 16, False, 500.0, 0.25)
rope("rope_neox_long", rnd(1, 257, 1, 18), list(range(1000, 1257)), 12, True, 10000.0, 0.5)
rope("rope_odd", rnd(1, 3, 2, 17), [2, 9, 4], 16, False, 10000.0, 1.0)
rope("rope_far", rnd(1, 4, 2, 128), [4000, 6000, 8000, 8191], 128, False, 10000.0, 1.0)
s = rnd(1, 3, 7, 64)  # [B, H, L, D]: the test views it as [B, L, H, D] with iris_transpose(1, 2)
rope("rope_strided", s.transpose(1, 2), list(range(7)), 64, True, 10000.0, 1.0, stored=s)
s = rnd(7, 24, 3)  # viewed as [L=7, H=3, D=24] with the last two dims swapped: D is strided
rope("rope_inner_strided", s.transpose(1, 2), [3, 1, 4, 1, 5, 9, 2], 24, False, 10000.0, 1.0, stored=s)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_rope.safetensors")
refio.save(out, T, {"generator": "tests/ref/gen_ops_rope.py", "torch": torch.__version__})
print(out, os.path.getsize(out), "bytes")
