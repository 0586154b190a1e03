"""Snakemake shim for the `caption_stats` rule: a caption prompt set's token statistics under the base model's
text encoder (MACE's prior-preservation cache; erasure.methods.mace.prior_statistics), written once.

    input.prompts  results/{world}/prompts/{promptset}.csv (its `prompt` column: the captions)
    output[0]      results/{world}/resources/caption-stats/{promptset}.safetensors
    params         name (the prompt set), base_model, results, device
    log[0]
"""

from pathlib import Path


def main(out: Path, log_file: Path | None = None, *, prompts: str, name: str, base_model: str,
         results: str = "results", device: str = "cpu") -> None:
    from erasure.runtime import job

    with job(log_file):
        import time

        import pandas as pd

        from erasure.methods import mace
        from erasure.models import load_base_pipeline
        from erasure.runtime import pick_device

        captions = pd.read_csv(prompts, keep_default_na=False)["prompt"].astype(str).tolist()
        pipe = load_base_pipeline(base_model, results_root=results, device=pick_device(device))
        tick = time.perf_counter()
        moment, tokens = mace.prior_statistics(mace.family_states(pipe.components), captions)
        mace.write_prior(out, moment, captions=len(captions), tokens=tokens, source=name)
        print(f"{name}: {len(captions)} captions, {tokens} token states, D = {moment.shape[0]}, "
              f"{time.perf_counter() - tick:.1f} s -> {out}")


if "snakemake" in globals():
    _sm = globals()["snakemake"]
    main(Path(_sm.output[0]), Path(_sm.log[0]), prompts=_sm.input.prompts, name=_sm.params.name,
         base_model=_sm.params.base_model, results=_sm.params.results, device=_sm.params.device)
