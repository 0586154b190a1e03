# The preflight stage's inputs (rules/preflight.smk) and the gate every weight-loading job waits for;
# included by rules/common.smk.

from erasure.prompts.paths import prompt_source


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
    for promptset in sorted({s.promptset for s in IMAGE_SETS} | set(plan.required_caption_sets(config))):
        if source_file_kind(config["prompt_sets"][promptset], promptset)[0] == "fetched":
            inputs.append(str(prompt_source(RESULTS, wildcards.world, promptset)))
    if any(catalog.needs_q16(metric) for metric, _, _ in SCORES):
        inputs.append(q16_prompts_path(wildcards.world))
    return inputs
