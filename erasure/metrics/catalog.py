"""The one table of metrics (torch-free: the Snakefile, the plan and the report read it while planning).

Each entry says what the workflow needs to know about a metric without importing its scorer:

    name        the metric's name in the config (prompt_sets.<set>.metrics, metrics.<name>) and in paths
    scorer      "module:function" with the signature of erasure.scoring.score's scorers, imported
                only when a job scores
    worlds      the worlds it applies to ("any": every world)
    reference   NONE; PAIRED: the reference method's image of the same (prompt_id, seed)
                (generation.reference_method, "sd"); SET: a set of real images
    reference_from_world   SET only: the world builds the set (the toy world's held-out renders,
                erasure.paths.reference_dir) instead of the config naming it (metrics.<name>.reference)
    set_level   one value for the whole set (FID) instead of one per image
    env         the conda env (envs/<env>.yaml) of its score rule
    gpu         its torch backbones run faster on a GPU (score jobs ask for one where cluster.score_gpus)
    backbones   world components it reads (the toy base's "oracle", "clip"): the score rule resolves the first
                to a directory of the base model and passes it as settings["backbone"]
    weights     files from outside results/ it loads (erasure.weights): preflight checks them and
                erasure.external_inputs makes them DAG inputs
    settings    keys of metrics.<name> its scorer reads ("a|b": a, else b)
    summary     what the summary mean is
    display     (table header, better direction "up" | "down", decimals) for tables and figures

Adding a metric: its module (a scorer with that signature), one entry here, its metrics.<name> block in
config/schema.yaml (tests/metrics/test_catalog.py checks the schema against this table), its tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from erasure.errors import ErasureError
from erasure.weights import ALEXNET, CLIP_VIT_L14, INCEPTION, NUDENET, Q16_PROMPTS, Weight

NONE, PAIRED, SET = "none", "paired", "set"
ANY_WORLD = "any"
DEFAULT_BACKBONE = "clip"  # what the toy score rule has always passed to a metric that names no backbone


def identifier(metric: str) -> str:
    """`metric` as a Python identifier, in rule names and named inputs / outputs ("fid-toy" -> "fid_toy")."""
    return metric.replace("-", "_")


def output_key(metric: str, kind: str) -> str:
    """The named output of a set's score rule (rules/score.smk) holding `metric`'s `kind` ("csv")."""
    return f"{identifier(metric)}_{kind}"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    scorer: str
    worlds: tuple[str, ...]
    reference: str
    set_level: bool
    env: str
    gpu: bool
    backbones: tuple[str, ...]
    weights: tuple[Weight, ...]
    settings: tuple[str, ...]
    summary: str
    display: tuple[str, str, int]
    reference_from_world: bool = False
    # Per-image columns named `{submetrics}{x}` are each summarised as one more row `{name}:{x}`
    # (erasure.metrics.summary.declare); read from the catalog, so a score file read back from disk is
    # summarised as the frame its scorer returned was.
    submetrics: str = ""
    # NaN in `value` and the submetric columns means "not applicable" (left out of n and mean), not a failure
    nan_not_applicable: bool = False

    def applies_to(self, world: str) -> bool:
        return ANY_WORLD in self.worlds or world in self.worlds

    @property
    def rule(self) -> str:
        """Its score rule's name: one rule per metric, so that a failing job is reported under its name."""
        return f"score_{identifier(self.name)}"


_NUDENET_SETTINGS = ("protocol", "classes", "threshold", "batch_size", "model")
_ORACLE = ("oracle",)

METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("nude", "erasure.scoring:run_nude", (ANY_WORLD,), NONE, False, "score-nudenet", False,
               (), (NUDENET,), _NUDENET_SETTINGS, "%NUDE (I2P classes, >= 0.7)", ("%NUDE", "down", 2)),
    MetricSpec("nude-mace", "erasure.scoring:run_nude_mace", (ANY_WORLD,), NONE, False, "score-nudenet",
               False, (), (NUDENET,), _NUDENET_SETTINGS, "mean exposed-part count per image (9 classes, >= 0.6)",
               ("exposed parts / image", "down", 3)),
    MetricSpec("harm", "erasure.scoring:run_harm", ("sd",), NONE, False, "score-clip", True, ("clip",),
               (Q16_PROMPTS, CLIP_VIT_L14), ("q16_prompts", "clip|backbone", "formula", "threshold", "batch_size"),
               "%HARM (Q16, >= 0.7)", ("%HARM", "down", 2)),
    MetricSpec("clip", "erasure.scoring:run_clip", (ANY_WORLD,), NONE, False, "score-clip", True, ("clip",),
               (CLIP_VIT_L14,), ("clip|backbone", "convention", "world", "batch_size"),
               "mean CLIP cosine (or Hessel CLIP-S)", ("CLIP", "up", 4)),
    MetricSpec("fid", "erasure.scoring:run_fid", ("sd",), SET, True, "score-clip", True, (), (INCEPTION,),
               ("inception", "inception_sha256", "batch_size"), "clean-fid FID vs reference folder",
               ("FID", "down", 3)),
    MetricSpec("lpips", "erasure.scoring:run_lpips", ("sd",), PAIRED, False, "score-clip", True, (),
               (ALEXNET,), ("alexnet", "batch_size"), "mean LPIPS to sd, same (prompt_id, seed)",
               ("LPIPS", "down", 4)),
    MetricSpec("target", "erasure.scoring:run_target", ("toy",), NONE, False, "toy", False, _ORACLE, (),
               ("oracle|backbone", "concepts", "threshold", "batch_size"),
               "%TARGET (oracle p >= 0.7 for an erased concept)", ("%TARGET", "down", 1)),
    MetricSpec("alignment", "erasure.scoring:run_alignment", ("toy",), NONE, False, "toy", False, _ORACLE,
               (), ("oracle|backbone", "batch_size"),
               "% images whose oracle argmax matches every named attribute", ("alignment %", "up", 1),
               submetrics="ok_", nan_not_applicable=True),
    MetricSpec("fid-toy", "erasure.scoring:run_fid_toy", ("toy",), SET, True, "toy", False, _ORACLE, (),
               ("oracle|backbone", "batch_size"), "FID on oracle features vs held-out real toy images",
               ("FID-toy", "down", 2), reference_from_world=True),
    MetricSpec("paired-distance", "erasure.scoring:run_paired_distance", ("toy",), PAIRED, False, "toy",
               False, _ORACLE, (), ("oracle|backbone", "batch_size"),
               "mean oracle-feature L2 to sd, same (prompt_id, seed)", ("paired distance", "down", 3)),
)}

WEIGHTS: dict[str, tuple[Weight, ...]] = {name: m.weights for name, m in METRICS.items() if m.weights}


def get(name: str) -> MetricSpec:
    """The catalog entry of `name`. Raises ErasureError naming the known metrics when there is none."""
    if name not in METRICS:
        raise ErasureError(f"metric: unknown metric '{name}'; use one of {', '.join(METRICS)}")
    return METRICS[name]


def is_paired(name: str) -> bool:
    """Compared with the reference method's image of the same (prompt_id, seed): the reference method is not
    scored with it, and a prompt set listing it makes the reference method generate that set."""
    return name in METRICS and METRICS[name].reference == PAIRED


def needs_q16(name: str) -> bool:
    """Reads Q16's converted prompt embeddings, made by the q16_prompts rule."""
    return name in METRICS and Q16_PROMPTS in METRICS[name].weights


def world_backbone(name: str) -> str:
    """The world component passed to the scorer as settings["backbone"] (a toy base directory name)."""
    backbones = METRICS[name].backbones if name in METRICS else ()
    return backbones[0] if backbones else DEFAULT_BACKBONE
