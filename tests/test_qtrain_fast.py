"""The fast integer-only training kernels (runtime_c/src/qtrain/*_fast.c, q_dot.h, the
fused SGD + refresh of train_q.c) on boards: the DSP path (Cortex-M4, SXTB16/SMLAD/QSUB)
and the plain one (Cortex-M3), and the Cortex-M7 / M33 builds train LeNet-style convnets to the same masters, bit for bit,
as the host build. The C kernels against their reference twins: tests/c/test_qtrain_fast.c.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyconvert.convert_q import plan_for_qtraining, write_q_outputs
from pyconvert.host.qmodel_runner import QHostModel
from pyconvert.train_plan import TrainConfig


@pytest.mark.parametrize("board,spec,momentum", [
    ("mps2-an386", "lenet5", 0.0),
    ("mps2-an385", "lenet5", 0.0),
    ("mps2-an500", "lenet5", 0.0),
    ("mps2-an505", "lenet5", 0.0),
    ("mps2-an386", "digits_cnn", 0.0),
    ("mps2-an386", "digits_cnn", 0.9),
])
def test_board_training_bit_identical_to_host(tmp_path, board, spec, momentum):
    from test_boards import _missing_tools
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)}")
    from pyconvert.boards.qrunner import train_q
    from pyconvert.boards.runner import BoardModel
    qp = plan_for_qtraining(spec, TrainConfig(optimizer="sgd", lr=0.05, momentum=momentum,
                                              batch=2, trainable="all"), name=spec)
    model = QHostModel(write_q_outputs(qp, tmp_path / spec, spec))
    shape = tuple(model.meta["train"]["input_shape"])
    rng = np.random.default_rng(1)
    x = rng.random((2,) + tuple(shape[1:])).astype(np.float32)
    y = np.array([3, 7])
    epochs = 3                                   # one batch per epoch: 3 steps
    _, _, masters = train_q(BoardModel(model.outdir, board), x, y, epochs)
    before = {k: v.copy() for k, (v, _) in model.masters().items()}
    for _ in range(epochs):
        model.train_step(x, y)
    moved = 0
    for name, (v, e) in model.masters().items():
        assert masters[name][1] == e and np.array_equal(masters[name][0], v), name
        moved += int(np.count_nonzero(v != before[name]))
    assert moved > 0                             # the steps did update the masters
