"""The fast float training paths, end to end and against their reference twins.

- tests/c/test_backward_fast.c (built and run here) compares every fast backward
  kernel and the SGD step with its reference loop over a grid of shapes.
- Plain SGD (no momentum, no weight decay) takes the engine's short way
  (runtime_c/src/engine/train_f32.c): blocks with an all-zero dy are skipped and the
  update runs in one pass that can be taken back. test_train.py covers SGD with
  momentum and Adam; here plain SGD is checked against torch.optim.SGD, including a
  step whose update overflows (the block is put back and redone exactly).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_train import assert_params_match, converted, train_both
from torch_twins import torch_twin

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent


def test_c_fast_paths_match_their_reference_twins(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler")
    sources = sorted(str(p) for p in (ROOT / "runtime_c" / "src").rglob("*.c"))
    exe = tmp_path / "test_backward_fast"
    build = subprocess.run(
        [cc, "-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter",
         "-I", str(ROOT / "runtime_c" / "include"), "-I", str(ROOT / "runtime_c" / "src" / "support"),
         "-I", str(ROOT / "tests" / "c"), *sources, str(ROOT / "tests" / "c" / "test_backward_fast.c"),
         "-lm", "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 failed" in run.stdout


PLAIN_SGD = dict(lr=0.05, momentum=0.0)


@pytest.mark.parametrize("trainable", ["all", "last:1", "bias"])
def test_digits_cnn_plain_sgd_matches_torch(tmp_path, trainable):
    """Padding 1, batch 4: the fast conv paths with clipped windows and batches."""
    host, _ = converted(tmp_path, "digits_cnn", loss="ce", optimizer="sgd", batch=4,
                        trainable=trainable, **PLAIN_SGD)
    model = torch_twin("digits_cnn")
    names = train_both(host, model, 20, 4, (1, 8, 8), "sgd", PLAIN_SGD)
    assert_params_match(host, model, names)


def test_lenet5_plain_sgd_matches_torch(tmp_path):
    """The benchmark configuration: batch 1, every layer trains, momentum 0."""
    host, _ = converted(tmp_path, "lenet5", loss="ce", optimizer="sgd", batch=1, **PLAIN_SGD)
    model = torch_twin("lenet5")
    names = train_both(host, model, 20, 1, (1, 32, 32), "sgd", PLAIN_SGD)
    assert len(names) == 10
    assert_params_match(host, model, names)


def test_plain_sgd_update_that_overflows_is_applied_exactly(tmp_path):
    """Finite gradients and parameters whose update overflows: mt_sgd_step_f32 writes
    the Inf (as torch does), so the one-pass update, which sees a non-finite result,
    must put the block back and redo it exactly."""
    lr = 1e37
    host, _ = converted(tmp_path, "digits_cnn", loss="ce", optimizer="sgd", batch=2,
                        trainable="all", lr=lr, momentum=0.0)
    model = torch_twin("digits_cnn")
    before = host.params()
    rng = np.random.default_rng(3)
    x = (rng.random((2, 1, 8, 8)) * 400).astype(np.float32)
    y = np.array([1, 8])
    host.train_step(x, y)
    ref = torch.nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
    ref.backward()
    after = host.params()
    overflowed = 0
    for name, p in model.named_parameters():
        g = p.grad.numpy().astype(np.float64)
        step = before[name].astype(np.float64) - lr * g
        clear = (np.abs(step) > 4e38) | (np.abs(step) < 3e38)     # not at the overflow edge
        big = clear & (np.abs(step) > 4e38)
        overflowed += int(big.sum())
        assert np.all(np.isinf(after[name][big])), name
        assert np.all(np.sign(after[name][big]) == np.sign(step[big])), name
        fine = clear & ~big
        np.testing.assert_allclose(after[name][fine], step[fine], rtol=1e-3, atol=lr * 1e-6)
    assert overflowed > 0      # the test does reach the overflow


def test_nonfinite_parameter_is_refused_by_the_fallback(tmp_path):
    """fc1.bias[0] = -Inf: ReLU turns the unit into a clean 0, so the loss is finite and
    the gradients are too, but the one-pass update of fc1's first block gives a
    non-finite value; the block is put back and mt_sgd_step_f32 refuses it, as the
    reference does: MT_ERR_NONFINITE, fc1 untouched (fc3 and fc2 came first and were
    applied)."""
    from pyconvert.host.model_runner import ModelError
    host, _ = converted(tmp_path, "logic_mlp", loss="mse", optimizer="sgd", lr=0.1, batch=4,
                        momentum=0.0)
    bias = host.params()["fc1.bias"].copy()
    bias[0] = -np.inf
    host.load_params({"fc1.bias": bias})
    before = host.params()
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    with pytest.raises(ModelError, match="non-finite") as err:
        host.train_step(x, np.ones((4, 1), np.float32))
    assert err.value.status == -7
    after = host.params()
    for name in ("fc1.weight", "fc1.bias"):
        np.testing.assert_array_equal(after[name], before[name])
    assert not np.array_equal(after["fc3.weight"], before["fc3.weight"])


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385"])
def test_lenet5_plain_sgd_on_the_board_is_bit_identical_to_the_host(tmp_path, board):
    """The board's fast paths (VMLA row additions on the M4F, soft float on the M3)
    give the host's parameters bit for bit after a few plain SGD steps."""
    from pyconvert.boards.runner import BoardModel
    from pyconvert.host.model_runner import HostModel
    from pyconvert.convert import plan_for_training, write_outputs
    from pyconvert.train_plan import TrainConfig
    tp = plan_for_training("lenet5", TrainConfig(loss="ce", optimizer="sgd", lr=0.05,
                                                 momentum=0.0, batch=1))
    out = write_outputs(tp.infer, tmp_path / "l5", "lenet5", train=tp)
    rng = np.random.default_rng(5)
    x = rng.random((4, 1, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 4)
    _, params = BoardModel(out, board).train(x, y, 1)
    host = HostModel(out)
    for i in range(4):
        host.train_step(x[i:i + 1], y[i:i + 1])
    for name, value in host.params().items():
        np.testing.assert_array_equal(params[name], value, err_msg=name)
