"""Training progress by steps or by wall-clock, whichever runs out first.

CPU time on shared 2-core machines varies several-fold with load; a budget in seconds keeps the build
inside its time while the learning-rate schedule still runs to completion (it follows the fraction done).
The steps actually taken are reported, so a run can be repeated exactly with that step count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator


class Progress:
    def __init__(self, steps: int, max_seconds: float | None = None):
        self.steps, self.max_seconds = steps, max_seconds
        self.done = 0
        self.start = time.time()

    def fraction(self) -> float:
        frac = self.done / self.steps
        if self.max_seconds:
            frac = max(frac, (time.time() - self.start) / self.max_seconds)
        return frac

    def __iter__(self) -> Iterator[tuple[int, float]]:
        while (frac := self.fraction()) < 1.0:
            yield self.done, frac
            self.done += 1

    def elapsed(self) -> float:
        return time.time() - self.start


def warmup_cosine(frac: float, *, warmup: float = 0.05, floor: float = 0.02) -> float:
    if frac < warmup:
        return (frac + 1e-3) / warmup
    f = (frac - warmup) / (1 - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, f)))


def set_lr(opt, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
