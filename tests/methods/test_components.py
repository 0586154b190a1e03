"""Issue 34: fine-tuning methods that train another component (the text encoder) or add modules (a LoRA
adapter through peft) are checkpointed per component, killed and resumed bit for bit, and loaded by
`{run}@{step}`; a checkpoint as every run before wrote it (bare UNet names, no adapters) still loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from erasure import checkpoints as ckpt
from erasure.methods.trainer import train

HERE = Path(__file__).resolve().parent
SETTINGS = {"sampling_steps": 2, "lr": 1e-2}

KILLER = textwrap.dedent("""
    import json, os, signal, sys
    import torch
    torch.set_num_threads(1)
    import component_methods
    from erasure import checkpoints as ckpt
    from erasure.methods.trainer import train

    component_methods.register()
    run_dir, kwargs, kill_at = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    original = ckpt._save_tensors

    def torn(tensors, path):
        # die half-way through writing checkpoint `kill_at`: the weights written, the trainer state not
        if path.parent.name.startswith(f".tmp-step-{kill_at:06d}-") and path.name == ckpt.STATE_TENSORS:
            os.kill(os.getpid(), signal.SIGKILL)
        original(tensors, path)

    ckpt._save_tensors = torn
    train(run_dir, progress=False, **kwargs)
""")


@pytest.fixture
def methods(monkeypatch):
    import component_methods

    component_methods.register(monkeypatch.setitem)
    return component_methods


def kill_and_resume(tmp_path, base, method):
    kwargs = dict(method=method, concepts=["triangle"], iterations=6, checkpoint_every=2, base_model=base,
                  settings=dict(SETTINGS), seed=3)
    unbroken = tmp_path / "unbroken"
    train(unbroken, progress=False, log=lambda m: None, **kwargs)
    broken = tmp_path / "broken"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script), str(broken), json.dumps(kwargs), "4"], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert ckpt.latest_complete_step(broken) == 2
    messages = []
    assert train(broken, progress=False, log=messages.append, **kwargs) == [2, 4, 6]
    assert any("resuming from step 2" in m for m in messages)
    a, b = ckpt.load_weights(unbroken, 6, "student"), ckpt.load_weights(broken, 6, "student")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return unbroken, a


def test_a_text_encoder_method_is_checkpointed_resumed_and_loaded(methods, tiny_base, tmp_path):
    from erasure.models import load_base_pipeline

    run, weights = kill_and_resume(tmp_path, tiny_base, "te-zero")
    assert weights and all(k.startswith("text_encoder:") and "final_layer_norm." in k for k in weights)
    base = load_base_pipeline(tiny_base)
    loaded = ckpt.load_method_pipeline(tiny_base, run, 6)
    te, te0 = dict(loaded.text_encoder.named_parameters()), dict(base.text_encoder.named_parameters())
    for key, tensor in weights.items():
        name = key.split(":", 1)[1]
        assert torch.equal(te[name], tensor) and not torch.equal(te0[name], tensor), name
    # the UNet is the base's
    assert all(torch.equal(p, dict(base.unet.named_parameters())[n]) for n, p in loaded.unet.named_parameters())


def test_a_lora_method_is_checkpointed_resumed_and_loaded(methods, tiny_base, tmp_path):
    from erasure.models import load_base_pipeline

    run, weights = kill_and_resume(tmp_path, tiny_base, "lora-zero")
    assert weights and all(".attn2.to_" in k and "lora_" in k for k in weights)
    meta = json.loads((run / "step-000006" / ckpt.STEP_META).read_text())
    assert meta["adapters"] == {"unet": methods.LORA}
    loaded = ckpt.load_method_pipeline(tiny_base, run, 6)
    params = dict(loaded.unet.named_parameters())
    assert all(torch.equal(params[k], t) for k, t in weights.items())
    base = load_base_pipeline(tiny_base)
    c = base.unet.config
    z = torch.randn((1, c.in_channels, c.sample_size, c.sample_size), generator=torch.Generator().manual_seed(0))
    text = torch.randn((1, 8, c.cross_attention_dim), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.equal(loaded.unet(z, 10, encoder_hidden_states=text).sample,
                               base.unet(z, 10, encoder_hidden_states=text).sample)
    # the base weights under the adapter are untouched
    base_params = dict(base.unet.named_parameters())
    for name, param in params.items():
        if "lora_" not in name:
            assert torch.equal(param, base_params[name.replace(".base_layer", "")]), name


def test_a_checkpoint_in_the_format_before_components_still_loads(tiny_base, tmp_path):
    """What the trainer and the edit rule wrote before issue 34 (and still write for UNet-only methods):
    bare UNet parameter names, no `adapters` in meta.json."""
    from erasure.models import load_base_pipeline

    base = load_base_pipeline(tiny_base)
    name, param = next((n, p) for n, p in base.unet.named_parameters() if ".attn2.to_k." in n)
    run = tmp_path / "old"
    ckpt.write_run_meta(run, {"method": "uce", "base_model": tiny_base, "deliverable": "model"})
    ckpt.save_checkpoint(run, 1, {"model": {name: torch.full_like(param, 0.5)}}, {}, {"step": 1},
                         {"method": "uce", "deliverable": "model", "fingerprint": "x"})
    loaded = ckpt.load_method_pipeline(tiny_base, run, 1)
    assert torch.equal(dict(loaded.unet.named_parameters())[name], torch.full_like(param, 0.5))
    assert not any("lora_" in n for n, _ in loaded.unet.named_parameters())
