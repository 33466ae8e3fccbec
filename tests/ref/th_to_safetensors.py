"""th_to_safetensors.py - rewrite a PyTorch checkpoint (.th/.pt/.pth) as .safetensors.

    python3 tests/ref/th_to_safetensors.py resnet20-12fca82f.th resnet20.safetensors

Takes the state_dict (or a {"state_dict": ...} wrapper, as akamaster's CIFAR
ResNets store it), drops a DataParallel "module." prefix and the
num_batches_tracked counters, and writes F32/F16 tensors unchanged. Needs torch.
"""
import sys

import torch

from refio import save


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: th_to_safetensors.py IN.th OUT.safetensors")
    ck = torch.load(sys.argv[1], map_location="cpu")
    sd = ck.get("state_dict", ck) if isinstance(ck, dict) else ck.state_dict()
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked") or not torch.is_tensor(v):
            continue
        out[k[7:] if k.startswith("module.") else k] = v
    save(sys.argv[2], out, {"source": sys.argv[1]})
    print(f"wrote {sys.argv[2]}: {len(out)} tensors")


if __name__ == "__main__":
    main()
