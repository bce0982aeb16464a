"""Layout helpers and the shape grids shared by the kernel tests.

The C runtime is NHWC with OHWI filters; the reference (pyconvert.nn, PyTorch) is
NCHW with OIHW filters. These helpers convert, so every comparison is written once.
"""

from __future__ import annotations

import numpy as np

import pyconvert.nn as nn


def to_nhwc(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def to_nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def reference(fn, inputs: dict, d_out: np.ndarray | None = None, **kwargs):
    """Run a pyconvert.nn.functional op on float32 arrays: (output, {name: grad}).

    inputs: name -> array (None passes None). With d_out, backward runs with it as
    the output gradient and the gradient of every non-None input is returned."""
    tensors = {k: None if v is None else nn.tensor(np.asarray(v, np.float32), requires_grad=True)
               for k, v in inputs.items()}
    out = fn(*tensors.values(), **kwargs)
    grads = {}
    if d_out is not None:
        out.backward(np.asarray(d_out, np.float32))
        grads = {k: t.grad for k, t in tensors.items() if t is not None}
    return out.data, grads


def assert_close(actual, expected, rtol=1e-5, what=""):
    """Elementwise |a - e| <= rtol * (|e| + scale), scale = max |e| (so elements near 0
    after cancellation are judged against the size of the tensor, not of themselves)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected))), 1e-30) if expected.size else 1.0
    err = np.abs(actual - expected)
    bound = rtol * (np.abs(expected) + scale)
    worst = float(np.max(err / (np.abs(expected) + scale))) if err.size else 0.0
    assert np.all(err <= bound), f"{what}: worst relative error {worst:.3g} > {rtol}"
    return worst


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)
