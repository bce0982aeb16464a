"""The integer reference of a whole int8 model: the lowered schedule on int_reference.

    x_q = quantize_input(low, x)               # float NCHW -> int8 device layout (NHWC)
    y_q = run_reference(low, x_q)              # int8, device layout: what the C model computes
    y = output_to_source(low, y_q)             # back to the source layout (NCHW / (N, K))

Every layer calls the bit-exact numpy twin of its C kernel
(pyconvert.quant.int_reference) with the same int8 weights, offsets, multipliers and
tables the C file holds, so the generated C must agree with ``run_reference`` bit
for bit. A Flatten is a view (a reshape of the NHWC buffer), as on the device.

``layer_sqnr`` compares each layer's dequantized int8 output with the float model's
(pyconvert.interpret) on the same inputs: SQNR = 10 log10(sum f^2 / sum (f - dq)^2) dB,
with the error accumulated through every layer before it.
"""

from __future__ import annotations

import math

import numpy as np

from ..interpret import run_graph_values
from ..lower import Lowered
from . import int_reference as R


def _batched(dims: tuple, n: int) -> tuple:
    return (n,) + tuple(dims[1:])


def quantize_input(low: Lowered, x: np.ndarray) -> np.ndarray:
    """Float input in the source layout (NCHW or (N, K)) -> int8 in device layout,
    with mt_quantize_s8's rule (float32 divide, round half away from zero)."""
    x = np.asarray(x, np.float32)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    qp = low.quant.input
    q = R.quantize_s8(x, qp.scale, qp.zero_point)
    return q.reshape(_batched(low.tensors[low.input].dims, len(q)))


def output_to_source(low: Lowered, y: np.ndarray) -> np.ndarray:
    """An output in device layout (N, H, W, C) -> the source model's shape."""
    shape = low.tensors[low.output].shape
    y = np.asarray(y)
    if len(shape) == 4:
        return y.transpose(0, 3, 1, 2)
    return y.reshape((len(y),) + tuple(shape[1:]))


def run_reference(low: Lowered, x_q: np.ndarray, keep: bool = False):
    """Run the int8 schedule on int8 input x_q (device layout, any batch N).

    Returns the output tensor (N, H, W, C) int8, or with keep=True every tensor by
    name (including views)."""
    if low.dtype != "int8":
        raise ValueError(f"model '{low.name}' is not an int8 model")
    x_q = np.asarray(x_q)
    if x_q.dtype != np.int8:
        raise ValueError(f"run_reference: input dtype {x_q.dtype}, expected int8")
    n = len(x_q)
    views = {node.outputs[0]: node.inputs[0] for node in low.quant.graph.nodes if node.op == "flatten"}
    values = {low.input: x_q.reshape(_batched(low.tensors[low.input].dims, n))}

    def value(name):
        if name not in values:                    # a flatten: the same bytes, new dims
            values[name] = value(views[name]).reshape(_batched(low.tensors[name].dims, n))
        return values[name]

    for layer in low.layers:
        y = _run_layer(layer, value(layer.inp))
        values[layer.out] = y.reshape(_batched(low.tensors[layer.out].dims, n))
    for name in views:                            # views nobody read still get a value
        value(name)
    return values if keep else values[low.output]


def _run_layer(layer, x: np.ndarray) -> np.ndarray:
    d, a, op = layer.s8, layer.attrs, layer.op
    if op == "conv2d_maxpool":            # the fused pair is the two layers in a row
        p = a["pool"]
        y = R.conv2d_s8(x, d.weight, d.bias, d.multiplier, d.shift, d.input_offset,
                        d.output_offset, d.act, stride=a["stride"], padding=a["pads"],
                        dilation=a["dilation"], groups=a["groups"])
        return R.maxpool2d_s8(y, p["kernel"], p["stride"], p["pads"], p.get("ceil_mode", False), d.act)
    if op == "conv2d":
        return R.conv2d_s8(x, d.weight, d.bias, d.multiplier, d.shift, d.input_offset,
                           d.output_offset, d.act, stride=a["stride"], padding=a["pads"],
                           dilation=a["dilation"], groups=a["groups"])
    if op == "linear":
        return R.linear_s8(x, d.weight, d.bias, d.multiplier, d.shift, d.input_offset,
                           d.output_offset, d.act)
    if op == "max_pool2d":
        return R.maxpool2d_s8(x, a["kernel"], a["stride"], a["pads"], a.get("ceil_mode", False),
                              d.act)
    if op == "avg_pool2d":
        return R.avgpool2d_s8(x, a["kernel"], a["stride"], a["pads"], a.get("ceil_mode", False),
                              a.get("count_include_pad", True), d.act)
    if op == "global_avg_pool":
        return R.global_avgpool_s8(x, d.act)
    if op in ("relu", "clip"):
        return R.clamp_s8(x, *d.act)
    if op in ("sigmoid", "tanh", "leaky_relu", "step"):
        return R.lut_s8(x, d.table)
    if op == "softmax":
        return R.softmax_s8(x, d.exp_table)
    raise ValueError(f"layer '{layer.node}': no int8 reference for op '{op}'")


def reference_forward(low: Lowered, x: np.ndarray) -> np.ndarray:
    """Float input (source layout) -> int8 output (source layout), all in Python."""
    return output_to_source(low, run_reference(low, quantize_input(low, x)))


def _db(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return math.nan
    return 10.0 * math.log10(signal / noise)


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - approx)^2); inf when exact, nan for a zero signal."""
    ref = np.asarray(reference, np.float64)
    return _db(float(np.sum(ref ** 2)), float(np.sum((ref - np.asarray(approx, np.float64)) ** 2)))


def layer_sqnr(low: Lowered, x: np.ndarray, chunk: int = 256) -> dict:
    """{layer node name: SQNR dB} of the int8 schedule vs the float graph on inputs x
    (float32, source layout), summed over chunks of samples; also kept in low.quant.sqnr."""
    sums = {layer.node: [0.0, 0.0] for layer in low.layers}     # signal, noise
    for start in range(0, len(x), chunk):
        xs = x[start:start + chunk]
        floats = run_graph_values(low.quant.graph, xs)
        ints = run_reference(low, quantize_input(low, xs), keep=True)
        for layer in low.layers:
            f = floats[layer.out].astype(np.float64)
            if f.ndim == 4:
                f = f.transpose(0, 2, 3, 1)
            qp = low.quant.tensors[layer.out]
            dq = R.dequantize_s8(ints[layer.out], qp.scale, qp.zero_point).reshape(f.shape)
            sums[layer.node][0] += float(np.sum(f ** 2))
            sums[layer.node][1] += float(np.sum((f - dq) ** 2))
    low.quant.sqnr = {node: _db(signal, noise) for node, (signal, noise) in sums.items()}
    return low.quant.sqnr
