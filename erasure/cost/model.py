"""The cost of a config's plan: every job the DAG plans (erasure.plan, erasure.plan.attacks: the lists the
rules read), its seconds from the throughput table (erasure.cost.table), and per rule and in total the
GPU-hours and CPU core-hours. Torch-free and file-free but for the table (and a local FID reference folder,
counted where it exists), so it answers in a second, before anything runs.

The job model, per rule (seconds of one job; `T(op)` a row of the table for the chosen GPU model, `C(op)`
a per-core CPU row):

- generate_shard / generate_set: C(job_start) + T(model_load) + n · (steps · T(denoise_step_fp16) · f +
  T(vae_decode_fp16)), n the shard's images, f the method's UNet evaluations per step over CFG's 2 (sd,
  sd-neg, a fine-tuned model: 1; sld: 1.5, diffusers StableDiffusionPipelineSafe batches unconditional,
  prompt and safety concept; sega: (2 + editing prompts) / 2, SemanticStableDiffusionPipeline, one editing
  prompt here: 1.5). PNG encoding runs on a thread pool beside the GPU (not on its path).
- erase: C(job_start) + T(model_load) + iterations · T(train_iter_<method>).
- edit: C(edit_closed_form) (a closed-form solve on the CPU, no GPU held: UCE, RECE). A method whose spec says
  edit_gpu (MACE: erasure.methods.specs) holds the cluster's GPU and costs C(job_start) + T(model_load) +
  per concept [images · (image_steps · T(denoise_step_fp32) + T(vae_decode_fp32)) (its base-model samples,
  unless masks: world) + T(grounded_sam_load) + images · T(grounded_sam_image) (masks: grounded-sam) +
  steps · T(lora_step_mace)] + 2 · C(edit_closed_form) (stage 1's refinement and stage 3's fusion), the
  settings as the run resolves them (erasure.methods.settings.MACESettings: images, image_steps, steps, masks).
- attack_shard (per method), attack_text_shard (Ring-A-Bell, per text encoder): C(job_start) + T(model_load) +
  prompts · (unlearndiffatk: T(unlearndiffatk_prompt_bf16) where the attack runs in bf16 (its GPU default) and
  the table has that row, else T(unlearndiffatk_prompt_fp32);
  ring-a-bell: generations · population · T(text_encoder_forward_fp32), its fitness calls).
- score_<metric>: C(job_start) + (GPU: T(scorer_load) + n / T(rate); CPU: n / (C(rate) · threads)), n the
  set's images, rate: clip / harm clip_l14, fid inception, lpips lpips_alex (pairs),
  nude / nude-mace nudenet (always CPU).
- fid_reference: the same with n the reference folder's images (COCO val2014: 40,504), once per folder.
- caption_stats: C(job_start) + T(model_load) + n · T(text_encoder_forward_fp32), n the caption set's prompts
  (MACE's prior cache: COCO-2014's 616,767 captions), once per set; one GPU where the cluster has them.
- every other job: C(small_job) on one core (prompt tables, manifest merges, summaries, report items).

A job's SLURM `runtime` request is its seconds · MARGIN plus SLACK_MINUTES (`runtime_minutes`).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from erasure.cost.table import Throughput

MARGIN = 1.5  # a job's runtime request: 1.5x its modelled seconds ...
SLACK_MINUTES = 10  # ... plus 10 minutes (node start, file-system stalls)
COCO_VAL2014 = 40_504  # images in COCO val2014, the paper's FID reference, when the folder is not here
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".npy", ".tif", ".tiff"}

# metric -> (throughput operation, whether the rate is per image pair)
SCORER_OPS = {"clip": "clip_l14", "harm": "clip_l14", "fid": "inception", "lpips": "lpips_alex",
              "nude": "nudenet", "nude-mace": "nudenet"}
TRAIN_OPS = {"sdd": "train_iter_sdd", "sdd+retain": "train_iter_sdd", "esd-x": "train_iter_esd-x",
             "esd-u": "train_iter_esd-u"}
TRAIN_MEMORY_OPS = {"sdd": "train_memory_sdd", "sdd+retain": "train_memory_sdd", "esd-x": "train_memory_esd-x",
                    "esd-u": "train_memory_esd-u"}
# erasure.attacks.ringabell.RingABellSettings' defaults (that module imports torch; tests/cost checks they agree)
RING_A_BELL_DEFAULTS = {"population": 200, "generations": 3000}
UNET_FACTOR = {"sd": 1.0, "sd-neg": 1.0, "sld": 1.5, "sega": 1.5}


@dataclass(frozen=True)
class Job:
    rule: str
    label: str  # the job's wildcards, for people
    seconds: float
    threads: int = 1
    gpu: bool = False  # it holds a GPU (a GPU-hour per hour)
    local: bool = False  # a Snakemake localrule: runs in the login node's snakemake process

    @property
    def gpu_hours(self) -> float:
        return self.seconds / 3600 if self.gpu else 0.0

    @property
    def core_hours(self) -> float:
        """CPU core-hours of a job that holds no GPU (a GPU job's CPU time is inside its GPU-hours)."""
        return 0.0 if self.gpu else self.seconds * self.threads / 3600


def runtime_minutes(seconds: float) -> int:
    """A job's SLURM runtime request (minutes) for `seconds` of modelled work: MARGIN and SLACK_MINUTES."""
    return int(math.ceil(seconds * MARGIN / 60)) + SLACK_MINUTES


# -- what the rules ask for (rules/common.smk reads these: one source for the DAG and its cost) ---------------

COSTED_WORLDS = ("sd",)  # the table's operations are SD v1.x's; other worlds keep their own requests


def costed(config: Mapping) -> bool:
    """Whether the throughput table models this config's world (its runtime requests come from it)."""
    from erasure.worlds import get_world

    return get_world(config["world"]).name in COSTED_WORLDS


def gpus(config: Mapping) -> bool:
    return bool(config.get("cluster", {}).get("gpus"))


def score_gpu(config: Mapping, metric: str) -> bool:
    """Whether a score job of `metric` asks for a GPU: cluster.score_gpus (unset: cluster.gpus), a world whose
    score jobs may take one (not the toy's), a metric with a torch backbone (erasure.metrics.catalog)."""
    from erasure.metrics import catalog
    from erasure.worlds import get_world

    cluster = config.get("cluster", {})
    wanted = cluster.get("score_gpus")
    wanted = cluster.get("gpus") if wanted is None else wanted  # default: GPUs wherever the cluster has them
    return bool(wanted) and get_world(config["world"]).resources["score"].gpu and catalog.get(metric).gpu


def images_in(config: Mapping, promptset: str, seconds: float) -> int:
    """The images of `promptset` a generate job draws in `seconds` of modelled time on cluster.gpu_model with the
    slowest method any config entry names (sld / sega: UNET_FACTOR), a multiple of generation.batch_size (at
    least one batch). Raises ErasureError where the table does not model the config's world."""
    from erasure.cost import table as cost_table
    from erasure.errors import ErasureError

    if not costed(config):
        raise ErasureError(f"generation.shard_minutes: world {config['world']!r} is not in the throughput table "
                           f"(it models {', '.join(COSTED_WORLDS)}); give generation.shard_size instead")
    throughput = _table(str(cost_table.DEFAULT_TABLE), config.get("cluster", {}).get("gpu_model") or "H100")
    fixed = generate_seconds(config, throughput, "", promptset, 0)
    per_image = max(generate_seconds(config, throughput, method, promptset, 1) - fixed
                    for method in ["", *config.get("inference_methods", {})])  # "": a fine-tuned model's
    batch = int(config["generation"]["batch_size"])
    return max(batch, int((seconds - fixed) / per_image) // batch * batch)


@functools.lru_cache(maxsize=4)
def _table(path: str, gpu: str):
    from erasure.cost import table as cost_table

    return cost_table.load(path, gpu)


# -- per job -------------------------------------------------------------------------------------------------

def unet_factor(config: Mapping, method: str) -> float:
    spec = config.get("inference_methods", {}).get(method)
    return UNET_FACTOR.get(spec["kind"], 1.0) if spec else 1.0


def generate_seconds(config: Mapping, table: Throughput, method: str, promptset: str, n: int) -> float:
    from erasure.generate.settings import resolve_sampling
    from erasure.plan import base_promptset

    sampling = resolve_sampling(config["generation"], config["prompt_sets"][base_promptset(promptset)])
    per_image = sampling["steps"] * table.get("denoise_step_fp16") * unet_factor(config, method)
    return table.cpu("job_start") + table.get("model_load") + n * (per_image + table.get("vae_decode_fp16"))


def erase_seconds(config: Mapping, table: Throughput, run: str) -> float:
    from erasure.plan import run_config

    spec = run_config(config, run)  # a configured run or a training replicate `{run}.r{r}` of one
    return (table.cpu("job_start") + table.get("model_load")
            + int(spec["iterations"]) * table.get(TRAIN_OPS.get(spec["method"], "train_iter_sdd")))


def erase_memory_gb(config: Mapping, table: Throughput, run: str) -> float:
    """Peak GPU memory (GB) of run `run`'s training job: its method's train_memory row (another fine-tuning
    method: SDD's)."""
    from erasure.plan import run_config

    return table.get(TRAIN_MEMORY_OPS.get(run_config(config, run)["method"], "train_memory_sdd"))


def gpu_memory_gb(config: Mapping, table: Throughput) -> float:
    """GB on the smallest GPU a GPU job may land on: cluster.gpu_memory_gb, else the gpu_memory row of
    cluster.gpu_model."""
    given = config.get("cluster", {}).get("gpu_memory_gb")
    return float(given) if given is not None else table.get("gpu_memory")


def erase_constraint(config: Mapping, table: Throughput, run: str) -> str | None:
    """The SLURM constraint (`--constraint`) of run `run`'s training job: cluster.large_gpu_constraint where its
    peak memory exceeds `gpu_memory_gb`, else None (no constraint)."""
    if erase_memory_gb(config, table, run) > gpu_memory_gb(config, table):
        return config.get("cluster", {}).get("large_gpu_constraint") or None
    return None


def memory_faults(config: Mapping, table: Throughput) -> list[str]:
    """One line per planned training run (cluster.gpus) whose modelled peak GPU memory exceeds `gpu_memory_gb`
    while no cluster.large_gpu_constraint sends it to larger GPUs: it would run out of memory after queueing."""
    from erasure import plan
    from erasure.methods import specs

    if not gpus(config) or config.get("cluster", {}).get("large_gpu_constraint"):
        return []
    have = gpu_memory_gb(config, table)
    faults = []
    for run in plan.required_runs(config):
        method = plan.run_config(config, run)["method"]
        if specs.get(method).kind == specs.CLOSED_FORM:
            continue
        need = erase_memory_gb(config, table, run)
        if need > have:
            row = table.row(table.gpu, TRAIN_MEMORY_OPS.get(method, "train_memory_sdd"))
            given = "cluster.gpu_memory_gb" if config["cluster"].get("gpu_memory_gb") is not None else \
                f"cluster.gpu_model {table.gpu}'s gpu_memory row"
            faults.append(f"runs.{run} ({method}): its training job needs about {need:g} GB of GPU memory "
                          f"({table.path.name} {row.operation}, {row.source}), more than the {have:g} GB of "
                          f"{given}; set cluster.large_gpu_constraint to a SLURM constraint that selects GPUs with "
                          f"at least {need:g} GB (its jobs alone get it), or raise cluster.gpu_memory_gb if every "
                          "GPU of the partition has that much")
    return faults


def caption_stats_seconds(config: Mapping, table: Throughput, promptset: str) -> float:
    """One caption_stats job: the base's text encoder over every caption of `promptset` (rules/edit.smk)."""
    n = int(config["prompt_sets"][promptset]["n_prompts"])
    return table.cpu("job_start") + table.get("model_load") + n * table.get("text_encoder_forward_fp32")


def edit_gpu(config: Mapping, run: str) -> bool:
    """Whether run `run`'s edit job asks for a GPU: its method's spec says its edit does GPU work
    (MethodSpec.edit_gpu: MACE) and the cluster has GPUs (cluster.gpus). rules/edit.smk reads this too."""
    from erasure import plan
    from erasure.methods import specs

    return gpus(config) and specs.get(plan.run_config(config, run)["method"]).edit_gpu


def edit_seconds(config: Mapping, table: Throughput, run: str) -> float:
    """Seconds of run `run`'s edit job: a CPU solve (UCE, RECE), or for a method whose spec says edit_gpu the GPU
    work of the module docstring's formula, read from its resolved settings (MACESettings' images,
    image_steps, steps, masks: a plug-in's settings class without them is priced for the parts it has)."""
    from erasure import plan
    from erasure.methods import specs
    from erasure.methods.concepts import resolve_concepts
    from erasure.methods.settings import resolve_run

    spec_config = plan.run_config(config, run)
    spec = specs.get(spec_config["method"])
    if not spec.edit_gpu:
        return table.cpu("edit_closed_form")
    _, settings = resolve_run(run, spec_config)
    images, masks = int(getattr(settings, "images", 0)), getattr(settings, "masks", "none")
    per_concept = int(getattr(settings, "steps", 0)) * table.get("lora_step_mace")
    if images and masks != "world":  # the world's renderer draws the toy's concept images, not the base model
        per_concept += images * (int(getattr(settings, "image_steps", 0)) * table.get("denoise_step_fp32")
                                 + table.get("vae_decode_fp32"))
    if images and masks == "grounded-sam":  # both models loaded per concept (grounded_sam.concept_masks)
        per_concept += table.get("grounded_sam_load") + images * table.get("grounded_sam_image")
    concepts = len(resolve_concepts(spec_config["concepts"]))
    return (table.cpu("job_start") + table.get("model_load") + concepts * per_concept
            + 2 * table.cpu("edit_closed_form"))


def attack_seconds(config: Mapping, table: Throughput, attack: str, n_prompts: int) -> float:
    spec = config["attacks"]["attacks"][attack]
    if spec["kind"] == "ring-a-bell":
        settings = {**RING_A_BELL_DEFAULTS, **dict(spec.get("settings") or {})}
        per_prompt = int(settings["generations"]) * int(settings["population"]) * table.get("text_encoder_forward_fp32")
    else:
        per_prompt = table.get(whitebox_operation(spec, table))
    return table.cpu("job_start") + table.get("model_load") + n_prompts * per_prompt


def whitebox_operation(spec: Mapping, table: Throughput) -> str:
    """The table row of one white-box prompt: bf16 where the attack runs in bf16 on the GPU (its settings'
    precision auto or bf16: erasure.attacks.whitebox.WhiteBoxSettings) and the table has a bf16 row (measured
    by bench/whitebox_iteration.py on a device), else fp32's: no saving is modelled before it is measured."""
    precision = dict(spec.get("settings") or {}).get("precision", "auto")
    if precision != "fp32" and table.has("unlearndiffatk_prompt_bf16"):
        return "unlearndiffatk_prompt_bf16"
    return "unlearndiffatk_prompt_fp32"


def score_seconds(config: Mapping, table: Throughput, metric: str, method: str, promptset: str,
                  threads: int) -> tuple[float, bool]:
    """(seconds, holds a GPU) of one score job."""
    from erasure.plan import n_images

    n = n_images(config, promptset)  # FID's reference: its own job (fid_reference_seconds), read as statistics
    op = SCORER_OPS.get(metric)
    if op is None:
        return table.cpu("small_job"), False
    on_gpu = score_gpu(config, metric) and op != "nudenet"
    if on_gpu:
        return table.cpu("job_start") + table.get("scorer_load") + n / table.get(op), True
    return table.cpu("job_start") + n / (table.cpu(op) * max(1, threads)), False


def fid_settings(config: Mapping, promptset: str) -> dict:
    from erasure.plan import base_promptset

    settings = dict(config.get("metrics", {}).get("fid", {}))
    settings.update(config["prompt_sets"][base_promptset(promptset)].get("metric_settings", {}).get("fid", {}))
    return settings


def fid_reference_seconds(config: Mapping, table: Throughput, settings: Mapping, threads: int) -> float:
    """One fid_reference job: the reference folder's Inception features, on the GPU where FID jobs take one."""
    n = reference_images(settings)
    if score_gpu(config, "fid"):
        return table.cpu("job_start") + table.get("scorer_load") + n / table.get("inception")
    return table.cpu("job_start") + n / (table.cpu("inception") * max(1, threads))


def reference_images(settings: Mapping) -> int:
    """Images of FID's reference: a local folder's count, 0 for statistics (.npz), else COCO val2014's."""
    reference = settings.get("reference")
    if not reference or str(reference).endswith(".npz"):
        return 0
    folder = Path(str(reference)).expanduser()
    if folder.is_dir():
        return sum(1 for e in os.scandir(folder) if Path(e.name).suffix.lower() in IMAGE_SUFFIXES)
    return COCO_VAL2014


# -- the plan --------------------------------------------------------------------------------------------------

def plan_jobs(config: Mapping, table: Throughput) -> list[Job]:
    """Every job the DAG of `config` plans (rule `all` aside), with its modelled seconds."""
    from erasure import plan
    from erasure.plan import attacks as attack_plan
    from erasure.methods import specs
    from erasure.metrics import catalog
    from erasure.prompts.kinds import source_file_kind
    from erasure.worlds import get_world

    world = get_world(config["world"])
    small = table.cpu("small_job")
    gpu = gpus(config)
    jobs: list[Job] = []

    image_sets = plan.required_image_sets(config)
    attacked = [s for s in attack_plan.image_sets(config) if plan.SEPARATOR in s.promptset]
    captions = plan.required_caption_sets(config)  # MACE's prior cache: rule caption_stats, once per set
    promptsets = sorted({plan.base_promptset(s.promptset) for s in image_sets + attacked} | set(captions))
    for name in promptsets:
        if source_file_kind(config["prompt_sets"][name], name)[0] == "fetched":
            jobs.append(Job("fetch_prompts", name, small, local=True))
        jobs.append(Job("prompts", name, small))
    if world.preflight_gate:
        jobs.append(Job("preflight_gate", "", small, local=True))

    jobs += [Job("caption_stats", name, caption_stats_seconds(config, table, name), gpu=gpu) for name in captions]

    for run in plan.required_runs(config):
        spec = specs.get(plan.run_config(config, run)["method"])  # a run or a training replicate `{run}.r{r}`
        if spec.kind == specs.CLOSED_FORM:  # rules/edit.smk: a GPU only where the spec says edit_gpu (MACE)
            jobs.append(Job("edit", run, edit_seconds(config, table, run), gpu=edit_gpu(config, run)))
        else:
            jobs.append(Job("erase", run, erase_seconds(config, table, run), world.resources["erase"].threads, gpu=gpu))

    threads = world.resources["generate"].threads
    for image_set in sorted(image_sets + attacked):
        shape = plan.image_set_shape(config, image_set.promptset)
        shards = shape.n_shards
        for shard in range(shards):
            seconds = generate_seconds(config, table, image_set.method, image_set.promptset, shape.images_in_shard(shard))
            rule = "generate_set" if shards == 1 else "generate_shard"
            jobs.append(Job(rule, f"{image_set.method}/{image_set.promptset}/{shard:04d}", seconds, threads, gpu=gpu))
        if shards > 1:
            jobs.append(Job("merge_manifest", f"{image_set.method}/{image_set.promptset}", small, local=True))

    attack_gpu = gpu and bool(attack_plan.section(config).get("resources", {}).get("gpu", True))
    shard_jobs = [("attack_shard", m, a, p) for m, a, p in attack_plan.jobs(config) if not attack_plan.text_only(config, a)]
    shard_jobs += [("attack_text_shard", "_text-encoder-" + e, a, p) for e, a, p in attack_plan.text_jobs(config)]
    for rule, owner, attack, promptset in shard_jobs:
        n_prompts = int(config["prompt_sets"][promptset]["n_prompts"])
        size = attack_plan.shard_size(config)
        for shard in range(attack_plan.n_attack_shards(config, promptset)):
            n = min(size, n_prompts - shard * size)
            jobs.append(Job(rule, f"{owner}/{promptset}~{attack}/{shard:04d}", attack_seconds(config, table, attack, n),
                            world.resources["attack"].threads, gpu=attack_gpu))
    for method, attack, promptset in attack_plan.jobs(config):
        jobs.append(Job("attack_merge", f"{method}/{promptset}~{attack}", small, local=True))

    scores = sorted(set(plan.required_scores(config)) | set(attack_plan.scores(config)))
    if any(catalog.needs_q16(metric) for metric, _, _ in scores):
        jobs.append(Job("q16_prompts", "", small, local=True))
    threads = world.resources["score"].threads
    for metric, method, promptset in scores:
        seconds, on_gpu = score_seconds(config, table, metric, method, promptset, threads)
        jobs.append(Job(catalog.get(metric).rule, f"{method}/{promptset}", seconds, 1 if on_gpu else threads,
                        gpu=on_gpu))
    references = {str(fid_settings(config, p).get("reference")): fid_settings(config, p)
                  for metric, _, p in scores if metric == "fid" and reference_images(fid_settings(config, p))}
    for reference, settings in sorted(references.items()):
        on_gpu = score_gpu(config, "fid")
        jobs.append(Job("fid_reference", reference, fid_reference_seconds(config, table, settings, threads),
                        1 if on_gpu else threads, gpu=on_gpu))
    # summaries of the plan's scores (Table 3 reads the attacked sets' per-image files itself)
    jobs += [Job("summarize_score", "/".join(t), small, local=True) for t in plan.required_scores(config)]

    report = config.get("report", {})
    for section, rule in (("tables", "report_table"), ("curves", "report_curves"), ("grids", "report_grid"),
                          ("matrices", "report_matrix"), ("frontiers", "report_frontier")):
        for item in report.get(section, {}):
            jobs.append(Job(rule, item, small))
            jobs.append(Job("report_provenance", item, small))
    if attack_plan.jobs(config):
        jobs.append(Job("attack_table", attack_plan.table_name(config), small))
        jobs.append(Job("attack_grid", attack_plan.table_name(config), small))
    return jobs


@dataclass(frozen=True)
class RuleCost:
    rule: str
    jobs: int
    gpu_hours: float
    core_hours: float
    longest_s: float
    local: bool


def by_rule(jobs: list[Job]) -> list[RuleCost]:
    rules: dict[str, list[Job]] = {}
    for job in jobs:
        rules.setdefault(job.rule, []).append(job)
    return [RuleCost(rule, len(js), sum(j.gpu_hours for j in js), sum(j.core_hours for j in js),
                     max(j.seconds for j in js), all(j.local for j in js))
            for rule, js in sorted(rules.items(), key=lambda kv: -sum(j.gpu_hours + j.core_hours / 100 for j in kv[1]))]


def report(config: Mapping, table: Throughput, jobs: list[Job]) -> str:
    """The cost as text: one line per rule, the totals, and how much rests on estimates."""
    rows = by_rule(jobs)
    lines = [f"cost of the plan ({len(jobs)} jobs) on {table.gpu} (throughput table {table.path}); runtime "
             f"request = {MARGIN}x modelled + {SLACK_MINUTES} min",
             f"{'rule':<22} {'jobs':>6} {'GPU-h':>9} {'CPU core-h':>11} {'longest job':>12} {'runtime req':>12}"]
    for r in rows:
        request = "local" if r.local else f"{runtime_minutes(r.longest_s)} min"
        lines.append(f"{r.rule:<22} {r.jobs:>6} {r.gpu_hours:>9.1f} {r.core_hours:>11.1f} "
                     f"{r.longest_s / 60:>10.1f} m {request:>12}")
    gpu_h = sum(r.gpu_hours for r in rows)
    core_h = sum(r.core_hours for r in rows)
    lines.append(f"{'total':<22} {len(jobs):>6} {gpu_h:>9.1f} {core_h:>11.1f}")
    memory = training_memory(config, table)
    if memory:
        lines.append(f"GPU memory per training job (GB, peak; GPUs of {gpu_memory_gb(config, table):g} GB): "
                     + ", ".join(f"{method} {gb:g}" for method, gb in memory.items()))
    sources: dict[str, int] = {}
    for row in table.used.values():
        sources[row.source] = sources.get(row.source, 0) + 1
    what_if = sorted(f"{r.gpu}:{r.operation}={r.value:g}" for r in table.used.values() if r.source == "what-if")
    if what_if:
        lines.append("WHAT-IF (rows given on the command line, not figures of the table): " + ", ".join(what_if))
    lines.append("table rows used: " + ", ".join(f"{n} {s}" for s, n in sorted(sources.items()))
                 + " (an estimate is replaced by a bench/ measurement: bench/device_run.sh)")
    if not gpus(config):
        lines.append("cluster.gpus is false: no job asks for a GPU; GPU-hours are what the GPU jobs would take on one")
    return "\n".join(lines)


def training_memory(config: Mapping, table: Throughput) -> dict[str, float]:
    """method -> modelled peak GPU memory (GB) of its training jobs, for the methods of the planned runs."""
    from erasure import plan
    from erasure.methods import specs

    out = {}
    for run in plan.required_runs(config):
        method = plan.run_config(config, run)["method"]
        if specs.get(method).kind != specs.CLOSED_FORM:
            out[method] = erase_memory_gb(config, table, run)
    return dict(sorted(out.items()))


def config_report(config: Mapping, table_path: str | Path | None = None, gpu: str | None = None) -> str:
    """`report` for a config, or one line saying why its world is not modelled (preflight prints this)."""
    from erasure.cost import table as cost_table

    if not costed(config):
        return (f"cost: world {config['world']!r} is not in the throughput table (it models {', '.join(COSTED_WORLDS)}); "
                "its jobs ask for the world's own resources (erasure.worlds)")
    throughput = cost_table.load(table_path, gpu or config.get("cluster", {}).get("gpu_model") or "H100")
    return report(config, throughput, plan_jobs(config, throughput))
