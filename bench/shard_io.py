"""A generation shard's time outside the UNet: listing the image folder, PNG encoding and writing, model load.

    python bench/shard_io.py [--files 30000] [--shard 1000] [--size 512] [--batch 8] [--load-arch tiny|sd14|none]
        [--json PATH]

Runs `erasure.generate.shard.run_images` (what every generate job runs) with a method whose "denoising"
costs nothing: it returns fixed random uint8 images of `--size` px, so the wall time is everything a shard
spends besides the model — listing and cleaning the folder, latents, PNG encoding, atomic writes. The
folder is pre-filled with `--files` PNG-named files, as an image set's folder is when its 30th shard runs.
Run it against another checkout (`PYTHONPATH=OTHER python bench/shard_io.py`) to compare before / after.

The load rows (`--load-arch`: a random-weight pipeline of that architecture saved once with save_pretrained
under $BENCH_CACHE, default $TMPDIR/erasure-bench; `sd14` is SD v1.4's full size, 4.3 GB in float32) time
`erasure.models.load_base_pipeline` two ways, both in this process whatever the checkout: the weights read in
float32 and cast to float16 (what every generate job did before issue 38), and read in float16 (what
`erasure.generate.pipelines.load_method` does now), each moved to the GPU where there is one (before: moved in
float32 and cast there); each after one untimed read (the file cache warm).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


class FreeMethod:
    """A method pipeline whose call costs nothing but copying fixed images."""

    name = "free"

    def __init__(self, size: int):
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8)  # noise: PNG's worst case
        self.latent_shape = (4, size // 8, size // 8)

    def __call__(self, prompts, latents, *, guidance, steps):
        return [self.images[i % len(self.images)].copy() for i in range(len(prompts))]


def saved_pipeline(arch: str) -> Path:
    """A random-weight pipeline of `arch` saved with save_pretrained (safetensors), built once."""
    import os

    import torch

    from erasure.standins.architectures import random_pipeline

    root = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "erasure-bench")) / f"pipeline-{arch}"
    if not (root / "model_index.json").is_file():
        random_pipeline(arch, latent=8 if arch == "tiny" else 64, dtype=torch.float32).save_pretrained(root)
    return root


def load_rows(arch: str, repeats: int) -> list[dict]:
    """Median seconds of load_base_pipeline: float32 read + cast to float16 (before) against a float16 read."""
    import statistics

    import torch

    from erasure.models import load_base_pipeline

    folder = saved_pipeline(arch)
    size_gb = sum(f.stat().st_size for f in folder.rglob("*.safetensors")) / 1e9

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def fp32_then_cast():  # load_method before issue 38: read float32, move, cast on the device
        pipe = load_base_pipeline(str(folder), dtype=torch.float32).to(device).to(dtype=torch.float16)
        C.sync(device)
        return pipe

    def fp16_read():  # load_method now: read float16, move
        pipe = load_base_pipeline(str(folder), dtype=torch.float16).to(device)
        C.sync(device)
        return pipe

    rows = []
    for name, load in (("load: float32 read, cast to float16 (before)", fp32_then_cast),
                       ("load: float16 read (after)", fp16_read)):
        del_pipe = load()  # untimed: the file cache warm, lazy imports done
        del del_pipe
        times = []
        for _ in range(max(1, repeats)):
            tick = time.perf_counter()
            pipe = load()
            times.append(time.perf_counter() - tick)
            assert next(pipe.unet.parameters()).dtype == torch.float16
            del pipe
        rows.append({"name": f"{name}, {arch} ({size_gb:.2f} GB float32 on disk), to {device.type}",
                     "wall_s": round(statistics.median(times), 3), "times_s": [round(t, 3) for t in times]})
    return rows


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30_000, help="files already in the folder")
    parser.add_argument("--shard", type=int, default=1_000, help="images the shard draws")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (SD 1.x: 512)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--load-arch", choices=("none", "tiny", "sd14"), default="tiny",
                        help="pipeline whose load is timed (sd14: SD v1.4 at full size, 4.3 GB written once)")
    parser.add_argument("--load-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.reduced or C.reduced_env():
        args.files, args.shard, args.size, args.load_repeats = 3_000, 40, 64, 1
    C.apply_threads(args.threads)

    from erasure.generate.shard import ImageSpec, run_images

    rows = []
    with tempfile.TemporaryDirectory(prefix="shard-io-") as scratch:
        folder = Path(scratch) / "images"
        folder.mkdir()
        for i in range(args.files):
            (folder / f"other-{i:06d}_0.png").touch()
        specs = [ImageSpec(f"p{i:05d}", "a prompt", 0, 7.5) for i in range(args.shard)]
        tick = time.perf_counter()
        drawn = run_images(FreeMethod(args.size), specs, folder, steps=1, batch_size=args.batch)
        wall = time.perf_counter() - tick
        rows.append({"name": f"run_images {args.shard} x {args.size}px into {args.files} files",
                     "wall_s": round(wall, 3), "per_image_ms": round(1000 * wall / max(drawn, 1), 3),
                     "drawn": drawn})
        # the same shard again: everything present, so the time is listing alone
        tick = time.perf_counter()
        run_images(FreeMethod(args.size), specs, folder, steps=1, batch_size=args.batch)
        rows.append({"name": "resume with every image present (listing only)",
                     "wall_s": round(time.perf_counter() - tick, 3), "drawn": 0})
    if args.load_arch != "none":
        rows += load_rows(args.load_arch, repeats=args.load_repeats)
    doc = C.document("shard_io", args, rows, ["model time excluded: the method returns fixed images",
                                              "load rows: random weights of the named architecture"])
    return C.emit(doc, ["name", "wall_s", "per_image_ms", "drawn"], args.json)


if __name__ == "__main__":
    main()
