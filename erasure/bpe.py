"""CLIP's byte-level BPE alphabet: one copy, low in the stack, for the toy world's tokenizer and the SD stand-ins'
vocabulary (transformers 5 no longer exports `bytes_to_unicode`)."""

from __future__ import annotations


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable-character map (the base alphabet of its vocabulary)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))
