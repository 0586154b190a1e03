"""What an attack returns for one prompt."""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT_ONLY_KINDS = ("ring-a-bell",)  # attacks that read the text encoder alone (erasure.attacks.ringabell)


@dataclass
class AttackResult:
    """One attacked prompt.

    `prompt` is the adversarial prompt as text (it re-encodes to exactly the optimised ids); `token_ids` the
    ids the attack chose (white-box: the k prepended tokens; Ring-A-Bell: the whole searched prompt);
    `iterations` gradient steps (white-box) or generations (Ring-A-Bell) run; `loss` the objective at the
    end (white-box: mean noise-prediction MSE over the last timestep's iterations; Ring-A-Bell: squared
    distance of the best prompt's embedding to the target), NaN when no attack ran; `detected` what the
    early-stop check said about the returned prompt, None when there was no check; `history` the loss per
    iteration / best fitness per generation.
    """

    prompt: str
    token_ids: list[int]
    iterations: int
    loss: float
    detected: bool | None = None
    history: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

BASE_ENCODER = "base"  # the base model's text encoder, as erasure.plan.attacks.text_encoder names it
