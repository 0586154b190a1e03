"""A CLIP BPE tokenizer for the toy vocabulary, written from scratch so nothing is downloaded.

Merges are learnt with real BPE training on the vocabulary words (most frequent adjacent pair first),
so that replaying them — which is what `CLIPTokenizer` does, lowest rank first — rebuilds each word as
one token. Naive per-word prefix chains do not: a merge made for "in" fires inside "plain" first.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from erasure.bpe import bytes_to_unicode  # CLIP's byte alphabet, one copy
from erasure.worlds.toy.vocab import all_words

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MODEL_MAX_LENGTH = 16  # v1's longest caption is 9 words; SD's 77 would only add padding positions


def train_merges(words: tuple[str, ...]) -> list[tuple[str, str]]:
    """BPE on the word list (each word counted once) until every word is a single symbol."""
    seqs = [tuple(w[:-1]) + (w[-1] + "</w>",) for w in words]
    merges: list[tuple[str, str]] = []
    while any(len(s) > 1 for s in seqs):
        pairs = Counter(p for s in seqs for p in zip(s, s[1:]))
        best = min(pairs, key=lambda p: (-pairs[p], p))  # deterministic tie-break
        merges.append(best)
        joined = best[0] + best[1]
        new = []
        for s in seqs:
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            new.append(tuple(out))
        seqs = new
    return merges


def write_tokenizer_files(out_dir: str | Path) -> tuple[Path, Path]:
    """Write vocab.json and merges.txt for the toy vocabulary; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = list(bytes_to_unicode().values())
    tokens = base + [c + "</w>" for c in base]
    merges = train_merges(all_words())
    tokens += [a + b for a, b in merges]
    tokens += [BOS, EOS]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    vocab_file, merges_file = out_dir / "vocab.json", out_dir / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    # CLIPTokenizer skips the first line of merges.txt (a version header)
    merges_file.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def build_tokenizer(work_dir: str | Path, max_length: int = MODEL_MAX_LENGTH):
    """A `CLIPTokenizer` for the toy vocabulary (files written under `work_dir`), padded with EOS as in SD to
    `max_length` tokens (BOS and EOS included; the base recipe's ``max_length``)."""
    from transformers import CLIPTokenizer

    vocab_file, merges_file = write_tokenizer_files(work_dir)
    vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    lines = merges_file.read_text(encoding="utf-8").splitlines()[1:]
    merges = [tuple(line.split(" ")) for line in lines if line]
    # transformers 5's CLIPTokenizer takes the vocabulary and merges themselves, not file names
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        model_max_length=max_length,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        unk_token=EOS,
    )
