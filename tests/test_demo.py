"""The README's main job, `pyconvert demo`, end to end."""

import numpy as np
import pytest

from pyconvert.demos import quickstart

from test_boards import _missing_tools


def test_quickstart_trains_converts_and_agrees_with_the_board(tmp_path):
    pytest.importorskip("sklearn")
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)}")
    lines = []
    result = quickstart(tmp_path, epochs=2, out=lines.append)
    assert result["identical"]
    assert result["accuracy_host"] == result["accuracy_board"] > 0.85
    assert result["instructions"] > 0
    assert (tmp_path / "digits" / "digits_cnn.c").is_file()
    assert any("outputs identical bit for bit: yes" in l for l in lines)
    trained = np.load(tmp_path / "trained.npz")
    assert sorted(trained.files) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight",
                                     "fc.bias", "fc.weight"]
