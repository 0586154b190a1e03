"""The generate rules plan the paper's whole image DAG from the config alone, with no weights or files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from erasure import plan
from erasure.config import validate_config

REPO = Path(__file__).resolve().parents[2]


def job_counts(stdout: str) -> dict[str, int]:
    counts = {}
    for line in stdout.splitlines():
        match = re.match(r"^([a-z_]+)\s+(\d+)$", line.strip())
        if match:
            counts[match[1]] = int(match[2])
    return counts


def test_paper_images_dry_run_plans_every_shard(tmp_path):
    config = validate_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()),
                             REPO / "config" / "schema.yaml")
    sets = plan.required_image_sets(config)
    # the report's sets and Table 3's plain (pre-attack) sets
    assert {s.promptset for s in sets} == {"country-body", "coco30k", "i2p", "artists", "artists-niche", "nudity-attack",
                                           "salun-forget", "salun-retain"}  # SalUn's training sets, drawn by sd
    assert sum(plan.n_images(config, p) for p in ("country-body", "coco30k", "i2p")) == 58_515
    shards = [plan.n_shards(config, s.promptset) for s in sets]
    expected_shards = sum(n for n in shards if n > 1)  # a set of one shard is one generate_set job
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "images", "-n", "--nolock", "--quiet", "rules",
         "--configfile", "config/paper.yaml", "--config", f"results={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["generate_shard"] == expected_shards
    assert counts["merge_manifest"] == sum(n > 1 for n in shards)
    assert counts["generate_set"] == shards.count(1) > 0
    # country-body ships in config/prompts/; coco-captions (MACE's prior cache, read by its edit) is fetched too
    assert counts["prompts"] == 9 and counts["fetch_prompts"] == 6
