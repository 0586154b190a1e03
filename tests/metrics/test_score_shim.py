import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_image_set
from erasure.errors import ErasureError
from erasure import scoring
from erasure.metrics import catalog
from erasure.metrics.summary import SUMMARY_COLUMNS, declare, summarize, summarize_file

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
        assert callable(scoring.scorer(name)), name
    with pytest.raises(ErasureError, match="unknown metric"):
        scoring.score("nope", None)


def test_shim_writes_scores_and_the_summary_rule_derives_the_same_summary_from_the_file(tmp_path, oracle,
                                                                                        tiny_clip_dir):
    """The score job writes the per-image file only; `summarize_file` (the summarize_score rule) reads it back
    and gives exactly the summary of the scorer's frame, sub-metrics (alignment per attribute) included."""
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
        main(m_x, table, csv, metric=metric, settings=settings, reference=reference, threads=1)
        assert not summary.exists()  # not the score job's: its own rule's
        s = summarize_file(csv, summary, metric=metric, method="run1@000010", promptset="tiny")
        pd.testing.assert_frame_equal(pd.read_csv(summary), s.reset_index(drop=True), check_dtype=False)
        rows = pd.read_csv(csv)
        assert len(rows) == 4 and rows["metric"].eq(metric).all()
        assert tuple(s.columns) == SUMMARY_COLUMNS and s["metric"].iloc[0] == metric
        assert s["method"].iloc[0] == "run1@000010" and s["promptset"].iloc[0] == "tiny"
        assert s["label"].iloc[0].startswith("toy-")
        # the same numbers as summarising the scorer's own frame in memory
        from erasure.metrics.images import ImageSet

        frame = scoring.score(metric, ImageSet.from_manifest(m_x, table), settings=settings, threads=1,
                               reference=ImageSet.from_manifest(reference, table) if reference else None)
        expected = summarize(frame, metric=metric, method="run1@000010", promptset="tiny")
        pd.testing.assert_frame_equal(s, expected)
        if metric == "alignment":  # sub-metrics come back from the catalog, not from attrs lost in the CSV
            assert {"alignment:shape", "alignment:colour"} <= set(s["metric"])


def test_world_mismatch_and_missing_reference(tmp_path):
    from erasure.metrics.images import ImageSet

    m, table = write_image_set(tmp_path, "sd", [np.zeros((32, 32, 3), np.uint8)] * 2)
    images = ImageSet.from_manifest(m, table)
    with pytest.raises(ErasureError, match="toy-world metric"):
        scoring.score("target", images, settings={"world": "sd"})
    with pytest.raises(ErasureError, match="needs a reference"):
        scoring.score("lpips", images, settings={"world": "sd"})


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
        output=Namedlist(fromdict={"csv": str(out / "a.csv")}),
        params=Namedlist(fromdict={"metric": "paired-distance", "settings": {"backbone": oracle}, "reference": None}),
        wildcards=Namedlist(fromdict={"world": "toy", "method": "x", "promptset": "tiny"}),
        threads=1,
        config={},  # Snakemake's object always has the workflow config
    )
    runpy.run_path(str(SHIM), init_globals={"snakemake": sm})
    rows = pd.read_csv(out / "a.csv")
    assert rows["value"].abs().max() < 1e-6 and rows["label"].eq("toy-oracle").all()
    assert not (out / "a.summary.csv").exists()


# --- issue 17: every load checked (case 3), no NaN score or summary (case 4) -----------------------------------

def test_a_corrupt_png_in_a_scored_set_is_one_line_naming_it_and_how_to_regenerate_it(tmp_path, oracle, capsys):
    # main: PIL's `OSError: image file is truncated` traceback from deep inside the scorer; then (issue 32)
    # one line whose fix was the reference folder's ("remove it from the reference folder")
    m, table = write_image_set(tmp_path, "sd", [np.zeros((32, 32, 3), np.uint8)] * 3)
    bad = sorted(m.parent.glob("*.png"))[1]
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(ErasureError) as err:
        _shim().main(m, table, tmp_path / "s.csv", metric="target",
                     settings={"oracle": oracle, "concepts": "shape=triangle", "world": "toy"}, reference=None,
                     threads=1)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{bad}: generated image has sha256")
    assert f"{m} records" in message and "regenerate it: delete it" in message and f"and {m}" in message
    assert "reference folder" not in message
    assert not (tmp_path / "s.csv").exists()


def _shard_set(tmp_path, arrays, prompts=None):
    """An image set as generation leaves it: manifest.csv plus its one shard manifest under shards/."""
    m, table = write_image_set(tmp_path, "sd", arrays, prompts=prompts)
    (m.parent / "shards").mkdir()
    pd.read_csv(m).to_csv(m.parent / "shards" / "0000.csv", index=False)
    return m, table


def test_an_image_replaced_by_another_valid_png_is_refused_naming_it_its_manifest_and_its_shard(tmp_path, oracle):
    """Issue 32 kind 2, the example: another prompt's image copied over one of the set (a valid PNG) was scored
    with exit 0 (alignment 100 -> 0 for it, the set's CLIP mean moved, silently)."""
    from erasure.metrics.images import ImageSet

    rng = np.random.default_rng(1)
    m, table = _shard_set(tmp_path, [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)])
    files = sorted(m.parent.glob("*.png"))
    files[0].write_bytes(files[2].read_bytes())
    with pytest.raises(ErasureError) as err:
        _shim().main(m, table, tmp_path / "s.csv", metric="alignment", settings={"oracle": oracle, "world": "toy"},
                     reference=None, threads=1)
    message = str(err.value)
    shard = m.parent / "shards" / "0000.csv"
    assert "\n" not in message and message.startswith(f"{files[0]}: generated image")
    assert f"{m} records" in message and f"delete it, {shard} and {m}, then rerun snakemake" in message
    assert not (tmp_path / "s.csv").exists()
    files[0].unlink()  # the fix's first step; ImageSet then names the missing image with the same fix
    with pytest.raises(ErasureError, match="missing.*regenerate it: delete it"):
        ImageSet.from_manifest(m, table)


def test_the_reference_methods_image_of_a_paired_metric_is_verified_too(tmp_path, oracle):
    """Second instance: paired-distance (LPIPS alike) reads the reference method's images by its manifest."""
    rng = np.random.default_rng(2)
    arrays = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    m_sd, table = write_image_set(tmp_path / "results", "sd", arrays)
    m_x, _ = write_image_set(tmp_path / "results", "x", arrays[::-1])
    swapped = sorted(m_sd.parent.glob("*.png"))
    swapped[1].write_bytes(swapped[0].read_bytes())
    with pytest.raises(ErasureError) as err:
        _shim().main(m_x, table, tmp_path / "s.csv", metric="paired-distance",
                     settings={"oracle": oracle, "world": "toy"}, reference=str(m_sd), threads=1)
    assert f"{swapped[1]}: generated image has sha256" in str(err.value) and f"{m_sd} records" in str(err.value)
    assert not (tmp_path / "s.csv").exists()


def test_a_set_job_hashes_each_image_once(tmp_path, oracle, monkeypatch):
    """Verifying costs one sha256 per file per job: the reference method's set, read by two metrics' inputs,
    is not hashed twice (erasure.loads.file_sha256)."""
    import erasure.io

    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    m_sd, table = write_image_set(tmp_path, "sd", arrays)
    m_x, _ = write_image_set(tmp_path, "x", arrays[::-1])
    hashed = []
    real = erasure.io.sha256_file
    monkeypatch.setattr(erasure.io, "_DIGESTS", {})
    monkeypatch.setattr(erasure.io, "sha256_file", lambda path: hashed.append(str(path)) or real(path))
    settings = {"oracle": oracle, "world": "toy"}
    scoring.score_set(m_x, table, {"paired-distance": (settings, str(m_sd), tmp_path / "a.csv"),
                                  "alignment": (settings, None, tmp_path / "b.csv")}, threads=1)
    # the set rule reads the reference per paired metric: score it twice with it as x as well
    scoring.score_set(m_sd, table, {"paired-distance": (settings, str(m_sd), tmp_path / "c.csv")}, threads=1)
    assert len(hashed) == 8 and len(set(hashed)) == 8


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
    real = scoring.scorer("target")

    def nan_on_second(images, **kwargs):
        scores = real(images, **kwargs)
        scores.loc[1, "value"] = float("nan")
        return scores

    monkeypatch.setattr(scoring, "run_target", nan_on_second)  # what the catalog's "module:function" names
    with pytest.raises(ErasureError) as err:
        _shim().main(m, table, tmp_path / "s.csv", metric="target",
                     settings={"oracle": oracle, "concepts": "shape=triangle", "world": "toy"}, reference=None,
                     threads=1)
    message = str(err.value)
    assert "\n" not in message and "metric target" in message and "non-finite" in message
    assert "prompt_id p001, seed 1001" in message
    assert not (tmp_path / "s.csv").exists()


def test_a_hand_edited_score_file_is_what_its_summary_says(tmp_path, oracle):
    """Issue 32 kind 3: a per-image row changed by hand (a reviewed false positive) is in the summary the
    summarize_score rule derives; a NaN typed into it is one line naming the file."""
    m, table = write_image_set(tmp_path, "sd", [np.zeros((32, 32, 3), np.uint8)] * 4)
    csv, summary = tmp_path / "s.csv", tmp_path / "s.summary.csv"
    _shim().main(m, table, csv, metric="target",
                 settings={"oracle": oracle, "concepts": "shape=triangle", "world": "toy"}, reference=None, threads=1)
    before = summarize_file(csv, summary, metric="target", method="sd", promptset="tiny")["mean"].iloc[0]
    frame = pd.read_csv(csv)
    frame.loc[0, "value"] = 100.0 - frame.loc[0, "value"]
    frame.to_csv(csv, index=False)
    after = summarize_file(csv, summary, metric="target", method="sd", promptset="tiny")
    assert after["mean"].iloc[0] == pytest.approx(before + (frame.loc[0, "value"] * 2 - 100.0) / 4)
    assert pd.read_csv(summary)["mean"].iloc[0] == after["mean"].iloc[0]
    frame.loc[1, "value"] = float("nan")
    frame.to_csv(csv, index=False)
    with pytest.raises(ErasureError) as err:
        summarize_file(csv, summary, metric="target", method="sd", promptset="tiny")
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{csv}: 1 non-finite value")


def test_declare_reads_sub_metrics_from_the_catalog():
    frame = pd.DataFrame({"value": [100.0, float("nan")], "ok_shape": [1.0, float("nan")], "pred_shape": ["a", "b"]})
    assert declare(frame, "alignment").attrs == {"submetrics": {"alignment:shape": "ok_shape"},
                                                 "not_applicable": ["value", "ok_shape"]}
    assert declare(pd.DataFrame({"value": [1.0], "ok_x": [1.0]}), "target").attrs == {}
