"""Training through the generated schedule (float32), on the host.

The converted model trains with mt_train_step: forward, loss, backward in reverse
schedule order, the optimizer fused into backward. Checked against torch.optim from
the same initial weights on the same batches, for every --trainable mode.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvert.nn as nn
from pyconvert.convert import plan_for_training, write_outputs
from pyconvert.host.model_runner import HostModel, ModelError
from pyconvert.train_plan import TrainConfig

from pyconvert.importers.model_file import load_module
from torch_twins import torch_twin

torch = pytest.importorskip("torch")


def converted(tmp_path, name, **cfg):
    config = TrainConfig(**cfg)
    tp = plan_for_training(name, config)
    return HostModel(write_outputs(tp.infer, tmp_path / name, name, train=tp)), tp


def train_both(host, model, steps, batch, sample_shape, optimizer, hyper, seed=0):
    trainable = {p["name"] for p in host.train_meta["params"]}
    for n, p in model.named_parameters():
        p.requires_grad_(n in trainable)
    opt_cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls([p for p in model.parameters() if p.requires_grad], **hyper)
    rng = np.random.default_rng(seed)
    noise = {n: np.zeros(p.shape, bool) for n, p in model.named_parameters()}
    for _ in range(steps):
        x = rng.random((batch,) + sample_shape).astype(np.float32)
        y = rng.integers(0, 10, batch)
        loss = host.train_step(x, y)
        opt.zero_grad()
        ref = torch.nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
        ref.backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                g = np.abs(p.grad.numpy())
                noise[n] |= (g > 0) & (g < 1e-5 * g.max())
        opt.step()
        assert abs(loss - ref.item()) <= 1e-4 * max(1.0, abs(ref.item()))
    train_both.noise = noise
    return trainable


def assert_params_match(host, model, trainable, rtol=1e-4, lr=0.05, steps=20):
    """Within rtol, except parameters whose gradient ever sat at float32's noise floor
    (|g| < 1e-5 max|g| of its tensor): there the gradient is rounding noise, which Adam
    divides by its own root mean square and turns into a full-size step, so any two
    float32 implementations differ. At most 0.5 % of a tensor may be such, each off by
    at most lr * steps (the largest move Adam can make)."""
    ours = host.params()
    for name, p in model.named_parameters():
        if name not in trainable:
            continue
        t = p.detach().numpy()
        off = np.abs(ours[name] - t) > rtol * (np.abs(t) + np.abs(t).max())
        unexplained = off & ~train_both.noise[name]
        assert not unexplained.any(), f"{name}: {int(unexplained.sum())} values differ beyond {rtol}"
        assert off.mean() <= 0.005, f"{name}: {int(off.sum())} noise-floor values differ"
        assert np.all(np.abs(ours[name] - t)[off] <= lr * steps), name


OPTIMIZERS = [("sgd", dict(lr=0.05, momentum=0.9)), ("adam", dict(lr=0.01))]


@pytest.mark.parametrize("optimizer,hyper", OPTIMIZERS, ids=["sgd-momentum", "adam"])
@pytest.mark.parametrize("trainable", ["all", "last:1", "bias"])
def test_digits_cnn_20_steps_match_torch(tmp_path, optimizer, hyper, trainable):
    host, _ = converted(tmp_path, "digits_cnn", loss="ce", optimizer=optimizer, batch=4,
                        trainable=trainable, **hyper)
    model = torch_twin("digits_cnn")
    before = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    names = train_both(host, model, 20, 4, (1, 8, 8), optimizer, hyper)
    assert_params_match(host, model, names)
    for n, p in model.named_parameters():      # frozen stays frozen (and in flash)
        if n not in names:
            np.testing.assert_array_equal(p.detach().numpy(), before[n])


@pytest.mark.parametrize("optimizer,hyper", OPTIMIZERS, ids=["sgd-momentum", "adam"])
def test_lenet5_20_steps_match_torch(tmp_path, optimizer, hyper):
    host, tp = converted(tmp_path, "lenet5", loss="ce", optimizer=optimizer, batch=1, **hyper)
    model = torch_twin("lenet5")
    names = train_both(host, model, 20, 1, (1, 32, 32), optimizer, hyper)
    assert len(names) == 10
    assert_params_match(host, model, names)


def test_inference_after_training_uses_the_trained_parameters(tmp_path):
    host, _ = converted(tmp_path, "digits_cnn", loss="ce", optimizer="sgd", lr=0.1, batch=2,
                        trainable="last:1")
    model = torch_twin("digits_cnn")
    rng = np.random.default_rng(1)
    x = rng.random((2, 1, 8, 8)).astype(np.float32)
    host.train_step(x, np.array([3, 7]))
    state = model.state_dict()
    state.update({k: torch.tensor(v) for k, v in host.params().items()})
    model.load_state_dict(state)
    with torch.no_grad():
        expected = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(host.run(x), expected, rtol=1e-5, atol=1e-6)


def test_logic_mlp_learns_or_and_and_from_scratch(tmp_path):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    for gate, target in (("OR", [0, 1, 1, 1]), ("AND", [0, 0, 0, 1])):
        host, _ = converted(tmp_path / gate, "logic_mlp", loss="mse", optimizer="adam", lr=0.05,
                            batch=4)
        y = np.array(target, np.float32).reshape(4, 1)
        for _ in range(300):
            loss = host.train_step(x, y)
        pred = host.run(x).reshape(-1)
        assert ((pred > 0.5) == (y.reshape(-1) > 0.5)).all(), (gate, pred, loss)


def test_memory_plan_beats_naive_and_meets_its_bound(tmp_path):
    for trainable in ("all", "last:1", "bias"):
        _, tp = converted(tmp_path / trainable, "digits_cnn", batch=4, trainable=trainable,
                          optimizer="adam", lr=1e-3)
        assert tp.lower_bound() <= tp.arena_size < tp.naive_bytes
        # No gradient buffer for anything before the first trainable layer.
        first_in = tp.train.layers[tp.first_layer].inp
        assert tp.grad_offset(first_in) == -1


def test_conversion_for_training_is_byte_identical(tmp_path):
    cfg = dict(loss="ce", optimizer="adam", lr=1e-3, batch=2, trainable="last:2")
    a = _write(cfg, tmp_path / "a")
    b = _write(cfg, tmp_path / "b")
    for f in ("digits_cnn.h", "digits_cnn.c", "model.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes()


def _write(cfg, path):
    tp = plan_for_training("digits_cnn", TrainConfig(**cfg))
    return write_outputs(tp.infer, path, "digits_cnn", train=tp)


# ---- bad input: the step reports it and keeps the last good parameters ---------------------

def test_label_out_of_range_changes_nothing(tmp_path):
    host, _ = converted(tmp_path, "digits_cnn", loss="ce", optimizer="sgd", lr=0.1, batch=2)
    before = host.params()
    with pytest.raises(ModelError, match="out of range"):
        host.train_step(np.zeros((2, 1, 8, 8), np.float32), np.array([1, 10]))
    for k, v in host.params().items():
        np.testing.assert_array_equal(v, before[k])


def test_nonfinite_loss_keeps_the_last_parameters(tmp_path):
    host, _ = converted(tmp_path, "logic_mlp", loss="mse", optimizer="sgd", lr=1e6, batch=4)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32) * 100
    y = np.ones((4, 1), np.float32) * 1e18
    with pytest.raises(ModelError, match="non-finite") as err:
        for _ in range(50):
            before = host.params()
            host.train_step(x, y)
    assert err.value.status == -7
    for k, v in host.params().items():
        np.testing.assert_array_equal(v, before[k])


def test_wrong_target_shapes_are_rejected(tmp_path):
    host, _ = converted(tmp_path, "digits_cnn", loss="ce", optimizer="sgd", lr=0.1, batch=2)
    with pytest.raises(ModelError, match="expected 2 integers"):
        host.train_step(np.zeros((2, 1, 8, 8), np.float32), np.array([1, 2, 3]))
    with pytest.raises(ModelError, match="training batch shape"):
        host.train_step(np.zeros((3, 1, 8, 8), np.float32), np.array([1, 2, 3]))


def test_trainable_spec_errors_name_the_choices():
    with pytest.raises(ValueError, match="no layer or parameter named 'fc9'"):
        plan_for_training("lenet5", TrainConfig(trainable="fc9"))
    with pytest.raises(ValueError, match="has 5 layers with parameters"):
        plan_for_training("lenet5", TrainConfig(trainable="last:6"))


# ---- the CLI: convert --train, train ------------------------------------------------------

def test_cli_convert_train_and_save_params(tmp_path, capsys):
    from pyconvert.cli import main
    out = tmp_path / "logic"
    assert main(["convert", "logic_mlp", "-o", str(out), "--train", "--loss", "mse",
                 "--optimizer", "adam", "--lr", "0.05", "--batch", "4"]) == 0
    assert "naive (no reuse)" in capsys.readouterr().out
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    np.savez(tmp_path / "or.npz", x=x, y=np.array([[0], [1], [1], [1]], np.float32))
    assert main(["train", str(out), "--data", str(tmp_path / "or.npz"), "--epochs", "300",
                 "--save-params", str(tmp_path / "p.npz")]) == 0
    text = capsys.readouterr().out
    assert "epoch 300" in text
    saved = np.load(tmp_path / "p.npz")
    assert sorted(saved.files) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight",
                                   "fc3.bias", "fc3.weight"]
    assert saved["fc1.weight"].shape == (4, 2)         # PyTorch layout
    # The saved parameters, loaded into the reference model, compute the OR gate.
    nn.manual_seed(0)
    model = load_module("logic_mlp").build_model()
    model.load_state_dict({k: saved[k] for k in saved.files})
    with nn.no_grad():
        pred = model(nn.tensor(x)).data.reshape(-1)
    assert ((pred > 0.5) == np.array([0, 1, 1, 1], bool)).all()
    # --load-params starts from them: the next epoch begins where this one ended.
    assert main(["train", str(out), "--data", str(tmp_path / "or.npz"),
                 "--load-params", str(tmp_path / "p.npz")]) == 0


@pytest.mark.parametrize("make,message", [
    (lambda x: dict(x=x), "needs arrays 'x' and 'y'"),
    (lambda x: dict(x=x.astype(np.float64), y=np.zeros(4, np.int64)), "x must be float32"),
    (lambda x: dict(x=x, y=np.array([0, 1, 2, 10])), "label y[3] = 10 is outside [0, 10)"),
    (lambda x: dict(x=x * np.nan, y=np.zeros(4, np.int64)), "NaN or Inf"),
])
def test_cli_train_rejects_bad_data(tmp_path, capsys, make, message):
    from pyconvert.cli import main
    out = tmp_path / "dc"
    assert main(["convert", "digits_cnn", "-o", str(out), "--train", "--batch", "2"]) == 0
    np.savez(tmp_path / "d.npz", **make(np.zeros((4, 1, 8, 8), np.float32)))
    capsys.readouterr()
    assert main(["train", str(out), "--data", str(tmp_path / "d.npz")]) == 1
    assert message in capsys.readouterr().err


def test_cli_train_needs_a_trainable_model(tmp_path, capsys):
    from pyconvert.cli import main
    assert main(["convert", "logic_mlp", "-o", str(tmp_path / "m")]) == 0
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.float32), y=np.zeros((4, 1), np.float32))
    assert main(["train", str(tmp_path / "m"), "--data", str(tmp_path / "d.npz")]) == 1
    assert "converted without --train" in capsys.readouterr().err
