"""exp, log and tanh of the runtime (runtime_c/src/support/mt_math.c) against float64.

The runtime computes its transcendental functions itself, from IEEE float
arithmetic only, so the host build and every board build give the same bits
(libm's last place differs between glibc and newlib). Two views:

- mt_expf / mt_logf / mt_tanhf themselves: mt_math.c compiled by the host compiler
  into a throwaway shared library (the functions are internal: no public header
  declares them), swept over ~4M float bit patterns spread over the whole range
  plus dense sweeps of the interesting intervals. Error in ulps of the exact value
  (numpy float64); the bounds are the maxima measured over EVERY float input.
- the kernels built on them (sigmoid, tanh, softmax, log-softmax through
  pyconvert.host.kernels) over 2^20 points of [-100, 100] and the special values.
"""

from __future__ import annotations

import ctypes
import os
import subprocess

import numpy as np
import pytest

from pyconvert.host import kernels as K
from pyconvert.host.build import C_FLAGS, runtime_dir

# Max error over every float input (mt_math.c's header), in ulps of the exact value.
MAX_ULP = {"exp": 0.87, "log": 0.85, "tanh": 1.05}
REFERENCE = {"exp": np.exp, "log": np.log, "tanh": np.tanh}


@pytest.fixture(scope="module")
def mt_math(tmp_path_factory):
    """{'exp': f, 'log': f, 'tanh': f}: float32 array -> float32 array, through the C."""
    tmp = tmp_path_factory.mktemp("mt_math")
    src = runtime_dir() / "src" / "support" / "mt_math.c"
    wrapper = tmp / "mt_math_arrays.c"
    wrapper.write_text(
        f'#include "{src}"\n'
        + "".join(f"void {n}_array(const float *x, float *y, long n)\n"
                  f"{{ for (long i = 0; i < n; i++) y[i] = mt_{n}f(x[i]); }}\n"
                  for n in MAX_ULP))
    lib_path = tmp / "libmt_math.so"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, *C_FLAGS, "-Werror", "-fPIC", "-shared", str(wrapper), "-o", str(lib_path)],
                   check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(lib_path))
    arr = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")

    def wrap(name):
        fn = getattr(lib, f"{name}_array")
        fn.argtypes, fn.restype = [arr, arr, ctypes.c_long], None

        def call(x):
            x = np.ascontiguousarray(x, np.float32)
            y = np.empty_like(x)
            fn(x, y, x.size)
            return y
        return call
    return {name: wrap(name) for name in MAX_ULP}


def ulp_error(y, ref):
    """|y - ref| in units of the float32 spacing at the exact ref (float64); inf/NaN
    results must equal the rounded reference and count as 0."""
    y64 = np.asarray(y, np.float64)
    ref = np.asarray(ref, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ref32 = ref.astype(np.float32)
    special = ~np.isfinite(ref32) | ~np.isfinite(y)
    np.testing.assert_array_equal(np.asarray(y)[special], ref32[special])
    _, e = np.frexp(np.abs(ref))
    ulp = np.maximum(np.ldexp(1.0, e - 24), 2.0 ** -149)
    with np.errstate(invalid="ignore"):
        err = np.abs(y64 - ref) / ulp
    return np.where(special, 0.0, err)


def float_bits(bits):
    return np.asarray(bits, np.uint32).view(np.float32)


def all_range_sample():
    """Every 1021st float32 bit pattern (4.2M, both signs, subnormals, inf, NaN)."""
    return float_bits(np.arange(0, 2 ** 32, 1021, dtype=np.uint64).astype(np.uint32))


SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0 ** -149, -(2.0 ** -149),
                     np.finfo(np.float32).tiny, np.finfo(np.float32).max, -np.finfo(np.float32).max,
                     88.72283, 88.72284, 89.0, -87.33654, -103.97, -103.98, -104.0, 0.8, 10.0],
                    np.float32)


# ---- the functions themselves ---------------------------------------------------------------

@pytest.mark.parametrize("name", list(MAX_ULP))
def test_ulp_error_over_the_whole_float_range(mt_math, name):
    x = np.concatenate([all_range_sample(), SPECIALS])
    rng = np.random.default_rng(1)
    dense = {"exp": (-104.0, 89.0), "log": (0.0, 4.0), "tanh": (-10.0, 10.0)}[name]
    x = np.concatenate([x, rng.uniform(*dense, 1_000_000).astype(np.float32)])
    with np.errstate(all="ignore"):
        ref = REFERENCE[name](x.astype(np.float64))
    y = mt_math[name](x)
    err = ulp_error(y, ref)
    worst = float(err.max())
    assert worst <= MAX_ULP[name], f"mt_{name}f: {worst:.3f} ulp at x = {x[err.argmax()]!r}"
    # hence within 1 ulp of the correctly rounded result, as an integer distance
    with np.errstate(all="ignore"):
        ref32 = ref.astype(np.float32)
    finite = np.isfinite(ref32) & (ref32 != 0)
    key = lambda a: np.where(a.view(np.int32) < 0, -(a.view(np.int32) & 0x7FFFFFFF), a.view(np.int32))
    assert np.abs(key(y[finite]).astype(np.int64) - key(ref32[finite])).max() <= 1
    # and most results are the correctly rounded ones
    assert np.mean(y[finite] == ref32[finite]) > 0.95


def test_special_values(mt_math):
    inf, nan, tiny = np.inf, np.nan, 2.0 ** -149
    exp, log, tanh = mt_math["exp"], mt_math["log"], mt_math["tanh"]
    f = lambda *v: np.array(v, np.float32)
    np.testing.assert_array_equal(exp(f(nan, inf, -inf, 0, -0.0, 89, 1e30, -1e30, -104, -103.9)),
                                  f(nan, inf, 0, 1, 1, inf, inf, 0, 0, tiny))
    assert 0 < exp(f(-90))[0] < np.finfo(np.float32).tiny          # gradual underflow
    got = log(f(nan, 0, -0.0, -1, -inf, -tiny, inf, 1))
    np.testing.assert_array_equal(got, f(nan, -inf, -inf, nan, nan, nan, inf, 0))
    assert not np.signbit(got[-1])                                   # log(1) = +0
    got = tanh(f(nan, 0, -0.0, inf, -inf, 10, -10, tiny, -tiny, 1e-5))
    np.testing.assert_array_equal(got, f(nan, 0, -0.0, 1, -1, 1, -1, tiny, -tiny, 1e-5))
    assert np.signbit(got[2]) and not np.signbit(got[1])


def nondecreasing(y):
    return bool(np.all(y[1:] >= y[:-1]))


def test_tanh_is_odd_and_everything_monotone(mt_math):
    pos = float_bits(np.arange(0, 0x7F800000, 389, dtype=np.uint32))         # 5.5M
    t = mt_math["tanh"](pos)
    np.testing.assert_array_equal(mt_math["tanh"](-pos).view(np.uint32), t.view(np.uint32) ^ 0x80000000)
    # non-decreasing over consecutive floats around every branch switch, and coarsely everywhere
    for name, points in {"exp": [0.3465736, -0.3465736, 1.0397208, -87.33654, -100.0, 88.7, 1e-6],
                         "log": [1.4142135, 0.70710677, 1.0, 2.0, 1.1754944e-38, 1e-40],
                         "tanh": [2.0 ** -12, 0.8, 9.0, 10.0, 0.5]}.items():
        for p in points:
            for sign in ((1, -1) if name != "log" else (1,)):
                b = np.array([sign * p], np.float32).view(np.int32)[0]
                x = float_bits(np.arange(b - 20000, b + 20000).astype(np.uint32))
                x = np.sort(x)
                assert nondecreasing(mt_math[name](x)), (name, sign * p)
    x = np.sort(np.concatenate([all_range_sample(), -all_range_sample()]))
    x = x[np.isfinite(x)]
    for name in MAX_ULP:
        xs = x[x > 0] if name == "log" else x
        assert nondecreasing(mt_math[name](xs)), name


# ---- through the kernels ----------------------------------------------------------------------

def sweep():
    """2^20 points of [-100, 100] on a 2^-13 grid (so the kernels' x - max(x) is exact)
    and the special values, shuffled."""
    x = np.round(np.linspace(-100, 100, 2 ** 20) * 2 ** 13) / 2 ** 13
    return np.random.default_rng(0).permutation(x).astype(np.float32)


def test_sigmoid_kernel(mt_math):
    x = sweep()
    x64 = x.astype(np.float64)
    ref = np.where(x64 >= 0, 1 / (1 + np.exp(-np.abs(x64))), np.exp(-np.abs(x64)) / (1 + np.exp(-np.abs(x64))))
    # 2.18 ulp measured: the same float formula with correctly rounded exp measures the
    # same, so this is the kernel's 1 + e and division, not mt_expf
    err = ulp_error(K.sigmoid(x), ref)
    assert err.max() <= 2.5, f"{err.max():.3f} ulp at {x[err.argmax()]!r}"
    s = K.sigmoid(SPECIALS)
    np.testing.assert_array_equal(s[[0, 2, 3]], [0.5, 1, 0])
    assert np.isnan(s[4])
    np.testing.assert_array_equal(K.sigmoid(-x) + K.sigmoid(x) <= np.float32(1 + 2 ** -22), True)


def test_tanh_kernel(mt_math):
    x = np.concatenate([sweep(), SPECIALS])
    y = K.tanh(x)
    np.testing.assert_array_equal(y, mt_math["tanh"](x))   # the kernel is mt_tanhf
    assert ulp_error(y, np.tanh(x.astype(np.float64))).max() <= MAX_ULP["tanh"]


@pytest.mark.parametrize("cols", [10, 16])
def test_softmax_kernels(cols):
    x = sweep()
    x = x[:x.size - x.size % cols].reshape(-1, cols)
    x64 = x.astype(np.float64)
    d = x64 - x64.max(axis=1, keepdims=True)
    ref = np.exp(d) / np.exp(d).sum(axis=1, keepdims=True)
    # 3.5 / 3.57 ulp measured, 3.36 / 3.57 with correctly rounded exp: the float
    # sum over the row dominates, mt_expf adds at most a few tenths
    err = ulp_error(K.softmax(x), ref)
    assert err.max() <= 4.0, f"softmax: {err.max():.3f} ulp"
    # log-softmax: y = d - log(sum) rounds after the (float) sum, whose own error
    # is absolute in y; judge in ulps of max(|y|, 1)
    ref = d - np.log(np.exp(d).sum(axis=1, keepdims=True))
    y = K.log_softmax(x).astype(np.float64)
    _, e = np.frexp(np.maximum(np.abs(ref), 1.0))
    err = np.abs(y - ref) / np.ldexp(1.0, e - 24)
    assert err.max() <= 3.0, f"log_softmax: {err.max():.3f} ulp"
    # extreme rows: the max element's probability is exactly 1, the others underflow
    # gradually (exp(-100) is subnormal) or to 0 (x - max = -inf)
    z = np.array([[-200.0, 100.0, 0.0], [np.finfo(np.float32).max, 0.0, -np.finfo(np.float32).max]], np.float32)
    np.testing.assert_array_equal(K.softmax(z), np.array([[0, 1, np.exp(-100.0)], [1, 0, 0]], np.float32))
    ls = K.log_softmax(z)
    assert ls[0, 1] == 0 and ls[0, 0] == -300 and ls[1, 0] == 0 and ls[1, 2] == -np.inf
