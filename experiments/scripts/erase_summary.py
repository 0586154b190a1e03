"""Print the measured figures of experiments/scripts/erase_toy_all.sh as one Markdown table per run (the frontier:
target rate against retention over checkpoints), with the issue's bars marked.

    python experiments/scripts/erase_summary.py /tmp/erase-exp
"""

import json
import sys
from pathlib import Path


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/erase-exp")
    for base in sorted(out.glob("base-*.json")):
        print(f"{base.name}: {base.read_text().strip()}")
    for path in sorted(out.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        targets = sorted(k for k in rows[0] if k.startswith("target:"))
        cols = ["step", "which", *targets, "beach", "shape_adh", "colour_adh", "shape_retention", "colour_retention"]
        print(f"\n### {path.stem} (trained in {rows[0].get('train_seconds')} s)\n")
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
        last = [r for r in rows if r["which"] == "default"][-1]
        bars = {f"{t} <= 0.10": last[t] <= 0.10 for t in targets}
        if "target:triangle" in targets and len(targets) == 1:
            bars = {"target:triangle <= 0.05": last["target:triangle"] <= 0.05, "beach <= 0.10": last["beach"] <= 0.10}
        bars.update({"shape_retention >= 0.85": last["shape_retention"] >= 0.85,
                     "colour_retention >= 0.95": last["colour_retention"] >= 0.95})
        print(f"\nbars at step {last['step']}: " + ", ".join(f"{k}: {'PASS' if v else 'FAIL'}" for k, v in bars.items()))
    for name in ("A2.log", "A3.log"):
        p = out / name
        if p.exists():
            lines = [x for x in p.read_text().splitlines() if x.startswith("{")]
            print(f"\n{name}: {lines[-1] if lines else '(no result)'}")


if __name__ == "__main__":
    main()
