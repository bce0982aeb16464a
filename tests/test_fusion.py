"""Conv + max-pool fusion (lower.fuse_conv_maxpool, runtime_c/src/engine/conv_pool.c).

The fused layer computes the conv a band of pool rows at a time; its outputs must be
bit-identical to the two layers run apart, and its arena smaller. Geometries that
the band scheme cannot tile (overlapping or ceil-mode pools, a pool that is not the
conv's only reader) must stay unfused.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvert.nn as nn
from pyconvert.cli import main
from pyconvert.convert import load, lower_graph, write_outputs
from pyconvert.host.model_runner import HostModel
from pyconvert.importers.model_file import trace
from pyconvert.quant.int_model import quantize_input, run_reference


def _both(graph_fn, tmp_path, dtype="float32", calib=None, n=4):
    """(fused outputs, unfused outputs, fused Lowered, unfused Lowered)."""
    rng = np.random.default_rng(7)
    results = []
    for fuse in (True, False):
        graph = graph_fn()
        shape = graph.tensors[graph.inputs[0]].shape
        x = rng.standard_normal((n,) + tuple(shape[1:])).astype(np.float32) if not results else x
        low = lower_graph(graph, dtype=dtype, calib=calib, fuse=fuse)
        model = HostModel(write_outputs(low, tmp_path / f"m_{dtype}_{fuse}", "m"))
        results.append((model.run_raw(x) if dtype == "int8" else model.run(x), low, x))
    (y_fused, low_fused, x), (y_plain, low_plain, _) = results
    return y_fused, y_plain, low_fused, low_plain, x


@pytest.mark.parametrize("model", ["lenet5", "lenet3x3", "digits_cnn"])
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_seed_models_fuse_bit_identically_in_less_arena(model, dtype, tmp_path):
    shape = load(model).tensors[load(model).inputs[0]].shape
    calib = (np.random.default_rng(0).random((16,) + tuple(shape[1:]), dtype=np.float32)
             if dtype == "int8" else None)
    y_fused, y_plain, fused, plain, x = _both(lambda: load(model), tmp_path, dtype, calib)
    np.testing.assert_array_equal(y_fused, y_plain)
    assert [l.op for l in fused.layers][:2] == ["conv2d_maxpool", "conv2d_maxpool"]
    assert "conv2d_maxpool" not in [l.op for l in plain.layers]
    assert fused.plan.arena_size < plain.plan.arena_size
    assert fused.plan.arena_size == fused.plan.lower_bound
    if dtype == "int8":                     # the Python integer reference runs it too
        np.testing.assert_array_equal(run_reference(fused, quantize_input(fused, x)),
                                      run_reference(plain, quantize_input(plain, x)))


def _net(conv: dict, pool: dict, in_shape=(2, 3, 13, 11), relu=True):
    def build():
        nn.manual_seed(3)
        layers = [nn.Conv2d(in_shape[1], 5, **conv)] + ([nn.ReLU()] if relu else []) + \
                 [nn.MaxPool2d(**pool), nn.Flatten()]
        body = nn.Sequential(*layers)
        flat = body(nn.tensor(np.zeros(in_shape, np.float32))).shape[1]
        return trace(nn.Sequential(*layers, nn.Linear(flat, 4)), in_shape, "net")
    return build


@pytest.mark.parametrize("conv, pool", [
    ({"kernel_size": 3}, {"kernel_size": 2}),
    ({"kernel_size": 3, "padding": 1}, {"kernel_size": 2}),                  # padded bands
    ({"kernel_size": 3, "padding": 2, "stride": 2}, {"kernel_size": 2}),
    ({"kernel_size": (5, 3), "padding": (2, 1), "dilation": 2}, {"kernel_size": 2}),
    ({"kernel_size": 3}, {"kernel_size": 3}),                                 # rows left over
    ({"kernel_size": 3}, {"kernel_size": 2, "stride": 3}),                    # gaps between bands
    ({"kernel_size": 3}, {"kernel_size": (2, 3), "stride": (2, 1), "padding": (0, 1)}),
])
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_fused_geometries_match_unfused(conv, pool, dtype, tmp_path):
    calib = np.random.default_rng(1).standard_normal((8, 3, 13, 11)).astype(np.float32)
    y_fused, y_plain, fused, _, _ = _both(_net(conv, pool), tmp_path, dtype,
                                          calib if dtype == "int8" else None)
    assert fused.layers[0].op == "conv2d_maxpool"
    np.testing.assert_array_equal(y_fused, y_plain)


@pytest.mark.parametrize("pool", [
    {"kernel_size": 3, "stride": 2},                 # windows overlap: rows would be computed twice
    {"kernel_size": 2, "ceil_mode": True},           # a partial last window (13 - 2 rows = odd)
    {"kernel_size": 2, "padding": 1},                # vertical pool padding
])
def test_untileable_pools_stay_unfused(pool, tmp_path):
    y_fused, y_plain, fused, _, _ = _both(_net({"kernel_size": 2}, pool, in_shape=(1, 3, 14, 11)),
                                          tmp_path)
    assert [l.op for l in fused.layers][:2] == ["conv2d", "max_pool2d"]
    np.testing.assert_array_equal(y_fused, y_plain)


def test_cli_no_fuse_keeps_two_layers(tmp_path, capsys):
    assert main(["convert", "lenet5", "-o", str(tmp_path / "a")]) == 0
    assert main(["convert", "lenet5", "-o", str(tmp_path / "b"), "--no-fuse"]) == 0
    fused = (tmp_path / "a" / "lenet5.c").read_text()
    plain = (tmp_path / "b" / "lenet5.c").read_text()
    assert fused.count("MT_OP_CONV2D_MAXPOOL") == 2 and "MT_OP_MAXPOOL2D" not in fused
    assert "MT_OP_CONV2D_MAXPOOL" not in plain and plain.count("MT_OP_MAXPOOL2D") == 2
