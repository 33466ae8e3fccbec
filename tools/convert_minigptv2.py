#!/usr/bin/env python3
"""convert_minigptv2.py - MiniGPT-v2's released files -> the GGUF pair iris's captioner reads.

Not part of the product (iris runs no Python); needs torch, numpy and the `gguf` package.

    python3 tools/convert_minigptv2.py --eva eva_vit_g.pth --ckpt minigptv2_checkpoint.pth \\
        --llama Llama-2-7b-chat-hf --outdir out/
    bin/quantize out/minigptv2-llama2-7b-chat-f16.gguf out/minigptv2-llama2-7b-chat-q4_0.gguf q4_0

Inputs, as MiniGPT-v2's code loads them (minigpt4/models/eva_vit.py, minigpt_base.py, minigpt_v2.py):
  --eva    LAVIS's eva_vit_g.pth: the EVA ViT-g/14 state dict (cls_token, pos_embed at 224 px,
           patch_embed.proj, blocks.N.{norm1, attn.qkv, attn.q_bias, attn.v_bias, attn.proj, norm2,
           mlp.fc1, mlp.fc2}). MiniGPT-v2 builds 39 blocks (create_eva_vit_g depth=39) and loads the
           file with strict=False, so a 40th block in the file is unused; the position embedding is
           interpolated bicubically to the 448 px grid at load (interpolate_pos_embed): done here.
  --ckpt   MiniGPT-v2's checkpoint ({"model": state dict}): llama_proj.{weight,bias} and the LoRA
           pairs llama_model.base_model.model.model.layers.N.self_attn.{q,v}_proj.lora_{A,B}[.default].weight
           (peft; r = 64, alpha = 16 in minigpt_v2.yaml, scaling alpha / r). ln_vision is frozen and
           so not saved by MiniGPT's runner: a fresh nn.LayerNorm (weight 1, bias 0, eps 1e-5) unless
           the checkpoint has one.
  --llama  Llama-2-7b-chat in Hugging Face layout (config.json, tokenizer.model, *.safetensors or
           pytorch_model*.bin).

Outputs (docs/CAPTION.md, MiniGPT-v2 section):
  mmproj-minigptv2-f16.gguf   clip.projector_type "minigptv2"; v.* tower (q/k/v split from attn.qkv,
                              no attn_k.bias), v.ln_vision, mm.proj; F16 matrices, F32 vectors. The
                              matrices and the conv/linear biases are rounded to F16 as MiniGPT-v2's
                              vit_precision "fp16" does (convert_weights_to_fp16); q_bias, v_bias, the
                              norms, cls and pos_embed stay F32 as there.
  <name>-f16.gguf             the language model with W += (alpha / r) * B @ A merged into every
                              LoRA target, in llama.cpp's Llama layout (Q/K rows permuted for its
                              RoPE), F16 matrices, the SentencePiece vocabulary from tokenizer.model.
"""
import argparse
import glob
import json
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

import gguf

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # BlipImageBaseProcessor's defaults (OpenAI CLIP)
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
LORA_KEY = re.compile(r"^llama_model\.base_model\.model\.(model\.layers\.\d+\.\w+\.\w+)\.lora_A(\.default)?\.weight$")


def load_torch(path):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # older pickles with extra objects (optimizer state, configs)
        obj = torch.load(path, map_location="cpu", weights_only=False)
    return obj


def f16_round(t):
    return t.detach().to(torch.float16).to(torch.float32)


# ---------------------------------------------------------------- the vision half

def eva_state(path):
    sd = load_torch(path)
    for k in ("model", "state_dict", "module"):
        if isinstance(sd, dict) and k in sd and isinstance(sd[k], dict):
            sd = sd[k]
    # the tower inside a MiniGPT state dict is under visual_encoder.
    if any(k.startswith("visual_encoder.") for k in sd):
        sd = {k[len("visual_encoder."):]: v for k, v in sd.items() if k.startswith("visual_encoder.")}
    return sd


def interpolate_pos(pos, grid):
    """[1, 1 + g*g, D] -> [1 + grid*grid, D]: the class row kept, the grid resized bicubically
    (align_corners=False) in float32, as eva_vit.py's interpolate_pos_embed does at load."""
    pos = pos.float().reshape(-1, pos.shape[-1])
    D = pos.shape[-1]
    g = int(round((pos.shape[0] - 1) ** 0.5))
    if g * g != pos.shape[0] - 1:
        sys.exit("pos_embed has %d rows, not 1 + a square" % pos.shape[0])
    if g == grid:
        return pos
    tok = pos[1:].reshape(1, g, g, D).permute(0, 3, 1, 2)
    tok = F.interpolate(tok, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([pos[:1], tok.permute(0, 2, 3, 1).reshape(grid * grid, D)], 0)


def write_mmproj(path, eva, ck, image_size, depth):
    W = eva["patch_embed.proj.weight"]
    D, _, P, _ = W.shape
    if image_size % P:
        sys.exit("image size %d is not a multiple of the patch size %d" % (image_size, P))
    n_file = len({int(m.group(1)) for m in (re.match(r"blocks\.(\d+)\.", k) for k in eva) if m})
    if depth > n_file:
        sys.exit("--vit-depth %d but the EVA file has %d blocks" % (depth, n_file))
    F_ = eva["blocks.0.mlp.fc1.weight"].shape[0]
    head_dim = 88  # EVA ViT-g: num_heads = 1408 // 88
    n_head = D // head_dim if D % head_dim == 0 and D >= head_dim else None
    n_head = ARGS.vit_heads or n_head
    if not n_head or D % n_head:
        sys.exit("cannot tell the head count of width %d: pass --vit-heads" % D)
    grid = image_size // P
    if (grid * grid) % 4:
        sys.exit("%d patches cannot be grouped by 4" % (grid * grid))
    proj_w, proj_b = ck["llama_proj.weight"], ck["llama_proj.bias"]
    if proj_w.shape[1] != 4 * D:
        sys.exit("llama_proj takes %d inputs, 4 x %d expected" % (proj_w.shape[1], D))
    lnv_w = ck.get("ln_vision.weight", torch.ones(D))
    lnv_b = ck.get("ln_vision.bias", torch.zeros(D))
    print("ln_vision: %s" % ("from the checkpoint" if "ln_vision.weight" in ck else
                             "not in the checkpoint (frozen, never saved): weight 1, bias 0"))

    w = gguf.GGUFWriter(path, "clip")
    w.add_name("MiniGPT-v2 EVA ViT-g/14 + llama_proj")
    w.add_description("image encoder for MiniGPT-v2 (iris layout, tools/convert_minigptv2.py)")
    w.add_file_type(1)
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "minigptv2")
    w.add_uint32("clip.vision.image_size", image_size)
    w.add_uint32("clip.vision.patch_size", P)
    w.add_uint32("clip.vision.embedding_length", D)
    w.add_uint32("clip.vision.feed_forward_length", F_)
    w.add_uint32("clip.vision.projection_dim", proj_w.shape[0])
    w.add_uint32("clip.vision.attention.head_count", n_head)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)  # partial(nn.LayerNorm, eps=1e-6)
    w.add_uint32("clip.vision.block_count", depth)
    w.add_array("clip.vision.image_mean", CLIP_MEAN)
    w.add_array("clip.vision.image_std", CLIP_STD)
    w.add_bool("clip.use_gelu", True)  # nn.GELU(): exact erf
    w.add_float32("clip.minigptv2.ln_vision_epsilon", 1e-5)  # nn.LayerNorm's default

    def mat(name, t):  # F16 as vit_precision "fp16" stores it
        w.add_tensor(name, np.ascontiguousarray(t.detach().to(torch.float16).numpy()))

    def vec(name, t, round16=False):
        t = f16_round(t) if round16 else t.detach().float()
        w.add_tensor(name, np.ascontiguousarray(t.numpy()))

    mat("v.patch_embd.weight", W)
    vec("v.patch_embd.bias", eva["patch_embed.proj.bias"], True)
    vec("v.class_embd", eva["cls_token"].reshape(D))
    vec("v.position_embd.weight", interpolate_pos(eva["pos_embed"], grid))
    for i in range(depth):
        b, o = "blocks.%d." % i, "v.blk.%d." % i
        qkv = eva[b + "attn.qkv.weight"]
        if qkv.shape != (3 * D, D):
            sys.exit("%sattn.qkv.weight has shape %s" % (b, tuple(qkv.shape)))
        mat(o + "attn_q.weight", qkv[:D])
        vec(o + "attn_q.bias", eva[b + "attn.q_bias"])
        mat(o + "attn_k.weight", qkv[D:2 * D])
        mat(o + "attn_v.weight", qkv[2 * D:])
        vec(o + "attn_v.bias", eva[b + "attn.v_bias"])
        mat(o + "attn_out.weight", eva[b + "attn.proj.weight"])
        vec(o + "attn_out.bias", eva[b + "attn.proj.bias"], True)
        vec(o + "ln1.weight", eva[b + "norm1.weight"])
        vec(o + "ln1.bias", eva[b + "norm1.bias"])
        vec(o + "ln2.weight", eva[b + "norm2.weight"])
        vec(o + "ln2.bias", eva[b + "norm2.bias"])
        mat(o + "ffn_up.weight", eva[b + "mlp.fc1.weight"])
        vec(o + "ffn_up.bias", eva[b + "mlp.fc1.bias"], True)
        mat(o + "ffn_down.weight", eva[b + "mlp.fc2.weight"])
        vec(o + "ffn_down.bias", eva[b + "mlp.fc2.bias"], True)
    vec("v.ln_vision.weight", lnv_w)
    vec("v.ln_vision.bias", lnv_b)
    mat("mm.proj.weight", proj_w)
    vec("mm.proj.bias", proj_b)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote %s: %d blocks of width %d, %d heads, %dx%d patches -> %d rows of %d" %
          (path, depth, D, n_head, grid, grid, grid * grid // 4, proj_w.shape[0]))


# ---------------------------------------------------------------- the language half

def spm_pieces(path):
    """(piece, score, type) of a SentencePiece tokenizer.model, read from its protobuf directly:
    ModelProto field 1 = repeated SentencePiece {1: piece, 2: score (float), 3: type (default 1)}."""
    data = open(path, "rb").read()

    def varint(b, i):
        x = s = 0
        while True:
            c = b[i]
            i += 1
            x |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return x, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            f, wt = key >> 3, key & 7
            if wt == 0:
                v, i = varint(b, i)
            elif wt == 1:
                v, i = b[i:i + 8], i + 8
            elif wt == 2:
                n, i = varint(b, i)
                v, i = b[i:i + n], i + n
            elif wt == 5:
                v, i = b[i:i + 4], i + 4
            else:
                raise ValueError("%s: wire type %d" % (path, wt))
            yield f, v

    out = []
    for f, v in fields(data):
        if f != 1:
            continue
        piece, score, typ = b"", 0.0, 1
        for g, x in fields(v):
            if g == 1:
                piece = bytes(x)
            elif g == 2:
                score = struct.unpack("<f", x)[0]
            elif g == 3:
                typ = x
        out.append((piece, score, typ))
    if not out:
        sys.exit("%s: no pieces (not a SentencePiece model?)" % path)
    return out


class HFWeights:
    """Tensors of a Hugging Face folder by name, loaded one at a time (safetensors or .bin shards)."""

    def __init__(self, folder):
        self.files = {}
        st = sorted(glob.glob(os.path.join(folder, "*.safetensors")))
        if st:
            from safetensors import safe_open
            for f in st:
                h = safe_open(f, framework="pt")
                for k in h.keys():
                    self.files[k] = ("st", h)
        else:
            for f in sorted(glob.glob(os.path.join(folder, "pytorch_model*.bin"))):
                sd = torch.load(f, map_location="cpu", weights_only=True, mmap=True)
                for k, v in sd.items():
                    self.files[k] = ("pt", v)
        if not self.files:
            sys.exit("%s: no *.safetensors or pytorch_model*.bin" % folder)

    def __contains__(self, k):
        return k in self.files

    def shape(self, k):
        kind, h = self.files[k]
        return tuple(h.get_slice(k).get_shape()) if kind == "st" else tuple(h.shape)

    def get(self, k):
        kind, h = self.files[k]
        return (h.get_tensor(k) if kind == "st" else h).float()


def permute(w, n_head):
    # HF keeps each head's rotary pairs as (first half, second half); llama.cpp's GGUF as (2i, 2i+1)
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def lora_pairs(ck, alpha_cfg, r_cfg):
    """HF weight name -> (A, B, scaling) for every LoRA target in the checkpoint."""
    out = {}
    for k in ck:
        m = LORA_KEY.match(k)
        if not m:
            continue
        A = ck[k].float()
        B = ck[k.replace("lora_A", "lora_B")].float()
        r = A.shape[0]
        if r_cfg and r != r_cfg:
            sys.exit("%s has rank %d, the config says r = %d" % (k, r, r_cfg))
        out[m.group(1) + ".weight"] = (A, B, alpha_cfg / r)
    return out


def write_llama(path, folder, ck, alpha, r_cfg):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    E, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    H = cfg["num_attention_heads"]
    Hk = cfg.get("num_key_value_heads", H)
    hw = HFWeights(folder)
    lora = lora_pairs(ck, alpha, r_cfg)
    targets = sorted({re.sub(r"layers\.\d+\.", "layers.N.", k) for k in lora})
    print("LoRA: %d matrices merged (%s), scaling %s" %
          (len(lora), ", ".join(targets) or "none", sorted({round(s, 6) for _, _, s in lora.values()})))
    if not lora:
        print("warning: the checkpoint has no LoRA pairs: the language model is written unchanged")
    for k in lora:
        if k not in hw:
            sys.exit("LoRA target %s is not in %s" % (k, folder))
    base_in_ck = [k for k in ck if k.startswith("llama_model.") and "lora_" not in k]
    if base_in_ck:
        print("note: %d language-model weights in the checkpoint are not LoRA deltas and are ignored (e.g. %s)" %
              (len(base_in_ck), base_in_ck[0]))

    pieces = spm_pieces(os.path.join(folder, "tokenizer.model"))
    tied = cfg.get("tie_word_embeddings", False) or "lm_head.weight" not in hw
    w = gguf.GGUFWriter(path, "llama")
    w.add_name(ARGS.name)
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(Hk)
    w.add_rope_dimension_count(E // H)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-5)))
    w.add_file_type(1)
    w.add_tokenizer_model("llama")
    w.add_token_list([p for p, _, _ in pieces])
    w.add_token_scores([s for _, s, _ in pieces])
    w.add_token_types([t for _, _, t in pieces])
    w.add_bos_token_id(cfg.get("bos_token_id", 1))
    w.add_eos_token_id(cfg.get("eos_token_id", 2))
    unk = [i for i, (_, _, t) in enumerate(pieces) if t == 2]
    if unk:
        w.add_unk_token_id(unk[0])

    # (gguf name, hf name, F16?, permute heads): declared first, then written one at a time
    plan = [("token_embd.weight", "model.embed_tokens.weight", True, 0),
            ("output_norm.weight", "model.norm.weight", False, 0)]
    if not tied:
        plan.append(("output.weight", "lm_head.weight", True, 0))
    for i in range(L):
        p = "model.layers.%d." % i
        plan += [("blk.%d.attn_norm.weight" % i, p + "input_layernorm.weight", False, 0),
                 ("blk.%d.attn_q.weight" % i, p + "self_attn.q_proj.weight", True, H),
                 ("blk.%d.attn_k.weight" % i, p + "self_attn.k_proj.weight", True, Hk),
                 ("blk.%d.attn_v.weight" % i, p + "self_attn.v_proj.weight", True, 0),
                 ("blk.%d.attn_output.weight" % i, p + "self_attn.o_proj.weight", True, 0),
                 ("blk.%d.ffn_norm.weight" % i, p + "post_attention_layernorm.weight", False, 0),
                 ("blk.%d.ffn_gate.weight" % i, p + "mlp.gate_proj.weight", True, 0),
                 ("blk.%d.ffn_up.weight" % i, p + "mlp.up_proj.weight", True, 0),
                 ("blk.%d.ffn_down.weight" % i, p + "mlp.down_proj.weight", True, 0)]
    for name, hf, f16, _ in plan:
        if hf not in hw:
            sys.exit("%s: tensor %s missing" % (folder, hf))
        shape = hw.shape(hf)
        dt = np.float16 if f16 else np.float32
        w.add_tensor_info(name, shape, np.dtype(dt), int(np.prod(shape)) * np.dtype(dt).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, hf, f16, heads in plan:
        t = hw.get(hf)
        if hf in lora:
            A, B, s = lora[hf]
            t = t + s * (B @ A)  # peft's merge: W + scaling * B A (fan_in_fan_out False for Llama)
        if heads:
            t = permute(t, heads)
        w.write_tensor_data(np.ascontiguousarray(t.numpy().astype(np.float16 if f16 else np.float32)))
    w.close()
    print("wrote %s: %d layers, width %d, vocabulary %d" % (path, L, E, len(pieces)))


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--eva", required=True, help="eva_vit_g.pth (LAVIS)")
    ap.add_argument("--ckpt", required=True, help="MiniGPT-v2 checkpoint .pth")
    ap.add_argument("--llama", required=True, help="Llama-2-7b-chat-hf folder")
    ap.add_argument("--outdir", default=".")
    ap.add_argument("--mmproj", default="mmproj-minigptv2-f16.gguf", help="file name of the vision GGUF")
    ap.add_argument("--model", default="minigptv2-llama2-7b-chat-f16.gguf", help="file name of the language GGUF")
    ap.add_argument("--name", default="MiniGPT-v2 Llama-2-7b-chat (LoRA merged)")
    ap.add_argument("--image-size", type=int, default=0, help="default: the checkpoint's config, else 448")
    ap.add_argument("--vit-depth", type=int, default=39, help="EVA blocks MiniGPT-v2 runs (create_eva_vit_g: 39)")
    ap.add_argument("--vit-heads", type=int, default=0, help="default: width / 88 (EVA ViT-g: 16)")
    ap.add_argument("--lora-alpha", type=float, default=0, help="default: the checkpoint's config, else 16")
    ARGS = ap.parse_args()

    ckpt = load_torch(ARGS.ckpt)
    ck = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else ckpt
    mcfg = (ckpt.get("config") or {}).get("model", {}) if isinstance(ckpt, dict) else {}
    image_size = ARGS.image_size or int(mcfg.get("image_size", 448))
    alpha = ARGS.lora_alpha or float(mcfg.get("lora_alpha", 16))
    r_cfg = int(mcfg.get("lora_r", 0))
    os.makedirs(ARGS.outdir, exist_ok=True)
    write_mmproj(os.path.join(ARGS.outdir, ARGS.mmproj), eva_state(ARGS.eva), ck, image_size, ARGS.vit_depth)
    model = os.path.join(ARGS.outdir, ARGS.model)
    write_llama(model, ARGS.llama, ck, alpha, r_cfg)
    print("next: bin/quantize %s %s q4_0" % (model, re.sub(r"(-f16)?\.gguf$", "", model) + "-q4_0.gguf"))


ARGS = None
if __name__ == "__main__":
    main()
