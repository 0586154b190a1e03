"""Snakemake shim for rules/score.smk's `fid_reference`: FID's reference statistics, computed once.

    output.stats      results/{world}/reference/fid/{key}.npz (+ .provenance.json beside it)
    params.folder     the reference image folder (metrics.fid.reference, relative where it lies in the working dir)
    params.inception, params.inception_sha256, params.batch_size   the FID settings (erasure.metrics.fid)
    params.device     auto | cpu | cuda
    threads
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, folder: str, inception: str | None, inception_sha256: str | None,
         batch_size: int, device: str, threads: int = 1) -> dict:
    from erasure.runtime import job

    with job(log_file, threads):
        from erasure.metrics import fid
        from erasure.runtime import pick_device

        torch_device = pick_device(device)
        extractor = fid.inception_extractor(inception, torch_device, sha256=inception_sha256)
        record = fid.write_reference_statistics(folder, out, extractor, batch_size=batch_size, device=torch_device)
        print(f"FID reference {folder}: {record['n']} images -> {out}")
        return record


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.output.stats), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
