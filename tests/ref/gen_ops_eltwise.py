"""gen_ops_eltwise.py - reference activations and broadcast arithmetic for tests/test_ops_eltwise.c.

Run by hand:  /usr/bin/python3 tests/ref/gen_ops_eltwise.py   (writes tests/ref/ops_eltwise.safetensors)

Inputs are float32; every reference is computed by PyTorch in float64 from those exact
inputs and rounded once to float32, so it is the correctly rounded answer (up to the
float64 error) rather than another float32 implementation.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import refio

torch.manual_seed(0)
rng = np.random.default_rng(1)
out = {}


def f32(t):
    return t.to(torch.float32)


# ---- activations: x [5, 3, 67] over wide ranges (saturation of exp/sigmoid/tanh/gelu) ----
n = 5 * 3 * 67
parts = [rng.standard_normal(n) * 3,                    # the common range
         rng.uniform(-20, 20, n),                        # saturation
         rng.uniform(-1e-3, 1e-3, n),                    # near zero (tanh/expm1 cancellation)
         np.sign(rng.standard_normal(n)) * rng.uniform(20, 90, n)]  # far tails
pick = rng.integers(0, 4, n)
x = np.choose(pick, parts).astype(np.float32).reshape(5, 3, 67)
x_exp = rng.uniform(-100, 88, (7, 65)).astype(np.float32)        # into the subnormal range, no overflow
x_sqrt = (10.0 ** rng.uniform(-30, 30, (3, 33))).astype(np.float32)
x_sqrt[0, :3] = [0, 1, 4]
out["x"], out["x_exp"], out["x_sqrt"] = x, x_exp, x_sqrt

X = torch.from_numpy(x).double()
out["relu"] = f32(F.relu(X))
out["leaky"] = f32(F.leaky_relu(X, 0.1))
out["silu"] = f32(F.silu(X))
out["gelu"] = f32(F.gelu(X))
out["gelu_tanh"] = f32(F.gelu(X, approximate="tanh"))
out["quick_gelu"] = f32(X * torch.sigmoid(1.702 * X))
out["mish"] = f32(F.mish(X))
out["sigmoid"] = f32(torch.sigmoid(X))
out["tanh"] = f32(torch.tanh(X))
out["scale"] = f32(X * np.float64(np.float32(-0.37)))
out["exp"] = f32(torch.exp(torch.from_numpy(x_exp).double()))
out["sqrt"] = f32(torch.sqrt(torch.from_numpy(x_sqrt).double()))

# ---- binary ops with broadcasting of b to a's shape ----
cases = {
    "nchw": ((2, 5, 7, 9), (5, 1, 1)),     # per-channel scale/bias
    "bld": ((3, 7, 33), (33,)),            # bias over the last dim
    "scalar": ((4, 17), (1,)),
    "same": ((65, 3), (65, 3)),
    "mid": ((2, 3, 4, 5), (3, 1, 5)),
    "rows": ((6, 4, 129), (6, 1, 129)),    # one row per outer index, repeated over the middle dim
}
for name, (sa, sb) in cases.items():
    a = (rng.standard_normal(sa) * 4).astype(np.float32)
    b = (np.sign(rng.standard_normal(sb)) * rng.uniform(0.5, 3, sb)).astype(np.float32)
    out[name + "_a"], out[name + "_b"] = a, b
    A, B = torch.from_numpy(a).double(), torch.from_numpy(b).double()
    out[name + "_add"] = f32(A + B)
    out[name + "_sub"] = f32(A - B)
    out[name + "_mul"] = f32(A * B)
    out[name + "_div"] = f32(A / B)
# b held as f16 (a half-precision bias from a checkpoint)
bh = torch.from_numpy(out["bld_b"]).half()
out["bld_b_f16"] = bh
out["bld_add_f16"] = f32(torch.from_numpy(out["bld_a"]).double() + bh.double())

here = os.path.dirname(os.path.abspath(__file__))
refio.save(os.path.join(here, "ops_eltwise.safetensors"), out,
           {"generator": "gen_ops_eltwise.py", "torch": torch.__version__})
