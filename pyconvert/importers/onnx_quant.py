"""Import an already-quantized ONNX model (QDQ or QOperator format) into the IR.

    graph = load_onnx_quantized("model_int8.onnx")     # float IR + the file's quantization
    low = lower_int8(graph)                            # pyconvert.convert: no calibration needed

Both formats onnxruntime.quantization writes are read:

- QDQ: QuantizeLinear -> DequantizeLinear pairs around float ops, and
  DequantizeLinear on int8 weights and int32 biases;
- QOperator: QLinearConv, QLinearMatMul, com.microsoft QGemm on quantized tensors
  (MaxPool / Flatten / Reshape run on them directly).

The file is first rewritten into its *float* meaning, which the ordinary importer
(onnx_import.load_onnx) reads: every quantized tensor becomes the float tensor it
encodes (Q and DQ of activations are dropped, their names aliased), every quantized
constant becomes its dequantized float32 initializer, QLinearConv / QLinearMatMul /
QGemm become Conv / MatMul / Gemm. What was dropped is kept as IR quantization
(``Tensor.quant``): (scale, zero point) of each activation, and per-channel scales
plus the exact integers of each weight (int8) and bias (int32). So the float graph
is the file's "fake-quant" model, and pyconvert.quant.ptq uses the file's own
numbers instead of calibrating.

uint8 tensors are moved to int8 by subtracting 128 from values and zero points
(real = s (q - zp) is unchanged). Weights must be symmetric (zero point 0 after that
shift), as the int8 kernels require. Errors are one-line GraphErrors naming the node.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir import Graph, GraphError, QuantParams
from .onnx_import import _load, load_onnx

QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
QOPERATOR_OPS = {"QLinearConv", "QLinearMatMul", "QGemm"}
MS_DOMAIN = "com.microsoft"


def is_quantized_onnx(path_or_model) -> bool:
    """True if the model holds quantize/dequantize or QLinear* operators."""
    model = path_or_model if isinstance(path_or_model, onnx.ModelProto) else onnx.load(path_or_model)
    return any(n.op_type in QDQ_OPS | QOPERATOR_OPS for n in model.graph.node)


def load_onnx_quantized(path_or_model, input_shape: tuple | None = None,
                        name: str | None = None) -> Graph:
    """A quantized ONNX file (path) or ModelProto as a float IR graph whose tensors
    carry the file's quantization (Tensor.quant)."""
    model, source = _load(path_or_model)
    if name is None:
        from_file = not isinstance(path_or_model, onnx.ModelProto)
        name = (os.path.splitext(os.path.basename(source))[0] if from_file else model.graph.name) or "model"
    rewrite = _Dequantizer(model, source)
    float_model = rewrite.run()
    graph = load_onnx(float_model, input_shape=input_shape, name=name)
    rewrite.attach(graph)
    return graph


# ---- int8 domain ------------------------------------------------------------------------

def _to_int8_domain(where: str, values: np.ndarray, zero_point: np.ndarray) -> tuple:
    """(values, zero_point) with uint8 moved to int8 (both - 128); int8 and int32 kept."""
    if values.dtype == np.uint8:
        return ((values.astype(np.int16) - 128).astype(np.int8),
                (np.asarray(zero_point).astype(np.int32) - 128))
    if values.dtype in (np.int8, np.int32):
        return values, np.asarray(zero_point).astype(np.int32)
    raise GraphError(f"{where}: quantized type {values.dtype} is not supported (int8, uint8, "
                     f"or int32 for biases)")


class _Dequantizer:
    """Rewrites the quantized graph into its float meaning (see the module comment)."""

    def __init__(self, model: onnx.ModelProto, source: str):
        self.model, self.source = model, source
        self.consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.alias: dict = {}          # a quantized tensor -> the float tensor it encodes
        self.act_quant: dict = {}      # float activation -> QuantParams (int8 domain)
        self.const_quant: dict = {}    # dequantized initializer -> (QuantParams, axis)
        self.new_inits: dict = {}      # name -> float32 array
        self.nodes: list = []
        self.names: set = set()

    # ---- helpers -----------------------------------------------------------------------------
    def where(self, node, index: int) -> str:
        return f"node '{node.name}' ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"

    def resolve(self, name: str) -> str:
        return self.alias.get(name, name)

    def const(self, node, index: int, i: int, what: str) -> np.ndarray:
        if i >= len(node.input) or not node.input[i]:
            raise GraphError(f"{self.where(node, index)}: the {what} (input {i}) is missing")
        name = node.input[i]
        if name not in self.consts:
            raise GraphError(f"{self.where(node, index)}: the {what} '{name}' must be a constant")
        return self.consts[name]

    def optional_const(self, node, index: int, i: int, default):
        if i < len(node.input) and node.input[i]:
            return self.const(node, index, i, "zero point")
        return default

    def act_qparams(self, node, index: int, s_i: int, zp_i: int) -> QuantParams:
        """Scalar (scale, zero point) of an activation, moved to int8. A missing zero
        point is uint8 0 (ONNX's default), i.e. int8 -128."""
        where = self.where(node, index)
        scale = self.const(node, index, s_i, "scale")
        zp = np.asarray(self.optional_const(node, index, zp_i, np.zeros((), np.uint8)))
        if scale.size != 1 or zp.size != 1:
            raise GraphError(f"{where}: per-axis quantization of an activation is not supported "
                             f"(scale shape {scale.shape})")
        _, zp8 = _to_int8_domain(where, np.zeros((), zp.dtype), zp)
        if not float(scale.reshape(())) > 0:
            raise GraphError(f"{where}: scale {float(scale.reshape(()))} must be positive")
        return QuantParams(float(np.float32(scale.reshape(()))), int(zp8.reshape(())))

    def set_act_quant(self, tensor: str, qp: QuantParams, node, index: int) -> None:
        old = self.act_quant.get(tensor)
        if old is not None and not old.same(qp):
            raise GraphError(f"{self.where(node, index)}: tensor '{tensor}' is quantized twice with "
                             f"different parameters ({old.scale:.6g}, {old.zero_point}) and "
                             f"({qp.scale:.6g}, {qp.zero_point})")
        self.act_quant[tensor] = qp

    def fresh(self, base: str) -> str:
        taken = set(self.consts) | set(self.new_inits) | self.names | \
            {t for n in self.model.graph.node for t in list(n.input) + list(n.output)}
        name, k = base, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        return name

    def dequantized_const(self, node, index: int, q_i: int, s_i: int, zp_i: int, axis: int,
                          name: str, scale: np.ndarray | None = None) -> str:
        """A float32 initializer (q - zp) * scale for a quantized constant input; its
        quantization is remembered. scale given: use it (a QLinear bias at s_x * s_w)."""
        where = self.where(node, index)
        q = self.const(node, index, q_i, "quantized constant")
        if scale is None:
            scale = self.const(node, index, s_i, "scale")
        zp = np.asarray(self.optional_const(node, index, zp_i, np.zeros((), q.dtype))) \
            if zp_i is not None else np.zeros((), np.int32)
        values, zp8 = _to_int8_domain(where, q, zp)
        scale = np.asarray(scale, np.float32)
        shape = [1] * q.ndim
        if scale.size > 1:
            if q.ndim == 0 or scale.size != q.shape[axis % q.ndim]:
                raise GraphError(f"{where}: {scale.size} scales do not match axis {axis} of "
                                 f"shape {q.shape}")
            shape[axis % q.ndim] = -1
        value = ((values.astype(np.float32) - zp8.astype(np.float32).reshape(shape if zp8.size > 1 else ()))
                 * scale.reshape(shape if scale.size > 1 else ()))
        self.new_inits[name] = value.astype(np.float32)
        self.const_quant[name] = (QuantParams(scale.astype(np.float64), zp8, values), axis)
        return name

    def emit(self, node) -> None:
        self.nodes.append(node)

    # ---- the walk ------------------------------------------------------------------------------
    def run(self) -> onnx.ModelProto:
        for index, node in enumerate(self.model.graph.node):
            node = self._named(node, index)
            handler = getattr(self, f"_{node.op_type}", None)
            if node.domain == MS_DOMAIN and node.op_type != "QGemm":
                raise GraphError(f"{self.where(node, index)}: op type '{MS_DOMAIN}.{node.op_type}' "
                                 f"is not supported in a quantized model (QLinearConv, "
                                 f"QLinearMatMul, QGemm, QuantizeLinear/DequantizeLinear are)")
            if handler is not None and node.op_type in QDQ_OPS | QOPERATOR_OPS:
                handler(node, index)
            else:
                if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                    self._constant(node)     # scales / zero points given as Constant nodes
                copy = onnx.NodeProto()
                copy.CopyFrom(node)
                del copy.input[:]
                copy.input.extend(self.resolve(t) if t else t for t in node.input)
                self.emit(copy)
        return self._model()

    def _constant(self, node) -> None:
        for a in node.attribute:
            if a.name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(a.t)
            elif a.name in ("value_float", "value_int"):
                self.consts[node.output[0]] = np.array(helper.get_attribute_value(a),
                                                       np.float32 if a.name == "value_float" else np.int64)

    def _named(self, node, index: int):
        """Every node named (uniquely), so IR nodes can be matched to them by name."""
        name = node.name or f"{node.op_type}_{index}"
        base, k = name, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        if name != node.name:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = name
            return copy
        return node

    def _QuantizeLinear(self, node, index: int) -> None:
        x = self.resolve(node.input[0])
        if x in self.consts:                 # a float constant quantized in the file: fold
            qp = self.act_qparams(node, index, 1, 2)
            zp_dtype = np.asarray(self.optional_const(node, index, 2, np.zeros((), np.uint8))).dtype
            q = np.rint(self.consts[x] / np.float32(qp.scale)) + qp.zero_point + \
                (128 if zp_dtype == np.uint8 else 0)
            info = np.iinfo(zp_dtype)
            self.consts[node.output[0]] = np.clip(q, info.min, info.max).astype(zp_dtype)
            return
        self.set_act_quant(x, self.act_qparams(node, index, 1, 2), node, index)
        self.alias[node.output[0]] = x

    def _DequantizeLinear(self, node, index: int) -> None:
        src = self.resolve(node.input[0])
        if src in self.consts:               # weights and biases
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            self.dequantized_const(node, index, 0, 1, 2, axis, node.output[0])
            self.consts[node.output[0]] = self.new_inits[node.output[0]]
            return
        self.set_act_quant(src, self.act_qparams(node, index, 1, 2), node, index)
        self.alias[node.output[0]] = src

    def _QLinearConv(self, node, index: int) -> None:
        # x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B -> Conv(x, w_f, b_f)
        x = self.resolve(node.input[0])
        x_qp = self.act_qparams(node, index, 1, 2)
        self.set_act_quant(x, x_qp, node, index)
        w = self.dequantized_const(node, index, 3, 4, 5, 0, self.fresh(f"{node.name}.weight"))
        inputs = [x, w]
        if len(node.input) > 8 and node.input[8]:
            w_scale = np.asarray(self.const(node, index, 4, "weight scale"), np.float64)
            inputs.append(self.dequantized_const(node, index, 8, None, None, 0,
                                                 self.fresh(f"{node.name}.bias"),
                                                 scale=np.float32(x_qp.scale) * w_scale))
        conv = helper.make_node("Conv", inputs, [node.output[0]], name=node.name)
        conv.attribute.extend(node.attribute)
        self.emit(conv)
        self.set_act_quant(node.output[0], self.act_qparams(node, index, 6, 7), node, index)

    def _QLinearMatMul(self, node, index: int) -> None:
        # a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp -> MatMul(a, b_f)
        a = self.resolve(node.input[0])
        if a in self.consts:
            raise GraphError(f"{self.where(node, index)}: the first input must be the activation")
        self.set_act_quant(a, self.act_qparams(node, index, 1, 2), node, index)
        b = self.dequantized_const(node, index, 3, 4, 5, 1, self.fresh(f"{node.name}.weight"))
        self.emit(helper.make_node("MatMul", [a, b], [node.output[0]], name=node.name))
        self.set_act_quant(node.output[0], self.act_qparams(node, index, 6, 7), node, index)

    def _QGemm(self, node, index: int) -> None:
        # com.microsoft: A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp? -> Gemm
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
            raise GraphError(f"{self.where(node, index)}: only transA=0 and alpha=1 are supported")
        a = self.resolve(node.input[0])
        a_qp = self.act_qparams(node, index, 1, 2)
        self.set_act_quant(a, a_qp, node, index)
        trans_b = int(attrs.get("transB", 0))
        b = self.dequantized_const(node, index, 3, 4, 5, 0 if trans_b else 1,
                                   self.fresh(f"{node.name}.weight"))
        inputs = [a, b]
        if len(node.input) > 6 and node.input[6]:
            b_scale = np.asarray(self.const(node, index, 4, "weight scale"), np.float64)
            inputs.append(self.dequantized_const(node, index, 6, None, None, 0,
                                                 self.fresh(f"{node.name}.bias"),
                                                 scale=np.float32(a_qp.scale) * b_scale))
        self.emit(helper.make_node("Gemm", inputs, [node.output[0]], name=node.name, transB=trans_b))
        if len(node.input) > 7 and node.input[7]:
            self.set_act_quant(node.output[0], self.act_qparams(node, index, 7, 8), node, index)

    # ---- the float model ---------------------------------------------------------------------------
    def _model(self) -> onnx.ModelProto:
        g = self.model.graph
        for out in g.output:                     # the output keeps its declared name
            real = self.resolve(out.name)
            if real != out.name:
                if real in [i.name for i in g.input]:
                    raise GraphError(f"{self.source}: graph output '{out.name}' is the model input")
                self._rename(real, out.name)
        used = {t for n in self.nodes for t in n.input if t}
        inits = [i for i in g.initializer if i.name in used and i.name not in self.new_inits]
        inits += [numpy_helper.from_array(v, name) for name, v in self.new_inits.items() if name in used]
        outputs = []
        for out in g.output:
            vi = onnx.ValueInfoProto()
            vi.CopyFrom(out)
            if vi.type.HasField("tensor_type"):
                vi.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
            outputs.append(vi)
        kept = {i.name for i in inits}
        originals = {i.name for i in g.initializer}
        inputs = [v for v in g.input if v.name not in originals or v.name in kept]
        graph = helper.make_graph(self.nodes, g.name, inputs, outputs, inits)
        opsets = [o for o in self.model.opset_import if o.domain != MS_DOMAIN]
        model = helper.make_model(graph, opset_imports=opsets, ir_version=self.model.ir_version)
        return model

    def _rename(self, old: str, new: str) -> None:
        for n in self.nodes:
            for seq in (n.input, n.output):
                for i, t in enumerate(seq):
                    if t == old:
                        seq[i] = new
        if old in self.act_quant:
            self.act_quant[new] = self.act_quant.pop(old)
        self.alias = {k: (new if v == old else v) for k, v in self.alias.items()}

    # ---- back onto the IR ------------------------------------------------------------------------------
    def attach(self, graph: Graph) -> None:
        """The remembered quantization onto the IR's tensors."""
        for name, qp in self.act_quant.items():
            t = graph.tensors.get(name)
            if t is not None and t.data is None:
                t.quant = qp
        onnx_nodes = {n.name: n for n in self.nodes}
        for node in graph.nodes:
            src = onnx_nodes.get(node.name)
            if node.op not in ("conv2d", "linear") or src is None:
                continue
            self._attach_weight(graph, node, src)

    def _attach_weight(self, graph: Graph, node, src) -> None:
        w_t = graph.tensors[node.inputs[1]]
        entry = self.const_quant.get(src.input[1])
        if entry is None:
            return
        qp, axis = entry
        attrs = {a.name: helper.get_attribute_value(a) for a in src.attribute}
        transposed = src.op_type == "MatMul" or (src.op_type == "Gemm" and not attrs.get("transB", 0))
        if src.op_type == "Gemm" and (attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0):
            raise GraphError(f"{node.describe()}: a quantized Gemm needs alpha = beta = 1")
        out_axis = 1 if transposed else 0
        out_channels = w_t.shape[0]
        if np.size(qp.scale) > 1 and axis % qp.values.ndim != out_axis:
            raise GraphError(f"{node.describe()}: weight scales along axis {axis}; the int8 "
                             f"kernels need one scale per output channel (axis {out_axis})")
        values = qp.values.T if transposed else qp.values
        scale = np.broadcast_to(np.asarray(qp.scale, np.float64).reshape(-1), (out_channels,)) \
            if np.size(qp.scale) > 1 else np.full(out_channels, float(np.asarray(qp.scale).reshape(())))
        zp = np.broadcast_to(np.asarray(qp.zero_point).reshape(-1), (out_channels,)) \
            if np.size(qp.zero_point) > 1 else np.full(out_channels, int(np.asarray(qp.zero_point).reshape(())))
        w_t.quant = QuantParams(scale.copy(), zp.copy(), np.ascontiguousarray(values))
        if len(node.inputs) > 2 and node.inputs[2] and len(src.input) > 2:
            b_entry = self.const_quant.get(src.input[2])
            if b_entry is not None:
                b_qp, _ = b_entry
                b_scale = np.broadcast_to(np.asarray(b_qp.scale, np.float64).reshape(-1),
                                          (out_channels,)).copy()
                graph.tensors[node.inputs[2]].quant = QuantParams(
                    b_scale, 0, np.asarray(b_qp.values).astype(np.int32).reshape(-1))
