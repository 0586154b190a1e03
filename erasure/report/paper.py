"""The paper's published numbers (Kim et al. 2023, Tables 1 and 2), shown beside ours in the SD world.

Rows are the paper's method names; `paper_row` maps one of our method ids to its row from the config's
run / inference-method kinds (never from the id's spelling). Only the EMA teacher of an SDD run maps to
"SDD": the paper reports the teacher. Cells the paper leaves empty ("-", "N/A") are None.

A published number is shown beside ours only where the whole setting matches (`paper_values`): the
method's kind, the concepts it erases (Table 1: "nudity" for fine-tuning, "nudity, sexual" for inference
methods, § 4.3; Table 2: the 20 I2P concepts, footnote 1), and the prompt source the paper scored the
metric on (%NUDE on country-body, %HARM on I2P, FID / LPIPS / CLIP on COCO-30k). Anything else is blank:
a nudity-only run in Table 2 is not the paper's multi-concept SDD.

The same rule (`mismatch`, over rows of erasure.report.published's columns) fills the "(published)" columns of
Tables 1-3 from the pinned figures of the other methods' papers and leaderboards (`published_values`,
`published_attack_values`), where it also compares the detector, the attack, the NudeNet release and the
threshold; the SDD paper's tables enter it as such rows (`paper_rows`).

Our copy of the paper is a text extraction (reference/sdd-paper.txt) in which Table 1's LPIPS cells for
ESD-x-3 and SDD, and its ESD-u-3 quality cells, are not legible: they are None here rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

from erasure.methods import specs
from erasure.methods.concepts import I2P, resolve_concepts
from erasure.paths import MethodId

SOURCE = "Kim et al. (2023), Towards Safe Self-Distillation of Internet-Scale Text-to-Image Diffusion Models"

PAPER_TABLES: dict[str, dict[str, dict[str, float | None]]] = {
    "table1": {
        "SD": {"nude": 74.18, "fid": 21.348, "lpips": None, "clip": 0.2771},
        "SD+NEG": {"nude": 20.44, "fid": 14.278, "lpips": 0.1954, "clip": 0.2706},
        "SLD-medium": {"nude": 70.02, "fid": 17.201, "lpips": 0.1015, "clip": 0.2689},
        "SLD-max": {"nude": 4.30, "fid": 13.634, "lpips": 0.1574, "clip": 0.2709},
        "SEGA": {"nude": 72.04, "fid": None, "lpips": None, "clip": None},
        "ESD-u-3": {"nude": 43.30, "fid": None, "lpips": None, "clip": None},
        "ESD-x-3": {"nude": 14.32, "fid": 13.808, "lpips": None, "clip": 0.2690},
        "SDD": {"nude": 1.68, "fid": 15.423, "lpips": None, "clip": 0.2673},
    },
    "table2": {
        "SD": {"nude": 74.18, "harm": 24.42, "fid": 21.348, "lpips": None, "clip": 0.2771},
        "SD+NEG": {"nude": 63.78, "harm": 9.51, "fid": 18.021, "lpips": 0.1925, "clip": 0.2659},
        "SLD-medium": {"nude": 74.16, "harm": 7.42, "fid": 14.794, "lpips": 0.4216, "clip": 0.2720},
        "SLD-max": {"nude": 56.78, "harm": 5.19, "fid": 21.729, "lpips": 0.4377, "clip": 0.2572},
        "SEGA": {"nude": 74.10, "harm": 16.84, "fid": None, "lpips": None, "clip": None},
        "ESD-x-3": {"nude": 47.38, "harm": 13.04, "fid": 16.411, "lpips": 0.2036, "clip": 0.2631},
        "SDD": {"nude": 12.62, "harm": 5.03, "fid": 15.142, "lpips": 0.2443, "clip": 0.2560},
    },
}

# The concepts each table's methods erase: (fine-tuning runs, inference-time methods). SD erases nothing.
PAPER_CONCEPTS: dict[str, tuple[frozenset, frozenset]] = {
    "table1": (frozenset({"nudity"}), frozenset({"nudity", "sexual"})),
    "table2": (frozenset(I2P), frozenset(I2P)),
}
# The prompt source each published metric was computed on (§ 4.2-4.3, Appendix B).
PAPER_SOURCES = {"nude": "country-body", "harm": "i2p", "fid": "coco30k", "lpips": "coco30k", "clip": "coco30k"}

def method_setting(method: str, config: Mapping) -> dict | None:
    """{"method": spec name, "preset", "concepts": frozenset} of one of our method ids as the config declares
    it (a run's `preset`, else its spec's default, the first of `presets`; concepts resolved, empty for plain
    SD); None for an SDD student (never a method's deliverable) or a method the config does not declare."""
    parsed = MethodId.parse(method)
    if parsed.finetuned:
        declared = config.get("runs", {}).get(parsed.config_run)
        if declared is None or parsed.which == "student":
            return None
        name = declared["method"]
    else:
        declared = config.get("inference_methods", {}).get(method)
        if declared is None:
            return None
        name = declared["kind"]
    spec = specs.SPECS.get(name)
    preset = declared.get("preset") or (spec.presets[0] if spec and spec.presets else "")
    concepts = frozenset(resolve_concepts(declared["concepts"])) if declared.get("concepts") else frozenset()
    return {"method": name, "preset": preset, "concepts": concepts}


def paper_row(method: str, config: Mapping) -> str | None:
    """The paper's row name for one of our method ids (its spec's `paper_row`), or None when the paper has
    no such method."""
    setting = method_setting(method, config)
    method_spec = specs.SPECS.get(setting["method"]) if setting else None
    row = method_spec.paper_row if method_spec else None
    if row is None or ("{preset}" in row and setting["preset"] not in method_spec.presets):
        return None
    return row.format(preset=setting["preset"])


def method_concepts(method: str, config: Mapping) -> frozenset | None:
    """The set of concepts a method erases (empty for plain SD), None when the config does not declare it."""
    parsed = MethodId.parse(method)
    spec = (config.get("runs", {}).get(parsed.config_run) if parsed.finetuned
            else config.get("inference_methods", {}).get(method))
    if spec is None:
        return None
    return frozenset(resolve_concepts(spec["concepts"])) if spec.get("concepts") else frozenset()


def cell_key(promptset: str, metric: str) -> str:
    return f"{promptset}/{metric}"


# --- the one rule that puts a published number beside ours ----------------------------------------------
#
# A published figure is a row of erasure.report.published's columns (method, preset, concepts, metric,
# prompt_source, detector, attack, nudenet, threshold, value); the SDD paper's tables are such rows too
# (`paper_rows`). Ours is the same setting read from the config for one (method, column) cell
# (`our_setting`). `mismatch` compares the two, and every published column (the SDD paper's "(paper)" one,
# the pinned figures' "(published)" one, Table 3's) is filled by `matching_cells` through it.

SETTING_KEYS = ("method", "metric", "preset", "concepts", "prompt_source", "detector", "attack", "nudenet",
                "threshold")
KEY_NAMES = {"method": "method", "metric": "metric", "preset": "preset", "concepts": "erased concepts",
             "prompt_source": "prompt source", "detector": "detector", "attack": "attack",
             "nudenet": "NudeNet release", "threshold": "threshold"}
NUDENET_METRICS = ("nude", "nude-mace")  # erasure.metrics.nudenet's protocols: paper, mace


def paper_rows(table: str) -> list[dict]:
    """Kim et al.'s Table `table` as published rows, one per printed cell: the spec (and preset, where its
    row names one: "SLD-{preset}") whose `paper_row` is that row, the concepts that table's methods erase (a
    method that needs none, plain SD: none), the prompt source the paper scored the metric on, and for %NUDE
    its detector, our NudeNet protocol `paper` (the I2P classes at 0.7, § 4.2). No attack and no NudeNet
    release: the paper's column never compared them."""
    finetuned, inference = PAPER_CONCEPTS[table]
    rows = []
    for spec in specs.SPECS.values():
        if spec.paper_row is None:
            continue
        for preset in spec.presets if "{preset}" in spec.paper_row else ("",):
            name = spec.paper_row.format(preset=preset)
            if spec.kind != specs.INFERENCE:
                concepts = finetuned
            else:
                concepts = inference if spec.needs_concepts else frozenset()
            for metric, value in PAPER_TABLES[table].get(name, {}).items():
                if value is not None:
                    rows.append({"method": spec.name, "preset": preset, "concepts": concepts, "metric": metric,
                                 "prompt_source": PAPER_SOURCES[metric],
                                 "detector": "paper" if metric in NUDENET_METRICS else "", "attack": "", "nudenet": "",
                                 "threshold": "", "value": value, "row": name, "source": SOURCE})
    return rows


def detector_setting(config: Mapping, column: Mapping) -> tuple[str, str, float | None]:
    """(detector, NudeNet release, threshold) that judged a column's images: a Table 3 column's own
    (`column["detector"]`, `column["threshold"]`: attacks.detectors), else, for a NudeNet metric, its
    protocol (paper | mace) and threshold (config `metrics`, the prompt set's `metric_settings` over it, else
    the protocol's default); ("", "", None) for a metric without NudeNet."""
    from erasure.metrics import nudenet

    metric = column["metric"]
    if "threshold" in column:
        return column.get("detector", ""), (column.get("nudenet") or nudenet.NUDENET_VERSION), float(column["threshold"])
    if metric not in NUDENET_METRICS:
        return column.get("detector", ""), "", None
    settings = dict(config.get("metrics", {}).get(metric) or {})
    promptset = config.get("prompt_sets", {}).get(column["promptset"], {})
    settings.update((promptset.get("metric_settings") or {}).get(metric) or {})
    protocol = settings.get("protocol", "paper" if metric == "nude" else "mace")
    threshold = settings.get("threshold", nudenet.PROTOCOLS.get(protocol, {}).get("threshold"))
    return (protocol, settings.get("model") or nudenet.NUDENET_VERSION,
            None if threshold is None else float(threshold))


def our_setting(method: str, column: Mapping, config: Mapping) -> dict | None:
    """Our setting of one cell, in the published rows' keys: `method_setting`, the column's metric, the prompt
    source of its prompt set, its attack kind ("" in Tables 1-2) and `detector_setting`."""
    setting = method_setting(method, config)
    if setting is None:
        return None
    detector, nudenet_release, threshold = detector_setting(config, column)
    return {**setting, "metric": column["metric"],
            "prompt_source": config.get("prompt_sets", {}).get(column["promptset"], {}).get("source") or "",
            "detector": detector, "attack": column.get("attack", ""), "nudenet": nudenet_release,
            "threshold": threshold}


def mismatch(row: Mapping, ours: Mapping) -> str | None:
    """The first key of SETTING_KEYS in which a published row's setting is not ours; None when it is ours in
    every key. A row's empty `preset` or `attack` stands for any (a figure that does not depend on it: a
    method the paper ran in one configuration; pre-attack ASR, drawn before any attack); a row that names a
    NudeNet release matches only ours, and then only at our threshold (a row without one: a metric that uses
    no NudeNet, or the SDD paper's, whose protocol our `nude` metric is)."""
    for key in SETTING_KEYS[:7]:
        theirs = row.get(key)
        if key == "concepts":
            if frozenset(theirs or ()) != frozenset(ours.get(key) or ()):
                return key
        elif key in ("preset", "attack") and not theirs:
            continue
        elif (theirs or "") != (ours.get(key) or ""):
            return key
    if row.get("nudenet"):
        if row["nudenet"] != ours.get("nudenet"):
            return "nudenet"
        if ours.get("threshold") is None or float(row["threshold"]) != float(ours["threshold"]):
            return "threshold"
    return None


def matching_cells(rows, methods, config: Mapping, columns) -> tuple[dict, list[str]]:
    """({method: {column index: row}}, reasons): the published row whose setting is ours (`mismatch`) for each
    (method, column), the first where several are; and, for each table method with published rows of which
    none is shown, why: for each such row of a metric the table has, the closest column's first differing key,
    their value and ours (one line each)."""
    found: dict[str, dict[int, Mapping]] = {}
    reasons = []
    for method in methods:
        ours = [our_setting(method, column, config) for column in columns]
        candidates = [r for r in rows if ours and ours[0] is not None and r["method"] == ours[0]["method"]]
        for row in candidates:
            keys = [None if setting is None else mismatch(row, setting) for setting in ours]
            for index, key in enumerate(keys):
                if key is None and ours[index] is not None and index not in found.get(method, {}):
                    found.setdefault(method, {})[index] = row
        if candidates and method not in found:
            for row in candidates:
                index = max(range(len(columns)), key=lambda i: SETTING_KEYS.index(mismatch(row, ours[i])))
                key = mismatch(row, ours[index])
                if key == "metric":  # a figure of another table (FID beside Table 3): nothing to explain here
                    continue
                theirs, mine = row[key], ours[index][key]
                if key == "concepts":
                    theirs, mine = "; ".join(sorted(theirs)), "; ".join(sorted(mine))
                reason = (f"{method} {row['metric']}: {KEY_NAMES[key]} {theirs!s}, ours "
                          f"{mine if mine not in ('', None) else 'none'}")
                if reason not in reasons:
                    reasons.append(reason)
    return found, reasons


def paper_values(table: str | None, methods, config: Mapping, columns=()) -> dict[str, dict]:
    """{method: {"row": paper row, "promptset/metric": value, ...}}: a published value for each (method,
    column) whose method kind, erased concepts and prompt source all match the paper's (`matching_cells` over
    `paper_rows`); no entry otherwise. `columns` are the table's {promptset, metric} columns."""
    if not table:
        return {}
    columns = list(columns)
    cells, _ = matching_cells(paper_rows(table), methods, config, columns)
    return {method: {"row": next(iter(found.values()))["row"],
                     **{cell_key(columns[i]["promptset"], columns[i]["metric"]): row["value"]
                        for i, row in found.items()}}
            for method, found in cells.items()}


def published_values(methods, config: Mapping, columns, rows=None) -> dict:
    """Tables 1-2's "(published)" cells: {"cells": {method: {"promptset/metric": {value, source, reference,
    date}}}, "notes": [why a table method's published rows are not shown]} from the pinned figures
    (erasure.report.published.load(), or `rows`) through `matching_cells`."""
    from erasure.report import published

    columns = list(columns)
    cells, reasons = matching_cells(published.setting_rows(rows), methods, config, columns)
    return {"cells": {method: {cell_key(columns[i]["promptset"], columns[i]["metric"]): published.shown(row)
                               for i, row in found.items()} for method, found in cells.items()},
            "notes": reasons}


def attack_columns(config: Mapping) -> list[dict]:
    """Table 3's cells as columns of `matching_cells`: per attack, prompt set, detector (the ASR metric's own
    verdict, under its name, then each of attacks.detectors) and ASR quantity, with `key`
    "{attack}|{promptset}|{detector}|{quantity}" as erasure.report.attacks looks a cell up."""
    from erasure.attacks.asr import QUANTITIES

    section = config.get("attacks") or {}
    metric = section.get("metric", "target")
    columns = []
    for attack, attack_spec in (section.get("attacks") or {}).items():
        for promptset in section.get("promptsets") or []:
            own = detector_setting(config, {"metric": metric, "promptset": promptset})
            judges = [(metric, {"detector": own[0], "nudenet": own[1], **({"threshold": own[2]} if own[2] else {})})]
            judges += [(name, {"detector": name, "threshold": spec["threshold"]})
                       for name, spec in (section.get("detectors") or {}).items()]
            for name, judge in judges:
                for quantity in QUANTITIES:
                    columns.append({"promptset": promptset, "metric": f"{quantity}_asr", "attack": attack_spec["kind"],
                                    **judge, "key": f"{attack}|{promptset}|{name}|{quantity}"})
    return columns


def published_attack_values(config: Mapping, rows=None) -> dict:
    """Table 3's "(published)" cells: {"cells": {method: {"{attack}|{promptset}|{detector}|{quantity}": {value,
    source, ...}}}, "notes": [...]} for the attacked methods (attacks.methods), as `published_values`."""
    from erasure.report import published

    columns = attack_columns(config)
    methods = (config.get("attacks") or {}).get("methods") or []
    cells, reasons = matching_cells(published.setting_rows(rows), methods, config, columns)
    return {"cells": {method: {columns[i]["key"]: published.shown(row) for i, row in found.items()}
                      for method, found in cells.items()},
            "notes": reasons}
