# The attack stage's inputs and params (rules/attack.smk), kept out of the rule file as rules/common.smk does.

from types import SimpleNamespace as Namespace

from erasure.plan import attacks as attack_plan
from erasure.report.paper import published_attack_values

try:
    ATTACK_JOBS = attack_plan.jobs(config)
except ErasureError as error:
    sys.exit(f"error: {CONFIG_SOURCE}: {error}")
ATTACKS = attack_plan.section(config)
ATTACK_NAMES = paths.one_of(sorted(ATTACKS.get("attacks", {})))
# attacks that read a method's whole pipeline (one job per method) / the text encoder alone (one per encoder)
METHOD_ATTACK_NAMES = paths.one_of(a for a in sorted(ATTACKS.get("attacks", {})) if not attack_plan.text_only(config, a))
TEXT_ATTACK_NAMES = paths.one_of(a for a in sorted(ATTACKS.get("attacks", {})) if attack_plan.text_only(config, a))
ATTACK_RESOURCES = ATTACKS.get("resources", {})
ATTACK_TABLE = attack_plan.table_name(config)


def attack_shard_files(wildcards):
    """The shards of a (method, attack, prompt set): the method's own, or for a text-only attack (Ring-A-Bell)
    those of the method's text encoder, shared with every method that has it (erasure.plan.attacks)."""
    attacked = attack_plan.attacked_name(wildcards.promptset, wildcards.attack)
    shards = range(attack_plan.n_attack_shards(config, wildcards.promptset))
    if attack_plan.text_only(config, wildcards.attack):
        encoder = attack_plan.text_encoder(config, wildcards.method)
        return [str(paths.text_attack_shard(RESULTS, wildcards.world, encoder, attacked, s)) for s in shards]
    return [str(paths.attack_shard(RESULTS, wildcards.world, wildcards.method, attacked, s)) for s in shards]


def attack_text_encoder_run_input(wildcards):
    """The run whose trained text encoder a text-only attack reads (AdvUnlearn's: `{encoder}` is its model id),
    by its complete.json (the sha256 of its checkpoints): a retrained encoder is attacked again. None for the
    base's encoder ("base")."""
    encoder = MethodId.parse(wildcards.encoder)
    return [str(paths.run_complete(RESULTS, wildcards.world, encoder.run))] if encoder.finetuned else []


def attack_target_run_input(wildcards):
    """The white-box target method's run, when the target is a fine-tuned model."""
    target = MethodId.parse(attack_plan.target_method(config))
    return [str(paths.run_complete(RESULTS, wildcards.world, target.run))] if target.finetuned else []


def attack_target_spec(wildcards):
    target = attack_plan.target_method(config)
    return None if MethodId.parse(target).finetuned else config["inference_methods"][target]


def attack_metric_settings(wildcards):
    """The ASR metric's settings for the prompt set (the early-stop detector is the same rule)."""
    return metric_settings(Namespace(metric=attack_plan.detector_metric(config), promptset=wildcards.promptset))


def attack_cells(world):
    return [{"method": m, "attack": a, "promptset": p,
             "pre": str(paths.score_csv(RESULTS, world, attack_plan.detector_metric(config), m, p)),
             "post": str(paths.score_csv(RESULTS, world, attack_plan.detector_metric(config), m,
                                         attack_plan.attacked_name(p, a))),
             "adversarial": str(paths.adversarial_prompts(RESULTS, world, m, attack_plan.attacked_name(p, a)))}
            for m, a, p in ATTACK_JOBS]


def attack_grid_rows(world):
    """Per attacked prompt set's first attack and prompt set: each method's plain row, then its attacked rows."""
    rows = []
    for method in ATTACKS.get("methods", []):
        for promptset in ATTACKS.get("promptsets", [])[:1]:
            rows.append({"label": f"{method}", "manifest": str(paths.manifest(RESULTS, world, method, promptset)),
                         "prompts": str(paths.prompt_table(RESULTS, world, promptset))})
            for attack in ATTACKS.get("attacks", {}):
                attacked = attack_plan.attacked_name(promptset, attack)
                rows.append({"label": f"{method} ~{attack}",
                             "manifest": str(paths.manifest(RESULTS, world, method, attacked)),
                             "prompts": str(paths.attacked_prompt_table(RESULTS, world, method, attacked))})
    return rows


def attack_targets():
    """`scores`' files, Table 3 and its grid (erasure.plan.stage_targets)."""
    return STAGE_TARGETS["attacks"]
