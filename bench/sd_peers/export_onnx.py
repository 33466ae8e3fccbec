"""export_onnx.py - export the diffusers UNet and VAE decoder of the checkpoint to ONNX (opset 17), for OpenVINO.

    nice -n 15 /work/benchdata/venv/bin/python bench/sd_peers/export_onnx.py [--out /work/benchdata/onnx]

fp32, TorchScript exporter (torch.onnx.export, dynamo=False), batch/height/width dynamic (run_openvino.py
reshapes to fixed shapes). The UNet is over 2 GB, so its weights go to an external-data file beside it.
Written once; --force re-exports.
  unet.onnx:        sample [B,4,h,w] f32, timestep [1] f32, context [B,77,768] f32 -> eps [B,4,h,w]
  vae_decoder.onnx: latent [1,4,h,w] f32 (already divided by 0.18215) -> image [1,3,8h,8w] in about [-1,1]
"""
import argparse
import os
import time

import torch

import sd15_diffusers as sdd


class UNet(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, context):
        return self.unet(sample, timestep, encoder_hidden_states=context, return_dict=False)[0]


class Decoder(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent):
        return self.vae.decode(latent, return_dict=False)[0]


def export(module, args, path, names_in, dyn):
    t = time.perf_counter()
    kw = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    with torch.no_grad():
        torch.onnx.export(module, args, path, opset_version=17, input_names=names_in, output_names=["out"],
                          dynamic_axes=dyn, do_constant_folding=True, **kw)
    print(f"exported {path} in {time.perf_counter() - t:.0f} s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/work/benchdata/sd15_random.safetensors")
    ap.add_argument("--out", default="/work/benchdata/onnx")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    pipe = sdd.pipeline(a.ckpt)
    os.makedirs(os.path.join(a.out, "unet"), exist_ok=True)
    unet_path, vae_path = os.path.join(a.out, "unet", "unet.onnx"), os.path.join(a.out, "vae_decoder.onnx")
    if a.force or not os.path.exists(vae_path):
        export(Decoder(pipe.vae).eval(), (torch.randn(1, 4, 32, 32),), vae_path, ["latent"],
               {"latent": {2: "h", 3: "w"}, "out": {2: "H", 3: "W"}})
    if a.force or not os.path.exists(unet_path):
        export(UNet(pipe.unet).eval(), (torch.randn(2, 4, 32, 32), torch.tensor([999.0]), torch.randn(2, 77, 768)),
               unet_path, ["sample", "timestep", "context"],
               {"sample": {0: "b", 2: "h", 3: "w"}, "context": {0: "b"}, "out": {0: "b", 2: "h", 3: "w"}})


if __name__ == "__main__":
    main()
