"""How metrics are named, rounded and read (higher or lower is better) in tables and figures.

Every displayed number carries its scorer `label` (e.g. "toy-oracle", "nudenet-3.4.2"), so a toy number
can never pass for a real scorer's.
"""

from __future__ import annotations

import math

from erasure.metrics import catalog

# metric -> (display name, better direction, decimals): the catalog's `display` (erasure.metrics.catalog)
METRICS = {name: spec.display for name, spec in catalog.METRICS.items()}
ARROWS = {"down": "↓", "up": "↑"}
LATEX_ARROWS = {"down": r"$\downarrow$", "up": r"$\uparrow$"}


STANDIN_PREFIX = "stand-in:"  # erasure.standins.LABEL; scores made with stand-in weights carry it
STANDIN_NOTE = ("stand-in: scored on stand-in weights (tiny random models, erasure.standins); these numbers "
                "mean nothing and are not results")


def any_standin(labels) -> bool:
    return any(str(label).startswith(STANDIN_PREFIX) for label in labels)


def metric_name(metric: str) -> str:
    base = metric.split(":", 1)[0]
    name = METRICS.get(base, (metric, "", 3))[0]
    return f"{name} ({metric.split(':', 1)[1]})" if ":" in metric else name


def direction(metric: str) -> str:
    return METRICS.get(metric.split(":", 1)[0], ("", "", 3))[1]


def decimals(metric: str) -> int:
    return METRICS.get(metric.split(":", 1)[0], ("", "", 3))[2]


def fmt(value, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value):.{decimals(metric)}f}"


def fmt_interval(mean, low, high, metric: str) -> str:
    """'74.2 [72.0, 76.4]'; set-level metrics (FID) have no interval and show the value alone."""
    text = fmt(mean, metric)
    if low is None or high is None or any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return text
    return f"{text} [{fmt(low, metric)}, {fmt(high, metric)}]"
