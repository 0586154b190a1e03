"""The results layout (docs/architecture.md), as the only place that builds result paths."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# --- the name patterns of path components: the one place their regexes are written ----------------------
# (the Snakefile's wildcard constraints are WILDCARDS; config/schema.yaml's run-name pattern is RUN_PATTERN:
# tests/test_wildcards.py checks both, and that no rule file writes a name regex of its own)
NAME_PATTERN = r"[a-z0-9][a-z0-9-]*"  # a prompt set, metric, attack or report item name
RUN_PATTERN = r"[a-z0-9][a-z0-9+-]*"  # a configured run's name
RUN_NAME = re.compile(RUN_PATTERN)
# Replicate r >= 1 of run `name` trains as run `name.r{r}` (folder models/{name}.r{r}/): `.` is MethodId's
# qualifier separator (`.student`) and no run name holds one, so a replicate can never collide with a
# configured run; `~` already means "attacked copy" (`{promptset}~{attack}`), and `+` / `-` are run-name
# characters. Replicate 0 is the run itself, under its own name: N = 1 changes no path.
REPLICATE = r"\.r(?P<replicate>[1-9]\d*)"
_REPLICATE = r"\.r[1-9]\d*"  # the same, without its group (a wildcard constraint holds no named group)
ATTACKED = "~"  # `{promptset}~{attack}`: the attacked copy of a prompt set (erasure.plan.SEPARATOR)
_RUN = re.compile(rf"^(?P<base>{RUN_PATTERN})(?:{REPLICATE})?$")
_FINETUNED = re.compile(
    rf"^(?P<run>(?P<base>{RUN_PATTERN})(?:{REPLICATE})?)(?P<student>\.student)?@(?P<step>\d+)$")

# The Snakefile's global wildcard constraints: what each `{wildcard}` of a path in this module may be.
WILDCARDS = {
    "world": r"[a-z0-9-]+",
    "run": rf"{RUN_PATTERN}(?:{_REPLICATE})?",  # replicate_run's names
    "method": rf"{RUN_PATTERN}(?:{_REPLICATE})?(?:\.student)?(?:@\d+)?",  # MethodId's
    "promptset": rf"{NAME_PATTERN}(?:{ATTACKED}{NAME_PATTERN})?",  # a set, or its attacked copy
    "metric": NAME_PATTERN,
    "shard": r"\d{4}",
    "encoder": r"[a-z0-9][a-z0-9+.@-]*",  # a text encoder's name (erasure.plan.attacks.text_encoder): a method id
}


def one_of(names: Iterable[str]) -> str:
    """A regex (a wildcard constraint) matching exactly one of `names`, in the order given; no names: a
    regex that matches nothing (`(?!)`), so that a rule with nothing to make matches no file."""
    names = list(names)
    if not names:
        return "(?!)"
    return "(?:" + "|".join(re.escape(str(name)) for name in names) + ")"


def replicate_run(run: str, replicate: int) -> str:
    """The run name replicate `replicate` of configured run `run` trains under: `run` itself for 0, else
    `run.r{replicate}` (its folder models/{run}.r{replicate}/, its method ids `run.r{replicate}@{step}`)."""
    return run if int(replicate) == 0 else f"{run}.r{int(replicate)}"


def split_run(name: str) -> tuple[str, int]:
    """(configured run, replicate) of a trained run's name: `esd-u.r2` -> ("esd-u", 2), `esd-u` -> ("esd-u", 0).
    Raises ValueError for a name that is neither."""
    match = _RUN.match(name)
    if match is None:
        raise ValueError(f"not a run name: {name!r}")
    return match["base"], int(match["replicate"] or 0)


@dataclass(frozen=True)
class MethodId:
    """A `{method}` path component: an inference-time method, or a fine-tuned run at a step.

    `run` is the trained run the weights come from (its folder under models/: `esd-u` or, for replicate
    r >= 1, `esd-u.r2`); `config_run` the key of `runs` in the config that defines it, `replicate` its index.
    """

    name: str
    run: str | None = None
    step: int | None = None
    which: str = "default"  # "default" (SDD: EMA teacher; ESD: trained model) or "student"
    config_run: str | None = None
    replicate: int = 0

    @property
    def finetuned(self) -> bool:
        return self.run is not None

    @classmethod
    def parse(cls, text: str) -> "MethodId":
        match = _FINETUNED.match(text)
        if match is None:
            return cls(name=text)
        which = "student" if match["student"] else "default"
        return cls(name=text, run=match["run"], step=int(match["step"]), which=which, config_run=match["base"],
                   replicate=int(match["replicate"] or 0))

    @staticmethod
    def of(run: str, step: int, *, student: bool = False, replicate: int = 0) -> "MethodId":
        return MethodId.parse(f"{replicate_run(run, replicate)}{'.student' if student else ''}@{int(step)}")

    def as_replicate(self, replicate: int) -> "MethodId":
        """The same checkpoint (step, weights) of replicate `replicate` of the same configured run."""
        if not self.finetuned:
            raise ValueError(f"{self.name!r} is not a fine-tuned method: it has no replicates")
        return MethodId.of(self.config_run, self.step, student=self.which == "student", replicate=replicate)


def world_dir(root: str | Path, world: str) -> Path:
    return Path(root) / world


def base_dir(root, world: str) -> Path:
    """A base model the DAG trains itself (erasure.worlds: World.built_base_dir)."""
    return world_dir(root, world) / "base"


def reference_dir(root, world: str) -> Path:
    """Real images that a world's own rule renders for a set-level metric (erasure.worlds: reference_sets)."""
    return world_dir(root, world) / "reference"


def q16_prompts(root, world: str) -> Path:
    """Q16's two prompt embeddings, converted once from the upstream pickle (rule q16_prompts)."""
    return world_dir(root, world) / "resources" / "q16_prompts.safetensors"


def listings(root, world: str) -> Path:
    """Listings of user folders read as one DAG input (erasure.external_inputs.folder_listing)."""
    return world_dir(root, world) / "resources" / "listings"


def caption_stats(root, world: str, promptset: str) -> Path:
    """A caption prompt set's token statistics under the base model's text encoder (rule caption_stats: MACE's
    prior-preservation cache, erasure.methods.mace.prior_statistics), read by the runs that name the set."""
    return world_dir(root, world) / "resources" / "caption-stats" / f"{promptset}.safetensors"


def prompt_table(root, world: str, promptset: str) -> Path:
    return world_dir(root, world) / "prompts" / f"{promptset}.csv"


def run_dir(root, world: str, run: str) -> Path:
    return world_dir(root, world) / "models" / run


def step_dir(run_directory: str | Path, step: int) -> Path:
    return Path(run_directory) / f"step-{int(step):06d}"


def run_complete(root, world: str, run: str) -> Path:
    return run_dir(root, world, run) / "complete.json"


def train_log(root, world: str, run: str) -> Path:
    return run_dir(root, world, run) / "train_log.csv"


def image_dir(root, world: str, method: str, promptset: str) -> Path:
    return world_dir(root, world) / "images" / method / promptset


def image_name(prompt_id: str, seed: int) -> str:
    return f"{prompt_id}_{int(seed)}.png"


def shard_manifest(root, world: str, method: str, promptset: str, shard: int | str) -> Path:
    """Shard `shard` (a number, or the `{shard}` wildcard) of an image set."""
    name = shard if isinstance(shard, str) else f"{shard:04d}"
    return image_dir(root, world, method, promptset) / "shards" / f"{name}.csv"


def manifest(root, world: str, method: str, promptset: str) -> Path:
    return image_dir(root, world, method, promptset) / "manifest.csv"


def score_csv(root, world: str, metric: str, method: str, promptset: str) -> Path:
    return world_dir(root, world) / "scores" / metric / method / f"{promptset}.csv"


def score_csv_cell(path: str | Path) -> tuple[str, str, str]:
    """(metric, method, prompt set) of a per-image score file, the inverse of `score_csv`."""
    path = Path(path)
    if path.suffix != ".csv" or path.name.endswith(".summary.csv") or path.parents[2].name != "scores":
        raise ValueError(f"{path}: not a per-image score file (scores/{{metric}}/{{method}}/{{promptset}}.csv)")
    return path.parents[1].name, path.parent.name, path.stem


def score_summary(root, world: str, metric: str, method: str, promptset: str) -> Path:
    return world_dir(root, world) / "scores" / metric / method / f"{promptset}.summary.csv"


def table(root, world: str, name: str, ext: str) -> Path:
    return world_dir(root, world) / "tables" / f"{name}.{ext}"


def figure(root, world: str, name: str) -> Path:
    return world_dir(root, world) / "figures" / f"{name}.png"


def provenance(root, world: str, artifact: str) -> Path:
    return world_dir(root, world) / "provenance" / f"{artifact}.json"


def provenance_prov(root, world: str, artifact: str) -> Path:
    """The W3C PROV-JSON export of the same record (erasure.report.provenance.to_prov)."""
    return world_dir(root, world) / "provenance" / f"{artifact}.prov.json"


def attack_dir(root, world: str, method: str, attacked: str) -> Path:
    """One (method, `{promptset}~{attack}`) attack: its shards, adversarial prompts and attacked prompt table."""
    return world_dir(root, world) / "attacks" / method / attacked


def attack_shard(root, world: str, method: str, attacked: str, shard: int | str) -> Path:
    name = shard if isinstance(shard, str) else f"{shard:04d}"
    return attack_dir(root, world, method, attacked) / "shards" / f"{name}.csv"


def fid_reference_stats(root, world: str, key: str) -> Path:
    """FID's reference statistics (Inception mean / covariance of a reference folder), computed once
    (rules/score.smk: fid_reference) and read by every FID job; `.provenance.json` beside it."""
    return world_dir(root, world) / "reference" / "fid" / f"{key}.npz"


def text_attack_shard(root, world: str, encoder: str, attacked: str, shard: int | str) -> Path:
    """A shard of a text-encoder-only attack (Ring-A-Bell): computed once per (prompt set, text encoder) and
    shared by every method with that text encoder (erasure.plan.attacks.text_encoder); `_text-encoder-*`
    cannot be a method's folder (method names start with a letter or digit)."""
    name = shard if isinstance(shard, str) else f"{shard:04d}"
    return world_dir(root, world) / "attacks" / f"_text-encoder-{encoder}" / attacked / "shards" / f"{name}.csv"


def adversarial_prompts(root, world: str, method: str, attacked: str) -> Path:
    """The shareable adversarial prompts CSV (+ `adversarial.provenance.json`)."""
    return attack_dir(root, world, method, attacked) / "adversarial.csv"


def attacked_prompt_table(root, world: str, method: str, attacked: str) -> Path:
    """The prompt table the generate rules draw (method, `{promptset}~{attack}`) from."""
    return attack_dir(root, world, method, attacked) / "prompts.csv"
