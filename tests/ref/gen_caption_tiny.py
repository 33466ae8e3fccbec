"""gen_caption_tiny.py - the language half of the captioner against transformers, on the tiny LLaVA 1.5 and
1.6 models of gen_llava_tiny.py (rebuilt here from the same seeds, and checked against the committed GGUF).

For each model and each test photo, with the LLaVA conversation template of the original LLaVA
(conv_llava_v1: system line, " USER: <image>\\n{prompt} ASSISTANT:") and a short prompt:
  prompt_ids           the prompt as LLaVA's tokenizer_image_token builds it: each chunk around "<image>"
                       tokenized with BOS, the BOS of the later chunks dropped, the image token (3) between.
                       The tokenizer is a Hugging Face `tokenizers` BPE made from the stories260K vocabulary
                       the way transformers' LlamaConverter makes one from a SentencePiece model (merges from
                       the scores, byte fallback, "▁" prepended to each chunk and replacing spaces).
  <photo>.gen_tokens   model.generate(do_sample=False, max_new_tokens=12) after the prompt (EOS included
                       when it stops there)
  <photo>.gen_margin   top-2 logit margin of each generated step (the test trusts tokens only up to the
                       first step whose margin is below 0.02: random tiny models have near-tied logits)
  <photo>.prompt_logits  logits of the last prompt position (what the first token is drawn from)
Also a mistral-style prompt ("[INST] <image>\\n{prompt} [/INST]") and MiniGPT-v2's
("[INST] <Img>" image "</Img> [caption] {prompt} [/INST]") tokenized the same way, for the template tests.

Run by hand: /usr/bin/python3 tests/ref/gen_caption_tiny.py   (after gen_llava_tiny.py; transformers 4.44.2)
Writes tests/ref/llava/caption.safetensors.
"""
import os
import sys

import gguf
import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer, models, normalizers
from transformers import (CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaNextConfig,
                          LlavaNextForConditionalGeneration, LlavaNextImageProcessor)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import refio  # noqa: E402
import gen_llava_tiny as L  # noqa: E402
from gen_llama_tiny import vocab_from  # noqa: E402

PROMPT = "Describe the dog."
SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")
TEMPLATES = {
    "llava": SYSTEM + " USER: <image>\n{} ASSISTANT:",
    "mistral": "[INST] <image>\n{} [/INST]",
    "minigptv2": "[INST] <Img><image></Img> [caption] {} [/INST]",
}
MAX_NEW = 12


def hf_tokenizer(voc):
    # transformers' LlamaConverter, written out: merges from every split of a piece into two pieces, strongest
    # merged piece first
    tokens = [t.decode("utf-8", "replace") for t in voc["tokens"]]
    vocab = {t: i for i, t in enumerate(tokens)}
    scores = voc["scores"]
    merges = []
    for piece, i in vocab.items():
        if voc["types"][i] != 1:
            continue
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges += [(m[0], m[1], scores[i]) for m in local]
    merges.sort(key=lambda m: m[2], reverse=True)
    tok = Tokenizer(models.BPE(vocab, [(a, b) for a, b, _ in merges], unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    return tok


def image_prompt_ids(tok, text, bos):
    # LLaVA's tokenizer_image_token: BOS + chunk 0, then image token + each later chunk (its own BOS dropped)
    ids = [bos]
    for k, chunk in enumerate(text.split("<image>")):
        if k:
            ids.append(L.IMAGE_TOKEN)
        if chunk:
            ids += tok.encode(chunk).ids
    return ids


def check_same_model(model, path):
    # the rebuilt model must be the committed one
    r = gguf.GGUFReader(path)
    t = {x.name: x for x in r.tensors}["token_embd.weight"]
    want = model.language_model.model.embed_tokens.weight.detach().numpy()
    assert np.array_equal(np.asarray(t.data).reshape(want.shape), want), path + " differs from the rebuilt model"


def generate(name, model, cfg, processor, images, ids, refs):
    for iname, img in images.items():
        if name == "llava15":
            color = tuple(int(x * 255) for x in L.MEAN)
            px = processor(L.expand2square(img, color), return_tensors="pt")["pixel_values"]
            kw = {}
        else:
            out = processor(img, return_tensors="pt")
            px, kw = out["pixel_values"], {"image_sizes": out["image_sizes"]}
        inp = torch.tensor([ids])
        with torch.no_grad():
            g = model.generate(input_ids=inp, attention_mask=torch.ones_like(inp), pixel_values=px, do_sample=False,
                               max_new_tokens=MAX_NEW, output_scores=True, return_dict_in_generate=True,
                               pad_token_id=0, **kw)
            first = model(input_ids=inp, attention_mask=torch.ones_like(inp), pixel_values=px, **kw).logits[0, -1]
        gen = g.sequences[0, -len(g.scores):]  # one score per generated token
        margins = []
        for s in g.scores:
            top = torch.topk(s[0].float(), 2).values
            margins.append(float(top[0] - top[1]))
        refs[name + "." + iname + ".gen_tokens"] = gen.numpy().astype(np.int32)
        refs[name + "." + iname + ".gen_margin"] = np.array(margins, np.float32)
        refs[name + "." + iname + ".prompt_logits"] = first.float().numpy()
        print(name, iname, "generated", gen.tolist(), "min margin %.4f" % min(margins))


def main():
    voc = vocab_from(os.path.join(L.SHARED, "llm", "stories260K-f32.gguf"))
    tok = hf_tokenizer(voc)
    refs = {}
    for tname, t in TEMPLATES.items():
        ids = image_prompt_ids(tok, t.format(PROMPT), voc["bos"])
        refs["prompt_ids." + tname] = np.array(ids, np.int32)
        print(tname, len(ids), ids)
    ids = [int(x) for x in refs["prompt_ids.llava"]]
    images = {k: Image.open(os.path.join(L.OUT, "photo_%s.png" % k)).convert("RGB") for k in L.IMAGES}

    torch.manual_seed(15)
    cfg = LlavaConfig(vision_config=L.vision_config(), text_config=L.text_config(voc), image_token_index=L.IMAGE_TOKEN,
                      projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default")
    model = LlavaForConditionalGeneration(cfg).eval()
    L.randomize(model)
    check_same_model(model, os.path.join(L.OUT, "llava15_model.gguf"))
    clip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                              image_mean=L.MEAN, image_std=L.STD)
    generate("llava15", model, cfg, clip, images, ids, refs)

    torch.manual_seed(16)
    cfg = LlavaNextConfig(vision_config=L.vision_config(), text_config=L.text_config(voc),
                          image_token_index=L.IMAGE_TOKEN, projector_hidden_act="gelu", vision_feature_layer=-2,
                          vision_feature_select_strategy="default", image_grid_pinpoints=L.PINPOINTS)
    model = LlavaNextForConditionalGeneration(cfg).eval()
    L.randomize(model)
    check_same_model(model, os.path.join(L.OUT, "llava16_model.gguf"))
    proc = LlavaNextImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                   image_grid_pinpoints=L.PINPOINTS, image_mean=L.MEAN, image_std=L.STD)
    generate("llava16", model, cfg, proc, images, ids, refs)

    refio.save(os.path.join(L.OUT, "caption.safetensors"), refs,
               {"transformers": __import__("transformers").__version__, "torch": torch.__version__,
                "prompt": PROMPT, "max_new_tokens": MAX_NEW})


if __name__ == "__main__":
    main()
