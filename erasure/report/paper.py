"""The paper's published numbers (Kim et al. 2023, Tables 1 and 2), shown beside ours in the SD world.

Rows are the paper's method names; `paper_row` maps one of our method ids to its row from the config's
run / inference-method kinds (never from the id's spelling). Only the EMA teacher of an SDD run maps to
"SDD": the paper reports the teacher. Cells the paper leaves empty ("-", "N/A") are None.

Our copy of the paper is a text extraction (reference/sdd-paper.txt) in which Table 1's LPIPS cells for
ESD-x-3 and SDD, and its ESD-u-3 quality cells, are not legible: they are None here rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

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

_RUN_ROWS = {"sdd": "SDD", "sdd+retain": None, "esd-u": "ESD-u-3", "esd-x": "ESD-x-3"}
_INFERENCE_ROWS = {"sd": "SD", "sd-neg": "SD+NEG", "sega": "SEGA"}


def paper_row(method: str, config: Mapping) -> str | None:
    """The paper's row name for one of our method ids, or None when the paper has no such method."""
    parsed = MethodId.parse(method)
    if parsed.finetuned:
        run = config.get("runs", {}).get(parsed.run)
        if run is None or parsed.which == "student":
            return None
        return _RUN_ROWS.get(run["method"])
    spec = config.get("inference_methods", {}).get(method)
    if spec is None:
        return None
    if spec["kind"] == "sld":
        return {"medium": "SLD-medium", "max": "SLD-max"}.get(spec.get("preset"))
    return _INFERENCE_ROWS.get(spec["kind"])


def paper_values(table: str | None, methods, config: Mapping) -> dict[str, dict]:
    """{method: {"row": paper row, metric: value, ...}} for the methods the paper's table has."""
    if not table:
        return {}
    rows = PAPER_TABLES[table]
    found = {}
    for method in methods:
        row = paper_row(method, config)
        if row in rows:
            found[method] = {"row": row, **{k: v for k, v in rows[row].items() if v is not None}}
    return found
