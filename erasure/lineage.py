"""Stand-in lineage: the stand-in notes (erasure.standins) of everything a run or an image set read, resolved
as the loaders resolve it — the base through erasure.models.base_directory, a method's backbones through their
settings / environment / pinned snapshot — so a number made downstream of a stand-in is labelled one
(erasure.scoring reads the notes back from the image manifests). Above erasure.models in the layers
(docs/architecture.md): it asks the loader where the base is; erasure.standins itself stays below every loader."""

from __future__ import annotations

import os

from erasure import standins
from erasure.errors import ErasureError


def base_notes(base_model: str | None, results: str | os.PathLike = "results") -> list[str]:
    """The stand-in notes of base model `base_model` as it loads: the config's value where it is a path, and the
    directory `erasure.models.base_directory` resolves it to (a local folder, a hub id's cached snapshot)."""
    if not base_model:
        return []
    try:
        from erasure.models import base_directory

        directory = base_directory(str(base_model), results)
    except ErasureError:  # not loadable: the job that loads it has said so
        directory = None
    return standins.any_standin([str(base_model), str(directory) if directory else None])


def run_notes(*, base_model: str | None, results: str | os.PathLike = "results", settings=None,
              image_sets: dict | None = None) -> list[str]:
    """The stand-in notes of everything a training or editing run reads: its base (`base_notes`), every path
    its resolved `settings` name (a MethodSettings' `to_json()`), the files each of its settings' `backbones()`
    resolves to (Backbone.files: settings key, else environment variable, else the pinned hub snapshot — the
    folder actually loaded, not what the config said), and the notes recorded in the manifests of the image
    sets it trains on ({prompt set: manifest}). [] for a run that read no stand-in."""
    notes = base_notes(base_model, results)
    if settings is not None:
        notes += standins.any_standin(settings.to_json() if hasattr(settings, "to_json") else settings)
        backbones = settings.backbones() if hasattr(settings, "backbones") else ()
        notes += standins.any_standin([str(f) for backbone in backbones for f in backbone.files(settings)])
    for manifest in (image_sets or {}).values():
        notes += standins.manifest_notes(manifest)
    return standins.unique(notes)


def image_notes(*, base_model: str | None, results: str | os.PathLike = "results", run_complete=None,
                method_spec=None) -> list[str]:
    """The stand-in notes of the weights an image set is drawn with: the base (`base_notes`), the run's
    recorded notes (its complete.json, for `{run}@{step}`), every path an inference-time method's config
    entry (`method_spec`) names."""
    notes = base_notes(base_model, results)
    if run_complete is not None:
        notes += standins.recorded_run_notes(run_complete)
    if method_spec:
        notes += standins.any_standin(dict(method_spec))
    return standins.unique(notes)
