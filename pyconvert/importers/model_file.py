"""Import a model-definition file: a Python file that builds a pyconvert.nn network.

The file defines ``build_model()`` (returning an nn.Module) and ``INPUT_SHAPE`` (the
NCHW shape, batch included, the model is converted for). A bundled model is named by
its short name ('lenet5' is models/lenet5.py, installed as pyconvert.models.lenet5).

The network is traced: its forward runs once on a zero input and every resulting
Tensor carries the op that made it (pyconvert.nn.tensor.OpRecord); walking those
records from the output back to the input gives the graph, whatever Python the
forward used (Sequential or a tutorial-style class with F.relu / x.view calls).

Parameters the file does not set itself come from PyTorch-style default
initialisation with the generator seeded to 0 just before build_model(), so
converting the same file twice gives byte-identical C.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..ir import Graph, GraphError


def bundled_models() -> list:
    import pyconvert.models as pkg
    return sorted(p.stem for p in Path(pkg.__file__).parent.glob("*.py") if p.stem != "__init__")


def load_module(spec: str):
    """Import a model file by path or bundled short name (errors name the file)."""
    path = Path(spec)
    if path.suffix == ".py":
        if not path.is_file():
            raise GraphError(f"{spec}: no such model file")
        mod_name = f"pyconvert_model_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise GraphError(f"{spec}: the model file raised {type(exc).__name__}: {exc}") from exc
        return module
    if spec in bundled_models():
        return importlib.import_module(f"pyconvert.models.{spec}")
    raise GraphError(f"{spec}: not a .py or .onnx file, nor a bundled model "
                     f"({', '.join(bundled_models())})")


def load_model_file(spec: str, input_shape: tuple | None = None, name: str | None = None,
                    params: str | None = None) -> Graph:
    """params: an .npz of parameters by PyTorch name (e.g. from `pyconvert train
    --save-params`) loaded over the initial ones before tracing."""
    module = load_module(spec)
    if not hasattr(module, "build_model"):
        raise GraphError(f"{spec}: defines no build_model() function")
    import pyconvert.nn as nn
    nn.manual_seed(0)   # default initialisation is seeded: the same file gives the same C
    try:
        model = module.build_model()
    except Exception as exc:
        raise GraphError(f"{spec}: build_model() raised {type(exc).__name__}: {exc}") from exc
    if params is not None:
        _load_params(model, params)
    shape = tuple(input_shape or getattr(module, "INPUT_SHAPE", ()))
    if not shape:
        raise GraphError(f"{spec}: no INPUT_SHAPE in the file; pass --input-shape")
    return trace(model, shape, name or Path(spec).stem)


def _load_params(model, path: str) -> None:
    try:
        with np.load(path, allow_pickle=False) as data:
            values = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise GraphError(f"{path}: cannot read a params .npz file ({exc})") from exc
    known = model.state_dict()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise GraphError(f"{path}: no parameter named {unknown[0]!r} in the model "
                         f"(it has {', '.join(known)})")
    for k, v in values.items():
        if tuple(v.shape) != tuple(known[k].shape):
            raise GraphError(f"{path}: {k} has shape {tuple(v.shape)}, the model's is "
                             f"{tuple(known[k].shape)}")
    model.load_state_dict(values, strict=False)


def trace(model, input_shape: tuple, name: str) -> Graph:
    """Run the model once and turn its op records into an IR graph."""
    import pyconvert.nn as nn

    model.eval()
    x = nn.tensor(np.zeros(input_shape, np.float32))
    labels = {}              # id(output Tensor) -> name of the submodule that made it
    try:
        with _labelled_outputs(model, labels):
            y = model(x)
    except ValueError as exc:
        raise GraphError(f"model '{name}' rejects input {tuple(input_shape)}: {exc}") from exc
    if not isinstance(y, nn.Tensor):
        raise GraphError(f"model '{name}': forward must return one Tensor, got {type(y).__name__}")
    names = {id(t): n for n, t in list(model.named_parameters()) + list(model.named_buffers())}
    return _Tracer(model, x, names, name, labels).build(y)


@contextmanager
def _labelled_outputs(model, labels: dict):
    """While tracing, remember which leaf submodule produced each Tensor, so nodes
    are named after the user's layers ('conv1', 'fc2') where there is one."""
    leaves = [(n, m) for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    for name, module in leaves:
        def labelled(*args, _forward=module.forward, _name=name, **kwargs):
            out = _forward(*args, **kwargs)
            labels.setdefault(id(out), _name)
            return out
        object.__setattr__(module, "forward", labelled)
    try:
        yield
    finally:
        for _, module in leaves:
            object.__delattr__(module, "forward")


class _Tracer:
    def __init__(self, model, x, param_names: dict, name: str, labels: dict):
        self.x, self.param_names, self.graph = x, param_names, Graph(name)
        self.labels = labels
        self.names = {id(x): "input"}             # id(Tensor) -> IR tensor name
        self.graph.add_tensor("input", x.shape)
        self.graph.inputs = ["input"]

    def build(self, y) -> Graph:
        self.graph.outputs = [self.visit(y)]
        self.graph.validate()
        self.graph.infer_shapes()
        return self.graph

    def visit(self, t) -> str:
        """IR name of Tensor t, emitting the nodes that compute it (post-order)."""
        if t is None:
            return ""
        if id(t) in self.names:
            return self.names[id(t)]
        if t.op is None:                      # a leaf: a parameter, buffer or constant
            name = self.param_names.get(id(t), f"const_{len(self.names)}")
            self.graph.add_tensor(name, data=t.data)
            self.names[id(t)] = name
            return name
        rec = t.op
        inputs = [self.visit(i) for i in rec.inputs]
        out = self.labels.get(id(t)) or f"{rec.name}_{len(self.graph.nodes)}"
        self.names[id(t)] = out
        self._emit(rec, inputs, out, t.shape)
        return out

    def _emit(self, rec, inputs: list, out: str, shape: tuple) -> None:
        g, a, op = self.graph, rec.attrs, rec.name
        add = lambda ir_op, ins, **attrs: g.add_node(ir_op, ins, [out], name=out, **attrs)  # noqa: E731
        if op == "conv2d":
            ph, pw = a["padding"]
            add("conv2d", inputs, stride=tuple(a["stride"]), pads=(ph, pw, ph, pw),
                dilation=tuple(a["dilation"]), groups=a["groups"], act=None)
        elif op == "linear":
            add("linear", inputs, act=None)
        elif op in ("max_pool2d", "avg_pool2d"):
            if op == "max_pool2d" and tuple(a.get("dilation", (1, 1))) != (1, 1):
                raise GraphError(f"max_pool2d with dilation {a['dilation']} is not supported")
            if a.get("divisor_override") is not None:
                raise GraphError("avg_pool2d with divisor_override is not supported")
            ph, pw = a["padding"]
            attrs = dict(kernel=tuple(a["kernel_size"]), stride=tuple(a["stride"]),
                         pads=(ph, pw, ph, pw), ceil_mode=bool(a["ceil_mode"]))
            if op == "avg_pool2d":
                attrs["count_include_pad"] = bool(a["count_include_pad"])
            add(op, inputs, **attrs)
        elif op == "adaptive_avg_pool2d":
            if tuple(np.broadcast_to(a["output_size"], (2,))) != (1, 1):
                raise GraphError(f"adaptive_avg_pool2d to {a['output_size']}: only output size 1")
            add("global_avg_pool", inputs)
        elif op == "batch_norm":
            if a.get("training"):
                raise GraphError("batch_norm in training mode cannot be converted (call .eval())")
            x, mean, var, weight, bias = inputs
            add("batch_norm", [x, weight, bias, mean, var], eps=float(a["eps"]))
        elif op == "dropout":
            add("identity", inputs[:1])
        elif op in ("relu", "sigmoid", "tanh", "step"):
            add(op, inputs)
        elif op == "relu6":
            add("clip", inputs, lo=0.0, hi=6.0)
        elif op == "hardtanh":
            add("clip", inputs, lo=float(a["min_val"]), hi=float(a["max_val"]))
        elif op == "clamp":
            lo = -math.inf if a.get("min") is None else float(a["min"])
            hi = math.inf if a.get("max") is None else float(a["max"])
            add("clip", inputs, lo=lo, hi=hi)
        elif op == "leaky_relu":
            add("leaky_relu", inputs, alpha=float(a["negative_slope"]))
        elif op in ("softmax", "log_softmax"):
            add(op, inputs, axis=int(a["dim"]))
        elif op in ("flatten", "reshape") and len(shape) == 2 and shape[0] == self.x.shape[0]:
            add("flatten", inputs[:1])      # (N, ...) -> (N, rest): a flatten whatever the spelling
        else:
            raise GraphError(f"op '{op}' (attributes {a}) producing shape {tuple(shape)} cannot be "
                             f"converted; supported: conv2d, linear, max/avg/adaptive pooling, "
                             f"batch_norm, dropout, relu/relu6/hardtanh/clamp/leaky_relu/sigmoid/"
                             f"tanh/step, softmax/log_softmax, flatten/view to (N, -1)")
