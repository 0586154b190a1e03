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
    return inputs


def score_settings(wildcards):
    """The metric's config settings, with toy backbones resolved to the base model's directories."""
    settings = dict(config["metrics"].get(wildcards.metric, {}))
    if config["world"] == "toy":
        settings.setdefault("backbone", toy_backbone_dir(TOY_BACKBONE.get(wildcards.metric, "clip")))
    return settings


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
