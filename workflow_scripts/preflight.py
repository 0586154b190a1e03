"""Snakemake shim for `preflight` (print) and `preflight_gate` (print, and write output[0] when all is ok).

    params.configfiles  (preflight only) the --configfile list, named in the report's commands
    params.results      the results root
    output[0]           (preflight_gate only) results/{world}/preflight.txt: the report
"""

import sys
import time
from pathlib import Path


def main(config: dict, *, configfiles: list[str], results: str, out: Path | None = None) -> int:
    from erasure.io import atomic_write
    from erasure.preflight import report, run_checks

    start = time.monotonic()
    items = run_checks(config, configfiles=configfiles, results=Path(results))
    text = report(items, time.monotonic() - start)
    print(text, flush=True)
    if out is None:  # `snakemake preflight`: what the plan costs, before anything runs (erasure.cost)
        from erasure.cost.model import config_report

        print(config_report(config), flush=True)
    ok = all(item.ok for item in items)
    if ok and out is not None:
        with atomic_write(out) as handle:
            handle.write(text + "\n")
    return 0 if ok else 1


if "snakemake" in globals():
    from erasure.records import now, write_job_record

    _sm = globals()["snakemake"]
    _started = now()
    _code = main(dict(_sm.config), configfiles=list(_sm.params.get("configfiles", [])), results=_sm.params.results,
                 out=Path(_sm.output[0]) if len(_sm.output) else None)
    if not _code and len(_sm.output):  # the gate: its job record, as erasure.runtime.job writes for other jobs
        write_job_record(_sm, started=_started)
    if _code:
        if len(_sm.log):
            Path(_sm.log[0]).write_text("preflight failed: see the MISSING lines above\n")
        sys.exit(_code)
