"""Integer-only training through the converter (`convert --train --dtype int8`).

The generated C trains with the q kernels (mt_qtrain.h over mt_q.h): int32 masters,
int8 forward copies, activations and gradients with power-of-two exponents, SGD with
stochastic rounding, everything at fixed offsets of the caller's arena.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pyconvert.cli import main
from pyconvert.convert import plan_for_training, write_outputs
from pyconvert.convert_q import plan_for_qtraining, write_q_outputs
from pyconvert.host.qmodel_runner import QHostModel
from pyconvert.train_plan import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
X_LOGIC = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
GATES = {"or": [0, 1, 1, 1], "and": [0, 0, 0, 1]}


def qmodel(tmp_path, spec, name=None, params=None, **cfg):
    name = name or spec
    qp = plan_for_qtraining(spec, TrainConfig(**cfg), name=name, params=params)
    return QHostModel(write_q_outputs(qp, tmp_path / name, name)), qp


def steps_to_learn(model, y, limit=400):
    for step in range(1, limit + 1):
        model.train_step(X_LOGIC, y)
        if np.array_equal(model.run(X_LOGIC) > 0.5, y > 0.5):
            return step
    return None


@pytest.mark.parametrize("gate", ["or", "and"])
def test_logic_mlp_learns_integer_only(tmp_path, gate):
    model, qp = qmodel(tmp_path, "logic_mlp", loss="mse", lr=0.1, batch=4)
    y = np.array(GATES[gate], np.float32).reshape(4, 1)
    steps = steps_to_learn(model, y)
    assert steps is not None, f"{gate}: not 4/4 after 400 steps"
    print(f"{gate}: 4/4 after {steps} steps; training arena {qp.arena_size} bytes")


def test_deterministic(tmp_path):
    y = np.array(GATES["and"], np.float32).reshape(4, 1)
    runs = []
    for k in range(2):
        model, _ = qmodel(tmp_path / str(k), "logic_mlp", loss="mse", lr=0.1, batch=4, momentum=0.9)
        for _ in range(30):
            model.train_step(X_LOGIC, y)
        runs.append(model.masters())
    for name, (v, e) in runs[0].items():
        assert e == runs[1][name][1] and np.array_equal(v, runs[1][name][0]), name
    model.init()                             # init restores the converted masters
    first = QHostModel(tmp_path / "0" / "logic_mlp")
    for name, (v, e) in first.masters().items():
        assert np.array_equal(v, model.masters()[name][0])


def test_adam_and_unsupported_are_one_line_errors(tmp_path, capsys):
    rc = main(["convert", "logic_mlp", "-o", str(tmp_path / "a"), "--train", "--dtype", "int8",
               "--optimizer", "adam"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "SGD only" in err and len(err.splitlines()) == 1


def test_cli_convert_train_save_params(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["convert", "logic_mlp", "-o", str(out), "--train", "--dtype", "int8",
                 "--loss", "mse", "--lr", "0.1", "--batch", "4"]) == 0
    assert "integer-only training" in capsys.readouterr().out
    data = tmp_path / "d.npz"
    np.savez(data, x=np.tile(X_LOGIC, (4, 1)), y=np.tile(np.array(GATES["or"], np.float32)[:, None], (4, 1)))
    assert main(["train", str(out), "--data", str(data), "--epochs", "3",
                 "--save-params", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz") as p:
        assert sorted(p.files) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight",
                                   "fc3.bias", "fc3.weight"]
        assert p["fc1.weight"].shape == (4, 2) and p["fc1.weight"].dtype == np.float32
    np.save(tmp_path / "x.npy", X_LOGIC)
    assert main(["run", str(out), "--input", str(tmp_path / "x.npy")]) == 0
    h = (out / "logic_mlp.h").read_text()
    c = (out / "logic_mlp.c").read_text()
    assert "LOGIC_MLP_QTRAIN" in h and "float" not in c
    # no mutable static storage in the generated code
    assert all(line.startswith(("static const", "const")) for line in c.splitlines()
               if line.startswith(("static ", "const ")) or line.rstrip().endswith("];"))


def test_digits_last_layer_int_vs_float(tmp_path):
    digits = pytest.importorskip("models.digits_cnn")
    try:
        x_tr, y_tr, x_te, y_te = digits.load_digits_split()
    except ImportError:
        pytest.skip("scikit-learn is not installed")
    from pyconvert.host.model_runner import HostModel
    from pyconvert.training import save_params, train
    # 1. pretrain everything in float (Adam, through the C runtime), keep the convs
    tp = plan_for_training("digits_cnn", TrainConfig(optimizer="adam", lr=0.005, batch=16))
    pre = HostModel(write_outputs(tp.infer, tmp_path / "pre", "digits_cnn", train=tp))
    train(pre, x_tr, y_tr, 4, out=lambda *_: None)
    params = {k: v for k, v in pre.params().items() if not k.startswith("fc.")}
    save_params(tmp_path / "p.npz", params)        # fc: the model's fresh (seeded) init
    # 2. fine-tune only fc from the same start, float SGD and integer-only SGD
    cfg = dict(loss="ce", optimizer="sgd", lr=0.1, batch=32, trainable="last:1")
    tf = plan_for_training("digits_cnn", TrainConfig(**cfg), params=str(tmp_path / "p.npz"))
    fl = HostModel(write_outputs(tf.infer, tmp_path / "float", "digits_cnn", train=tf))
    qm, qp = qmodel(tmp_path, "digits_cnn", name="digits_q", params=str(tmp_path / "p.npz"), **cfg)
    for m in (fl, qm):
        train(m, x_tr, y_tr, 10, out=lambda *_: None)
    acc = {k: float(np.mean(m.run(x_te).reshape(len(x_te), -1).argmax(1) == y_te))
           for k, m in (("float", fl), ("int", qm))}
    print(f"digits fc fine-tune: float {acc['float']:.4f}, integer-only {acc['int']:.4f}, "
          f"training arena {qp.arena_size} bytes")
    assert acc["float"] > 0.85
    assert acc["int"] >= acc["float"] - 0.01


def test_training_code_has_no_float(tmp_path):
    cc, nm = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-nm")
    if not cc or not nm:
        pytest.skip("arm-none-eabi toolchain not installed")
    out = tmp_path / "m"
    qp = plan_for_qtraining("digits_cnn", TrainConfig(loss="ce", batch=4, trainable="last:2"))
    write_q_outputs(qp, out, "digits_cnn")
    sources = sorted((ROOT / "runtime_c/src/qtrain").glob("*.c")) + [out / "digits_cnn.c"]
    for src in sources:
        obj = tmp_path / (src.stem + ".o")
        subprocess.run([cc, "-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft", "-O2", "-std=c99",
                        "-ffp-contract=off", "-Wall", "-Wextra", "-Werror",
                        f"-I{ROOT / 'runtime_c/include'}", f"-I{out}", "-c", str(src), "-o", str(obj)],
                       check=True, capture_output=True, text=True)
        undefined = subprocess.run([nm, "-u", str(obj)], check=True, capture_output=True,
                                   text=True).stdout.split()
        floats = [s for s in undefined if s.startswith(("__aeabi_f", "__aeabi_d"))]
        assert not floats, f"{src.name} references {floats}"


def test_board_training_bit_identical_to_host(tmp_path):
    from test_boards import _missing_tools
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)}")
    from pyconvert.boards.qrunner import train_q
    from pyconvert.boards.runner import BoardModel
    model, _ = qmodel(tmp_path, "logic_mlp", loss="mse", lr=0.1, batch=4)
    y = np.array(GATES["and"], np.float32).reshape(4, 1)
    history, params, masters = train_q(BoardModel(model.outdir, "microbit"), X_LOGIC, y, 100)
    assert len(history) == 100 and history[-1][1] == 1.0      # 4/4 measured on the Cortex-M0
    for _ in range(100):
        model.train_step(X_LOGIC, y)
    for name, (v, e) in model.masters().items():
        assert masters[name][1] == e and np.array_equal(masters[name][0], v), name
    np.testing.assert_array_equal(params["fc3.weight"], model.params()["fc3.weight"])
