"""gen_ops_conv.py - references for conv2d, pooling and nearest upsampling (tests/test_ops_conv.c).

Run by hand: /usr/bin/python3 tests/ref/gen_ops_conv.py  (writes tests/ref/ops_conv.safetensors)
References come from torch.nn.functional (conv2d, max_pool2d, avg_pool2d, interpolate with
mode='nearest'), evaluated in float64 on the float32 (or exactly upcast f16/bf16) inputs.
bf16 weights are stored as raw uint16 bits in I16 tensors (refio has no BF16 type).
Case names: conv_<case>_{x,w,b,r,y} (r: the residual added before the activation, res_* cases only), pool_<case>_{x,y}, up_<case>_{x,y}; the op parameters
(stride, padding, ...) are repeated in the C test next to each case name.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import refio

torch.manual_seed(2468)
T = {}


def rnd(*shape, scale=1.0):
    return (torch.rand(*shape, dtype=torch.float64) * 2 - 1).mul(scale).float()


ACTS = {"none": lambda y: y, "relu": F.relu, "leaky": lambda y: F.leaky_relu(y, 0.1), "silu": F.silu}


def conv(name, xshape, wshape, stride=1, pad=0, dil=1, groups=1, bias=True, wdtype="f32", act="none", res=False):
    x = rnd(*xshape)
    fan_in = wshape[1] * wshape[2] * wshape[3]
    w = rnd(*wshape, scale=1.0 / np.sqrt(fan_in))
    T[f"conv_{name}_x"] = x
    if wdtype == "f16":
        T[f"conv_{name}_w"] = w.half()
        wd = w.half().double()
    elif wdtype == "bf16":
        T[f"conv_{name}_w"] = w.bfloat16().view(torch.int16)
        wd = w.bfloat16().double()
    else:
        T[f"conv_{name}_w"] = w
        wd = w.double()
    bd = None
    if bias:
        b = rnd(wshape[0])
        T[f"conv_{name}_b"] = b
        bd = b.double()
    y = F.conv2d(x.double(), wd, bd, stride=stride, padding=pad, dilation=dil, groups=groups)
    if res:
        r = rnd(*y.shape)
        T[f"conv_{name}_r"] = r
        y = y + r.double()
    T[f"conv_{name}_y"] = ACTS[act](y).float()


conv("k3", (2, 5, 9, 11), (7, 5, 3, 3), pad=1)
conv("k1", (1, 17, 8, 7), (33, 17, 1, 1))
conv("k1_s2", (2, 16, 9, 9), (8, 16, 1, 1), stride=2)
conv("k5_p2", (1, 3, 13, 12), (6, 3, 5, 5), pad=2, bias=False)
conv("k7_s2_p3", (1, 3, 23, 21), (8, 3, 7, 7), stride=2, pad=3)
conv("dil2", (1, 4, 12, 12), (5, 4, 3, 3), pad=2, dil=2)
conv("g2", (1, 6, 8, 9), (4, 3, 3, 3), pad=1, groups=2)
conv("dw", (2, 8, 10, 9), (8, 1, 3, 3), pad=1, groups=8)
conv("dw_s2", (1, 6, 11, 10), (6, 1, 3, 3), stride=2, pad=1, groups=6)
conv("dw_k5", (1, 4, 9, 17), (4, 1, 5, 5), pad=2, groups=4, bias=False)
conv("dw_mult2", (1, 3, 7, 8), (6, 1, 3, 3), pad=1, groups=3)
conv("c1", (1, 1, 9, 9), (4, 1, 3, 3))
conv("asym", (1, 3, 10, 11), (4, 3, 3, 5), stride=(2, 1), pad=(0, 2))
conv("p3", (1, 2, 6, 6), (3, 2, 3, 3), pad=3)
conv("deepk", (1, 40, 10, 10), (24, 40, 3, 3), pad=1)
conv("f16", (1, 8, 7, 9), (12, 8, 3, 3), pad=1, wdtype="f16")
conv("bf16", (1, 8, 7, 9), (12, 8, 3, 3), pad=1, wdtype="bf16")
conv("relu", (1, 6, 8, 8), (10, 6, 3, 3), pad=1, act="relu")
conv("leaky", (1, 6, 8, 8), (10, 6, 1, 1), act="leaky")
conv("dw_silu", (1, 6, 8, 8), (6, 1, 3, 3), pad=1, groups=6, act="silu")
# residual fused before the activation (ResNet's block output: relu(conv(h) + bias + shortcut))
conv("res_k1", (1, 17, 8, 7), (33, 17, 1, 1), act="relu", res=True)
conv("res_k1_b3", (3, 16, 9, 9), (24, 16, 1, 1), act="relu", res=True)
conv("res_k3_s2", (2, 5, 9, 11), (7, 5, 3, 3), stride=2, pad=1, res=True)
conv("res_k3_big", (2, 8, 20, 19), (12, 8, 3, 3), pad=1, act="relu", res=True)
conv("res_g2", (4, 6, 8, 9), (4, 3, 3, 3), pad=1, groups=2, act="leaky", res=True, bias=False)
conv("res_dw", (2, 8, 10, 9), (8, 1, 3, 3), pad=1, groups=8, act="relu", res=True)


def pool(name, xshape, k, stride, pad, avg=False, include_pad=True):
    x = rnd(*xshape)
    T[f"pool_{name}_x"] = x
    if avg:
        y = F.avg_pool2d(x.double(), k, stride, pad, count_include_pad=include_pad)
    else:
        y = F.max_pool2d(x.double(), k, stride, pad)
    T[f"pool_{name}_y"] = y.float()


pool("max_k3_s2_p1", (2, 3, 11, 10), 3, 2, 1)
pool("max_k2_s2", (1, 4, 9, 8), 2, 2, 0)
pool("max_k3_s1_p1", (1, 2, 7, 5), 3, 1, 1)
pool("avg_k3_s2_p1", (2, 3, 11, 10), 3, 2, 1, avg=True)
pool("avg_k3_s2_p1_nopad", (2, 3, 11, 10), 3, 2, 1, avg=True, include_pad=False)
pool("avg_k2_s2", (1, 4, 9, 8), 2, 2, 0, avg=True)
x = rnd(2, 5, 7, 6)
T["pool_global_x"] = x
T["pool_global_y"] = x.double().mean(dim=(2, 3)).float()


def up(name, xshape, sh, sw):
    x = rnd(*xshape)
    T[f"up_{name}_x"] = x
    T[f"up_{name}_y"] = F.interpolate(x, scale_factor=(sh, sw), mode="nearest")


up("x2", (1, 3, 5, 7), 2, 2)
up("x2x3", (2, 2, 4, 3), 2, 3)
up("x1x4", (1, 1, 3, 2), 1, 4)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_conv.safetensors")
refio.save(out, T, {"generator": "gen_ops_conv.py", "torch": torch.__version__})
print("wrote", out, sum(np.asarray(v.numpy()).nbytes for v in T.values()), "bytes of data")
