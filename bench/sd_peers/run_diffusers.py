"""run_diffusers.py - one txt2img run of diffusers (PyTorch CPU, fp32) on the single-file checkpoint.

    /usr/bin/python3 bench/sd_peers/run_diffusers.py --steps 2 -W 256 -H 256 --out /tmp/d.png

Loaded with from_single_file and the local config folder (sd15_diffusers.py), no hub. Euler a / Euler
with k-diffusion's discrete schedule (timestep_spacing "linspace"). The prompt is encoded apart from the
pipeline call to time it; a step is from the UNet call to the end of the scheduler step; the VAE decode
is timed on its own. The noise is torch's CPU generator, so the image differs from sd.cpp's and iris's.
"""
import time

import peer_common


def main():
    a = peer_common.parse_args(lambda ap: ap.add_argument("--bf16", action="store_true"))
    import torch

    import sd15_diffusers as sdd
    torch.set_num_threads(a.threads)
    dtype = torch.bfloat16 if a.bf16 else torch.float32
    t0 = time.perf_counter()
    pipe = sdd.pipeline(a.ckpt, dtype=dtype, sampler=a.sampler)
    pipe.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - t0
    starts, ends = [], []
    pipe.unet.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter()))
    with torch.no_grad():
        t1 = time.perf_counter()
        pos, neg = pipe.encode_prompt(a.prompt, "cpu", 1, True, negative_prompt="")
        text_s = time.perf_counter() - t1
        latents = pipe(prompt_embeds=pos, negative_prompt_embeds=neg, width=a.width, height=a.height,
                       num_inference_steps=a.steps, guidance_scale=a.cfg, output_type="latent",
                       generator=torch.Generator().manual_seed(a.seed),
                       callback_on_step_end=lambda p, i, t, kw: (ends.append(time.perf_counter()), kw)[1]).images
        t2 = time.perf_counter()
        img = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
        vae_s = time.perf_counter() - t2
        total_s = time.perf_counter() - t1
    if a.out:
        pipe.image_processor.postprocess(img.float(), output_type="pil")[0].save(a.out)
    peer_common.emit({"peer": "diffusers-bf16" if a.bf16 else "diffusers", "load_s": load_s, "text_s": text_s,
                      "step_s": [e - s for s, e in zip(starts, ends)], "vae_s": vae_s, "total_s": total_s,
                      "image": a.out})


if __name__ == "__main__":
    main()
