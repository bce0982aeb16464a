"""The seed models' ONNX twins (exported from PyTorch) through the whole converter:
.onnx -> C -> compiled on the host, against onnxruntime and against the same model
converted from its model file."""

import numpy as np
import pytest

from pyconvert.convert import load, lower_graph, write_outputs
from pyconvert.host.model_runner import HostModel
from pyconvert.importers.model_file import load_module

from kernel_cases import assert_close
from torch_twins import export_onnx, onnxruntime_run

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

SEEDS = ["lenet5", "lenet3x3", "mlp784", "logic_mlp", "digits_cnn"]


def _input(name, n=3, seed=0):
    shape = load_module(name).INPUT_SHAPE
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n * shape[0],) + tuple(shape[1:])).astype(np.float32)


@pytest.mark.parametrize("name", SEEDS)
def test_onnx_twin_agrees_with_onnxruntime_and_the_model_file(tmp_path, name):
    onnx_path = tmp_path / f"{name}.onnx"
    export_onnx(name, onnx_path)
    from_onnx = HostModel(write_outputs(lower_graph(load(str(onnx_path))), tmp_path / "a", name))
    from_file = HostModel(write_outputs(lower_graph(load(name)), tmp_path / "b", name))
    x = _input(name)
    y = from_onnx.run(x)
    assert_close(y, onnxruntime_run(onnx_path, x), what=f"{name} vs onnxruntime")
    assert_close(y, from_file.run(x), what=f"{name} onnx vs model file")


def test_dynamo_export_converts_too(tmp_path):
    pytest.importorskip("onnxscript")
    onnx_path = tmp_path / "lenet5.onnx"
    export_onnx("lenet5", onnx_path, dynamo=True)
    model = HostModel(write_outputs(lower_graph(load(str(onnx_path))), tmp_path / "d", "lenet5"))
    x = _input("lenet5")
    assert_close(model.run(x), onnxruntime_run(onnx_path, x), what="dynamo lenet5")
