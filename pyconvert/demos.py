"""Small end-to-end demonstrations run by `pyconvert demo NAME`."""

from __future__ import annotations

import numpy as np

GATES = {"OR": np.array([0, 1, 1, 1], np.float32), "AND": np.array([0, 0, 0, 1], np.float32)}
INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)


def logic_gates(epochs: int = 300, lr: float = 0.05, seed: int = 0, out=print) -> dict:
    """Train the tutorials' 2-4-4-1 MLP on OR and AND with the C runtime.

    Every forward, backward and Adam step runs in runtime_c (through cffi); the same
    training in the numpy reference (pyconvert.nn) runs beside it and the two final
    parameter sets are compared. Returns {gate: (predictions, reference_max_abs_diff)}.
    """
    import pyconvert.nn as nn
    import pyconvert.optim as optim
    from pyconvert.host.executor import SequentialExecutor
    from pyconvert.models.logic_mlp import build_model

    results = {}
    for gate, target in GATES.items():
        nn.manual_seed(seed)
        model = build_model()
        nn.manual_seed(seed)
        twin = build_model()                      # same initial weights, trained in numpy
        executor = SequentialExecutor(model, loss="mse", optimizer="adam", lr=lr)
        ref_opt = optim.Adam(twin.parameters(), lr=lr)
        y = target.reshape(4, 1)
        for epoch in range(epochs):
            loss = executor.train_step(INPUTS, y)
            ref_opt.zero_grad()
            ref_loss = nn.MSELoss()(twin(nn.tensor(INPUTS)), nn.tensor(y))
            ref_loss.backward()
            ref_opt.step()
        pred = executor.forward(INPUTS).reshape(-1)
        diff = max(float(np.max(np.abs(p.data - q.data)))
                   for p, q in zip(model.parameters(), twin.parameters()))
        results[gate] = (pred, diff)
        out(f"\n{gate} gate: 2-4-4-1 MLP, {epochs} Adam steps in the C runtime, final MSE {loss:.5f}")
        out("  a b | target | C runtime output | rounded")
        for (a, b), t, p in zip(INPUTS.astype(int), target, pred):
            shown = f"{p:8.4f}".replace("-0.0000", " 0.0000")  # no "-0" for tiny negatives
            out(f"  {a} {b} |   {int(t)}    |     {shown}     |   {int(p > 0.5)}")
        correct = int(np.sum((pred > 0.5) == (target > 0.5)))
        out(f"  {correct}/4 correct; largest parameter difference vs the numpy reference: {diff:.2e}")
    return results


def quickstart(workdir, board: str = "mps2-an386", epochs: int = 5, out=print) -> dict:
    """The main job: a real model, trained, converted, and run on the host and a board.

    1. convert digits_cnn (scikit-learn's 8x8 digits) with a train step, and train it
       on this machine through the C runtime;
    2. convert the trained model for inference (weights in flash);
    3. classify the held-out digits with the host build and on the emulated board, and
       compare the two bit for bit;
    4. count the board's instructions for one inference.
    """
    from pathlib import Path

    from .boards.runner import BoardModel, bench, format_bench
    from .convert import load, lower_graph, plan_for_training, report, write_outputs
    from .host.model_runner import HostModel
    from .models.digits_cnn import load_digits_split
    from .train_plan import TrainConfig, describe_memory
    from .training import save_params, train

    workdir = Path(workdir)
    x_train, y_train, x_test, y_test = load_digits_split()
    out(f"== 1. digits_cnn: train on {len(x_train)} of scikit-learn's 8x8 digits, in the C runtime")
    plan = plan_for_training("digits_cnn", TrainConfig(loss="ce", optimizer="adam", lr=0.005, batch=16))
    write_outputs(plan.infer, workdir / "digits_train", "digits_cnn", train=plan)
    out(describe_memory(plan))
    trainer = HostModel(workdir / "digits_train")
    train(trainer, x_train, y_train, epochs, out=out)
    save_params(workdir / "trained.npz", trainer.params())

    out(f"\n== 2. convert the trained model to C for inference -> {workdir / 'digits'}")
    low = lower_graph(load("digits_cnn", params=str(workdir / "trained.npz")))
    write_outputs(low, workdir / "digits", "digits_cnn", command="pyconvert demo")
    out(report(low))

    out(f"\n== 3. classify the {len(x_test)} held-out digits on this machine and on {board} (QEMU)")
    y_host = HostModel(workdir / "digits").run(x_test)
    y_board = BoardModel(workdir / "digits", board).run(x_test)
    acc_host = float(np.mean(y_host.argmax(1) == y_test))
    acc_board = float(np.mean(y_board.argmax(1) == y_test))
    identical = bool(np.array_equal(y_host, y_board))
    out(f"  accuracy on the host:   {acc_host * 100:.2f} %")
    out(f"  accuracy on {board}: {acc_board * 100:.2f} %")
    out(f"  outputs identical bit for bit: {'yes' if identical else 'NO'} "
        f"(max difference {float(np.max(np.abs(y_host - y_board))):.3g})")
    shown = slice(0, 16)
    out(f"  the first {shown.stop} digits: " + " ".join(map(str, y_test[shown])))
    out(f"  host predicts:       " + " ".join(map(str, y_host[shown].argmax(1))))
    out(f"  board predicts:      " + " ".join(map(str, y_board[shown].argmax(1))))

    out(f"\n== 4. one inference on {board}, instructions counted exactly")
    result = bench(workdir / "digits", board)
    out(format_bench(result))
    return {"accuracy_host": acc_host, "accuracy_board": acc_board, "identical": identical,
            "instructions": result["instructions"]}
