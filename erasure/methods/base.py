"""What every fine-tuning method shares: frozen text embeddings, the trained-parameter set, and the
interface the training loop drives (`loss`, `after_step`, `state`, `load_state`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# checkpoint tensor names per component ("{component}:{name}", the UNet's bare: every checkpoint written before
# issue 34 holds UNet tensors only) belong to the checkpoint format; re-exported for methods and their tests
from erasure.checkpoints import COMPONENT_SEPARATOR, component_key, split_key  # noqa: F401
from erasure.methods import specs
from erasure.methods.concepts import joined


@dataclass
class Prompts:
    """Frozen text embeddings [1, L, D]: the empty prompt, each concept, the joined concepts, retain prompts;
    and the concepts' texts (a method that re-encodes them, e.g. AdvUnlearn's attack, needs the words)."""

    uncond: torch.Tensor
    concepts: list[torch.Tensor]
    joined: torch.Tensor
    retain: list[torch.Tensor]
    concept_texts: list[str] = field(default_factory=list)


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
        concept_texts=list(concepts),
    )


def draw(n: int, generator: torch.Generator) -> int:
    """An integer uniform on {0, …, n−1} from `generator`."""
    return int(torch.randint(0, n, (1,), generator=generator))


class FineTuningMethod:
    """Base: `student` is the UNet being trained; `trainable` its trained parameters by checkpoint name
    (`component_key`: bare for UNet parameters, "text_encoder:…" for the text encoder's); `method` the name
    of its spec (erasure.methods.specs); `adapters` the modules it added, {component: peft LoraConfig
    keyword arguments (JSON)} — recorded in each checkpoint's meta.json, so the loader
    (erasure.checkpoints.load_method_pipeline) injects the same adapters before it loads their weights.

    The trainer constructs a method as `cls(unet, scheduler_config, prompts, settings, *, method)`, and adds
    `components=` (the base pipeline's: unet, text_encoder, tokenizer, vae, scheduler_config) when the
    class's `__init__` takes it: a method that trains the text encoder or needs images asks for them."""

    def __init__(self, unet, trainable: dict[str, torch.nn.Parameter], method: str,
                 adapters: dict[str, dict] | None = None):
        self.student = unet
        self.trainable = trainable
        self.method = method
        self.adapters = dict(adapters or {})

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


def add_lora(model: torch.nn.Module, config: dict, *, seed: int = 0) -> dict[str, torch.nn.Parameter]:
    """Inject a LoRA adapter into `model` with peft (`peft.inject_adapter_in_model(LoraConfig(**config))`,
    what diffusers' own LoRA training scripts use) and return its parameters by name, with requires_grad
    and every other parameter of `model` frozen. The adapter's initial weights are drawn under
    `torch.manual_seed(seed)` in a forked RNG, so a fresh run and a resumed one start from the same adapter
    and the caller's RNG stream is untouched. Raises ErasureError when the config selects no module."""
    from peft import LoraConfig, inject_adapter_in_model

    from erasure.errors import ErasureError

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            inject_adapter_in_model(LoraConfig(**config), model)
        except ValueError as error:
            raise ErasureError(f"LoRA {config}: {error}") from None
    selected = {}
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)
        if "lora_" in name:
            selected[name] = param
    return selected
