"""gen_ops_matmul.py - references for linear and matmul (tests/test_ops_matmul.c).

Run by hand: /usr/bin/python3 tests/ref/gen_ops_matmul.py  (writes tests/ref/ops_matmul.safetensors)
References come from torch.nn.functional.linear and torch.matmul, evaluated in float64 on the
float32 (or exactly upcast f16/bf16) inputs, then rounded to float32.
bf16 tensors are stored as their raw uint16 bits in I16 tensors (refio has no BF16 type);
the C test wraps those bits as a BF16 tensor.
Case names: lin_<case>_{x,w,b,y} and mm_<case>_{a,b,y}; activation and trans_b live in the C test.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import refio

torch.manual_seed(4321)
T = {}


def rnd(*shape, scale=1.0):
    return (torch.rand(*shape, dtype=torch.float64) * 2 - 1).mul(scale).float()


def bf16_bits(t):
    return t.bfloat16().view(torch.int16)


def store_weight(name, w, dtype):
    """Stores w converted to dtype; returns the exact float64 value the kernel must use."""
    if dtype == "f16":
        T[name] = w.half()
        return w.half().double()
    if dtype == "bf16":
        T[name] = bf16_bits(w)
        return w.bfloat16().double()
    T[name] = w
    return w.double()


ACTS = {
    "none": lambda y: y,
    "relu": F.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "leaky": lambda y: F.leaky_relu(y, 0.1),
}


def linear(name, xshape, n, wdtype="f32", bias="f32", act="none"):
    k = xshape[-1]
    x = rnd(*xshape)
    w = rnd(n, k, scale=1.0 / np.sqrt(k))
    T[f"lin_{name}_x"] = x
    wd = store_weight(f"lin_{name}_w", w, wdtype)
    bd = None
    if bias is not None:
        bd = store_weight(f"lin_{name}_b", rnd(n), bias)
    y = ACTS[act](F.linear(x.double(), wd, bd))
    T[f"lin_{name}_y"] = y.float()


linear("small", (3, 5, 37), 45)
linear("gemv", (1, 300), 37)
linear("gemv4", (4, 65), 17, bias=None)
linear("tall", (40, 150), 69)
linear("deepk", (9, 513), 33)
linear("k1", (9, 1), 7)
linear("f16", (9, 96), 33, wdtype="f16")
linear("f16_gemv", (2, 1, 130), 40, wdtype="f16", bias="f16")
linear("bf16", (2, 7, 48), 50, wdtype="bf16", bias="bf16")
linear("relu", (6, 40), 24, act="relu")
linear("gelu", (6, 40), 24, act="gelu")
linear("silu", (1, 40), 24, act="silu")
linear("leaky", (5, 40), 24, act="leaky")


def matmul(name, ashape, bshape, trans_b=False, bdtype="f32"):
    a = rnd(*ashape)
    b = rnd(*bshape)
    T[f"mm_{name}_a"] = a
    bd = store_weight(f"mm_{name}_b", b, bdtype)
    bm = bd.transpose(-1, -2) if trans_b else bd
    T[f"mm_{name}_y"] = torch.matmul(a.double(), bm).float()


matmul("batched", (2, 3, 17, 33), (2, 3, 33, 19))
matmul("bcast", (4, 1, 9, 20), (3, 20, 7))
matmul("bcast_b2d", (3, 11, 24), (24, 13))
matmul("trans", (5, 16, 40), (5, 24, 40), trans_b=True)
matmul("big", (48, 70), (70, 100))
matmul("vec", (1, 77), (77, 35))
matmul("f16", (2, 6, 50), (2, 31, 50), trans_b=True, bdtype="f16")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_matmul.safetensors")
refio.save(out, T, {"generator": "gen_ops_matmul.py", "torch": torch.__version__})
print("wrote", out, sum(np.asarray(v.numpy()).nbytes for v in T.values()), "bytes of data")
