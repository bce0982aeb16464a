"""Calibration: run the float graph on sample inputs and observe each tensor's range.

    x = check_calibration(graph, calib)                  # (N, ...) float32, validated
    ranges = observe_ranges(graph, x, method="minmax")   # {tensor: (lo, hi)}

The float interpreter (pyconvert.interpret) computes every activation of the
optimized graph (fused clamps included, so a ReLU conv's output is observed after
the ReLU). Two observers:

- ``minmax``: lo, hi = the smallest and largest value seen;
- ``percentile``: lo, hi = the (100 - p)-th and p-th percentiles of all values seen
  (p = 99.99 by default), so a few outliers do not stretch the scale; values beyond
  saturate at inference. If the percentiles leave an empty range (a tensor that is
  almost always 0), min/max is used for that tensor.

Samples are run in chunks of CHUNK so memory stays bounded; the percentile observer
keeps at most MAX_SAMPLES values per tensor (an evenly spaced subsample beyond that).
"""

from __future__ import annotations

import numpy as np

from ..interpret import run_graph_values
from ..ir import Graph, GraphError

METHODS = ("minmax", "percentile")
PERCENTILE = 99.99
CHUNK = 256
MAX_SAMPLES = 1 << 22


def check_calibration(graph: Graph, calib) -> np.ndarray:
    """calib as float32 (N, *sample_shape), or a one-line GraphError: not an array,
    not floating point, the wrong sample shape, no samples, NaN or Inf."""
    name = graph.inputs[0]
    want = tuple(graph.tensors[name].shape)
    expected = "(N, " + ", ".join(str(d) for d in want[1:]) + ")"
    if calib is None:
        raise GraphError(f"calibration data: none given; int8 conversion needs sample inputs "
                         f"{expected} for input '{name}'")
    x = np.asarray(calib)
    if x.dtype.kind != "f":
        raise GraphError(f"calibration data: dtype {x.dtype}, expected float32 samples of the "
                         f"model input '{name}'")
    if x.ndim != len(want) or tuple(x.shape[1:]) != want[1:]:
        raise GraphError(f"calibration data: shape {tuple(x.shape)} does not match input '{name}' "
                         f"{want}; expected {expected}")
    if x.shape[0] < 1:
        raise GraphError(f"calibration data: no samples (shape {tuple(x.shape)})")
    x = x.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
        raise GraphError(f"calibration data: {int(bad.sum())} NaN/Inf values (first in sample "
                         f"{first}); calibration needs finite inputs")
    return x


class _Observer:
    """The running range of one tensor under one method."""

    def __init__(self, method: str, percentile: float):
        self.method, self.percentile = method, percentile
        self.lo, self.hi = np.inf, -np.inf
        self.parts: list = []
        self.count = 0

    def add(self, values: np.ndarray) -> None:
        v = values.reshape(-1)
        if self.method == "minmax":
            self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
            return
        if self.count + v.size > MAX_SAMPLES:           # keep an even subsample
            step = -(-(self.count + v.size) // MAX_SAMPLES)
            v = v[::step]
        self.parts.append(v.astype(np.float32, copy=True))
        self.count += v.size

    def range(self) -> tuple:
        if self.method == "minmax":
            return self.lo, self.hi
        v = np.concatenate(self.parts).astype(np.float64)
        p = self.percentile
        lo, hi = float(np.percentile(v, 100.0 - p)), float(np.percentile(v, p))
        if min(lo, 0.0) == max(hi, 0.0):     # (almost) all zeros: the percentiles see nothing
            lo, hi = float(v.min()), float(v.max())
        return lo, hi


def observe_ranges(graph: Graph, x: np.ndarray, method: str = "minmax",
                   percentile: float = PERCENTILE) -> dict:
    """{tensor name: (lo, hi)} for the graph input and every node output, over the
    samples x (already checked by check_calibration)."""
    if method not in METHODS:
        raise GraphError(f"calibration method '{method}' is unknown; use one of {', '.join(METHODS)}")
    if not 50.0 < percentile <= 100.0:
        raise GraphError(f"percentile {percentile} must be in (50, 100]")
    observers: dict = {}
    for start in range(0, len(x), CHUNK):
        for name, value in run_graph_values(graph, x[start:start + CHUNK]).items():
            if not np.all(np.isfinite(value)):
                raise GraphError(f"calibration: tensor '{name}' has NaN/Inf values in the float "
                                 f"model (samples {start}..{start + CHUNK - 1})")
            observers.setdefault(name, _Observer(method, percentile)).add(value)
    return {name: obs.range() for name, obs in observers.items()}
