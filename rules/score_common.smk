# The score stage's inputs, params and resources (rules/score.smk); included by the Snakefile after
# rules/common.smk.

import re
from types import SimpleNamespace as Namespace


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
        "sources": [str(f) for f in external_inputs.metric_files(wildcards.metric, settings, config["world"],
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
    identity = {"folder": str(external_inputs.dag_path(reference)), "inception": settings.get("inception"),
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
    if built := external_inputs.built_root(value, BUILT):
        return {"built": str(built)}
    local = external_inputs.local_file(value)
    return {"source": str(local)} if local else {}


def q16_prompts_path(world):
    return str(paths.q16_prompts(RESULTS, world))


def base_backbone_dir(key):
    """Backbone `key` ("oracle", "clip") inside the base model (erasure.worlds: backbone_dir), relative to the
    working directory where it lies in it (erasure.external_inputs.dag_path: params hold no machine path)."""
    return str(external_inputs.dag_path(WORLD_KIND.backbone_dir(config["base_model"], key, RESULTS)))


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
