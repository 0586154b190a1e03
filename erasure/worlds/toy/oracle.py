"""The oracle: a small CNN that reads a toy image's shape, colour, background and fill.

It is the toy world's ground-truth scorer for generated images, so it is trained to be robust to what
generators do to images: blur, noise, colour shifts (augmentations), and VAE reconstruction (a final
fine-tune on half reconstructions; without it VAE blur capped shape accuracy near 94% in the prototype).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from erasure.worlds.toy.schedule import Progress, set_lr, warmup_cosine
from erasure.worlds.toy.vocab import ATTRIBUTES

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class Oracle(nn.Module):
    """Images float [N, 3, 32, 32] in [0, 1] -> per-attribute logits; `predict` gives probabilities."""

    def __init__(self, width: int = 32, feature_dim: int = 128, attributes: dict[str, int] | None = None):
        super().__init__()
        self.attributes = dict(attributes or {a: len(v) for a, v in ATTRIBUTES.items()})
        self.config = {"width": width, "feature_dim": feature_dim, "attributes": self.attributes}
        w = width
        self.body = nn.Sequential(
            _block(3, w), nn.MaxPool2d(2),
            _block(w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), nn.MaxPool2d(2),  # 4x4
        )
        self.neck = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 16, feature_dim), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({a: nn.Linear(feature_dim, k) for a, k in self.attributes.items()})

    @staticmethod
    def _normalise(images: torch.Tensor) -> torch.Tensor:
        return (images - 0.5) / 0.25

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.neck(self.body(self._normalise(images)))

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The body's activations after each pooling stage (32->16->8->4), for a perceptual loss."""
        h, maps = self._normalise(images), []
        for layer in self.body:
            h = layer(h)
            if isinstance(layer, nn.MaxPool2d):
                maps.append(h)
        return maps

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(images)
        return {a: head(f) for a, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 512) -> dict[str, torch.Tensor]:
        was_training = self.training
        self.eval()
        outs: dict[str, list[torch.Tensor]] = {a: [] for a in self.attributes}
        for start in range(0, len(images), batch):
            for a, logit in self(images[start : start + batch].float()).items():
                outs[a].append(logit.softmax(-1))
        self.train(was_training)
        return {a: torch.cat(v) for a, v in outs.items()}


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    # blur with a random-strength 3x3 kernel (mix of identity and box blur)
    strength = torch.rand(n, 1, 1, 1, generator=gen) * 0.7
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    x = (1 - strength) * x + strength * blurred
    # brightness / contrast / per-channel jitter small enough to keep colour names unambiguous
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.2
    shift = (torch.rand(n, 3, 1, 1, generator=gen) - 0.5) * 0.08
    x = x * gain + shift
    x = x + torch.randn(x.shape, generator=gen) * torch.rand(n, 1, 1, 1, generator=gen) * 0.05
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return x.clamp(0, 1)


def _to_float(images_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float().div(255.0)


def train_oracle(images_uint8: np.ndarray, labels: dict[str, np.ndarray], *, steps: int, batch: int = 128,
                 lr: float = 2e-3, seed: int = 0, oracle: Oracle | None = None, max_seconds: float | None = None,
                 log=print) -> Oracle:
    """Train (or, given `oracle`, fine-tune) on `images_uint8` with augmentation and one-cycle cosine lr."""
    torch.manual_seed(seed)
    model = (oracle if oracle is not None else Oracle()).requires_grad_(True)
    x_all = _to_float(images_uint8)
    y_all = {a: torch.from_numpy(np.asarray(labels[a])) for a in model.attributes}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.time()
    prog = Progress(steps, max_seconds)
    for step, frac in prog:
        set_lr(opt, lr * warmup_cosine(frac, warmup=0.1))
        idx = torch.randint(0, len(x_all), (batch,), generator=gen)
        logits = model(_augment(x_all[idx], gen))
        loss = sum(F.cross_entropy(logits[a], y_all[a][idx]) for a in model.attributes)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0:
            log(f"oracle step {step} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
    model.eval().requires_grad_(False)
    model.steps_done = prog.done
    return model


def accuracy(oracle: Oracle, images_uint8: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, float]:
    probs = oracle.predict(_to_float(images_uint8))
    return {a: float((p.argmax(-1).numpy() == np.asarray(labels[a])).mean()) for a, p in probs.items()}


def save_oracle(oracle: Oracle, out_dir: str | Path) -> None:
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in oracle.state_dict().items()}, str(out_dir / WEIGHTS_NAME))
    (out_dir / CONFIG_NAME).write_text(json.dumps(oracle.config, indent=2, sort_keys=True) + "\n")


def load_oracle(model_dir: str | Path) -> Oracle:
    from erasure.loads import load_safetensors, parse_errors

    model_dir = Path(model_dir)
    fix = "copy the toy base again or rebuild it with the workflow's `toy_base` target"
    with parse_errors(model_dir / CONFIG_NAME, "oracle config (JSON)", fix):
        config = json.loads((model_dir / CONFIG_NAME).read_text())
    oracle = Oracle(**config)
    oracle.load_state_dict(load_safetensors(model_dir / WEIGHTS_NAME, what="oracle weights", fix=fix))
    return oracle.eval().requires_grad_(False)
