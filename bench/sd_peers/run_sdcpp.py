"""run_sdcpp.py - one txt2img run of stable-diffusion.cpp (PyPI stable-diffusion-cpp-python) on the checkpoint.

    /work/benchdata/venv/bin/python bench/sd_peers/run_sdcpp.py --steps 2 -W 256 -H 256 --out /tmp/s.png

Timings come from sd.cpp itself: its log lines give the text-encoder, sampling and VAE-decode times, and
its progress callback marks the end of each step (the first step is the sampling time minus the rest).
RNG is sd.cpp's "cuda" (Philox, as the CUDA torch generator), the default of its CLI; discrete schedule.
"""
import ctypes
import re
import time

import peer_common


def main():
    a = peer_common.parse_args(lambda ap: (ap.add_argument("--flash-attn", action="store_true"),
                                           ap.add_argument("--rng", default="cuda")))
    import stable_diffusion_cpp as sdc
    from stable_diffusion_cpp import StableDiffusion

    logs = []

    @sdc.sd_log_callback
    def on_log(level, text, data):
        logs.append(text.decode("utf-8", errors="replace"))

    t0 = time.perf_counter()
    sd = StableDiffusion(model_path=a.ckpt, n_threads=a.threads, rng_type=a.rng, sampler_rng_type=a.rng,
                         vae_decode_only=True, diffusion_flash_attn=a.flash_attn, verbose=True)
    sdc.sd_set_log_callback(on_log, ctypes.c_void_p(0))  # after the constructor, which installs its own
    load_s = time.perf_counter() - t0
    marks = []

    def on_progress(step, steps, _speed):
        if steps == a.steps and step > 0:
            marks.append(time.perf_counter())

    t1 = time.perf_counter()
    images = sd.generate_image(prompt=a.prompt, negative_prompt="", width=a.width, height=a.height,
                               cfg_scale=a.cfg, sample_method=a.sampler, scheduler="discrete",
                               sample_steps=a.steps, seed=a.seed, progress_callback=on_progress,
                               # the Python wrapper passes eta=0 unless told, which turns Euler a's
                               # ancestral noise off; sd.cpp's own default (and A1111's) is 1
                               eta=1.0 if a.sampler in ("euler_a", "dpm++2s_a") else 0.0)
    total_s = time.perf_counter() - t1
    text = "".join(logs)

    def taking(what):
        m = re.findall(what + r" completed, taking ([0-9.]+)s", text)
        return float(m[-1]) if m else None

    sampling = taking("sampling")
    steps = [b - a_ for a_, b in zip(marks, marks[1:])]
    if sampling is not None and len(marks) == a.steps:
        steps = [sampling - sum(steps)] + steps
    if a.out:
        images[0].save(a.out)
    peer_common.emit({"peer": "sdcpp", "load_s": load_s, "text_s": taking("get_learned_condition"),
                      "step_s": steps, "sampling_s": sampling, "vae_s": taking("decode_first_stage"),
                      "total_s": total_s, "image": a.out, "log_tail": text[-1500:]})


if __name__ == "__main__":
    main()
