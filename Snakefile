"""Concept erasure in text-to-image diffusion models: SDD and its baselines.

    snakemake --cores all                                   # the toy world (config/config.yaml)
    snakemake --cores all --configfile config/smoke.yaml    # the CI smoke run
    snakemake --profile slurm all --configfile config/paper.yaml   # Stable Diffusion v1.4 on SLURM
"""

import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)  # the library, also inside per-rule conda envs

from erasure import paths, plan, slurm_start, slurm_states
from erasure.config import validate_config
from erasure.errors import ErasureError

if workflow.is_main_process:  # the process that polls SLURM (jobs never do)
    slurm_states.install()  # no-op unless the installed SLURM plugin is a known-broken version


# The toy world is the default only when no --configfile is given: a given config replaces it instead of
# being deep-merged into it (which would leak toy runs into the paper's DAG).
if not workflow.configfiles:

    configfile: str(Path(workflow.basedir) / "config" / "config.yaml")


CONFIG_SOURCE = ", ".join(str(f) for f in workflow.configfiles) or "config"  # errors name it

try:
    config.update(validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml", source=CONFIG_SOURCE))
except ErasureError as error:
    sys.exit(f"error: {error}")


wildcard_constraints:
    **paths.WILDCARDS,  # each path component's name pattern, written once (erasure/paths.py)


include: "rules/common.smk"
include: "rules/preflight_common.smk"  # each stage's input / params functions (they use common.smk's names)
include: "rules/generate_common.smk"
include: "rules/score_common.smk"
include: "rules/report_common.smk"
include: "rules/preflight.smk"
include: "rules/world.smk"
include: "rules/erase.smk"
include: "rules/edit.smk"
include: "rules/generate.smk"
include: "rules/score.smk"
include: "rules/summarize.smk"
include: "rules/report.smk"
include: "rules/attack.smk"


onstart:
    # never a dry run: no SLURM job of an earlier run still builds a planned output; with --profile slurm also:
    # the partitions exist, stale rule logs removed (erasure/slurm_start.py; docs/cluster.md)
    try:
        slurm_start.on_start(workflow)
    except ErasureError as error:
        sys.exit(f"error: {error}")


onsuccess:
    # where the run's tables and figures are (only files that exist), and the HTML report's command
    from erasure.report.targets import run_summary

    for _line in run_summary(config, RESULTS, WORLD):
        print(_line)


rule all:
    """The report, and every image set and score the plan asks for (generation.every_method's sets included,
    shown or not), and Table 3: erasure.plan.stage_targets, whose earlier stages are `images`, `scores`, `attacks`."""
    default_target: True
    input:
        report_targets(),


# Every rule that asks no GPU goes to the CPU partition ($SLURM_CPU_PARTITION; unset: the cluster's default where
# the config has GPU jobs, never $SLURM_PARTITION, the GPU jobs'; rules/common.smk: cpu_partition).
# A rule's resources start from default-resources (the profile's slurm_partition among them); a profile's
# set-resources for the rule still wins.
_SET_RESOURCES = workflow.resource_settings.overwrite_resources or {}
# A rule whose GPU request is per job (edit: MethodSpec.edit_gpu) gets each job's partition from its request.
for _rule in workflow.rules:
    _gpu = _rule.resources.get("gpu")
    if "slurm_partition" in _SET_RESOURCES.get(_rule.name, {}):
        continue
    if _gpu.is_evaluable():  # a function of the job's wildcards
        _rule.resources["slurm_partition"] = job_partition(lambda wildcards, _gpu=_gpu: _gpu.evaluate(wildcards).value)
    elif not _gpu.raw:
        _rule.resources["slurm_partition"] = cpu_partition
