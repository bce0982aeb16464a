"""Whole networks trained through the C kernels (SequentialExecutor) against the
numpy reference trained the same way: same initial weights, same batches."""

from __future__ import annotations

import numpy as np
import pytest

import pyconvert.nn as nn
import pyconvert.optim as optim
from pyconvert.demos import GATES, logic_gates
from pyconvert.host.executor import SequentialExecutor

from kernel_cases import assert_close


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.Tanh(), nn.AvgPool2d(2, ceil_mode=True),
        nn.Flatten(), nn.Linear(6 * 1 * 1, 8), nn.LeakyReLU(0.1), nn.Linear(8, 5))


def twin_models(build):
    nn.manual_seed(3)
    a = build()
    nn.manual_seed(3)
    return a, build()


@pytest.mark.parametrize("optimizer,hyper", [
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("adam", dict(lr=0.01, weight_decay=1e-3)),
])
def test_cnn_training_matches_reference(optimizer, hyper):
    c_model, ref_model = twin_models(small_cnn)
    executor = SequentialExecutor(c_model, loss="ce", optimizer=optimizer, **hyper)
    ref_opt = (optim.SGD if optimizer == "sgd" else optim.Adam)(ref_model.parameters(), **hyper)
    rng = np.random.default_rng(0)
    for _ in range(10):
        x = rng.standard_normal((4, 1, 7, 7)).astype(np.float32)
        labels = rng.integers(0, 5, 4)
        loss = executor.train_step(x, labels)
        ref_opt.zero_grad()
        ref_loss = nn.CrossEntropyLoss()(ref_model(nn.tensor(x)), nn.tensor(labels))
        ref_loss.backward()
        ref_opt.step()
        assert abs(loss - ref_loss.item()) <= 1e-5 * max(1.0, abs(ref_loss.item()))
    for (name, p), q in zip(c_model.named_parameters(), ref_model.parameters()):
        assert_close(p.data, q.data, rtol=1e-4, what=name)


def test_flatten_of_an_image_trains_like_pytorch_layout():
    # The Linear after Flatten runs on permuted columns; its gradient must come back in
    # PyTorch's (C, H, W) order, or training would diverge from the reference.
    build = lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 2 * 3, 2))  # noqa: E731
    c_model, ref_model = twin_models(build)
    executor = SequentialExecutor(c_model, loss="mse", optimizer="sgd", lr=0.1)
    ref_opt = optim.SGD(ref_model.parameters(), lr=0.1)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.standard_normal((2, 2, 4, 5)).astype(np.float32)
        t = rng.standard_normal((2, 2)).astype(np.float32)
        executor.train_step(x, t)
        ref_opt.zero_grad()
        nn.MSELoss()(ref_model(nn.tensor(x)), nn.tensor(t)).backward()
        ref_opt.step()
    for (name, p), q in zip(c_model.named_parameters(), ref_model.parameters()):
        assert_close(p.data, q.data, rtol=1e-5, what=name)


def test_logic_gate_demo_learns_or_and_and():
    results = logic_gates(out=lambda *_: None)
    for gate, (pred, diff) in results.items():
        assert ((pred > 0.5) == (GATES[gate] > 0.5)).all(), gate
        assert diff < 1e-4, gate


def test_executor_rejects_unsupported_layers():
    with pytest.raises(ValueError, match="layer 0 .*BatchNorm2d.* not supported"):
        SequentialExecutor(nn.Sequential(nn.BatchNorm2d(3)))
