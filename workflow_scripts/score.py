"""Snakemake shim for the `score` rule: one metric on one (method, prompt set) image set.

Expects:
    input.manifest   results/{world}/images/{method}/{promptset}/manifest.csv
    input.prompts    results/{world}/prompts/{promptset}.csv
    input.reference  (only for metrics that need one: the catalog's `reference`, erasure.metrics.catalog)
                     paired (lpips / paired-distance): the reference method's manifest.csv of the same prompt
                     set; a world-built set (fid-toy): the folder the world's own rule renders
    params.reference (optional; wins over input.reference) fid: the COCO val2014 folder or an .npz from
                     `python -m erasure.metrics.fid stats`
    output.csv       results/{world}/scores/{metric}/{method}/{promptset}.csv
    output.summary   results/{world}/scores/{metric}/{method}/{promptset}.summary.csv
    params.metric    metric name (erasure.metrics.catalog.METRICS)
    params.settings  dict of metric settings (the catalog entry's `settings`); "backbone" = a backbone
                     directory inside the base, for a world whose scorers read it (erasure.worlds)
    params.device    auto | cpu | cuda: where the torch backbones run
    config.base_model  only to label scores of a stand-in base's images (erasure.standins)
    wildcards.world (copied into settings["world"]), wildcards.method, wildcards.promptset
    threads
"""

from pathlib import Path


def main(
    manifest: Path,
    prompts: Path,
    out_csv: Path,
    out_summary: Path,
    *,
    metric: str,
    settings: dict,
    reference: str | None,
    threads: int,
    method: str | None = None,
    promptset: str | None = None,
    device: str = "cpu",
    base_model: str | None = None,
) -> None:
    from erasure.io import atomic_path
    from erasure.metrics import catalog, registry
    from erasure.metrics.images import ImageSet
    from erasure.metrics.summary import summarize
    from erasure.runtime import pick_device, set_threads

    set_threads(threads)
    images = ImageSet.from_manifest(manifest, prompts)
    ref = None
    if reference:
        # A paired metric's reference is another method's image set; a set's is a folder or stats file.
        paired = catalog.get(metric).reference == catalog.PAIRED
        ref = ImageSet.from_manifest(reference, prompts) if paired else Path(reference)
    scores = registry.score(metric, images, reference=ref, settings=dict(settings or {}), threads=threads,
                            device=str(pick_device(device)), base_model=base_model)
    summary = summarize(scores, metric=metric, method=method or Path(manifest).parent.parent.name,
                        promptset=promptset or Path(manifest).parent.name)
    for frame, path in ((scores, out_csv), (summary, out_summary)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)


def _reference(sm) -> str | None:
    # params.reference (rules/score.smk) covers config-given folders (COCO val2014) as well as inputs.
    value = getattr(sm.params, "reference", None)
    if not value and "reference" in sm.input.keys():
        value = sm.input.reference
    return str(value) if value else None


if "snakemake" in globals():
    from erasure.runtime import job

    _sm = globals()["snakemake"]
    _settings = dict(getattr(_sm.params, "settings", None) or {})
    _settings.setdefault("world", getattr(_sm.wildcards, "world", None))
    with job(_sm.log[0] if getattr(_sm, "log", None) else None, int(_sm.threads)):  # a user-fixable error: its one line, not a traceback
        main(
            Path(_sm.input.manifest),
            Path(_sm.input.prompts),
            Path(_sm.output.csv),
            Path(_sm.output.summary),
            metric=_sm.params.metric,
            settings=_settings,
            reference=_reference(_sm),
            threads=int(_sm.threads),
            method=getattr(_sm.wildcards, "method", None),
            promptset=getattr(_sm.wildcards, "promptset", None),
            device=getattr(_sm.params, "device", None) or "cpu",
            base_model=_sm.config.get("base_model"),  # a stand-in base labels every score it leads to
        )
