"""Post-training quantization: an optimized float IR graph -> int8 layer parameters.

    qm = quantize_graph(optimize(graph), calib=x_train, method="minmax")

What each tensor and layer gets (docs/design.md, Numbers; mt_s8.h):

- activations: asymmetric per tensor, (scale, zero_point) = choose_qparams(lo, hi)
  over the calibrated range (calibrate.py: min/max or percentile), widened to
  include 0 so the real 0 (padding, ReLU's floor) is exact;
- ops that keep their input's scale and zero point (max/avg/global pooling,
  flatten, standalone ReLU/Clip, which are integer clamps) put their input and
  output in one *group* that shares one (scale, zero_point), over the union of the
  members' ranges;
- conv2d / linear: weights symmetric per output channel (max|w| / 127), bias int32
  at s_in * s_w[o], requantization s_in * s_w[o] / s_out as a Q31 multiplier and
  shift (scales.quantize_multiplier), and the fused ReLU / ReLU6 / Clip as the
  output clamp [act_min, act_max] in the int8 domain;
- sigmoid / tanh / leaky_relu / step: a 256-entry lookup table (output scales
  1/256 zp -128 for sigmoid and 1/128 zp 0 for tanh, as TFLite; step {0, 1} at
  1/255 zp -128; leaky_relu calibrated);
- softmax: mt_softmax_s8's exp table, output scale 1/256, zero point -128;
  log_softmax has no int8 kernel (GraphError naming the node).

Tensors that a quantized ONNX file already quantized (``Tensor.quant``, set by
pyconvert.importers.onnx_quant) keep the file's parameters; only the rest are
calibrated, so a fully quantized file needs no calibration data.

Decided corner cases:
- zero range: a tensor that is exactly 0 on every calibration sample (a dead
  layer, a constant input) has no scale to measure; it gets the scale of the range
  [0, 1] (1/255, zero point -128), reported in ``notes``. Its int8 values are the
  zero point either way, and this keeps every requantization multiplier ordinary
  (MIN_SCALE would make a downstream ratio up to 1/eps). No division by zero.
- average pooling that counts padding taps (count_include_pad = 1 with padding) is
  exact in int8 only for zero point 0 (mt_s8.h): the group feeding it is
  quantized symmetric (zero point 0, scale max|x| / 127), reported in ``notes``;
  a file that fixes a non-zero zero point there is a GraphError.
- a bias that does not fit int32 at s_in * s_w, or a requantization scale >= 2^30,
  is a GraphError naming the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph, GraphError, QuantParams
from . import scales as S
from .calibrate import PERCENTILE, check_calibration, observe_ranges

KEEPS_QPARAMS = {"max_pool2d", "avg_pool2d", "global_avg_pool", "flatten", "relu", "clip"}
LOOKUP = {"sigmoid", "tanh", "leaky_relu", "step"}
#: Output quantization fixed by the op (TFLite's choices; step's {0, 1} exactly).
FIXED_OUTPUT = {"softmax": (1.0 / 256, -128), "sigmoid": (1.0 / 256, -128),
                "tanh": (1.0 / 128, 0), "step": (1.0 / 255, -128)}
INT8_OPS = {"conv2d", "linear"} | KEEPS_QPARAMS | LOOKUP | {"softmax"}
NO_CLAMP = (-128, 127)


@dataclass
class LayerQuant:
    """The int8 parameters of one IR node (weights in the source layout: OIHW / (O, K))."""
    node: str
    op: str
    input: QuantParams
    output: QuantParams
    act: tuple = NO_CLAMP                  # output clamp (act_min, act_max), int8 domain
    weight: np.ndarray | None = None       # int8, symmetric per output channel
    weight_scale: np.ndarray | None = None # (O,) float
    bias: np.ndarray | None = None         # (O,) int32 at s_in * s_w[o]
    multiplier: np.ndarray | None = None   # (O,) int32 Q31
    shift: np.ndarray | None = None        # (O,) int32
    table: np.ndarray | None = None        # (256,) int8: y = table[x + 128]
    exp_table: np.ndarray | None = None    # (256,) int32 Q23

    def const_bytes(self) -> dict:
        """Flash bytes of this layer's constants: {"weights", "bias", "requant", "tables"}."""
        size = lambda a, n: 0 if a is None else int(a.size) * n   # noqa: E731
        return {"weights": size(self.weight, 1), "bias": size(self.bias, 4),
                "requant": size(self.multiplier, 4) + size(self.shift, 4),
                "tables": size(self.table, 1) + size(self.exp_table, 4)}


@dataclass
class QuantizedModel:
    graph: Graph                   # the optimized float graph it was made from
    tensors: dict                  # activation name -> QuantParams (scalar scale, zero point)
    layers: dict                   # node name -> LayerQuant (every node but flatten)
    ranges: dict                   # activation name -> calibrated float (lo, hi)
    method: str                    # "minmax", "percentile" or "file" (nothing calibrated)
    notes: list = field(default_factory=list)
    sqnr: dict = field(default_factory=dict)   # node name -> dB (filled by int_model.layer_sqnr)

    @property
    def input(self) -> QuantParams:
        return self.tensors[self.graph.inputs[0]]

    @property
    def output(self) -> QuantParams:
        return self.tensors[self.graph.outputs[0]]


def quantize_graph(graph: Graph, calib=None, method: str = "minmax",
                   percentile: float = PERCENTILE) -> QuantizedModel:
    """Quantize an optimized graph (pyconvert.passes.optimize) for the int8 kernels.

    calib: float32 sample inputs (N, *input_shape[1:]); needed unless the graph came
    from a fully quantized ONNX file. method: "minmax" or "percentile"."""
    _check_graph(graph)
    fixed = {n.outputs[0]: FIXED_OUTPUT[n.op] for n in graph.nodes if n.op in FIXED_OUTPUT}
    acts = [graph.inputs[0]] + [n.outputs[0] for n in graph.nodes]
    group_of = _groups(graph, acts)
    known = {group_of[t] for t in acts if graph.tensors[t].quant is not None or t in fixed}
    unknown = [t for t in acts if group_of[t] not in known]
    ranges = {}
    if calib is not None or unknown:
        if calib is None:
            raise GraphError(f"calibration data: none given, and tensor '{unknown[0]}' has no "
                             f"quantization parameters in the model ({len(unknown)} tensors need "
                             f"calibration)")
        ranges = observe_ranges(graph, check_calibration(graph, calib), method, percentile)
    qm = QuantizedModel(graph, {}, {}, ranges, method if unknown else "file")
    _assign_tensor_qparams(qm, acts, group_of, fixed)
    for node in graph.nodes:
        if node.op != "flatten":
            qm.layers[node.name] = _quantize_node(qm, node)
    return qm


# ---- checks --------------------------------------------------------------------------

def _check_graph(graph: Graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise GraphError(f"model '{graph.name}': int8 conversion needs exactly one input and one "
                         f"output, got {graph.inputs} and {graph.outputs}")
    for node in graph.nodes:
        if node.op == "log_softmax":
            raise GraphError(f"{node.describe()}: log_softmax has no int8 kernel; end the model "
                             f"with softmax or no activation, or convert it as float32")
        if node.op not in INT8_OPS:
            raise GraphError(f"{node.describe()}: no int8 kernel for this op (run "
                             f"pyconvert.passes.optimize first to fold batch_norm and identities)")


# ---- activations: groups that share (scale, zero point) ---------------------------------

def _groups(graph: Graph, acts: list) -> dict:
    """tensor -> its group's root (the first tensor of the group in execution order)."""
    root = {t: t for t in acts}

    def find(t):
        while root[t] != t:
            root[t] = root[root[t]]
            t = root[t]
        return t

    for node in graph.nodes:
        if node.op in KEEPS_QPARAMS:
            a, b = find(node.inputs[0]), find(node.outputs[0])
            first, second = (a, b) if acts.index(a) <= acts.index(b) else (b, a)
            root[second] = first
    return {t: find(t) for t in acts}


def _needs_zero_point_0(node) -> bool:
    """An average pool that divides by padded taps is exact in int8 only for zp 0."""
    return node.op == "avg_pool2d" and bool(node.attrs.get("count_include_pad", True)) \
        and any(p > 0 for p in node.attrs["pads"])


def _assign_tensor_qparams(qm: QuantizedModel, acts: list, group_of: dict, fixed: dict) -> None:
    graph = qm.graph
    members: dict = {}
    for t in acts:
        members.setdefault(group_of[t], []).append(t)
    symmetric = {group_of[n.inputs[0]]: n for n in graph.nodes if _needs_zero_point_0(n)}
    softmax = {n.outputs[0] for n in graph.nodes if n.op == "softmax"}
    for root, group in members.items():
        # priority: the softmax kernel's fixed output, then the file's, then the defaults
        forced = [(t, QuantParams(*fixed[t])) for t in group if t in fixed and t in softmax]
        from_file = [(t, graph.tensors[t].quant) for t in group if graph.tensors[t].quant is not None]
        defaults = [(t, QuantParams(*fixed[t])) for t in group if t in fixed and t not in softmax]
        given = forced + from_file + defaults
        pool = symmetric.get(root)
        if given:
            source, qp = given[0]
            qp = QuantParams(float(np.float32(qp.scale)), int(qp.zero_point))
            for t, other in from_file:
                if not other.same(qp):
                    why = (f"the int8 softmax fixes its output at (scale {qp.scale:.6g}, zero point "
                           f"{qp.zero_point})" if t == source else
                           f"it shares the quantization of '{source}' (the op keeps its input's)")
                    qm.notes.append(f"tensor '{t}': {why}; the file's (scale "
                                    f"{float(other.scale):.6g}, zero point {int(other.zero_point)}) "
                                    f"is not used")
            if pool is not None and qp.zero_point != 0:
                raise GraphError(f"{pool.describe()}: average pooling that counts padding is exact "
                                 f"in int8 only with zero point 0, but input '{pool.inputs[0]}' has "
                                 f"zero point {qp.zero_point}")
        else:
            qp = _calibrated_qparams(qm, group, symmetric=pool is not None)
            if pool is not None:
                qm.notes.append(f"tensor '{root}' is quantized symmetric (zero point 0) because "
                                f"{pool.describe()} counts padding taps")
        for t in group:
            qm.tensors[t] = qp


def _calibrated_qparams(qm: QuantizedModel, group: list, symmetric: bool) -> QuantParams:
    seen = [qm.ranges[t] for t in group if t in qm.ranges]
    lo, hi = min(0.0, min(r[0] for r in seen)), max(0.0, max(r[1] for r in seen))
    if hi - lo <= 0.0:
        qm.notes.append(f"tensor '{group[0]}' is 0 on every calibration sample (zero range); "
                        f"it gets the scale of [0, 1]")
        lo, hi = 0.0, 1.0
    if symmetric:
        peak = max(-lo, hi)
        return QuantParams(float(np.float32(max(peak / 127.0, S.MIN_SCALE))), 0)
    scale, zero_point = S.choose_qparams(lo, hi)
    return QuantParams(scale, zero_point)


# ---- layers ----------------------------------------------------------------------------------

def _quantize_node(qm: QuantizedModel, node) -> LayerQuant:
    qin, qout = qm.tensors[node.inputs[0]], qm.tensors[node.outputs[0]]
    layer = LayerQuant(node.name, node.op, qin, qout)
    s_in, zp_in, s_out, zp_out = qin.scale, qin.zero_point, qout.scale, qout.zero_point
    if node.op in ("conv2d", "linear"):
        _quantize_weights(qm.graph, node, layer)
        layer.act = clamp_range(node.attrs.get("act"), s_out, zp_out)
    elif node.op == "relu":
        layer.act = clamp_range((0.0, math.inf), s_out, zp_out)
    elif node.op == "clip":
        layer.act = clamp_range((node.attrs["lo"], node.attrs["hi"]), s_out, zp_out)
    elif node.op in LOOKUP:
        layer.table = S.lut_table(_scalar_function(node), s_in, zp_in, s_out, zp_out)
    elif node.op == "softmax":
        cols = qm.graph.tensors[node.inputs[0]].shape[1]
        if cols > 256:
            raise GraphError(f"{node.describe()}: int8 softmax supports at most 256 classes, "
                             f"got {cols}")
        layer.exp_table = S.softmax_exp_table(s_in)
    return layer


def clamp_range(act, scale: float, zero_point: int) -> tuple:
    """A float clamp (lo, hi) (None = none) as (act_min, act_max) in the int8 domain."""
    if not act:
        return NO_CLAMP
    def q(v, default):
        if math.isinf(v):
            return default
        return int(np.clip(zero_point + S.round_half_away(v / scale), -128, 127))
    return q(float(act[0]), -128), q(float(act[1]), 127)


def _scalar_function(node):
    if node.op == "sigmoid":
        return lambda x: 1.0 / (1.0 + np.exp(-x))
    if node.op == "tanh":
        return np.tanh
    if node.op == "step":
        return lambda x: (x > 0).astype(np.float64)
    alpha = float(node.attrs["alpha"])
    return lambda x: np.where(x >= 0, x, alpha * x)


def _quantize_weights(graph: Graph, node, layer: LayerQuant) -> None:
    """Weights, bias and requantization of a conv2d / linear node."""
    w_t = graph.tensors[node.inputs[1]]
    w = w_t.data
    out_channels = w.shape[0]
    s_in, s_out = layer.input.scale, layer.output.scale
    if w_t.quant is not None:                              # the file's own weight scales
        if np.any(np.asarray(w_t.quant.zero_point) != 0):
            raise GraphError(f"{node.describe()}: weight '{w_t.name}' has a non-zero zero point; "
                             f"the int8 kernels need symmetric weights")
        layer.weight_scale = np.broadcast_to(np.asarray(w_t.quant.scale, np.float64),
                                             (out_channels,)).copy()
        values = w_t.quant.values
        layer.weight = (values.astype(np.int8) if values is not None and values.shape == w.shape
                        else S.quantize_weights(w, layer.weight_scale))
    else:
        layer.weight_scale = S.symmetric_weight_scales(w, axis=0)
        layer.weight = S.quantize_weights(w, layer.weight_scale)
    b_name = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
    if b_name:
        layer.bias = _quantize_bias(graph, node, b_name, s_in, layer.weight_scale)
    try:
        layer.multiplier, layer.shift = S.requant_params(s_in, layer.weight_scale, s_out)
    except ValueError as exc:
        raise GraphError(f"{node.describe()}: requantization scale s_in*s_w/s_out out of range "
                         f"({exc}); input scale {s_in:.6g}, output scale {s_out:.6g}") from None


def _quantize_bias(graph: Graph, node, b_name: str, s_in: float, s_w: np.ndarray) -> np.ndarray:
    b_t = graph.tensors[b_name]
    bias_scale = float(s_in) * s_w
    if b_t.quant is not None and b_t.quant.values is not None:
        file_scale = np.broadcast_to(np.asarray(b_t.quant.scale, np.float64), s_w.shape)
        if np.allclose(file_scale, bias_scale, rtol=1e-5, atol=0):
            return b_t.quant.values.astype(np.int32).reshape(-1)
    q = S.round_half_away(np.asarray(b_t.data, np.float64) / bias_scale)
    if np.any(np.abs(q) > 2 ** 31 - 1):
        o = int(np.argmax(np.abs(q)))
        raise GraphError(f"{node.describe()}: bias '{b_name}'[{o}] = {float(b_t.data[o]):.6g} does "
                         f"not fit int32 at scale s_in*s_w = {bias_scale[o]:.3g} (input scale "
                         f"{s_in:.3g} too small for this bias)")
    return q.astype(np.int32)
