"""refio.py - write reference tensors as .safetensors for the C tests.

Generators (tests/ref/gen_*.py) run by hand with a PyTorch install
(Debian's python3-torch works: /usr/bin/python3 tests/ref/gen_ops.py);
their outputs are committed, so tests and CI need no Python.
The format is written here directly (8-byte header length, JSON header,
raw little-endian data) so the C reader is checked against an
independent writer.
"""
import json
import struct

import numpy as np

_DT = {np.float32: "F32", np.float16: "F16", np.int32: "I32", np.int64: "I64",
       np.uint8: "U8", np.int8: "I8", np.float64: "F64", np.int16: "I16"}


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (or torch tensor)."""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(a)
        dt = _DT[a.dtype.type]
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
