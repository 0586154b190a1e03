"""What the workflow must produce, derived from the config alone (no file system access), so that
Snakemake plans the whole DAG, the paper's 58,515 images per method included, before any weights exist.

The report section is the root: every table, curve, grid and matrix names the (method, prompt set)
image sets it needs; each image set is scored with every metric its prompt set lists, and with every metric a
report item reads from it (a table cell may name a metric its prompt set does not list). The attacks section
adds each attacked method's plain sets and the detector's scores on them. This is the one plan: `rule all`
and the stage targets `images`, `scores` and `attacks` (`stage_targets`) are all read from it, so a stage
target plans exactly the jobs of `all` up to that stage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from erasure.errors import ErasureError
from erasure.methods import specs
from erasure.metrics.catalog import identifier, is_paired
from erasure.paths import MethodId
from erasure.report.frontier import frontier_cells

SEPARATOR = "~"  # `{promptset}~{attack}`: the attacked copy of a prompt set (erasure.attacks.plan)


def base_promptset(name: str) -> str:
    """The configured prompt set behind an image set's prompt-set name (`body~ring-a-bell` -> `body`)."""
    return name.split(SEPARATOR, 1)[0]


@dataclass(frozen=True, order=True)
class ImageSet:
    method: str
    promptset: str


def reference_method(config: Mapping) -> str:
    return config["generation"].get("reference_method", "sd")


def report_image_sets(config: Mapping) -> list[ImageSet]:
    """Every (method, prompt set) that a table, curve, grid or matrix of the report shows."""
    report = config["report"]
    sets: set[ImageSet] = set()
    for table in report.get("tables", {}).values():
        for method in table["methods"]:
            for column in table["columns"]:
                sets.add(ImageSet(method, column["promptset"]))
    for curve in report.get("curves", {}).values():
        sets.update(ImageSet(method, curve["promptset"]) for method in curve_methods(curve))
    for grid in report.get("grids", {}).values():
        for method in grid["methods"]:
            sets.add(ImageSet(method, grid["promptset"]))
    for matrix in report.get("matrices", {}).values():
        for method in matrix["methods"]:
            sets.add(ImageSet(method, matrix["promptset"]))
    for frontier in report.get("frontiers", {}).values():  # erasure.report.frontier
        sets.update(ImageSet(method, promptset) for _, method, promptset in frontier_cells(frontier))
    return sorted(sets)


def curve_methods(spec: Mapping) -> list[str]:
    """The methods a training curve reads: each series' checkpoints, then its baseline (a dashed line)."""
    methods = [MethodId.of(series["run"], step, student=series.get("which") == "student").name
               for series in spec["series"] for step in series["steps"]]
    return methods + ([spec["baseline"]] if spec.get("baseline") else [])


def table_cells(spec: Mapping, reference_method: str | None) -> list[tuple[str, str, str]]:
    """(method, promptset, metric) cells of a report table that have a score summary: all but the paired
    metrics' reference method (LPIPS / paired distance of SD to itself; the paper's "N/A")."""
    return [(method, column["promptset"], column["metric"]) for method in spec["methods"] for column in spec["columns"]
            if not (is_paired(column["metric"]) and method == reference_method)]


def report_scores(config: Mapping) -> list[tuple[str, str, str]]:
    """(metric, method, prompt set) of every score a report item reads: table cells, curves, matrices and
    frontiers (erasure.report.targets.item_inputs reads these same cells)."""
    report = config["report"]
    triples: set[tuple[str, str, str]] = set()
    for table in report.get("tables", {}).values():
        triples.update((metric, method, promptset)
                       for method, promptset, metric in table_cells(table, reference_method(config)))
    for curve in report.get("curves", {}).values():
        triples.update((curve["metric"], method, curve["promptset"]) for method in curve_methods(curve))
    for matrix in report.get("matrices", {}).values():
        triples.update((matrix["metric"], method, matrix["promptset"]) for method in matrix["methods"])
    for frontier in report.get("frontiers", {}).values():
        triples.update(frontier_cells(frontier))
    return sorted(triples)


def attack_image_sets(config: Mapping) -> list[ImageSet]:
    """The plain (not attacked) image sets of the attacks section: each attacked method on each attacked
    prompt set, whose detector scores are Table 3's pre-attack column."""
    from erasure.attacks import plan as attack_plan  # it imports this module

    return [s for s in attack_plan.image_sets(config) if SEPARATOR not in s.promptset]


def attack_scores(config: Mapping) -> list[tuple[str, str, str]]:
    """The detector metric on each plain image set of the attacks section (Table 3's pre-attack ASR)."""
    from erasure.attacks import plan as attack_plan

    return [t for t in attack_plan.scores(config) if SEPARATOR not in t[2]]


def table_methods(config: Mapping) -> list[str]:
    """The methods the report's tables compare (Table 1 and 2's rows), in first-seen order."""
    methods: dict[str, None] = {}
    for table in config["report"].get("tables", {}).values():
        methods.update(dict.fromkeys(table["methods"]))
    return list(methods)


def every_method_image_sets(config: Mapping) -> list[ImageSet]:
    """`generation.every_method`: prompt sets that every table method generates and is scored on, shown in a
    table or not (the paper draws all 58,515 images per method; a user erasing their own concept wants its
    effect on every set, not only on the columns they chose to print)."""
    promptsets = config["generation"].get("every_method", [])
    for promptset in promptsets:
        if promptset not in config["prompt_sets"]:
            raise ErasureError(f"generation.every_method: unknown prompt set {promptset!r} (see prompt_sets)")
    return [ImageSet(method, promptset) for method in table_methods(config) for promptset in promptsets]


def required_image_sets(config: Mapping) -> list[ImageSet]:
    """Report image sets, `generation.every_method`'s and the attacks section's plain sets, plus the reference
    method's sets that paired metrics compare against. Attacked sets (`{promptset}~{attack}`) are not here: the
    attack stage draws them (rules/attack.smk)."""
    attacked = set(attack_image_sets(config))
    _check_known(config, attacked, where="attacks")
    sets = set(report_image_sets(config)) | set(every_method_image_sets(config)) | attacked
    reference = reference_method(config)
    # a paired metric, listed by the prompt set or read by a report item, compares with the reference's set
    paired = {p for metric, _, p in report_scores(config) + attack_scores(config) if is_paired(metric)}
    for image_set in list(sets):
        if (image_set.promptset in paired
                or any(is_paired(m) for m in config["prompt_sets"][image_set.promptset]["metrics"])):
            sets.add(ImageSet(reference, image_set.promptset))
    _check_known(config, sets, where="report")
    return sorted(sets)


def required_scores(config: Mapping) -> list[tuple[str, str, str]]:
    """(metric, method, prompt set) triples: each required image set with each metric its prompt set lists,
    every score a report item reads (`report_scores`) and the attacks' pre-attack scores (`attack_scores`);
    paired metrics skip the reference method itself."""
    reference = reference_method(config)
    triples = set(report_scores(config)) | set(attack_scores(config))
    for image_set in required_image_sets(config):
        triples.update((metric, image_set.method, image_set.promptset)
                       for metric in config["prompt_sets"][image_set.promptset]["metrics"])
    return sorted(t for t in triples if not (is_paired(t[0]) and t[1] == reference))


@dataclass(frozen=True)
class SetScoreJob:
    """A score rule that scores several metrics of an image set in one job (a world with
    `score_sets_together`): `metrics` on every (method, prompt set) of `methods` x `promptsets`, in conda env
    `env`. The product is exact: each of those cells is scored with exactly these metrics in this env."""

    rule: str
    metrics: tuple[str, ...]
    methods: tuple[str, ...]
    promptsets: tuple[str, ...]
    env: str


def set_score_jobs(triples: Iterable[tuple[str, str, str]], env_of: Callable[[str], str]) -> list[SetScoreJob]:
    """The set rules for required (metric, method, prompt set) `triples`: per image set, its metrics that share
    an env (`env_of(metric)`); an image set with one metric in an env keeps that metric's own rule. Rules are
    named after their metrics (`score_alignment_fid_toy_paired_distance`), numbered where the same metrics are
    scored on sets of different method lists (the reference method has no paired metric)."""
    per_set: dict[tuple[str, str], set[str]] = {}
    for metric, method, promptset in triples:
        per_set.setdefault((method, promptset), set()).add(metric)
    cells: dict[tuple[tuple[str, ...], str], dict[str, set[str]]] = {}
    for (method, promptset), metrics in per_set.items():
        by_env: dict[str, list[str]] = {}
        for metric in metrics:
            by_env.setdefault(env_of(metric), []).append(metric)
        for env, group in by_env.items():
            if len(group) > 1:
                cells.setdefault((tuple(sorted(group)), env), {}).setdefault(promptset, set()).add(method)
    jobs = []
    for (metrics, env), sets in sorted(cells.items()):
        by_methods: dict[tuple[str, ...], list[str]] = {}
        for promptset, methods in sorted(sets.items()):
            by_methods.setdefault(tuple(sorted(methods)), []).append(promptset)
        stem = "score_" + "_".join(identifier(m) for m in metrics)
        for i, (methods, promptsets) in enumerate(sorted(by_methods.items())):
            jobs.append(SetScoreJob(stem if i == 0 else f"{stem}_{i + 1}", metrics, methods, tuple(promptsets), env))
    return jobs


def required_runs(config: Mapping) -> list[str]:
    return sorted({MethodId.parse(s.method).run for s in required_image_sets(config)} - {None})


STAGES = ("images", "scores", "attacks", "report")  # the named targets, in order; `report` is `rule all`


def stage_targets(config: Mapping, root, world: str) -> dict[str, list[str]]:
    """{stage: the files its target asks for}, each stage with every earlier stage's files, so that a stage
    target plans exactly the jobs of `all` (the last) up to that stage: `images` every required image set's
    manifest, `scores` every required score's summary, `attacks` Table 3 and its grid (which pull in the
    attacked sets, drawn and scored), `report` every table, figure and provenance record of the report
    section. rules/*.smk read their targets from here alone."""
    from erasure import paths
    from erasure.attacks import plan as attack_plan
    from erasure.report.targets import report_targets  # it imports this module

    stages = {
        "images": [str(paths.manifest(root, world, s.method, s.promptset)) for s in required_image_sets(config)],
        "scores": [str(paths.score_summary(root, world, metric, method, promptset))
                   for metric, method, promptset in required_scores(config)],
        "attacks": [],
        "report": report_targets(config, root, world),
    }
    if attack_plan.jobs(config):
        name = attack_plan.table_name(config)
        stages["attacks"] = [str(paths.table(root, world, name, "md")), str(paths.figure(root, world, f"{name}-grid"))]
    cumulative: list[str] = []
    for stage in STAGES:
        cumulative = cumulative + stages[stage]
        stages[stage] = list(cumulative)
    return stages


def n_images(config: Mapping, promptset: str) -> int:
    """Images in a prompt set, known from the config so that shards can be planned before fetching."""
    spec = config["prompt_sets"][base_promptset(promptset)]
    return int(spec["n_prompts"]) * int(spec.get("images_per_prompt", 1))


def shard_size(config: Mapping, promptset: str) -> int:
    """Images per generate job of a prompt set (or its attacked copy): `generation.shard_size`, or with
    `generation.shard_minutes` as many as the set's slowest method draws in that many modelled minutes on
    `cluster.gpu_model` (erasure.cost.model.images_in: fewer, longer jobs, each within a stated wall time).
    The images do not depend on it (per-image latents), only which job draws them."""
    minutes = config["generation"].get("shard_minutes")
    if not minutes:
        return int(config["generation"]["shard_size"])
    from erasure.cost.model import images_in

    return images_in(config, base_promptset(promptset), 60 * float(minutes))


def n_shards(config: Mapping, promptset: str) -> int:
    return max(1, math.ceil(n_images(config, promptset) / shard_size(config, promptset)))


def _check_known(config: Mapping, sets: Iterable[ImageSet], where: str = "report") -> None:
    for image_set in sets:
        if image_set.promptset not in config["prompt_sets"]:
            raise ErasureError(f"{where}: unknown prompt set {image_set.promptset!r} (see prompt_sets)")
        method = MethodId.parse(image_set.method)
        if method.finetuned:
            run = config["runs"].get(method.run)
            if run is None:
                raise ErasureError(f"{where}: method {method.name!r} names unknown run {method.run!r} (see runs)")
            if method.step % run["checkpoint_every"] and method.step != run["iterations"]:
                raise ErasureError(
                    f"{where}: method {method.name!r}: step {method.step} is not a checkpoint of run "
                    f"{method.run!r} (checkpoint_every {run['checkpoint_every']})"
                )
            if method.step > run["iterations"]:
                raise ErasureError(f"{where}: method {method.name!r}: step {method.step} > iterations {run['iterations']}")
            spec = specs.get(run["method"], specs.FINE_TUNING, specs.CLOSED_FORM, where=f"runs.{method.run}.method")
            if method.which == "student" and "student" not in spec.deliverables:
                raise ErasureError(f"{where}: method {method.name!r}: run {method.run!r} ({run['method']}, a "
                                   f"{spec.kind}) has no student weights (it delivers {', '.join(spec.deliverables)})")
        elif image_set.method not in config["inference_methods"]:
            raise ErasureError(f"{where}: unknown method {image_set.method!r} (see inference_methods and runs)")
