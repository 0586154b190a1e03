"""One attack job of the DAG (rules/attack.smk): one (method, attack, prompt set, shard of prompts).

Loads the attacked method as the generate rules do (erasure.generate.load_method), builds the attack from
its config entry (`attacks.attacks.<name>`: kind unlearndiffatk | ring-a-bell, settings, Ring-A-Bell's
concept prompts) and runs it on the shard's prompts through erasure.attacks.table.run_attacks, which
rewrites the shard's rows file (`partial_path`, not a Snakemake output) after every prompt: a killed job
resumes with the missing prompts only; the output is a copy made when every prompt is done.

The white-box target of a prompt is the target method's (the base model's) image of that (prompt_id, seed)
drawn with the generate rules' latents and sampling; its early-stop check is the detector of the ASR
metric (toy: the %TARGET oracle rule; SD: NudeNet with the metric's classes and threshold).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch

from erasure.errors import ErasureError

log = logging.getLogger(__name__)
KINDS = ("unlearndiffatk", "ring-a-bell")


def shard_prompts(table: pd.DataFrame, shard: int, shard_size: int) -> pd.DataFrame:
    """Rows [shard * shard_size, (shard + 1) * shard_size) of the prompt table (prompt-table order)."""
    n_shards = max(1, -(-len(table) // int(shard_size)))
    if not 0 <= int(shard) < n_shards:
        raise ErasureError(f"attack shard {shard}: out of range; this prompt set has {n_shards} shards of {shard_size}")
    return table.iloc[int(shard) * int(shard_size): (int(shard) + 1) * int(shard_size)].reset_index(drop=True)


def detector(metric: str, settings: Mapping, *, world: str, base_model: str, results: str | Path):
    """`detects(image uint8 [H, W, 3]) -> bool` of the ASR metric; None when it has no per-image detector."""
    from erasure.attacks import checks

    from erasure.metrics import catalog
    from erasure.worlds import world_for

    kind = world_for(base_model)
    if metric in kind.metrics:  # the world's own metric (toy: %TARGET by the oracle in its base)
        backbone = kind.backbone_dir(base_model, catalog.world_backbone(metric), results)
        return checks.oracle_detector(backbone, settings.get("concepts", {"shape": "triangle"}),
                                      threshold=float(settings.get("threshold", 0.7)))
    if metric in ("nude", "nude-mace"):
        from erasure.metrics import nudenet

        protocol = settings.get("protocol", "paper" if metric == "nude" else "mace")
        classes = tuple(settings.get("classes") or nudenet.PROTOCOLS[protocol]["classes"])
        threshold = float(settings.get("threshold", nudenet.PROTOCOLS[protocol]["threshold"]))
        found = nudenet.load_detector(1, settings.get("model"))

        def detects(image) -> bool:
            return bool(nudenet.judge(nudenet.detect(found, [image], 1)[0], classes=classes, threshold=threshold))

        return detects
    log.info("metric %s has no per-image detector: the white-box attack runs without early stop", metric)
    return None


def fit_prompt(tokenizer, prompt: str, k: int) -> str:
    """`prompt` cut to its longest word prefix whose tokens fit the text encoder after k prepended tokens.

    The pipeline truncates a long prompt to the encoder's positions (77 for CLIP) anyway, and so does
    UnlearnDiffAtk's tokenizer call; the library refuses instead (an adversarial prompt must re-encode to
    exactly the optimised ids), so the cut happens here, at a word boundary: the attacked conditioning is
    what the pipeline would read, less at most the part-word at the cut. Long I2P-style prompts (UnlearnDiffAtk's
    nudity set has some) would otherwise fail the whole shard."""
    from erasure.attacks.text import encode_ids

    room = int(tokenizer.model_max_length) - 2 - int(k)
    words = prompt.split()
    if len(encode_ids(tokenizer, prompt)) <= room:
        return prompt
    while words and len(encode_ids(tokenizer, " ".join(words))) > room:
        words.pop()
    if not words:
        raise ErasureError(f"prompt {prompt[:60]!r}: no word prefix fits {room} tokens; lower k")
    log.info("prompt cut to %d tokens for k=%d: %r", room, k, " ".join(words))
    return " ".join(words)


def concept_pairs(spec: Mapping) -> tuple[list[str], list[str]]:
    """Ring-A-Bell's paired prompts: `concept.with`/`concept.without`, or `concept.prompts` with `word`
    swapped for each of `replacements` (erasure.attacks.ringabell.swap_pairs)."""
    from erasure.attacks.ringabell import swap_pairs

    concept = spec.get("concept") or {}
    if concept.get("with"):
        with_c, without = list(concept["with"]), list(concept.get("without") or [])
        if len(with_c) != len(without):
            raise ErasureError(f"attacks: concept.with has {len(with_c)} prompts, concept.without {len(without)}")
        return with_c, without
    if concept.get("prompts"):
        return swap_pairs(concept["prompts"], concept["word"], concept["replacements"])
    raise ErasureError("attacks: a ring-a-bell attack needs concept.with/without or concept.prompts/word/replacements")


def attack_shard(table: str | Path, out: str | Path, *, method: str, method_spec: Mapping | None, attack: str,
                 attack_spec: Mapping, shard: int, shard_size: int, sampling: Mapping, base_model: str,
                 results: str | Path, world: str, target_method: str, target_spec: Mapping | None,
                 metric: str, metric_settings: Mapping, device: str = "auto") -> dict:
    """Attack the shard's prompts; write/resume `out` (erasure.attacks.table columns). Returns run_attacks' counts."""
    from erasure.attacks import checks, ringabell, whitebox
    from erasure.attacks.table import run_attacks
    from erasure.generate.pipelines import load_method
    from erasure.generate.shard import weights_fingerprint
    from erasure.io import atomic_path
    from erasure.prompts.table import read_table
    from erasure.runtime import pick_device

    kind = attack_spec.get("kind")
    if kind not in KINDS:
        raise ErasureError(f"attacks.attacks.{attack}.kind: {kind!r}, expected one of {', '.join(KINDS)}")
    prompts = shard_prompts(read_table(table), shard, shard_size)
    torch_device = pick_device(device)
    # float32 weights even on a GPU: the white-box gradient through the UNet overflows in float16; its forward
    # passes run under bf16 autocast on a GPU by default (WhiteBoxSettings.precision)
    common = dict(base_model=base_model, results=results, world=world, scheduler=sampling["scheduler"],
                  device=torch_device)
    pipeline = load_method(method, method_spec, **common)
    pipe = pipeline.pipe
    draw = dict(guidance=float(sampling["guidance"]), steps=int(sampling["steps"]))
    fingerprint = {"attack": attack, "spec": dict(attack_spec), "method": pipeline.identity(),
                   "weights": weights_fingerprint(base_model, results=results, world=world, method=method),
                   "sampling": dict(sampling), "metric": metric, "metric_settings": dict(metric_settings),
                   "target_method": target_method, "device": torch_device.type}

    if kind == "unlearndiffatk":
        settings = whitebox.WhiteBoxSettings(**dict(attack_spec.get("settings") or {}))
        precision = whitebox.effective_precision(settings.precision, torch_device)
        if precision != "fp32":  # bf16 draws other tokens: a GPU's table must not resume an fp32 one (CPU: as before)
            fingerprint["precision"] = precision
        target = pipeline if target_method == method else load_method(target_method, target_spec, **common)
        detects = detector(metric, metric_settings, world=world, base_model=base_model, results=results)

        def run(row):
            image = checks.draw_image(target, row["prompt"], prompt_id=row["prompt_id"], seed=int(row["seed"]), **draw)
            latents = whitebox.image_latents(pipe.vae, image)
            check = None if detects is None else checks.prompt_check(
                pipeline, detects, prompt_id=row["prompt_id"], seed=int(row["seed"]), **draw)
            prompt = fit_prompt(pipe.tokenizer, row["prompt"], settings.k)
            return whitebox.unlearn_diff_attack(pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, latents,
                                                prompt, seed=int(row["seed"]), settings=settings, check=check)
    else:
        settings = ringabell.RingABellSettings(**dict(attack_spec.get("settings") or {}))
        with_c, without = concept_pairs(attack_spec)
        concept = ringabell.concept_vector(pipe.text_encoder, pipe.tokenizer, with_c, without)

        def run(row):  # text encoder only: the UNet is never passed (tests/attacks/test_ringabell.py)
            return ringabell.ring_a_bell(pipe.text_encoder, pipe.tokenizer, row["prompt"], concept,
                                         seed=int(row["seed"]), settings=settings)

    # Rows go to a file beside the output, not to the output: Snakemake deletes a failed or killed job's
    # outputs, which would throw away every prompt done (as generate keeps its PNGs outside its outputs).
    rows = partial_path(out)
    with torch.no_grad() if kind == "ring-a-bell" else contextlib.nullcontext():
        counts = run_attacks(prompts, rows, run, attack_name=attack, fingerprint=fingerprint)
    with atomic_path(Path(out)) as tmp:
        shutil.copyfile(rows, tmp)
    log.info("attack %s on %s, shard %s: %s", attack, method, shard, counts)
    return counts


def text_attack_shard(table: str | Path, out: str | Path, *, encoder: str, attack: str, attack_spec: Mapping,
                      shard: int, shard_size: int, base_model: str, results: str | Path, world: str,
                      device: str = "auto") -> dict:
    """A text-encoder-only attack (Ring-A-Bell) on the shard's prompts, loading a tokenizer and text encoder
    alone: the base's (`encoder` "base": erasure.models.load_text_encoder) or, for a method that trains its
    text encoder (AdvUnlearn), that run's (`encoder` its model id `{run}@{step}`:
    erasure.checkpoints.load_run_text_encoder; the rule declares the run's complete.json as an input, so a
    retrained encoder is attacked again). Its adversarial prompts are those of every method with that text
    encoder (erasure.plan.attacks.text_encoder), so one job serves them all. Resumes per prompt like
    `attack_shard`; writes the same rows (erasure.attacks.table). Returns run_attacks' counts.
    Raises ErasureError for another kind of attack, a bad shard, an encoder that is neither "base" nor a
    run's model id, or a run whose checkpoint holds no text-encoder tensors."""
    from erasure.attacks import ringabell
    from erasure.attacks.base import BASE_ENCODER, TEXT_ONLY_KINDS
    from erasure.attacks.table import run_attacks
    from erasure.generate.shard import weights_fingerprint
    from erasure.io import atomic_path
    from erasure.prompts.table import read_table
    from erasure.runtime import pick_device

    kind = attack_spec.get("kind")
    if kind not in TEXT_ONLY_KINDS:
        raise ErasureError(f"attacks.attacks.{attack}.kind: {kind!r} reads more than the text encoder; "
                           f"only {', '.join(TEXT_ONLY_KINDS)} runs once per text encoder")
    prompts = shard_prompts(read_table(table), shard, shard_size)
    torch_device = pick_device(device)
    if encoder == BASE_ENCODER:
        from erasure.models import load_text_encoder

        tokenizer, text_encoder = load_text_encoder(base_model, results_root=results, device=torch_device)
        owner = "sd"  # the base's weights (its text encoder among them): a new base attacks again
    else:
        from erasure import paths
        from erasure.checkpoints import load_run_text_encoder
        from erasure.paths import MethodId

        parsed = MethodId.parse(encoder)
        if not parsed.finetuned:
            raise ErasureError(f"text encoder {encoder!r}: expected {BASE_ENCODER!r} or a run's model id "
                               "({run}@{step}, erasure.plan.attacks.text_encoder)")
        tokenizer, text_encoder = load_run_text_encoder(
            base_model, paths.run_dir(results, world, parsed.run), parsed.step, parsed.which,
            results_root=results, device=torch_device)
        owner = encoder  # the base's weights and the run's complete.json: a retrained encoder attacks again
    settings = ringabell.RingABellSettings(**dict(attack_spec.get("settings") or {}))
    with_c, without = concept_pairs(attack_spec)
    concept = ringabell.concept_vector(text_encoder, tokenizer, with_c, without)
    fingerprint = {"attack": attack, "spec": dict(attack_spec), "text_encoder": encoder,
                   "weights": weights_fingerprint(base_model, results=results, world=world, method=owner),
                   "device": torch_device.type}

    def run(row):
        return ringabell.ring_a_bell(text_encoder, tokenizer, row["prompt"], concept, seed=int(row["seed"]),
                                     settings=settings)

    rows = partial_path(out)
    with torch.no_grad():
        counts = run_attacks(prompts, rows, run, attack_name=attack, fingerprint=fingerprint)
    with atomic_path(Path(out)) as tmp:
        shutil.copyfile(rows, tmp)
    log.info("attack %s on text encoder %s, shard %s: %s", attack, encoder, shard, counts)
    return counts


def partial_path(out: str | Path) -> Path:
    """Where a shard job's rows accumulate (`{shard}.rows.csv`, with its `.rows.fingerprint.json`): kept
    when the job dies, so the next run attacks only the missing prompts."""
    out = Path(out)
    return out.with_name(f"{out.stem}.rows.csv")


SHARED_COLUMNS = ("prompt_id", "seed", "prompt", "adversarial_prompt", "attack", "iterations", "loss")


def merge_attacks(shards: list[str | Path], table: str | Path, adversarial: str | Path, attacked_table: str | Path,
                  *, provenance: Mapping) -> dict:
    """The shards' rows as one adversarial-prompts CSV (the shareable columns first, then token_ids,
    detected, seconds), its `.provenance.json` sidecar (`provenance` plus row count), and the attacked
    prompt table that the generate rules draw `{promptset}~{attack}` from (same prompt_ids and seeds)."""
    from erasure.attacks.table import COLUMNS, attacked_prompts, read_attack_table
    from erasure.io import atomic_path, write_json_atomic
    from erasure.prompts.table import read_table

    rows = pd.concat([read_attack_table(s) for s in shards], ignore_index=True)
    prompts = read_table(table)
    attacked = attacked_prompts(prompts, rows)  # one clear line when a prompt has no adversarial prompt
    # Ring-A-Bell's fragments and some white-box tokens are outside a closed vocabulary by design: said, not refused
    from erasure.prompts.vocabulary import warn_table

    warn_table(attacked, f"attack {provenance.get('attack', '?')} on {provenance.get('method', '?')} "
                         f"({Path(attacked_table)})", provenance.get("base_model"))
    order = list(SHARED_COLUMNS) + [c for c in COLUMNS if c not in SHARED_COLUMNS]
    for frame, path in ((rows[order], adversarial), (attacked, attacked_table)):
        with atomic_path(Path(path)) as tmp:
            frame.to_csv(tmp, index=False)
    seconds = rows["seconds"].astype(float)
    summary = {"rows": len(rows), "seconds_per_prompt_mean": round(float(seconds.mean()), 3),
               "seconds_per_prompt_median": round(float(seconds.median()), 3),
               "iterations_mean": round(float(rows["iterations"].astype(float).mean()), 2)}
    write_json_atomic(Path(adversarial).with_suffix(".provenance.json"), {**dict(provenance), **summary})
    return summary
