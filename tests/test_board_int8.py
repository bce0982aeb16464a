"""int8 models on the emulated boards: bit-identical to the host build."""

import numpy as np
import pytest

from pyconvert.boards.runner import BoardModel, bench
from pyconvert.cli import main
from pyconvert.convert import load, lower_graph, write_outputs
from pyconvert.host.model_runner import HostModel

from test_boards import _missing_tools


@pytest.fixture(scope="module", autouse=True)
def tools():
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)} (bash .ci/setup installs them)")


@pytest.fixture(scope="module")
def int8_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("int8")
    out = {}
    for name, shape in (("lenet5", (1, 32, 32)), ("digits_cnn", (1, 8, 8))):
        calib = np.random.default_rng(0).random((32,) + shape, dtype=np.float32)
        out[name] = write_outputs(lower_graph(load(name), dtype="int8", calib=calib), root / name, name)
    return out


@pytest.mark.parametrize("name,board", [
    ("lenet5", "mps2-an386"), ("lenet5", "mps2-an385"), ("lenet5", "mps2-an500"),
    ("lenet5", "mps2-an505"), ("lenet5", "netduinoplus2"), ("digits_cnn", "microbit"),
])
def test_int8_outputs_are_bit_identical_to_the_host(int8_models, name, board):
    out = int8_models[name]
    shape = HostModel(out).input_shape
    x = np.random.default_rng(1).random((5,) + shape[1:], dtype=np.float32)
    host, dev = HostModel(out), BoardModel(out, board)
    np.testing.assert_array_equal(dev.run_raw(x), host.run_raw(x))
    np.testing.assert_array_equal(dev.run(x), host.run(x))


def test_int8_bench_and_cli_run_raw(int8_models, tmp_path, capsys):
    out = int8_models["lenet5"]
    first, second = bench(out, "mps2-an386"), bench(out, "mps2-an386")
    assert first["instructions"] == second["instructions"] > 0
    assert first["arena_bytes"] == 2536          # a quarter of the float arena (fused: 10,144)
    x = np.random.default_rng(2).random((2, 1, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", str(tmp_path / "x.npy"), "--raw", "--board", "mps2-an386",
                 "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, HostModel(out).run_raw(x))
