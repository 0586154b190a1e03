import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_image_set
from erasure.errors import ErasureError
from erasure.metrics import catalog, registry
from erasure.metrics.summary import SUMMARY_COLUMNS

SHIM = Path(__file__).resolve().parents[2] / "workflow_scripts" / "score.py"


def _shim():
    spec = importlib.util.spec_from_file_location("score_shim", SHIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_metric_is_registered():
    assert set(catalog.METRICS) == {"nude", "nude-mace", "harm", "fid", "lpips", "clip", "target", "alignment",
                                    "fid-toy", "paired-distance"}
    for name in catalog.METRICS:  # every catalog entry names a scorer that imports
        assert callable(registry.scorer(name)), name
    with pytest.raises(ErasureError, match="unknown metric"):
        registry.score("nope", None)


def test_shim_writes_scores_and_summary(tmp_path, oracle, tiny_clip_dir):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    root = tmp_path / "results" / "toy"
    m_sd, table = write_image_set(root, "sd", arrays, prompts=["a red circle"] * 4)
    m_x, _ = write_image_set(root, "run1@000010", arrays[::-1], prompts=["a red circle"] * 4)
    main = _shim().main
    out = root / "scores"
    cases = {
        "target": ({"oracle": oracle, "concepts": "shape=triangle", "world": "toy"}, None),
        "paired-distance": ({"oracle": oracle, "world": "toy"}, str(m_sd)),
        "clip": ({"backbone": str(tiny_clip_dir), "world": "toy"}, None),
        "alignment": ({"oracle": oracle, "world": "toy"}, None),
    }
    for metric, (settings, reference) in cases.items():
        csv, summary = out / metric / "run1@000010" / "tiny.csv", out / metric / "run1@000010" / "tiny.summary.csv"
        main(m_x, table, csv, summary, metric=metric, settings=settings, reference=reference, threads=1)
        rows, s = pd.read_csv(csv), pd.read_csv(summary)
        assert len(rows) == 4 and rows["metric"].eq(metric).all()
        assert tuple(s.columns) == SUMMARY_COLUMNS and s["metric"].iloc[0] == metric
        assert s["method"].iloc[0] == "run1@000010" and s["promptset"].iloc[0] == "tiny"
        assert s["label"].iloc[0].startswith("toy-")


def test_world_mismatch_and_missing_reference(tmp_path):
    from erasure.metrics.images import ImageSet

    m, table = write_image_set(tmp_path, "sd", [np.zeros((32, 32, 3), np.uint8)] * 2)
    images = ImageSet.from_manifest(m, table)
    with pytest.raises(ErasureError, match="toy-world metric"):
        registry.score("target", images, settings={"world": "sd"})
    with pytest.raises(ErasureError, match="needs a reference"):
        registry.score("lpips", images, settings={"world": "sd"})


def test_snakemake_entry_point(tmp_path, oracle):
    """The `if "snakemake" in globals()` branch, with the objects Snakemake hands a script."""
    import runpy
    import types

    from snakemake.iocontainers import Namedlist

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    m_sd, table = write_image_set(tmp_path, "sd", arrays)
    m_x, _ = write_image_set(tmp_path, "x", arrays)
    out = tmp_path / "scores"
    sm = types.SimpleNamespace(
        input=Namedlist(fromdict={"manifest": str(m_x), "prompts": str(table), "reference": str(m_sd)}),
        output=Namedlist(fromdict={"csv": str(out / "a.csv"), "summary": str(out / "a.summary.csv")}),
        params=Namedlist(fromdict={"metric": "paired-distance", "settings": {"backbone": oracle}, "reference": None}),
        wildcards=Namedlist(fromdict={"world": "toy", "method": "x", "promptset": "tiny"}),
        threads=1,
        config={},  # Snakemake's object always has the workflow config
    )
    runpy.run_path(str(SHIM), init_globals={"snakemake": sm})
    rows = pd.read_csv(out / "a.csv")
    assert rows["value"].abs().max() < 1e-6 and rows["label"].eq("toy-oracle").all()
    assert pd.read_csv(out / "a.summary.csv")["method"].iloc[0] == "x"


# --- issue 17: every load checked (case 3), no NaN score or summary (case 4) -----------------------------------

def test_a_corrupt_png_in_a_scored_set_is_one_line_naming_it(tmp_path, oracle, capsys):
    # main: PIL's `OSError: image file is truncated` traceback from deep inside the scorer
    m, table = write_image_set(tmp_path, "sd", [np.zeros((32, 32, 3), np.uint8)] * 3)
    bad = sorted(m.parent.glob("*.png"))[1]
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(ErasureError) as err:
        _shim().main(m, table, tmp_path / "s.csv", tmp_path / "s.summary.csv", metric="target",
                     settings={"oracle": oracle, "concepts": "shape=triangle", "world": "toy"}, reference=None,
                     threads=1)
    assert "\n" not in str(err.value) and str(bad) in str(err.value) and "unreadable image" in str(err.value)
    assert not (tmp_path / "s.csv").exists()


def test_a_malformed_manifest_is_one_line(tmp_path):
    from erasure.metrics.images import ImageSet

    m, table = write_image_set(tmp_path, "sd", [np.zeros((32, 32, 3), np.uint8)] * 2)
    m.write_bytes(b"\xff\xfe\x00garbage\x00" * 50)
    with pytest.raises(ErasureError) as err:
        ImageSet.from_manifest(m, table)
    assert "\n" not in str(err.value) and str(m) in str(err.value) and "generate_set" in str(err.value)


def test_a_scorer_returning_nan_stops_the_job_and_writes_nothing(tmp_path, oracle, monkeypatch):
    # main: the NaN row is written to the score CSV and silently dropped from the summary's mean and n
    m, table = write_image_set(tmp_path, "sd", [np.zeros((32, 32, 3), np.uint8)] * 3)
    real = registry.scorer("target")

    def nan_on_second(images, **kwargs):
        scores = real(images, **kwargs)
        scores.loc[1, "value"] = float("nan")
        return scores

    monkeypatch.setattr(registry, "run_target", nan_on_second)  # what the catalog's "module:function" names
    with pytest.raises(ErasureError) as err:
        _shim().main(m, table, tmp_path / "s.csv", tmp_path / "s.summary.csv", metric="target",
                     settings={"oracle": oracle, "concepts": "shape=triangle", "world": "toy"}, reference=None,
                     threads=1)
    message = str(err.value)
    assert "\n" not in message and "metric target" in message and "non-finite" in message
    assert "prompt_id p001, seed 1001" in message
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "s.summary.csv").exists()
