"""The benchmark scripts run in their reduced modes and produce the documented JSON schema.

No timing assertions: only that every script runs, reports what bench/README.md says it reports, and
keeps going when one variant fails. The toy-world and whole-script checks are `slow` (a micro toy base
is built once per session, about a minute).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import _common as C  # noqa: E402

MACHINE_KEYS = {"cpu_model", "cpu_count", "torch_threads", "torch", "diffusers", "transformers", "loadavg_1_5_15", "cuda"}
SUMMARY_KEYS = {"variant", "label", "batch", "sampling_steps_T", "trajectory_steps_K", "iteration_median_s",
                "floor_median_s", "ratio_median", "sample_overhead_per_step_s", "train_overhead_s", "ema_s",
                "teacher_forward_s", "n_trained_params"}
SDD_PHASES = {"sample", "train", "ema", "floor_teacher", "floor_student_nograd", "floor_student_fwd_bwd",
              "iteration", "floor"}


def check_document(doc: dict, benchmark: str) -> None:
    assert doc["benchmark"] == benchmark and doc["schema"] == C.SCHEMA
    assert MACHINE_KEYS <= set(doc["machine"])
    assert isinstance(doc["args"], dict) and isinstance(doc["notes"], list)
    assert isinstance(doc["results"], list)
    for row in doc["results"]:
        assert "name" in row
        if "error" not in row and "median_s" in row:
            assert set(C.TIMING_KEYS) <= set(row)
            assert row["q1_s"] <= row["median_s"] <= row["q3_s"]
    json.dumps(doc)  # serialisable as is


@pytest.fixture(scope="session")
def micro_cache(tmp_path_factory):
    """BENCH_CACHE for the session: the toy micro base is built there once."""
    cache = tmp_path_factory.mktemp("bench-cache")
    old = os.environ.get("BENCH_CACHE")
    os.environ["BENCH_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("BENCH_CACHE", None)
    else:
        os.environ["BENCH_CACHE"] = old


# --- _common ------------------------------------------------------------------------------------------

def test_timeit_and_table():
    calls = []
    result = C.timeit(lambda: calls.append(1), warmup=2, repeats=3)
    assert len(calls) == 5 and result["repeats"] == 3 and len(result["times_s"]) == 3
    assert set(C.TIMING_KEYS) <= set(result)
    text = C.table([{"a": 1.5, "b": None}], ["a", "b"])
    assert "1.5" in text and "-" in text


def test_document_and_emit(tmp_path, capsys):
    doc = C.document("x", {"k": 1}, [{"name": "r", **C.summarize([0.1, 0.2, 0.3])}], ["n"], extra={"y": Path("p")})
    check_document(doc, "x")
    C.emit(doc, ["name", "median_s"], tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text())["extra"] == {"y": "p"}
    assert json.loads(capsys.readouterr().out)["benchmark"] == "x"


def test_variant_parsing():
    import sdd_iteration

    opts = sdd_iteration.parse_variant("bf16+frozen16+ckpt")
    assert opts["dtype"] == "bf16" and opts["frozen16"] and opts["ckpt"] and not opts["compile"]
    with pytest.raises(SystemExit):
        sdd_iteration.parse_variant("fp32+frozen16")  # frozen low-precision weights need autocast
    with pytest.raises(SystemExit):
        sdd_iteration.parse_variant("bf16+warp-drive")


# --- the SD-architecture paths (tiny arch: the device script's code on CPU) ---------------------------

def test_sdd_iteration_sd_paths(tmp_path):
    import sdd_iteration

    doc = sdd_iteration.main(["--world", "sd", "--arch", "tiny", "--latent", "8", "--reduced", "--threads", "1",
                              "--steps", "4", "--library-iters", "1", "--variant", "fp32",
                              "--variant", "bf16+frozen16+ckpt+split-cfg+classic-attn+channels-last",
                              "--variant", "fp32+adam8bit", "--json", str(tmp_path / "s.json")])
    check_document(doc, "sdd_iteration")
    by_variant = {s["variant"]: s for s in doc["summary"]}
    assert {"fp32", "bf16+frozen16+ckpt+split-cfg+classic-attn+channels-last"} <= set(by_variant)
    for summary in by_variant.values():
        assert SUMMARY_KEYS <= set(summary)
        assert summary["trajectory_steps_K"] == 2 and summary["sampling_steps_T"] == 4
    assert {r["name"] for r in doc["results"] if r["variant"] == "fp32"} >= SDD_PHASES | {"library_train_step"}
    assert "library_ratio_total" in by_variant["fp32"]
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:  # a missing optional package is a note, not a crash
        assert any("adam8bit" in n for n in doc["notes"])
    assert json.loads((tmp_path / "s.json").read_text())["summary"]


def test_generation_sd_paths(tmp_path):
    import generation

    doc = generation.main(["--world", "sd", "--arch", "tiny", "--reduced", "--threads", "1", "--variants",
                           "--json", str(tmp_path / "g.json")])
    check_document(doc, "generation")
    default = {r["method"] for r in doc["results"] if r["variant"] == "default"}
    assert default == {"sd", "sd-neg", "sld-medium", "sld-max", "sega", "finetuned"}
    assert {r["variant"] for r in doc["results"]} >= {"default", "classic-attn", "channels-last", "bf16"}
    for row in doc["results"]:
        assert "error" not in row, row
        assert row["images_per_s"] > 0 and row["batch"] == 2


# --- toy world, DAG, device script (slow) -------------------------------------------------------------

@pytest.mark.slow
def test_sdd_iteration_toy(micro_cache, tmp_path):
    import sdd_iteration

    doc = sdd_iteration.main(["--world", "toy", "--base", "micro", "--reduced", "--threads", "1", "--steps", "4"])
    check_document(doc, "sdd_iteration")
    (summary,) = doc["summary"]
    toy_run = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["runs"]["sdd-triangle"]
    assert SUMMARY_KEYS <= set(summary)
    assert summary["batch"] == toy_run["settings"]["batch_size"]  # the toy config's own run settings
    assert {"components", "overhead_budget", "library_ratio_total"} <= set(summary)
    assert {"scheduler_step", "adamw_step", "ema_update", "unet_forward_profile"} <= set(summary["components"])


@pytest.mark.slow
def test_generation_toy(micro_cache):
    import generation

    doc = generation.main(["--world", "toy", "--base", "micro", "--reduced", "--threads", "1"])
    check_document(doc, "generation")
    methods = {r["method"] for r in doc["results"]}
    assert {"sd", "sd-neg", "sld-medium", "sld-max", "sega"} <= methods
    assert any(r["kind"] == "finetuned" for r in doc["results"])  # a real SDD run, loaded as generation does


@pytest.mark.slow
def test_scorers(micro_cache):
    import scorers

    doc = scorers.main(["--base", "micro", "--reduced", "--threads", "1"])
    check_document(doc, "scorers")
    names = {(r["name"], r["world"]) for r in doc["results"] if "error" not in r}
    assert {("target", "toy"), ("alignment", "toy"), ("fid-toy", "toy"), ("paired-distance", "toy"),
            ("clip", "toy"), ("nude", "sd"), ("clip", "sd"), ("harm", "sd"), ("lpips", "sd"), ("fid", "sd")} <= names
    for row in doc["results"]:
        assert row["label"] in ("real", "tiny-random", "full-size-random")


@pytest.mark.slow
def test_dag(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "dag.py"), "--reduced", "--results", str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    check_document(doc, "dag")
    rows = {r["name"]: r for r in doc["results"]}
    assert {"startup", "paper_dag", "paper_dryrun", "toy_dryrun"} <= set(rows)
    assert "error" not in rows["paper_dryrun"] and rows["paper_dryrun"]["jobs"] > 0
    assert any("toy_noop skipped" in n for n in doc["notes"])


@pytest.mark.slow
def test_device_script_reduced(tmp_path):
    """bench/device_run.sh end to end in its CPU mode (tiny stand-ins): every row of bench/device_rows.py is in
    device.json with a status, the rows that ran wrote their own JSON document, and nothing else comes back."""
    out = tmp_path / "out"
    env = {**os.environ, "BENCH_REDUCED": "1", "OUT": str(out)}
    proc = subprocess.run(["bash", str(BENCH / "device_run.sh")], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:]
    device = json.loads((out / "device.json").read_text())
    assert device["mode"] == "cpu"
    rows = {row["name"]: row for row in device["rows"]}
    assert {"shard_io", "generation_sd_pndm_b8", "generation_sld-max_pndm_b16", "sdd_iteration_precision"} <= set(rows)
    assert {row["status"] for row in rows.values()} <= {"ok", "not-implemented"}, {
        name: row.get("error") for name, row in rows.items() if row["status"] not in ("ok", "not-implemented")}
    for name, row in rows.items():
        if row["status"] == "ok":
            check_document(json.loads((out / f"{name}.json").read_text()), row["result"]["benchmark"])
    files = {p.name for p in out.iterdir()}
    assert {"env.txt", "log.txt", "device.json"} <= files
    assert files <= {"env.txt", "log.txt", "device.json"} | {f"{name}.json" for name in rows}


def test_frontdoor_analyse_splits_startup_and_load_from_job_logs(tmp_path):
    """The front-door breakdown reads the benchmark TSVs and each job's log lines (no run needed)."""
    import frontdoor

    bench = tmp_path / "results" / "toy" / "benchmarks"
    logs = tmp_path / "results" / "toy" / "logs"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rule, job, wall, cpu, log in [
        ("generate_shard", "sd/body/0", 10.0, 8.0, "erasure.job: startup_s=2.5\n... {'load_s': 1.5, 'generate_s': 6}"),
        ("generate_shard", "sd/coco/0", 20.0, 15.0, "erasure.job: startup_s=3.5\n{'load_s': 0.5}"),
        ("score_target", "sd/body", 4.0, 3.0, None),
        # erasure.runtime.ready: process start to the work, imports and model load included
        ("generate_set", "sd/i2p", 12.0, 11.0, "erasure.job: startup_s=0.2\nerasure.job: ready_s=4.5\n{'load_s': 3.1}"),
    ]:
        (bench / rule / job).parent.mkdir(parents=True, exist_ok=True)
        (bench / rule / f"{job}.tsv").write_text(header + f"{wall}\t0:00:10\t1\t1\t1\t1\t0\t0\t1\t{cpu}\n")
        if log is not None:
            (logs / rule / job).parent.mkdir(parents=True, exist_ok=True)
            (logs / rule / f"{job}.log").write_text(log)
    out = frontdoor.analyse(tmp_path)
    rules = {row["name"]: row for row in out["rules"]}
    assert rules["generate_shard"]["jobs"] == 2 and rules["generate_shard"]["wall_s"] == 30.0
    assert rules["generate_shard"]["startup_s"] == 6.0 and rules["generate_shard"]["load_s"] == 2.0
    assert rules["generate_shard"]["startup_share"] == round(8.0 / 30.0, 3)
    assert rules["score_target"]["jobs_with_split"] == 0 and rules["score_target"]["startup_share"] == 0
    assert rules["generate_set"]["startup_s"] == 4.5 and rules["generate_set"]["load_s"] == 0  # ready_s wins
    assert out["summary"]["jobs"] == 4 and out["summary"]["startup_share"] == round(12.5 / 46.0, 3)


def test_device_rows_write_every_row_even_when_rows_fail(tmp_path, monkeypatch):
    """bench/device_rows.py: a row that exits non-zero, one that overruns its limit and one not implemented
    are each recorded, and device.json holds every row run so far after each one."""
    import device_rows

    (tmp_path / "ok.py").write_text("import json, sys\njson.dump({'results': [{'name': 'x', 'median_s': 1}]}, "
                                    "open(sys.argv[sys.argv.index('--json') + 1], 'w'))\n")
    (tmp_path / "fails.py").write_text("raise SystemExit('broken on purpose')\n")
    (tmp_path / "hangs.py").write_text("import time\ntime.sleep(30)\n")
    monkeypatch.setattr(device_rows, "BENCH", tmp_path)
    seen = []
    real = device_rows.run_row

    def spy(row, out_dir):
        if (tmp_path / "out" / "device.json").is_file():
            seen.append(len(json.loads((tmp_path / "out" / "device.json").read_text())["rows"]))
        return real(row, out_dir)

    monkeypatch.setattr(device_rows, "run_row", spy)
    monkeypatch.setattr(device_rows, "rows", lambda cpu: [
        {"name": "fails", "what": "a", "args": ["fails.py"], "limit": 20},
        {"name": "hangs", "what": "b", "args": ["hangs.py"], "limit": 1},
        {"name": "missing", "what": "c", "not_implemented": "no script yet"},
        {"name": "ok", "what": "d", "args": ["ok.py"], "limit": 20}])
    doc = device_rows.main(["--out", str(tmp_path / "out"), "--cpu"])
    written = json.loads((tmp_path / "out" / "device.json").read_text())
    assert [r["status"] for r in written["rows"]] == ["failed", "timeout", "not-implemented", "ok"] == \
        [r["status"] for r in doc["rows"]]
    assert "broken on purpose" in written["rows"][0]["error"] and written["rows"][3]["result"]["results"]
    assert seen == [1, 2, 3]  # the file was rewritten after each row, before the next started


def test_whitebox_iteration_runs_every_variant(tmp_path):
    """The white-box iteration bench on the tiny SD architecture: one row per precision, each finite, bf16
    against fp32 as a ratio (the cost table's bf16 row derives from it on a device)."""
    import whitebox_iteration

    doc = whitebox_iteration.main(["--reduced", "--threads", "1", "--json", str(tmp_path / "wb.json")])
    check_document(doc, "whitebox_iteration")
    rows = {row["variant"]: row for row in doc["results"]}
    assert set(rows) == {"fp32", "tf32", "bf16"}
    assert rows["fp32"]["ratio_to_fp32"] == 1.0 and all(r["s_per_iteration"] > 0 for r in rows.values())
    assert json.loads((tmp_path / "wb.json").read_text())["benchmark"] == "whitebox_iteration"


def test_esd_memory_runs_esd_u_and_sdd(tmp_path):
    """The ESD-u memory bench on the tiny SD architecture: a row per method (CPU: AdamW foreach only), ESD-u
    training many more parameters than SDD's attn2 (what its memory row is about)."""
    import esd_memory

    doc = esd_memory.main(["--reduced", "--threads", "1"])
    check_document(doc, "esd_memory")
    rows = {(row["method"], row["adamw"]): row for row in doc["results"]}
    assert set(rows) == {("esd-u", "foreach"), ("sdd", "foreach")}
    assert rows[("esd-u", "foreach")]["trained_params"] > 10 * rows[("sdd", "foreach")]["trained_params"]
