"""Train the toy config's esd-x-triangle run (200 its, lr 5e-4, batch 2, 10 sampling steps) for attack measurements."""

import time
from pathlib import Path
from erasure.checkpoints import write_complete
from erasure.methods.trainer import train
from erasure.paths import run_dir, run_complete
from erasure.runtime import set_threads

set_threads(1)
root = Path("/tmp/attack-measure/results")
rd = run_dir(root, "toy", "esd-x-triangle")
t0 = time.time()
train(
    rd,
    method="esd-x",
    concepts=["triangle"],
    iterations=200,
    checkpoint_every=100,
    base_model="toy:shipped",
    preset="esd",
    settings={"lr": 5.0e-4, "batch_size": 2, "sampling_steps": 10},
    results=root,
    progress=False,
)
write_complete(rd, run_complete(root, "toy", "esd-x-triangle"), iterations=200)
print("trained in", round(time.time() - t0, 1), "s")
