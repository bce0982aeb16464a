"""Integer-only training (mt_q.h): C kernels against the numpy integer reference,
gradient direction against the float backward, training from scratch and
fine-tuning through cffi, and the absence of float in the cross-compiled objects.

The C code runs through cffi (pyconvert.host.kernels_q); the oracle is
pyconvert.quant.qtrain_reference (numpy int64). Both take the same arguments, so
every kernel comparison is exact equality of values and exponents.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pyconvert.host import kernels as KF
from pyconvert.host import kernels_q as C
from pyconvert.host.kernels import KernelError
from pyconvert.host.runtime import runtime
from pyconvert.quant import qtrain_reference as R

ROOT = Path(__file__).resolve().parent.parent
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def s8(rng, *shape, lo=-127, hi=127, zeros=0.0):
    v = rng.integers(lo, hi + 1, size=shape)
    if zeros:
        v[rng.random(shape) < zeros] = 0
    return v.astype(np.int8)


def same(c, r, what=""):
    c, r = np.asarray(c), np.asarray(r)
    assert c.shape == r.shape, f"{what}: shape {c.shape} != {r.shape}"
    bad = np.flatnonzero(c.reshape(-1).astype(np.int64) != r.reshape(-1).astype(np.int64))
    assert bad.size == 0, (f"{what}: {bad.size} of {c.size} differ, first at {bad[0]}: "
                           f"C {c.reshape(-1)[bad[0]]} != reference {r.reshape(-1)[bad[0]]}")


def same_q(c, r, what=""):
    same(c[0], r[0], what)
    assert c[1] == r[1], f"{what}: exponent C {c[1]} != reference {r[1]}"


# ---- helpers -------------------------------------------------------------------------------

def test_rand_matches_reference_and_is_xorshift32():
    s_c = s_r = 2463534242
    for _ in range(1000):
        (v_c, s_c), (v_r, s_r) = C.rand(s_c), R.rand(s_r)
        assert v_c == v_r == s_c == s_r
    assert C.rand(1) == (270369, 270369)   # 1 ^ 1<<13 = 8193; ^ >>17 = 8193; ^ <<5 -> 270369


def test_scalar_helpers_edges():
    for v in [0, 1, -1, 2, -2, 3, -3, 127, 128, -128, 255, 2 ** 31 - 1, -2 ** 31, 2 ** 40, -2 ** 40,
              2 ** 62, -2 ** 62, 2 ** 63 - 1, -2 ** 63]:
        for s in [-70, -40, -31, -1, 0, 1, 2, 7, 31, 32, 62, 63, 100]:
            assert C.shift_round(v, s) == R.shift_round(v, s), (v, s)
    assert C.shift_round(3, 1) == 2 and C.shift_round(-3, 1) == -1   # ties toward +inf
    assert C.shift_round(1, -40) == INT32_MAX and C.shift_round(-1, -40) == INT32_MIN
    for v in [0, 1, 2, 3, 127, 128, 2 ** 31, 2 ** 32 - 1]:
        assert C.bitlen(v) == R.bitlen(v)
    assert C.sat_add(INT32_MAX, 1) == INT32_MAX and C.sat_add(INT32_MIN, -1) == INT32_MIN


@pytest.mark.parametrize("seed", range(20))
def test_requantize_random(seed):
    rng = np.random.default_rng(seed)
    bits = int(rng.integers(0, 32))
    v = rng.integers(-(2 ** bits), 2 ** bits, size=int(rng.integers(1, 200)), dtype=np.int64)
    v = np.clip(v, INT32_MIN, INT32_MAX).astype(np.int32)
    e = int(rng.integers(-40, 40))
    same_q(C.requantize(v, e), R.requantize(v, e), "requantize")
    same_q(C.refresh_weights(v, e), R.refresh_weights(v, e), "refresh")
    q, e2 = C.requantize(v, e)
    assert np.abs(q.astype(int)).max() <= 127


# ---- layers: C == reference over random shapes ----------------------------------------------

@pytest.mark.parametrize("seed", range(25))
def test_linear_random(seed):
    rng = np.random.default_rng(seed)
    n, k, o = (int(rng.integers(1, m)) for m in (6, 40, 20))
    x = s8(rng, n, k, zeros=0.3)
    w = s8(rng, o, k)
    ex, ew = (int(v) for v in rng.integers(-12, 4, 2))
    bias = rng.integers(-(2 ** 24), 2 ** 24, size=o).astype(np.int32) if seed % 3 else None
    eb = int(rng.integers(-30, -5))
    relu = bool(seed % 2)
    same_q(C.linear_q(x, ex, w, ew, bias, eb, relu), R.linear_q(x, ex, w, ew, bias, eb, relu),
           "linear")
    dy = s8(rng, n, o, zeros=0.2)
    edy = int(rng.integers(-20, 0))
    same_q(C.linear_q_backward(x.shape, w, ew, dy, edy), R.linear_q_backward(x.shape, w, ew, dy, edy),
           "linear dx")
    o0 = int(rng.integers(0, o + 1))
    o1 = int(rng.integers(o0, o + 1))
    for c, r in zip(C.linear_q_backward_params(x, dy, o0, o1),
                    R.linear_q_backward_params(x, dy, o0, o1)):
        same(c, r, "linear dW/db")


def test_linear_saturating_bias_and_nhwc_input():
    x = np.full((1, 2, 2, 3), 127, np.int8)          # K = 12 from an NHWC input
    w = np.full((2, 12), 127, np.int8)
    bias = np.array([INT32_MAX, INT32_MIN], np.int32)
    for args in [(x, 0, w, 0, bias, 10), (x, -3, w, 2, bias, -40)]:
        same_q(C.linear_q(*args), R.linear_q(*args), "saturating bias")


CONV_CASES = [
    # x shape, w shape, stride, padding, dilation, groups
    ((2, 6, 5, 3), (4, 3, 3, 3), 1, 1, 1, 1),
    ((1, 7, 7, 4), (6, 3, 2, 2), (2, 1), (1, 0, 0, 1), 1, 2),
    ((3, 8, 8, 2), (2, 3, 3, 1), 1, 2, 2, 2),
    ((1, 5, 9, 1), (3, 1, 3, 1), (1, 2), 0, 1, 1),
    ((2, 4, 4, 4), (4, 3, 3, 1), 1, 1, 1, 4),          # depthwise
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("seed", range(3))
def test_conv2d_random(case, seed):
    xs, ws, stride, padding, dilation, groups = CONV_CASES[case]
    rng = np.random.default_rng(100 * case + seed)
    x, w = s8(rng, *xs, zeros=0.2), s8(rng, *ws)
    bias = rng.integers(-(2 ** 20), 2 ** 20, size=ws[0]).astype(np.int32)
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ex, ew, eb = -7, -9, -25 + seed
    yc = C.conv2d_q(x, ex, w, ew, bias, eb, relu=seed == 1, **geo)
    same_q(yc, R.conv2d_q(x, ex, w, ew, bias, eb, relu=seed == 1, **geo), "conv")
    dy = s8(rng, *yc[0].shape, zeros=0.3)
    same_q(C.conv2d_q_backward(xs, w, ew, dy, -11, **geo),
           R.conv2d_q_backward(xs, w, ew, dy, -11, **geo), "conv dx")
    o0 = int(rng.integers(0, ws[0]))
    for c, r in zip(C.conv2d_q_backward_params(x, ws, dy, o_begin=o0, o_end=ws[0], **geo),
                    R.conv2d_q_backward_params(x, ws, dy, o_begin=o0, o_end=ws[0], **geo)):
        same(c, r, "conv dW/db")


@pytest.mark.parametrize("seed", range(6))
def test_maxpool_relu_random(seed):
    rng = np.random.default_rng(seed)
    shape = (2, int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 5)))
    x = s8(rng, *shape, lo=-5, hi=5)           # many ties: the first maximum must win
    geo = [dict(kernel_size=2), dict(kernel_size=3, stride=3, padding=1),
           dict(kernel_size=2, ceil_mode=True)][seed % 3]
    y = C.maxpool2d_q(x, **geo)
    same(y, R.maxpool2d_q(x, **geo), "maxpool")
    dy = s8(rng, *y.shape)
    same(C.maxpool2d_q_backward(x, dy, **geo), R.maxpool2d_q_backward(x, dy, **geo), "maxpool dx")
    same(C.relu_q(x), R.relu_q(x), "relu")
    same(C.relu_q_backward(x, x), R.relu_q_backward(x, x), "relu dx")


def test_maxpool_backward_matches_float_routing():
    rng = np.random.default_rng(7)
    x = s8(rng, 2, 6, 6, 3, lo=-3, hi=3)
    dy = s8(rng, 2, 3, 3, 3)
    dx = C.maxpool2d_q_backward(x, dy, 2)
    df = KF.maxpool2d_backward(x.astype(np.float32), dy.astype(np.float32), 2)
    same(dx, df.astype(np.int64), "first max as the float kernel")


# ---- losses ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(20))
def test_cross_entropy_random(seed):
    rng = np.random.default_rng(seed)
    rows, classes = int(rng.integers(1, 9)), int(rng.integers(1, 15))
    z = s8(rng, rows, classes)
    labels = rng.integers(0, classes, rows)
    ez = int(rng.integers(-10, 3))
    c, r = C.cross_entropy_q(z, ez, labels), R.cross_entropy_q(z, ez, labels)
    assert c[0] == r[0]
    same_q(c[1:], r[1:], "cross-entropy grad")


@pytest.mark.parametrize("seed", range(10))
def test_cross_entropy_close_to_float(seed):
    rng = np.random.default_rng(seed)
    z = s8(rng, 6, 10)
    labels = rng.integers(0, 10, 6)
    ez = -5
    loss_q, dz, edz = C.cross_entropy_q(z, ez, labels)
    zf = R.dequantize(z, ez).astype(np.float32)
    loss_f, dz_f = KF.cross_entropy(zf, labels)
    assert abs(loss_q / 65536 - float(loss_f)) < 2e-3 * max(1.0, float(loss_f))
    np.testing.assert_allclose(R.dequantize(dz, edz), dz_f, atol=2.0 ** edz)


@pytest.mark.parametrize("seed", range(20))
def test_mse_random(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 7)))
    y, t = s8(rng, *shape), s8(rng, *shape)
    ey, et = int(rng.integers(-12, 2)), int(rng.integers(-30, 2))
    c, r = C.mse_loss_q(y, ey, t, et), R.mse_loss_q(y, ey, t, et)
    assert c[0] == r[0]
    same_q(c[1:], r[1:], "mse grad")
    if abs(ey - et) <= 16:
        loss_f, d_f = KF.mse_loss(R.dequantize(y, ey).astype(np.float32),
                                  R.dequantize(t, et).astype(np.float32))
        want = min(float(loss_f), INT32_MAX / 65536)          # Q16.16 saturates
        assert abs(c[0] / 65536 - want) <= 1e-4 * want + 2 ** -16
        np.testing.assert_allclose(R.dequantize(c[1], c[2]), d_f, atol=2.0 ** c[2], rtol=0)


# ---- optimizer -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_sgd_random(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 300))
    master = rng.integers(-(2 ** 24), 2 ** 24, size).astype(np.int32)
    grad = rng.integers(-(2 ** 20), 2 ** 20, size).astype(np.int32)
    em, eg = -30, int(rng.integers(-40, 10))
    m, k = R.lr_to_fixed(float(rng.uniform(1e-4, 1.0)))
    state = int(rng.integers(1, 2 ** 32))
    mc, sc = C.sgd_update_q(master.copy(), em, grad, eg, m, k, state)
    mr, sr = R.sgd_update_q(master, em, grad, eg, m, k, state)
    same(mc, mr, "sgd")
    assert sc == sr


@pytest.mark.parametrize("seed", range(8))
def test_sgd_momentum_random(seed):
    rng = np.random.default_rng(50 + seed)
    size = int(rng.integers(1, 200))
    master = rng.integers(-(2 ** 24), 2 ** 24, size).astype(np.int32)
    velocity = rng.integers(-(2 ** 20), 2 ** 20, size).astype(np.int32)
    grad = rng.integers(-(2 ** 20), 2 ** 20, size).astype(np.int32)
    em, eg = -30, int(rng.integers(-40, 10))
    m, k = R.lr_to_fixed(float(rng.uniform(1e-4, 1.0)))
    mm, mk = R.lr_to_fixed(float(rng.uniform(0.5, 0.99)))
    state = int(rng.integers(1, 2 ** 32))
    c = C.sgd_update_q(master.copy(), em, grad, eg, m, k, state, velocity.copy(), mm, mk)
    r = R.sgd_update_q(master, em, grad, eg, m, k, state, velocity, mm, mk)
    same(c[0], r[0], "momentum master")
    same(c[1], r[1], "velocity")
    assert c[2] == r[2]


def test_sgd_momentum_follows_torch_formula():
    """Exact case (t >= 0, mu = 1/2 on even velocities): p, buf as torch.optim.SGD."""
    p, v, s = np.zeros(1, np.int32), np.zeros(1, np.int32), 9
    pf, buf = 0.0, None
    for g in [8, 8, -4, 16]:
        p, v, s = C.sgd_update_q(p, 0, [g], 0, 1, 0, s, v, 1, 1)
        buf = g if buf is None else 0.5 * buf + g
        pf -= buf
        assert p[0] == pf and v[0] == buf


def test_sgd_saturates_and_rounds_unbiased():
    # huge step: saturation at both ends, no PRNG use when t >= 0
    master = np.array([INT32_MAX - 5, INT32_MIN + 5, 0], np.int32)
    grad = np.array([-(2 ** 30), 2 ** 30, 1], np.int32)
    mc, sc = C.sgd_update_q(master, 0, grad, 10, 65535, 0, 99)
    assert mc.tolist() == [INT32_MAX, INT32_MIN, -65535 * 1024] and sc == 99
    # tiny step: 0.25 master LSB per update, stochastic rounding moves ~1/4 on average
    master = np.zeros(20000, np.int32)
    grad = np.ones(20000, np.int32)
    mc, _ = C.sgd_update_q(master, 0, grad, 0, 1, 2, 12345)   # lr = 1/4
    assert set(np.unique(mc)) <= {0, -1}
    assert abs(float(-mc.mean()) - 0.25) < 0.01


# ---- status codes ----------------------------------------------------------------------------

def test_status_codes():
    x, w = np.ones((2, 3), np.int8), np.ones((4, 3), np.int8)
    with pytest.raises(KernelError) as err:
        C.linear_q(x, 5000, w, 0)
    assert err.value.status == -8                           # exponent out of range
    with pytest.raises(KernelError) as err:
        C.linear_q_backward_params(x, np.ones((2, 4), np.int8), 3, 2)
    assert err.value.status == -8
    with pytest.raises(KernelError) as err:
        C.sgd_update_q(np.zeros(3, np.int32), 0, np.zeros(3, np.int32), 0, 1, 1, 0)
    assert err.value.status == -2                           # zero PRNG state
    with pytest.raises(KernelError) as err:
        C.maxpool2d_q_backward(np.ones((1, 4, 4, 1), np.int8), np.ones((1, 3, 3, 1), np.int8),
                               2, stride=1)
    assert err.value.status == -5                           # overlapping windows
    with pytest.raises(KernelError) as err:
        C.cross_entropy_q(np.ones((2, 3), np.int8), 0, [0, 3])
    assert err.value.status == -8
    big = np.ones((1, 2 ** 17), np.int8)
    with pytest.raises(KernelError) as err:
        C.linear_q(big, 0, np.ones((1, 2 ** 17), np.int8), 0)
    assert err.value.status == -5                           # reduction too long for int32


# ---- gradient direction: integer backward vs float backward of the same values ----------------

def cosine(a, b):
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("seed", range(5))
def test_linear_gradient_direction(seed):
    rng = np.random.default_rng(seed)
    x, w, dy = s8(rng, 8, 30), s8(rng, 12, 30), s8(rng, 8, 12)
    ex, ew, edy = -7, -8, -12
    dx, edx = C.linear_q_backward(x.shape, w, ew, dy, edy)
    dw, _ = C.linear_q_backward_params(x, dy)
    xf, wf, dyf = R.dequantize(x, ex), R.dequantize(w, ew), R.dequantize(dy, edy)
    assert cosine(R.dequantize(dx, edx), dyf @ wf) > 0.99
    assert cosine(R.dequantize(dw, edy + ex), dyf.T @ xf) > 0.99


@pytest.mark.parametrize("case", [0, 1, 4])
def test_conv_gradient_direction(case):
    xs, ws, stride, padding, dilation, groups = CONV_CASES[case]
    rng = np.random.default_rng(case)
    x, w = s8(rng, *xs), s8(rng, *ws)
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y, _ = C.conv2d_q(x, -7, w, -8, **geo)
    dy = s8(rng, *y.shape)
    dx, edx = C.conv2d_q_backward(xs, w, -8, dy, -12, **geo)
    dw, _ = C.conv2d_q_backward_params(x, ws, dy, **geo)
    xf, wf, dyf = (R.dequantize(v, e).astype(np.float32) for v, e in ((x, -7), (w, -8), (dy, -12)))
    dxf, dwf, _ = KF.conv2d_backward(xf, wf, dyf, **geo)
    assert cosine(R.dequantize(dx, edx), dxf) > 0.99
    assert cosine(R.dequantize(dw, -12 - 7), dwf) > 0.99


# ---- training integer-only through the C kernels -----------------------------------------------

class QLinear:
    """A trainable linear layer: int32 masters (fixed exponents) + int8 forward copy."""

    def __init__(self, w, b, lr, relu, momentum=0.0):
        self.w, self.ew_master = R.master_from_float(w)
        self.b, self.eb = R.master_from_float(b)
        self.lr = R.lr_to_fixed(lr)
        self.momentum = R.lr_to_fixed(momentum) if momentum else None
        self.vw, self.vb = np.zeros_like(self.w), np.zeros_like(self.b)
        self.relu = relu
        self.refresh()

    def _sgd(self, master, exp, grad, grad_exp, velocity, state):
        if self.momentum is None:
            return C.sgd_update_q(master, exp, grad, grad_exp, *self.lr, state)[1]
        return C.sgd_update_q(master, exp, grad, grad_exp, *self.lr, state, velocity,
                              *self.momentum)[2]

    def refresh(self):
        self.w8, self.ew = C.refresh_weights(self.w, self.ew_master)

    def forward(self, x, ex):
        self.x, self.ex = x, ex
        self.y, self.ey = C.linear_q(x, ex, self.w8, self.ew, self.b, self.eb, self.relu)
        return self.y, self.ey

    def backward(self, dy, edy, rng_state, need_dx=True):
        """dx with the forward weights, then SGD on the masters (block = whole layer)."""
        if self.relu:
            dy = C.relu_q_backward(self.y, dy)
        dx = C.linear_q_backward(self.x.shape, self.w8, self.ew, dy, edy) if need_dx else None
        dw, db = C.linear_q_backward_params(self.x, dy)
        rng_state = self._sgd(self.w, self.ew_master, dw, edy + self.ex, self.vw, rng_state)
        rng_state = self._sgd(self.b, self.eb, db, edy, self.vb, rng_state)
        self.refresh()
        return dx, rng_state


def kaiming_linear(rng, n_in, n_out):
    """PyTorch's default nn.Linear initialisation, from a numpy generator."""
    bound = 1.0 / np.sqrt(n_in)
    return rng.uniform(-bound, bound, (n_out, n_in)), rng.uniform(-bound, bound, n_out)


LOGIC = {"or": [0, 1, 1, 1], "and": [0, 0, 0, 1]}
LOGIC_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)


def train_logic_q(target, seed=0, lr=0.1, max_steps=3000, momentum=0.0):
    """2-4-4-1 MLP (Linear-ReLU-Linear-ReLU-Linear, MSE) trained integer-only from scratch.
    Returns the step at which all four outputs are on the right side of 0.5, or None."""
    rng = np.random.default_rng(seed)
    layers = [QLinear(*kaiming_linear(rng, 2, 4), lr, True, momentum),
              QLinear(*kaiming_linear(rng, 4, 4), lr, True, momentum),
              QLinear(*kaiming_linear(rng, 4, 1), lr, False, momentum)]
    x, ex = R.quantize(LOGIC_X)
    t, et = R.quantize(np.array(LOGIC[target], np.float64).reshape(4, 1))
    state = 2463534242 + seed
    for step in range(1, max_steps + 1):
        h, eh = x, ex
        for layer in layers:
            h, eh = layer.forward(h, eh)
        pred = R.dequantize(h, eh).reshape(-1) > 0.5
        if np.array_equal(pred, np.array(LOGIC[target]) == 1):
            return step - 1
        loss, d, ed = C.mse_loss_q(h, eh, t, et)
        for i in reversed(range(3)):
            d, state = layers[i].backward(d, ed, state, need_dx=i > 0)
            if d is not None:
                d, ed = d
    return None


@pytest.mark.parametrize("target", ["or", "and"])
def test_logic_mlp_trains_integer_only(target):
    steps = [train_logic_q(target, seed) for seed in range(6)]
    assert None not in steps, f"{target}: not 4/4 correct for seeds {steps}"
    assert train_logic_q(target, 2) == steps[2]      # same seed -> same bits -> same run


@pytest.mark.parametrize("target", ["or", "and"])
def test_logic_mlp_trains_with_momentum(target):
    steps = [train_logic_q(target, seed, lr=0.02, momentum=0.9) for seed in range(6)]
    assert None not in steps, f"{target}: not 4/4 correct for seeds {steps}"


# ---- fine-tuning the last Linear of a CNN on the 8x8 digits ------------------------------------

def _digits_features():
    """Pretrain the digits CNN in float (torch), then run its frozen conv part on the
    host: (train features, labels, test features, labels), features (N, 64)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from pyconvert.models.digits_cnn import load_digits_split
    xtr, ytr, xte, yte = load_digits_split()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)           # tiny tensors: threads only add overhead
    nn = torch.nn
    body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    head = nn.Linear(64, 10)
    model = nn.Sequential(body, head)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(0)
    for _ in range(8):
        for idx in torch.randperm(len(xt), generator=gen).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    with torch.no_grad():
        feats = (body(xt).numpy().astype(np.float64), ytr,
                 body(torch.from_numpy(xte)).numpy().astype(np.float64), yte)
    torch.set_num_threads(threads)
    return feats


def test_digits_finetune_last_linear_int_vs_float():
    """A freshly initialised last Linear trained by plain SGD on the frozen CNN's
    features: integer-only (C kernels, int32 masters) vs float32 (numpy), same
    init, batches and learning rate; test accuracies within 1 percentage point."""
    ftr, ytr, fte, yte = _digits_features()
    rng = np.random.default_rng(1)
    w0, b0 = kaiming_linear(rng, 64, 10)
    lr, epochs, batch = 0.1, 10, 32
    order = [np.random.default_rng(2 + e).permutation(len(ftr)) for e in range(epochs)]

    # float32 SGD, the mean cross-entropy's gradient
    wf, bf = w0.astype(np.float32), b0.astype(np.float32)
    for perm in order:
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            _, dz = KF.cross_entropy(ftr[idx].astype(np.float32) @ wf.T + bf, ytr[idx])
            wf -= np.float32(lr) * (dz.T @ ftr[idx].astype(np.float32))
            bf -= np.float32(lr) * dz.sum(0)
    acc_f = float(np.mean(np.argmax(fte @ wf.T + bf, 1) == yte))

    # integer-only: features quantised per batch at the boundary, everything else int
    layer = QLinear(w0, b0, lr, relu=False)
    state = 2463534242
    for perm in order:
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            x, ex = R.quantize(ftr[idx])
            z, ez = layer.forward(x, ex)
            _, dz, edz = C.cross_entropy_q(z, ez, ytr[idx])
            _, state = layer.backward(dz, edz, state, need_dx=False)
    xq, exq = R.quantize(fte)
    z, _ = layer.forward(xq, exq)
    acc_q = float(np.mean(np.argmax(z, 1) == yte))
    print(f"digits fine-tune: float {acc_f:.4f}, integer {acc_q:.4f}")
    assert acc_f > 0.9
    assert abs(acc_q - acc_f) <= 0.01


# ---- no float in the training step: the Cortex-M3 soft-float build references no FP helper -----

ARM_FLAGS = ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft", "-O2", "-std=c99",
             "-ffp-contract=off", "-Wall", "-Wextra", "-Werror"]


def test_qtrain_objects_use_no_float(tmp_path):
    """Every runtime_c/src/qtrain/*.c cross-compiled for a core without FPU: a float or
    double operation would call libgcc's __aeabi_f* / __aeabi_d* soft-float helpers
    (or libm), so no such undefined symbol may appear."""
    gcc, nm = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-nm")
    if not gcc or not nm:
        pytest.skip("arm-none-eabi-gcc / arm-none-eabi-nm not installed")
    sources = sorted((ROOT / "runtime_c" / "src" / "qtrain").glob("*.c"))
    assert sources
    for src in sources:
        obj = tmp_path / (src.stem + ".o")
        subprocess.run([gcc, *ARM_FLAGS, f"-I{ROOT / 'runtime_c' / 'include'}", "-c", str(src),
                        "-o", str(obj)], check=True, capture_output=True, text=True)
        undefined = subprocess.run([nm, "-u", str(obj)], check=True, capture_output=True,
                                   text=True).stdout.split()
        floaty = [s for s in undefined if s.startswith(("__aeabi_f", "__aeabi_d", "__aeabi_i2f",
                                                        "__aeabi_i2d", "__aeabi_ui2", "__aeabi_l2",
                                                        "__aeabi_ul2"))
                  or s in {"expf", "logf", "powf", "sqrtf", "exp", "log", "pow", "sqrt", "ldexp",
                           "ldexpf", "frexp", "frexpf"}]
        assert not floaty, f"{src.name} uses float: {floaty}"


# ---- the C engine (train_q.c) against the Python-driven loop over the same kernels ---------------

def _engine_mlp(layers, x, ex, state):
    """An mt_q_net over the Python layers' masters (copied): (net, keep-alive dict)."""
    ffi, lib = runtime()
    keep = {"masters": [], "q": []}
    n = x.shape[0]
    widths = [x.shape[1]] + [l.w.shape[0] for l in layers]
    cl = ffi.new("mt_q_layer[]", len(layers))
    for i, l in enumerate(layers):
        w, b = l.w.copy(), l.b.copy()
        q = np.zeros(w.shape, np.int8)
        keep["masters"] += [w, b]
        keep["q"].append(q)
        cl[i].op, cl[i].relu, cl[i].trainable = lib.MT_QOP_LINEAR, int(l.relu), 1
        cl[i].weight_dims = {"n": w.shape[0], "h": 1, "w": 1, "c": w.shape[1]}
        cl[i].weight, cl[i].weight_exp = ffi.cast("int32_t *", ffi.from_buffer(w)), l.ew_master
        cl[i].bias, cl[i].bias_exp = ffi.cast("int32_t *", ffi.from_buffer(b)), l.eb
        cl[i].weight_q = ffi.cast("int8_t *", ffi.from_buffer(q))
    acts = [np.ascontiguousarray(x, np.int8)] + [np.zeros((n, c), np.int8) for c in widths[1:]]
    dims = ffi.new("mt_dims[]", [{"n": n, "h": 1, "w": 1, "c": c} for c in widths])
    act = ffi.new("int8_t *[]", [ffi.cast("int8_t *", ffi.from_buffer(a)) for a in acts])
    act_exp = ffi.new("int32_t[]", [ex] + [0] * len(layers))
    wq_exp = ffi.new("int32_t[]", len(layers))
    grads = [np.zeros(64, np.int8), np.zeros(64, np.int8)]
    scratch = np.zeros(64, np.int32)
    rng = ffi.new("uint32_t *", state)
    net = ffi.new("mt_q_net *", {
        "layers": cl, "n_layers": len(layers), "dims": dims, "act": act, "act_exp": act_exp,
        "weight_q_exp": wq_exp, "grad": [ffi.cast("int8_t *", ffi.from_buffer(g)) for g in grads],
        "grad_size": 64, "scratch": ffi.cast("int32_t *", ffi.from_buffer(scratch)),
        "scratch_size": scratch.nbytes, "loss": 1,
        "sgd": {"lr_multiplier": layers[0].lr[0], "lr_shift": layers[0].lr[1]}, "rng_state": rng})
    keep.update(cl=cl, acts=acts, dims=dims, act=act, act_exp=act_exp, wq_exp=wq_exp,
                grads=grads, scratch=scratch, rng=rng)
    return net, keep


@pytest.mark.parametrize("target", ["or", "and"])
def test_engine_matches_python_loop(target):
    """mt_q_net_train_step == the Python loop of QLinear layers over the same kernels,
    bit for bit (masters, losses, PRNG state), for 60 steps of the logic MLP."""
    _, lib = runtime()
    rng = np.random.default_rng(3)
    layers = [QLinear(*kaiming_linear(rng, 2, 4), 0.1, True),
              QLinear(*kaiming_linear(rng, 4, 4), 0.1, True),
              QLinear(*kaiming_linear(rng, 4, 1), 0.1, False)]
    x, ex = R.quantize(LOGIC_X)
    t, et = R.quantize(np.array(LOGIC[target], np.float64).reshape(4, 1))
    state = 2463534242
    net, keep = _engine_mlp(layers, x, ex, state)
    assert lib.mt_q_net_refresh(net) == 0
    loss = runtime()[0].new("int32_t *")
    tt = np.ascontiguousarray(t)
    for _ in range(60):
        assert lib.mt_q_net_train_step(net, runtime()[0].from_buffer(tt), et, loss) == 0
        h, eh = x, ex
        for layer in layers:
            h, eh = layer.forward(h, eh)
        loss_py, d, ed = C.mse_loss_q(h, eh, t, et)
        assert loss_py == loss[0]
        for i in reversed(range(3)):
            d, state = layers[i].backward(d, ed, state, need_dx=i > 0)
            if d is not None:
                d, ed = d
    for i, layer in enumerate(layers):
        same(keep["masters"][2 * i], layer.w, f"layer {i} weight")
        same(keep["masters"][2 * i + 1], layer.b, f"layer {i} bias")
    assert keep["rng"][0] == state


class QConv(QLinear):
    """A trainable conv layer (OHWI masters) with the same update as QLinear."""

    def __init__(self, w, b, lr, relu, padding):
        super().__init__(w, b, lr, relu)
        self.padding = padding

    def forward(self, x, ex):
        self.x, self.ex = x, ex
        self.y, self.ey = C.conv2d_q(x, ex, self.w8, self.ew, self.b, self.eb,
                                     padding=self.padding, relu=self.relu)
        return self.y, self.ey

    def backward(self, dy, edy, rng_state, need_dx=True):
        if self.relu:
            dy = C.relu_q_backward(self.y, dy)
        dx = (C.conv2d_q_backward(self.x.shape, self.w8, self.ew, dy, edy, padding=self.padding)
              if need_dx else None)
        dw, db = C.conv2d_q_backward_params(self.x, self.w.shape, dy, padding=self.padding)
        rng_state = self._sgd(self.w, self.ew_master, dw.reshape(-1), edy + self.ex, self.vw,
                              rng_state)
        rng_state = self._sgd(self.b, self.eb, db, edy, self.vb, rng_state)
        self.refresh()
        return dx, rng_state


class QPool:
    def forward(self, x, ex):
        self.x = x
        return C.maxpool2d_q(x, 2), ex

    def backward(self, dy, edy, rng_state, need_dx=True):
        return (C.maxpool2d_q_backward(self.x, dy, 2), edy), rng_state


def _engine_cnn(layers, x, ex, labels, state):
    """An mt_q_net (conv-pool-linear, cross-entropy) over copies of the layers' masters."""
    ffi, lib = runtime()
    keep = {"masters": [], "q": []}
    h, eh, shapes = x, ex, [x.shape]
    for layer in layers:                                  # shapes from a dry forward
        h, eh = (C.maxpool2d_q(h, 2), eh) if isinstance(layer, QPool) else \
            (C.conv2d_q(h, eh, layer.w8, layer.ew, padding=layer.padding)
             if isinstance(layer, QConv) else C.linear_q(h, eh, layer.w8, layer.ew))
        shapes.append(h.shape)
    cl = ffi.new("mt_q_layer[]", len(layers))
    for i, layer in enumerate(layers):
        if isinstance(layer, QPool):
            cl[i].op = lib.MT_QOP_MAXPOOL2D
            cl[i].pool = {"kernel_h": 2, "kernel_w": 2, "stride_h": 2, "stride_w": 2}
            continue
        w, b = layer.w.copy(), layer.b.copy()
        q = np.zeros(w.shape, np.int8)
        keep["masters"] += [w, b]
        keep["q"].append(q)
        conv = isinstance(layer, QConv)
        cl[i].op = lib.MT_QOP_CONV2D if conv else lib.MT_QOP_LINEAR
        cl[i].relu, cl[i].trainable = int(layer.relu), 1
        if conv:
            p = layer.padding
            cl[i].conv = {"stride_h": 1, "stride_w": 1, "pad_top": p, "pad_left": p,
                          "pad_bottom": p, "pad_right": p, "dilation_h": 1, "dilation_w": 1,
                          "groups": 1}
        dims4 = w.shape if conv else (w.shape[0], 1, 1, w.shape[1])
        cl[i].weight_dims = dict(zip("nhwc", dims4))
        cl[i].weight, cl[i].weight_exp = ffi.cast("int32_t *", ffi.from_buffer(w)), layer.ew_master
        cl[i].bias, cl[i].bias_exp = ffi.cast("int32_t *", ffi.from_buffer(b)), layer.eb
        cl[i].weight_q = ffi.cast("int8_t *", ffi.from_buffer(q))
    acts = [np.ascontiguousarray(x, np.int8)] + [np.zeros(s, np.int8) for s in shapes[1:]]
    dims = ffi.new("mt_dims[]", [dict(zip("nhwc", s if len(s) == 4 else (s[0], 1, 1, s[1])))
                                 for s in shapes])
    act = ffi.new("int8_t *[]", [ffi.cast("int8_t *", ffi.from_buffer(a)) for a in acts])
    act_exp = ffi.new("int32_t[]", [ex] + [0] * len(layers))
    wq_exp = ffi.new("int32_t[]", len(layers))
    largest = max(int(np.prod(s)) for s in shapes)
    grads = [np.zeros(largest, np.int8), np.zeros(largest, np.int8)]
    scratch = np.zeros(4 * largest, np.int32)
    rng = ffi.new("uint32_t *", state)
    net = ffi.new("mt_q_net *", {
        "layers": cl, "n_layers": len(layers), "dims": dims, "act": act, "act_exp": act_exp,
        "weight_q_exp": wq_exp, "grad": [ffi.cast("int8_t *", ffi.from_buffer(g)) for g in grads],
        "grad_size": largest, "scratch": ffi.cast("int32_t *", ffi.from_buffer(scratch)),
        "scratch_size": scratch.nbytes, "loss": 2,
        "sgd": {"lr_multiplier": layers[0].lr[0], "lr_shift": layers[0].lr[1]}, "rng_state": rng})
    assert scratch.nbytes >= lib.mt_q_net_scratch_size(net)
    keep.update(cl=cl, acts=acts, dims=dims, act=act, act_exp=act_exp, wq_exp=wq_exp,
                grads=grads, scratch=scratch, rng=rng)
    return net, keep


def test_engine_cnn_matches_python_loop():
    """conv(3x3, pad 1)+ReLU -> maxpool 2 -> linear, cross-entropy: the engine equals
    the Python loop over the single kernels bit for bit, and the loss goes down."""
    ffi, lib = runtime()
    rng = np.random.default_rng(5)
    n, classes = 6, 3
    xf = rng.uniform(0, 1, (n, 6, 6, 2))
    labels = np.ascontiguousarray(rng.integers(0, classes, n), np.int32)
    wc = rng.uniform(-0.3, 0.3, (4, 3, 3, 2))
    wl, bl = kaiming_linear(rng, 36, classes)
    layers = [QConv(wc, rng.uniform(-0.1, 0.1, 4), 0.05, True, 1), QPool(),
              QLinear(wl, bl, 0.05, False)]
    x, ex = R.quantize(xf)
    state = 123456789
    net, keep = _engine_cnn(layers, x, ex, labels, state)
    assert lib.mt_q_net_refresh(net) == 0
    loss = ffi.new("int32_t *")
    losses = []
    for _ in range(30):
        assert lib.mt_q_net_train_step(net, ffi.from_buffer(labels), 0, loss) == 0
        h, eh = x, ex
        for layer in layers:
            h, eh = layer.forward(h, eh)
        loss_py, d, ed = C.cross_entropy_q(h, eh, labels)
        assert loss_py == loss[0]
        losses.append(loss_py)
        for i in reversed(range(3)):
            d, state = layers[i].backward(d, ed, state, need_dx=i > 0)
            if d is not None:
                d, ed = d
    same(keep["masters"][0], layers[0].w, "conv weight")
    same(keep["masters"][2], layers[2].w, "linear weight")
    same(keep["masters"][3], layers[2].b, "linear bias")
    assert keep["rng"][0] == state
    assert losses[-1] < 0.5 * losses[0]
