"""The int8 inference path end to end: post-training quantization, int8 C, quantized ONNX.

- whole models in C (cffi) against the Python integer reference, bit for bit;
- accuracy: digits_cnn and LeNet-5 trained in float (torch), quantized with the
  train split as calibration, int8 top-1 on the held-out split within 0.5 points;
- QDQ and QOperator files written by onnxruntime.quantization, run with the file's
  own scales: within 1 LSB of onnxruntime on >= 99.9% of the outputs (onnxruntime
  requantizes with a float multiplier and rounds half to even; we use a Q31
  multiplier with one rounding, ties toward +infinity);
- sizes (int8 weights and arena a quarter of float's), determinism, warning-free C;
- errors: bad calibration data, zero-range tensors, bias overflow, unsupported ops.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

import pyconvert.nn as nn
from pyconvert.convert import load, lower_graph, write_outputs
from pyconvert.emit_c import emit
from pyconvert.host.build import runtime_dir
from pyconvert.host.model_runner import HostModel, ModelError
from pyconvert.importers.model_file import trace
from pyconvert.interpret import run_graph
from pyconvert.ir import GraphError, QuantParams
from pyconvert.passes import optimize
from pyconvert.quant.int_model import reference_forward
from pyconvert.quant.int_reference import dequantize_s8
from pyconvert.quant.lower_s8 import const_bytes
from pyconvert.quant.ptq import quantize_graph

from int8_cases import accuracy, export_quantized, onnxruntime_int8, trained


def random_calib(graph, n=32, seed=0):
    shape = graph.tensors[graph.inputs[0]].shape
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape[1:])).astype(np.float32)


def convert_int8(graph, outdir, name, calib=None, method="minmax"):
    low = lower_graph(graph, dtype="int8", calib=calib, calib_method=method)
    return low, HostModel(write_outputs(low, outdir, name))


def assert_same(c, ref, what):
    c, ref = np.asarray(c), np.asarray(ref)
    assert c.shape == ref.shape, f"{what}: shape {c.shape} != {ref.shape}"
    bad = np.flatnonzero(c.reshape(-1) != ref.reshape(-1))
    assert bad.size == 0, f"{what}: {bad.size} of {c.size} differ, first at {bad[0]}"


def ops_zoo():
    """Every int8 op: conv (+BN folded, depthwise), leaky_relu, avg pool counting padding,
    ReLU6, max pool (ceil), relu, tanh, sigmoid, global pool, linear + clip, softmax."""
    nn.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
        nn.AvgPool2d(3, stride=2, padding=1),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(),
        nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(), nn.Tanh(),
        nn.Conv2d(8, 12, 1), nn.Sigmoid(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(12, 6), nn.Hardtanh(-1.5, 2.0), nn.Linear(6, 5), nn.Step(), nn.Linear(5, 4),
        nn.Softmax(dim=1))
    model.eval()
    return trace(model, (1, 3, 11, 11), "zoo")


# ---- C == the Python integer reference, bit for bit ------------------------------------------

@pytest.mark.parametrize("name", ["lenet5", "digits_cnn", "mlp784", "zoo"])
def test_c_matches_the_integer_reference_bit_for_bit(name, tmp_path):
    graph = ops_zoo() if name == "zoo" else load(name)
    low, model = convert_int8(graph, tmp_path / name, name, random_calib(graph))
    x = random_calib(graph, n=20, seed=1)
    x = np.concatenate([x, 4 * x[:4]])                  # and some that saturate
    y = model.run_raw(x)
    assert y.dtype == np.int8
    assert_same(y, reference_forward(low, x), name)
    # run() is float in, float out: the same int8 values dequantized
    m = model.meta
    assert np.array_equal(model.run(x), dequantize_s8(y, m["output_scale"], m["output_zero_point"]))
    # and near the float model inside the calibrated range (accuracy is tested below)
    ref = run_graph(low.quant.graph, x[:20])
    err = np.abs(model.run(x[:20]) - ref).max()
    assert err < 0.1 * np.abs(ref).max(), err


def test_every_layer_reports_sqnr_and_sizes(tmp_path):
    graph = load("lenet5")
    low = lower_graph(graph, dtype="int8", calib=random_calib(graph, n=64))
    # measured per layer before conv+pool fusion: the fused layers' pools are there too
    assert set(low.quant.sqnr) == {l.node for l in low.layers} | {
        l.attrs["pool_node"] for l in low.layers if l.op == "conv2d_maxpool"}
    assert all(v > 25 for v in low.quant.sqnr.values()), low.quant.sqnr
    from pyconvert.convert import report
    text = report(low)
    assert "SQNR dB" in text and "25% of float32's 245,880" in text


# ---- sizes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lenet5", "digits_cnn", "mlp784"])
def test_int8_weights_and_arena_are_a_quarter_of_float(name):
    graph = load(name)
    f32 = lower_graph(load(name))
    low = lower_graph(graph, dtype="int8", calib=random_calib(graph))
    sizes = const_bytes(low)
    assert sizes["weights"] * 4 == sizes["float_weights"] == sum(4 * l.weight.size for l in f32.layers
                                                                 if l.weight is not None)
    # every buffer is 4-byte aligned: at most 3 bytes of padding each
    slack = 3 * len(low.plan.buffers)
    assert low.plan.arena_size * 4 - slack <= f32.plan.arena_size <= low.plan.arena_size * 4
    assert low.plan.arena_size == low.plan.lower_bound
    if name == "lenet5":
        assert (f32.plan.arena_size, low.plan.arena_size) == (10_144, 2_536)   # convs fused with their pools


# ---- accuracy after post-training quantization -------------------------------------------------------

@pytest.mark.parametrize("name", ["digits_cnn", "lenet5"])
def test_int8_accuracy_within_half_a_point_of_float(name, tmp_path):
    t = trained(name)
    float_acc = accuracy(run_graph(t.graph, t.x_test), t.y_test)
    assert float_acc > 0.95, f"{name} trained to only {float_acc:.3f}"
    low, model = convert_int8(t.graph, tmp_path / name, name, calib=t.x_train)
    int8_acc = accuracy(model.run(t.x_test), t.y_test)
    assert abs(int8_acc - float_acc) <= 0.005, (name, float_acc, int8_acc)


def test_percentile_calibration_ignores_outliers():
    graph = optimize(load("digits_cnn"))
    x = np.random.default_rng(0).random((200, 1, 8, 8)).astype(np.float32)
    x[0, 0, 0, 0] = 50.0                              # one outlier pixel
    minmax = quantize_graph(graph, x, "minmax")
    robust = quantize_graph(graph, x, "percentile")
    assert minmax.input.scale > 40 / 255
    assert robust.input.scale < 1.1 / 255             # the rest is in [0, 1)
    with pytest.raises(GraphError, match="calibration method 'histogram' is unknown"):
        quantize_graph(graph, x, "histogram")


# ---- quantized ONNX: the file's own scales, against onnxruntime --------------------------------------

QUANTIZED_FILES = [("qdq", "int8", True), ("qdq", "uint8", True), ("qdq", "int8", False),
                   ("qoperator", "uint8", True)]


@pytest.mark.parametrize("fmt,activations,per_channel", QUANTIZED_FILES)
def test_quantized_onnx_within_one_lsb_of_onnxruntime(fmt, activations, per_channel, tmp_path):
    t = trained("digits_cnn")
    path = export_quantized(t.torch_model, t.x_train[:300], tmp_path / "q.onnx", fmt, activations,
                            per_channel)
    graph = load(str(path))
    w = next(graph.tensors[n.inputs[1]] for n in graph.nodes if n.op == "conv2d")
    assert w.quant is not None and w.quant.values.dtype == np.int8
    low, model = convert_int8(graph, tmp_path / "q", "q")          # no calibration needed
    assert low.quant.method == "file"
    ours = model.run_raw(t.x_test).astype(np.int64)
    theirs = onnxruntime_int8(path, t.x_test, low.quant.output.scale, low.quant.output.zero_point)
    diff = np.abs(ours - theirs)
    assert diff.max() <= 2 and np.mean(diff <= 1) >= 0.999, (diff.max(), np.mean(diff <= 1))
    assert_same(ours, reference_forward(low, t.x_test), "C vs reference")
    assert accuracy(ours, t.y_test) >= accuracy(run_graph(t.graph, t.x_test), t.y_test) - 0.01


def test_qlinear_matmul_within_one_lsb_of_onnxruntime(tmp_path):
    torch = pytest.importorskip("torch")

    class MatMuls(torch.nn.Module):       # exported as MatMul -> QLinearMatMul
        def __init__(self):
            super().__init__()
            gen = torch.Generator().manual_seed(0)
            self.w1 = torch.nn.Parameter(torch.randn(64, 32, generator=gen) * 0.2)
            self.w2 = torch.nn.Parameter(torch.randn(32, 10, generator=gen) * 0.2)

        def forward(self, x):
            return torch.relu(torch.flatten(x, 1) @ self.w1) @ self.w2

    t = trained("digits_cnn")
    path = export_quantized(MatMuls().eval(), t.x_train[:200], tmp_path / "mm.onnx", "qoperator",
                            "uint8")
    graph = load(str(path))
    low, model = convert_int8(graph, tmp_path / "mm", "mm")
    assert [l.op for l in low.layers] == ["linear", "linear"]
    ours = model.run_raw(t.x_test).astype(np.int64)
    theirs = onnxruntime_int8(path, t.x_test, low.quant.output.scale, low.quant.output.zero_point)
    assert np.mean(np.abs(ours - theirs) <= 1) >= 0.999


def test_asymmetric_weights_are_refused(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.full((2, 4), 3, np.int8), "w_q")
    inits = [w, numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(5, np.int8), "wz"),
             numpy_helper.from_array(np.array(0, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q"),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dq"),
             helper.make_node("DequantizeLinear", ["w_q", "s", "wz"], ["w"], name="dqw"),
             helper.make_node("Gemm", ["xd", "w"], ["y0"], name="fc", transB=1),
             helper.make_node("QuantizeLinear", ["y0", "s", "z"], ["yq"], name="q2"),
             helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["y"], name="dq2")]
    graph = helper.make_graph(nodes, "asym", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    from pyconvert.importers.onnx_quant import load_onnx_quantized
    g = load_onnx_quantized(model)
    assert g.tensors["x"].quant == QuantParams(np.float32(0.1), 0)
    with pytest.raises(GraphError, match=r"node 'fc' \(linear\): weight 'w' has a non-zero zero point"):
        lower_graph(g, dtype="int8")


def test_unsupported_quantized_op_names_the_node(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.uint8), "z")
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q"),
             helper.make_node("QLinearSigmoid", ["xq", "s", "z", "s", "z"], ["yq"], name="sig",
                              domain="com.microsoft"),
             helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["y"], name="dq")]
    graph = helper.make_graph(nodes, "qsig", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [s, z])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
    from pyconvert.importers.onnx_quant import load_onnx_quantized
    with pytest.raises(GraphError, match=r"node 'sig' \(QLinearSigmoid\): op type "
                                         r"'com.microsoft.QLinearSigmoid' is not supported"):
        load_onnx_quantized(model)


# ---- emitted files --------------------------------------------------------------------------------------

def test_int8_files_are_deterministic_and_described(tmp_path):
    graph = load("lenet5")
    calib = random_calib(graph)
    a = write_outputs(lower_graph(load("lenet5"), dtype="int8", calib=calib), tmp_path / "a", "lenet5")
    b = write_outputs(lower_graph(load("lenet5"), dtype="int8", calib=calib), tmp_path / "b", "lenet5")
    for f in ("lenet5.h", "lenet5.c", "model.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    header = (a / "lenet5.h").read_text()
    for macro in ("LENET5_INPUT_SCALE", "LENET5_INPUT_ZERO_POINT", "LENET5_OUTPUT_SCALE",
                  "LENET5_OUTPUT_ZERO_POINT", "LENET5_ARENA_SIZE 2536"):
        assert macro in header
    assert "const int8_t *input, int8_t *output" in header
    source = (a / "lenet5.c").read_text()
    assert "static const int8_t lenet5_conv1_weight[150]" in source
    assert ".dtype = MT_DTYPE_S8" in source and "static const float" not in source
    meta = json.loads((a / "model.json").read_text())
    assert meta["dtype"] == "int8" and meta["arena_size"] == 2536
    assert {"input_scale", "input_zero_point", "output_scale", "output_zero_point"} <= set(meta)


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_int8_c_compiles_without_warnings(compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    graph = ops_zoo()
    header, source = emit(lower_graph(graph, dtype="int8", calib=random_calib(graph)), "zoo")
    (tmp_path / "zoo.h").write_text(header)
    (tmp_path / "zoo.c").write_text(source)
    cmd = [compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c",
           f"-I{runtime_dir() / 'include'}", f"-I{tmp_path}", str(tmp_path / "zoo.c"),
           "-o", str(tmp_path / "zoo.o")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_run_raw_needs_an_int8_model(tmp_path):
    model = HostModel(write_outputs(lower_graph(load("logic_mlp")), tmp_path / "f", "logic_mlp"))
    with pytest.raises(ModelError, match="run_raw needs an int8 model"):
        model.run_raw(np.zeros((1, 2), np.float32))


# ---- errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("calib,message", [
    (np.zeros((4, 1, 8, 9), np.float32), r"shape \(4, 1, 8, 9\) does not match input 'input' "
                                         r"\(1, 1, 8, 8\); expected \(N, 1, 8, 8\)"),
    (np.zeros((4, 8, 8), np.float32), r"shape \(4, 8, 8\) does not match"),
    (np.zeros((0, 1, 8, 8), np.float32), r"no samples"),
    (np.zeros((4, 1, 8, 8), np.int64), r"dtype int64, expected float32"),
    (np.full((4, 1, 8, 8), np.nan, np.float32), r"256 NaN/Inf values \(first in sample 0\)"),
    (np.where(np.arange(256).reshape(4, 1, 8, 8) == 200, np.inf, 0).astype(np.float32),
     r"1 NaN/Inf values \(first in sample 3\)"),
    (None, r"calibration data: none given, and tensor 'input' has no quantization parameters"),
])
def test_bad_calibration_data_is_one_line_error(calib, message):
    with pytest.raises(GraphError, match=message) as err:
        lower_graph(load("digits_cnn"), dtype="int8", calib=calib)
    assert "\n" not in str(err.value)


def test_zero_range_tensor_gets_a_documented_scale(tmp_path):
    # fc1's weights and bias are zero: its ReLU output is 0 on every sample
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model[0].weight.data[...] = 0.0
    model[0].bias.data[...] = 0.0
    graph = trace(model, (1, 4), "dead")
    calib = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    with np.errstate(all="raise"):                    # no division by zero anywhere
        low = lower_graph(graph, dtype="int8", calib=calib)
    dead = low.quant.tensors[low.layers[0].out]
    assert (dead.scale, dead.zero_point) == (np.float32(1 / 255), -128)
    assert any("is 0 on every calibration sample (zero range)" in n for n in low.quant.notes)
    model_c = HostModel(write_outputs(low, tmp_path / "dead", "dead"))
    y = model_c.run(calib)
    with nn.no_grad():
        ref = model(nn.tensor(calib)).data
    np.testing.assert_allclose(y, ref, atol=2 * low.quant.output.scale)
    # an all-zero calibration input is the same case, at the model input
    low = lower_graph(trace(model, (1, 4), "dead"), dtype="int8", calib=np.zeros((3, 4), np.float32))
    assert low.quant.input.scale == np.float32(1 / 255)


def test_bias_that_overflows_int32_names_the_node():
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 2))
    model[0].bias.data[...] = 1e6
    graph = trace(model, (1, 4), "big_bias")
    calib = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32) * 1e-7
    with pytest.raises(GraphError, match=r"node '0' \(linear\): bias '0.bias'\[\d\] = 1e\+06 does not "
                                         r"fit int32"):
        lower_graph(graph, dtype="int8", calib=calib)


def test_log_softmax_has_no_int8_kernel():
    model = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1))
    graph = trace(model, (1, 4), "logsm")
    with pytest.raises(GraphError, match=r"node '1' \(log_softmax\): log_softmax has no int8 kernel"):
        lower_graph(graph, dtype="int8", calib=np.zeros((2, 4), np.float32))


def test_avg_pool_counting_padding_needs_zero_point_0():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(3, 1, padding=1))
    graph = optimize(trace(model, (1, 1, 6, 6), "avg"))
    calib = np.random.default_rng(0).random((8, 1, 6, 6)).astype(np.float32)
    qm = quantize_graph(graph, calib)                 # PTQ: the pool's input goes symmetric
    conv_out = graph.nodes[0].outputs[0]
    assert qm.tensors[conv_out].zero_point == 0
    assert any("quantized symmetric (zero point 0)" in n for n in qm.notes)
    graph.tensors[conv_out].quant = QuantParams(0.01, -128)     # as a quantized file could fix it
    with pytest.raises(GraphError, match=r"avg_pool2d\): average pooling that counts padding is "
                                         r"exact in int8 only with zero point 0"):
        quantize_graph(graph, calib)


def test_float_conversion_refuses_calibration_and_unknown_dtypes():
    with pytest.raises(GraphError, match="only used for --dtype int8"):
        lower_graph(load("digits_cnn"), calib=np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(GraphError, match="dtype 'int4' is not supported"):
        lower_graph(load("digits_cnn"), dtype="int4")


def test_calibration_files(tmp_path):
    from pyconvert.convert import load_calibration
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "named.npz", x=x, y=np.arange(5))
    np.savez(tmp_path / "single.npz", images=x)
    np.save(tmp_path / "plain.npy", x)
    for f in ("named.npz", "single.npz", "plain.npy"):
        assert np.array_equal(load_calibration(tmp_path / f), x)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(GraphError, match="expected an array named 'x' .* found a, b"):
        load_calibration(tmp_path / "two.npz")
    with pytest.raises(GraphError, match="cannot read calibration data"):
        load_calibration(tmp_path / "missing.npz")


# ---- the CLI: convert --dtype int8 --calib, run --raw ------------------------------------------

def test_cli_int8_convert_and_run(tmp_path, capsys):
    from pyconvert.cli import main
    from pyconvert.host.model_runner import HostModel
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.random((16, 1, 8, 8), dtype=np.float32))
    out = tmp_path / "dc8"
    assert main(["convert", "digits_cnn", "-o", str(out), "--dtype", "int8", "--calib",
                 str(tmp_path / "calib.npz"), "--calib-method", "percentile"]) == 0
    assert "SQNR" in capsys.readouterr().out
    x = rng.random((3, 1, 8, 8), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", str(tmp_path / "x.npy"), "--raw",
                 "--output", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), HostModel(out).run_raw(x))


@pytest.mark.parametrize("extra,message", [
    (["--dtype", "int8", "--calib", "{tmp}/bad.npz"], "calib"),
    (["--dtype", "int8", "--train", "--optimizer", "adam"], "SGD only"),
    (["--calib", "{tmp}/bad.npz"], "--calib is for --dtype int8"),
])
def test_cli_int8_errors_are_one_line(tmp_path, capsys, extra, message):
    from pyconvert.cli import main
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 3, 8, 8), np.float32))
    code = main(["convert", "digits_cnn", "-o", str(tmp_path / "o")] +
                [a.replace("{tmp}", str(tmp_path)) for a in extra])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()
