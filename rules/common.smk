# Shared by all rule files. Where results go, what the config asks for (erasure.plan), job resources and the
# base model input. Each stage's input / params functions are in its own `{stage}_common.smk`, which the
# Snakefile includes after this one (kept out of the rule files, so those read as the DAG).

from erasure import preflight, external_inputs, worlds
from erasure.cost import model as cost_model, table as cost_table
from erasure.metrics import catalog

import os

RESULTS = Path(config["results"])
WORLD = config["world"]
WORLD_KIND = worlds.get_world(WORLD)  # its family (erasure.worlds): backbones, reference sets, job resources
STANDINS = bool(config.get("standins"))  # tiny stand-in models: one thread per job, so jobs run side by side
BUILT = external_inputs.built_roots(config)  # folders the DAG builds that config paths may point into (erasure.external_inputs)

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
        shape = plan.image_set_shape(config, wildcards.promptset)
        if COST is None:
            return job_resources("generate").minutes(shape.shard_size)
        n = shape.images_in_shard(int(getattr(wildcards, "shard", 0) or 0))
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
        from erasure.plan import attacks as attack_plan

        size = attack_plan.shard_size(config)
        if COST is None:
            return job_resources("attack").runtime
        n = min(size, int(config["prompt_sets"][wildcards.promptset]["n_prompts"]) - int(wildcards.shard) * size)
        return cost_model.runtime_minutes(cost_model.attack_seconds(config, COST, wildcards.attack, n))

    def caption_stats(wildcards):
        if COST is None:
            return job_resources("edit").runtime
        return cost_model.runtime_minutes(cost_model.caption_stats_seconds(config, COST, wildcards.promptset))

    return {"generate": generate, "erase": erase, "edit": edit, "attack": attack, "caption_stats": caption_stats}[kind]


def erase_constraint(wildcards):
    """The SLURM --constraint of a training job (erasure.cost.model.erase_constraint), None without a GPU or
    outside the worlds the throughput table models."""
    if COST is None or not config["cluster"]["gpus"]:
        return None
    return cost_model.erase_constraint(config, COST, wildcards.run)


def job_threads(kind):
    """The world's threads for `kind`; one with stand-in models, so that their jobs run side by side."""
    return 1 if STANDINS else job_resources(kind).threads


def gpu_resources():
    """One GPU for training and generation jobs, only where the config says the cluster has them."""
    return 1 if config["cluster"]["gpus"] else 0


def edit_gpu_resources(wildcards):
    """One GPU for the edit job of a closed-form method whose spec says its edit does GPU work (MethodSpec.edit_gpu:
    MACE's image generation, Grounded-SAM and LoRA training), where the cluster has them; 0 for a closed-form
    solve (UCE, RECE) and wherever cluster.gpus is false (the toy world's configs). The cost model reads the same
    field (erasure.cost.model.edit_gpu)."""
    return int(cost_model.edit_gpu(config, wildcards.run))


def edit_device(wildcards):
    """The device an edit job runs on: the config's (auto: the GPU the job got) where it asks a GPU or no job of
    the config does (a workstation: whatever the machine has); "cpu" for a CPU edit on a GPU cluster, which was
    given none (`device: cuda` would stop it)."""
    if edit_gpu_resources(wildcards) or not config["cluster"]["gpus"]:
        return config["device"]
    return "cpu"


def job_partition(gpu):
    """A per-job slurm_partition for a rule whose GPU request depends on the job (`gpu` a function of its
    wildcards): the GPU jobs' ($SLURM_PARTITION, as default-resources gives it) where it asks one, else
    `cpu_partition`'s."""
    def partition(wildcards):
        return os.environ.get("SLURM_PARTITION", "") if gpu(wildcards) else cpu_partition(wildcards)

    return partition


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
    """The base model as a DAG input, so that a new base reruns everything downstream (erasure.external_inputs): what
    its world pins it by (erasure.worlds: the output of the rule that trains it, a shipped base's checksum list,
    the files `from_pretrained` reads for a local directory or a cached hub snapshot, with its refs file: a new
    revision is a new set of inputs). A hub model not cached here adds nothing: the job that loads it stops
    with one line saying what to provide."""
    return [str(f) for f in external_inputs.base_model_files(config["base_model"], RESULTS, BUILT)]


def run_config(name):
    """The `runs` entry of trained run `name`, a configured run or a replicate `{run}.r{r}` of one."""
    return plan.run_config(config, name)


def run_backbone_files(wildcards):
    """The files of the pretrained models beyond the base that run `wildcards.run` loads (its settings'
    `backbones()`: MACE's Grounded-SAM under `masks: grounded-sam`, erasure.worlds.grounded_sam): a local
    folder's, or the cached snapshot's at the pin, or the stand-in folder the DAG builds (BUILT). Inputs of
    its job, so a new backbone reruns the run; a backbone not on this machine adds nothing (preflight and
    the job say what to provide)."""
    from erasure.methods.settings import resolve_run

    _, settings = resolve_run(wildcards.run, run_config(wildcards.run))
    return sorted({str(f) for backbone in settings.backbones() for f in backbone.files(settings, BUILT)})


def run_image_sets(wildcards):
    """{prompt set: manifest} of the image sets run `wildcards.run` trains on: the fields its settings class
    lists in IMAGE_SETS (SalUn: forget_images, retain_images), drawn by its settings' `image_method` (the
    base model; config validation checks they are prompt sets); {} for every other method. The erase rule's
    inputs, so a redrawn set reruns the run."""
    from erasure.methods.settings import resolve_run

    _, settings = resolve_run(wildcards.run, run_config(wildcards.run))
    names = [getattr(settings, field) for field in getattr(type(settings), "IMAGE_SETS", ())]
    return {name: str(paths.manifest(RESULTS, wildcards.world, settings.image_method, name)) for name in names}


def run_caption_stats(wildcards):
    """{caption prompt set: statistics file} run `wildcards.run` reads (MACE's prior-preservation cache, settings
    `prior`: erasure.plan.run_caption_sets), made once by rule caption_stats; {} for every other method. The edit
    rule's inputs, so a rebuilt cache (new captions, new base) reruns the run."""
    return {name: str(paths.caption_stats(RESULTS, wildcards.world, name))
            for name in plan.run_caption_sets(config, wildcards.run)}


