# Shared by all rule files. Where results go, what the config asks for (erasure.plan), and the
# input / params functions of the rules (kept here, out of the rule files, so those read as the DAG).

from erasure import preflight, sources, worlds
from erasure.cost import model as cost_model, table as cost_table
from erasure.metrics import catalog
from erasure.generate.settings import resolve_sampling
from erasure.paths import MethodId
from erasure.prompts.kinds import source_file_kind
from erasure.prompts.paths import prompt_source
from erasure.prompts.kinds import table_spec

import os
import re
from types import SimpleNamespace as Namespace

RESULTS = Path(config["results"])
WORLD = config["world"]
WORLD_KIND = worlds.get_world(WORLD)  # its family (erasure.worlds): backbones, reference sets, job resources
STANDINS = bool(config.get("standins"))  # tiny stand-in models: one thread per job, so jobs run side by side
BUILT = sources.built_roots(config)  # folders the DAG builds that config paths may point into (erasure.sources)

try:  # a report or generation entry naming something the config does not declare: one line, no traceback
    IMAGE_SETS = plan.required_image_sets(config)
    SCORES = plan.required_scores(config)
    RUNS = plan.required_runs(config)
    STAGE_TARGETS = plan.stage_targets(config, RESULTS, WORLD)  # `images`, `scores`, `attacks`, `all`
    # the throughput table (erasure/cost/throughput.csv) for a world it models: every GPU rule's runtime request
    COST = (cost_table.load(None, config["cluster"].get("gpu_model") or "H100") if cost_model.costed(config)
            else None)
    if workflow.is_main_process:  # local prompt files and Q16 copy, before the first job (jobs skip it)
        preflight.check_while_planning(config, built=BUILT)
except ErasureError as error:
    sys.exit(f"error: {CONFIG_SOURCE}: {error}")


def pattern(path_function, *args):
    """A Snakemake file pattern from the one function in erasure.paths that defines that path."""
    return str(path_function(RESULTS, "{world}", *args))


def log_path(rule_name, *wildcards):
    """Logs mirror the results layout under results/{world}/logs/{rule}/..."""
    return str(Path(RESULTS, "{world}", "logs", rule_name, *wildcards)) + ".log"


def benchmark_path(rule_name, *wildcards):
    return str(Path(RESULTS, "{world}", "benchmarks", rule_name, *wildcards)) + ".tsv"


def job_resources(kind):
    """The world's request for one job of `kind` (erase, generate, score): erasure.worlds.JobResources;
    a profile's set-threads / set-resources overrides it per rule."""
    return WORLD_KIND.resources[kind]


def cost_runtime(kind):
    """A rule's runtime request (minutes, a function of the job's wildcards): the cost model's seconds of that
    job with its margin (erasure.cost.model.runtime_minutes) in a world the throughput table models, else the
    world's request (erasure.worlds.JobResources; a profile's set-resources overrides either)."""
    def generate(wildcards):
        size = plan.shard_size(config, wildcards.promptset)
        if COST is None:
            return job_resources("generate").minutes(size)
        shard = int(getattr(wildcards, "shard", 0) or 0)
        n = min(size, plan.n_images(config, wildcards.promptset) - shard * size)
        return cost_model.runtime_minutes(
            cost_model.generate_seconds(config, COST, wildcards.method, wildcards.promptset, n))

    def erase(wildcards):
        if COST is None:
            return job_resources("erase").minutes(run_config(wildcards.run)["iterations"])  # a replicate too
        return cost_model.runtime_minutes(cost_model.erase_seconds(config, COST, wildcards.run))

    def edit(wildcards):
        if COST is None:
            return job_resources("edit").runtime
        return cost_model.runtime_minutes(cost_model.edit_seconds(config, COST, wildcards.run))

    def attack(wildcards):
        from erasure.attacks import plan as attack_plan

        size = attack_plan.shard_size(config)
        if COST is None:
            return job_resources("attack").runtime
        n = min(size, int(config["prompt_sets"][wildcards.promptset]["n_prompts"]) - int(wildcards.shard) * size)
        return cost_model.runtime_minutes(cost_model.attack_seconds(config, COST, wildcards.attack, n))

    return {"generate": generate, "erase": erase, "edit": edit, "attack": attack}[kind]


def job_threads(kind):
    """The world's threads for `kind`; one with stand-in models, so that their jobs run side by side."""
    return 1 if STANDINS else job_resources(kind).threads


def gpu_resources():
    """One GPU for training and generation jobs, only where the config says the cluster has them."""
    return 1 if config["cluster"]["gpus"] else 0


def score_gpu_resources(metrics):
    """One GPU for a score job of SD's torch-backbone `metrics` where the cluster has GPUs (cluster.score_gpus,
    default cluster.gpus; erasure.cost.model.score_gpu, which the cost model reads too). On CPU, CLIP ViT-L/14
    and Inception take 1-2 s an image per thread (bench/results/cpu.json): hours per COCO-30k set."""
    return int(any(cost_model.score_gpu(config, metric) for metric in metrics))


def cpu_partition(wildcards):
    """The SLURM partition of a job that asks no GPU: $SLURM_CPU_PARTITION; unset, the cluster's default ("")
    where the config has GPU jobs (cluster.gpus: $SLURM_PARTITION then names the GPU jobs' partition, and CPU
    work must not queue for GPU nodes), else $SLURM_PARTITION (no job asks a GPU: it is every job's partition,
    as before). Set on every rule without a GPU by the Snakefile (its last lines); set-resources overrides it."""
    chosen = os.environ.get("SLURM_CPU_PARTITION", "")
    if chosen:
        return chosen
    return "" if config["cluster"]["gpus"] else os.environ.get("SLURM_PARTITION", "")


def base_model_input():
    """The base model as a DAG input, so that a new base reruns everything downstream (erasure.sources): what
    its world pins it by (erasure.worlds: the output of the rule that trains it, a shipped base's checksum list,
    the files `from_pretrained` reads for a local directory or a cached hub snapshot, with its refs file: a new
    revision is a new set of inputs). A hub model not cached here adds nothing: the job that loads it stops
    with one line saying what to provide."""
    return [str(f) for f in sources.base_model_files(config["base_model"], RESULTS, BUILT)]


def run_config(name):
    """The `runs` entry of trained run `name`, a configured run or a replicate `{run}.r{r}` of one."""
    return plan.run_config(config, name)


def run_image_sets(wildcards):
    """{prompt set: manifest} of the image sets run `wildcards.run` trains on: the fields its settings class
    lists in IMAGE_SETS (SalUn: forget_images, retain_images), drawn by its settings' `image_method` (the
    base model; config validation checks they are prompt sets); {} for every other method. The erase rule's
    inputs, so a redrawn set reruns the run."""
    from erasure.methods.settings import resolve_run

    _, settings = resolve_run(wildcards.run, run_config(wildcards.run))
    names = [getattr(settings, field) for field in getattr(type(settings), "IMAGE_SETS", ())]
    return {name: str(paths.manifest(RESULTS, wildcards.world, settings.image_method, name)) for name in names}


# --- preflight (rules/preflight.smk) -------------------------------------------------------------------

PREFLIGHT_CONFIGFILES = [str(f) for f in workflow.configfiles]


def standins_input():
    """The stand-in folder (CI / demos) when the config names one: built by the `standins` rule."""
    return [config["standins"]] if config.get("standins") else []


def preflight_gate_input(wildcards=None):
    """The preflight gate (rules/preflight.smk) as an input of every weight-loading job of a world that reads
    weights from outside the repository: they wait for it, but only its existence counts (`ancient`), so a gate
    rerun (an edited prompt file, a new Q16 copy) reruns the check, not every job behind it."""
    if not WORLD_KIND.preflight_gate:
        return []
    return ancient(str(Path(RESULTS, "{world}", "preflight.txt")))


def preflight_gate_sources(wildcards):
    """What the DAG provides before the check: fetched prompt files, Q16's converted prompts, stand-ins."""
    from erasure.prompts.kinds import source_file_kind

    inputs = standins_input()
    for promptset in sorted({s.promptset for s in IMAGE_SETS}):
        if source_file_kind(config["prompt_sets"][promptset], promptset)[0] == "fetched":
            inputs.append(str(prompt_source(RESULTS, wildcards.world, promptset)))
    if any(catalog.needs_q16(metric) for metric, _, _ in SCORES):
        inputs.append(q16_prompts_path(wildcards.world))
    return inputs


# --- generate ------------------------------------------------------------------------------------------


def promptset_spec(wildcards):
    return config["prompt_sets"][plan.base_promptset(wildcards.promptset)]  # `{set}~{attack}`: the set's spec


def promptset_sampling(wildcards):
    """generation.sampling with the prompt set's own `sampling` keys on top."""
    return resolve_sampling(config["generation"], promptset_spec(wildcards))


def prompt_table_spec(wildcards):
    """The keys of prompt_sets.<set> that the prompt table is made of (not its metrics, sampling, ...)."""
    return table_spec(promptset_spec(wildcards))


def fetch_prompts_input(wildcards):
    """A local copy named by prompt_sets.<set>.path: read by fetch_prompts, so editing it refreshes the copy."""
    local = sources.local_file(promptset_spec(wildcards).get("path"))
    return {"path": str(local)} if local else {}


def prompt_source_input(wildcards):
    """The upstream file: fetched into results/ for big sets, config/prompts/ for shipped ones, none for a set a
    world generates."""
    spec = promptset_spec(wildcards)
    kind, shipped = source_file_kind(spec, wildcards.promptset)
    if kind == "fetched":
        return {"source": str(prompt_source(RESULTS, wildcards.world, wildcards.promptset))}
    if kind == "shipped":
        return {"source": str(sources.dag_path(spec.get("path") or Path(workflow.basedir, "config", "prompts", shipped)))}
    return {}


def method_spec(wildcards):
    """inference_methods.<method>, or None for a fine-tuned `{run}@{step}` method."""
    if MethodId.parse(wildcards.method).finetuned:
        return None
    if wildcards.method not in config["inference_methods"]:
        raise ErasureError(f"unknown method {wildcards.method!r}: not in inference_methods and not run@step")
    return config["inference_methods"][wildcards.method]


def run_complete_input(wildcards):
    method = MethodId.parse(wildcards.method)
    return [str(paths.run_complete(RESULTS, wildcards.world, method.run))] if method.finetuned else []


def prompt_table_input(wildcards):
    """The prompt table an image set is drawn from: the prompt set's, or for an attacked set
    `{promptset}~{attack}` the (method's) attacked table that rules/attack.smk writes."""
    if plan.SEPARATOR in wildcards.promptset:
        return str(paths.attacked_prompt_table(RESULTS, wildcards.world, wildcards.method, wildcards.promptset))
    return pattern(paths.prompt_table, wildcards.promptset).format(world=wildcards.world)


GENERATE_INPUTS = dict(
    table=prompt_table_input,
    base=base_model_input(),
    run=run_complete_input,
    preflight=preflight_gate_input(),
)


def generate_params(shard, depth):
    """The generate shim's params (erasure.generate.generate_shard's arguments) for shard `shard` (the
    `{shard}` wildcard, or "0000" for a set of one shard); the results root is the output's `depth`-th parent
    (results/{world}/images/{method}/{promptset}/...)."""
    return dict(
        image_dir=pattern(paths.image_dir, "{method}", "{promptset}"),
        method="{method}",
        method_spec=method_spec,
        shard=shard,
        shard_size=lambda wildcards: plan.shard_size(config, wildcards.promptset),
        images_per_prompt=lambda wildcards: int(promptset_spec(wildcards).get("images_per_prompt", 1)),
        sampling=promptset_sampling,
        batch_size=config["generation"]["batch_size"],
        base_model=config["base_model"],
        results=lambda wildcards, output: str(Path(output[0]).parents[depth]),
        world="{world}",
        device=config["device"],
    )


def one_shard_promptsets():
    """A wildcard constraint: the prompt sets (and their attacked copies) whose images fit in one shard."""
    names = [name for name in config["prompt_sets"] if plan.n_shards(config, name) == 1]
    sets = one_of(names) if names else "(?!)"
    return rf"{sets}(?:~[a-z0-9][a-z0-9-]*)?"


def shard_manifests(wildcards):
    return [
        str(paths.shard_manifest(RESULTS, wildcards.world, wildcards.method, wildcards.promptset, shard))
        for shard in range(plan.n_shards(config, wildcards.promptset))
    ]


def image_targets():
    """Every image set the config asks for (IMAGE_SETS), as its manifest (erasure.plan.stage_targets)."""
    return STAGE_TARGETS["images"]


# --- score ---------------------------------------------------------------------------------------------


def score_inputs(wildcards):
    settings = metric_settings(wildcards)
    stats_key = fid_reference_key(wildcards.metric, settings)
    if stats_key:  # the folder is the fid_reference job's input; this job reads its statistics
        settings = {k: v for k, v in settings.items() if k != "reference"}
    inputs = {
        "manifest": pattern(paths.manifest, wildcards.method, wildcards.promptset).format(world=wildcards.world),
        "prompts": prompt_table_input(wildcards),
        # a world's own scorers' backbones (e.g. an oracle, a small CLIP) are parts of its base; SD's never read SD
        "base": base_model_input() if WORLD_KIND.scorers_read_base else [],
        "sources": [str(f) for f in sources.metric_files(wildcards.metric, settings, config["world"],
                                                         paths.listings(RESULTS, wildcards.world), BUILT)],
    }
    spec = catalog.get(wildcards.metric)
    if stats_key:
        inputs["reference"] = str(paths.fid_reference_stats(RESULTS, wildcards.world, stats_key))
    elif spec.reference == catalog.PAIRED:
        reference = plan.reference_method(config)
        inputs["reference"] = pattern(paths.manifest, reference, wildcards.promptset).format(world=wildcards.world)
    elif spec.reference_from_world:  # rendered by the world's own rule
        inputs["reference"] = str(paths.world_dir(RESULTS, wildcards.world) / WORLD_KIND.reference_sets[wildcards.metric])
    elif catalog.needs_q16(wildcards.metric):
        inputs["q16"] = q16_prompts_path(wildcards.world)
    return inputs


def fid_reference_key(metric, settings):
    """The name of a set-level metric's reference statistics computed by the fid_reference rule: for a
    reference given as an image folder (not an .npz; a folder the DAG builds, e.g. the stand-ins', too),
    `{folder name}-{digest of the folder path and the Inception settings}`; None otherwise (the job reads the
    reference as given)."""
    import hashlib
    import json

    spec = catalog.get(metric)
    reference = settings.get("reference")
    if spec.reference != catalog.SET or spec.reference_from_world or not reference or str(reference).endswith(".npz"):
        return None
    identity = {"folder": str(sources.dag_path(reference)), "inception": settings.get("inception"),
                "inception_sha256": settings.get("inception_sha256")}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    name = re.sub(r"[^a-z0-9]+", "-", Path(str(reference)).name.lower()).strip("-") or "reference"
    return f"{name}-{digest}"


def fid_reference_runtime(wildcards):
    """SLURM minutes of a fid_reference job: the cost model's, else the world's score request for COCO's size."""
    if COST is None:
        return job_resources("score").minutes(cost_model.COCO_VAL2014)
    return cost_model.runtime_minutes(cost_model.fid_reference_seconds(
        config, COST, fid_references()[wildcards.key], job_resources("score").threads))


def fid_references():
    """{key: metric settings} of every reference the plan's set-level scores compute statistics of."""
    found = {}
    for metric, method, promptset in SCORES:
        settings = metric_settings(Namespace(metric=metric, promptset=promptset))
        key = fid_reference_key(metric, settings)
        if key:
            found[key] = settings
    return found


def metric_settings(wildcards):
    """metrics.<metric>, overridden by the prompt set's metric_settings.<metric>, as the config gives them."""
    settings = dict(config["metrics"].get(wildcards.metric, {}))
    settings.update(promptset_spec(wildcards).get("metric_settings", {}).get(wildcards.metric, {}))
    return settings


def score_settings(wildcards):
    """metric_settings without the keys other rules consume; a backbone shipped in the base (the catalog's
    backbone key) resolved to its directory (erasure.worlds: backbone_dir); the Q16 embeddings from the
    q16_prompts rule."""
    settings = metric_settings(wildcards)
    settings.pop("reference", None)  # a path, passed as params.reference
    settings.pop("reference_images", None)  # consumed by the world's reference-set rule (rules/world.smk)
    settings.pop("q16_source", None)  # consumed by the q16_prompts rule
    if WORLD_KIND.scorers_read_base:
        settings.setdefault("backbone", base_backbone_dir(catalog.world_backbone(wildcards.metric)))
    if catalog.needs_q16(wildcards.metric):
        settings["q16_prompts"] = q16_prompts_path(wildcards.world)
    return settings


def q16_source_input(wildcards):
    """A local copy of Q16's prompts.p named by metrics.harm.q16_source (a URL is fetched instead); inside a
    folder the DAG builds (the stand-ins), that folder, and the path goes as a param."""
    value = config["metrics"].get("harm", {}).get("q16_source")
    if built := sources.built_root(value, BUILT):
        return {"built": str(built)}
    local = sources.local_file(value)
    return {"source": str(local)} if local else {}


def q16_prompts_path(world):
    return str(paths.q16_prompts(RESULTS, world))


def base_backbone_dir(key):
    """Backbone `key` ("oracle", "clip") inside the base model (erasure.worlds: backbone_dir), relative to the
    working directory where it lies in it (erasure.sources.dag_path: params hold no machine path)."""
    return str(sources.dag_path(WORLD_KIND.backbone_dir(config["base_model"], key, RESULTS)))


def score_reference(wildcards, input):
    """FID's reference folder (config for real images; the output of the world's reference-set rule)."""
    return metric_reference(wildcards, input.reference if "reference" in input.keys() else None)


def metric_reference(wildcards, built):
    """A metric's reference: the input a rule builds for it (`built`), else the config's path (or None)."""
    return built or metric_settings(wildcards).get("reference")


def score_runtime(wildcards):
    """SLURM minutes of a score job: the cost model's seconds with its margin (erasure.cost.model), else the
    world's request (erasure.worlds)."""
    if COST is None:
        return job_resources("score").minutes(plan.n_images(config, wildcards.promptset))
    seconds, _ = cost_model.score_seconds(config, COST, wildcards.metric, wildcards.method, wildcards.promptset,
                                          job_resources("score").threads)
    return cost_model.runtime_minutes(seconds)


# A world with `score_sets_together` scores each image set's metrics in one job (erasure.plan.set_score_jobs);
# the per-metric rules stay for every other score (a set with one metric, a score no set rule covers).
SCORE_SET_JOBS = (plan.set_score_jobs(SCORES, lambda metric: WORLD_KIND.score_env or catalog.get(metric).env)
                  if WORLD_KIND.score_sets_together else [])


def one_of(values):
    """A wildcard constraint matching exactly one of `values`."""
    alternatives = "|".join(re.escape(v) for v in values)
    return f"(?:{alternatives})"


def _per_metric(wildcards, metric):
    return Namespace(metric=metric, world=wildcards.world, method=wildcards.method, promptset=wildcards.promptset)


def score_set_inputs(wildcards, metrics):
    """score_inputs of each metric, merged: one manifest, prompt table and base; every metric's sources; each
    metric's reference as `reference_<metric>`."""
    inputs = {"sources": []}
    for metric in metrics:
        own = score_inputs(_per_metric(wildcards, metric))
        inputs["sources"] += own.pop("sources")
        if "reference" in own:
            inputs[score_set_reference_key(metric)] = own.pop("reference")
        inputs.update(own)
    inputs["sources"] = sorted(set(inputs["sources"]))
    return inputs


def score_set_reference_key(metric):
    return f"reference_{catalog.identifier(metric)}"


def score_set_outputs(metrics):
    """Each metric's per-image scores, named as workflow_scripts/score.py reads them (catalog.output_key); their
    summaries are `summarize_score`'s."""
    outputs = {}
    for metric in metrics:
        outputs[catalog.output_key(metric, "csv")] = pattern(paths.score_csv, metric, "{method}", "{promptset}")
    return outputs


def score_set_settings(wildcards, metrics):
    return {metric: score_settings(_per_metric(wildcards, metric)) for metric in metrics}


def score_set_references(wildcards, input, metrics):
    """{metric: its reference} (score_reference per metric), None for a metric without one."""
    return {metric: metric_reference(_per_metric(wildcards, metric), input.get(score_set_reference_key(metric)))
            for metric in metrics}


def score_targets():
    """`images`' files and every score the plan asks for (SCORES), as its summary (erasure.plan.stage_targets)."""
    return STAGE_TARGETS["scores"]


# --- report --------------------------------------------------------------------------------------------


def report_targets():
    """The default target `all`: `attacks`' files and every table, figure and provenance file of the report
    section (erasure.plan.stage_targets)."""
    return STAGE_TARGETS["report"]
