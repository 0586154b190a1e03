"""LPIPS (lpips 0.1.4, AlexNet trunk, v0.1 linear heads) between a method's image and SD's image of the
same (prompt_id, seed): how far erasure moved an image drawn from the same initial latent.

The linear heads ship inside the lpips wheel; the AlexNet trunk comes from torchvision's ImageNet
weights, which torchvision downloads into the torch hub cache. Offline that download fails, so the file
is looked for first. `pnet_rand=True` (random trunk) exists for tests only; its numbers mean nothing and
its rows say so.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from erasure.errors import ErasureError

LPIPS_VERSION = "0.1.4"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision AlexNet_Weights.IMAGENET1K_V1


def alexnet_weights() -> Path:
    file = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    if not file.is_file():
        raise ErasureError(
            f"lpips: AlexNet weights {file} not found; download https://download.pytorch.org/models/{ALEXNET_FILE} "
            "there (or set TORCH_HOME to a directory whose hub/checkpoints holds it)"
        )
    return file


def load_lpips(*, pnet_rand: bool = False) -> torch.nn.Module:
    import lpips

    if not pnet_rand:
        alexnet_weights()
    return lpips.LPIPS(net="alex", version="0.1", pnet_rand=pnet_rand, verbose=False).eval()


@torch.no_grad()
def distance(model: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS per pair for float images [N, 3, H, W] in [0, 1] (lpips wants [-1, 1]: normalize=True)."""
    return model(a, b, normalize=True).reshape(-1)


def score_lpips(images, *, reference, model: torch.nn.Module | None = None, batch_size: int = 8) -> pd.DataFrame:
    from erasure.metrics.images import ImageSet, load_rgb, paired_frame, pair_on_seed, to_tensor

    if not isinstance(reference, ImageSet):
        raise ErasureError("reference: LPIPS needs the sd method's manifest of the same prompt set")
    pnet_rand = model is not None and getattr(model, "pnet_rand", False)
    model = model or load_lpips()
    pairs = pair_on_seed(images, reference)
    backbone = f"lpips=={LPIPS_VERSION} alex v0.1" + (" RANDOM TRUNK (test only)" if pnet_rand else "")
    values: list[float] = []
    for start in range(0, len(pairs), batch_size):
        rows = pairs.iloc[start : start + batch_size]
        ours = [load_rgb(f) for f in rows["file"]]
        theirs = [load_rgb(f) for f in rows["reference_file"]]
        if any(a.shape != b.shape for a, b in zip(ours, theirs)):
            raise ErasureError(f"{reference.source}: reference images differ in size from {images.source}")
        values.extend(distance(model, to_tensor(ours), to_tensor(theirs)).tolist())
    return paired_frame(pairs, values, backbone=backbone, label="lpips-random-TEST" if pnet_rand else "lpips")
