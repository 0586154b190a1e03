"""The closed-form edit job (erasure/methods/edit.py, through workflow_scripts/erase.py): checkpoints of a run,
loaded by the same loader as a fine-tuning run's, equal to the library's edit."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from erasure import checkpoints as ckpt
from erasure.errors import ErasureError
from erasure.methods.edit import edit_steps, resolve_edit
from erasure.methods.rece import params as rece_params
from erasure.methods.rece import rece, resolve_rece_settings
from erasure.methods.uce import DELIVERABLE
from erasure.methods.uce import resolve_uce_settings, uce
from erasure.models import load_base_pipeline


@pytest.fixture(scope="module")
def pipe(tiny_base):
    return load_base_pipeline(tiny_base)


def run_job(tmp_path, tiny_base, run, **params):
    """The rule's shim, as Snakemake calls it: returns the run directory."""
    spec = importlib.util.spec_from_file_location("edit_shim", Path(__file__).resolve().parents[2] / "workflow_scripts" / "erase.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    main = shim.main
    out = tmp_path / "models" / run / "complete.json"
    main(out, tmp_path / f"{run}.log", run=run, base_model=tiny_base, results=str(tmp_path), device="cpu",
         seed=0, **params)
    return out.parent


def assert_loaded(tiny_base, run_dir, step, expected, base):
    loaded = ckpt.load_method_pipeline(tiny_base, run_dir, step)
    for name, p in loaded.unet.named_parameters():
        torch.testing.assert_close(p.detach(), (expected[name] if name in expected else base[name]).detach(),
                                   rtol=0, atol=0)


def test_uce_job_writes_the_edit_as_a_checkpoint_the_loader_takes(pipe, tiny_base, tmp_path):
    run_dir = run_job(tmp_path, tiny_base, "uce-x", method="uce", preset="current", concepts=["a triangle"],
                      iterations=1, checkpoint_every=1, settings={"preserve": ["a square"], "lamb": 0.3})
    record = json.loads((run_dir / "complete.json").read_text())
    assert record["steps"] == [1] and record["run_meta"]["preserve"] == ["a square"]
    direct = uce(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"], ["a square"],
                 resolve_uce_settings("current", {"lamb": 0.3}))
    assert_loaded(tiny_base, run_dir, 1, direct, dict(pipe.unet.named_parameters()))
    # run@step loads the deliverable; the edited matrices really differ from the base
    assert any(not torch.equal(direct[n], p) for n, p in pipe.unet.named_parameters() if n in direct)


def test_rece_job_checkpoints_every_round_chosen(pipe, tiny_base, tmp_path):
    run_dir = run_job(tmp_path, tiny_base, "rece-x", method="rece", preset="paper", concepts=["a triangle"],
                      iterations=5, checkpoint_every=2, settings={"reg": 0.05})
    assert ckpt.complete_steps(run_dir) == [2, 4, 5]
    rounds = rece(pipe.unet, pipe.text_encoder, pipe.tokenizer, ["a triangle"], [],
                  resolve_rece_settings({"reg": 0.05, "rounds": 4}))
    base = dict(pipe.unet.named_parameters())
    for step in (2, 5):  # step r + 1 = after round r
        assert_loaded(tiny_base, run_dir, step, rece_params(rounds[step - 1], pipe.unet), base)
    log = (run_dir / "train_log.csv").read_text().splitlines()
    assert log[0] == "step,loss,lr" and len(log) == 6 and log[1].startswith("1,,")
    assert (run_dir / "train_seconds.csv").read_text().splitlines()[0] == "step,seconds"  # the clock: a side file


def test_rece_stage_zero_is_the_uce_run(pipe, tiny_base, tmp_path):
    uce_dir = run_job(tmp_path, tiny_base, "u", method="uce", preset="paper", concepts=["a triangle"],
                      iterations=1, checkpoint_every=1)
    rece_dir = run_job(tmp_path, tiny_base, "r", method="rece", preset="paper", concepts=["a triangle"],
                       iterations=2, checkpoint_every=1)
    a, b = ckpt.load_weights(uce_dir, 1, DELIVERABLE), ckpt.load_weights(rece_dir, 1, DELIVERABLE)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], ckpt.load_weights(rece_dir, 2, DELIVERABLE)[k]) for k in a)


@pytest.mark.parametrize("method, iterations, every, steps", [
    ("uce", 1, 1, [1]), ("rece", 6, 1, [1, 2, 3, 4, 5, 6]), ("rece", 6, 4, [4, 6])])
def test_edit_steps(method, iterations, every, steps):
    assert edit_steps(method, iterations, every) == steps


@pytest.mark.parametrize("call, message", [
    (lambda: edit_steps("uce", 2, 1), "a uce run is one edit"),
    (lambda: edit_steps("rece", 1, 1), "set iterations to rounds \\+ 1"),
    (lambda: resolve_edit("rece", None, {"rounds": 3}), "settings.rounds"),
    (lambda: resolve_edit("uce", None, {"lr": 1e-5}), "settings.lr: unknown UCE setting"),
    (lambda: resolve_edit("uce", "esd", {}), "preset 'esd': unknown UCE preset"),
    (lambda: resolve_edit("sdd", None, {}), "method 'sdd': a fine-tuning method, not one of uce, rece"),
])
def test_bad_run_is_one_line(call, message):
    with pytest.raises(ErasureError, match=message):
        call()


def test_an_edit_rerun_on_another_clock_writes_the_same_complete_json(tiny_base, tmp_path, monkeypatch):
    """Issue 32 kind 7, a second instance: the edit rule (UCE / RECE) is deterministic, but its complete.json
    recorded the digests of a train_log.csv and trainer_state.json that held the edit's seconds, so any rerun
    of the edit (a code or rule change that leaves the weights alone) reran everything downstream."""
    import types

    from erasure.methods import edit

    records = []
    for rate in (1.0, 1000.0):
        clock = types.SimpleNamespace(now=0.0)

        def perf_counter(clock=clock, rate=rate):
            clock.now += rate
            return clock.now

        monkeypatch.setattr(edit, "time", types.SimpleNamespace(perf_counter=perf_counter))
        run_dir = run_job(tmp_path, tiny_base, "rece-x", method="rece", preset="paper", concepts=["a triangle"],
                          iterations=3, checkpoint_every=1, settings={"reg": 0.05})
        records.append(((run_dir / "complete.json").read_bytes(), (run_dir / "train_seconds.csv").read_text()))
    assert records[0][1] != records[1][1]  # the clock differed, and only the side file says so
    assert records[0][0] == records[1][0]


def test_a_mace_job_reads_the_prior_cache_where_rule_caption_stats_writes_it(pipe, tiny_base, tmp_path):
    """settings.prior names a caption set; the job reads erasure.paths.caption_stats under its results root (the
    edit rule's input; no param) and records the file's sha256 in run.json; without it, one line naming the key."""
    from erasure import paths
    from erasure.io import sha256_file
    from erasure.methods import mace

    settings = {"prior": "caps", "masks": "none", "images": 1, "image_steps": 1, "steps": 1,
                "templates": ["a {}"], "mapping": ["shape"]}
    job = dict(method="mace", preset="explicit-content", concepts=["a triangle"], iterations=1, checkpoint_every=1,
               settings=settings)
    with pytest.raises(SystemExit):  # the job wrapper: the ErasureError's one line in the log, exit 1
        run_job(tmp_path, tiny_base, "mace-x", **job)
    [line] = [x for x in (tmp_path / "mace-x.log").read_text().splitlines() if x.startswith("ErasureError")]
    assert line == (f"ErasureError: settings.prior (caps): caption statistics {paths.caption_stats(tmp_path, 'sd', 'caps')}"
                    " do not exist (rule caption_stats makes them)")
    moment, tokens = mace.prior_statistics(mace.family_states(pipe.components), ["a red circle", "a dog"])
    stats = paths.caption_stats(tmp_path, "sd", "caps")  # a local pipeline folder is the sd world's
    mace.write_prior(stats, moment, captions=2, tokens=tokens, source="caps")
    run_dir = run_job(tmp_path, tiny_base, "mace-x", **job)
    assert json.loads((run_dir / "run.json").read_text())["caption_stats"] == {"caps": sha256_file(stats)}
    assert ckpt.complete_steps(run_dir) == [1]
