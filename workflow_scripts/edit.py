"""Snakemake shim for the `edit` rule: a closed-form edit (UCE, RECE) written as a run's checkpoints, then
recorded complete (erasure.methods.edit).

Expects:
    output[0]   results/{world}/models/{run}/complete.json  (its directory is the run directory)
    log[0]      the log file
    params      run, method, preset, concepts, iterations, checkpoint_every, settings, seed, base_model,
                results, device (erasure.methods.edit.edit's arguments)
    threads     torch / OMP threads
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, threads: int = 1, run: str, **edit_kwargs) -> dict:
    from erasure.runtime import job

    run_dir = Path(out).parent
    with job(log_file, threads):
        from erasure.checkpoints import write_complete
        from erasure.methods.edit import edit

        edit(run_dir, **edit_kwargs)
        return write_complete(run_dir, out, iterations=edit_kwargs["iterations"])


if "snakemake" in globals():  # Snakemake runs the file with __name__ == "__main__"
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
