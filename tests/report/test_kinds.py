"""The report's kinds in one table (erasure.plan.REPORT_KINDS): each entry's rule and shim exist and agree, the
schema's report keys are its keys, and the plan, the targets and the rules' inputs all read it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from erasure import plan
from erasure.report import targets

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_has_its_rule_and_shim_and_the_schema_its_key():
    rules = (ROOT / "rules" / "report.smk").read_text()
    for kind in plan.REPORT_KINDS.values():
        body = re.search(rf"^rule {kind.rule}:\n(.*?)(?=^rule |\Z)", rules, re.S | re.M)
        assert body, kind.rule
        assert f'"../workflow_scripts/{kind.shim}"' in body[1] and (ROOT / "workflow_scripts" / kind.shim).is_file()
        assert f"report_plan.names_regex(REPORT, \"{kind.key}\")" in body[1]
        assert f"{kind.wildcard}=" in body[1]
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["properties"]["report"]["properties"]
    assert set(schema) - {"style"} == set(plan.REPORT_KINDS)


def test_a_kind_added_to_the_table_is_planned_drawn_and_targeted(smoke_config):
    """A kind is one entry: its item's image sets and scores join the plan, its files the targets."""
    import copy

    config = copy.deepcopy(smoke_config)
    kind = plan.ReportKind("histograms", "histogram", "report_histogram", "report_histogram.py",
                           image_sets=lambda spec, config: [plan.ImageSet(m, spec["promptset"]) for m in spec["methods"]],
                           scores=lambda spec, config: [(spec["metric"], m, spec["promptset"]) for m in spec["methods"]],
                           inputs=lambda spec, config, root, world: {},
                           outputs=lambda name, root, world: [f"{root}/{world}/figures/{name}.png"])
    config["report"]["histograms"] = {"h": {"methods": ["sd", "sega"], "promptset": "coco", "metric": "clip-extra"}}
    original = dict(plan.REPORT_KINDS)
    try:
        plan.REPORT_KINDS["histograms"] = kind
        assert ("clip-extra", "sega", "coco") in plan.report_scores(config)
        assert plan.ImageSet("sega", "coco") in plan.report_image_sets(config)
        assert "results/toy/figures/h.png" in plan.report_targets(config, "results", "toy")
        assert targets.KINDS["tables"] == ("table", "report_table", "table")
    finally:
        plan.REPORT_KINDS.clear()
        plan.REPORT_KINDS.update(original)
