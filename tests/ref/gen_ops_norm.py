"""gen_ops_norm.py - references for group/layer/RMS norm and softmax (tests/test_ops_norm.c).

Run by hand: /usr/bin/python3 tests/ref/gen_ops_norm.py  (writes tests/ref/ops_norm.safetensors)
References come from torch.nn.functional (group_norm, layer_norm, softmax);
RMS norm is written out in torch as Llama defines it: x / sqrt(mean(x^2) + eps) * gamma.
Case names: <op>_<case>_{x,gamma,beta,mask,y}; eps/groups/scale live in the C test.
"""
import os

import torch
import torch.nn.functional as F

import refio

torch.manual_seed(1234)
T = {}


def rnd(*shape, scale=1.0, shift=0.0):
    return (torch.randn(*shape, dtype=torch.float64) * scale + shift).float()


def f16(t):
    return t.half()


# ---- group norm ----
def group_norm(name, x, groups, gamma, beta, eps, transposed=False):
    # transposed: x is stored with its last two dims swapped; the test undoes it with a view
    xin = x.transpose(-1, -2) if transposed else x
    g = gamma.float() if gamma is not None else None
    b = beta.float() if beta is not None else None
    y = F.group_norm(xin.double(), groups, None if g is None else g.double(), None if b is None else b.double(), eps)
    T[name + "_x"] = x
    if gamma is not None:
        T[name + "_gamma"] = gamma
    if beta is not None:
        T[name + "_beta"] = beta
    T[name + "_y"] = y.float()


group_norm("gn_sd", rnd(2, 64, 7, 9), 32, rnd(64), rnd(64), 1e-5)
group_norm("gn_3d_f16", rnd(1, 12, 33, scale=3.0, shift=-2.0), 4, f16(rnd(12)), f16(rnd(12)), 1e-6)
group_norm("gn_2d", rnd(3, 6), 3, None, None, 1e-5)
group_norm("gn_offset", rnd(1, 32, 17, 17, scale=0.01, shift=1000.0), 8, rnd(32), None, 1e-6)
group_norm("gn_strided", rnd(2, 16, 9, 7), 4, rnd(16), rnd(16), 1e-5, transposed=True)


# ---- layer norm / RMS norm ----
def layer_norm(name, x, gamma, beta, eps, transposed=False):
    xin = x.transpose(-1, -2) if transposed else x
    d = xin.shape[-1]
    y = F.layer_norm(xin.double(), (d,), None if gamma is None else gamma.double(),
                     None if beta is None else beta.double(), eps)
    T[name + "_x"] = x
    if gamma is not None:
        T[name + "_gamma"] = gamma
    if beta is not None:
        T[name + "_beta"] = beta
    T[name + "_y"] = y.float()


layer_norm("ln_clip", rnd(5, 77), rnd(77), rnd(77), 1e-5)
layer_norm("ln_f16", rnd(2, 3, 1041, scale=2.0, shift=5.0), f16(rnd(1041)), f16(rnd(1041)), 1e-5)
layer_norm("ln_d1", rnd(4, 1), None, rnd(1), 1e-5)
layer_norm("ln_nogamma", rnd(3, 17), None, None, 1e-6)
layer_norm("ln_strided", rnd(2, 7, 40), rnd(7), rnd(7), 1e-5, transposed=True)
layer_norm("ln_offset", rnd(3, 64, scale=0.001, shift=300.0), rnd(64), rnd(64), 1e-6)


def rms_norm(name, x, gamma, eps):
    xd = x.double()
    y = xd / torch.sqrt(xd.pow(2).mean(-1, keepdim=True) + eps)
    if gamma is not None:
        y = y * gamma.double()
    T[name + "_x"] = x
    if gamma is not None:
        T[name + "_gamma"] = gamma
    T[name + "_y"] = y.float()


rms_norm("rms_small", rnd(7, 17), rnd(17), 1e-6)
rms_norm("rms_llama", rnd(3, 4096), f16(rnd(4096)), 1e-5)
rms_norm("rms_nogamma", rnd(2, 5, 64, shift=3.0), None, 1e-5)


# ---- softmax ----
def softmax(name, x, scale, mask=None, causal=False):
    s = x.double() * scale
    if mask is not None:
        s = s + mask.double()
    if causal:
        lq, lk = s.shape[-2], s.shape[-1]
        i = torch.arange(lq).unsqueeze(1)
        j = torch.arange(lk).unsqueeze(0)
        s = s.masked_fill(j > i + (lk - lq), float("-inf"))
    y = torch.softmax(s, -1)
    y = torch.nan_to_num(y, nan=0.0)  # fully masked rows: zeros by our definition
    T[name + "_x"] = x
    if mask is not None:
        T[name + "_mask"] = mask
    T[name + "_y"] = y.float()


softmax("sm_plain", rnd(2, 3, 7, 33, scale=3.0), 0.125)
m = rnd(7, 33, scale=2.0)
m[2, 5:] = float("-inf")
m[4, :] = float("-inf")  # a fully masked row
softmax("sm_mask", rnd(2, 7, 33), 1.0, m)
softmax("sm_bcast", rnd(2, 3, 5, 33), 0.5, rnd(1, 1, 33))
softmax("sm_f16mask", rnd(3, 4, 17), 2.0, f16(rnd(3, 1, 17)))
softmax("sm_causal", rnd(2, 5, 9, scale=2.0), 0.7, causal=True)
softmax("sm_long", rnd(3, 1000, scale=10.0), 1.0)
softmax("sm_one", rnd(4, 1), 1.0)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_norm.safetensors")
refio.save(out, T, {"generator": "tests/ref/gen_ops_norm.py", "torch": torch.__version__})
print(out, os.path.getsize(out), "bytes")
