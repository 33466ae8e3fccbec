"""gen_sd_tiny.py - tiny random Stable Diffusion 1.x / 2.x models and their reference outputs.

Run by hand: /usr/bin/python3 tests/ref/gen_sd_tiny.py [--kdiffusion WHEEL_OR_DIR] [--clip DIR]
(torch, diffusers 0.30.3, transformers 4.44.2, safetensors). Writes tests/ref/sd/ (README.md there
lists every file and tensor):
  sd1_tiny.safetensors      SD 1.x-shaped original single-file checkpoint (ldm names), F16
  sd2_tiny.safetensors      SD 2.x-shaped (OpenCLIP text names, v-prediction), F16
  sd2_tiny_diffusers/       the SD 2.x model as a diffusers folder, BF16 (no tokenizer/)
  sd1_ref / sd2_ref / sd2d_ref .safetensors   F32 reference outputs

The models are diffusers' / transformers' own classes (UNet2DConditionModel, AutoencoderKL,
CLIPTextModel) with small widths and random weights, re-drawn so activations stay O(1), plus a
few nudges so sampling behaves like a trained model's (see noise_predicting, build_unet,
build_vae). The ldm (CompVis) names come from our own mapping below, checked by converting
the written file back with diffusers' single_file_utils converters: every tensor must come
back bit-identical, or this script stops. The single files are written with the safetensors
library (as real checkpoints are; refio cannot store their 0-d tensors), the diffusers folder
with save_pretrained (BF16, which refio lacks), the reference outputs with refio.save.
References are computed in float32 from the rounded (f16 / bf16) weights each file holds.
Samplers are k-diffusion's own code (the PyPI wheel, fetched with `pip download --no-deps`
when --kdiffusion is not given), driving its CompVisDenoiser / CompVisVDenoiser around the
diffusers UNet as AUTOMATIC1111 does.
"""
import argparse
import copy
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import zipfile

import numpy as np
import torch
from torch import nn

from refio import save

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sd")
CLIP_DATA = "/work/shared/data/clip"
KDIFFUSION_PIN = "k-diffusion==0.1.1.post1"

# Widths: the smallest that keep every structural feature of the real models (GroupNorm(32),
# a channel change in the down and up paths so skip_connection / nin_shortcut exist,
# SD 1.x's 8 heads, SD 2.x's 64-wide heads); the files come to ~28 MB, ~52 MB at
# UNet (32,64,64) / (64,128,128) and VAE (32,32,64,64). Besides these, the 49408 x 16 token
# embedding of each of the three text encoders weighs 1.6 MB.
SD1_UNET_CH = (32, 32, 64)
SD2_UNET_CH = (64, 64, 64)
VAE_CH = (32, 32, 32, 64)
TEXT_DIM = 16
CTX = 77
VAE_SCALE = 0.18215
PROMPT = "a photo of a cat on a sofa"
EMPH_PROMPT = "a photo of a red cat on a blue sofa"
# A1111-style weights per word of EMPH_PROMPT (each word is one CLIP token here).
EMPH_WORD_W = {"photo": 1.1, "red": 1.21, "cat": 1.3, "blue": 0.9}
CFG_SCALE = 7.0
CROSS_ATTN_GAIN = 0.3
TRAJ_STEPS = 4
TRAJ_SEED = 42
TRAJ_COMBOS = [("euler", "discrete"), ("euler_a", "discrete"), ("heun", "discrete"),
               ("dpm2", "discrete"), ("dpmpp_2s_a", "discrete"), ("dpmpp_2m", "discrete"),
               ("euler_a", "karras"), ("euler_a", "exponential"),
               ("dpmpp_2m", "karras"), ("dpmpp_2m", "exponential")]
I2I_STEPS, I2I_STRENGTH, I2I_SEED = 5, 0.6, 7


# ---------------------------------------------------------------- external code and data

def load_kdiffusion(src):
    """k_diffusion.sampling and .external from the wheel (or an unpacked tree), without
    their heavy imports (scipy, torchdiffeq, torchsde, torchvision), which the samplers used
    here never touch."""
    if src is None:
        tmp = tempfile.mkdtemp()
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                        KDIFFUSION_PIN], check=True)
        src = os.path.join(tmp, os.listdir(tmp)[0])

    def source(name):
        if os.path.isdir(src):
            with open(os.path.join(src, "k_diffusion", name)) as f:
                return f.read()
        with zipfile.ZipFile(src) as z:
            return z.read("k_diffusion/" + name).decode()

    stubs = {"scipy": types.ModuleType("scipy"), "torchdiffeq": types.ModuleType("torchdiffeq"),
             "torchsde": types.ModuleType("torchsde"), "tqdm": types.ModuleType("tqdm"),
             "tqdm.auto": types.ModuleType("tqdm.auto")}
    stubs["scipy"].integrate = None
    stubs["torchdiffeq"].odeint = None
    stubs["tqdm.auto"].trange = lambda n, disable=None: range(n)
    stubs["tqdm.auto"].tqdm = lambda it=None, **kw: it
    pkg_name = "_k_diffusion_for_gen_sd_tiny"  # not "k_diffusion": diffusers probes for that
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    try:
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = []
        utils = types.ModuleType(pkg_name + ".utils")
        utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
        pkg.utils = utils
        sys.modules[pkg_name], sys.modules[utils.__name__] = pkg, utils
        mods = {}
        for name in ("sampling", "external"):
            m = types.ModuleType(f"{pkg_name}.{name}")
            m.__package__ = pkg_name
            sys.modules[m.__name__] = m
            setattr(pkg, name, m)
            exec(compile(source(name + ".py"), "k_diffusion/" + name + ".py", "exec"), m.__dict__)
            mods[name] = m
    finally:
        for k in [k for k in sys.modules if k.startswith(pkg_name)]:
            del sys.modules[k]
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return mods["sampling"], mods["external"]


def clip_tokenizer(folder):
    from transformers import CLIPTokenizer
    return CLIPTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"))


def token_ids(tok, texts, sd2):
    """77 ids per text as A1111 builds them: BOS, tokens, EOS, then padding, which is EOS
    (49407) for SD 1.x and 0 after the first EOS for SD 2.x (OpenCLIP)."""
    ids = tok(texts, padding="max_length", max_length=CTX, truncation=True, return_tensors="pt").input_ids
    ids = ids.to(torch.int64)
    if sd2:
        for row in ids:
            eos = (row == tok.eos_token_id).nonzero()[0, 0]
            row[eos + 1:] = 0
    return ids


# ---------------------------------------------------------------- models

def randomize(model, seed, gain=1.0, embed_std=0.5):
    """Re-draw every parameter: weights N(0, gain^2/fan_in) so each layer keeps unit scale,
    small random biases, norm scales around 1 and shifts around 0 (so all are exercised;
    diffusers zero-initialises some output convs, which would hide them)."""
    g = torch.Generator().manual_seed(seed)
    seen = set()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * (gain / math.sqrt(fan_in)))
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.05)
            elif isinstance(mod, (nn.GroupNorm, nn.LayerNorm)):
                mod.weight.copy_(1 + 0.1 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
            elif isinstance(mod, nn.Embedding):
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * embed_std)
            else:
                continue
            seen.update(id(p) for p in mod.parameters(recurse=False))
    missed = [n for n, p in model.named_parameters() if id(p) not in seen]
    assert not missed, f"parameters not re-drawn: {missed}"
    return model.eval()


def text_config(layers, act):
    from transformers import CLIPTextConfig
    # one head: CLIP heads are 64 wide (iris reads no head count from a single-file checkpoint)
    return CLIPTextConfig(vocab_size=49408, hidden_size=TEXT_DIM, intermediate_size=2 * TEXT_DIM,
                          num_attention_heads=1, num_hidden_layers=layers, max_position_embeddings=CTX,
                          hidden_act=act, layer_norm_eps=1e-5, projection_dim=TEXT_DIM,
                          bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
                          attn_implementation="eager")


def build_text(sd2, seed):
    """SD 1.x: CLIP ViT-L/14-style (quick_gelu, last layer used); SD 2.x: OpenCLIP ViT-H/14-style
    (gelu, penultimate layer used, the last one present but unused)."""
    from transformers import CLIPTextModel
    torch.manual_seed(seed)
    cfg = text_config(3, "gelu") if sd2 else text_config(2, "quick_gelu")
    return randomize(CLIPTextModel(cfg), seed, embed_std=0.5)


def build_unet(sd2, seed):
    from diffusers import UNet2DConditionModel
    torch.manual_seed(seed)
    ch = SD2_UNET_CH if sd2 else SD1_UNET_CH
    m = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=2, norm_num_groups=32,
        block_out_channels=ch, cross_attention_dim=TEXT_DIM,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        # diffusers' attention_head_dim is the number of heads for these models: SD 1.x
        # has 8 heads everywhere, SD 2.x 64 channels per head.
        attention_head_dim=tuple(c // 64 for c in ch) if sd2 else 8,
        use_linear_projection=sd2)
    m = randomize(m, seed)
    # Damp the prompt's pull so CFG's (c - u) is a modest part of u, as in a trained model
    # (undamped, cfg 7 multiplies the output several times over).
    with torch.no_grad():
        for name, mod in m.named_modules():
            if name.endswith("attn2"):
                mod.to_out[0].weight *= CROSS_ATTN_GAIN
    # A random v-UNet is already tame (denoised = c_skip x + c_out v stays O(1)).
    return m if sd2 else noise_predicting(m)


def noise_predicting(unet, keep=0.1):
    """A random eps-UNet's output is unrelated to its input, so x - sigma * eps stays ~sigma
    and sampled latents end ~20x too large. Route the input through the conv_in -> last
    output block skip (conv_in, that block's shortcut, conv_norm_out, conv_out get an identity
    on the 4 latent channels, their random parts there scaled by `keep`), so eps is roughly
    the normalised input, which is the noise at high sigma: latents then shrink like a real
    model's. The rest of the network still adds ~10-20% to the output."""
    c = unet.config.in_channels
    ch = torch.arange(c)
    last = unet.up_blocks[-1]
    res, attn = last.resnets[-1], last.attentions[-1]
    with torch.no_grad():
        for w in (unet.conv_in.weight, unet.conv_in.bias, res.conv_shortcut.weight, res.conv_shortcut.bias,
                  res.conv2.weight, res.conv2.bias, attn.proj_out.weight, attn.proj_out.bias):
            w[:c] *= keep
        unet.conv_in.weight[ch, ch, 1, 1] += 1
        skip0 = res.conv_shortcut.weight.shape[1] - unet.conv_in.out_channels  # skip half follows
        res.conv_shortcut.weight[ch, skip0 + ch, 0, 0] += 1
        gamma = 0.1  # silu(gamma * v) ~ gamma * v / 2 near 0, undone by conv_out's identity
        unet.conv_norm_out.weight[:c] = gamma
        unet.conv_norm_out.bias[:c] = 0
        unet.conv_out.weight *= keep
        unet.conv_out.weight[ch, ch, 1, 1] += 2 / gamma
    return unet


def build_vae(seed):
    from diffusers import AutoencoderKL
    torch.manual_seed(seed)
    m = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                      up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=VAE_CH,
                      layers_per_block=2, latent_channels=4, norm_num_groups=32, sample_size=64,
                      scaling_factor=VAE_SCALE)
    m = randomize(m, seed)
    # SD's raw posterior means have std ~5 (so scaled latents are ~1): scale the mean half
    # of quant_conv's output likewise.
    with torch.no_grad():
        c = m.config.latent_channels
        m.quant_conv.weight[:c] *= 10
        m.quant_conv.bias[:c] *= 10
    return m


def rounded(model, dtype):
    """A float32 copy whose weights are exactly the dtype-rounded ones a file holds."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(dtype).float())
    return m


def half_dict(sd):
    return {k: v.detach().to(torch.float16) for k, v in sd.items()}


# ---------------------------------------------------------------- diffusers -> ldm names

UNET_RES = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
            "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
VAE_RES = {"conv_shortcut": "nin_shortcut"}
VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


class Renamer:
    """Moves every tensor under a diffusers prefix to an ldm prefix (optionally renaming the
    first part of the rest) and insists that each source tensor is taken exactly once."""

    def __init__(self, sd):
        self.sd, self.out, self.taken = sd, {}, set()

    def move(self, src, dst, rename=None, conv1x1=False):
        keys = [k for k in self.sd if k.startswith(src + ".")]
        assert keys, f"nothing under {src}"
        for k in keys:
            rest = k[len(src) + 1:]
            for a, b in (rename or {}).items():
                if rest.startswith(a + "."):
                    rest = b + rest[len(a):]
                    break
            v = self.sd[k]
            if conv1x1 and rest.endswith("weight") and v.ndim == 2:
                v = v[:, :, None, None]
            assert k not in self.taken, k
            self.taken.add(k)
            self.out[dst + "." + rest] = v

    def put(self, dst, srcs, value):
        for k in srcs:
            assert k in self.sd and k not in self.taken, k
            self.taken.add(k)
        self.out[dst] = value

    def done(self):
        left = set(self.sd) - self.taken
        assert not left, f"unmapped tensors: {sorted(left)}"
        return self.out


def ldm_unet(unet, sd):
    """input_blocks / middle_block / output_blocks numbering derived from the block structure:
    input_blocks.0 is conv_in, then per level layers_per_block (ResBlock [+ SpatialTransformer])
    and a Downsample (.0.op) except on the last level; output_blocks count layers_per_block + 1
    per level, the Upsample (.conv) sits after the last layer's modules."""
    r = Renamer(sd)
    r.move("time_embedding.linear_1", "time_embed.0")
    r.move("time_embedding.linear_2", "time_embed.2")
    r.move("conv_in", "input_blocks.0.0")
    i = 1
    for b, blk in enumerate(unet.down_blocks):
        for j in range(len(blk.resnets)):
            r.move(f"down_blocks.{b}.resnets.{j}", f"input_blocks.{i}.0", UNET_RES)
            if getattr(blk, "attentions", None) is not None:
                r.move(f"down_blocks.{b}.attentions.{j}", f"input_blocks.{i}.1")
            i += 1
        if blk.downsamplers is not None:
            r.move(f"down_blocks.{b}.downsamplers.0.conv", f"input_blocks.{i}.0.op")
            i += 1
    r.move("mid_block.resnets.0", "middle_block.0", UNET_RES)
    r.move("mid_block.attentions.0", "middle_block.1")
    r.move("mid_block.resnets.1", "middle_block.2", UNET_RES)
    i = 0
    for b, blk in enumerate(unet.up_blocks):
        n = len(blk.resnets)
        for j in range(n):
            r.move(f"up_blocks.{b}.resnets.{j}", f"output_blocks.{i}.0", UNET_RES)
            k = 1
            if getattr(blk, "attentions", None) is not None:
                r.move(f"up_blocks.{b}.attentions.{j}", f"output_blocks.{i}.1")
                k = 2
            if j == n - 1 and blk.upsamplers is not None:
                r.move(f"up_blocks.{b}.upsamplers.0.conv", f"output_blocks.{i}.{k}.conv")
            i += 1
    r.move("conv_norm_out", "out.0")
    r.move("conv_out", "out.2")
    return {"model.diffusion_model." + k: v for k, v in r.done().items()}


def ldm_vae(vae, sd):
    """Encoder down.N / decoder up.N (up is numbered from the lowest resolution upwards in
    diffusers, from the highest in ldm); the mid attention's linears become 1x1 convs."""
    r = Renamer(sd)
    for part in ("encoder", "decoder"):
        r.move(f"{part}.conv_in", f"{part}.conv_in")
        r.move(f"{part}.mid_block.resnets.0", f"{part}.mid.block_1", VAE_RES)
        r.move(f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1", VAE_ATTN, conv1x1=True)
        r.move(f"{part}.mid_block.resnets.1", f"{part}.mid.block_2", VAE_RES)
        r.move(f"{part}.conv_norm_out", f"{part}.norm_out")
        r.move(f"{part}.conv_out", f"{part}.conv_out")
    for i, blk in enumerate(vae.encoder.down_blocks):
        for j in range(len(blk.resnets)):
            r.move(f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}", VAE_RES)
        if blk.downsamplers is not None:
            r.move(f"encoder.down_blocks.{i}.downsamplers.0.conv", f"encoder.down.{i}.downsample.conv")
    n = len(vae.decoder.up_blocks)
    for i, blk in enumerate(vae.decoder.up_blocks):
        lvl = n - 1 - i
        for j in range(len(blk.resnets)):
            r.move(f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{lvl}.block.{j}", VAE_RES)
        if blk.upsamplers is not None:
            r.move(f"decoder.up_blocks.{i}.upsamplers.0.conv", f"decoder.up.{lvl}.upsample.conv")
    r.move("quant_conv", "quant_conv")
    r.move("post_quant_conv", "post_quant_conv")
    return {"first_stage_model." + k: v for k, v in r.done().items()}


def ldm_clip(sd):
    """SD 1.x keeps the transformers names under cond_stage_model.transformer., plus the
    position_ids buffer that transformers of 2022 saved (v1-5-pruned-emaonly has it, I64)."""
    out = {"cond_stage_model.transformer." + k: v for k, v in sd.items()}
    out["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(CTX)[None]
    return out


def ldm_openclip(sd, layers, text_projection, logit_scale):
    """OpenCLIP's text tower: fused q/k/v in_proj, c_fc / c_proj MLP, positional_embedding as a
    bare tensor; text_projection [width, embed] and logit_scale [] as SD 2.x files carry them."""
    P, T = "cond_stage_model.model.", "text_model."
    r = Renamer(sd)
    r.move(T + "embeddings.token_embedding", P + "token_embedding")
    pos = T + "embeddings.position_embedding.weight"
    r.put(P + "positional_embedding", [pos], sd[pos])
    for i in range(layers):
        src, dst = f"{T}encoder.layers.{i}.", f"{P}transformer.resblocks.{i}."
        for w in ("weight", "bias"):
            qkv = [src + f"self_attn.{x}_proj.{w}" for x in "qkv"]
            r.put(dst + f"attn.in_proj_{w}", qkv, torch.cat([sd[k] for k in qkv]))
        r.move(src + "self_attn.out_proj", dst + "attn.out_proj")
        r.move(src + "layer_norm1", dst + "ln_1")
        r.move(src + "layer_norm2", dst + "ln_2")
        r.move(src + "mlp.fc1", dst + "mlp.c_fc")
        r.move(src + "mlp.fc2", dst + "mlp.c_proj")
    r.move(T + "final_layer_norm", P + "ln_final")
    out = r.done()
    out[P + "text_projection"] = text_projection
    out[P + "logit_scale"] = logit_scale
    return out


def ddpm_buffers():
    """The non-weight tensors of v1-5-pruned-emaonly / v2-1 files: LatentDiffusion's schedule
    buffers (scaled_linear betas, float64 maths stored as F32) and the EMA bookkeeping."""
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    b = {"betas": betas, "alphas_cumprod": ac, "alphas_cumprod_prev": ac_prev,
         "sqrt_alphas_cumprod": np.sqrt(ac), "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
         "log_one_minus_alphas_cumprod": np.log(1.0 - ac), "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
         "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1.0), "posterior_variance": post_var,
         "posterior_log_variance_clipped": np.log(np.maximum(post_var, 1e-20)),
         "posterior_mean_coef1": betas * np.sqrt(ac_prev) / (1.0 - ac),
         "posterior_mean_coef2": (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac)}
    out = {k: torch.from_numpy(v.astype(np.float32)) for k, v in b.items()}
    out["model_ema.decay"] = torch.tensor(0.9999, dtype=torch.float32)
    out["model_ema.num_updates"] = torch.tensor(0, dtype=torch.int32)
    return out


# ---------------------------------------------------------------- checks with diffusers' converters

def read_back(path):
    from safetensors import safe_open
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def same_tensors(what, got, want):
    if set(got) != set(want):
        raise SystemExit(f"{what}: key sets differ: missing {sorted(set(want) - set(got))[:5]}, "
                         f"extra {sorted(set(got) - set(want))[:5]}")
    for k in want:
        if got[k].dtype != want[k].dtype or got[k].shape != want[k].shape or not torch.equal(got[k], want[k]):
            raise SystemExit(f"{what}: tensor {k} differs after the round trip")


def verify_single_file(path, unet, vae, text, sd2):
    """Convert the written file back with diffusers' own functions; every tensor must equal the
    diffusers / transformers state dict (in F16) bit for bit."""
    from diffusers.loaders import single_file_utils as sfu
    ck, _ = read_back(path)
    same_tensors(f"{path} unet", sfu.convert_ldm_unet_checkpoint(ck, dict(unet.config)),
                 half_dict(unet.state_dict()))
    same_tensors(f"{path} vae", sfu.convert_ldm_vae_checkpoint(ck, dict(vae.config)),
                 half_dict(vae.state_dict()))
    if sd2:
        te = sfu.convert_open_clip_checkpoint(text, ck, prefix="cond_stage_model.model.")
    else:
        te = sfu.convert_ldm_clip_checkpoint(ck)
        pos = te.pop("text_model.embeddings.position_ids")
        if not torch.equal(pos, torch.arange(CTX)[None]):
            raise SystemExit(f"{path}: position_ids")
    same_tensors(f"{path} text", te, half_dict(text.state_dict()))


# ---------------------------------------------------------------- artefacts: model files

def save_checkpoint(path, tensors, metadata):
    """The safetensors library's writer, as for real checkpoints (refio cannot store 0-d
    tensors such as logit_scale and model_ema.decay). It writes metadata keys in hash order,
    which changes from run to run, so they are then put in sorted order in place."""
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, path, metadata)
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        if "__metadata__" in header:
            header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        b = json.dumps(header, separators=(",", ":")).encode()
        assert len(b) <= n
        f.seek(8)
        f.write(b + b" " * (n - len(b)))


def write_single_file(name, unet, vae, text, sd2, metadata=None):
    tensors = {}
    tensors.update(ldm_unet(unet, half_dict(unet.state_dict())))
    tensors.update(ldm_vae(vae, half_dict(vae.state_dict())))
    if sd2:
        g = torch.Generator().manual_seed(5)
        proj = (torch.randn(TEXT_DIM, TEXT_DIM, generator=g) / math.sqrt(TEXT_DIM)).half()
        scale = torch.tensor(math.log(1 / 0.07)).half()
        tensors.update(ldm_openclip(half_dict(text.state_dict()), text.config.num_hidden_layers, proj, scale))
    else:
        tensors.update(ldm_clip(half_dict(text.state_dict())))
    tensors.update(ddpm_buffers())
    path = os.path.join(OUT, name)
    save_checkpoint(path, tensors, metadata)
    verify_single_file(path, unet, vae, text, sd2)
    return path


def write_sd1_tiny(unet, vae, text):
    return write_single_file("sd1_tiny.safetensors", unet, vae, text, sd2=False)


def write_sd2_tiny(unet, vae, text):
    # Real SD 2.x files carry no metadata; stating the prediction type the way ModelSpec
    # files (kohya sd-scripts, Stability) do gives a loader something to read.
    meta = {"modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": "stable-diffusion-v2-768-v",
            "modelspec.prediction_type": "v", "modelspec.resolution": "64x64",
            "modelspec.title": "sd2_tiny (random weights, iris test fixture)"}
    return write_single_file("sd2_tiny.safetensors", unet, vae, text, sd2=True, metadata=meta)


def sd2_diffusers_text(text):
    """Real SD 2.x diffusers repos hold OpenCLIP's first 23 of 24 layers and use the last
    hidden state: here the first 2 of 3."""
    from transformers import CLIPTextModel
    cfg = copy.deepcopy(text.config)
    cfg.num_hidden_layers -= 1
    te = CLIPTextModel(cfg)
    last = f"text_model.encoder.layers.{cfg.num_hidden_layers}."
    te.load_state_dict({k: v for k, v in text.state_dict().items() if not k.startswith(last)}, strict=True)
    return te.eval()


def write_sd2_diffusers(unet, vae, text, tok):
    """diffusers' own save_pretrained in BF16; the tokenizer folder is dropped afterwards."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    folder = os.path.join(OUT, "sd2_tiny_diffusers")
    shutil.rmtree(folder, ignore_errors=True)
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                          beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False,
                          steps_offset=1, prediction_type="v_prediction")
    pipe = StableDiffusionPipeline(vae=copy.deepcopy(vae).to(torch.bfloat16),
                                   text_encoder=sd2_diffusers_text(text).to(torch.bfloat16),
                                   tokenizer=tok, unet=copy.deepcopy(unet).to(torch.bfloat16),
                                   scheduler=sched, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    shutil.rmtree(os.path.join(folder, "tokenizer"))
    return folder


def load_sd2_diffusers(folder, unet, vae, text):
    """Check that the folder's files hold exactly the BF16-rounded weights, then read it back
    with diffusers / transformers; returns float32 models of those weights."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    parts = (("unet", "diffusion_pytorch_model.safetensors", unet, UNet2DConditionModel),
             ("vae", "diffusion_pytorch_model.safetensors", vae, AutoencoderKL),
             ("text_encoder", "model.safetensors", sd2_diffusers_text(text), CLIPTextModel))
    models = []
    for sub, fname, want, cls in parts:
        w = {k: x.to(torch.bfloat16) for k, x in want.state_dict().items()}
        same_tensors(f"{sub}/{fname}", read_back(os.path.join(folder, sub, fname))[0], w)
        kw = {"attn_implementation": "eager"} if sub == "text_encoder" else {}
        m = cls.from_pretrained(os.path.join(folder, sub), torch_dtype=torch.float32, **kw).eval()
        same_tensors(f"{sub} loaded", m.state_dict(), {k: x.float() for k, x in w.items()})
        models.append(m)
    with open(os.path.join(folder, "scheduler", "scheduler_config.json")) as f:
        assert json.load(f)["prediction_type"] == "v_prediction"
    return models


# ---------------------------------------------------------------- artefacts: reference outputs

def encode_text(text, ids, layer):
    """layer -1: last hidden state (transformers applies final_layer_norm to it); -2: the
    penultimate layer's output through final_layer_norm (SD 2.x, clip-skip 2)."""
    with torch.no_grad():
        out = text(input_ids=ids, output_hidden_states=True)
        if layer == -1:
            return out.last_hidden_state
        return text.text_model.final_layer_norm(out.hidden_states[layer])


def text_refs(text, tok, sd2, layer):
    ids = token_ids(tok, [PROMPT, ""], sd2)
    r = {"text_ids": ids.to(torch.int32), "text_out": encode_text(text, ids, layer)}
    if not sd2:
        r["text_out_skip2"] = encode_text(text, ids, -2)
    # A1111's emphasis: scale each token's vector, then restore the original mean.
    eids = token_ids(tok, [EMPH_PROMPT], sd2)
    words = tok.convert_ids_to_tokens(eids[0].tolist())
    words = [t.replace("</w>", "") for t in words]
    assert all(words.count(k) == 1 for k in EMPH_WORD_W), f"emphasis words not single tokens: {words[:12]}"
    w = torch.tensor([[EMPH_WORD_W.get(t, 1.0) for t in words]])
    z = encode_text(text, eids, layer)
    m0 = z.mean()
    z = z * w[..., None]
    z = z * (m0 / z.mean())
    r.update(emph_ids=eids.to(torch.int32), emph_w=w.float(), emph_out=z)
    return r


def unet_refs(unet):
    g = torch.Generator().manual_seed(11)
    x = torch.randn((2, 4, 8, 8), generator=g)
    t = torch.tensor([999.0, 421.5])
    ctx = torch.randn((2, CTX, TEXT_DIM), generator=g)
    with torch.no_grad():
        y = unet(x, t, encoder_hidden_states=ctx).sample
    return {"unet_x": x, "unet_t": t, "unet_ctx": ctx, "unet_out": y}


def synthetic_image():
    """A smooth 64x64 picture in [-1, 1]: colour gradients, a disc and a soft square."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    disc = torch.sigmoid((0.22 - ((xx - 0.35) ** 2 + (yy - 0.4) ** 2).sqrt()) * 40)
    square = torch.sigmoid((0.18 - torch.maximum((xx - 0.7).abs(), (yy - 0.7).abs())) * 40)
    r = 0.8 * xx - 0.4 + 0.9 * disc - 0.3 * square
    gch = 0.6 * yy - 0.5 + 0.8 * square
    b = 0.5 - 0.7 * xx * yy + 0.4 * disc * yy
    return torch.stack([r, gch, b])[None].clamp(-1, 1)


def vae_refs(vae):
    g = torch.Generator().manual_seed(13)
    lat = torch.randn((1, 4, 8, 8), generator=g)
    img = synthetic_image()
    with torch.no_grad():
        dec = vae.decode(lat / VAE_SCALE).sample
        post = vae.encode(img).latent_dist
    return {"vae_latent": lat, "vae_image": dec, "enc_image": img,
            "enc_mean": post.mean * VAE_SCALE, "enc_logvar": post.logvar}


class CompVisWrap:
    """What k-diffusion's CompVis wrappers expect of an ldm model: alphas_cumprod and
    apply_model(x, t, cond), here around the diffusers UNet."""

    def __init__(self, unet):
        self.unet = unet
        self.alphas_cumprod = ddpm_buffers()["alphas_cumprod"]

    def apply_model(self, x, t, cond):
        return self.unet(x, t, encoder_hidden_states=cond).sample


def guided(denoiser, cond, uncond, scale):
    """A1111's CFG: uncond and cond in one UNet batch, u + scale * (c - u)."""
    ctx = torch.cat([uncond, cond])

    def model(x, sigma):
        d = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=ctx)
        u, c = d.chunk(2)
        return u + scale * (c - u)
    return model


def schedule(ks, denoiser, kind, n):
    if kind == "discrete":
        return denoiser.get_sigmas(n)
    lo, hi = denoiser.sigma_min.item(), denoiser.sigma_max.item()
    if kind == "karras":
        return ks.get_sigmas_karras(n, lo, hi)
    return ks.get_sigmas_exponential(n, lo, hi)


def run_sampler(ks, name, model, x, sigmas, g):
    noise = lambda s, s_next: torch.randn((1, 4, 8, 8), generator=g)
    fn = {"euler": ks.sample_euler, "euler_a": ks.sample_euler_ancestral, "heun": ks.sample_heun,
          "dpm2": ks.sample_dpm_2, "dpmpp_2s_a": ks.sample_dpmpp_2s_ancestral,
          "dpmpp_2m": ks.sample_dpmpp_2m}[name]
    kw = {"noise_sampler": noise} if name in ("euler_a", "dpmpp_2s_a") else {}
    with torch.no_grad():
        return fn(model, x, sigmas, disable=True, **kw)


def decode_image(vae, lat):
    with torch.no_grad():
        return vae.decode(lat / VAE_SCALE).sample.clamp(-1, 1)


def trajectory_refs(ks, kx, unet, vae, text_out, sd2):
    den = (kx.CompVisVDenoiser if sd2 else kx.CompVisDenoiser)(CompVisWrap(unet))
    model = guided(den, text_out[0:1], text_out[1:2], CFG_SCALE)
    r = {}
    for sampler, kind in TRAJ_COMBOS:
        sigmas = schedule(ks, den, kind, TRAJ_STEPS)
        r[f"traj_sigmas_{kind}"] = sigmas
        g = torch.Generator().manual_seed(TRAJ_SEED)
        x = torch.randn((1, 4, 8, 8), generator=g) * sigmas[0]
        lat = run_sampler(ks, sampler, model, x, sigmas, g)
        r[f"traj_{sampler}_{kind}_latent"] = lat
        r[f"traj_{sampler}_{kind}_image"] = decode_image(vae, lat)
    return r


def img2img_refs(ks, kx, unet, vae, text_out, enc_mean, sd2):
    """A1111's img2img on the posterior mean (not a sample) of enc_image, Euler a."""
    den = (kx.CompVisVDenoiser if sd2 else kx.CompVisDenoiser)(CompVisWrap(unet))
    model = guided(den, text_out[0:1], text_out[1:2], CFG_SCALE)
    t_enc = int(min(I2I_STRENGTH, 0.999) * I2I_STEPS)
    sigmas = den.get_sigmas(I2I_STEPS)[I2I_STEPS - t_enc - 1:]
    g = torch.Generator().manual_seed(I2I_SEED)
    x = enc_mean + torch.randn((1, 4, 8, 8), generator=g) * sigmas[0]
    lat = run_sampler(ks, "euler_a", model, x, sigmas, g)
    return {"img2img_sigmas": sigmas, "img2img_latent": lat, "img2img_image": decode_image(vae, lat)}


def single_eval_refs(unet, vae, text, tok, sd2, layer):
    r = text_refs(text, tok, sd2, layer)
    r.update(unet_refs(unet))
    r.update(vae_refs(vae))
    return r


def full_refs(ks, kx, unet, vae, text, tok, sd2, layer):
    r = single_eval_refs(unet, vae, text, tok, sd2, layer)
    r.update(trajectory_refs(ks, kx, unet, vae, r["text_out"], sd2))
    r.update(img2img_refs(ks, kx, unet, vae, r["text_out"], r["enc_mean"], sd2))
    return r


def check_lively(name, r):
    """Random models can be degenerate (constant output, NaN, no effect of the prompt)."""
    for k, v in r.items():
        if v.dtype.is_floating_point and not torch.isfinite(v).all():
            raise SystemExit(f"{name}: {k} is not finite")
    u = r["unet_out"]
    assert u.std() > 0.1 and (u[0] - u[1]).abs().mean() > 0.05, f"{name}: UNet output degenerate"
    t = r["text_out"]
    assert (t[0] - t[1]).abs().mean() > 0.05, f"{name}: text output ignores the prompt"
    if "traj_euler_discrete_image" in r:
        lats = [v for k, v in r.items() if k.endswith("_latent") and k.startswith("traj_")]
        assert min((a - b).abs().max() for i, a in enumerate(lats) for b in lats[i + 1:]) > 1e-3
    print(f"  {name}: unet_out std {u.std():.3f}, vae_image std {r['vae_image'].std():.3f}, "
          f"text_out std {t.std():.3f}, enc_mean std {r['enc_mean'].std():.3f}")


def write_refs(name, r):
    path = os.path.join(OUT, name)
    save(path, {k: (v if v.dtype == torch.int32 else v.float()).contiguous() for k, v in r.items()})
    return path


# ---------------------------------------------------------------- main

def sizes():
    rows = []
    for root, _, files in os.walk(OUT):
        for f in sorted(files):
            p = os.path.join(root, f)
            rows.append((os.path.relpath(p, HERE), os.path.getsize(p)))
    for p, n in sorted(rows):
        print(f"  {n:>10}  {p}")
    print(f"  {sum(n for _, n in rows):>10}  total")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdiffusion", help="k_diffusion wheel or unpacked folder (default: pip download)")
    ap.add_argument("--clip", default=CLIP_DATA, help="folder with CLIP's vocab.json and merges.txt")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    os.makedirs(OUT, exist_ok=True)
    ks, kx = load_kdiffusion(args.kdiffusion)
    tok = clip_tokenizer(args.clip)

    print("SD1-tiny")
    unet1, vae1, text1 = build_unet(False, 101), build_vae(102), build_text(False, 103)
    write_sd1_tiny(unet1, vae1, text1)
    r1 = full_refs(ks, kx, rounded(unet1, torch.float16), rounded(vae1, torch.float16),
                   rounded(text1, torch.float16), tok, sd2=False, layer=-1)
    check_lively("sd1", r1)
    write_refs("sd1_ref.safetensors", r1)

    print("SD2-tiny")
    unet2, vae2, text2 = build_unet(True, 201), build_vae(202), build_text(True, 203)
    write_sd2_tiny(unet2, vae2, text2)
    r2 = full_refs(ks, kx, rounded(unet2, torch.float16), rounded(vae2, torch.float16),
                   rounded(text2, torch.float16), tok, sd2=True, layer=-2)
    check_lively("sd2", r2)
    write_refs("sd2_ref.safetensors", r2)

    folder = write_sd2_diffusers(unet2, vae2, text2, tok)
    u, v, t = load_sd2_diffusers(folder, unet2, vae2, text2)
    r3 = single_eval_refs(u, v, t, tok, sd2=True, layer=-1)
    check_lively("sd2d", r3)
    write_refs("sd2d_ref.safetensors", r3)
    print("sizes:")
    sizes()


if __name__ == "__main__":
    main()
