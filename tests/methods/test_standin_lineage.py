"""Stand-in lineage (erasure.lineage, erasure.standins): a run that read a stand-in — a backbone resolved from the environment, a
path its settings name — records it, generation carries it into the image set's manifest, and every score of
those images is labelled stand-in, though the base model is real. Stand-ins at toy widths; the tiny pipeline
stands for a real base (no STAND-IN.json above it)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from erasure import lineage, paths, scoring, standins
from erasure.metrics.images import ImageSet
from erasure.prompts import build_prompt_table, write_table
from erasure.worlds import grounded_sam as G

ROOT = Path(__file__).resolve().parents[2]
NOTE = "stand-in: test Grounded-SAM at toy widths"


@pytest.fixture(scope="module")
def gsam(tmp_path_factory):
    """(detector, segmenter) folders of the Grounded-SAM stand-ins under one STAND-IN.json, as `python -m
    erasure.standins` lays them out."""
    from erasure.standins.build import build_grounded_sam

    root = tmp_path_factory.mktemp("standins") / "grounded-sam"
    build_grounded_sam(root)
    (root / standins.MARKER).write_text(json.dumps({"note": NOTE, "files": {}}))
    return str(root / "grounding-dino-tiny"), str(root / "sam-hq-vit-huge")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for backbone in G.BACKBONES:
        monkeypatch.delenv(backbone.env, raising=False)


def run_shim(results: Path, base: str, run: str, **params) -> Path:
    """The erase / edit rules' shim, as Snakemake calls it; returns the run's complete.json."""
    spec = importlib.util.spec_from_file_location("erase_shim", ROOT / "workflow_scripts" / "erase.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    out = paths.run_complete(results, "sd", run)
    shim.main(out, results / f"{run}.log", run=run, base_model=base, results=str(results), device="cpu", seed=0,
              **params)
    return out


def draw_and_score(results: Path, base: str, method: str, method_spec=None) -> pd.DataFrame:
    """One image (shard 0 of size 1) of `method` drawn by the generate_shard job's function, scored through `scoring.score` (its
    scorer replaced: the label is what is under test, not a metric)."""
    from erasure.generate import generate_shard

    table = results / "prompts" / "body.csv"
    write_table(build_prompt_table("body", {"source": "toy-body", "n_prompts": 5, "metrics": []}, guidance=5.0),
                table)
    image_dir = results / "sd" / "images" / method / "body"
    manifest = image_dir / "manifest.csv"
    generate_shard(table, manifest, image_dir=image_dir, method=method, method_spec=method_spec, shard=0,
                   shard_size=1, images_per_prompt=1, sampling={"scheduler": "ddim", "steps": 2, "guidance": 5.0},
                   batch_size=1, base_model=base, results=results, world="sd", device="cpu")
    images = ImageSet.from_manifest(manifest, table)
    return scoring.score("clip", images, settings={}, base_model=base)


@pytest.fixture
def fake_scorer(monkeypatch):
    monkeypatch.setattr(scoring, "_score", lambda name, images, **kw: pd.DataFrame(
        {"metric": name, "value": [0.5] * len(images), "label": ["clip"] * len(images)}))


def test_mace_run_with_a_standin_backbone_labels_its_images_scores(tiny_base, gsam, tmp_path, monkeypatch,
                                                                   fake_scorer):
    """The example: MACE's masks from the Grounded-SAM stand-ins, found through ERASURE_GROUNDING_DINO /
    ERASURE_SAM_HQ (the config names neither), on a real (non-stand-in) base. The run records the note, the
    image set's manifest carries it, its score is labelled stand-in; the base's own images are not."""
    import torch

    assert lineage.base_notes(tiny_base, tmp_path) == []
    # the tiny pipeline's 8 px samples are below GroundingDINO's feature pyramid: the masks are stubbed (their
    # code is tests/methods/test_grounded_sam.py's), the backbones' resolution is the real one
    monkeypatch.setattr(G, "concept_masks", lambda images, *a, **k: torch.ones(images.shape[0], 1, *images.shape[2:],
                                                                              dtype=torch.bool))
    monkeypatch.setenv(G.DETECTOR.env, gsam[0])
    monkeypatch.setenv(G.SEGMENTER.env, gsam[1])
    complete = run_shim(tmp_path, tiny_base, "mace-x", method="mace", preset="explicit-content",
                        concepts=["triangle"], iterations=1, checkpoint_every=1,
                        settings={"masks": "grounded-sam", "steps": 1, "images": 1, "image_steps": 1,
                                  "mapping": ["shape"], "templates": ["a {}"], "lamb": 1.0, "prior": ""})
    meta = json.loads(complete.read_text())["run_meta"]
    assert meta["settings"]["gsam_detector"] == "" and meta["settings"]["gsam_segmenter"] == ""  # resolved, not said
    assert meta[standins.RUN_KEY] == [NOTE]

    scores = draw_and_score(tmp_path, tiny_base, "mace-x@1")
    manifest = pd.read_csv(tmp_path / "sd" / "images" / "mace-x@1" / "body" / "manifest.csv")
    assert list(manifest[standins.COLUMN]) == [NOTE]
    fingerprint = json.loads((tmp_path / "sd" / "images" / "mace-x@1" / "body" / "manifest.fingerprint.json")
                             .read_text())
    assert fingerprint[standins.RUN_KEY] == [NOTE]
    assert list(scores["label"]) == ["stand-in:clip"] and list(scores["standin"]) == [NOTE]

    base = draw_and_score(tmp_path, tiny_base, "sd", {"kind": "sd"})
    assert list(base["label"]) == ["clip"] and "standin" not in base.columns


def test_settings_or_image_sets_naming_a_standin_reach_the_record(tiny_base, gsam, tmp_path):
    """Other instances: a run whose settings name a stand-in folder (the config says it); a run trained on an
    image set whose manifest records one (SalUn's D_f / D_r drawn by a stand-in-lineage model); an
    inference-time method whose config entry names one (a plug-in's backbone) — each note reaches the record
    generation reads, and only those."""
    from erasure.methods.settings import MACESettings

    named = MACESettings.resolve("explicit-content", {"gsam_segmenter": gsam[1]})
    assert lineage.run_notes(base_model=tiny_base, results=tmp_path, settings=named) == [NOTE]
    plain = MACESettings.resolve("explicit-content", {"masks": "none", "gsam_segmenter": gsam[1]})
    assert lineage.run_notes(base_model=tiny_base, results=tmp_path, settings=plain) == [NOTE]  # a path it names
    unused = MACESettings.resolve("explicit-content", {"masks": "none"})
    assert lineage.run_notes(base_model=tiny_base, results=tmp_path, settings=unused) == []

    forget = tmp_path / "forget.csv"
    pd.DataFrame({"prompt_id": ["a"], "seed": [0], standins.COLUMN: [NOTE]}).to_csv(forget, index=False)
    clean = tmp_path / "retain.csv"
    pd.DataFrame({"prompt_id": ["a"], "seed": [0]}).to_csv(clean, index=False)
    assert lineage.run_notes(base_model=tiny_base, results=tmp_path, image_sets={"retain": str(clean)}) == []
    assert lineage.run_notes(base_model=tiny_base, results=tmp_path,
                              image_sets={"forget": str(forget), "retain": str(clean)}) == [NOTE]

    assert lineage.image_notes(base_model=tiny_base, results=tmp_path,
                                method_spec={"kind": "my-plugin", "backbone": gsam[0]}) == [NOTE]
    assert lineage.image_notes(base_model=tiny_base, results=tmp_path, method_spec={"kind": "sd"}) == []
