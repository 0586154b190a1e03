"""Two test methods for issue 34 (not shipped): one trains the text encoder, one a LoRA adapter on the UNet's
cross-attention (peft). Both pull the noise prediction for "triangle" towards zero; `register()` adds their
specs to the method table (tests/methods/test_components.py, and the subprocess that kills a run)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from erasure.methods import specs
from erasure.methods.base import FineTuningMethod, add_lora, component_key

# peft's target_modules as a regex: attn2's key and value projections only (attn1 has to_k / to_v too)
LORA = {"r": 2, "lora_alpha": 2, "target_modules": r".*attn2\.(to_k|to_v)", "init_lora_weights": True}


def _noise_to_zero(unet, embedding, generator):
    c = unet.config
    z = torch.randn((1, c.in_channels, c.sample_size, c.sample_size), generator=generator)
    eps = unet(z, 10, encoder_hidden_states=embedding).sample
    return F.mse_loss(eps, torch.zeros_like(eps))


class TextEncoderToZero(FineTuningMethod):
    """Trains the text encoder's final layer norm (checkpoint names "text_encoder:…")."""

    def __init__(self, unet, scheduler_config, prompts, settings, *, method, components):
        self.text_encoder, tokenizer = components["text_encoder"], components["tokenizer"]
        unet.requires_grad_(False)
        self.text_encoder.requires_grad_(False)
        trainable = {}
        for name, param in self.text_encoder.named_parameters():
            if "final_layer_norm." in name:
                param.requires_grad_(True)
                trainable[component_key("text_encoder", name)] = param
        super().__init__(unet, trainable, method)
        self.ids = tokenizer(["triangle"], padding="max_length", max_length=tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids

    def loss(self, step, generator):
        return _noise_to_zero(self.student, self.text_encoder(self.ids)[0], generator)


class LoraToZero(FineTuningMethod):
    """Trains a LoRA adapter (peft) on attn2 to_k / to_v; the UNet's own weights stay frozen."""

    def __init__(self, unet, scheduler_config, prompts, settings, *, method):
        unet.requires_grad_(False)
        super().__init__(unet, add_lora(unet, LORA, seed=0), method, adapters={"unet": LORA})
        self.prompts = prompts

    def loss(self, step, generator):
        return _noise_to_zero(self.student, self.prompts.concepts[0], generator)


SPECS = (
    specs.MethodSpec("te-zero", specs.FINE_TUNING, "component_methods:TextEncoderToZero", presets=("official",),
                     deliverables=("student",), settings="erasure.methods.presets:Settings"),
    specs.MethodSpec("lora-zero", specs.FINE_TUNING, "component_methods:LoraToZero", presets=("official",),
                     deliverables=("student",), settings="erasure.methods.presets:Settings"),
)


def register(setitem=None) -> None:
    """Add the specs to erasure.methods.specs.SPECS (`setitem`: pytest's monkeypatch.setitem, undone after)."""
    for spec in SPECS:
        (setitem or (lambda d, k, v: d.__setitem__(k, v)))(specs.SPECS, spec.name, spec)
