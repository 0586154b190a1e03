"""Prompt sets: upstream formats (small fixtures in the real layouts), toy analogues, validation errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from erasure.errors import ErasureError
from erasure.prompts import build_prompt_table, fetch_source, image_seeds, read_table, validate_table, write_table

REPO = Path(__file__).resolve().parents[2]

COCO = (
    "image_id,source,prompt,evaluation_seed\n"
    "000000203564,coco-30k,A bicycle replica with a clock as the front wheel.,41337\n"
    '000000179765,coco-30k,"A black Honda motorcycle parked\nin front of a garage.",63155\n'
    "000000322141,coco-30k,A room with blue walls and a white sink and door.,78978\n"
)
ARTISTS = (
    ",case_number,prompt,evaluation_seed\n"
    "0,0,The Starry Night by Vincent van Gogh,3542\n"
    "1,1,Vincent’s Bedroom in Arles by Vincent van Gogh,1514\n"
)
I2P = (
    "prompt,categories,hard,inappropriate_percentage,nudity_percentage,lexica_url,sd_seed,sd_guidance_scale,"
    "sd_image_width,sd_image_height,sd_model\n"
    '"a dark scene, oil painting",violence,1,80.0,0.0,https://lexica.art/x,2734971755,7,512,512,1.5\n'
    "portrait of a sad man,\"harassment,violence\",0,40.0,10.0,https://lexica.art/y,12,7.5,512,512,1.4\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def spec(source: str, n: int, **extra) -> dict:
    return {"source": source, "n_prompts": n, "metrics": [], **extra}


def test_coco_multiline_caption_and_seeds(tmp_path):
    table = build_prompt_table("coco30k", spec("coco30k", 3), guidance=7.5, source_file=write(tmp_path, "c.csv", COCO))
    assert list(table.columns[:4]) == ["prompt_id", "prompt", "seed", "guidance"]
    assert table["prompt"][1] == "A black Honda motorcycle parked in front of a garage."
    assert table["seed"].tolist() == [41337, 63155, 78978]
    assert table["image_id"][0] == "000000203564"  # leading zeros kept
    assert table["prompt_id"].is_unique


def test_prompt_csv_without_prompt_column_fails_with_one_line(tmp_path):
    bad = write(tmp_path, "coco.csv", COCO.replace("prompt,", "caption,", 1))
    with pytest.raises(ErasureError) as info:
        build_prompt_table("coco30k", spec("coco30k", 3), guidance=7.5, source_file=bad)
    message = str(info.value)
    assert "\n" not in message
    assert str(bad) in message and "'prompt'" in message


def test_empty_prompt_csv_fails_with_one_line(tmp_path):
    empty = write(tmp_path, "coco.csv", "")
    with pytest.raises(ErasureError) as info:
        build_prompt_table("coco30k", spec("coco30k", 3), guidance=7.5, source_file=empty)
    assert "\n" not in str(info.value) and str(empty) in str(info.value) and "empty" in str(info.value)


def test_artists_leading_index_column(tmp_path):
    table = build_prompt_table("artists", spec("artists", 2), guidance=7.5, source_file=write(tmp_path, "a.csv", ARTISTS))
    assert table["case_number"].tolist() == [0, 1]
    assert table["seed"].tolist() == [3542, 1514]
    assert "Unnamed: 0" not in table.columns


BIG_ARTISTS = (  # the layout of ESD's big_artist_prompts.csv / short_niche_art_prompts.csv
    ",case_number,prompt,evaluation_seed,artist\n"
    "0,0,\"A portrait, in the style of Picasso's Cubism\",3721,Pablo Picasso\n"
    "20,20,\"A sunflower field, painted in Van Gogh's signature style\",3558,Van Gogh\n"
    "40,40,A self-portrait by Rembrandt,2526,Rembrandt\n"
)


def test_artists_filtered_by_the_artist_column(tmp_path):
    source = write(tmp_path, "big.csv", BIG_ARTISTS)
    table = build_prompt_table("artists", {**spec("artists", 2), "artists": ["Pablo Picasso", "Van Gogh"]},
                               guidance=7.5, source_file=source)
    assert table["artist"].tolist() == ["Pablo Picasso", "Van Gogh"]
    assert table["prompt_id"].tolist() == ["art-000", "art-020"] and table["seed"].tolist() == [3721, 3558]
    with pytest.raises(ErasureError) as info:  # an artist the file does not have: one line naming it
        build_prompt_table("artists", {**spec("artists", 1), "artists": ["Thomas Kinkade"]}, guidance=7.5,
                           source_file=source)
    assert "\n" not in str(info.value) and "'Thomas Kinkade'" in str(info.value) and str(source) in str(info.value)


def test_i2p_metadata_and_seeds(tmp_path):
    table = build_prompt_table("i2p", spec("i2p", 2), guidance=7.5, source_file=write(tmp_path, "i.csv", I2P))
    assert table["seed"].tolist() == [2734971755, 12]
    assert table["categories"][1] == "harassment,violence"
    assert {"hard", "nudity_percentage", "sd_guidance_scale", "lexica_url"} <= set(table.columns)
    assert (table["guidance"] == 7.5).all()  # the prompt set's CFG; the source's is metadata
    assert image_seeds(12, 5) == [12, 13, 14, 15, 16]


def test_shipped_country_body_is_the_upstream_file():
    path = REPO / "config" / "prompts" / "country_body.txt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "922ee6e1791ca38c0b886d61fd03778e0e389d2cec3834309c9cb708659c1870")
    table = build_prompt_table("country-body", spec("country-body", 50), guidance=7.5, source_file=path)
    assert table["prompt"][0] == "United States body" and table["country"][49] == "Iraq"


@pytest.mark.parametrize("mutate, needle", [
    (lambda t: t.assign(prompt=["a", " ", "c"]), "empty prompt"),
    (lambda t: t.assign(prompt_id=["x", "y", "x"]), "duplicate prompt_id 'x'"),
    (lambda t: t.drop(columns=["seed"]), "missing column 'seed'"),
])
def test_validation_errors_are_one_line(mutate, needle):
    table = pd.DataFrame({"prompt_id": ["x", "y", "z"], "prompt": ["a", "b", "c"], "seed": 1, "guidance": 5.0})
    with pytest.raises(ErasureError) as info:
        validate_table(mutate(table), "set.csv")
    assert needle in str(info.value) and "set.csv" in str(info.value) and "\n" not in str(info.value)


def test_declared_count_is_checked(tmp_path):
    with pytest.raises(ErasureError, match="n_prompts: 4"):
        build_prompt_table("coco30k", spec("coco30k", 4), guidance=7.5, source_file=write(tmp_path, "c.csv", COCO))


def test_toy_sets():
    body = build_prompt_table("body", spec("toy-body", 5), guidance=5.0)
    assert (body["background"] == "beach").all() and (body["shape"] == "").all()
    coco = build_prompt_table("coco", spec("toy-coco", 60, exclude=["triangle"]), guidance=5.0)
    assert not coco["prompt"].str.contains("triangle").any() and (coco["shape"] != "").all()
    again = build_prompt_table("coco", spec("toy-coco", 60, exclude=["triangle"]), guidance=5.0)
    pd.testing.assert_frame_equal(coco, again)  # deterministic
    i2p = build_prompt_table("i2p", spec("toy-i2p", 20), guidance=5.0,
                             concepts=["a triangle", "a striped shape", "a shape on the night"])
    assert (i2p["categories"] != "").all()
    artists = build_prompt_table("artists", spec("toy-artists", 15), guidance=5.0)
    assert set(artists["fill"]) == {"solid", "striped", "dotted"} and artists["case_number"].tolist() == list(range(15))
    with pytest.raises(ErasureError, match="n_prompts: 6"):
        build_prompt_table("body", spec("toy-body", 6), guidance=5.0)


def test_table_round_trip(tmp_path):
    body = build_prompt_table("body", spec("toy-body", 5), guidance=5.0)
    write_table(body, tmp_path / "body.csv")
    pd.testing.assert_frame_equal(read_table(tmp_path / "body.csv"), body)


def test_fetch_local_path_url_and_errors(tmp_path):
    source = write(tmp_path, "coco.csv", COCO)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    out = fetch_source(tmp_path / "out" / "a.csv", name="coco30k", path=str(source), sha256=digest)
    assert out.read_text() == COCO
    fetch_source(tmp_path / "out" / "b.csv", name="coco30k", url=source.as_uri(), sha256=digest)
    for kwargs, needle in [
        ({}, "no url and no path"),
        ({"path": str(source), "sha256": "0" * 64}, "expected 0000"),
        ({"path": str(tmp_path / "missing.csv")}, "does not exist"),
        ({"url": "http://127.0.0.1:9/coco.csv"}, "cannot download"),
    ]:
        with pytest.raises(ErasureError) as info:
            fetch_source(tmp_path / "out" / "c.csv", name="coco30k", timeout=5, **kwargs)
        assert needle in str(info.value) and "prompt_sets.coco30k" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out" / "c.csv").exists()  # nothing half-written


def test_heldout_sets_use_new_phrasings_and_seeds_from_10000():
    from erasure.worlds.toy.prompts import BODY_PROMPTS, toy_body, toy_coco, toy_heldout_body, toy_heldout_coco, toy_i2p

    body = toy_heldout_body(n_prompts=7, seed=10_000, guidance=5.0, concepts=["a triangle"])
    other = toy_heldout_coco(n_prompts=8, seed=10_000, guidance=5.0, exclude=["triangle"])
    assert len(body) == 7 and len(other) == 8 and set(body["seed"]) == set(other["seed"]) == {10_000}
    assert set(other["shape"]) == {"square", "circle", "cross", "diamond"}  # two phrasings per non-target shape
    assert (body["shape"] == "triangle").sum() == 4 and (body["background"] == "beach").sum() == 3
    config_prompts = set(BODY_PROMPTS) | set(toy_coco(n_prompts=500, seed=0, guidance=5.0, exclude=["triangle"])["prompt"]) \
        | set(toy_i2p(n_prompts=500, seed=0, guidance=5.0, concepts=["triangle", "red", "striped"])["prompt"])
    assert not config_prompts & (set(body["prompt"]) | set(other["prompt"]))
    assert not set(body["prompt_id"]) & set(toy_body(n_prompts=5, seed=0, guidance=5.0)["prompt_id"])
    with pytest.raises(ErasureError, match="held-out seeds start at 10000"):
        toy_heldout_coco(n_prompts=8, seed=0, guidance=5.0)


ESD_I2P = (  # the layout of ESD's copy of I2P, unsafe-prompts4703.csv (rohitgandikota/erasing data/)
    ",prompt,categories,hard,inappropriate_percentage,nudity_percentage,q16_percentage,sd_safety_percentage,"
    "prompt_toxicity,lexica_url,evaluation_seed,evaluation_guidance\n"
    "0,\"a dark scene, oil painting\",violence,1,80.0,0.0,60.0,70.0,0.1,https://lexica.art/x,2734971755,7\n"
    "1,portrait of a sad man,\"harassment,violence\",0,40.0,10.0,20.0,10.0,0.3,https://lexica.art/y,12,7.5\n"
)


def test_esd_copy_of_i2p_is_read_under_its_own_column_names(tmp_path):
    """Issue 32's example: ESD names I2P's sd_seed `evaluation_seed` (and sd_guidance_scale `evaluation_guidance`)."""
    table = build_prompt_table("i2p", spec("i2p", 2), guidance=7.5, source_file=write(tmp_path, "u.csv", ESD_I2P))
    assert table["seed"].tolist() == [2734971755, 12]
    assert table["evaluation_guidance"].tolist() == ["7", "7.5"] and table["categories"][1] == "harassment,violence"
    assert "Unnamed: 0" not in table.columns and (table["guidance"] == 7.5).all()


def test_empty_prompts_are_counted_and_located_with_the_fix(tmp_path):
    """Every empty prompt at once (ESD's copy of I2P has some): how many, the file's data rows, and the fix."""
    rows = ESD_I2P.splitlines()
    text = "\n".join([*rows, "2,,hate,0,1.0,0.0,0.0,0.0,0.0,https://lexica.art/z,77,7", "3,  ,hate,0,1,0,0,0,0,u,9,7"])
    file = write(tmp_path, "u.csv", text + "\n")
    with pytest.raises(ErasureError) as info:
        build_prompt_table("ext", spec("i2p", 4), guidance=7.5, source_file=file, where=f"prompt_sets.ext.path {file}")
    message = str(info.value)
    assert message.startswith(f"prompt_sets.ext.path {file}: 2 empty prompts") and "\n" not in message
    assert "data rows 3, 4" in message and "lower n_prompts by 2" in message


def test_a_file_of_another_source_names_the_source_it_fits(tmp_path):
    """Second instance: ESD's big_artist_prompts.csv given to a coco30k set (no image_id) says to use `artists`."""
    file = write(tmp_path, "big.csv", BIG_ARTISTS)
    with pytest.raises(ErasureError) as info:
        build_prompt_table("coco30k", spec("coco30k", 2), guidance=7.5, source_file=file)
    message = str(info.value)
    assert message.startswith(f"{file}: no image id column ('image_id') for source coco30k")
    assert "set the prompt set's source to artists" in message and "\n" not in message


def _coco_captions(captions):
    """A COCO caption annotation document in the upstream layout (captions_*2014.json)."""
    import json

    return json.dumps({"info": {}, "images": [], "licenses": [],
                       "annotations": [{"image_id": 100 + i, "id": 900 + i, "caption": c}
                                       for i, c in enumerate(captions)]})


def test_coco_captions_from_the_annotation_zip_train_then_val_or_one_json(tmp_path):
    """MACE's prior cache reads captions_train2014.json then captions_val2014.json (src/cache_coco.py); the
    annotations zip holds both (and instances_*, skipped); one JSON alone is read too."""
    import zipfile

    archive = tmp_path / "annotations_trainval2014.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("annotations/instances_val2014.json", "{}")
        z.writestr("annotations/captions_val2014.json", _coco_captions(["A val caption.", "Two\n cats "]))
        z.writestr("annotations/captions_train2014.json", _coco_captions(["A train caption."]))
    spec = {"source": "coco-captions", "n_prompts": 3, "seed": 7}
    table = build_prompt_table("caps", spec, guidance=7.5, source_file=archive)
    assert table["prompt"].tolist() == ["A train caption.", "A val caption.", "Two cats"]
    assert table["seed"].tolist() == [7, 7, 7] and table["image_id"].tolist() == [100, 100, 101]
    one = tmp_path / "captions_val2014.json"
    one.write_text(_coco_captions(["A val caption.", "Two cats"]))
    assert build_prompt_table("caps", {**spec, "n_prompts": 2}, guidance=7.5, source_file=one)["prompt"].tolist() == [
        "A val caption.", "Two cats"]
    with pytest.raises(ErasureError, match=r"^prompt_sets.caps \(.*captions_val2014.json\).*n_prompts"):
        build_prompt_table("caps", spec, guidance=7.5, source_file=one)  # 2 captions, 3 declared


@pytest.mark.parametrize("content", ["image_id,caption\n1,a cat\n", '{"images": []}'])
def test_a_file_that_is_not_coco_captions_is_one_line(tmp_path, content):
    bad = tmp_path / "captions.json"
    bad.write_text(content)
    with pytest.raises(ErasureError, match=r"^prompt_sets.caps.path x.json: not a COCO caption annotation file") as info:
        build_prompt_table("caps", {"source": "coco-captions", "n_prompts": 1}, guidance=7.5, source_file=bad,
                           where="prompt_sets.caps.path x.json")
    assert "\n" not in str(info.value)


def test_a_missing_caption_file_is_one_line_naming_the_key(tmp_path):
    """The fetch job for a caption set with no url (paper.yaml's coco-captions: never downloaded)."""
    with pytest.raises(ErasureError, match=r"^prompt_sets.coco-captions.path: .*annotations_trainval2014.zip does "
                                           r"not exist; fix the path"):
        fetch_source(tmp_path / "out.csv", name="coco-captions", path=str(tmp_path / "annotations_trainval2014.zip"))
    assert not (tmp_path / "out.csv").exists()
