"""gen_ops_layout.py - reference permutes, concats, embedding lookups and dtype conversions
for tests/test_ops_layout.c.

Run by hand:  /usr/bin/python3 tests/ref/gen_ops_layout.py   (writes tests/ref/ops_layout.safetensors)

Half and bfloat16 bit patterns are PyTorch's own (.half(), .bfloat16(), viewed as int16);
bfloat16 tensors are stored as their int16 bits since the fixture writer has no BF16 type.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

import refio

rng = np.random.default_rng(2)
out = {}


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- permute ----
x3, x4 = rand(3, 5, 7), rand(2, 3, 4, 5)
X3, X4 = torch.from_numpy(x3), torch.from_numpy(x4)
out["x3"], out["x4"] = x3, x4
out["x3_p201"] = X3.permute(2, 0, 1)
out["x3_p120"] = X3.permute(1, 2, 0)
out["x4_p0231"] = X4.permute(0, 2, 3, 1)
out["x4_p3210"] = X4.permute(3, 2, 1, 0)
out["x4_p0213"] = X4.permute(0, 2, 1, 3)
out["x4_narrow_p0312"] = X4[..., 1:4].permute(0, 3, 1, 2)   # a strided input

# ---- concat along each dim of a [2, 3, 5] ----
a = rand(2, 3, 5)
out["cat_a"] = a
for d, shape in enumerate([(4, 3, 5), (2, 1, 5), (2, 3, 9)]):
    b = rand(*shape)
    out["cat_b%d" % d] = b
    out["cat_%d" % d] = torch.cat([torch.from_numpy(a), torch.from_numpy(b)], d)

# ---- embedding lookup ----
table = rand(11, 37)
ids = np.array([0, 10, 3, 3, 7, 1, 10, 5, 2], dtype=np.int32)
T, I = torch.from_numpy(table), torch.from_numpy(ids).long()
out["table"], out["ids"] = table, ids
out["emb"] = F.embedding(I, T)
out["table_f16"] = T.half()
out["emb_f16"] = F.embedding(I, T.half()).float()
out["table_bf16_bits"] = T.bfloat16().view(torch.int16)
out["emb_bf16"] = F.embedding(I, T.bfloat16()).float()

# ---- f32 -> f16 / bf16 rounding, bit for bit ----
special = [0.0, -0.0, 1.0, -2.0, np.inf, -np.inf, np.nan,
           1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20,      # f16 ties and just above
           1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20,         # bf16 ties and just above
           65504, 65519.99, 65520, 1e6, -1e6, 3.4e38, -3.4e38,
           2 ** -24, 2 ** -25, 3 * 2 ** -25, 2 ** -26, 6.1e-5, 6.0e-5, 1e-7, 1e-40, -1e-45]
wide = (np.sign(rng.standard_normal(1500)) * 10.0 ** rng.uniform(-12, 12, 1500))
bits = rng.integers(0, 2 ** 32, 500, dtype=np.uint64).astype(np.uint32).view(np.float32)
bits = bits[np.isfinite(bits)]
conv = np.concatenate([np.array(special, dtype=np.float64), wide]).astype(np.float32)
conv = np.concatenate([conv, bits]).astype(np.float32)
C = torch.from_numpy(conv)
out["conv_x"] = conv
out["conv_f16_bits"] = C.half().view(torch.int16)
out["conv_bf16_bits"] = C.bfloat16().view(torch.int16)
out["conv_f16_back"] = C.half().float()
out["conv_bf16_back"] = C.bfloat16().float()

# ---- f32 -> i32 (truncation toward zero) and i64 -> i32 ----
xi = (rng.uniform(-1e6, 1e6, 97)).astype(np.float32)
out["int_x"] = xi
out["int_x_i32"] = torch.from_numpy(xi).to(torch.int32)
out["pos_i64"] = torch.arange(77, dtype=torch.int64) * 3 - 50

here = os.path.dirname(os.path.abspath(__file__))
refio.save(os.path.join(here, "ops_layout.safetensors"), out,
           {"generator": "gen_ops_layout.py", "torch": torch.__version__})
