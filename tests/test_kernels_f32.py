"""Every float32 C kernel, forward and backward, against the numpy reference.

The C code runs through cffi (pyconvert.host.kernels) in NHWC; the reference is
pyconvert.nn.functional in NCHW. Tolerance: rtol 1e-5 (see kernel_cases.assert_close).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pyconvert.nn.functional as F
from pyconvert.host import kernels as K

from kernel_cases import assert_close, rand, reference, to_nchw, to_nhwc

# (N, C, H, W, O, (kh, kw), stride, padding, dilation, groups, bias)
CONV_CASES = [
    (1, 1, 32, 32, 6, (5, 5), 1, 0, 1, 1, True),     # LeNet-5 conv1
    (2, 6, 14, 14, 16, (5, 5), 1, 0, 1, 1, True),    # LeNet-5 conv2, batch 2
    (1, 1, 30, 30, 6, (3, 3), 1, 0, 1, 1, True),     # the 3x3 LeNet
    (2, 3, 7, 9, 4, (3, 3), 2, 1, 1, 1, True),       # odd sizes, stride 2, padding 1
    (1, 2, 8, 8, 3, (2, 2), 3, 0, 1, 1, False),      # stride > kernel, no bias
    (1, 3, 9, 8, 5, (3, 2), (2, 1), (2, 1), 1, 1, True),  # rectangular everything
    (2, 4, 9, 9, 6, (3, 3), 1, 2, 2, 2, True),       # dilation 2, groups 2, padding 2
    (1, 4, 6, 5, 4, (3, 3), 1, 1, 1, 4, True),       # depthwise
    (1, 3, 6, 6, 6, (3, 3), 2, 1, 1, 3, False),      # depthwise, channel multiplier 2
    (3, 1, 4, 4, 2, (2, 2), 2, 1, 1, 1, True),       # the tutorial's 4x4 input, padding 1
    (1, 5, 1, 1, 3, (1, 1), 1, 0, 1, 1, True),       # 1x1 conv on a 1x1 image
    (1, 2, 5, 5, 2, (5, 5), 1, 0, 1, 1, True),       # kernel as large as the input
]


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def check_conv(case, seed=0):
    n, c, h, w, o, k, stride, padding, dilation, groups, bias = case
    rng = np.random.default_rng(seed)
    x = rand(rng, n, c, h, w)
    wt = rand(rng, o, c // groups, *k, scale=0.5)
    b = rand(rng, o) if bias else None
    kw = dict(stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation), groups=groups)
    y_ref, _ = reference(F.conv2d, {"x": x, "w": wt, "b": b}, **kw)
    dy = rand(rng, *y_ref.shape)
    _, g = reference(F.conv2d, {"x": x, "w": wt, "b": b}, dy, **kw)

    y = K.conv2d(to_nhwc(x), to_nhwc(wt), b, **kw)
    assert_close(to_nchw(y), y_ref, what="conv2d y")
    dx, dw, db = K.conv2d_backward(to_nhwc(x), to_nhwc(wt), to_nhwc(dy), **kw)
    assert_close(to_nchw(dx), g["x"], what="conv2d dx")
    assert_close(to_nchw(dw), g["w"], what="conv2d dw")
    if bias:
        # db[o] sums N*OH*OW gradients: its rounding is judged against sum |dy|, the size
        # of what was added (a sum that cancels to near 0 keeps no relative accuracy).
        mag = np.abs(dy).sum(axis=(0, 2, 3))
        worst = float(np.max(np.abs(db - g["b"]) / mag))
        assert worst <= 1e-6, f"conv2d db: worst error {worst:.3g} of sum |dy|"


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[:5])))
def test_conv2d(case):
    check_conv(case)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2, 3]), cpg=st.integers(1, 3),
       opg=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 2), dw=st.integers(1, 2),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_random_shapes(n, groups, cpg, opg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, bias, seed):
    # Only shapes where the (dilated) window fits the padded input.
    if h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1:
        return
    check_conv((n, groups * cpg, h, w, groups * opg, (kh, kw), (sh, sw), (ph, pw), (dh, dw),
                groups, bias), seed)


def test_conv2d_skips_unrequested_gradients():
    rng = np.random.default_rng(1)
    x, wt = rand(rng, 1, 5, 5, 2), rand(rng, 3, 3, 3, 2)
    dy = rand(rng, 1, 3, 3, 3)
    dx, dw, db = K.conv2d_backward(x, wt, dy, need=("w",))
    assert dx is None and db is None and dw.shape == wt.shape
    _, dw_all, _ = K.conv2d_backward(x, wt, dy)
    np.testing.assert_array_equal(dw, dw_all)


def test_conv2d_fused_activation_is_a_clamp():
    rng = np.random.default_rng(2)
    x, wt, b = rand(rng, 1, 6, 6, 2), rand(rng, 4, 3, 3, 2), rand(rng, 4)
    plain = K.conv2d(x, wt, b, padding=1)
    np.testing.assert_array_equal(K.conv2d(x, wt, b, padding=1, act=(0.0, np.inf)),
                                  np.maximum(plain, 0))
    np.testing.assert_array_equal(K.conv2d(x, wt, b, padding=1, act=(0.0, 0.5)),
                                  np.clip(plain, 0, 0.5))


# ---- pooling -------------------------------------------------------------------------------

# (N, C, H, W, kernel, stride, padding, ceil_mode, count_include_pad)
POOL_CASES = [
    (1, 6, 28, 28, 2, 2, 0, False, True),     # LeNet-5 pool1
    (2, 3, 7, 7, 3, 2, 1, False, True),
    (1, 2, 7, 6, 3, 2, 1, True, True),        # ceil_mode
    (1, 2, 7, 6, 3, 2, 1, True, False),       # ceil_mode, ONNX divisor
    (2, 1, 5, 5, 2, 3, 0, False, True),       # stride > kernel
    (1, 3, 6, 9, (2, 3), (1, 2), (1, 1), False, False),
    (1, 1, 3, 3, 3, 1, 1, False, True),       # padding on every side
]


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d(case, kind):
    n, c, h, w, k, s, p, ceil, cip = case
    rng = np.random.default_rng(3)
    x = rand(rng, n, c, h, w)
    if kind == "max":
        fn, kw = F.max_pool2d, dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil)
    else:
        fn, kw = F.avg_pool2d, dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil,
                                    count_include_pad=cip)
    y_ref, _ = reference(fn, {"x": x}, **kw)
    dy = rand(rng, *y_ref.shape)
    _, g = reference(fn, {"x": x}, dy, **kw)
    if kind == "max":
        y = K.maxpool2d(to_nhwc(x), k, s, p, ceil)
        dx = K.maxpool2d_backward(to_nhwc(x), to_nhwc(dy), k, s, p, ceil)
    else:
        y = K.avgpool2d(to_nhwc(x), k, s, p, ceil, cip)
        dx = K.avgpool2d_backward(to_nhwc(x).shape, to_nhwc(dy), k, s, p, ceil, cip)
    assert_close(to_nchw(y), y_ref, what=f"{kind}pool y")
    assert_close(to_nchw(dx), g["x"], what=f"{kind}pool dx")


def test_maxpool_tutorial_example_is_all_fours():
    # The tutorial's 4x4 example: 2x2 max pooling with stride 2 keeps the 4 of each block.
    x = np.array([[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]], np.float32)
    y = K.maxpool2d(x.reshape(1, 4, 4, 1), 2, 2)
    np.testing.assert_array_equal(y.reshape(2, 2), np.full((2, 2), 4.0))


def test_maxpool_ties_route_to_first_maximum():
    x = np.ones((1, 2, 2, 1), np.float32)
    dx = K.maxpool2d_backward(x, np.ones((1, 1, 1, 1), np.float32), 2, 2)
    np.testing.assert_array_equal(dx.ravel(), [1, 0, 0, 0])


def test_global_avgpool():
    rng = np.random.default_rng(4)
    x = rand(rng, 2, 3, 5, 7)
    y_ref, _ = reference(F.adaptive_avg_pool2d, {"x": x}, output_size=1)
    dy = rand(rng, *y_ref.shape)
    _, g = reference(F.adaptive_avg_pool2d, {"x": x}, dy, output_size=1)
    y = K.global_avgpool(to_nhwc(x))
    assert_close(to_nchw(y), y_ref, what="global avgpool y")
    dx = K.global_avgpool_backward(to_nhwc(x).shape, to_nhwc(dy))
    assert_close(to_nchw(dx), g["x"], what="global avgpool dx")


# ---- linear -------------------------------------------------------------------------------

@pytest.mark.parametrize("n,k,o,bias", [(1, 400, 120, True), (4, 7, 3, True), (2, 2, 4, False),
                                         (3, 1, 1, True), (1, 784, 512, True)])
def test_linear(n, k, o, bias):
    rng = np.random.default_rng(5)
    x, wt = rand(rng, n, k), rand(rng, o, k, scale=0.1)
    b = rand(rng, o) if bias else None
    y_ref, _ = reference(F.linear, {"x": x, "w": wt, "b": b})
    dy = rand(rng, n, o)
    _, g = reference(F.linear, {"x": x, "w": wt, "b": b}, dy)
    assert_close(K.linear(x, wt, b), y_ref, what="linear y")
    dx, dw, db = K.linear_backward(x, wt, dy)
    assert_close(dx, g["x"], what="linear dx")
    assert_close(dw, g["w"], what="linear dw")
    if bias:
        assert_close(db, g["b"], what="linear db")


def test_linear_reads_an_nhwc_image_as_flat_rows():
    rng = np.random.default_rng(6)
    x, wt, b = rand(rng, 2, 3, 3, 4), rand(rng, 5, 36), rand(rng, 5)
    np.testing.assert_array_equal(K.linear(x, wt, b), K.linear(x.reshape(2, 36), wt, b))


# ---- activations ---------------------------------------------------------------------------

ACTIVATIONS = {
    # name: (C forward, C backward, reference, reference kwargs, C extra args)
    "relu": (K.relu, K.relu_backward, F.relu, {}, ()),
    "relu6": (lambda x: K.clip(x, 0, 6), lambda y, d: K.clip_backward(y, d, 0, 6), F.relu6, {}, ()),
    "hardtanh": (lambda x: K.clip(x, -0.5, 0.7), lambda y, d: K.clip_backward(y, d, -0.5, 0.7),
                 F.hardtanh, {"min_val": -0.5, "max_val": 0.7}, ()),
    "leaky_relu": (lambda x: K.leaky_relu(x, 0.1), lambda y, d: K.leaky_relu_backward(y, d, 0.1),
                   F.leaky_relu, {"negative_slope": 0.1}, ()),
    "sigmoid": (K.sigmoid, K.sigmoid_backward, F.sigmoid, {}, ()),
    "tanh": (K.tanh, K.tanh_backward, F.tanh, {}, ()),
    "step": (K.step, K.step_backward, F.step, {}, ()),
    "softmax": (K.softmax, K.softmax_backward, F.softmax, {"dim": -1}, ()),
    "log_softmax": (K.log_softmax, K.log_softmax_backward, F.log_softmax, {"dim": -1}, ()),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 10), (3, 7), (2, 3, 4, 5)])
def test_activation(name, shape):
    fwd, bwd, ref, kw, _ = ACTIVATIONS[name]
    rng = np.random.default_rng(7)
    x = rand(rng, *shape, scale=4.0)
    y_ref, _ = reference(ref, {"x": x}, **kw)
    dy = rand(rng, *shape)
    _, g = reference(ref, {"x": x}, dy, **kw)
    y = fwd(x)
    assert_close(y, y_ref, what=f"{name} y")
    assert_close(bwd(y, dy), g["x"], what=f"{name} dx")


def test_sigmoid_and_softmax_stay_finite_for_huge_inputs():
    x = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], np.float32)
    for fn in (K.sigmoid, K.tanh, K.softmax, K.log_softmax):
        assert np.all(np.isfinite(fn(x))), fn.__name__


# ---- losses -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (3, 10), (2, 3, 2, 2)])
def test_mse_loss(shape):
    rng = np.random.default_rng(8)
    p, t = rand(rng, *shape), rand(rng, *shape)
    l_ref, g = reference(F.mse_loss, {"p": p, "t": t}, np.float32(1.0))
    loss, dp = K.mse_loss(p, t)
    assert_close(loss, l_ref, what="mse loss")
    assert_close(dp, g["p"], what="mse dp")


@pytest.mark.parametrize("n,c", [(1, 10), (5, 3), (8, 2)])
def test_cross_entropy(n, c):
    rng = np.random.default_rng(9)
    z = rand(rng, n, c, scale=3.0)
    labels = rng.integers(0, c, n)
    tz = F.cross_entropy  # labels are not differentiable: close over them
    l_ref, g = reference(lambda zz: tz(zz, labels), {"z": z}, np.float32(1.0))
    loss, dz = K.cross_entropy(z, labels)
    assert_close(loss, l_ref, what="ce loss")
    assert_close(dz, g["z"], what="ce dz")


def test_cross_entropy_rejects_a_label_out_of_range():
    with pytest.raises(K.KernelError, match="out of range"):
        K.cross_entropy(np.zeros((2, 3), np.float32), np.array([0, 3]))


def test_losses_report_nonfinite():
    with pytest.raises(K.KernelError, match="non-finite"):
        K.mse_loss(np.array([np.inf], np.float32), np.zeros(1, np.float32))


# ---- optimizers --------------------------------------------------------------------------------

SGD_CONFIGS = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
               dict(lr=0.01, momentum=0.5, dampening=0.3, weight_decay=1e-2)]


@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=str)
def test_sgd_matches_reference_optimizer(cfg):
    import pyconvert.optim as optim
    rng = np.random.default_rng(10)
    p0 = rand(rng, 37)
    grads = [rand(rng, 37) for _ in range(20)]
    ref = nn_param(p0)
    opt = optim.SGD([ref], **cfg)
    p, buf = p0.copy(), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        ref.grad = g.copy()
        opt.step()
        K.sgd_step(p, g, buf, t, **cfg)
    assert_close(p, ref.data, rtol=1e-6, what="sgd params")


@pytest.mark.parametrize("cfg", [dict(lr=1e-2), dict(lr=1e-3, betas=(0.8, 0.99), eps=1e-6,
                                                         weight_decay=0.1)], ids=str)
def test_adam_matches_reference_optimizer(cfg):
    import pyconvert.optim as optim
    rng = np.random.default_rng(11)
    p0 = rand(rng, 29)
    grads = [rand(rng, 29) for _ in range(20)]
    ref = nn_param(p0)
    opt = optim.Adam([ref], **cfg)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        ref.grad = g.copy()
        opt.step()
        K.adam_step(p, g, m, v, t, **cfg)
    assert_close(p, ref.data, rtol=1e-6, what="adam params")


def test_optimizer_keeps_parameters_on_nonfinite_gradient():
    p = np.ones(4, np.float32)
    with pytest.raises(K.KernelError, match="non-finite"):
        K.sgd_step(p, np.array([1, np.nan, 1, 1], np.float32), None, 1, lr=0.1)
    np.testing.assert_array_equal(p, np.ones(4))


def nn_param(values):
    import pyconvert.nn as nn
    return nn.Parameter(values.copy())


# ---- bad input: the C validation, seen from Python -----------------------------------------

def test_bad_shapes_name_the_kernel_and_the_shapes():
    x = np.zeros((1, 5, 5, 3), np.float32)
    w = np.zeros((4, 3, 3, 2), np.float32)   # 2 input channels per group, x has 3
    with pytest.raises(K.KernelError, match=r"mt_conv2d_f32: bad shape .*\(1, 5, 5, 3\)"):
        K.conv2d(x, w)
    with pytest.raises(K.KernelError, match="mt_linear_f32"):
        K.linear(np.zeros((2, 5), np.float32), np.zeros((3, 4), np.float32))
    with pytest.raises(K.KernelError, match="bad argument"):
        K.conv2d(x, np.zeros((4, 3, 3, 3), np.float32), stride=0)


# ---- parameter gradients by output-channel block (the fused training update) ----------------

def test_backward_params_blocks_equal_the_full_gradient():
    ffi, lib = K.runtime()
    rng = np.random.default_rng(12)
    x, wt = rand(rng, 2, 6, 5, 4), rand(rng, 6, 3, 3, 2)       # groups 2
    dy = rand(rng, 2, 4, 3, 6)
    _, dw, db = K.conv2d_backward(x, wt, dy, stride=(1, 2), padding=(0, 1), groups=2)
    p = K._conv_params((1, 2), (0, 1), 1, 2)
    for o0, o1 in [(0, 6), (0, 1), (2, 5), (5, 6), (3, 3)]:
        bw = np.zeros((o1 - o0, 3, 3, 2), np.float32)
        bb = np.zeros(o1 - o0, np.float32)
        st = lib.mt_conv2d_f32_backward_params(p, K._dims(x.shape), K._ptr(x), K._dims(wt.shape),
                                               K._dims(dy.shape), K._ptr(dy), o0, o1,
                                               K._ptr(bw), K._ptr(bb))
        assert st == 0
        np.testing.assert_array_equal(bw, dw[o0:o1])
        np.testing.assert_array_equal(bb, db[o0:o1])
    assert lib.mt_conv2d_f32_backward_params(p, K._dims(x.shape), K._ptr(x), K._dims(wt.shape),
                                             K._dims(dy.shape), K._ptr(dy), 4, 7,
                                             K._ptr(np.zeros(100, np.float32)), ffi.NULL) == -8

    xl, wl, dyl = rand(rng, 3, 7), rand(rng, 5, 7), rand(rng, 3, 5)
    _, dwl, dbl = K.linear_backward(xl, wl, dyl)
    bw, bb = np.zeros((2, 7), np.float32), np.zeros(2, np.float32)
    assert lib.mt_linear_f32_backward_params(K._dims(xl.shape), K._ptr(xl), K._dims(wl.shape),
                                             K._dims(dyl.shape), K._ptr(dyl), 1, 3,
                                             K._ptr(bw), K._ptr(bb)) == 0
    np.testing.assert_array_equal(bw, dwl[1:3])
    np.testing.assert_array_equal(bb, dbl[1:3])


def test_conv2d_patch_and_direct_paths_agree():
    """groups == 1 with a small receptive field takes the gathered-patch path; a grouped
    conv with the same weights split into groups takes the direct loop; and a patch too
    large for the buffer falls back to the direct loop. All must equal the reference."""
    rng = np.random.default_rng(13)
    for c, k in [(1, 5), (6, 5), (20, 3)]:            # 25 and 150 taps: patch; 180: direct
        check_conv((2, c, 9, 9, 4, (k, k), 1, 1, 1, 1, True), seed=int(rng.integers(1000)))
