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

Nothing to resume: an edit takes seconds (toy) to a minute (SD v1.4 on a CPU), so every job starts fresh.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from erasure.errors import ErasureError
from erasure.methods import specs
from erasure.methods.concepts import resolve_concepts

CLOSED_FORM = specs.names(specs.CLOSED_FORM)


def edit_steps(method: str, iterations: int, checkpoint_every: int) -> list[int]:
    """The checkpoint steps a closed-form run writes. Raises ErasureError when `iterations` does not fit
    the method (UCE is one edit; RECE needs the UCE stage and at least one round)."""
    if method == "uce" and iterations != 1:
        raise ErasureError(f"iterations: {iterations}: a uce run is one edit; set iterations: 1, checkpoint_every: 1")
    if method == "rece" and iterations < 2:
        raise ErasureError(f"iterations: {iterations}: a rece run is the UCE stage plus rounds; "
                           "set iterations to rounds + 1 (the authors' 5 rounds: 6)")
    return [s for s in range(1, iterations + 1) if s % checkpoint_every == 0 or s == iterations]


def resolve_edit(method: str, preset: str | None, settings: Mapping | None):
    """(settings object, preserved prompts): `UCESettings` / `RECESettings` from the preset and overrides.
    Raises ErasureError for an unknown method, preset or setting."""
    from erasure.methods.rece import resolve_rece_settings
    from erasure.methods.uce import resolve_uce_settings

    settings = dict(settings or {})
    preserve = resolve_concepts(settings.pop("preserve")) if settings.get("preserve") else []
    preset = preset or (specs.SPECS[method].default_preset if method in CLOSED_FORM else None)
    if method == "uce":
        return resolve_uce_settings(preset, settings), preserve
    if method == "rece":
        if "rounds" in settings:
            raise ErasureError("settings.rounds: a rece run's rounds are iterations - 1; set iterations instead")
        return resolve_rece_settings({**settings, "uce_preset": preset}), preserve
    raise ErasureError(f"method {method!r}: not a closed-form edit (known: {', '.join(CLOSED_FORM)})")


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
    log: Callable[[str], None] = print,
) -> list[int]:
    """Edit the base model's attn2 to_k / to_v in closed form and write the checkpoints `edit_steps` names
    into `run_dir` (replacing whatever was there), with run.json, train_log.csv (step, loss, lr: loss is
    RECE's adversarial loss Σ‖W'c' − Wc‖² of the round's c', empty for the UCE stage) and train_seconds.csv
    (one row, the last step: the whole edit's seconds, model loading excluded, as `rece` returns all rounds at
    once; a side file no digest covers, erasure.checkpoints). Returns the steps written. `seed` is
    recorded only (the edit is deterministic). Raises ErasureError for bad settings or concepts."""
    from erasure import checkpoints as ckpt
    from erasure.methods.rece import RECESettings, rece
    from erasure.methods.rece import params as rece_params
    from erasure.methods.presets import fingerprint
    from erasure.methods.trainer import LOG_FIELDS, parameter_digest
    from erasure.methods.uce import DELIVERABLE, uce
    from erasure.models import load_base_pipeline
    from erasure.runtime import pick_device, ready

    steps = edit_steps(method, int(iterations), int(checkpoint_every))
    resolved, preserve = resolve_edit(method, preset, settings)
    if isinstance(resolved, RECESettings):
        from dataclasses import replace

        resolved = replace(resolved, rounds=int(iterations) - 1)
    concept_list = resolve_concepts(concepts)
    pipe = load_base_pipeline(base_model, results_root=results, device=pick_device(device))
    identity = dict(method=method, preset=preset or specs.get(method).default_preset, concepts=concept_list,
                    preserve=preserve, iterations=int(iterations), checkpoint_every=int(checkpoint_every),
                    settings=resolved.to_json(), seed=int(seed), base_model=base_model,
                    base_digest=parameter_digest(pipe.unet))
    fp = fingerprint(identity)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt.reset_run(run_dir)
    ckpt.write_run_meta(run_dir, {**identity, "fingerprint": fp, "deliverable": DELIVERABLE})

    ready()
    tick = time.perf_counter()
    if method == "uce":
        edits = [(uce(pipe.unet, pipe.text_encoder, pipe.tokenizer, concept_list, preserve, resolved), None)]
    else:
        edits = [(rece_params(r, pipe.unet), sum(r.loss_derived) if r.loss_derived else None)
                 for r in rece(pipe.unet, pipe.text_encoder, pipe.tokenizer, concept_list, preserve, resolved)]
    seconds = time.perf_counter() - tick
    log(f"{method} ({identity['preset']}) on {concept_list}, preserving {preserve or 'the preset default'}: "
        f"{len(edits)} edit(s) of {len(edits[0][0])} matrices in {seconds:.2f} s")

    with open(run_dir / ckpt.TRAIN_LOG, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for step, (_, loss) in enumerate(edits, start=1):
            writer.writerow({"step": step, "loss": "" if loss is None else f"{loss:.6g}", "lr": ""})
    with open(run_dir / ckpt.TRAIN_SECONDS, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ckpt.SECONDS_FIELDS)
        writer.writeheader()
        writer.writerow({"step": len(edits), "seconds": f"{seconds:.3f}"})
    for step in steps:
        ckpt.save_checkpoint(run_dir, step, {DELIVERABLE: edits[step - 1][0]}, {},
                             {"step": step, "fingerprint": fp},
                             {"method": method, "deliverable": DELIVERABLE, "fingerprint": fp})
    return ckpt.complete_steps(run_dir)

