"""run_openvino.py - OpenVINO CPU timing of the exported UNet (one guided step = batch 2) and VAE decoder.

    /work/benchdata/venv/bin/python bench/sd_peers/run_openvino.py --precision f32 -W 256 -H 256 --steps 3
    /work/benchdata/venv/bin/python bench/sd_peers/run_openvino.py --check   # f32 outputs vs PyTorch, 256x256

Not a pipeline: no text encoder or sampler, just the two networks that take the time. The ONNX files
from export_onnx.py are read, reshaped to fixed shapes and compiled with INFERENCE_NUM_THREADS, one stream,
PERFORMANCE_HINT LATENCY and INFERENCE_PRECISION_HINT f32 or bf16. One warm-up call each, then --steps
timed UNet calls and --vae-iters timed decodes.
"""
import time

import numpy as np

import peer_common


def compile_model(core, path, shapes, a):
    import openvino as ov
    model = core.read_model(path)
    model.reshape({name: ov.PartialShape(s) for name, s in shapes.items()})
    cfg = {"INFERENCE_NUM_THREADS": a.threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
           "INFERENCE_PRECISION_HINT": a.precision}
    return core.compile_model(model, "CPU", cfg)


def inputs(a):
    rng = np.random.default_rng(a.seed)
    h, w = a.height // 8, a.width // 8
    unet = {"sample": rng.standard_normal((2, 4, h, w), dtype=np.float32),
            "timestep": np.array([500.0], np.float32),
            "context": rng.standard_normal((2, 77, 768), dtype=np.float32)}
    return unet, {"latent": (rng.standard_normal((1, 4, h, w), dtype=np.float32) * 5).astype(np.float32)}


def timed(req, feed, n):
    req.infer(feed)  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        req.infer(feed)
        out.append(time.perf_counter() - t)
    return out, req.get_output_tensor(0).data.copy()


def main():
    def extra(ap):
        ap.add_argument("--onnx", default="/work/benchdata/onnx")
        ap.add_argument("--precision", choices=["f32", "bf16"], default="f32")
        ap.add_argument("--vae-iters", type=int, default=2)
        ap.add_argument("--check", action="store_true")
    a = peer_common.parse_args(extra)
    import openvino as ov
    core = ov.Core()
    unet_in, vae_in = inputs(a)
    t0 = time.perf_counter()
    unet = compile_model(core, a.onnx + "/unet/unet.onnx", {k: v.shape for k, v in unet_in.items()}, a)
    vae = compile_model(core, a.onnx + "/vae_decoder.onnx", {k: v.shape for k, v in vae_in.items()}, a)
    load_s = time.perf_counter() - t0
    steps, eps = timed(unet.create_infer_request(), unet_in, 1 if a.check else a.steps)
    vae_t, img = timed(vae.create_infer_request(), vae_in, 1 if a.check else a.vae_iters)
    res = {"peer": "openvino-" + a.precision, "load_s": load_s, "text_s": None, "step_s": steps,
           "vae_s": float(np.median(vae_t)), "vae_all_s": vae_t, "total_s": None, "image": ""}
    if a.check:
        import torch

        import sd15_diffusers as sdd
        torch.set_num_threads(a.threads)
        del unet, vae
        pipe = sdd.pipeline(a.ckpt)
        with torch.no_grad():
            ref_eps = pipe.unet(torch.from_numpy(unet_in["sample"]), 500.0,
                                encoder_hidden_states=torch.from_numpy(unet_in["context"])).sample.numpy()
            ref_img = pipe.vae.decode(torch.from_numpy(vae_in["latent"])).sample.numpy()
        res["check"] = {"unet_max_abs_diff": float(np.abs(eps - ref_eps).max()), "unet_ref_std": float(ref_eps.std()),
                        "vae_max_abs_diff": float(np.abs(img - ref_img).max()), "vae_ref_std": float(ref_img.std())}
    peer_common.emit(res)


if __name__ == "__main__":
    main()
