"""gen_llama_unicode.py - writes llama/unicode_tables.c: the Unicode data the tokenizers use,
taken from Python's unicodedata and str methods (so the C code behaves as Python does).

- letters \\p{L}, numbers \\p{N}, whitespace \\s: the byte-level BPE pre-tokenizer classes
  (Llama's BPE and CLIP).
- for CLIP's text cleanup (Hugging Face's BasicTokenizer and str.lower()): the general category
  C (Cc Cf Cs Co Cn) and Zs, decimal digits Nd, the simple lower-case mapping, the two
  properties str.lower() reads for the Greek final sigma, and the NFC data (canonical combining
  classes, canonical decompositions, primary composites).

Run by hand: /usr/bin/python3 tests/ref/gen_llama_unicode.py > llama/unicode_tables.c
"""
import sys
import unicodedata

CPS = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        ok = pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


def cat(cp):
    return unicodedata.category(chr(cp))


def surrogate(cp):
    return 0xD800 <= cp < 0xE000


# \s as in regex engines with Unicode: White_Space property
WS = set([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
         + list(range(0x2000, 0x200B)))


def digit_ranges():
    rs = ranges(lambda c: cat(c) == "Nd")
    for a, b in rs:  # every run of Nd is whole blocks 0..9, so the value is (cp - a) % 10
        for c in range(a, b + 1):
            assert unicodedata.decimal(chr(c)) == (c - a) % 10, hex(c)
    return rs


def lower_ranges():
    """(lo, hi, stride, delta): cp in [lo, hi] with (cp - lo) % stride == 0 lowers to cp + delta."""
    m = {}
    for c in CPS:
        low = chr(c).lower()
        if low == chr(c) or c == 0x3A3:  # capital sigma depends on context, done in code
            continue
        if len(low) > 1:
            assert c == 0x130, hex(c)  # the one multi-character lower case (U+0130 -> i U+0307), in code
            continue
        m[c] = ord(low) - c
    items = sorted(m)
    out, i = [], 0
    while i < len(items):
        c, d = items[i], m[items[i]]
        best = (1, c, 1)
        for stride in (1, 2):
            j, e = i, c
            while j + 1 < len(items) and items[j + 1] == e + stride and m[items[j + 1]] == d:
                j += 1
                e = items[j]
            if j - i + 1 > best[0]:
                best = (j - i + 1, e, stride)
        out.append((c, best[1], best[2], d))
        i += best[0]
    # the ranges must reproduce the mapping exactly (no cp inside a stride-2 range but off it maps)
    for c in CPS:
        want = m.get(c, 0)
        got = 0
        for lo, hi, st, d in out:
            if lo <= c <= hi and (c - lo) % st == 0:
                got = d
        assert got == want or c in (0x130, 0x3A3), hex(c)
    return out


# Final sigma: str.lower() skips case-ignorable characters around U+03A3 and then looks for a cased
# one. Both properties are read off str.lower() itself, so they are exactly what Python uses.
def sigma_final(s):
    return s.lower()[-1] == "\u03c2"


def cased_ranges():  # cased and not case-ignorable (the only cased characters the rule sees)
    return ranges(lambda c: not surrogate(c) and sigma_final("1" + chr(c) + "\u03a3"))


def ignorable_ranges():
    return ranges(lambda c: not surrogate(c) and sigma_final("A" + chr(c) + "\u03a3")
                  and not sigma_final("1" + chr(c) + "\u03a3"))


def ccc_ranges():
    out = []
    for c in CPS:
        v = unicodedata.combining(chr(c))
        if not v:
            continue
        if out and out[-1][1] == c - 1 and out[-1][2] == v:
            out[-1][1] = c
        else:
            out.append([c, c, v])
    return out


def decompositions():
    """(cp, first, second or 0): canonical decompositions, one level (Hangul is done in code)."""
    out, comp = [], []
    for c in CPS:
        d = unicodedata.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        assert len(parts) in (1, 2), hex(c)
        out.append((c, parts[0], parts[1] if len(parts) == 2 else 0))
        # a primary composite: its two-character decomposition composes back (not excluded)
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(c)) == chr(c):
            comp.append((parts[0], parts[1], c))
    # the C code decomposes into a buffer of 4 code points per input character
    assert max(len(unicodedata.normalize("NFD", chr(c))) for c in CPS) <= 4
    return out, sorted(comp)


w = sys.stdout.write


def table(name, rows, ctype="uint32_t", fmt=None):
    width = len(rows[0])
    fmt = fmt or ("0x%x",) * width
    w("const %s iris_uc_%s[][%d] = {\n" % (ctype, name, width))
    line = "   "
    for r in rows:
        item = " {" + ", ".join(f % v for f, v in zip(fmt, r)) + "},"
        if len(line) + len(item) > 100:
            w(line + "\n")
            line = "   "
        line += item
    w(line + "\n};\n")
    w("const int iris_uc_%s_n = %d;\n\n" % (name, len(rows)))


w("/* unicode_tables.c - Unicode data for the tokenizers (see unicode.h).\n")
w("   Generated by tests/ref/gen_llama_unicode.py from Unicode %s; do not edit. */\n" % unicodedata.unidata_version)
w('#include "unicode.h"\n\n')
table("letter", ranges(lambda c: cat(c).startswith("L")))
table("number", ranges(lambda c: cat(c).startswith("N")))
table("space", ranges(lambda c: c in WS))
table("control", ranges(lambda c: cat(c).startswith("C")))
table("zs", ranges(lambda c: cat(c) == "Zs"))
table("digit_ranges", digit_ranges())
table("lower_map", lower_ranges(), "int32_t", ("0x%x", "0x%x", "%d", "%d"))
table("cased", cased_ranges())
table("ignorable", ignorable_ranges())
table("ccc", ccc_ranges(), fmt=("0x%x", "0x%x", "%d"))
decomp, comp = decompositions()
table("decomp", decomp)
table("compose", comp)
