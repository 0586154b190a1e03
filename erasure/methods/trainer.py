"""The training loop of every fine-tuning method, top to bottom.

    settings, concepts, fingerprint  ->  fresh run or resume?  ->  base pipeline, frozen text embeddings
    ->  method (SDD / ESD), AdamW, lr schedule, RNG  ->  restore the last complete checkpoint, if any
    ->  for each step: loss, finite?, backward, clip, AdamW, lr schedule, EMA; log; checkpoint every K

All randomness (z_T, t, c_p) comes from one CPU `torch.Generator` seeded with the run's seed and saved in
every checkpoint, so a resumed run continues bit for bit where an unbroken one would be (CPU, same
thread count).
"""

from __future__ import annotations

import csv
import inspect
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Callable

import torch
from tqdm import tqdm

from erasure import checkpoints as ckpt
from erasure.errors import ErasureError
from erasure.methods.base import FineTuningMethod, encode_prompts
from erasure.methods.concepts import resolve_concepts
from erasure.methods import specs
from erasure.methods.presets import Settings, fingerprint

LOG_FIELDS, SECONDS_FIELDS = ckpt.LOG_FIELDS, ckpt.SECONDS_FIELDS  # train_log.csv, train_seconds.csv


def code_digest(spec: specs.MethodSpec) -> str:
    """sha256 (first 16 hex digits) of the source that decides what a run of `spec` trains: its implementing
    module (`spec.implementation`, a plug-in's included) and this training loop. Part of a run's identity, so
    a checkpoint made by other code is never resumed: after a fix to a method's loss, a rerun of its erase job
    trains afresh instead of continuing (or, at its last step, reusing) the old weights, which nothing else
    would catch (the erase rule's script is unchanged, so Snakemake's code trigger does not fire). Helpers
    those modules import are not covered."""
    import hashlib
    import importlib.util

    digest = hashlib.sha256()
    for module in (spec.implementation.split(":")[0], __name__):
        loaded = sys.modules.get(module)
        if loaded is not None:
            origin = getattr(loaded, "__file__", None)
        else:
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                found = None
            if found is None:
                raise ErasureError(f"method {spec.name}: its implementation module {module!r} cannot be found")
            origin = found.origin
        # a module built in memory (no file: a test's) has no source to follow; its name still counts
        source = Path(origin).read_bytes() if origin and Path(origin).is_file() else b""
        digest.update(module.encode() + b"\0" + source + b"\0")
    return digest.hexdigest()[:16]


def build_method(method: str, unet, scheduler_config: dict, prompts, settings: Settings,
                 components: dict | None = None) -> FineTuningMethod:
    """The fine-tuning method `method` (its spec's implementation class) on `unet`.

    Args:
        method: a fine-tuning method's name (erasure.methods.specs.FINE_TUNED).
        unet: the diffusers UNet2DConditionModel to train (modified in place: its trained subset gets
            requires_grad).
        scheduler_config: the base pipeline's scheduler config (the z_t sampler's DDIM is built from it).
        prompts: frozen text embeddings (erasure.methods.base.Prompts), each [1, L, D].
        settings: the resolved settings (erasure.methods.presets.resolve_settings).
        components: the base pipeline's components (unet, text_encoder, tokenizer, vae, scheduler_config),
            passed as `components=` to an implementation whose `__init__` takes it.

    Returns:
        The method, whose checkpoint roles (`state()`) are the spec's `deliverables`.

    Raises:
        ErasureError: `method` is unknown or not a fine-tuning method, or its implementation writes other
            checkpoint roles than its spec's deliverables.
    """
    spec = specs.get(method, specs.FINE_TUNING)
    cls = spec.implementation_object()
    extra = {"components": dict(components or {})} if "components" in inspect.signature(cls).parameters else {}
    built = cls(unet, scheduler_config, prompts, settings, method=method, **extra)
    roles = set(built.state())
    if roles != set(spec.deliverables):
        raise ErasureError(f"method {method!r}: {spec.implementation} checkpoints {sorted(roles)}, its spec "
                           f"(erasure.methods.specs) says deliverables {list(spec.deliverables)}")
    return built


def _trained_summary(trainable: dict, components: dict) -> str:
    """"N of M UNet parameters" (and the same for each other component a method trains)."""
    from erasure.methods.base import split_key

    counts: dict[str, int] = {}
    for key, param in trainable.items():
        component = split_key(key)[0]
        counts[component] = counts.get(component, 0) + param.numel()
    names = {"unet": "UNet", "text_encoder": "text encoder"}
    return ", ".join(f"{n:,} of {sum(p.numel() for p in components[c].parameters()):,} {names.get(c, c)} parameters"
                     for c, n in counts.items()) or "no parameters"


def make_optimizer(params: list[torch.nn.Parameter], settings: Settings, iterations: int):
    from diffusers.optimization import get_scheduler

    # fused AdamW (one kernel) only with a lower-precision setting on a GPU: fp32 keeps its exact update order
    fused = settings.precision != "fp32" and all(p.device.type == "cuda" for p in params)
    optimizer = torch.optim.AdamW(params, lr=settings.lr, betas=settings.betas, eps=settings.eps,
                                  weight_decay=settings.weight_decay, **({"fused": True} if fused else {}))
    lr_scheduler = get_scheduler(settings.lr_schedule, optimizer, num_warmup_steps=settings.warmup_steps,
                                 num_training_steps=iterations)
    return optimizer, lr_scheduler


def precision_context(method: FineTuningMethod, precision: str):
    """The loss's forward passes under `precision` (presets.Settings.precision): bf16 autocast on the trained
    weights' device, TF32 matmuls / convolutions for tf32 (CUDA only), nothing for fp32."""
    import contextlib

    device = next(iter(method.trainable.values())).device
    if precision == "tf32":  # fp32 and bf16 leave torch's flags as they are (fp32: as before this setting)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(method: FineTuningMethod, optimizer, lr_scheduler, step: int, generator: torch.Generator,
               grad_clip: float, precision: str = "fp32") -> float:
    """One update; `step` counts from 1. Returns the loss (fp32), or raises on a non-finite loss."""
    with precision_context(method, precision):
        loss = method.loss(step - 1, generator)
    loss = loss.float()
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(list(method.trainable.values()), grad_clip)
    optimizer.step()
    lr_scheduler.step()
    method.after_step()
    return loss.item()


def train(
    run_dir: str | Path,
    *,
    method: str,
    concepts,
    iterations: int,
    checkpoint_every: int,
    base_model: str,
    preset: str | None = None,
    settings: dict | None = None,
    seed: int = 0,
    results: str | Path = "results",
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    image_sets: Mapping[str, str] | None = None,
) -> list[int]:
    """Train (or resume) the run in `run_dir` up to `iterations`; return its checkpoint steps.

    Args:
        run_dir: the run's folder (results/{world}/models/{run}/): run.json (with `standins`: the stand-in
            notes of what it reads, erasure.lineage.run_notes, where there are any), train_log.csv (step, loss, lr),
            train_seconds.csv (step, cumulative seconds: wall-clock, kept out of every file a digest covers)
            and step-{NNNNNN}/ checkpoints (erasure.checkpoints). A folder made with other settings
            or another base is emptied first; one with the same settings resumes from its last complete
            checkpoint, bit for bit on the same device and thread count.
        method: a fine-tuning method (erasure.methods.specs.FINE_TUNED).
        concepts: concept strings or a named set (erasure.methods.concepts).
        iterations: optimiser steps in all; checkpoint_every: steps between checkpoints (the last is always
            kept).
        base_model: the config's base_model (erasure.models.load_base_pipeline).
        preset: a preset of the method's spec (None: its default); settings: overrides of it, by name
            (erasure.methods.presets.Settings).
        seed: seeds the one CPU generator all randomness (z_T, t, concepts) comes from.
        results: the results root (where toy:trained and the like live).
        device: "auto" | "cpu" | "cuda[:n]" (float32 on any).
        log: where messages go (default: stderr, beside the progress bar); progress: show the bar.
        image_sets: {prompt set: manifest path} of the base-model image sets the method trains on (its
            settings class's IMAGE_SETS fields; the erase rule's inputs): given to the method as
            `components["image_sets"]`; each manifest's sha256 is part of the run's identity.

    Returns:
        The steps of the run's complete checkpoints, ascending.

    Raises:
        ErasureError: an unknown method, preset, setting or concept set, a damaged checkpoint, an unreadable
            base model, or a non-finite loss (naming the step and the last good checkpoint).
    """
    run_dir = Path(run_dir)
    log = log or (lambda msg: tqdm.write(msg, file=sys.stderr))
    spec = specs.get(method, specs.FINE_TUNING)
    preset = preset or spec.default_preset
    # the spec's settings class: the trainer's Settings, or a subclass of it adding a method's own fields
    resolved = spec.settings_class().resolve_run(spec, preset, settings)
    concept_list = resolve_concepts(concepts)
    from erasure.models import load_base_pipeline
    from erasure.runtime import pick_device, ready

    pipe = load_base_pipeline(base_model, results_root=results, device=pick_device(device))
    # the base's CONTENT is part of the run's identity: a rebuilt shipped base (same name, new
    # weights) must not resume checkpoints trained on the old one
    identity = dict(method=method, preset=preset, concepts=concept_list, iterations=int(iterations),
                    checkpoint_every=int(checkpoint_every), settings=resolved.to_json(), seed=int(seed),
                    base_model=base_model, base_digest=parameter_digest(pipe.unet), code=code_digest(spec))
    if image_sets:  # absent otherwise: every other run's fingerprint stays as it was
        from erasure.io import sha256_file

        identity["image_sets"] = {name: sha256_file(path) for name, path in sorted(image_sets.items())}
    fp = fingerprint(identity)

    # 1. fresh run or resume? A run directory made with other settings or another base is replaced.
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.remove_temporaries(run_dir)
    previous = ckpt.read_run_meta(run_dir)
    if previous is not None and previous.get("fingerprint") != fp:
        log(f"{run_dir}: settings or base model changed, or the training code (fingerprint {previous.get('fingerprint')} -> {fp}); "
            f"discarding checkpoints {ckpt.complete_steps(run_dir)} and starting fresh")
        ckpt.reset_run(run_dir)
    elif previous is None and ckpt.complete_steps(run_dir):
        log(f"{run_dir}: checkpoints without run.json; starting fresh")
        ckpt.reset_run(run_dir)

    # 2. frozen prompts, method, optimiser, RNG
    prompts = encode_prompts(pipe, concept_list, resolved.retain_prompts)
    unet, scheduler_config = pipe.unet, dict(pipe.scheduler.config)
    components = {**{k: v for k, v in pipe.components.items() if k != "scheduler"}, "scheduler_config": scheduler_config,
                  **({"image_sets": dict(image_sets)} if image_sets else {})}
    del pipe
    m = build_method(method, unet, scheduler_config, prompts, resolved, components)
    optimizer, lr_scheduler = make_optimizer(list(m.trainable.values()), resolved, iterations)
    generator = torch.Generator().manual_seed(int(seed))
    # the stand-ins it reads (its base, backbones, paths in its settings, image sets): lineage, not identity
    from erasure import lineage, standins

    notes = lineage.run_notes(base_model=base_model, results=results, settings=resolved, image_sets=image_sets)
    ckpt.write_run_meta(run_dir, {**identity, "fingerprint": fp, "deliverable": m.deliverable,
                                  **({standins.RUN_KEY: notes} if notes else {})})
    zt = f", z_t from the {resolved.zt_model} model" if resolved.zt_model else ""
    log(f"{method} ({preset}; subset {resolved.trainable}{zt}) on {concept_list}: training "
        f"{_trained_summary(m.trainable, components)} for {iterations} steps" + (f"; {m.describe()}" if m.describe() else ""))

    # 3. resume from the last complete checkpoint
    start, seconds = 0, 0.0
    last = ckpt.latest_complete_step(run_dir)
    if last is not None:
        tensors, data = ckpt.load_trainer_state(run_dir, last)
        m.load_state({role: ckpt.load_weights(run_dir, last, role) for role in m.state()})
        ckpt.restore_trainer_state(optimizer, lr_scheduler, generator, tensors, data)
        start = last
        log(f"resuming from step {last}")
    ckpt.truncate_logs(run_dir, start)
    if last is not None:
        seconds = ckpt.recorded_seconds(run_dir, last, data)
    log_path, seconds_path = run_dir / ckpt.TRAIN_LOG, run_dir / ckpt.TRAIN_SECONDS

    # 4. the loop
    ready()
    bar = tqdm(total=iterations, initial=start, desc=run_dir.name, disable=not progress, file=sys.stderr,
               mininterval=2.0, dynamic_ncols=False)
    with open(log_path, "a", newline="") as handle, open(seconds_path, "a", newline="") as timings:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        clock = csv.DictWriter(timings, fieldnames=SECONDS_FIELDS)
        if handle.tell() == 0:
            writer.writeheader()
        if timings.tell() == 0:
            clock.writeheader()
        for step in range(start + 1, iterations + 1):
            tick = time.perf_counter()
            lr = lr_scheduler.get_last_lr()[0]
            try:
                loss = train_step(m, optimizer, lr_scheduler, step, generator, resolved.grad_clip,
                                  resolved.precision)
            except FloatingPointError as exc:
                raise ErasureError(
                    f"{run_dir}: non-finite {exc} at step {step}; the last good checkpoint is step "
                    f"{ckpt.latest_complete_step(run_dir) or 'none'}; lower settings.lr or raise grad clipping"
                ) from None
            seconds += time.perf_counter() - tick
            writer.writerow({"step": step, "loss": f"{loss:.6g}", "lr": f"{lr:.6g}"})
            clock.writerow({"step": step, "seconds": f"{seconds:.3f}"})
            handle.flush()
            timings.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2e}", refresh=False)
            if step % checkpoint_every == 0 or step == iterations:
                tensors, data = ckpt.trainer_state(optimizer, lr_scheduler, generator,
                                                   {"step": step, "fingerprint": fp})
                # the adapters a method added, so the loader can inject them (absent: as before issue 34)
                added = {"adapters": m.adapters} if m.adapters else {}
                ckpt.save_checkpoint(run_dir, step, m.state(), tensors, data,
                                     {"method": method, "deliverable": m.deliverable, "fingerprint": fp, **added})
    bar.close()
    return ckpt.complete_steps(run_dir)


@torch.no_grad()
def parameter_digest(model: torch.nn.Module) -> str:
    """A content digest of a model's parameters, the same on any device: per tensor, its float64 sum and
    sum of squares computed on the CPU, to 10 significant digits."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        x = tensor.detach().to("cpu", torch.float64)
        digest.update(f"{name}:{tuple(x.shape)}:{x.sum().item():.10e}:{x.square().sum().item():.10e};".encode())
    return digest.hexdigest()[:16]
