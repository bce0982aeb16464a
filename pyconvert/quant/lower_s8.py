"""Lowering of a quantized model: QuantizedModel -> the int8 device schedule.

The schedule is the float one (pyconvert.lower: NHWC, flatten as a view, in-place
activations) with three differences:
- every activation tensor is int8: 1 byte per element, so the arena is planned
  again and is about a quarter of the float arena;
- each layer carries a DeviceS8 (the C struct mt_layer_s8): zero points and clamp,
  int8 weights permuted exactly like the float weights (OIHW -> OHWI, and the
  (C, H, W) -> (H, W, C) column order of a Linear after a Flatten), int32 bias,
  per-channel multipliers and shifts, lookup tables;
- Lowered.dtype is "int8" and Lowered.quant the QuantizedModel (scales of the
  input and output, notes, per-layer SQNR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import QuantParams
from ..lower import Lowered, lower, plan_buffers, to_device_layout
from .ptq import LayerQuant, QuantizedModel


@dataclass
class DeviceS8:
    """One layer's int8 parameters in device layout (mirrors mt_layer_s8)."""
    input: QuantParams
    output: QuantParams
    act: tuple                              # (act_min, act_max)
    weight: np.ndarray | None = None        # int8 OHWI / (O, K)
    bias: np.ndarray | None = None          # int32 (O,)
    multiplier: np.ndarray | None = None    # int32 (O,)
    shift: np.ndarray | None = None         # int32 (O,)
    table: np.ndarray | None = None         # int8 (256,)
    exp_table: np.ndarray | None = None     # int32 (256,)

    @property
    def input_offset(self) -> int:
        return -int(self.input.zero_point)

    @property
    def output_offset(self) -> int:
        return int(self.output.zero_point)

    def arrays(self) -> dict:
        """The constant arrays by role (for emission and byte counts)."""
        return {k: v for k, v in (("weight", self.weight), ("bias", self.bias),
                                  ("multiplier", self.multiplier), ("shift", self.shift),
                                  ("table", self.table), ("exp_table", self.exp_table))
                if v is not None}


def lower_quantized(qm: QuantizedModel) -> Lowered:
    """The int8 schedule of a quantized model, with its arena planned."""
    low = lower(qm.graph, plan=False)
    low.dtype, low.quant = "int8", qm
    for tensor in low.tensors.values():
        tensor.elem_bytes = 1
    for layer in low.layers:
        layer.s8 = _device_params(qm.layers[layer.node], layer.weight_layout)
    plan_buffers(low)
    return low


def _device_params(lq: LayerQuant, weight_layout) -> DeviceS8:
    weight = None
    if lq.weight is not None:        # the float weight's permutation: OIHW -> OHWI, flat (H, W, C)
        weight = np.ascontiguousarray(to_device_layout(lq.weight, weight_layout), np.int8)
    return DeviceS8(lq.input, lq.output, tuple(int(v) for v in lq.act), weight,
                    lq.bias, lq.multiplier, lq.shift, lq.table, lq.exp_table)


def const_bytes(low: Lowered) -> dict:
    """Flash bytes of an int8 schedule's constants by kind, and the float32 weights'
    bytes for comparison: {"weights", "bias", "requant", "tables", "float_weights"}."""
    out = {"weights": 0, "bias": 0, "requant": 0, "tables": 0, "float_weights": 0}
    for layer in low.layers:
        d = layer.s8
        if d is None:
            continue
        out["weights"] += 0 if d.weight is None else d.weight.size
        out["bias"] += 0 if d.bias is None else 4 * d.bias.size
        out["requant"] += sum(4 * a.size for a in (d.multiplier, d.shift) if a is not None)
        out["tables"] += (0 if d.table is None else d.table.size) + \
            (0 if d.exp_table is None else 4 * d.exp_table.size)
        out["float_weights"] += 0 if layer.weight is None else 4 * layer.weight.size
    return out
