"""AdvUnlearn (Zhang et al., NeurIPS 2024, arXiv 2405.15234): adversarial training of the TEXT ENCODER, the
UNet unchanged, as the authors' code runs it — OPTML-Group/AdvUnlearn @ 9d231249f9af13626e8bb9dcef5521f11d262498
(read 2026-12), `train-scripts/AdvUnlearn.py` with the README's nudity command line

    python train-scripts/AdvUnlearn.py --attack_init random --attack_step 30 --retain_train 'reg'
        --dataset_retain 'coco_object' --prompt 'nudity' --train_method 'text_encoder_full' --retain_loss_w 0.3

and the script's argparse defaults for the rest. Each iteration i (`iterations` 1000):

1. **Attack** (i ≥ `warmup_iter` 200; every iteration, `adv_prompt_update_step` 1): a prefix of k = 1 soft
   token (`adv_prompt_num`, `attack_type prefix_k`, `attack_embd_type word_embd`), initialised from a random
   vocabulary token's embedding (`attack_init random`), optimised by Adam (lr 1e-3, `attack_step` 30 steps;
   `attack_method pgd` takes the raw step, `fast_at` its sign) to minimise
   ‖ε_θ(z_t, t, E_φ([sot, δ, prompt, eot…])) − ε_θ(z_t, t, E₀(c))‖², each step on a fresh z_t
   (`utils/attack_util.py::soft_prompt_attack`). E_φ is the text encoder being trained, E₀ the original.
2. **Unlearning step** (`utils/get_loss.py::get_train_loss_retain`, `retain_train reg`): ESD's loss on the
   adversarial prompt (the plain prompt before warm-up ends), plus the retain term on 5 retain prompts
   (`retain_batch`), weight 0.3 (`retain_loss_w`):

       ε̃ = ε(z_t, ∅) − η (ε(z_t, c) − ε(z_t, ∅))   (η = `negative_guidance` 1; E₀'s embeddings)
       loss = ‖ε(z_t, E_φ(δ ⊕ c)) − ε̃‖² + 0.3 · ‖ε(z_r, E_φ(r)) − ε(z_r, E₀(r))‖²

   z_t and z_r by DDIM (50 steps, CFG 3 = `start_guidance`, from E₀'s c and r) to the same random step.
   Adam, lr 1e-5, constant, no gradient clipping (`torch.optim.Adam(parameters, lr=lr)`).
3. **Trained parameters** (`utils/util.py::param_choices`, `text_encoder_full`, `component all`): every
   parameter of the CLIP text transformer's `encoder.*` layers and its `final_layer_norm`, not the token or
   position embeddings — 85,056,000 of SD v1.4's 123,060,480 (tests/methods/test_advunlearn.py counts them).

The deliverable is that text encoder ("text_encoder:…" tensors, role `student`), loaded with the base UNet.

Model families: SD 2.x runs it as is. Its one (OpenCLIP-H, converted to CLIP) text encoder is trained by the
same rule; with v-prediction the UNet's own outputs take ε's place in every term: the attack and the retain
term match two predictions at the same z_t, and ESD's target has weights (1 + η, −η) summing to 1, so
(erasure.worlds.families) the v target is the ε target written in v and the minimisers are unchanged.
SDXL is refused in one line (erasure.worlds.families.SDXL.not_supported["advunlearn"]).

Where we differ from the authors' code, and why:

- z_t's timestep: ours is the landing timestep of the last DDIM step (erasure.methods.zt_sampler, as ESD and
  SDD here); theirs draws t uniformly inside the 20-timestep bin of the DDIM index (`t_enc_ddpm`).
- The prompt's length in the prefix split: theirs counts words (`len(word.split())`), we count the
  tokenizer's tokens (equal for "nudity" and every toy concept; theirs cuts a multi-token word short).
- Retain prompts: theirs draw 5 unseen prompts per step from the CSV until all are seen (Python `random`);
  ours draw 5 distinct ones per step from `settings.retain_prompts` with the run's torch generator.
- Warm-up steps with several concepts: theirs samples one concept per `adv_prompt_update_step`; so do we
  (one per iteration).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from erasure.methods.base import FineTuningMethod, Prompts, component_key, draw
from erasure.methods.zt_sampler import ddim_scheduler, sample_zt
from erasure.worlds.families import predict

TEXT_ENCODER = "text_encoder"


def text_model(text_encoder):
    """The CLIP text transformer: `text_encoder.text_model` (transformers 4) or the encoder itself (5.x)."""
    return getattr(text_encoder, "text_model", text_encoder)


def authors_trainable(text_encoder) -> dict[str, torch.nn.Parameter]:
    """`param_choices(train_method='text_encoder_full', component='all')` (utils/util.py): the parameters of
    the text transformer named `encoder.*` or `final_layer_norm.*`, by their name in `text_encoder`."""
    return {name: p for name, p in text_encoder.named_parameters()
            if name.removeprefix("text_model.").startswith(("encoder", "final_layer_norm"))}


def encode_embeds(text_encoder, embeds: torch.Tensor) -> torch.Tensor:
    """The text encoder's last hidden state [B, L, D] for token EMBEDDINGS [B, L, D] (position embeddings
    added, causal mask, final layer norm): `utils/text_encoder.py::CustomTextEncoder.forward`, which lets the
    attack optimise a token that is no vocabulary entry; the steps of transformers' own
    `CLIPTextModel.forward` after its token lookup. Equals `text_encoder(ids)[0]` when `embeds` are the ids'
    token embeddings (tests/methods/test_advunlearn.py)."""
    from transformers.masking_utils import create_causal_mask

    tm = text_model(text_encoder)
    hidden = tm.embeddings(inputs_embeds=embeds)
    mask = create_causal_mask(config=tm.config, inputs_embeds=hidden, attention_mask=None, cache=None)
    out = tm.encoder(inputs_embeds=hidden, attention_mask=mask, is_causal=True)
    return tm.final_layer_norm(out.last_hidden_state)


def prefix_embeds(token_embeds: torch.Tensor, adv: torch.Tensor, n_prompt: int) -> torch.Tensor:
    """`construct_embd(..., 'prefix_k', ...)`: [sot, δ (k tokens), the prompt's n_prompt tokens, the rest of
    the padded sequence cut by k] — `token_embeds` [1, L, D] of the padded prompt, `adv` [1, k, D]."""
    k = adv.shape[1]
    L = token_embeds.shape[1]
    return torch.cat([token_embeds[:, :1], adv, token_embeds[:, 1:1 + n_prompt], token_embeds[:, 1 + n_prompt:L - k]],
                     dim=1)


class AdvUnlearn(FineTuningMethod):
    """The trainer's interface (erasure.methods.trainer); `settings` is AdvUnlearnSettings."""

    def __init__(self, unet, scheduler_config, prompts: Prompts, settings, *, method, components):
        from erasure.worlds.families import family_of

        family_of(unet, scheduler_config).check_method("advunlearn")  # SDXL: one line, before any work
        self.text_encoder, self.tokenizer = components[TEXT_ENCODER], components["tokenizer"]
        unet.requires_grad_(False)
        self.text_encoder.requires_grad_(False)
        # E₀: the original encoder's embeddings are `prompts` (encoded before any step); the frozen copy
        # encodes the random retain batches
        self.original_encoder = copy.deepcopy(self.text_encoder).eval()
        trainable = {}
        for name, param in authors_trainable(self.text_encoder).items():
            param.requires_grad_(True)
            trainable[component_key(TEXT_ENCODER, name)] = param
        super().__init__(unet, trainable, method)
        self.unet = unet
        self.scheduler = ddim_scheduler(scheduler_config, settings.sampling_steps)
        self.prompts = prompts
        self.settings = settings
        self.concepts = list(prompts.concept_texts)
        tok = self.tokenizer
        self.ids = [tok(c, padding="max_length", max_length=tok.model_max_length, truncation=True,
                        return_tensors="pt").input_ids for c in self.concepts]
        self.n_tokens = [len(tok(c, add_special_tokens=False).input_ids) for c in self.concepts]
        self.retain_ids = tok(list(settings.retain_prompts), padding="max_length", max_length=tok.model_max_length,
                              truncation=True, return_tensors="pt").input_ids
        self.last_attack_loss: float | None = None

    # -- pieces ------------------------------------------------------------------------------------------
    def token_embeds(self, ids: torch.Tensor) -> torch.Tensor:
        table = text_model(self.text_encoder).embeddings.token_embedding.weight
        return table[ids.to(table.device)].detach()

    def eps(self, z: torch.Tensor, t: int, context: torch.Tensor) -> torch.Tensor:
        return predict(self.unet, z, t, context.expand(z.shape[0], -1, -1))

    def draw_zt(self, cond: torch.Tensor, generator: torch.Generator, index: int | None = None, batch: int = 1):
        s = self.settings
        index = draw(s.sampling_steps, generator) if index is None else index
        z, t = sample_zt(self.unet, self.scheduler, cond, self.prompts.uncond, index=index, guidance=s.guidance,
                         batch_size=batch, generator=generator)
        return z, t, index

    def attack(self, k: int, generator: torch.Generator) -> torch.Tensor:
        """δ [1, adv_tokens, D] for concept k: `attack_steps` Adam steps on
        ‖ε(z_t, E_φ(δ ⊕ c)) − ε(z_t, E₀(c))‖², each on a fresh z_t (soft_prompt_attack)."""
        s = self.settings
        table = text_model(self.text_encoder).embeddings.token_embedding.weight
        init = torch.randint(0, table.shape[0], (1, s.adv_tokens), generator=generator)
        adv = table[init.to(table.device)].detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([adv], lr=s.attack_lr)
        base = self.token_embeds(self.ids[k])
        c = self.prompts.concepts[k]
        for _ in range(s.attack_steps):
            z, t, _ = self.draw_zt(c, generator)
            with torch.no_grad():
                target = self.eps(z, t, c)
            context = encode_embeds(self.text_encoder, prefix_embeds(base, adv, self.n_tokens[k]))
            loss = F.mse_loss(self.eps(z, t, context), target)
            # the gradient for δ alone: the encoder's own .grad stays for the unlearning step
            (grad,) = torch.autograd.grad(loss, [adv])
            adv.grad = grad.sign() if s.attack_method == "fast_at" else grad
            opt.step()
            self.last_attack_loss = float(loss.detach())
        return adv.detach()

    def unlearn_loss(self, z: torch.Tensor, t: int, k: int, context: torch.Tensor) -> torch.Tensor:
        """ESD's term: ‖ε(z_t, context) − (ε(z_t, ∅) − η (ε(z_t, c) − ε(z_t, ∅)))‖², E₀'s ∅ and c."""
        p, s = self.prompts, self.settings
        with torch.no_grad():
            e0 = self.eps(z, t, p.uncond)
            ep = self.eps(z, t, p.concepts[k])
            target = e0 - s.negative_guidance * (ep - e0)
        return F.mse_loss(self.eps(z, t, context), target)

    def retain_loss(self, index: int, generator: torch.Generator) -> torch.Tensor:
        """‖ε(z_r, E_φ(r)) − ε(z_r, E₀(r))‖² on `retain_batch` distinct retain prompts, z_r from E₀(r)."""
        s = self.settings
        n = min(s.retain_batch, len(self.retain_ids))
        pick = torch.randperm(len(self.retain_ids), generator=generator)[:n]
        ids = self.retain_ids[pick]
        device = next(self.text_encoder.parameters()).device
        with torch.no_grad():
            original = self.original_encoder(ids.to(device))[0]
        z, t, _ = self.draw_zt(original, generator, index=index, batch=n)
        with torch.no_grad():
            target = predict(self.unet, z, t, original)
        pred = predict(self.unet, z, t, self.text_encoder(ids.to(device))[0])
        return F.mse_loss(pred, target)

    # -- the trainer's interface ---------------------------------------------------------------------------
    def loss(self, step: int, generator: torch.Generator) -> torch.Tensor:
        s = self.settings
        k = draw(len(self.concepts), generator)
        base = self.token_embeds(self.ids[k])
        if step > s.warmup_iter:  # the trainer's steps count from 1; theirs `i >= warmup_iter` from 0
            adv = self.attack(k, generator)
            context = encode_embeds(self.text_encoder, prefix_embeds(base, adv, self.n_tokens[k]))
        else:
            context = encode_embeds(self.text_encoder, base)
        z, t, index = self.draw_zt(self.prompts.concepts[k], generator)
        loss = self.unlearn_loss(z, t, k, context)
        if s.retain_weight:
            loss = loss + s.retain_weight * self.retain_loss(index, generator)
        return loss
