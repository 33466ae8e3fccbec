"""gen_image_formats.py - WebP, TIFF and DCT-scaled JPEG fixtures for tests/test_image_formats.c.

Run by hand: /usr/bin/python3 tests/ref/gen_image_formats.py  (PIL with WebP and libtiff, numpy)
Writes tests/ref/image/*.webp, *.tif, scaled*.jpg and tests/ref/image_formats_ref.safetensors
(expected pixels, u8 HWC).

WebP files are written and decoded by PIL (its own libwebp build): lossless ones must equal
the arrays they were made from, lossy ones are PIL's decode. TIFFs come two ways: PIL (through
its libtiff) for the common compressions, and a small writer here (struct + zlib) for what PIL
does not write: tiles, separate planes, premultiplied alpha, min-is-white, 4- and 16-bit
samples, big-endian files. Expected pixels of the hand-written ones come from the numpy arrays
(16-bit samples scaled by round(v * 255 / 65535)) and are checked against PIL's decode wherever
PIL's conversion is the same. JPEGs decoded at 1/2, 1/4, 1/8 are PIL's draft() decode, which
asks libjpeg for the same DCT scaling.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(__file__))
import refio  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "image")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20250301)
ref = {}
written = []


def path(name):
    return os.path.join(OUT, name)


def save(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    written.append(name)


def smooth(h, w, seed, c=3):
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(x / 5.0 + seed), 128 + 100 * np.cos(y / 4.0), 60 + 2.5 * (x + y),
                    255 - 3.0 * x][:c], axis=2)
    img += r.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def pil_pixels(name, mode, transpose=True, seek=0):
    im = Image.open(path(name))
    if seek:
        im.seek(seek)
    if transpose:
        im = ImageOps.exif_transpose(im)
    a = np.asarray(im.convert(mode))
    return a[:, :, None] if a.ndim == 2 else a


def pil_save(name, arr, fmt, **kw):
    b = io.BytesIO()
    Image.fromarray(arr if arr.shape[2] > 1 else arr[:, :, 0]).save(b, fmt, **kw)
    save(name, b.getvalue())


# ---------------------------------------------------------------- WebP (PIL)
a = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
pil_save("lossless_rgb.webp", a, "WEBP", lossless=True)
ref["lossless_rgb"] = a
assert np.array_equal(pil_pixels("lossless_rgb.webp", "RGB"), a)

a = smooth(7, 11, 1, 4)
a[0, :, 3] = 0
pil_save("lossless_rgba.webp", a, "WEBP", lossless=True, exact=True)
ref["lossless_rgba"] = a
assert np.array_equal(pil_pixels("lossless_rgba.webp", "RGBA"), a)

pil_save("lossy_rgb.webp", smooth(17, 24, 2), "WEBP", quality=80)
ref["lossy_rgb"] = pil_pixels("lossy_rgb.webp", "RGB")
assert Image.open(path("lossy_rgb.webp")).mode == "RGB"

a = smooth(10, 15, 3, 4)
a[:, :4, 3] = 0
a[:, 4:8, 3] = 128
pil_save("lossy_rgba.webp", a, "WEBP", quality=85)
ref["lossy_rgba"] = pil_pixels("lossy_rgba.webp", "RGBA")

# EXIF orientation 6 in the EXIF chunk: the file stores the base turned the other way
base = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
ex = Image.Exif()
ex[0x0112] = 6
b = io.BytesIO()
Image.fromarray(base).transpose(Image.ROTATE_90).save(b, "WEBP", lossless=True, exif=ex.tobytes())
save("exif6.webp", b.getvalue())
assert b"EXIF" in b.getvalue()
ref["webp_exif6"] = pil_pixels("exif6.webp", "RGB")
assert np.array_equal(ref["webp_exif6"], base)

# a two-frame animation: the first frame is what we return
f0 = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
f1 = 255 - f0
b = io.BytesIO()
Image.fromarray(f0).save(b, "WEBP", save_all=True, append_images=[Image.fromarray(f1)], lossless=True, duration=100)
save("anim.webp", b.getvalue())
im = Image.open(path("anim.webp"))
assert getattr(im, "n_frames", 1) == 2
ref["anim_first"] = pil_pixels("anim.webp", "RGBA" if im.mode == "RGBA" else "RGB", transpose=False)
assert np.array_equal(ref["anim_first"][:, :, :3], f0)


# ---------------------------------------------------------------- TIFF through PIL

def scale16(v):
    return np.floor(v.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)


a = smooth(9, 14, 4)
pil_save("rgb_raw.tif", a, "TIFF")
ref["tif_rgb"] = a
pil_save("rgb_lzw.tif", a, "TIFF", compression="tiff_lzw")
pil_save("rgb_lzw_pred.tif", a, "TIFF", compression="tiff_lzw", tiffinfo={317: 2})  # horizontal predictor
for n in ("rgb_raw.tif", "rgb_lzw.tif", "rgb_lzw_pred.tif"):
    assert np.array_equal(pil_pixels(n, "RGB"), a), n
assert Image.open(path("rgb_lzw_pred.tif")).tag_v2.get(317) == 2

a = smooth(8, 10, 5, 4)
pil_save("rgba_deflate.tif", a, "TIFF", compression="tiff_adobe_deflate")
ref["tif_rgba"] = a
assert np.array_equal(pil_pixels("rgba_deflate.tif", "RGBA"), a)

g = smooth(7, 12, 6)[:, :, :1]
pil_save("gray_packbits.tif", g, "TIFF", compression="packbits")
ref["tif_gray"] = g
assert np.array_equal(pil_pixels("gray_packbits.tif", "L"), g)

pil_save("rgb_jpeg.tif", smooth(16, 24, 7), "TIFF", compression="jpeg", quality=90)
ref["tif_jpeg"] = pil_pixels("rgb_jpeg.tif", "RGB")
assert Image.open(path("rgb_jpeg.tif")).tag_v2.get(262) == 2  # PIL compresses RGB as it is


def ycbcr_jpeg_tiff(name, a):
    """JPEG in YCbCr with 4:2:0 (what libtiff's tools and cameras write): PIL cannot, so
    Debian's libtiff writes it through ctypes, converting our RGB rows itself."""
    import ctypes
    lt = ctypes.CDLL("libtiff.so.6")
    lt.TIFFOpen.restype = ctypes.c_void_p
    lt.TIFFOpen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    t = ctypes.c_void_p(lt.TIFFOpen(path(name).encode(), b"w"))
    h, w, _ = a.shape
    for tag, v in [(256, w), (257, h), (258, 8), (277, 3), (284, 1), (259, 7), (262, 6), (278, 16),
                   (65537, 90), (65538, 1)]:  # ..., JPEGQUALITY, JPEGCOLORMODE = RGB
        assert lt.TIFFSetField(t, ctypes.c_uint(tag), ctypes.c_int(v)) == 1, tag
    for y in range(h):
        row = np.ascontiguousarray(a[y])
        assert lt.TIFFWriteScanline(t, row.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint(y), ctypes.c_int(0)) == 1
    lt.TIFFClose(t)
    written.append(name)


ycbcr_jpeg_tiff("ycbcr_jpeg.tif", smooth(20, 24, 15))
ref["tif_ycbcr_jpeg"] = pil_pixels("ycbcr_jpeg.tif", "RGB")
assert Image.open(path("ycbcr_jpeg.tif")).tag_v2.get(262) == 6

p = Image.fromarray(smooth(6, 9, 8)).quantize(16)
b = io.BytesIO()
p.save(b, "TIFF", compression="tiff_lzw")
save("pal_lzw.tif", b.getvalue())
ref["tif_pal"] = pil_pixels("pal_lzw.tif", "RGB")

bits = rng.integers(0, 2, (5, 19), dtype=np.uint8)
b = io.BytesIO()
Image.fromarray(bits * 255).convert("1").save(b, "TIFF", compression="group4")
save("bilevel_g4.tif", b.getvalue())
ref["tif_bilevel"] = (bits * 255)[:, :, None]
assert np.array_equal(pil_pixels("bilevel_g4.tif", "L"), ref["tif_bilevel"])

a = smooth(5, 7, 9)
pil_save("orient6.tif", np.ascontiguousarray(np.rot90(a, k=1)), "TIFF", tiffinfo={274: 6})
ref["tif_orient6"] = a  # turned 90 degrees clockwise back to upright
assert np.array_equal(pil_pixels("orient6.tif", "RGB"), a)

c = smooth(6, 8, 10, 4)
Image.fromarray(c, "CMYK").save(path("cmyk.tif"), compression="tiff_lzw")
written.append("cmyk.tif")
ref["tif_cmyk"] = pil_pixels("cmyk.tif", "RGB")  # PIL rounds, libtiff truncates: within one level

# two pages: the first is read
p1, p2 = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8), rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
b = io.BytesIO()
Image.fromarray(p1).save(b, "TIFF", save_all=True, append_images=[Image.fromarray(p2)])
save("two_pages.tif", b.getvalue())
ref["tif_page1"] = p1
assert Image.open(path("two_pages.tif")).n_frames == 2


# ---------------------------------------------------------------- TIFF by hand

def tiff(samples, bps, photometric, *, planar=1, tile=None, rps=None, deflate=False, be=False, extra=None,
         colormap=None, orientation=None):
    """samples: (h, w, spp) sample values. One IFD after the data; strips or tiles."""
    h, w, spp = samples.shape
    e = ">" if be else "<"

    def pack_rows(arr):  # arr (rows, n) -> bytes, each row padded to a byte
        out = b""
        for r in arr:
            if bps == 16:
                out += r.astype(e + "u2").tobytes()
            elif bps == 8:
                out += r.astype(np.uint8).tobytes()
            else:
                bb = bytearray((len(r) * bps + 7) // 8)
                for i, v in enumerate(r):
                    bb[(i * bps) // 8] |= int(v) << (8 - bps - (i * bps) % 8)
                out += bytes(bb)
        return out

    planes = [samples[:, :, k:k + 1] for k in range(spp)] if planar == 2 else [samples]
    blocks = []
    for pl in planes:
        if tile:
            tw, th = tile
            for y0 in range(0, h, th):
                for x0 in range(0, w, tw):
                    t = np.zeros((th, tw, pl.shape[2]), np.int64)
                    part = pl[y0:y0 + th, x0:x0 + tw]
                    t[:part.shape[0], :part.shape[1]] = part
                    blocks.append(pack_rows(t.reshape(th, -1)))
        else:
            for y0 in range(0, h, rps):
                blocks.append(pack_rows(pl[y0:y0 + rps].reshape(-1, w * pl.shape[2])))
    if deflate:
        blocks = [zlib.compress(bl, 9) for bl in blocks]
    data, offsets, pos = b"", [], 8
    for bl in blocks:
        offsets.append(pos + len(data))
        data += bl + (b"\0" if len(bl) % 2 else b"")
    ifd_pos = 8 + len(data)
    entries, tail = [], b""
    tail_pos = ifd_pos + 2 + 12 * 20 + 4  # extra data after the IFD (20 entries at most)

    def tag(t, typ, vals):
        nonlocal tail
        fmt = {3: "H", 4: "I"}[typ]
        raw = struct.pack(e + fmt * len(vals), *vals)
        if len(raw) <= 4:
            entries.append(struct.pack(e + "HHI", t, typ, len(vals)) + raw.ljust(4, b"\0"))
        else:
            entries.append(struct.pack(e + "HHII", t, typ, len(vals), tail_pos + len(tail)))
            tail += raw + (b"\0" if len(raw) % 2 else b"")

    tag(256, 4, [w])
    tag(257, 4, [h])
    tag(258, 3, [bps] * spp)
    tag(259, 3, [8 if deflate else 1])
    tag(262, 3, [photometric])
    if not tile:
        tag(273, 4, offsets)
    if orientation:
        tag(274, 3, [orientation])
    tag(277, 3, [spp])
    if not tile:
        tag(278, 4, [rps])
        tag(279, 4, [len(bl) for bl in blocks])
    tag(284, 3, [planar])
    if colormap is not None:
        tag(320, 3, list(colormap.T.reshape(-1)))
    if tile:
        tag(322, 3, [tile[0]])
        tag(323, 3, [tile[1]])
        tag(324, 4, offsets)
        tag(325, 4, [len(bl) for bl in blocks])
    if extra is not None:
        tag(338, 3, extra)
    assert len(entries) <= 20
    ifd = struct.pack(e + "H", len(entries)) + b"".join(entries) + b"\0\0\0\0"
    ifd = ifd.ljust(2 + 12 * 20 + 4, b"\0")
    head = (b"MM\0*" if be else b"II*\0") + struct.pack(e + "I", ifd_pos)
    return head + data + ifd + tail


# RGB 8-bit in 16x16 deflate tiles, the image not a multiple of the tile size
a = smooth(21, 37, 11)
save("rgb_tiled.tif", tiff(a, 8, 2, tile=(16, 16), deflate=True))
ref["tif_tiled"] = a
assert np.array_equal(pil_pixels("rgb_tiled.tif", "RGB"), a)

# RGBA with separate planes, 3 rows per strip, big-endian
a = smooth(7, 9, 12, 4)
save("rgba_planar_be.tif", tiff(a, 8, 2, planar=2, rps=3, be=True, extra=[2]))
ref["tif_planar"] = a
assert np.array_equal(pil_pixels("rgba_planar_be.tif", "RGBA"), a)

# premultiplied (associated) alpha: expected is the straight colour, within one level
straight = smooth(4, 6, 13, 4)
straight[0, :, 3] = 255
straight[1, :, 3] = 0
straight[1, :, :3] = 0
al = straight[:, :, 3:].astype(np.float64) / 255
pre = np.concatenate([np.floor(straight[:, :, :3] * al + 0.5), straight[:, :, 3:]], axis=2).astype(np.int64)
save("rgba_assoc.tif", tiff(pre, 8, 2, rps=4, extra=[1]))
ref["tif_assoc_straight"] = straight

# 16-bit RGB, tiled, big-endian; 16-bit gray with 2 rows per strip
a16 = rng.integers(0, 65536, (5, 19, 3))
save("rgb16_tiled_be.tif", tiff(a16, 16, 2, tile=(16, 16), be=True))
ref["tif_rgb16"] = scale16(a16)
g16 = rng.integers(0, 65536, (5, 6, 1))
save("gray16.tif", tiff(g16, 16, 1, rps=2))
ref["tif_gray16"] = scale16(g16)
assert np.array_equal(np.asarray(Image.open(path("gray16.tif"))), g16[:, :, 0])

# 4-bit min-is-white gray (0 is white), odd width
g4 = rng.integers(0, 16, (3, 7, 1))
save("gray4_white.tif", tiff(g4, 4, 0, rps=3))
ref["tif_gray4_white"] = ((15 - g4) * 17).astype(np.uint8)
assert np.array_equal(pil_pixels("gray4_white.tif", "L"), ref["tif_gray4_white"])

# 4-bit palette, colormap entries v * 257, orientation 3 (rotated 180)
cm = rng.integers(0, 256, (16, 3))
idx = rng.integers(0, 16, (4, 5, 1))
save("pal4_orient3.tif", tiff(idx, 4, 3, rps=4, colormap=cm * 257, orientation=3))
ref["tif_pal4_orient3"] = np.ascontiguousarray(cm[idx[:, :, 0]].astype(np.uint8)[::-1, ::-1])
assert np.array_equal(pil_pixels("pal4_orient3.tif", "RGB"), ref["tif_pal4_orient3"])

# gray + an extra sample of unspecified meaning: ignored (PIL too)
ga = rng.integers(0, 256, (3, 4, 2))
save("gray_extra.tif", tiff(ga, 8, 1, rps=3, extra=[0]))
ref["tif_gray_extra"] = ga[:, :, :1].astype(np.uint8)


# ---------------------------------------------------------------- JPEG DCT scaling (PIL draft)
a = smooth(61, 83, 14)
b = io.BytesIO()
Image.fromarray(a).save(b, "JPEG", quality=90, subsampling=2)
save("scaled.jpg", b.getvalue())
ref["scaled_full"] = pil_pixels("scaled.jpg", "RGB")
for d in (2, 4, 8):
    im = Image.open(path("scaled.jpg"))
    im.draft("RGB", (83 // d, 61 // d))  # PIL picks scale min(83 // w, 61 // h) = d
    got = np.asarray(im.convert("RGB"))
    assert got.shape == (-(-61 // d), -(-83 // d), 3), (d, got.shape)
    ref["scaled_1_%d" % d] = got
# the same picture stored turned (EXIF orientation 6): min sizes are of the upright image
ex = Image.Exif()
ex[0x0112] = 6
b = io.BytesIO()
Image.fromarray(a).transpose(Image.ROTATE_90).save(b, "JPEG", quality=90, subsampling=2, exif=ex.tobytes())
save("scaled_orient6.jpg", b.getvalue())
im = Image.open(path("scaled_orient6.jpg"))
im.draft("RGB", (61 // 4, 83 // 4))  # stored 61 wide, 83 high
ref["scaled_orient6_1_4"] = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
assert ref["scaled_orient6_1_4"].shape == (-(-61 // 4), -(-83 // 4), 3)

refio.save(os.path.join(HERE, "image_formats_ref.safetensors"),
           {k: np.ascontiguousarray(v.astype(np.uint8)) for k, v in ref.items()},
           {"generator": "tests/ref/gen_image_formats.py", "pil": Image.__version__})
total = sum(os.path.getsize(path(f)) for f in written)
print("wrote %d files (%d bytes) and image_formats_ref.safetensors (%d bytes)" %
      (len(written), total, os.path.getsize(os.path.join(HERE, "image_formats_ref.safetensors"))))
