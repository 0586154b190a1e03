"""The one table of methods: what each is, what it trains, its presets, what it delivers and which code
implements it. Torch-free (the workflow reads it while planning); implementations are named by dotted
path and imported only when a method is built.

Three kinds (docs/architecture.md, DESIGN.md § 8):

- `fine-tuning` — iterations of a loss on a trained parameter subset, checkpoints every K steps
  (SDD, Kim et al. 2023; ESD-x / ESD-u, Gandikota et al. 2023). Run by erasure.methods.trainer.
- `closed-form edit` — one solve, one checkpoint in the same format and loader (UCE, Gandikota et al. 2024;
  RECE, Gong et al. 2024), so `{run}@{step}` works unchanged.
- `inference-time` — a rule applied while generating from the base model (SD, SD+NEG, SLD, SEGA, SAFREE); the
  config's `inference_methods.<name>.kind` names the spec, its `preset` one of the spec's presets.

Adding a method (docs/adding-a-method.md): its module (the interface of its kind: a `FineTuningMethod`
subclass; a closed-form `edit(components, concepts, settings, preserve)`, erasure.methods.edit; an
inference-time `build(name, kind, base, concepts, settings)`, erasure/generate/inference/), its settings
dataclass (erasure.methods.settings.MethodSettings), one entry here — or, from another package, the same
MethodSpec under the entry-point group `erasure.methods` — and its tests. Nothing else names a method.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import import_module
from importlib.metadata import entry_points

from erasure.errors import ErasureError

FINE_TUNING = "fine-tuning"
CLOSED_FORM = "closed-form edit"
INFERENCE = "inference-time"
KINDS = (FINE_TUNING, CLOSED_FORM, INFERENCE)


@dataclass(frozen=True)
class MethodSpec:
    """One method.

    name            what the config calls it (`runs.*.method`, or `inference_methods.*.kind`)
    kind            FINE_TUNING | CLOSED_FORM | INFERENCE
    implementation  "module:attribute" of the class (fine-tuning) or function that implements it
    subsets         trained parameter subsets (erasure.methods.params.RULES), the default first; () = none
    presets         preset names it accepts, the default first (fine-tuning: erasure.methods.presets.PRESETS;
                    uce: erasure.methods.uce.UCE_PRESETS; sld: diffusers' SafetyConfig); () = none
    deliverables    checkpoint roles it writes, the one generation uses (`{run}@{step}`) first; () for
                    inference-time methods, which write no weights
    retain          True: needs settings.retain_weight > 0 and retain_prompts (a preservation term); False:
                    a non-zero retain_weight is an error
    zt_model        True: settings.zt_model chooses the model z_t is sampled from (ESD)
    paper_row       the SDD paper's row name for it (Tables 1-2), "{preset}" filled in; None: not in the paper
    settings        "module:Class" of its torch-free settings dataclass (erasure.methods.settings.MethodSettings):
                    fields, defaults and their sources, presets; config validation resolves every run with it.
                    "" = its kind's default: the trainer's Settings (fine-tuning), none (inference-time)
    needs_concepts  inference-time: True when `inference_methods.<name>.concepts` is required
    edit_gpu        closed-form: True when its edit job does GPU-sized work besides the solve (MACE's stage 2
                    draws images with the base model, segments them and trains a LoRA per concept: hours on a
                    CPU, minutes on a GPU), so the edit rule asks for the cluster's GPU (cluster.gpus) and the
                    job runs on it; False (UCE, RECE): a closed-form solve after one text-encoder pass, on the
                    CPU, no GPU held. The cost model prices such an edit from the throughput table
                    (erasure.cost.model.edit_seconds). Only for CLOSED_FORM (a fine-tuning job always asks one)
    """

    name: str
    kind: str
    implementation: str
    subsets: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    deliverables: tuple[str, ...] = ()
    retain: bool = False
    zt_model: bool = False
    paper_row: str | None = None
    settings: str = ""
    needs_concepts: bool = False
    edit_gpu: bool = False
    plugin: tuple[str, str, str] | None = None  # (package, version, entry point) of a plug-in; set on loading

    @property
    def default_preset(self) -> str | None:
        return self.presets[0] if self.presets else None

    @property
    def default_subset(self) -> str | None:
        return self.subsets[0] if self.subsets else None

    @property
    def deliverable(self) -> str | None:
        """The checkpoint role generation loads for `{run}@{step}`."""
        return self.deliverables[0] if self.deliverables else None

    def implementation_object(self):
        """The class or function `implementation` names, imported now (this may import torch)."""
        return _attribute(self.implementation)

    def settings_class(self):
        """The settings dataclass `settings` names, or its kind's default (torch-free for the built-ins).
        Raises ErasureError for a closed-form spec that names none."""
        if self.settings:
            return _attribute(self.settings)
        if self.kind not in _DEFAULT_SETTINGS:
            raise ErasureError(f"method {self.name!r}: its spec names no settings class (MethodSpec.settings)")
        return _attribute(_DEFAULT_SETTINGS[self.kind])


_DEFAULT_SETTINGS = {FINE_TUNING: "erasure.methods.presets:Settings", INFERENCE: "erasure.methods.settings:SDSettings"}


def _attribute(path: str):
    module, _, attribute = path.partition(":")
    return getattr(import_module(module), attribute)


_SDD_PRESETS = ("paper", "official")
_ESD_SUBSETS = ("noxattn", "noxattn-ldm", "esd-sd")  # erasure/methods/params.py quotes each source

_FT = "erasure.methods.presets:Settings"
_S = "erasure.methods.settings:"
_INF = "erasure.generate.inference."

SPECS: dict[str, MethodSpec] = {spec.name: spec for spec in (
    MethodSpec("sdd", FINE_TUNING, "erasure.methods.sdd:SDD", subsets=("attn2",), presets=_SDD_PRESETS,
               deliverables=("teacher", "student"), paper_row="SDD", settings=_FT),
    # an extension, not the paper's method: SDD plus a preservation term on retain prompts
    MethodSpec("sdd+retain", FINE_TUNING, "erasure.methods.sdd:SDD", subsets=("attn2",), presets=_SDD_PRESETS,
               deliverables=("teacher", "student"), retain=True, settings=_FT),
    MethodSpec("esd-x", FINE_TUNING, "erasure.methods.esd:ESD", subsets=("attn2",), presets=("esd",),
               deliverables=("student",), zt_model=True, paper_row="ESD-x-3", settings=_FT),
    MethodSpec("esd-u", FINE_TUNING, "erasure.methods.esd:ESD", subsets=_ESD_SUBSETS, presets=("esd",),
               deliverables=("student",), zt_model=True, paper_row="ESD-u-3", settings=_FT),
    # SalUn (ICLR 2024): the whole UNet under a saliency mask, on base-model image sets (erasure/methods/salun.py)
    MethodSpec("salun", FINE_TUNING, "erasure.methods.salun:SalUn", subsets=("full",), presets=("nsfw",),
               deliverables=("student",),
               settings="erasure.methods.salun_settings:SalUnSettings"),
    # adversarial training of the text encoder (erasure/methods/advunlearn.py): no UNet subset; its
    # retain term needs retain_prompts
    MethodSpec("advunlearn", FINE_TUNING, "erasure.methods.advunlearn:AdvUnlearn", presets=("official",),
               deliverables=("student",), retain=True, settings="erasure.methods.presets:AdvUnlearnSettings"),
    # closed-form edits of attn2 to_k / to_v (erasure/methods/uce.py, rece.py give the equations)
    MethodSpec("uce", CLOSED_FORM, "erasure.methods.uce:edit", subsets=("attn2-kv",), presets=("paper", "current"),
               deliverables=("model",), settings=_S + "UCESettings"),
    # its presets are those of its UCE stage (round 0)
    MethodSpec("rece", CLOSED_FORM, "erasure.methods.rece:edit", subsets=("attn2-kv",), presets=("paper", "current"),
               deliverables=("model",), settings=_S + "RECESettings"),
    # three stages whose result is a closed-form fusion of attn2 to_k / to_v (erasure/methods/mace.py)
    MethodSpec("mace", CLOSED_FORM, "erasure.methods.mace:edit", subsets=("attn2-kv",),
               presets=("explicit-content", "object"), deliverables=("model",), settings=_S + "MACESettings",
               edit_gpu=True),
    # inference-time rules on the base model, one module each (erasure/generate/inference/)
    MethodSpec("sd", INFERENCE, _INF + "sd:build", paper_row="SD", settings=_S + "SDSettings"),
    MethodSpec("sd-neg", INFERENCE, _INF + "sd_neg:build", paper_row="SD+NEG", settings=_S + "SDNegSettings",
               needs_concepts=True),
    MethodSpec("sld", INFERENCE, _INF + "sld:build", presets=("medium", "max"), paper_row="SLD-{preset}",
               settings=_S + "SLDSettings", needs_concepts=True),
    MethodSpec("sega", INFERENCE, _INF + "sega:build", paper_row="SEGA", settings=_S + "SEGASettings",
               needs_concepts=True),
    # SAFREE (ICLR 2025): training-free token projection with self-validation (inference/safree.py)
    MethodSpec("safree", INFERENCE, _INF + "safree:build", presets=("nudity", "artist"),
               settings=_S + "SAFREESettings", needs_concepts=True),
)}


# --- plug-ins -------------------------------------------------------------------------------------------
# A package adds methods by registering MethodSpec objects under this entry-point group (pyproject.toml:
# [project.entry-points."erasure.methods"] my-method = "my_package.spec:SPEC"), as pytest and diffusers take
# plug-ins; docs/adding-a-method.md shows one. They join SPECS when this module is imported: a config names
# them like a built-in, and the provenance of their images records `plugin` (package, version, entry point).
ENTRY_POINT_GROUP = "erasure.methods"
# one line per plug-in that could not be loaded; erasure.config.validate_config raises the first
PLUGIN_ERRORS: list[str] = []


def _check_plugin(spec, where: str) -> MethodSpec:
    if not isinstance(spec, MethodSpec):
        raise ErasureError(f"{where}: is a {type(spec).__name__}, not an erasure.methods.specs.MethodSpec")
    if spec.name in SPECS:
        raise ErasureError(f"{where}: method name {spec.name!r} clashes with "
                           + ("a built-in method" if SPECS[spec.name].plugin is None else "another plug-in's"))
    if spec.kind not in KINDS:
        raise ErasureError(f"{where}: kind {spec.kind!r} is not one of {', '.join(KINDS)}")
    if spec.edit_gpu and spec.kind != CLOSED_FORM:
        raise ErasureError(f"{where}: edit_gpu is for closed-form methods; a {spec.kind} method's jobs "
                           "ask for the cluster's GPU by their kind")
    return spec


def _where(package: str, version: str, ep) -> str:
    return f"plug-in package {package} {version}, entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP})"


def _load_plugins() -> None:
    """Add every plug-in's spec to SPECS (only its spec module is imported here: this module is still being
    imported, so a spec module must import nothing of erasure but erasure.methods.specs / .settings)."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package = ep.dist.name if ep.dist is not None else "?"
        version = ep.dist.version if ep.dist is not None else "?"
        where = _where(package, version, ep)
        try:
            try:
                loaded = ep.load()
            except Exception as error:  # a plug-in's import can fail any way; the user sees one line
                raise ErasureError(f"{where}: cannot import: {type(error).__name__}: {error}") from None
            spec = _check_plugin(loaded, where)
        except ErasureError as error:
            PLUGIN_ERRORS.append(str(error))
            continue
        SPECS[spec.name] = replace(spec, plugin=(package, version, ep.name))


_checked: set[str] = set()


def check_plugins() -> None:
    """Raise the first plug-in error (one line naming its package, version and entry point): one that could
    not be loaded, or a spec whose implementation or settings class cannot be imported or does not exist.
    Called by config validation, before any job; imports each plug-in's implementation (which may import
    torch) once, after this module is complete."""
    for spec in SPECS.values():
        if spec.plugin is None or spec.name in _checked:
            continue
        ep = next(e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == spec.plugin[2])
        where = _where(spec.plugin[0], spec.plugin[1], ep)
        for what in ("implementation", "settings"):
            path = getattr(spec, what)
            if not path:
                continue
            module, _, attribute = path.partition(":")
            try:
                found = hasattr(import_module(module), attribute)
            except Exception as error:  # as above: one line, whatever the plug-in's import raised
                PLUGIN_ERRORS.append(f"{where}: {what} {path!r}: cannot import {module}: {type(error).__name__}: {error}")
                break
            if not found:
                PLUGIN_ERRORS.append(f"{where}: {what} {path!r}: {module} has no {attribute!r}")
                break
        _checked.add(spec.name)
    if PLUGIN_ERRORS:
        raise ErasureError(PLUGIN_ERRORS[0])


_load_plugins()


def names(*kinds: str) -> tuple[str, ...]:
    """Method names of the given kinds (all kinds when none is given), in table order."""
    return tuple(name for name, spec in SPECS.items() if not kinds or spec.kind in kinds)


FINE_TUNED = names(FINE_TUNING)             # what erasure.methods.trainer trains
RUN_METHODS = names(FINE_TUNING, CLOSED_FORM)  # config runs.*.method (schema enum)
INFERENCE_KINDS = names(INFERENCE)          # config inference_methods.*.kind (schema enum)
RUN_PRESETS = tuple(dict.fromkeys(p for n in RUN_METHODS for p in SPECS[n].presets))  # runs.*.preset


def get(name: str, *kinds: str, where: str | None = None) -> MethodSpec:
    """The spec of method `name`, which must be of one of `kinds` (any when none is given). Raises
    ErasureError otherwise, naming `where` (a config key) when given, and the known names."""
    spec = SPECS.get(name)
    known = ", ".join(names(*kinds))
    head = f"{where}: {name!r}" if where else f"method {name!r}"
    if spec is None:
        raise ErasureError(f"{head}: unknown (known: {known})")
    if kinds and spec.kind not in kinds:
        raise ErasureError(f"{head}: a {spec.kind} method, not one of {known} here")
    return spec
