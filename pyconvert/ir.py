"""The intermediate representation: a small typed graph every importer produces.

A Graph is a list of Nodes in execution order over named Tensors. Shapes and ops have
PyTorch/ONNX semantics (activations NCHW); the NHWC device layout is applied only
when C is emitted. Parameters are Tensors with `data` (numpy, float32).

Ops and their attributes (inputs in brackets; `act` is the fused clamp (lo, hi) or None):

    conv2d        [x, w, b?]  stride (sh, sw), pads (top, left, bottom, right),
                              dilation (dh, dw), groups, act
    linear        [x, w, b?]  act                       x (N, K), w (O, K)
    max_pool2d    [x]         kernel (kh, kw), stride, pads, ceil_mode
    avg_pool2d    [x]         kernel, stride, pads, ceil_mode, count_include_pad
    global_avg_pool [x]                                 (N, C, H, W) -> (N, C, 1, 1)
    flatten       [x]                                   (N, ...) -> (N, prod(...))
    batch_norm    [x, scale, bias, mean, var]  eps      (folded away by passes)
    relu, sigmoid, tanh, step                [x]
    clip          [x]  lo, hi                           (ReLU6 = clip 0..6)
    leaky_relu    [x]  alpha
    softmax, log_softmax [x]  axis                      (the channel axis, 1)
    identity, dropout    [x]                            (removed by passes)

Quantization travels on tensors: ``Tensor.quant`` (a QuantParams, None for a plain
float model) is set by the quantized-ONNX importer from the file's own scales and
zero points, and read by post-training quantization (pyconvert.quant.ptq), which
calibrates every tensor that has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ELEMENTWISE = {"relu", "sigmoid", "tanh", "step", "clip", "leaky_relu"}
OPS = {"conv2d", "linear", "max_pool2d", "avg_pool2d", "global_avg_pool", "flatten",
       "batch_norm", "softmax", "log_softmax", "identity", "dropout"} | ELEMENTWISE


class GraphError(ValueError):
    """The graph is malformed or uses something the runtime cannot run."""


@dataclass
class QuantParams:
    """Affine int8 quantization of a tensor: real = scale * (q - zero_point), q int8.

    Activations: a scalar scale and zero point in [-128, 127]. Weights: one scale
    per output channel (axis 0 of the IR weight) and zero point 0 (symmetric).
    values: the integers a quantized file stores (int8 weights, int32 biases), so
    they are used exactly instead of being re-derived from the float data."""
    scale: float | np.ndarray
    zero_point: int | np.ndarray = 0
    values: np.ndarray | None = None

    def same(self, other: "QuantParams") -> bool:
        return bool(np.array_equal(np.asarray(self.scale, np.float32), np.asarray(other.scale, np.float32))
                    and np.array_equal(np.asarray(self.zero_point), np.asarray(other.zero_point)))


@dataclass
class Tensor:
    name: str
    shape: tuple
    dtype: str = "float32"
    data: np.ndarray | None = None     # set for parameters and constants
    quant: QuantParams | None = None   # int8 quantization known for this tensor

    @property
    def is_param(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass
class Node:
    name: str
    op: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)

    def describe(self) -> str:
        return f"node '{self.name}' ({self.op})"


@dataclass
class Graph:
    name: str
    nodes: list = field(default_factory=list)
    tensors: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    # ---- building --------------------------------------------------------------------
    def add_tensor(self, name: str, shape=(), data=None) -> str:
        if data is not None:
            data = np.ascontiguousarray(data, dtype=np.float32)
            shape = data.shape
        old = self.tensors.get(name)       # re-adding (shape inference) keeps the quantization
        self.tensors[name] = Tensor(name, tuple(int(s) for s in shape), data=data,
                                    quant=old.quant if old is not None else None)
        return name

    def add_node(self, op: str, inputs: list, outputs: list, name: str | None = None, **attrs):
        node = Node(name or f"{op}_{len(self.nodes)}", op, list(inputs), list(outputs), attrs)
        self.nodes.append(node)
        return node

    # ---- queries -----------------------------------------------------------------------
    def producer(self, tensor: str):
        for node in self.nodes:
            if tensor in node.outputs:
                return node
        return None

    def consumers(self, tensor: str) -> list:
        return [n for n in self.nodes if tensor in n.inputs]

    def params(self) -> list:
        used = {t for n in self.nodes for t in n.inputs}
        return [t for name, t in self.tensors.items() if t.is_param and name in used]

    # ---- checking ---------------------------------------------------------------------
    def validate(self) -> None:
        """Every op known, every input defined before use, every output produced once."""
        defined = set(self.inputs) | {n for n, t in self.tensors.items() if t.is_param}
        for node in self.nodes:
            if node.op not in OPS:
                raise GraphError(f"{node.describe()}: unknown op")
            for t in node.inputs:
                if t and t not in defined:
                    raise GraphError(f"{node.describe()}: input '{t}' is used before it is defined")
            for t in node.outputs:
                if t in defined:
                    raise GraphError(f"{node.describe()}: output '{t}' is defined twice")
                defined.add(t)
        for t in self.outputs:
            if t not in defined:
                raise GraphError(f"graph output '{t}' is never produced")

    def infer_shapes(self) -> None:
        """Fill in every activation's shape from the input shapes (raises GraphError)."""
        from .shapes import infer_node  # the per-op rules live beside their checks
        for node in self.nodes:
            shapes = [self.tensors[t].shape if t else None for t in node.inputs]
            out = infer_node(node, shapes)
            self.add_tensor(node.outputs[0], out)

    def summary(self) -> str:
        lines = [f"graph {self.name}: inputs {self.inputs} -> outputs {self.outputs}"]
        for n in self.nodes:
            shapes = [self.tensors[t].shape for t in n.outputs if t in self.tensors]
            lines.append(f"  {n.name:<16} {n.op:<16} {n.inputs} -> {n.outputs} {shapes} {n.attrs}")
        return "\n".join(lines)
