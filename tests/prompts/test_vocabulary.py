"""Issue 32 kind 9: words outside the toy vocabulary, which the toy tokenizer splits into characters silently,
are reported where a user writes them (config validation: error or warning) and where a prompt table or an
attack produces them (a warning in the job's log). The tokenizer itself is unchanged."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml

from erasure.config import validate_config
from erasure.errors import ErasureError
from erasure.prompts.vocabulary import check_config, table_warning, warn_table
from erasure.worlds import prompt_builder, world_for

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "config" / "schema.yaml"
TOY = world_for("toy:shipped")


@pytest.fixture
def toy_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_unknown_words_are_the_words_the_shipped_tokenizer_splits():
    """What is reported is what the tokenizer does: every vocabulary word is one token of the shipped base's
    tokenizer, and each word reported unknown is several pieces."""
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(TOY.pipeline_source("toy:shipped"), subfolder="tokenizer")
    assert all(len(tokenizer.tokenize(w)) == 1 for w in TOY.vocabulary())
    unknown = TOY.unknown_words("Triangles in a sandy scene, a red triangle")
    assert unknown == ["triangles", "sandy", "scene"]
    assert all(len(tokenizer.tokenize(w)) > 1 for w in unknown)
    assert world_for("CompVis/stable-diffusion-v1-4").unknown_words("triangles") == []  # open vocabulary


def test_a_config_concept_naming_nothing_known_fails_at_validation(toy_config):
    """The example: a run erasing "triangles" trained on character pieces and erased nothing the base draws."""
    toy_config["runs"]["sdd-triangle"]["concepts"] = ["triangles"]
    with pytest.raises(ErasureError) as error:
        validate_config(toy_config, SCHEMA, source="my.yaml")
    message = str(error.value)
    assert message.startswith("my.yaml: runs.sdd-triangle.concepts: 'triangles' names nothing the base knows")
    assert "did you mean 'triangle'?" in message and "known toy words: a on the" in message
    assert "\n" not in message


def test_a_concept_with_known_and_unknown_words_is_a_warning(toy_config, caplog):
    toy_config["inference_methods"]["sd-neg"]["concepts"] = ["a sandy triangle"]
    with caplog.at_level(logging.WARNING):
        validate_config(toy_config, SCHEMA, source="my.yaml")
    lines = [r.getMessage() for r in caplog.records if "sandy" in r.getMessage()]
    assert len(lines) == 1
    assert "inference_methods.sd-neg.concepts: 'a sandy triangle' has words outside the toy vocabulary (sandy)" \
        in lines[0]


def test_an_exclude_word_outside_the_vocabulary_fails(toy_config):
    """Another instance: `exclude: [triangles]` on toy-coco excluded nothing (no caption has the word), so the
    "non-target" set still drew triangles."""
    assert any("triangle" in p for p in prompt_builder("toy-coco")(n_prompts=40, seed=0, guidance=5.0,
                                                                  exclude=["triangles"])["prompt"])
    toy_config["prompt_sets"]["coco"]["exclude"] = ["triangles"]
    with pytest.raises(ErasureError, match=r"prompt_sets.coco.exclude: 'triangles' excludes nothing .*'triangle'"):
        validate_config(toy_config, SCHEMA, source="my.yaml")


def test_shipped_configs_pass_and_sd_is_not_checked(toy_config):
    assert check_config(toy_config) == []
    for name in ("smoke.yaml", "paper.yaml", "sd-smoke.yaml"):
        assert check_config(yaml.safe_load((ROOT / "config" / name).read_text())) == []
    overlay = copy.deepcopy(toy_config)
    overlay.update(yaml.safe_load((ROOT / "config" / "toy-attacks.yaml").read_text()))
    assert check_config(overlay) == []  # the Ring-A-Bell concept prompts are in the vocabulary
    overlay["attacks"]["attacks"]["ring-a-bell"]["concept"]["word"] = "triangels"
    with pytest.raises(ErasureError, match="attacks.attacks.ring-a-bell.concept.word: 'triangels'"):
        check_config(overlay)


def test_prompt_table_with_unknown_words_is_a_warning_naming_the_set(caplog):
    table = pd.DataFrame({"prompt_id": ["p-0", "p-1", "p-2"],
                          "prompt": ["a red triangle", "red triangles on a sandy beach", "a scene"]})
    with caplog.at_level(logging.WARNING):
        line = warn_table(table, "prompt_sets.mine (/data/mine.csv)", "toy:shipped")
    assert line.startswith("prompt_sets.mine (/data/mine.csv): 2 of 3 prompts have words outside the toy vocabulary "
                           "(triangles, sandy, scene)")
    assert "prompt_id p-1: 'red triangles on a sandy beach'" in line and "known toy words:" in line
    assert [r.getMessage() for r in caplog.records] == [f"warning: {line}"]
    assert warn_table(table, "x", "CompVis/stable-diffusion-v1-4") is None


def test_the_held_out_wordings_are_new_orders_not_new_words():
    import importlib.util

    spec = importlib.util.spec_from_file_location("erase_toy", ROOT / "experiments" / "scripts" / "erase_toy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    templates = [t for wording in module.WORDINGS.values() for t in wording.values() if isinstance(t, str)]
    filled = [t.format(colour="red", shape="circle", fill="striped") for t in templates]
    assert len(filled) == 10 and [TOY.unknown_words(t) for t in filled] == [[]] * 10


@pytest.mark.parametrize("source", ["toy-body", "toy-coco", "toy-i2p", "toy-artists", "toy-attack", "toy-heldout-body",
                                    "toy-heldout-coco"])
def test_every_toy_prompt_source_stays_in_the_vocabulary(source):
    table = prompt_builder(source)(n_prompts=9, seed=10_000, guidance=5.0, concepts=["a triangle", "a striped shape"])
    assert table_warning(table, source, TOY) is None


def test_the_generate_job_logs_the_warning(tmp_path, caplog):
    """Where the words reach the tokenizer: a generate job on a prompt set with "triangles" says so in its log
    (and still draws: the experiment may be deliberate)."""
    from erasure.generate import generate_shard
    from erasure.prompts import validate_table, write_table

    table = validate_table(pd.DataFrame({"prompt_id": ["mine-0"], "prompt": ["a red triangles"], "seed": [3],
                                         "guidance": [5.0]}), "test")
    write_table(table, tmp_path / "mine.csv")
    with caplog.at_level(logging.WARNING):
        stats = generate_shard(tmp_path / "mine.csv", tmp_path / "0000.csv", image_dir=tmp_path / "images" / "mine",
                               method="sd", method_spec={"kind": "sd"}, shard=0, shard_size=10, images_per_prompt=1,
                               sampling={"scheduler": "ddim", "steps": 2, "guidance": 5.0}, batch_size=1,
                               base_model="toy:shipped", results=tmp_path, world="toy", device="cpu")
    assert stats["drawn"] == 1
    lines = [r.getMessage() for r in caplog.records if "vocabulary" in r.getMessage()]
    assert lines == [f"warning: prompt set mine drawn by sd ({tmp_path / 'mine.csv'}): 1 of 1 prompts have words "
                     "outside the toy vocabulary (triangles); its tokenizer splits them into pieces no caption "
                     "trained, so those prompts quietly mean something else (e.g. prompt_id mine-0: 'a red triangles'; "
                     "known toy words: a on the shape with background filled image of in circle square triangle cross "
                     "diamond red yellow blue purple white plain grass sky beach night solid striped dotted)"]
