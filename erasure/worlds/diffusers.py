"""The diffusers world ("sd", the paper's): a base model given as a Hugging Face hub id or a local diffusers
directory (Stable Diffusion v1.4 or its stand-in), scored by the real scorers (NudeNet, Q16, clean-fid, LPIPS,
CLIP), whose weights come from outside the repository. The default family: it claims every base_model no
other world claims. Torch-free."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from erasure.errors import ErasureError
from erasure.worlds import JobResources, World
from erasure.worlds.hub_ids import pinned_revision

SD_HELP = (
    "provide the weights as a local diffusers directory (base_model: /path/to/stable-diffusion-v1-4), "
    "or put them in the Hugging Face cache (HF_HOME, e.g. `hf download CompVis/stable-diffusion-v1-4 "
    f"--revision {pinned_revision('CompVis/stable-diffusion-v1-4')}` after `hf auth login` on a machine with internet)"
)


class DiffusersWorld(World):
    def claims(self, base_model: str) -> bool:
        return True

    def pipeline_source(self, base_model: str, results_root: str | Path = "results") -> str:
        path = Path(base_model).expanduser()
        if path.exists():
            if not (path / "model_index.json").is_file():
                raise ErasureError(f"{path}: not a diffusers pipeline directory (no model_index.json)")
            return str(path)
        return base_model

    def base_files(self, base_model: str, results_root: str | Path = "results", built: Sequence[Path] = ()) -> list[Path]:
        # the files from_pretrained reads of a local directory or of the cached hub snapshot it loads: the pinned
        # commit's for a pinned id, else refs/main's (with that refs file)
        from erasure.hub import model_files

        return model_files(base_model, built, self.hub_revision(base_model))

    def hub_id(self, base_model: str) -> str | None:
        # not a local directory: a hub id (or a path not on this machine, which nothing pins)
        return None if Path(base_model).expanduser().is_dir() else base_model

    def hub_revision(self, base_model: str) -> str | None:
        from erasure.worlds.hub_ids import pinned_revision

        hub_id = self.hub_id(base_model)
        return pinned_revision(hub_id) if hub_id else None

    def base_fix(self) -> str:
        return SD_HELP


WORLD = DiffusersWorld(
    name="sd",
    resources={
        # SD v1.4: ~1 h per 1000 iterations on a 24 GB GPU (Appendix B.1)
        "erase": JobResources(threads=1, mem_mb=48000, runtime=60, per_minute=10),
        # a closed-form edit (UCE, RECE): the text encoder and 32 matrices of 320-1280 x 768, ~a minute on a CPU
        # (MACE's edit, a GPU job: its runtime comes from the cost model, erasure.cost.model.edit_seconds)
        "edit": JobResources(threads=1, mem_mb=24000, runtime=60),
        # an attack shard (UnlearnDiffAtk: ~5-8 min a prompt on one GPU, an estimate; config attacks.resources wins)
        "attack": JobResources(threads=4, mem_mb=32000, runtime=720),
        # ~1 s an image on a GPU (SLD / SEGA ~1.5x): 30 min plus a minute per 20 images of a shard
        "generate": JobResources(threads=4, mem_mb=24000, runtime=30, per_minute=20),
        # CLIP ViT-L/14 and Inception take 1-2 s an image on one CPU thread (bench/results/cpu.json): the GPU
        # where the cluster has one (cluster.score_gpus), 8 threads either way, a minute more per 60 images
        "score": JobResources(threads=8, mem_mb=16000, runtime=60, per_minute=60),
    },
)
