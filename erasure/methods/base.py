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
from erasure.worlds.families import family_of_pipeline


@dataclass
class Prompts:
    """Frozen conditionings, batch 1: the unconditional one (CFG's, as the pipeline builds it), each concept,
    the joined concepts, retain prompts. Each is what the model family's `encode` gives
    (erasure.worlds.families): text embeddings [1, L, D] for SD 1.x / 2.x, a `Conditioning` with added
    conditions for SDXL; `erasure.worlds.families.predict` takes either. Also the concepts' texts (a method
    that re-encodes them, e.g. AdvUnlearn's attack, needs the words)."""

    uncond: torch.Tensor
    concepts: list[torch.Tensor]
    joined: torch.Tensor
    retain: list[torch.Tensor]
    concept_texts: list[str] = field(default_factory=list)


@torch.no_grad()
def encode(pipe, text: str):
    """The conditioning the pipeline itself gives `text` (what generation will condition on), through its
    model family's adapter."""
    return family_of_pipeline(pipe).encode(pipe, text)


@torch.no_grad()
def encode_text(text_encoder, tokenizer, text: str) -> torch.Tensor:
    """[1, L, D]: what `encode` gives, from the two components alone (a method built from `components`, not a
    pipeline): padded to the tokenizer's length, truncated, the last hidden state; no attention mask unless
    the encoder's config asks for one (diffusers' StableDiffusionPipeline.encode_prompt, clip_skip None)."""
    tokens = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                       return_tensors="pt")
    use_mask = getattr(text_encoder.config, "use_attention_mask", False)
    mask = tokens.attention_mask.to(text_encoder.device) if use_mask else None
    return text_encoder(tokens.input_ids.to(text_encoder.device), attention_mask=mask)[0].detach()


def encode_prompts(pipe, concepts: list[str], retain: tuple[str, ...] = ()) -> Prompts:
    return Prompts(
        uncond=family_of_pipeline(pipe).unconditional(pipe),
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

    def describe(self) -> str:
        """What the trainer's start line adds about this run (SalUn: how many weights its mask keeps)."""
        return ""

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
