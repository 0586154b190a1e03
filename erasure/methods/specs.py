"""The one table of methods: what each is, what it trains, its presets, what it delivers and which code
implements it. Torch-free (the workflow reads it while planning); implementations are named by dotted
path and imported only when a method is built.

Three kinds (docs/architecture.md, DESIGN.md § 8):

- `fine-tuning` — iterations of a loss on a trained parameter subset, checkpoints every K steps
  (SDD, Kim et al. 2023; ESD-x / ESD-u, Gandikota et al. 2023). Run by erasure.methods.trainer.
- `closed-form edit` — one solve, one checkpoint in the same format and loader (UCE, Gandikota et al. 2024;
  RECE, Gong et al. 2024), so `{run}@{step}` works unchanged.
- `inference-time` — a rule applied while generating from the base model (SD, SD+NEG, SLD, SEGA); the
  config's `inference_methods.<name>.kind` names the spec, its `preset` one of the spec's presets.

Adding a fine-tuning method: its module (a `FineTuningMethod` subclass taking `(unet, scheduler_config,
prompts, settings, *, method)`), one entry here, its tests; the config schema's `runs.*.method` enum lists
`RUN_METHODS` (a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

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
        module, _, attribute = self.implementation.partition(":")
        return getattr(import_module(module), attribute)


_SDD_PRESETS = ("paper", "official")
_ESD_SUBSETS = ("noxattn", "noxattn-ldm", "esd-sd")  # erasure/methods/params.py quotes each source

SPECS: dict[str, MethodSpec] = {spec.name: spec for spec in (
    MethodSpec("sdd", FINE_TUNING, "erasure.methods.sdd:SDD", subsets=("attn2",), presets=_SDD_PRESETS,
               deliverables=("teacher", "student"), paper_row="SDD"),
    # an extension, not the paper's method: SDD plus a preservation term on retain prompts
    MethodSpec("sdd+retain", FINE_TUNING, "erasure.methods.sdd:SDD", subsets=("attn2",), presets=_SDD_PRESETS,
               deliverables=("teacher", "student"), retain=True),
    MethodSpec("esd-x", FINE_TUNING, "erasure.methods.esd:ESD", subsets=("attn2",), presets=("esd",),
               deliverables=("student",), zt_model=True, paper_row="ESD-x-3"),
    MethodSpec("esd-u", FINE_TUNING, "erasure.methods.esd:ESD", subsets=_ESD_SUBSETS, presets=("esd",),
               deliverables=("student",), zt_model=True, paper_row="ESD-u-3"),
    # closed-form edits of attn2 to_k / to_v (erasure/methods/uce.py, rece.py give the equations)
    MethodSpec("uce", CLOSED_FORM, "erasure.methods.uce:uce", subsets=("attn2-kv",), presets=("paper", "current"),
               deliverables=("model",)),
    # its presets are those of its UCE stage (round 0)
    MethodSpec("rece", CLOSED_FORM, "erasure.methods.rece:rece", subsets=("attn2-kv",), presets=("paper", "current"),
               deliverables=("model",)),
    # inference-time rules on the base model (erasure/generate/pipelines.py builds them)
    MethodSpec("sd", INFERENCE, "erasure.generate.pipelines:build_inference_method", paper_row="SD"),
    MethodSpec("sd-neg", INFERENCE, "erasure.generate.pipelines:build_inference_method", paper_row="SD+NEG"),
    MethodSpec("sld", INFERENCE, "erasure.generate.pipelines:build_inference_method", presets=("medium", "max"),
               paper_row="SLD-{preset}"),
    MethodSpec("sega", INFERENCE, "erasure.generate.pipelines:build_inference_method", paper_row="SEGA"),
)}


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
