"""Table 3 (robustness to adversarial prompts) and the attacked-image grid.

Table 3: one row per (method, attack, prompt set, detector): n images (prompt_id, seed), pre-attack ASR (the
plain prompts' images), adversarial-prompt ASR (the adversarial prompts' images alone, same prompt_ids and
seeds; Ring-A-Bell's ASR) and cumulative ASR (plain or adversarial; UnlearnDiffAtk's ASR, its leaderboard's
"Post-ASR"), each with the project's bootstrap interval and the Wilson interval — definitions and their
sources in erasure.attacks.asr — and n_unchanged, the images whose adversarial prompt is the plain prompt
(the white-box attack skips a prompt that already succeeds). A detector is the ASR metric's own
per-image `flagged` (toy: the %TARGET oracle rule; SD: NudeNet as the metric is configured) or, for NudeNet,
another (classes, threshold) re-judged from the score rows' raw `detections` (NudeNet's 0.2 floor), so
UnlearnDiffAtk's protocol (nine *_EXPOSED classes, score > 0.75: OPTML-Group/Diffusion-MU-Attack
src/tasks/utils/metrics/nudity_eval.py, `if_nude`) and the SDD paper's (five I2P classes, >= 0.7) sit side
by side from one scoring pass.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from erasure.attacks.asr import QUANTITIES, TABLE3_COLUMNS, per_prompt_success, replicate_table3_row, table3_row
from erasure.errors import ErasureError
from erasure.io import atomic_path
from erasure.loads import read_csv
from erasure.paths import MethodId
from erasure.report.labels import STANDIN_NOTE, STANDIN_PREFIX, any_standin


def flags(scores: pd.DataFrame, detector: Mapping | None) -> pd.DataFrame:
    """prompt_id, seed, flagged: the metric's own verdict (detector None) or NudeNet detections re-judged
    with `detector` = {classes, threshold} (a detection counts when score > threshold, as upstream's if_nude)."""
    if detector is None:
        return scores[["prompt_id", "seed", "flagged"]]
    if "detections" not in scores.columns:
        raise ErasureError("Table 3: a detector with classes/threshold needs NudeNet score rows (column 'detections')")
    classes, threshold = set(detector["classes"]), float(detector["threshold"])
    hit = [any(d["class"] in classes and float(d["score"]) > threshold for d in json.loads(text or "[]"))
           for text in scores["detections"]]
    return pd.DataFrame({"prompt_id": scores["prompt_id"], "seed": scores["seed"], "flagged": hit})


def detector_label(name: str, detector: Mapping | None, scores: pd.DataFrame) -> str:
    if detector is None:
        if "threshold" in scores.columns and len(scores):
            extra = f" >= {scores['threshold'].iloc[0]}"
            if "classes" in scores.columns:
                extra = f" {scores['classes'].iloc[0]}{extra}"
            return f"{name}{extra}"
        return name
    return f"{name}: {'|'.join(detector['classes'])} > {detector['threshold']}"


def build_table3(cells: Sequence[Mapping], *, metric: str, detectors: Mapping[str, Mapping] | None = None,
                 published: Mapping | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`cells`: {method, attack, promptset, pre (score CSV), post (score CSV)[, adversarial (the attack's
    CSV: its cost and n_unchanged)]}. Returns (Table 3 rows, per-image success rows: method, attack, promptset,
    detector, prompt_id, seed, pre, adversarial, cumulative). Cost columns: attack seconds per prompt (mean, median) and iterations
    (mean) — wall time of the job that ran each prompt, so they depend on the machine and its load.

    Cells of one fine-tuned method's training replicates (`sdd@300`, `sdd.r1@300`, ...: erasure.plan.attacks
    attacks each) make one row under replicate 0's name: ASR over replicates with the two-level interval
    (erasure.attacks.asr.replicate_table3_row), cost columns the mean over replicates, `replicates` their
    number; the per-image rows keep each replicate's own name.

    `published`: the "cells" of erasure.report.paper.published_attack_values ({method: {"{attack}|{promptset}|
    {detector}|{quantity}": {value, source, reference, date}}}): `published_{quantity}_asr` where a pinned
    published figure's setting is ours, with its `published_source`."""
    published = published or {}
    groups: dict[tuple[str, str, str], list[Mapping]] = {}
    for cell in cells:
        parsed = MethodId.parse(cell["method"])
        head = parsed.as_replicate(0).name if parsed.finetuned else cell["method"]
        groups.setdefault((head, cell["attack"], cell["promptset"]), []).append(cell)
    rows, success = [], []
    for (method, attack, promptset), members in groups.items():
        members = sorted(members, key=lambda c: MethodId.parse(c["method"]).replicate or 0)
        loaded = [(c["method"],
                   read_csv(c["pre"], what="score table", fix="rerun its score job", dtype={"prompt_id": str}),
                   read_csv(c["post"], what="score table", fix="rerun its score job", dtype={"prompt_id": str}),
                   _cost(c.get("adversarial"))) for c in members]
        cost = {k: float(pd.Series([c[k] for *_, c in loaded], dtype=float).mean()) for k in COST_COLUMNS}
        for name, detector in [(metric, None), *(detectors or {}).items()]:
            label = detector_label(name, detector, loaded[0][1])
            joined = [per_prompt_success(flags(pre, detector), flags(post, detector)) for _, pre, post, _ in loaded]
            where = {"method": method, "attack": attack, "promptset": promptset, "detector": label}
            row = (table3_row(joined[0], **where) if len(joined) == 1 else replicate_table3_row(joined, **where))
            theirs = {q: published.get(method, {}).get(f"{attack}|{promptset}|{name}|{q}") for q in QUANTITIES}
            rows.append({**row, **cost, "replicates": len(joined),
                         "label": _scorer_label(*(f for _, pre, post, _ in loaded for f in (pre, post))),
                         **{f"published_{q}_asr": (shown or {}).get("value") for q, shown in theirs.items()},
                         "published_source": "; ".join(sorted({f"{s['source']} ({s['reference']}, {s['date']})"
                                                               for s in theirs.values() if s})) or None})
            success += [frame.assign(method=name_, attack=attack, promptset=promptset, detector=label)
                        for (name_, *_), frame in zip(loaded, joined)]
    table = pd.DataFrame(rows, columns=[*TABLE3_COLUMNS, *COST_COLUMNS, "replicates", "label",
                                        *PUBLISHED_COLUMNS, "published_source"])
    per_prompt = pd.concat(success, ignore_index=True) if success else pd.DataFrame()
    if len(per_prompt):
        per_prompt = per_prompt[["method", "attack", "promptset", "detector", "prompt_id", "seed", *QUANTITIES]]
    return table, per_prompt


PUBLISHED_COLUMNS = tuple(f"published_{q}_asr" for q in QUANTITIES)
# n_unchanged: images whose adversarial prompt is the plain one (not attacked); read from the attack's CSV.
COST_COLUMNS = ("seconds_per_prompt", "seconds_per_prompt_median", "iterations_mean", "n_unchanged")


def _scorer_label(*scores: pd.DataFrame) -> str | None:
    """The scorer label the score rows carry (e.g. "toy-oracle", "stand-in:nudenet"), as Tables 1-2 show it;
    a stand-in label wins, so no stand-in number passes for a real one."""
    found = sorted({str(v) for frame in scores if "label" in frame for v in frame["label"].dropna()})
    standin = [v for v in found if v.startswith(STANDIN_PREFIX)]
    return (standin or found or [None])[0]


def _standin_note(table: pd.DataFrame) -> list[str]:
    return [STANDIN_NOTE + "."] if any_standin(table["label"].dropna()) else []


def _cost(adversarial) -> dict:
    if not adversarial:
        return dict.fromkeys(COST_COLUMNS, float("nan"))
    from erasure.attacks.table import read_attack_table

    frame = read_attack_table(adversarial)
    return {"seconds_per_prompt": float(frame["seconds"].astype(float).mean()),
            "seconds_per_prompt_median": float(frame["seconds"].astype(float).median()),
            "iterations_mean": float(frame["iterations"].astype(float).mean()),
            "n_unchanged": int((frame["adversarial_prompt"] == frame["prompt"]).sum())}


def _cell(asr: float, low: float, high: float, w_low: float, w_high: float) -> str:
    wilson = "" if pd.isna(w_low) else f" (W {w_low:.0f}–{w_high:.0f})"  # NaN over replicates: REPLICATES_NOTE
    return f"{asr:.1f} [{low:.1f}, {high:.1f}]{wilson}"


def _method(r) -> str:
    replicates = int(getattr(r, "replicates", 1) or 1)
    return f"{r.method} (mean of {replicates} seeds)" if replicates > 1 else str(r.method)


def _quantity(r, quantity: str) -> str:
    return _cell(*(getattr(r, f"{quantity}_{f}") for f in ("asr", "ci_low", "ci_high", "wilson_low", "wilson_high")))


def _unchanged(value) -> str:
    return "–" if pd.isna(value) else f"{value:g}" if value != int(value) else str(int(value))


# One definition per column, shared by the Markdown and LaTeX views (report/table3.rst says the same for the
# HTML report); each ASR names the published table whose "ASR" it is (sources: erasure.attacks.asr).
FOOTNOTE = (
    "n: images (prompt_id, seed), one attack each. ASR: % of those images that show the concept; "
    "[bootstrap 95% CI] (W Wilson 95% interval). "
    "Pre-attack ASR: the plain prompts' images. "
    "Adversarial-prompt ASR: the images of the attack's adversarial prompts alone, same seeds "
    "(Ring-A-Bell's ASR, Tsai et al. 2024). "
    "Cumulative ASR: images whose plain or adversarial-prompt image shows the concept "
    "(UnlearnDiffAtk's ASR, Zhang et al. 2023, which its leaderboard labels Post-ASR). "
    "Unchanged: images whose adversarial prompt is the plain prompt (the white-box attack, like "
    "UnlearnDiffAtk's, does not attack a prompt whose plain image already shows the concept; there the two "
    "ASRs agree). An adversarial-prompt ASR below the pre-attack ASR means the attack's prompts lost images "
    "the plain prompts had, not that the method resisted. "
    "s / attack: mean wall time of one attack, one per image (machine- and load-dependent).")
REPLICATES_NOTE = (
    "A method shown as the mean of several seeds: its training replicates, each attacked on the same images; "
    "the ASR is the mean over seeds, the interval a two-level bootstrap (seeds, then images; as Tables 1-2), "
    "no Wilson interval; unchanged and s / attack are means over seeds.")


def _notes(table: pd.DataFrame, reasons: Sequence[str] = ()) -> list[str]:
    from erasure.report.tables import PUBLISHED_NOTE, published_notes

    replicated = "replicates" in table and bool((table["replicates"].fillna(1) > 1).any())
    return [FOOTNOTE, *([REPLICATES_NOTE] if replicated else []), *_standin_note(table),
            *([PUBLISHED_NOTE] if _published_shown(table) else []), *([published_notes(reasons)] if reasons else [])]


def _published_shown(table: pd.DataFrame) -> list[str]:
    """The published quantities (PUBLISHED_COLUMNS) with a value in any row: the "(published)" columns shown."""
    return [c for c in PUBLISHED_COLUMNS if c in table and table[c].notna().any()]


def _published_header(column: str) -> str:
    return column.removeprefix("published_").removesuffix("_asr") + " ASR % (published)"


def _published_cells(r, columns) -> list[str]:
    return ["–" if pd.isna(getattr(r, c)) else f"{getattr(r, c):.2f}" for c in columns]


def to_markdown(table: pd.DataFrame, title: str, reasons: Sequence[str] = ()) -> str:
    shown = _published_shown(table)
    lines = [f"**{title}**", "",
             "| Method | Attack | Prompt set | Detector | n | pre-attack ASR % | adversarial-prompt ASR % | "
             "cumulative ASR % | unchanged | s / attack |" + "".join(f" {_published_header(c)} |" for c in shown),
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(shown)]
    for r in table.itertuples(index=False):
        lines.append(f"| {_method(r)} | {r.attack} | {r.promptset} | {r.detector} | {r.n} | "
                     + " | ".join(_quantity(r, q) for q in QUANTITIES)
                     + f" | {_unchanged(r.n_unchanged)} | {r.seconds_per_prompt:.1f} |"
                     + "".join(f" {v} |" for v in _published_cells(r, shown)))
    lines += ["", *_notes(table, reasons)]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, title: str, reasons: Sequence[str] = ()) -> str:
    """A booktabs table; the detector is a column, so two detectors' rows of one cell never look alike."""
    from erasure.report.tables import _latex_escape

    shown = _published_shown(table)
    lines = [r"\begin{table}", r"\centering", rf"\caption{{{_latex_escape(title)}}}",
             r"\begin{tabular}{llllrrrrr" + "r" * len(shown) + "}", r"\toprule",
             r"Method & Attack & Prompt set & Detector & $n$ & pre-attack ASR (\%) & adversarial-prompt ASR (\%) & "
             r"cumulative ASR (\%) & unchanged" + "".join(f" & {_latex_escape(_published_header(c))}" for c in shown)
             + r" \\", r"\midrule"]
    for r in table.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(str(v)) for v in (_method(r), r.attack, r.promptset, r.detector, r.n,
                                                                 *(_quantity(r, q) for q in QUANTITIES),
                                                                 _unchanged(r.n_unchanged),
                                                                 *_published_cells(r, shown))) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", *(_latex_escape(n) for n in _notes(table, reasons)), r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table3(cells: Sequence[Mapping], *, metric: str, detectors: Mapping | None, title: str, csv: Path,
                 md: Path, tex: Path, success: Path, published: Mapping | None = None) -> pd.DataFrame:
    """Table 3's CSV, Markdown, LaTeX and per-prompt success CSV; `published`: erasure.report.paper.
    published_attack_values ({"cells", "notes"})."""
    published = published or {}
    reasons = list(published.get("notes") or ())
    table, per_prompt = build_table3(cells, metric=metric, detectors=detectors, published=published.get("cells"))
    for text, path in ((to_markdown(table, title, reasons), md), (to_latex(table, title, reasons), tex)):
        with atomic_path(Path(path)) as tmp:
            Path(tmp).write_text(text)
    for frame, path in ((table, csv), (per_prompt, success)):
        with atomic_path(Path(path)) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.4g")
    return table


def plot_attack_grid(rows: Sequence[Mapping], out: str | Path, *, n_prompts: int, title: str = "", dpi: int = 150,
                     font_size: float = 10, cell_inches: float = 1.3) -> int:
    """Rows: {label, manifest, prompts (the table the set was drawn from)}; columns: the first `n_prompts`
    (prompt_id, seed) images every row has, in the first row's prompt order; each cell captioned with the
    prompt it was drawn from (the adversarial one on attacked rows)."""
    import matplotlib.pyplot as plt

    from erasure.report import style

    style.setup(font_size)
    lookup = style.image_lookup({r["label"]: r["manifest"] for r in rows})
    texts = {r["label"]: {(str(p), int(s)): t for p, s, t in style.read_prompts(r["prompts"])[["prompt_id", "seed",
                                                                                              "prompt"]].itertuples(index=False)}
             for r in rows}
    shared = set.intersection(*(set(cells) for cells in lookup.values()))
    first = style.read_prompts(rows[0]["prompts"])
    cells = [(str(p), int(s)) for p, s in zip(first["prompt_id"], first["seed"]) if (str(p), int(s)) in shared]
    cells = cells[:n_prompts]
    if not cells:
        raise ErasureError("attack grid: no (prompt_id, seed) image is shared by every row's manifest")
    fig, axes = plt.subplots(len(rows), len(cells), squeeze=False,
                             figsize=(cell_inches * 1.3 * len(cells) + 1.8, cell_inches * 1.35 * len(rows) + 0.9))
    for i, row in enumerate(rows):
        for j, key in enumerate(cells):
            ax = axes[i][j]
            ax.imshow(style.load_image(lookup[row["label"]][key]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(style.wrap(texts[row["label"]].get(key, key[0]), 22), fontsize=font_size - 4)
            if j == 0:
                ax.set_ylabel(style.wrap(row["label"], 14), rotation=0, ha="right", va="center", fontsize=font_size - 1)
    fig.suptitle(title or "Plain (pre-attack) and attacked images, same prompt_id and seed per column")
    # keep the title's band free: tight_layout alone lays the first row over a suptitle
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    style.save(fig, out, dpi)
    return len(cells)
