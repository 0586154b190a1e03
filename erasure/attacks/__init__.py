"""Adversarial prompt attacks on erased models: white-box UnlearnDiffAtk-style (erasure.attacks.whitebox),
black-box Ring-A-Bell-style (erasure.attacks.ringabell), the resumable per-prompt table of adversarial
prompts (erasure.attacks.table), and attack success rates (erasure.attacks.asr). Names load lazily, so
that planning code can read the table columns without importing torch."""

from importlib import import_module

_EXPORTS = {
    "AttackResult": "base",
    "WhiteBoxSettings": "whitebox", "unlearn_diff_attack": "whitebox", "image_latents": "whitebox",
    "reconstruction_loss": "whitebox",
    "RingABellSettings": "ringabell", "ring_a_bell": "ringabell", "concept_vector": "ringabell",
    "swap_pairs": "ringabell",
    "run_attacks": "table", "read_attack_table": "table", "attacked_prompts": "table",
    "asr": "asr", "per_prompt_success": "asr", "table3_row": "asr", "wilson_interval": "asr",
    "draw_image": "checks", "prompt_check": "checks", "oracle_detector": "checks",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"erasure.attacks.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'erasure.attacks' has no attribute {name!r}")
