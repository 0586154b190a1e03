"""Grounded-SAM: the concept masks of MACE's LoRA stage in the SD world (GroundingDINO SwinT-OGC boxes the
concept, SAM-HQ ViT-H segments each box), as the authors' data preparation makes them — Shilin-LU/MACE @
057e7a6edadc6bbb5ca94700f416372e35bed083 (read 2026-12): `data_preparation.py` (use_gsam_mask / use_sam_hq
true in `configs/explicit_content/erase_explicit_content.yaml`) calls `src/grounded_sam_util.py::get_mask`
once per training image with the defaults below. Per image [3, H, W]:

1. The text query is the image folder's name, `os.path.basename(root)`: the erased concept itself (its
   `-` made spaces: `inference.py` writes the images of concept c to `{output_dir}/{c}`), not its mapping
   ("nudity", not "a person wearing clothes"). `get_grounding_output` lower-cases and strips it and appends
   "." when missing: "nudity.".
2. GroundingDINO (`groundingdino_swint_ogc.pth`, `GroundingDINO_SwinT_OGC.py`) runs on the image as
   `transforms.ToTensor()` gives it: [0, 1], at its own size (512 px), NOT normalised (the
   `T.Normalize(ImageNet mean / std)` of `load_image` is commented out) and not resized (no
   `RandomResize([800])`). Reproduced here with the model's image processor told `do_resize=False,
   do_normalize=False` (rescale to [0, 1] only).
3. A query is kept when its best token probability sigmoid(logit).max() > box_threshold = 0.3 (get_mask's
   default; data_preparation.py passes none); its box (cx, cy, w, h in [0, 1]) becomes pixels x0 y0 x1 y1 at
   (W, H). text_threshold = 0.25 only names the phrase of a box and changes no mask, so it is not a
   setting here. Both steps are `GroundingDinoProcessor.post_process_grounded_object_detection`
   (threshold=0.3, target_sizes=(H, W)), which does exactly these operations.
4. SAM-HQ (`sam_hq_vit_h.pth`, `SamPredictor(sam_hq_model_registry['vit_h'])`) gets the image as uint8
   `((x / max(|x.max()|, |x.min()|) + 1) * 255 * 0.5)`: an image in [0, 1] lands in [127, 255] (their code
   treats it as [-1, 1]; reproduced, it is what their masks were computed on). `set_image` resizes the
   longest side to 1024 and normalises with SAM's mean / std; every kept box is a prompt
   (`predict_torch(boxes=..., multimask_output=False)`, hq_token_only False), masks back at (H, W),
   logits > 0 (mask_threshold 0.0). Here `SamHQProcessor` (longest edge 1024, ImageNet mean / std = SAM's
   pixel_mean / 255, pad to 1024) + `SamHQModel(multimask_output=False)` + `post_process_masks`.
5. The masks of all boxes are OR-ed into one [1, 1, H, W] bool mask; with no box kept the mask is all ones
   (`torch.ones((1, 1, H, W), dtype=torch.bool)`): every pixel, as their no-mask branch.

Where this differs from the authors' code, and why:
- Their masks pass through a JPEG file (`*_mask.jpg`, uint8 0 / 255) and back (`ToTensor`); the LoRA loss
  thresholds the resized mask at 0.5 (erasure.methods.mace.AttentionRecorder.loss). We hand over the bool
  mask itself: no compression artefacts to threshold. Likewise their images are read back from JPEG; ours
  are the generated samples as they are.
- The checkpoints: the authors load the original repositories' `.pth` files with their own model code
  (`torch.load`, unpickling); this project loads only safetensors with `from_pretrained`, so the models
  are transformers' conversions of the same checkpoints: `IDEA-Research/grounding-dino-tiny` (the SwinT-OGC
  checkpoint: Swin-T depths 2-2-6-2, BERT text tower) and `syscv-community/sam-hq-vit-huge` (sam_hq_vit_h),
  with `GroundingDinoForObjectDetection` / `SamHQModel`, no trust_remote_code. (The authors'
  `data_preparation_transformers.py` uses transformers too, with other models — grounding-dino-base and
  plain SAM ViT-H, threshold 0.3, the best-scoring box only, polygon refinement — an alternative their
  README does not run; the configs' SAM-HQ + SwinT-OGC path is the one followed here.)
- An all-black image (max |x| = 0) makes their step-4 scaling divide by zero; it is scaled by 1 here.

Each backbone is declared like the scorers' (erasure.weights): a settings key of the MACE run
(`settings.gsam_detector`, `settings.gsam_segmenter`: a local save_pretrained directory or a hub id), else
an environment variable (ERASURE_GROUNDING_DINO, ERASURE_SAM_HQ), else the hub id at its pinned commit
(`Backbone.revision`; the loader passes it to `from_pretrained(revision=...)`, the DAG lists that
snapshot's files, preflight names `hf download <id> --revision <commit>`). Torch-free at import: the DAG
inputs and preflight read the declarations while planning. Commits, found with this project's code search
(file contents; the search does not name every file's repository):
- IDEA-Research/grounding-dino-tiny a2bb814dd30d776dcf7e30523b00659f4f141c71: a cache snapshot path
  (`models--IDEA-Research--grounding-dino-tiny/snapshots/a2bb814d…`) in at least five users' scripts, and
  as `revision=` / `repo_sha=` of pinned model registries, one with `weight_filename="model.safetensors",
  weight_bytes=689_359_096`, two with the safetensors file's sha256 1a2412ef…c042f3; hub URLs
  `/tree/a2bb814d…` in three documents. (Other commits seen once each: 25b0b439…, 478dad0f….)
- syscv-community/sam-hq-vit-huge 9d9d53502fbf666297e7eb3804f64137f930055e: ONE source, a table of hub API
  metadata (`/api/models/<id>`: sha) whose other rows agree with commits seen elsewhere as cache snapshot
  paths (openai/clip-vit-large-patch14 32bd6428…, facebook/sam-vit-huge 87aecf0d…). Not corroborated by a
  second source: check it against the hub (`hf download syscv-community/sam-hq-vit-huge --revision 9d9d5350…`)
  before a paper run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from erasure.errors import ErasureError

BOX_THRESHOLD = 0.3  # Shilin-LU/MACE@057e7a6 src/grounded_sam_util.py::get_mask(box_threshold=0.3)
TEXT_THRESHOLD = 0.25  # get_mask(text_threshold=0.25): names a box's phrase only; passed for completeness


@dataclass(frozen=True)
class Backbone:
    """One Grounded-SAM model: what it is (messages), the MACE settings key and the environment variable
    that name its source, its hub id and the commit that id is pinned to, and its transformers classes."""

    name: str
    key: str          # settings.<key> of a MACE run
    env: str          # environment fallback
    hub_id: str
    revision: str | None
    model_class: str  # transformers class name (from_pretrained)
    processor_class: str

    def source(self, settings: Mapping | object | None = None) -> str:
        """settings.<key>, else $<env>, else the hub id (order of precedence as erasure.weights)."""
        value = (settings.get(self.key) if isinstance(settings, Mapping)
                 else getattr(settings, self.key, None)) if settings is not None else None
        return str(value or os.environ.get(self.env) or self.hub_id)

    def pin(self, source: str) -> str | None:
        """The commit `source` is read at: this backbone's pin for its own hub id, None otherwise (a local
        folder, or another hub id: refs/main)."""
        return self.revision if source == self.hub_id else None

    def files(self, settings=None, built: Sequence[Path] = ()) -> list[Path]:
        """The files `from_pretrained` reads for this backbone (the DAG lists them as the run's inputs): a local
        folder's, or the cached snapshot's at the pin; none where the source is not on this machine."""
        from erasure.hub import model_files

        source = self.source(settings)
        return model_files(source, built, self.pin(source))

    def check(self, settings=None) -> tuple[bool, str, str]:
        """Preflight's view of this backbone for `settings` (module function `check`)."""
        return check(self, settings)

    def provide(self, source: str) -> str:
        """The one command that provides `source`, or what to set instead."""
        if source == self.hub_id:
            revision = f" --revision {self.revision}" if self.revision else ""
            return (f"hf download {self.hub_id}{revision}  (or set settings.{self.key} / ${self.env} to a "
                    "save_pretrained directory)")
        return f"set settings.{self.key} / ${self.env} to a save_pretrained directory or a cached hub id"


DETECTOR = Backbone("GroundingDINO SwinT-OGC", "gsam_detector", "ERASURE_GROUNDING_DINO",
                    "IDEA-Research/grounding-dino-tiny", "a2bb814dd30d776dcf7e30523b00659f4f141c71",
                    "GroundingDinoForObjectDetection", "GroundingDinoProcessor")
SEGMENTER = Backbone("SAM-HQ ViT-H", "gsam_segmenter", "ERASURE_SAM_HQ",
                     "syscv-community/sam-hq-vit-huge", "9d9d53502fbf666297e7eb3804f64137f930055e",
                     "SamHQModel", "SamHQProcessor")
BACKBONES = (DETECTOR, SEGMENTER)


def locate(backbone: Backbone, source: str) -> tuple[Path | None, str]:
    """(the local directory `from_pretrained` reads for `source`, "") — the folder itself, or the HF cache's
    snapshot at the pin (never the network) — or (None, why not)."""
    from erasure.hub import hub_snapshot, is_hub_id

    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            return None, f"folder {path} has no config.json (not a save_pretrained directory)"
        return path, ""
    if not is_hub_id(source):
        return None, f"{source!r} is neither a directory nor a hub id"
    pin = backbone.pin(source)
    found = hub_snapshot(source, pin)
    if found is None:
        return None, f"{source!r} is not in the HF cache" + (f" at the pinned commit {pin}" if pin else "")
    return found.folder, ""


def folder(backbone: Backbone, source: str) -> Path:
    """`locate`'s directory. Raises ErasureError, one line naming the settings key, the environment variable
    and the command that provides it."""
    where, why = locate(backbone, source)
    if where is None:
        raise ErasureError(f"settings.{backbone.key} (or ${backbone.env}): {backbone.name} {why}; "
                           + backbone.provide(source))
    return where


def check(backbone: Backbone, settings) -> tuple[bool, str, str]:
    """Preflight's view of one backbone: (ok, detail, the command that provides it), reading only its
    config.json and which safetensors files it has."""
    import json

    from erasure import standins

    source = backbone.source(settings)
    where, why = locate(backbone, source)
    if where is None:
        return False, why, backbone.provide(source)
    try:
        config = json.loads((where / "config.json").read_text())
    except (OSError, ValueError) as error:
        return False, f"{where / 'config.json'}: {error}", backbone.provide(source)
    weights = sorted(where.glob("*.safetensors"))
    if not weights:
        return False, f"{where} has no .safetensors weights (only safetensors are loaded)", backbone.provide(source)
    pin = backbone.pin(source)
    at = f" [snapshot {where.name}]" if pin else (" [unpinned: refs/main]" if source == backbone.hub_id else "")
    note = " [stand-in]" if standins.describe(where) else ""
    return True, f"{source} ({config.get('model_type')}, {len(weights)} safetensors file(s)){at}{note}", ""


# --- loading and the masks (torch and transformers imported here, not at module import) -------------------

def load(backbone: Backbone, source: str, device="cpu"):
    """(model in eval mode on `device`, processor) of `backbone` from `source` (folder(): local or the pinned
    snapshot), safetensors only, no remote code, offline."""
    import transformers

    where = folder(backbone, source)
    model = getattr(transformers, backbone.model_class).from_pretrained(
        str(where), use_safetensors=True, local_files_only=True)
    processor = getattr(transformers, backbone.processor_class).from_pretrained(str(where), local_files_only=True)
    return model.to(device).eval(), processor


def caption(concept: str) -> str:
    """The detector's text query (`get_grounding_output`, src/grounded_sam_util.py): lower-cased, stripped,
    ending in "."."""
    text = concept.lower().strip()
    return text if text.endswith(".") else text + "."


def sam_image(image):
    """get_mask's image for SAM: float [3, H, W] -> uint8 [H, W, 3] numpy, ((x / max|x| + 1) * 127.5) truncated
    (their scaling of a [-1, 1] image, applied to a [0, 1] one)."""
    import numpy as np

    x = image.detach().float().cpu().numpy()
    scale = max(float(x.max()), abs(float(x.min()))) or 1.0
    return ((x / scale + 1) * 255 * 0.5).astype(np.uint8).transpose(1, 2, 0)


def union(masks, height: int, width: int):
    """One [1, H, W] bool mask from per-box masks [n_boxes, 1, H, W] bool: their OR; all ones when there is
    no box (get_mask: `torch.ones((1, 1, H, W), dtype=torch.bool)`)."""
    import torch

    if masks is None or len(masks) == 0:
        return torch.ones((1, height, width), dtype=torch.bool)
    return masks.bool().any(dim=0)


def boxes(detector, processor, image, concept: str, box_threshold: float = BOX_THRESHOLD):
    """GroundingDINO's boxes of `concept` in `image` (float [3, H, W] in [0, 1]): float [n, 4] x0 y0 x1 y1 in
    pixels, those whose best token probability exceeds `box_threshold` (steps 1-3 of the module docstring)."""
    import torch

    _, height, width = image.shape
    device = next(detector.parameters()).device
    inputs = processor(images=image.detach().float().cpu(), text=caption(concept), do_resize=False,
                       do_normalize=False, do_rescale=False, return_tensors="pt").to(device)
    with torch.no_grad():
        outputs = detector(**inputs)
    [found] = processor.post_process_grounded_object_detection(
        outputs, inputs.input_ids, threshold=box_threshold, text_threshold=TEXT_THRESHOLD,
        target_sizes=[(height, width)])
    return found["boxes"].float().cpu()


def segment(segmenter, processor, image, found):
    """SAM-HQ's mask of `image` (float [3, H, W] in [0, 1]) for the boxes `found` [n, 4] (pixels): [1, H, W]
    bool, the boxes' masks OR-ed, all ones without a box (steps 4-5)."""
    import torch

    _, height, width = image.shape
    if len(found) == 0:
        return union(None, height, width)
    device = next(segmenter.parameters()).device
    inputs = processor(images=sam_image(image), input_boxes=[found.tolist()], return_tensors="pt").to(device)
    with torch.no_grad():
        outputs = segmenter(pixel_values=inputs["pixel_values"], input_boxes=inputs["input_boxes"],
                            multimask_output=False)
    [masks] = processor.post_process_masks(outputs.pred_masks.cpu(), inputs["original_sizes"].cpu(),
                                           inputs["reshaped_input_sizes"].cpu(), mask_threshold=0.0, binarize=True)
    return union(masks, height, width)


def concept_masks(images, concept: str, *, detector: str, segmenter: str, box_threshold: float = BOX_THRESHOLD,
                  device="cpu"):
    """Grounded-SAM masks of `concept` in `images` (float [N, 3, H, W] in [0, 1]): bool [N, 1, H, W] (1: the
    concept's pixels; all ones for an image where no box passes `box_threshold`). `detector` / `segmenter`:
    the sources (Backbone.source). Raises ErasureError (one line) for a backbone that is not on this machine.
    Both models are loaded once and released on return."""
    import torch

    if images.ndim != 4 or images.shape[1] != 3:
        raise ErasureError(f"Grounded-SAM: images must be [N, 3, H, W], got {list(images.shape)}")
    from erasure import standins

    det, det_processor = load(DETECTOR, detector, device)
    seg, seg_processor = load(SEGMENTER, segmenter, device)
    if notes := [f"{b.name}: {n}" for b, s in ((DETECTOR, detector), (SEGMENTER, segmenter))
                 if (n := standins.describe(folder(b, s)))]:
        logging.getLogger(__name__).warning("Grounded-SAM on stand-in weights, its masks mean nothing (%s)",
                                            "; ".join(notes))
    try:
        masks = [segment(seg, seg_processor, image, boxes(det, det_processor, image, concept, box_threshold))
                 for image in images]
    finally:
        del det, seg
    return torch.stack(masks)
