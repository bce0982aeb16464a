"""The fast int8 conv/linear paths (runtime_c/src/conv/conv2d_s8.c, linear/linear_s8.c,
support/simd_s8.h) and their fallbacks, bit-exact against the Python integer reference.

conv2d_s8 takes the fast path for groups == 1, a receptive field K = KH*KW*C <= 190 and
biases with |b| <= INT32_MAX - 32640*K; every other call runs the direct loop (the
reference twin). Inside the fast path: 2 output pixels x 2 output channels per block,
an odd last pixel/channel paired with itself, channels in chunks of 32, whole-word
copies of interior patches (with a guard at the end of the input), padding taps holding
-input_offset, a scalar tail for K % 4, and a requantization that is exact for
shift <= -2 and defers to mt_requantize otherwise. The grid below walks each of those
edges; the host runs the portable formulation, tests/c/test_s8_fast.c the DSP one
(emulated), and tests/test_board_int8.py the real instructions on the boards.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pyconvert.host import kernels_s8 as C
from pyconvert.quant import int_reference as R

INT32_MAX = 2 ** 31 - 1
FAST_K_MAX = 190


def assert_same(c, ref, what):
    c, ref = np.asarray(c), np.asarray(ref)
    assert c.shape == ref.shape, what
    bad = np.flatnonzero(c.reshape(-1) != ref.reshape(-1))
    assert bad.size == 0, (f"{what}: {bad.size} of {c.size} differ, first at {bad[0]}: "
                           f"C {c.reshape(-1)[bad[0]]} != reference {ref.reshape(-1)[bad[0]]}")


def requant(rng, k, o, shifts="fast"):
    """Per-channel (multiplier, shift) that spread typical accumulators over tens of
    LSB; shifts="mixed" also gives some channels shift >= -1 (the general rule)."""
    mult = rng.integers(2 ** 30, 2 ** 31, o)
    base = -int(np.ceil(np.log2(np.sqrt(k) * 128 * 74 / 40.0))) - 1
    shift = np.clip(base + rng.integers(-1, 2, o), -31, -2)
    if shifts == "mixed":
        shift[:: 3] = rng.integers(-1, 3, len(shift[:: 3]))
        mult[:: 3] = rng.integers(0, 2 ** 16, len(mult[:: 3]))   # keep those outputs varied
    return mult, shift


def conv_case(rng, n, c, h, w, o, k, stride=1, pad=0, dil=1, groups=1, extreme=False,
              io=None, shifts="fast", bias="small"):
    kh, kw = (k, k) if np.isscalar(k) else k
    x = rng.integers(-128, 128, (n, h, w, c)).astype(np.int8)
    wt = rng.integers(-128, 128, (o, kh, kw, c // groups)).astype(np.int8)
    if extreme:   # the largest products: x = -128 and w = -128 everywhere, some 127
        x[...] = -128
        wt[...] = -128
        wt.reshape(-1)[::5] = 127
    red = kh * kw * (c // groups)
    mult, shift = requant(rng, red, o, shifts)
    if bias == "small":
        b = rng.integers(-50000, 50001, o).astype(np.int32)
    elif bias == "none":
        b = None
    else:   # "huge": near the int32 limits, so the fast path must not be taken
        b = rng.integers(-50000, 50001, o).astype(np.int32)
        b[0], b[-1] = INT32_MAX, -INT32_MAX - 1
    if io is None:
        io = (int(rng.integers(-127, 129)), int(rng.integers(-128, 128)), (-128, 127))
    args = (x, wt, b, mult, shift, *io)
    kw_ = dict(stride=stride, padding=pad, dilation=dil, groups=groups)
    ref = R.conv2d_s8(*args, **kw_)
    got = C.conv2d_s8(*args, **kw_)
    assert_same(got, ref, f"conv {n}x{h}x{w}x{c} -> {o} k{k} s{stride} p{pad} d{dil} g{groups}")
    return ref


# (N, C, H, W, O, k, stride, pad, dilation)
FAST_GRID = [
    (1, 1, 32, 32, 6, 5, 1, 0, 1),      # LeNet-5 conv1: C = 1, K = 25
    (1, 6, 14, 14, 16, 5, 1, 0, 1),     # LeNet-5 conv2: K = 150
    (1, 1, 7, 7, 3, 3, 1, 1, 1),        # C = 1, K = 9, padding, odd O
    (2, 3, 9, 8, 5, 3, 2, 1, 1),        # batch 2, stride 2, K = 27, odd O
    (1, 5, 6, 7, 1, 2, 1, 0, 1),        # O = 1, K = 20
    (1, 2, 5, 5, 2, 1, 1, 0, 1),        # K = 2 < 4: only the scalar tail
    (1, 3, 4, 4, 4, 1, 1, 0, 1),        # K = 3
    (1, 4, 4, 4, 4, 1, 1, 0, 1),        # K = 4: one word, no tail
    (1, 7, 5, 6, 9, 3, 1, (0, 1, 2, 0), 1),   # per-side padding, odd everything
    (1, 2, 9, 9, 3, 3, (2, 1), 2, 2),   # dilation 2 (edge gather, per tap)
    (3, 1, 3, 3, 2, 3, 1, 1, 1),        # every pixel touches the padding, odd P = 27
    (1, 1, 1, 1, 3, 1, 1, 0, 1),        # one pixel (paired with itself)
    (1, 2, 6, 6, 33, 3, 1, 1, 1),       # O = 33: two channel chunks, the last with 1
    (1, 3, 5, 5, 70, 2, 1, 0, 1),       # O = 70: three chunks
    (1, 10, 5, 5, 4, (19, 1), 1, (9, 0), 1),   # K = 190: the largest fast patch
    (1, 10, 5, 5, 4, (19, 1), 1, (9, 0), 1),   # (twice: a second seed)
    (1, 1, 6, 33, 2, (1, 31), 1, 0, 1), # long rows (31 taps, odd)
    (2, 5, 4, 9, 3, 3, 1, 0, 1),        # interior windows near the end of the input
]


@pytest.mark.parametrize("case", FAST_GRID, ids=lambda c: "x".join(map(str, c[:6])))
def test_fast_conv_grid(case):
    for seed in range(4):
        conv_case(np.random.default_rng(seed), *case)


@pytest.mark.parametrize("case", FAST_GRID[:6], ids=lambda c: "x".join(map(str, c[:6])))
def test_fast_conv_extreme_values(case):
    """x = w = -128 (the largest products), every input offset extreme, biases absent,
    mixed shifts (some >= -1: the general rule inside the fast path) and clamps."""
    rng = np.random.default_rng(7)
    for in_off, out_off, act in [(-127, 127, (-128, 127)), (128, -128, (-128, 127)),
                                 (128, 5, (-20, 30)), (-127, -128, (-128, -128))]:
        conv_case(rng, *case, extreme=True, io=(in_off, out_off, act), shifts="mixed",
                  bias="none")
        conv_case(rng, *case, io=(in_off, out_off, act), shifts="mixed")


def test_fast_conv_padding_is_the_zero_point():
    """With input_offset = 128 (zp -128) and -127, a padded tap holds -input_offset:
    all-equal inputs at the zero point give the bias alone, for every pixel."""
    rng = np.random.default_rng(3)
    for in_off in (128, -127, 0):
        x = np.full((1, 5, 5, 3), -in_off, np.int8)
        w = rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8)
        b = rng.integers(-1000, 1000, 4).astype(np.int32)
        y = C.conv2d_s8(x, w, b, 2 ** 30, -2, in_off, 0, padding=1)
        assert_same(y, R.conv2d_s8(x, w, b, 2 ** 30, -2, in_off, 0, padding=1), "zero point")
        expect = np.floor(b / 8 + 0.5).clip(-128, 127).astype(np.int8)   # x 2^30 * 2^-33
        assert (y == expect).all()


@pytest.mark.parametrize("why", ["K above the patch", "groups", "huge bias"])
def test_fallbacks_agree(why):
    rng = np.random.default_rng(11)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        if why == "K above the patch":      # K = 191 and 300
            conv_case(rng, 1, 1, 6, 200, 3, (1, 191))
            conv_case(rng, 1, 12, 5, 5, 3, 5, pad=2)
        elif why == "groups":
            conv_case(rng, 2, 4, 6, 6, 6, 3, pad=1, groups=2)
        else:
            conv_case(rng, 1, 3, 6, 6, 5, 3, pad=1, bias="huge")


def test_fast_and_direct_paths_agree_on_the_same_layer():
    """One layer through both paths: a single huge bias sends the whole call to the
    direct loop, and every channel with an unchanged bias must come out the same."""
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (1, 7, 7, 3)).astype(np.int8)
    w = rng.integers(-128, 128, (5, 3, 3, 3)).astype(np.int8)
    b = rng.integers(-5000, 5000, 5).astype(np.int32)
    mult, shift = requant(rng, 27, 5)
    fast = C.conv2d_s8(x, w, b, mult, shift, 17, 3, padding=1)
    b2 = b.copy()
    b2[-1] = INT32_MAX   # one huge bias: the whole call takes the direct loop
    direct = C.conv2d_s8(x, w, b2, mult, shift, 17, 3, padding=1)
    assert_same(fast[..., :-1], direct[..., :-1], "fast vs direct")
    assert_same(fast, R.conv2d_s8(x, w, b, mult, shift, 17, 3, padding=1), "fast vs reference")


def linear_case(rng, n, k, o, extreme=False, io=None, shifts="fast", bias="small"):
    x = rng.integers(-128, 128, (n, k)).astype(np.int8)
    w = rng.integers(-128, 128, (o, k)).astype(np.int8)
    if extreme:
        x[...] = -128
        w[...] = -128
        w.reshape(-1)[::3] = 127
    mult, shift = requant(rng, k, o, shifts)
    b = None if bias == "none" else rng.integers(-50000, 50001, o).astype(np.int32)
    if bias == "huge":
        b[0], b[-1] = INT32_MAX, -INT32_MAX - 1
    if io is None:
        io = (int(rng.integers(-127, 129)), int(rng.integers(-128, 128)), (-128, 127))
    args = (x, w, b, mult, shift, *io)
    assert_same(C.linear_s8(*args), R.linear_s8(*args), f"linear {n}x{k} -> {o}")


@pytest.mark.parametrize("o", [1, 2, 3, 4, 5, 7, 8, 9, 10, 84, 120])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 8, 84, 400, 401])
def test_fast_linear_grid(k, o):
    """Four rows per pass (O < 4: repeated rows; O % 4: the last block moved back),
    K % 4 tails, batch 1-3."""
    for seed, n in zip(range(3), (1, 2, 3)):
        linear_case(np.random.default_rng(seed), n, k, o)


@pytest.mark.parametrize("o,k", itertools.product([1, 3, 6], [3, 8, 401]))
def test_fast_linear_extremes(o, k):
    rng = np.random.default_rng(9)
    for in_off, out_off, act in [(-127, 127, (-128, 127)), (128, -128, (-128, 127)),
                                 (128, 5, (-20, 30))]:
        linear_case(rng, 2, k, o, extreme=True, io=(in_off, out_off, act), shifts="mixed",
                    bias="none")
        linear_case(rng, 2, k, o, io=(in_off, out_off, act), shifts="mixed", bias="huge")
