"""pyconvert.nn modules: the tutorial models, registration and names, state_dict
round trips with torch, reprs identical to torch's, layer validation messages."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pytest

import pyconvert.nn as nn
import pyconvert.nn.functional as F


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

# ---------------------------------------------------------------------------
# the tutorial models, written once and built with either library
# ---------------------------------------------------------------------------


def lenet5_class(nn, F, kernel=5):
    """The PyTorch "Neural Networks" tutorial's Net; kernel=3 is its 3x3 variant
    (fc1 16*6*6), whose flatten adapts to the input as in the tutorial."""
    flat = 16 * 5 * 5 if kernel == 5 else 16 * 6 * 6

    class Net(nn.Module):

        def __init__(self):
            super(Net, self).__init__()
            # 1 input image channel, 6 output channels, square convolution kernel
            self.conv1 = nn.Conv2d(1, 6, kernel)
            self.conv2 = nn.Conv2d(6, 16, kernel)
            # an affine operation: y = Wx + b
            self.fc1 = nn.Linear(flat, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            # Max pooling over a (2, 2) window
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            # If the size is a square you can only specify a single number
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(-1, self.num_flat_features(x))
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

        def num_flat_features(self, x):
            size = x.size()[1:]  # all dimensions except the batch dimension
            num_features = 1
            for s in size:
                num_features *= s
            return num_features

    return Net


def bn_model(nn):
    """A Sequential with every layer kind that has state or a repr worth checking."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.LeakyReLU(0.1),
        nn.MaxPool2d(2, ceil_mode=True), nn.AvgPool2d(2, 1, 1, count_include_pad=False),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6), nn.BatchNorm1d(6), nn.Tanh(),
        nn.Dropout(0.2), nn.Linear(6, 4), nn.Hardtanh(-2.0, 2.0), nn.Identity(), nn.LogSoftmax(dim=1))


LENET_SHAPES = [
    ("conv1.weight", (6, 1, 5, 5)), ("conv1.bias", (6,)), ("conv2.weight", (16, 6, 5, 5)),
    ("conv2.bias", (16,)), ("fc1.weight", (120, 400)), ("fc1.bias", (120,)),
    ("fc2.weight", (84, 120)), ("fc2.bias", (84,)), ("fc3.weight", (10, 84)), ("fc3.bias", (10,)),
]


def test_lenet5_has_the_tutorials_ten_parameter_tensors():
    net = lenet5_class(nn, F)()
    params = list(net.parameters())
    assert len(params) == 10
    assert [(name, p.shape) for name, p in net.named_parameters()] == LENET_SHAPES
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert list(net.state_dict()) == [name for name, _ in LENET_SHAPES]
    out = net(nn.randn(1, 1, 32, 32))
    assert out.shape == (1, 10)


def test_lenet5_print_matches_torch():
    torch = pytest.importorskip("torch")
    ours = lenet5_class(nn, F)()
    theirs = lenet5_class(torch.nn, torch.nn.functional)()
    assert repr(ours) == repr(theirs)
    assert str(ours).startswith("Net(\n  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))\n")


@pytest.mark.parametrize("size", [30, 32])
def test_lenet_3x3_accepts_30_and_32_inputs(size):
    net = lenet5_class(nn, F, kernel=3)()
    x = nn.randn(1, 1, size, size)
    assert net.num_flat_features(F.max_pool2d(F.relu(net.conv2(
        F.max_pool2d(F.relu(net.conv1(x)), 2))), 2)) == 576
    assert net(x).shape == (1, 10)


def test_lenet5_forward_and_backward_match_torch():
    torch = pytest.importorskip("torch")
    ours = lenet5_class(nn, F)()
    theirs = lenet5_class(torch.nn, torch.nn.functional)()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 32, 32)).astype(np.float32)
    labels = np.array([1, 7, 3])
    loss = F.cross_entropy(ours(nn.tensor(x)), labels)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(labels))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        ref = tp.grad.numpy()
        np.testing.assert_allclose(p.grad, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max(), err_msg=name)


def test_lenet5_trace_walks_op_records_back_to_the_input():
    net = lenet5_class(nn, F)()
    x = nn.randn(1, 1, 32, 32)
    y = net(x)
    chain, node = [], y
    while node.op is not None:
        chain.append(node.op.name)
        node = node.op.inputs[0]
    assert node is x
    assert chain[::-1] == ["conv2d", "relu", "max_pool2d", "conv2d", "relu", "max_pool2d", "reshape",
                           "linear", "relu", "linear", "relu", "linear"]
    assert y.op.inputs[1] is net.fc3.weight and y.op.inputs[2] is net.fc3.bias


# ---------------------------------------------------------------------------
# state_dict round trips with torch
# ---------------------------------------------------------------------------

def _compare_models(torch, ours, theirs, x):
    ours.eval()
    theirs.eval()
    y = ours(nn.tensor(x)).numpy()
    with torch.no_grad():
        ty = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, ty, rtol=1e-5, atol=1e-6 * np.abs(ty).max())


@pytest.mark.parametrize("which", ["lenet5", "lenet3x3", "bn_model"])
def test_state_dict_round_trip_with_torch(which):
    torch = pytest.importorskip("torch")
    if which == "bn_model":
        build_ours, build_theirs = (lambda: bn_model(nn)), (lambda: bn_model(torch.nn))
        x = np.random.default_rng(1).standard_normal((2, 3, 9, 9)).astype(np.float32)
    else:
        k = 5 if which == "lenet5" else 3
        build_ours = lambda: lenet5_class(nn, F, k)()                                  # noqa: E731
        build_theirs = lambda: lenet5_class(torch.nn, torch.nn.functional, k)()        # noqa: E731
        x = np.random.default_rng(1).standard_normal((2, 1, 32, 32)).astype(np.float32)

    # ours -> torch
    ours, theirs = build_ours(), build_theirs()
    if which == "bn_model":   # make the running statistics non-trivial first
        ours.train()
        for _ in range(3):
            ours(nn.randn(4, 3, 9, 9))
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())
    assert all(sd[k].shape == tuple(v.shape) for k, v in theirs.state_dict().items())
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    _compare_models(torch, ours, theirs, x)

    # torch -> ours (numpy arrays, and torch tensors directly)
    ours2, theirs2 = build_ours(), build_theirs()
    if which == "bn_model":
        theirs2.train()
        for _ in range(3):
            theirs2(torch.randn(4, 3, 9, 9))
    result = ours2.load_state_dict({k: v.numpy() for k, v in theirs2.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    _compare_models(torch, ours2, theirs2, x)
    ours3 = build_ours()
    ours3.load_state_dict(theirs2.state_dict())
    _compare_models(torch, ours3, theirs2, x)


def test_batchnorm_state_dict_names_and_buffers():
    bn = nn.BatchNorm2d(6)
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert sd["num_batches_tracked"].dtype == np.int64 and sd["num_batches_tracked"].shape == ()
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm2d(3, affine=False, track_running_stats=False).state_dict()) == []


def test_load_state_dict_errors_and_non_strict():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = net.state_dict()
    bad = dict(before)
    bad["2.weight"] = np.zeros((3, 4), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for 2.weight: copying a param with shape \(3, 4\)"):
        net.load_state_dict(bad)
    for k, v in net.state_dict().items():            # nothing was copied
        np.testing.assert_array_equal(v, before[k])
    partial = {"0.weight": np.ones((4, 3), np.float32), "extra": np.zeros(1)}
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "0.bias", "2.weight"'):
        net.load_state_dict(partial)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        net.load_state_dict(partial)
    result = net.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(net[0].weight.numpy(), 1.0)


def test_state_dict_values_are_copies_and_load_copies_in_place():
    lin = nn.Linear(2, 2)
    weight_array = lin.weight.data
    sd = lin.state_dict()
    sd["weight"][...] = 7
    assert not np.any(lin.weight.numpy() == 7)
    lin.load_state_dict(sd)
    assert lin.weight.data is weight_array and np.all(weight_array == 7)


# ---------------------------------------------------------------------------
# reprs identical to torch's
# ---------------------------------------------------------------------------

REPR_CASES = [
    "Conv2d(1, 6, 5)", "Conv2d(3, 8, (3, 2), stride=2, padding=1, dilation=2, groups=1, bias=False)",
    "Conv2d(4, 8, 3, groups=4)", "Linear(400, 120)", "Linear(3, 4, bias=False)",
    "MaxPool2d(2, 2)", "MaxPool2d((2, 2))", "MaxPool2d(3, stride=1, padding=1, ceil_mode=True)",
    "AvgPool2d(2)", "AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)",
    "AdaptiveAvgPool2d(1)", "AdaptiveAvgPool2d((1, 1))", "Flatten()", "Flatten(0)",
    "ReLU()", "ReLU(inplace=True)", "ReLU6()", "Hardtanh()", "Hardtanh(0, 6)", "Hardtanh(-2.0, 2.0)",
    "LeakyReLU()", "LeakyReLU(0.2)", "Sigmoid()", "Tanh()", "Softmax(dim=1)", "Softmax()",
    "LogSoftmax(dim=1)", "Dropout()", "Dropout(0.2)", "Identity()", "BatchNorm2d(6)",
    "BatchNorm1d(4, momentum=None)", "BatchNorm2d(3, affine=False, track_running_stats=False)",
    "MSELoss()", "CrossEntropyLoss()", "NLLLoss()",
    "Sequential(Conv2d(1, 2, 3), ReLU(), Sequential(Linear(2, 3), Tanh()))",
    "Sequential()", "ModuleList([ReLU(), ReLU(), Tanh(), Linear(2, 2), Linear(2, 2)])",
]


@pytest.mark.parametrize("expr", REPR_CASES)
def test_layer_repr_matches_torch(expr):
    torch = pytest.importorskip("torch")
    assert repr(eval(expr, {}, vars(nn))) == repr(eval(expr, {}, vars(torch.nn)))


def test_model_repr_matches_torch():
    torch = pytest.importorskip("torch")
    assert repr(bn_model(nn)) == repr(bn_model(torch.nn))


def test_repr_without_torch():
    assert repr(nn.Linear(400, 120)) == "Linear(in_features=400, out_features=120, bias=True)"
    assert repr(nn.MaxPool2d(2, 2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)" and repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Step()) == "Step()"
    assert repr(nn.Sequential(nn.ReLU())) == "Sequential(\n  (0): ReLU()\n)"


# ---------------------------------------------------------------------------
# Module mechanics
# ---------------------------------------------------------------------------

def test_sequential_indexing_len_iteration_and_names():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and seq[-1] is seq[2]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and list(sub._modules) == ["1", "2"]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and seq(nn.randn(5, 2)).shape == (5, 1)
    with pytest.raises(IndexError):
        seq[4]


def test_registration_order_nesting_sharing_and_buffers():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2, bias=False)
            self.scale = nn.Parameter(np.ones(1, np.float32))
            self.register_buffer("count", np.zeros(1, np.int64))
            self.register_buffer("cache", np.zeros(2), persistent=False)
            self.plain = 3                            # not registered

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Block()
            self.b = self.a                           # shared: listed once
            self.head = nn.Linear(2, 1)

    net = Net()
    # as torch: each module's own parameters before its children's
    assert [n for n, _ in net.named_parameters()] == ["a.scale", "a.fc.weight", "head.weight", "head.bias"]
    assert list(net.state_dict()) == ["a.scale", "a.count", "a.fc.weight", "b.scale", "b.count",
                                      "b.fc.weight", "head.weight", "head.bias"]
    assert [n for n, _ in net.named_buffers()] == ["a.count", "a.cache"]
    assert [n for n, _ in net.named_modules()] == ["", "a", "a.fc", "head"]
    assert [n for n, _ in net.named_children()] == ["a", "head"]
    assert len(list(net.modules())) == 4
    net.head.bias = None
    assert [n for n, _ in net.head.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="nn.Parameter or None"):
        net.head.weight = np.zeros((1, 2))
    del net.head
    assert not hasattr(net, "head") and [n for n, _ in net.named_children()] == ["a"]


def test_assigning_before_init_fails_like_torch():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


def test_zero_grad_train_eval_and_requires_grad():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Linear(2, 1))
    net(nn.randn(3, 2)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.training and net[1].training
    assert net.eval() is net and not any(m.training for m in net.modules())
    x = nn.randn(4, 2)
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())   # dropout off in eval
    net.train()
    assert all(m.training for m in net.modules())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_manual_seed_makes_construction_deterministic_with_torch_default_bounds():
    nn.manual_seed(123)
    a = lenet5_class(nn, F)()
    nn.manual_seed(123)
    b = lenet5_class(nn, F)()
    c = lenet5_class(nn, F)()
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
        assert not np.array_equal(pa.numpy(), pc.numpy())
        fan_in = {"conv1": 25, "conv2": 150, "fc1": 400, "fc2": 120, "fc3": 84}[name.split(".")[0]]
        bound = 1 / np.sqrt(fan_in)
        assert pa.dtype == np.float32 and np.abs(pa.numpy()).max() <= bound
        assert np.abs(pa.numpy()).max() > 0.8 * bound          # really spread over the range
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.weight.numpy(), 1)
    np.testing.assert_array_equal(bn.bias.numpy(), 0)


def test_batchnorm_training_updates_running_stats_like_torch():
    torch = pytest.importorskip("torch")
    for momentum in (0.1, None):
        ours, theirs = nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3, momentum=momentum)
        rng = np.random.default_rng(2)
        for _ in range(3):
            x = (rng.standard_normal((4, 3, 5, 5)) * 2 + 1).astype(np.float32)
            y, ty = ours(nn.tensor(x)), theirs(torch.from_numpy(x))
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-5, err_msg=k)
        ours.eval()
        theirs.eval()
        x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
        np.testing.assert_allclose(ours(nn.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_double_model_gradient_matches_finite_differences():
    nn.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Tanh(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(12, 3)).double()
    rng = np.random.default_rng(4)
    x = nn.tensor(rng.standard_normal((2, 2, 4, 4)))
    labels = np.array([0, 2])
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(net(x), labels)
    assert loss.dtype == np.float64
    loss.backward()
    eps = 1e-6
    for name, p in net.named_parameters():
        flat = p.data.reshape(-1)
        for j in range(0, flat.size, 7):              # a sample of entries of each parameter
            orig = flat[j]
            flat[j] = orig + eps
            with nn.no_grad():
                plus = loss_fn(net(x), labels).item()
            flat[j] = orig - eps
            with nn.no_grad():
                minus = loss_fn(net(x), labels).item()
            flat[j] = orig
            np.testing.assert_allclose(p.grad.reshape(-1)[j], (plus - minus) / (2 * eps),
                                       rtol=1e-5, atol=1e-8, err_msg=f"{name}[{j}]")


def test_softmax_module_uses_dim_and_loss_modules():
    x = nn.randn(3, 4)
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy().sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(nn.Softmax()(x).numpy().sum(axis=1), 1, rtol=1e-6)   # implicit dim 1
    logp = nn.LogSoftmax(dim=1)(x)
    labels = np.array([0, 3, 1])
    np.testing.assert_allclose(nn.NLLLoss()(logp, labels).item(), nn.CrossEntropyLoss()(x, labels).item(),
                               rtol=1e-6)
    assert nn.MSELoss(reduction="sum")(x, x * 0).item() == pytest.approx(float((x.numpy() ** 2).sum()), rel=1e-6)


# ---------------------------------------------------------------------------
# validation: ValueError naming the layer and the shapes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer,x,match", [
    (lambda: nn.Conv2d(1, 6, 5), (1, 3, 32, 32),
     r"^Conv2d\(1, 6, kernel_size=\(5, 5\), stride=\(1, 1\)\): expected input \(N, 1, H, W\), got \(1, 3, 32, 32\)$"),
    (lambda: nn.Linear(400, 120), (1, 576),
     r"^Linear\(in_features=400, out_features=120, bias=True\): expected input \(\.\.\., 400\), got \(1, 576\)$"),
    (lambda: nn.Conv2d(1, 6, 5), (1, 1, 4, 4), r"^Conv2d\(1, 6, .*\): input \(1, 1, 4, 4\) padded to \(4, 4\)"),
    (lambda: nn.MaxPool2d(2), (1, 6), r"^MaxPool2d\(kernel_size=2, .*\): expected input \(N, C, H, W\), got \(1, 6\)"),
    (lambda: nn.BatchNorm2d(6), (2, 3, 4, 4), r"^BatchNorm2d\(6, .*\): expected input \(N, 6, H, W\), got \(2, 3, 4, 4\)"),
    (lambda: nn.BatchNorm1d(6), (2, 6, 4, 4), r"^BatchNorm1d\(6, .*\): expected input \(N, 6\) or \(N, 6, L\)"),
    (lambda: nn.Flatten(2), (3, 4), r"^Flatten\(start_dim=2, end_dim=-1\): start_dim=2"),
])
def test_bad_input_names_the_layer_and_the_shapes(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer()(nn.zeros(*x))


def test_bad_input_deep_in_a_model_names_the_innermost_layer():
    lenet = lenet5_class(nn, F)()
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 6, .*got \(1, 3, 32, 32\)"):
        lenet(nn.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"^Linear\(in_features=400, .*got \(1, 576\)"):
        lenet(nn.zeros(1, 1, 36, 36))                 # 36 -> 32 -> 16 -> 12 -> 6: 576 features
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.Flatten(), nn.Linear(5, 2)))
    with pytest.raises(ValueError, match=r"^Linear\(in_features=5, .*got \(1, 8\)"):
        seq(nn.zeros(1, 1, 4, 4))

    class PoolsTooMuch(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return F.max_pool2d(self.conv(x), 4)

    with pytest.raises(ValueError, match=r"^PoolsTooMuch \(max_pool2d\): input \(1, 1, 2, 2\) is too small"):
        PoolsTooMuch()(nn.zeros(1, 1, 4, 4))


@pytest.mark.parametrize("make,match", [
    (lambda: nn.Conv2d(3, 6, 3, groups=2), "in_channels must be divisible by groups"),
    (lambda: nn.Conv2d(2, 3, 3, groups=2), "out_channels must be divisible by groups"),
    (lambda: nn.Conv2d(2, 3, 3, padding_mode="reflect"), "padding_mode"),
    (lambda: nn.MaxPool2d(2, dilation=2), "only dilation=1"),
    (lambda: nn.AdaptiveAvgPool2d(2), "only output_size 1"),
    (lambda: nn.Dropout(1.5), "between 0 and 1"),
    (lambda: nn.MSELoss(reduction="avg"), "reduction must be one of"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_the_package_never_imports_torch():
    import subprocess
    import sys
    code = ("import sys, pyconvert.nn as nn, pyconvert.nn.functional as F, pyconvert.optim; "
            "F.cross_entropy(nn.Linear(3, 2)(nn.randn(2, 3)), [0, 1]).backward(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo)
