"""Snakemake shim: render held-out real toy images (the FID-toy reference set)."""

import shutil
from pathlib import Path

from PIL import Image

from erasure.io import temp_dir
from erasure.worlds import get_world


def main(out_dir: Path, *, n: int, seed: int) -> None:
    images = get_world("toy").reference_images(n, seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Render into a sibling temp dir and rename, so an interrupted job never leaves a partial reference set.
    tmp = temp_dir(out_dir.parent, prefix=f".{out_dir.name}.")
    try:
        for index, image in enumerate(images):
            Image.fromarray(image).save(tmp / f"real_{index:05d}.png")
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), **_sm.params)
