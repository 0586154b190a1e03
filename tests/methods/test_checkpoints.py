"""Checkpoints: kill -9 mid-run (with a torn checkpoint write) then rerun == an unbroken run; settings
fingerprints; non-finite loss; complete.json; load_method_pipeline."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from erasure import checkpoints as ckpt
from erasure.errors import ErasureError
from erasure.io import sha256_file
from erasure.methods.params import is_attn2
from erasure.methods.trainer import train

SETTINGS = {"sampling_steps": 4, "batch_size": 2, "warmup_steps": 2, "lr": 1e-3}


def run_kwargs(base, **over):
    kw = dict(method="sdd", concepts=["triangle", "red"], iterations=8, checkpoint_every=2, base_model=base,
              settings=dict(SETTINGS), seed=5, progress=False, log=lambda msg: None)
    kw.update(over)
    return kw


KILLER = textwrap.dedent("""
    import json, os, signal, sys
    import torch
    torch.set_num_threads(1)
    from erasure import checkpoints as ckpt
    from erasure.methods.trainer import train

    run_dir, kwargs, kill_at = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    original = ckpt._save_tensors

    def torn(tensors, path):
        # die half-way through writing checkpoint `kill_at`: student written, teacher not yet
        if path.parent.name.startswith(f".tmp-step-{kill_at:06d}-") and path.name == "teacher.safetensors":
            os.kill(os.getpid(), signal.SIGKILL)
        original(tensors, path)

    ckpt._save_tensors = torn
    train(run_dir, progress=False, **kwargs)
""")


def test_kill_and_resume_equals_unbroken_run(tiny_base, tmp_path):
    kwargs = run_kwargs(tiny_base)
    unbroken = tmp_path / "unbroken"
    train(unbroken, **kwargs)

    broken = tmp_path / "broken"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    passed = {k: v for k, v in kwargs.items() if k not in ("progress", "log")}
    proc = subprocess.run([sys.executable, str(script), str(broken), json.dumps(passed), "6"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert ckpt.latest_complete_step(broken) == 4  # the torn step-6 write does not look complete
    assert list(broken.glob(".tmp-step-000006-*")) and not (broken / "step-000006").exists()

    messages = []
    steps = train(broken, **{**kwargs, "log": messages.append})
    assert steps == [2, 4, 6, 8] and any("resuming from step 4" in m for m in messages)
    assert not list(broken.glob(".tmp-*"))
    for role in ("student", "teacher"):
        a, b = ckpt.load_weights(unbroken, 8, role), ckpt.load_weights(broken, 8, role)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), role
    log_rows = (broken / "train_log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in log_rows] == ["step", *map(str, range(1, 9))]
    assert [r.split(",")[:3] for r in log_rows] == \
        [r.split(",")[:3] for r in (unbroken / "train_log.csv").read_text().splitlines()]


def test_changed_settings_start_fresh(tiny_base, tmp_path):
    run = tmp_path / "run"
    train(run, **run_kwargs(tiny_base, iterations=2))
    messages = []
    train(run, **run_kwargs(tiny_base, iterations=2, log=messages.append))  # same settings: nothing to do
    assert any("resuming from step 2" in m for m in messages)
    messages.clear()
    train(run, **run_kwargs(tiny_base, iterations=2, settings={**SETTINGS, "lr": 2e-3}, log=messages.append))
    assert any("changed" in m and "starting fresh" in m for m in messages)
    assert not any("resuming" in m for m in messages)
    assert json.loads((run / "run.json").read_text())["settings"]["lr"] == 2e-3


def test_changed_training_code_starts_fresh(tiny_base, tmp_path, monkeypatch):
    """A fix to a method's loss must not resume (or, at the last step, reuse) the old code's checkpoints: the
    erase job reruns with the same settings, and only the code differs."""
    from erasure.methods import trainer

    run = tmp_path / "run"
    train(run, **run_kwargs(tiny_base, iterations=2))
    monkeypatch.setattr(trainer, "code_digest", lambda spec: "0" * 16)  # as if sdd.py or the loop were edited
    messages = []
    train(run, **run_kwargs(tiny_base, iterations=2, log=messages.append))
    assert any("training code" in m and "starting fresh" in m for m in messages)
    assert not any("resuming" in m for m in messages)


def test_code_digest_follows_the_implementing_module(tmp_path, monkeypatch):
    from erasure.methods import specs
    from erasure.methods.trainer import code_digest

    module = tmp_path / "my_erasure_method.py"
    module.write_text("class Method:\n    scale = 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = specs.MethodSpec("mine", specs.FINE_TUNING, "my_erasure_method:Method")
    before = code_digest(spec)
    module.write_text("class Method:\n    scale = 2.0\n")
    assert code_digest(spec) != before
    module.write_text("class Method:\n    scale = 1.0\n")
    assert code_digest(spec) == before and code_digest(specs.get("sdd")) != before
    with pytest.raises(ErasureError, match="mine.*'nowhere_module'"):
        code_digest(specs.MethodSpec("mine", specs.FINE_TUNING, "nowhere_module:Method"))


def test_non_finite_loss_stops_with_step(tiny_base, tmp_path, monkeypatch):
    from erasure.methods.sdd import SDD

    real = SDD.loss

    def loss(self, step, generator):
        value = real(self, step, generator)
        return value * float("nan") if step == 4 else value  # step index 4 = the 5th update

    monkeypatch.setattr(SDD, "loss", loss)
    with pytest.raises(ErasureError, match="at step 5; the last good checkpoint is step 4"):
        train(tmp_path / "run", **run_kwargs(tiny_base, iterations=6))
    assert ckpt.latest_complete_step(tmp_path / "run") == 4


def test_complete_json_and_loader(tiny_base, tmp_path):
    from erasure.models import load_base_pipeline

    run = tmp_path / "models" / "sdd-x"
    train(run, **run_kwargs(tiny_base, iterations=4))
    record = ckpt.write_complete(run, run / "complete.json", iterations=4)
    assert record["steps"] == [2, 4]
    assert record["files"]["step-000004/teacher.safetensors"] == sha256_file(run / "step-000004" / "teacher.safetensors")
    with pytest.raises(ErasureError, match="did not reach step 10"):
        ckpt.write_complete(run, run / "complete.json", iterations=10)

    base = dict(load_base_pipeline(tiny_base).unet.named_parameters())
    for which, role in (("default", "teacher"), ("student", "student")):
        pipe = ckpt.load_method_pipeline(tiny_base, run, 4, which)
        saved = ckpt.load_weights(run, 4, role)
        for name, p in pipe.unet.named_parameters():
            assert torch.equal(p, saved[name] if is_attn2(name) else base[name]), (which, name)
    teacher, student = ckpt.load_weights(run, 4, "teacher"), ckpt.load_weights(run, 4, "student")
    assert any(not torch.equal(teacher[k], student[k]) for k in teacher)
    with pytest.raises(ErasureError, match="no checkpoint at step 3"):
        ckpt.load_method_pipeline(tiny_base, run, 3)


def test_esd_checkpoint_is_the_trained_model(tiny_base, tmp_path):
    run = tmp_path / "esd"
    train(run, **run_kwargs(tiny_base, method="esd-x", preset="esd", iterations=2, settings={"sampling_steps": 3}))
    assert sorted(os.listdir(run / "step-000002")) == ["meta.json", "sha256.json", "student.safetensors",
                                                      "trainer_state.json", "trainer_state.safetensors"]
    assert ckpt.weights_role(run, 2, "default") == "student"


def test_new_base_weights_under_the_same_name_start_fresh(tiny_base, tmp_path):
    """A rebuilt base (toy:shipped gets new weights, same name) must not resume the old base's run."""
    import shutil

    from erasure.models import load_base_pipeline

    base = tmp_path / "base"
    shutil.copytree(tiny_base, base)
    run = tmp_path / "run"
    train(run, **run_kwargs(str(base), iterations=2))
    pipe = load_base_pipeline(str(base))
    with torch.no_grad():
        next(pipe.unet.parameters()).add_(0.01)
    pipe.unet.save_pretrained(base / "unet")
    messages = []
    train(run, **run_kwargs(str(base), iterations=2, log=messages.append))
    assert any("base model changed" in m and "starting fresh" in m for m in messages)


# --- issue 17, case 3: every checkpoint load is checked against its recorded sha256 --------------------------

def _truncate(path, size=1000):
    path.write_bytes(path.read_bytes()[:size])


def _erase_shim():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "erase_shim", Path(__file__).resolve().parents[2] / "workflow_scripts" / "erase.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    return shim


@pytest.fixture
def complete_run(tiny_base, tmp_path):
    run = tmp_path / "models" / "sdd-x"
    train(run, **run_kwargs(tiny_base, iterations=4))
    ckpt.write_complete(run, run / "complete.json", iterations=4)
    return run


def test_generation_from_a_truncated_checkpoint_is_one_line(tiny_base, complete_run):
    # main: `SafetensorError: invalid header length` naming no file
    teacher = complete_run / "step-000004" / "teacher.safetensors"
    _truncate(teacher)
    with pytest.raises(ErasureError) as err:
        ckpt.load_method_pipeline(tiny_base, complete_run, 4)
    message = str(err.value)
    assert "\n" not in message and str(teacher) in message and "sha256" in message
    assert "complete.json" in message and "rerun the erase rule" in message


def test_a_checkpoint_that_parses_but_differs_from_complete_json_is_refused(tiny_base, complete_run):
    # another instance: an edited (not truncated) file loads fine on main and generates from the wrong weights
    from safetensors.torch import load_file, save_file

    student = complete_run / "step-000004" / "student.safetensors"
    tensors = load_file(str(student))
    save_file({k: v + 1 for k, v in tensors.items()}, str(student))
    with pytest.raises(ErasureError, match="its record says"):
        ckpt.load_method_pipeline(tiny_base, complete_run, 4, "student")


def test_resume_from_a_truncated_checkpoint_is_one_line_from_the_shim(tiny_base, tmp_path, capsys):
    # resume after a killed job: Snakemake has removed complete.json, so the step's own sha256.json is the
    # record; the job died after step 2's checkpoint (step 4's is gone), and step 2's teacher is truncated
    run = tmp_path / "models" / "sdd-x"
    train(run, **run_kwargs(tiny_base, iterations=4))
    shutil.rmtree(run / "step-000004")
    teacher = run / "step-000002" / "teacher.safetensors"
    _truncate(teacher)
    kwargs = {k: v for k, v in run_kwargs(tiny_base, iterations=4).items() if k not in ("progress", "log")}
    capsys.readouterr()  # the first run's loading bars
    with pytest.raises(SystemExit) as info:
        _erase_shim().main(run / "complete.json", tmp_path / "erase.log", threads=1, run="sdd-x", **kwargs)
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ErasureError: ") and str(teacher) in err[0]
    assert "Traceback" not in (tmp_path / "erase.log").read_text()
    assert not (run / "complete.json").exists()


def test_resume_from_a_torn_trainer_state_is_one_line(tiny_base, tmp_path):
    # another instance: the optimiser state, not the weights
    run = tmp_path / "run"
    train(run, **run_kwargs(tiny_base, iterations=2))
    state = run / "step-000002" / ckpt.STATE_TENSORS
    _truncate(state, 100)
    with pytest.raises(ErasureError) as err:
        train(run, **run_kwargs(tiny_base, iterations=2))
    assert str(state) in str(err.value) and "\n" not in str(err.value)


# --- issue 32, kind 7: no wall-clock field in a file downstream jobs read -----------------------------------

class _Clock:
    """time.perf_counter for the trainer: `rate` seconds per call, so two runs record different timings."""

    def __init__(self, rate: float):
        self.now, self.rate = 0.0, rate

    def perf_counter(self) -> float:
        self.now += self.rate
        return self.now


def test_complete_json_is_the_same_bytes_after_a_repaired_resume_on_another_clock(tiny_base, tmp_path,
                                                                                  monkeypatch):
    """The issue's example: the corrupted-checkpoint repair (delete the step, complete.json; rerun) ends with
    bit-identical weights; before, complete.json differed (the sha256 of trainer_state.json and of
    train_log.csv, which held seconds), so every job downstream of the run would rerun."""
    import types

    from erasure.methods import trainer

    run = tmp_path / "models" / "sdd-x"
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=_Clock(1.0).perf_counter))
    train(run, **run_kwargs(tiny_base, iterations=4))
    ckpt.write_complete(run, run / "complete.json", iterations=4)
    first = (run / "complete.json").read_bytes()
    first_seconds = (run / ckpt.TRAIN_SECONDS).read_text()

    shutil.rmtree(run / "step-000004")  # the repair the error line asks for
    (run / "complete.json").unlink()
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=_Clock(1000.0).perf_counter))
    messages = []
    train(run, **run_kwargs(tiny_base, iterations=4, log=messages.append))
    ckpt.write_complete(run, run / "complete.json", iterations=4)
    assert any("resuming from step 2" in m for m in messages)
    assert (run / ckpt.TRAIN_SECONDS).read_text() != first_seconds  # the clock did differ, and is kept aside
    assert (run / "complete.json").read_bytes() == first
    assert (run / "train_log.csv").read_text().splitlines()[0] == "step,loss,lr"


def test_a_run_from_before_the_timing_split_loads_and_resumes(tiny_base, tmp_path):
    """Old results stay usable: a run whose train_log.csv and trainer_state.json hold seconds (and whose
    complete.json records their digests) loads, and resumes with its seconds moved aside."""
    import csv

    run = tmp_path / "models" / "sdd-x"
    train(run, **run_kwargs(tiny_base, iterations=4))
    # make it the format of before: seconds in the log and in each trainer_state.json (sha256.json kept true)
    rows = list(csv.DictReader(open(run / "train_log.csv")))
    with open(run / "train_log.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "loss", "lr", "seconds"])
        writer.writeheader()
        writer.writerows({**r, "seconds": f"{100.0 * int(r['step']):.3f}"} for r in rows)
    (run / ckpt.TRAIN_SECONDS).unlink()
    for step in (2, 4):
        d = run / f"step-{step:06d}"
        state = json.loads((d / ckpt.STATE_JSON).read_text())
        (d / ckpt.STATE_JSON).write_text(json.dumps({**state, "seconds": 100.0 * step}, indent=1, sort_keys=True))
        sums = json.loads((d / ckpt.STEP_SUMS).read_text())
        (d / ckpt.STEP_SUMS).write_text(json.dumps({**sums, ckpt.STATE_JSON: sha256_file(d / ckpt.STATE_JSON)}))
    ckpt.write_complete(run, run / "complete.json", iterations=4)
    assert ckpt.load_weights(run, 4, "teacher")  # checked against the old complete.json

    shutil.rmtree(run / "step-000004")
    (run / "complete.json").unlink()
    train(run, **run_kwargs(tiny_base, iterations=4))
    assert (run / "train_log.csv").read_text().splitlines()[0] == "step,loss,lr"
    seconds = {int(r["step"]): float(r["seconds"]) for r in csv.DictReader(open(run / ckpt.TRAIN_SECONDS))}
    assert sorted(seconds) == [1, 2, 3, 4] and seconds[2] == 200.0 and seconds[3] > 200.0  # carried on


def test_precision_setting_trains_in_bf16_and_leaves_the_default_identity(tiny_base, tmp_path):
    """settings.precision (issue 38): bf16 autocast trains with fp32 weights and finite fp32 losses close to
    fp32's; the fp32 default adds nothing to the run's identity (no finished run restarts); tf32 is another
    identity; an unknown value is one line."""
    from erasure.methods.presets import resolve_settings

    assert "precision" not in resolve_settings("sdd", "paper").to_json()
    assert resolve_settings("sdd", "paper", {"precision": "tf32"}).to_json()["precision"] == "tf32"
    with pytest.raises(ErasureError, match=r"settings.precision: 'fp16' is not one of fp32, tf32, bf16"):
        resolve_settings("sdd", "paper", {"precision": "fp16"})
    fp32, bf16 = tmp_path / "fp32", tmp_path / "bf16"
    train(fp32, **run_kwargs(tiny_base, iterations=2))
    train(bf16, **run_kwargs(tiny_base, iterations=2, settings={**SETTINGS, "precision": "bf16"}))
    weights = ckpt.load_weights(bf16, 2, "student")
    assert all(t.dtype == torch.float32 for t in weights.values())
    losses = [[float(line.split(",")[1]) for line in (run / "train_log.csv").read_text().splitlines()[1:]]
              for run in (fp32, bf16)]
    assert len(losses[1]) == 2 and all(abs(a - b) <= 0.05 * abs(a) + 1e-3 for a, b in zip(*losses))
    assert json.loads((fp32 / "run.json").read_text())["settings"].get("precision") is None
