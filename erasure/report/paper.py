"""The paper's published numbers (Kim et al. 2023, Tables 1 and 2), shown beside ours in the SD world.

Rows are the paper's method names; `paper_row` maps one of our method ids to its row from the config's
run / inference-method kinds (never from the id's spelling). Only the EMA teacher of an SDD run maps to
"SDD": the paper reports the teacher. Cells the paper leaves empty ("-", "N/A") are None.

A published number is shown beside ours only where the whole setting matches (`paper_values`): the
method's kind, the concepts it erases (Table 1: "nudity" for fine-tuning, "nudity, sexual" for inference
methods, § 4.3; Table 2: the 20 I2P concepts, footnote 1), and the prompt source the paper scored the
metric on (%NUDE on country-body, %HARM on I2P, FID / LPIPS / CLIP on COCO-30k). Anything else is blank:
a nudity-only run in Table 2 is not the paper's multi-concept SDD.

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

def paper_row(method: str, config: Mapping) -> str | None:
    """The paper's row name for one of our method ids (its spec's `paper_row`), or None when the paper has
    no such method."""
    parsed = MethodId.parse(method)
    if parsed.finetuned:
        run = config.get("runs", {}).get(parsed.config_run)
        if run is None or parsed.which == "student":
            return None
        name, preset = run["method"], run.get("preset")
    else:
        spec = config.get("inference_methods", {}).get(method)
        if spec is None:
            return None
        name, preset = spec["kind"], spec.get("preset")
    method_spec = specs.SPECS.get(name)
    row = method_spec.paper_row if method_spec else None
    if row is None or ("{preset}" in row and preset not in method_spec.presets):
        return None
    return row.format(preset=preset)


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


def paper_values(table: str | None, methods, config: Mapping, columns=()) -> dict[str, dict]:
    """{method: {"row": paper row, "promptset/metric": value, ...}}: a published value for each (method,
    column) whose method kind, erased concepts and prompt source all match the paper's; no entry otherwise.
    `columns` are the table's {promptset, metric} columns."""
    if not table:
        return {}
    rows = PAPER_TABLES[table]
    finetuned_concepts, inference_concepts = PAPER_CONCEPTS[table]
    found = {}
    for method in methods:
        row = paper_row(method, config)
        concepts = method_concepts(method, config)
        if row not in rows or concepts is None:
            continue
        wanted = finetuned_concepts if MethodId.parse(method).finetuned else inference_concepts
        if concepts and concepts != wanted:  # SD (no concepts) is the same model in every table
            continue
        cells = {}
        for column in columns:
            source = config.get("prompt_sets", {}).get(column["promptset"], {}).get("source")
            value = rows[row].get(column["metric"])
            if value is not None and source == PAPER_SOURCES.get(column["metric"]):
                cells[cell_key(column["promptset"], column["metric"])] = value
        if cells:
            found[method] = {"row": row, **cells}
    return found
