"""sd15_diffusers.py - load the SD 1.5 single-file checkpoint into diffusers with no hub access.

The pipeline config is the local folder sd15_config/ beside this file (the SD 1.5 component configs),
and the tokenizer is built from the CLIP vocabulary in /work/shared/data/clip/.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.join(HERE, "sd15_config")
CLIP_DATA = os.environ.get("IRIS_CLIP_DATA", "/work/shared/data/clip")


def tokenizer():
    from transformers import CLIPTokenizer
    return CLIPTokenizer(os.path.join(CLIP_DATA, "vocab.json"), os.path.join(CLIP_DATA, "merges.txt"),
                         model_max_length=77, pad_token="<|endoftext|>")


def scheduler(sampler):
    """k-diffusion's Euler / Euler a on the SD discrete schedule: sigmas at t = linspace(999, 0, n)."""
    from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler
    cls = {"euler_a": EulerAncestralDiscreteScheduler, "euler": EulerDiscreteScheduler}[sampler]
    return cls.from_pretrained(CONFIG_DIR, subfolder="scheduler", local_files_only=True)


def pipeline(ckpt, dtype=None, sampler="euler_a"):
    import torch
    from diffusers import StableDiffusionPipeline
    return StableDiffusionPipeline.from_single_file(
        ckpt, config=CONFIG_DIR, local_files_only=True, torch_dtype=dtype or torch.float32,
        tokenizer=tokenizer(), scheduler=scheduler(sampler), safety_checker=None, feature_extractor=None)
