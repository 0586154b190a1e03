"""What every fine-tuning method shares: frozen text embeddings, the trained-parameter set, and the
interface the training loop drives (`loss`, `after_step`, `state`, `load_state`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from erasure.methods import specs
from erasure.methods.concepts import joined


@dataclass
class Prompts:
    """Frozen text embeddings [1, L, D]: the empty prompt, each concept, the joined concepts, retain prompts."""

    uncond: torch.Tensor
    concepts: list[torch.Tensor]
    joined: torch.Tensor
    retain: list[torch.Tensor]


@torch.no_grad()
def encode(pipe, text: str) -> torch.Tensor:
    """The embedding the pipeline itself gives `text` (what generation will condition on)."""
    embeds, _ = pipe.encode_prompt(text, pipe.device, 1, False)
    return embeds.detach()


def encode_prompts(pipe, concepts: list[str], retain: tuple[str, ...] = ()) -> Prompts:
    return Prompts(
        uncond=encode(pipe, ""),
        concepts=[encode(pipe, c) for c in concepts],
        joined=encode(pipe, joined(concepts)),
        retain=[encode(pipe, r) for r in retain],
    )


def draw(n: int, generator: torch.Generator) -> int:
    """An integer uniform on {0, …, n−1} from `generator`."""
    return int(torch.randint(0, n, (1,), generator=generator))


class FineTuningMethod:
    """Base: `student` is the UNet being trained; `trainable` its trained parameters by name; `method` the
    name of its spec (erasure.methods.specs)."""

    def __init__(self, unet, trainable: dict[str, torch.nn.Parameter], method: str):
        self.student = unet
        self.trainable = trainable
        self.method = method

    @property
    def deliverable(self) -> str:
        """The checkpoint role generation uses: the spec's first deliverable ("teacher" for SDD)."""
        return specs.get(self.method).deliverable

    def loss(self, step: int, generator: torch.Generator) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after each optimiser step (SDD: EMA update)."""

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        """The trained parameters to checkpoint, by role ("student", "teacher")."""
        return {"student": {n: p.detach() for n, p in self.trainable.items()}}

    @torch.no_grad()
    def load_state(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        for role, tensors in self.state().items():
            for name, tensor in tensors.items():
                tensor.copy_(state[role][name])
