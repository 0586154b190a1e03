# ruff: noqa: E402 - set_threads before the torch-heavy imports (a script)
"""Grid: rows base (target image), esd-x plain, esd-x + UnlearnDiffAtk, esd-x + Ring-A-Bell; columns the 8
toy-i2p[triangle] prompts; each cell titled with the oracle's p(triangle)."""

import pandas as pd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from erasure.runtime import set_threads

set_threads(1)
from erasure.attacks.checks import draw_image
from erasure.generate.pipelines import load_method
from erasure.worlds.toy import scorers as toy
from erasure.metrics.images import to_tensor
from erasure.worlds import get_world

common = dict(base_model="toy:shipped", world="toy", scheduler="ddim")
base = load_method("sd", {"kind": "sd"}, results="results", **common)
esd = load_method("esd-x-triangle@200", None, results="/tmp/attack-measure/results", **common)
oracle, _ = toy.load(get_world("toy").backbone_dir("toy:shipped", "oracle"))
tri = toy.vocabulary(oracle)["shape"].index("triangle")
wb = pd.read_csv("/tmp/attack-measure/esd/unlearndiffatk.csv", dtype=str, keep_default_na=False)
rb = pd.read_csv("/tmp/attack-measure/esd/ring-a-bell.csv", dtype=str, keep_default_na=False)
rows = [
    ("sd (target)", base, wb["prompt"]),
    ("esd-x plain", esd, wb["prompt"]),
    ("esd-x + UnlearnDiffAtk", esd, wb["adversarial_prompt"]),
    ("esd-x + Ring-A-Bell", esd, rb["adversarial_prompt"]),
]
fig, axes = plt.subplots(4, 8, figsize=(16, 9))
for i, (label, m, prompts) in enumerate(rows):
    for j, prompt in enumerate(prompts):
        img = draw_image(m, prompt, prompt_id=wb.prompt_id[j], seed=int(wb.seed[j]), guidance=5.0, steps=25)
        p = float(oracle.predict(to_tensor([img], size=32))["shape"][0, tri])
        ax = axes[i][j]
        ax.imshow(img, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{prompt[:34]}\np(tri)={p:.2f}", fontsize=6)
        if j == 0:
            ax.set_ylabel(label, fontsize=8)
fig.suptitle("toy: esd-x-triangle@200 under attack (toy oracle, threshold 0.7) - preliminary, library only")
fig.tight_layout()
fig.savefig("/tmp/attack-measure/grid_esd.png", dpi=110)
print("ok")
