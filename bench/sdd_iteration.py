"""SDD iteration time, split into z_t sampling, train step and EMA update, against its compute floor.

    python bench/sdd_iteration.py --world toy [--base auto|shipped|micro|DIR] [--threads 1]
    python bench/sdd_iteration.py --world sd --device cuda --variant fp32 --variant bf16+ckpt ...
    python bench/sdd_iteration.py --world sd --reduced          # CPU: SD v1.4 UNet, 16x16 latents, one step

The iteration is the library's own (erasure.methods: SDD.sample / SDD.loss_at / SDD.after_step, AdamW
and the lr schedule of erasure.methods.trainer), timed piecewise from outside:

    sample   z_t: K DDIM steps of the EMA teacher with CFG (K = T - index; one batched 2B forward per step)
    train    loss_at (student forward without grad on c_0, student forward on c_s, MSE), zero_grad,
             backward, gradient clipping, AdamW step, lr schedule step
    ema      θ* ← m θ* + (1 − m) θ over the trained parameters

The compute FLOOR is the same UNet calls timed alone, back to back, in the same repeat: K teacher
forwards at batch 2B (2K at batch B with --variant ...+split-cfg), one student forward at batch B without
grad, one student forward + backward at batch B. ratio = iteration / floor. Breakdown repeats use a fixed
K (default: the mean trajectory length (T+1)/2); `library` rows time trainer.train_step itself with the
random t it draws, each against the floor of its own K (K predicted from a copy of the generator).

Variants (GPU options, "+"-joined): fp32 | bf16 | fp16 (autocast), classic-attn (diffusers AttnProcessor
instead of SDPA), split-cfg (two forwards per sampler step instead of one batched), channels-last,
compile (torch.compile of teacher and student), ckpt (gradient checkpointing of the student),
frozen16 (frozen weights stored in fp16/bf16, trained attn2 weights fp32; needs autocast),
adam8bit (bitsandbytes AdamW8bit, if importable).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _models as M  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
FLAGS = ("classic-attn", "split-cfg", "channels-last", "compile", "ckpt", "frozen16", "adam8bit", "tf32")


def parse_variant(text: str) -> dict:
    parts = [p for p in text.split("+") if p]
    opts = {"name": text, "dtype": "fp32", **{f: False for f in FLAGS}}
    for part in parts:
        if part in DTYPES:
            opts["dtype"] = part
        elif part in FLAGS:
            opts[part] = True
        else:
            raise SystemExit(f"--variant {text!r}: unknown option {part!r} (known: {', '.join((*DTYPES, *FLAGS))})")
    if opts["frozen16"] and opts["dtype"] == "fp32":
        raise SystemExit(f"--variant {text!r}: frozen16 needs autocast (bf16 or fp16)")
    return opts


def autocast(device: torch.device, opts: dict):
    # tf32: fp32 weights and activations, matmuls and convolutions on TF32 tensor cores (a no-op off Ampere+)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(opts.get("tf32"))
    if opts["dtype"] == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[opts["dtype"]])


# --- the model and the method ------------------------------------------------------------------------

def build_world(args, device):
    """(unet, scheduler_config, prompts, settings overrides, concepts, label)."""
    from erasure.methods.base import Prompts, encode_prompts

    if args.world == "toy":
        base_dir, label = M.toy_base_dir(args.base)
        pipe = M.toy_pipeline(base_dir, device=device)
        run = M.toy_run_settings()
        prompts = encode_prompts(pipe, run["concepts"])
        unet, sched = pipe.unet, dict(pipe.scheduler.config)
        return unet, sched, prompts, run["settings"], run["preset"], label
    arch = args.arch
    unet = M.random_unet(arch, latent=args.latent, device=device)
    dim = unet.config.cross_attention_dim
    g = torch.Generator().manual_seed(0)
    emb = [torch.randn(1, 77, dim, generator=g).to(device) for _ in range(3)]
    prompts = Prompts(uncond=emb[0], concepts=[emb[1]], joined=emb[2], retain=[])
    label = f"{'SD v1.4' if arch == 'sd14' else 'tiny SD-architecture (code path only)'} UNet, random weights, " \
            f"{args.latent}x{args.latent} latents ({args.latent * 8} px)"
    return unet, dict(M.SD14_SCHEDULER), prompts, {}, "paper", label


def build_method(args, opts, device):
    from erasure.methods.presets import resolve_settings
    from erasure.methods.sdd import SDD
    from erasure.methods.trainer import make_optimizer

    unet, sched, prompts, overrides, preset, label = build_world(args, device)
    overrides = dict(overrides)
    if args.batch:
        overrides["batch_size"] = args.batch
    if args.steps:
        overrides["sampling_steps"] = args.steps
    settings = resolve_settings("sdd", preset, overrides)
    unet.train(False)
    if opts["classic-attn"]:
        from diffusers.models.attention_processor import AttnProcessor

        unet.set_attn_processor(AttnProcessor())
    if opts["channels-last"]:
        unet.to(memory_format=torch.channels_last)
    if opts["ckpt"]:
        unet.enable_gradient_checkpointing()
    m = SDD(unet, sched, prompts, settings)
    if opts["frozen16"]:
        low = DTYPES[opts["dtype"]]
        for p in m.student.parameters():  # frozen parameters are shared with the teacher: both change
            if not p.requires_grad:
                p.data = p.data.to(low)
    if opts["compile"]:
        m.student.compile()
        m.teacher.compile()
    params = list(m.trainable.values())
    if opts["adam8bit"]:
        import bitsandbytes as bnb  # noqa: F401 - ImportError is reported by the caller
        from diffusers.optimization import get_scheduler

        optimizer = bnb.optim.AdamW8bit(params, lr=settings.lr, betas=settings.betas, eps=settings.eps,
                                        weight_decay=settings.weight_decay)
        lr_scheduler = get_scheduler(settings.lr_schedule, optimizer, num_warmup_steps=settings.warmup_steps,
                                     num_training_steps=10_000)
    else:
        optimizer, lr_scheduler = make_optimizer(params, settings, 10_000)
    return m, optimizer, lr_scheduler, settings, label


@torch.no_grad()
def sample_zt_split(unet, scheduler, cond, uncond, *, index, guidance, batch_size, generator):
    """erasure.methods.zt_sampler.sample_zt with CFG as two forwards per step (the 'off' side of batched CFG)."""
    from erasure.methods.zt_sampler import landing_timestep
    from erasure.worlds.families import predict

    n_steps = scheduler.num_inference_steps
    cfg = unet.config
    z = torch.randn((batch_size, cfg.in_channels, cfg.sample_size, cfg.sample_size), generator=generator)
    z = z.to(device=cond.device, dtype=cond.dtype) * scheduler.init_noise_sigma
    c, u = cond.expand(batch_size, -1, -1), uncond.expand(batch_size, -1, -1)
    t = int(scheduler.timesteps[0])
    for tau in scheduler.timesteps[: n_steps - index]:
        tau = int(tau)
        eps_uncond = predict(unet, z, tau, u)
        eps_cond = predict(unet, z, tau, c)
        z = scheduler.step(eps_uncond + guidance * (eps_cond - eps_uncond), tau, z).prev_sample
        t = landing_timestep(scheduler, tau)
    return z, t


# --- timing -----------------------------------------------------------------------------------------

def run_variant(args, opts, device) -> dict:
    from erasure.methods.base import draw
    from erasure.methods.zt_sampler import sample_zt
    from erasure.methods.trainer import train_step

    C.reset_peak_memory(device)
    m, optimizer, lr_scheduler, s, label = build_method(args, opts, device)
    weights_gb = torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else None
    p = m.prompts
    T, B = s.sampling_steps, s.batch_size
    K = args.fixed_steps or (T + 1) // 2
    index = T - K
    sampler = sample_zt_split if opts["split-cfg"] else sample_zt
    trainable = list(m.trainable.values())
    ac = lambda: autocast(device, opts)  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    cfg = m.student.config
    shape = (B, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    z = torch.randn(shape, generator=gen).to(device)
    zz = torch.cat([z, z])
    ctx2 = torch.cat([p.uncond.expand(B, -1, -1), p.concepts[0].expand(B, -1, -1)])
    u, c_s = p.uncond.expand(B, -1, -1), p.joined.expand(B, -1, -1)
    target = torch.zeros(shape, device=device)
    t_mid = int(m.scheduler.timesteps[index])

    from erasure.worlds.families import predict

    def floor_once(k: int, sw: C.Stopwatch) -> None:
        """The same UNet calls as one iteration with a k-step trajectory, alone, back to back."""
        with sw("floor_teacher"), torch.no_grad(), ac():
            if opts["split-cfg"]:
                for _ in range(k):
                    predict(m.teacher, z, t_mid, u)
                    predict(m.teacher, z, t_mid, ctx2[B:])
            else:
                for _ in range(k):
                    predict(m.teacher, zz, t_mid, ctx2)
        with sw("floor_student_nograd"), torch.no_grad(), ac():
            predict(m.student, z, t_mid, u)
        for q in trainable:
            q.grad = None
        with sw("floor_student_fwd_bwd"):
            with ac():
                out = predict(m.student, z, t_mid, c_s)
            F.mse_loss(out.float(), target).backward()
        for q in trainable:
            q.grad = None

    sw = C.Stopwatch(device)
    n_warm, n_rep = args.warmup, args.repeats
    for rep in range(n_warm + n_rep):
        step = rep + 1
        # the iteration, piecewise (library functions)
        with sw("sample"):
            with ac():
                z_t, t = sampler(m.teacher, m.scheduler, p.concepts[0], p.uncond, index=index, guidance=s.guidance,
                                 batch_size=B, generator=gen)
        with sw("train"):
            with ac():
                loss = m.loss_at(z_t, t, step, gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if s.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(trainable, s.grad_clip)
            optimizer.step()
            lr_scheduler.step()
        with sw("ema"):
            m.after_step()
        floor_once(K, sw)
    times = {k: v[n_warm:] for k, v in sw.times.items()}
    n = len(times["sample"])
    iteration = [times["sample"][i] + times["train"][i] + times["ema"][i] for i in range(n)]
    floor = [times["floor_teacher"][i] + times["floor_student_nograd"][i] + times["floor_student_fwd_bwd"][i]
             for i in range(n)]
    ratios = [a / b for a, b in zip(iteration, floor)]
    rows = [{"variant": opts["name"], "name": k, **C.summarize(v, warmup=n_warm)} for k, v in times.items()]
    rows.append({"variant": opts["name"], "name": "iteration", **C.summarize(iteration, warmup=n_warm)})
    rows.append({"variant": opts["name"], "name": "floor", **C.summarize(floor, warmup=n_warm)})
    med = lambda k: C.quantiles(times[k])["median_s"]  # noqa: E731
    summary = {
        "variant": opts["name"], "label": label, "batch": B, "sampling_steps_T": T, "trajectory_steps_K": K,
        "guidance": s.guidance, "n_trained_params": sum(q.numel() for q in trainable),
        "n_unet_params": sum(q.numel() for q in m.student.parameters()),
        "iteration_median_s": C.quantiles(iteration)["median_s"], "floor_median_s": C.quantiles(floor)["median_s"],
        "ratio_median": C.quantiles(ratios)["median_s"], "ratio_q1": C.quantiles(ratios)["q1_s"],
        "ratio_q3": C.quantiles(ratios)["q3_s"],
        "sample_overhead_per_step_s": (med("sample") - med("floor_teacher")) / K,
        "train_overhead_s": med("train") - med("floor_student_nograd") - med("floor_student_fwd_bwd"),
        "ema_s": med("ema"),
        "teacher_forward_s": med("floor_teacher") / K,
    }
    if device.type == "cuda":
        summary["peak_memory_gb"] = C.peak_memory_gb(device)
        summary["weights_etc_memory_gb"] = weights_gb

    # the library's own iteration (trainer.train_step), random t, each against the floor of its K
    if args.library_iters and not opts["split-cfg"]:
        lib, lib_floor, ks = [], [], []
        for i in range(args.library_iters):
            probe = torch.Generator().manual_seed(0)
            probe.set_state(gen.get_state())
            k = T - draw(T, probe)  # the trajectory length train_step is about to draw
            C.sync(device)
            tick = time.perf_counter()
            with ac():
                train_step(m, optimizer, lr_scheduler, 10_000 + i, gen, s.grad_clip)
            C.sync(device)
            lib.append(time.perf_counter() - tick)
            fl = C.Stopwatch(device)
            floor_once(k, fl)
            lib_floor.append(sum(v[0] for v in fl.times.values()))
            ks.append(k)
        rows.append({"variant": opts["name"], "name": "library_train_step", **C.summarize(lib)})
        rows.append({"variant": opts["name"], "name": "library_floor", **C.summarize(lib_floor)})
        summary.update({"library_iters": len(lib), "library_mean_K": sum(ks) / len(ks),
                        "library_ratio_total": sum(lib) / sum(lib_floor),
                        "library_ratio_median": C.quantiles([a / b for a, b in zip(lib, lib_floor)])["median_s"],
                        "library_ks": ks})
    if args.components and device.type == "cpu" and opts["dtype"] == "fp32":
        comp = components(m, optimizer, lr_scheduler, s, z, device, args)
        summary["components"] = comp
        per_step = comp["scheduler_step"] + comp["cfg_cat_chunk_combine"]
        fixed = (comp["draw_zT"] + comp["adamw_step"] + comp["clip_grad_norm"] + comp["zero_grad"]
                 + comp["lr_schedule_step"] + comp["ema_update"] + comp["mse_loss"])
        overhead = K * per_step + fixed
        summary["overhead_budget"] = {
            "per_sampler_step_s": per_step, "per_iteration_fixed_s": fixed, "total_at_K_s": overhead,
            "floor_at_K_s": summary["floor_median_s"],
            "predicted_ratio": (summary["floor_median_s"] + overhead) / summary["floor_median_s"],
            "note": "non-UNet work timed piece by piece (noise-robust); ratio_median is the direct measurement"}
    return {"rows": rows, "summary": summary}


def components(m, optimizer, lr_scheduler, s, z, device, args) -> dict:
    """The non-UNet work of one iteration, each piece timed alone (per call): where overhead can hide."""
    rep = dict(warmup=3, repeats=max(20, args.repeats * 4), device=device)
    eps = torch.randn_like(z)
    tau = int(m.scheduler.timesteps[len(m.scheduler.timesteps) // 2])
    out = {}
    out["scheduler_step"] = C.timeit(lambda: m.scheduler.step(eps, tau, z), **rep)["median_s"]
    e2 = torch.cat([eps, eps])

    def cfg_glue():
        zz = torch.cat([z, z])
        eu, ec = e2.chunk(2)
        return zz, eu + s.guidance * (ec - eu)
    out["cfg_cat_chunk_combine"] = C.timeit(cfg_glue, **rep)["median_s"]
    g = torch.Generator().manual_seed(1)
    out["draw_zT"] = C.timeit(lambda: torch.randn(z.shape, generator=g).to(device), **rep)["median_s"]
    trainable = list(m.trainable.values())
    for q in trainable:
        q.grad = torch.zeros_like(q)
    out["clip_grad_norm"] = C.timeit(lambda: torch.nn.utils.clip_grad_norm_(trainable, s.grad_clip), **rep)["median_s"]
    out["adamw_step"] = C.timeit(optimizer.step, **rep)["median_s"]
    out["zero_grad"] = C.timeit(lambda: [setattr(q, "grad", torch.zeros_like(q)) for q in trainable] and
                                optimizer.zero_grad(set_to_none=True), **rep)["median_s"]
    out["lr_schedule_step"] = C.timeit(lr_scheduler.step, **rep)["median_s"]
    out["ema_update"] = C.timeit(m.after_step, **rep)["median_s"]
    out["mse_loss"] = C.timeit(lambda: F.mse_loss(eps, z), **rep)["median_s"]
    # how much of one UNet forward is Python/dispatch rather than arithmetic: the profiler's op self-time
    out["unet_forward_profile"] = profile_forward(m, z, device)
    return out


def profile_forward(m, z, device) -> dict:
    from torch.profiler import ProfilerActivity, profile

    from erasure.worlds.families import predict

    zz = torch.cat([z, z])
    ctx = torch.cat([m.prompts.uncond.expand(z.shape[0], -1, -1), m.prompts.concepts[0].expand(z.shape[0], -1, -1)])
    with torch.no_grad():
        for _ in range(2):
            predict(m.teacher, zz, 500, ctx)
        tick = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            predict(m.teacher, zz, 500, ctx)
        wall_profiled = time.perf_counter() - tick
        wall = C.timeit(lambda: predict(m.teacher, zz, 500, ctx), warmup=1, repeats=10)["median_s"]
    events = prof.key_averages()
    # arithmetic kernels: matmuls, convolutions, norms, softmax / attention, elementwise
    heavy = ("conv", "mm", "addmm", "bmm", "linear", "matmul", "group_norm", "layer_norm", "native_group_norm",
             "native_layer_norm", "softmax", "scaled_dot_product", "_flash", "baddbmm", "gelu", "silu", "mul", "add")
    total_self = sum(e.self_cpu_time_total for e in events) / 1e6
    n_ops = sum(e.count for e in events)
    kernels = sum(e.self_cpu_time_total for e in events if any(h in e.key for h in heavy)) / 1e6
    return {"wall_s": wall, "profiled_wall_s": wall_profiled, "aten_self_total_s": total_self,
            "aten_heavy_self_s": kernels, "aten_op_calls": n_ops,
            "n_modules": sum(1 for _ in m.teacher.modules())}


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--world", choices=("toy", "sd"), default="toy")
    parser.add_argument("--base", default="auto", help="toy base: auto | shipped | micro | DIR")
    parser.add_argument("--arch", choices=tuple(M.ARCHS), default="sd14", help="sd world: sd14 | tiny (tests)")
    parser.add_argument("--latent", type=int, default=64, help="sd world: latent size (64 = 512 px)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=0, help="override settings.batch_size (toy: config's run)")
    parser.add_argument("--steps", type=int, default=0, help="override settings.sampling_steps T")
    parser.add_argument("--fixed-steps", type=int, default=0, help="K DDIM steps per breakdown repeat (default (T+1)//2)")
    parser.add_argument("--library-iters", type=int, default=None,
                        help="trainer.train_step iterations with random t (default 20; reduced: toy 2, sd 0)")
    parser.add_argument("--variant", action="append", default=None, help="see module doc; repeatable")
    parser.add_argument("--no-components", dest="components", action="store_false")
    args = parser.parse_args(argv)
    if args.reduced:
        if args.world == "sd":
            args.latent = min(args.latent, 16)
            args.fixed_steps = args.fixed_steps or 2
            args.library_iters = 0 if args.library_iters is None else args.library_iters
            args.repeats, args.warmup = 1, 0
        else:
            args.repeats, args.warmup = min(args.repeats, 2), 0
            args.library_iters = 2 if args.library_iters is None else args.library_iters
    if args.library_iters is None:
        args.library_iters = 20
    C.apply_threads(args.threads)
    device = torch.device(args.device)
    variants = args.variant or ["fp32"]
    results, summaries, notes = [], [], []
    for text in variants:
        opts = parse_variant(text)
        try:
            out = run_variant(args, opts, device)
        except Exception as exc:  # noqa: BLE001 - one failing variant must not lose the others
            if os.environ.get("BENCH_DEBUG"):
                raise
            notes.append(f"variant {text}: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        results += out["rows"]
        summaries.append(out["summary"])
        if args.json:  # after every variant, so a run cut short by a timeout keeps what it measured
            C.write_json(C.document("sdd_iteration", args, results, notes + ["partial"], summary=summaries), args.json)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.world == "sd" and args.arch == "tiny":
        notes.append("arch tiny: a shrunken SD-architecture UNet to test code paths; its times mean nothing")
    doc = C.document("sdd_iteration", args, results, notes, summary=summaries)
    C.emit(doc, ["variant", "name", "median_s", "q1_s", "q3_s", "repeats"], args.json)
    cols = ["variant", "iteration_median_s", "floor_median_s", "ratio_median", "library_ratio_total",
            "sample_overhead_per_step_s", "train_overhead_s", "ema_s", "peak_memory_gb"]
    print(C.table(summaries, cols), file=sys.stderr)
    return doc


if __name__ == "__main__":
    main()
