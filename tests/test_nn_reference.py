"""pyconvert.nn ops: backward vs central finite differences (float64) and forward +
backward vs torch autograd (float32) over a grid of shapes and arguments.

Every case is written once as ``fn(F, *inputs)``: ``F`` is pyconvert.nn.functional
or torch's functional (plus torch.clamp/flatten/heaviside), and tensor methods
(``x + y``, ``x.sum(dim=1)``, ``x.view(...)``) read the same in both libraries.

Set PYCONVERT_NN_REPORT=1 and run with -s to print the worst error vs torch.
"""

from __future__ import annotations

import os
import zlib

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
# inputs: (kind, shape[, classes]); kinds: "x" differentiable float, "p" positive
# differentiable float, "c" constant float, "v" constant positive float
# (variances), "i" integer class labels in [0, classes), None (an absent input)
# ---------------------------------------------------------------------------


def make_inputs(specs, rng, dtype):
    arrays = []
    for spec in specs:
        if spec is None:
            arrays.append(None)
            continue
        kind, shape = spec[0], spec[1]
        if kind in ("x", "c"):
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif kind in ("p", "v"):
            arrays.append(rng.uniform(0.5, 2.0, shape).astype(dtype))
        elif kind == "i":
            arrays.append(np.asarray(rng.integers(0, spec[2], shape), dtype=np.int64))
        else:
            raise ValueError(kind)
    return arrays


def is_diff(spec) -> bool:
    return spec is not None and spec[0] in ("x", "p")


# ---------------------------------------------------------------------------
# the op cases: id -> (fn(F, *inputs), input specs)
# ---------------------------------------------------------------------------

# (N, C, H, W, O, kernel, stride, padding, dilation, groups, bias)
CONV_GRID = [
    (1, 1, 5, 5, 2, 3, 1, 0, 1, 1, True),
    (2, 3, 7, 6, 4, (3, 2), 2, 1, 1, 1, True),          # odd sizes, rectangular kernel
    (2, 4, 9, 9, 6, 3, (2, 3), (1, 2), 2, 2, True),      # dilation 2, groups 2
    (2, 4, 8, 7, 4, 3, 1, 1, 1, 4, True),                # depthwise
    (1, 3, 6, 6, 6, 3, 2, 1, 1, 3, False),               # depthwise, multiplier 2, no bias
    (1, 2, 7, 7, 3, 2, 3, 0, 1, 1, True),                # stride > kernel
    (3, 2, 6, 5, 2, 3, 1, 2, 1, 1, False),               # padding 2 >= 1, batch 3
    (2, 6, 10, 10, 6, 3, 2, 1, (2, 1), 3, True),         # mixed dilation, groups 3
    (1, 1, 4, 4, 1, 2, 2, 0, 1, 1, True),                # the tutorial 4x4, padding 0
    (1, 1, 4, 4, 1, 2, 2, 1, 1, 1, True),                # ... and padding 1
    (1, 5, 1, 1, 3, 1, 1, 0, 1, 1, True),                # 1x1 conv on a 1x1 image
    (2, 2, 5, 5, 2, 5, 1, 0, 1, 1, True),                # kernel as large as the input
    (1, 1, 32, 32, 6, 5, 1, 0, 1, 1, True),              # LeNet conv1
]

# (N, C, H, W, kernel, stride, padding, ceil_mode, count_include_pad)
POOL_GRID = [
    (1, 2, 4, 4, 2, None, 0, False, True),
    (2, 3, 7, 7, 3, 2, 1, False, True),
    (1, 2, 7, 6, 3, 2, 1, True, True),                   # ceil_mode
    (1, 2, 7, 6, 3, 2, 1, True, False),                  # ceil_mode, count_include_pad False
    (2, 1, 5, 5, 2, 3, 0, False, True),                  # stride > kernel
    (2, 1, 5, 5, 2, 3, 0, True, True),                   # stride > kernel, ceil_mode
    (1, 3, 6, 9, (2, 3), (1, 2), (1, 1), False, False),  # rectangular everything
    (1, 1, 3, 3, 3, 1, 1, False, True),                  # padding on every side
    (1, 1, 3, 3, 3, 1, 1, False, False),
    (2, 2, 8, 8, 3, 3, 1, True, False),
    (1, 2, 9, 9, 4, 2, 2, True, True),
]


def conv_case(n, c, h, w, o, k, s, p, d, g, bias):
    kh, kw = (k, k) if isinstance(k, int) else k
    specs = [("x", (n, c, h, w)), ("x", (o, c // g, kh, kw)), ("x", (o,)) if bias else None]
    return (lambda F, x, wt, b: F.conv2d(x, wt, b, stride=s, padding=p, dilation=d, groups=g)), specs


def pool_case(kind, n, c, h, w, k, s, p, ceil, cip):
    if kind == "max":
        fn = lambda F, x: F.max_pool2d(x, k, s, p, ceil_mode=ceil)  # noqa: E731
    else:
        fn = lambda F, x: F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip)  # noqa: E731
    return fn, [("x", (n, c, h, w))]


CASES = {}
for _case in CONV_GRID:
    CASES["conv2d" + str(_case)] = conv_case(*_case)
for _case in POOL_GRID:
    CASES["max_pool2d" + str(_case)] = pool_case("max", *_case)
    CASES["avg_pool2d" + str(_case)] = pool_case("avg", *_case)
CASES.update({
    "max_pool2d unbatched": (lambda F, x: F.max_pool2d(x, 2), [("x", (3, 6, 6))]),
    "avg_pool2d divisor_override": (lambda F, x: F.avg_pool2d(x, 3, 2, 1, divisor_override=5),
                                    [("x", (1, 2, 7, 7))]),
    "conv2d unbatched": (lambda F, x, w: F.conv2d(x, w, padding=1), [("x", (2, 5, 5)), ("x", (3, 2, 3, 3))]),
    "adaptive_avg_pool2d": (lambda F, x: F.adaptive_avg_pool2d(x, 1), [("x", (2, 3, 5, 4))]),
    "adaptive_avg_pool2d pair": (lambda F, x: F.adaptive_avg_pool2d(x, (1, 1)), [("x", (1, 4, 3, 3))]),
    "linear": (lambda F, x, w, b: F.linear(x, w, b), [("x", (3, 5)), ("x", (4, 5)), ("x", (4,))]),
    "linear no bias": (lambda F, x, w: F.linear(x, w), [("x", (2, 7)), ("x", (3, 7))]),
    "linear 3d input": (lambda F, x, w, b: F.linear(x, w, b), [("x", (2, 3, 5)), ("x", (4, 5)), ("x", (4,))]),
    "linear 1d input": (lambda F, x, w, b: F.linear(x, w, b), [("x", (5,)), ("x", (4, 5)), ("x", (4,))]),
    "relu": (lambda F, x: F.relu(x), [("x", (3, 7))]),
    "relu 4d": (lambda F, x: F.relu(x), [("x", (2, 3, 4, 5))]),
    "relu6": (lambda F, x: F.relu6(x * 4), [("x", (4, 9))]),
    "hardtanh": (lambda F, x: F.hardtanh(x, -0.5, 0.7), [("x", (3, 7))]),
    "hardtanh kw": (lambda F, x: F.hardtanh(x, min_val=-2.0, max_val=1.5), [("x", (2, 3, 4, 5))]),
    "clamp": (lambda F, x: F.clamp(x, -0.3, 0.4), [("x", (3, 7))]),
    "clamp min": (lambda F, x: F.clamp(x, min=-0.3), [("x", (3, 7))]),
    "clamp max": (lambda F, x: F.clamp(x, max=0.2), [("x", (3, 7))]),
    "leaky_relu": (lambda F, x: F.leaky_relu(x), [("x", (3, 7))]),
    "leaky_relu 0.2": (lambda F, x: F.leaky_relu(x, 0.2), [("x", (2, 3, 4, 5))]),
    "sigmoid": (lambda F, x: F.sigmoid(x * 3), [("x", (3, 7))]),
    "tanh": (lambda F, x: F.tanh(x * 2), [("x", (2, 3, 4, 5))]),
    "softmax dim1": (lambda F, x: F.softmax(x, dim=1), [("x", (3, 7))]),
    "softmax dim-1 4d": (lambda F, x: F.softmax(x * 3, dim=-1), [("x", (2, 3, 4, 5))]),
    "softmax dim0": (lambda F, x: F.softmax(x, 0), [("x", (4, 3))]),
    "log_softmax dim1": (lambda F, x: F.log_softmax(x, dim=1), [("x", (3, 7))]),
    "log_softmax dim1 4d": (lambda F, x: F.log_softmax(x * 3, 1), [("x", (2, 3, 4, 5))]),
    "flatten": (lambda F, x: F.flatten(x, 1), [("x", (2, 3, 4, 5))]),
    "flatten 1..2": (lambda F, x: F.flatten(x, 1, 2), [("x", (2, 3, 4, 5))]),
    "flatten 0": (lambda F, x: F.flatten(x, 0), [("x", (2, 3, 4))]),
    "batch_norm eval 4d": (lambda F, x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5),
                           [("x", (2, 3, 4, 5)), ("c", (3,)), ("v", (3,)), ("x", (3,)), ("x", (3,))]),
    "batch_norm train 4d": (lambda F, x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5),
                            [("x", (2, 3, 4, 5)), ("c", (3,)), ("v", (3,)), ("x", (3,)), ("x", (3,))]),
    "batch_norm train 2d": (lambda F, x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, True, 0.3, 1e-3),
                            [("x", (6, 4)), ("c", (4,)), ("v", (4,)), ("x", (4,)), ("x", (4,))]),
    "batch_norm train no stats": (lambda F, x, w, b: F.batch_norm(x, None, None, w, b, True),
                                  [("x", (3, 2, 3)), ("x", (2,)), ("x", (2,))]),
    "batch_norm eval no affine": (lambda F, x, rm, rv: F.batch_norm(x, rm, rv),
                                  [("x", (2, 3, 2, 2)), ("c", (3,)), ("v", (3,))]),
    "mse_loss": (lambda F, x, t: F.mse_loss(x, t), [("x", (4, 3)), ("x", (4, 3))]),
    "mse_loss sum": (lambda F, x, t: F.mse_loss(x, t, reduction="sum"), [("x", (2, 3, 2, 2)), ("x", (2, 3, 2, 2))]),
    "mse_loss none": (lambda F, x, t: F.mse_loss(x, t, reduction="none"), [("x", (4, 1)), ("x", (4, 1))]),
    "cross_entropy": (lambda F, z, t: F.cross_entropy(z * 3, t), [("x", (5, 4)), ("i", (5,), 4)]),
    "cross_entropy sum": (lambda F, z, t: F.cross_entropy(z, t, reduction="sum"), [("x", (3, 10)), ("i", (3,), 10)]),
    "cross_entropy none": (lambda F, z, t: F.cross_entropy(z, t, reduction="none"), [("x", (3, 10)), ("i", (3,), 10)]),
    "cross_entropy 4d": (lambda F, z, t: F.cross_entropy(z, t), [("x", (2, 3, 2, 2)), ("i", (2, 2, 2), 3)]),
    "cross_entropy probs": (lambda F, z, t: F.cross_entropy(z, F.softmax(t, dim=1)), [("x", (3, 4)), ("x", (3, 4))]),
    "cross_entropy unbatched": (lambda F, z, t: F.cross_entropy(z, t), [("x", (6,)), ("i", (), 6)]),
    "nll_loss": (lambda F, z, t: F.nll_loss(F.log_softmax(z, dim=1), t), [("x", (5, 4)), ("i", (5,), 4)]),
    "nll_loss sum": (lambda F, z, t: F.nll_loss(z, t, reduction="sum"), [("x", (5, 4)), ("i", (5,), 4)]),
    # tensor arithmetic (broadcasting-aware backward)
    "add": (lambda F, a, b: a + b, [("x", (3, 4)), ("x", (3, 4))]),
    "add broadcast": (lambda F, a, b: a + b, [("x", (2, 3, 4)), ("x", (3, 1))]),
    "add scalar": (lambda F, a: 2.5 + a + 1, [("x", (3, 4))]),
    "sub broadcast": (lambda F, a, b: a - b, [("x", (4,)), ("x", (3, 1))]),
    "rsub scalar": (lambda F, a: 1 - a, [("x", (3,))]),
    "mul broadcast": (lambda F, a, b: a * b, [("x", (2, 3, 4)), ("x", (1, 4))]),
    "mul self": (lambda F, a: a * a * 3, [("x", (3, 4))]),
    "div broadcast": (lambda F, a, b: a / b, [("x", (2, 3)), ("p", (3,))]),
    "rdiv scalar": (lambda F, b: 2 / b, [("p", (4,))]),
    "neg": (lambda F, a: -a, [("x", (3, 4))]),
    "pow": (lambda F, a: a ** 3, [("x", (3, 4))]),
    "pow fractional": (lambda F, a: a ** 0.5, [("p", (5,))]),
    "exp": (lambda F, a: a.exp(), [("x", (3, 4))]),
    "log": (lambda F, a: a.log(), [("p", (3, 4))]),
    "matmul": (lambda F, a, b: a @ b, [("x", (3, 4)), ("x", (4, 5))]),
    "matmul batched": (lambda F, a, b: a @ b, [("x", (2, 3, 4)), ("x", (4, 2))]),
    "matmul vec": (lambda F, a, b: a @ b, [("x", (3, 4)), ("x", (4,))]),
    "matmul vec-mat": (lambda F, a, b: a @ b, [("x", (4,)), ("x", (2, 4, 3))]),
    "sum all": (lambda F, a: a.sum(), [("x", (3, 4))]),
    "sum dim": (lambda F, a: a.sum(dim=1), [("x", (2, 3, 4))]),
    "sum dims keepdim": (lambda F, a: a.sum(dim=(0, 2), keepdim=True), [("x", (2, 3, 4))]),
    "mean all": (lambda F, a: a.mean(), [("x", (3, 4))]),
    "mean dim": (lambda F, a: a.mean(dim=-1), [("x", (2, 3, 4))]),
    "view": (lambda F, a: a.view(-1, 6) * 2, [("x", (2, 3, 4))]),
    "reshape": (lambda F, a: a.reshape(4, 6).sum(dim=0), [("x", (2, 3, 4))]),
    "Tensor.flatten": (lambda F, a: a.flatten() * 2, [("x", (2, 3, 4))]),
    "transpose": (lambda F, a: a.transpose(0, 2) * 2, [("x", (2, 3, 4))]),
    "getitem": (lambda F, a: a[1:, ::2] * 2, [("x", (3, 4))]),
    "getitem int": (lambda F, a: a[0] + a[2], [("x", (3, 4))]),
})

# where torch has no gradient (heaviside): compare the forward only
TORCH_FORWARD_ONLY = {"step"}
CASES["step"] = (lambda F, x: F.step(x), [("x", (3, 7))])

# a subset run under finite differences (all of them fit in the time budget;
# big ones are trimmed here)
FD_SKIP = {"conv2d" + str(CONV_GRID[-1])}
FD_CASES = [k for k in CASES if k not in FD_SKIP]


# ---------------------------------------------------------------------------
# running a case
# ---------------------------------------------------------------------------

def run_ours(fn, arrays, grad_seed=0):
    """(output array, grad-output array, {input index: grad}) with pyconvert.nn."""
    specs_diff = [a is not None and a.dtype.kind == "f" and d for a, d in arrays]
    tensors = [None if a is None else nn.tensor(a.copy(), requires_grad=rg)
               for (a, _), rg in zip(arrays, specs_diff)]
    y = fn(F, *tensors)
    g = np.random.default_rng(grad_seed).standard_normal(y.shape).astype(y.dtype)
    grads = {}
    if any(specs_diff):
        y.backward(g)
        grads = {i: t.grad for i, t in enumerate(tensors) if t is not None and t.requires_grad}
    return y.data, g, grads


def loss_value(fn, arrays, g) -> float:
    with nn.no_grad():
        y = fn(F, *[None if a is None else nn.from_numpy(a) for a, _ in arrays])
    return float(np.sum(y.data.astype(np.float64) * g))


@pytest.mark.parametrize("case_id", FD_CASES)
def test_backward_matches_finite_differences_float64(case_id):
    fn, specs = CASES[case_id]
    rng = np.random.default_rng(zlib.crc32(case_id.encode()))
    arrays = make_inputs(specs, rng, np.float64)
    pairs = [(a, is_diff(s)) for a, s in zip(arrays, specs)]
    y, g, grads = run_ours(fn, pairs)
    assert y.dtype == np.float64, "float64 inputs must give a float64 output"
    eps = 1e-6
    for i, (a, diff) in enumerate(pairs):
        if not diff:
            continue
        assert grads[i].dtype == np.float64 and grads[i].shape == a.shape
        numeric = np.zeros_like(a)
        flat = a.reshape(-1)                   # a view: perturb in place
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = loss_value(fn, pairs, g)
            flat[j] = orig - eps
            minus = loss_value(fn, pairs, g)
            flat[j] = orig
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        scale = max(1.0, float(np.max(np.abs(numeric))))
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-5, atol=1e-6 * scale,
                                   err_msg=f"{case_id}: d/d(input {i})")


# ---------------------------------------------------------------------------
# against torch
# ---------------------------------------------------------------------------

WORST: dict[str, float] = {}


def assert_close_to_torch(ours, ref, what, rtol=1e-5, atol_scale=1e-6):
    """|a - r| <= rtol |r| + atol_scale * max|r|; records max|a - r| / max|r|."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != torch {ref.shape}"
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
    err = float(np.max(np.abs(ours - ref))) if ref.size else 0.0
    WORST[what] = err / scale
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol_scale * scale, err_msg=what)


@pytest.fixture(scope="module", autouse=True)
def report_worst_errors():
    yield
    if os.environ.get("PYCONVERT_NN_REPORT") == "1" and WORST:
        worst = sorted(WORST.items(), key=lambda kv: -kv[1])[:8]
        print("\nworst max|ours - torch| / max|torch|:")
        for what, err in worst:
            print(f"  {err:.3g}  {what}")


class _TorchF:
    """torch.nn.functional with the names pyconvert.nn.functional adds."""

    def __init__(self, torch):
        self.torch = torch

    def __getattr__(self, name):
        torch, tf = self.torch, self.torch.nn.functional
        if name == "clamp":
            return torch.clamp
        if name == "flatten":
            return lambda x, start_dim=1, end_dim=-1: torch.flatten(x, start_dim, end_dim)
        if name == "step":
            return lambda x: torch.heaviside(x, torch.zeros((), dtype=x.dtype))
        return getattr(tf, name)


def run_torch(torch, fn, arrays):
    tensors = []
    for a, diff in arrays:
        if a is None:
            tensors.append(None)
        else:
            t = torch.from_numpy(a.copy())
            if diff:
                t.requires_grad_(True)
            tensors.append(t)
    y = fn(_TorchF(torch), *tensors)
    return y, tensors


@pytest.mark.parametrize("case_id", list(CASES))
def test_forward_and_backward_match_torch(case_id):
    torch = pytest.importorskip("torch")
    fn, specs = CASES[case_id]
    rng = np.random.default_rng(zlib.crc32(case_id.encode()))
    arrays = make_inputs(specs, rng, np.float32)
    pairs = [(a, is_diff(s)) for a, s in zip(arrays, specs)]
    ours_inputs = [(None if a is None else a.copy(), d) for a, d in pairs]
    torch_inputs = [(None if a is None else a.copy(), d) for a, d in pairs]
    y, g, grads = run_ours(fn, ours_inputs)
    assert y.dtype == np.float32
    ty, tin = run_torch(torch, fn, torch_inputs)
    assert_close_to_torch(y, ty.detach().numpy(), f"{case_id} forward")
    # running statistics updated in place (batch_norm training) must agree too
    for (a, _), (b, _) in zip(ours_inputs, torch_inputs):
        if a is not None and a.dtype.kind == "f":
            assert_close_to_torch(a, b, f"{case_id} in-place inputs")
    if case_id in TORCH_FORWARD_ONLY or not grads:
        return
    ty.backward(torch.from_numpy(g))
    for i, t in enumerate(tin):
        if t is not None and t.requires_grad:
            assert_close_to_torch(grads[i], t.grad.numpy(), f"{case_id} grad input {i}")


# ---------------------------------------------------------------------------
# specific semantics
# ---------------------------------------------------------------------------

def test_max_pool_ties_route_to_the_first_max_in_row_major_order():
    x = nn.tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    y = F.max_pool2d(x, 2, stride=1)                      # overlapping windows, all ties
    y.backward(np.ones(y.shape, np.float32))
    expected = np.zeros((4, 4), np.float32)
    expected[:3, :3] = 1                                  # each window's top-left element
    np.testing.assert_array_equal(x.grad[0, 0], expected)


def test_max_pool_ties_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 2, 7, 7)).astype(np.float32)   # many ties
    for k, s, p, ceil in [(2, 1, 0, False), (3, 2, 1, True), (3, 1, 1, False), (2, 2, 1, True)]:
        ours = nn.tensor(x, requires_grad=True)
        y = F.max_pool2d(ours, k, s, p, ceil_mode=ceil)
        g = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(g)
        t = torch.from_numpy(x.copy()).requires_grad_(True)
        ty = torch.nn.functional.max_pool2d(t, k, s, p, ceil_mode=ceil)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(y.data, ty.detach().numpy())
        np.testing.assert_allclose(ours.grad, t.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_tutorial_max_pool_4x4_gives_four_fours():
    x = nn.tensor([[[[1, 4, 2, 4],
                     [3, 2, 4, 1],
                     [4, 1, 3, 2],
                     [2, 3, 1, 4]]]], requires_grad=False, dtype=np.float32)
    y = F.max_pool2d(x, 2)
    assert y.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 1, 2, 2), 4.0))
    assert nn.MaxPool2d(2, 2)(x).tolist() == [[[[4.0, 4.0], [4.0, 4.0]]]]


@pytest.mark.parametrize("padding,size", [(0, 2), (1, 3)])
def test_tutorial_conv_output_size_kernel2_stride2_on_4x4(padding, size):
    conv = nn.Conv2d(1, 1, kernel_size=2, stride=2, padding=padding)
    y = conv(nn.randn(1, 1, 4, 4))
    assert y.shape == (1, 1, size, size)


def test_avg_pool_divisor_counts_like_torch_at_the_borders():
    x = nn.tensor(np.ones((1, 1, 3, 3), np.float32))
    # count_include_pad: corner windows of a 3x3 kernel with padding 1 hold 4 ones out of 9
    y = F.avg_pool2d(x, 3, 1, 1)
    np.testing.assert_allclose(y.numpy()[0, 0], [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9], [4 / 9, 6 / 9, 4 / 9]],
                               rtol=1e-6)
    y = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    np.testing.assert_allclose(y.numpy(), 1.0, rtol=1e-6)
    # ceil_mode: the extra window past the right edge is not divided by padding it lacks
    x = nn.tensor(np.ones((1, 1, 5, 5), np.float32))
    y = F.avg_pool2d(x, 2, 2, ceil_mode=True)
    assert y.shape == (1, 1, 3, 3)
    np.testing.assert_allclose(y.numpy(), 1.0, rtol=1e-6)


def test_step_forward_and_zero_gradient():
    x = nn.tensor([-2.0, 0.0, 1e-7, 3.0], requires_grad=True)
    y = F.step(x)
    np.testing.assert_array_equal(y.numpy(), [0, 0, 1, 1])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(4))


@pytest.mark.parametrize("name", ["relu", "relu6", "hardtanh", "clamp", "leaky_relu"])
def test_gradients_at_the_kinks_match_torch(name):
    torch = pytest.importorskip("torch")
    values = np.array([-6.0, -1.0, -0.5, 0.0, 0.5, 1.0, 6.0, 7.0], np.float32)
    call = {"relu": lambda F, x: F.relu(x), "relu6": lambda F, x: F.relu6(x),
            "hardtanh": lambda F, x: F.hardtanh(x, -0.5, 1.0),
            "clamp": lambda F, x: F.clamp(x, -0.5, 1.0),
            "leaky_relu": lambda F, x: F.leaky_relu(x, 0.1)}[name]
    ours = nn.tensor(values, requires_grad=True)
    call(F, ours).sum().backward()
    t = torch.from_numpy(values.copy()).requires_grad_(True)
    call(_TorchF(torch), t).sum().backward()
    np.testing.assert_array_equal(ours.grad, t.grad.numpy())


def test_softmax_family_stays_finite_for_huge_inputs():
    x = nn.tensor([[-1e4, -100.0, 0.0, 100.0, 1e4]])
    for fn in (F.sigmoid, F.tanh, lambda t: F.softmax(t, dim=1), lambda t: F.log_softmax(t, dim=1)):
        assert np.all(np.isfinite(fn(x).numpy()))
    assert np.isfinite(F.cross_entropy(x, np.array([0])).item())


def test_dropout_train_masks_and_scales_eval_is_identity():
    nn.manual_seed(3)
    x = nn.tensor(np.ones((200, 50), np.float32), requires_grad=True)
    y = F.dropout(x, 0.25, training=True)
    kept = y.numpy() != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.numpy())          # dx = mask / (1 - p)
    assert F.dropout(x, 0.25, training=False) is x
    assert y.op.name == "dropout" and y.op.attrs == {"p": 0.25, "training": True}


# ---------------------------------------------------------------------------
# autograd mechanics
# ---------------------------------------------------------------------------

def test_backward_accumulates_and_follows_shared_subexpressions():
    x = nn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x                 # used twice below
    z = (y + y * 2).sum()     # dz/dx = 3 * 2x
    z.backward()
    np.testing.assert_allclose(x.grad, [6, 12, 18])
    z.backward()              # accumulates, like torch
    np.testing.assert_allclose(x.grad, [12, 24, 36])


def test_no_grad_records_nothing_and_grad_needs_a_scalar():
    w = nn.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    with nn.no_grad():
        y = w @ w
        assert not nn.is_grad_enabled()
    assert nn.is_grad_enabled()
    assert y.op is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (w * 2).backward()


def test_no_grad_works_as_a_decorator():
    @nn.no_grad()
    def f(t):
        return t * 2
    assert f(nn.tensor([1.0], requires_grad=True)).op is None


def test_ops_are_recorded_without_grad_for_tracing():
    x = nn.randn(1, 1, 6, 6)              # a plain input: requires_grad False
    y = F.relu(F.max_pool2d(x, 2))
    assert not y.requires_grad
    assert y.op.name == "relu" and y.op.inputs[0].op.name == "max_pool2d"
    assert y.op.inputs[0].op.inputs[0] is x
    assert y.op.inputs[0].op.attrs == {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0),
                                       "dilation": (1, 1), "ceil_mode": False}


def test_op_records_use_the_documented_names_and_attributes():
    x = nn.randn(2, 3, 8, 8)
    w, b = nn.randn(4, 3, 3, 3), nn.randn(4)
    outs = [
        F.conv2d(x, w, b, 2, 1, 1, 1), F.conv2d(x, w), F.linear(nn.randn(2, 5), nn.randn(3, 5)),
        F.max_pool2d(x, 2), F.avg_pool2d(x, 3, 2, 1, True, False), F.adaptive_avg_pool2d(x, 1),
        F.relu(x), F.relu6(x), F.hardtanh(x, -1, 2), F.clamp(x, 0, 1), F.leaky_relu(x, 0.2),
        F.sigmoid(x), F.tanh(x), F.step(x), F.softmax(x, 1), F.log_softmax(x, -1), F.flatten(x),
        F.batch_norm(x, nn.zeros(3), nn.ones(3)), F.mse_loss(x, x), F.nll_loss(nn.randn(2, 3), [0, 1]),
        F.cross_entropy(nn.randn(2, 3), [0, 2]), x + x, x - 1, x * x, x / 2, -x, x ** 2, x.exp(),
        (x * x).log(), x.view(2, -1) @ nn.randn(192, 2), x.sum(), x.mean(dim=1), x.reshape(6, -1),
        x.flatten(), x.transpose(0, 1), x[0], x.double(),
    ]
    for y in outs:
        slots, attrs = nn.OP_ATTRS[y.op.name]
        assert len(y.op.inputs) == len(slots), y.op.name
        assert tuple(y.op.attrs) == attrs, y.op.name
    conv = outs[0].op
    assert conv.inputs[1] is w and conv.inputs[2] is b
    assert conv.attrs == {"stride": (2, 2), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    assert outs[1].op.inputs[2] is None                       # absent bias slot
    assert outs[15].op.attrs == {"dim": 3}                    # dims normalised
    assert outs[16].op.attrs == {"start_dim": 1, "end_dim": 3}


def test_float64_inputs_keep_float64_everywhere():
    x = nn.tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = nn.tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = F.log_softmax(F.linear(F.flatten(F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)),
                               nn.tensor(np.ones((5, 36)))), dim=1)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float64 and w.grad.dtype == np.float64


def test_python_scalars_do_not_promote_float32():
    x = nn.tensor([1.0, 2.0])
    for y in (x + 1.5, 2.0 * x, x / 3, 1 - x, x ** 2, F.leaky_relu(x, 0.3), F.clamp(x, 0, 1)):
        assert y.dtype == np.float32


def test_tensor_basics():
    t = nn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.dtype == np.float32 and nn.tensor([1, 2]).dtype == np.int64
    assert t.shape == (2, 2) and t.size() == (2, 2) and t.size(1) == 2 and t.dim() == 2
    assert t.sum().item() == 10.0
    a = np.zeros(3, np.float64)
    assert nn.from_numpy(a).numpy() is a and nn.from_numpy(a).dtype == np.float64
    assert np.asarray(t).shape == (2, 2)
    r = np.ones((2, 2), np.float32) + t              # numpy defers to Tensor
    assert isinstance(r, nn.Tensor) and r.op.name == "add"
    with pytest.raises(RuntimeError, match="floating point"):
        nn.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="cannot reshape"):
        t.view(3, -1)


def test_retain_grad_keeps_an_intermediate_gradient():
    x = nn.tensor([1.0, -2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    F.relu(h).sum().backward()
    np.testing.assert_array_equal(h.grad, [1, 0])
    np.testing.assert_array_equal(x.grad, [3, 0])


# ---------------------------------------------------------------------------
# bad arguments
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: F.conv2d(nn.zeros(1, 3, 8, 8), nn.zeros(6, 1, 5, 5)), r"conv2d: expected input \(N, 1, H, W\), got \(1, 3, 8, 8\)"),
    (lambda: F.conv2d(nn.zeros(1, 1, 3, 3), nn.zeros(6, 1, 5, 5)), r"conv2d: input \(1, 1, 3, 3\) padded to \(3, 3\)"),
    (lambda: F.conv2d(nn.zeros(8, 8), nn.zeros(6, 1, 5, 5)), r"conv2d: expected input \(N, 1, H, W\), got \(8, 8\)"),
    (lambda: F.conv2d(nn.zeros(1, 4, 8, 8), nn.zeros(6, 2, 3, 3), groups=4), "groups=4"),
    (lambda: F.conv2d(nn.zeros(1, 1, 8, 8), nn.zeros(6, 1, 3, 3), stride=0), "stride must be >= 1"),
    (lambda: F.conv2d(nn.zeros(1, 1, 8, 8), nn.zeros(6, 1, 3, 3), padding=(1, 2, 3)), "padding must be an int or a pair"),
    (lambda: F.conv2d(nn.zeros(1, 1, 8, 8), nn.zeros(6, 1, 3, 3), nn.zeros(5)), r"expected bias \(6,\)"),
    (lambda: F.linear(nn.zeros(1, 576), nn.zeros(120, 400)), r"linear: expected input \(\.\.\., 400\), got \(1, 576\)"),
    (lambda: F.max_pool2d(nn.zeros(1, 1, 4, 4), 2, dilation=2), "only dilation=1"),
    (lambda: F.max_pool2d(nn.zeros(1, 1, 1, 1), 2), r"max_pool2d: input \(1, 1, 1, 1\) is too small"),
    (lambda: F.max_pool2d(nn.zeros(1, 1, 6, 6), 2, padding=2), "at most half"),
    (lambda: F.max_pool2d(nn.zeros(6, 6), 2), r"expected input \(N, C, H, W\), got \(6, 6\)"),
    (lambda: F.avg_pool2d(nn.zeros(1, 1, 6, 6), 3, padding=2), "at most half"),
    (lambda: F.adaptive_avg_pool2d(nn.zeros(1, 1, 6, 6), 2), "only output_size 1"),
    (lambda: F.mse_loss(nn.zeros(4, 1), nn.zeros(4)), r"mse_loss: input \(4, 1\) and target \(4,\)"),
    (lambda: F.cross_entropy(nn.zeros(2, 3), np.array([0, 3])), "target 3 is out of range for 3 classes"),
    (lambda: F.cross_entropy(nn.zeros(2, 3), np.array([0, 1, 2])), r"expected target \(2,\)"),
    (lambda: F.batch_norm(nn.zeros(1, 3), None, None, training=True), "more than 1 value per channel"),
    (lambda: F.batch_norm(nn.zeros(2, 3), nn.zeros(4), nn.ones(4)), r"expected running_mean \(3,\)"),
    (lambda: F.dropout(nn.zeros(2), 1.5), "between 0 and 1"),
    (lambda: F.hardtanh(nn.zeros(2), 1.0, 0.0), "greater than"),
    (lambda: F.flatten(nn.zeros(3), 1), "out of range"),
])
def test_bad_arguments_raise_value_error_naming_op_and_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()
