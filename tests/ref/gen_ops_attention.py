"""gen_ops_attention.py - references for iris_attention (tests/test_ops_attention.c).

Run by hand: /usr/bin/python3 tests/ref/gen_ops_attention.py  (writes tests/ref/ops_attention.safetensors)

torch 1.13 has no F.scaled_dot_product_attention, so the reference is the definition in
float64: softmax(q k^T * scale + mask) v, grouped-query by repeat_interleave of the k/v
heads, causal as "query i sees keys j <= i + offset"; a fully masked row (NaN in torch)
is zero by our definition. F16 k/v cases feed the same f16 values to both sides.

The long cases (Lq = Lk = 1100, to exercise tiling) store only the output: q/k/v come from
hashval() below, which the C test reproduces bit for bit.
Case names: <case>_{q,k,v,mask,qkv,y}; scale/causal/offset live in the C test.
"""
import os

import numpy as np
import torch

import refio

torch.manual_seed(7)
T = {}


def attention(q, k, v, scale, mask=None, causal=False, offset=0):
    q, k, v = q.double(), k.double(), v.double()
    g = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(g, dim=1)
    v = v.repeat_interleave(g, dim=1)
    if scale == 0:
        scale = 1.0 / np.sqrt(q.shape[-1])
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if mask is not None:
        s = s + mask.double()
    if causal:
        lq, lk = s.shape[-2], s.shape[-1]
        i = torch.arange(lq).unsqueeze(1)
        j = torch.arange(lk).unsqueeze(0)
        s = s.masked_fill(j > i + offset, float("-inf"))
    p = torch.nan_to_num(torch.softmax(s, -1), nan=0.0)
    return torch.matmul(p, v).float()


def case(name, B, H, Hk, Lq, Lk, D, Dv, scale=0.0, mask=None, causal=False, offset=0, kv16=False):
    q = torch.randn(B, H, Lq, D)
    k = torch.randn(B, Hk, Lk, D)
    v = torch.randn(B, Hk, Lk, Dv)
    if kv16:
        k, v = k.half(), v.half()
    T[name + "_q"], T[name + "_k"], T[name + "_v"] = q, k, v
    if mask is not None:
        T[name + "_mask"] = mask
    T[name + "_y"] = attention(q, k, v, scale, mask, causal, offset)


case("mha_small", 1, 2, 2, 7, 7, 17, 17)
case("gqa_prefill", 1, 4, 2, 77, 77, 40, 40, causal=True)
case("decode_f16", 1, 4, 1, 1, 257, 64, 64, causal=True, offset=256, kv16=True)
case("chunk_narrow", 1, 4, 4, 5, 20, 80, 80, causal=True, offset=15)
case("chunk_wide", 1, 2, 1, 40, 100, 80, 48, causal=True, offset=60, scale=0.05)
m = torch.randn(33, 65) * 2
m[3, 10:] = float("-inf")
m[5, :] = float("-inf")  # a fully masked row: zeros
m[:, 64] = float("-inf")
case("mask_wide", 1, 3, 3, 33, 65, 32, 24, scale=0.3, mask=m)
m = (torch.randn(3, 65) * 2).half()
m[1, :] = float("-inf")
case("mask_narrow_f16", 1, 2, 1, 3, 65, 32, 24, mask=m, kv16=True)
case("mask_bcast", 2, 2, 2, 20, 30, 16, 16, mask=torch.randn(2, 1, 1, 30))
case("causal_negative", 1, 1, 1, 6, 4, 8, 8, causal=True, offset=-2)  # rows 0, 1 see nothing

# q/k/v split from one fused [B, L, 3*H, D] projection: the test narrows and transposes views
qkv = torch.randn(1, 19, 12, 24)
T["split_qkv"] = qkv
qs, ks, vs = (qkv[:, :, 4 * i:4 * i + 4].transpose(1, 2) for i in range(3))
T["split_y"] = attention(qs, ks, vs, 0.0, causal=True)


def hashval(n, seed):
    """n values in [-1, 1): a 32-bit integer mix of (index, seed), exact in float32."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(0x9E3779B1) + np.uint64(seed) * np.uint64(0x85EBCA77)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(13)
    return (h.astype(np.float64) / 4294967296.0 * 2.0 - 1.0).astype(np.float32)


def long_case(name, B, H, Hk, L, D, Dv, causal):
    q = torch.from_numpy(hashval(B * H * L * D, 1).reshape(B, H, L, D)) * 2.0
    k = torch.from_numpy(hashval(B * Hk * L * D, 2).reshape(B, Hk, L, D)) * 2.0
    v = torch.from_numpy(hashval(B * Hk * L * Dv, 3).reshape(B, Hk, L, Dv))
    T[name + "_y"] = attention(q, k, v, 0.0, causal=causal)


long_case("long", 1, 2, 1, 1100, 16, 8, False)
long_case("long_causal", 1, 2, 1, 1100, 16, 8, True)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_attention.safetensors")
refio.save(out, T, {"generator": "tests/ref/gen_ops_attention.py", "torch": torch.__version__})
print(out, os.path.getsize(out), "bytes")
