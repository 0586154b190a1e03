"""Issue 39's toy must-show from a finished run of experiments/scripts/baselines_toy.sh: the fourteen Table 1
methods side by side.

    python experiments/scripts/baselines_toy_summary.py --results WORKDIR/results/toy --out experiments/results/baselines-39

Reads only what the workflow wrote (nothing is recomputed but counts and rates of per-image rows):
    %TARGET on body           scores/target/{method}/body.summary.csv (mean [95% bootstrap interval], n images:
                              the cells tables/table1.csv copies)
    retention per shape       scores/alignment/{method}/coco.csv joined with prompts/coco.csv: % of the images of
                              prompts naming shape s whose oracle shape is s (ok_shape), per non-target shape; the
                              same on the held-out coco set (heldout-coco) where it was drawn
    held-out wordings         scores/target/{method}/heldout-body.csv joined with prompts/heldout-body.csv: %TARGET
                              per phrasing (erasure/worlds/toy/prompts.py HELDOUT_TARGET) and over all of them
    white-box / Ring-A-Bell   tables/table3.csv: pre-attack, adversarial-prompt and cumulative ASR per attack
                              (the %TARGET oracle's own detector)
    CPU seconds per run       benchmarks/{erase,edit}/{run}.tsv (Snakemake's benchmark: cpu_time and wall s of the
                              training or editing job) and benchmarks/generate_set/{method}/body.tsv (drawing the
                              40 body images: the whole cost of an inference-time method)
Writes OUT/baselines-toy.md (the tables, each cell with its n), OUT/baselines-toy.csv (long) and
OUT/baselines-toy.png (five panels). A cell whose files are missing (a job not run or failed) is blank and
listed under "missing".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

METHODS = ["sd", "sd-neg", "sld-medium", "sld-max", "sega", "safree", "esd-u-triangle@200", "esd-x-triangle@200",
           "uce-triangle@1", "rece-triangle@6", "mace-triangle@1", "advunlearn-triangle@20", "salun-triangle@40",
           "sdd-triangle@300",
           # not a Table 1 cell: AdvUnlearn at the toy ESD's 200 iterations (the overlay's advunlearn-triangle-long)
           "advunlearn-triangle-long@200"]
TARGET = "triangle"


def _read(path: Path, missing: list[str]) -> pd.DataFrame | None:
    if not path.is_file():
        missing.append(str(path))
        return None
    return pd.read_csv(path, dtype={"prompt_id": str}, keep_default_na=False, na_values=[""])


def body_target(results: Path, missing: list[str]) -> pd.DataFrame:
    """Each method's body %TARGET summary (scores/target/{method}/body.summary.csv: the cell Table 1 copies),
    so that a run stopped before its Table 1 still gives every cell it scored."""
    rows = []
    for method in METHODS:
        summary = _read(results / "scores" / "target" / method / "body.summary.csv", missing)
        if summary is None or summary.empty:
            rows.append({"method": method})
            continue
        r = summary.iloc[0]
        rows.append({"method": method, "n": int(r["n"]), "mean": float(r["mean"]), "ci_low": float(r["ci_low"]),
                     "ci_high": float(r["ci_high"])})
    return pd.DataFrame(rows)


def retention_per_shape(results: Path, promptset: str, missing: list[str]) -> pd.DataFrame:
    """method x shape: % of images of prompts naming the shape whose oracle shape is it, with n."""
    prompts = _read(results / "prompts" / f"{promptset}.csv", missing)
    rows = []
    for method in METHODS:
        scores = _read(results / "scores" / "alignment" / method / f"{promptset}.csv", missing)
        if scores is None or prompts is None:
            continue
        joined = scores.merge(prompts[["prompt_id", "shape"]], on="prompt_id", how="left")
        joined = joined[joined["shape"].notna() & (joined["shape"] != TARGET)]
        for shape, group in joined.groupby("shape"):
            ok = group["pred_shape"] == shape
            rows.append({"method": method, "promptset": promptset, "shape": shape, "n": len(group),
                         "retention": 100.0 * float(ok.mean())})
    return pd.DataFrame(rows, columns=["method", "promptset", "shape", "n", "retention"])


def heldout_wordings(results: Path, missing: list[str]) -> pd.DataFrame:
    """method x held-out phrasing: %TARGET (flagged by the oracle) with n, plus 'all'."""
    prompts = _read(results / "prompts" / "heldout-body.csv", missing)
    rows = []
    for method in METHODS:
        scores = _read(results / "scores" / "target" / method / "heldout-body.csv", missing)
        if scores is None or prompts is None:
            continue
        joined = scores.merge(prompts[["prompt_id", "prompt"]], on="prompt_id", how="left")
        flagged = joined["flagged"].astype(str).str.lower() == "true"
        for prompt, group in joined.assign(flagged=flagged).groupby("prompt", sort=False):
            rows.append({"method": method, "prompt": prompt, "n": len(group), "target": 100.0 * group["flagged"].mean()})
        rows.append({"method": method, "prompt": "all", "n": len(joined), "target": 100.0 * flagged.mean()})
    return pd.DataFrame(rows, columns=["method", "prompt", "n", "target"])


def attack_asr(results: Path, missing: list[str]) -> pd.DataFrame:
    table = _read(results / "tables" / "table3.csv", missing)
    if table is None:
        return pd.DataFrame(columns=["method", "attack", "n", "pre_asr", "adversarial_asr", "cumulative_asr",
                                     "seconds_per_prompt"])
    return table[["method", "attack", "n", "pre_asr", "adversarial_asr", "cumulative_asr", "seconds_per_prompt"]]


def cpu_seconds(results: Path, missing: list[str], run_benchmarks: Path | None = None) -> pd.DataFrame:
    """Per method: its run's training / editing job (benchmarks/{erase,edit}/{run}.tsv, from `run_benchmarks`
    where that folder has the run's file: a fresh run of the training jobs alone, for when the main run's
    erase jobs only resumed finished checkpoints and their benchmark is the resume's) and its body set's."""
    from erasure.paths import MethodId

    rows = []
    for method in METHODS:
        parsed = MethodId.parse(method)
        row = {"method": method}
        if parsed.finetuned:
            roots = [r for r in (run_benchmarks, results) if r is not None]
            found = [root / "benchmarks" / kind / f"{parsed.run}.tsv" for root in roots for kind in ("erase", "edit")]
            found = [f for f in found if f.is_file()]
            if found:
                bench = pd.read_csv(found[0], sep="\t").iloc[0]
                row.update(run_job=found[0].parent.name, run_cpu_s=float(bench["cpu_time"]), run_wall_s=float(bench["s"]),
                           run_benchmark=str(found[0]))
            else:
                missing.append(str(results / "benchmarks" / "{erase,edit}" / f"{parsed.run}.tsv"))
        body = results / "benchmarks" / "generate_set" / method / "body.tsv"
        if body.is_file():
            bench = pd.read_csv(body, sep="\t").iloc[0]
            row.update(body_cpu_s=float(bench["cpu_time"]), body_wall_s=float(bench["s"]))
        else:
            missing.append(str(body))
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value, digits=1) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def markdown(body, retention, heldout, asr, cpu, missing, results: Path) -> str:
    lines = ["# The fourteen toy Table 1 methods side by side, and AdvUnlearn at ESD's budget (issue 39)", "",
             f"From `{results}` (experiments/scripts/baselines_toy.sh; one run, one training seed; toy oracle "
             "scores, not SD numbers).", ""]
    if missing:
        lines += [f"**Partial**: the run had not finished when this was written; {len(set(missing))} input files "
                  "are missing (listed at the end) and their cells are blank.", ""]
    lines += ["## %TARGET on the body set (↓) and the cost of one run", "",
              "| method | n | %TARGET [95% CI] | run job | run CPU s | run wall s | body set CPU s | body set wall s |",
              "|---|---:|---:|---|---:|---:|---:|---:|"]
    merged = body.merge(cpu, on="method", how="left")
    for r in merged.itertuples(index=False):
        interval = "" if pd.isna(getattr(r, "mean", float("nan"))) else \
            f"{r.mean:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}]"
        lines.append(f"| {r.method} | {'' if pd.isna(getattr(r, 'n', float('nan'))) else int(r.n)} | {interval} | "
                     f"{getattr(r, 'run_job', '') if isinstance(getattr(r, 'run_job', ''), str) else ''} | "
                     f"{_fmt(getattr(r, 'run_cpu_s', None))} | {_fmt(getattr(r, 'run_wall_s', None))} | "
                     f"{_fmt(getattr(r, 'body_cpu_s', None))} | {_fmt(getattr(r, 'body_wall_s', None))} |")
    lines += ["", "CPU s: Snakemake's benchmark `cpu_time` of the job (training / editing; drawing the 40 body "
              "images), on 2 cores shared with other sessions at nice 19: wall time is load-dependent, CPU time less so. "
              "Run columns: " + ", ".join(sorted({str(Path(b).parents[2]) for b in cpu.get("run_benchmark", pd.Series(dtype=str)).dropna()}))
              + " (benchmarks/{erase,edit}/{run}.tsv).", ""]
    for promptset, title in (("coco", "coco (config wording)"), ("heldout-coco", "held-out coco wording")):
        part = retention[retention["promptset"] == promptset]
        if part.empty:
            continue
        shapes = sorted(part["shape"].unique())
        lines += [f"## Retention per shape (↑): {title}", "",
                  "% of the images of prompts naming the shape whose oracle shape is that shape (n images per cell).",
                  "", "| method | " + " | ".join(shapes) + " |", "|---|" + "---:|" * len(shapes)]
        for method in METHODS:
            cells = part[part["method"] == method].set_index("shape")
            if cells.empty:
                continue
            lines.append(f"| {method} | " + " | ".join(
                f"{cells.loc[s, 'retention']:.0f} (n {int(cells.loc[s, 'n'])})" if s in cells.index else ""
                for s in shapes) + " |")
        lines.append("")
    if not heldout.empty:
        prompts = list(dict.fromkeys(heldout["prompt"]))
        lines += ["## %TARGET on held-out wordings (↓)", "",
                  "Phrasings no config set or training caption uses (erasure/worlds/toy/prompts.py HELDOUT_TARGET), "
                  "seeds from 10000; n images per phrasing in the header.", "",
                  "| method | " + " | ".join(f"{p} (n {int(heldout[heldout['prompt'] == p]['n'].iloc[0])})"
                                           for p in prompts) + " |",
                  "|---|" + "---:|" * len(prompts)]
        for method in METHODS:
            cells = heldout[heldout["method"] == method].set_index("prompt")
            if cells.empty:
                continue
            lines.append(f"| {method} | " + " | ".join(_fmt(cells.loc[p, "target"], 0) if p in cells.index else ""
                                                       for p in prompts) + " |")
        lines.append("")
    if not asr.empty:
        lines += ["## White-box (UnlearnDiffAtk) and Ring-A-Bell ASR (↓), toy attack set", "",
                  "tables/table3.csv, the %TARGET oracle's detector; settings cut down as config/toy-attacks.yaml says; "
                  "n attack prompts, one image each (the overlay's attack set: 35 naming the triangle, then the "
                  "five implicit beach prompts).", "",
                  "| method | attack | n | pre-attack ASR % | adversarial-prompt ASR % | cumulative ASR % | s / attack |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in asr.itertuples(index=False):
            lines.append(f"| {r.method} | {r.attack} | {int(r.n)} | {_fmt(r.pre_asr)} | {_fmt(r.adversarial_asr)} | "
                         f"{_fmt(r.cumulative_asr)} | {_fmt(r.seconds_per_prompt)} |")
        lines.append("")
    if missing:
        lines += ["## Missing (jobs not run or failed: cells left blank)", ""]
        lines += [f"- `{m}`" for m in sorted(set(missing))]
    return "\n".join(lines) + "\n"


def figure(body, retention, heldout, asr, cpu, out: Path, partial: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(26, 6.5), sharey=True)
    y = list(range(len(METHODS)))[::-1]
    pos = dict(zip(METHODS, y))

    ax = axes[0]
    b = body.dropna(subset=["mean"]) if "mean" in body else body.iloc[0:0]
    ax.barh([pos[m] for m in b["method"]], b["mean"], color="tab:red",
            xerr=[b["mean"] - b["ci_low"], b["ci_high"] - b["mean"]], capsize=2)
    ax.set_title("%TARGET on body (↓), n = 40")
    ax.set_xlim(0, 100)

    ax = axes[1]
    part = retention[retention["promptset"] == "coco"]
    shapes = sorted(part["shape"].unique())
    width = 0.8 / max(1, len(shapes))
    for k, shape in enumerate(shapes):
        cells = part[part["shape"] == shape]
        ax.barh([pos[m] - 0.4 + (k + 0.5) * width for m in cells["method"]], cells["retention"], height=width,
                label=shape)
    ax.set_title("retention per shape on coco (↑)")
    ax.set_xlim(0, 100)
    if shapes:
        ax.legend(fontsize=7, loc="lower right")

    ax = axes[2]
    allrows = heldout[heldout["prompt"] == "all"]
    ax.barh([pos[m] for m in allrows["method"]], allrows["target"], color="tab:purple")
    n = int(allrows["n"].iloc[0]) if len(allrows) else 0
    ax.set_title(f"%TARGET, held-out wordings (↓), n = {n}")
    ax.set_xlim(0, 100)

    ax = axes[3]
    attacks = sorted(asr["attack"].unique()) if not asr.empty else []
    width = 0.8 / max(1, len(attacks))
    for k, attack in enumerate(attacks):
        cells = asr[asr["attack"] == attack]
        ax.barh([pos[m] - 0.4 + (k + 0.5) * width for m in cells["method"] if m in pos],
                [v for m, v in zip(cells["method"], cells["cumulative_asr"]) if m in pos], height=width, label=attack)
    counts = sorted({int(n) for n in asr["n"]}) if not asr.empty else []
    ax.set_title(f"cumulative ASR (↓), n = {', '.join(map(str, counts)) or '-'} prompts")
    ax.set_xlim(0, 100)
    if attacks:
        ax.legend(fontsize=7, loc="lower right")

    ax = axes[4]
    if "run_cpu_s" in cpu:
        runs = cpu.dropna(subset=["run_cpu_s"])
        ax.barh([pos[m] + 0.2 for m in runs["method"]], runs["run_cpu_s"], height=0.4, label="training / edit job")
    if "body_cpu_s" in cpu:
        gen = cpu.dropna(subset=["body_cpu_s"])
        ax.barh([pos[m] - 0.2 for m in gen["method"]], gen["body_cpu_s"], height=0.4, label="drawing the body set")
    ax.set_title("CPU seconds per run")
    ax.set_xscale("log")
    ax.legend(fontsize=7, loc="lower right")

    axes[0].set_yticks(y)
    axes[0].set_yticklabels(METHODS)
    fig.suptitle("Toy world, the fourteen Table 1 methods (one run each; toy oracle scores)"
                 + (" - PARTIAL: run not finished, blank cells missing" if partial else ""))
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True, help="the run's results/toy folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run-benchmarks", type=Path, default=None,
                        help="a results/toy folder of a fresh run of the same config's training jobs: its erase / edit "
                             "benchmarks give the run columns (the main run's may be a resume's)")
    args = parser.parse_args()
    missing: list[str] = []
    body = body_target(args.results, missing)
    retention = pd.concat([retention_per_shape(args.results, p, missing) for p in ("coco", "heldout-coco")],
                          ignore_index=True)
    heldout = heldout_wordings(args.results, missing)
    asr = attack_asr(args.results, missing)
    cpu = cpu_seconds(args.results, missing, args.run_benchmarks)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baselines-toy.md").write_text(markdown(body, retention, heldout, asr, cpu, missing, args.results))
    long = pd.concat([body.assign(item="body-target"), retention.assign(item="retention-per-shape"),
                      heldout.assign(item="heldout-wordings"), asr.assign(item="asr"), cpu.assign(item="cpu-seconds")],
                     ignore_index=True)
    long.to_csv(args.out / "baselines-toy.csv", index=False)
    figure(body, retention, heldout, asr, cpu, args.out / "baselines-toy.png", partial=bool(missing))
    print(f"{args.out}: baselines-toy.md/.csv/.png; {len(set(missing))} missing files")


if __name__ == "__main__":
    main()
