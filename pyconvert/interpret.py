"""Run an IR graph on the numpy float reference (pyconvert.nn.functional).

``run_graph(graph, x)`` executes the nodes in order, before or after
``pyconvert.passes.optimize`` (batch_norm, identity/dropout and the fused ``act``
clamp of conv2d/linear are all handled). It is the float oracle for imported models:
the same graph the C emitter sees, computed with PyTorch semantics.

Pads in the IR are per side (top, left, bottom, right). The reference ops take
symmetric padding, so an asymmetric pad is applied to the input first: zeros for a
convolution, -inf for max pooling. Average pooling with asymmetric pads (or pads
larger than the reference accepts) is computed here directly, with PyTorch's divisor
rule extended per side.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .ir import Graph, GraphError
from .nn import functional as F
from .nn.tensor import as_tensor, no_grad
from .shapes import pool_out_size


def run_graph(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The graph's (first) output for input ``x`` (NCHW or (N, K)), as float32.

    The input's batch size may differ from the one the graph was imported with."""
    return run_graph_values(graph, x)[graph.outputs[0]]


def run_graph_values(graph: Graph, x: np.ndarray) -> dict:
    """Every activation of the graph for input ``x``: {tensor name: float32 array},
    the input and each node's output (what calibration observes)."""
    if len(graph.inputs) != 1:
        raise GraphError(f"run_graph: expected one graph input, got {graph.inputs}")
    name = graph.inputs[0]
    x = np.asarray(x, dtype=np.float32)
    want = graph.tensors[name].shape
    if x.ndim != len(want) or tuple(x.shape[1:]) != tuple(want[1:]):
        raise GraphError(f"run_graph: input shape {x.shape} does not match the graph input "
                         f"'{name}' {tuple(want)} (only the batch size may differ)")
    values = {name: x}
    with no_grad():
        for node in graph.nodes:
            args = [_value(graph, values, t) for t in node.inputs if t]
            try:
                run = _RUNNERS[node.op]
            except KeyError:
                raise GraphError(f"{node.describe()}: run_graph has no rule for this op") from None
            values[node.outputs[0]] = np.asarray(run(node.attrs, *args), dtype=np.float32)
    return values


def _value(graph: Graph, values: dict, name: str) -> np.ndarray:
    if name in values:
        return values[name]
    return graph.tensors[name].data


def _t(a: np.ndarray):
    return as_tensor(np.ascontiguousarray(a, dtype=np.float32))


def _clamp(y: np.ndarray, act) -> np.ndarray:
    """The fused activation: clamp to [lo, hi] (None = no activation)."""
    if not act:
        return y
    lo, hi = (float(v) for v in act)
    if lo == 0.0 and hi == math.inf:
        return F.relu(_t(y)).data
    if lo == -math.inf and hi == math.inf:
        return y
    return F.clamp(_t(y), None if lo == -math.inf else lo, None if hi == math.inf else hi).data


# ---- layers -------------------------------------------------------------------------

def _conv2d(a, x, w, b=None):
    # x (N, C, H, W), w (O, C/groups, kh, kw) -> (N, O, OH, OW)
    pt, pl, pb, pr = a["pads"]
    if (pt, pl) != (pb, pr):           # asymmetric: zero-pad first, then no padding
        x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        pt = pl = 0
    y = F.conv2d(_t(x), _t(w), None if b is None else _t(b), stride=tuple(a["stride"]),
                 padding=(pt, pl), dilation=tuple(a["dilation"]), groups=int(a["groups"])).data
    return _clamp(y, a.get("act"))


def _linear(a, x, w, b=None):
    # x (N, K), w (O, K) -> (N, O)
    y = F.linear(_t(x), _t(w), None if b is None else _t(b)).data
    return _clamp(y, a.get("act"))


def _pool_out(x_shape, a) -> tuple:
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["stride"], a["pads"]
    ceil = a.get("ceil_mode", False)
    return (pool_out_size(x_shape[2], kh, sh, pt, pb, ceil),
            pool_out_size(x_shape[3], kw, sw, pl, pr, ceil))


def _reference_pads(a) -> tuple | None:
    """(ph, pw) when the reference pool can take the pads as they are: symmetric and
    at most half the kernel (PyTorch's limit); else None."""
    (kh, kw), (pt, pl, pb, pr) = a["kernel"], a["pads"]
    if (pt, pl) == (pb, pr) and pt <= kh // 2 and pl <= kw // 2:
        return pt, pl
    return None


def _window_padding(x_shape, a, out) -> tuple:
    """np.pad widths covering every window: the begin pads, and at the end whatever
    the last window needs (the end pad, less where no window reaches, more in ceil_mode)."""
    (kh, kw), (sh, sw), (pt, pl, _, _) = a["kernel"], a["stride"], a["pads"]
    bottom = max(0, (out[0] - 1) * sh + kh - x_shape[2] - pt)
    right = max(0, (out[1] - 1) * sw + kw - x_shape[3] - pl)
    return (0, 0), (0, 0), (pt, bottom), (pl, right)


def _max_pool2d(a, x):
    # x (N, C, H, W) -> (N, C, OH, OW)
    kernel, stride, ceil = tuple(a["kernel"]), tuple(a["stride"]), bool(a.get("ceil_mode", False))
    pads = _reference_pads(a)
    if pads is not None:
        return F.max_pool2d(_t(x), kernel, stride, pads, ceil_mode=ceil).data
    out = _pool_out(x.shape, a)       # pad with -inf (never selected), then pool unpadded
    xp = np.pad(x, _window_padding(x.shape, a, out), constant_values=-np.inf)
    return F.max_pool2d(_t(xp), kernel, stride, 0).data[:, :, :out[0], :out[1]]


def _avg_divisor(size: int, k: int, s: int, begin: int, end: int, out: int, include_pad: bool):
    """Per output position along one axis: the window clipped to [-begin, size + end)
    when padding counts, else to the real input [0, size) (PyTorch's rule, per side)."""
    start = np.arange(out) * s - begin
    stop = np.minimum(start + k, size + end)
    if include_pad:
        return stop - start
    return np.minimum(stop, size) - np.maximum(start, 0)


def _avg_pool2d(a, x):
    # x (N, C, H, W) -> (N, C, OH, OW): window sum / divisor
    kernel, stride = tuple(a["kernel"]), tuple(a["stride"])
    ceil, include = bool(a.get("ceil_mode", False)), bool(a.get("count_include_pad", True))
    pads = _reference_pads(a)
    if pads is not None:
        return F.avg_pool2d(_t(x), kernel, stride, pads, ceil_mode=ceil, count_include_pad=include).data
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = kernel, stride, a["pads"]
    out = _pool_out(x.shape, a)
    xp = np.pad(x, _window_padding(x.shape, a, out))
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :out[0], :out[1]]
    sums = windows.sum(axis=(-2, -1), dtype=np.float32)
    div = np.outer(_avg_divisor(x.shape[2], kh, sh, pt, pb, out[0], include),
                   _avg_divisor(x.shape[3], kw, sw, pl, pr, out[1], include))
    return sums / div.astype(np.float32)


def _global_avg_pool(a, x):
    return F.adaptive_avg_pool2d(_t(x), 1).data       # (N, C, H, W) -> (N, C, 1, 1)


def _flatten(a, x):
    return F.flatten(_t(x), 1).data                    # (N, ...) -> (N, prod(...))


def _batch_norm(a, x, scale, bias, mean, var):
    return F.batch_norm(_t(x), _t(mean), _t(var), _t(scale), _t(bias), training=False,
                        eps=float(a.get("eps", 1e-5))).data


def _clip(a, x):
    return _clamp(x, (a["lo"], a["hi"]))


_RUNNERS = {
    "conv2d": _conv2d,
    "linear": _linear,
    "max_pool2d": _max_pool2d,
    "avg_pool2d": _avg_pool2d,
    "global_avg_pool": _global_avg_pool,
    "flatten": _flatten,
    "batch_norm": _batch_norm,
    "relu": lambda a, x: F.relu(_t(x)).data,
    "sigmoid": lambda a, x: F.sigmoid(_t(x)).data,
    "tanh": lambda a, x: F.tanh(_t(x)).data,
    "step": lambda a, x: F.step(_t(x)).data,
    "clip": _clip,
    "leaky_relu": lambda a, x: F.leaky_relu(_t(x), float(a["alpha"])).data,
    "softmax": lambda a, x: F.softmax(_t(x), dim=int(a["axis"])).data,
    "log_softmax": lambda a, x: F.log_softmax(_t(x), dim=int(a["axis"])).data,
    "identity": lambda a, x: x,
    "dropout": lambda a, x: x,
}
