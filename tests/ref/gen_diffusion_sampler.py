"""gen_diffusion_sampler.py - references for tests/test_diffusion_sampler.c -> diffusion_sampler.safetensors

    /usr/bin/python3 -m pip download --no-deps -d /tmp/kd k-diffusion==0.1.1.post1
    PYTHONPATH=/usr/lib/python3/dist-packages /usr/bin/python3 tests/ref/gen_diffusion_sampler.py \\
        /tmp/kd/k_diffusion-0.1.1.post1-py3-none-any.whl

(PYTHONPATH picks Debian's torch 1.13 over a newer torch under /usr/local.) Only k_diffusion's
sampling.py and external.py are read out of the wheel and run; what they import but these
tests never reach (scipy, torchdiffeq, torchsde, the image utilities) is stubbed.

  alphas_cumprod, train_sigmas  ldm's SD schedule (its make_beta_schedule "linear", float64,
                                then float32) and CompVisDenoiser(model).sigmas over it
  sched_<kind>_<steps>          CompVisDenoiser.get_sigmas / get_sigmas_karras / _exponential
  s2t_sigma -> s2t_t            DiscreteSchedule.sigma_to_t;  t2s_t -> t2s_sigma: t_to_sigma
  traj_<sampler>_<schedule>_<den>  (STEPS, N): x after every step of k-diffusion's sample_*
      with the toy denoiser <den> (below), starting from x = randn(N) * sigmas[0] drawn from
      torch.Generator().manual_seed(SEED); the ancestral noise is the same generator's next
      draws (noise_sampler), which is how A1111 feeds k-diffusion and what iris's CPU rng gives.
      ddim and lcm are not in k-diffusion: ddim is A1111's ddim() update (modules/
      sd_samplers_timesteps_impl.py, eta 0: pred_x0 and dir_xt in the unscaled latent)
      re-stated here in float64 numpy over the same sigmas; lcm is A1111's sample_lcm
      (modules/sd_samplers_lcm.py) re-stated in torch. No pip package ships either.
  diffusers_ddim_*, diffusers_lcm_*  the same two samplers against diffusers' own DDIMScheduler
      (timestep_spacing "trailing", eta 0) and LCMScheduler (4 steps; its boundary-condition
      scalings switched off with timestep_scaling 1e6) on the timesteps those schedulers pick.

Toy denoisers, elementwise with per-element targets mu:
  lin: D = mu + (x - mu) / (1 + sigma^2)         (the exact denoiser for data ~ N(mu, 1))
  nl:  lin + 0.1 * tanh(x) / (1 + sigma)
"""
import hashlib
import inspect
import os
import sys
import types
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import refio  # noqa: E402

SEED, N, STEPS = 1234, 40, 10
SCHED_STEPS = [1, 2, 3, 10, 20, 25, 30]
SAMPLERS = ["euler", "euler_a", "heun", "dpm2", "dpmpp_2s_a", "dpmpp_2m", "ddim", "lcm"]
KD_FUNCS = {"euler": "sample_euler", "euler_a": "sample_euler_ancestral", "heun": "sample_heun",
            "dpm2": "sample_dpm_2", "dpmpp_2s_a": "sample_dpmpp_2s_ancestral", "dpmpp_2m": "sample_dpmpp_2m"}


def load_kdiffusion(wheel):
    """k_diffusion.sampling and .external from the wheel, nothing else of the package."""
    with zipfile.ZipFile(wheel) as z:
        src = {m: z.read(f"k_diffusion/{m}.py").decode() for m in ("sampling", "external")}
    stub = lambda name, **attrs: sys.modules.setdefault(name, types.ModuleType(name)).__dict__.update(attrs)
    unused = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("not used by these tests"))
    stub("scipy", integrate=types.SimpleNamespace(quad=unused))
    stub("scipy.integrate", quad=unused)
    stub("torchdiffeq", odeint=unused)
    stub("torchsde", BrownianTree=unused)
    try:
        import tqdm.auto  # noqa: F401 (real if installed: diffusers needs it too)
    except ImportError:
        stub("tqdm")
        stub("tqdm.auto", trange=lambda n, disable=None: range(n), tqdm=unused)
    pkg = types.ModuleType("k_diffusion")
    pkg.__path__ = []
    sys.modules["k_diffusion"] = pkg
    utils = types.ModuleType("k_diffusion.utils")  # sampling.py needs only append_dims
    utils.append_dims = lambda x, dims: x[(...,) + (None,) * (dims - x.ndim)]
    sys.modules["k_diffusion.utils"] = pkg.utils = utils
    mods = {}
    for m in ("sampling", "external"):
        mod = types.ModuleType(f"k_diffusion.{m}")
        mod.__package__ = "k_diffusion"
        sys.modules[mod.__name__] = mod
        setattr(pkg, m, mod)
        exec(compile(src[m], f"k_diffusion/{m}.py", "exec"), mod.__dict__)
        mods[m] = mod
    return mods["sampling"], mods["external"], hashlib.sha256(src["sampling"].encode()).hexdigest()


def ldm_alphas_cumprod():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    return torch.tensor(np.cumprod(1.0 - betas.numpy(), axis=0), dtype=torch.float32)


def make_denoiser(mu, kind):
    def D(x, sigma):
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
        out = mu + (x - mu) / (1 + sigma ** 2)
        if kind == "nl":
            out = out + 0.1 * torch.tanh(x) / (1 + sigma)
        return out
    return D


def ddim_a1111(D64, x, sigmas):
    """A1111's ddim() with eta 0, written on alphas_cumprod = 1 / (1 + sigma^2) in float64."""
    a = lambda s: 1.0 / (1.0 + s * s)
    xt = x * np.sqrt(a(sigmas[0]))  # its latent is the unscaled one
    out = []
    for i in range(len(sigmas) - 1):
        s, a_t, a_prev = sigmas[i], a(sigmas[i]), a(sigmas[i + 1])
        x_ve = xt / np.sqrt(a_t)
        e_t = (x_ve - D64(x_ve, s)) / s  # the eps-model the CompVis sampler would call
        pred_x0 = (xt - np.sqrt(1 - a_t) * e_t) / np.sqrt(a_t)
        xt = np.sqrt(a_prev) * pred_x0 + np.sqrt(1.0 - a_prev) * e_t
        out.append(xt / np.sqrt(a_prev))
    return np.stack(out)


def lcm_a1111(D, x, sigmas, noise):
    out = []
    for i in range(len(sigmas) - 1):
        x = D(x, sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise()
        out.append(x.clone())
    return torch.cat(out)


def main():
    assert torch.__version__.startswith("1.13"), f"torch {torch.__version__}: run with Debian's torch 1.13 (see top)"
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    import diffusers  # noqa: F401 (before the stubs below: it probes for scipy itself)
    K, E, kd_sha = load_kdiffusion(sys.argv[1])
    t = {}
    ac = ldm_alphas_cumprod()
    den = E.CompVisDenoiser(types.SimpleNamespace(alphas_cumprod=ac), quantize=False)
    t["alphas_cumprod"], t["train_sigmas"] = ac, den.sigmas
    smin, smax = den.sigmas[0].item(), den.sigmas[-1].item()
    scheds = {
        "discrete": lambda n: den.get_sigmas(n),
        "karras": lambda n: K.get_sigmas_karras(n, smin, smax),
        "exponential": lambda n: K.get_sigmas_exponential(n, smin, smax),
    }
    for kind, f in scheds.items():
        for n in SCHED_STEPS:
            t[f"sched_{kind}_{n}"] = f(n).float()

    g = torch.Generator().manual_seed(99)
    s = torch.cat([den.sigmas, torch.tensor([0.001, 0.02, 0.0291, 14.7, 20.0, 1.0, 3.0]),
                   torch.exp(torch.empty(40).uniform_(np.log(0.03), np.log(14.6), generator=g))])
    t["s2t_sigma"], t["s2t_t"] = s, den.sigma_to_t(s)
    tt = torch.cat([torch.arange(0, 1000, 37).float(), torch.tensor([0.0, 999.0, 0.5, 998.25]),
                    torch.empty(40).uniform_(0, 999, generator=g)])
    t["t2s_t"], t["t2s_sigma"] = tt, den.t_to_sigma(tt)

    mu = torch.linspace(-1.5, 1.5, N).reshape(1, N)
    t["mu"] = mu[0]
    for dname in ("lin", "nl"):
        D = make_denoiser(mu, dname)
        mu64 = mu.double().numpy()
        D64 = lambda x, s: (mu64 + (x - mu64) / (1 + s * s)
                            + (0.1 * np.tanh(x) / (1 + s) if dname == "nl" else 0))
        for kind, f in scheds.items():
            sig = f(STEPS).float()
            for name in SAMPLERS:
                gen = torch.Generator().manual_seed(SEED)
                x = torch.randn((1, N), generator=gen) * sig[0]
                noise = lambda *_: torch.randn((1, N), generator=gen)
                if name in KD_FUNCS:
                    steps = []
                    cb = lambda d: steps.append(d["x"].clone()) if d["i"] > 0 else None
                    fn = getattr(K, KD_FUNCS[name])
                    kw = {"noise_sampler": noise} if "noise_sampler" in inspect.signature(fn).parameters else {}
                    x = fn(lambda x, s, **_: D(x, s), x, sig, callback=cb, disable=True, **kw)
                    traj = torch.cat(steps + [x])
                elif name == "ddim":
                    traj = torch.tensor(ddim_a1111(D64, x.double().numpy(), sig.double().numpy()).reshape(STEPS, N))
                else:
                    traj = lcm_a1111(D, x, sig, noise)
                t[f"traj_{name}_{kind}_{dname}"] = traj.float()

    # two more ancestral cases: eta 0 (noise drawn, not added) and eta 0.7
    D = make_denoiser(mu, "nl")
    for name, fn, eta in (("euler_a", K.sample_euler_ancestral, 0.0), ("dpmpp_2s_a", K.sample_dpmpp_2s_ancestral, 0.7)):
        sig = scheds["karras"](STEPS).float()
        gen = torch.Generator().manual_seed(SEED)
        x = torch.randn((1, N), generator=gen) * sig[0]
        x = fn(lambda x, s, **_: D(x, s), x, sig, disable=True, eta=eta,
               noise_sampler=lambda *_: torch.randn((1, N), generator=gen))
        t[f"eta_{name}_{int(eta * 10)}"] = x[0]

    diffusers_checks(t, mu, ac)
    meta = {"seed": SEED, "n": N, "steps": STEPS, "k_diffusion_sampling_sha256": kd_sha, "torch": torch.__version__}
    out = os.path.join(os.path.dirname(__file__), "diffusion_sampler.safetensors")
    refio.save(out, t, meta)
    print("wrote", out, sum(np.asarray(v).size for v in t.values()), "floats")


def diffusers_checks(t, mu, ac):
    """DDIM and LCM by diffusers' schedulers on their own timesteps; the eps model wraps D."""
    from diffusers import DDIMScheduler, LCMScheduler
    D = make_denoiser(mu, "nl")
    sig_t = ((1 - ac) / ac) ** 0.5

    def eps(x_vp, ts):
        a, s = ac[ts], sig_t[ts]
        x = x_vp / a.sqrt()
        return (x - D(x, s)) / s

    def run(sched, steps, name):
        sched.alphas_cumprod = ac.clone()
        sched.set_timesteps(steps)
        ts = sched.timesteps
        gen = torch.Generator().manual_seed(SEED)
        x_vp = torch.randn((1, N), generator=gen)
        x0 = x_vp / ac[ts[0]].sqrt()  # the same latent in k-diffusion's scaling
        for tstep in ts:
            x_vp = sched.step(eps(x_vp, int(tstep)), tstep, x_vp, generator=gen, **({"eta": 0.0} if name == "ddim" else {})).prev_sample
        t[f"diffusers_{name}_sigmas"] = torch.cat([sig_t[ts.long()], torch.zeros(1)])
        t[f"diffusers_{name}_x0"] = x0[0]
        t[f"diffusers_{name}_out"] = x_vp[0]  # the last step lands on alpha = 1: both scalings agree
    cfg = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
               set_alpha_to_one=True, clip_sample=False, prediction_type="epsilon")
    run(DDIMScheduler(**cfg, timestep_spacing="trailing"), STEPS, "ddim")
    run(LCMScheduler(**cfg, timestep_scaling=1e6), 4, "lcm")


if __name__ == "__main__":
    main()
