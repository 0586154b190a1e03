import numpy as np
import pandas as pd

from erasure.metrics.summary import SUMMARY_COLUMNS, bootstrap_ci, summarize


def test_interval_contains_mean_and_narrows_with_n():
    rng = np.random.default_rng(1)
    small, large = rng.normal(size=20), rng.normal(size=2000)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5
    assert bootstrap_ci(small) == (lo_s, hi_s)  # fixed seed: reproducible


def test_summary_schema_and_set_level():
    per_image = pd.DataFrame({"value": [100.0, 0.0, 0.0, 100.0], "ok_shape": [1.0, np.nan, 0.0, 1.0],
                              "backbone": "b", "label": "toy-oracle"})
    per_image.attrs["submetrics"] = {"alignment:shape": "ok_shape"}
    per_image.attrs["not_applicable"] = ["value", "ok_shape"]  # as the alignment scorer declares
    s = summarize(per_image, metric="alignment", method="sd", promptset="toy")
    assert tuple(s.columns) == SUMMARY_COLUMNS
    assert s["metric"].tolist() == ["alignment", "alignment:shape"] and s["n"].tolist() == [4, 3]
    assert s["mean"].iloc[0] == 50.0 and s["label"].eq("toy-oracle").all()
    assert s["total"].tolist() == [200.0, 2.0]  # e.g. nude-mace: exposed parts counted over the whole set
    fid_row = pd.DataFrame([{"value": 12.5, "n": 40, "set_level": True, "backbone": "b", "label": "fid"}])
    f = summarize(fid_row, metric="fid", method="sd", promptset="coco")
    assert f["n"].iloc[0] == 40 and f["mean"].iloc[0] == 12.5 and np.isnan(f["ci_low"].iloc[0])
    assert np.isnan(f["total"].iloc[0])


def test_summary_refuses_nan_and_inf_it_was_not_told_are_not_applicable():
    import pytest

    from erasure.errors import ErasureError

    per_image = pd.DataFrame({"prompt_id": ["a", "b", "c"], "seed": [0, 1, 2], "value": [1.0, np.nan, 0.0],
                              "backbone": "b", "label": "l"})
    # main: n=2, mean=0.5 — the failed image vanishes from the table's number
    with pytest.raises(ErasureError, match=r"nude on sd/i2p: 1 non-finite value\(s\) in column 'value'.*prompt_id b, seed 1"):
        summarize(per_image, metric="nude", method="sd", promptset="i2p")
    # another instance: a set-level value (FID) that overflowed
    fid_row = pd.DataFrame([{"prompt_id": "", "seed": -1, "value": np.inf, "n": 40, "set_level": True,
                             "backbone": "b", "label": "fid"}])
    with pytest.raises(ErasureError, match="set-level row"):
        summarize(fid_row, metric="fid", method="sd", promptset="coco")
    # a declared "not applicable" NaN stays allowed (alignment); inf never is
    per_image.attrs["not_applicable"] = ["value"]
    assert summarize(per_image, metric="alignment", method="sd", promptset="toy")["n"].iloc[0] == 2
    per_image.loc[0, "value"] = np.inf
    with pytest.raises(ErasureError):
        summarize(per_image, metric="alignment", method="sd", promptset="toy")
