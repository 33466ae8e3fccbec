"""check_ckpt.py - check the random SD 1.5 checkpoint against diffusers' own single-file conversion.

    nice -n 15 /usr/bin/python3 bench/sd_peers/check_ckpt.py [/work/benchdata/sd15_random.safetensors]

1. Names and shapes: the file goes through diffusers' ldm->diffusers converters (the code
   from_single_file runs); each converted state dict must equal the model's own (built from the SD 1.5
   configs) key for key and shape for shape, and every tensor of the file must end up in exactly one
   model parameter, except the buffers the original file also carries and no model uses (the DDPM
   schedule and the CLIP position_ids).
2. Loading: StableDiffusionPipeline.from_single_file with the local config folder, no hub.
3. Scale: text encoder, one guided UNet call and the VAE decode run in fp32 with hooks on every module;
   the largest |activation| must stay far below fp16's 65504 and the outputs must be finite.
"""
import sys

import torch

import sd15_diffusers as sdd

IGNORED = {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
           "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
           "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
           "cond_stage_model.transformer.text_model.embeddings.position_ids"}


def check_names(ckpt_path):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders import single_file_utils as sfu
    from transformers import CLIPTextConfig, CLIPTextModel

    ckpt = sfu.load_single_file_checkpoint(ckpt_path)
    owner = {t.data_ptr(): k for k, t in ckpt.items()}
    assert len(owner) == len(ckpt), "two tensors share storage"
    with init_empty_weights():
        ucfg = UNet2DConditionModel.load_config(sdd.CONFIG_DIR, subfolder="unet")
        vcfg = AutoencoderKL.load_config(sdd.CONFIG_DIR, subfolder="vae")
        models = {"unet": (UNet2DConditionModel.from_config(ucfg), sfu.convert_ldm_unet_checkpoint(ckpt, ucfg)),
                  "vae": (AutoencoderKL.from_config(vcfg), sfu.convert_ldm_vae_checkpoint(ckpt, vcfg)),
                  "text_encoder": (CLIPTextModel(CLIPTextConfig.from_pretrained(sdd.CONFIG_DIR, subfolder="text_encoder")),
                                   sfu.convert_ldm_clip_checkpoint(ckpt))}
    used, bad = set(), []
    for name, (model, conv) in models.items():
        want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        conv = {k: v for k, v in conv.items() if k != "text_model.embeddings.position_ids"}  # non-persistent buffer
        missing, extra = sorted(set(want) - set(conv)), sorted(set(conv) - set(want))
        shapes = [k for k in set(want) & set(conv) if tuple(conv[k].shape) != want[k]]
        for k, v in conv.items():
            src = owner.get(v.data_ptr())
            if src is None or src in used:
                bad.append(f"{name}.{k}: not exactly one source tensor")
            used.add(src)
        print(f"{name}: {len(want)} parameters, {len(conv)} converted, missing {len(missing)} {missing[:3]}, "
              f"unexpected {len(extra)} {extra[:3]}, shape mismatches {len(shapes)} {shapes[:3]}")
        bad += missing + extra + shapes
    unused = sorted(set(ckpt) - used - IGNORED)
    print(f"file: {len(ckpt)} tensors, {len(used)} consumed, {len(IGNORED)} known buffers ignored, "
          f"{len(unused)} unused {unused[:5]}")
    bad += unused
    del ckpt, models
    return bad


def check_run(ckpt_path):
    pipe = sdd.pipeline(ckpt_path)
    peak = {}

    def hook(name):
        def f(_m, _i, out):
            outs = out if isinstance(out, (tuple, list)) else getattr(out, "to_tuple", lambda: (out,))()
            for o in outs:
                if torch.is_tensor(o) and o.is_floating_point():
                    peak[name] = max(peak.get(name, 0.0), float(o.detach().abs().max()))
        return f
    for comp in ("text_encoder", "unet", "vae"):
        for n, m in getattr(pipe, comp).named_modules():
            m.register_forward_hook(hook(comp + "." + n))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        ids = pipe.tokenizer(["a photo of a cat", ""], padding="max_length", max_length=77, return_tensors="pt").input_ids
        ctx = pipe.text_encoder(ids)[0]
        sigma = float(pipe.scheduler.init_noise_sigma)
        for t, s in ((999, 14.61), (500, 1.0), (50, 0.1)):
            x = torch.randn(1, 4, 32, 32, generator=g) * s
            xin = torch.cat([x, x]) / (s * s + 1) ** 0.5
            eps = pipe.unet(xin, t, encoder_hidden_states=ctx).sample
            print(f"unet t={t}: eps std {eps.std():.3f} (want O(1)), max |eps| {eps.abs().max():.2f}")
        img = pipe.vae.decode(torch.randn(1, 4, 32, 32, generator=g) / pipe.vae.config.scaling_factor).sample
    print(f"text: ctx std {ctx.std():.3f}; vae image std {img.std():.3f}, range [{img.min():.2f}, {img.max():.2f}]; "
          f"init sigma {sigma:.2f}")
    top = sorted(peak.items(), key=lambda kv: -kv[1])[:5]
    print("largest |activation|:", ", ".join(f"{k} {v:.1f}" for k, v in top))
    ok = all(torch.isfinite(t).all() for t in (ctx, eps, img)) and top[0][1] < 2000
    return [] if ok else ["activations too large or not finite"]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/work/benchdata/sd15_random.safetensors"
    torch.set_num_threads(2)
    bad = check_names(path)
    bad += check_run(path)
    print("OK" if not bad else f"FAILED: {len(bad)} problems, first: {bad[:5]}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
