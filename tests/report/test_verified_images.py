"""Issue 32 kind 2 in the report: a figure shows only the bytes a set's manifest records (sample grids, image
matrices and attack grids all load through erasure.report.style.load_image)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from erasure.errors import ErasureError
from erasure.io import sha256_file
from erasure.report import grids, style


def _set(root, method, n=3):
    folder = root / "images" / method / "body"
    (folder / "shards").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((32, 32, 3), 60 * i, np.uint8)).save(folder / f"p{i}_{i}.png")
    frame = pd.DataFrame({"prompt_id": [f"p{i}" for i in range(n)], "seed": range(n),
                          "sha256": [sha256_file(folder / f"p{i}_{i}.png") for i in range(n)],
                          "path": [f"p{i}_{i}.png" for i in range(n)]})
    frame.to_csv(folder / "manifest.csv", index=False)
    frame.assign(path="../" + frame["path"]).to_csv(folder / "shards" / "0000.csv", index=False)
    return folder / "manifest.csv"


def test_a_sample_grid_refuses_an_image_replaced_after_generation(tmp_path):
    manifests = {m: _set(tmp_path, m) for m in ("sd", "esd@1")}
    prompts = tmp_path / "prompts.csv"
    pd.DataFrame({"prompt_id": ["p0", "p1", "p2"], "prompt": ["a", "b", "c"]}).to_csv(prompts, index=False)
    grids.plot_grid(manifests, prompts, tmp_path / "ok.png", n_prompts=2, n_seeds=1)  # the recorded bytes: drawn
    folder = manifests["esd@1"].parent
    (folder / "p0_0.png").write_bytes((folder / "p2_2.png").read_bytes())  # another valid PNG
    with pytest.raises(ErasureError) as err:
        grids.plot_grid(manifests, prompts, tmp_path / "bad.png", n_prompts=2, n_seeds=1)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{folder / 'p0_0.png'}: generated image has sha256")
    assert f"{manifests['esd@1']} records" in message
    assert f"delete it, {folder / 'shards' / '0000.csv'} and {manifests['esd@1']}, then rerun snakemake" in message
    assert not (tmp_path / "bad.png").exists()


def test_each_shown_image_is_hashed_not_the_whole_manifest(tmp_path, monkeypatch):
    import erasure.io

    manifest = _set(tmp_path, "sd", n=5)
    hashed = []
    real = erasure.io.sha256_file
    monkeypatch.setattr(erasure.io, "_DIGESTS", {})
    monkeypatch.setattr(erasure.io, "sha256_file", lambda path: hashed.append(path) or real(path))
    lookup = style.image_lookup({"sd": manifest})
    style.load_image(lookup["sd"][("p1", 1)])
    style.load_image(lookup["sd"][("p1", 1)])
    assert [Path(p).name for p in hashed] == ["p1_1.png"]
