"""The files from outside results/ that the DAG reads and a user can change: the base model's weights, the
scorers' backbones and reference data, local prompt and Q16 copies. One function per config entry kind,
each returning the files a job will read, so that the rules list them as inputs and provenance hashes them.

Torch-free and quick (the Snakefile calls it while planning): only `stat`s and small reads, no hashing.

A source that cannot be found yields no files rather than an error: `snakemake -n` plans a config whose
weights are not on this machine, and the job that needs the source stops with one line saying what to
provide (erasure.metrics.backbones, erasure.models). Once found, its files are inputs, so a changed file
reruns exactly the jobs that read it (Snakemake compares inputs <= 1 MB by checksum, larger ones by mtime;
a different set of files, e.g. a new Hugging Face snapshot revision, reruns them too).

    model directory (base model, CLIP)   the files `from_pretrained` reads: *.json, *.txt, *.safetensors
                                         (erasure.metrics.backbones.DEFAULT_ALLOW), hidden ones skipped
    hub id                               the same files of the cached snapshot the loader reads: for an id
                                         its family pins (erasure.worlds.hub_ids), snapshots/{pinned commit}/
                                         whatever refs/main says; else the one refs/main names, plus refs/main
                                         itself (huggingface_hub's cache layout:
                                         models--{org}--{name}/refs/main -> snapshots/{commit}/)
    FID reference                        the .npz, or a listing of the folder's images as the FID scorer
                                         lists them (`folder_listing`: written while planning, when it changed)
    single files                         Inception, AlexNet, NudeNet's 320n.onnx, a local Q16 pickle or prompt file
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

# dag_path and built_root live low in the stack (erasure.records, erasure.weights use them); the
# weight files' names and resolvers live with their Weight entries (erasure.weights): the scorers
# below this module read them from there, the rules through here
from erasure.hub import hub_snapshot, listed_files, model_files  # noqa: F401 - the DAG's names for them
from erasure.io import built_root, dag_path
from erasure.metrics import catalog


# --- paths as the DAG records them ------------------------------------------------------------------------

def dag_paths(files: Sequence[Path], built: Sequence[Path] = ()) -> list[Path]:
    """`dag_path` of each file, but a folder of `built` as configured: it is the output of its rule, whose
    path must match it."""
    return [f if f in built else dag_path(f) for f in files]


# --- folders the DAG builds itself ---------------------------------------------------------------------------

def built_roots(config: Mapping) -> tuple[Path, ...]:
    """Folders that a rule of the DAG builds and that a config may point into (`standins:`, erasure.standins).

    A source inside one is pinned by that folder, the output of its rule, not by the files in it: those do
    not exist while the first plan is made, so listing them would change the inputs between the first plan
    and the next, and rerun every job that reads them."""
    return (Path(str(config["standins"])),) if config.get("standins") else ()


# --- model directories and hub snapshots ------------------------------------------------------------------

def base_model_files(base_model: str, root: str | os.PathLike = "results", built: Sequence[Path] = ()) -> list[Path]:
    """What pins the base model, as DAG inputs of every rule that loads it and nodes of provenance: its world's
    `base_files` (erasure.worlds: a shipped base's checksum list, the folder of a base the DAG trains, else the
    files of a local directory or cached hub snapshot, `model_files`)."""
    from erasure.worlds import world_for

    return dag_paths(world_for(base_model).base_files(base_model, root, built), built)


# --- scorers: each weight's files come from its Weight entry (erasure.weights), FID's reference from here ------

def fid_reference_files(reference: str | None, listings: Path | None = None, built: Sequence[Path] = ()) -> list[Path]:
    """The .npz; for a folder, its listing file under `listings` (see `folder_listing`), or without
    `listings` the images themselves, as the FID scorer lists them."""
    if not reference:
        return []
    if root := built_root(reference, built):
        return [root]
    path = Path(reference).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return [folder_listing(path, listings)] if listings is not None else list(_image_listing(str(path)))


@functools.lru_cache(maxsize=None)  # planning asks once per score job and provenance: list once per process
def _image_listing(folder: str) -> tuple[Path, ...]:
    from erasure.metrics.images import folder_images  # the scorer's own listing (clean-fid's rules)

    return tuple(folder_images(Path(folder)))


@functools.lru_cache(maxsize=None)
def folder_listing(folder: Path, listings: Path) -> Path:
    """A folder of reference images as ONE input: `listings/{name}-{digest of its path}.tsv`, a line
    (relative path, bytes, mtime in ns) per image the scorer reads, rewritten only when that changes.

    COCO val2014 holds 40,504 images: as inputs of every FID job they cost Snakemake ~50 s of CPU per plan
    (measured on paper.yaml); one listing costs a directory walk. An added, removed, resized or rewritten
    image changes the listing and reruns FID; a file the scorer skips does not; as for any input over 1 MB,
    an image whose mtime alone changed reruns it too."""
    folder = Path(folder)  # named as configured: a relative path stays relative to the workdir
    lines = ["path\tbytes\tmtime_ns"]
    for file in _image_listing(str(folder)):
        stat = file.stat()
        lines.append(f"{file.relative_to(folder).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}")
    text = "\n".join(lines) + "\n"
    out = Path(listings) / f"{folder.resolve().name}-{hashlib.sha256(str(folder).encode()).hexdigest()[:12]}.tsv"
    try:
        unchanged = out.read_text() == text
    except OSError:
        unchanged = False
    if not unchanged:  # an unchanged listing keeps its mtime, so nothing downstream reruns
        from erasure.io import atomic_write

        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out) as handle:
            handle.write(text)
    return out


def _scorers_read_base(world: str) -> bool:
    from erasure.worlds import get_world

    return get_world(world).scorers_read_base


def metric_files(metric: str, settings: Mapping, world: str, listings: Path | None = None,
                 built: Sequence[Path] = ()) -> list[Path]:
    """Every file from outside results/ that scoring `metric` with `settings` reads: each weight's own
    (`Weight.files`, erasure.weights) and a config-named reference set (none for a world's own
    scorers: their backbones are part of its base, an input of its own); a folder of reference images
    as its listing file under `listings` (results/{world}/resources/listings/) where given."""
    spec = catalog.METRICS.get(metric)
    if spec is None:
        return []
    own_backbones = bool(spec.weights) and _scorers_read_base(world)
    files = [f for weight in spec.weights for f in weight.files(settings, built, own_backbones)]
    if spec.reference == catalog.SET and not spec.reference_from_world:
        files += fid_reference_files(settings.get("reference"), listings, built)
    return dag_paths(files, built)


# --- prompt files and Q16 -----------------------------------------------------------------------------------

def local_file(value: str | None) -> Path | None:
    """A config value naming a local file (not a URL), or None."""
    if not value or str(value).startswith(("http://", "https://")):
        return None
    return dag_path(value)
