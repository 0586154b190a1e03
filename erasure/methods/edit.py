"""Closed-form edits (UCE, RECE) as runs: one job writes the edited weights as checkpoints of the same format
(`erasure.checkpoints.save_checkpoint`, role: the spec's deliverable, `model`) that a fine-tuning run writes, so `{run}@{step}`
loads through `load_method_pipeline` and generation, scoring and the report need nothing new.

A run's step counts edits applied:

    uce    iterations: 1       step 1 = the UCE edit
    rece   iterations: R + 1   step 1 = the UCE stage (RECE's round 0), step r + 1 = after RECE round r

(RECE's authors' default is 5 rounds: `iterations: 6`; `rece-x@1` equals a `uce` run with the same preset
and preserved concepts.) `checkpoint_every` picks which steps are written (the last always is).

Settings (config `runs.<run>.settings`): `preserve` (concepts kept, names or prompts as `concepts`) and
`guide` for both; UCE: any `UCESettings` field, over the preset (`paper`, the default, or `current`:
erasure/methods/uce.py); RECE: any `RECESettings` field except `rounds` (given by `iterations`), with
`preset` naming its stage-0 UCE preset.

The interface a closed-form method implements (its spec's `implementation`, one module per method):

    edit(components, concepts, settings, preserve) -> [Edit({component: {parameter name: tensor}}, loss), ...]

`components` are the base pipeline's (`unet`, `text_encoder`, `tokenizer`, ...), with `world` and
`caption_stats` ({caption prompt set: statistics file} of the settings class's CAPTION_SETS fields), `concepts` and `preserve`
prompt strings, `settings` the method's settings dataclass as its `resolve_run` made it (the spec's
`settings`); one Edit per step, in order. Nothing here names a method: the step rule is the settings class's
`check_iterations`, the settings its `resolve_run`. Checkpoints hold the UNet's tensors today (role: the
spec's deliverable); an edit of another component is refused with one line until checkpoints carry
components.

Nothing to resume: an edit takes seconds (toy) to a minute (SD v1.4 on a CPU; MACE, whose spec says
`edit_gpu`, minutes on the GPU its job asks for), so every job starts fresh.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from erasure.errors import ErasureError
from erasure.methods import specs
from erasure.methods.concepts import resolve_concepts

CLOSED_FORM = specs.names(specs.CLOSED_FORM)
# what a run's settings may hold besides its method's settings fields: the concepts kept (every closed-form edit)
PRESERVE = "preserve"


@dataclass
class Edit:
    """One step of a closed-form edit: `weights` {component ("unet") → {parameter name → tensor}}, in the
    component's dtype on the CPU; `loss` the step's loss for train_log.csv (None: none)."""

    weights: dict
    loss: float | None = None


def edit_steps(method: str, iterations: int, checkpoint_every: int) -> list[int]:
    """The checkpoint steps a closed-form run writes. Raises ErasureError when `iterations` does not fit
    the method (its settings class's `check_iterations`: UCE is one edit; RECE needs the UCE stage and at
    least one round)."""
    specs.get(method, specs.CLOSED_FORM).settings_class().check_iterations(int(iterations))
    return [s for s in range(1, iterations + 1) if s % checkpoint_every == 0 or s == iterations]


def resolve_edit(method: str, preset: str | None, settings: Mapping | None, iterations: int | None = None):
    """(settings object, preserved prompts): the method's settings class's `resolve_run` on the preset and
    overrides (and `iterations`, where it sets them). Raises ErasureError for an unknown method, preset or
    setting, or a method of another kind."""
    spec = specs.get(method, specs.CLOSED_FORM)
    settings = dict(settings or {})
    preserve = resolve_concepts(settings.pop(PRESERVE)) if settings.get(PRESERVE) else []
    return spec.settings_class().resolve_run(spec, preset, settings, iterations), preserve


def edit(
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
    caption_stats: Mapping[str, str | Path] | None = None,
    log: Callable[[str], None] = print,
) -> list[int]:
    """Apply closed-form method `method` to the base model (its spec's `implementation`, with the interface
    above) and write the checkpoints `edit_steps` names into `run_dir` (replacing whatever was there), with
    run.json, train_log.csv (step, loss, lr: loss as the method gives it, e.g. RECE's adversarial loss
    Σ‖W'c' − Wc‖² of the round's c', empty for the UCE stage) and train_seconds.csv (one row, the last step:
    the whole edit's seconds, model loading excluded, as `rece` returns all rounds at once; a side file no
    digest covers, erasure.checkpoints). `caption_stats` {caption prompt set: statistics file} (rule
    caption_stats; MACE's prior cache; default: erasure.paths.caption_stats under `results` for each set the
    settings name, `erasure.methods.settings.caption_sets`) rides along in the components, its files' sha256 in
    run.json. run.json lists under `standins` the stand-in notes of what the edit reads
    (erasure.lineage.run_notes), where there are any. Returns the steps written. `seed` is recorded only (the
    edit is deterministic). Raises ErasureError for bad settings or concepts, or an edit of a component other than
    the UNet."""
    from erasure import checkpoints as ckpt
    from erasure import lineage, standins, worlds
    from erasure.methods.presets import fingerprint
    from erasure.methods.trainer import LOG_FIELDS, parameter_digest
    from erasure.models import load_base_pipeline
    from erasure.runtime import pick_device, ready

    spec = specs.get(method, specs.CLOSED_FORM)
    deliverable = spec.deliverable
    steps = edit_steps(method, int(iterations), int(checkpoint_every))
    resolved, preserve = resolve_edit(method, preset, settings, int(iterations))
    world = worlds.world_for(base_model)
    if caption_stats is None:
        from erasure import paths
        from erasure.methods.settings import caption_sets

        caption_stats = {name: paths.caption_stats(results, world.name, name) for name in caption_sets(resolved)}
    concept_list = resolve_concepts(concepts)
    pipe = load_base_pipeline(base_model, results_root=results, device=pick_device(device))
    identity = dict(method=method, preset=preset or spec.default_preset, concepts=concept_list,
                    preserve=preserve, iterations=int(iterations), checkpoint_every=int(checkpoint_every),
                    settings=resolved.to_json(), seed=int(seed), base_model=base_model,
                    base_digest=parameter_digest(pipe.unet))
    if caption_stats:
        from erasure.io import cached_sha256

        # a missing file is the method's one line (MACE: settings.prior), not a traceback here
        identity["caption_stats"] = {name: cached_sha256(path) if Path(path).is_file() else None
                                     for name, path in sorted(caption_stats.items())}
    fp = fingerprint(identity)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.reset_run(run_dir)
    # the stand-ins it reads (its base, backbones as resolved, paths in its settings): lineage, not identity
    notes = lineage.run_notes(base_model=base_model, results=results, settings=resolved)
    ckpt.write_run_meta(run_dir, {**identity, "fingerprint": fp, "deliverable": deliverable,
                                  **({standins.RUN_KEY: notes} if notes else {})})

    ready()
    tick = time.perf_counter()
    # the base's world rides along: a method that needs concept regions asks it (MACE: World.concept_masks)
    # and so do the caption statistics a method reads (MACE's prior-preservation cache: settings.prior)
    components = {**pipe.components, "world": world,
                  "caption_stats": {name: str(path) for name, path in (caption_stats or {}).items()}}
    edits = spec.implementation_object()(components, concept_list, resolved, preserve)
    seconds = time.perf_counter() - tick
    if len(edits) != int(iterations):
        raise ErasureError(f"method {method}: {spec.implementation} returned {len(edits)} edits for "
                           f"iterations: {iterations}")
    for one in edits:
        if set(one.weights) != {"unet"}:
            raise ErasureError(f"method {method}: {spec.implementation} edits {', '.join(sorted(one.weights))}; "
                               "checkpoints of a closed-form run hold the UNet's tensors only")
    n_tensors = sum(len(t) for t in edits[0].weights.values())
    log(f"{method} ({identity['preset']}) on {concept_list}, preserving {preserve or 'the preset default'}: "
        f"{len(edits)} edit(s) of {n_tensors} matrices in {seconds:.2f} s")

    with open(run_dir / ckpt.TRAIN_LOG, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for step, one in enumerate(edits, start=1):
            writer.writerow({"step": step, "loss": "" if one.loss is None else f"{one.loss:.6g}", "lr": ""})
    with open(run_dir / ckpt.TRAIN_SECONDS, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ckpt.SECONDS_FIELDS)
        writer.writeheader()
        writer.writerow({"step": len(edits), "seconds": f"{seconds:.3f}"})
    for step in steps:
        ckpt.save_checkpoint(run_dir, step, {deliverable: edits[step - 1].weights["unet"]}, {},
                             {"step": step, "fingerprint": fp},
                             {"method": method, "deliverable": deliverable, "fingerprint": fp})
    return ckpt.complete_steps(run_dir)
