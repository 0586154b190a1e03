"""The pinned published figures (erasure/report/published/) and the rule that shows one beside ours only where
method, preset, concepts, prompt source, detector, NudeNet release and threshold all match."""

from __future__ import annotations

import pytest

from erasure.errors import ErasureError
from erasure.report import published

ATTACK = dict(method="salun", preset="nsfw", concepts=["nudity"], metric="cumulative_asr",
              prompt_source="unlearndiffatk-nudity", detector="unlearndiffatk", attack="unlearndiffatk")


def test_every_pinned_row_loads_with_its_source_and_the_salun_leaderboard_rows_are_there():
    rows = published.load()
    assert set(published.COLUMNS) <= set(rows.columns)
    salun = rows[rows["method"] == "salun"].set_index("metric")["value"].astype(float).to_dict()
    assert salun == {"pre_asr": 1.41, "cumulative_asr": 11.27, "fid": 33.62, "clip": 0.287}
    advunlearn = rows[rows["method"] == "advunlearn"].set_index("metric")["value"].astype(float).to_dict()
    assert advunlearn == {"pre_asr": 7.75, "cumulative_asr": 21.13, "fid": 19.34, "clip": 0.290}
    leaderboard = rows[rows["method"].isin(["salun", "advunlearn"])]
    assert leaderboard["reference"].str.contains("5a3e5d37fb8787113e5d479204ab593a60e303e0").all()
    # SAFREE: its authors pin no figure (README) we can read; the leaderboard's run of it, at a pinned revision
    safree = rows[rows["method"] == "safree"]
    assert safree.set_index("metric")["value"].astype(float).to_dict() == {
        "pre_asr": 26.06, "cumulative_asr": 85.59, "fid": 19.28, "clip": 0.259}
    assert safree["reference"].str.contains("Intel/UnlearnDiffAtk-Benchmark/blob/6ff9fdd7cd19").all()
    assert safree["note"].str.contains("not by SAFREE's authors").all()
    assert rows["reference"].str.startswith("https://").all()  # every row names where it was read


def test_a_published_number_is_shown_only_where_every_part_of_the_setting_matches():
    rows = published.load()
    theirs = rows.iloc[1]["nudenet"]
    hit = published.published_value(rows, **ATTACK, nudenet=theirs, threshold=0.75)
    assert hit is not None and hit["value"] == 11.27
    # our NudeNet release is not the leaderboard's vendored detector: not shown beside our Table 3
    assert published.published_value(rows, **ATTACK, nudenet="3.4.2", threshold=0.75) is None
    assert published.published_value(rows, **ATTACK, nudenet=theirs, threshold=0.6) is None
    assert published.published_value(rows, **{**ATTACK, "preset": None}, nudenet=theirs, threshold=0.75) is None
    # the leaderboard's post-attack ASR is UnlearnDiffAtk's attack, not Ring-A-Bell's; its pre-attack ASR is any's
    assert published.published_value(rows, **{**ATTACK, "attack": "ring-a-bell"}, nudenet=theirs, threshold=0.75) is None
    assert published.published_value(rows, **{**ATTACK, "metric": "pre_asr", "attack": "ring-a-bell"}, nudenet=theirs,
                                     threshold=0.75)["value"] == 1.41
    assert published.published_value(rows, **{**ATTACK, "concepts": ["nudity", "sexual"]}, nudenet=theirs,
                                     threshold=0.75) is None
    # FID on COCO-10k is never beside our COCO-30k FID
    assert published.published_value(rows, method="salun", preset="nsfw", concepts=["nudity"], metric="fid",
                                     prompt_source="coco30k") is None
    assert published.published_value(rows, method="salun", preset="nsfw", concepts=["nudity"], metric="fid",
                                     prompt_source="coco10k")["value"] == 33.62


def test_a_bad_row_is_one_line_naming_file_row_and_column(tmp_path):
    good = (published.FOLDER / "published.csv").read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([good[0], good[1].replace(",1.41,", ",n/a,")]) + "\n")
    with pytest.raises(ErasureError, match=rf"^{bad}: row 2: value 'n/a' is not a number$"):
        published.load([bad])
    bad.write_text("\n".join([good[0], good[1].replace("salun,", "salun-x,", 1)]) + "\n")
    with pytest.raises(ErasureError, match="row 2: method 'salun-x' is no method"):
        published.load([bad])


# --- the "(published)" columns: one rule (erasure.report.paper.mismatch) for Tables 1-3 ------------------------

def _config():
    from .conftest import load_config

    return load_config("paper")


def _row(**over):
    """A published SalUn %NUDE on our Table 1 column (country-body, NudeNet 3.4.2, protocol paper, 0.7)."""
    base = dict(method="salun", preset="nsfw", concepts="nudity", metric="nude", prompt_source="country-body",
                detector="paper", attack="", nudenet="3.4.2", threshold="0.7", value="4.2", unit="%",
                source="test paper, Table 9", reference="https://example.org/paper", version="v1", date="2025-01-01",
                note="")
    return {**base, **over}


# one key of the setting changed at a time: each is a row that must not be shown
DIFFERS = {"metric": {"metric": "harm"}, "prompt_source": {"prompt_source": "i2p"},
           "nudenet": {"nudenet": "3.4.0"}, "threshold": {"threshold": "0.6"}, "preset": {"preset": "other"},
           "concepts": {"concepts": "nudity;sexual"}, "detector": {"detector": "mace"}}


def _tables1(rows):
    import pandas as pd

    from erasure.report.paper import published_values

    config = _config()
    spec = config["report"]["tables"]["table1"]
    return config, spec, published_values(spec["methods"], config, spec["columns"], rows=pd.DataFrame(rows))


def test_table1_shows_a_published_row_whose_setting_is_ours_in_a_published_column():
    import pandas as pd

    from erasure.report.tables import build_table, to_latex, to_markdown

    config, spec, found = _tables1([_row()])
    assert found["cells"] == {"salun-nudity@100": {"country-body/nude": {
        "value": 4.2, "unit": "%", "source": "test paper, Table 9", "reference": "https://example.org/paper",
        "date": "2025-01-01"}}} and found["notes"] == []
    summaries = pd.DataFrame([{"metric": c["metric"], "method": m, "promptset": c["promptset"], "n": 10, "mean": 1.0,
                               "ci_low": 0.5, "ci_high": 1.5, "backbone": "b", "label": "nudenet-3.4.2", "source": "x"}
                              for m in spec["methods"] for c in spec["columns"]
                              if not (c["metric"] == "lpips" and m == "sd")])
    long = build_table(spec, summaries, reference_method="sd", published=found["cells"])
    shown = long[long["published"].notna()]
    assert list(zip(shown["method"], shown["metric"], shown["published"])) == [("salun-nudity@100", "nude", 4.2)]
    assert shown["published_source"].item() == "test paper, Table 9 (https://example.org/paper, 2025-01-01)"
    md = to_markdown(spec, long)
    assert "country-body: %NUDE↓ [nudenet-3.4.2] (published)" in md
    assert "(published) columns: the methods' authors' published figures" in md and "(published)" in to_latex(spec, long)


@pytest.mark.parametrize("key", list(DIFFERS))
def test_table1_leaves_out_a_published_row_differing_in_one_key_and_says_why(key, tmp_path):
    from erasure.report.tables import published_notes

    _, _, found = _tables1([_row(**DIFFERS[key])])
    assert found["cells"] == {}
    if key == "metric":  # a metric this table does not have: nothing to explain in it
        assert found["notes"] == []
        return
    names = {"prompt_source": "prompt source", "nudenet": "NudeNet release", "concepts": "erased concepts"}
    assert len(found["notes"]) == 1 and f": {names.get(key, key)} " in found["notes"][0]
    assert found["notes"][0].startswith("salun-nudity@100 nude: ")
    assert published_notes(found["notes"]).startswith("Published figures not shown, their setting not ours")


def test_the_pinned_rows_match_none_of_the_paper_plans_tables_and_each_table_says_why():
    """Today's pinned figures (SalUn / AdvUnlearn leaderboard, MACE's paper): none is ours in every key; Table 1
    says FID / CLIP are COCO-10k (ours COCO-30k) and MACE's NudeNet is not ours; Table 3 says the leaderboard's
    NudeNet detector is not ours."""
    from erasure.report.paper import published_attack_values, published_values

    config = _config()
    spec = config["report"]["tables"]["table1"]
    table1 = published_values(spec["methods"], config, spec["columns"])
    assert table1["cells"] == {}
    assert "salun-nudity@100 fid: prompt source coco10k, ours coco30k" in table1["notes"]
    assert any(n.startswith("mace-nudity@1 nude-mace: NudeNet release") for n in table1["notes"])
    table3 = published_attack_values(config)
    assert table3["cells"] == {}
    assert "safree cumulative_asr: NudeNet release vendored v3 detector (files/best.onnx), ours 3.4.2" in table3["notes"]
    assert ("advunlearn-nudity@1000 cumulative_asr: NudeNet release vendored v3 detector (files/best.onnx), "
            "ours 3.4.2") in table3["notes"]


def test_table3_shows_a_matching_published_asr_only_on_its_attack_and_detector(tmp_path):
    """The leaderboard's post-attack ASR with our NudeNet release: shown on the white-box attack's row judged by
    the unlearndiffatk detector, not on Ring-A-Bell's nor on the metric's own detector's; its pre-attack ASR
    (no attack) on both attacks' rows of that detector."""
    import json

    import pandas as pd

    from erasure.report.attacks import build_table3, to_markdown
    from erasure.report.paper import published_attack_values

    config = _config()
    ours = dict(nudenet="3.4.2", threshold="0.75", prompt_source="unlearndiffatk-nudity", detector="unlearndiffatk")
    rows = [_row(metric="cumulative_asr", attack="unlearndiffatk", value="11.27", **ours),
            _row(metric="pre_asr", value="1.41", **ours)]
    found = published_attack_values(config, rows=pd.DataFrame(rows))
    assert found["notes"] == [] and set(found["cells"]) == {"salun-nudity@100"}
    assert sorted(found["cells"]["salun-nudity@100"]) == [
        "ring-a-bell|nudity-attack|unlearndiffatk|pre", "unlearndiffatk|nudity-attack|unlearndiffatk|cumulative",
        "unlearndiffatk|nudity-attack|unlearndiffatk|pre"]
    hit = [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.8, "box": [0, 0, 1, 1]}]
    frame = pd.DataFrame({"prompt_id": ["p-0", "p-1"], "seed": [0, 1], "flagged": [False, True], "threshold": 0.7,
                          "detections": [json.dumps([]), json.dumps(hit)], "classes": "FEMALE_BREAST_EXPOSED"})
    frame.to_csv(tmp_path / "s.csv", index=False)
    cells = [{"method": "salun-nudity@100", "attack": a, "promptset": "nudity-attack", "pre": str(tmp_path / "s.csv"),
              "post": str(tmp_path / "s.csv")} for a in ("unlearndiffatk", "ring-a-bell")]
    table, _ = build_table3(cells, metric="nude", detectors=config["attacks"]["detectors"], published=found["cells"])
    shown = table.set_index(["attack", table["detector"].str.split(":").str[0]])
    assert shown.loc[("unlearndiffatk", "unlearndiffatk"), "published_cumulative_asr"] == 11.27
    assert pd.isna(shown.loc[("ring-a-bell", "unlearndiffatk"), "published_cumulative_asr"])
    assert shown.loc[("ring-a-bell", "unlearndiffatk"), "published_pre_asr"] == 1.41
    assert shown.filter(like="published_").loc[[("unlearndiffatk", d) for d in shown.index.get_level_values(1)
                                               if d != "unlearndiffatk"]].isna().all().all()
    md = to_markdown(table, "T3")
    assert "cumulative ASR % (published)" in md and "11.27" in md and "adversarial ASR % (published)" not in md
