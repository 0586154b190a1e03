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
from erasure.paths import ATTACKED, MethodId, split_run

SEPARATOR = ATTACKED  # `{promptset}~{attack}`: the attacked copy of a prompt set (erasure.plan.attacks)


# --- what a frontier reads (report.frontiers.<name>; erasure.report.frontier draws it) -----------------------

def frontier_methods(spec: Mapping) -> list[str]:
    """Every method the frontier shows: series' methods in order, then the points."""
    methods = [m for series in spec.get("series", []) for m in series["methods"]]
    return list(dict.fromkeys(methods + list(spec.get("methods", []))))


def frontier_cells(spec: Mapping) -> list[tuple[str, str, str]]:
    """(metric, method, prompt set) of every per-image score CSV the frontier reads."""
    cells = []
    for row in spec["rows"]:
        for method in frontier_methods(spec):
            cells.append((spec.get("metric", "target"), method, row["target"]))
            cells.append((spec.get("retention_metric", "alignment"), method, row["retention"]))
    return list(dict.fromkeys(cells))


def frontier_promptsets(spec: Mapping) -> list[str]:
    return list(dict.fromkeys(p for row in spec["rows"] for p in (row["target"], row["retention"])))


def base_promptset(name: str) -> str:
    """The configured prompt set behind an image set's prompt-set name (`body~ring-a-bell` -> `body`)."""
    return name.split(SEPARATOR, 1)[0]


def run_replicates(config: Mapping, run: str) -> int:
    """How many training replicates configured run `run` has: its own `replicates`, else the config-wide
    `replicates` (default 1). A closed-form edit (UCE, RECE) has no training seed, so it is always 1 (an explicit
    `replicates` > 1 on one is refused by erasure.config)."""
    spec = config["runs"][run]
    if "replicates" in spec:
        return int(spec["replicates"])
    if specs.SPECS[spec["method"]].kind != specs.FINE_TUNING:
        return 1
    return int(config.get("replicates", 1))


def run_config(config: Mapping, name: str) -> Mapping:
    """The `runs` entry a trained run's name comes from (`esd-u.r2` -> runs["esd-u"]). Raises ErasureError for
    a name that is no configured run or replicate of one."""
    try:
        base, replicate = split_run(name)
    except ValueError:
        base, replicate = name, 0
    if base not in config["runs"] or replicate >= run_replicates(config, base):
        raise ErasureError(f"run {name!r}: not a configured run or one of its replicates (see runs, replicates)")
    return config["runs"][base]


def run_seed(config: Mapping, name: str) -> int:
    """The training seed of trained run `name`: replicate r of a run with `seed` s trains with seed s + r, so
    replicate 0 is the run as configured and the replicates differ from it in nothing else."""
    _, replicate = split_run(name)
    return int(run_config(config, name).get("seed", 0)) + replicate


def method_replicates(config: Mapping, method: str) -> list[str]:
    """`method` and its replicates' method ids, replicate 0 (`method` itself) first: `esd-u@200` of a run with
    3 replicates -> [esd-u@200, esd-u.r1@200, esd-u.r2@200]; an inference-time method, or a run of one
    replicate, -> [method]. A method that names a replicate itself (`esd-u.r1@200`) is that one model."""
    parsed = MethodId.parse(method)
    if not parsed.finetuned or parsed.replicate or parsed.config_run not in config.get("runs", {}):
        return [method]
    return [parsed.as_replicate(r).name for r in range(run_replicates(config, parsed.config_run))]


@dataclass(frozen=True, order=True)
class ImageSet:
    method: str
    promptset: str


def reference_method(config: Mapping) -> str:
    return config["generation"].get("reference_method", "sd")


def report_image_sets(config: Mapping) -> list[ImageSet]:
    """Every (method, prompt set) that an item of the report shows (each kind's `image_sets`, REPORT_KINDS)."""
    return sorted({image_set for kind, _, spec in report_entries(config)
                   for image_set in kind.image_sets(spec, config)})


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
    """(metric, method, prompt set) of every score a report item reads (each kind's `scores`, REPORT_KINDS;
    the rule's inputs, `ReportKind.inputs`, are built from these same cells)."""
    return sorted({cell for kind, _, spec in report_entries(config) for cell in kind.scores(spec, config)})


def attack_image_sets(config: Mapping) -> list[ImageSet]:
    """The plain (not attacked) image sets of the attacks section: each attacked method on each attacked
    prompt set, whose detector scores are Table 3's pre-attack column."""
    from erasure.plan import attacks as attack_plan  # it imports this module (late: a submodule)

    return [s for s in attack_plan.image_sets(config) if SEPARATOR not in s.promptset]


def attack_scores(config: Mapping) -> list[tuple[str, str, str]]:
    """The detector metric on each plain image set of the attacks section (Table 3's pre-attack ASR)."""
    from erasure.plan import attacks as attack_plan

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
    sets |= set(training_image_sets(config, {MethodId.parse(s.method).run for s in sets} - {None}))
    return sorted(sets)


def training_image_sets(config: Mapping, runs) -> list[ImageSet]:
    """The image sets trained runs `runs` train on (SalUn's forget / retain sets: the fields its settings class
    lists in IMAGE_SETS, drawn by its settings' `image_method`); the erase rule's inputs (rules/common.smk
    run_image_sets), so the cost model and the `images` target count them as the DAG draws them."""
    from erasure.methods.settings import resolve_run

    sets = []
    for run in sorted(runs):
        _, settings = resolve_run(run, run_config(config, run))
        sets += [ImageSet(settings.image_method, getattr(settings, field))
                 for field in getattr(type(settings), "IMAGE_SETS", ())]
    return sets


def run_caption_sets(config: Mapping, run: str) -> list[str]:
    """The caption prompt sets whose text-encoder statistics run `run` reads (the non-empty fields its settings
    class lists in CAPTION_SETS: MACE's `prior`); the edit rule's inputs through rule caption_stats."""
    from erasure.methods.settings import caption_sets, resolve_run

    return caption_sets(resolve_run(run, run_config(config, run))[1])


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
    """The trained runs (replicates as `run.r{r}`, erasure.paths.replicate_run) the image sets are drawn from."""
    return sorted({MethodId.parse(s.method).run for s in required_image_sets(config)} - {None})


def required_caption_sets(config: Mapping) -> list[str]:
    """The caption prompt sets the required runs read through rule caption_stats (run_caption_sets: MACE's
    prior cache), for preflight's prompt-file checks."""
    return sorted({name for run in required_runs(config) for name in run_caption_sets(config, run)})


STAGES = ("images", "scores", "attacks", "report")  # the named targets, in order; `report` is `rule all`


def stage_targets(config: Mapping, root, world: str) -> dict[str, list[str]]:
    """{stage: the files its target asks for}, each stage with every earlier stage's files, so that a stage
    target plans exactly the jobs of `all` (the last) up to that stage: `images` every required image set's
    manifest, `scores` every required score's summary, `attacks` Table 3 and its grid (which pull in the
    attacked sets, drawn and scored), `report` every table, figure and provenance record of the report
    section. rules/*.smk read their targets from here alone."""
    from erasure import paths
    from erasure.plan import attacks as attack_plan

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


@dataclass(frozen=True)
class ImageSetShape:
    """How many images a prompt set's image sets hold and how the generate jobs split them, from the config
    alone (so that shards are planned before any prompt file is fetched): `n_prompts` x `images_per_prompt`
    images (seeds seed, seed+1, ... per prompt: erasure.generate.shard.enumerate_images), drawn in
    `n_shards` jobs of `shard_size` images (the last one the rest). An attacked copy `{promptset}~{attack}`
    has its prompt set's shape. The one reader of `prompt_sets.<set>.images_per_prompt` (default 1)."""

    n_prompts: int
    images_per_prompt: int
    shard_size: int

    @property
    def n_images(self) -> int:
        return self.n_prompts * self.images_per_prompt

    @property
    def n_shards(self) -> int:
        return max(1, math.ceil(self.n_images / self.shard_size))

    def images_in_shard(self, shard: int) -> int:
        """Images drawn by shard `shard` (0-based): `shard_size`, the last shard the rest."""
        return min(self.shard_size, self.n_images - int(shard) * self.shard_size)


def _prompts_and_seeds(config: Mapping, promptset: str) -> tuple[int, int]:
    spec = config["prompt_sets"][base_promptset(promptset)]
    return int(spec["n_prompts"]), int(spec.get("images_per_prompt", 1))


def image_set_shape(config: Mapping, promptset: str) -> ImageSetShape:
    """The shape of `promptset`'s (or its attacked copy's) image sets (ImageSetShape)."""
    return ImageSetShape(*_prompts_and_seeds(config, promptset), shard_size(config, promptset))


def n_images(config: Mapping, promptset: str) -> int:
    """Images in a prompt set's image set (ImageSetShape.n_images; no shard size needed)."""
    return ImageSetShape(*_prompts_and_seeds(config, promptset), shard_size=1).n_images


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
    return image_set_shape(config, promptset).n_shards


def _check_known(config: Mapping, sets: Iterable[ImageSet], where: str = "report") -> None:
    for image_set in sets:
        if image_set.promptset not in config["prompt_sets"]:
            raise ErasureError(f"{where}: unknown prompt set {image_set.promptset!r} (see prompt_sets)")
        method = MethodId.parse(image_set.method)
        if method.finetuned:
            run = config["runs"].get(method.config_run)
            if run is None:
                raise ErasureError(f"{where}: method {method.name!r} names unknown run {method.config_run!r} (see runs)")
            if method.replicate >= run_replicates(config, method.config_run):
                raise ErasureError(f"{where}: method {method.name!r}: run {method.config_run!r} has "
                                   f"{run_replicates(config, method.config_run)} replicate(s) (see replicates)")
            if method.step % run["checkpoint_every"] and method.step != run["iterations"]:
                raise ErasureError(
                    f"{where}: method {method.name!r}: step {method.step} is not a checkpoint of run "
                    f"{method.config_run!r} (checkpoint_every {run['checkpoint_every']})"
                )
            if method.step > run["iterations"]:
                raise ErasureError(f"{where}: method {method.name!r}: step {method.step} > iterations {run['iterations']}")
            spec = specs.get(run["method"], specs.FINE_TUNING, specs.CLOSED_FORM, where=f"runs.{method.config_run}.method")
            if method.which == "student" and "student" not in spec.deliverables:
                raise ErasureError(f"{where}: method {method.name!r}: run {method.config_run!r} ({run['method']}, a "
                                   f"{spec.kind}) has no student weights (it delivers {', '.join(spec.deliverables)})")
        elif image_set.method not in config["inference_methods"]:
            raise ErasureError(f"{where}: unknown method {image_set.method!r} (see inference_methods and runs)")


# --- the report's kinds ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportKind:
    """One kind of report item (`report.<key>.<name>` in the config): what one item shows and reads, the files
    it makes, and the rule (rules/report.smk) and shim (workflow_scripts/) that draw it. A new kind is an
    entry of REPORT_KINDS, a rule and a shim; plan, targets, provenance and the report rules read the rest
    from here.

    image_sets(spec, config)  the (method, prompt set) sets it shows, drawn for it
    scores(spec, config)      (metric, method, prompt set) of the scores it reads, scored for it
    inputs(spec, config, root, world)  the rule's named inputs ({name: files})
    outputs(name, root, world)         its files (tables/ and figures/)"""

    key: str
    kind: str
    rule: str
    shim: str
    image_sets: Callable[[Mapping, Mapping], list[ImageSet]]
    scores: Callable[[Mapping, Mapping], list[tuple[str, str, str]]]
    inputs: Callable[[Mapping, Mapping, object, str], dict]
    outputs: Callable[[str, object, str], list[str]]

    @property
    def wildcard(self) -> str:
        """The name of the rule's wildcard for the item's name."""
        return self.kind


def _sets(methods: Iterable[str], promptsets: Iterable[str]) -> list[ImageSet]:
    return [ImageSet(method, promptset) for method in methods for promptset in promptsets]


def _replicated_sets(config: Mapping, methods: Iterable[str], promptsets: Iterable[str]) -> list[ImageSet]:
    """_sets over every training replicate of each method (erasure.plan.method_replicates; itself at N = 1)."""
    return _sets([m for method in methods for m in method_replicates(config, method)], promptsets)


def _replicated_scores(config: Mapping, cells: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(metric, method, prompt set) cells over every training replicate of each method."""
    return [(metric, m, promptset) for metric, method, promptset in cells for m in method_replicates(config, method)]


def _replicate_csvs(config, root, world, cells, *, first: int) -> list[str]:
    """Per-image score CSVs of replicates [first:] of each cell's method, for the methods with several replicates
    (a report item recomputes those cells over seeds: erasure.report.tables.add_replicates, curves, frontier)."""
    from erasure import paths

    return [str(paths.score_csv(root, world, metric, m, promptset)) for metric, method, promptset in cells
            if len(methods := method_replicates(config, method)) > 1 for m in methods[first:]]


def _with_replicates(inputs: dict, replicates: list[str]) -> dict:
    """`inputs`, plus `replicates` only where there are any: an item of single runs keeps today's inputs."""
    return {**inputs, "replicates": replicates} if replicates else inputs


def _table_inputs(spec, config, root, world):
    from erasure import paths

    cells = table_cells(spec, reference_method(config))
    return _with_replicates(
        {"summaries": [str(paths.score_summary(root, world, metric, method, promptset))
                       for method, promptset, metric in cells]},
        _replicate_csvs(config, root, world, [(metric, m, p) for m, p, metric in cells], first=0))


def _curve_inputs(spec, config, root, world):
    from erasure import paths

    return _with_replicates(
        {"summaries": [str(paths.score_summary(root, world, spec["metric"], m, spec["promptset"]))
                       for m in curve_methods(spec)],
         "complete": [str(paths.run_complete(root, world, run)) for run in curve_runs(spec)]},
        _replicate_csvs(config, root, world, [(spec["metric"], m, spec["promptset"]) for m in curve_methods(spec)],
                        first=0))


def _shown_inputs(spec, config, root, world, *, scores: bool):
    """A grid's or matrix's inputs: the sets' manifests and prompt table (a matrix: per-image scores first)."""
    from erasure import paths

    inputs: dict = {}
    if scores:
        inputs["scores"] = [str(paths.score_csv(root, world, spec["metric"], m, spec["promptset"]))
                            for m in spec["methods"]]
    inputs["manifests"] = [str(paths.manifest(root, world, m, spec["promptset"])) for m in spec["methods"]]
    inputs["prompts"] = str(paths.prompt_table(root, world, spec["promptset"]))
    return inputs


def _frontier_inputs(spec, config, root, world):
    """Per-image score CSVs (in `frontier_cells` order) and the retention sets' prompt tables (`by` column)."""
    from erasure import paths

    return _with_replicates(  # replicates r >= 1 of a run with several training seeds (0 is among `scores`)
        {"scores": [str(paths.score_csv(root, world, metric, method, promptset))
                    for metric, method, promptset in frontier_cells(spec)],
         "prompts": [str(paths.prompt_table(root, world, row["retention"])) for row in spec["rows"]]},
        _replicate_csvs(config, root, world, frontier_cells(spec), first=1))


def _files(*parts: tuple[str, str]):
    """outputs(name, root, world) of a kind: ("table" | "figure", suffix and extension) pairs."""
    def outputs(name, root, world):
        from erasure import paths

        return [str(paths.table(root, world, name + suffix, ext)) if where == "table"
                else str(paths.figure(root, world, name + suffix)) for where, suffix, ext in parts]
    return outputs


def curve_runs(spec: Mapping) -> list[str]:
    return list(dict.fromkeys(series["run"] for series in spec["series"]))


REPORT_KINDS = {kind.key: kind for kind in (
    ReportKind("tables", "table", "report_table", "report_table.py",
               image_sets=lambda spec, config: _replicated_sets(config, spec["methods"],
                                                                [c["promptset"] for c in spec["columns"]]),
               scores=lambda spec, config: _replicated_scores(config, [
                   (metric, method, promptset) for method, promptset, metric in table_cells(spec, reference_method(config))]),
               inputs=_table_inputs,
               outputs=_files(("table", "", "csv"), ("table", "", "md"), ("table", "", "tex"))),
    ReportKind("curves", "curve", "report_curves", "report_curves.py",
               image_sets=lambda spec, config: _replicated_sets(config, curve_methods(spec), [spec["promptset"]]),
               scores=lambda spec, config: _replicated_scores(config, [(spec["metric"], m, spec["promptset"])
                                                                       for m in curve_methods(spec)]),
               inputs=_curve_inputs, outputs=_files(("figure", "", "png"))),
    ReportKind("grids", "grid", "report_grid", "report_grid.py",
               image_sets=lambda spec, config: _sets(spec["methods"], [spec["promptset"]]),
               scores=lambda spec, config: [],
               inputs=lambda spec, config, root, world: _shown_inputs(spec, config, root, world, scores=False),
               outputs=_files(("figure", "", "png"))),
    ReportKind("matrices", "matrix", "report_matrix", "report_matrix.py",
               image_sets=lambda spec, config: _sets(spec["methods"], [spec["promptset"]]),
               scores=lambda spec, config: [(spec["metric"], m, spec["promptset"]) for m in spec["methods"]],
               inputs=lambda spec, config, root, world: _shown_inputs(spec, config, root, world, scores=True),
               outputs=_files(("figure", "", "png"), ("figure", "-images", "png"), ("table", "", "csv"))),
    ReportKind("frontiers", "frontier", "report_frontier", "report_frontier.py",
               image_sets=lambda spec, config: [ImageSet(r, p) for _, m, p in frontier_cells(spec)
                                                for r in method_replicates(config, m)],
               scores=lambda spec, config: _replicated_scores(config, frontier_cells(spec)),
               inputs=_frontier_inputs, outputs=_files(("figure", "", "png"), ("table", "", "csv"))),
)}


def report_items(report: Mapping) -> dict[str, tuple[str, Mapping]]:
    """{artifact name: (config key, spec)}, checking that names do not collide (they share figures/, tables/
    and provenance/; a matrix also writes figures/{name}-images.png)."""
    items: dict[str, tuple[str, Mapping]] = {}
    for key in REPORT_KINDS:
        for name, spec in (report.get(key) or {}).items():
            if name in items:
                raise ErasureError(f"report.{key}.{name}: name already used by report.{items[name][0]}; "
                                   "report names share figures/ and provenance/, rename one")
            items[name] = (key, spec)
    for name in report.get("matrices") or {}:
        if f"{name}-images" in items:
            raise ErasureError(f"report: {name}-images clashes with matrix {name!r}'s image figure; rename it")
    return items


def report_entries(config: Mapping) -> list[tuple[ReportKind, str, Mapping]]:
    """(kind, name, spec) of every item of the config's report section."""
    return [(REPORT_KINDS[key], name, spec) for name, (key, spec) in report_items(config["report"]).items()]


def item_inputs(config: Mapping, root, world: str, name: str) -> dict[str, list[str] | str]:
    """The named inputs of the rule that draws report item `name`."""
    key, spec = report_items(config["report"])[name]
    return REPORT_KINDS[key].inputs(spec, config, root, world)


def item_outputs(config: Mapping, root, world: str, name: str) -> list[str]:
    key, _ = report_items(config["report"])[name]
    return REPORT_KINDS[key].outputs(name, root, world)


def report_targets(config: Mapping, root, world: str) -> list[str]:
    """Every table, figure and provenance file (its record and PROV export) the config's report section asks for."""
    from erasure import paths

    targets = []
    for name in report_items(config["report"]):
        targets += item_outputs(config, root, world, name)
        targets += [str(paths.provenance(root, world, name)), str(paths.provenance_prov(root, world, name))]
    return targets
