"""gen_llava_llamacpp.py - the tiny LLaVA 1.5 of gen_llava_tiny.py (same seed, so the transformers
references in llava/llava15.safetensors apply) converted by llama.cpp's own scripts, for
tests/test_llava_llamacpp.c:

  language model   convert_hf_to_gguf.py on the transformers checkpoint (save_pretrained of the
                   LlavaForConditionalGeneration; the converter takes the language_model.* half and
                   permutes Q/K rows for its RoPE layout), --outtype f32
  mmproj           tools/mtmd/legacy-models/llava_surgery_v2.py -C (splits llava.clip, the vision
                   tower, and llava.projector out of the checkpoint), then
                   convert_image_encoder_to_gguf.py --clip-model-is-vision on a folder holding
                   llava.clip as pytorch_model.bin with the tower's CLIPVisionConfig as config.json,
                   as llama.cpp's docs/multimodal/llava.md describes (drops the last layer, F16
                   matrices, fc1/fc2 stored as ffn_down/ffn_up)

The converters are those of the llama.cpp copy vendored by the llama-cpp-python 0.3.36 sdist, run with
its own gguf-py (not the pip gguf) first on PYTHONPATH. Their outputs are committed unchanged:
  llava/llamacpp15_model.gguf    llava/llamacpp15_mmproj.gguf

The one workaround: convert_hf_to_gguf needs a tokenizer in the checkpoint folder, and the tiny models
use the stories260K vocabulary (512 SentencePiece pieces), whose tokenizer.model is not in
../shared/data (only the GGUF and llama2.c's tok512.bin are). write_spm_model() rebuilds a
tokenizer.model (SentencePiece ModelProto, BPE) from the GGUF's pieces, scores and types, so the
converter reads back exactly the vocabulary gen_llava_tiny.py wrote. Its reader needs the
`sentencepiece` package, which /usr/bin/python3 lacks:

  /usr/bin/python3 -m pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/lcpp
  tar xzf /tmp/lcpp/llama_cpp_python-0.3.36.tar.gz -C /tmp/lcpp
  /usr/bin/python3 -m venv --system-site-packages /tmp/conv-venv && /tmp/conv-venv/bin/pip install sentencepiece
  /tmp/conv-venv/bin/python tests/ref/gen_llava_llamacpp.py [--llama-cpp /tmp/lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp]

(transformers 4.44.2 and torch as for gen_llava_tiny.py.) Before writing anything it recomputes
transformers' logits for the fixture prompt and checks they equal llava15.safetensors, so the weights
converted are the weights the references came from. At the end it says whether the converted tensors
equal those gen_llava_tiny.py wrote itself (llava15_model.gguf, llava15_mmproj_legacy.gguf): they do,
bit for bit (names, types, Q/K permutation, swapped MLP names); only the metadata differs.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import load_file
from transformers import LlavaConfig, LlavaForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_llama_tiny import vocab_from  # noqa: E402
from gen_llava_tiny import (IMAGE_TOKEN, MEAN, OUT, SHARED, expand2square, randomize, text_config,  # noqa: E402
                            vision_config)

DEFAULT_LCPP = "/tmp/lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp"


def build_model(voc):
    # exactly gen_llava_tiny.main()'s LLaVA 1.5 (nothing there draws from torch's RNG before the seed)
    torch.manual_seed(15)
    cfg = LlavaConfig(vision_config=vision_config(), text_config=text_config(voc), image_token_index=IMAGE_TOKEN,
                      projector_hidden_act="gelu", vision_feature_layer=-2, vision_feature_select_strategy="default")
    model = LlavaForConditionalGeneration(cfg).eval()
    randomize(model)
    return cfg, model


def check_same_weights(model):
    from transformers import CLIPImageProcessor
    from gen_llava_tiny import STD
    refs = load_file(os.path.join(OUT, "llava15.safetensors"))
    clip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                              image_mean=MEAN, image_std=STD)
    img = Image.open(os.path.join(OUT, "photo_wide.png")).convert("RGB")
    px = clip(expand2square(img, tuple(int(x * 255) for x in MEAN)), return_tensors="pt")["pixel_values"]
    ids = torch.tensor([refs["input_ids"].astype(np.int64)])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=px).logits[0].numpy()
    err = float(np.abs(logits - refs["wide.logits"]).max())
    if err > 1e-5:
        sys.exit("the rebuilt model is not the one of llava15.safetensors (logits differ by %g)" % err)
    print("rebuilt model matches llava15.safetensors (max logit difference %g)" % err)


def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(num, wire, payload):
    key = _varint(num << 3 | wire)
    if wire == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def write_spm_model(path, voc):
    # sentencepiece_model.proto: ModelProto{1: repeated SentencePiece{1 piece, 2 score, 3 type},
    # 2: TrainerSpec{3 model_type (BPE = 2), 4 vocab_size, 35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id,
    # 43 pad_id}, 3: NormalizerSpec{1 name, 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces}}.
    # GGUF token types and SentencePiece piece types share their numbering (1 normal ... 6 byte).
    body = b""
    for piece, score, typ in zip(voc["tokens"], voc["scores"], voc["types"]):
        sp = _field(1, 2, piece) + _field(2, 5, struct.pack("<f", score)) + _field(3, 0, _varint(typ))
        body += _field(1, 2, sp)
    byte_fallback = any(t == 6 for t in voc["types"])
    trainer = (_field(3, 0, _varint(2)) + _field(4, 0, _varint(len(voc["tokens"]))) +
               _field(35, 0, _varint(int(byte_fallback))) + _field(40, 0, _varint(0)) +
               _field(41, 0, _varint(voc["bos"])) + _field(42, 0, _varint(voc["eos"])) +
               _field(43, 0, _varint((1 << 64) - 1)))  # pad_id -1 as protobuf writes a negative int32
    norm = (_field(1, 2, b"identity") + _field(3, 0, _varint(1)) + _field(4, 0, _varint(0)) +
            _field(5, 0, _varint(1)))
    with open(path, "wb") as f:
        f.write(body + _field(2, 2, trainer) + _field(3, 2, norm))
    # read it back as the converter will
    from sentencepiece import SentencePieceProcessor
    sp = SentencePieceProcessor()
    sp.LoadFromFile(path)
    assert sp.vocab_size() == len(voc["tokens"])
    for i, (piece, score) in enumerate(zip(voc["tokens"], voc["scores"])):
        assert sp.IdToPiece(i).encode() == piece and abs(sp.GetScore(i) - score) < 1e-6, i


def compare_with_own(converted, own):
    # informational: the converters' tensor data against gen_llava_tiny.py's own writer
    import gguf
    a = {t.name: t for t in gguf.GGUFReader(converted).tensors}
    b = {t.name: t for t in gguf.GGUFReader(own).tensors}
    same = set(a) == set(b) and all(a[n].tensor_type == b[n].tensor_type and
                                    np.array_equal(np.asarray(a[n].data), np.asarray(b[n].data)) for n in a)
    print("%s: tensors %s %s" % (os.path.basename(converted), "identical to" if same else "DIFFER from",
                                 os.path.basename(own)))


def run(cmd, env):
    print("+", " ".join(cmd))
    subprocess.run(cmd, check=True, env=env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", default=DEFAULT_LCPP, help="vendor/llama.cpp of the llama-cpp-python 0.3.36 sdist")
    args = ap.parse_args()
    lcpp = os.path.abspath(args.llama_cpp)
    legacy = os.path.join(lcpp, "tools", "mtmd", "legacy-models")
    for f in (os.path.join(lcpp, "convert_hf_to_gguf.py"), os.path.join(legacy, "llava_surgery_v2.py"),
              os.path.join(legacy, "convert_image_encoder_to_gguf.py"), os.path.join(lcpp, "gguf-py", "gguf")):
        if not os.path.exists(f):
            sys.exit("%s missing: unpack the llama-cpp-python 0.3.36 sdist (see the docstring)" % f)
    env = dict(os.environ, PYTHONPATH=os.path.join(lcpp, "gguf-py"))

    voc = vocab_from(os.path.join(SHARED, "llm", "stories260K-f32.gguf"))
    cfg, model = build_model(voc)
    check_same_weights(model)

    tmp = tempfile.mkdtemp(prefix="iris-llava-lcpp-")
    try:
        hf = os.path.join(tmp, "llava-tiny-hf")
        model.save_pretrained(hf, safe_serialization=True)
        write_spm_model(os.path.join(hf, "tokenizer.model"), voc)

        lm = os.path.join(tmp, "lm.gguf")
        run([sys.executable, os.path.join(lcpp, "convert_hf_to_gguf.py"), hf, "--outtype", "f32", "--outfile", lm], env)

        run([sys.executable, os.path.join(legacy, "llava_surgery_v2.py"), "-C", "-m", hf], env)
        vit = os.path.join(tmp, "vit")
        os.makedirs(vit)
        shutil.copy(os.path.join(hf, "llava.clip"), os.path.join(vit, "pytorch_model.bin"))
        shutil.copy(os.path.join(hf, "llava.projector"), os.path.join(vit, "llava.projector"))
        with open(os.path.join(vit, "config.json"), "w") as f:  # the tower's config, as config_vit.json is
            json.dump(dict(cfg.vision_config.to_dict(), architectures=["CLIPVisionModel"]), f, indent=2)
        run([sys.executable, os.path.join(legacy, "convert_image_encoder_to_gguf.py"), "-m", vit, "--llava-projector",
             os.path.join(vit, "llava.projector"), "--output-dir", vit, "--clip-model-is-vision"], env)

        shutil.copy(lm, os.path.join(OUT, "llamacpp15_model.gguf"))
        shutil.copy(os.path.join(vit, "mmproj-model-f16.gguf"), os.path.join(OUT, "llamacpp15_mmproj.gguf"))
        print("wrote", os.path.join(OUT, "llamacpp15_model.gguf"), "and llamacpp15_mmproj.gguf")
        compare_with_own(os.path.join(OUT, "llamacpp15_model.gguf"), os.path.join(OUT, "llava15_model.gguf"))
        compare_with_own(os.path.join(OUT, "llamacpp15_mmproj.gguf"), os.path.join(OUT, "llava15_mmproj_legacy.gguf"))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
