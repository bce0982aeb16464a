"""The converter end to end: model files -> C -> compiled on the host -> same numbers.

Also: determinism (byte-identical output, a golden file), warning-free C on gcc and
clang, the memory planner, and the CLI with its error paths.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pyconvert.nn as nn
from pyconvert.cli import main
from pyconvert.convert import load, lower_graph, write_outputs
from pyconvert.emit_c import emit
from pyconvert.host.build import runtime_dir
from pyconvert.host.model_runner import HostModel, ModelError
from pyconvert.importers.model_file import load_module, trace
from pyconvert.ir import GraphError
from pyconvert.planner import Buffer, lower_bound, plan_arena

from kernel_cases import assert_close

GOLDEN = Path(__file__).parent / "golden"
SEED_MODELS = ["lenet5", "lenet3x3", "mlp784", "logic_mlp", "digits_cnn"]


def reference_model(name):
    module = load_module(name)
    nn.manual_seed(0)          # the same seed the importer uses
    model = module.build_model()
    model.eval()
    return module, model


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Every seed model converted once: name -> (outdir, lowered model)."""
    root = tmp_path_factory.mktemp("converted")
    out = {}
    for name in SEED_MODELS:
        low = lower_graph(load(name))
        out[name] = (write_outputs(low, root / name, name), low)
    return out


@pytest.mark.parametrize("name", SEED_MODELS)
def test_seed_model_runs_on_host_like_the_reference(converted, name):
    outdir, _ = converted[name]
    module, model = reference_model(name)
    shape = module.INPUT_SHAPE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3 * shape[0],) + tuple(shape[1:])).astype(np.float32)
    y = HostModel(outdir).run(x)
    with nn.no_grad():
        ref = model(nn.tensor(x)).data
    assert y.shape == ref.shape
    assert_close(y, ref, what=name)


def test_lenet5_report_figures(converted):
    _, low = converted["lenet5"]
    assert sum(l.macs for l in low.layers) == 416_520          # the figure the issues quote
    assert sum(l.params for l in low.layers) == 61_706
    # ReLUs fused into the convs and linears, each conv and its pool into one layer
    assert [l.op for l in low.layers] == ["conv2d_maxpool", "conv2d_maxpool",
                                          "linear", "linear", "linear"]
    assert low.plan.arena_size == low.plan.lower_bound == 10_144   # 23,520 unfused


def test_lenet3x3_converts_for_30x30_and_32x32():
    for side in (30, 32):
        graph = load("lenet3x3", input_shape=(1, 1, side, side))
        low = lower_graph(graph)
        assert low.tensors[low.output].shape == (1, 10)
        fc1 = next(l for l in low.layers if l.op == "linear")
        assert fc1.weight.shape == (120, 576)


def test_flatten_after_conv_permutes_linear_columns(tmp_path):
    # A conv whose output flattens into a Linear: NHWC memory must still give PyTorch's result.
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Flatten(), nn.Linear(3 * 4 * 5, 4))
    low = lower_graph(trace(model, (1, 2, 4, 5), "perm"))
    outdir = write_outputs(low, tmp_path / "perm", "perm")
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 5)).astype(np.float32)
    with nn.no_grad():
        ref = model(nn.tensor(x)).data
    assert_close(HostModel(outdir).run(x), ref, what="conv-flatten-linear")


def test_in_place_activation_shares_the_buffer(tmp_path):
    # Sigmoid cannot be fused into the Linear, but it can overwrite the Linear's output.
    model = nn.Sequential(nn.Linear(8, 16), nn.Sigmoid(), nn.Linear(16, 4), nn.Tanh())
    low = lower_graph(trace(model, (1, 8), "inplace"))
    sig = next(l for l in low.layers if l.op == "sigmoid")
    assert low.tensors[sig.inp].buffer == low.tensors[sig.out].buffer
    x = np.random.default_rng(2).standard_normal((5, 8)).astype(np.float32)
    with nn.no_grad():
        ref = model(nn.tensor(x)).data
    assert_close(HostModel(write_outputs(low, tmp_path / "ip", "inplace")).run(x), ref)


# ---- determinism and the emitted C ---------------------------------------------------------

def test_conversion_is_byte_identical(tmp_path):
    a = write_outputs(lower_graph(load("lenet5")), tmp_path / "a", "lenet5")
    b = write_outputs(lower_graph(load("lenet5")), tmp_path / "b", "lenet5")
    for f in ("lenet5.h", "lenet5.c", "model.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_golden_file():
    """The logic MLP's generated C, character for character. Regenerate after an
    intended change with:  python tests/regen_golden.py"""
    header, source = emit(lower_graph(load("logic_mlp")), "logic_mlp",
                          command="pyconvert convert logic_mlp -o out", source="logic_mlp")
    assert header == (GOLDEN / "logic_mlp.h").read_text()
    assert source == (GOLDEN / "logic_mlp.c").read_text()


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_generated_c_compiles_without_warnings(converted, compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    outdir, _ = converted["lenet5"]
    include = runtime_dir() / "include"
    cmd = [compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c",
           f"-I{include}", f"-I{outdir}", str(outdir / "lenet5.c"), "-o", str(tmp_path / "m.o")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_floats_round_trip_exactly():
    from pyconvert.emit_c import c_float
    for v in np.random.default_rng(3).standard_normal(1000).astype(np.float32):
        assert np.float32(float(c_float(v).rstrip("f"))) == v


# ---- the memory planner -------------------------------------------------------------------

def test_planner_never_overlaps_live_buffers():
    rng = np.random.default_rng(4)
    for _ in range(200):
        bufs = []
        for i in range(rng.integers(1, 12)):
            first = int(rng.integers(-1, 10))
            bufs.append(Buffer(f"b{i}", int(rng.integers(1, 50)) * 4, first,
                               first + int(rng.integers(0, 5))))
        plan = plan_arena(bufs)
        for a in bufs:
            for b in bufs:
                if a is not b and a.overlaps_in_time(b):
                    assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset
        assert plan.lower_bound <= plan.arena_size
        assert plan.lower_bound == lower_bound(bufs)


def test_planner_reaches_the_bound_on_a_chain():
    # x0 -> x1 -> x2 -> x3: only neighbours live together, so two buffers suffice.
    bufs = [Buffer("x0", 400, -1, 0), Buffer("x1", 100, 0, 1), Buffer("x2", 300, 1, 2),
            Buffer("x3", 40, 2, 3)]
    plan = plan_arena(bufs)
    assert plan.arena_size == plan.lower_bound == 500


# ---- the CLI --------------------------------------------------------------------------------

def test_cli_convert_run_info(tmp_path, capsys):
    out = tmp_path / "lenet"
    assert main(["convert", "lenet5", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "arena: 10,144 bytes" in text and "MACs: 416,520" in text
    x = np.random.default_rng(5).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    _, model = reference_model("lenet5")
    with nn.no_grad():
        assert_close(y, model(nn.tensor(x)).data)
    assert main(["info", "mlp784"]) == 0
    assert "params: 669,706" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["convert", "no_such_model", "-o", "{tmp}/o"], "not a .py or .onnx file, nor a bundled model"),
    (["convert", "{tmp}/missing.onnx", "-o", "{tmp}/o"], "no such file"),
    (["convert", "{tmp}/raises.py", "-o", "{tmp}/o"], "the model file raised ZeroDivisionError"),
    (["convert", "lenet5", "-o", "{tmp}/o", "--input-shape", "1,3,32,32"], "rejects input"),
    (["convert", "lenet5", "-o", "{tmp}/o", "--name", "3bad"], "not a C identifier"),
    (["run", "{tmp}/nothing", "--input", "{tmp}/x.npy"], "not a converted model directory"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, args, message):
    (tmp_path / "raises.py").write_text("x = 1 / 0\n")
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 32, 32), np.float32))
    code = main([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()          # nothing half-written


def test_run_rejects_a_mismatched_sample_shape(converted):
    outdir, _ = converted["lenet5"]
    with pytest.raises(ModelError, match=r"input shape \(2, 1, 28, 28\)"):
        HostModel(outdir).run(np.zeros((2, 1, 28, 28), np.float32))


def test_unsupported_traced_op_names_the_op():
    class Odd(nn.Module):
        def forward(self, x):
            return x * 2.0
    with pytest.raises(GraphError, match="op 'mul'"):
        trace(Odd(), (1, 4), "odd")
