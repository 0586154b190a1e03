"""Snakemake shim for the score rules: the metrics of one (method, prompt set) image set.

Two rule shapes call it (rules/score.smk):
- `score_<metric>`: one metric. Expects input.manifest, input.prompts, input.reference (metrics that need
  one), output.csv, params.metric, params.settings, params.reference.
- a set's rule (a world with `score_sets_together`, e.g. `score_alignment_clip_fid_toy_paired_distance`): all
  the set's metrics in one job, one model load per backbone; params.metrics lists them, params.settings and
  params.reference are {metric: ...}, and output.<m>_csv (m: the metric, "-" -> "_").
Each writes the per-image score files only; each file's `.summary.csv` is derived from it by its own rule
(`summarize_score`), so a per-image file edited by hand flows into its summary and every table.

    input.manifest   results/{world}/images/{method}/{promptset}/manifest.csv
    input.prompts    results/{world}/prompts/{promptset}.csv
    input.reference  (only for metrics that need one: the catalog's `reference`, erasure.metrics.catalog)
                     paired (lpips / paired-distance): the reference method's manifest.csv of the same prompt
                     set; a world-built set (fid-toy): the folder the world's own rule renders
    params.reference (optional; wins over input.reference) fid: the COCO val2014 folder or an .npz from
                     `python -m erasure.metrics.fid stats`
    output.csv       results/{world}/scores/{metric}/{method}/{promptset}.csv
    params.metric    metric name (erasure.metrics.catalog.METRICS)
    params.settings  dict of metric settings (the catalog entry's `settings`); "backbone" = a backbone
                     directory inside the base, for a world whose scorers read it (erasure.worlds)
    params.device    auto | cpu | cuda: where the torch backbones run
    config.base_model  only to label scores of a stand-in base's images (erasure.standins)
    wildcards.world (copied into settings["world"]), wildcards.method, wildcards.promptset
    threads
"""

from pathlib import Path


def main(manifest: Path, prompts: Path, out_csv: Path, *, metric: str, settings: dict, reference: str | None,
         **job) -> None:
    """Score one metric on one image set: `erasure.scoring.score_set` with a single metric (`job`: its keyword
    arguments)."""
    from erasure.scoring import score_set

    score_set(manifest, prompts, {metric: (settings, reference, out_csv)}, **job)


def _reference(sm) -> str | None:
    # params.reference (rules/score.smk) covers config-given folders (COCO val2014) as well as inputs.
    value = getattr(sm.params, "reference", None)
    if not value and "reference" in sm.input.keys():
        value = sm.input.reference
    return str(value) if value else None


def _set_jobs(sm, world) -> dict:
    """{metric: (settings, reference, csv)} from the rule's params and outputs (either rule shape)."""
    from erasure.metrics import catalog

    if hasattr(sm.params, "metrics"):  # a set's rule
        jobs = {}
        for metric in sm.params.metrics:
            settings = dict(sm.params.settings[metric] or {})
            settings.setdefault("world", world)
            reference = sm.params.reference.get(metric)
            jobs[metric] = (settings, str(reference) if reference else None,
                            Path(sm.output[catalog.output_key(metric, "csv")]))
        return jobs
    settings = dict(getattr(sm.params, "settings", None) or {})
    settings.setdefault("world", world)
    return {sm.params.metric: (settings, _reference(sm), Path(sm.output.csv))}


if "snakemake" in globals():
    from erasure.runtime import job
    from erasure.scoring import score_set

    _sm = globals()["snakemake"]
    with job(_sm.log[0] if getattr(_sm, "log", None) else None, int(_sm.threads)):  # a user-fixable error: its one line, not a traceback
        score_set(
            Path(_sm.input.manifest),
            Path(_sm.input.prompts),
            _set_jobs(_sm, getattr(_sm.wildcards, "world", None)),
            threads=int(_sm.threads),
            method=getattr(_sm.wildcards, "method", None),
            promptset=getattr(_sm.wildcards, "promptset", None),
            device=getattr(_sm.params, "device", None) or "cpu",
            base_model=_sm.config.get("base_model"),  # a stand-in base labels every score it leads to
        )
