"""Sharded, seeded, resumable generation of one (method, prompt set) image set.

Images are enumerated from the prompt table (each prompt's k seeds, `image_seeds`) and cut into shards of
`shard_size`; a shard job writes `{prompt_id}_{seed}.png` files (atomically) and then its shard manifest.
A killed job leaves only whole PNGs, and the rerun draws only the missing ones. Each shard keeps a
fingerprint (method, weights, sampling, device/dtype, batch size); when it changes, the shard's PNGs are
stale and are deleted before generating. Batches are always padded to one size — `batch_size`, or the whole
set when it is smaller — so every image is computed with the same tensor shapes whatever its shard, batch
neighbours or position: the bytes do not depend on sharding.

The batch size itself does change bytes: BLAS kernels are not batch-invariant, so 10-20% of the images
differ by one grey level in some pixels between batch sizes. It is therefore compared like every other
fingerprint field, and recorded per image in the manifest. A resume with another batch size regenerates the
shard rather than stopping: it is what the fingerprint does for every other setting that changes pixels,
the config change is deliberate (the rule's params change, so every shard of the set reruns and the whole
set is redrawn at the new size), and stopping would only leave the user to delete the images by hand. The
merge refuses a set whose shards disagree on the batch size, so a mixed set cannot be assembled either.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from PIL import Image

from erasure import lineage, paths, standins
from erasure.errors import ErasureError
from erasure.io import atomic_path, sha256_file, write_json_atomic
from erasure.generate.pipelines import NonFinite
from erasure.generate.latents import LATENT_SCHEME, initial_latents
from erasure.paths import MethodId
from erasure.generate.manifest import MANIFEST_COLUMNS, merge_manifests  # noqa: F401 (re-exported)
from erasure.prompts.table import image_seeds, read_table

log = logging.getLogger(__name__)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageSpec:
    prompt_id: str
    prompt: str
    seed: int
    guidance: float

    @property
    def name(self) -> str:
        return paths.image_name(self.prompt_id, self.seed)


def enumerate_images(table: pd.DataFrame, images_per_prompt: int) -> list[ImageSpec]:
    """Every image of a prompt set, in table order, each prompt's seeds in order."""
    return [
        ImageSpec(str(row.prompt_id), str(row.prompt), seed, float(row.guidance))
        for row in table.itertuples(index=False)
        for seed in image_seeds(row.seed, images_per_prompt)
    ]


def shard_images(images: Sequence[ImageSpec], shard: int, shard_size: int) -> list[ImageSpec]:
    n_shards = max(1, -(-len(images) // int(shard_size)))
    if not 0 <= int(shard) < n_shards:
        raise ErasureError(f"shard {shard}: out of range; this prompt set has {n_shards} shards of {shard_size}")
    return list(images[int(shard) * int(shard_size): (int(shard) + 1) * int(shard_size)])


# --- fingerprints ----------------------------------------------------------------------------------------

def _file_digest(path: Path) -> str:
    """A weight file's sha256: the hub cache names blobs by it (free); other files are hashed once and the
    digest reused while the file's size and mtime are those hashed (erasure.io.cached_sha256, the one cache
    across jobs), so the shard jobs of a local base model do not each re-read its gigabytes."""
    from erasure.io import cached_sha256

    real = Path(path).resolve()
    if _HEX64.match(real.name):
        return real.name
    return cached_sha256(real)


def weights_fingerprint(base_model: str, *, results: str | Path, world: str, method: str) -> dict:
    """sha256 of the weights a method generates with: the base model's unet / text encoder / vae files
    (or a shipped base's SHA256SUMS), plus a fine-tuned run's complete.json (sha256 of its checkpoints)."""
    from erasure.models import base_directory, resolve_base_source

    directory = base_directory(base_model, results)  # a hub id's snapshot at its pinned commit, as loaded
    if directory is None:  # loading the pipeline has already reported a missing model
        return {"base_model": base_model, "base": resolve_base_source(base_model, results)}
    sums = directory.parent / "SHA256SUMS"
    if sums.is_file():
        base = {"SHA256SUMS": sha256_file(sums)}
    else:
        base = {
            str(f.relative_to(directory)): _file_digest(f)
            for component in ("unet", "text_encoder", "vae")
            for f in sorted((directory / component).glob("*"))
            if f.suffix in (".safetensors", ".bin") and not f.name.endswith(".index.json")
        }
    out = {"base_model": base_model, "base": base}
    method_id = MethodId.parse(method)
    if method_id.finetuned:
        complete = paths.run_complete(results, world, method_id.run)
        if not complete.is_file():
            raise ErasureError(f"{complete}: run {method_id.run!r} is not complete; run the erase rule first")
        out["run_complete"] = sha256_file(complete)
        out["checkpoint"] = {"step": method_id.step, "which": method_id.which}
    return out


def shard_fingerprint(*, method_identity: Mapping, weights: Mapping, sampling: Mapping, batch_size: int,
                      device: torch.device, dtype: torch.dtype, image_size: int) -> dict:
    """What a shard's pixels depend on. On a GPU also `hardware` (GPU model, torch / diffusers / CUDA versions:
    fp16 kernels differ between them, so an A100 shard and an H100 shard of one set are not the same draw);
    on the CPU none (a CPU run's fingerprint, and so its rerun decisions, are as before)."""
    out = {
        "method": dict(method_identity), "weights": dict(weights), "sampling": dict(sampling),
        "device": torch.device(device).type, "dtype": str(dtype).replace("torch.", ""),
        "image_size": int(image_size), "latents": LATENT_SCHEME, "batch_size": int(batch_size),
    }
    if torch.device(device).type == "cuda":
        out["hardware"] = hardware(device)
    return out


def hardware(device) -> dict:
    """{gpu, torch, diffusers, cuda} of a CUDA device (its name as the driver reports it)."""
    import diffusers

    return {"gpu": torch.cuda.get_device_name(torch.device(device)), "torch": torch.__version__,
            "diffusers": diffusers.__version__, "cuda": torch.version.cuda}


def _same(old: Mapping, new: Mapping) -> bool:
    """Whether two fingerprints draw the same pixels. Their stand-in notes are lineage, not pixels (the weights'
    digests already pin whatever the notes come from), so a note alone never redraws a shard."""
    def canonical(d):
        return json.dumps({k: v for k, v in dict(d).items() if k != standins.RUN_KEY}, sort_keys=True, default=str)

    return canonical(old) == canonical(new)


def fingerprint_path(shard_manifest: Path) -> Path:
    return Path(shard_manifest).with_suffix(".fingerprint.json")


# --- generation -----------------------------------------------------------------------------------------

def _remove_stale(image_dir: Path, images: Sequence[ImageSpec]) -> int:
    removed = 0
    for spec in images:
        for stale in [image_dir / spec.name, *image_dir.glob(f".{spec.name}.*.tmp")]:
            if stale.exists():
                stale.unlink()
                removed += 1
    return removed


def _batches(todo: Sequence[ImageSpec], batch_size: int):
    """Consecutive runs of `batch_size` images with one guidance value (CFG is per pipeline call)."""
    batch: list[ImageSpec] = []
    for spec in todo:
        if batch and (len(batch) == batch_size or spec.guidance != batch[0].guidance):
            yield batch
            batch = []
        batch.append(spec)
    if batch:
        yield batch


def run_images(method_pipeline, images: Sequence[ImageSpec], image_dir: Path, *, steps: int, batch_size: int,
               on_image: Callable[[ImageSpec], None] | None = None, writers: int = 2) -> int:
    """Draw the images of `images` missing from `image_dir`; return how many were drawn.

    The folder is listed once (a 1,000-image shard of a 30,000-image set on a network file system would
    otherwise be scanned per image), and PNGs are encoded and written by `writers` threads while the next
    batch denoises (PIL's encoder releases the GIL); each file is still written atomically, and every write
    has finished, or raised, when this returns. A progress line per batch (images done / total, images/s,
    ETA) goes to the job log.

    Raises:
        ErasureError: NaN / inf in a batch (naming the prompt and seed); the batches before it are written.
    """
    from concurrent.futures import ThreadPoolExecutor

    image_dir.mkdir(parents=True, exist_ok=True)
    present = {entry.name for entry in os.scandir(image_dir)}
    names = {spec.name for spec in images}
    for name in present:
        # torn writes of a killed job: `.{image}.{random}.tmp` (erasure.io.atomic_path)
        if name.startswith(".") and name.endswith(".tmp") and name[1:].rsplit(".", 2)[0] in names:
            (image_dir / name).unlink(missing_ok=True)
    todo = [spec for spec in images if spec.name not in present]
    shape = method_pipeline.latent_shape
    started, done = time.perf_counter(), 0

    def write(spec: ImageSpec, array) -> None:
        with atomic_path(image_dir / spec.name) as tmp:
            Image.fromarray(array).save(tmp, format="PNG")
        if on_image is not None:
            on_image(spec)

    with ThreadPoolExecutor(max_workers=max(1, int(writers)), thread_name_prefix="png") as pool:
        pending = []
        for batch in _batches(todo, int(batch_size)):
            padded = batch + [batch[-1]] * (int(batch_size) - len(batch))  # same shapes for every batch
            latents = torch.cat([initial_latents(s.prompt_id, s.seed, shape) for s in padded])
            try:
                pixels = method_pipeline([s.prompt for s in padded], latents, guidance=batch[0].guidance,
                                         steps=steps)
            except NonFinite as exc:
                raise ErasureError(non_finite_message(method_pipeline, padded[exc.items[0]], exc)) from None
            for finished in pending:  # the previous batch's files: surface a write error before going on
                finished.result()
            pending = [pool.submit(write, spec, array) for spec, array in zip(batch, pixels)]
            done += len(batch)
            elapsed = time.perf_counter() - started
            rate = done / elapsed if elapsed > 0 else float("inf")
            log.info("images %d/%d, %.2f images/s, ETA %.0f s", done, len(todo), rate, (len(todo) - done) / rate)
        for finished in pending:
            finished.result()
    return len(todo)


def non_finite_message(method_pipeline, spec: ImageSpec, exc) -> str:
    """One line: which method, image and stage went non-finite, and the likely cause for the dtype in use."""
    dtype = str(getattr(method_pipeline.pipe.unet, "dtype", "")).replace("torch.", "")
    where = exc.what + ("" if exc.step is None else f" after denoising step {exc.step}")
    if dtype == "float16":
        cause = ("likely float16 overflow: run generation in bfloat16 or float32 (e.g. generation device: cpu, "
                 "which runs float32)")
    else:
        cause = (f"under {dtype or 'this dtype'} this points at broken weights (a checkpoint trained to NaN, "
                 "a corrupted base model) or extreme sampling settings (guidance, steps)")
    return (f"method {method_pipeline.name}: non-finite values (NaN/inf) in the {where} for prompt_id "
            f"{spec.prompt_id}, seed {spec.seed}; no image of this batch was written; {cause}")


def write_shard_manifest(out: Path, images: Sequence[ImageSpec], image_dir: Path, *, method: str,
                         batch_size: int, notes: Sequence[str] = ()) -> pd.DataFrame:
    """The shard's manifest (MANIFEST_COLUMNS), and column erasure.standins.COLUMN ("; "-joined `notes`: the
    stand-ins the images were drawn with) only where there are notes, so other manifests keep their bytes."""
    method_id = MethodId.parse(method)
    rows = []
    for spec in images:
        file = image_dir / spec.name
        if not file.is_file():
            raise ErasureError(f"{file}: image missing after generation; rerun the shard")
        rows.append({"prompt_id": spec.prompt_id, "seed": spec.seed, "method": method,
                     "run": method_id.run or "", "step": "" if method_id.step is None else method_id.step,
                     "sha256": sha256_file(file),
                     "path": Path(file).relative_to(image_dir).as_posix(), "batch_size": int(batch_size)})
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    if notes:
        frame[standins.COLUMN] = "; ".join(notes)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def generate_shard(table: str | Path, out: str | Path, *, image_dir: str | Path, method: str,
                   method_spec: Mapping | None, shard: int, shard_size: int, images_per_prompt: int,
                   sampling: Mapping, batch_size: int, base_model: str, results: str | Path, world: str,
                   device: str = "auto") -> dict:
    """One shard job: load the method, drop stale images, draw the missing ones, write the shard manifest.

    Args:
        table: the prompt set's normalised table (results/{world}/prompts/{promptset}.csv).
        out: the shard manifest to write (CSV, columns erasure.generate.manifest.MANIFEST_COLUMNS); its
            `{stem}.fingerprint.json` sibling records what the images were drawn with.
        image_dir: where the PNGs go, `{prompt_id}_{seed}.png`: RGB uint8, H = W = the UNet's sample_size ×
            the VAE's scale factor (pixels).
        method: a method id: an inference-time name or `{run}@{step}` / `{run}.student@{step}`.
        method_spec: config `inference_methods.<method>` for an inference-time method, None for a run.
        shard, shard_size: this shard's index (from 0) and the number of images per shard.
        images_per_prompt: seeds drawn per prompt.
        sampling: {"scheduler": a name of erasure.generate.settings.SCHEDULERS, "steps": denoising steps,
            "guidance": the CFG scale}.
        batch_size: images per pipeline call (clamped to the set's size; part of the fingerprint, as it
            changes pixels).
        base_model: the config's base_model; results: the results root; world: the world name.
        device: "auto" | "cpu" | "cuda[:n]" (float16 on CUDA, float32 on the CPU).

    Returns:
        Statistics: images (in the shard), drawn, removed_stale, load_s and generate_s (seconds),
        images_per_s, device, dtype.

    Raises:
        ErasureError: a shard index out of range, a run that is not complete, an unreadable base model or
            checkpoint, or NaN / inf in a batch (naming the prompt and seed).
    """
    from erasure.generate.pipelines import load_method
    from erasure.runtime import pick_device, ready

    out, image_dir, shard = Path(out), Path(image_dir), int(shard)
    prompts = read_table(table)
    every_image = enumerate_images(prompts, images_per_prompt)
    images = shard_images(every_image, shard, shard_size)
    # where a prompt's words reach the tokenizer: words a closed vocabulary lacks are said in this job's log (the
    # prompts job cannot say it without a change to its rule's code, which would rerun every prompt table)
    from erasure.prompts.vocabulary import warn_table

    warn_table(prompts, f"prompt set {image_dir.name} drawn by {method} ({table})", base_model)
    # padding a 40-image set to batches of 100 would draw 100; the set's size, unlike the shard's, is the same
    # whatever the sharding, so clamping to it keeps the bytes shard-independent
    batch_size = min(int(batch_size), len(every_image))
    torch_device = pick_device(device)
    dtype = torch.float16 if torch_device.type == "cuda" else torch.float32
    started = time.perf_counter()
    pipeline = load_method(method, method_spec, base_model=base_model, results=results, world=world,
                           scheduler=sampling["scheduler"], device=torch_device, dtype=dtype)
    fingerprint = shard_fingerprint(
        method_identity=pipeline.identity(),
        weights=weights_fingerprint(base_model, results=results, world=world, method=method),
        sampling=sampling, batch_size=batch_size, device=torch_device, dtype=dtype, image_size=pipeline.image_size,
    )
    # lineage: the stand-ins behind these weights (base, the run's record, the method's settings), carried into
    # the fingerprint and every manifest row, so a score of these images says so (erasure.scoring.score)
    method_id = MethodId.parse(method)
    notes = lineage.image_notes(
        base_model=base_model, results=results, method_spec=method_spec,
        run_complete=paths.run_complete(results, world, method_id.run) if method_id.finetuned else None)
    if notes:
        fingerprint[standins.RUN_KEY] = notes
    fp_file = fingerprint_path(out)
    removed = 0
    if fp_file.is_file():
        old = json.loads(fp_file.read_text())
        if not _same(old, fingerprint):
            removed = _remove_stale(image_dir, images)
            changed = sorted(k for k in {*old, *fingerprint} if old.get(k) != fingerprint.get(k))
            log.info("shard %s: fingerprint changed (%s), removed %d stale files", shard, ", ".join(changed), removed)
    elif any((image_dir / s.name).exists() for s in images):
        # no fingerprint for this shard (e.g. shard_size changed): keep the images only if every other
        # shard of the set was drawn with this same fingerprint
        siblings = [json.loads(f.read_text()) for f in fp_file.parent.glob("*.fingerprint.json")]
        if not siblings or not all(_same(old, fingerprint) for old in siblings):
            removed = _remove_stale(image_dir, images)
    write_json_atomic(fp_file, fingerprint)
    ready()
    loaded = time.perf_counter()
    drawn = run_images(pipeline, images, image_dir, steps=sampling["steps"], batch_size=batch_size)
    finished = time.perf_counter()
    write_shard_manifest(out, images, image_dir, method=method, batch_size=batch_size, notes=notes)
    stats = {"images": len(images), "drawn": drawn, "removed_stale": removed, "load_s": round(loaded - started, 3),
             "generate_s": round(finished - loaded, 3),
             "images_per_s": round(drawn / (finished - loaded), 3) if drawn else None,
             "device": torch_device.type, "dtype": str(dtype)}
    log.info("shard %s: %s", shard, stats)
    return stats
