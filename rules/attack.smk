# Attack: adversarial prompts against each erased model (config `attacks:`; none, nothing planned). One job
# per (method, attack, prompt set, shard of prompts), resumable per prompt; the attacked prompt table
# `{promptset}~{attack}` is then drawn by the normal generate rules (same prompt_ids and seeds) and scored
# with the ASR metric; Table 3 and the attacked-image grid come last.

include: "attack_common.smk"


localrules:
    attack_merge,  # a pandas concat


rule attacks:
    """Target: stop after the attack stage: every job of `all` but the report's, with Table 3, its per-prompt
    success CSV and the attacked-image grid (erasure.plan.stage_targets)."""
    input:
        attack_targets(),


rule attack_shard:
    """Adversarial prompts for one shard of one (method, attack, prompt set); rewritten after every prompt."""
    input:
        table=pattern(paths.prompt_table, "{promptset}"),
        base=base_model_input(),
        run=run_complete_input,
        target_run=attack_target_run_input,
        preflight=preflight_gate_input(),
    output:
        pattern(paths.attack_shard, "{method}", "{promptset}~{attack}", "{shard}"),
    wildcard_constraints:
        promptset=paths.NAME_PATTERN,  # a plain set (its attacked copy is the path's `~{attack}`)
        attack=METHOD_ATTACK_NAMES,
    params:
        method="{method}",
        method_spec=method_spec,
        attack="{attack}",
        attack_spec=lambda wc: ATTACKS["attacks"][wc.attack],
        shard="{shard}",
        shard_size=attack_plan.shard_size(config),
        sampling=promptset_sampling,
        base_model=config["base_model"],
        # the results root, from results/{world}/attacks/{method}/{promptset}~{attack}/shards/{shard}.csv
        results=lambda wildcards, output: str(Path(output[0]).parents[5]),
        world="{world}",
        target_method=attack_plan.target_method(config),
        target_spec=attack_target_spec,
        metric=attack_plan.detector_metric(config),
        metric_settings=attack_metric_settings,
        device=config["device"],
    log:
        log_path("attack_shard", "{method}", "{promptset}~{attack}", "{shard}"),
    benchmark:
        benchmark_path("attack_shard", "{method}", "{promptset}~{attack}", "{shard}")
    # config attacks.resources over the world's request (erasure.worlds)
    threads: 1 if STANDINS else int(ATTACK_RESOURCES.get("threads", job_resources("attack").threads))
    resources:
        mem_mb=int(ATTACK_RESOURCES.get("mem_mb", job_resources("attack").mem_mb)),
        runtime=int(ATTACK_RESOURCES["runtime"]) if "runtime" in ATTACK_RESOURCES else cost_runtime("attack"),
        gpu=gpu_resources() if ATTACK_RESOURCES.get("gpu", True) else 0,
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/attack.py"


rule attack_text_shard:
    """Adversarial prompts of a text-encoder-only attack (Ring-A-Bell) for one shard, once per text encoder:
    every attacked method with that encoder merges these rows (attack_merge). Loads the tokenizer and text
    encoder alone: the base's, or a method's own trained encoder (AdvUnlearn's, its run an input)."""
    input:
        table=pattern(paths.prompt_table, "{promptset}"),
        base=base_model_input(),
        run=attack_text_encoder_run_input,  # the method's own trained text encoder (AdvUnlearn's); none: the base's
        preflight=preflight_gate_input(),
    output:
        str(paths.text_attack_shard(RESULTS, "{world}", "{encoder}", "{promptset}~{attack}", "{shard}")),
    wildcard_constraints:
        promptset=paths.NAME_PATTERN,  # a plain set (its attacked copy is the path's `~{attack}`)
        attack=TEXT_ATTACK_NAMES,
    params:
        encoder="{encoder}",
        attack="{attack}",
        attack_spec=lambda wc: ATTACKS["attacks"][wc.attack],
        shard="{shard}",
        shard_size=attack_plan.shard_size(config),
        base_model=config["base_model"],
        # the results root, from results/{world}/attacks/_text-encoder-{encoder}/{promptset}~{attack}/shards/{shard}.csv
        results=lambda wildcards, output: str(Path(output[0]).parents[5]),
        world="{world}",
        device=config["device"],
    log:
        log_path("attack_text_shard", "{encoder}", "{promptset}~{attack}", "{shard}"),
    benchmark:
        benchmark_path("attack_text_shard", "{encoder}", "{promptset}~{attack}", "{shard}")
    threads: 1 if STANDINS else int(ATTACK_RESOURCES.get("threads", job_resources("attack").threads))
    resources:
        mem_mb=int(ATTACK_RESOURCES.get("mem_mb", job_resources("attack").mem_mb)),
        runtime=int(ATTACK_RESOURCES["runtime"]) if "runtime" in ATTACK_RESOURCES else cost_runtime("attack"),
        gpu=gpu_resources() if ATTACK_RESOURCES.get("gpu", True) else 0,
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/attack.py"


rule attack_merge:
    """The shareable adversarial prompts CSV (+ provenance sidecar) and the attacked prompt table."""
    input:
        shards=attack_shard_files,
        table=pattern(paths.prompt_table, "{promptset}"),
    output:
        adversarial=pattern(paths.adversarial_prompts, "{method}", "{promptset}~{attack}"),
        table=pattern(paths.attacked_prompt_table, "{method}", "{promptset}~{attack}"),
    wildcard_constraints:
        promptset=paths.NAME_PATTERN,  # a plain set (its attacked copy is the path's `~{attack}`)
        attack=ATTACK_NAMES,
    params:
        provenance=lambda wc: {"method": wc.method, "attack": wc.attack, "promptset": wc.promptset,
                               "attack_spec": ATTACKS["attacks"][wc.attack], "base_model": config["base_model"],
                               "target_method": attack_plan.target_method(config),
                               "method_spec": method_spec(wc), "sampling": promptset_sampling(wc),
                               "detector_metric": attack_plan.detector_metric(config),
                               "detector_settings": attack_metric_settings(wc)},
    log:
        log_path("attack_merge", "{method}", "{promptset}~{attack}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/generate.yaml"
    script:
        "../workflow_scripts/attack.py"


rule attack_table:
    """Table 3: pre-attack, adversarial-prompt and cumulative ASR with intervals per (method, attack, prompt set,
    detector), and per image."""
    input:
        pre=lambda wc: [c["pre"] for c in attack_cells(wc.world)],
        post=lambda wc: [c["post"] for c in attack_cells(wc.world)],
        adversarial=lambda wc: [c["adversarial"] for c in attack_cells(wc.world)],
    output:
        csv=report(pattern(paths.table, ATTACK_TABLE, "csv"), caption="../report/table3.rst", category="Attacks",
                   labels={"table": ATTACK_TABLE, "file": "CSV"}),
        md=pattern(paths.table, ATTACK_TABLE, "md"),
        tex=pattern(paths.table, ATTACK_TABLE, "tex"),
        success=report(pattern(paths.table, f"{ATTACK_TABLE}-success", "csv"), caption="../report/table3.rst",
                       category="Attacks", labels={"table": ATTACK_TABLE, "file": "per-prompt success"}),
    params:
        cells=lambda wc: attack_cells(wc.world),
        metric=attack_plan.detector_metric(config),
        detectors=ATTACKS.get("detectors", {}),
        title=ATTACKS.get("title", "Robustness to adversarial prompts: attack success rate before and after attack"),
        # the pinned published ASRs whose setting is ours, and why the others are not shown (erasure.report.paper)
        published=published_attack_values(config),
    log:
        log_path("attack_table", ATTACK_TABLE),
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/attack_report.py"


rule attack_grid:
    """Plain and attacked images per method (rows), same (prompt_id, seed) per column."""
    input:
        manifests=lambda wc: [r["manifest"] for r in attack_grid_rows(wc.world)],
        prompts=lambda wc: [r["prompts"] for r in attack_grid_rows(wc.world)],
    output:
        figure=report(pattern(paths.figure, f"{ATTACK_TABLE}-grid"), caption="../report/attack-grid.rst",
                      category="Attacks", labels={"figure": f"{ATTACK_TABLE}-grid"}),
    params:
        rows=lambda wc: attack_grid_rows(wc.world),
        n_prompts=int(ATTACKS.get("grid_prompts", 4)),
        style=REPORT["style"],
    log:
        log_path("attack_grid", ATTACK_TABLE),
    threads: 1
    resources:
        **REPORT_RESOURCES,
    conda:
        "../envs/report.yaml"
    script:
        "../workflow_scripts/attack_report.py"
