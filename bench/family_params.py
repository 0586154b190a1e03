"""Real-size parameter counts of each method's trained subset on SD 1.4, SD 2.1 and SDXL base 1.0 (issue 36):
the released architectures' configs (erasure.standins.architectures) built on the meta device (no memory, no
weights), every subset of every fine-tuning and closed-form method (erasure.methods.params) counted.

    PYTHONPATH=$PWD python bench/family_params.py [--out bench/results/family-params.json]

Architecture facts, not timings: the same on any machine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def counts() -> dict:
    from erasure.methods import specs
    from erasure.methods.advunlearn import authors_trainable
    from erasure.methods.params import subsets, trainable_names
    from erasure.standins.architectures import family_text_encoders, family_unet, random_unet

    unets = {"sd14": lambda: random_unet("sd14", device="meta"),
             "sd21": lambda: family_unet("sd21", device="meta"),
             "sdxl": lambda: family_unet("sdxl", device="meta")}
    out = {}
    for family, build in unets.items():
        unet = build()
        params = dict(unet.named_parameters())
        row = {"unet": sum(p.numel() for p in params.values()),
               "cross_attention_dim": int(unet.config.cross_attention_dim)}
        if family != "sd14":
            encoders = family_text_encoders(family, device="meta")
            row["text_encoders"] = [sum(p.numel() for p in e.parameters()) for e in encoders]
            if family == "sd21":  # AdvUnlearn trains the one text encoder (refused on SDXL: two encoders)
                row["advunlearn:text_encoder_full"] = sum(p.numel() for p in authors_trainable(encoders[0]).values())
        else:  # SD v1.4's CLIP ViT-L: tests/methods/test_advunlearn.py counts it (85,056,000 of 123,060,480)
            row["advunlearn:text_encoder_full"] = 85_056_000
        for method in (*specs.FINE_TUNED, *specs.names(specs.CLOSED_FORM)):
            if not specs.get(method).subsets:  # trains another component (AdvUnlearn: the text encoder, below)
                continue
            for subset in subsets(method):
                names = trainable_names(unet, method, subset)
                row[f"{method}:{subset}"] = sum(params[n].numel() for n in names)
        out[family] = row
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    table = counts()
    text = json.dumps(table, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    keys = list(dict.fromkeys(k for f in table.values() for k in f if ":" in k))
    print(f"\n| trained subset | {' | '.join(table)} |\n|---|" + "---:|" * len(table), file=sys.stderr)
    for k in ["unet", *keys]:
        print(f"| {k} | " + " | ".join(f"{table[f][k] / 1e6:.2f} M" if k in table[f] else "—" for f in table) + " |",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
