"""What both attacks need from a CLIP tokenizer and text encoder: the tokens an attack may use, prompts
made of them that survive a round trip through text, and text embeddings with some token positions
replaced by a differentiable mixture of token embeddings.

Round trip: an adversarial prompt is shared as text and later drawn by the ordinary generate rules, which
tokenize that text again. So an attack may only use tokens that decode to a word which re-encodes to that
same token; space-separated, such words tokenize independently (CLIP's pre-tokenizer never spans
whitespace), so a prompt of them re-encodes to exactly the ids that were optimised. The upstream attacks
draw from the whole vocabulary and decode at the end, so their shared text can tokenize to other ids.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

import torch

from erasure.errors import ErasureError


_VOCABULARIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one tokenizing pass per tokenizer


def word_vocabulary(tokenizer) -> torch.Tensor:
    """int64 [V'] ids of the tokens an attack may use, ascending: whole-word tokens (ending in `</w>`), not
    special, that decode to printable text (no control bytes in a shared CSV) which re-encodes to themselves
    alone."""
    if tokenizer in _VOCABULARIES:
        return _VOCABULARIES[tokenizer].clone()
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_ids)
    candidates = sorted(i for tok, i in vocab.items() if tok.endswith("</w>") and i not in special)
    words = [tokenizer.decode([i]).strip() for i in candidates]
    encoded = tokenizer([w for w in words], add_special_tokens=False).input_ids
    kept = [i for i, w, ids in zip(candidates, words, encoded) if w and w.isprintable() and ids == [i]]
    if not kept:
        raise ErasureError("tokenizer: no whole-word token re-encodes to itself; cannot build an attack vocabulary")
    _VOCABULARIES[tokenizer] = torch.tensor(kept, dtype=torch.long)
    return _VOCABULARIES[tokenizer].clone()


def encode_ids(tokenizer, text: str) -> list[int]:
    """Token ids of `text` without BOS/EOS."""
    return list(tokenizer(text, add_special_tokens=False).input_ids)


def padded(tokenizer, ids: list[int]) -> torch.Tensor:
    """int64 [1, L]: BOS, `ids`, EOS, then padding to the tokenizer's model_max_length (as the pipeline pads)."""
    length = int(tokenizer.model_max_length)
    if len(ids) + 2 > length:
        raise ErasureError(f"prompt: {len(ids)} tokens plus BOS/EOS exceed the text encoder's {length} positions")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    full = [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [pad] * (length - len(ids) - 2)
    return torch.tensor([full], dtype=torch.long)


def words_text(tokenizer, ids) -> str:
    """The text of whole-word token ids, one word each, space-separated."""
    return " ".join(tokenizer.decode([int(i)]).strip() for i in ids)


def check_round_trip(tokenizer, text: str, expected: list[int]) -> None:
    """Raise ErasureError when `text` does not tokenize to `expected` (the ids an attack optimised)."""
    got = encode_ids(tokenizer, text)
    if got != list(expected):
        raise ErasureError(f"adversarial prompt {text!r}: re-encodes to {got}, not the optimised ids {list(expected)}")


@contextlib.contextmanager
def replaced_positions(text_encoder, positions: slice, embeds: torch.Tensor) -> Iterator[None]:
    """Inside the block, the text encoder's token embeddings at `positions` are `embeds` [B or 1, k, D]
    (differentiable), whatever ids sit there: a forward hook on its input embedding layer, so the encoder's
    own forward (position embeddings, causal mask, final norm) runs unchanged."""

    def hook(_module, _inputs, output):
        output = output.clone()
        output[:, positions] = embeds.to(output.dtype).expand(output.shape[0], -1, -1)
        return output

    handle = text_encoder.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def hidden_states(text_encoder, ids: torch.Tensor) -> torch.Tensor:
    """float [B, L, D] last hidden state (what SD's UNet cross-attends to) of token ids [B, L]."""
    return text_encoder(ids.to(text_encoder.device))[0]
