"""Name patterns of path components are written once (erasure.paths: WILDCARDS, one_of) and read by the
Snakefile, the rule files and the config schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from erasure import paths

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("names", [["esd-u", "sdd+x"], ["table1"], []])
def test_one_of_matches_exactly_its_names(names):
    pattern = re.compile(paths.one_of(names))
    for name in names:
        assert pattern.fullmatch(name)
    for other in ["", "esd", "esd-uu", "sddxx", "table", "sdd+", "esd-u|sdd+x"]:  # `+` is escaped, `|` literal
        assert not pattern.fullmatch(other)


def test_the_wildcards_match_the_names_the_paths_module_builds():
    run, method = re.compile(paths.WILDCARDS["run"]), re.compile(paths.WILDCARDS["method"])
    for name in ["esd-u", paths.replicate_run("esd-u", 2), "sdd+ema"]:
        assert run.fullmatch(name)
        for step in (0, 1000):
            mid = f"{name}@{step}"
            assert method.fullmatch(mid) and paths.MethodId.parse(mid).run == name
            assert method.fullmatch(f"{name}.student@{step}")
    assert not run.fullmatch("esd-u.r0") and not run.fullmatch("Esd")  # replicate 0 is the run itself
    promptset = re.compile(paths.WILDCARDS["promptset"])
    assert promptset.fullmatch("coco") and promptset.fullmatch("i2p-sexual~ring-a-bell")
    assert not promptset.fullmatch("coco~a~b")


def test_the_schema_run_name_pattern_is_the_paths_one():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    patterns = re.findall(r'pattern: "(\^[^"]*\$)"', (ROOT / "config" / "schema.yaml").read_text())
    assert f"^{paths.RUN_PATTERN}$" in patterns, patterns
    assert schema  # the file parses


def test_no_rule_file_writes_a_name_regex_of_its_own():
    """Every wildcard constraint comes from erasure.paths (WILDCARDS, NAME_PATTERN, one_of): a rule file or the
    Snakefile with its own `re.escape` alternation or `[a-z0-9]` class is a second home for a pattern."""
    files = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
    own = [f"{f.name}:{n}" for f in files for n, line in enumerate(f.read_text().splitlines(), 1)
           if "re.escape" in line or "[a-z0-9]" in line]
    assert own == []
