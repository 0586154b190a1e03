"""Build every stand-in the SD world needs, deterministically (fixed seeds), offline, in seconds:

    sd-v1-4/                  StableDiffusionPipeline, SD v1.4's architecture at toy widths, 64 px (latent 8):
                              PNDM scheduler with SD v1.4's scheduler_config.json, a 77-token CLIP tokenizer
                              written as vocab.json + merges.txt, and a safety_checker and feature_extractor
                              in model_index.json as SD v1.4 ships them (the loader drops the checker)
    sd-2-1/                   SD 2.1's pipeline at toy widths, 64 px: DDIM v-prediction scheduler config, a 23-layer-
                              pattern gelu text tower (erasure.standins.architectures.FAMILY_ARCHS)
    sdxl-base-1.0/            SDXL base 1.0's pipeline at toy widths, 64 px: two text towers, text_time added
                              conditions, force_upcast VAE, Euler scheduler config
    clip-vit-large-patch14/   CLIPModel + CLIPProcessor, tiny towers, projection 768 (so Q16's prompts fit)
    q16/prompts.p             a float16 (2, 768) numpy pickle in the upstream file's format (protocol 3)
    inception/inception-2015-12-05.pt   TorchScript with clean-fid's Inception interface (`layers`, 2048-d)
    alexnet/alexnet-standin.pth          tensors of torchvision AlexNet's `features.*` (what LPIPS loads)
    coco-val2014/             FID reference images (PNG, 64 px)
    grounded-sam/             MACE's mask backbones (erasure.worlds.grounded_sam) from transformers' configs at toy
                              widths: grounding-dino-tiny/ (GroundingDinoForObjectDetection: Swin + BERT towers,
                              a BERT vocabulary with bert-base-uncased's special ids) and sam-hq-vit-huge/ (SamHQModel)
    STAND-IN.json             what this is, and the sha256 of every file above

Every file is random: nothing here measures anything. `erasure.standins.describe` recognises the folder
and every score computed with it is labelled `stand-in`.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from erasure.errors import ErasureError
from erasure.standins import MARKER

NOTE = ("stand-in: tiny random weights with the real architectures' configs (python -m erasure.standins); "
        "its numbers mean nothing")
SEED = 0
IMAGE_SIZE = 64  # pixels; latent 8


def build_pipeline(folder: Path) -> None:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    from erasure.standins.architectures import SD14_SCHEDULER_FILE, random_pipeline

    pipe = random_pipeline("tiny", latent=IMAGE_SIZE // 8, seed=SEED, scheduler="pndm",
                           tokenizer_dir=folder.parent / f".{folder.name}-tokenizer")
    torch.manual_seed(SEED)
    checker = StableDiffusionSafetyChecker(CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=32))
    pipe.register_modules(safety_checker=checker, feature_extractor=CLIPImageProcessor())  # SD v1.4's defaults
    pipe.register_to_config(requires_safety_checker=True)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD14_SCHEDULER_FILE, indent=2) + "\n")
    shutil.rmtree(folder.parent / f".{folder.name}-tokenizer", ignore_errors=True)


def build_family_pipeline(folder: Path, family: str) -> None:
    from erasure.standins.architectures import family_pipeline

    pipe = family_pipeline(family, tiny=True, latent=IMAGE_SIZE // 8, seed=SEED,
                           tokenizer_dir=folder.parent / f".{folder.name}-tokenizer")
    pipe.save_pretrained(str(folder), safe_serialization=True)
    shutil.rmtree(folder.parent / f".{folder.name}-tokenizer", ignore_errors=True)


def build_clip(folder: Path) -> None:
    from erasure.standins.architectures import TINY_CLIP, random_clip_dir

    random_clip_dir(folder, TINY_CLIP, projection_dim=768, seed=SEED)
    shutil.rmtree(folder / "tok", ignore_errors=True)  # its files are in the processor's save


def build_q16(file: Path) -> None:
    from erasure.weights import Q16_SHAPE

    array = np.random.default_rng(SEED).standard_normal(Q16_SHAPE).astype(np.float16)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(pickle.dumps(array, protocol=3))


class _InceptionLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, kernel_size=13, stride=13)
        self.fc = torch.nn.Linear(16, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1)
        return self.fc(pooled).view(x.shape[0], 2048, 1, 1)


class _Inception(torch.nn.Module):
    """clean-fid's InceptionV3W calls `base.layers(x)` on [-1, 1] images at 299 px, or `base(x,
    return_features=True)` on [0, 255] images."""

    def __init__(self):
        super().__init__()
        self.layers = _InceptionLayers()

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return self.layers((x - 128.0) / 128.0)


def build_inception(file: Path) -> None:
    torch.manual_seed(SEED)
    file.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(_Inception().eval()).save(str(file))


def build_alexnet(file: Path) -> None:
    import torchvision

    torch.manual_seed(SEED)
    features = torchvision.models.alexnet(weights=None).features
    file.parent.mkdir(parents=True, exist_ok=True)
    torch.save({f"features.{k}": v.contiguous() for k, v in features.state_dict().items()}, str(file))


def build_reference(folder: Path, n: int = 4) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).save(folder / f"ref_{i}.png")


# GroundingDINO SwinT-OGC (IDEA-Research/grounding-dino-tiny config.json: Swin-T depths 2-2-6-2, heads 3-6-12-24,
# stages 2-4 out, BERT text tower, d_model 256, 6 + 6 layers, 900 queries, 4 feature levels, max_text_len 256)
# at toy widths. Kept: the model type, the Swin stages taken, 4 feature levels, max_text_len 256 (the logits'
# width); d_model 64: its GroupNorm(32, d_model) keeps 2 values per group on a 1 px level; 2 decoder layers
# (one cannot tie the box heads). Swin patch 2: a 64 px stand-in image still leaves every feature level > 1 px.
TINY_GROUNDING_DINO = dict(
    backbone_config={"model_type": "swin", "embed_dim": 8, "patch_size": 2, "depths": [1, 1, 1, 1],
                     "num_heads": [1, 1, 2, 2], "window_size": 4, "out_features": ["stage2", "stage3", "stage4"],
                     "out_indices": [2, 3, 4]},
    text_config={"model_type": "bert", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                 "intermediate_size": 32, "max_position_embeddings": 64},
    d_model=64, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
    encoder_attention_heads=2, decoder_attention_heads=2, num_queries=16)
# SAM-HQ ViT-H (syscv-community/sam-hq-vit-huge: 1024 px, patch 16, global attention blocks feeding the HQ
# token's features) at toy widths: 2 blocks, the second global (its output is the HQ features, vit_dim).
TINY_SAM_HQ = dict(
    vision_config=dict(hidden_size=16, output_channels=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32,
                       global_attn_indexes=[1], num_pos_feats=8),
    prompt_encoder_config=dict(hidden_size=16),
    mask_decoder_config=dict(hidden_size=16, mlp_dim=32, num_attention_heads=2, iou_head_hidden_dim=16, vit_dim=16))
# bert-base-uncased's ids that GroundingDINO's text masks hard-code (modeling_grounding_dino.SPECIAL_TOKENS:
# [CLS] 101, [SEP] 102, "." 1012, "?" 1029), [PAD] 0, [UNK] 100, [MASK] 103; the rest single letters and
# their "##" continuations, so every lower-case word has word pieces.
BERT_SPECIAL = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]", 1012: ".", 1029: "?"}


def write_bert_vocab(file: Path) -> Path:
    import string

    vocab = [BERT_SPECIAL.get(i, f"[unused{i}]") for i in range(1030)]
    vocab += list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase]
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("\n".join(vocab) + "\n")
    return file


def build_grounded_sam(folder: Path) -> None:
    """grounding-dino-tiny/ and sam-hq-vit-huge/ under `folder` (erasure.worlds.grounded_sam loads them)."""
    from transformers import (BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SamHQConfig, SamHQModel,
                              SamHQProcessor, SamImageProcessor)

    vocab = write_bert_vocab(folder / ".vocab" / "vocab.txt")
    tokenizer = BertTokenizer(str(vocab), do_lower_case=True)
    torch.manual_seed(SEED)
    config = GroundingDinoConfig(**{**TINY_GROUNDING_DINO, "text_config": {**TINY_GROUNDING_DINO["text_config"],
                                                                          "vocab_size": len(tokenizer)}})
    detector = GroundingDinoForObjectDetection(config).eval()
    detector.save_pretrained(str(folder / "grounding-dino-tiny"), safe_serialization=True)
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(), tokenizer=tokenizer).save_pretrained(
        str(folder / "grounding-dino-tiny"))
    torch.manual_seed(SEED)
    SamHQModel(SamHQConfig(**TINY_SAM_HQ)).eval().save_pretrained(str(folder / "sam-hq-vit-huge"),
                                                                   safe_serialization=True)
    SamHQProcessor(image_processor=SamImageProcessor()).save_pretrained(str(folder / "sam-hq-vit-huge"))
    shutil.rmtree(folder / ".vocab", ignore_errors=True)


def build(out: str | Path) -> Path:
    """Build every stand-in into `out` (replaced as a whole: a half-built folder is never left behind)."""
    from erasure.io import atomic_dir, sha256_file

    out = Path(out)
    with atomic_dir(out) as tmp:
        build_pipeline(tmp / "sd-v1-4")
        build_family_pipeline(tmp / "sd-2-1", "sd21")
        build_family_pipeline(tmp / "sdxl-base-1.0", "sdxl")
        build_clip(tmp / "clip-vit-large-patch14")
        build_q16(tmp / "q16" / "prompts.p")
        build_inception(tmp / "inception" / "inception-2015-12-05.pt")
        build_alexnet(tmp / "alexnet" / "alexnet-standin.pth")
        build_reference(tmp / "coco-val2014")
        build_grounded_sam(tmp / "grounded-sam")
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MARKER).write_text(json.dumps({"note": NOTE, "seed": SEED, "files": files}, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m erasure.standins", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        torch.set_num_threads(1)
        build(args.out)
    except ErasureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {NOTE}")
    return 0
