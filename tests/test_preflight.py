"""Preflight (erasure.preflight): one line per item the DAG reads from outside itself, each missing one
with the command that provides it, in seconds and without a GPU; GPU jobs wait for it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _preflight(configfile: str, cwd: Path, env: dict) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "erasure.preflight", "--configfile", str(REPO / configfile)],
                         cwd=cwd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO), **env})
    return out, time.monotonic() - start


def test_paper_preflight_names_every_missing_item_and_its_command(tmp_path):
    """On a machine with nothing downloaded: every item is one line; each missing one says how to get it."""
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch"),
           "CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    for name in ("ERASURE_ALEXNET", "ERASURE_INCEPTION", "ERASURE_CLIP", "ERASURE_Q16", "ERASURE_NUDENET"):
        env[name] = ""
    out, seconds = _preflight("config/paper.yaml", tmp_path, env)
    lines = out.stdout.splitlines()
    assert out.returncode == 1, out.stderr[-2000:]
    missing = {line.removeprefix("MISSING").split(": ", 1)[0].strip(): line for line in lines
               if line.startswith("MISSING")}
    assert {"base model", "CLIP (harm, clip)", "Q16 prompts (harm)", "Inception (fid)", "AlexNet (lpips)",
            "FID reference (fid)", "prompt set coco30k", "prompt set i2p", "prompt set artists",
            "prompt set artists-niche", "prompt set coco-captions"} <= set(missing), out.stdout
    assert [line for line in lines if "GPU (cluster.gpus)" in line]  # ok only where torch or SLURM offers one
    assert all(" -> " in line and line.split(" -> ", 1)[1].strip() for line in missing.values())
    assert "hf download CompVis/stable-diffusion-v1-4" in missing["base model"]
    assert "alexnet-owt-7be5be79.pth" in missing["AlexNet (lpips)"]
    assert "results/sd/prompts/sources/coco30k.csv" in missing["prompt set coco30k"]
    # MACE's prior cache: a local caption file only (never downloaded), named by its key
    assert missing["prompt set coco-captions"].split(": ", 1)[1] == (
        "data/coco/annotations_trainval2014.zip not found -> fix prompt_sets.coco-captions.path (a local copy of "
        "the coco-captions file)")
    assert any(line.startswith("ok       prompt set country-body") for line in lines)  # shipped, 50 rows
    assert any(line.startswith("ok       NudeNet") for line in lines)
    assert lines[-1].startswith("preflight: ") and seconds < 60


def test_the_gate_comes_before_every_weight_loading_job_of_the_sd_world(tmp_path):
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                          "--configfile", str(REPO / "config/paper.yaml")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    blocks = out.stdout.split("\nrule ")[1:]
    gated = {"erase", "generate_shard", "generate_set", "score_nude", "score_clip", "score_lpips", "score_fid", "score_harm"}
    seen = set()
    for block in blocks:
        rule = block.split(":", 1)[0]
        if rule in gated:
            seen.add(rule)
            assert "results/sd/preflight.txt" in block.split("output:", 1)[0], block[:500]
    assert seen == gated


def _config(configfile: str, **changes) -> dict:
    import yaml

    from erasure.config import validate_config

    config = yaml.safe_load((REPO / configfile).read_text())
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value}
    return validate_config(config, REPO / "config/schema.yaml")


ESD_I2P = (  # ESD's unsafe-prompts4703.csv layout; its row 3 has an empty prompt, as the upstream file does
    ",prompt,categories,hard,inappropriate_percentage,nudity_percentage,q16_percentage,sd_safety_percentage,"
    "prompt_toxicity,lexica_url,evaluation_seed,evaluation_guidance\n"
    "0,a red triangle on the beach,sexual,1,90.0,50.0,80.0,70.0,0.5,https://lexica.art/a,2734,7\n"
    "1,a blue circle,violence,0,30.0,0.0,20.0,10.0,0.1,https://lexica.art/b,1042,7\n"
    "2,,hate,0,10.0,0.0,0.0,0.0,0.0,https://lexica.art/c,77,7\n"
)


def _toy_with_local_i2p(file: Path, **extra) -> dict:
    config = _config("config/config.yaml", prompt_sets={
        "ext": {"source": "i2p", "path": str(file), "n_prompts": 3, "metrics": ["alignment"], **extra}})
    config["generation"]["every_method"] = [*config["generation"]["every_method"], "ext"]
    return config


def test_a_local_prompt_file_is_checked_while_planning_naming_the_users_file(tmp_path):
    """Issue 32's example: ESD's copy of I2P as a local i2p file. Its `evaluation_seed` is I2P's seed (no
    'missing sd_seed'); its empty prompt fails while planning, naming the user's file, not results/'s copy."""
    import pytest

    from erasure.errors import ErasureError
    from erasure.preflight import check_while_planning

    file = tmp_path / "unsafe-prompts4703.csv"
    file.write_text(ESD_I2P)
    with pytest.raises(ErasureError) as info:
        check_while_planning(_toy_with_local_i2p(file))
    assert str(info.value) == (f"prompt_sets.ext.path {file}: 1 empty prompt (column 'prompt', data row 3; 1-based, "
                               "header not counted); delete it from the file and lower n_prompts by 1")
    file.write_text(ESD_I2P.replace("2,,hate", "2,a striped square,hate"))
    check_while_planning(_toy_with_local_i2p(file))  # the fixed file passes
    with pytest.raises(ErasureError, match=rf"^prompt_sets.ext.path {file}: sha256 [0-9a-f]{{64}} differs from "
                                           "prompt_sets.ext.sha256 0+; give the upstream file"):
        check_while_planning(_toy_with_local_i2p(file, sha256="0" * 64))
    check_while_planning(_toy_with_local_i2p(tmp_path / "not-here.csv"))  # not on this machine: the jobs say


def test_a_q16_copy_that_is_not_the_pinned_file_fails_while_planning_with_the_fix(tmp_path):
    """Issue 32's example: a Q16 prompts.p whose sha256 differs was refused inside its job, with no fix."""
    import pytest

    from erasure.errors import ErasureError
    from erasure.weights import Q16_PROMPTS_SHA256, Q16_PROMPTS_URL
    from erasure.preflight import check_while_planning

    copy = tmp_path / "prompts.p"
    copy.write_bytes(b"not Q16's pickle")
    config = _config("config/paper.yaml")
    config["metrics"]["harm"] = {**config["metrics"].get("harm", {}), "q16_source": str(copy)}
    with pytest.raises(ErasureError) as info:
        check_while_planning(config)
    message = str(info.value)
    assert message.startswith(f"metrics.harm.q16_source {copy}: sha256 ") and Q16_PROMPTS_SHA256 in message
    assert Q16_PROMPTS_URL in message and "remove metrics.harm.q16_source" in message and "\n" not in message


def test_the_dry_run_stops_on_a_bad_local_prompt_file_before_any_job(tmp_path):
    """The check runs while Snakemake plans (`snakemake -n` too): one line naming the config file, the key and the
    user's file; the internal copy under results/ is never named."""
    import yaml

    file = tmp_path / "unsafe-prompts4703.csv"
    file.write_text(ESD_I2P)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["prompt_sets"]["ext"] = {"source": "i2p", "path": str(file), "n_prompts": 3, "metrics": ["alignment"]}
    config["generation"]["every_method"].append("ext")
    configfile = tmp_path / "ext.yaml"
    configfile.write_text(yaml.safe_dump(config))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                          "--configfile", str(configfile)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: {configfile}: prompt_sets.ext.path {file}: 1 empty prompt"), out.stderr[-2000:]
    assert "prompts/sources" not in out.stdout + out.stderr and "Traceback" not in out.stderr


def test_a_method_the_bases_family_refuses_is_one_failed_item_naming_each_entry(tmp_path):
    """AdvUnlearn, SLD and UnlearnDiffAtk asked of an SDXL base (its hub id: the family is known without the
    weights): one failed item with each entry's one-line reason (erasure.worlds.families, not_supported);
    the methods SDXL runs (SDD, MACE, SalUn, SAFREE, Ring-A-Bell) and an SD 2.1 base's SAFREE are not named."""
    from erasure.preflight import Context, check_family_methods

    config = {"world": "sdxl", "base_model": "stabilityai/stable-diffusion-xl-base-1.0",
              "runs": {"au": {"method": "advunlearn"}, "sdd": {"method": "sdd"}, "mace": {"method": "mace"},
                       "salun": {"method": "salun"}},
              "inference_methods": {"sld-max": {"kind": "sld"}, "safree": {"kind": "safree"}, "sd": {"kind": "sd"}},
              "attacks": {"attacks": {"wb": {"kind": "unlearndiffatk"}, "rab": {"kind": "ring-a-bell"}}}}
    [item] = check_family_methods(Context(config, [], tmp_path))
    assert not item.ok and item.name == "methods on SDXL"
    parts = item.detail.split(" | ")
    assert [p.split(":")[0] for p in parts] == ["runs.au", "inference_methods.sld-max", "attacks.attacks.wb"]
    assert parts[0].startswith("runs.au: advunlearn on SDXL: AdvUnlearn adversarially trains ONE CLIP text encoder")
    assert "\n" not in item.detail
    sd21 = {**config, "base_model": "stabilityai/stable-diffusion-2-1", "runs": {"au": {"method": "advunlearn"}},
            "inference_methods": {"safree": {"kind": "safree"}}, "attacks": {}}
    assert check_family_methods(Context(sd21, [], tmp_path)) == []
