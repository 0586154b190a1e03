"""A generation shard's time outside the UNet: listing the image folder, PNG encoding and writing.

    python bench/shard_io.py [--files 30000] [--shard 1000] [--size 512] [--batch 8] [--json PATH]

Runs `erasure.generate.shard.run_images` (what every generate job runs) with a method whose "denoising"
costs nothing: it returns fixed random uint8 images of `--size` px, so the wall time is everything a shard
spends besides the model — listing and cleaning the folder, latents, PNG encoding, atomic writes. The
folder is pre-filled with `--files` PNG-named files, as an image set's folder is when its 30th shard runs.
Run it against another checkout (`PYTHONPATH=OTHER python bench/shard_io.py`) to compare before / after.
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


def main(argv=None) -> dict:
    parser = C.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30_000, help="files already in the folder")
    parser.add_argument("--shard", type=int, default=1_000, help="images the shard draws")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (SD 1.x: 512)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    if args.reduced or C.reduced_env():
        args.files, args.shard, args.size = 3_000, 40, 64
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
    doc = C.document("shard_io", args, rows, ["model time excluded: the method returns fixed images"])
    return C.emit(doc, ["name", "wall_s", "per_image_ms", "drawn"], args.json)


if __name__ == "__main__":
    main()
