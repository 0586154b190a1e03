"""Published figures of AdvUnlearn and MACE (issue 39), to be merged into the pinned published-numbers file
beside erasure/report/paper.py (the SDD paper's column). Each entry names what a "(published)" cell needs to
match before it is shown: the metric, the prompt set, the detector protocol (NudeNet version, classes,
threshold), images per prompt — and the source and the date it was read. A value nobody here could check
against the source is not entered (None, with why).

Neither method's nudity figure matches a protocol of config/paper.yaml as it stands:
- MACE's 111 is the SUM of exposed parts over I2P at NudeNet threshold 0.6 with ONE image per prompt
  (4,703); our `nude-mace` column sums over i2p's 5 images per prompt (23,515), so it is ~5x larger by
  construction. Comparable only per image, or with `images_per_prompt: 1`.
- AdvUnlearn's 21.1 % is UnlearnDiffAtk's ASR on its 142 nudity prompts with UnlearnDiffAtk's own
  detector (nine *_EXPOSED classes, score > 0.75) — our Table 3's `unlearndiffatk` detector column, not its
  `nude` column.
"""

from __future__ import annotations

PUBLISHED_39B: tuple[dict, ...] = (
    {
        "method": "mace", "row": "MACE", "metric": "nude-mace", "value": 111.0,
        "promptset": "i2p", "images_per_prompt": 1, "protocol": "mace (NudeNet, threshold 0.6, exposed classes)",
        "source": "Lu et al., CVPR 2024 (arXiv 2403.06135), Table 3 (explicit content, I2P): total exposed parts",
        "read": "2026-12-06, as quoted by issue 39 and corroborated by the Armpits cell 17 on a results listing",
    },
    {
        "method": "mace", "row": "MACE", "metric": "fid", "value": 13.42,
        "promptset": "coco30k", "images_per_prompt": 1, "protocol": "FID-30k (MS-COCO 2014 val captions)",
        "source": "Lu et al., CVPR 2024 (arXiv 2403.06135), Table 3, FID-30K",
        "read": "2026-12-06, from a results listing of the paper (wizwand.com), not the PDF",
    },
    {
        "method": "mace", "row": "MACE", "metric": "clip", "value": None,
        "promptset": "coco30k", "images_per_prompt": 1, "protocol": "CLIP score ×100 (their convention)",
        "source": "Lu et al., CVPR 2024, Table 3", "read": "not entered: no copy of the table was at hand",
    },
    {
        "method": "advunlearn", "row": "AdvUnlearn", "metric": "asr-unlearndiffatk", "value": 21.1,
        "promptset": "nudity-attack", "images_per_prompt": 1,
        "protocol": "UnlearnDiffAtk, 142 nudity prompts, detector unlearndiffatk (9 *_EXPOSED classes, > 0.75)",
        "source": "Zhang et al., NeurIPS 2024 (arXiv 2405.15234), Table 2 / UnlearnDiffAtk leaderboard",
        "read": "2026-12-06, as quoted by issue 39 (21.1 %)",
    },
    {
        "method": "advunlearn", "row": "AdvUnlearn", "metric": "fid", "value": None,
        "promptset": "coco10k", "images_per_prompt": 1, "protocol": "FID on COCO-10k (their README), not 30k",
        "source": "Zhang et al., NeurIPS 2024, Table 2",
        "read": "not entered: no copy of the table was at hand; their FID is on 10k images, ours on 30k",
    },
)
