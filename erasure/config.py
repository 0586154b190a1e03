"""Config validation with errors a user can act on: one line naming the key path and the value."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from erasure.errors import ErasureError

log = logging.getLogger(__name__)


def load_schema(path: str | Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def _describe(error: jsonschema.ValidationError) -> str:
    where = [str(part) for part in error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = sorted(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extra = sorted(k for k in error.instance if k not in known and not any(p.search(k) for p in patterns))
        if extra:
            hint = f" (known keys here: {', '.join(known)})" if known else ""
            return f"unknown key {'.'.join([*where, extra[0]])!r}{hint}"
    return f"{'.'.join(where) or 'top level'}: {error.message}"


def validate_config(config: Mapping[str, Any], schema_path: str | Path, *, source: str = "config") -> dict:
    """Validate `config` (filling schema defaults) or raise ErasureError with a one-line message."""
    schema = load_schema(schema_path)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = _with_defaults(validator_cls)(schema)
    config = dict(config)
    # A misspelt key also makes the real key "missing": name the misspelling first, it is the cause.
    errors = sorted(
        validator.iter_errors(config),
        key=lambda e: (e.validator != "additionalProperties", len(list(e.absolute_path)), e.message),
    )
    if errors:
        raise ErasureError(f"{source}: {_describe(errors[0])}")
    from erasure.methods.specs import check_plugins

    check_plugins()
    _check_concept_sets(config, source)
    _check_run_settings(config, source)
    _check_replicates(config, source)
    _check_vocabulary(config, source)
    return config


def _check_concept_sets(config: Mapping[str, Any], source: str) -> None:
    """A concept-set name the library does not know fails now, naming its key, not when a job first uses it."""
    from erasure.methods.concepts import resolve_concepts

    for section in ("runs", "inference_methods", "prompt_sets"):
        for name, spec in (config.get(section) or {}).items():
            if isinstance(spec, Mapping) and spec.get("concepts") is not None:
                try:
                    resolve_concepts(spec["concepts"])
                except ErasureError as error:
                    raise ErasureError(f"{source}: {section}.{name}.{error}") from None


def _check_vocabulary(config: Mapping[str, Any], source: str) -> None:
    """A closed-vocabulary world's (the toy's) concept texts: one that names nothing the world knows fails now;
    one with unknown words beside known ones is printed as a warning (erasure.prompts.vocabulary)."""
    from erasure.prompts.vocabulary import check_config

    for line in check_config(config, source):
        log.warning("warning: %s", line)


def _check_replicates(config: Mapping[str, Any], source: str) -> None:
    """`replicates` > 1 on a closed-form edit (UCE, RECE) is refused: it has no training seed, so its replicates
    would be one model N times, and an interval over them would claim a variance that is not there. (The
    config-wide `replicates` applies to fine-tuning runs only: erasure.plan.run_replicates.)"""
    from erasure.methods import specs

    for name, run in (config.get("runs") or {}).items():
        if (isinstance(run, Mapping) and int(run.get("replicates", 1)) > 1
                and run.get("method") in specs.SPECS and specs.SPECS[run["method"]].kind != specs.FINE_TUNING):
            raise ErasureError(f"{source}: runs.{name}.replicates: {run['replicates']}, but {run['method']} is a "
                               "closed-form edit with no training seed (its replicates would be identical); "
                               "remove the key")


def _check_run_settings(config: Mapping[str, Any], source: str) -> None:
    """Every run's and every inference-time method's settings are resolved now, by its spec's settings class
    (erasure.methods.settings; the schema holds no method's keys), so that a UCE run given `lr`, an SD+NEG
    method given `sld_threshold` or an ESD run's `trainable` of another method fails here, one line naming
    the run, key and value, not in a cluster job after queueing."""
    from erasure.methods.settings import resolve_inference, resolve_run

    checks = [(resolve_run, name, run) for name, run in (config.get("runs") or {}).items()]
    checks += [(resolve_inference, name, entry) for name, entry in (config.get("inference_methods") or {}).items()]
    for resolve, name, entry in checks:
        if isinstance(entry, Mapping):
            try:
                _, settings = resolve(name, entry)
            except ErasureError as error:
                raise ErasureError(f"{source}: {error}") from None
            # image sets a run trains on (a settings class's IMAGE_SETS fields, SalUn's D_f / D_r) are prompt
            # sets the base model draws: each must be one of this config's
            # and the caption sets whose text-encoder statistics it reads (MACE's prior cache: CAPTION_SETS)
            named = [f for f in getattr(type(settings), "CAPTION_SETS", ()) if getattr(settings, f)]
            for field in [*getattr(type(settings), "IMAGE_SETS", ()), *named]:
                if getattr(settings, field) not in (config.get("prompt_sets") or {}):
                    raise ErasureError(f"{source}: runs.{name}.settings.{field}: {getattr(settings, field)!r} is not "
                                       "a prompt set of this config (prompt_sets)")


def _with_defaults(validator_cls):
    """A validator that also fills `default:` values, as snakemake.utils.validate(set_default=True)."""
    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})
