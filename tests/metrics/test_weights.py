"""Every weight file a metric needs has a config key and an environment fallback (erasure.weights),
and a failing score job names its metric (fault kind 1 of issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from conftest import random_arrays, write_image_set
from erasure.errors import ErasureError
from erasure import scoring
from erasure.metrics import catalog, lpips_metric, nudenet
from erasure.metrics.images import ImageSet
from erasure.metrics.catalog import WEIGHTS

REPO = Path(__file__).resolve().parents[2]


def _alexnet_stub(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not weights")
    return path


def test_lpips_alexnet_has_a_config_key_then_an_environment_fallback(tmp_path, monkeypatch):
    """The issue's example: LPIPS could only find AlexNet in $TORCH_HOME."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    hub = _alexnet_stub(tmp_path / "hub" / "checkpoints" / lpips_metric.ALEXNET_FILE)
    env = _alexnet_stub(tmp_path / "env" / lpips_metric.ALEXNET_FILE)
    key = _alexnet_stub(tmp_path / "key" / "lab-copy.pth")
    monkeypatch.delenv("ERASURE_ALEXNET", raising=False)
    assert lpips_metric.alexnet_weights() == hub
    monkeypatch.setenv("ERASURE_ALEXNET", str(env.parent))  # a folder holding the file works too
    assert lpips_metric.alexnet_weights() == env
    assert lpips_metric.alexnet_weights(str(key)) == key     # metrics.lpips.alexnet wins


def test_nudenet_model_has_a_config_key_then_an_environment_fallback(tmp_path, monkeypatch):
    """Another instance: NudeNet's detector was only ever the wheel's file."""
    monkeypatch.delenv("ERASURE_NUDENET", raising=False)
    assert nudenet.model_file().name == "320n.onnx"
    copy = tmp_path / "lab" / "320n.onnx"
    copy.parent.mkdir()
    copy.write_bytes(b"x")
    monkeypatch.setenv("ERASURE_NUDENET", str(copy))
    assert nudenet.model_file() == copy
    with pytest.raises(ErasureError, match="settings.model: NudeNet model .*missing.onnx not found"):
        nudenet.model_file(str(tmp_path / "missing.onnx"))


@pytest.mark.parametrize("metric", sorted(WEIGHTS))
def test_every_weight_key_is_a_config_key(metric):
    """The kind: every weight a metric needs can be named in the config (the schema accepts its key) and
    has an environment variable; a scorer resolving a weight elsewhere would bypass this table."""
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    spec = schema["properties"]["metrics"]["properties"][metric]
    if "$ref" in spec:
        spec = schema["$defs"][spec["$ref"].rsplit("/", 1)[1]]
    for weight in WEIGHTS[metric]:
        assert weight.key in spec["properties"], (metric, weight.key)
        assert weight.env.startswith("ERASURE_") and weight.provide
        settings = catalog.get(metric).settings
        assert weight.key in settings or f"{weight.key}|backbone" in settings \
            or weight.key == "q16_source"  # consumed by the q16_prompts rule, not the scorer


def test_a_failing_lpips_job_names_its_metric(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty"))
    monkeypatch.delenv("ERASURE_ALEXNET", raising=False)
    m_sd, prompts = write_image_set(tmp_path, "sd", random_arrays(2, size=32))
    m_x, _ = write_image_set(tmp_path, "x", random_arrays(2, size=32, seed=1))
    with pytest.raises(ErasureError) as err:
        scoring.score("lpips", ImageSet.from_manifest(m_x, prompts),
                       reference=ImageSet.from_manifest(m_sd, prompts), settings={"world": "sd"})
    assert str(err.value).startswith("metric lpips: ") and "metrics.lpips.alexnet" in str(err.value)


def test_each_metric_has_its_own_score_rule(tmp_path):
    """Snakemake reports a failing job by rule name: an LPIPS job must not be `score_clip`."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules", "-s", str(REPO / "Snakefile"),
                          "-d", str(tmp_path), "--configfile", str(REPO / "config/paper.yaml")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rules = {line.split()[0] for line in out.stdout.splitlines() if line.strip() and line.split()[0].startswith("score_")}
    assert {"score_lpips", "score_fid", "score_clip", "score_harm", "score_nude", "score_nude_mace"} <= rules
