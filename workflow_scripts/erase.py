"""Snakemake shim for the `erase` rule: train (or resume) one fine-tuning run, then record it complete.

Expects:
    output[0]   results/{world}/models/{run}/complete.json  (its directory is the run directory)
    log[0]      the log file (progress bar and messages go there)
    params      run, method, preset, concepts, iterations, checkpoint_every, settings, seed, base_model,
                results, device (erasure.methods.trainer.train's arguments)
    threads     torch / OMP threads
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, threads: int = 1, run: str, **train_kwargs) -> dict:
    from erasure.checkpoints import write_complete
    from erasure.methods.trainer import train
    from erasure.runtime import job

    run_dir = Path(out).parent
    # progress and messages go to the log; a user-fixable error (a damaged checkpoint) ends the job with
    # its one line instead of a traceback
    with job(log_file, threads):
        train(run_dir, **train_kwargs)
        return write_complete(run_dir, out, iterations=train_kwargs["iterations"])


if "snakemake" in globals():  # Snakemake runs the file with __name__ == "__main__"
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
