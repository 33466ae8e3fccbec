"""gen_clip_tokens.py - references for tests/test_clip_tokenizer.c.

"hf": the ids Hugging Face transformers 4.44.2's CLIPTokenizer (the Python one, not the Rust
"Fast" one) gives, loaded from ../shared/data/clip/{vocab.json,merges.txt}, with ftfy NOT
installed: the tokenizer then cleans text with BERT's BasicTokenizer (what iris copies).

"a1111": AUTOMATIC1111's prompt syntax, reimplemented below from the logic of its
modules/prompt_parser.py (parse_prompt_attention) and modules/sd_hijack_clip.py (tokenize_line,
process_tokens) with the default options (emphasis "Original", comma_padding_backtrack 20), on
top of the same Hugging Face tokenizer.

Run by hand from the repository root: /usr/bin/python3 tests/ref/gen_clip_tokens.py
Writes tests/ref/clip_tokens.json.
"""
import json
import os
import random
import re

import numpy as np
from transformers import CLIPTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "clip")

tok = CLIPTokenizer(os.path.join(DATA, "vocab.json"), os.path.join(DATA, "merges.txt"))
assert tok.fix_text is None, "ftfy is installed: this reference is for the BasicTokenizer cleanup"
BOS, EOS = tok.bos_token_id, tok.eos_token_id
COMMA = tok.get_vocab()[",</w>"]


def hf_ids(text):
    return tok(text, add_special_tokens=False)["input_ids"]


# ---- A1111's prompt attention syntax ----

# items, first that fits: an escaped ( ) [ ] \, a lone \, ( [, ":" weight ")", ) ], plain text, ":"
ITEM = re.compile(r"\\[()\[\]\\]|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()\[\]:]+|:")
BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_attention(prompt):
    out = []  # [text, weight]
    rounds, squares = [], []

    def scale(start, m):
        for e in out[start:]:
            e[1] *= m

    for m in ITEM.finditer(prompt):
        item, num = m.group(0), m.group(1)
        if item.startswith("\\"):
            out.append([item[1:], 1.0])
        elif item == "(":
            rounds.append(len(out))
        elif item == "[":
            squares.append(len(out))
        elif num is not None and rounds:
            scale(rounds.pop(), float(num))  # raises on "1.2.3", as A1111 does
        elif item == ")" and rounds:
            scale(rounds.pop(), 1.1)
        elif item == "]" and squares:
            scale(squares.pop(), 1 / 1.1)
        else:
            for k, piece in enumerate(BREAK.split(item)):
                if k:
                    out.append(["BREAK", -1])
                out.append([piece, 1.0])
    for s in rounds:
        scale(s, 1.1)
    for s in squares:
        scale(s, 1 / 1.1)
    if not out:
        out = [["", 1.0]]
    joined = [out[0]]
    for e in out[1:]:
        if e[1] == joined[-1][1]:
            joined[-1][0] += e[0]
        else:
            joined.append(e)
    return joined


def a1111_chunks(prompt, pad):
    rows = []
    cur, curw = [], []
    last_comma = -1

    def emit():
        nonlocal cur, curw, last_comma
        fill = 75 - len(cur)
        rows.append(([BOS] + cur + [EOS] * fill + [EOS], [1.0] + curw + [1.0] * fill + [1.0]))
        cur, curw, last_comma = [], [], -1

    for text, w in parse_attention(prompt):
        if text == "BREAK" and w == -1:
            emit()
            continue
        for t in hf_ids(text):
            if t == COMMA:
                last_comma = len(cur)
            elif len(cur) == 75 and last_comma != -1 and len(cur) - last_comma <= 20:
                cut = last_comma + 1
                rest, restw = cur[cut:], curw[cut:]
                cur, curw = cur[:cut], curw[:cut]
                emit()
                cur, curw = rest, restw
            if len(cur) == 75:
                emit()
            cur.append(t)
            curw.append(w)
    if cur or not rows:
        emit()
    ids, weights = [], []
    for r, rw in rows:
        if pad != EOS:  # SD 2.x: everything after the first EOS is the pad id
            i = r.index(EOS)
            r = r[:i + 1] + [pad] * (len(r) - i - 1)
        ids.append(r)
        weights.append([float(x) for x in np.asarray(rw, dtype=np.float32)])  # torch.asarray: float32
    return ids, weights


# ---- cases ----

rng = random.Random(1234)
WORDS = ("a photo of an astronaut riding horse on mars highly detailed digital painting artstation concept "
         "art smooth sharp focus illustration by greg rutkowski masterpiece best quality portrait woman "
         "landscape mountains lake sunset cinematic lighting 8k octane render trending beautiful girl cat dog "
         "city night rain neon cyberpunk street fantasy castle dragon forest misty morning").split()
PUNCT = [",", ".", "!", "?", ";", ":", "-", "'s", "(", ")"]
long_words = []
for i in range(2000):
    long_words.append(rng.choice(WORDS) + (rng.choice(PUNCT) if rng.random() < 0.15 else ""))
LONG = " ".join(long_words)

HF_TEXTS = [
    "", "a", "a photo of an astronaut riding a horse on mars", "A PHOTO OF A CAT", "MiXeD CaSe WoRdS",
    "  leading and trailing  ", "multiple     spaces", "tabs\tand\nnewlines\r\nand\r\rreturns", "\n\n\n", "   ",
    "nbsp\u00a0ideographic\u3000space\u2003em", "line\u2028separator\u2029paragraph", "vt\x0bff\x0cx",
    "fs\x1cgs\x1drs\x1eus\x1fx", "nel\x85x", "zero\u200bwidth\u200djoiner\ufeffbom", "bell\x07del\x7fx",
    "hello, world!", "...", "!!!???", "a--b", "(parens) [brackets] {braces}", "<html><body>", "@user #tag $5 100%",
    "C++ & C# | a/b \\ c", "\"double\" 'single'", "..'s", "x's", "a.b.c", "e.g. i.e. etc.", "~`^_=+*",
    "don't", "I'M", "we'll they've she'd you're it's", "'s 't 're 've 'm 'll 'd", "rock'n'roll",
    "\u2019curly\u2019 apostrophe\u2019s", "'\u017f \u017f \u017fs", "'S 'T 'RE", "o'clock 'quoted'",
    "1234567890", "3.14159", "1,000,000", "2nd 3rd 21st 100th", "\u00bd \u00b2 \u00b3 \u2460 \u216b",
    "\u0663\u0664 \u06f4 \u096b", "x1y2z3", "1.5e-10",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9", "cafe\u0301 decomposed", "e\u0301\u0301 double", "\u00c5ngstr\u00f6m A\u030angstrom",
    "\u00c0\u00c9\u00ce\u00d5\u00dc", "Stra\u00dfe STRASSE", "\u01c5 \u01c8 \u01cb titlecase", "\u0130stanbul",
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03c3\u03bf\u03c6\u03cc\u03c2 \u03a3\u039f\u03a6\u038c\u03a3",
    "\u03a3", "\u0391\u03a3.", "\u0391\u03a3'\u0391", "\u0391'\u03a3", "\u0391\u03a3\u0345",
    "Tie\u0302\u0301ng Vie\u0323\u0302t", "a\u0323\u0302 a\u0302\u0323", "\u1ea0\u0300",
    "\ud55c\uad6d\uc5b4", "\u1100\u1161\u11a8 jamo", "\u1100\u1161", "\uac00\u11a8",
    "\u4f60\u597d\u4e16\u754c", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\u4e2d\u6587English\u6df7\u5408",
    "\U00020000 ext b", "\uf900 compat", "\u3042\u3044\u3046 kana",
    "\U0001f600", "\U0001f44d\U0001f3fd", "\u2764\ufe0f", "\U0001f1eb\U0001f1f7",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f3f3\ufe0f\u200d\U0001f308", "emoji\U0001f600in\U0001f600text",
    "\u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u0422\u0415\u041a\u0421\u0422", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\u0939\u093f\u0928\u094d\u0926\u0940", "\u0e44\u0e17\u0e22", "\u05e2\u05d1\u05e8\u05d9\u05ea",
    "<|startoftext|>", "a<|endoftext|>b", "<|ENDOFTEXT|>", "<|EndOfText|> x", "<|endoftext|", "<|<|endoftext|>",
    "x<<|startoftext|>", "<|\u017ftartoftext|>", "<|endoftext|><|endoftext|>", "< |endoftext|>",
    "<|startoftext|>a photo<|endoftext|>", "a <|endoftext|>", "\u2028<|endoftext|>\t",
    "\ue000 private", "\U000e0001 tag", "\u0378 unassigned", "\ufffd replacement", "a\u0345b", "\u00ad soft hyphen",
    "BREAK", "supercalifragilisticexpialidocious", "antidisestablishmentarianism internationalization",
    "supercalifragilisticexpialidocious" * 40, "1" * 300, "!" * 300, "ab" * 500,
    LONG,
]

# bytes that are not UTF-8: Python reads them as U+FFFD (the C side gets the raw bytes)
HF_BYTES = [b"caf\xe9", b"\xff\xfe", b"a\xe2\x82b", b"x\xed\xa0\x80y", b"\xc0\xafz", b"ok\xf0\x9f\x98",
            b"<|endo\xfftext|>", b"\x80\x80\x80abc", b"\xf4\x90\x80\x80big"]

W74 = " ".join(["cat"] * 74)


def words(n, word="cat"):
    return " ".join([word] * n)


A1111_PROMPTS = [
    "", "normal text", "an (important) word", "(unbalanced", "\\(literal\\]", "(unnecessary)(parens)",
    "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", "a (red:1.3) car BREAK ((night)) [x] \\(y\\)",
    "((a))", "[[a]]", "[a:1.5]", "(a:1.5]", "a:1.2) b", "a) b] c", "(a : 1.2 )", "(a:+1.2)", "(a:-1)", "(a:.5)",
    "(a:1.)", "(a:0)", "(a:1e3)", "(a:\u0661.\u0665)", "(a:\u00a01.5\u3000)", "(a:1.2.3", "((a:1.2):0.5)",
    "(a:1.2.3)", "(a:.)", "(a:+)", "[a:1.2.3]",
    "\\\\", "a\\b", "\\", "\\(\\)\\[\\]\\\\", "a \\\\(b)", "(a\\)b)", "((a) b) c]",
    "a BREAK b", "BREAK a", "a BREAK", "BREAK", "aBREAK b", "a BREAKb", "a_BREAK b", "a\nBREAK\nb", "BREAK BREAK",
    "a,BREAK,b", "break is not BREAK", "(BREAK)", "(a BREAK b:0)", "(BRE:-1)(AK:-1)", "BREAK:x", "\u00e9BREAK b",
    "(\u732b:1.2), \U0001f600 [emoji]", "a <|endoftext|> b", "(<|startoftext|>)", "a, b, c, (d, e:1.1), [f, g]",
    words(75), words(76), words(150), words(151),
    words(74) + " , " + words(10),              # comma exactly at the end of the chunk
    words(60) + ", " + words(30),                # comma at index 60 (15 from the end): the tail moves on
    words(55) + ", " + words(30),                # comma at index 55: 75 - 55 = 20, still moves
    words(54) + ", " + words(30),                # comma at index 54: 21, no backtrack
    ", ".join([words(4)] * 40),                  # commas everywhere, many chunks
    words(70) + ", (" + words(20) + ":1.3)",     # weighted tail moved
    words(75) + " BREAK " + words(5),            # BREAK right after a full chunk
    words(30) + " BREAK BREAK " + words(5),      # an empty chunk between
    "(" + words(100) + ")",
    " ".join(long_words[:400]),
]



def main():
    hf = [{"text": t, "ids": hf_ids(t)} for t in HF_TEXTS]
    hf += [{"hex": b.hex(), "ids": hf_ids(b.decode("utf-8", errors="replace"))} for b in HF_BYTES]
    a1111 = []
    for p in A1111_PROMPTS:
        for pad in ((EOS, 0) if len(a1111) % 3 == 0 or "endoftext" in p else (EOS,)):
            try:
                ids, weights = a1111_chunks(p, pad)
                a1111.append({"prompt": p, "pad": pad, "ids": ids, "weights": weights})
            except ValueError:
                a1111.append({"prompt": p, "pad": pad, "error": True})
    doc = {
        "source": "transformers %s CLIPTokenizer (no ftfy) on shared/data/clip; A1111 syntax reimplemented"
                  " in tests/ref/gen_clip_tokens.py" % __import__("transformers").__version__,
        "hf": hf,
        "a1111": a1111,
    }
    path = os.path.join(HERE, "clip_tokens.json")
    with open(path, "w") as f:
        json.dump(doc, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d hf cases, %d a1111 cases, %d bytes" % (path, len(hf), len(a1111), os.path.getsize(path)))


if __name__ == "__main__":
    main()
