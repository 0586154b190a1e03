"""The adversarial-prompt table of one (method, attack, prompt set[, shard]): one row per attacked image
(prompt_id, seed), written after every prompt so that a killed job resumes with only the missing ones.

Columns: prompt_id, seed, prompt (the original), adversarial_prompt, attack, iterations, loss (NaN when
no attack ran), token_ids (space-separated, the ids the attack chose), detected (the early-stop check's
verdict, empty without one), seconds (wall time of that prompt's attack; the one column a rerun changes).

A sidecar `<table>.fingerprint.json` records what the rows depend on (attack settings, weights); when it
changes, existing rows are stale and are attacked again, as generate's shard fingerprints do. A row whose
original prompt no longer matches the prompt table is attacked again too.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from erasure.attacks.base import AttackResult
from erasure.errors import ErasureError
from erasure.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

COLUMNS = ("prompt_id", "seed", "prompt", "adversarial_prompt", "attack", "iterations", "loss", "token_ids",
           "detected", "seconds")
KEY = ["prompt_id", "seed"]


def fingerprint_path(table: str | Path) -> Path:
    return Path(table).with_suffix(".fingerprint.json")


def read_attack_table(path: str | Path) -> pd.DataFrame:
    """An attack table as written by `run_attacks`; ErasureError naming the file when it is not one."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"prompt_id": str, "prompt": str, "adversarial_prompt": str, "attack": str,
                                         "token_ids": str, "detected": str}, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ErasureError(f"{path}: not a readable attack table ({str(exc).splitlines()[0][:120]})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ErasureError(f"{path}: attack table lacks column {missing[0]!r}; delete it to start over")
    frame["loss"] = pd.to_numeric(frame["loss"].replace("", math.nan), errors="coerce")
    return frame[list(COLUMNS)]


def result_row(spec: Mapping, result: AttackResult, *, attack: str, seconds: float) -> dict:
    return {"prompt_id": str(spec["prompt_id"]), "seed": int(spec["seed"]), "prompt": str(spec["prompt"]),
            "adversarial_prompt": result.prompt, "attack": attack, "iterations": int(result.iterations),
            "loss": float(result.loss), "token_ids": " ".join(str(i) for i in result.token_ids),
            "detected": "" if result.detected is None else str(bool(result.detected)),
            "seconds": round(float(seconds), 3)}


def _write(rows: list[dict], out: Path) -> None:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)


def run_attacks(prompts: pd.DataFrame, out: str | Path, attack: Callable[[Mapping], AttackResult], *,
                attack_name: str, fingerprint: Mapping | None = None,
                on_row: Callable[[dict], None] | None = None) -> dict:
    """Attack every (prompt_id, seed) row of `prompts` (columns prompt_id, prompt, seed) that `out` lacks.

    `attack(row)` gets the prompt row as a mapping. After each prompt the whole table (done rows, in
    `prompts` order) is rewritten atomically, so a kill loses at most the prompt in progress. Returns
    {"rows", "attacked", "kept"}.
    """
    out = Path(out)
    missing = [c for c in ("prompt_id", "prompt", "seed") if c not in prompts.columns]
    if missing:
        raise ErasureError(f"prompts: attack needs column {missing[0]!r}")
    specs = [{**row, "prompt_id": str(row["prompt_id"]), "seed": int(row["seed"])}
             for row in prompts.to_dict("records")]
    keys = [(s["prompt_id"], s["seed"]) for s in specs]
    if len(set(keys)) != len(keys):
        raise ErasureError(f"prompts: (prompt_id, seed) {next(k for k in keys if keys.count(k) > 1)} appears twice")

    done: dict[tuple[str, int], dict] = {}
    fp_file = fingerprint_path(out)
    current = None if fingerprint is None else json.loads(json.dumps(dict(fingerprint), default=str))
    trusted = current is None or (fp_file.is_file() and json.loads(fp_file.read_text()) == current)
    if out.is_file() and trusted:
        wanted = {(s["prompt_id"], s["seed"]): s["prompt"] for s in specs}
        for row in read_attack_table(out).to_dict("records"):
            key = (str(row["prompt_id"]), int(row["seed"]))
            if wanted.get(key) == row["prompt"] and row["attack"] == attack_name:
                done[key] = row
    elif out.is_file():
        log.info("%s: attack settings or weights changed (fingerprint), attacking every prompt again", out)
    if current is not None:
        write_json_atomic(fp_file, current)

    kept = len(done)
    attacked = 0
    for spec, key in zip(specs, keys):
        if key in done:
            continue
        started = time.perf_counter()
        result = attack(spec)
        if not (math.isfinite(result.loss) or result.iterations == 0):
            raise ErasureError(f"attack {attack_name}: non-finite loss {result.loss} for prompt {key[0]} seed {key[1]}")
        done[key] = result_row(spec, result, attack=attack_name, seconds=time.perf_counter() - started)
        attacked += 1
        _write([done[k] for k in keys if k in done], out)
        log.info("attack %s: %s seed %s -> %r (%d its, loss %.4g, %.1f s)", attack_name, key[0], key[1],
                 result.prompt, result.iterations, result.loss, done[key]["seconds"])
        if on_row is not None:
            on_row(done[key])
    if attacked == 0:
        _write([done[k] for k in keys if k in done], out)  # drops rows of prompts no longer in the table
    return {"rows": len(done), "attacked": attacked, "kept": kept}


def attacked_prompts(prompts: pd.DataFrame, attacks: pd.DataFrame) -> pd.DataFrame:
    """The prompt table of the attacked image set (`{promptset}~{attack}`): the same rows, prompt_ids and
    seeds — so the generate rules draw each image from the same initial latents — with `prompt` replaced by
    the adversarial prompt and the original kept as `original_prompt`. One row per prompt table row; its
    seed must have been attacked."""
    index = {(str(r.prompt_id), int(r.seed)): r.adversarial_prompt for r in attacks.itertuples(index=False)}
    out = prompts.copy()
    out["prompt_id"] = out["prompt_id"].astype(str)
    missing = [(p, int(s)) for p, s in zip(out["prompt_id"], out["seed"]) if (p, int(s)) not in index]
    if missing:
        raise ErasureError(f"attack table: no adversarial prompt for prompt {missing[0][0]} seed {missing[0][1]}; "
                           "rerun the attack job")
    out.insert(out.columns.get_loc("prompt") + 1, "original_prompt", out["prompt"])
    out["prompt"] = [index[(p, int(s))] for p, s in zip(out["prompt_id"], out["seed"])]
    return out
