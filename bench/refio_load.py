"""refio_load.py - read a .safetensors file into numpy arrays (benchmark scripts only)."""
import json
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(data, _NP[e["dtype"]], offset=8 + n + b,
                                  count=(en - b) // np.dtype(_NP[e["dtype"]]).itemsize).reshape(e["shape"]).copy()
    return out
