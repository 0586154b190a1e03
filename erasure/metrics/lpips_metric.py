"""LPIPS (lpips 0.1.4, AlexNet trunk, v0.1 linear heads) between a method's image and SD's image of the
same (prompt_id, seed): how far erasure moved an image drawn from the same initial latent.

The linear heads ship inside the lpips wheel; the AlexNet trunk is torchvision's ImageNet weights
(`alexnet-owt-7be5be79.pth` in the torch hub cache). lpips would fetch them through torchvision, whose
`load_state_dict_from_url` unpickles the downloaded file in full (`weights_only=False`). So lpips is built
with a random trunk and the trunk's tensors are loaded here instead: the file's sha256 must start with the
prefix in its name (torchvision's own check), and it is read with `torch.load(weights_only=True)`, which
refuses anything but tensors. `pnet_rand=True` (random trunk) exists for tests only; its numbers mean
nothing and its rows say so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch

from erasure.errors import ErasureError
from erasure.weights import ALEXNET_FILE  # one definition, shared with the DAG inputs (erasure.external_inputs)

LPIPS_VERSION = "0.1.4"
ALEXNET_SHA256_PREFIX = ALEXNET_FILE.rsplit("-", 1)[1].split(".")[0]


def alexnet_weights(path=None) -> Path:
    """The AlexNet file: `path` (metrics.lpips.alexnet: a file, or a folder holding ALEXNET_FILE), else
    $ERASURE_ALEXNET, else torch's hub cache ($TORCH_HOME/hub/checkpoints): its Weight's resolver
    (erasure.weights.alexnet_file), the one the DAG's inputs use. Raises ErasureError when not found."""
    from erasure.weights import ALEXNET, alexnet_file

    file = alexnet_file(path, hub_dir=torch.hub.get_dir())
    if file is None:
        where = path or os.environ.get(ALEXNET.env) or Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
        raise ErasureError(
            f"lpips: AlexNet weights {where} not found; download https://download.pytorch.org/models/{ALEXNET_FILE} "
            f"there, or set metrics.lpips.{ALEXNET.key} / ${ALEXNET.env} to the file (or TORCH_HOME to a directory "
            "whose hub/checkpoints holds it)"
        )
    return file


def alexnet_state(file: Path, *, sha256_prefix: str = ALEXNET_SHA256_PREFIX) -> dict[str, torch.Tensor]:
    """torchvision AlexNet's tensors, hash-checked, without unpickling anything but tensors. A stand-in
    (erasure.standins, its record's sha256 verified) passes in place of the prefix; its scores say so."""
    from erasure import standins
    from erasure.io import sha256_file

    digest = sha256_file(file)
    if not digest.startswith(sha256_prefix) and not standins.verified(file):
        raise ErasureError(f"{file}: sha256 {digest[:16]}... does not start with {sha256_prefix}; not torchvision's "
                           f"{ALEXNET_FILE} (corrupt or replaced); download it again")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses non-tensor pickles with an UnpicklingError, among others
        raise ErasureError(f"{file}: not a tensor-only state dict ({type(exc).__name__}); download it again") from None


def load_trunk(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy torchvision's `features.{i}.*` tensors into lpips' AlexNet slices (which keep the index `i`)."""
    trunk = model.net
    targets = {f"features.{name}.{param}": tensor
               for slice_name, block in trunk.named_children() if slice_name.startswith("slice")
               for name, module in block.named_children()
               for param, tensor in module.named_parameters(recurse=False)}
    missing = sorted(set(targets) - set(state))
    if missing:
        raise ErasureError(f"lpips: AlexNet weights lack {missing[0]} (and {len(missing) - 1} more); not torchvision's AlexNet")
    with torch.no_grad():
        for key, tensor in targets.items():
            if tensor.shape != state[key].shape:
                raise ErasureError(f"lpips: AlexNet weight {key} has shape {tuple(state[key].shape)}, "
                                   f"expected {tuple(tensor.shape)}")
            tensor.copy_(state[key])


def load_lpips(*, pnet_rand: bool = False, weights: Path | None = None) -> torch.nn.Module:
    """LPIPS (alex, v0.1). `weights`: the AlexNet file (default: the torch hub cache's)."""
    import lpips

    state = None if pnet_rand else alexnet_state(alexnet_weights(weights))
    # Always a random trunk at construction, so lpips never reaches torchvision's unpickling download.
    model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
    if state is not None:
        load_trunk(model, state)
    model.pnet_rand = pnet_rand
    return model.eval()


@torch.no_grad()
def distance(model: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS per pair for float images [N, 3, H, W] in [0, 1] (lpips wants [-1, 1]: normalize=True)."""
    return model(a, b, normalize=True).reshape(-1)


def score_lpips(images, *, reference, model: torch.nn.Module | None = None, batch_size: int = 8,
                device="cpu", weights=None) -> pd.DataFrame:
    """`weights`: the AlexNet file or folder (alexnet_weights)."""
    from erasure.metrics.images import ImageSet, load_rgb, paired_frame, pair_on_seed, to_tensor

    if not isinstance(reference, ImageSet):
        raise ErasureError("reference: LPIPS needs the sd method's manifest of the same prompt set")
    pnet_rand = model is not None and getattr(model, "pnet_rand", False)
    model = (model or load_lpips(weights=weights)).to(device)
    pairs = pair_on_seed(images, reference)
    backbone = f"lpips=={LPIPS_VERSION} alex v0.1" + (" RANDOM TRUNK (test only)" if pnet_rand else "")
    values: list[float] = []
    for start in range(0, len(pairs), batch_size):
        rows = pairs.iloc[start : start + batch_size]
        ours = [load_rgb(f) for f in rows["file"]]
        theirs = [load_rgb(f) for f in rows["reference_file"]]
        if any(a.shape != b.shape for a, b in zip(ours, theirs)):
            raise ErasureError(f"{reference.source}: reference images differ in size from {images.source}")
        values.extend(distance(model, to_tensor(ours).to(device), to_tensor(theirs).to(device)).cpu().tolist())
    return paired_frame(pairs, values, backbone=backbone, label="lpips-random-TEST" if pnet_rand else "lpips")
