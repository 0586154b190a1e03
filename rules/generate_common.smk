# The generate stage's inputs and params (rules/generate.smk, and the prompts rule's); included by the
# Snakefile after rules/common.smk.

from erasure.generate.settings import resolve_sampling
from erasure.paths import MethodId
from erasure.prompts.kinds import source_file_kind, table_spec
from erasure.prompts.paths import prompt_source


def promptset_spec(wildcards):
    return config["prompt_sets"][plan.base_promptset(wildcards.promptset)]  # `{set}~{attack}`: the set's spec


def promptset_sampling(wildcards):
    """generation.sampling with the prompt set's own `sampling` keys on top."""
    return resolve_sampling(config["generation"], promptset_spec(wildcards))


def prompt_table_spec(wildcards):
    """The keys of prompt_sets.<set> that the prompt table is made of (not its metrics, sampling, ...)."""
    return table_spec(promptset_spec(wildcards))


def fetch_prompts_input(wildcards):
    """A local copy named by prompt_sets.<set>.path: read by fetch_prompts, so editing it refreshes the copy.
    One not on this machine is no input (a missing input would stop the plan with Snakemake's message, or
    hand the output that needs it to another of our rules), so the dry run still plans, and preflight and
    the job say in one line naming prompt_sets.<set>.path that it is missing (fetch_prompts_path)."""
    local = external_inputs.local_file(promptset_spec(wildcards).get("path"))
    return {"path": str(local)} if local and local.is_file() else {}


def fetch_prompts_path(wildcards):
    """The configured local copy (prompt_sets.<set>.path) as fetch_prompts reads it, present or not; None
    for a set fetched from its url."""
    local = external_inputs.local_file(promptset_spec(wildcards).get("path"))
    return str(local) if local else None


def prompt_source_input(wildcards):
    """The upstream file: fetched into results/ for big sets, config/prompts/ for shipped ones, none for a set a
    world generates."""
    spec = promptset_spec(wildcards)
    kind, shipped = source_file_kind(spec, wildcards.promptset)
    if kind == "fetched":
        return {"source": str(prompt_source(RESULTS, wildcards.world, wildcards.promptset))}
    if kind == "shipped":
        return {"source": str(external_inputs.dag_path(spec.get("path") or Path(workflow.basedir, "config", "prompts", shipped)))}
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
        images_per_prompt=lambda wildcards: plan.image_set_shape(config, wildcards.promptset).images_per_prompt,
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
    return rf"{paths.one_of(names)}(?:{paths.ATTACKED}{paths.NAME_PATTERN})?"


def shard_manifests(wildcards):
    return [
        str(paths.shard_manifest(RESULTS, wildcards.world, wildcards.method, wildcards.promptset, shard))
        for shard in range(plan.n_shards(config, wildcards.promptset))
    ]


def image_targets():
    """Every image set the config asks for (IMAGE_SETS), as its manifest (erasure.plan.stage_targets)."""
    return STAGE_TARGETS["images"]
