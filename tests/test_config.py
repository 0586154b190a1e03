import copy

import pytest
import yaml

from erasure.config import validate_config
from erasure.errors import ErasureError

SCHEMA = "config/schema.yaml"
CONFIGS = ["config/config.yaml", "config/smoke.yaml", "config/paper.yaml"]


def load(repo, name):
    with open(repo / name) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_validate(repo, name):
    validate_config(load(repo, name), repo / SCHEMA, source=name)


def test_defaults_are_filled(repo):
    config = load(repo, "config/config.yaml")
    config.pop("device")
    assert validate_config(config, repo / SCHEMA)["device"] == "auto"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["runs"]["sdd-triangle"].update(iteratons=3), "unknown key 'runs.sdd-triangle.iteratons'"),
        (lambda c: c.update(wrold="toy"), "unknown key 'wrold'"),
        (lambda c: c["runs"]["sdd-triangle"].update(method="sdd-fast"), "runs.sdd-triangle.method"),
        (lambda c: c["runs"]["sdd-triangle"].update(iterations=0), "runs.sdd-triangle.iterations"),
        (lambda c: c["runs"].update({"Bad Name": c["runs"]["sdd-triangle"]}), "runs"),
        (lambda c: c["inference_methods"]["sega"].update(concepts="nudityy"),
         "inference_methods.sega.concepts: unknown concept set 'nudityy'"),
        (lambda c: c["runs"]["sdd-multi"].update(concepts=[]), "runs.sdd-multi.concepts"),
        # MACE's prior cache names a caption prompt set of the config (settings.prior; the preset's coco-captions)
        (lambda c: c["prompt_sets"].pop("coco-captions"),
         "runs.mace-triangle.settings.prior: 'coco-captions' is not a prompt set of this config (prompt_sets)"),
    ],
)
def test_bad_config_fails_with_one_line_naming_the_key(repo, mutate, expected):
    config = copy.deepcopy(load(repo, "config/config.yaml"))
    mutate(config)
    with pytest.raises(ErasureError) as info:
        validate_config(config, repo / SCHEMA, source="my.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("my.yaml: ")
    assert expected in message
