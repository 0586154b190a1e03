"""The lines a successful run ends with (Snakefile `onsuccess`): where the report's files are."""

import yaml

from erasure import paths
from erasure.config import validate_config
from erasure.report.targets import run_summary


def _config(repo):
    return validate_config(yaml.safe_load((repo / "config" / "config.yaml").read_text()), repo / "config/schema.yaml")


def test_names_only_the_report_files_that_exist_and_the_html_report_command(repo, tmp_path):
    config = _config(repo)
    assert run_summary(config, tmp_path, "toy") == []  # nothing made yet: nothing to point at
    table = paths.table(tmp_path, "toy", "table1", "md")
    figure = paths.figure(tmp_path, "toy", "frontier")
    for file in (table, figure, paths.provenance(tmp_path, "toy", "table1")):
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("x")
    lines = run_summary(config, tmp_path, "toy")
    text = "\n".join(lines)
    assert str(table) in text and "frontier.png" in text and "training-curves.png" not in text
    assert str(paths.provenance(tmp_path, "toy", "table1").parent) in text
    assert lines[-1].split(None, 2)[-1] == "snakemake --report results/report.html"
