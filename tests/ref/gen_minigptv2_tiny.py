"""gen_minigptv2_tiny.py - a tiny random MiniGPT-v2 in the released files' module layout, converted by
tools/convert_minigptv2.py, with references for tests/test_minigptv2.c from a PyTorch model built the
way MiniGPT-v2's code builds it:

  eva_vit_g.pth     the EVA tower's state dict under eva_vit.py's names (cls_token, pos_embed at a 3x3
                    grid, patch_embed.proj, blocks.N.attn.qkv / q_bias / v_bias / proj, norm1/2,
                    mlp.fc1/fc2), 3 blocks of width 32 of which MiniGPT-style loading uses 2 (as
                    create_eva_vit_g builds 39 of the file's 40)
  minigptv2.pth     {"model": llama_proj + the LoRA pairs of q_proj / v_proj under peft's names
                    (llama_model.base_model.model.model.layers.N.self_attn.q_proj.lora_A.default.weight;
                    layer 1 in peft 0.2's form without ".default"), "config": {"model": lora_r 4,
                    lora_alpha 8, image_size 56}}
  llama/            a tiny Llama in Hugging Face layout (F16 safetensors, config.json, tokenizer.model
                    written as a SentencePiece protobuf from the stories260K vocabulary)

References (tests/ref/minigptv2/ref.safetensors):
  pixels      Blip2ImageEvalProcessor: Resize((56, 56), BICUBIC) on the PIL image (torchvision hands a
              PIL image to Image.resize), ToTensor, Normalize(CLIP mean/std)
  features    ln_vision(visual_encoder(pixels))[:, 1:]            [1, 16, 32]
  projected   llama_proj(features.view(1, 16 / 4, 32 * 4))        [1, 4, 64]
  logits      LlamaForCausalLM on the merged weights: every position of a text prompt, and the last
              position of text + the projected rows (inputs_embeds) + text
The EVA reference follows eva_vit.py: pos_embed interpolated bicubically at load, conv/linear weights
and biases rounded to F16 (vit_precision "fp16"), the math in F32. The generator also checks that the
converted language model's Q and V equal F16(W + alpha / r * B @ A) and K, the rest, the bare weights.

Run by hand: /usr/bin/python3 tests/ref/gen_minigptv2_tiny.py   (torch, transformers 4.44.2, gguf, PIL)
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import gguf
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
import refio  # noqa: E402
from gen_llama_tiny import vocab_from  # noqa: E402

OUT = os.path.join(HERE, "minigptv2")
SHARED = os.path.join(ROOT, "..", "shared", "data")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
D, HEADS, FFN, P, DEPTH_FILE, DEPTH = 32, 2, 48, 14, 3, 2
IMG0, IMG = 42, 56  # pos_embed's grid 3x3 in the file, 4x4 at the model's size
LORA_R, LORA_ALPHA = 4, 8


# ---- the EVA tower as eva_vit.py builds it (written here for the reference, same module names) ----

class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(B, N, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ((q * (C // self.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, N, -1))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=P, stride=P)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class EVA(nn.Module):
    def __init__(self, img, depth):
        super().__init__()
        self.patch_embed = PatchEmbed(D)
        n = (img // P) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, D))
        self.blocks = nn.ModuleList([Block(D, HEADS, FFN) for _ in range(depth)])

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), 1) + self.pos_embed
        for b in self.blocks:
            x = b(x)
        return x


def interpolate_pos_embed(model, sd):
    # eva_vit.py at load: the class row kept, the grid resized bicubically (align_corners=False)
    pos = sd["pos_embed"].float()
    n = model.patch_embed_n
    old, new = int((pos.shape[-2] - 1) ** 0.5), int(n ** 0.5)
    if old != new:
        tok = pos[:, 1:].reshape(-1, old, old, D).permute(0, 3, 1, 2)
        tok = F.interpolate(tok, size=(new, new), mode="bicubic", align_corners=False)
        sd["pos_embed"] = torch.cat((pos[:, :1], tok.permute(0, 2, 3, 1).flatten(1, 2)), 1)


def random_eva():
    g = torch.Generator().manual_seed(31)
    big = EVA(IMG0, DEPTH_FILE)
    sd = {}
    for k, v in big.state_dict().items():
        if "norm" in k and k.endswith("weight"):
            t = 0.8 + 0.4 * torch.rand(v.shape, generator=g)
        elif k in ("cls_token", "pos_embed"):
            t = 0.5 * torch.randn(v.shape, generator=g)
        elif v.dim() >= 2:
            t = 0.15 * torch.randn(v.shape, generator=g)
        else:
            t = 0.05 * torch.randn(v.shape, generator=g)
        sd[k] = t
    return sd


def eva_reference(sd):
    # create_eva_vit_g: build at the model's size and depth, interpolate, load with strict=False
    # (the file's extra block is ignored), then convert_weights_to_fp16 on conv/linear layers
    m = EVA(IMG, DEPTH)
    m.patch_embed_n = (IMG // P) ** 2
    sd = dict(sd)
    interpolate_pos_embed(m, sd)
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not missing and all(k.startswith("blocks.%d." % DEPTH) for k in unexpected), (missing, unexpected)
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            mod.weight.data = mod.weight.data.half().float()
            if mod.bias is not None:
                mod.bias.data = mod.bias.data.half().float()
    return m.eval()


# ---- a SentencePiece tokenizer.model from a GGUF vocabulary ----

def spm_model(voc):
    def varint(x):
        out = b""
        while True:
            b = x & 0x7F
            x >>= 7
            if x:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])

    def ld(field, payload):
        return varint(field << 3 | 2) + varint(len(payload)) + payload

    body = b""
    for piece, score, typ in zip(voc["tokens"], voc["scores"], voc["types"]):
        sp = ld(1, piece) + varint(2 << 3 | 5) + struct.pack("<f", score)
        if typ != 1:
            sp += varint(3 << 3 | 0) + varint(typ)
        body += ld(1, sp)
    return body


def text_config(voc):
    return LlamaConfig(vocab_size=len(voc["tokens"]), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256, rms_norm_eps=1e-5,
                       bos_token_id=voc["bos"], eos_token_id=voc["eos"], tie_word_embeddings=False,
                       torch_dtype="float16")


def fuzz_seed(tmp):
    # a micro mmproj (8 px, 4 px patches, width 16, one block) for fuzz/seeds/fuzz_mmproj: small enough
    # for the fuzzer's 64 KiB inputs, through the same converter
    g = torch.Generator().manual_seed(34)
    d, f = 16, 16
    sd = {"cls_token": torch.randn(1, 1, d, generator=g), "pos_embed": torch.randn(1, 5, d, generator=g),
          "patch_embed.proj.weight": torch.randn(d, 3, 4, 4, generator=g), "patch_embed.proj.bias": torch.randn(d, generator=g)}
    for k, shape in (("norm1.weight", (d,)), ("norm1.bias", (d,)), ("attn.qkv.weight", (3 * d, d)),
                     ("attn.q_bias", (d,)), ("attn.v_bias", (d,)), ("attn.proj.weight", (d, d)), ("attn.proj.bias", (d,)),
                     ("norm2.weight", (d,)), ("norm2.bias", (d,)), ("mlp.fc1.weight", (f, d)), ("mlp.fc1.bias", (f,)),
                     ("mlp.fc2.weight", (d, f)), ("mlp.fc2.bias", (d,))):
        sd["blocks.0." + k] = 0.1 * torch.randn(shape, generator=g)
    torch.save(sd, os.path.join(tmp, "micro_eva.pth"))
    torch.save({"model": {"llama_proj.weight": torch.randn(8, 4 * d, generator=g), "llama_proj.bias": torch.randn(8, generator=g)}},
               os.path.join(tmp, "micro_ckpt.pth"))
    out = os.path.join(tmp, "micro")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_minigptv2.py"), "--eva",
                    os.path.join(tmp, "micro_eva.pth"), "--ckpt", os.path.join(tmp, "micro_ckpt.pth"), "--llama",
                    os.path.join(tmp, "llama"), "--outdir", out, "--image-size", "8", "--vit-depth", "1",
                    "--vit-heads", "2"], check=True)
    shutil.copy(os.path.join(out, "mmproj-minigptv2-f16.gguf"),
                os.path.join(ROOT, "fuzz", "seeds", "fuzz_mmproj", "minigptv2_micro_mmproj.gguf"))


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    os.makedirs(OUT, exist_ok=True)
    voc = vocab_from(os.path.join(SHARED, "llm", "stories260K-f32.gguf"))
    tmp = tempfile.mkdtemp(prefix="minigptv2_")
    try:
        # the released files, tiny
        eva_sd = random_eva()
        torch.save(eva_sd, os.path.join(tmp, "eva_vit_g.pth"))
        torch.manual_seed(32)
        cfg = text_config(voc)
        lm = LlamaForCausalLM(cfg).eval()
        with torch.no_grad():
            for p in lm.parameters():
                if p.dim() == 2:
                    p.normal_(0, 0.08)
                else:
                    p.uniform_(0.8, 1.2)
        lm = lm.half()  # Llama-2-7b-chat-hf is F16
        folder = os.path.join(tmp, "llama")
        lm.save_pretrained(folder, safe_serialization=True)
        with open(os.path.join(folder, "tokenizer.model"), "wb") as f:
            f.write(spm_model(voc))
        base = {k: v.float() for k, v in lm.state_dict().items()}
        g = torch.Generator().manual_seed(33)
        ck = {"llama_proj.weight": (0.1 * torch.randn(64, 4 * D, generator=g)).half().float(),
              "llama_proj.bias": 0.05 * torch.randn(64, generator=g)}
        lora = {}
        for i in range(cfg.num_hidden_layers):
            for m in ("q_proj", "v_proj"):
                A = 0.1 * torch.randn(LORA_R, 64, generator=g)
                B = 0.1 * torch.randn(64, LORA_R, generator=g)
                pre = "llama_model.base_model.model.model.layers.%d.self_attn.%s." % (i, m)
                tag = ".default" if i == 0 else ""  # peft >= 0.3 names, and peft 0.2's
                ck[pre + "lora_A%s.weight" % tag], ck[pre + "lora_B%s.weight" % tag] = A, B
                lora["model.layers.%d.self_attn.%s.weight" % (i, m)] = (A, B)
        torch.save({"model": ck, "config": {"model": {"arch": "minigpt_v2", "image_size": IMG, "lora_r": LORA_R,
                                                      "lora_alpha": LORA_ALPHA}}},
                   os.path.join(tmp, "minigptv2.pth"))

        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_minigptv2.py"),
                        "--eva", os.path.join(tmp, "eva_vit_g.pth"), "--ckpt", os.path.join(tmp, "minigptv2.pth"),
                        "--llama", folder, "--outdir", OUT, "--mmproj", "mmproj.gguf", "--model", "model.gguf",
                        "--vit-depth", str(DEPTH), "--vit-heads", str(HEADS), "--name", "tiny-minigptv2"],
                       check=True)
        fuzz_seed(tmp)
    finally:
        shutil.rmtree(tmp)

    # the merged weights: what the GGUF must hold, and what transformers runs
    scale = LORA_ALPHA / LORA_R
    merged = dict(base)
    for k, (A, B) in lora.items():
        merged[k] = (base[k] + scale * (B @ A)).half().float()
    r = gguf.GGUFReader(os.path.join(OUT, "model.gguf"))
    t = {x.name: np.array(x.data) for x in r.tensors}
    for i in range(cfg.num_hidden_layers):
        p = "model.layers.%d.self_attn." % i
        for name, hf, perm in (("attn_q", "q_proj", 1), ("attn_k", "k_proj", 1), ("attn_v", "v_proj", 0)):
            got = t["blk.%d.%s.weight" % (i, name)].astype(np.float32)
            if perm:
                got = unpermute(got, cfg.num_attention_heads)
            want = merged[p + hf + ".weight"].numpy()
            assert np.array_equal(got, want), "%s %d differs from W + s B A" % (name, i)
        assert not np.array_equal(merged[p + "q_proj.weight"], base[p + "q_proj.weight"])
        for name, hf in (("attn_output", "self_attn.o_proj"), ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"),
                         ("ffn_down", "mlp.down_proj")):
            got = t["blk.%d.%s.weight" % (i, name)].astype(np.float32)
            assert np.array_equal(got, base["model.layers.%d.%s.weight" % (i, hf)].numpy()), name
    for name, hf in (("token_embd", "model.embed_tokens"), ("output", "lm_head"), ("output_norm", "model.norm")):
        assert np.array_equal(t[name + ".weight"].astype(np.float32), base[hf + ".weight"].numpy()), name
    assert [bytes(x) for x in voc["tokens"]] == [bytes(r.fields["tokenizer.ggml.tokens"].parts[j])
                                                 for j in r.fields["tokenizer.ggml.tokens"].data]
    print("converted Q/V = F16(W + %g B A), K and the other matrices unchanged, vocabulary equal" % scale)

    # the references
    photo = Image.open(os.path.join(HERE, "llava", "photo_wide.png")).convert("RGB")
    px = np.asarray(photo.resize((IMG, IMG), Image.BICUBIC), np.float32) / 255.0
    px = torch.from_numpy(((px - np.array(MEAN, np.float32)) / np.array(STD, np.float32)).transpose(2, 0, 1))[None]
    eva = eva_reference(eva_sd)
    ln_vision = nn.LayerNorm(D)  # frozen, never saved: weight 1, bias 0, eps 1e-5
    proj = nn.Linear(4 * D, 64)
    proj.weight.data, proj.bias.data = ck["llama_proj.weight"], ck["llama_proj.bias"]
    ref_lm = LlamaForCausalLM(LlamaConfig(**{**cfg.to_dict(), "torch_dtype": "float32"})).eval().float()
    ref_lm.load_state_dict(merged)
    with torch.no_grad():
        emb = ln_vision(eva(px))[:, 1:, :]
        bs, pn, hs = emb.shape
        feats = emb
        projected = proj(emb.reshape(bs, pn // 4, hs * 4))
        rng = np.random.default_rng(8)
        ids = [voc["bos"]] + [int(x) for x in rng.integers(3, len(voc["tokens"]) - 3, size=7)]
        logits = ref_lm(torch.tensor([ids])).logits[0]
        pre, post = ids[:3], ids[3:]
        tok = ref_lm.model.embed_tokens
        e = torch.cat([tok(torch.tensor([pre])), projected, tok(torch.tensor([post]))], 1)
        mm_logits = ref_lm(inputs_embeds=e).logits[0, -1]
    refio.save(os.path.join(OUT, "ref.safetensors"), {
        "pixels": px.numpy(), "features": feats.numpy(), "projected": projected.numpy(),
        "ids": np.array(ids, np.int32), "logits": logits.numpy(),
        "mm_pre": np.array(pre, np.int32), "mm_post": np.array(post, np.int32), "mm_logits": mm_logits.numpy(),
    }, {"transformers": __import__("transformers").__version__, "torch": torch.__version__,
        "photo": "tests/ref/llava/photo_wide.png"})
    print("features", tuple(feats.shape), "projected", tuple(projected.shape), "ids", ids)


if __name__ == "__main__":
    main()
