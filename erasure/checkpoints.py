"""Checkpoints of fine-tuning runs, and the loader that turns run@step into a diffusers pipeline.

    results/{world}/models/{run}/
        run.json                       what the run is (method, concepts, settings, fingerprint)
                                       (tensor names: a UNet parameter's own name; another component's
                                       "{component}:{name}", e.g. "text_encoder:text_model.…", issue 34)
        train_log.csv                  step, loss, lr
        train_seconds.csv              step, seconds (cumulative wall-clock training time): a side file that
                                       nothing hashes and no rule reads, so a resumed run's new timings
                                       change no file downstream jobs depend on
        step-{NNNNNN}/                 one per checkpoint; a directory that exists is complete
            student.safetensors        the trained parameters only (all methods)
            teacher.safetensors        SDD: the EMA teacher's trained parameters (the deliverable)
            trainer_state.safetensors  optimiser moments, RNG state (tensors)
            trainer_state.json         optimiser param groups, lr-scheduler state, step (before issue 32
                                       also seconds, still read on resume)
            meta.json                  step, method, which file is the deliverable; `adapters`
                                       {component: peft LoraConfig arguments} where the method added
                                       modules (the loader injects them before loading their weights)
            sha256.json                the sha256 of each file above, written last
        complete.json                  the erase rule's output: steps, sha256 of every checkpoint file
                                       and of train_log.csv; no wall-clock or host field, so the same
                                       weights give the same bytes (Snakemake checksums it: downstream
                                       jobs rerun only when it changes)

Every checkpoint is written into a hidden temporary directory and renamed into place, so a job killed
mid-write leaves no `step-*` directory that looks complete (leftover temporaries are removed on resume).
Nothing is unpickled: tensors are safetensors, everything else JSON.

Every checkpoint file is checked against its recorded sha256 before it is parsed: against `complete.json`
when the run is complete (generation), else against the step's own `sha256.json` (resume: Snakemake removes
`complete.json` before it reruns the erase rule). A truncated or edited file stops the job with one line
naming it and what to do, instead of a `SafetensorError` that names no file.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file

from erasure import paths
from erasure.errors import ErasureError
from erasure.io import atomic_dir, atomic_write, sha256_file, write_json_atomic
from erasure.loads import load_safetensors, parse_errors, verify_sha256

RUN_META = "run.json"
STEP_META = "meta.json"
STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"
STEP_SUMS = "sha256.json"
COMPLETE = "complete.json"
TRAIN_LOG = "train_log.csv"
TRAIN_SECONDS = "train_seconds.csv"
LOG_FIELDS = ("step", "loss", "lr")  # train_log.csv: what the weights depend on, nothing of the clock
SECONDS_FIELDS = ("step", "seconds")
_STEP_DIR = re.compile(r"^step-(\d{6})$")
_TMP_PREFIX = ".tmp-step-"


# --- the run directory ------------------------------------------------------------------------------

def complete_steps(run_dir: str | Path) -> list[int]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    steps = [int(m[1]) for p in run_dir.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(steps)


def latest_complete_step(run_dir: str | Path) -> int | None:
    """The newest checkpoint step in `run_dir`, or None when there is none."""
    steps = complete_steps(run_dir)
    return steps[-1] if steps else None


def read_run_meta(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / RUN_META
    if not path.is_file():
        return None
    with parse_errors(path, "run record (JSON)", f"delete {Path(run_dir)} and rerun the erase rule to retrain"):
        return json.loads(path.read_text())


def write_run_meta(run_dir: str | Path, meta: dict) -> None:
    write_json_atomic(Path(run_dir) / RUN_META, meta)


def remove_temporaries(run_dir: str | Path) -> None:
    """Delete checkpoint directories a killed job left half-written."""
    for p in Path(run_dir).glob(f"{_TMP_PREFIX}*"):
        shutil.rmtree(p, ignore_errors=True)


def reset_run(run_dir: str | Path) -> None:
    """Forget a previous run in `run_dir` (its checkpoints, log and completion record)."""
    run_dir = Path(run_dir)
    remove_temporaries(run_dir)
    for step in complete_steps(run_dir):
        shutil.rmtree(paths.step_dir(run_dir, step))
    for name in (RUN_META, TRAIN_LOG, TRAIN_SECONDS, COMPLETE):
        (run_dir / name).unlink(missing_ok=True)


def _read_rows(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: Path, fields: tuple[str, ...], rows: list[dict]) -> None:
    with atomic_write(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def truncate_logs(run_dir: str | Path, step: int) -> None:
    """Keep only the rows up to `step` of train_log.csv and train_seconds.csv (rows after the last checkpoint
    belong to work that is redone). A train_log.csv from before issue 32 (step, loss, lr, seconds) is split:
    its seconds move to train_seconds.csv, where no digest covers them."""
    run_dir = Path(run_dir)
    fields, rows = _read_rows(run_dir / TRAIN_LOG)
    kept = [r for r in rows if int(r["step"]) <= step]
    if "seconds" in fields and not (run_dir / TRAIN_SECONDS).is_file():
        _write_rows(run_dir / TRAIN_SECONDS, SECONDS_FIELDS, [r for r in kept if r.get("seconds")])
    if fields:
        _write_rows(run_dir / TRAIN_LOG, LOG_FIELDS, kept)
    fields, rows = _read_rows(run_dir / TRAIN_SECONDS)
    if fields:
        _write_rows(run_dir / TRAIN_SECONDS, SECONDS_FIELDS, [r for r in rows if int(r["step"]) <= step])


def recorded_seconds(run_dir: str | Path, step: int, state: dict | None = None) -> float:
    """The cumulative training seconds at `step`: train_seconds.csv's last row up to it, else the `seconds` a
    trainer_state.json from before issue 32 holds (`state`), else 0."""
    _, rows = _read_rows(Path(run_dir) / TRAIN_SECONDS)
    earlier = [float(r["seconds"]) for r in rows if int(r["step"]) <= step and r.get("seconds")]
    if earlier:
        return earlier[-1]
    return float((state or {}).get("seconds", 0.0))


# --- writing and reading one checkpoint --------------------------------------------------------------

def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(path))


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    weights: dict[str, dict[str, torch.Tensor]],
    trainer_tensors: dict[str, torch.Tensor],
    trainer_json: dict,
    meta: dict,
) -> Path:
    """Write `step-{NNNNNN}/` atomically: `weights` maps a role ("student", "teacher") to its tensors."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = paths.step_dir(run_dir, step)
    # the prefix lets remove_temporaries sweep up what a killed job left
    with atomic_dir(final, prefix=f"{_TMP_PREFIX}{step:06d}-", durable=True) as tmp:
        for role, tensors in weights.items():
            _save_tensors(tensors, tmp / f"{role}.safetensors")
        _save_tensors(trainer_tensors, tmp / STATE_TENSORS)
        (tmp / STATE_JSON).write_text(json.dumps(trainer_json, indent=1, sort_keys=True))
        (tmp / STEP_META).write_text(json.dumps({**meta, "step": int(step)}, indent=1, sort_keys=True))
        sums = {f.name: sha256_file(f) for f in sorted(tmp.iterdir())}
        (tmp / STEP_SUMS).write_text(json.dumps(sums, indent=1, sort_keys=True))
    return final


def _repair_hint(run_dir: Path, step: int) -> str:
    return (f"the checkpoint is damaged: delete {paths.step_dir(run_dir, step)}, any later step-* and "
            f"{run_dir / COMPLETE}, then rerun the erase rule (training resumes from the checkpoint before)")


def recorded_sha256(run_dir: str | Path, step: int, name: str) -> str | None:
    """The sha256 on record for `step-{NNNNNN}/{name}`: complete.json's when the run is complete, else the
    step's own sha256.json; None for a checkpoint written before sha256.json existed (parsed unchecked)."""
    run_dir = Path(run_dir)
    d = paths.step_dir(run_dir, step)
    fix = _repair_hint(run_dir, step)
    for record, key in ((run_dir / COMPLETE, f"{d.name}/{name}"), (d / STEP_SUMS, name)):
        if record.is_file():
            with parse_errors(record, "checksum record (JSON)", fix):
                files = json.loads(record.read_text())
                files = files["files"] if record.name == COMPLETE else files
                if key not in files:
                    raise ErasureError(f"{d / name}: not listed in {record}; {fix}")
                return str(files[key])
    return None


def _load_checked(run_dir: Path, step: int, name: str) -> dict[str, torch.Tensor]:
    path = paths.step_dir(run_dir, step) / name
    if not path.is_file():
        raise ErasureError(f"{path}: no such checkpoint file; {_repair_hint(run_dir, step)}")
    return load_safetensors(path, what="checkpoint file", fix=_repair_hint(run_dir, step),
                            sha256=recorded_sha256(run_dir, step, name))


def load_weights(run_dir: str | Path, step: int, role: str) -> dict[str, torch.Tensor]:
    """The `role` tensors of checkpoint `step`, verified against their sha256.

    Args:
        run_dir: the run's folder; step: a checkpoint step; role: a checkpoint role of the run's method
            (its spec's deliverables: "teacher", "student", "model").

    Returns:
        {UNet parameter name -> tensor}, as saved (the trained subset only; CPU, the training dtype).

    Raises:
        ErasureError: the file is missing, truncated or unparsable, or its sha256 differs from the record
            (naming the file and how to repair the run).
    """
    return _load_checked(Path(run_dir), step, f"{role}.safetensors")


def _read_json(run_dir: Path, step: int, name: str) -> dict:
    path = paths.step_dir(run_dir, step) / name
    fix = _repair_hint(run_dir, step)
    digest = recorded_sha256(run_dir, step, name)
    if digest is not None:
        verify_sha256(path, digest, what="checkpoint file", fix=fix)
    with parse_errors(path, "checkpoint file (JSON)", fix):
        return json.loads(path.read_text())


def load_trainer_state(run_dir: str | Path, step: int) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, json) of checkpoint `step`'s optimiser / scheduler / RNG state, verified like the weights
    (`load_weights`; raises ErasureError as it does); `restore_trainer_state` puts them back."""
    run_dir = Path(run_dir)
    return _load_checked(run_dir, step, STATE_TENSORS), _read_json(run_dir, step, STATE_JSON)


# --- optimiser / lr-scheduler / RNG state as safetensors + JSON ---------------------------------------

def trainer_state(optimizer, lr_scheduler, generator: torch.Generator, extra: dict) -> tuple[dict, dict]:
    """(tensors, json) that `restore_trainer_state` puts back exactly."""
    opt = optimizer.state_dict()
    tensors = {"rng.generator": generator.get_state()}
    scalars = {}
    for index, state in opt["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    sched = {k: v for k, v in lr_scheduler.state_dict().items() if k != "lr_lambdas"}
    return tensors, {"optimizer_groups": opt["param_groups"], "optimizer_scalars": scalars,
                     "lr_scheduler": sched, **extra}


def restore_trainer_state(optimizer, lr_scheduler, generator: torch.Generator, tensors: dict, data: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in data["optimizer_scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in data["optimizer_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    lr_scheduler.load_state_dict({**data["lr_scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)})
    generator.set_state(tensors["rng.generator"])


# --- completion record --------------------------------------------------------------------------------

def write_complete(run_dir: str | Path, out: str | Path, *, iterations: int) -> dict:
    """complete.json: the checkpoint steps and the sha256 of every file in them."""
    run_dir = Path(run_dir)
    steps = complete_steps(run_dir)
    if not steps or steps[-1] != iterations:
        raise ErasureError(f"{run_dir}: training did not reach step {iterations} (checkpoints: {steps})")
    files = {}
    for step in steps:
        d = paths.step_dir(run_dir, step)
        for f in sorted(d.iterdir()):
            files[f"{d.name}/{f.name}"] = sha256_file(f)
    record = {"run": run_dir.name, "steps": steps, "files": files, "run_meta": read_run_meta(run_dir)}
    log = run_dir / TRAIN_LOG  # not a rule output (a resumed run appends to it): its digest pins it
    record["train_log_sha256"] = sha256_file(log) if log.is_file() else None
    write_json_atomic(out, record)
    return record


# --- the loader generation uses ----------------------------------------------------------------------

def weights_role(run_dir: str | Path, step: int, which: str) -> str:
    """"default" -> the run's deliverable (SDD: EMA teacher; ESD: the trained model); "student" -> student."""
    if which == "student":
        return "student"
    if which != "default":
        raise ErasureError(f"which={which!r}: expected 'default' or 'student'")
    meta = _read_json(Path(run_dir), step, STEP_META)
    if "deliverable" not in meta:
        raise ErasureError(f"{paths.step_dir(run_dir, step) / STEP_META}: no 'deliverable' key; "
                           f"{_repair_hint(Path(run_dir), step)}")
    return meta["deliverable"]


@torch.no_grad()
def patch_parameters(unet: torch.nn.Module, tensors: dict[str, torch.Tensor], *, source: str = "checkpoint",
                     component: str = "unet") -> None:
    """Copy `tensors` {parameter name → tensor} into the module's parameters (`unet`, or the pipeline
    component `component` names). Raises ErasureError for a name it lacks or a shape it does not have."""
    params = dict(unet.named_parameters())
    what = "UNet" if component == "unet" else component
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise ErasureError(f"{source}: parameter {unknown[0]!r} is not in the base {what} (a different base model?)")
    for name, tensor in tensors.items():
        if params[name].shape != tensor.shape:
            raise ErasureError(f"{source}: {name} has shape {tuple(tensor.shape)}, the base {what} "
                               f"{tuple(params[name].shape)} (a different base model?)")
        params[name].copy_(tensor.to(device=params[name].device, dtype=params[name].dtype))



def _checkpoint_to_load(base_source: str, run_dir: Path, step: int, which: str) -> tuple[Path, str]:
    """(the step's folder, the weights role `which` names there) for the loaders below; warns when the run was
    trained from another base. Raises ErasureError: no checkpoint at `step`."""
    d = paths.step_dir(run_dir, step)
    if not d.is_dir():
        raise ErasureError(f"{d}: no checkpoint at step {step} (complete steps: {complete_steps(run_dir) or 'none'})")
    meta = read_run_meta(run_dir) or {}
    if meta.get("base_model") not in (None, base_source):
        warnings.warn(f"{run_dir}: trained from base {meta['base_model']!r}, loading onto {base_source!r}", stacklevel=3)
    return d, weights_role(run_dir, step, which)

def load_method_pipeline(
    base_source: str,
    run_dir: str | Path,
    step: int,
    which: str = "default",
    *,
    results_root: str | Path = "results",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """The base model with the run's trained parameters at `step` patched in.

    Args:
        base_source: the config's base_model (erasure.models.load_base_pipeline); a run trained from
            another base is loaded with a warning.
        run_dir: the run's folder; step: a complete checkpoint's step.
        which: "default" (the run's deliverable: SDD's EMA teacher, ESD's trained model, an edit's model) or
            "student".
        results_root: the results root; device, dtype: where the pipeline goes and its parameters' dtype.

    Returns:
        The base's diffusers pipeline (its model family's class, erasure.worlds.families).

    Raises:
        ErasureError: no checkpoint at `step`, a damaged checkpoint file, or a parameter the base UNet lacks
            or holds in another shape (a different base model).
    """
    from erasure.models import load_base_pipeline

    run_dir = Path(run_dir)
    d, role = _checkpoint_to_load(base_source, run_dir, step, which)
    pipe = load_base_pipeline(base_source, results_root=results_root, device=device, dtype=dtype)
    step_meta = _read_json(run_dir, step, STEP_META)
    add_adapters(pipe, step_meta.get("adapters") or {}, source=str(d / STEP_META))
    patch_components(pipe, load_weights(run_dir, step, role), source=str(d / f"{role}.safetensors"))
    return pipe


def load_run_text_encoder(
    base_source: str,
    run_dir: str | Path,
    step: int,
    which: str = "default",
    *,
    results_root: str | Path = "results",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """(tokenizer, text encoder) of the base with the run's text-encoder tensors at `step` patched in, loading
    nothing else: what a text-only attack (Ring-A-Bell) against a method that trains its text encoder
    (AdvUnlearn) reads. The same tensors `load_method_pipeline` patches into the pipeline's text encoder.

    Args: as `load_method_pipeline`.

    Returns:
        (CLIPTokenizer, CLIPTextModel in eval mode on `device`).

    Raises:
        ErasureError: no checkpoint at `step`, a damaged checkpoint file, a parameter the base text encoder
            lacks or holds in another shape, or a checkpoint with no text-encoder tensors (the run trains the
            UNet only: its text encoder is the base's, erasure.plan.attacks.text_encoder).
    """
    from types import SimpleNamespace

    from erasure.models import load_text_encoder

    run_dir = Path(run_dir)
    d, role = _checkpoint_to_load(base_source, run_dir, step, which)
    source = str(d / f"{role}.safetensors")
    tensors, components = {}, set()
    for key, tensor in load_weights(run_dir, step, role).items():
        component, name = split_key(key)
        components.add(component)
        if component == "text_encoder":
            tensors[name] = tensor
    if not tensors:
        raise ErasureError(f"{source}: no text-encoder tensors (trained: {', '.join(sorted(components)) or 'none'}); "
                           "this run's text encoder is the base's: attack it as 'base'")
    tokenizer, encoder = load_text_encoder(base_source, results_root=results_root, device="cpu", dtype=dtype)
    adapters = (_read_json(run_dir, step, STEP_META).get("adapters") or {}).get("text_encoder")
    if adapters:
        add_adapters(SimpleNamespace(text_encoder=encoder), {"text_encoder": adapters}, source=str(d / STEP_META))
    patch_parameters(encoder, tensors, source=source, component="text_encoder")
    return tokenizer, encoder.to(device).eval()


def add_adapters(pipe, adapters: dict, *, source: str) -> None:
    """Inject the adapters a run added ({component: peft LoraConfig keyword arguments}, its checkpoints'
    meta.json) into the base pipeline's components, before their weights are loaded."""
    if not adapters:
        return
    from peft import LoraConfig, inject_adapter_in_model

    for component, config in adapters.items():
        model = getattr(pipe, component, None)
        if not isinstance(model, torch.nn.Module):
            raise ErasureError(f"{source}: adapters for {component!r}, which the base pipeline does not have")
        try:
            inject_adapter_in_model(LoraConfig(**config), model)
        except (TypeError, ValueError) as error:
            raise ErasureError(f"{source}: adapters.{component}: {error}") from None


COMPONENT_SEPARATOR = ":"


def component_key(component: str, name: str) -> str:
    """The checkpoint name of parameter `name` of pipeline component `component` ("unet", "text_encoder"): bare
    for the UNet (so checkpoints written before components existed read unchanged), "component:name" otherwise."""
    return name if component == "unet" else f"{component}{COMPONENT_SEPARATOR}{name}"


def split_key(key: str) -> tuple[str, str]:
    """(component, parameter name) of a checkpoint tensor name (`component_key`'s inverse)."""
    component, sep, name = key.partition(COMPONENT_SEPARATOR)
    return (component, name) if sep else ("unet", key)


def patch_components(pipe, tensors: dict[str, torch.Tensor], *, source: str) -> None:
    """`patch_parameters` on each component the checkpoint names (`component_key`: bare names are the UNet's,
    "text_encoder:…" the text encoder's)."""
    by_component: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        component, name = split_key(key)
        by_component.setdefault(component, {})[name] = tensor
    for component, part in by_component.items():
        model = getattr(pipe, component, None)
        if not isinstance(model, torch.nn.Module):
            raise ErasureError(f"{source}: tensors of {component!r}, which the base pipeline does not have")
        patch_parameters(model, part, source=source, component=component)
