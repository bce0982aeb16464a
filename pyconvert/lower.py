"""Lowering: an optimized IR graph -> the device schedule the C engine runs.

What changes on the way down:
- layout: activations become NHWC `mt_dims` (a 2-D (N, K) tensor is {N, 1, 1, K});
  conv weights OIHW -> OHWI;
- Flatten disappears: its output is a view of its input's buffer (NHWC memory read
  as rows). PyTorch flattens in (C, H, W) order, the device in (H, W, C) order, so
  the Linear that reads a flattened image gets its weight columns permuted to match;
- activations that can run in place (ReLU, Clip, Sigmoid, ..., Softmax) write over
  their input when nothing later reads it;
- every buffer gets its arena offset from the planner.

An int8 model (pyconvert.quant.lower_s8) is this same schedule with 1-byte tensors
(`DeviceTensor.elem_bytes`), each layer's int8 parameters in `DeviceLayer.s8`, and
`Lowered.dtype == "int8"`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ir import ELEMENTWISE, Graph, GraphError
from .planner import Buffer, Plan, plan_arena

MT_OPS = {  # IR op -> mt_op enum name (runtime_c/include/mt/mt_model.h)
    "conv2d": "MT_OP_CONV2D", "linear": "MT_OP_LINEAR", "max_pool2d": "MT_OP_MAXPOOL2D",
    "avg_pool2d": "MT_OP_AVGPOOL2D", "global_avg_pool": "MT_OP_GLOBAL_AVGPOOL",
    "relu": "MT_OP_RELU", "clip": "MT_OP_CLIP", "leaky_relu": "MT_OP_LEAKY_RELU",
    "sigmoid": "MT_OP_SIGMOID", "tanh": "MT_OP_TANH", "step": "MT_OP_STEP",
    "softmax": "MT_OP_SOFTMAX", "log_softmax": "MT_OP_LOG_SOFTMAX",
    "conv2d_maxpool": "MT_OP_CONV2D_MAXPOOL",
}
# IR op -> the layer runner's name stem; the runner is mt_run_<stem>_f32 or _s8
# (runtime_c/src/engine/run_*.c). int8 runs relu and clip as one clamp, and every
# other scalar function as one lookup table.
RUNNERS = {
    "conv2d": "conv2d", "conv2d_maxpool": "conv2d_maxpool", "linear": "linear",
    "max_pool2d": "maxpool2d", "avg_pool2d": "avgpool2d", "global_avg_pool": "global_avgpool",
    "relu": "relu", "clip": "clip", "leaky_relu": "leaky_relu", "sigmoid": "sigmoid",
    "tanh": "tanh", "step": "step", "softmax": "softmax", "log_softmax": "log_softmax",
}
RUNNERS_S8 = dict(RUNNERS, relu="clamp", clip="clamp", leaky_relu="lut", sigmoid="lut",
                  tanh="lut", step="lut")
del RUNNERS_S8["log_softmax"]             # no int8 kernel (the quantizer refuses it)


def runner(op: str, dtype: str = "float32") -> str:
    """The C runner of an op: mt_run_conv2d_f32, mt_run_lut_s8, ..."""
    if dtype == "int8":
        return f"mt_run_{RUNNERS_S8[op]}_s8"
    return f"mt_run_{RUNNERS[op]}_f32"

IN_PLACE = ELEMENTWISE | {"softmax", "log_softmax"}
BYTES = 4  # float32 (an int8 model's tensors set elem_bytes = 1)


def nhwc(shape: tuple) -> tuple:
    """NCHW (or (N, K)) shape -> mt_dims (n, h, w, c)."""
    if len(shape) == 4:
        n, c, h, w = shape
        return (n, h, w, c)
    if len(shape) == 2:
        return (shape[0], 1, 1, shape[1])
    raise GraphError(f"tensor of shape {tuple(shape)}: only 2-D and 4-D activations are supported")


@dataclass
class DeviceTensor:
    name: str
    shape: tuple            # the source model's shape (NCHW)
    dims: tuple             # NHWC mt_dims
    buffer: str             # tensors sharing a buffer share memory
    elem_bytes: int = BYTES # 4 for float32, 1 for int8

    @property
    def bytes(self) -> int:
        return int(np.prod(self.dims)) * self.elem_bytes


@dataclass
class DeviceLayer:
    node: str               # the IR node it came from
    op: str                 # IR op name
    inp: str
    out: str
    attrs: dict
    weight: np.ndarray | None = None   # device layout
    bias: np.ndarray | None = None
    weight_source: str = ""            # the parameter's name in the source model
    bias_source: str = ""
    weight_layout: tuple = ()          # how to get back to the source layout (to_source_layout)
    macs: int = 0
    s8: object = None                  # int8 models: pyconvert.quant.lower_s8.DeviceS8
    scratch: str = ""                  # a working tensor live during this layer only

    @property
    def params(self) -> int:
        return sum(a.size for a in (self.weight, self.bias) if a is not None)


@dataclass
class Lowered:
    name: str
    tensors: dict                      # name -> DeviceTensor
    layers: list                       # DeviceLayer in execution order
    input: str
    output: str
    plan: Plan = None
    notes: list = field(default_factory=list)
    dtype: str = "float32"             # "int8": tensors and layers are int8 (lower_s8)
    quant: object = None               # int8 models: the pyconvert.quant.ptq.QuantizedModel

    def tensor_order(self) -> list:
        """Tensors in first-use order (the C tensor table's order)."""
        names = [self.input]
        for layer in self.layers:
            for t in (layer.inp, layer.out, layer.scratch):
                if t and t not in names:
                    names.append(t)
        return names


def lower(graph: Graph, keep: frozenset = frozenset(), plan: bool = True) -> Lowered:
    """keep: tensors no in-place layer may overwrite (training keeps what backward reads);
    plan: place the buffers in an arena (training plans its own timeline instead)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise GraphError(f"model '{graph.name}': exactly one input and one output are supported, "
                         f"got inputs {graph.inputs} and outputs {graph.outputs}")
    src, dst = graph.inputs[0], graph.outputs[0]
    tensors = {src: DeviceTensor(src, graph.tensors[src].shape, nhwc(graph.tensors[src].shape), src)}
    flattened = {}          # 2-D tensor -> (C, H, W) of the image it is a view of
    layers = []
    for node in graph.nodes:
        x = node.inputs[0]
        out = node.outputs[0]
        shape = graph.tensors[out].shape
        if node.op == "flatten":
            xs = graph.tensors[x].shape
            tensors[out] = DeviceTensor(out, shape, nhwc(shape), tensors[x].buffer)
            if len(xs) == 4 and xs[2] * xs[3] > 1 and xs[1] > 1:
                flattened[out] = xs[1:]
            continue
        if node.op not in MT_OPS:
            raise GraphError(f"{node.describe()}: no device kernel (run the passes first?)")
        if x in flattened:
            if node.op in IN_PLACE - {"softmax", "log_softmax"}:
                flattened[out] = flattened[x]
            elif node.op != "linear":
                raise GraphError(f"{node.describe()}: reads a flattened image in PyTorch's "
                                 f"(C, H, W) order, which only Linear and elementwise ops support")
        tensors[out] = DeviceTensor(out, shape, nhwc(shape), out)
        layers.append(_lower_node(graph, node, flattened.get(x)))
    if dst in flattened:
        raise GraphError(f"graph output '{dst}' is a flattened image; its element order would "
                         f"differ from PyTorch's (add a Linear after the Flatten)")
    low = Lowered(graph.name, tensors, layers, src, dst)
    share_in_place(low, keep)
    if plan:
        low.plan = plan_arena(_buffers(low))
    return low


def plan_buffers(low: Lowered) -> Plan:
    """(Re)plan the arena of an inference schedule from its tensors' current sizes."""
    low.plan = plan_arena(_buffers(low))
    return low.plan


def _lower_node(graph: Graph, node, flat_chw) -> DeviceLayer:
    layer = DeviceLayer(node.name, node.op, node.inputs[0], node.outputs[0], dict(node.attrs))
    if node.op in ("conv2d", "linear"):
        w_name = node.inputs[1]
        w = graph.tensors[w_name].data
        b_name = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
        if node.op == "conv2d":
            layer.weight = np.ascontiguousarray(w.transpose(0, 2, 3, 1))      # OIHW -> OHWI
            layer.weight_layout = ("ohwi",)
            n, oc, oh, ow = graph.tensors[node.outputs[0]].shape
            layer.macs = n * oh * ow * oc * int(np.prod(w.shape[1:]))
        else:
            if flat_chw is not None:                                           # (C,H,W) -> (H,W,C)
                c, h, wd = flat_chw
                w = w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
                layer.weight_layout = ("flat_hwc", c, h, wd)
            layer.weight = np.ascontiguousarray(w)
            layer.macs = graph.tensors[node.outputs[0]].shape[0] * w.size
        layer.bias = graph.tensors[b_name].data if b_name else None
        layer.weight_source, layer.bias_source = w_name, b_name
    return layer


def to_source_layout(device: np.ndarray, layout) -> np.ndarray:
    """A weight in device layout back to the source model's (PyTorch/ONNX) layout."""
    layout = tuple(layout)
    if layout[:1] == ("ohwi",):
        return np.ascontiguousarray(device.transpose(0, 3, 1, 2))
    if layout[:1] == ("flat_hwc",):
        c, h, w = layout[1:]
        return np.ascontiguousarray(device.reshape(-1, h, w, c).transpose(0, 3, 1, 2)
                                    .reshape(device.shape[0], -1))
    return device


def to_device_layout(source: np.ndarray, layout) -> np.ndarray:
    """The inverse of to_source_layout."""
    layout = tuple(layout)
    if layout[:1] == ("ohwi",):
        return np.ascontiguousarray(source.transpose(0, 2, 3, 1))
    if layout[:1] == ("flat_hwc",):
        c, h, w = layout[1:]
        return np.ascontiguousarray(source.reshape(-1, c, h, w).transpose(0, 2, 3, 1)
                                    .reshape(source.shape[0], -1))
    return source


def share_in_place(low: Lowered, keep: frozenset) -> None:
    """Let an in-place-capable layer write over its input when nothing later reads it."""
    for i, layer in enumerate(low.layers):
        if layer.op not in IN_PLACE or layer.inp in keep:
            continue
        buf = low.tensors[layer.inp].buffer
        later_reads = any(low.tensors[l.inp].buffer == buf for l in low.layers[i + 1:])
        is_output = low.tensors[low.output].buffer == buf
        if not later_reads and not is_output:
            low.tensors[layer.out].buffer = buf


def _buffers(low: Lowered) -> list:
    """One Buffer per distinct buffer name, with its lifetime over the steps."""
    last_step = len(low.layers)
    spans = {}
    def touch(buf: str, step: int, size: int) -> None:
        first, last, sz = spans.get(buf, (step, step, 0))
        spans[buf] = (min(first, step), max(last, step), max(sz, size))
    touch(low.tensors[low.input].buffer, -1, low.tensors[low.input].bytes)
    for step, layer in enumerate(low.layers):
        for t in (layer.inp, layer.out, layer.scratch):
            if t:
                touch(low.tensors[t].buffer, step, low.tensors[t].bytes)
    touch(low.tensors[low.output].buffer, last_step, low.tensors[low.output].bytes)
    return [Buffer(name, size, first, last) for name, (first, last, size) in spans.items()]


# ---- conv + max-pool fusion ----------------------------------------------------------

def fuse_conv_maxpool(low: Lowered) -> int:
    """Merge each conv2d whose only reader is a max_pool2d into one conv2d_maxpool
    layer (MT_OP_CONV2D_MAXPOOL, runtime_c/src/engine/conv_pool.c): the engine computes
    the conv a band of pool.kernel_h rows at a time into a scratch tensor and pools each
    band at once, so the conv's whole output never exists. Same results, bit for bit.
    Inference only (backward needs the pre-pool tensor). Replan the arena afterwards.
    Returns the number of fused pairs."""
    fused, layers = 0, []
    i = 0
    while i < len(low.layers):
        conv = low.layers[i]
        pool = low.layers[i + 1] if i + 1 < len(low.layers) else None
        if pool is not None and _fusable(low, conv, pool, low.layers[i + 2:]):
            layers.append(_fused(low, conv, pool))
            fused += 1
            i += 2
        else:
            layers.append(conv)
            i += 1
    low.layers = layers
    return fused


def _fusable(low: Lowered, conv: DeviceLayer, pool: DeviceLayer, later: list) -> bool:
    if conv.op != "conv2d" or pool.op != "max_pool2d" or pool.inp != conv.out:
        return False
    buf = low.tensors[conv.out].buffer
    if low.tensors[low.output].buffer == buf or any(low.tensors[l.inp].buffer == buf for l in later):
        return False
    a = pool.attrs
    (pk, _), (ps, _), (pt, _, pb, _) = a["kernel"], a["stride"], a["pads"]
    if pt or pb or ps < pk or tuple(a.get("dilation", (1, 1))) != (1, 1):
        return False                      # bands must tile the rows without overlap
    _, oh, _, _ = low.tensors[conv.out].dims
    _, ph, _, _ = low.tensors[pool.out].dims
    if ph != (oh - pk) // ps + 1:         # ceil_mode with a partial last window
        return False
    if conv.s8 is not None:               # int8: the pool's clamp must be a no-op
        (clo, chi), (plo, phi) = conv.s8.act, pool.s8.act
        if plo > clo or phi < chi:
            return False
    # Every band must read at least one real input row (see conv_pool.c).
    c = conv.attrs
    (sh, _), (dh, _), (cpt, _, _, _) = c["stride"], c["dilation"], c["pads"]
    kh, h = conv.weight.shape[1], low.tensors[conv.inp].dims[1]
    for py in range(ph):
        top = py * ps * sh - cpt
        bottom = (py * ps + pk - 1) * sh - cpt + (kh - 1) * dh
        if max(top, 0) > min(bottom, h - 1):
            return False
    return True


def _fused(low: Lowered, conv: DeviceLayer, pool: DeviceLayer) -> DeviceLayer:
    n, _, ow, oc = low.tensors[conv.out].dims
    pk = pool.attrs["kernel"][0]
    band = f"{conv.out}.band"
    src = low.tensors[conv.out]
    low.tensors[band] = DeviceTensor(band, (1, oc, pk, ow), (1, pk, ow, oc), band, src.elem_bytes)
    del low.tensors[conv.out]
    attrs = dict(conv.attrs, pool=dict(pool.attrs), pool_node=pool.node)
    return DeviceLayer(conv.node, "conv2d_maxpool", conv.inp, pool.out, attrs, conv.weight, conv.bias,
                       conv.weight_source, conv.bias_source, conv.weight_layout, conv.macs, conv.s8,
                       scratch=band)
