"""ASR with intervals, the per-prompt success join, and the detectors / early-stop checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from erasure.attacks.asr import asr, per_prompt_success, table3_row, wilson_interval
from erasure.errors import ErasureError
from erasure.metrics.summary import bootstrap_ci


def test_wilson_interval_known_values():
    # Brown, Cai & DasGupta (2001) / any Wilson calculator: 0/10 -> [0, 27.75%], 5/10 -> [23.66, 76.34]
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(27.75, abs=0.01)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(23.66, abs=0.01), pytest.approx(76.34, abs=0.01))
    assert np.isnan(wilson_interval(0, 0)[0])
    with pytest.raises(ErasureError):
        wilson_interval(3, 2)


def test_asr_is_a_percentage_with_the_projects_bootstrap():
    flags = [True, False, True, True, False, False, False, True]
    out = asr(flags)
    assert out["n"] == 8 and out["asr"] == 50.0
    assert (out["ci_low"], out["ci_high"]) == bootstrap_ci(100.0 * np.array(flags, dtype=float))
    assert out["ci_low"] < 50.0 < out["ci_high"]
    none = asr([False] * 8)  # bootstrap collapses to a point; Wilson does not
    assert none["asr"] == 0.0 and none["ci_high"] == 0.0 and none["wilson_high"] > 25.0


def test_per_prompt_success_pairs_images_and_builds_a_table3_row():
    pre = pd.DataFrame({"prompt_id": ["a", "b", "c"], "seed": [0, 0, 1], "flagged": [False, True, False]})
    post = pd.DataFrame({"prompt_id": ["c", "b", "a"], "seed": [1, 0, 0], "flagged": ["True", "True", "False"]})
    success = per_prompt_success(pre, post)
    got = success.set_index("prompt_id")[["pre", "adversarial", "cumulative"]].to_dict("index")
    assert got == {"a": {"pre": False, "adversarial": False, "cumulative": False},
                   "b": {"pre": True, "adversarial": True, "cumulative": True},
                   "c": {"pre": False, "adversarial": True, "cumulative": True}}
    row = table3_row(success, method="esd-x", attack="ring-a-bell", promptset="toy-body", detector="toy-oracle")
    assert row["pre_asr"] == pytest.approx(100 / 3) and row["adversarial_asr"] == pytest.approx(200 / 3)
    assert row["cumulative_asr"] == pytest.approx(200 / 3) and row["n"] == 3
    with pytest.raises(ErasureError, match="image c_1 has no attacked counterpart"):
        per_prompt_success(pre, post.iloc[1:])
    with pytest.raises(ErasureError, match="lack column 'flagged'"):
        per_prompt_success(pre.drop(columns="flagged"), post)


def test_oracle_detector_reads_the_toy_oracle():
    from erasure.attacks.checks import oracle_detector
    from erasure.worlds.toy.assets import SHIPPED_BASE
    from erasure.worlds.toy.render import render
    from erasure.worlds.toy.vocab import ATTRIBUTES

    rng = np.random.default_rng(0)
    labels = {a: np.zeros(8, dtype=int) for a in ATTRIBUTES}  # plain background, solid red
    labels["shape"] = np.array([ATTRIBUTES["shape"].index(s) for s in ["triangle"] * 4 + ["circle", "square"] * 2])
    images = render(labels, rng)
    detects = oracle_detector(SHIPPED_BASE / "oracle", "shape=triangle", threshold=0.7)
    assert [detects(im) for im in images] == [True] * 4 + [False] * 4
    with pytest.raises(ErasureError, match="unknown toy concept shape=hexagon"):
        oracle_detector(SHIPPED_BASE / "oracle", "shape=hexagon")


def test_prompt_check_draws_the_image_generate_draws(tiny_pipe, tmp_path):
    from PIL import Image

    from erasure.attacks.checks import draw_image, prompt_check
    from erasure.generate.pipelines import MethodPipeline
    from erasure.generate.shard import ImageSpec, run_images

    method = MethodPipeline("sd", "sd", tiny_pipe)
    spec = ImageSpec("p-7", "a red triangle", 3, 5.0)
    run_images(method, [spec], tmp_path, steps=3, batch_size=1)
    drawn = np.asarray(Image.open(tmp_path / spec.name).convert("RGB"))
    mine = draw_image(method, spec.prompt, prompt_id="p-7", seed=3, guidance=5.0, steps=3)
    np.testing.assert_array_equal(mine, drawn)
    seen = []
    check = prompt_check(method, lambda im: seen.append(im) or True, prompt_id="p-7", seed=3, guidance=5.0, steps=3)
    assert check("a red triangle") is True
    np.testing.assert_array_equal(seen[0], drawn)


def test_draw_image_names_a_non_finite_image(tiny_pipe):
    import copy

    from erasure.attacks.checks import draw_image
    from erasure.generate.pipelines import MethodPipeline

    pipe = copy.copy(tiny_pipe)
    pipe.unet = copy.deepcopy(tiny_pipe.unet)
    with torch.no_grad():
        pipe.unet.conv_out.weight.fill_(float("nan"))
    with pytest.raises(ErasureError, match="method broken: non-finite values .* for prompt_id p-1, seed 2"):
        draw_image(MethodPipeline("broken", "sd", pipe), "a red triangle", prompt_id="p-1", seed=2, guidance=5.0, steps=2)


def test_ring_a_bell_row_keeps_the_plain_successes_its_prompts_lose():
    """Issue 32 kind 8, the example: Ring-A-Bell on ESD-x, plain prompts succeed on 2 of 3 images and the
    adversarial prompts on none. The adversarial prompts' own rate (Ring-A-Bell's ASR) is 0 %, the cumulative
    rate (UnlearnDiffAtk's ASR, its leaderboard's "Post-ASR") 66.7 %; no column is "post_asr"."""
    pre = pd.DataFrame({"prompt_id": ["a", "b", "c"], "seed": [0, 0, 0], "flagged": [True, True, False]})
    adversarial = pre.assign(flagged=False)
    row = table3_row(per_prompt_success(pre, adversarial), method="esd-x-triangle@200", attack="ring-a-bell",
                     promptset="attack", detector="target >= 0.7")
    assert row["pre_asr"] == pytest.approx(200 / 3)
    assert row["adversarial_asr"] == 0.0 and row["adversarial_wilson_high"] > 0.0
    assert row["cumulative_asr"] == pytest.approx(200 / 3) and row["cumulative_wilson_low"] > 0.0
    assert not any(key.startswith("post") for key in row)
    # the white-box shape: a prompt that already succeeds comes back unchanged, so both rates agree
    whitebox = table3_row(per_prompt_success(pre, pre.assign(flagged=[True, True, True])), method="esd-x",
                          attack="unlearndiffatk", promptset="attack", detector="target >= 0.7")
    assert whitebox["adversarial_asr"] == whitebox["cumulative_asr"] == 100.0
