"""FID with clean-fid 0.1.35 (mode "clean"), for any feature extractor.

The generated side is read from the manifest's file list (not a folder glob) and the reference side from
a folder (listed by `erasure.metrics.images.folder_images`, clean-fid's own rules) or a saved statistics file; both go through clean-fid's
`get_files_features` (its PIL-bicubic "clean" resize to 299 px, or the resize passed in) and its
`frechet_distance`, i.e. exactly what `cleanfid.fid.compute_fid(dir1, dir2, ...)` computes for two
folders (tests check this equality).

The real extractor is clean-fid's Inception (the StyleGAN2 torchscript `inception-2015-12-05.pt`).
clean-fid downloads it into /tmp when missing; offline that fails deep inside, so the file is located
first and the extractor built with download=False.

FID is a set-level number: one output row; its bootstrap interval is not computed (FID is biased in n, so
resampled FIDs do not bracket the full-set value); ci columns are NaN.

    python -m erasure.metrics.fid stats REFERENCE_FOLDER OUT.npz   # Inception statistics, computed once
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from erasure.errors import ErasureError
from erasure.weights import CLEANFID_CACHE, INCEPTION, INCEPTION_FILE, inception_file

INCEPTION_ENV = INCEPTION.env

INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"


def find_inception(path: str | os.PathLike | None = None) -> Path:
    """The Inception weights: `path` (file or dir), else $ERASURE_INCEPTION, else clean-fid's /tmp cache."""
    file = inception_file(path)  # the same search the DAG's inputs use (its Weight's resolver)
    if file is not None:
        return file
    candidates = [Path(p).expanduser() for p in (path, os.environ.get(INCEPTION_ENV)) if p] + [CLEANFID_CACHE]
    raise ErasureError(
        f"settings.inception: {INCEPTION_FILE} not found (looked in {', '.join(map(str, candidates))}); "
        f"download {INCEPTION_URL} and put it in {CLEANFID_CACHE} or set {INCEPTION_ENV} / settings.inception"
    )


def inception_extractor(path: str | os.PathLike | None = None, device="cpu", *,
                        sha256: str | None = None) -> torch.nn.Module:
    """clean-fid's Inception. The file is TorchScript (code, not only tensors): `sha256` pins the exact
    file before it is loaded; the digest of the file used is on the extractor as `.sha256` either way."""
    from cleanfid.inception_torchscript import InceptionV3W

    from erasure.io import sha256_file
    from erasure.loads import parse_errors

    file = find_inception(path)
    # InceptionV3W joins a directory with the fixed file name, so the file must carry that name.
    if file.name != INCEPTION_FILE:
        raise ErasureError(f"settings.inception: {file} must be named {INCEPTION_FILE}")
    digest = sha256_file(file)
    if sha256 and digest != sha256.lower():
        raise ErasureError(f"settings.inception_sha256: {file} has sha256 {digest}, expected {sha256}; "
                           "wrong or replaced file")
    # a truncated TorchScript file is a RuntimeError from torch.jit.load naming no file
    with parse_errors(file, "Inception TorchScript file", f"download {INCEPTION_URL} again"):
        try:
            extractor = InceptionV3W(str(file.parent), download=False, resize_inside=False).to(device).eval()
        except RuntimeError as exc:
            raise ValueError(str(exc)) from None
    extractor.sha256 = digest
    return extractor


def features(files, extractor, *, fn_resize=None, batch_size: int = 32, device="cpu") -> np.ndarray:
    """Inception features [N, 2048] of `files` through clean-fid (its dataset opens the images itself)."""
    from cleanfid.fid import get_files_features

    from erasure.metrics.images import load_rgb

    try:
        return get_files_features(
            [str(f) for f in files], extractor, num_workers=0, batch_size=batch_size, device=torch.device(device),
            mode="clean", custom_fn_resize=fn_resize, verbose=False,
        )
    except Exception:
        # clean-fid's traceback does not say which file failed: find it (one line), else re-raise as is
        for file in files:  # each with the fix that fits it: a generated image's or a reference folder's
            load_rgb(file)
        raise


def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(feats) < 2:
        raise ErasureError(f"fid: {len(feats)} image(s); FID needs at least 2 per set")
    return np.mean(feats, axis=0), np.cov(feats, rowvar=False)


def reference_statistics(reference, extractor, *, fn_resize=None, batch_size: int = 32, device="cpu"):
    """(mu, sigma, n) for a reference folder, an ImageSet, or a saved `.npz` (mu, sigma, n)."""
    from erasure.metrics.images import ImageSet

    if isinstance(reference, (str, os.PathLike)) and str(reference).endswith(".npz"):
        if not Path(reference).is_file():
            raise ErasureError(f"{reference}: FID reference statistics not found; run `python -m erasure.metrics.fid stats`")
        stats = np.load(reference)
        return stats["mu"], stats["sigma"], int(stats["n"])
    if not isinstance(reference, ImageSet):
        if reference is None:
            raise ErasureError("reference: FID needs a reference image folder (e.g. COCO val2014); set it in the config")
        reference = ImageSet.from_folder(reference)
    feats = features(reference.files, extractor, fn_resize=fn_resize, batch_size=batch_size, device=device)
    mu, sigma = statistics(feats)
    return mu, sigma, len(feats)


def write_reference_statistics(folder, out, extractor, *, batch_size: int = 32, device="cpu",
                               provenance: dict | None = None) -> dict:
    """Inception statistics of a reference folder, computed once for every FID job (rules/score.smk:
    fid_reference): `out` (.npz: mu [2048] float64, sigma [2048, 2048] float64, n) and `out`.provenance.json
    (the folder as given, n, the sha256 of its sorted image listing — names and sizes — and of the Inception
    file, clean-fid's mode, plus `provenance`), both written atomically. Raises ErasureError for a missing or
    unreadable folder or image (erasure.metrics.images). Returns the provenance record."""
    import hashlib

    from erasure.io import atomic_path, write_json_atomic
    from erasure.metrics.images import ImageSet

    images = ImageSet.from_folder(folder)
    mu, sigma, n = reference_statistics(images, extractor, batch_size=batch_size, device=device)
    listing = hashlib.sha256("".join(f"{Path(f).relative_to(folder)}\t{Path(f).stat().st_size}\n"
                                     for f in sorted(images.files)).encode()).hexdigest()
    out = Path(out)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, mu=mu, sigma=sigma, n=n)
    record = {"folder": str(folder), "n": int(n), "listing_sha256": listing, "mode": "clean",
              "clean_fid": "0.1.35", "inception_sha256": getattr(extractor, "sha256", None), **(provenance or {})}
    write_json_atomic(out.with_suffix(".provenance.json"), record)
    return record


def fid(images, reference, extractor, *, fn_resize=None, batch_size: int = 32, device="cpu") -> tuple[float, int]:
    """(FID, number of reference images) between an ImageSet and a reference."""
    from cleanfid.fid import frechet_distance

    mu1, sigma1 = statistics(features(images.files, extractor, fn_resize=fn_resize, batch_size=batch_size,
                                      device=device))
    mu2, sigma2, n_ref = reference_statistics(reference, extractor, fn_resize=fn_resize, batch_size=batch_size,
                                              device=device)
    if mu1.shape != mu2.shape:
        raise ErasureError(f"{reference}: reference features have dim {mu2.shape}, generated {mu1.shape}; recompute the statistics with this extractor")
    return float(frechet_distance(mu1, sigma1, mu2, sigma2)), n_ref


def set_row(images, value: float, *, n_reference: int, reference, backbone: str, label: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "prompt_id": "",
                "seed": -1,
                "path": "",
                "value": float(value),
                "n": len(images),
                "n_reference": int(n_reference),
                "reference": str(getattr(reference, "source", reference)),
                "mode": "clean",
                "set_level": True,
                "backbone": backbone,
                "label": label,
            }
        ]
    )


def score_fid(images, *, reference, inception=None, inception_sha256: str | None = None, batch_size: int = 32,
              extractor=None, device="cpu") -> pd.DataFrame:
    extractor = extractor or inception_extractor(inception, device, sha256=inception_sha256)
    value, n_ref = fid(images, reference, extractor, batch_size=batch_size, device=device)
    digest = getattr(extractor, "sha256", None)
    return set_row(images, value, n_reference=n_ref, reference=reference,
                   backbone=f"clean-fid==0.1.35 {INCEPTION_FILE}" + (f" sha256={digest[:16]}" if digest else ""),
                   label="fid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m erasure.metrics.fid")
    sub = parser.add_subparsers(dest="command", required=True)
    stats = sub.add_parser("stats", help="Inception mean/covariance of a reference folder, saved as .npz")
    stats.add_argument("folder", type=Path)
    stats.add_argument("output", type=Path)
    stats.add_argument("--inception", default=None)
    stats.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from erasure.io import atomic_path
    from erasure.runtime import set_threads

    set_threads(args.threads)
    try:
        mu, sigma, n = reference_statistics(args.folder, inception_extractor(args.inception))
    except ErasureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with atomic_path(args.output) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, mu=mu, sigma=sigma, n=n)
    print(f"wrote {args.output}: {n} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
