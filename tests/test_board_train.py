"""Training on the emulated boards: the same C train step as the host, in firmware."""

from __future__ import annotations

import numpy as np
import pytest

from pyconvert.cli import main
from pyconvert.convert import plan_for_training, write_outputs
from pyconvert.host.model_runner import HostModel
from pyconvert.train_plan import TrainConfig

from test_boards import _missing_tools

GATE_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
GATES = {"OR": [0, 1, 1, 1], "AND": [0, 0, 0, 1]}


@pytest.fixture(scope="module", autouse=True)
def tools():
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)} (bash .ci/setup installs them)")


def logic_model(path):
    tp = plan_for_training("logic_mlp", TrainConfig(loss="mse", optimizer="adam", lr=0.05, batch=4))
    return write_outputs(tp.infer, path, "logic_mlp", train=tp)


@pytest.mark.parametrize("gate", GATES)
def test_logic_mlp_learns_on_the_microbit(tmp_path, gate):
    """The smallest demo: 2-4-4-1 learns OR and AND from scratch on a Cortex-M0 with 16 KB."""
    from pyconvert.boards.runner import BoardModel
    out = logic_model(tmp_path / "logic")
    y = np.array(GATES[gate], np.float32).reshape(4, 1)
    board = BoardModel(out, "microbit")
    history, params = board.train(GATE_X, y, 300)
    assert len(history) == 300 and history[-1][1] < 0.01        # mse measured on the board
    host = HostModel(out)
    for _ in range(300):
        host.train_step(GATE_X, y)
    # Adam + ReLU + MSE use no libm function: host and M0 agree bit for bit.
    for name, value in host.params().items():
        np.testing.assert_array_equal(params[name], value, err_msg=name)
    host.load_params(params)
    assert ((host.run(GATE_X).reshape(-1) > 0.5) == (y.reshape(-1) > 0.5)).all()


def test_cli_train_on_board_and_bench_a_training_step(tmp_path, capsys):
    out = logic_model(tmp_path / "logic")
    np.savez(tmp_path / "and.npz", x=GATE_X, y=np.array(GATES["AND"], np.float32).reshape(4, 1))
    assert main(["train", str(out), "--data", str(tmp_path / "and.npz"), "--epochs", "300",
                 "--board", "mps2-an386", "--save-params", str(tmp_path / "p.npz")]) == 0
    assert "(on mps2-an386)" in capsys.readouterr().out
    assert sorted(np.load(tmp_path / "p.npz").files)[0] == "fc1.bias"
    assert main(["bench", str(out), "--board", "mps2-an386", "--train", "--json"]) == 0
    import json
    first = json.loads(capsys.readouterr().out)
    assert main(["bench", str(out), "--board", "mps2-an386", "--train", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["instructions_per_step"] > 0
    assert first["instructions_per_step"] == second["instructions_per_step"]   # deterministic
    assert first["arena_bytes"] >= first["training_arena_lower_bound"]


def test_lenet5_sgd_on_the_board_matches_torch(tmp_path):
    """20 SGD-with-momentum steps of LeNet-5 on mps2-an386 against torch.optim."""
    torch = pytest.importorskip("torch")
    from pyconvert.boards.runner import BoardModel
    from torch_twins import torch_twin
    tp = plan_for_training("lenet5", TrainConfig(loss="ce", optimizer="sgd", lr=0.05, momentum=0.9, batch=1))
    out = write_outputs(tp.infer, tmp_path / "l5", "lenet5", train=tp)
    rng = np.random.default_rng(0)
    x = rng.random((20, 1, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 20)
    _, params = BoardModel(out, "mps2-an386").train(x, y, 1)
    model = torch_twin("lenet5")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for i in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.tensor(x[i:i + 1])), torch.tensor(y[i:i + 1])).backward()
        opt.step()
    for name, p in model.named_parameters():
        t = p.detach().numpy()
        np.testing.assert_allclose(params[name], t, rtol=1e-4, atol=1e-4 * np.abs(t).max(), err_msg=name)


def test_training_set_in_flash_trains_exactly_as_streamed(tmp_path, capsys):
    """`firmware --data` compiles the set into dataset.h; the firmware then trains with
    no input.bin/target.bin, and ends with the same parameters, bit for bit, as the
    firmware that streams the same samples from host files."""
    from pyconvert.boards.runner import BoardModel
    out = logic_model(tmp_path / "m")
    y = np.array(GATES["AND"], np.float32).reshape(4, 1)
    np.savez(tmp_path / "and.npz", x=GATE_X, y=y)
    assert main(["firmware", str(out), "--board", "mps2-an386", "-o", str(tmp_path / "fw"),
                 "--data", str(tmp_path / "and.npz")]) == 0
    header = (tmp_path / "fw" / "dataset.h").read_text()
    assert "MT_EMBEDDED_DATA" in header and f"dataset_input[{GATE_X.nbytes}]" in header
    flash = BoardModel(out, "mps2-an386", train_data=(GATE_X, y))
    streamed = BoardModel(out, "mps2-an386")
    h1, p1 = flash.train(None, None, 40)
    h2, p2 = streamed.train(GATE_X, y, 40)
    assert h1 == h2
    for name in p1:
        np.testing.assert_array_equal(p1[name], p2[name], err_msg=name)
    with pytest.raises(Exception, match="no training samples"):
        streamed.train(None, None, 1)
    plain = write_outputs(plan_for_training("logic_mlp", TrainConfig()).infer, tmp_path / "plain", "logic_mlp")
    capsys.readouterr()
    assert main(["firmware", str(plain), "--board", "mps2-an386", "-o", str(tmp_path / "fw2"),
                 "--data", str(tmp_path / "and.npz")]) != 0
    assert "plain was converted without --train" in capsys.readouterr().err
