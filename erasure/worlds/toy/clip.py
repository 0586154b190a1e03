"""A tiny CLIP trained contrastively on toy image-caption pairs; its text tower is the pipeline's encoder.

A frozen random text encoder maps all prompts to nearly the same embedding, so erasing one shape
erased shapes in general; a contrastively trained one separates prompts the way SD's CLIP does.

Captions here are not unique per image ("a shape on the beach" fits hundreds of images in a batch), so
the loss is multi-positive: every caption consistent with an image's labels is a positive for it, with
the target probability spread evenly over them. Plain one-positive InfoNCE would push apart pairs that
are in fact correct and learns far slower.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from erasure.worlds.toy.data import caption_attributes, label_matrix
from erasure.worlds.toy.schedule import Progress, set_lr, warmup_cosine
from erasure.worlds.toy.vocab import COLOURS, SHAPES

IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.5, 0.5, 0.5]


def clip_config(tokenizer, *, hidden: int = 96, layers: int = 3, patch_size: int = 8, text_hidden: int | None = None):
    """The toy CLIP's config: `hidden` wide towers and joint space; `text_hidden` (default `hidden`) widens
    the text tower alone, and with it the UNet's cross-attention width (its last_hidden_state is what attn2
    attends to)."""
    from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig

    text_hidden = hidden if text_hidden is None else text_hidden
    text = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=text_hidden,
        intermediate_size=4 * text_hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        projection_dim=hidden,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        image_size=32,
        patch_size=patch_size,
        projection_dim=hidden,
    )
    return CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=hidden)


def tokenize(tokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids exactly as StableDiffusionPipeline makes them (pad to model_max_length with EOS)."""
    return tokenizer(
        list(texts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


def pixel_values(images_uint8: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float().div(255.0)
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _embed(model, pix, ids):
    img = model.get_image_features(pixel_values=pix)
    txt = model.get_text_features(input_ids=ids)
    img = getattr(img, "pooler_output", img)
    txt = getattr(txt, "pooler_output", txt)
    return F.normalize(img, dim=-1), F.normalize(txt, dim=-1)


def train_clip(data, tokenizer, *, steps: int, batch: int = 256, lr: float = 1e-3, seed: int = 0,
               hidden: int = 96, layers: int = 3, patch_size: int = 8, text_hidden: int | None = None,
               max_seconds: float | None = None, log=print):
    from transformers import CLIPModel

    torch.manual_seed(seed)
    model = CLIPModel(clip_config(tokenizer, hidden=hidden, layers=layers, patch_size=patch_size,
                                   text_hidden=text_hidden))
    keep = np.array([i for i, c in enumerate(data.captions) if c])
    caps = [data.captions[i] for i in keep]
    uniq, inv = np.unique(np.array(caps, dtype=object), return_inverse=True)
    ids_table = tokenize(tokenizer, list(uniq))
    cap_attr = torch.from_numpy(caption_attributes(list(uniq)))
    lab = torch.from_numpy(label_matrix(data.labels)[keep])
    pix_all = pixel_values(data.images[keep])
    inv = torch.from_numpy(inv)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.time()
    prog = Progress(steps, max_seconds)
    for step, frac in prog:
        set_lr(opt, lr * warmup_cosine(frac))
        idx = torch.randint(0, len(keep), (batch,), generator=gen)
        pix = pix_all[idx]
        # light augmentation: horizontal flips keep every label (all shapes are mirror-symmetric)
        flip = torch.rand(batch, generator=gen) < 0.5
        pix = torch.where(flip.view(-1, 1, 1, 1), pix.flip(-1), pix)
        # captions repeat within a batch: embed each distinct one once, the loss sees each as one column
        cap_u = torch.unique(inv[idx])
        ca = cap_attr[cap_u]  # [C, A]
        la = lab[idx]  # [B, A]
        compat = ((ca[None, :, :] == -1) | (ca[None, :, :] == la[:, None, :])).all(-1).float()  # img i, cap j
        img, txt = _embed(model, pix, ids_table[cap_u])
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
        t_i2t = compat / compat.sum(1, keepdim=True)
        t_t2i = compat.T / compat.T.sum(1, keepdim=True).clamp(min=1)
        loss = 0.5 * (-(t_i2t * logits.log_softmax(1)).sum(1).mean() - (t_t2i * logits.T.log_softmax(1)).sum(1).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0:
            log(f"clip step {step} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
    model.eval().requires_grad_(False)
    model.steps_done = prog.done
    return model


@torch.no_grad()
def zero_shot_accuracy(model, tokenizer, images_uint8: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, float]:
    """Zero-shot accuracy with prompts "a <shape>" and "a <colour> shape"."""
    out = {}
    for attr, prompts in (("shape", [f"a {s}" for s in SHAPES]), ("colour", [f"a {c} shape" for c in COLOURS])):
        txt = model.get_text_features(input_ids=tokenize(tokenizer, prompts))
        txt = F.normalize(getattr(txt, "pooler_output", txt), dim=-1)
        preds = []
        for start in range(0, len(images_uint8), 512):
            img = model.get_image_features(pixel_values=pixel_values(images_uint8[start : start + 512]))
            img = F.normalize(getattr(img, "pooler_output", img), dim=-1)
            preds.append((img @ txt.T).argmax(1))
        out[attr] = float((torch.cat(preds).numpy() == labels[attr]).mean())
    return out


@torch.no_grad()
def shape_only_cosines(text_model, tokenizer) -> dict[str, float]:
    """Mean cosine between "a <colour> <shape>" prompts that differ only in shape: on the flattened
    last_hidden_state the UNet attends to, and on the pooled output; plus the flattened cosine to ""."""
    prompts = [f"a {c} {s}" for c in COLOURS for s in SHAPES]
    ids = tokenize(tokenizer, prompts + [""])
    out = text_model(input_ids=ids)
    flat = F.normalize(out.last_hidden_state.flatten(1), dim=-1)
    pooled = F.normalize(out.pooler_output, dim=-1)
    n = len(SHAPES)
    res = {}
    for name, emb in (("flat", flat), ("pooled", pooled)):
        vals = []
        for ci in range(len(COLOURS)):
            block = emb[ci * n : (ci + 1) * n]
            sim = block @ block.T
            vals.append(sim[~torch.eye(n, dtype=torch.bool)].mean())
        res[f"cosine_shape_only_{name}"] = float(torch.stack(vals).mean())
    res["cosine_to_empty_flat"] = float((flat[:-1] @ flat[-1]).mean())
    return res


def text_encoder_from_clip(model):
    """The CLIP text tower as a standalone `CLIPTextModel` (what StableDiffusionPipeline expects)."""
    from transformers import CLIPTextModel

    te = CLIPTextModel(model.config.text_config)
    te.load_state_dict(model.text_model.state_dict())
    return te.eval().requires_grad_(False)


def image_processor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": 32},
        do_center_crop=True,
        crop_size={"height": 32, "width": 32},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=IMAGE_MEAN,
        image_std=IMAGE_STD,
        do_convert_rgb=True,
    )


def save_clip(model, tokenizer, out_dir: str | Path) -> None:
    from transformers import CLIPProcessor

    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    CLIPProcessor(image_processor=image_processor(), tokenizer=tokenizer).save_pretrained(out_dir)
