"""The ONNX importer (pyconvert.importers.onnx_import) and the IR interpreter.

Models come from two places: torch.onnx.export (TorchScript exporter and the dynamo
exporter, which needs the `onnxscript` package) and onnx.helper (old opsets, Gemm
attributes, MatMul+Add, auto_pad, dynamic batch, error cases). Every imported graph
is run with pyconvert.interpret.run_graph before and after passes.optimize and
compared with onnxruntime (and the torch model where there is one):
|got - ref| <= 1e-5 * |ref| + 1e-5 * max|ref|.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from pyconvert import passes  # noqa: E402
from pyconvert.importers.onnx_import import SUPPORTED, load_onnx  # noqa: E402
from pyconvert.interpret import run_graph  # noqa: E402
from pyconvert.ir import GraphError  # noqa: E402

RTOL = 1e-5


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def assert_close(got, ref, what=""):
    ref = np.asarray(ref, dtype=np.float32)
    assert got.dtype == np.float32
    assert got.shape == ref.shape, what
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=RTOL * float(np.abs(ref).max()), err_msg=what)


def ort_run(model, x):
    ort = pytest.importorskip("onnxruntime")
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def check_import(model, x, expected=None, ort_model=None, **load_args):
    """Import, then run before and after optimize against onnxruntime (on `ort_model`
    when the original cannot run there) and `expected` (the torch output)."""
    graph = load_onnx(model, **load_args)
    assert len({n.name for n in graph.nodes}) == len(graph.nodes), "IR node names must be unique"
    ref = ort_run(model if ort_model is None else ort_model, x)
    optimized = passes.optimize(copy.deepcopy(graph))
    for label, g in (("imported", graph), ("optimized", optimized)):
        y = run_graph(g, x)
        assert_close(y, ref, f"{label} vs onnxruntime")
        if expected is not None:
            assert_close(y, expected, f"{label} vs torch")
    return graph, optimized


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def make_model(nodes, inputs, outputs, inits=(), opset=13, ir_version=None, **kw):
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kw)
    if ir_version is not None:
        model.ir_version = ir_version
    return model


def vinfo(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def ops(graph):
    return [n.op for n in graph.nodes]


# ---------------------------------------------------------------------------
# torch models
# ---------------------------------------------------------------------------

def _torch_models() -> dict:
    """name -> (model factory, input shape). Built lazily: torch is optional."""
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class LeNet5(nn.Module):
        def __init__(self, k=5, flatten="flatten"):
            super().__init__()
            self.flatten = flatten
            self.c1, self.c2 = nn.Conv2d(1, 6, k), nn.Conv2d(6, 16, k)
            self.feat = 16 * 5 * 5 if k == 5 else 16 * 6 * 6
            self.f1, self.f2, self.f3 = nn.Linear(self.feat, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):                       # (N, 1, 32, 32)
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c2(x)), 2)
            if self.flatten == "flatten":
                x = torch.flatten(x, 1)
            elif self.flatten == "view":
                x = x.view(-1, self.feat)
            else:                                   # "size": x.view(x.size(0), -1)
                x = x.view(x.size(0), -1)
            x = F.relu(self.f1(x))
            x = F.relu(self.f2(x))
            return self.f3(x)

    def mlp():
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                             nn.Linear(512, 10))

    def conv_bn_relu():
        m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
        with torch.no_grad():                       # non-trivial running statistics
            bn = m[1]
            bn.running_mean.copy_(torch.randn(8) * 0.5)
            bn.running_var.copy_(torch.rand(8) + 0.5)
            bn.weight.copy_(torch.rand(8) + 0.5)
            bn.bias.copy_(torch.randn(8) * 0.1)
        return m.eval()

    class Zoo(nn.Module):
        """depthwise/dilated/strided/padded conv, ReLU6, LeakyReLU, AvgPool without
        padding in the count, ceil_mode MaxPool, global average pool."""
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=8)
            self.pw = nn.Conv2d(8, 12, 1, bias=False)
            self.ap = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
            self.mp = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.fc = nn.Linear(12, 6)

        def forward(self, x):                       # (N, 3, 23, 23)
            x = F.relu6(self.c1(x))
            x = F.leaky_relu(self.dw(x), 0.2)
            x = self.mp(self.ap(self.pw(x)))
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
            return torch.tanh(self.fc(x))

    class Head(nn.Module):
        def __init__(self, head):
            super().__init__()
            self.head = head
            self.c = nn.Conv2d(2, 4, 3)
            self.fc = nn.Linear(4 * 6 * 6, 7)

        def forward(self, x):                       # (N, 2, 8, 8)
            x = self.fc(torch.flatten(torch.sigmoid(self.c(x)), 1))
            return {"sigmoid": torch.sigmoid, "tanh": torch.tanh,
                    "softmax": lambda t: torch.softmax(t, 1),
                    "log_softmax": lambda t: torch.log_softmax(t, -1)}[self.head](x)

    return {
        "lenet5_flatten": (lambda: LeNet5(5, "flatten"), (1, 1, 32, 32)),
        "lenet5_view": (lambda: LeNet5(5, "view"), (1, 1, 32, 32)),
        "lenet3x3": (lambda: LeNet5(3, "flatten"), (1, 1, 32, 32)),
        "mlp784": (mlp, (1, 784)),
        "conv_bn_relu": (conv_bn_relu, (2, 3, 8, 8)),
        "zoo": (Zoo, (2, 3, 23, 23)),
        "head_sigmoid": (lambda: Head("sigmoid"), (1, 2, 8, 8)),
        "head_tanh": (lambda: Head("tanh"), (1, 2, 8, 8)),
        "head_softmax": (lambda: Head("softmax"), (1, 2, 8, 8)),
        "head_log_softmax": (lambda: Head("log_softmax"), (1, 2, 8, 8)),
    }


TORCH_MODELS = ["lenet5_flatten", "lenet5_view", "lenet3x3", "mlp784", "conv_bn_relu", "zoo",
                "head_sigmoid", "head_tanh", "head_softmax", "head_log_softmax"]


def export(model, x, path, exporter, **kw):
    torch = pytest.importorskip("torch")
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=exporter == "dynamo",
                          input_names=["x"], output_names=["y"], **kw)
    return path


def torch_out(model, x):
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", TORCH_MODELS)
def test_torch_export(name, exporter, tmp_path):
    torch = pytest.importorskip("torch")
    factory, shape = _torch_models()[name]
    torch.manual_seed(0)
    model = factory().eval()
    x = randn(*shape, seed=1)
    kw = {}
    if name == "conv_bn_relu" and exporter == "torchscript":
        kw["training"] = torch.onnx.TrainingMode.PRESERVE     # keep BatchNormalization unfolded
    path = export(model, x, tmp_path / f"{name}.onnx", exporter, **kw)
    graph, optimized = check_import(path, x, expected=torch_out(model, x))
    assert graph.name == name
    assert graph.tensors[graph.outputs[0]].shape == torch_out(model, x).shape
    assert all(n.op not in ("batch_norm", "identity", "dropout") for n in optimized.nodes)
    if name == "conv_bn_relu" and exporter == "torchscript":
        assert "batch_norm" in ops(graph)
    if name.startswith("lenet"):
        # relu fused into conv/linear: conv, pool, conv, pool, flatten, linear x3
        assert ops(optimized) == ["conv2d", "max_pool2d", "conv2d", "max_pool2d", "flatten",
                                  "linear", "linear", "linear"]
        assert [n.attrs["act"] for n in optimized.nodes if n.op == "linear"] == \
               [(0.0, float("inf"))] * 2 + [None]
    if name == "zoo":
        assert any(n.attrs.get("act") == (0.0, 6.0) for n in optimized.nodes)       # ReLU6


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_torch_dynamic_batch_view_size(exporter, tmp_path):
    """x.view(x.size(0), -1) with a dynamic batch: TorchScript emits
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape, folded to a flatten."""
    torch = pytest.importorskip("torch")
    factory, _ = _torch_models()["lenet5_flatten"]
    torch.manual_seed(0)
    model = factory()
    model.flatten = "size"
    x2, x3 = randn(2, 1, 32, 32, seed=2), randn(3, 1, 32, 32, seed=3)
    if exporter == "torchscript":
        kw = {"dynamic_axes": {"x": {0: "N"}, "y": {0: "N"}}}
    else:
        kw = {"dynamic_shapes": ({0: torch.export.Dim("N")},)}
    path = export(model, x2, tmp_path / "lenet_dyn.onnx", exporter, **kw)
    if exporter == "torchscript":
        assert {"Shape", "Gather", "Concat"} <= {n.op_type for n in onnx.load(str(path)).graph.node}
    with pytest.raises(GraphError, match=r"input 'x' has dynamic shape \(N, 1, 32, 32\).*--input-shape"):
        load_onnx(path)
    graph, _ = check_import(path, x3, expected=torch_out(model, x3), input_shape=(3, 1, 32, 32))
    assert graph.tensors["x"].shape == (3, 1, 32, 32)
    assert graph.tensors[graph.outputs[0]].shape == (3, 10)


# ---------------------------------------------------------------------------
# hand-built: old opsets and the version converter
# ---------------------------------------------------------------------------

def old_opset_model(opset: int, head: str) -> onnx.ModelProto:
    """Conv -> BatchNormalization(spatial) -> Clip(min/max attributes) -> MaxPool ->
    Dropout -> head, in the attribute forms of `opset`; initializers listed as graph
    inputs (IR version 3, as old model-zoo files)."""
    rng = np.random.default_rng(opset)
    w = {"w": rng.standard_normal((4, 3, 3, 3)), "b": rng.standard_normal(4),
         "scale": rng.random(4) + 0.5, "beta": rng.standard_normal(4),
         "mean": rng.standard_normal(4), "var": rng.random(4) + 0.5,
         "fc_w": rng.standard_normal((5, 16)), "fc_b": rng.standard_normal(5)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    bn_attrs = {"epsilon": 1e-3}
    if opset < 9:
        bn_attrs["spatial"] = 1
    if opset < 7:
        bn_attrs["is_test"] = 1
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "scale", "beta", "mean", "var"], ["bn"], **bn_attrs),
        helper.make_node("Clip", ["bn"], ["clip"], min=0.0, max=6.0),
        helper.make_node("MaxPool", ["clip"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Dropout", ["pool"], ["drop"], ratio=0.3, **({"is_test": 1} if opset < 7 else {})),
    ]
    if head == "gemm":       # (1, 4, 4, 4) -> GAP, Flatten (1, 4) -> Gemm (1, 5) -> Softmax
        nodes += [helper.make_node("GlobalAveragePool", ["drop"], ["gap"]),
                  helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
                  helper.make_node("Gemm", ["flat", "fc_w4", "fc_b"], ["fc"], transB=1,
                                   **({"broadcast": 1} if opset < 7 else {})),
                  helper.make_node("Softmax", ["fc"], ["y"], axis=1)]
        w["fc_w4"] = w.pop("fc_w")[:, :4].copy()
        out = vinfo("y", [1, 5])
    else:                    # softmax over (1, 4, 1, 1) at axis 1: the channels (old semantics)
        del w["fc_w"]
        nodes += [helper.make_node("GlobalAveragePool", ["drop"], ["gap"]),
                  helper.make_node("Softmax", ["gap"], ["y"], axis=1)]
        out = vinfo("y", [1, 4, 1, 1])
    used = {t for n in nodes for t in n.input}
    inits = [init(k, v) for k, v in w.items() if k in used]
    inputs = [vinfo("x", [1, 3, 8, 8])] + [vinfo(i.name, list(i.dims)) for i in inits]
    return make_model(nodes, inputs, [out], inits, opset=opset, ir_version=3)


@pytest.mark.parametrize("head", ["gemm", "gap_softmax"])
@pytest.mark.parametrize("opset", [6, 7, 9])
def test_old_opset_through_version_converter(opset, head, monkeypatch):
    model = old_opset_model(opset, head)
    onnx.checker.check_model(model)
    converter = onnx.version_converter.convert_version
    calls = []

    def spy(m, target):
        calls.append(target)
        return converter(m, target)

    monkeypatch.setattr(onnx.version_converter, "convert_version", spy)
    x = randn(1, 3, 8, 8, seed=opset)
    # onnxruntime has no kernels for opset-6 BatchNormalization: run the upgraded model
    upgraded = converter(model, 11) if opset < 7 else None
    graph, optimized = check_import(model, x, ort_model=upgraded)
    assert calls == [11]
    assert graph.inputs == ["x"]                       # initializers are not inputs
    assert "batch_norm" in ops(graph) and "clip" in ops(graph)
    assert optimized.nodes[0].op == "conv2d" and optimized.nodes[0].attrs["act"] == (0.0, 6.0)
    assert ops(optimized)[-1] == "softmax"


@pytest.mark.parametrize("opset", [6, 9])
def test_old_opset_without_version_converter(opset, monkeypatch):
    """If the upgrade fails, the converters read the old attribute forms themselves."""
    model = old_opset_model(opset, "gap_softmax")
    upgraded = onnx.version_converter.convert_version(model, 11)

    def broken(m, target):
        raise RuntimeError("no adapter")

    monkeypatch.setattr(onnx.version_converter, "convert_version", broken)
    x = randn(1, 3, 8, 8, seed=5)
    graph, _ = check_import(model, x, ort_model=upgraded)
    assert [n for n in graph.nodes if n.op == "clip"][0].attrs == {"lo": 0.0, "hi": 6.0}


@pytest.mark.parametrize("opset", [11, 13])
def test_shape_gather_unsqueeze_concat_reshape(opset):
    """The shape arithmetic of x.view(x.size(0), -1), Unsqueeze with axes as an
    attribute (opset 11) and as an input (13); Clip with a max input only."""
    zero = helper.make_tensor("zero", TensorProto.INT64, [], [0])
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Clip", ["c", "", "six"], ["r"]),
        helper.make_node("Shape", ["r"], ["shape"]),
        helper.make_node("Constant", [], ["zero"], value=zero),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n"] + (["axes"] if opset >= 13 else []), ["n1"],
                         **({} if opset >= 13 else {"axes": [0]})),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Cast", ["target"], ["target64"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["r", "target64"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc"], ["y"], transB=1, name="fc"),
    ]
    inits = [init("w", randn(4, 2, 3, 3)), init("six", np.array(6.0, np.float32)),
             init("minus1", np.array([-1], np.int64)), init("fc", randn(3, 4 * 4 * 4, seed=2))]
    if opset >= 13:
        inits.append(init("axes", np.array([0], np.int64)))
    model = make_model(nodes, [vinfo("x", [2, 2, 6, 6])], [vinfo("y", [2, 3])], inits, opset=opset)
    graph, _ = check_import(model, randn(2, 2, 6, 6, seed=4) * 5)
    assert ops(graph) == ["conv2d", "clip", "flatten", "linear"]
    assert graph.nodes[1].attrs == {"lo": -np.inf, "hi": 6.0}


# ---------------------------------------------------------------------------
# hand-built: Gemm, MatMul + Add, auto_pad, pools
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("c_shape", [(4,), (1, 4), ()])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_alpha_beta_transb(trans_b, c_shape):
    b = randn(6, 4, seed=1) if trans_b == 0 else randn(4, 6, seed=1)
    c = randn(*c_shape, seed=2)
    node = helper.make_node("Gemm", ["x", "B", "C"], ["y"], alpha=0.5, beta=2.0, transB=trans_b)
    model = make_model([node], [vinfo("x", [3, 6])], [vinfo("y", [3, 4])],
                       [init("B", b), init("C", c)])
    graph, _ = check_import(model, randn(3, 6, seed=3))
    w = graph.tensors[graph.nodes[0].inputs[1]].data
    assert w.shape == (4, 6) and w.dtype == np.float32


def test_gemm_trans_a_is_rejected():
    node = helper.make_node("Gemm", ["x", "B"], ["y"], transA=1, name="g")
    model = make_model([node], [vinfo("x", [6, 3])], [vinfo("y", [3, 4])], [init("B", randn(6, 4))])
    with pytest.raises(GraphError, match=r"node 'g' \(Gemm\): transA=1 is not supported"):
        load_onnx(model)


@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_add(bias_first):
    add_in = ["b1", "mm1"] if bias_first else ["mm1", "b1"]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["mm1"]),
             helper.make_node("Add", add_in, ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "W2"], ["y"])]       # no bias
    inits = [init("W1", randn(6, 5, seed=1)), init("b1", randn(5, seed=2)),
             init("W2", randn(5, 4, seed=3))]
    model = make_model(nodes, [vinfo("x", [3, 6])], [vinfo("y", [3, 4])], inits)
    graph, optimized = check_import(model, randn(3, 6, seed=4))
    assert ops(graph) == ["linear", "relu", "linear"]
    assert [len(n.inputs) for n in graph.nodes if n.op == "linear"] == [3, 2]
    assert ops(optimized) == ["linear", "linear"]


def test_add_without_matmul_is_rejected():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "b"], ["y"], name="add")]
    model = make_model(nodes, [vinfo("x", [1, 4])], [vinfo("y", [1, 4])], [init("b", randn(4))])
    with pytest.raises(GraphError, match=r"node 'add' \(Add\): Add is supported only as a constant bias"):
        load_onnx(model)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_auto_pad(auto_pad):
    """auto_pad on Conv (even kernel, stride 2: asymmetric pads) and on both pools,
    with count_include_pad on and off (the interpreter's asymmetric-pad paths)."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], auto_pad=auto_pad, strides=[2, 2],
                         kernel_shape=[4, 3]),
        helper.make_node("AveragePool", ["c"], ["a1"], auto_pad=auto_pad, kernel_shape=[2, 3],
                         strides=[1, 2], count_include_pad=1),
        helper.make_node("MaxPool", ["a1"], ["m"], auto_pad=auto_pad, kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("AveragePool", ["m"], ["y"], auto_pad=auto_pad, kernel_shape=[3, 2],
                         strides=[1, 1], count_include_pad=0),
    ]
    inits = [init("w", randn(3, 2, 4, 3, seed=1)), init("b", randn(3, seed=2))]
    model = make_model(nodes, [vinfo("x", [1, 2, 17, 20])], [vinfo("y", [1, 3, None, None])], inits)
    graph, _ = check_import(model, randn(1, 2, 17, 20, seed=3))
    conv = graph.nodes[0]
    # H: 17 -> 9 needs 8*2 + 4 - 17 = 3 rows of padding, W: 20 -> 10 needs 9*2 + 3 - 20 = 1
    assert conv.attrs["pads"] == {"SAME_UPPER": (1, 0, 2, 1), "SAME_LOWER": (2, 1, 1, 0),
                                  "VALID": (0, 0, 0, 0)}[auto_pad]


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_pools_explicit_asymmetric_pads_and_ceil_mode(count_include_pad):
    nodes = [
        helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[0, 1, 2, 0], ceil_mode=1, storage_order=1),
        helper.make_node("AveragePool", ["m"], ["y"], kernel_shape=[3, 2], strides=[2, 1],
                         pads=[1, 0, 2, 1], ceil_mode=1, count_include_pad=count_include_pad),
    ]
    model = make_model(nodes, [vinfo("x", [2, 3, 12, 11])], [vinfo("y", [2, 3, None, None])])
    check_import(model, randn(2, 3, 12, 11, seed=6))


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean_over_spatial_axes(opset, keepdims):
    """The dynamo exporter writes adaptive_avg_pool2d(x, 1) as ReduceMean (axes an
    attribute before opset 18, an input from 18)."""
    axes = {"axes": [-1, -2]} if opset < 18 else {}
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("ReduceMean", ["r"] + (["axes"] if opset >= 18 else []), ["y"],
                              keepdims=keepdims, **axes)]
    inits = [init("axes", np.array([-1, -2], np.int64))] if opset >= 18 else []
    out = [2, 3, 1, 1] if keepdims else [2, 3]
    model = make_model(nodes, [vinfo("x", [2, 3, 5, 4])], [vinfo("y", out)], inits, opset=opset)
    graph, _ = check_import(model, randn(2, 3, 5, 4))
    assert ops(graph) == ["relu", "global_avg_pool"] + ([] if keepdims else ["flatten"])


# ---------------------------------------------------------------------------
# input shapes
# ---------------------------------------------------------------------------

def small_conv_model(in_shape, out_shape) -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    return make_model(nodes, [vinfo("x", in_shape)], [vinfo("y", out_shape)], [init("w", randn(2, 1, 3, 3))])


def test_dynamic_batch_needs_input_shape():
    model = small_conv_model(["batch", 1, 8, 8], ["batch", 2, 8, 8])
    with pytest.raises(GraphError) as err:
        load_onnx(model)
    msg = str(err.value)
    assert "input 'x'" in msg and "(batch, 1, 8, 8)" in msg and "--input-shape 1,1,8,8" in msg
    graph, _ = check_import(model, randn(4, 1, 8, 8), input_shape=(4, 1, 8, 8))
    assert graph.tensors["y"].shape == (4, 2, 8, 8)


def test_unknown_dims():
    model = small_conv_model([None, 1, None, 8], [None, 2, None, 8])
    with pytest.raises(GraphError, match=r"input 'x' has dynamic shape \(\?, 1, \?, 8\); pass "
                                         r"--input-shape with every dimension fixed \(e\.g\. "
                                         r"--input-shape N,C,H,W\)"):
        load_onnx(model)
    graph = load_onnx(model, input_shape=(1, 1, 5, 8))
    assert graph.tensors["y"].shape == (1, 2, 5, 8)


def test_input_shape_may_change_only_the_batch():
    model = small_conv_model([1, 1, 8, 8], [1, 2, 8, 8])
    dynamic = small_conv_model(["N", 1, 8, 8], ["N", 2, 8, 8])     # for onnxruntime at batch 3
    graph, _ = check_import(model, randn(3, 1, 8, 8), ort_model=dynamic, input_shape=(3, 1, 8, 8))
    assert graph.tensors["y"].shape == (3, 2, 8, 8)
    with pytest.raises(GraphError, match=r"--input-shape \(1, 1, 9, 8\) conflicts with input 'x'"):
        load_onnx(model, input_shape=(1, 1, 9, 8))
    with pytest.raises(GraphError, match="conflicts"):
        load_onnx(model, input_shape=(1, 8, 8))


def test_declared_output_shape_is_checked():
    with pytest.raises(GraphError, match=r"output 'y' has shape \(1, 2, 8, 8\) after import but "
                                         r"the file declares \(1, 2, 7, 7\)"):
        load_onnx(small_conv_model([1, 1, 8, 8], [1, 2, 7, 7]))


def test_exactly_one_real_input():
    nodes = [helper.make_node("Relu", ["a"], ["y"])]
    model = make_model(nodes, [vinfo("a", [1, 4]), vinfo("b", [1, 4])], [vinfo("y", [1, 4])])
    with pytest.raises(GraphError, match=r"exactly one model input.*'a', 'b'"):
        load_onnx(model)


# ---------------------------------------------------------------------------
# unsupported and malformed models
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("named", [True, False])
def test_unsupported_op_names_node_and_type(named):
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Resize", ["r", "", "scales"], ["y"], mode="nearest",
                              **({"name": "upsample"} if named else {}))]
    model = make_model(nodes, [vinfo("x", [1, 2, 4, 4])], [vinfo("y", [1, 2, 8, 8])],
                       [init("scales", np.array([1, 1, 2, 2], np.float32))])
    with pytest.raises(GraphError) as err:
        load_onnx(model)
    msg = str(err.value)
    where = "node 'upsample' (Resize)" if named else "node #1 (Resize)"
    assert msg.startswith(where) and "op type 'Resize' is not supported" in msg
    assert "Conv" in msg and "Gemm" in msg and "\n" not in msg


def test_quantize_ops_are_unsupported():
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")]
    model = make_model(nodes, [vinfo("x", [1, 4])], [vinfo("y", [1, 4])],
                       [init("s", np.array(0.1, np.float32)), init("z", np.array(0, np.int8))])
    with pytest.raises(GraphError, match=r"node 'q' \(QuantizeLinear\): op type 'QuantizeLinear'"):
        load_onnx(model)


@pytest.mark.parametrize("case, message", [
    ("reshape", r"only a flatten to \(N, -1\) is supported; this reshapes \(1, 4, 4, 4\) to \(4, 16\)"),
    ("softmax_axis", r"only a softmax over the channel axis 1 is supported"),
    ("old_softmax_4d", r"only a softmax over the channel axis 1 is supported"),
    ("maxpool_dilation", r"dilations=\[2, 2\] are not supported"),
    ("flatten_axis", r"only axis=1 is supported"),
    ("conv_weight_input", r"the weight 'r' must be a constant"),
    ("bn_training_mode", r"training_mode=1 is not supported"),
    ("bn_training_outputs", r"the training statistics output 'mean_out' is used"),
])
def test_unsupported_forms(case, message):
    x = vinfo("x", [1, 4, 4, 4])
    inits = [init("w", randn(4, 4, 1, 1))]
    opset = 13
    if case == "reshape":
        nodes = [helper.make_node("Reshape", ["r", "shape"], ["y"], name="n")]
        inits.append(init("shape", np.array([4, 16], np.int64)))
    elif case == "softmax_axis":
        nodes = [helper.make_node("Softmax", ["r"], ["y"], name="n")]          # axis -1 = W
    elif case == "old_softmax_4d":
        nodes = [helper.make_node("Softmax", ["r"], ["y"], axis=1, name="n")]  # covers C*H*W
        opset = 11
    elif case == "maxpool_dilation":
        nodes = [helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], dilations=[2, 2], name="n")]
    elif case == "flatten_axis":
        nodes = [helper.make_node("Flatten", ["r"], ["y"], axis=2, name="n")]
    elif case == "conv_weight_input":
        nodes = [helper.make_node("Conv", ["r", "r"], ["y"], name="n")]
        inits = []
    elif case == "bn_training_mode":
        nodes = [helper.make_node("BatchNormalization", ["r", "s", "s", "s", "s"],
                                  ["y", "mean_out", "var_out"], training_mode=1, name="n")]
        inits = [init("s", np.ones(4, np.float32))]
        opset = 15
    else:                    # opset 9: up to 5 outputs, no training_mode attribute
        nodes = [helper.make_node("BatchNormalization", ["r", "s", "s", "s", "s"],
                                  ["y", "mean_out", "var_out", "saved_mean", "saved_var"], name="n"),
                 helper.make_node("Relu", ["mean_out"], ["y2"])]
        inits = [init("s", np.ones(4, np.float32))]
        opset = 9
    nodes = [helper.make_node("Relu", ["x"], ["r"])] + nodes
    outputs = [vinfo("y", [None] * 4)] + ([vinfo("y2", [None])] if case == "bn_training_outputs" else [])
    model = make_model(nodes, [x], outputs, inits, opset=opset)
    with pytest.raises(GraphError, match=message) as err:
        load_onnx(model)
    assert str(err.value).startswith("node 'n' (") and "\n" not in str(err.value)


def test_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(small_conv_model([1, 1, 8, 8], [1, 2, 8, 8]), str(good))
    assert load_onnx(good).name == "good"
    data = good.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(GraphError, match=r"truncated\.onnx: not a valid ONNX file \(") as err:
        load_onnx(truncated)
    assert "\n" not in str(err.value)
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    with pytest.raises(GraphError, match=r"notes\.onnx: (not a valid|invalid) ONNX"):
        load_onnx(text)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(GraphError, match=r"empty\.onnx: not a valid ONNX file \(no graph"):
        load_onnx(empty)
    with pytest.raises(GraphError, match=r"missing\.onnx: no such file"):
        load_onnx(tmp_path / "missing.onnx")


def test_supported_list_matches_the_brief():
    for op in ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul", "Relu",
               "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten",
               "Reshape", "BatchNormalization", "Dropout", "Identity", "Constant"):
        assert op in SUPPORTED


def test_identity_dropout_and_constant_weights():
    """Identity/Dropout become IR no-ops (removed by optimize); Conv parameters from a
    Constant node and a ConstantOfShape (as old zoo files build them); the graph name
    defaults to the ONNX graph's name."""
    w = helper.make_tensor("wc", TensorProto.FLOAT, [2, 1, 3, 3], randn(2, 1, 3, 3).ravel())
    half = helper.make_tensor("half", TensorProto.FLOAT, [1], [0.5])
    nodes = [helper.make_node("Constant", [], ["w"], value=w),
             helper.make_node("ConstantOfShape", ["b_shape"], ["b"], value=half),
             helper.make_node("Identity", ["x"], ["i"]),
             helper.make_node("Conv", ["i", "w", "b"], ["c"]),
             helper.make_node("Dropout", ["c"], ["d"]),
             helper.make_node("LeakyRelu", ["d"], ["y"], alpha=0.3)]
    model = make_model(nodes, [vinfo("x", [1, 1, 6, 6])], [vinfo("y", [1, 2, 4, 4])],
                       [init("b_shape", np.array([2], np.int64))], opset=12)
    graph, optimized = check_import(model, randn(1, 1, 6, 6))
    assert ops(graph) == ["identity", "conv2d", "dropout", "leaky_relu"]
    assert ops(optimized) == ["conv2d", "leaky_relu"]
    assert np.array_equal(graph.tensors[graph.nodes[1].inputs[2]].data, [0.5, 0.5])
    assert graph.name == "test"
