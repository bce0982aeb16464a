"""`pyconvert demo finetune`: a pretrained digits_cnn adapts to a shifted sensor on the
emulated netduinoplus2 (float32 and integer-only)."""

import numpy as np
import pytest

from pyconvert.demo_finetune import N_ADAPT, blur3x3, rotate, shift_domain

from test_boards import _missing_tools


@pytest.fixture(scope="module")
def tools():
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)} (bash .ci/setup installs them)")


@pytest.fixture(scope="module")
def demo(tools, tmp_path_factory):
    """The whole demo once (about 10 s with warm caches; it is deterministic, so the
    figures below are exact, not statistical)."""
    pytest.importorskip("sklearn")
    from pyconvert.demo_finetune import finetune
    workdir = tmp_path_factory.mktemp("finetune")
    lines = []
    result = finetune(workdir, epochs=15, out=lines.append)
    return workdir, result, lines


def test_shift_is_a_small_rotation_blur_offset_and_noise():
    x = np.zeros((1, 1, 8, 8), np.float32)
    x[0, 0, 1:7, 3:5] = 1.0                                      # a vertical bar
    assert np.allclose(rotate(x, 0.0), x)
    turned = rotate(x, 25.0)
    assert 0 < np.abs(turned - x).sum() < x.sum()                 # moved, not a new image
    assert np.isclose(blur3x3(np.ones((1, 1, 8, 8)))[0, 0, 4, 4], 1.0)   # the blur keeps the mean
    y = shift_domain(x)
    assert y.dtype == np.float32 and y.min() >= 0 and y.max() <= 1
    assert np.array_equal(y, shift_domain(x))                     # a fixed seed


def test_float_gains_15_points_and_int8_follows_within_one(demo):
    _, result, _ = demo
    f, q = result["rows"]["float32"], result["rows"]["int8"]
    assert f["after"] - f["before"] >= 0.15
    assert q["after"] - q["before"] >= 0.15
    assert abs(q["after"] - f["after"]) <= 0.01
    assert all(met for _, met in result["targets"])


def test_both_fit_the_netduinoplus2_budget(demo):
    _, result, _ = demo
    for row in result["rows"].values():
        assert row["ram"] <= row["ram_budget"] == 128 * 1024
        assert row["flash"] <= row["flash_budget"] == 1024 * 1024
        assert row["arena"] < row["static_ram"] <= row["ram"]
        assert row["instructions_per_step"] > 0
        assert len(row["history"]) == row["epochs"] == 15
        assert row["history"][-1][0] < row["history"][0][0]       # the board's loss fell


def test_table_curve_and_pointer_are_printed(demo):
    workdir, result, lines = demo
    text = "\n".join(lines)
    assert result["table"] in text
    assert "float32 " in result["table"] and "int8 (integer-only)" in result["table"]
    assert "of 128 KB" in result["table"] and "of 1024 KB" in result["table"]
    assert (workdir / "curve.txt").read_text().strip() in text
    assert "learns OR and AND from scratch on the microbit" in text


def test_logic_mlp_learns_or_and_and_on_the_microbit(demo):
    """Step 6: from the seeded random start, both gates 4/4 on the Cortex-M0 within
    its 16 KB of RAM."""
    _, result, _ = demo
    for gate in ("OR", "AND"):
        r = result["logic"][gate]
        assert r["correct"] == 4 and r["mse"] < 0.05, gate
        assert r["ram"] <= r["ram_budget"] == 16 * 1024
        assert r["instructions_per_step"] > 0


def test_the_adaptation_set_is_in_flash(demo):
    """The demo's firmware carries the 128 samples in flash: it trains with no
    input.bin/target.bin, and its flash holds at least their 32 KB."""
    from pyconvert.boards.runner import BoardModel
    workdir, result, _ = demo
    assert result["rows"]["float32"]["flash"] > N_ADAPT * 64 * 4
    with pytest.raises(Exception, match="pass x=None"):
        import pyconvert.models.digits_cnn as d
        x, y = d.load_digits_split()[2:]
        board = BoardModel(workdir / "finetune_float32", "netduinoplus2",
                           train_data=(shift_domain(x)[:N_ADAPT], y[:N_ADAPT]))
        board.train(x[:16], y[:16], 1)


def test_integer_only_board_inference_equals_the_host(demo):
    """The "before" of the int8 row runs on the board (qrunner.run_q); it equals the
    host build bit for bit, including the zero-padded last batch."""
    from pyconvert.boards.qrunner import run_q
    from pyconvert.boards.runner import BoardModel
    from pyconvert.host.qmodel_runner import QHostModel
    from pyconvert.models.digits_cnn import load_digits_split
    workdir, _, _ = demo
    x = shift_domain(load_digits_split()[2])[N_ADAPT:N_ADAPT + 21]    # 21: not whole batches
    outdir = workdir / "finetune_int8"
    np.testing.assert_array_equal(run_q(BoardModel(outdir, "netduinoplus2"), x),
                                  QHostModel(outdir).run(x))


def test_loaded_masters_reproduce_the_trained_model(demo):
    """QHostModel.load_masters also refreshes the int8 forward copies."""
    from pyconvert.host.qmodel_runner import QHostModel
    from pyconvert.models.digits_cnn import load_digits_split
    workdir, _, _ = demo
    x_held, y_held = load_digits_split()[2:]
    x = shift_domain(x_held)
    trained, fresh = QHostModel(workdir / "finetune_int8"), QHostModel(workdir / "finetune_int8")
    for s in range(0, 32, 16):
        trained.train_step(x[s:s + 16], y_held[s:s + 16])
    fresh.load_masters(trained.masters())
    np.testing.assert_array_equal(fresh.run(x[N_ADAPT:]), trained.run(x[N_ADAPT:]))
