"""Grounded-SAM, MACE's mask backbones in the SD world (erasure/worlds/grounded_sam.py), against Shilin-LU/MACE @
057e7a6 src/grounded_sam_util.py::get_mask: on the stand-in models (erasure.standins: GroundingDINO and SAM-HQ at
toy widths, random weights: the masks mean nothing) the masks have the contract's shape and dtype and a no-box
image is every pixel; with stub models of known outputs, the detector sees the unnormalised image at its own
size and the boxes are theirs (box threshold, cx cy w h -> pixel corners), and the box -> mask step is SAM's mask
of each box OR-ed; a backbone not on this machine is one line naming its settings key, in the job and in
preflight; MACE's LoRA stage gets the masks."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from erasure.errors import ErasureError
from erasure.methods import mace
from erasure.methods.settings import MACESettings
from erasure.worlds import grounded_sam as G


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """(detector folder, segmenter folder): the stand-ins `python -m erasure.standins` builds."""
    from erasure.standins.build import build_grounded_sam

    root = tmp_path_factory.mktemp("gsam")
    build_grounded_sam(root)
    return str(root / "grounding-dino-tiny"), str(root / "sam-hq-vit-huge")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for backbone in G.BACKBONES:
        monkeypatch.delenv(backbone.env, raising=False)


def test_masks_on_the_standin_and_the_no_box_case(standin):
    detector, segmenter = standin
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 48)  # H != W: a transposed mask or box would not fit
    masks = G.concept_masks(images, "nudity", detector=detector, segmenter=segmenter, box_threshold=0.0)
    assert masks.shape == (2, 1, 64, 48) and masks.dtype == torch.bool
    det, processor = G.load(G.DETECTOR, detector)
    found = G.boxes(det, processor, images[0], "nudity", box_threshold=0.0)  # every query passes 0
    assert found.shape == (det.config.num_queries, 4)
    assert float(found[:, [0, 2]].max()) <= 48 + 1e-4 and float(found[:, [1, 3]].max()) <= 64 + 1e-4
    # no box passes a threshold of 1 (a sigmoid never exceeds it): get_mask's torch.ones((1, 1, H, W)) — every pixel
    assert len(G.boxes(det, processor, images[0], "nudity", box_threshold=1.0)) == 0
    none = G.concept_masks(images, "nudity", detector=detector, segmenter=segmenter, box_threshold=1.0)
    assert none.shape == (2, 1, 64, 48) and bool(none.all())


class _Detector(torch.nn.Module):
    """GroundingDINO with known outputs: query 0 scores 0.9 at box (cx .25, cy .5, w .2, h .4), query 1 scores
    0.2 (below 0.3) elsewhere; it keeps the inputs it was given."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = {}

    def forward(self, **inputs):
        self.seen = inputs
        n_text = inputs["input_ids"].shape[1]
        logits = torch.full((1, 2, 256), -1e4)
        logits[0, 0, 1:n_text - 1] = torch.logit(torch.tensor(0.9))
        logits[0, 1, 1:n_text - 1] = torch.logit(torch.tensor(0.2))
        boxes = torch.tensor([[[0.25, 0.5, 0.2, 0.4], [0.7, 0.7, 0.2, 0.2]]])
        return types.SimpleNamespace(logits=logits, pred_boxes=boxes, input_ids=inputs["input_ids"])


def test_detector_input_and_boxes_as_theirs(standin):
    _, processor = G.load(G.DETECTOR, standin[0])
    det = _Detector()
    image = torch.rand(3, 40, 60)
    found = G.boxes(det, processor, image, "  Nudity ")
    # get_grounding_output: the caption lower-cased, stripped, ending in "."
    assert processor.tokenizer.decode(det.seen["input_ids"][0], skip_special_tokens=True).replace(" ", "") == "nudity."
    # data_preparation.py: ToTensor()'s image, not normalised, not resized
    assert det.seen["pixel_values"].shape == (1, 3, 40, 60)
    assert torch.allclose(det.seen["pixel_values"][0], image, atol=1e-6)
    # box_threshold 0.3 keeps query 0 only; cx cy w h in [0, 1] -> x0 y0 x1 y1 at (W, H) = (60, 40)
    assert torch.allclose(found, torch.tensor([[0.15 * 60, 0.3 * 40, 0.35 * 60, 0.7 * 40]]), atol=1e-4)
    assert len(G.boxes(det, processor, image, "nudity", box_threshold=0.1)) == 2


class _Segmenter(torch.nn.Module):
    """SAM-HQ with known outputs: each box prompt's low-res logits are +1 inside the box (in the 256-px frame of
    the padded 1024-px input) and -1 outside."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = {}

    def forward(self, pixel_values, input_boxes, multimask_output):
        self.seen = {"pixel_values": pixel_values, "input_boxes": input_boxes, "multimask_output": multimask_output}
        n = input_boxes.shape[1]
        low = torch.full((1, n, 1, 256, 256), -1.0)
        ys, xs = torch.meshgrid(torch.arange(256) + 0.5, torch.arange(256) + 0.5, indexing="ij")
        for k, (x0, y0, x1, y1) in enumerate(input_boxes[0] / 4):
            low[0, k, 0][(xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)] = 1.0
        return types.SimpleNamespace(pred_masks=low)


def test_box_to_mask_is_the_union_of_each_boxes_mask(standin):
    _, processor = G.load(G.SEGMENTER, standin[1])
    seg = _Segmenter()
    H, W = 48, 80
    image = torch.rand(3, H, W)
    boxes = torch.tensor([[4.0, 6.0, 28.0, 20.0], [50.0, 24.0, 76.0, 44.0]])  # disjoint, not square
    mask = G.segment(seg, processor, image, boxes)
    assert mask.shape == (1, H, W) and mask.dtype == torch.bool
    assert seg.seen["multimask_output"] is False and seg.seen["input_boxes"].shape == (1, 2, 4)
    want = torch.zeros(H, W, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes.int().tolist():
        want[y0:y1, x0:x1] = True
    # the OR of the two boxes' masks, up to SAM's resampling at the rectangles' edges
    assert float((mask[0] == want).float().mean()) > 0.97
    assert bool(mask[0, 10, 10]) and bool(mask[0, 34, 60]) and not bool(mask[0, 40, 10]) and not bool(mask[0, 10, 60])
    # SAM's image: get_mask's ((x / max|x| + 1) * 127.5) of a [0, 1] image, in [127, 255]
    sam = G.sam_image(image)
    assert sam.dtype == np.uint8 and sam.shape == (H, W, 3) and sam.min() >= 127
    assert np.array_equal(sam, ((image.numpy() / float(image.max()) + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0))
    # no box: every pixel, and SAM is not asked
    assert bool(G.segment(None, None, image, torch.zeros(0, 4)).all())


def test_a_missing_backbone_is_one_line_naming_its_key(standin, tmp_path, monkeypatch):
    images = torch.rand(1, 3, 64, 64)
    with pytest.raises(ErasureError) as error:
        G.concept_masks(images, "nudity", detector=str(tmp_path / "none"), segmenter=standin[1])
    assert str(error.value).startswith("settings.gsam_detector (or $ERASURE_GROUNDING_DINO): ")
    assert "\n" not in str(error.value)
    # the default: the pinned hub id, read from the HF cache only; an empty cache names the command
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ErasureError, match=r"^settings.gsam_segmenter .*not in the HF cache at the pinned commit "
                       r"9d9d5350.*hf download syscv-community/sam-hq-vit-huge --revision 9d9d5350"):
        G.folder(G.SEGMENTER, G.SEGMENTER.source(MACESettings.resolve("explicit-content")))
    # the environment fallback, below the settings key
    monkeypatch.setenv("ERASURE_SAM_HQ", standin[1])
    assert G.SEGMENTER.source(MACESettings.resolve("explicit-content")) == standin[1]
    assert G.SEGMENTER.source(MACESettings.resolve("explicit-content", {"gsam_segmenter": "x/y"})) == "x/y"


def test_preflight_names_the_key_and_the_dag_lists_the_files(standin, tmp_path):
    from pathlib import Path

    from erasure import preflight

    runs = {"m": {"method": "mace", "preset": "explicit-content", "concepts": "nudity", "iterations": 1,
                  "checkpoint_every": 1,
                  "settings": {"gsam_detector": str(tmp_path / "none"), "gsam_segmenter": standin[1]}},
            "n": {"method": "mace", "preset": "explicit-content", "concepts": "nudity", "iterations": 1,
                  "checkpoint_every": 1, "settings": {"masks": "none"}}}
    ctx = preflight.Context({"world": "sd", "runs": runs}, ["c.yaml"], tmp_path)
    items = preflight.check_method_backbones(ctx)
    assert len(items) == 2  # run n has no backbones
    bad, good = items
    assert not bad.ok and "settings.gsam_detector" in bad.line() and "\n" not in bad.line()
    assert "ERASURE_GROUNDING_DINO" in bad.line() and good.ok and "sam_hq" in good.detail
    files = G.SEGMENTER.files(MACESettings.resolve("explicit-content", {"gsam_segmenter": standin[1]}))
    assert {Path(f).name for f in files} >= {"config.json", "model.safetensors"}
    assert MACESettings.resolve("explicit-content", {"masks": "none"}).backbones() == ()


def test_mace_lora_stage_gets_the_masks(tiny_base, monkeypatch):
    from erasure.models import load_base_pipeline

    pipe = load_base_pipeline(tiny_base)
    calls, given = [], []

    def concept_masks(images, concept, *, detector, segmenter, box_threshold, device):
        calls.append((images.clone(), concept, detector, segmenter, box_threshold))
        masks = torch.zeros(images.shape[0], 1, *images.shape[2:], dtype=torch.bool)
        masks[:, :, : images.shape[2] // 2] = True
        return masks

    train_lora = mace.train_lora

    def spy(unet, te, tok, vae, config, concept, images, masks, *args, **kwargs):
        given.append(masks)
        return train_lora(unet, te, tok, vae, config, concept, images, masks, *args, **kwargs)

    monkeypatch.setattr(G, "concept_masks", concept_masks)
    monkeypatch.setattr(mace, "train_lora", spy)
    s = MACESettings.resolve("explicit-content", dict(mapping=["shape"], templates=["a {}"], lamb=1.0, steps=1,
                                                      images=2, image_steps=1, box_threshold=0.4,
                                                      gsam_detector="d", gsam_segmenter="s", prior=""))
    mace.edit({**pipe.components}, ["triangle"], s, [])
    [(images, concept, detector, segmenter, threshold)] = calls
    assert (concept, detector, segmenter, threshold) == ("triangle", "d", "s", 0.4)
    assert images.shape[0] == 2 and float(images.min()) >= 0 and float(images.max()) <= 1  # the samples in [0, 1]
    [masks] = given
    assert masks.dtype == torch.bool and bool(masks[:, :, 0].all()) and not bool(masks[:, :, -1].any())
