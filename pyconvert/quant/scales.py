"""Float-side quantization helpers: scales, zero points, multipliers and tables.

These run offline (in the converter); the C kernels only see their integer
results. Conventions (mt_s8.h, TFLite-compatible):

- activations: asymmetric per tensor, ``real = scale * (q - zero_point)``, q int8;
- weights: symmetric per output channel, zero point 0, q in [-127, 127];
- biases: int32 at scale ``s_in * s_w[o]``;
- requantization: ``s_in * s_w[o] / s_out = multiplier / 2^31 * 2^shift``.

Rounding here is half away from zero (as the C quantize boundary), and every
scale returned is a float32 value, because that is what the C side stores.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

#: The smallest scale choose_qparams returns (float32 machine epsilon, as PyTorch's
#: observers): a tensor whose range is (nearly) empty, e.g. all zeros, still gets a
#: positive scale, and nothing ever divides by zero.
MIN_SCALE = float(np.finfo(np.float32).eps)

SHIFT_MIN, SHIFT_MAX = -31, 30


def round_half_away(x):
    """Round to nearest, ties away from zero (C's round/roundf); array or scalar."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _f32(v: float) -> float:
    return float(np.float32(v))


# ---- requantization ------------------------------------------------------------------

def quantize_multiplier(real: float) -> tuple[int, int]:
    """real >= 0 -> (multiplier, shift) with real ~= multiplier / 2^31 * 2^shift.

    frexp: real = m * 2^e with m in [0.5, 1); multiplier = round(m * 2^31) in
    [2^30, 2^31) (m so close to 1 that it rounds to 2^31 becomes 2^30 with e + 1);
    shift = e. real == 0 gives (0, 0). A real below 2^-32 (shift < -31) also gives
    (0, 0): |acc| <= 2^31 then makes |acc * real| < 0.5, which rounds to 0 anyway,
    so nothing is lost. real >= 2^30 (shift > 30) is not representable: ValueError.
    """
    real = float(real)
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"a requantization scale must be finite and >= 0, got {real}")
    if real == 0.0:
        return 0, 0
    m, e = math.frexp(real)
    q = int(round_half_away(m * 2.0 ** 31))     # m * 2^31 is exact; rounds its fraction
    if q == 2 ** 31:
        q, e = 2 ** 30, e + 1
    if e < SHIFT_MIN:
        return 0, 0
    if e > SHIFT_MAX:
        raise ValueError(f"requantization scale {real} >= 2^30 is out of range")
    return q, e


def requant_params(s_in: float, s_w, s_out: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multipliers, shifts) int32 arrays for s_in * s_w[o] / s_out."""
    s_w = np.atleast_1d(np.asarray(s_w, np.float64))
    pairs = [quantize_multiplier(float(s_in) * float(s) / float(s_out)) for s in s_w]
    return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))


# ---- activations: asymmetric per tensor ----------------------------------------------

def choose_qparams(min_val: float, max_val: float) -> tuple[float, int]:
    """(scale, zero_point) covering [min_val, max_val] with int8 [-128, 127].

    The range is first widened to include 0, so the real 0 (padding, ReLU's floor)
    is exactly representable: it is q = zero_point. scale = (max - min) / 255, but
    at least MIN_SCALE, so an empty range (an all-zero tensor) gives
    (MIN_SCALE, -128) instead of dividing by zero. zero_point =
    round_half_away(-128 - min / scale), clamped to [-128, 127]. The scale is
    returned as a float32 value."""
    lo, hi = float(min_val), float(max_val)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"bad range [{min_val}, {max_val}]")
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = _f32(max((hi - lo) / 255.0, MIN_SCALE))
    zero_point = int(np.clip(round_half_away(-128.0 - lo / scale), -128, 127))
    return scale, zero_point


def quantize(x, scale: float, zero_point: int) -> np.ndarray:
    """q = clamp(round_half_away(x / scale) + zp, -128, 127) in float64 (offline
    use; the C boundary's float32 version is int_reference.quantize_s8)."""
    q = round_half_away(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, np.float64) - zero_point) * scale


# ---- weights: symmetric per output channel -----------------------------------------------

def symmetric_weight_scales(w, axis: int = 0) -> np.ndarray:
    """max|w| / 127 per index of `axis` (the output channel), as float32 values.
    An all-zero channel gets scale 1.0: its weights quantize to 0 whatever the
    scale, and 1.0 keeps its requantization multiplier ordinary."""
    w = np.asarray(w, np.float64)
    other = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
    peak = np.max(np.abs(w), axis=other) if other else np.abs(w)
    if not np.all(np.isfinite(peak)):
        raise ValueError("weights must be finite")
    scales = np.where(peak > 0, peak / 127.0, 1.0)
    return scales.astype(np.float32).astype(np.float64)


def quantize_weights(w, scales, axis: int = 0) -> np.ndarray:
    """Symmetric int8 weights: clamp(round_half_away(w / scale[o]), -127, 127)."""
    w = np.asarray(w, np.float64)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = round_half_away(w / np.asarray(scales, np.float64).reshape(shape))
    return np.clip(q, -127, 127).astype(np.int8)


def quantize_bias(b, s_in: float, s_w) -> np.ndarray:
    """int32 bias at scale s_in * s_w[o]; ValueError if it does not fit int32."""
    q = round_half_away(np.asarray(b, np.float64) / (float(s_in) * np.asarray(s_w, np.float64)))
    if np.any(np.abs(q) > 2 ** 31 - 1):
        raise ValueError("a quantized bias does not fit int32")
    return q.astype(np.int32)


# ---- lookup tables ------------------------------------------------------------------------

def lut_table(fn: Callable[[np.ndarray], np.ndarray], s_in: float, zp_in: int,
              s_out: float, zp_out: int) -> np.ndarray:
    """The 256-entry int8 table of mt_lut_s8 for y = fn(x): entry k is the output for
    the input q = k - 128, i.e. quantize(fn(s_in * (q - zp_in)), s_out, zp_out),
    with fn evaluated in float64 on the array of the 256 input values."""
    q = np.arange(-128, 128, dtype=np.float64)
    y = np.asarray(fn(float(s_in) * (q - zp_in)), np.float64)
    return quantize(y, s_out, zp_out)


def sigmoid_table(s_in: float, zp_in: int, s_out: float = 1.0 / 256,
                  zp_out: int = -128) -> np.ndarray:
    """Sigmoid; the default output quantization (1/256, -128) is TFLite's."""
    return lut_table(lambda x: 1.0 / (1.0 + np.exp(-x)), s_in, zp_in, s_out, zp_out)


def tanh_table(s_in: float, zp_in: int, s_out: float = 1.0 / 128,
               zp_out: int = 0) -> np.ndarray:
    """Tanh; the default output quantization (1/128, 0) is TFLite's."""
    return lut_table(np.tanh, s_in, zp_in, s_out, zp_out)


def softmax_exp_table(s_in: float) -> np.ndarray:
    """exp_table[d] = round(2^23 * exp(-d * s_in)), d = 0..255, int32 (mt_softmax_s8):
    entry 0 is 2^23 and every entry is in [0, 2^23]."""
    s_in = float(s_in)
    if not (math.isfinite(s_in) and s_in > 0):
        raise ValueError(f"softmax input scale must be finite and > 0, got {s_in}")
    d = np.arange(256, dtype=np.float64)
    return round_half_away(2.0 ** 23 * np.exp(-d * s_in)).astype(np.int32)
