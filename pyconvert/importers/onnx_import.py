"""Import an ONNX model into the IR: ``load_onnx(path_or_model, input_shape, name)``.

Steps:

1. load the file and run ``onnx.checker`` (a corrupt, truncated or non-ONNX file is a
   one-line GraphError naming the file);
2. upgrade opsets older than TARGET_OPSET (11) with ``onnx.version_converter``; files
   at 11 or newer are kept as they are. 11 and not 13: the 12 -> 13 Softmax adapter
   rewrites a Softmax over a non-last axis (squeezenet's (N, C, 1, 1) head) into
   Shape/Flatten/Softmax/Reshape, which no longer maps onto one IR op. The converters
   read the old attribute forms too (Clip min/max attributes, Unsqueeze axes, Reshape
   shape attribute), so a model whose upgrade fails still imports natively;
3. pick the one real input (graph inputs that are initializers are weights) and fix
   its shape from the file or from ``input_shape``;
4. walk the nodes in order. Constants (initializers, Constant/ConstantOfShape nodes,
   and Shape/Gather/Unsqueeze/Squeeze/Concat/Cast/Identity on constants - torch's
   ``x.view(x.size(0), -1)`` shape arithmetic) are folded into numpy arrays; every
   other node goes through one converter function per ONNX op (``_CONVERTERS``),
   which emits IR nodes and infers their shapes on the spot, so later converters
   (Reshape, Softmax, Shape) can read static shapes. Beyond the one-to-one ops:
   MatMul -> Add(constant) is one linear with bias, and ReduceMean over (2, 3) (the
   dynamo exporter's adaptive_avg_pool2d(x, 1)) is a global average pool;
5. ``graph.validate()``, ``graph.infer_shapes()``, and the inferred output shapes
   are compared with the ones the file declares.

Parameters become float32 IR tensors; an initializer used unchanged keeps its ONNX
name, a transformed one (Gemm transposes/scales, MatMul transposes) gets
``<node>.weight`` / ``<node>.bias``. Every error is a GraphError with one line that
names the file or the node ("node 'Conv_3' (Conv): ..."); unexpected failures inside
a converter are reported the same way rather than as a traceback.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
import onnx
import onnx.checker
import onnx.version_converter
from onnx import helper, numpy_helper

from .. import ir
from ..ir import GraphError
from ..shapes import infer_node

TARGET_OPSET = 11
_DEFAULT_DOMAINS = ("", "ai.onnx")


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def load_onnx(path_or_model, input_shape: tuple | None = None, name: str | None = None) -> ir.Graph:
    """An ONNX file (path) or ModelProto as an IR graph with static shapes.

    ``input_shape`` (NCHW, batch included) fixes a dynamic input shape; with a static
    file shape it may only change the batch dimension.
    """
    model, source = _load(path_or_model)
    model = _upgrade(model, source)
    if name is None:
        from_file = not isinstance(path_or_model, onnx.ModelProto)
        name = (os.path.splitext(os.path.basename(source))[0] if from_file else model.graph.name) or "model"
    try:
        return _Importer(model, source, name).run(input_shape)
    except GraphError:
        raise
    except Exception as exc:      # malformed input outside any one node: still one line
        raise GraphError(f"{source}: cannot import ({type(exc).__name__}: {_one_line(exc)})") from exc


def _one_line(exc: BaseException, limit: int = 200) -> str:
    lines = [s.strip() for s in str(exc).strip().splitlines() if s.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _load(path_or_model) -> tuple:
    """(ModelProto, source label for messages), checked."""
    if isinstance(path_or_model, onnx.ModelProto):
        model, source = path_or_model, f"model '{path_or_model.graph.name or '<unnamed>'}'"
    else:
        source = os.fspath(path_or_model)
        if not os.path.isfile(source):
            raise GraphError(f"{source}: no such file")
        try:
            model = onnx.load(source)
        except Exception as exc:  # DecodeError, missing external data, ...
            raise GraphError(f"{source}: not a valid ONNX file ({_one_line(exc)})") from exc
    if not model.HasField("graph") or not model.graph.node:
        raise GraphError(f"{source}: not a valid ONNX file (no graph or no nodes)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise GraphError(f"{source}: invalid ONNX model ({_one_line(exc)})") from exc
    return model, source


def _default_opset(model: onnx.ModelProto) -> int | None:
    versions = [o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS]
    return versions[0] if versions else None


def _upgrade(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    opset = _default_opset(model)
    if opset is None:
        raise GraphError(f"{source}: the model imports no standard ONNX opset")
    if opset >= TARGET_OPSET:
        return model
    try:
        return onnx.version_converter.convert_version(model, TARGET_OPSET)
    except Exception:
        return model   # the converters also read the old attribute forms


# ---------------------------------------------------------------------------
# one ONNX node, as the converters see it
# ---------------------------------------------------------------------------

@dataclass
class _Op:
    node: onnx.NodeProto
    index: int
    opset: int
    ir_name: str | None = None     # the name of its first IR node (_Importer.ir_name)
    emitted: bool = False          # an IR node was already emitted for it

    @property
    def type(self) -> str:
        return self.node.op_type

    @property
    def name(self) -> str:
        name = self.node.name     # a corrupt file can carry invalid UTF-8 (bytes)
        return name.decode("utf-8", "replace") if isinstance(name, bytes) else name

    @property
    def where(self) -> str:
        label = f"'{self.name}'" if self.name else f"#{self.index}"
        return f"node {label} ({self.node.op_type})"

    def fail(self, message: str):
        raise GraphError(f"{self.where}: {message}")

    def attr(self, name: str, default=None):
        for a in self.node.attribute:
            if a.name == name:
                value = helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def has(self, i: int) -> bool:
        """Input i given (ONNX marks a skipped optional input with an empty name)."""
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i: int) -> str:
        return self.node.input[i]

    def output(self, i: int = 0) -> str:
        return self.node.output[i]


def _fmt_shape(dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _declared_dims(value_info) -> list | None:
    """A value's declared dims: ints where static, the dim_param (or '?') where not;
    None when the file declares no shape."""
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
            for d in t.tensor_type.shape.dim]


# ---------------------------------------------------------------------------
# the importer: state shared by the converters
# ---------------------------------------------------------------------------

class _Importer:
    def __init__(self, model: onnx.ModelProto, source: str, name: str):
        self.onnx = model.graph
        self.source = source
        self.opset = _default_opset(model)
        self.graph = ir.Graph(name)
        self.consts: dict = {}                  # name -> numpy array (any dtype)
        self.uses = Counter(t for n in self.onnx.node for t in n.input if t)
        self.uses.update(o.name for o in self.onnx.output)
        self.taken = {t for n in self.onnx.node for t in list(n.input) + list(n.output)}
        self.taken |= {v.name for v in list(self.onnx.input) + list(self.onnx.output)}
        self.node_names: set = set()
        self.batch_overridden = False
        if self.onnx.sparse_initializer:
            raise GraphError(f"{source}: sparse initializers are not supported")
        for init in self.onnx.initializer:
            try:
                self.consts[init.name] = numpy_helper.to_array(init)
            except Exception as exc:
                raise GraphError(f"{source}: initializer '{init.name}' cannot be read "
                                 f"({type(exc).__name__}: {_one_line(exc)})") from exc
        self.taken |= set(self.consts)

    # ---- the walk ---------------------------------------------------------------------
    def run(self, input_shape) -> ir.Graph:
        self._add_input(input_shape)
        for index, node in enumerate(self.onnx.node):
            op = _Op(node, index, self.opset)
            try:
                self._convert(op)
            except GraphError:
                raise
            except Exception as exc:   # a converter tripped on malformed input
                raise GraphError(f"{op.where}: cannot import ({type(exc).__name__}: "
                                 f"{_one_line(exc)})") from exc
        self._set_outputs()
        return self.graph

    def _convert(self, op: _Op) -> None:
        if op.node.domain not in _DEFAULT_DOMAINS:
            op.fail(f"op type '{op.node.domain}.{op.type}' is not supported (custom domain); "
                    f"supported: {', '.join(SUPPORTED)}")
        if op.type in _FOLDERS and self._foldable(op):
            for name, value in zip(op.node.output, _FOLDERS[op.type](self, op)):
                self.consts[name] = value
        elif op.type in _CONVERTERS:
            _CONVERTERS[op.type](self, op)
        elif op.type in _FOLDERS:
            op.fail(f"{op.type} is supported only on constants (shape arithmetic feeding a "
                    f"Reshape); here an input is computed from the model input")
        else:
            op.fail(f"op type '{op.type}' is not supported; supported: {', '.join(SUPPORTED)}")

    def _foldable(self, op: _Op) -> bool:
        if op.type == "Shape":       # needs only the (static) shape of its input
            return op.input(0) in self.consts or op.input(0) in self.graph.tensors
        return all(t in self.consts for t in op.node.input if t)

    # ---- input and outputs ------------------------------------------------------------
    def _add_input(self, input_shape) -> None:
        real = [v for v in self.onnx.input if v.name not in self.consts]
        if len(real) != 1:
            names = ", ".join(f"'{v.name}'" for v in real) or "none"
            raise GraphError(f"{self.source}: expected exactly one model input (not an initializer), "
                             f"found {len(real)}: {names}")
        vi = real[0]
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None or tt.elem_type != onnx.TensorProto.FLOAT:
            kind = onnx.TensorProto.DataType.Name(tt.elem_type).lower() if tt is not None \
                else "not a tensor"
            raise GraphError(f"{self.source}: input '{vi.name}' is {kind}; only float32 inputs are supported")
        declared = _declared_dims(vi)
        shape = self._resolve_input_shape(vi.name, declared, input_shape)
        self.graph.add_tensor(vi.name, shape)
        self.graph.inputs = [vi.name]

    def _resolve_input_shape(self, name: str, declared, input_shape) -> tuple:
        if input_shape is not None:
            shape = tuple(int(d) for d in input_shape)
            if not shape or min(shape) < 1:
                raise GraphError(f"{self.source}: input shape {_fmt_shape(shape)} must be positive")
            if declared is not None:
                conflict = len(declared) != len(shape) or any(
                    isinstance(d, int) and d != s for d, s in list(zip(declared, shape))[1:])
                if conflict:
                    raise GraphError(f"{self.source}: --input-shape {_fmt_shape(shape)} conflicts with "
                                     f"input '{name}' of shape {_fmt_shape(declared)} in the file "
                                     f"(only the batch dimension may differ)")
            self.batch_overridden = declared is None or declared[0] != shape[0]
            return shape
        if declared is None or not all(isinstance(d, int) for d in declared):
            shown = "unknown" if declared is None else _fmt_shape(declared)
            example = ("1," + ",".join(str(d) for d in declared[1:])
                       if declared and all(isinstance(d, int) for d in declared[1:]) else "N,C,H,W")
            raise GraphError(f"{self.source}: input '{name}' has dynamic shape {shown}; pass "
                             f"--input-shape with every dimension fixed (e.g. --input-shape {example})")
        return tuple(declared)

    def _set_outputs(self) -> None:
        outputs = [v.name for v in self.onnx.output]
        for name in outputs:
            if name in self.consts:
                raise GraphError(f"{self.source}: graph output '{name}' is a constant")
            if name in self.graph.inputs:
                raise GraphError(f"{self.source}: graph output '{name}' is the model input itself")
        self.graph.outputs = outputs
        self.graph.validate()
        self.graph.infer_shapes()
        for vi in self.onnx.output:
            declared, inferred = _declared_dims(vi), self.graph.tensors[vi.name].shape
            if declared is None:
                continue
            differs = len(declared) != len(inferred) or any(
                isinstance(d, int) and d != s and not (i == 0 and self.batch_overridden)
                for i, (d, s) in enumerate(zip(declared, inferred)))
            if differs:
                raise GraphError(f"{self.source}: output '{vi.name}' has shape {_fmt_shape(inferred)} "
                                 f"after import but the file declares {_fmt_shape(declared)}")

    # ---- helpers for converters --------------------------------------------------------
    def act(self, op: _Op, i: int = 0) -> str:
        """Input i as an activation (computed from the model input)."""
        if not op.has(i):
            op.fail(f"input {i} is missing")
        name = op.input(i)
        if name in self.consts:
            op.fail(f"input '{name}' is a constant; expected a tensor computed from the model input")
        if name not in self.graph.tensors:
            op.fail(f"input '{name}' is not produced by any earlier node")
        return name

    def shape(self, name: str) -> tuple:
        return self.graph.tensors[name].shape

    def act4d(self, op: _Op, i: int = 0) -> tuple:
        """(name, (N, C, H, W)) of a 4-D activation input."""
        x = self.act(op, i)
        if len(self.shape(x)) != 4:
            op.fail(f"expected a 4-D (N, C, H, W) input, got shape {_fmt_shape(self.shape(x))} "
                    f"(only 2-D spatial ops are supported)")
        return x, self.shape(x)

    def const(self, op: _Op, i: int, what: str) -> np.ndarray:
        if not op.has(i):
            op.fail(f"the {what} (input {i}) is missing")
        name = op.input(i)
        if name not in self.consts:
            op.fail(f"the {what} '{name}' must be a constant (an initializer or a Constant node)")
        return self.consts[name]

    def scalar(self, op: _Op, i: int, what: str) -> float:
        value = self.const(op, i, what)
        if value.size != 1:
            op.fail(f"the {what} must be a scalar, got shape {_fmt_shape(value.shape)}")
        return float(value.reshape(()))

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken or name in self.graph.tensors:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def param(self, op: _Op, value: np.ndarray, onnx_name: str | None, suffix: str) -> str:
        """Store a parameter as float32. An initializer used unchanged keeps its name;
        anything derived is named '<node>.<suffix>'."""
        if value.dtype.kind != "f":
            op.fail(f"the {suffix} must be floating point, got {value.dtype}")
        if onnx_name is not None and onnx_name not in self.graph.tensors:
            self.graph.add_tensor(onnx_name, data=value)
            return onnx_name
        if onnx_name is not None and np.array_equal(self.graph.tensors[onnx_name].data, value):
            return onnx_name
        name = self.fresh(f"{self.ir_name(op)}.{suffix}")
        self.graph.add_tensor(name, data=value)
        return name

    def ir_name(self, op: _Op) -> str:
        """The name of op's (first) IR node: the ONNX node's name, else
        '<OpType>_<index>', made unique."""
        if op.ir_name is None:
            op.ir_name = self._unique_node_name(op.name or f"{op.type}_{op.index}")
        return op.ir_name

    def _unique_node_name(self, base: str) -> str:
        name, k = base, 1
        while name in self.node_names:
            name, k = f"{base}_{k}", k + 1
        self.node_names.add(name)
        return name

    def emit(self, op: _Op, ir_op: str, inputs: list, output: str | None = None, **attrs) -> str:
        """Add one IR node for `op` and infer its output shape now. A second IR node
        for the same ONNX node is named '<node>.<ir_op>'."""
        output = output or op.output(0)
        name = self._unique_node_name(f"{self.ir_name(op)}.{ir_op}") if op.emitted else self.ir_name(op)
        op.emitted = True
        node = self.graph.add_node(ir_op, inputs, [output], name=name, **attrs)
        shape = infer_node(node, [self.shape(t) for t in inputs])
        self.graph.add_tensor(output, shape)
        return output

    def check_unused(self, op: _Op, first: int, what: str) -> None:
        """Outputs from `first` on (optional extras like Dropout's mask) must be unused."""
        for name in op.node.output[first:]:
            if name and self.uses[name]:
                op.fail(f"the {what} output '{name}' is used; only inference is supported")


# ---------------------------------------------------------------------------
# constant folding: Constant and shape arithmetic
# ---------------------------------------------------------------------------

def _fold_constant(imp: _Importer, op: _Op) -> list:
    for a in op.node.attribute:
        if a.name == "value":
            return [numpy_helper.to_array(a.t)]
        if a.name in ("value_float", "value_int"):
            return [np.array(op.attr(a.name), dtype=np.float32 if a.name == "value_float" else np.int64)]
        if a.name in ("value_floats", "value_ints"):
            return [np.array(op.attr(a.name), dtype=np.float32 if a.name == "value_floats" else np.int64)]
    op.fail("only tensor, float and int Constant values are supported")


def _fold_shape(imp: _Importer, op: _Op) -> list:
    name = op.input(0)
    shape = imp.consts[name].shape if name in imp.consts else imp.shape(name)
    start, end = op.attr("start", 0), op.attr("end", None)
    return [np.array(shape, dtype=np.int64)[start:end]]


def _fold_gather(imp: _Importer, op: _Op) -> list:
    data, indices = imp.consts[op.input(0)], imp.consts[op.input(1)]
    return [np.take(data, indices.astype(np.int64), axis=op.attr("axis", 0))]


def _axes(imp: _Importer, op: _Op):
    """Axes from the attribute (before opset 13) or the optional second input."""
    if op.has(1):
        return [int(a) for a in imp.consts[op.input(1)].reshape(-1)]
    axes = op.attr("axes")
    return None if axes is None else [int(a) for a in axes]


def _fold_unsqueeze(imp: _Importer, op: _Op) -> list:
    data, axes = imp.consts[op.input(0)], _axes(imp, op)
    if axes is None:
        op.fail("Unsqueeze needs axes")
    return [np.expand_dims(data, tuple(axes))]


def _fold_squeeze(imp: _Importer, op: _Op) -> list:
    data, axes = imp.consts[op.input(0)], _axes(imp, op)
    return [np.squeeze(data, axis=None if axes is None else tuple(axes))]


def _fold_concat(imp: _Importer, op: _Op) -> list:
    return [np.concatenate([imp.consts[t] for t in op.node.input if t], axis=op.attr("axis"))]


def _fold_cast(imp: _Importer, op: _Op) -> list:
    return [imp.consts[op.input(0)].astype(helper.tensor_dtype_to_np_dtype(op.attr("to")))]


def _fold_constant_of_shape(imp: _Importer, op: _Op) -> list:
    # (old zoo files build weights this way) shape (k,) int64 -> tensor filled with `value`
    value = op.attr("value")
    fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    shape = tuple(int(d) for d in imp.consts[op.input(0)].reshape(-1))
    return [np.full(shape, fill[0], dtype=fill.dtype)]


def _fold_identity(imp: _Importer, op: _Op) -> list:
    return [imp.consts[op.input(0)]]


_FOLDERS = {
    "Constant": _fold_constant, "Shape": _fold_shape, "Gather": _fold_gather,
    "Unsqueeze": _fold_unsqueeze, "Squeeze": _fold_squeeze, "Concat": _fold_concat,
    "Cast": _fold_cast, "Identity": _fold_identity, "ConstantOfShape": _fold_constant_of_shape,
}


# ---------------------------------------------------------------------------
# convolution and pooling geometry
# ---------------------------------------------------------------------------

def _pair_attr(op: _Op, name: str, default=(1, 1)) -> tuple:
    value = op.attr(name)
    if value is None:
        return tuple(default)
    if len(value) != 2:
        op.fail(f"{name}={list(value)}: only 2-D (two spatial dims) is supported")
    if min(value) < 1:
        op.fail(f"{name}={list(value)} must be positive")
    return int(value[0]), int(value[1])


def _pads(op: _Op, hw: tuple, kernel: tuple, strides: tuple, dilations: tuple) -> tuple:
    """Explicit per-side pads (top, left, bottom, right). ONNX's pads list is
    [x1_begin, x2_begin, x1_end, x2_end] with x1 = H, x2 = W: the same order."""
    auto_pad = op.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad == "NOTSET":
        pads = op.attr("pads", [0, 0, 0, 0])
        if len(pads) != 4:
            op.fail(f"pads={list(pads)}: expected 4 values for a 2-D op")
        if min(pads) < 0:
            op.fail(f"negative pads {list(pads)} are not supported")
        return tuple(int(p) for p in pads)
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        op.fail(f"unknown auto_pad '{auto_pad}'")
    begin, end = [], []
    for size, k, s, d in zip(hw, kernel, strides, dilations):
        out = -(-size // s)                                   # ceil(size / stride)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto_pad == "SAME_UPPER" else big)   # SAME_UPPER: extra at the end
        end.append(big if auto_pad == "SAME_UPPER" else small)
    return begin[0], begin[1], end[0], end[1]


def _conv(imp: _Importer, op: _Op) -> None:
    # x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) -> (N, O, OH, OW)
    x, (n, c, h, wd) = imp.act4d(op, 0)
    w = imp.const(op, 1, "weight")
    if w.ndim != 4:
        op.fail(f"only 2-D convolution is supported (weight shape {_fmt_shape(w.shape)})")
    kernel = tuple(w.shape[2:])
    if op.attr("kernel_shape") is not None and tuple(op.attr("kernel_shape")) != kernel:
        op.fail(f"kernel_shape {op.attr('kernel_shape')} does not match weight {_fmt_shape(w.shape)}")
    strides, dilations = _pair_attr(op, "strides"), _pair_attr(op, "dilations")
    pads = _pads(op, (h, wd), kernel, strides, dilations)
    inputs = [x, imp.param(op, w, op.input(1), "weight")]
    if op.has(2):
        inputs.append(imp.param(op, imp.const(op, 2, "bias").reshape(-1), op.input(2), "bias"))
    imp.emit(op, "conv2d", inputs, stride=strides, pads=pads, dilation=dilations,
             groups=int(op.attr("group", 1)), act=None)


def _pool_geometry(imp: _Importer, op: _Op) -> tuple:
    """(x, kernel, stride, pads, ceil_mode) shared by MaxPool and AveragePool."""
    x, (n, c, h, w) = imp.act4d(op, 0)
    kernel = _pair_attr(op, "kernel_shape", (0, 0))
    if kernel == (0, 0):
        op.fail("kernel_shape is missing")
    dilations = op.attr("dilations", [1, 1])
    if any(d != 1 for d in dilations):
        op.fail(f"dilations={list(dilations)} are not supported (only 1)")
    strides = _pair_attr(op, "strides")
    pads = _pads(op, (h, w), kernel, strides, (1, 1))
    return x, kernel, strides, pads, bool(op.attr("ceil_mode", 0))


def _max_pool(imp: _Importer, op: _Op) -> None:
    imp.check_unused(op, 1, "Indices")
    x, kernel, stride, pads, ceil = _pool_geometry(imp, op)   # storage_order only affects Indices
    imp.emit(op, "max_pool2d", [x], kernel=kernel, stride=stride, pads=pads, ceil_mode=ceil)


def _avg_pool(imp: _Importer, op: _Op) -> None:
    x, kernel, stride, pads, ceil = _pool_geometry(imp, op)
    imp.emit(op, "avg_pool2d", [x], kernel=kernel, stride=stride, pads=pads, ceil_mode=ceil,
             count_include_pad=bool(op.attr("count_include_pad", 0)))


def _global_avg_pool(imp: _Importer, op: _Op) -> None:
    x, _ = imp.act4d(op, 0)                      # (N, C, H, W) -> (N, C, 1, 1)
    imp.emit(op, "global_avg_pool", [x])


def _reduce_mean(imp: _Importer, op: _Op) -> None:
    # the dynamo exporter's adaptive_avg_pool2d(x, 1) / x.mean((2, 3), keepdim=True)
    x, shape = imp.act4d(op, 0)
    if op.has(1):
        axes = [int(a) for a in imp.const(op, 1, "axes").reshape(-1)]
    else:
        axes = op.attr("axes")
    if axes is None or sorted(a % 4 for a in axes) != [2, 3]:
        op.fail(f"only a mean over the spatial axes (2, 3) is supported, got axes={axes} "
                f"on shape {_fmt_shape(shape)}")
    if op.attr("keepdims", 1):
        imp.emit(op, "global_avg_pool", [x])
    else:                                        # (N, C, H, W) -> (N, C, 1, 1) -> (N, C)
        pooled = imp.emit(op, "global_avg_pool", [x], output=imp.fresh(f"{op.output(0)}.pooled"))
        imp.emit(op, "flatten", [pooled])


# ---------------------------------------------------------------------------
# fully connected
# ---------------------------------------------------------------------------

def _act2d(imp: _Importer, op: _Op) -> str:
    x = imp.act(op, 0)
    if len(imp.shape(x)) != 2:
        op.fail(f"expected a 2-D (N, K) input, got shape {_fmt_shape(imp.shape(x))}")
    return x


def _gemm(imp: _Importer, op: _Op) -> None:
    # Y = alpha * A' B' + beta * C, A (N, K), B' (K, O) -> IR linear w = alpha B'^T (O, K), b = beta C
    if op.attr("transA", 0):
        op.fail("transA=1 is not supported (the first input must be the (N, K) activation)")
    x = _act2d(imp, op)
    b_mat = imp.const(op, 1, "weight B")
    if b_mat.ndim != 2:
        op.fail(f"B must be 2-D, got shape {_fmt_shape(b_mat.shape)}")
    alpha, beta = float(op.attr("alpha", 1.0)), float(op.attr("beta", 1.0))
    w = b_mat if op.attr("transB", 0) else b_mat.T                    # (O, K)
    if alpha != 1.0:
        w = (w.astype(np.float64) * alpha).astype(np.float32)
    same = alpha == 1.0 and op.attr("transB", 0)
    inputs = [x, imp.param(op, np.ascontiguousarray(w), op.input(1) if same else None, "weight")]
    if op.has(2):
        bias = _bias_vector(op, imp.const(op, 2, "bias C"), w.shape[0])
        if beta != 1.0:
            bias = (bias.astype(np.float64) * beta).astype(np.float32)
        inputs.append(imp.param(op, bias, op.input(2) if beta == 1.0 and imp.consts[op.input(2)].ndim == 1
                                else None, "bias"))
    imp.emit(op, "linear", inputs, act=None)


def _bias_vector(op: _Op, value: np.ndarray, out: int) -> np.ndarray:
    """A bias that broadcasts over the batch: (), (1,), (O,), (1, O) -> (O,)."""
    if value.ndim > 2 or (value.ndim == 2 and value.shape[0] != 1) or value.size not in (1, out):
        op.fail(f"bias of shape {_fmt_shape(value.shape)} does not broadcast to ({out},) per sample")
    return np.broadcast_to(value.reshape(-1), (out,)).copy()


def _matmul(imp: _Importer, op: _Op) -> None:
    # A (N, K) @ B (K, O) -> IR linear with w = B^T (O, K); a following Add of a
    # constant becomes its bias (see _add)
    x = _act2d(imp, op)
    b_mat = imp.const(op, 1, "weight (second MatMul input)")
    if b_mat.ndim != 2:
        op.fail(f"the weight must be a 2-D (K, O) matrix, got shape {_fmt_shape(b_mat.shape)}")
    w = np.ascontiguousarray(b_mat.T)
    imp.emit(op, "linear", [x, imp.param(op, w, None, "weight")], act=None)


def _add(imp: _Importer, op: _Op) -> None:
    # y = linear(x) + b, b constant (O,) or (1, O): the bias of the MatMul/Gemm before
    # it, folded into that IR linear (which must have no bias yet and no other reader)
    names = [t for t in op.node.input]
    if len(names) != 2 or sum(t in imp.consts for t in names) != 1:
        op.fail("Add is supported only as a constant bias after MatMul (MatMul -> Add(constant))")
    a, b = (names[0], names[1]) if names[1] in imp.consts else (names[1], names[0])
    producer = imp.graph.producer(a) if a in imp.graph.tensors else None
    if producer is None or producer.op != "linear" or len(producer.inputs) > 2 \
            or imp.uses[a] != 1 or producer.attrs.get("act"):
        op.fail("Add is supported only as a constant bias after MatMul (MatMul -> Add(constant))")
    out_features = imp.shape(a)[1]
    bias = _bias_vector(op, imp.consts[b], out_features)
    producer.inputs.append(imp.param(op, bias, b if imp.consts[b].shape == (out_features,) else None,
                                     "bias"))
    del imp.graph.tensors[a]                       # the linear now writes the Add's output
    producer.outputs = [op.output(0)]
    imp.graph.add_tensor(op.output(0), infer_node(producer, [imp.shape(t) for t in producer.inputs]))


# ---------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------

def _unary(ir_op: str):
    def convert(imp: _Importer, op: _Op) -> None:
        imp.emit(op, ir_op, [imp.act(op, 0)])
    convert.__name__ = f"_{ir_op}"
    return convert


def _leaky_relu(imp: _Importer, op: _Op) -> None:
    imp.emit(op, "leaky_relu", [imp.act(op, 0)], alpha=float(op.attr("alpha", 0.01)))


def _clip(imp: _Importer, op: _Op) -> None:
    x = imp.act(op, 0)
    if op.opset < 11:                                      # bounds are attributes
        lo, hi = float(op.attr("min", -math.inf)), float(op.attr("max", math.inf))
    else:                                                  # optional constant inputs
        lo = imp.scalar(op, 1, "min") if op.has(1) else -math.inf
        hi = imp.scalar(op, 2, "max") if op.has(2) else math.inf
    if lo > hi:
        op.fail(f"min {lo} is greater than max {hi}")
    if lo == 0.0 and hi == math.inf:
        imp.emit(op, "relu", [x])
    else:
        imp.emit(op, "clip", [x], lo=lo, hi=hi)


def _softmax(ir_op: str):
    def convert(imp: _Importer, op: _Op) -> None:
        x = imp.act(op, 0)
        shape = imp.shape(x)
        rank = len(shape)
        axis = int(op.attr("axis", 1 if op.opset < 13 else -1))
        if not -rank <= axis < rank:
            op.fail(f"axis {axis} out of range for shape {_fmt_shape(shape)}")
        axis %= rank
        if op.opset < 13:
            # before opset 13 the input is coerced to 2-D at `axis`: the softmax covers
            # every dim from `axis` on, i.e. only the channels when the rest are 1
            ok = axis == 1 and int(np.prod(shape[2:])) == 1
            covered = "the axes from axis on (opset < 13)"
        else:
            ok = axis == 1
            covered = "one axis"
        if rank < 2 or not ok:
            op.fail(f"only a softmax over the channel axis 1 is supported; got axis="
                    f"{op.attr('axis')} on shape {_fmt_shape(shape)}, covering {covered}")
        imp.emit(op, ir_op, [x], axis=1)
    convert.__name__ = f"_{ir_op}"
    return convert


# ---------------------------------------------------------------------------
# shape ops, normalisation, no-ops
# ---------------------------------------------------------------------------

def _flatten(imp: _Importer, op: _Op) -> None:
    x = imp.act(op, 0)
    rank, axis = len(imp.shape(x)), int(op.attr("axis", 1))
    if rank < 2:
        op.fail(f"expected an input with a batch dimension, got shape {_fmt_shape(imp.shape(x))}")
    if axis % rank != 1:
        op.fail(f"only axis=1 is supported (keep the batch dim), got axis={axis} "
                f"on shape {_fmt_shape(imp.shape(x))}")
    imp.emit(op, "flatten", [x])                 # (N, ...) -> (N, prod(...))


def _reshape_target(op: _Op, shape_in: tuple, target, allowzero: bool) -> tuple:
    """ONNX Reshape's output shape: 0 copies the input dim (unless allowzero), -1 is inferred."""
    dims = [int(d) for d in target]
    if dims.count(-1) > 1:
        op.fail(f"shape {dims} has more than one -1")
    out = [shape_in[i] if d == 0 and not allowzero and i < len(shape_in) else d
           for i, d in enumerate(dims)]
    known = int(np.prod([d for d in out if d != -1]))
    total = int(np.prod(shape_in))
    if -1 in out:
        if known == 0 or total % known:
            op.fail(f"cannot reshape {_fmt_shape(shape_in)} to {dims}")
        out[out.index(-1)] = total // known
    if int(np.prod(out)) != total:
        op.fail(f"cannot reshape {_fmt_shape(shape_in)} to {dims}")
    return tuple(out)


def _reshape(imp: _Importer, op: _Op) -> None:
    # only a flatten: (N, C, H, W) -> (N, C*H*W), given as (N, -1), (N, K) or (-1, K)
    x = imp.act(op, 0)
    shape_in = imp.shape(x)
    if op.opset < 5 and not op.has(1):
        target = op.attr("shape")
    else:
        target = imp.const(op, 1, "target shape").reshape(-1)
    out = _reshape_target(op, shape_in, target, bool(op.attr("allowzero", 0)))
    if len(shape_in) >= 2 and out == (shape_in[0], int(np.prod(shape_in[1:]))):
        imp.emit(op, "flatten", [x])
    elif out == shape_in:
        imp.emit(op, "identity", [x])
    else:
        op.fail(f"only a flatten to (N, -1) is supported; this reshapes {_fmt_shape(shape_in)} "
                f"to {_fmt_shape(out)}")


def _batch_norm(imp: _Importer, op: _Op) -> None:
    # y = (x - mean) / sqrt(var + eps) * scale + bias, per channel (dim 1)
    if op.attr("training_mode", 0):
        op.fail("training_mode=1 is not supported (inference only)")
    imp.check_unused(op, 1, "training statistics")
    x = imp.act(op, 0)
    shape = imp.shape(x)
    if len(shape) < 2:
        op.fail(f"expected an (N, C, ...) input, got shape {_fmt_shape(shape)}")
    params = []
    for i, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "var")):
        value = imp.const(op, i, what)
        if value.size != shape[1]:
            op.fail(f"the {what} has shape {_fmt_shape(value.shape)}, expected ({shape[1]},) "
                    f"(per-channel; spatial=0 is not supported)")
        params.append(imp.param(op, value.reshape(-1), op.input(i) if value.ndim == 1 else None, what))
    imp.emit(op, "batch_norm", [x] + params, eps=float(op.attr("epsilon", 1e-5)))


def _dropout(imp: _Importer, op: _Op) -> None:
    imp.check_unused(op, 1, "mask")
    if op.has(2) and op.input(2) in imp.consts and bool(imp.consts[op.input(2)].reshape(-1)[0]):
        op.fail("training_mode=True is not supported (inference only)")
    imp.emit(op, "dropout", [imp.act(op, 0)])


def _identity(imp: _Importer, op: _Op) -> None:
    imp.emit(op, "identity", [imp.act(op, 0)])


def _cast(imp: _Importer, op: _Op) -> None:
    if op.attr("to") != onnx.TensorProto.FLOAT:
        op.fail("only a Cast to float32 is supported on a computed tensor")
    imp.emit(op, "identity", [imp.act(op, 0)])


_CONVERTERS = {
    "Conv": _conv,
    "MaxPool": _max_pool,
    "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_avg_pool,
    "ReduceMean": _reduce_mean,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _add,
    "Relu": _unary("relu"),
    "Sigmoid": _unary("sigmoid"),
    "Tanh": _unary("tanh"),
    "LeakyRelu": _leaky_relu,
    "Clip": _clip,
    "Softmax": _softmax("softmax"),
    "LogSoftmax": _softmax("log_softmax"),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "BatchNormalization": _batch_norm,
    "Dropout": _dropout,
    "Identity": _identity,
    "Cast": _cast,
}

SUPPORTED = tuple(sorted(set(_CONVERTERS) | set(_FOLDERS)))
