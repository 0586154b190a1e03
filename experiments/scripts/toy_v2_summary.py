"""The toy world v2 ablation table (issue 24) from experiments/scripts/toy_v2_ablation.sh's outputs, one per base.

    python experiments/scripts/toy_v2_summary.py v1=BASE_DIR:OUT_DIR v2=BASE_DIR:OUT_DIR ...

Prints Markdown: base figures (each base's check record — its MODEL_CARD.md's, else OUT/check.json — and
whether it meets check.BASE_BARS, plus the text pathway: the flattened-embedding cosine of the paper's joined
prompt with "a red triangle"), SDD single-concept target and retention at each checkpoint, and the
multi-concept per-concept rates beside each concept's floor (the base's rate with the concept's word dropped:
experiments/scripts/erase_floor.py), for the config and the held-out wording.
"""

import json
import sys
from pathlib import Path

JOINED = "a triangle, a red shape, a striped shape"  # erasure.methods.concepts joins the paper preset's c_s


def check_record(base: Path, out: Path) -> dict:
    """The base's check record: its model card's, else OUT/check.json (a base built without the check)."""
    from erasure.worlds.toy.build import recorded_check

    rec = recorded_check(base)
    if rec is None and (out / "check.json").is_file():
        rec = json.loads((out / "check.json").read_text())
    return rec or {}


def joined_cosines(base: Path) -> dict:
    import torch
    import torch.nn.functional as F

    from erasure.models import load_base_pipeline

    pipe = load_base_pipeline(str(base / "pipeline"))
    texts = [JOINED, "a red triangle", "a striped red triangle", ""]
    ids = pipe.tokenizer(texts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        flat = F.normalize(pipe.text_encoder(ids).last_hidden_state.flatten(1), dim=-1)
    return {"to a red triangle": float(flat[0] @ flat[1]), "to a striped red triangle": float(flat[0] @ flat[2]),
            "to empty": float(flat[0] @ flat[3]), "tokens": pipe.tokenizer.model_max_length,
            "cross_attention_dim": pipe.unet.config.cross_attention_dim}


def pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def rows(out: Path, run: str) -> list[dict]:
    path = out / f"{run}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main(argv: list[str]) -> None:
    from erasure.worlds.toy.check import failed_bars

    variants = {}
    for arg in argv:
        name, _, dirs = arg.partition("=")
        base, _, out = dirs.partition(":")
        variants[name] = (Path(base), Path(out))

    print("### Base figures (python -m erasure.worlds.toy.check, n=200; text pathway)\n")
    print("| variant | tokens | attn2 width | oracle shape (VAE) | shape adh. | colour adh. | square adh. | "
          "beach: triangles | other backgrounds: max triangles | cos(joined, 'a red triangle') | cos(joined, '') | "
          "base bars |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, (base, out) in variants.items():
        rec, cos = check_record(base, out), joined_cosines(base)
        missed = failed_bars(rec)
        tri = rec.get("triangle_rate", {})
        other = max((v for k, v in tri.items() if k != "beach"), default=None)
        print(f"| {name} | {cos['tokens']} | {cos['cross_attention_dim']} | {pct(rec.get('oracle_vae', {}).get('shape'))} "
              f"| {pct(rec.get('adherence', {}).get('shape'))} | {pct(rec.get('adherence', {}).get('colour'))} "
              f"| {pct(rec.get('adherence_shape_by_shape', {}).get('square'))} | {pct(tri.get('beach'))} | {pct(other)} "
              f"| {cos['to a red triangle']:.2f} | {cos['to empty']:.2f} | {'; '.join(missed) or 'met'} |")

    print("\n### SDD, one concept (config/config.yaml sdd-triangle, EMA teacher; n=40 per set)\n")
    print("| variant | wording | step | triangle | beach: triangles | shape adh. | square adh. | colour adh. | "
          "shape retention | colour retention |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (_, out) in variants.items():
        for wording in ("config", "heldout"):
            suffix = "" if wording == "config" else f"-{wording}"
            base_file = out / f"base-triangle-40{suffix}.json"
            recs = ([json.loads(base_file.read_text())] if base_file.exists() else [])
            recs += [r for r in rows(out, "sdd-triangle") if r.get("wording", "config") == wording]
            for r in recs:
                print(f"| {name} | {wording} | {r['step'] or 'base'} | {pct(r.get('target:triangle'))} | "
                      f"{pct(r.get('beach'))} | {pct(r.get('shape_adh'))} | {pct(r.get('shape_adh:square'))} | "
                      f"{pct(r.get('colour_adh'))} | {r.get('shape_retention', '')} | {r.get('colour_retention', '')} |")

    print(f"\n### SDD, three concepts jointly (sdd-multi, paper preset: c_s = \"{JOINED}\"; n=40)\n")
    print("Each cell: the concept's rate on prompts naming it, then (its floor: the base's rate with the word dropped).\n")
    print("| variant | wording | step | triangle (floor) | red (floor) | striped (floor) | shape adh. | colour adh. |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, (_, out) in variants.items():
        for wording in ("config", "heldout"):
            floor_file = out / f"floor-{wording}.json"
            floor = json.loads(floor_file.read_text()) if floor_file.exists() and floor_file.stat().st_size else {}
            suffix = "" if wording == "config" else f"-{wording}"
            base_file = out / f"base-triangle-red-striped-40{suffix}.json"
            recs = ([json.loads(base_file.read_text())] if base_file.exists() else [])
            recs += [r for r in rows(out, "sdd-multi") if r.get("wording", "config") == wording]
            for r in recs:
                cells = [f"{pct(r.get(f'target:{c}'))} ({pct(floor.get(c, {}).get('dropped'))})"
                         for c in ("triangle", "red", "striped")]
                print(f"| {name} | {wording} | {r['step'] or 'base'} | " + " | ".join(cells)
                      + f" | {pct(r.get('shape_adh'))} | {pct(r.get('colour_adh'))} |")


if __name__ == "__main__":
    main(sys.argv[1:])
