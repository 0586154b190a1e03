"""The per-prompt adversarial-prompt table: a killed attack job resumes with only the missing prompts."""

from __future__ import annotations

import pandas as pd
import pytest

from erasure.attacks.ringabell import RingABellSettings, concept_vector, ring_a_bell
from erasure.attacks.table import COLUMNS, attacked_prompts, fingerprint_path, read_attack_table, run_attacks
from erasure.errors import ErasureError

PROMPTS = pd.DataFrame({
    "prompt_id": ["p-0", "p-1", "p-2", "p-3"],
    "prompt": ["a red shape on the beach", "a shape on the beach", "a blue circle", "a striped square"],
    "seed": [0, 1, 2, 3],
    "guidance": 5.0,
})
SETTINGS = RingABellSettings(length=5, population=10, generations=4)


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def attack(tiny_pipe):
    """A real (tiny) Ring-A-Bell attack, counting the prompts it attacked."""
    te, tok = tiny_pipe.text_encoder, tiny_pipe.tokenizer
    concept = concept_vector(te, tok, ["a triangle"], ["a circle"])

    class Attack:
        def __init__(self, kill_after: int | None = None):
            self.seen: list[str] = []
            self.kill_after = kill_after

        def __call__(self, row):
            if self.kill_after is not None and len(self.seen) == self.kill_after:
                raise Killed  # the job dies while attacking this prompt
            self.seen.append(row["prompt_id"])
            return ring_a_bell(te, tok, row["prompt"], concept, seed=int(row["seed"]), settings=SETTINGS)

    return Attack


def _without_time(path):
    return read_attack_table(path).drop(columns="seconds")


def test_killed_run_resumes_with_only_the_missing_prompts(tmp_path, attack):
    whole = tmp_path / "whole.csv"
    full = attack()
    assert run_attacks(PROMPTS, whole, full, attack_name="ring-a-bell") == {"rows": 4, "attacked": 4, "kept": 0}
    assert full.seen == ["p-0", "p-1", "p-2", "p-3"]

    out = tmp_path / "killed.csv"
    with pytest.raises(Killed):
        run_attacks(PROMPTS, out, attack(kill_after=2), attack_name="ring-a-bell")
    assert list(read_attack_table(out)["prompt_id"]) == ["p-0", "p-1"]  # whole rows only, no temp files left
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    rerun = attack()
    assert run_attacks(PROMPTS, out, rerun, attack_name="ring-a-bell") == {"rows": 4, "attacked": 2, "kept": 2}
    assert rerun.seen == ["p-2", "p-3"]
    pd.testing.assert_frame_equal(_without_time(out), _without_time(whole))
    assert list(read_attack_table(out).columns) == list(COLUMNS)

    # a third run attacks nothing
    again = attack()
    assert run_attacks(PROMPTS, out, again, attack_name="ring-a-bell")["attacked"] == 0 and again.seen == []


def test_deleted_rows_and_changed_prompts_are_attacked_again(tmp_path, attack):
    out = tmp_path / "t.csv"
    run_attacks(PROMPTS, out, attack(), attack_name="ring-a-bell")
    table = read_attack_table(out)
    table.iloc[[0, 1, 3]].to_csv(out, index=False)  # p-2's row lost
    changed = PROMPTS.copy()
    changed.loc[3, "prompt"] = "a white cross"  # p-3's prompt edited in the prompt file
    rerun = attack()
    run_attacks(changed, out, rerun, attack_name="ring-a-bell")
    assert rerun.seen == ["p-2", "p-3"]
    assert read_attack_table(out).loc[3, "prompt"] == "a white cross"


def test_changed_fingerprint_attacks_everything_again(tmp_path, attack):
    out = tmp_path / "t.csv"
    run_attacks(PROMPTS, out, attack(), attack_name="ring-a-bell", fingerprint={"generations": 4})
    assert fingerprint_path(out).is_file()
    same = attack()
    run_attacks(PROMPTS, out, same, attack_name="ring-a-bell", fingerprint={"generations": 4})
    assert same.seen == []
    other = attack()
    run_attacks(PROMPTS, out, other, attack_name="ring-a-bell", fingerprint={"generations": 5})
    assert other.seen == ["p-0", "p-1", "p-2", "p-3"]


def test_bad_tables_are_one_line_errors(tmp_path, attack):
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt_id,seed\np-0,0\n")
    with pytest.raises(ErasureError, match=r"bad.csv: attack table lacks column 'prompt'"):
        run_attacks(PROMPTS, bad, attack(), attack_name="ring-a-bell")
    with pytest.raises(ErasureError, match=r"\('p-0', 0\) appears twice"):
        run_attacks(pd.concat([PROMPTS, PROMPTS.iloc[:1]]), tmp_path / "x.csv", attack(), attack_name="x")


def test_attacked_prompts_keep_ids_and_seeds(tmp_path, attack):
    out = tmp_path / "t.csv"
    run_attacks(PROMPTS, out, attack(), attack_name="ring-a-bell")
    table = read_attack_table(out)
    attacked = attacked_prompts(PROMPTS, table)
    assert list(attacked["prompt_id"]) == list(PROMPTS["prompt_id"]) and list(attacked["seed"]) == [0, 1, 2, 3]
    assert list(attacked["prompt"]) == list(table["adversarial_prompt"])
    assert list(attacked["original_prompt"]) == list(PROMPTS["prompt"])
    with pytest.raises(ErasureError, match="no adversarial prompt for prompt p-3 seed 3"):
        attacked_prompts(PROMPTS, table.iloc[:3])
