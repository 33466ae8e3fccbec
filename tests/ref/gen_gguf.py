"""gen_gguf.py - writes tests/ref/gguf_py.gguf with the reference GGUF writer (pip gguf).

Run by hand (python3 with `pip install gguf`): python3 tests/ref/gen_gguf.py
The output is committed; tests/test_gguf.c checks that our reader sees
exactly the values below (they are repeated there as constants), so this
file is the independent writer the C reader is compared against.
Every value type appears once as a scalar and once in an array, plus
nested arrays, a custom alignment (64) and tensors of several types.
"""
import os

import numpy as np
import gguf
from gguf import GGUFValueType as T

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gguf_py.gguf")


def main():
    w = gguf.GGUFWriter(OUT, arch="iristest")
    w.add_custom_alignment(64)
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 3.25)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "h\u00e9llo w\u00f6rld")
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62) - 7)
    w.add_float64("t.f64", 0.1)
    w.add_key_value("t.arr.u8", [1, 2, 255], T.ARRAY, sub_type=T.UINT8)
    w.add_key_value("t.arr.i8", [-128, 0, 127], T.ARRAY, sub_type=T.INT8)
    w.add_key_value("t.arr.u16", [65535, 7], T.ARRAY, sub_type=T.UINT16)
    w.add_key_value("t.arr.i16", [-1, 2, -3], T.ARRAY, sub_type=T.INT16)
    w.add_key_value("t.arr.u32", [4294967295, 0, 17], T.ARRAY, sub_type=T.UINT32)
    w.add_key_value("t.arr.i32", [-5, 6], T.ARRAY, sub_type=T.INT32)
    w.add_key_value("t.arr.f32", [0.5, -1.25, 1e-3], T.ARRAY, sub_type=T.FLOAT32)
    w.add_key_value("t.arr.bool", [True, False, True], T.ARRAY, sub_type=T.BOOL)
    w.add_key_value("t.arr.str", ["a", "", "\u00fcn\u00ef"], T.ARRAY, sub_type=T.STRING)
    w.add_key_value("t.arr.u64", [2**64 - 1, 3], T.ARRAY, sub_type=T.UINT64)
    w.add_key_value("t.arr.i64", [-(2**63), 9], T.ARRAY, sub_type=T.INT64)
    w.add_key_value("t.arr.f64", [0.1, -2.5], T.ARRAY, sub_type=T.FLOAT64)
    w.add_array("t.nested", [[1, 2, 3], [4], [5, 6]])
    w.add_array("t.nested_str", [["x", "yy"], ["zzz"]])

    w.add_tensor("f32.odd", (np.arange(21, dtype=np.float32) * 0.25 - 2).reshape(3, 7))
    w.add_tensor("f16.vec", np.array([1, -2, 0.5, 65504, 2.0**-24], dtype=np.float16))
    w.add_tensor("i32.t", np.array([[1, -2], [3, 2147483647]], dtype=np.int32))
    # Q8_0 that quantizes exactly: q[i] = (37 i mod 255) - 127 with the first q of each
    # 32-block set to +-127, so every block has d = 63.5 / 127 = 0.5 (f16 0x3800) and q = 2x
    q = (np.arange(128) * 37) % 255 - 127
    q[0::32] = [127, -127, 127, -127]
    x = (q.astype(np.float32) * 0.5).reshape(2, 64)
    qb = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("q8_0.m", qb, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("f32.4d", (np.arange(24, dtype=np.float32) - 11.5).reshape(2, 1, 3, 4))
    w.add_tensor("i8.t", np.arange(-4, 5, dtype=np.int8))
    w.add_tensor("f64.t", np.array([1e300, -0.125], dtype=np.float64))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    r = gguf.GGUFReader(OUT)
    print(OUT, os.path.getsize(OUT), "bytes,", len(r.fields), "fields,", len(r.tensors), "tensors")
    for t in r.tensors:
        print(f"  {t.name:8s} {t.tensor_type.name:5s} ggml dims {list(map(int, t.shape))} "
              f"data at {t.data_offset} ({t.n_bytes} bytes)")
    qraw = bytes(r.get_tensor(3).data.tobytes())
    print("  q8_0.m first block:", qraw[:6].hex(), "second row first block:", qraw[68:74].hex())


if __name__ == "__main__":
    main()
