"""gen_resnet.py - reference logits for tiny torchvision ResNets with random weights.

Run by hand: /usr/bin/python3 tests/ref/gen_resnet.py  (Debian python3-torch 1.13 + python3-torchvision 0.14)
Writes tests/ref/resnet18_tiny.safetensors and resnet50_tiny.safetensors: the model's state_dict
(as torchvision names it) plus "ref.input" [2,3,64,64], "ref.logits" and "ref.features".

"Tiny": torchvision's own ResNet/BasicBlock/Bottleneck classes with every stage 8x narrower
(64..512 -> 8..64 planes), so the fixture stays small; the block structure, strides
(v1.5: stride on the bottleneck's 3x3) and naming are torchvision's.
"""
import os

import torch
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from refio import save

HERE = os.path.dirname(os.path.abspath(__file__))
SHRINK = 8


def tiny_resnet(block, layers, num_classes):
    orig = ResNet._make_layer

    def narrow_layer(self, blk, planes, blocks, stride=1, dilate=False):
        if planes == 64:
            self.inplanes = 64 // SHRINK
        return orig(self, blk, planes // SHRINK, blocks, stride, dilate)

    ResNet._make_layer = narrow_layer
    try:
        m = ResNet(block, layers, num_classes=num_classes)
    finally:
        ResNet._make_layer = orig
    m.conv1 = torch.nn.Conv2d(3, 64 // SHRINK, 7, 2, 3, bias=False)
    m.bn1 = torch.nn.BatchNorm2d(64 // SHRINK)
    m.fc = torch.nn.Linear(512 * block.expansion // SHRINK, num_classes)
    return m


def randomise_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.weight.data = torch.rand(n, generator=g) * 1.5 + 0.25
            mod.bias.data = torch.randn(n, generator=g) * 0.2
            mod.running_mean.data = torch.randn(n, generator=g) * 0.2
            mod.running_var.data = torch.rand(n, generator=g) * 1.5 + 0.5


def make(name, block, layers, classes, half, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m = tiny_resnet(block, layers, classes)
    randomise_bn(m, g)
    m.eval()
    sd = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    if half:  # store F16 weights; the reference runs on the same rounded values
        sd = {k: v.half() for k, v in sd.items()}
        m.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    x = torch.randn(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        feats = {}
        m.avgpool.register_forward_hook(lambda mod, i, o: feats.__setitem__("f", torch.flatten(o, 1)))
        logits = m(x)
    tensors = dict(sd)
    tensors["ref.input"] = x
    tensors["ref.logits"] = logits
    tensors["ref.features"] = feats["f"]
    save(os.path.join(HERE, name), tensors,
         {"generator": "tests/ref/gen_resnet.py", "torch": torch.__version__,
          "torchvision": torchvision.__version__, "weights": "f16" if half else "f32"})
    print(name, tuple(logits.shape), sum(v.numel() for v in sd.values()), "params")


make("resnet18_tiny.safetensors", BasicBlock, [2, 2, 2, 2], 10, False, 18)
make("resnet50_tiny.safetensors", Bottleneck, [3, 4, 6, 3], 12, True, 50)
