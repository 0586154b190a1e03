"""White-box prompt attack in the style of UnlearnDiffAtk (Zhang et al., ECCV 2024), following its code
(OPTML-Group/Diffusion-MU-Attack, `src/attackers/text_grad_.py` with `tasks/classifier_.py`):

- k adversarial tokens are prepended to the prompt (`prefix_k`: BOS, k tokens, the prompt, EOS, padding).
  Each is a relaxed one-hot u_i on the probability simplex over the vocabulary, initialised uniform.
- Each iteration samples hard one-hots from u (multinomial) with a straight-through estimator whose
  backward is hardtanh(grad) (upstream `STERandSelect`), embeds them as one_hot @ E (E the token embedding
  table), and takes the loss of the ATTACKED model's noise prediction on the noised target latent:

      z_t = sqrt(ᾱ_t) z0 + sqrt(1 − ᾱ_t) ε,   ε ~ N(0, I);   loss = ‖ε_θ(z_t, c(u), t) − ε‖²  (mean)

  (a v-predicting family, SD 2.x: ‖v_θ(z_t, c(u), t) − v‖² with v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) z0, the
  model's own parametrisation of the same target, erasure.worlds.families.training_target; SDXL is refused)

  z0 is the VAE latent (posterior mean × scaling factor) of the target image, the BASE model's image for
  this prompt and seed. Adam (lr 0.01, weight decay 0.1) on u, then u is projected back onto the simplex.
- Timesteps are visited in order t = T/n/2, T/n/2 + T/n, … (n = 50 upstream), `iterations` (40) steps
  each ("sequential" mode); after each timestep u is projected to hard tokens by argmax and, given a
  check, the attacked model draws the adversarial prompt and the attack stops once the concept shows.
  Before any of it, a prompt whose plain image already shows the concept is not attacked (upstream too).

Where this differs from upstream:
- Tokens come from `erasure.attacks.text.word_vocabulary` (whole words that survive a text round trip),
  not the whole vocabulary, so the CSV's prompt is what was optimised (upstream decodes ids to text that
  can re-tokenize differently).
- The simplex projection is the exact sort-based one (Duchi et al. 2008, Fig. 1) instead of upstream's
  bisection to 1e-5 (its upper bound 1 never binds once entries are non-negative and sum to 1).
- All randomness (noise, token sampling) comes from one generator seeded with `seed`, not the global RNG.
- On a GPU the text encoder's and UNet's forward passes run under bf16 autocast by default
  (`WhiteBoxSettings.precision`, "auto"; upstream: fp32); the relaxed tokens, Adam, the embedding product and
  the loss stay fp32, and `precision: fp32` restores upstream's arithmetic. On the CPU "auto" is fp32.
- The early-stop check is a callable on the adversarial prompt text (`erasure.attacks.checks.prompt_check`
  builds one from a method pipeline and a `detects(image)` classifier), so inference-time methods
  (SD+NEG, SLD) are checked with their own sampling, as upstream does for SLD; their loss, as upstream's,
  uses the UNet alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from erasure.attacks.base import AttackResult
from erasure.attacks.text import check_round_trip, encode_ids, padded, replaced_positions, word_vocabulary, words_text
from erasure.errors import ErasureError
from erasure.worlds.families import ModelFamily, family_of, predict, training_target

ATTACK = "unlearndiffatk"
PRECISIONS = ("auto", "fp32", "bf16")


def effective_precision(precision: str, device) -> str:
    """"fp32" or "bf16": what `precision` ("auto" | "fp32" | "bf16") means on `device` ("auto": bf16 on CUDA)."""
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cuda" else "fp32"
    return precision


def _autocast(precision: str, device):
    """bf16 autocast on `device` for "bf16", nothing for "fp32"."""
    import contextlib

    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class WhiteBoxSettings:
    """Upstream defaults (configs/nudity/text_grad_esd_nudity_classifier.json; n_samples = 50 in
    tasks/classifier_.py). `timesteps` overrides the n evenly spaced ones when given."""

    k: int = 5
    lr: float = 0.01
    weight_decay: float = 0.1
    iterations: int = 40
    n_timesteps: int = 50
    timesteps: tuple[int, ...] | None = None
    check_original: bool = True
    # ours, not upstream's (fp32): the text encoder's and UNet's forward passes under bf16 autocast; the
    # relaxed tokens, their Adam state, the embedding product and the loss stay fp32. "auto": bf16 on a GPU,
    # fp32 on the CPU (measured on the toy: experiments/results/precision-toy/README.md)
    precision: str = "auto"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ErasureError(f"attack settings: precision must be one of {', '.join(PRECISIONS)}, "
                               f"got {self.precision!r}")
        for name in ("k", "iterations", "n_timesteps"):
            if int(getattr(self, name)) < 1:
                raise ErasureError(f"attack settings: {name} must be at least 1, got {getattr(self, name)!r}")
        if not (float(self.lr) > 0 and math.isfinite(float(self.lr))):
            raise ErasureError(f"attack settings: lr must be positive, got {self.lr!r}")


def sampled_timesteps(num_train_timesteps: int, n: int) -> list[int]:
    """n evenly spaced timesteps, ascending, as upstream: range(T // n // 2, T, T // n)[:n]."""
    T = int(num_train_timesteps)
    if not 1 <= n <= T:
        raise ErasureError(f"attack settings: n_timesteps {n} outside 1..{T}")
    return list(range(T // n // 2, T, T // n))[:n]


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of v [k, V] onto the probability simplex (Duchi et al. 2008, Fig. 1)."""
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(-1) - 1.0
    index = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
    rho = (u - css / index > 0).sum(-1, keepdim=True)  # the condition holds on a prefix of the sorted row
    theta = css.gather(-1, rho - 1) / rho.to(v.dtype)
    return (v - theta).clamp(min=0.0)


class _SampledOneHot(torch.autograd.Function):
    """Forward: one-hot rows sampled from the rows of `probs` [k, V]; backward: hardtanh of the incoming
    gradient (upstream STERandSelect)."""

    @staticmethod
    def forward(ctx, probs, generator):
        index = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        return F.one_hot(index, probs.shape[-1]).to(probs.dtype)

    @staticmethod
    def backward(ctx, grad):
        return F.hardtanh(grad), None


@torch.no_grad()
def image_latents(vae, image: np.ndarray) -> torch.Tensor:
    """float32 [1, C, h, w]: the VAE posterior mean of a uint8 image [H, W, 3], times the VAE's scaling
    factor (what the UNet denoises; upstream `img2latent` with SD's 0.18215)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ErasureError(f"target image: expected uint8 [H, W, 3], got {image.dtype} {list(image.shape)}")
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
    x = x.to(device=vae.device, dtype=vae.dtype)
    return (vae.encode(x).latent_dist.mean * vae.config.scaling_factor).float()


def unlearn_diff_attack(unet, text_encoder, tokenizer, scheduler, target_latents: torch.Tensor, prompt: str, *,
                        seed: int, settings: WhiteBoxSettings = WhiteBoxSettings(),
                        check: Callable[[str], bool] | None = None) -> AttackResult:
    """Prepend `settings.k` tokens to `prompt` so that `unet` (the attacked model) reconstructs
    `target_latents` [1, C, h, w] (see `image_latents`) across timesteps.

    `scheduler` gives ᾱ_t (`alphas_cumprod`) and T (`config.num_train_timesteps`). A non-finite loss raises
    ErasureError. `check(text) -> bool`
    says whether the attacked model's image for a prompt shows the concept (early stop); without it every
    timestep runs. Returns the adversarial prompt ("w1 … wk <prompt>"), the k token ids, the gradient steps
    run, and the mean loss of the last timestep. Raises ErasureError when the prompt plus k tokens do not
    fit the text encoder, or the target latent's shape is not the UNet's.
    """
    s = settings
    device = unet.device
    _check_family(unet, scheduler)
    expected = ModelFamily.latent_shape(unet)
    if tuple(target_latents.shape[1:]) != expected or target_latents.shape[0] != 1:
        raise ErasureError(f"target latents: shape {list(target_latents.shape)}, the UNet expects [1, {', '.join(map(str, expected))}]")
    if check is not None and s.check_original and check(prompt):
        return AttackResult(prompt, [], 0, float("nan"), detected=True)

    vocab = word_vocabulary(tokenizer)
    table = text_encoder.get_input_embeddings().weight.detach()[vocab.to(text_encoder.device)]  # [V', D]
    prompt_ids = encode_ids(tokenizer, prompt)
    try:
        ids = padded(tokenizer, [int(vocab[0])] * s.k + prompt_ids)  # placeholders: the hook replaces them
    except ErasureError:
        raise ErasureError(f"prompt {prompt!r}: {len(prompt_ids)} tokens plus k={s.k} adversarial tokens exceed the "
                           f"text encoder's {tokenizer.model_max_length} positions; lower k") from None
    positions = slice(1, 1 + s.k)
    timesteps = list(s.timesteps) if s.timesteps else sampled_timesteps(scheduler.config.num_train_timesteps, s.n_timesteps)
    precision = effective_precision(s.precision, device)
    alphas = scheduler.alphas_cumprod.float()

    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    z0 = target_latents.detach().to(device=device, dtype=torch.float32)
    relaxed = torch.full((s.k, len(vocab)), 1.0 / len(vocab), dtype=torch.float32, requires_grad=True)
    optimizer = torch.optim.Adam([relaxed], lr=s.lr, weight_decay=s.weight_decay)
    history: list[float] = []
    block: list[float] = []
    detected = None
    steps = 0
    for t in timesteps:
        a = alphas[int(t)]
        block = []
        for _ in range(s.iterations):
            one_hot = _SampledOneHot.apply(relaxed, generator)
            embeds = (one_hot.to(device=table.device, dtype=table.dtype) @ table)[None]
            noise = torch.randn(z0.shape, generator=generator).to(device)
            z_t = (a.sqrt() * z0 + (1 - a).sqrt() * noise).to(unet.dtype)
            with _autocast(precision, device):
                with replaced_positions(text_encoder, positions, embeds):
                    context = text_encoder(ids.to(text_encoder.device))[0]
                pred = predict(unet, z_t, int(t), context.to(unet.dtype))
            loss = F.mse_loss(pred.float(), training_target(scheduler, z0, noise, int(t)))
            if not torch.isfinite(loss):  # a NaN gradient would silently wreck every token distribution
                raise ErasureError(f"attack {ATTACK}: non-finite loss for prompt {prompt!r} at timestep {t}, "
                                   f"iteration {steps + 1} (UNet dtype {str(unet.dtype).replace('torch.', '')}, "
                                   f"precision {precision}); float16 overflow or broken weights")
            (grad,) = torch.autograd.grad(loss, [relaxed])
            relaxed.grad = grad
            optimizer.step()
            with torch.no_grad():
                relaxed.copy_(project_simplex(relaxed))
            block.append(float(loss.detach()))
            steps += 1
        history.extend(block)
        if check is not None:
            detected = bool(check(_prompt_text(tokenizer, vocab, relaxed, prompt)))
            if detected:
                break
    chosen = [int(vocab[j]) for j in relaxed.detach().argmax(-1)]
    text = _prompt_text(tokenizer, vocab, relaxed, prompt)
    check_round_trip(tokenizer, text, chosen + prompt_ids)
    return AttackResult(text, chosen, steps, float(np.mean(block)), detected=detected, history=history,
                        extra={"timesteps": timesteps[: math.ceil(steps / s.iterations)], "precision": precision})


def _prompt_text(tokenizer, vocab: torch.Tensor, relaxed: torch.Tensor, prompt: str) -> str:
    """The hard prompt: argmax tokens of `relaxed` as words, then the original prompt (upstream argmax_project)."""
    chosen = [int(vocab[j]) for j in relaxed.detach().argmax(-1)]
    return f"{words_text(tokenizer, chosen)} {prompt}".strip()


@torch.no_grad()
def reconstruction_loss(unet, text_encoder, tokenizer, scheduler, target_latents: torch.Tensor, prompts: list[str], *,
                        timesteps: list[int], n_noise: int = 8, seed: int = 0) -> np.ndarray:
    """float64 [len(prompts)]: the attack's loss for each prompt (hard tokens, as text), averaged over
    `timesteps` x `n_noise` noises drawn once from `seed`, so the same noises score every prompt. A
    deterministic yardstick for comparing prompts; the attack itself draws fresh noise every step."""
    _check_family(unet, scheduler)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    z0 = target_latents.to(device=unet.device, dtype=torch.float32)
    noises = torch.randn((len(timesteps), n_noise, *z0.shape[1:]), generator=generator).to(unet.device)
    alphas = scheduler.alphas_cumprod.float()
    out = []
    for text in prompts:
        ids = padded(tokenizer, encode_ids(tokenizer, text))
        context = text_encoder(ids.to(text_encoder.device))[0].to(unet.dtype)
        total = 0.0
        for t, eps in zip(timesteps, noises):
            a = alphas[int(t)]
            z_t = (a.sqrt() * z0 + (1 - a).sqrt() * eps).to(unet.dtype)
            pred = predict(unet, z_t, int(t), context.expand(n_noise, -1, -1))
            total += float(F.mse_loss(pred.float(), training_target(scheduler, z0.expand_as(eps), eps, int(t))))
        out.append(total / len(timesteps))
    return np.asarray(out, dtype=np.float64)


def _check_family(unet, scheduler) -> None:
    """ErasureError (one line) where the attack does not apply to the UNet's model family (SDXL)."""
    family = family_of(unet, scheduler.config)
    if family.whitebox_text():
        raise ErasureError(f"attack {ATTACK} on {family.title}: {family.whitebox_text()}")
