"""The pinned published figures (erasure/report/published/) and the rule that shows one beside ours only where
method, preset, concepts, prompt source, detector, NudeNet release and threshold all match."""

from __future__ import annotations

import pytest

from erasure.errors import ErasureError
from erasure.report import published

ATTACK = dict(method="salun", preset="nsfw", concepts=["nudity"], metric="cumulative_asr",
              prompt_source="unlearndiffatk-nudity", detector="unlearndiffatk")


def test_every_pinned_row_loads_with_its_source_and_the_salun_leaderboard_rows_are_there():
    rows = published.load()
    assert set(published.COLUMNS) <= set(rows.columns)
    salun = rows[rows["method"] == "salun"].set_index("metric")["value"].astype(float).to_dict()
    assert salun == {"pre_asr": 1.41, "cumulative_asr": 11.27, "fid": 33.62, "clip": 0.287}
    advunlearn = rows[rows["method"] == "advunlearn"].set_index("metric")["value"].astype(float).to_dict()
    assert advunlearn == {"pre_asr": 7.75, "cumulative_asr": 21.13, "fid": 19.34, "clip": 0.290}
    leaderboard = rows[rows["method"].isin(["salun", "advunlearn"])]
    assert leaderboard["reference"].str.contains("5a3e5d37fb8787113e5d479204ab593a60e303e0").all()
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
