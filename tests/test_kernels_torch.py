"""The C kernels straight against PyTorch autograd (float64 oracle), no numpy in between.

`kernel_errors()` is also what benchmarks/accuracy_vs_torch.py prints: the worst
relative error of every kernel, forward and backward, over the shape grids.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyconvert.host import kernels as K

from kernel_cases import assert_close, rand, to_nchw, to_nhwc
from test_kernels_f32 import CONV_CASES, POOL_CASES

torch = pytest.importorskip("torch")


def _t(a):
    return torch.tensor(np.asarray(a, np.float64), requires_grad=True)


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def conv_errors(case):
    n, c, h, w, o, k, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(0)
    x, wt = rand(rng, n, c, h, w), rand(rng, o, c // groups, *k, scale=0.5)
    b = rand(rng, o) if bias else None
    tx, tw = _t(x), _t(wt)
    tb = _t(b) if bias else None
    y = torch.nn.functional.conv2d(tx, tw, tb, _pair(stride), _pair(padding), _pair(dilation), groups)
    dy = rand(rng, *y.shape)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    kw = dict(stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation), groups=groups)
    yc = to_nchw(K.conv2d(to_nhwc(x), to_nhwc(wt), b, **kw))
    dx, dw, db = K.conv2d_backward(to_nhwc(x), to_nhwc(wt), to_nhwc(dy), **kw)
    errs = {"conv2d": assert_close(yc, y.detach().numpy(), what="y"),
            "conv2d dx": assert_close(to_nchw(dx), tx.grad.numpy(), what="dx"),
            "conv2d dw": assert_close(to_nchw(dw), tw.grad.numpy(), what="dw")}
    if bias:
        errs["conv2d db"] = assert_close(db, tb.grad.numpy(), what="db")
    return errs


def pool_errors(case, kind):
    n, c, h, w, k, s, p, ceil, cip = case
    rng = np.random.default_rng(1)
    x = rand(rng, n, c, h, w)
    tx = _t(x)
    if kind == "max":
        y = torch.nn.functional.max_pool2d(tx, k, s, p, ceil_mode=ceil)
    else:
        y = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    dy = rand(rng, *y.shape)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    if kind == "max":
        yc = K.maxpool2d(to_nhwc(x), k, s, p, ceil)
        dx = K.maxpool2d_backward(to_nhwc(x), to_nhwc(dy), k, s, p, ceil)
    else:
        yc = K.avgpool2d(to_nhwc(x), k, s, p, ceil, cip)
        dx = K.avgpool2d_backward(to_nhwc(x).shape, to_nhwc(dy), k, s, p, ceil, cip)
    return {f"{kind}pool2d": assert_close(to_nchw(yc), y.detach().numpy()),
            f"{kind}pool2d dx": assert_close(to_nchw(dx), tx.grad.numpy())}


def linear_errors():
    rng = np.random.default_rng(2)
    x, wt, b = rand(rng, 3, 400), rand(rng, 120, 400, scale=0.05), rand(rng, 120)
    tx, tw, tb = _t(x), _t(wt), _t(b)
    y = torch.nn.functional.linear(tx, tw, tb)
    dy = rand(rng, 3, 120)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    dx, dw, db = K.linear_backward(x, wt, dy)
    return {"linear": assert_close(K.linear(x, wt, b), y.detach().numpy()),
            "linear dx": assert_close(dx, tx.grad.numpy()),
            "linear dw": assert_close(dw, tw.grad.numpy()),
            "linear db": assert_close(db, tb.grad.numpy())}


def activation_errors():
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    x = rand(rng, 4, 9, scale=3.0)
    cases = {
        "relu": (K.relu, K.relu_backward, F.relu),
        "relu6": (lambda a: K.clip(a, 0, 6), lambda y, d: K.clip_backward(y, d, 0, 6), F.relu6),
        "leaky_relu": (lambda a: K.leaky_relu(a, 0.2), lambda y, d: K.leaky_relu_backward(y, d, 0.2),
                       lambda t: F.leaky_relu(t, 0.2)),
        "sigmoid": (K.sigmoid, K.sigmoid_backward, torch.sigmoid),
        "tanh": (K.tanh, K.tanh_backward, torch.tanh),
        "softmax": (K.softmax, K.softmax_backward, lambda t: F.softmax(t, dim=1)),
        "log_softmax": (K.log_softmax, K.log_softmax_backward, lambda t: F.log_softmax(t, dim=1)),
    }
    errs = {}
    for name, (fwd, bwd, ref) in cases.items():
        tx = _t(x)
        y = ref(tx)
        dy = rand(rng, *x.shape)
        y.backward(torch.tensor(dy, dtype=torch.float64))
        yc = fwd(x)
        errs[name] = assert_close(yc, y.detach().numpy(), what=name)
        errs[name + " dx"] = assert_close(bwd(yc, dy), tx.grad.numpy(), what=name + " dx")
    return errs


def loss_errors():
    rng = np.random.default_rng(4)
    z, labels = rand(rng, 6, 10, scale=2.0), rng.integers(0, 10, 6)
    tz = _t(z)
    loss = torch.nn.functional.cross_entropy(tz, torch.tensor(labels))
    loss.backward()
    l_c, dz = K.cross_entropy(z, labels)
    p, t = rand(rng, 5, 3), rand(rng, 5, 3)
    tp = _t(p)
    mse = torch.nn.functional.mse_loss(tp, torch.tensor(t, dtype=torch.float64))
    mse.backward()
    m_c, dp = K.mse_loss(p, t)
    return {"cross_entropy": assert_close(l_c, loss.item()), "cross_entropy dz": assert_close(dz, tz.grad.numpy()),
            "mse_loss": assert_close(m_c, mse.item()), "mse_loss dp": assert_close(dp, tp.grad.numpy())}


def optimizer_errors():
    """20 steps from the same start with the same gradients, vs torch.optim (float32)."""
    rng = np.random.default_rng(5)
    p0 = rand(rng, 64)
    grads = [rand(rng, 64) for _ in range(20)]
    errs = {}
    for name, cfg in (("sgd momentum nesterov wd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
                      ("adam wd", dict(lr=0.01, weight_decay=0.01))):
        tp = torch.nn.Parameter(torch.tensor(p0))
        opt = (torch.optim.SGD if name.startswith("sgd") else torch.optim.Adam)([tp], **cfg, foreach=False)
        p, a, b = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for step, g in enumerate(grads, start=1):
            tp.grad = torch.tensor(g)
            opt.step()
            if name.startswith("sgd"):
                K.sgd_step(p, g, a, step, **cfg)
            else:
                K.adam_step(p, g, a, b, step, **cfg)
        errs[name] = assert_close(p, tp.detach().numpy(), rtol=1e-5, what=name)
    return errs


def kernel_errors() -> dict:
    """Worst relative error per kernel over every case."""
    worst = {}
    def add(errs):
        for k, v in errs.items():
            worst[k] = max(worst.get(k, 0.0), v)
    for case in CONV_CASES:
        add(conv_errors(case))
    for case in POOL_CASES:
        add(pool_errors(case, "max"))
        add(pool_errors(case, "avg"))
    for fn in (linear_errors, activation_errors, loss_errors, optimizer_errors):
        add(fn())
    return worst


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[:5])))
def test_conv2d_vs_torch(case):
    conv_errors(case)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_vs_torch(case, kind):
    pool_errors(case, kind)


@pytest.mark.parametrize("fn", [linear_errors, activation_errors, loss_errors, optimizer_errors],
                         ids=lambda f: f.__name__)
def test_vs_torch(fn):
    fn()
