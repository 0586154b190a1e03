# Scoring: one job per (metric, method, prompt set). Rules are split by scorer family only so that each
# names its own conda env (NudeNet's onnxruntime and the CLIP/FID/LPIPS stack are installed separately).

SCORER_FAMILIES = {  # rule name -> (metrics, conda env)
    "score_nudenet": (["nude", "nude-mace"], "score-nudenet"),
    "score_clip": (["harm", "clip", "fid", "lpips"], "score-clip"),
    "score_toy": (["target", "alignment", "fid-toy", "paired-distance"], "toy"),
}
TOY_BACKBONE = {"target": "oracle", "alignment": "oracle", "fid-toy": "oracle", "paired-distance": "oracle"}


def score_inputs(wildcards):
    inputs = {
        "manifest": pattern(paths.manifest, wildcards.method, wildcards.promptset).format(world=wildcards.world),
        "prompts": pattern(paths.prompt_table, wildcards.promptset).format(world=wildcards.world),
        "base": base_model_input(),
    }
    if wildcards.metric in plan.PAIRED_METRICS:
        reference = plan.reference_method(config)
        inputs["reference"] = pattern(paths.manifest, reference, wildcards.promptset).format(world=wildcards.world)
    elif wildcards.metric == "fid-toy":
        inputs["reference"] = str(paths.reference_dir(RESULTS, wildcards.world))
    elif wildcards.metric == "harm":
        inputs["q16"] = q16_prompts_path(wildcards.world)
    return inputs


def score_settings(wildcards):
    """metrics.<metric>, overridden by the prompt set's metric_settings.<metric>; toy backbones resolved to
    the base model's directories; the Q16 embeddings from the q16_prompts rule."""
    settings = dict(config["metrics"].get(wildcards.metric, {}))
    settings.update(config["prompt_sets"][wildcards.promptset].get("metric_settings", {}).get(wildcards.metric, {}))
    settings.pop("reference", None)  # a path, passed as params.reference
    settings.pop("reference_images", None)  # consumed by the toy_reference rule
    settings.pop("q16_source", None)  # consumed by the q16_prompts rule
    if config["world"] == "toy":
        settings.setdefault("backbone", toy_backbone_dir(TOY_BACKBONE.get(wildcards.metric, "clip")))
    if wildcards.metric == "harm":
        settings["q16_prompts"] = q16_prompts_path(wildcards.world)
    return settings


def q16_prompts_path(world):
    return str(Path(RESULTS, world, "resources", "q16_prompts.safetensors"))


def toy_backbone_dir(component):
    from erasure.models import toy_component_dir

    return toy_component_dir(config["base_model"], component, RESULTS)


def score_reference(wildcards, input):
    """FID's reference folder (config for real images; the toy_reference rule's output for toy)."""
    if "reference" in input.keys():
        return input.reference
    return config["metrics"].get(wildcards.metric, {}).get("reference")


for _rule_name, (_metrics, _env) in SCORER_FAMILIES.items():

    rule:
        name:
            _rule_name
        input:
            unpack(score_inputs),
        output:
            csv=pattern(paths.score_csv, "{metric}", "{method}", "{promptset}"),
            summary=pattern(paths.score_summary, "{metric}", "{method}", "{promptset}"),
        wildcard_constraints:
            metric="|".join(_metrics),
        params:
            metric=lambda wc: wc.metric,
            settings=score_settings,
            reference=score_reference,
        log:
            log_path("score", "{metric}", "{method}", "{promptset}"),
        benchmark:
            benchmark_path("score", "{metric}", "{method}", "{promptset}")
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            f"../envs/{_env}.yaml"
        script:
            "../workflow_scripts/score.py"


def score_targets():
    return [
        str(paths.score_summary(RESULTS, WORLD, metric, method, promptset))
        for metric, method, promptset in SCORES
    ]


rule q16_prompts:
    """Q16's two prompt embeddings: the upstream pickle, sha256-checked, converted once to safetensors
    (nothing unpickles at scoring time)."""
    output:
        q16_prompts_path("{world}"),
    params:
        source=config["metrics"].get("harm", {}).get("q16_source", ""),
    log:
        log_path("q16_prompts"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/score-clip.yaml"
    script:
        "../workflow_scripts/q16_prompts.py"
