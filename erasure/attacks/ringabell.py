"""Black-box prompt attack in the style of Ring-A-Bell (Tsai et al., ICLR 2024), following its code
(chiayi-hsu/Ring-A-Bell, `Get_Concept_Vector.ipynb`, `InversePrompt.ipynb`). It reads the text encoder
only: nothing here receives a UNet, a scheduler or a pipeline.

- Concept vector: c = mean_i (E(p_i⁺) − E(p_i⁻)) over prompt pairs with / without the concept, E the text
  encoder's last hidden state [L, D] of the padded prompt (every position, padding included).
- Target: E(prompt) + η c (upstream `cof`, 3 for nudity).
- Genetic search over prompts of `length` tokens (BOS, the tokens, EOS, padding), fitness
  ‖target − E(x)‖² summed over [L, D]; each generation: score, keep the best half (sorted), then — except
  after the last — crossover (each survivor stays; with probability `crossover_rate` it and a random
  survivor swap tails at a random point, adding both children) and mutation (each member, with probability
  `mutation_rate`, gets one random position set to a random token). The result is the best of the last
  scored generation. Upstream settings: population 200, 3000 generations, mutation 0.25, crossover 0.5,
  length 16 (K = 77 prompts use 75).

Where this differs from upstream:
- Tokens come from `erasure.attacks.text.word_vocabulary` (whole words that survive a text round trip),
  not ids 1..49405, so the shared prompt re-encodes to the ids searched.
- A generation is scored in batches (upstream: one encoder call per member); a mutated member is a copy
  (upstream mutates in place, which also mutates a survivor its child list shares; same distribution).
- Randomness comes from one numpy Generator seeded with `seed` (upstream: the global `random` and numpy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from erasure.attacks.base import AttackResult
from erasure.attacks.text import check_round_trip, encode_ids, padded, word_vocabulary, words_text
from erasure.errors import ErasureError

ATTACK = "ring-a-bell"


@dataclass(frozen=True)
class RingABellSettings:
    eta: float = 3.0
    length: int = 16
    population: int = 200
    generations: int = 3000
    mutation_rate: float = 0.25
    crossover_rate: float = 0.5
    batch_size: int = 256  # members per encoder call; changes nothing but speed and memory

    def __post_init__(self):
        for name in ("length", "generations", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ErasureError(f"attack settings: {name} must be at least 1, got {getattr(self, name)!r}")
        if int(self.population) < 2:
            raise ErasureError(f"attack settings: population must be at least 2, got {self.population!r}")
        for name in ("mutation_rate", "crossover_rate"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ErasureError(f"attack settings: {name} must be in [0, 1], got {getattr(self, name)!r}")
        if not math.isfinite(float(self.eta)):
            raise ErasureError(f"attack settings: eta must be finite, got {self.eta!r}")


@torch.no_grad()
def embed_texts(text_encoder, tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """float32 [N, L, D]: last hidden states of the padded prompts (as the pipeline encodes them)."""
    ids = torch.cat([padded(tokenizer, encode_ids(tokenizer, t)) for t in texts])
    return text_encoder(ids.to(text_encoder.device))[0].float()


@torch.no_grad()
def concept_vector(text_encoder, tokenizer, with_concept: Sequence[str], without_concept: Sequence[str]) -> torch.Tensor:
    """float32 [L, D]: mean over pairs of E(with) − E(without) (upstream Get_Concept_Vector)."""
    if len(with_concept) != len(without_concept) or not with_concept:
        raise ErasureError(f"concept prompts: need equally many prompts with and without the concept, got "
                           f"{len(with_concept)} and {len(without_concept)}")
    return (embed_texts(text_encoder, tokenizer, with_concept)
            - embed_texts(text_encoder, tokenizer, without_concept)).mean(0)


def _padded_rows(tokenizer, members: np.ndarray) -> torch.Tensor:
    """int64 [P, L]: BOS, each member's tokens, EOS, padding (erasure.attacks.text.padded, for a whole
    population at once: building it row by row cost more than encoding it)."""
    n, length = members.shape
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = np.full((n, int(tokenizer.model_max_length)), pad, dtype=np.int64)
    ids[:, 0] = tokenizer.bos_token_id
    ids[:, 1:length + 1] = members
    ids[:, length + 1] = tokenizer.eos_token_id
    return torch.from_numpy(ids)


@torch.no_grad()
def _fitness(text_encoder, tokenizer, members: np.ndarray, target: torch.Tensor, batch_size: int) -> np.ndarray:
    ids = _padded_rows(tokenizer, members).to(text_encoder.device)
    scores = []
    for start in range(0, len(ids), batch_size):
        embeds = text_encoder(ids[start:start + batch_size])[0].float()
        scores.append(((embeds - target) ** 2).sum(dim=(1, 2)).cpu().numpy())
    return np.concatenate(scores).astype(np.float64)


def _crossover(parents: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    out = []
    length = parents.shape[1]
    for row in parents:
        out.append(row)
        if rng.random() < rate:
            other = parents[rng.integers(0, len(parents))]
            point = int(rng.integers(0, length))  # upstream's point 1..length over [BOS, tokens]
            out.append(np.concatenate([row[:point], other[point:]]))
            out.append(np.concatenate([other[:point], row[point:]]))
    return np.stack(out)


def _mutate(members: np.ndarray, rate: float, vocab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    members = members.copy()
    for i in range(len(members)):
        if rng.random() < rate:
            members[i, rng.integers(0, members.shape[1])] = vocab[rng.integers(0, len(vocab))]
    return members


def ring_a_bell(text_encoder, tokenizer, prompt: str, concept: torch.Tensor, *, seed: int,
                settings: RingABellSettings = RingABellSettings()) -> AttackResult:
    """A prompt of `settings.length` tokens whose embedding is near E(`prompt`) + η·`concept` [L, D].

    Returns the prompt's text (its tokens as words), its ids, the generations run, and the best squared
    distance; `extra["initial_mean"]` is the first generation's mean distance. Raises ErasureError when
    `length` does not fit the text encoder or `concept` has the wrong shape.
    """
    s = settings
    if s.length + 2 > int(tokenizer.model_max_length):
        raise ErasureError(f"attack settings: length {s.length} plus BOS/EOS exceeds the text encoder's "
                           f"{tokenizer.model_max_length} positions")
    target = embed_texts(text_encoder, tokenizer, [prompt])[0]
    if tuple(concept.shape) != tuple(target.shape):
        raise ErasureError(f"concept vector: shape {list(concept.shape)}, the text encoder gives {list(target.shape)}")
    target = target + float(s.eta) * concept.to(target.device, torch.float32)
    vocab = word_vocabulary(tokenizer).numpy()
    rng = np.random.default_rng(int(seed))
    members = vocab[rng.integers(0, len(vocab), size=(int(s.population), int(s.length)))]
    history: list[float] = []
    initial_mean = float("nan")
    for generation in range(int(s.generations)):
        scores = _fitness(text_encoder, tokenizer, members, target, int(s.batch_size))
        if generation == 0:
            initial_mean = float(scores.mean())
        order = np.argsort(scores, kind="stable")[: int(s.population) // 2]
        members, scores = members[order], scores[order]
        history.append(float(scores[0]))
        if generation != int(s.generations) - 1:
            members = _mutate(_crossover(members, float(s.crossover_rate), rng), float(s.mutation_rate), vocab, rng)
    best = [int(i) for i in members[0]]
    text = words_text(tokenizer, best)
    check_round_trip(tokenizer, text, best)
    return AttackResult(text, best, int(s.generations), float(scores[0]), history=history,
                        extra={"initial_mean": initial_mean})


def swap_pairs(prompts: Sequence[str], word: str, replacements: Sequence[str]) -> tuple[list[str], list[str]]:
    """Concept-vector pairs: every prompt naming `word` (as a whole word), paired with it once per
    replacement word put in its place ("a red triangle" -> "a red circle", "a red square", …)."""
    with_concept, without = [], []
    for text in prompts:
        words = text.split()
        if word not in words:
            continue
        for other in replacements:
            with_concept.append(text)
            without.append(" ".join(other if w == word else w for w in words))
    if not with_concept:
        raise ErasureError(f"concept prompts: none names {word!r}")
    return with_concept, without
