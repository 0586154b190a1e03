"""Snakemake shim for the `erase` and `edit` rules: make one run — train (or resume) a fine-tuning run, or apply
a closed-form edit (the method's kind in erasure.methods.specs) — then record it complete.

Expects:
    output[0]   results/{world}/models/{run}/complete.json  (its directory is the run directory)
    log[0]      the log file (progress bar and messages go there)
    params      run, method, preset, concepts, iterations, checkpoint_every, settings, seed, base_model,
                results, device (erasure.methods.trainer.train's / erasure.methods.edit.edit's arguments),
                image_sets (fine-tuning only: {prompt set: manifest} a method trains on; {} for most)
    threads     torch / OMP threads
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, threads: int = 1, run: str, **run_kwargs) -> dict:
    from erasure.checkpoints import write_complete
    from erasure.methods import specs
    from erasure.runtime import job

    run_dir = Path(out).parent
    # progress and messages go to the log; a user-fixable error (a damaged checkpoint) ends the job with
    # its one line instead of a traceback
    with job(log_file, threads):
        image_sets = dict(run_kwargs.pop("image_sets", None) or {})
        if specs.get(run_kwargs["method"]).kind == specs.CLOSED_FORM:
            from erasure.methods.edit import edit as make_run
        else:
            if image_sets:  # absent otherwise, so a run without image sets is called as before
                run_kwargs["image_sets"] = image_sets
            from erasure.methods.trainer import train as make_run
        make_run(run_dir, **run_kwargs)
        return write_complete(run_dir, out, iterations=run_kwargs["iterations"])


if "snakemake" in globals():  # Snakemake runs the file with __name__ == "__main__"
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]), threads=_sm.threads, **_sm.params)
