"""gen_llava_tiny.py - tiny random LLaVA 1.5 and 1.6 models from transformers, written as the GGUF pair
llama.cpp users download (a language-model GGUF and an mmproj GGUF in llama.cpp's `clip.*` layout), with
the references of tests/test_llava_vision.c from transformers itself:

  pixels      the preprocessed tiles [T, 3, S, S] the vision tower gets (LLaVA 1.5: the original LLaVA's
              expand2square with the mean colour, then CLIPImageProcessor; LLaVA 1.6: LlavaNextImageProcessor)
  features    hidden_states[vision_feature_layer][:, 1:]  [T, N, Dv] (class token dropped)
  projected   multi_modal_projector(features)             [T, N, Dt]
  embeds      the image rows of inputs_embeds as transformers hands them to the language model (1.6: after
              pack_image_features: overview, unpadded grid, image_newline per row), captured by a hook
  input_ids, logits   a short prompt with the image placeholder and the language model's logits (for the
              language half of the captioner)

Every vision/projector matrix is rounded to F16 before the references are computed, so the F16 mmproj
files hold exactly the weights transformers ran. Three mmproj files per model:
  *_mmproj_legacy.gguf  as llama.cpp's legacy convert_image_encoder_to_gguf.py (llava_surgery) writes
                        it: last vision layer dropped, block_count = layers - 1, no feature_layer key,
                        mlp.fc1 stored as ffn_down and fc2 as ffn_up, F16 matrices, F32 vectors
  *_mmproj.gguf         newer layout: every layer, ffn_up = fc1, clip.vision.feature_layer = [layers - 1],
                        F32 throughout
Run by hand: /usr/bin/python3 tests/ref/gen_llava_tiny.py   (transformers 4.44.2, torch, gguf, PIL)
Writes tests/ref/llava/.
"""
import os
import sys

import gguf
import numpy as np
import torch
from PIL import Image
from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, LlavaNextConfig, LlavaNextForConditionalGeneration,
                          LlavaNextImageProcessor)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import refio  # noqa: E402
from gen_llama_tiny import vocab_from, write_gguf  # noqa: E402

OUT = os.path.join(HERE, "llava")
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data")
MEAN = [0.48145466, 0.4578275, 0.40821073]  # OpenAI CLIP
STD = [0.26862954, 0.26130258, 0.27577711]
IMAGES = {"wide": (40, 28), "tall": (20, 36)}  # (w, h): pads top/bottom resp. left/right
PINPOINTS = [[32, 64], [64, 32], [64, 64]]  # (height, width) as transformers reads them
IMAGE_TOKEN = 3  # a rarely used id of the stories260K vocabulary stands for <image>


def vision_config():
    # intermediate != hidden, so the legacy converter's swapped MLP names are told apart by shape
    return CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                            num_attention_heads=2, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=16)


def text_config(voc):
    return LlamaConfig(vocab_size=len(voc["tokens"]), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256, rms_norm_eps=1e-5,
                       bos_token_id=voc["bos"], eos_token_id=voc["eos"], tie_word_embeddings=False)


def randomize(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.1)
            elif "norm" in name and name.endswith("weight"):
                p.uniform_(0.8, 1.2)
            elif "class_embedding" in name or "image_newline" in name:
                p.normal_(0, 0.5)
            else:
                p.normal_(0, 0.05)
            if not name.startswith("language_model") and p.dim() >= 2:
                p.copy_(p.half().float())  # the F16 file holds exactly these


def expand2square(img, color):
    # the original LLaVA's pad to a square, centred, background = int(mean * 255)
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), color)
    out.paste(img, ((side - w) // 2, (side - h) // 2))
    return out


def mmproj(path, model, cfg, legacy, anyres):
    v = cfg.vision_config
    sd = {k: t.detach().float().numpy() for k, t in model.state_dict().items()}
    n_layer = v.num_hidden_layers - 1 if legacy else v.num_hidden_layers
    w = gguf.GGUFWriter(path, "clip")
    w.add_bool("clip.has_text_encoder", False)
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.has_llava_projector", True)
    w.add_file_type(1 if legacy else 0)
    w.add_name("tiny-llava")
    w.add_description("image encoder for LLaVA")
    w.add_string("clip.projector_type", "mlp")
    w.add_uint32("clip.vision.image_size", v.image_size)
    w.add_uint32("clip.vision.patch_size", v.patch_size)
    w.add_uint32("clip.vision.embedding_length", v.hidden_size)
    w.add_uint32("clip.vision.feed_forward_length", v.intermediate_size)
    w.add_uint32("clip.vision.projection_dim", v.projection_dim)
    w.add_uint32("clip.vision.attention.head_count", v.num_attention_heads)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", v.layer_norm_eps)
    w.add_uint32("clip.vision.block_count", n_layer)
    if anyres:
        w.add_array("clip.vision.image_grid_pinpoints", [x for p in cfg.image_grid_pinpoints for x in p])
        w.add_string("clip.vision.mm_patch_merge_type", "spatial_unpad")
        w.add_string("clip.vision.image_aspect_ratio", "anyres")
    if not legacy:
        w.add_array("clip.vision.feature_layer", [v.num_hidden_layers + cfg.vision_feature_layer + 1])
    w.add_array("clip.vision.image_mean", MEAN)
    w.add_array("clip.vision.image_std", STD)
    w.add_bool("clip.use_gelu", v.hidden_act == "gelu")

    def put(name, a):
        if a.ndim >= 2 and legacy:
            a = a.astype(np.float16)
        w.add_tensor(name, np.ascontiguousarray(a.astype(np.float16) if a.ndim == 4 else a))

    put("mm.0.weight", sd["multi_modal_projector.linear_1.weight"])
    put("mm.0.bias", sd["multi_modal_projector.linear_1.bias"])
    put("mm.2.weight", sd["multi_modal_projector.linear_2.weight"])
    put("mm.2.bias", sd["multi_modal_projector.linear_2.bias"])
    if anyres:
        put("model.image_newline", sd["image_newline"])
    p = "vision_tower.vision_model."
    put("v.class_embd", sd[p + "embeddings.class_embedding"])
    put("v.patch_embd.weight", sd[p + "embeddings.patch_embedding.weight"])
    put("v.position_embd.weight", sd[p + "embeddings.position_embedding.weight"])
    put("v.pre_ln.weight", sd[p + "pre_layrnorm.weight"])
    put("v.pre_ln.bias", sd[p + "pre_layrnorm.bias"])
    fc1, fc2 = ("ffn_down", "ffn_up") if legacy else ("ffn_up", "ffn_down")
    for i in range(n_layer):
        q = p + "encoder.layers.%d." % i
        b = "v.blk.%d." % i
        for part, src in (("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
                          ("attn_out", "self_attn.out_proj"), ("ln1", "layer_norm1"), ("ln2", "layer_norm2"),
                          (fc1, "mlp.fc1"), (fc2, "mlp.fc2")):
            put(b + part + ".weight", sd[q + src + ".weight"])
            put(b + part + ".bias", sd[q + src + ".bias"])
    if not legacy:  # newer files keep the unused post-norm; iris must ignore it as transformers' LLaVA does
        put("v.post_ln.weight", sd[p + "post_layernorm.weight"])
        put("v.post_ln.bias", sd[p + "post_layernorm.bias"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def capture_embeds(model):
    # the inputs_embeds transformers hands to the language model
    got = {}

    def hook(mod, args, kwargs):
        got["embeds"] = kwargs["inputs_embeds"].detach().clone()

    h = model.language_model.register_forward_pre_hook(hook, with_kwargs=True)
    return got, h


def run(name, model, cfg, processor, images, voc):
    v = cfg.vision_config
    prompt_pre, prompt_post = [voc["bos"], 30, 40], [50, 60, 70]
    refs = {}
    for iname, img in images.items():
        if name == "llava15":
            color = tuple(int(x * 255) for x in MEAN)
            px = processor(expand2square(img, color), return_tensors="pt")["pixel_values"]
            sizes = None
        else:
            out = processor(img, return_tensors="pt")
            px, sizes = out["pixel_values"], out["image_sizes"]
        with torch.no_grad():
            tiles = px if px.dim() == 4 else px[0]
            hs = model.vision_tower(tiles, output_hidden_states=True).hidden_states
            feat = hs[cfg.vision_feature_layer][:, 1:]
            proj = model.multi_modal_projector(feat)
            got, h = capture_embeds(model)
            ids = torch.tensor([prompt_pre + [IMAGE_TOKEN] + prompt_post])
            kw = {"image_sizes": sizes} if sizes is not None else {}
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=px, **kw).logits[0]
            h.remove()
        emb = got["embeds"][0]
        n_img = emb.shape[0] - len(prompt_pre) - len(prompt_post)
        refs.update({
            iname + ".pixels": tiles.float().numpy(),
            iname + ".features": feat.float().numpy(),
            iname + ".projected": proj.float().numpy(),
            iname + ".embeds": emb[len(prompt_pre):len(prompt_pre) + n_img].float().numpy(),
            iname + ".logits": logits.float().numpy(),
        })
        print(name, iname, "tiles", tuple(tiles.shape), "features", tuple(feat.shape), "image rows", n_img)
    refs["input_ids"] = np.array(prompt_pre + [IMAGE_TOKEN] + prompt_post, np.int32)
    refio.save(os.path.join(OUT, name + ".safetensors"), refs,
               {"transformers": __import__("transformers").__version__, "torch": torch.__version__,
                "image_token": IMAGE_TOKEN, "vision_feature_layer": cfg.vision_feature_layer})
    write_gguf(os.path.join(OUT, name + "_model.gguf"), cfg.text_config, model.language_model, voc)
    mmproj(os.path.join(OUT, name + "_mmproj_legacy.gguf"), model, cfg, True, name == "llava16")
    mmproj(os.path.join(OUT, name + "_mmproj.gguf"), model, cfg, False, name == "llava16")


def pil_bicubic():
    # Pillow's u8 bicubic resizes (both pass orders, up, down, mixed) for IRIS_RESIZE_PIL_BICUBIC
    rng = np.random.default_rng(21)
    sizes = [(40, 28, 32, 32), (20, 36, 32, 32), (37, 23, 11, 50), (19, 39, 10, 6), (36, 29, 10, 7),
             (25, 25, 30, 30), (64, 16, 64, 31), (9, 40, 30, 40)]
    out = {}
    for i, (w, h, W, H) in enumerate(sizes):
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        out["src%d" % i] = a
        out["dst%d" % i] = np.array(Image.fromarray(a).resize((W, H), Image.BICUBIC))
    import PIL
    refio.save(os.path.join(OUT, "pil_bicubic.safetensors"), out, {"pillow": PIL.__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    pil_bicubic()
    photo = Image.open(os.path.join(SHARED, "images", "dog.jpg")).convert("RGB")
    images = {}
    for iname, (w, h) in IMAGES.items():
        path = os.path.join(OUT, "photo_%s.png" % iname)
        photo.resize((w, h), Image.LANCZOS).save(path)
        images[iname] = Image.open(path).convert("RGB")  # both sides start from the PNG's pixels
    voc = vocab_from(os.path.join(SHARED, "llm", "stories260K-f32.gguf"))

    torch.manual_seed(15)
    cfg = LlavaConfig(vision_config=vision_config(), text_config=text_config(voc), image_token_index=IMAGE_TOKEN,
                      projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default")
    model = LlavaForConditionalGeneration(cfg).eval()
    randomize(model)
    clip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                              image_mean=MEAN, image_std=STD)
    run("llava15", model, cfg, clip, images, voc)

    torch.manual_seed(16)
    cfg = LlavaNextConfig(vision_config=vision_config(), text_config=text_config(voc), image_token_index=IMAGE_TOKEN,
                          projector_hidden_act="gelu", vision_feature_layer=-2,
                          vision_feature_select_strategy="default", image_grid_pinpoints=PINPOINTS)
    model = LlavaNextForConditionalGeneration(cfg).eval()
    randomize(model)
    proc = LlavaNextImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                   image_grid_pinpoints=PINPOINTS, image_mean=MEAN, image_std=STD)
    run("llava16", model, cfg, proc, images, voc)


if __name__ == "__main__":
    main()
