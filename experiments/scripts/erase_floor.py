"""What SDD's objective asks for, measured on the base: the rate of each target attribute value when the
prompt no longer names it.

SDD trains ε(z_t, c) towards ε(z_t, ∅): a perfectly erased "striped" turns "a striped red triangle" into
"a red triangle", whose fill the base then draws from its prior (a third of toy images are striped). So the
rate an ideal SDD reaches on experiments/scripts/erase_toy.py's target prompts is not 0 but the base's rate on the
same prompts with the concept dropped; anything below it is the concept being *avoided* (over-erasure, or
ESD's negative guidance η), not just forgotten.

    python experiments/scripts/erase_floor.py --base erasure/worlds/toy/assets/base --concepts triangle,red,striped --n 200

One JSON line: per concept, the base's rate on the target prompts as erase_toy.py writes them and on the same
prompts with the concept's word removed, plus the unconditional rate ("").
"""

import argparse
import json
import time
from pathlib import Path

from erase_toy import predict, prompt_sets, rate, set_seeds


def _drop(prompt: str, word: str) -> str:
    """The prompt without the concept: a shape (the noun) becomes "shape", a colour or fill (adjectives) goes."""
    from erasure.worlds.toy.vocab import FILLS, SHAPES

    if word in SHAPES:
        return prompt.replace(word, "shape")
    gone = {word, "filled"} if word in FILLS else {word}  # the held-out wording's "... filled striped"
    return " ".join(w for w in prompt.split() if w not in gone)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--concepts", default="triangle,red,striped")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wording", default="config", help="erase_toy.WORDINGS key")
    args = ap.parse_args()

    from erasure.models import load_base_pipeline
    from erasure.runtime import set_threads
    from erasure.worlds.toy.oracle import load_oracle

    set_threads(args.threads)
    base = Path(args.base).resolve()
    pipe = load_base_pipeline(str(base / "pipeline"))
    oracle = load_oracle(base / "oracle")
    concepts = args.concepts.split(",")
    sets = prompt_sets(concepts, args.n, args.wording)
    t0 = time.time()

    out = {"n": args.n, "wording": args.wording}
    for k, c in enumerate(concepts):  # target sets come first in prompt_sets: the k-th one's seeds
        prompts, attr, value = sets[f"target:{c}"]
        seeds = set_seeds(k, args.n, args.wording)
        variants = {"named": prompts, "dropped": [_drop(p, c) for p in prompts], "unconditional": [""] * args.n}
        out[c] = {"attribute": attr, "example": [prompts[7], _drop(prompts[7], c)],
                  **{v: round(rate(predict(pipe, oracle, ps, seeds), attr, value), 3) for v, ps in variants.items()}}
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
