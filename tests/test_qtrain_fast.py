"""The fast integer-only training kernels (runtime_c/src/qtrain/*_fast.c, q_dot.h, the
fused SGD + refresh of sgd_q.c / train_q.c) on boards: the DSP path (Cortex-M4,
SXTB16/SMLAD/QSUB and the assembly loops) and the plain one (Cortex-M3), and the
Cortex-M7 / M33 builds train LeNet-style convnets to the same masters, bit for bit, as
the host build (batch 1 takes the fused linear update, batch 2 the dW + SGD one). The C
kernels against their reference twins: tests/c/test_qtrain_fast.c, run here on the
emulated boards too (the host build never takes the assembly paths).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385", "mps2-an500", "mps2-an505"])
def test_c_fast_kernels_on_board(tmp_path, board):
    """tests/c/test_qtrain_fast.c (fast == reference twin, bit for bit) built for the
    board with the firmware's flags and run in QEMU: exit status 0, no failure."""
    from test_boards import _missing_tools
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)}")
    from pyconvert.boards.firmware import C_FLAGS, CROSS, LD_FLAGS
    from pyconvert.boards.profiles import get_profile
    from pyconvert.boards.qemu import run_elf
    profile = get_profile(board)
    boards = ROOT / "pyconvert" / "boards"
    sources = [ROOT / "tests" / "c" / "test_qtrain_fast.c",
               *sorted((ROOT / "runtime_c" / "src").glob("*/*.c")),
               boards / "src" / "startup.c", boards / "src" / "board.c"]
    elf = tmp_path / "test_qtrain_fast.elf"
    cmd = [CROSS + "gcc", *profile.cpu_flags, *C_FLAGS,
           *(f"-I{d}" for d in (ROOT / "runtime_c" / "include", ROOT / "runtime_c" / "src" / "support",
                                boards / "src")),
           *map(str, sources), *LD_FLAGS, f"-Wl,--defsym=__stack_size={profile.stack_reserve}",
           f"-Wl,--defsym=__heap_size={profile.heap_reserve}", f"-L{boards / 'ld'}",
           f"-T{profile.linker_script}", "-lm", "-o", str(elf)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    result = run_elf(elf, profile, b"")
    assert result.exit_code == 0 and " 0 failed" in result.console, result.console

from pyconvert.convert_q import plan_for_qtraining, write_q_outputs
from pyconvert.host.qmodel_runner import QHostModel
from pyconvert.train_plan import TrainConfig


@pytest.mark.parametrize("board,spec,momentum,batch", [
    ("mps2-an386", "lenet5", 0.0, 2),
    ("mps2-an386", "lenet5", 0.0, 1),      # batch 1: the fused linear update (sgd_q.c)
    ("mps2-an385", "lenet5", 0.0, 2),
    ("mps2-an500", "lenet5", 0.0, 2),
    ("mps2-an500", "lenet5", 0.0, 1),
    ("mps2-an505", "lenet5", 0.0, 1),
    ("mps2-an386", "digits_cnn", 0.0, 2),
    ("mps2-an386", "digits_cnn", 0.9, 2),
])
def test_board_training_bit_identical_to_host(tmp_path, board, spec, momentum, batch):
    from test_boards import _missing_tools
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)}")
    from pyconvert.boards.qrunner import train_q
    from pyconvert.boards.runner import BoardModel
    qp = plan_for_qtraining(spec, TrainConfig(optimizer="sgd", lr=0.05, momentum=momentum,
                                              batch=batch, trainable="all"), name=spec)
    model = QHostModel(write_q_outputs(qp, tmp_path / spec, spec))
    shape = tuple(model.meta["train"]["input_shape"])
    rng = np.random.default_rng(1)
    x = rng.random((batch,) + tuple(shape[1:])).astype(np.float32)
    y = np.array([3, 7][:batch])
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
