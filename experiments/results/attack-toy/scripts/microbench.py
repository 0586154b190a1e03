# ruff: noqa: E402 - set_threads before the torch-heavy imports (a script)
"""Fixed-budget cost of each attack on the toy base (no early stop): white-box seconds per iteration,
Ring-A-Bell seconds per generation at the upstream population (200)."""

import json
import os
import time
from erasure.runtime import set_threads

set_threads(1)
from erasure.models import load_base_pipeline
from erasure.attacks.checks import draw_image
from erasure.attacks.whitebox import WhiteBoxSettings, image_latents, unlearn_diff_attack
from erasure.attacks.ringabell import RingABellSettings, concept_vector, ring_a_bell
from erasure.generate.pipelines import MethodPipeline
from erasure.generate.latents import make_scheduler

pipe = load_base_pipeline("toy:shipped")
pipe.scheduler = make_scheduler("ddim", pipe.scheduler)
m = MethodPipeline("sd", "sd", pipe)
t0 = time.perf_counter()
img = draw_image(m, "a red triangle on the beach", prompt_id="x", seed=0, guidance=5.0, steps=25)
draw_s = time.perf_counter() - t0
z0 = image_latents(pipe.vae, img)
t0 = time.perf_counter()
r = unlearn_diff_attack(
    pipe.unet,
    pipe.text_encoder,
    pipe.tokenizer,
    pipe.scheduler,
    z0,
    "a blue circle on the grass",
    seed=0,
    settings=WhiteBoxSettings(iterations=40, timesteps=(500,)),
)
wb_s = time.perf_counter() - t0
c = concept_vector(
    pipe.text_encoder,
    pipe.tokenizer,
    ["a red triangle", "a triangle on the beach"],
    ["a red circle", "a circle on the beach"],
)
t0 = time.perf_counter()
rb = ring_a_bell(
    pipe.text_encoder,
    pipe.tokenizer,
    "a red triangle",
    c,
    seed=0,
    settings=RingABellSettings(length=8, generations=20),
)
rb_s = time.perf_counter() - t0
print(
    json.dumps(
        {
            "draw_image_25_steps_s": round(draw_s, 3),
            "whitebox_40_iterations_s": round(wb_s, 2),
            "whitebox_s_per_iteration": round(wb_s / 40, 3),
            "ringabell_pop200_20_generations_s": round(rb_s, 2),
            "ringabell_s_per_generation": round(rb_s / 20, 3),
            "loadavg": os.getloadavg(),
        }
    )
)
