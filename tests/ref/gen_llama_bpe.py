"""gen_llama_bpe.py - tiny byte-level BPE vocabularies as GGUF, and the token ids
llama.cpp gives for a set of test strings (the reference for tests/test_llama_vocab.c).

Needs: pip gguf, tokenizers (to train the merges), llama-cpp-python (llama.cpp itself).
Run by hand: /root/venv-llm/bin/python tests/ref/gen_llama_bpe.py
Writes tests/ref/llama_bpe_{llama3,gpt2}.gguf and tests/ref/llama_bpe_ref.json.
"""
import json
import os

import gguf
import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

CORPUS = [
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.",
    "The little dog ran to the park. It's a big, red ball! They're happy; we'll see what you've got.",
    "Numbers: 0 1 12 123 1234 12345 3.14159 2024-05-17 1,000,000 and 42.",
    "Code: def f(x):\n    return x * 2  # doubled\n\tindent\r\nwindows line\n\n\nblank lines",
    "Unicode: café naïve résumé Straße Ελληνικά русский 日本語 中文 한국어 عربى हिन्दी",
    "Emoji: 😀 🎉 👍🏽 ❤️ 🇫🇷 and symbols © ® ™ € £ ¥ § ¶ • … — – « » “quotes” ‘single’",
    "   leading spaces, trailing spaces   , multiple     inner   spaces and TABS\t\tX",
    "ALL CAPS WORDS AND MiXeD CaSe, I'M DON'T YOU'LL WE'VE THEY'D SHE'S",
] * 20

TESTS = [
    "", "a", "Hello, world!", "Once upon a time", "  two leading spaces", "trailing space ",
    "line1\nline2\n\nend", "Lily's mom said, \"Don't worry.\"", "I'M DON'T YOU'LL WE'VE",
    "12345 + 678 = 1023", "3.14159 and 1,000,000", "café ñ 日本 😀", "👍🏽❤️🇫🇷", "tab\there\t\t\tx",
    "    indented code\n\tfoo()\r\n", "ALL CAPS WORDS", "supercalifragilisticexpialidocious",
    "русский текст", "a  b   c    d", "\n\n\n", "   ", "x\u00a0y\u2003z", "it's it'S IT'S",
    "<|begin_of_text|>hello<|eot_id|>", "no special <|eot_id|> here",
]
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]


def train():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=700, min_frequency=2,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(CORPUS, tr)
    js = json.loads(tok.to_str())
    vocab = js["model"]["vocab"]
    merges = js["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    return tokens, merges


def write(path, pre, tokens, merges):
    w = gguf.GGUFWriter(path, "llama")
    # hyperparameters llama.cpp wants even for a vocabulary-only load
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    all_tokens = tokens + SPECIAL
    types = [1] * len(tokens) + [3] * len(SPECIAL)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(all_tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(len(tokens))
    w.add_eos_token_id(len(tokens) + 1)
    w.add_eot_token_id(len(tokens) + 2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    tokens, merges = train()
    ref = {"note": "llama.cpp (llama-cpp-python %s) llama_tokenize ids", "vocabs": {}}
    import llama_cpp
    ref["note"] = ref["note"] % llama_cpp.__version__
    for name, pre in [("llama3", "llama-bpe"), ("gpt2", "gpt-2")]:
        path = os.path.join(HERE, "llama_bpe_%s.gguf" % name)
        write(path, pre, tokens, merges)
        m = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        cases = []
        for t in TESTS:
            b = t.encode("utf-8")
            cases.append({"text": t,
                          "ids": m.tokenize(b, add_bos=True, special=False),
                          "ids_special": m.tokenize(b, add_bos=False, special=True)})
        ref["vocabs"][name] = {"file": os.path.basename(path), "pre": pre, "cases": cases}
    with open(os.path.join(HERE, "llama_bpe_ref.json"), "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
    print("%d tokens, %d merges" % (len(tokens), len(merges)))


if __name__ == "__main__":
    main()
