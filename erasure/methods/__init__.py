"""Erasure methods: fine-tuning — SDD (Kim et al. 2023, Algorithm 1), ESD-x / ESD-u (Gandikota et al.
2023) — and closed-form edits — UCE (Gandikota et al. 2024), RECE (Gong et al. 2024).

    specs.py      THE table of methods (kind, trained subset, presets, deliverables, implementation, settings
                  class); plug-in packages add specs under the entry-point group `erasure.methods`
    settings.py   every method's settings dataclass (defaults and their sources, choices) and the per-run
                  check config validation runs (torch-free)
    params.py     which UNet parameters each method trains
    ema.py        the EMA teacher of SDD
    zt_sampler.py z_t by DDIM with classifier-free guidance, and the timestep it belongs to
    concepts.py   named concept sets
    presets.py    the trainer's settings: paper (Appendix B), official (released code), esd
    sdd.py        the SDD loss;  esd.py  the ESD loss
    trainer.py    the training loop (checkpoints, resume, train_log.csv)
    uce.py, rece.py  the closed-form edits (`edit(components, concepts, settings, preserve)`, edit.py runs them)
"""
