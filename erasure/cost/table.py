"""The throughput table (`erasure/cost/throughput.csv`): what one operation costs on one GPU model (or one CPU
core), with where the figure comes from. Torch-free: the Snakefile reads it while planning.

Columns: `gpu` (a GPU model, e.g. H100, or `cpu` for per-core figures), `operation` (one of OPERATIONS),
`value` (> 0, in `unit`), `unit` (free text, for people), `source` (measured: a `bench/` run on a device or
this CPU; published: a public figure, its reference in `reference`; derived: arithmetic on another row;
estimate: a stated reasoning, to be replaced by a measurement), `reference`, `date` (YYYY-MM-DD).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from erasure.errors import ErasureError

DEFAULT_TABLE = Path(__file__).with_name("throughput.csv")
COLUMNS = ("gpu", "operation", "value", "unit", "source", "reference", "date")
SOURCES = ("measured", "published", "derived", "estimate")
CPU = "cpu"

# operation -> what its value is (the unit the model reads it in)
OPERATIONS = {
    "model_load": "s per job: SD's weights from disk to the GPU",
    "denoise_step_fp16": "s per image per denoising step, CFG batched (2 UNet evaluations), 512 px, fp16",
    "vae_decode_fp16": "s per image, 512 px, fp16",
    "train_iter_sdd": "s per training iteration (sdd, sdd+retain)",
    "train_iter_esd-x": "s per training iteration (esd-x)",
    "train_iter_esd-u": "s per training iteration (esd-u)",
    "text_encoder_forward_fp32": "s per 77-token sequence through the text encoder, fp32",
    "text_encoder_forward_fp16": "s per 77-token sequence through the text encoder, fp16",
    "unlearndiffatk_prompt_fp32": "s per prompt of the white-box attack at its default 40 iterations",
    "unlearndiffatk_prompt_bf16": "s per prompt of the white-box attack under bf16 autocast (its GPU default); "
                                  "absent, the fp32 row is read",
    "scorer_load": "s per score job: the scorer's weights",
    "clip_l14": "images/s (per core on cpu): CLIP ViT-L/14 image features (CLIP score, Q16)",
    "inception": "images/s (per core on cpu): clean-fid Inception-v3 features",
    "lpips_alex": "image pairs/s (per core on cpu): LPIPS AlexNet",
    "nudenet": "images/s per core: NudeNet (onnxruntime, CPU)",
    "job_start": "s per job: a Python process importing torch and diffusers",
    "small_job": "s per job: a pandas job (prompt table, manifest merge, summary, report item)",
    "edit_closed_form": "s per job: a closed-form edit (UCE, RECE); a closed-form solve of MACE's stages 1 and 3",
    "denoise_step_fp32": "s per image per denoising step, CFG batched, 512 px, fp32 (MACE's edit job draws its "
                         "concept images with the fp32 pipeline it edits)",
    "vae_decode_fp32": "s per image, 512 px, fp32",
    "lora_step_mace": "s per LoRA training step of MACE's stage 2 (batch 1, fp32: UNet forward + backward)",
    "grounded_sam_load": "s per load of Grounded-SAM's two models (GroundingDINO SwinT-OGC, SAM-HQ ViT-H)",
    "grounded_sam_image": "s per image: GroundingDINO boxes + SAM-HQ masks",
    "png_encode": "s per image on one core: PNG encode and write",
    "gpu_memory": "GB of memory on one GPU of this model",
    "train_memory_sdd": "GB peak GPU memory of a training job (sdd, sdd+retain): fp32 weights, AdamW",
    "train_memory_esd-x": "GB peak GPU memory of a training job (esd-x)",
    "train_memory_esd-u": "GB peak GPU memory of a training job (esd-u)",
}


@dataclass(frozen=True)
class Row:
    gpu: str
    operation: str
    value: float
    unit: str
    source: str
    reference: str
    date: str
    line: int


class Throughput:
    """Rows of one table; `get(op)` answers for the GPU model chosen, `cpu(op)` for one CPU core."""

    def __init__(self, rows: list[Row], path: Path, gpu: str):
        self.rows, self.path, self.gpu = rows, path, gpu
        self._index = {(r.gpu, r.operation): r for r in rows}
        gpus = sorted({r.gpu for r in rows if r.gpu != CPU})
        if gpu not in gpus:
            raise ErasureError(f"{path}: no rows for GPU model {gpu!r}; the table has {', '.join(gpus) or 'none'}")
        self.used: dict[tuple[str, str], Row] = {}

    def row(self, gpu: str, operation: str) -> Row:
        row = self._index.get((gpu, operation))
        if row is None:
            raise ErasureError(f"{self.path}: no row for operation {operation!r} on {gpu!r}; add one "
                               f"(bench/device_run.sh measures it) or choose another GPU model")
        self.used[(gpu, operation)] = row
        return row

    def get(self, operation: str) -> float:
        return self.row(self.gpu, operation).value

    def has(self, operation: str) -> bool:
        """Whether the chosen GPU model has a row for `operation`."""
        return (self.gpu, operation) in self._index

    def what_if(self, values: dict[tuple[str, str], float]) -> Throughput:
        """This table with {(gpu, operation): value} put in (added or replaced), each such row's source
        `what-if`: a scenario to print beside the table's own figures, never a figure of its own."""
        for gpu, operation in values:
            if operation not in OPERATIONS:
                raise ErasureError(f"what-if {gpu}:{operation}: not an operation the cost model reads "
                                   f"({', '.join(OPERATIONS)})")
        kept = [r for r in self.rows if (r.gpu, r.operation) not in values]
        added = [Row(gpu, op, float(v), "", "what-if", "given on the command line", "", 0)
                 for (gpu, op), v in values.items()]
        return Throughput(kept + added, self.path, self.gpu)

    def cpu(self, operation: str) -> float:
        return self.row(CPU, operation).value


def load(path: str | Path | None = None, gpu: str = "H100") -> Throughput:
    """Read and check the table. Raises ErasureError, one line naming the file, line, column and value."""
    path = Path(path) if path else DEFAULT_TABLE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ErasureError(f"{path}: cannot read the throughput table ({error.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ErasureError(f"{path}: missing column {missing[0]!r} (the columns are {', '.join(COLUMNS)})")
    rows: list[Row] = []
    seen: dict[tuple[str, str], int] = {}
    for number, record in enumerate(reader, start=2):
        rows.append(_row(path, number, record))
        key = (rows[-1].gpu, rows[-1].operation)
        if key in seen:
            raise ErasureError(f"{path}:{number}: {key[1]} on {key[0]} again (first on line {seen[key]}); keep one")
        seen[key] = number
    return Throughput(rows, path, gpu)


def _row(path: Path, number: int, record: dict) -> Row:
    where = f"{path}:{number}"
    for column in COLUMNS:
        if not (record.get(column) or "").strip():
            raise ErasureError(f"{where}: {column} is empty")
    operation = record["operation"].strip()
    if operation not in OPERATIONS:
        raise ErasureError(f"{where}: operation {operation!r} is not one the cost model reads "
                           f"({', '.join(OPERATIONS)})")
    try:
        value = float(record["value"])
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ErasureError(f"{where}: value {record['value']!r} of {operation}: expected a positive number "
                           f"({OPERATIONS[operation]})")
    source = record["source"].strip()
    if source not in SOURCES:
        raise ErasureError(f"{where}: source {source!r}: expected one of {', '.join(SOURCES)}")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"].strip()):
        raise ErasureError(f"{where}: date {record['date']!r}: expected YYYY-MM-DD")
    return Row(record["gpu"].strip(), operation, value, record["unit"].strip(), source, record["reference"].strip(),
               record["date"].strip(), number)
