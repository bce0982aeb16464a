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
