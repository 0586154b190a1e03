# Names shared by every rule file: where results go and what the config asks for (erasure.plan).

RESULTS = Path(config["results"])
WORLD = config["world"]

IMAGE_SETS = plan.required_image_sets(config)
SCORES = plan.required_scores(config)
RUNS = plan.required_runs(config)


wildcard_constraints:
    world=r"[a-z0-9-]+",
    run=r"[a-z0-9][a-z0-9+-]*",
    method=r"[a-z0-9][a-z0-9+-]*(\.student)?(@\d+)?",
    promptset=r"[a-z0-9][a-z0-9-]*",
    metric=r"[a-z0-9][a-z0-9-]*",
    shard=r"\d{4}",


def pattern(path_function, *args):
    """A Snakemake file pattern from the one function in erasure.paths that defines that path."""
    return str(path_function(RESULTS, "{world}", *args))


def log_path(rule_name, *wildcards):
    """Logs mirror the results layout under results/{world}/logs/{rule}/..."""
    return str(Path(RESULTS, "{world}", "logs", rule_name, *wildcards)) + ".log"


def benchmark_path(rule_name, *wildcards):
    return str(Path(RESULTS, "{world}", "benchmarks", rule_name, *wildcards)) + ".tsv"


def gpu_resources():
    """One GPU for training and generation jobs, only where the config says the cluster has them."""
    return 1 if config["cluster"]["gpus"] else 0


def base_model_input():
    """The base model as a DAG input, so that a new base reruns everything downstream: the toy_base
    rule's output for toy:trained, the checksum list of the shipped asset for toy:shipped. Hub models are
    verified when loaded instead."""
    if config["base_model"] == "toy:trained":
        return [str(paths.toy_base_dir(RESULTS, "toy"))]
    if config["base_model"] == "toy:shipped":
        return [str(Path(workflow.basedir) / "erasure" / "worlds" / "toy" / "assets" / "base" / "SHA256SUMS")]
    return []
