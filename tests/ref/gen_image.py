"""gen_image.py - fixtures for tests/test_image.c.

Run by hand: /usr/bin/python3 tests/ref/gen_image.py  (Debian python3-torch, python3-pil, numpy)
Writes tests/ref/image/* (small image files) and tests/ref/image_ref.safetensors
(expected pixels, all u8 HWC unless noted; resize references f32 HWC).

PNG files are encoded here by hand (zlib + struct), so every colour type, bit
depth, tRNS, Adam7 interlacing and text chunk is under our control; their
expected pixels come from the numpy arrays they were made from (16-bit samples
scaled by round(v * 255 / 65535)), and each file is checked against PIL where
PIL's conversion agrees. JPEG, BMP, GIF, TGA and PNM files are written with PIL;
the expected pixels of lossy files are PIL's own decode (same libjpeg-turbo,
default settings), with ImageOps.exif_transpose for the EXIF orientation set.
Resize references are torch.nn.functional.interpolate(align_corners=False,
antialias=False) on float32 NCHW images.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(__file__))
import refio  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "image")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240611)
ref = {}


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- PNG by hand

def chunk(tag, data):
    c = struct.pack(">I", len(data)) + tag + data
    return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def pack_rows(samples, depth):
    """samples: (h, w*ch) ints -> list of packed row bytes (no filter byte)."""
    rows = []
    for r in samples:
        if depth == 16:
            rows.append(r.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(r.astype(np.uint8).tobytes())
        else:
            per = 8 // depth
            b = bytearray((len(r) * depth + 7) // 8)
            for i, v in enumerate(r):
                b[i // per] |= int(v) << (8 - depth * (i % per + 1))
            rows.append(bytes(b))
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(samples, color, depth, interlace=False, plte=None, trns=None, before=(), after=()):
    """samples: (h, w, ch) array of raw sample values."""
    h, w, ch = samples.shape
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for i, row in enumerate(pack_rows(sub.reshape(sub.shape[0], -1), depth)):
            # alternate filter types 0 (none) and 2 (up) to exercise the unfilter
            if i % 2 and i > 0:
                prev = pack_rows(sub.reshape(sub.shape[0], -1)[i - 1:i], depth)[0]
                raw += b"\x02" + bytes((a - b) & 0xFF for a, b in zip(row, prev))
            else:
                raw += b"\x00" + row
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, int(interlace)))
    for c in before:
        out += c
    if plte is not None:
        out += chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    z = zlib.compress(raw, 9)
    out += chunk(b"IDAT", z[: len(z) // 2]) + chunk(b"IDAT", z[len(z) // 2:])  # two IDATs
    for c in after:
        out += c
    return out + chunk(b"IEND", b"")


def scale16(v):
    return np.floor(v.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)


def check_pil(name, want):
    got = np.asarray(Image.open(os.path.join(OUT, name)).convert("RGBA" if want.shape[2] == 4 else
                                                                 "RGB" if want.shape[2] == 3 else "L"))
    got = got.reshape(want.shape)
    assert np.array_equal(got, want), name


# 8-bit RGB, RGBA, gray
a = rng.integers(0, 256, (7, 13, 3), dtype=np.uint8)
save("rgb8.png", png(a, 2, 8)); ref["rgb8"] = a; check_pil("rgb8.png", a)
a = rng.integers(0, 256, (5, 9, 4), dtype=np.uint8)
save("rgba8.png", png(a, 6, 8)); ref["rgba8"] = a; check_pil("rgba8.png", a)
a = rng.integers(0, 256, (6, 11, 1), dtype=np.uint8)
save("gray8.png", png(a, 0, 8)); ref["gray8"] = a; check_pil("gray8.png", a)
# 16-bit gray, RGB, RGBA (interlaced)
a = rng.integers(0, 65536, (5, 7, 1))
save("gray16.png", png(a, 0, 16)); ref["gray16"] = scale16(a)
a = rng.integers(0, 65536, (4, 6, 3))
save("rgb16.png", png(a, 2, 16)); ref["rgb16"] = scale16(a)
a = rng.integers(0, 65536, (9, 10, 4))
save("rgba16_adam7.png", png(a, 6, 16, interlace=True)); ref["rgba16_adam7"] = scale16(a)
# gray+alpha -> RGBA
a = rng.integers(0, 256, (4, 5, 2), dtype=np.uint8)
save("ga8.png", png(a, 4, 8))
ref["ga8"] = np.concatenate([a[:, :, :1]] * 3 + [a[:, :, 1:]], axis=2)
check_pil("ga8.png", ref["ga8"])
# palette 8-bit with tRNS (first 5 entries partly transparent) -> RGBA
pal = rng.integers(0, 256, (40, 3), dtype=np.uint8)
alpha = np.array([0, 30, 128, 200, 254], np.uint8)
idx = rng.integers(0, 40, (6, 8, 1))
save("pal8_trns.png", png(idx, 3, 8, plte=pal, trns=alpha.tobytes()))
full_a = np.full(40, 255, np.uint8); full_a[:5] = alpha
ref["pal8_trns"] = np.concatenate([pal[idx[:, :, 0]], full_a[idx[:, :, 0]][:, :, None]], axis=2)
check_pil("pal8_trns.png", ref["pal8_trns"])
# palette 4-bit, odd width -> RGB
pal = rng.integers(0, 256, (16, 3), dtype=np.uint8)
idx = rng.integers(0, 16, (5, 11, 1))
save("pal4.png", png(idx, 3, 4, plte=pal)); ref["pal4"] = pal[idx[:, :, 0]]; check_pil("pal4.png", ref["pal4"])
# 1- and 2-bit gray (scaled to 0..255)
a = rng.integers(0, 2, (7, 17, 1))
save("gray1.png", png(a, 0, 1)); ref["gray1"] = (a * 255).astype(np.uint8); check_pil("gray1.png", ref["gray1"])
a = rng.integers(0, 4, (3, 9, 1))
save("gray2_adam7.png", png(a, 0, 2, interlace=True)); ref["gray2_adam7"] = (a * 85).astype(np.uint8)
check_pil("gray2_adam7.png", ref["gray2_adam7"])
# gray with a tRNS key -> RGBA, alpha 0 where the key matches
a = rng.integers(0, 4, (4, 6, 1)) * 60
save("gray_trns.png", png(a, 0, 8, trns=struct.pack(">H", 120)))
g = a.astype(np.uint8)
ref["gray_trns"] = np.concatenate([g, g, g, np.where(g == 120, 0, 255).astype(np.uint8)], axis=2)
# 8-bit RGB, Adam7, a size where some passes are empty in a dimension
a = rng.integers(0, 256, (13, 19, 3), dtype=np.uint8)
save("rgb8_adam7.png", png(a, 2, 8, interlace=True)); ref["rgb8_adam7"] = a; check_pil("rgb8_adam7.png", a)
a = rng.integers(0, 256, (1, 3, 3), dtype=np.uint8)
save("rgb8_1x3_adam7.png", png(a, 2, 8, interlace=True)); ref["rgb8_1x3_adam7"] = a

# text chunks: tEXt (Latin-1 value with e-acute), zTXt, iTXt (UTF-8), one after IDAT
a = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
texts_before = [chunk(b"tEXt", b"Title\x00caf\xe9 au lait"),
                chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"compressed words " * 20))]
texts_after = [chunk(b"iTXt", b"prompt\x00\x00\x00\x00\x00" + "a fox \u2603 in snow".encode()),
               chunk(b"tEXt", b"seed\x0042")]
save("text.png", png(a, 2, 8, before=texts_before, after=texts_after)); ref["text"] = a
pil_text = Image.open(os.path.join(OUT, "text.png"))
pil_text.load()
assert pil_text.text["Title"] == "caf\u00e9 au lait" and pil_text.text["seed"] == "42", pil_text.text

# eXIf orientation 6 on a PNG (big-endian TIFF)
a = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + b"\0\0\0\0"
save("exif6.png", png(a, 2, 8, after=[chunk(b"eXIf", tiff)]))
ref["exif6"] = np.ascontiguousarray(np.rot90(a, k=-1))  # 90 degrees clockwise

# a corrupt CRC in IDAT (must be refused)
good = bytearray(open(os.path.join(OUT, "rgb8.png"), "rb").read())
pos = good.index(b"IDAT") + 4
good[pos + 3] ^= 0x55
save("bad_crc.png", bytes(good))


# ---------------------------------------------------------------- JPEG (PIL)

def smooth(h, w, seed):
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(x / 5.0 + seed), 128 + 100 * np.cos(y / 4.0), 60 + 2.5 * (x + y)], axis=2)
    img += r.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def pil_decode(name, mode=None):
    im = Image.open(os.path.join(OUT, name))
    im = ImageOps.exif_transpose(im)
    if mode:
        im = im.convert(mode)
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


# EXIF orientations 1..8 on a 32x24 base: the file stores the base turned the
# opposite way, so the upright result is (close to) the base.
base = smooth(24, 32, 1)
ref["orient_base"] = base
inverse = {1: None, 2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM,
           5: Image.TRANSPOSE, 6: Image.ROTATE_90, 7: Image.TRANSVERSE, 8: Image.ROTATE_270}
for o in range(1, 9):
    im = Image.fromarray(base)
    if inverse[o] is not None:
        im = im.transpose(inverse[o])
    ex = Image.Exif()
    ex[0x0112] = o
    b = io.BytesIO()
    im.save(b, "JPEG", quality=95, subsampling=0, exif=ex.tobytes())
    save("orient%d.jpg" % o, b.getvalue())
    up = pil_decode("orient%d.jpg" % o)
    assert up.shape == base.shape and np.abs(up.astype(int) - base).max() < 40, o
    ref["orient%d" % o] = up
    if o == 1:
        ref["orient1_stored"] = up
    if o == 6:  # the same file with the EXIF turned off: pixels as stored
        ref["orient6_stored"] = np.asarray(Image.open(os.path.join(OUT, "orient6.jpg")))

# big-endian EXIF (orientation 8) spliced in after SOI of a plain JPEG
im = Image.fromarray(base).transpose(Image.ROTATE_270)
b = io.BytesIO()
im.save(b, "JPEG", quality=95, subsampling=0)
tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 2) + struct.pack(">HHIHH", 0x010F, 2, 4, 0x4142, 0x4300) + \
    struct.pack(">HHIHH", 0x0112, 3, 1, 8, 0) + b"\0\0\0\0"
app1 = b"Exif\x00\x00" + tiff
data = b.getvalue()
save("orient8_be.jpg", data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:])
ref["orient8_be"] = pil_decode("orient8_be.jpg")

# 4:2:0, odd size (fancy upsampling at the edges), gray, progressive, CMYK (Adobe)
a = smooth(9, 15, 2)
Image.fromarray(a).save(os.path.join(OUT, "rgb420.jpg"), quality=85, subsampling=2)
ref["rgb420"] = pil_decode("rgb420.jpg")
ref["rgb420_src"] = a
Image.fromarray(a[:, :, 1]).save(os.path.join(OUT, "gray.jpg"), quality=90)
ref["gray_jpg"] = pil_decode("gray.jpg")
a = smooth(20, 27, 3)
Image.fromarray(a).save(os.path.join(OUT, "progressive.jpg"), quality=80, progressive=True)
ref["progressive"] = pil_decode("progressive.jpg")
assert Image.open(os.path.join(OUT, "progressive.jpg")).info.get("progressive")
Image.fromarray(smooth(8, 10, 4)).convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=90)
ref["cmyk"] = pil_decode("cmyk.jpg", "RGB")
assert Image.open(os.path.join(OUT, "cmyk.jpg")).mode == "CMYK"

# ---------------------------------------------------------------- stb formats
a = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
Image.fromarray(a).save(os.path.join(OUT, "rgb.bmp")); ref["rgb_bmp"] = a
p = Image.fromarray(smooth(6, 9, 5)).quantize(16)
p.save(os.path.join(OUT, "pal.bmp")); ref["pal_bmp"] = np.asarray(p.convert("RGB"))
p.save(os.path.join(OUT, "pal.gif")); ref["pal_gif"] = np.asarray(p.convert("RGBA"))
Image.fromarray(a).save(os.path.join(OUT, "rgb.tga")); ref["rgb_tga"] = a
Image.fromarray(a).save(os.path.join(OUT, "rgb_rle.tga"), compression="tga_rle")
Image.fromarray(a).save(os.path.join(OUT, "rgb.ppm"))
g = rng.integers(0, 256, (4, 6), dtype=np.uint8)
Image.fromarray(g).save(os.path.join(OUT, "gray.pgm")); ref["gray_pgm"] = g[:, :, None]
g16 = rng.integers(0, 65536, (3, 5))
save("gray16.pgm", b"P5\n5 3\n65535\n" + g16.astype(">u2").tobytes()); ref["gray16_pgm"] = scale16(g16)[:, :, None]
# a raw 8-bit RGB PSD: header, empty sections, compression 0, planar channels
psd = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 5, 7, 8, 3) + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0)
psd += np.ascontiguousarray(a.transpose(2, 0, 1)).tobytes()
save("rgb.psd", psd)


def packbits(row):
    out, i = b"", 0
    while i < len(row):
        j = i
        while j + 1 < len(row) and row[j + 1] == row[i] and j - i < 127:
            j += 1
        if j > i:  # a run of j-i+1 equal bytes
            out += bytes([257 - (j - i + 1), row[i]])
            i = j + 1
        else:  # literals up to the next run
            j = i
            while j < len(row) and j - i < 128 and not (j + 1 < len(row) and row[j + 1] == row[j]):
                j += 1
            j = max(j, i + 1)
            out += bytes([j - i - 1]) + bytes(row[i:j])
            i = j
    return out


# RGBA, PackBits: colours stored matted against white, as Photoshop saves the composite
rgba = rng.integers(0, 256, (6, 9, 4), dtype=np.uint8)
rgba[:, :3, :3] = 200  # runs for PackBits
rgba[0, :, 3] = 255
rgba[1, :, 3] = 0
al = rgba[:, :, 3:].astype(np.float64) / 255
matted = np.floor(rgba[:, :, :3] * al + 255 * (1 - al) + 0.5).astype(np.uint8)
planes = [matted[:, :, k] for k in range(3)] + [rgba[:, :, 3], np.full((6, 9), 7, np.uint8)]  # 5th channel ignored
rows = [packbits(bytes(pl[y])) for pl in planes for y in range(6)]
psd = b"8BPS" + struct.pack(">H6xHIIHH", 1, 5, 6, 9, 8, 3) + struct.pack(">I", 0) + struct.pack(">I", 4) + b"abcd" + \
    struct.pack(">I", 0) + struct.pack(">H", 1) + b"".join(struct.pack(">H", len(r)) for r in rows) + b"".join(rows)
save("rgba_rle.psd", psd)
ref["rgba_psd_straight"] = rgba  # the decoder's un-matting is within one level of this (exact where alpha is 0 or 255)
# 16-bit grayscale, raw
g16 = rng.integers(0, 65536, (3, 4))
psd = b"8BPS" + struct.pack(">H6xHIIHH", 1, 1, 3, 4, 16, 1) + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0)
save("gray16.psd", psd + g16.astype(">u2").tobytes()); ref["gray16_psd"] = scale16(g16)[:, :, None]

# PIL's "L" conversion for the luma check
a = rng.integers(0, 256, (3, 11, 3), dtype=np.uint8)
ref["luma_src"] = a
ref["luma_pil"] = np.asarray(Image.fromarray(a).convert("L"))[:, :, None]

# ---------------------------------------------------------------- resize (torch)
cases = [  # (name, c, sh, sw, dh, dw)
    ("down", 3, 7, 9, 5, 4), ("up", 3, 13, 17, 29, 33), ("mixed", 1, 33, 65, 7, 127),
    ("from1", 2, 1, 1, 3, 5), ("col", 3, 5, 1, 9, 2), ("same", 3, 16, 16, 16, 16), ("big", 3, 127, 65, 33, 17),
]
for name, c, sh, sw, dh, dw in cases:
    x = torch.from_numpy(rng.random((1, c, sh, sw), dtype=np.float32))
    ref["rs_%s_src" % name] = x[0].permute(1, 2, 0).contiguous()
    for mode in ("bilinear", "bicubic"):
        y = F.interpolate(x, size=(dh, dw), mode=mode, align_corners=False, antialias=False)
        ref["rs_%s_%s" % (name, mode)] = y[0].permute(1, 2, 0).contiguous()
# u8 bicubic (float math, rounded) on an integer image
x = torch.from_numpy(rng.integers(0, 256, (1, 3, 11, 14)).astype(np.float32))
ref["rs_u8_src"] = x[0].permute(1, 2, 0).numpy().astype(np.uint8)
y = F.interpolate(x, size=(6, 23), mode="bicubic", align_corners=False)
ref["rs_u8_bicubic_f32"] = y[0].permute(1, 2, 0).contiguous()
# whole-number factors: OpenCV's INTER_AREA is then a box average = torch "area"
for name, c, sh, sw, dh, dw in [("area3", 3, 12, 18, 4, 6), ("area2", 1, 8, 10, 4, 5), ("area_7x1", 2, 14, 5, 2, 5)]:
    x = torch.from_numpy(rng.random((1, c, sh, sw), dtype=np.float32))
    ref["rs_%s_src" % name] = x[0].permute(1, 2, 0).contiguous()
    ref["rs_%s" % name] = F.interpolate(x, size=(dh, dw), mode="area")[0].permute(1, 2, 0).contiguous()

refio.save(os.path.join(HERE, "image_ref.safetensors"), {k: np.ascontiguousarray(v) if isinstance(v, np.ndarray)
                                                         else v for k, v in ref.items()},
           {"generator": "tests/ref/gen_image.py", "torch": torch.__version__, "pil": Image.__version__})
total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print("wrote %d files (%d bytes) and image_ref.safetensors (%d bytes)" %
      (len(os.listdir(OUT)), total, os.path.getsize(os.path.join(HERE, "image_ref.safetensors"))))
