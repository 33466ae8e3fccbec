"""gen_sd15_random.py - a full-size Stable Diffusion 1.5 checkpoint with random weights, for benchmarks.

    /usr/bin/python3 bench/gen_sd15_random.py [-o /work/benchdata/sd15_random.safetensors] [--seed 1234]

The real weights cannot be downloaded here, and timing only needs the real shapes. The file uses the
original single-file (ldm) layout and tensor names of v1-5-pruned-emaonly.safetensors, so every SD 1.5
loader (iris, stable-diffusion.cpp, diffusers' from_single_file) reads it unchanged:
  model.diffusion_model.*                       UNet: 320/640/1280/1280, 2 res blocks per level, 8 heads, context 768
  first_stage_model.*                           VAE: 128/256/512/512, 2 res blocks, 4 latent channels
  cond_stage_model.transformer.text_model.*     CLIP ViT-L/14 text: 12 layers, 768 wide, MLP 3072, vocab 49408, 77 positions
plus, as in the original file, the DDPM schedule buffers (betas, alphas_cumprod, ...; F32, real values)
and the CLIP position_ids (I64). Weights are F16 (the original is F32), about 2.1 GB.

Values keep activations finite and O(1) in fp16: weights ~ N(0, 1/fan_in), norms weight 1 bias 0,
biases N(0, 0.01^2), embeddings N(0, 0.02^2). Each tensor draws from its own generator seeded by
(seed, crc32(name)), so values do not depend on write order. Written streaming: numpy only,
one tensor in memory at a time. bench/sd_peers/check_ckpt.py checks the file against diffusers.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np

UNET, VAE, CLIP = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model."


# Tensor lists. Each entry: (name, shape, kind); kind picks the init (see values()).
def conv(p, cout, cin, k):
    return [(p + ".weight", (cout, cin, k, k), "w"), (p + ".bias", (cout,), "b")]


def linear(p, cout, cin, bias=True):
    return [(p + ".weight", (cout, cin), "w")] + ([(p + ".bias", (cout,), "b")] if bias else [])


def norm(p, c):
    return [(p + ".weight", (c,), "one"), (p + ".bias", (c,), "zero")]


def unet_resblock(p, cin, cout, temb=1280):
    t = norm(p + ".in_layers.0", cin) + conv(p + ".in_layers.2", cout, cin, 3)
    t += linear(p + ".emb_layers.1", cout, temb)
    t += norm(p + ".out_layers.0", cout) + conv(p + ".out_layers.3", cout, cout, 3)
    if cin != cout:
        t += conv(p + ".skip_connection", cout, cin, 1)
    return t


def spatial_transformer(p, c, ctx=768):
    # SD 1.x: conv 1x1 proj_in/proj_out, one BasicTransformerBlock, GEGLU feed-forward (inner 4c)
    b = p + ".transformer_blocks.0"
    t = norm(p + ".norm", c) + conv(p + ".proj_in", c, c, 1)
    t += linear(b + ".attn1.to_q", c, c, False) + linear(b + ".attn1.to_k", c, c, False)
    t += linear(b + ".attn1.to_v", c, c, False) + linear(b + ".attn1.to_out.0", c, c)
    t += linear(b + ".ff.net.0.proj", 8 * c, c) + linear(b + ".ff.net.2", c, 4 * c)
    t += linear(b + ".attn2.to_q", c, c, False) + linear(b + ".attn2.to_k", c, ctx, False)
    t += linear(b + ".attn2.to_v", c, ctx, False) + linear(b + ".attn2.to_out.0", c, c)
    t += norm(b + ".norm1", c) + norm(b + ".norm2", c) + norm(b + ".norm3", c)
    t += conv(p + ".proj_out", c, c, 1)
    return t


def unet_tensors(mc=320, mult=(1, 2, 4, 4), nres=2, attn_ds=(1, 2, 4)):
    t = linear("time_embed.0", 4 * mc, mc) + linear("time_embed.2", 4 * mc, 4 * mc)
    t += conv("input_blocks.0.0", mc, 4, 3)
    chans, ch, ds, i = [mc], mc, 1, 1
    for level, m in enumerate(mult):
        for _ in range(nres):
            t += unet_resblock(f"input_blocks.{i}.0", ch, m * mc)
            ch = m * mc
            if ds in attn_ds:
                t += spatial_transformer(f"input_blocks.{i}.1", ch)
            chans.append(ch)
            i += 1
        if level != len(mult) - 1:
            t += conv(f"input_blocks.{i}.0.op", ch, ch, 3)
            chans.append(ch)
            ds *= 2
            i += 1
    t += unet_resblock("middle_block.0", ch, ch) + spatial_transformer("middle_block.1", ch)
    t += unet_resblock("middle_block.2", ch, ch)
    i = 0
    for level, m in reversed(list(enumerate(mult))):
        for r in range(nres + 1):
            t += unet_resblock(f"output_blocks.{i}.0", ch + chans.pop(), m * mc)
            ch, sub = m * mc, 1
            if ds in attn_ds:
                t += spatial_transformer(f"output_blocks.{i}.1", ch)
                sub = 2
            if level and r == nres:
                t += conv(f"output_blocks.{i}.{sub}.conv", ch, ch, 3)
                ds //= 2
            i += 1
    t += norm("out.0", mc) + conv("out.2", 4, mc, 3)
    return [(UNET + n, s, k) for n, s, k in t]


def vae_resblock(p, cin, cout):
    t = norm(p + ".norm1", cin) + conv(p + ".conv1", cout, cin, 3)
    t += norm(p + ".norm2", cout) + conv(p + ".conv2", cout, cout, 3)
    if cin != cout:
        t += conv(p + ".nin_shortcut", cout, cin, 1)
    return t


def vae_mid(p, c):
    t = vae_resblock(p + ".block_1", c, c) + norm(p + ".attn_1.norm", c)
    for q in ("q", "k", "v", "proj_out"):
        t += conv(p + ".attn_1." + q, c, c, 1)
    return t + vae_resblock(p + ".block_2", c, c)


def vae_tensors(ch=128, mult=(1, 2, 4, 4), nres=2, z=4):
    t = conv("encoder.conv_in", ch, 3, 3)
    cin = ch
    for i, m in enumerate(mult):
        for j in range(nres):
            t += vae_resblock(f"encoder.down.{i}.block.{j}", cin, m * ch)
            cin = m * ch
        if i != len(mult) - 1:
            t += conv(f"encoder.down.{i}.downsample.conv", cin, cin, 3)
    t += vae_mid("encoder.mid", cin) + norm("encoder.norm_out", cin) + conv("encoder.conv_out", 2 * z, cin, 3)
    t += conv("quant_conv", 2 * z, 2 * z, 1) + conv("post_quant_conv", z, z, 1)
    cin = ch * mult[-1]
    t += conv("decoder.conv_in", cin, z, 3) + vae_mid("decoder.mid", cin)
    for i in reversed(range(len(mult))):
        for j in range(nres + 1):
            t += vae_resblock(f"decoder.up.{i}.block.{j}", cin, mult[i] * ch)
            cin = mult[i] * ch
        if i != 0:
            t += conv(f"decoder.up.{i}.upsample.conv", cin, cin, 3)
    t += norm("decoder.norm_out", cin) + conv("decoder.conv_out", 3, cin, 3)
    return [(VAE + n, s, k) for n, s, k in t]


def clip_tensors(width=768, layers=12, mlp=3072, vocab=49408, ctx=77):
    t = [("embeddings.token_embedding.weight", (vocab, width), "emb"),
         ("embeddings.position_embedding.weight", (ctx, width), "emb"),
         ("embeddings.position_ids", (1, ctx), "positions")]
    for i in range(layers):
        p = f"encoder.layers.{i}."
        for q in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t += linear(p + "self_attn." + q, width, width)
        t += norm(p + "layer_norm1", width) + linear(p + "mlp.fc1", mlp, width)
        t += linear(p + "mlp.fc2", width, mlp) + norm(p + "layer_norm2", width)
    t += norm("final_layer_norm", width)
    return [(CLIP + n, s, k) for n, s, k in t]


def schedule_buffers(n=1000, start=0.00085, end=0.012):
    # LDM's DDPM.register_schedule for the "linear" schedule (really linear in sqrt(beta)), v_posterior 0
    betas = np.linspace(start ** 0.5, end ** 0.5, n, dtype=np.float64) ** 2
    ac = np.cumprod(1.0 - betas)
    prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - prev) / (1.0 - ac)
    b = {"betas": betas, "alphas_cumprod": ac, "alphas_cumprod_prev": prev,
         "sqrt_alphas_cumprod": np.sqrt(ac), "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
         "log_one_minus_alphas_cumprod": np.log(1.0 - ac), "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
         "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1.0), "posterior_variance": post_var,
         "posterior_log_variance_clipped": np.log(np.maximum(post_var, 1e-20)),
         "posterior_mean_coef1": betas * np.sqrt(prev) / (1.0 - ac),
         "posterior_mean_coef2": (1.0 - prev) * np.sqrt(1.0 - betas) / (1.0 - ac)}
    return {k: v.astype(np.float32) for k, v in b.items()}


def all_tensors():
    return unet_tensors() + vae_tensors() + clip_tensors()


DTYPE = {"F16": np.float16, "F32": np.float32, "I64": np.int64}


def values(name, shape, kind, seed):
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if kind == "w":
        std = 1.0 / np.sqrt(np.prod(shape[1:]))
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float16)
    if kind == "b":
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.01)).astype(np.float16)
    if kind == "emb":
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float16)
    if kind == "one":
        return np.ones(shape, np.float16)
    if kind == "zero":
        return np.zeros(shape, np.float16)
    if kind == "positions":
        return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    raise ValueError(kind)


def write(path, seed):
    sched = schedule_buffers()
    entries = [(n, s, k, "I64" if k == "positions" else "F16") for n, s, k in all_tensors()]
    entries += [(n, v.shape, "sched", "F32") for n, v in sched.items()]
    entries.sort(key=lambda e: e[0])
    names = [e[0] for e in entries]
    assert len(set(names)) == len(names), "duplicate tensor names"
    header, off = {}, 0
    for n, s, _, dt in entries:
        nbytes = int(np.prod(s)) * np.dtype(DTYPE[dt]).itemsize
        header[n] = {"dtype": dt, "shape": list(s), "data_offsets": [off, off + nbytes]}
        off += nbytes
    header["__metadata__"] = {"format": "pt", "note": f"iris benchmark: SD 1.5 layout, random weights, seed {seed}"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n, s, k, dt in entries:
            a = sched[n] if k == "sched" else values(n, s, k, seed)
            assert a.dtype == DTYPE[dt] and a.shape == tuple(s), n
            f.write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    os.replace(tmp, path)
    return len(entries), off


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", default="/work/benchdata/sd15_random.safetensors")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--list", action="store_true", help="print the tensor list (name dtype shape) and exit")
    a = ap.parse_args()
    if a.list:
        for n, s, k in all_tensors():
            print(n, "I64" if k == "positions" else "F16", list(s))
        for n, v in schedule_buffers().items():
            print(n, "F32", list(v.shape))
        return
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    count, nbytes = write(a.out, a.seed)
    print(f"wrote {a.out}: {count} tensors, {nbytes / 1e9:.2f} GB of data", file=sys.stderr)


if __name__ == "__main__":
    main()
