"""Snakemake shim: render held-out real toy images (the FID-toy reference set)."""

from pathlib import Path

from PIL import Image

from erasure.io import atomic_dir
from erasure.worlds import get_world


def main(out_dir: Path, *, n: int, seed: int) -> None:
    images = get_world("toy").reference_images(n, seed)
    # an interrupted job never leaves a partial reference set
    with atomic_dir(out_dir) as tmp:
        for index, image in enumerate(images):
            Image.fromarray(image).save(tmp / f"real_{index:05d}.png")


if "snakemake" in globals():
    from erasure.runtime import job

    _sm = globals()["snakemake"]
    with job(_sm.log[0], _sm.threads):
        main(Path(_sm.output[0]), **_sm.params)
