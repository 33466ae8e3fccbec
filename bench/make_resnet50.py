"""make_resnet50.py - full-size ResNet-50 with random weights, for benchmarks.

Writes bench/models/resnet50.safetensors (torchvision names, F32) and
bench/models/resnet50.onnx (the same weights, for ONNX Runtime).
Needs torch + torchvision (Debian: python3-torch python3-torchvision).
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "ref"))
from refio import save  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    m = torchvision.models.resnet50(weights=None)
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():  # non-trivial BN statistics so folding is exercised
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.data = torch.randn(n, generator=g) * 0.1
            mod.running_var.data = torch.rand(n, generator=g) + 0.5
    m.eval()
    sd = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    save(os.path.join(OUT, "resnet50.safetensors"), sd, {"arch": "resnet50", "weights": "random"})
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(m, x, os.path.join(OUT, "resnet50.onnx"), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}}, opset_version=13)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
