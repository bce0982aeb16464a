"""Every int8 C kernel (mt_s8.h) against the Python integer reference, bit-exact.

The C code runs through cffi (pyconvert.host.kernels_s8); the oracle is
pyconvert.quant.int_reference (numpy, int64). Both take the same arguments, so
every comparison is ``np.array_equal``. Then the float side: scales.py's helpers,
and agreement of the whole int8 path (quantize -> int8 kernel -> dequantize) with
the float kernels within one output LSB.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pyconvert.host import kernels as KF
from pyconvert.host import kernels_s8 as C
from pyconvert.host.kernels import KernelError
from pyconvert.quant import int_reference as R
from pyconvert.quant import scales as S

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
STATUS = dict(null=-1, arg=-2, shape=-3, unsupported=-5, nonfinite=-7)


def assert_same(c, ref, what=""):
    c, ref = np.asarray(c), np.asarray(ref)
    assert c.shape == ref.shape, f"{what}: shape {c.shape} != {ref.shape}"
    bad = np.flatnonzero(c.reshape(-1) != ref.reshape(-1))
    assert bad.size == 0, (f"{what}: {bad.size} of {c.size} differ, first at {bad[0]}: "
                           f"C {c.reshape(-1)[bad[0]]} != reference {ref.reshape(-1)[bad[0]]}")


def rand_s8(rng, *shape, lo=-128):
    return rng.integers(lo, 128, size=shape).astype(np.int8)


# ---- requantize --------------------------------------------------------------------------

def exact_requantize(acc: int, multiplier: int, shift: int) -> int:
    """The rule from its definition, in rationals: round(acc * M * 2^(shift-31)),
    ties toward +infinity, saturated -- independent of both implementations."""
    v = Fraction(acc * multiplier, 2 ** (31 - shift))
    return max(INT32_MIN, min(INT32_MAX, math.floor(v + Fraction(1, 2))))


EDGE_ACCS = [INT32_MIN, INT32_MIN + 1, -2 ** 30, -65536, -255, -3, -2, -1, 0, 1, 2, 3, 255,
             65536, 2 ** 30, INT32_MAX - 1, INT32_MAX]
EDGE_MULTS = [0, 1, 2 ** 30, 2 ** 30 + 1, 1518500250, INT32_MAX - 1, INT32_MAX]


def test_requantize_edges_against_definition():
    """Every edge accumulator x edge multiplier x every shift in [-31, 30]."""
    acc, mult, shift = (a.reshape(-1) for a in np.meshgrid(
        EDGE_ACCS, EDGE_MULTS, np.arange(-31, 31), indexing="ij"))
    c = C.requantize(acc, mult, shift)
    ref = R.requantize(acc, mult, shift)
    assert_same(c, ref, "requantize edges")
    exact = [exact_requantize(int(a), int(m), int(s)) for a, m, s in zip(acc, mult, shift)]
    assert_same(ref, np.array(exact), "reference vs definition")


def test_requantize_random_against_reference():
    rng = np.random.default_rng(0)
    n = 20000
    acc = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True)
    # small accumulators too, where ties and sign matter
    acc[: n // 2] = rng.integers(-5000, 5000, n // 2)
    mult = rng.integers(2 ** 30, 2 ** 31, n)
    mult[::17] = 0
    shift = rng.integers(-31, 31, n)
    assert_same(C.requantize(acc, mult, shift), R.requantize(acc, mult, shift), "requantize")
    idx = rng.choice(n, 2000, replace=False)
    exact = [exact_requantize(int(acc[i]), int(mult[i]), int(shift[i])) for i in idx]
    assert_same(R.requantize(acc[idx], mult[idx], shift[idx]), np.array(exact), "definition")


def test_requantize_ties_go_up():
    # multiplier 2^30, shift 0 halves: odd accumulators are exact ties
    acc = np.arange(-9, 10, 2)
    assert_same(C.requantize(acc, 2 ** 30, 0), (acc + 1) // 2, "ties")


@settings(max_examples=300, deadline=None)
@given(acc=st.integers(INT32_MIN, INT32_MAX), mult=st.integers(0, INT32_MAX),
       shift=st.integers(-31, 30))
def test_requantize_hypothesis(acc, mult, shift):
    want = exact_requantize(acc, mult, shift)
    assert int(C.requantize(acc, mult, shift)) == want
    assert int(R.requantize(acc, mult, shift)) == want


# ---- layer problems ------------------------------------------------------------------------

def requant_for(rng, k, channels, mode):
    """Per-channel (multiplier, shift) for a reduction of length k. "spread": a scale
    that maps a typical accumulator to tens of LSB (outputs vary and sometimes
    saturate); "wild": any valid values (mostly saturated outputs, extreme paths)."""
    if mode == "wild":
        mult = rng.integers(0, 2 ** 31, channels)
        return mult, rng.integers(-31, 31, channels)
    typical = math.sqrt(k) * 128 * 74           # |x + off| ~ 128, |w| ~ 74
    reals = 40.0 / typical * 2.0 ** rng.uniform(-1.5, 1.5, channels)
    pairs = [S.quantize_multiplier(r) for r in reals]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def rand_io(rng):
    """(input_offset, output_offset, act): any valid offsets; the clamp is the full
    range, a wide one (a fused ReLU-like floor and a ceiling) or any valid one."""
    r = rng.random()
    if r < 0.4:
        act = (-128, 127)
    elif r < 0.8:
        act = (int(rng.integers(-128, -20)), int(rng.integers(20, 128)))
    else:
        lo = int(rng.integers(-128, 128))
        act = (lo, int(rng.integers(lo, 128)))
    return int(rng.integers(-127, 129)), int(rng.integers(-128, 128)), act


def rand_bias(rng, o, k):
    if rng.random() < 0.2:
        return None
    b = rng.integers(-int(math.sqrt(k)) * 4000, int(math.sqrt(k)) * 4000 + 1, o)
    if rng.random() < 0.1:   # extreme biases exercise the saturating add
        b[0], b[-1] = INT32_MAX, INT32_MIN
    return b.astype(np.int32)


def check_conv(case, seed=0, mode="spread", io=None):
    n, c, h, w, o, k, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    kh, kw = (k, k) if np.isscalar(k) else k
    x = rand_s8(rng, n, h, w, c)
    wt = rand_s8(rng, o, kh, kw, c // groups, lo=-127)
    red = kh * kw * (c // groups)
    bias = rand_bias(rng, o, red)
    mult, shift = requant_for(rng, red, o, mode)
    in_off, out_off, act = rand_io(rng) if io is None else io
    args = (x, wt, bias, mult, shift, in_off, out_off, act)
    kw_ = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref = R.conv2d_s8(*args, **kw_)
    assert_same(C.conv2d_s8(*args, **kw_), ref, f"conv2d_s8 {case}")
    return ref


# (N, C, H, W, O, k, stride, padding, dilation, groups)
CONV_CASES = [
    (1, 1, 28, 28, 6, 5, 1, 0, 1, 1),               # LeNet-5 conv1 shape
    (2, 3, 7, 9, 4, 3, 2, 1, 1, 1),                 # odd sizes, batch 2, stride 2, pad 1
    (1, 2, 8, 8, 3, 2, 3, 0, 1, 1),                 # stride > kernel
    (1, 3, 9, 8, 5, (3, 2), (2, 1), (2, 1), 1, 1),  # rectangular everything
    (1, 3, 9, 8, 5, (3, 2), 1, (1, 0, 2, 1), 1, 1), # per-side padding
    (2, 4, 9, 9, 6, 3, 1, 2, 2, 2),                 # dilation 2, groups 2
    (1, 4, 6, 5, 4, 3, 1, 1, 1, 4),                 # depthwise
    (1, 3, 6, 6, 6, 3, 2, 1, 1, 3),                 # depthwise, channel multiplier 2
    (3, 1, 4, 4, 2, 2, 2, 1, 1, 1),                 # batch 3, padding 1
    (1, 5, 1, 1, 3, 1, 1, 0, 1, 1),                 # 1x1 conv on a 1x1 image
    (1, 2, 5, 5, 2, 5, 1, 0, 1, 1),                 # kernel as large as the input
    (1, 16, 6, 6, 8, 3, 1, 1, 1, 1),                # a wider reduction (144)
    (1, 30, 5, 5, 4, 3, 1, 1, 1, 1),                # 270 > the 256-value patch: direct path
    (1, 28, 5, 5, 4, 3, 2, 1, 1, 1),                # 252: the largest patch path, padded
]


@pytest.mark.parametrize("mode", ["spread", "wild"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[:5])))
def test_conv2d_s8(case, mode):
    for seed in range(3):
        check_conv(case, seed, mode)


def test_conv2d_s8_outputs_are_not_trivial():
    """The 'spread' requantization gives varied outputs (so bit-exactness means something)."""
    y = check_conv((1, 8, 8, 8, 8, 3, 1, 1, 1, 1), seed=5, io=(-3, 5, (-128, 127)))
    assert len(np.unique(y)) > 40 and np.mean((y == -128) | (y == 127)) < 0.2


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), groups=st.sampled_from([1, 2, 3]), cpg=st.integers(1, 3),
       opg=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       pads=st.tuples(*[st.integers(0, 2)] * 4), dh=st.integers(1, 2), dw=st.integers(1, 2),
       mode=st.sampled_from(["spread", "spread", "wild"]), seed=st.integers(0, 2 ** 16))
def test_conv2d_s8_random_shapes(n, groups, cpg, opg, h, w, kh, kw, sh, sw, pads, dh, dw,
                                 mode, seed):
    top, left, bottom, right = pads
    if h + top + bottom < dh * (kh - 1) + 1 or w + left + right < dw * (kw - 1) + 1:
        return
    check_conv((n, groups * cpg, h, w, groups * opg, (kh, kw), (sh, sw), pads, (dh, dw),
                groups), seed, mode)


def check_linear(n, k, o, seed, mode="spread", image=None):
    rng = np.random.default_rng(seed)
    x = rand_s8(rng, n, k) if image is None else rand_s8(rng, n, *image)
    wt = rand_s8(rng, o, k, lo=-127)
    mult, shift = requant_for(rng, k, o, mode)
    args = (x, wt, rand_bias(rng, o, k), mult, shift, *rand_io(rng))
    assert_same(C.linear_s8(*args), R.linear_s8(*args), f"linear_s8 {n}x{k}->{o}")


@pytest.mark.parametrize("mode", ["spread", "wild"])
@pytest.mark.parametrize("n,k,o", [(1, 1, 1), (1, 400, 120), (3, 84, 10), (2, 7, 13),
                                   (5, 256, 3), (1, 3000, 2)])
def test_linear_s8(n, k, o, mode):
    for seed in range(3):
        check_linear(n, k, o, seed, mode)


def test_linear_s8_reads_an_nhwc_image_as_flat_rows():
    check_linear(2, 3 * 4 * 5, 6, seed=1, image=(3, 4, 5))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), k=st.integers(1, 300), o=st.integers(1, 20),
       mode=st.sampled_from(["spread", "wild"]), seed=st.integers(0, 2 ** 16))
def test_linear_s8_random(n, k, o, mode, seed):
    check_linear(n, k, o, seed, mode)


def test_linear_s8_longest_reduction_is_exact():
    """K = 65536 with the largest products: the int32 sum must not wrap."""
    k = 65536
    x = np.full((1, k), -128, np.int8)
    w = np.full((1, k), -128, np.int8)
    w[0, ::3] = 127
    args = (x, w, None, 2 ** 30, -24, -127, 0)
    assert_same(C.linear_s8(*args), R.linear_s8(*args), "K = 65536")
    with pytest.raises(KernelError) as err:
        C.linear_s8(np.zeros((1, k + 1), np.int8), np.zeros((1, k + 1), np.int8), None,
                    2 ** 30, 0, 0, 0)
    assert err.value.status == STATUS["unsupported"]


# ---- pooling ---------------------------------------------------------------------------------

# (N, C, H, W, kernel, stride, padding, ceil_mode, count_include_pad)
POOL_CASES = [
    (1, 6, 28, 28, 2, 2, 0, False, True),
    (2, 3, 7, 7, 3, 2, 1, False, True),
    (1, 2, 7, 6, 3, 2, 1, True, True),        # ceil_mode
    (1, 2, 7, 6, 3, 2, 1, True, False),       # ceil_mode, ONNX divisor
    (2, 1, 5, 5, 2, 3, 0, False, True),       # stride > kernel
    (1, 3, 6, 9, (2, 3), (1, 2), (1, 1), False, False),
    (1, 3, 6, 9, (3, 3), (2, 2), (0, 1, 2, 1), True, True),   # per-side padding
    (1, 1, 3, 3, 3, 1, 1, False, True),       # padding on every side
]


def check_pool(case, seed):
    n, c, h, w, k, s, p, ceil, cip = case
    rng = np.random.default_rng(seed)
    x = rand_s8(rng, n, h, w, c)
    act = (-128, 127) if seed % 2 == 0 else rand_io(rng)[2]
    got = C.maxpool2d_s8(x, k, s, p, ceil, act=act)
    assert_same(got, R.maxpool2d_s8(x, k, s, p, ceil, act=act), f"maxpool {case}")
    got = C.avgpool2d_s8(x, k, s, p, ceil, cip, act=act)
    assert_same(got, R.avgpool2d_s8(x, k, s, p, ceil, cip, act=act), f"avgpool {case}")


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool2d_s8(case):
    for seed in range(4):
        check_pool(case, seed)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 4), sw=st.integers(1, 4),
       pads=st.tuples(*[st.integers(0, 3)] * 4), ceil=st.booleans(), cip=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_pool2d_s8_random(n, c, h, w, kh, kw, sh, sw, pads, ceil, cip, seed):
    top, left, bottom, right = pads
    if top >= kh or bottom >= kh or left >= kw or right >= kw:
        return
    if h + top + bottom < kh or w + left + right < kw:
        return
    check_pool((n, c, h, w, (kh, kw), (sh, sw), pads, ceil, cip), seed)


def test_avgpool_rounds_ties_away_from_zero():
    x = np.array([1, 2, -1, -2, 3, 4, -3, -4], np.int8).reshape(1, 1, 8, 1)
    want = np.array([2, -2, 4, -4]).reshape(1, 1, 4, 1)   # 1.5 -1.5 3.5 -3.5
    assert_same(C.avgpool2d_s8(x, (1, 2)), want)
    assert_same(R.avgpool2d_s8(x, (1, 2)), want)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 5, 5, 16), (1, 7, 3, 5), (3, 1, 9, 2),
                                   (1, 256, 256, 1)])
def test_global_avgpool_s8(shape):
    rng = np.random.default_rng(sum(shape))
    x = rand_s8(rng, *shape)
    for act in [(-128, 127), (-10, 20)]:
        assert_same(C.global_avgpool_s8(x, act), R.global_avgpool_s8(x, act), f"{shape}")
    # all-extreme inputs: the largest sums
    for v in (-128, 127):
        x = np.full(shape, v, np.int8)
        assert_same(C.global_avgpool_s8(x), np.full((shape[0], 1, 1, shape[3]), v))


# ---- elementwise -----------------------------------------------------------------------------

def test_clamp_s8_every_value_and_range():
    x = np.arange(-128, 128, dtype=np.int8)
    for lo, hi in [(-128, 127), (0, 127), (0, 6), (-5, -5), (-128, -128), (127, 127)]:
        assert_same(C.clamp_s8(x, lo, hi), R.clamp_s8(x, lo, hi), f"clamp {lo} {hi}")


def test_lut_s8_random_tables():
    rng = np.random.default_rng(3)
    x = rand_s8(rng, 2, 5, 5, 3)
    for _ in range(5):
        table = rand_s8(rng, 256)
        assert_same(C.lut_s8(x, table), R.lut_s8(x, table))
    every = np.arange(-128, 128, dtype=np.int8)
    table = rand_s8(rng, 256)
    assert_same(C.lut_s8(every, table), table)


@pytest.mark.parametrize("cols", [1, 2, 3, 10, 100, 255, 256])
def test_softmax_s8(cols):
    rng = np.random.default_rng(cols)
    for s_in in (1 / 16, 0.05, 0.3, 2.0, 1e-3):
        table = S.softmax_exp_table(s_in)
        x = rand_s8(rng, 4, cols)
        assert_same(C.softmax_s8(x, table), R.softmax_s8(x, table), f"s_in {s_in}")
    # arbitrary valid tables (any entries in [0, 2^23], entry 0 >= 1)
    for _ in range(3):
        table = rng.integers(0, 2 ** 23 + 1, 256)
        table[0] = rng.integers(1, 2 ** 23 + 1)
        x = rand_s8(rng, 3, cols)
        assert_same(C.softmax_s8(x, table), R.softmax_s8(x, table), "random table")
    # the largest sum, cols * 2^23 (2^31 for 256 columns)
    x = np.full((1, cols), 5, np.int8)
    table = S.softmax_exp_table(0.1)
    assert_same(C.softmax_s8(x, table), R.softmax_s8(x, table), "equal columns")


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 5), cols=st.integers(1, 256), s_in=st.floats(1e-3, 4.0),
       seed=st.integers(0, 2 ** 16))
def test_softmax_s8_random(rows, cols, s_in, seed):
    rng = np.random.default_rng(seed)
    x = rand_s8(rng, rows, cols)
    table = S.softmax_exp_table(s_in)
    assert_same(C.softmax_s8(x, table), R.softmax_s8(x, table))


# ---- quantize / dequantize --------------------------------------------------------------------

def test_quantize_dequantize_against_reference():
    rng = np.random.default_rng(4)
    for scale, zp in [(0.05, 3), (1.0, 0), (2.0 ** -4, -128), (0.0137, 127), (3e-5, -7)]:
        x = (rng.standard_normal(5000) * 80 * scale).astype(np.float32)
        # exact ties (k + 1/2) * scale where representable, and the range ends
        ties = ((np.arange(-140, 140) + 0.5) * scale).astype(np.float32)
        x = np.concatenate([x, ties, np.float32([np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30])])
        assert_same(C.quantize_s8(x, scale, zp), R.quantize_s8(x, scale, zp), f"{scale} {zp}")
        q = np.arange(-128, 128, dtype=np.int8)
        np.testing.assert_array_equal(C.dequantize_s8(q, scale, zp),
                                      R.dequantize_s8(q, scale, zp))


def test_quantize_rounds_half_away():
    x = np.float32([0.5, 1.5, 2.5, -0.5, -1.5, -2.5])
    want = np.array([1, 2, 3, -1, -2, -3])
    assert_same(C.quantize_s8(x, 1.0, 0), want)
    assert_same(R.quantize_s8(x, 1.0, 0), want)


# ---- status codes through the wrappers ---------------------------------------------------------

def status_of(fn, *args, **kwargs):
    with pytest.raises(KernelError) as err:
        fn(*args, **kwargs)
    return err.value.status


def test_bad_arguments_report_statuses():
    x, w = np.zeros((1, 4, 4, 2), np.int8), np.zeros((3, 3, 3, 2), np.int8)
    assert status_of(C.conv2d_s8, x, w, None, 2 ** 30, 31, 0, 0) == STATUS["arg"]
    assert status_of(C.conv2d_s8, x, w, None, -1, 0, 0, 0) == STATUS["arg"]
    assert status_of(C.conv2d_s8, x, w, None, 2 ** 30, 0, -128, 0) == STATUS["arg"]
    assert status_of(C.conv2d_s8, x, w, None, 2 ** 30, 0, 0, 0, act=(3, 2)) == STATUS["arg"]
    assert status_of(C.conv2d_s8, x, w, None, 2 ** 30, 0, 0, 0, groups=2) == STATUS["shape"]
    assert status_of(C.linear_s8, np.zeros((2, 5), np.int8), np.zeros((3, 4), np.int8), None,
                     2 ** 30, 0, 0, 0) == STATUS["shape"]
    assert status_of(C.maxpool2d_s8, x, 2, 1, 2) == STATUS["arg"]          # pad >= kernel
    assert status_of(C.avgpool2d_s8, x, 2, act=(0, 128)) == STATUS["arg"]
    assert status_of(C.clamp_s8, x, 5, 4) == STATUS["arg"]
    assert status_of(C.softmax_s8, np.zeros((1, 257), np.int8),
                     S.softmax_exp_table(0.1)) == STATUS["unsupported"]
    bad_table = S.softmax_exp_table(0.1)
    bad_table[0] = 0
    assert status_of(C.softmax_s8, np.zeros((1, 3), np.int8), bad_table) == STATUS["arg"]
    assert status_of(C.quantize_s8, np.float32([1, np.nan]), 0.1, 0) == STATUS["nonfinite"]
    assert status_of(C.quantize_s8, np.float32([1]), 0.0, 0) == STATUS["arg"]
    assert status_of(C.dequantize_s8, np.int8([1]), 0.1, 128) == STATUS["arg"]
    with pytest.raises(ValueError):
        R.requantize(1, 2 ** 30, 31)


# ---- scales.py ------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(real=st.floats(2.0 ** -31, 2.0 ** 29.9))
def test_quantize_multiplier_reconstructs_the_scale(real):
    m, shift = S.quantize_multiplier(real)
    assert 2 ** 30 <= m < 2 ** 31 and -31 <= shift <= 30
    approx = Fraction(m) * Fraction(2) ** (shift - 31)
    assert abs(approx - Fraction(real)) <= Fraction(real) * Fraction(1, 2 ** 31)


def test_quantize_multiplier_edges():
    assert S.quantize_multiplier(0.0) == (0, 0)
    assert S.quantize_multiplier(0.5) == (2 ** 30, 0)
    assert S.quantize_multiplier(1.0) == (2 ** 30, 1)
    assert S.quantize_multiplier(0.25) == (2 ** 30, -1)
    # m so close to 1 that round(m * 2^31) == 2^31: becomes 2^30 with shift + 1
    assert S.quantize_multiplier(1.0 - 2.0 ** -40) == (2 ** 30, 1)
    assert S.quantize_multiplier(2.0 ** -32) == (2 ** 30, -31)
    assert S.quantize_multiplier(2.0 ** -33) == (0, 0)          # flushed: rounds to 0 anyway
    with pytest.raises(ValueError):
        S.quantize_multiplier(2.0 ** 30)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            S.quantize_multiplier(bad)


def test_flushed_multiplier_loses_nothing():
    """Below 2^-32 every accumulator rounds to 0, which (0, 0) gives exactly."""
    real = 2.0 ** -33 * 1.9
    accs = np.array(EDGE_ACCS)
    exact = [math.floor(Fraction(int(a)) * Fraction(real) + Fraction(1, 2)) for a in accs]
    assert_same(R.requantize(accs, *S.quantize_multiplier(real)), np.array(exact))


def test_choose_qparams():
    s, zp = S.choose_qparams(-1.0, 3.0)
    assert s == pytest.approx(4.0 / 255, rel=1e-6) and s == float(np.float32(s))
    assert -128 <= zp <= 127
    assert R.dequantize_s8(np.int8([zp]), s, zp)[0] == 0.0          # 0 is exact
    assert S.choose_qparams(2.0, 5.0)[1] == -128                    # widened to include 0
    assert S.choose_qparams(-5.0, -2.0)[1] == 127
    assert S.choose_qparams(0.0, 0.0) == (S.MIN_SCALE, -128)        # empty range
    assert S.choose_qparams(1e-12, 1e-12)[0] == S.MIN_SCALE
    for lo, hi in [(-1.0, 3.0), (-0.1, 7.3), (-20.0, 0.5), (0.0, 1.0)]:
        s, zp = S.choose_qparams(lo, hi)
        q = R.quantize_s8(np.float32([lo, hi]), s, zp)
        back = R.dequantize_s8(q, s, zp)
        assert np.all(np.abs(back - np.float32([lo, hi])) <= s * 0.51 + 1e-7)
    with pytest.raises(ValueError):
        S.choose_qparams(1.0, 0.0)
    with pytest.raises(ValueError):
        S.choose_qparams(0.0, math.inf)


def test_symmetric_weight_scales():
    w = np.zeros((3, 2, 2, 4))
    w[0] = 1.27
    w[1, 0, 0, 0] = -2.54
    scales = S.symmetric_weight_scales(w, axis=0)
    np.testing.assert_allclose(scales, [0.01, 0.02, 1.0], rtol=1e-6)
    q = S.quantize_weights(w, scales)
    assert q[0].max() == 127 and q[1].min() == -127 and np.all(q[2] == 0)
    np.testing.assert_allclose(S.symmetric_weight_scales(w.T, axis=-1), scales)


def test_lookup_tables():
    s_in, zp_in = 0.05, 10
    t = S.sigmoid_table(s_in, zp_in)
    assert t.dtype == np.int8 and t.shape == (256,)
    assert np.all(np.diff(t.astype(int)) >= 0)                        # monotone
    assert t[zp_in + 128] == 0                                        # sigmoid(0) = 0.5 -> 128 - 128
    tt = S.tanh_table(s_in, zp_in)
    assert tt[zp_in + 128] == 0 and np.all(np.diff(tt.astype(int)) >= 0)
    ident = S.lut_table(lambda v: v, 0.1, 3, 0.1, 3)
    assert_same(ident, np.arange(-128, 128))
    e = S.softmax_exp_table(0.1)
    assert e.dtype == np.int32 and e[0] == 2 ** 23 and np.all(np.diff(e) <= 0) and e.min() >= 0
    assert e[10] == round(2 ** 23 * math.exp(-1.0))


# ---- agreement with the float kernels --------------------------------------------------------------

def fake_quant_problem(rng, x_shape, w_shape, axis0_out=True):
    """Float x, w, b quantized with scales.py; returns the int8 tensors, their scales
    and the float tensors they stand for (dequantized: the 'fake-quant' model)."""
    x = (rng.standard_normal(x_shape) * 1.5 + 0.4).astype(np.float32)
    w = (rng.standard_normal(w_shape) * 0.3).astype(np.float32)
    b = (rng.standard_normal(w_shape[0]) * 0.5).astype(np.float32)
    s_in, zp_in = S.choose_qparams(x.min(), x.max())
    qx = R.quantize_s8(x, s_in, zp_in)
    s_w = S.symmetric_weight_scales(w, axis=0)
    qw = S.quantize_weights(w, s_w)
    qb = S.quantize_bias(b, s_in, s_w)
    xf = R.dequantize_s8(qx, s_in, zp_in)
    wf = (qw * s_w.reshape((-1,) + (1,) * (qw.ndim - 1))).astype(np.float32)
    bf = (qb * (s_in * s_w)).astype(np.float32)
    return qx, qw, qb, s_in, zp_in, s_w, xf, wf, bf


def assert_within_lsb(q, y, s_out, zp_out, what, lsb=1.0):
    err = np.abs(R.dequantize_s8(q, s_out, zp_out).astype(np.float64) - y) / s_out
    assert err.max() <= lsb + 1e-3, f"{what}: error {err.max():.3f} LSB"


CONV_AGREE = [((1, 8, 8, 3), (4, 3, 3, 3), dict(padding=1)),
              ((2, 9, 7, 4), (6, 3, 2, 2), dict(stride=2, padding=(1, 0), groups=2)),
              ((1, 6, 6, 4), (4, 3, 3, 1), dict(padding=2, dilation=2, groups=4)),
              ((1, 10, 10, 16), (8, 5, 5, 16), dict(stride=2))]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("x_shape,w_shape,geom", CONV_AGREE)
def test_conv2d_s8_agrees_with_float(x_shape, w_shape, geom, relu):
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    qx, qw, qb, s_in, zp_in, s_w, xf, wf, bf = fake_quant_problem(rng, x_shape, w_shape)
    y = KF.conv2d(xf, wf, bf, act=(0.0, np.inf) if relu else None, **geom).astype(np.float64)
    s_out, zp_out = S.choose_qparams(y.min(), y.max())
    mult, shift = S.requant_params(s_in, s_w, s_out)
    act = (zp_out, 127) if relu else (-128, 127)     # ReLU: real 0 is q = zp_out
    q = C.conv2d_s8(qx, qw, qb, mult, shift, -zp_in, zp_out, act, **geom)
    assert_same(q, R.conv2d_s8(qx, qw, qb, mult, shift, -zp_in, zp_out, act, **geom))
    assert_within_lsb(q, y, s_out, zp_out, "conv2d")


@pytest.mark.parametrize("n,k,o", [(1, 400, 120), (4, 84, 10), (2, 9, 3)])
def test_linear_s8_agrees_with_float(n, k, o):
    rng = np.random.default_rng(k)
    qx, qw, qb, s_in, zp_in, s_w, xf, wf, bf = fake_quant_problem(rng, (n, k), (o, k))
    y = KF.linear(xf, wf, bf).astype(np.float64)
    s_out, zp_out = S.choose_qparams(y.min(), y.max())
    mult, shift = S.requant_params(s_in, s_w, s_out)
    q = C.linear_s8(qx, qw, qb, mult, shift, -zp_in, zp_out)
    assert_within_lsb(q, y, s_out, zp_out, "linear")


def test_pooling_and_activations_agree_with_float():
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((2, 7, 7, 3)) * 2).astype(np.float32)
    s, zp = S.choose_qparams(x.min(), x.max())
    qx = R.quantize_s8(x, s, zp)
    xf = R.dequantize_s8(qx, s, zp)
    # pooling keeps the scale; average pooling is exact in the real domain when the
    # divisor counts real taps only (or the zero point is 0) -- see avgpool2d_s8.c
    assert_within_lsb(C.maxpool2d_s8(qx, 3, 2, 1), KF.maxpool2d(xf, 3, 2, 1), s, zp, "max", 0.0)
    assert_within_lsb(C.avgpool2d_s8(qx, 3, 2, 1, count_include_pad=False),
                      KF.avgpool2d(xf, 3, 2, 1, count_include_pad=False), s, zp, "avg", 0.5)
    assert_within_lsb(C.global_avgpool_s8(qx), KF.global_avgpool(xf), s, zp, "gap", 0.5)
    s0 = S.choose_qparams(-np.abs(x).max(), np.abs(x).max())[0]
    q0 = R.quantize_s8(x, s0, 0)
    assert_within_lsb(C.avgpool2d_s8(q0, 3, 2, 1), KF.avgpool2d(R.dequantize_s8(q0, s0, 0), 3, 2, 1),
                      s0, 0, "avg zp 0", 0.5)
    # sigmoid / tanh through tables: rounded once (half an LSB), but the output ranges
    # (TFLite's) stop one LSB short of 1, so values near 1 are off by up to an LSB
    assert_within_lsb(C.lut_s8(qx, S.sigmoid_table(s, zp)), KF.sigmoid(xf), 1 / 256, -128,
                      "sigmoid", 1.0)
    assert_within_lsb(C.lut_s8(qx, S.tanh_table(s, zp)), KF.tanh(xf), 1 / 128, 0, "tanh", 1.0)
    # softmax: the exp table is rounded to 2^-23, the quotient to 1/256
    logits = qx.reshape(-1, 21)
    p = KF.softmax(R.dequantize_s8(logits, s, zp))
    assert_within_lsb(C.softmax_s8(logits, S.softmax_exp_table(s)), p, 1 / 256, -128,
                      "softmax", 0.51)
