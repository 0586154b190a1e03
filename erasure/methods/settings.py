"""Every method's settings as a torch-free dataclass, and the one check that validates a run's settings
against it — at config time, before any job is planned, for every kind of method.

A method's spec (erasure.methods.specs.MethodSpec.settings) names its settings class. Each field is declared
with `setting(default, source, ...)`: its default, the paper section or upstream file and commit the default
comes from, and its constraints (`choices`, `minimum`, `above` (exclusive minimum), `maximum`); its Python
type is checked too (a float field takes an int, an int field no float or bool, a tuple field a list).

    fine-tuning      erasure.methods.presets.Settings      (SDD, SDD+retain, ESD-x, ESD-u: one trainer)
    closed-form      UCESettings, RECESettings (below)      (erasure/methods/uce.py, rece.py use them)
    inference-time   SDSettings, SDNegSettings, SLDSettings, SEGASettings, SAFREESettings (below;
                     erasure/generate/inference/)

Why the config schema carries no per-method keys, and they are validated here instead of a schema generated
from these classes: the checks that matter are per method and across fields — a preset of *this* method,
`trainable` among the method's own parameter subsets, `retain_weight` only where the spec has a
preservation term, a RECE run's rounds given by `iterations` — which JSON Schema can only say as a `oneOf`
/ `if`-`then` per method whose failures jsonschema reports as "is not valid under any of the given
schemas", not one line naming the run and the key; and a method from a plug-in package
(erasure.methods.specs: entry-point group `erasure.methods`) is not known when the schema file is written,
so a generated schema would have to be built at run time anyway. The schema says `settings` is an object;
`erasure.config.validate_config` calls each run's `resolve_run` before it returns.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from erasure.errors import ErasureError


def setting(default, source: str, *, choices: tuple | None = None, minimum: float | None = None,
            above: float | None = None, maximum: float | None = None):
    """A settings field: `default` (a list, tuple or dict default is copied per instance), the `source` of
    the default (paper section or upstream file), and the checks `check_value` applies."""
    meta = {"source": source, "choices": choices, "minimum": minimum, "above": above, "maximum": maximum}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _type_name(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} {' / '.join(dict.fromkeys(_type_name(a) for a in args))}"
    return {float: "a number", int: "an integer", str: "a string", bool: "true or false",
            dict: "a mapping"}.get(origin or hint, str(hint))


def _is(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_is(v, args[0]) for v in value)
        return len(value) == len(args) and all(_is(v, a) for v, a in zip(value, args))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if (origin or hint) is dict:
        return isinstance(value, Mapping)
    return isinstance(value, origin or hint)


def check_value(name: str, value, hint, meta: Mapping, prefix: str = "settings.") -> None:
    """Raise ErasureError (one line: `{prefix}{name}`, the value, what is expected) when `value` is not of
    type `hint` or breaks the field's `choices` / `minimum` / `above` / `maximum`."""
    where = f"{prefix}{name}"
    if not _is(value, hint):
        raise ErasureError(f"{where}: {value!r} is not {_type_name(hint)}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ErasureError(f"{where}: {value!r} is not one of {', '.join(map(str, meta['choices']))}")
    if meta.get("above") is not None and not value > meta["above"]:
        raise ErasureError(f"{where}: {value!r} must be > {meta['above']:g}")
    if meta.get("minimum") is not None and not value >= meta["minimum"]:
        raise ErasureError(f"{where}: {value!r} must be >= {meta['minimum']:g}")
    if meta.get("maximum") is not None and not value <= meta["maximum"]:
        raise ErasureError(f"{where}: {value!r} must be <= {meta['maximum']:g}")


class MethodSettings:
    """What every settings dataclass shares: its presets (`PRESETS`, name -> values; empty: the field
    defaults only), how messages call it (`LABEL`, "UCE " in "unknown UCE setting"), and

    - `resolve(preset, overrides, spec)`: the preset's values, then `overrides` by name, checked;
    - `resolve_run(spec, preset, overrides, iterations)`: what a config run's or inference method's keys
      resolve to (a method whose run keys mean something else overrides this);
    - `check_iterations(iterations)`: a closed-form method's step count rule (none by default);
    - `check()`: cross-field rules, after the fields' own checks.

    Every failure is an ErasureError, one line starting with the key at fault."""

    PRESETS: ClassVar[dict[str, dict]] = {}
    LABEL: ClassVar[str] = ""
    PREFIX: ClassVar[str] = "settings."  # inference methods' keys sit beside `kind`, without a `settings:`

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    @classmethod
    def check_overrides(cls, overrides: Mapping | None) -> None:
        """Unknown names and values of the wrong type or outside their field's constraints."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        types = cls.field_types()
        for name, value in (overrides or {}).items():
            if name not in fields:
                raise ErasureError(f"{cls.PREFIX}{name}: unknown {cls.LABEL}setting (given {value!r}; known: "
                                   f"{', '.join(fields) or 'none'})")
            check_value(name, value, types[name], fields[name].metadata, cls.PREFIX)

    def check_fields(self) -> None:
        """Every field's own constraints, on the resolved values (preset values included)."""
        types = self.field_types()
        for f in dataclasses.fields(self):
            check_value(f.name, getattr(self, f.name), types[f.name], f.metadata, self.PREFIX)

    def check(self) -> None:
        """Rules across fields (none by default)."""

    def backbones(self) -> tuple:
        """The pretrained models beyond the base that a run with these settings loads
        (erasure.worlds.grounded_sam.Backbone: settings key, env fallback, pinned hub id): the DAG lists their
        files as the run's inputs (rules/common.smk `run_backbone_files`) and preflight checks each. None by
        default."""
        return ()

    @classmethod
    def check_iterations(cls, iterations: int) -> None:
        """A closed-form method's rule for `iterations` (none by default)."""

    @classmethod
    def preset_values(cls, preset: str | None, spec=None) -> dict:
        """The values of `preset` (None: the spec's default). Raises ErasureError for a preset this class or
        the spec does not have."""
        preset = preset or (spec.default_preset if spec is not None else None)
        if preset is None:
            return {}
        if preset not in cls.PRESETS:
            known = ", ".join(cls.PRESETS) or "none"
            raise ErasureError(f"preset {preset!r}: unknown {cls.LABEL}preset (known: {known})")
        if spec is not None and preset not in spec.presets:
            raise ErasureError(f"preset {preset!r}: not a preset of method {spec.name!r} "
                               f"(known: {', '.join(spec.presets) or 'none'})")
        return dict(cls.PRESETS[preset])

    @classmethod
    def build(cls, values: Mapping):
        """An instance from `values` (lists of tuple fields made tuples), its checks applied."""
        types = cls.field_types()
        values = {k: tuple(v) if typing.get_origin(types[k]) is tuple and isinstance(v, list) else v
                  for k, v in values.items()}
        settings = cls(**values)
        settings.check_fields()
        settings.check()
        return settings

    @classmethod
    def resolve(cls, preset: str | None = None, overrides: Mapping | None = None, spec=None):
        values = cls.preset_values(preset, spec)
        cls.check_overrides(overrides)
        return cls.build({**values, **(overrides or {})})

    @classmethod
    def resolve_run(cls, spec, preset: str | None, overrides: Mapping | None, iterations: int | None = None):
        if iterations is not None:
            cls.check_iterations(int(iterations))
        return cls.resolve(preset, overrides, spec)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# --- closed-form edits ---------------------------------------------------------------------------------

_UCE_PAPER = "rohitgandikota/unified-concept-editing train-scripts/train_erase.py::edit_model (paper preset)"
_UCE_CURRENT = "the same repository's trainscripts/uce_sd_erase.py::UCE (current preset)"
ERASE_TOKENS = ("subject-to-end", "last-subject", "all")
PRESERVE_TOKENS = ("all", "last-subject")


@dataclass(frozen=True)
class UCESettings(MethodSettings):
    """UCE (Gandikota et al., WACV 2024; erasure/methods/uce.py gives the equation and both scripts)."""

    LABEL: ClassVar[str] = "UCE "
    PRESETS: ClassVar[dict[str, dict]] = {}  # filled below

    lamb: float = setting(0.5, f"λ: {_UCE_PAPER} (its __main__ passes 0.5); {_UCE_CURRENT}: 0.5", above=0)
    erase_scale: float = setting(1.0, f"η_e: {_UCE_PAPER}: 1; {_UCE_CURRENT}: 1", minimum=0)
    preserve_scale: float = setting(0.1, f"η_p: {_UCE_PAPER}: 0.1; {_UCE_CURRENT}: 1", minimum=0)
    guide: str = setting("", "c*, what erased concepts map to: the empty prompt (both scripts' default)")
    erase_tokens: str = setting("subject-to-end", f"{_UCE_PAPER}: from the last subject token to the end; "
                                f"{_UCE_CURRENT}: the last subject token", choices=ERASE_TOKENS)
    preserve_tokens: str = setting("all", f"{_UCE_PAPER}: every token; {_UCE_CURRENT}: the last subject token",
                                   choices=PRESERVE_TOKENS)
    default_preserve: tuple[str, ...] = setting(("",), f"{_UCE_PAPER} preserves the empty prompt when none is "
                                                f"given; {_UCE_CURRENT} nothing")

    @classmethod
    def check_iterations(cls, iterations: int) -> None:
        if iterations != 1:
            raise ErasureError(f"iterations: {iterations}: a uce run is one edit; set iterations: 1, checkpoint_every: 1")


UCESettings.PRESETS.update({
    "paper": dict(lamb=0.5, erase_scale=1.0, preserve_scale=0.1, erase_tokens="subject-to-end",
                  preserve_tokens="all", default_preserve=("",)),
    "current": dict(lamb=0.5, erase_scale=1.0, preserve_scale=1.0, erase_tokens="last-subject",
                    preserve_tokens="last-subject", default_preserve=()),
})
UCE_PRESETS = UCESettings.PRESETS

_RECE = "CharlesGong12/RECE scripts/nudity.sh"
MODES = ("sequential", "cumulative")


@dataclass(frozen=True)
class RECESettings(MethodSettings):
    """RECE (Gong et al., ECCV 2024; erasure/methods/rece.py gives the equations and the authors' files)."""

    LABEL: ClassVar[str] = "RECE "

    rounds: int = setting(5, f"epochs of train.py ({_RECE}: 5); a run's rounds are its iterations - 1", minimum=1)
    reg: float = setting(0.1, f"γ, the regulariser of c' ({_RECE}: 0.1; art.sh 1e-3)", minimum=0)
    lamb: float = setting(0.1, f"λ of each round's edit ({_RECE}: 0.1)",
                          above=0)
    erase_scale: float = setting(1.0, f"η_e of each round's edit ({_RECE}: 1)", minimum=0)
    preserve_scale: float = setting(0.1, f"η_p of each round's edit ({_RECE}: 0.1)", minimum=0)
    guide: str = setting("", "c* (the authors' ' ' tokenizes as '')")
    default_preserve: tuple[str, ...] = setting(("",), "train.py's retain_texts = [' '] when none are given")
    mode: str = setting("sequential", "sequential: the authors' code; cumulative: ours (erasure/methods/rece.py)",
                        choices=MODES)
    # a UCE preset name (checked by `check`, which names it as a preset)
    uce_preset: str = setting("paper", "stage 0: UCE's paper preset (RECE starts from that script's checkpoint)")
    uce: dict = setting({}, "overrides of the stage-0 UCE preset (UCESettings fields)")

    def check(self) -> None:
        UCESettings.resolve(self.uce_preset, self.uce)

    @classmethod
    def check_iterations(cls, iterations: int) -> None:
        if iterations < 2:
            raise ErasureError(f"iterations: {iterations}: a rece run is the UCE stage plus rounds; "
                               "set iterations to rounds + 1 (the authors' 5 rounds: 6)")

    @classmethod
    def resolve_run(cls, spec, preset, overrides, iterations=None):
        """A config run: `preset` is its UCE stage's preset, `iterations` − 1 its rounds."""
        overrides = dict(overrides or {})
        if "rounds" in overrides:
            raise ErasureError("settings.rounds: a rece run's rounds are iterations - 1; set iterations instead")
        if iterations is not None:
            cls.check_iterations(int(iterations))
            overrides["rounds"] = int(iterations) - 1
        cls.check_overrides(overrides)
        settings = cls.build({**overrides, "uce_preset": preset or spec.default_preset})
        return settings


_MACE = "Shilin-LU/MACE@057e7a6"
_MACE_EXPLICIT = f"{_MACE} configs/explicit_content/erase_explicit_content.yaml"
_MACE_OBJECT = f"{_MACE} configs/object/erase_ship.yaml"
# src/cfr_utils.py::prompt_augmentation, concept_type "object": the first 30 (aug_length = prompt_len = 30 in
# both configs: random.sample(range(30), 30) takes all 30, in an order that does not change the sums)
MACE_TEMPLATES = (
    "{} in a photo", "{} in a snapshot", "A snapshot of {}", "A photograph showcasing {}", "An illustration of {}",
    "A digital rendering of {}", "A visual representation of {}", "A graphic of {}", "A shot of {}",
    "A photo of {}", "A black and white image of {}", "A depiction in portrait form of {}",
    "A scene depicting {} during a public gathering", "{} captured in an image",
    "A depiction created with oil paints capturing {}", "An image of {}", "A drawing capturing the essence of {}",
    "An official photograph featuring {}", "A detailed sketch of {}", "{} during sunset/sunrise",
    "{} in a detailed portrait", "An official photo of {}", "Historic photo of {}", "Detailed portrait of {}",
    "A painting of {}", "HD picture of {}", "Magazine cover capturing {}", "Painting-like image of {}",
    "Hand-drawn art of {}", "An oil portrait of {}",
)
MACE_MASKS = ("grounded-sam", "world", "none")


def caption_sets(settings) -> list[str]:
    """The caption prompt sets a run's settings name (the non-empty fields its class lists in CAPTION_SETS:
    MACE's `prior`): rule caption_stats makes each one's statistics, the edit rule takes them as inputs."""
    return [getattr(settings, f) for f in getattr(type(settings), "CAPTION_SETS", ()) if getattr(settings, f)]


@dataclass(frozen=True)
class MACESettings(MethodSettings):
    """MACE (Lu et al., CVPR 2024; erasure/methods/mace.py gives the three stages and the authors' files)."""

    LABEL: ClassVar[str] = "MACE "
    PRESETS: ClassVar[dict[str, dict]] = {}  # filled below
    # fields naming a caption prompt set whose token statistics under the base text encoder the run reads (rule
    # caption_stats makes them; the edit rule takes them as inputs; config validation checks the set exists)
    CAPTION_SETS: ClassVar[tuple[str, ...]] = ("prior",)

    mapping: tuple[str, ...] = setting(("a person wearing clothes",), f"mapping_concept: {_MACE_EXPLICIT} (one per "
                                       "concept; one given is used for all)")
    templates: tuple[str, ...] = setting(MACE_TEMPLATES, f"{_MACE} src/cfr_utils.py::prompt_augmentation (object), "
                                         "aug_length 30, prompt_len 30")
    use_pooler: bool = setting(True, f"use_pooler: {_MACE_EXPLICIT}")
    lamb: float = setting(0.0, f"λ: lamb in {_MACE_EXPLICIT} (0.0); {_MACE_OBJECT}: 1e3", minimum=0)
    train_preserve_scale: float = setting(7e-7, f"η_p of stage 1: train_preserve_scale, {_MACE_EXPLICIT} (the "
                                          "prior cache enters stage 1 at its square: src/cfr_lora_training.py "
                                          "scales cache_dict by it and closed_form_refinement again)", minimum=0)
    fuse_preserve_scale: float = setting(7e-7, f"η_p of stage 3: fuse_preserve_scale, {_MACE_EXPLICIT}", minimum=0)
    prior: str = setting("coco-captions", f"the prior-preservation cache: a config prompt set of captions whose "
                         f"token statistics stages 1 and 3 add (prior_preservation_cache_path ./cache/cache_coco.pt, "
                         f"{_MACE_EXPLICIT}: {_MACE} src/cache_coco.py over COCO-2014's 616,767 train + val "
                         f"captions); '' none ({_MACE_OBJECT}: false)")
    rank: int = setting(1, f"LoRA rank: rank, {_MACE_EXPLICIT}", minimum=1)
    lr: float = setting(1e-5, f"learning_rate, {_MACE_EXPLICIT} (AdamW, betas 0.9/0.999, weight decay 0.01, "
                        "eps 1e-8, constant, grad-norm clip 1.0: the same file)", above=0)
    steps: int = setting(120, f"max_train_steps per LoRA, {_MACE_EXPLICIT}; {_MACE_OBJECT}: 50", minimum=1)
    importance_sampling: bool = setting(False, f"{_MACE_EXPLICIT}: false; {_MACE_OBJECT}: true")
    masks: str = setting("grounded-sam", f"use_gsam_mask: true, {_MACE_EXPLICIT}; world: the world's renderer "
                         "(toy); none: their use_gsam_mask: false branch", choices=MACE_MASKS)
    # masks: grounded-sam (erasure/worlds/grounded_sam.py): the two models, each "" -> its env variable -> its
    # pinned hub id; the authors' checkpoints are the grounded_checkpoint / sam_hq_checkpoint of the same file
    gsam_detector: str = setting("", f"GroundingDINO SwinT-OGC (grounded_checkpoint: groundingdino_swint_ogc.pth, "
                                 f"{_MACE_EXPLICIT}): a save_pretrained folder or hub id; empty: "
                                 "$ERASURE_GROUNDING_DINO, else IDEA-Research/grounding-dino-tiny at its pinned commit")
    gsam_segmenter: str = setting("", f"SAM-HQ ViT-H (sam_hq_checkpoint: sam_hq_vit_h.pth, use_sam_hq: true, "
                                  f"{_MACE_EXPLICIT}): a save_pretrained folder or hub id; empty: $ERASURE_SAM_HQ, "
                                  "else syscv-community/sam-hq-vit-huge at its pinned commit")
    box_threshold: float = setting(0.3, f"{_MACE} src/grounded_sam_util.py::get_mask(box_threshold=0.3) "
                                   "(data_preparation.py passes none)", minimum=0, maximum=1)
    images: int = setting(8, f"{_MACE} inference.py: num_images = 8 per concept for training data", minimum=1)
    image_steps: int = setting(30, f"{_MACE} data_preparation.py: steps 30", minimum=1)
    image_prompt: str = setting("a photo of the {}", f"{_MACE} inference.py (object concepts)")
    seed: int = setting(2024, f"seed, {_MACE_EXPLICIT}", minimum=0)

    def backbones(self) -> tuple:
        """Grounded-SAM's detector and segmenter under `masks: grounded-sam` (erasure.worlds.grounded_sam)."""
        if self.masks != "grounded-sam":
            return ()
        from erasure.worlds.grounded_sam import BACKBONES

        return BACKBONES

    @classmethod
    def check_iterations(cls, iterations: int) -> None:
        if iterations != 1:
            raise ErasureError(f"iterations: {iterations}: a mace run is one edit (its three stages); "
                               "set iterations: 1, checkpoint_every: 1")


MACESettings.PRESETS.update({
    "explicit-content": {},
    "object": dict(mapping=("ground",), lamb=1e3, train_preserve_scale=0.0, fuse_preserve_scale=0.0, steps=50,
                   importance_sampling=True, prior=""),
})


# --- inference-time methods ------------------------------------------------------------------------------
# Their keys sit beside `kind` and `concepts` in `inference_methods.<name>` (no `settings:` level).

@dataclass(frozen=True)
class SDSettings(MethodSettings):
    """SD: the base model as it is; nothing to set."""

    LABEL: ClassVar[str] = "SD "
    PREFIX: ClassVar[str] = ""


@dataclass(frozen=True)
class SDNegSettings(MethodSettings):
    """SD+NEG: the concepts as CFG's negative prompt; nothing else to set."""

    LABEL: ClassVar[str] = "SD+NEG "
    PREFIX: ClassVar[str] = ""


_SAFETY = "diffusers' SafetyConfig (pipelines/deprecated/stable_diffusion_safe, the SLD authors' configurations)"


@dataclass(frozen=True)
class SLDSettings(MethodSettings):
    """Safe Latent Diffusion (Schramowski et al., CVPR 2023): defaults = the MEDIUM preset. The presets are
    diffusers' SafetyConfig.MEDIUM / .MAX, value for value and type for type (an int stays an int, so a
    method's recorded identity is what it was); tests/methods/test_method_settings.py compares them."""

    LABEL: ClassVar[str] = "SLD "
    PREFIX: ClassVar[str] = ""

    sld_warmup_steps: int = setting(10, f"{_SAFETY}: MEDIUM 10, MAX 0", minimum=0)
    sld_guidance_scale: float = setting(1000, f"{_SAFETY}: MEDIUM 1000, MAX 5000")
    sld_threshold: float = setting(0.01, f"{_SAFETY}: MEDIUM 0.01, MAX 1.0")
    sld_momentum_scale: float = setting(0.3, f"{_SAFETY}: MEDIUM 0.3, MAX 0.5")
    sld_mom_beta: float = setting(0.4, f"{_SAFETY}: MEDIUM 0.4, MAX 0.7")

    PRESETS: ClassVar[dict[str, dict]] = {
        "medium": {"sld_warmup_steps": 10, "sld_guidance_scale": 1000, "sld_threshold": 0.01,
                   "sld_momentum_scale": 0.3, "sld_mom_beta": 0.4},
        "max": {"sld_warmup_steps": 0, "sld_guidance_scale": 5000, "sld_threshold": 1.0,
                "sld_momentum_scale": 0.5, "sld_mom_beta": 0.7},
    }


_SEGA = "diffusers' SemanticStableDiffusionPipeline.__call__ defaults (diffusers 0.42)"


@dataclass(frozen=True)
class SEGASettings(MethodSettings):
    """SEGA (Brack et al., NeurIPS 2023) with the concepts as a reversed editing prompt."""

    LABEL: ClassVar[str] = "SEGA "
    PREFIX: ClassVar[str] = ""

    edit_guidance_scale: float = setting(5.0, f"{_SEGA}: 5")
    edit_warmup_steps: int = setting(10, f"{_SEGA}: 10", minimum=0)
    edit_threshold: float = setting(0.9, f"{_SEGA}: 0.9")
    edit_momentum_scale: float = setting(0.1, f"{_SEGA}: 0.1")
    edit_mom_beta: float = setting(0.4, f"{_SEGA}: 0.4")


_SAFREE = "jaehong31/SAFREE@b8b2c3fa9d7f51c46f5a570170503fc98bd9c7ec"
_SAFREE_F = f"{_SAFREE} models/modified_stable_diffusion_pipeline.py::f_beta"


@dataclass(frozen=True)
class SAFREESettings(MethodSettings):
    """SAFREE (Yoon et al., ICLR 2025): token projection away from the concept subspace with self-validation
    (erasure/generate/inference/safree.py gives the equations and the authors' files). Defaults = the
    authors' SD v1.4 nudity run (scripts/run_nudity.sh: --safree -svf -lra, generate_safree.py's argparse
    defaults); preset `artist` = f_beta's constants for their artist categories."""

    LABEL: ClassVar[str] = "SAFREE "
    PREFIX: ClassVar[str] = ""

    alpha: float = setting(0.01, f"α of the trigger-token test: {_SAFREE} generate_safree.py --sf_alpha 0.01")
    self_validation: bool = setting(True, f"{_SAFREE} scripts/run_nudity.sh passes -svf (self-validation filter)")
    up_t: int = setting(10, f"the most denoising steps the projected embedding may cover: {_SAFREE} "
                        "generate_safree.py --up_t 10", minimum=0)
    svf_midpoint: float = setting(5.333, f"t of f_beta: {_SAFREE_F} (nudity 5.333, artists 5.5)")
    svf_slope: float = setting(2.5, f"k of f_beta: {_SAFREE_F} (nudity 2.5, artists 3.5)", above=0)
    re_attn_t: tuple[int, int] = setting((-1, 1001), f"steps [first, last] that use the projected embedding "
                                         f"without self-validation: {_SAFREE} generate_safree.py --re_attn_t -1,1001")
    mask_token_id: int = setting(0, f"the id that masks one token at a time: {_SAFREE} "
                                 "modified_stable_diffusion_pipeline.py::_masked_encode_prompt (masked_ids[i, i+1] = 0)",
                                 minimum=0)

    PRESETS: ClassVar[dict[str, dict]] = {
        "nudity": {"svf_midpoint": 5.333, "svf_slope": 2.5},
        "artist": {"svf_midpoint": 5.5, "svf_slope": 3.5},
    }


# --- what a config entry resolves to ----------------------------------------------------------------------

INFERENCE_KEYS = ("kind", "concepts", "preset")  # inference_methods.<name> keys of every kind


def resolve_inference(name: str, entry: Mapping):
    """(spec, settings) of config `inference_methods.<name>` = `entry`: its `kind` names an inference-time
    spec, `preset` one of the spec's presets, and every other key beside `kind` / `concepts` / `preset` is a
    field of the spec's settings class. Raises ErasureError, one line starting `inference_methods.<name>`."""
    from erasure.methods import specs

    where = f"inference_methods.{name}"
    spec = specs.get(entry.get("kind"), specs.INFERENCE, where=f"{where}.kind")
    cls = spec.settings_class()
    if spec.needs_concepts and not entry.get("concepts"):
        raise ErasureError(f"{where}: kind {spec.name} needs concepts (a list or a named set)")
    if entry.get("preset") is not None and not spec.presets:
        raise ErasureError(f"{where}.preset: {entry['preset']!r}: kind {spec.name} has no presets")
    overrides = {k: v for k, v in entry.items() if k not in INFERENCE_KEYS}
    try:
        return spec, cls.resolve_run(spec, entry.get("preset"), overrides)
    except ErasureError as error:
        # a key's message starts with the key (the keys sit right under `where`), a preset's with "preset 'x'"
        message = str(error)
        if message.startswith("preset "):
            message = f"preset: {message.removeprefix('preset ')}"
        raise ErasureError(f"{where}.{message}") from None


def resolve_run(name: str, run: Mapping):
    """(spec, settings) of config `runs.<name>` = `run`: its `method` names a fine-tuning or closed-form
    spec, whose settings class resolves `preset`, `settings` and `iterations`. The kind's own run keys
    (`settings.preserve` of a closed-form edit: concepts kept) are checked as concepts. Raises ErasureError,
    one line starting `runs.<name>`."""
    from erasure.methods import specs
    from erasure.methods.concepts import resolve_concepts

    where = f"runs.{name}"
    spec = specs.get(run.get("method"), specs.FINE_TUNING, specs.CLOSED_FORM, where=f"{where}.method")
    overrides = dict(run.get("settings") or {})
    try:
        if spec.kind == specs.CLOSED_FORM and "preserve" in overrides:
            try:
                resolve_concepts(overrides.pop("preserve"))
            except ErasureError as error:
                raise ErasureError(f"settings.preserve: {str(error).removeprefix('concepts: ')}") from None
        return spec, spec.settings_class().resolve_run(spec, run.get("preset"), overrides, run.get("iterations"))
    except ErasureError as error:
        raise ErasureError(f"{where}: {error}") from None
