"""Preflight: before any GPU hour is spent, check everything the DAG of a config will read from outside
itself, without a GPU and without generating anything, in seconds. One line per item: `ok`, or what is
missing and the one command that provides it.

    snakemake --cores 1 preflight --configfile config/paper.yaml   # the target (rules/preflight.smk)
    python -m erasure.preflight --configfile config/paper.yaml

Items: the base model (diffusers configs and safetensors headers of every weighted component), each
run's backbones beyond the base (MACE's Grounded-SAM: erasure.worlds.grounded_sam), each
metric's weight files with their pins (erasure.weights: CLIP, Q16, Inception, AlexNet, NudeNet),
the FID reference (image count or npz keys), each prompt set's file (sha256 where pinned, else its row
count), and a GPU where `cluster.gpus` is set. The checks reuse the loaders' own resolution code
(erasure.models, erasure.metrics.*), so what preflight accepts is what the jobs will load.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from erasure import plan, standins
from erasure.errors import ErasureError
from erasure.metrics import catalog
from erasure import weights as W
from erasure.worlds import get_world, prompt_sources

WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2", "safety_checker")


@dataclass
class Item:
    name: str
    ok: bool
    detail: str
    provide: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok       {self.name}: {self.detail}"
        return f"MISSING  {self.name}: {self.detail} -> {self.provide}"


class Context:
    """The config and how to name commands for it (`snakemake ... --configfile X`)."""

    def __init__(self, config: Mapping, configfiles: list[str], results: Path):
        self.config = config
        self.world = config["world"]
        self.kind = get_world(self.world)  # its family (erasure.worlds): whose scorers read the base
        self.results = results
        self.configfiles = configfiles

    def snakemake(self, target: str) -> str:
        files = " ".join(shlex.quote(f) for f in self.configfiles)
        return f"snakemake --cores 1 {target}" + (f" --configfile {files}" if files else "")

    def standin_missing(self, path) -> str | None:
        """The command that builds `path` when it lies in the config's (unbuilt) stand-in folder."""
        root = self.config.get("standins")
        if root and str(Path(path)).startswith(str(Path(root))) and not (Path(root) / standins.MARKER).is_file():
            return self.snakemake("standins")
        return None


def _safetensors_header(file: Path) -> int:
    """Number of tensors in a safetensors file, from its header only (no tensor is read)."""
    with open(file, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if size <= 0 or size > 100_000_000:
            raise ErasureError(f"{file}: not a safetensors file (header size {size})")
        header = json.loads(handle.read(size))
    return len([k for k in header if k != "__metadata__"])


def _model_dir_weights(folder: Path, what: str) -> str:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ErasureError(f"{folder}: {what} has no .safetensors weights (only safetensors are loaded)")
    return f"{sum(_safetensors_header(f) for f in files)} tensors"


def check_base(ctx: Context) -> list[Item]:
    from erasure.models import SD_HELP, resolve_base_source  # the loader's own resolution
    from erasure.worlds import world_for

    source = ctx.config["base_model"]
    world = world_for(source)
    if note := world.base_note(source):  # a base the DAG builds itself: nothing to check beforehand
        return [Item("base model", True, note)]
    try:
        resolved = resolve_base_source(source, ctx.results)
    except ErasureError as error:
        return [Item("base model", False, str(error), world.base_fix())]
    family = world.family(source, ctx.results)  # the network: hub ids and pins each family knows
    folder = Path(resolved)
    if not folder.is_dir():  # a hub id: the HF cache only, never the network
        pin = world.hub_revision(source)  # the commit the loader asks for (None: refs/main)
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(resolved, revision=pin, local_files_only=True,
                                            allow_patterns=["*.json", "*.txt", "*.safetensors"]))
        except Exception:  # noqa: BLE001 - any cache miss is the same answer
            return [_hub_base_missing(ctx, resolved, pin, family)]
    try:
        index = json.loads((folder / "model_index.json").read_text())
        parts = []
        for component, spec in index.items():
            if component.startswith("_") or not isinstance(spec, list) or spec[0] is None:
                continue
            sub = folder / component
            if not sub.is_dir() or not any(sub.glob("*.json")):
                raise ErasureError(f"{sub}: component {component} missing (model_index.json lists it)")
            if component in WEIGHTED_COMPONENTS:
                parts.append(f"{component} {_model_dir_weights(sub, component)}")
    except (OSError, ValueError, ErasureError) as error:
        return [Item("base model", False, f"{folder}: {error}", SD_HELP)]
    note = " [stand-in]" if standins.describe(folder) else ""
    if not Path(resolved).is_dir():  # a hub id: the commit of the snapshot the loader reads
        note = f" [snapshot {folder.name}]{note}"
    return [Item("base model", True, f"{source} ({family.title}: {', '.join(parts)}){note}")]


def _hub_base_missing(ctx: Context, repo_id: str, pin: str | None, family) -> Item:
    """The failed base item of a hub id not in the HF cache at the revision the loader asks: for a pinned id,
    which commits the cache holds instead (refs/main's, other snapshots), and `hf download --revision <pin>`,
    which writes `snapshots/<pin>/` (and no ref: the loader asks for the commit itself)."""
    from erasure.hub import cached_commits
    from erasure.metrics.backbones import hf_cache_dir

    revision = f" --revision {pin}" if pin else ""
    provide = ctx.standin_missing(repo_id) or (
        f"hf download {repo_id}{revision}  (after `hf auth login`; into {hf_cache_dir()}), or set "
        f"base_model to a local diffusers directory (known {family.title} hub ids: {', '.join(family.hub_ids)})")
    if not pin:
        return Item("base model", False, f"{repo_id!r} is neither a local directory nor in the HF cache", provide)
    main, commits = cached_commits(repo_id)
    found = [f"{main} (refs/main)"] if main and main != pin else []
    found += [c for c in commits if c not in (pin, main)]
    wants = f"the pinned commit {pin} ({family.title}, erasure/worlds/hub_ids.py)"
    detail = (f"{repo_id!r} in the HF cache is at {', '.join(found)}, not {wants}" if found
              else f"{repo_id!r} is not in the HF cache at {wants}")
    return Item("base model", False, detail, provide)


def check_family_methods(ctx: Context) -> list[Item]:
    """What the config asks of its base's model family that the family refuses (`ModelFamily.not_supported`,
    erasure/worlds/families.py: SLD, SEGA, UnlearnDiffAtk and AdvUnlearn on SDXL, SLD and SEGA on SD 2.x): one
    failed item naming each config entry with its family's one-line reason, so the gate stops the run before
    any job loads weights. No item where nothing is refused or the family cannot be read (check_base says why)."""
    from erasure.worlds import world_for

    source = ctx.config["base_model"]
    world = world_for(source)
    if world.base_note(source):  # a base the DAG builds (the toy's): SD 1.x, nothing refused
        return []
    try:
        family = world.family(source, ctx.results)
    except ErasureError:
        return []
    attacks = (ctx.config.get("attacks") or {}).get("attacks") or {}
    asked = ([(f"runs.{n}", (e or {}).get("method")) for n, e in (ctx.config.get("runs") or {}).items()]
             + [(f"inference_methods.{n}", (e or {}).get("kind"))
                for n, e in (ctx.config.get("inference_methods") or {}).items()]
             + [(f"attacks.attacks.{n}", (e or {}).get("kind")) for n, e in attacks.items()])
    refused = [f"{where}: {what} on {family.title}: {family.not_supported[what]}"
               for where, what in asked if what in family.not_supported]
    if not refused:
        return []
    return [Item(f"methods on {family.title}", False, " | ".join(refused),
                 "remove them from the config (erasure/worlds/families.py, not_supported, says why)")]


def check_method_backbones(ctx: Context) -> list[Item]:
    """One item per pretrained model beyond the base that a configured run loads (its settings'
    `backbones()`: MACE's Grounded-SAM detector and segmenter under `masks: grounded-sam`,
    erasure.worlds.grounded_sam; each its own `check`), once per source: ok with its snapshot, or what is missing (naming the
    settings key and its environment variable) and the command that provides it."""
    from erasure.methods.settings import resolve_run

    seen: dict[tuple[str, str], list[str]] = {}
    backbones = {}
    for name, entry in sorted((ctx.config.get("runs") or {}).items()):
        _, settings = resolve_run(name, entry or {})
        for backbone in settings.backbones():
            key = (backbone.name, backbone.source(settings))
            seen.setdefault(key, []).append(name)
            backbones[key] = (backbone, settings)
    items = []
    for (what, source), runs in seen.items():
        backbone, settings = backbones[(what, source)]
        ok, detail, provide = backbone.check(settings)
        label = f"{what} (runs {', '.join(runs)}: settings.{backbone.key})"
        items.append(Item(label, ok, detail, ctx.standin_missing(source) or provide))
    return items


def check_clip(ctx: Context, uses: list[tuple[str, Mapping]]) -> list[Item]:
    """W.CLIP_VIT_L14's check: each CLIP source the metrics name (their default: the hub id), once; none where the
    world's scorers read the base's own CLIP."""
    if ctx.kind.scorers_read_base:
        return []
    sources = {W.locate(W.CLIP_VIT_L14, settings, W.CLIP_HUB_ID) for _, settings in uses}
    return [_check_clip(ctx, source) for source in sorted(sources)]


def _check_clip(ctx: Context, source: str) -> Item:
    name = "CLIP (harm, clip)"
    folder = Path(source).expanduser()
    if not folder.is_dir():
        if ctx.standin_missing(source):
            return Item(name, False, f"{source} not built yet", ctx.standin_missing(source))
        if not W.CLIP_VIT_L14.provide or "/" not in source:
            return Item(name, False, f"{source}: no such directory", f"set metrics.clip.clip / ${W.CLIP_VIT_L14.env}")
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(source, local_files_only=True,
                                            allow_patterns=["*.json", "*.txt", "*.safetensors"]))
        except Exception:  # noqa: BLE001
            return Item(name, False, f"{source} is not in the HF cache (and jobs are often offline)",
                        f"hf download {source}  (or set metrics.clip.clip / ${W.CLIP_VIT_L14.env} to a directory)")
    try:
        config = json.loads((folder / "config.json").read_text())
        tensors = _model_dir_weights(folder, "CLIP")
    except (OSError, ValueError, ErasureError) as error:
        return Item(name, False, str(error), f"hf download {source}")
    projection = config.get("projection_dim")
    note = " [stand-in]" if standins.describe(folder) else ""
    return Item(name, True, f"{source} ({tensors}, projection {projection}){note}")


def check_q16(ctx: Context, uses: list[tuple[str, Mapping]]) -> list[Item]:
    """W.Q16_PROMPTS' check, per metric that reads it."""
    return [_check_q16(ctx, settings) for _, settings in uses]


def _check_q16(ctx: Context, settings: Mapping) -> Item:
    from erasure.metrics import q16

    name = "Q16 prompts (harm)"
    converted = Path(ctx.results, ctx.world, "resources", "q16_prompts.safetensors")
    if converted.is_file():
        try:
            q16.load_prompts(converted)
            sha = q16.prompts_source_sha256(converted)
        except ErasureError as error:
            return Item(name, False, str(error), f"rm {converted}; {ctx.snakemake(str(converted))}")
        kind = "pinned upstream file" if sha == q16.Q16_PROMPTS_SHA256 else "STAND-IN, not the pinned file"
        return Item(name, True, f"{converted} from sha256 {sha[:12]}... ({kind})")
    source = W.locate(W.Q16_PROMPTS, settings) or q16.Q16_PROMPTS_URL
    if "://" in source:
        return Item(name, False, f"not fetched yet ({source})",
                    f"{ctx.snakemake(str(converted))}  (downloads; or set metrics.harm.q16_source to a local prompts.p)")
    file = Path(source).expanduser()
    if not file.is_file():
        return Item(name, False, f"{file} not found", ctx.standin_missing(file) or W.Q16_PROMPTS.provide)
    from erasure.io import sha256_file

    digest = sha256_file(file)
    if digest == q16.Q16_PROMPTS_SHA256:
        return Item(name, True, f"{file} (sha256 {digest[:12]}..., the pinned file; converted by q16_prompts)")
    if standins.verified(file):
        return Item(name, True, f"{file} (sha256 {digest[:12]}..., STAND-IN, not the pinned file)")
    return Item(name, False, f"{file} has sha256 {digest[:12]}..., not the pinned {q16.Q16_PROMPTS_SHA256[:12]}...",
                W.Q16_PROMPTS.provide)


def check_inception(ctx: Context, uses: list[tuple[str, Mapping]]) -> list[Item]:
    """W.INCEPTION's check, per metric that reads it, each followed by its config-named reference set."""
    items = []
    for metric, settings in uses:
        items.append(_check_inception(ctx, settings))
        if catalog.get(metric).reference == catalog.SET and not catalog.get(metric).reference_from_world:
            items.append(_check_fid_reference(ctx, settings))
    return items


def _check_inception(ctx: Context, settings: Mapping) -> Item:
    from erasure.io import sha256_file
    from erasure.metrics import fid

    name = "Inception (fid)"
    try:
        file = fid.find_inception(W.locate(W.INCEPTION, settings))
    except ErasureError as error:
        return Item(name, False, str(error).split(";")[0], ctx.standin_missing(settings.get("inception", "")) or W.INCEPTION.provide)
    digest = sha256_file(file)
    pin = settings.get("inception_sha256")
    if pin and digest != pin.lower():
        return Item(name, False, f"{file} has sha256 {digest[:12]}..., metrics.fid.inception_sha256 pins {pin[:12]}...",
                    W.INCEPTION.provide)
    note = " [stand-in]" if standins.describe(file) else ""
    return Item(name, True, f"{file} (sha256 {digest[:12]}..., {'pinned' if pin else 'not pinned: set metrics.fid.inception_sha256'}){note}")


def _check_fid_reference(ctx: Context, settings: Mapping) -> Item:
    name = "FID reference (fid)"
    reference = settings.get("reference")
    if not reference:
        return Item(name, False, "metrics.fid.reference is not set", "set metrics.fid.reference to COCO val2014 (folder or .npz)")
    path = Path(reference).expanduser()
    if str(path).endswith(".npz") and path.is_file():
        import numpy as np

        keys = sorted(np.load(path).files)
        missing = {"mu", "sigma", "n"} - set(keys)
        if missing:
            return Item(name, False, f"{path}: npz lacks {sorted(missing)}", "python -m erasure.metrics.fid stats FOLDER OUT.npz")
        return Item(name, True, f"{path} (npz keys {', '.join(keys)})")
    if path.is_dir():
        from erasure.metrics.images import ImageSet

        try:
            n = len(ImageSet.from_folder(path).files)
        except ErasureError as error:
            return Item(name, False, str(error), "put the COCO val2014 images there")
        if n:
            return Item(name, True, f"{path} ({n} images)")
    return Item(name, False, f"{path}: no images and no .npz there",
                ctx.standin_missing(path) or "download http://images.cocodataset.org/zips/val2014.zip and unzip it there "
                "(or `python -m erasure.metrics.fid stats FOLDER OUT.npz` elsewhere and set metrics.fid.reference)")


def check_alexnet(ctx: Context, uses: list[tuple[str, Mapping]]) -> list[Item]:
    """W.ALEXNET's check, per metric that reads it."""
    return [_check_alexnet(ctx, settings) for _, settings in uses]


def _check_alexnet(ctx: Context, settings: Mapping) -> Item:
    from erasure.io import sha256_file
    from erasure.metrics import lpips_metric

    name = "AlexNet (lpips)"
    try:
        file = lpips_metric.alexnet_weights(W.locate(W.ALEXNET, settings))
    except ErasureError as error:
        return Item(name, False, str(error).split(";")[0], ctx.standin_missing(settings.get("alexnet", "")) or W.ALEXNET.provide)
    digest = sha256_file(file)
    if digest.startswith(lpips_metric.ALEXNET_SHA256_PREFIX):
        return Item(name, True, f"{file} (sha256 {digest[:12]}..., torchvision's prefix)")
    if standins.verified(file):
        return Item(name, True, f"{file} (sha256 {digest[:12]}..., STAND-IN, not torchvision's file)")
    return Item(name, False, f"{file} has sha256 {digest[:12]}..., not prefix {lpips_metric.ALEXNET_SHA256_PREFIX}",
                W.ALEXNET.provide)


def check_nudenet(ctx: Context, uses: list[tuple[str, Mapping]]) -> list[Item]:
    """W.NUDENET's check, once (the first metric's settings that name anything)."""
    return [_check_nudenet(next((settings for _, settings in uses if settings), {}))]


def _check_nudenet(settings: Mapping) -> Item:
    from erasure.io import sha256_file
    from erasure.metrics import nudenet

    name = "NudeNet (nude, nude-mace)"
    try:
        version = nudenet.check_version()
        file = nudenet.model_file(settings.get("model"))
    except (ErasureError, ImportError) as error:
        return Item(name, False, str(error), W.NUDENET.provide)
    return Item(name, True, f"nudenet {version}, {file.name} (sha256 {sha256_file(file)[:12]}...)")


def check_metrics(ctx: Context) -> list[Item]:
    """One item per weight file the planned metrics load (their catalog entries' `weights`), plus a
    config-named reference set, in erasure.weights.WEIGHTS' order (NudeNet, Q16, CLIP, Inception and the
    reference, AlexNet): each weight's own check (`Weight.check`)."""
    metrics = sorted({metric for metric, _, _ in plan.required_scores(ctx.config)})
    settings = {m: dict(ctx.config.get("metrics", {}).get(m, {})) for m in metrics}
    items = []
    if ctx.kind.scorers_read_base:
        own = [m for m in metrics if m not in catalog.WEIGHTS]
        if own:
            items.append(Item(f"{ctx.kind.name} backbones", True, f"{', '.join(own)}: the base model's own clip/ and oracle/"))
    for weight in W.WEIGHTS:
        uses = [(m, settings[m]) for m in metrics if weight in catalog.get(m).weights]
        if uses:
            items += weight_check(weight)(ctx, uses)
    return items


def weight_check(weight: W.Weight):
    """The preflight check a Weight entry names (`module:function`)."""
    from importlib import import_module

    module, _, function = weight.check.partition(":")
    return getattr(import_module(module), function)


def check_prompts(ctx: Context, repo: Path) -> list[Item]:
    from erasure.io import sha256_file
    from erasure.prompts import build_prompt_table
    from erasure.prompts.kinds import source_file_kind
    from erasure.prompts.paths import prompt_source
    from erasure.prompts.sources import local_file_label

    items = []
    # the image sets' prompt files, and the caption files the runs' caption statistics read (MACE's prior cache)
    used = sorted({s.promptset for s in plan.required_image_sets(ctx.config)} | set(plan.required_caption_sets(ctx.config)))
    for name in used:
        spec = ctx.config["prompt_sets"][name]
        label = f"prompt set {name}"
        kind, shipped = source_file_kind(spec, name)
        if kind == "none":
            items.append(Item(label, True, f"{spec['source']}: generated from the {prompt_sources()[spec['source']].name} vocabulary"))
            continue
        fetched = prompt_source(ctx.results, ctx.world, name)
        if kind == "shipped":
            file = Path(spec.get("path") or repo / "config" / "prompts" / shipped)
        elif spec.get("path"):
            file = Path(spec["path"]).expanduser()
        elif fetched.is_file():
            file = fetched
        else:
            items.append(Item(label, False, f"not fetched yet ({spec.get('url')})",
                              f"{ctx.snakemake(str(fetched))}  (downloads; or set prompt_sets.{name}.path to a local copy)"))
            continue
        if not file.is_file():
            items.append(Item(label, False, f"{file} not found", f"fix prompt_sets.{name}.path" + (
                ", or remove it to download" if spec.get("url") else f" (a local copy of the {spec['source']} file)")))
            continue
        digest = sha256_file(file)
        if spec.get("sha256") and digest != spec["sha256"]:
            items.append(Item(label, False, f"{file} has sha256 {digest[:12]}..., pinned {spec['sha256'][:12]}...",
                              f"replace it with the upstream file ({spec.get('url')})"))
            continue
        try:
            table = build_prompt_table(name, spec, guidance=7.5, source_file=file,
                                       where=local_file_label(name, spec, file))
        except ErasureError as error:
            items.append(Item(label, False, str(error), f"fix prompt_sets.{name} or the file"))
            continue
        pin = f"sha256 {digest[:12]}... pinned" if spec.get("sha256") else f"sha256 {digest[:12]}... not pinned"
        items.append(Item(label, True, f"{file} ({len(table)} prompts as n_prompts says; {pin})"))
    return items


def check_while_planning(config: Mapping, *, built=()) -> None:
    """What preflight can check while Snakemake plans, in every world (the gate, a job, exists only in a world
    that reads weights from outside), so that these faults stop the run before its first job, not inside one
    after queueing: each local file the config names for a planned prompt set (`prompt_sets.<set>.path`: its
    pinned sha256, then read by its source's own reader: columns under each upstream file's names, numbers,
    empty prompts, the count n_prompts declares), a training run whose modelled GPU memory exceeds the cluster's
    GPUs (`check_gpu_memory`), and `metrics.harm.q16_source` (Q16's pinned sha256) where a
    planned score reads it. A file not on this machine, or inside a folder the DAG builds (`built`), is left to
    preflight and the jobs: a dry run still plans. Takes well under a second (COCO-30k's 2.4 MB CSV: ~0.3 s).

    Raises ErasureError: the first fault, one line naming the config key, the user's file (never the copy
    under results/) and the fix."""
    from erasure import external_inputs
    from erasure.io import sha256_file
    from erasure.weights import Q16_FIX, Q16_PROMPTS_SHA256
    from erasure.prompts import build_prompt_table
    from erasure.prompts.kinds import source_file_kind
    from erasure.prompts.sources import local_file_label

    for name in sorted({s.promptset for s in plan.required_image_sets(config)}):
        spec = config["prompt_sets"][name]
        file = external_inputs.local_file(spec.get("path"))
        if (source_file_kind(spec, name)[0] == "none" or file is None or not file.is_file()
                or external_inputs.built_root(file, built)):
            continue
        where = local_file_label(name, spec, file)
        pin = spec.get("sha256")
        if pin and (digest := sha256_file(file)) != pin.lower():
            raise ErasureError(f"{where}: sha256 {digest} differs from prompt_sets.{name}.sha256 {pin}; give the "
                               f"upstream file ({spec.get('url') or 'see the pin'}), or set prompt_sets.{name}.sha256 "
                               "to this file's to accept it")
        build_prompt_table(name, spec, guidance=7.5, source_file=file, where=where)  # guidance: any number
    for fault in check_gpu_memory(config)[:1]:
        raise ErasureError(fault)
    if any(catalog.needs_q16(metric) for metric, _, _ in plan.required_scores(config)):
        value = config["metrics"].get("harm", {}).get("q16_source")
        file = external_inputs.local_file(value)
        if file is not None and file.is_file() and not external_inputs.built_root(file, built) and not standins.verified(file):
            if (digest := sha256_file(file)) != Q16_PROMPTS_SHA256:
                raise ErasureError(f"metrics.harm.q16_source {value}: sha256 {digest} is not Q16's pinned prompts.p "
                                   f"({Q16_PROMPTS_SHA256}); {Q16_FIX}")


def check_gpu_memory(config: Mapping) -> list[str]:
    """One line per planned training run that would run out of GPU memory (erasure.cost.model.memory_faults):
    empty where the cluster has no GPUs or the throughput table does not model the config's world."""
    from erasure.cost import model as cost_model, table as cost_table

    if not (cost_model.gpus(config) and cost_model.costed(config)):
        return []
    return cost_model.memory_faults(config, cost_table.load(None, config["cluster"].get("gpu_model") or "H100"))


def check_gpu(ctx: Context) -> list[Item]:
    if not ctx.config.get("cluster", {}).get("gpus"):
        return []
    import shutil
    import subprocess

    import torch

    if torch.cuda.is_available():
        return [Item("GPU (cluster.gpus)", True, f"{torch.cuda.get_device_name(0)} visible")]
    if shutil.which("sinfo"):
        out = subprocess.run(["sinfo", "-h", "-o", "%P %G"], capture_output=True, text=True, timeout=20).stdout
        gpus = [line for line in out.splitlines() if "gpu" in line.lower()]
        if gpus:
            return [Item("GPU (cluster.gpus)", True, f"none here; SLURM offers {'; '.join(gpus[:3])}")]
    return [Item("GPU (cluster.gpus)", False, "no GPU visible to torch and no SLURM partition with gres gpu",
                 "run on a GPU node or through `--profile slurm` on a cluster with GPUs, or set cluster.gpus: false")]


def run_checks(config: Mapping, *, configfiles: list[str], results: Path | None = None,
               repo: Path | None = None) -> list[Item]:
    repo = repo or Path(__file__).resolve().parents[1]
    ctx = Context(config, configfiles, Path(results or config.get("results", "results")))
    items = []
    items += [Item("GPU memory (cluster.gpu_memory_gb)", False, fault, "see the line") for fault in
              check_gpu_memory(ctx.config)]
    for check in (check_base, check_family_methods, check_method_backbones, check_metrics,
                  lambda c: check_prompts(c, repo), check_gpu):
        try:
            items += check(ctx)
        except ErasureError as error:  # a check that cannot even run is itself a missing item
            items.append(Item("config", False, str(error), "fix the config"))
    return items


def report(items: list[Item], seconds: float) -> str:
    missing = sum(not i.ok for i in items)
    lines = [i.line() for i in items]
    lines.append(f"preflight: {len(items) - missing} ok, {missing} missing ({seconds:.1f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import yaml

    from erasure.config import validate_config

    parser = argparse.ArgumentParser(prog="python -m erasure.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    args = parser.parse_args(argv)
    start = time.monotonic()
    repo = Path(__file__).resolve().parents[1]
    try:
        config: dict = {}
        for file in args.configfile:
            config.update(yaml.safe_load(Path(file).read_text()) or {})
        config = validate_config(config, repo / "config" / "schema.yaml", source=", ".join(args.configfile))
        items = run_checks(config, configfiles=args.configfile, repo=repo)
    except ErasureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report(items, time.monotonic() - start))
    return 0 if all(i.ok for i in items) else 1


if __name__ == "__main__":
    sys.exit(main())
