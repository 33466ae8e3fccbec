"""gen_llama_tiny.py - tiny random Llama models from transformers, written to GGUF the
way llama.cpp's converter does (Q/K rows permuted from HF's rotate-half layout to
GGUF's interleaved pairs), with reference logits of a prompt pass and greedy decode
steps from transformers itself (the reference for tests/test_llama_tiny.c).

Needs transformers (4.38 works with Debian's torch 1.13; "rope3" needs 4.43+ for rope_type
llama3, e.g. /usr/bin/python3 with 4.44.2), torch, numpy, gguf.
Run by hand: /usr/bin/python3 tests/ref/gen_llama_tiny.py [name ...]   (default: all)
Writes tests/ref/llama_tiny_<name>.gguf and tests/ref/llama_tiny_<name>.safetensors.
"""
import math
import os
import sys

import gguf
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refio  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data", "llm")

CONFIGS = {
    # grouped-query attention (4 heads over 2 KV heads), linear RoPE scaling x2, byte-level BPE vocab,
    # untied output, sizes that are whole Q4_0/Q8_0 blocks
    "gqa": dict(vocab="bpe", hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, rope_theta=10000.0, rope_scaling={"type": "linear", "factor": 2.0},
                rms_norm_eps=1e-6, tie_word_embeddings=False, max_position_embeddings=256),
    # multi-head attention, large RoPE base, tied embeddings, SentencePiece vocab, odd FFN width
    "mha": dict(vocab="spm", hidden_size=48, intermediate_size=72, num_hidden_layers=3, num_attention_heads=3,
                num_key_value_heads=3, rope_theta=500000.0, rope_scaling=None, rms_norm_eps=1e-5,
                tie_word_embeddings=True, max_position_embeddings=128),
    # Llama 3.1 / 3.2 RoPE ("llama3" rope_type): per-pair frequency divisors, stored by llama.cpp's
    # converter as rope_freqs.weight. A small original context (64) puts the 8 pairs of a 16-wide
    # head in all three bands: pair 0 unscaled (wavelength 6.3 < 64/4), pairs 1-2 blended, 3-7 / 8.
    "rope3": dict(vocab="bpe", hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, rope_theta=10000.0,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                  rms_norm_eps=1e-5, tie_word_embeddings=False, max_position_embeddings=512, prompt_len=24),
}


def vocab_from(path):
    r = gguf.GGUFReader(path)
    f = r.fields
    out = {"tokens": [bytes(f["tokenizer.ggml.tokens"].parts[i]) for i in f["tokenizer.ggml.tokens"].data],
           "types": [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data],
           "model": bytes(f["tokenizer.ggml.model"].parts[-1]).decode()}
    if "tokenizer.ggml.scores" in f:
        out["scores"] = [float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data]
    if "tokenizer.ggml.merges" in f:
        out["merges"] = [bytes(f["tokenizer.ggml.merges"].parts[i]).decode() for i in f["tokenizer.ggml.merges"].data]
    if "tokenizer.ggml.pre" in f:
        out["pre"] = bytes(f["tokenizer.ggml.pre"].parts[-1]).decode()
    for k in ("bos", "eos"):
        key = "tokenizer.ggml.%s_token_id" % k
        out[k] = int(f[key].parts[-1][0])
    return out


def permute(w, n_head):
    # HF stores each head's rotary pairs as (first half, second half); GGUF as (2i, 2i+1)
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(cfg):
    # llama.cpp's convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors), recomputed here: one
    # divisor per rotary pair from the float32 base frequencies. (Recent converters read
    # original_max_position_embeddings from the top level of config.json, where Llama 3.1 has none,
    # and so fall back to 8192 = Llama 3.1's value; here it is taken from rope_scaling, as
    # transformers does, since this model's value is not 8192.)
    rs = cfg.rope_scaling
    dim = cfg.hidden_size // cfg.num_attention_heads
    freqs = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    lo_wavelen, hi_wavelen = old / lo, old / hi
    out = []
    for f in freqs.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < hi_wavelen:
            out.append(1.0)
        elif wavelen > lo_wavelen:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, np.float32)


def write_gguf(path, cfg, model, voc):
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    H, Hk = cfg.num_attention_heads, cfg.num_key_value_heads
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny-" + os.path.basename(path))
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(H)
    w.add_head_count_kv(Hk)
    w.add_rope_dimension_count(cfg.hidden_size // H)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rope_type = (cfg.rope_scaling or {}).get("rope_type", (cfg.rope_scaling or {}).get("type"))
    if rope_type == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(cfg.rope_scaling["factor"])
    w.add_file_type(0)
    w.add_tokenizer_model(voc["model"])
    if "pre" in voc:
        w.add_tokenizer_pre(voc["pre"])
    w.add_token_list(voc["tokens"])
    w.add_token_types(voc["types"])
    if "scores" in voc:
        w.add_token_scores(voc["scores"])
    if "merges" in voc:
        w.add_token_merges(voc["merges"])
    w.add_bos_token_id(voc["bos"])
    w.add_eos_token_id(voc["eos"])
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    if rope_type == "llama3":  # no scaling metadata: the tensor is all llama.cpp reads
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg))
    if not cfg.tie_word_embeddings:
        w.add_tensor("output.weight", sd["lm_head.weight"])
    for i in range(cfg.num_hidden_layers):
        p = "model.layers.%d." % i
        w.add_tensor("blk.%d.attn_norm.weight" % i, sd[p + "input_layernorm.weight"])
        w.add_tensor("blk.%d.attn_q.weight" % i, permute(sd[p + "self_attn.q_proj.weight"], H))
        w.add_tensor("blk.%d.attn_k.weight" % i, permute(sd[p + "self_attn.k_proj.weight"], Hk))
        w.add_tensor("blk.%d.attn_v.weight" % i, sd[p + "self_attn.v_proj.weight"])
        w.add_tensor("blk.%d.attn_output.weight" % i, sd[p + "self_attn.o_proj.weight"])
        w.add_tensor("blk.%d.ffn_norm.weight" % i, sd[p + "post_attention_layernorm.weight"])
        w.add_tensor("blk.%d.ffn_gate.weight" % i, sd[p + "mlp.gate_proj.weight"])
        w.add_tensor("blk.%d.ffn_up.weight" % i, sd[p + "mlp.up_proj.weight"])
        w.add_tensor("blk.%d.ffn_down.weight" % i, sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    vocabs = {"bpe": vocab_from(os.path.join(HERE, "llama_bpe_llama3.gguf")),
              "spm": vocab_from(os.path.join(SHARED, "stories260K-f32.gguf"))}
    names = sys.argv[1:] or list(CONFIGS)
    for name in names:
        c = dict(CONFIGS[name])
        voc = vocabs[c.pop("vocab")]
        prompt_len = c.pop("prompt_len", 11)
        torch.manual_seed({"gqa": 1, "mha": 2, "rope3": 3}[name])
        cfg = LlamaConfig(vocab_size=len(voc["tokens"]), bos_token_id=voc["bos"], eos_token_id=voc["eos"],
                          attn_implementation="eager", **c)
        model = LlamaForCausalLM(cfg).eval()
        with torch.no_grad():  # larger weights than the init default so logits spread out
            for p in model.parameters():
                if p.dim() == 2:
                    p.normal_(0, 0.08)
                else:
                    p.uniform_(0.8, 1.2)
        write_gguf(os.path.join(HERE, "llama_tiny_%s.gguf" % name), cfg, model, voc)
        rng = np.random.default_rng(7)
        prompt = [voc["bos"]] + list(rng.integers(3, len(voc["tokens"]) - 3, size=prompt_len - 1))
        ids = torch.tensor([prompt])
        with torch.no_grad():
            out = model(ids, use_cache=True)
            prompt_logits = out.logits[0].float()
            past = out.past_key_values
            nxt = int(prompt_logits[-1].argmax())
            dec_ids, dec_logits = [], []
            for _ in range(5):
                dec_ids.append(nxt)
                o = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = o.past_key_values
                lg = o.logits[0, -1].float()
                dec_logits.append(lg)
                nxt = int(lg.argmax())
        refio.save(os.path.join(HERE, "llama_tiny_%s.safetensors" % name), {
            "prompt_ids": np.array(prompt, np.int32),
            "prompt_logits": prompt_logits.numpy(),
            "decode_ids": np.array(dec_ids, np.int32),
            "decode_logits": torch.stack(dec_logits).numpy(),
        }, {"transformers": __import__("transformers").__version__, "torch": torch.__version__})
        print(name, "vocab", len(voc["tokens"]), "prompt", prompt, "decode", dec_ids)


if __name__ == "__main__":
    main()
