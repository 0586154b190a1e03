"""Fine-tuning erasure methods: SDD (Kim et al. 2023, Algorithm 1) and ESD-x / ESD-u (Gandikota et al. 2023).

    params.py     which UNet parameters each method trains
    ema.py        the EMA teacher of SDD
    sampling.py   z_t by DDIM with classifier-free guidance, and the timestep it belongs to
    concepts.py   named concept sets
    presets.py    settings: paper (Appendix B), official (released code), esd
    sdd.py        the SDD loss;  esd.py  the ESD loss
    trainer.py    the training loop (checkpoints, resume, train_log.csv)
"""

METHODS = ("sdd", "sdd+retain", "esd-x", "esd-u", "uce", "rece")  # uce, rece: closed-form (edit.py)
