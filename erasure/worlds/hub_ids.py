"""The Hugging Face hub ids each model family knows, with the commit each is pinned to. Torch-free: the DAG's
inputs (the diffusers world's `base_files`) read it while planning, the families (erasure.worlds.families:
`ModelFamily.hub_ids`) and preflight through them.

A pinned id resolves to `snapshots/<commit>/` of huggingface_hub's cache, never to whatever `refs/main` names
(erasure.hub.hub_snapshot); the loader passes the commit to `from_pretrained(revision=...)`, preflight names
`hf download <id> --revision <commit>` (which writes `snapshots/<commit>/` and no ref: huggingface_hub
`_cache_commit_hash_for_specific_revision` does nothing for a revision that is already a commit). None: not
pinned (refs/main, as for any other hub id), where no commit could be verified offline.

Each commit is the hub repository's, as others' Hugging Face caches name it (`models--org--name/snapshots/<commit>`)
or its hub URLs do (`/tree/<commit>/`) in public repositories, found with this project's code search (repository
@ commit of the file, path):
- CompVis/stable-diffusion-v1-4 133a221b…: CharlesGong12/RECE @403a67f train.py:110, train_artists.py:95,
  execs/generate_images.py:231 (`…/models--CompVis--stable-diffusion-v1-4/snapshots/133a221b…`); the same snapshot
  path in scripts of at least six other users (home folders /home/zenghang, /home/yonghyun.park, /root/autodl-tmp,
  …) whose repositories the search did not name.
- stabilityai/stable-diffusion-2-1 5cae40e6…: lvsn/ZeroComp @3151084 gradio_composite.py
  (`pretrained_model_name_or_path = ".cache/huggingface/hub/models--stabilityai--stable-diffusion-2-1/snapshots/
  5cae40e6…"`) and jiduyuting/DepthCAD @f78890f train_pbrt.sh:1 (`/home/lab507/.cache/huggingface/hub/models--
  stabilityai--stable-diffusion-2-1/snapshots/5cae40e6…`); the same path in at least five other users' files.
- stabilityai/stable-diffusion-xl-base-1.0 46216598…: brycedrennan/imaginAIry @1c79db1 imaginairy/config.py:200
  (`huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/tree/46216598…/`); also as a cache snapshot path
  (`$HF_HOME/hub/models--stabilityai--stable-diffusion-xl-base-1.0/snapshots/46216598…`, an InstantID script) and
  as a pinned `revision=` of a model-policy module (`ModelRef(repo_id="stabilityai/stable-diffusion-xl-base-1.0",
  revision="46216598…")`), files whose repositories the search did not name: one named repository only.
"""

from __future__ import annotations

HUB_IDS: dict[str, dict[str, str | None]] = {
    "sd1": {"CompVis/stable-diffusion-v1-4": "133a221b8aa7292a167afc5127cb63fb5005638b",
            "stable-diffusion-v1-5/stable-diffusion-v1-5": None},
    "sd2": {"stabilityai/stable-diffusion-2-1": "5cae40e6a2745ae2b01ad92ae5043f95f23644d6"},
    "sdxl": {"stabilityai/stable-diffusion-xl-base-1.0": "462165984030d82259a11f4367a4eed129e94a7b"},
}


def pinned_revision(repo_id: str) -> str | None:
    """The commit hub id `repo_id` is pinned to (a family's), or None (unpinned or not a family's id: refs/main)."""
    for ids in HUB_IDS.values():
        if ids.get(str(repo_id)):
            return ids[str(repo_id)]
    return None
