"""pyconvert.optim vs torch.optim (20 steps from identical weights and batches), and
training the tutorial's logic-gate MLP to learn OR and AND."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pyconvert.nn as nn
import pyconvert.nn.functional as F
import pyconvert.optim as optim


@pytest.fixture(scope="module", autouse=True)
def torch_single_thread():
    """These are tiny ops: torch's thread pool only adds contention on 2 cores."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

SGD_CONFIGS = [
    dict(lr=0.05),
    dict(lr=0.02, momentum=0.9),
    dict(lr=0.02, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.9, dampening=0.1, weight_decay=1e-2),
    dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=5e-3),
]
ADAM_CONFIGS = [
    dict(lr=1e-3),
    dict(lr=2e-3, weight_decay=1e-2),
    dict(lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    dict(lr=1e-3, amsgrad=True),
]
CONFIGS = [("SGD", c) for c in SGD_CONFIGS] + [("Adam", c) for c in ADAM_CONFIGS]
NOISE_FLOOR = 1e-5
WORST_OPTIM: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report_worst_errors():
    yield
    if os.environ.get("PYCONVERT_NN_REPORT") == "1" and WORST_OPTIM:
        print("\nworst |ours - torch| / |torch| (|torch| >= 1e-3) of parameters after 20 steps:")
        for what, err in sorted(WORST_OPTIM.items(), key=lambda kv: -kv[1])[:6]:
            print(f"  {err:.3g}  {what}")


def mlp(nn):
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def lenet5(nn, F):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(-1, 16 * 5 * 5)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    return Net()


def _batches(model_name, steps=20):
    rng = np.random.default_rng(42)
    shape = (8, 6) if model_name == "mlp" else (4, 1, 32, 32)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, 3 if model_name == "mlp" else 10,
                                                                         shape[0]))
            for _ in range(steps)]


@pytest.mark.parametrize("model_name", ["mlp", "lenet5"])
@pytest.mark.parametrize("opt_name,cfg", CONFIGS, ids=[f"{n}-{c}" for n, c in CONFIGS])
def test_optimizer_matches_torch_over_20_steps(model_name, opt_name, cfg):
    torch = pytest.importorskip("torch")
    nn.manual_seed(7)
    if model_name == "mlp":
        ours, theirs = mlp(nn), mlp(torch.nn)
    else:
        ours, theirs = lenet5(nn, F), lenet5(torch.nn, torch.nn.functional)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    opt = getattr(optim, opt_name)(ours.parameters(), **cfg)
    topt = getattr(torch.optim, opt_name)(theirs.parameters(), **cfg)
    # Adam divides by sqrt(v): for a weight whose gradient was ever at the float32
    # rounding-noise floor (nonzero but < NOISE_FLOOR * max |grad| of its tensor,
    # from cancellation), the two libraries' last-bit differences in that gradient
    # become O(lr) differences in the update. Every other weight must meet the
    # strict tolerance; of the noise-floor ones, fewer than 0.1% may miss it, by
    # at most lr per step.
    noisy = [np.zeros(p.shape, bool) for p in theirs.parameters()]

    for x, labels in _batches(model_name):
        opt.zero_grad()
        loss = F.cross_entropy(ours(nn.tensor(x)), labels)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(labels))
        tloss.backward()
        if opt_name == "Adam":
            for mask, tp in zip(noisy, theirs.parameters()):
                g = np.abs(tp.grad.numpy())
                mask |= (g > 0) & (g < NOISE_FLOOR * g.max())
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-4)

    for (name, p), (_, tp), mask in zip(ours.named_parameters(), theirs.named_parameters(), noisy):
        ours_p, ref = p.numpy(), tp.detach().numpy()
        big = ~mask & (np.abs(ref) >= 1e-3)          # relative error where it means something
        WORST_OPTIM[f"{model_name} {opt_name} {cfg} {name}"] = float(
            np.max(np.abs(ours_p - ref)[big] / np.abs(ref[big]), initial=0))
        np.testing.assert_allclose(ours_p[~mask], ref[~mask], rtol=1e-4, atol=1e-6, err_msg=name)
        off = np.abs(ours_p - ref) > 1e-6 + 1e-4 * np.abs(ref)        # only where mask is set
        assert off.mean() < 1e-3, f"{name}: {off.sum()} of {off.size} weights off"
        assert np.all(np.abs(ours_p - ref)[off] <= cfg["lr"] * 20), name


def test_sgd_first_momentum_step_uses_the_gradient_itself():
    p = nn.Parameter(np.zeros(3, np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad = np.ones(3, np.float32)
    opt.step()                                            # buf = g (no dampening on step 1)
    np.testing.assert_allclose(p.numpy(), -0.1)
    opt.step()                                            # buf = 0.9 * 1 + 0.5 * 1
    np.testing.assert_allclose(p.numpy(), -0.1 - 0.14, rtol=1e-6)


def test_adam_first_step_moves_every_weight_by_lr():
    p = nn.Parameter(np.array([1.0, -2.0, 3.0], np.float32))
    opt = optim.Adam([p], lr=0.01)
    p.grad = np.array([0.5, -4.0, 1e-3], np.float32)
    opt.step()                                            # m_hat / sqrt(v_hat) = sign(g)
    np.testing.assert_allclose(p.numpy(), [0.99, -1.99, 2.99], rtol=1e-5)


def test_zero_grad_param_groups_and_skipping_params_without_grad():
    a, b = nn.Parameter(np.ones(2, np.float32)), nn.Parameter(np.ones(2, np.float32))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    a.grad = np.ones(2, np.float32)
    opt.step()                                            # b has no grad: untouched
    np.testing.assert_allclose(a.numpy(), 0.9)
    np.testing.assert_array_equal(b.numpy(), 1.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])


def test_optimizer_state_dict_resumes_identically():
    def run(split):
        nn.manual_seed(3)
        model = mlp(nn)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        for i, (x, labels) in enumerate(_batches("mlp", 10)):
            if i == split:                                    # rebuild from the saved state
                state, opt_state = model.state_dict(), opt.state_dict()
                model = mlp(nn)
                model.load_state_dict(state)
                opt = optim.Adam(model.parameters(), lr=0.5)  # lr comes back from the state
                opt.load_state_dict(opt_state)
            opt.zero_grad()
            F.cross_entropy(model(nn.tensor(x)), labels).backward()
            opt.step()
        return [p.numpy().copy() for p in model.parameters()]

    for resumed, straight in zip(run(4), run(-1)):
        np.testing.assert_array_equal(resumed, straight)


# ---------------------------------------------------------------------------
# the tutorial's logic-gate MLP: 2-4-4-1, MSELoss, SGD
# ---------------------------------------------------------------------------

GATES = {"OR": [0, 1, 1, 1], "AND": [0, 0, 0, 1]}


def train_gate(targets, activation, seed=0, epochs=500):
    nn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 4), activation(), nn.Linear(4, 4), activation(),
                          nn.Linear(4, 1), nn.Sigmoid())
    x = nn.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = nn.tensor(np.array(targets, np.float32).reshape(4, 1))
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    with nn.no_grad():
        predicted = (model(x).numpy().ravel() > 0.5).astype(int)
    return predicted, loss.item()


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.ReLU], ids=["sigmoid", "relu"])
@pytest.mark.parametrize("gate", GATES)
def test_logic_gate_mlp_learns(gate, activation):
    predicted, loss = train_gate(GATES[gate], activation)
    assert predicted.tolist() == GATES[gate], f"{gate}: predicted {predicted.tolist()}, loss {loss:.4f}"
    assert loss < 0.01


def test_logic_gate_mlp_learns_xor_with_tanh():
    predicted, _ = train_gate([0, 1, 1, 0], nn.Tanh)
    assert predicted.tolist() == [0, 1, 1, 0]
