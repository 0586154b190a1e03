"""Snakemake shim for `summarize_score` (rules/summarize.smk): one per-image score file -> its summary.

    input[0]    results/{world}/scores/{metric}/{method}/{promptset}.csv
    output[0]   results/{world}/scores/{metric}/{method}/{promptset}.summary.csv
    log[0]      results/{world}/logs/summarize_score/{metric}/{method}/{promptset}.log
    wildcards   metric, method, promptset

Imports pandas / numpy and erasure.metrics.summary only (no torch): the job's cost is the interpreter and
those imports (bench: its benchmark files).
"""

from pathlib import Path


def main(scores_csv: Path, out: Path, log: Path | None = None, *, metric: str, method: str, promptset: str) -> None:
    from erasure.runtime import job

    with job(log):
        from erasure.metrics.summary import summarize_file

        frame = summarize_file(scores_csv, out, metric=metric, method=method, promptset=promptset)
        print(f"{out}: {len(frame)} row(s) from {scores_csv}")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.input[0]), Path(_sm.output[0]), Path(_sm.log[0]), metric=_sm.wildcards.metric,
         method=_sm.wildcards.method, promptset=_sm.wildcards.promptset)
