"""gen_safetensors.py - writes tests/ref/st_loader.safetensors for tests/test_safetensors.c.

Run by hand: /usr/bin/python3 tests/ref/gen_safetensors.py (needs numpy only).
Written with refio.py, the independent safetensors writer, so the C reader is
checked against it. One tensor per dtype refio knows, a one-element tensor, an empty
tensor first (its offsets equal the next tensor's begin), a 4-D tensor and
metadata. Values are simple formulas repeated in the C test.
"""
import os

import numpy as np

import refio

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "st_loader.safetensors")


def main():
    t = {
        "empty": np.zeros((0, 3), dtype=np.float32),
        "f32.odd": (np.arange(21, dtype=np.float32) * 0.25 - 2).reshape(3, 7),
        "f16.vec": np.array([1, -2, 0.5, 65504, 2.0**-24], dtype=np.float16),
        "i32.t": np.array([[1, -2], [3, 2147483647]], dtype=np.int32),
        "i64.t": np.array([-(2**40), 0, 2**62], dtype=np.int64),
        "u8.t": np.array([0, 1, 254, 255], dtype=np.uint8),
        "i8.t": np.array([-128, 0, 127], dtype=np.int8),
        "i16.t": np.array([-32768, 32767], dtype=np.int16),
        "f64.t": np.array([1e300, -0.125], dtype=np.float64),
        "scalar": np.array(3.5, dtype=np.float32),
        "f32.4d": (np.arange(24, dtype=np.float32) - 11.5).reshape(2, 1, 3, 4),
    }
    refio.save(OUT, t, metadata={"arch": "loader-test", "n": 11})
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
