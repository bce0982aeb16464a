"""The integer reference of every int8 kernel of runtime_c (mt_s8.h): the oracle.

Plain numpy, int64 inside, NHWC like the C code, written for reading rather than
speed. Every function computes exactly what the C kernel does, bit for bit, so
the tests compare them with ``==``:

- ``requantize`` is the one rounding rule of the integer path,
      out = saturate_int32(floor((acc * multiplier + 2^(30 - shift)) / 2^(31 - shift)))
  (round to nearest, ties toward +infinity, in a single step);
- conv2d / linear: acc = saturate_int32(bias + sum (x + input_offset) * w), then
  clamp(requantize(acc) + output_offset, act_min, act_max); padding taps add 0;
- pooling keeps the scale and zero point; average pooling divides the sum of the
  stored values by the float kernel's divisor, rounding half away from zero;
- softmax: e = exp_table[max - x], y = clamp(floor((256 e + floor(sum/2)) / sum) - 128);
- quantize / dequantize in float32, as the C boundary functions.

Argument conventions are those of ``pyconvert.host.kernels_s8`` (the C wrappers),
so a test calls both with the same arguments: ``multiplier`` and ``shift`` are a
scalar or one value per output channel, ``act`` is the (act_min, act_max) clamp,
``padding`` is p, (ph, pw) or (top, left, bottom, right).
"""

from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
NO_ACT = (-128, 127)


# ---- the rounding rule ------------------------------------------------------------

def requantize(acc, multiplier, shift) -> np.ndarray:
    """saturate_int32(floor((acc*multiplier + 2^(30-shift)) / 2^(31-shift))), elementwise
    with broadcasting; multiplier >= 0 and shift in [-31, 30] (ValueError otherwise)."""
    acc = np.asarray(acc, np.int64)
    multiplier = np.asarray(multiplier, np.int64)
    shift = np.asarray(shift, np.int64)
    if np.any(multiplier < 0) or np.any(multiplier > INT32_MAX):
        raise ValueError("multiplier must be in [0, 2^31)")
    if np.any(shift < -31) or np.any(shift > 30):
        raise ValueError("shift must be in [-31, 30]")
    # |acc * multiplier| < 2^62 and the rounding term <= 2^61: exact in int64.
    total = acc * multiplier + np.left_shift(np.int64(1), 30 - shift)
    out = np.floor_divide(total, np.left_shift(np.int64(1), 31 - shift))   # floor, exact
    return np.clip(out, INT32_MIN, INT32_MAX)


def _per_channel(v, count: int) -> np.ndarray:
    """A scalar or `count` values -> int64 array of shape (count,)."""
    return np.broadcast_to(np.asarray(v, np.int64), (count,))


def _check_io(input_offset, output_offset, act):
    lo, hi = act
    if not (-127 <= input_offset <= 128 and -128 <= output_offset <= 127):
        raise ValueError("input_offset must be in [-127, 128], output_offset in [-128, 127]")
    if not (-128 <= lo <= hi <= 127):
        raise ValueError(f"bad clamp {act}")


def _output_stage(acc, multiplier, shift, output_offset, act) -> np.ndarray:
    """int64 accumulators (..., O) -> int8 outputs: saturating bias already added."""
    acc = np.clip(acc, INT32_MIN, INT32_MAX)            # the C kernels' saturating bias add
    r = requantize(acc, multiplier, shift)
    return np.clip(r + output_offset, act[0], act[1]).astype(np.int8)


# ---- geometry (as mt_conv_out_size / mt_pool_out_size) ----------------------------

def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _pads(padding) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from p, (ph, pw) or (top, left, bottom, right)."""
    if np.isscalar(padding):
        p = int(padding)
        return (p, p, p, p)
    if len(padding) == 2:
        return (int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1]))
    return tuple(int(p) for p in padding)


def conv_out_size(size, kernel, stride, pad_sum, dilation) -> int:
    room = size + pad_sum - (dilation * (kernel - 1) + 1)
    if room < 0:
        raise ValueError("the convolution window does not fit the padded input")
    return room // stride + 1


def pool_out_size(size, kernel, stride, pad_begin, pad_end, ceil_mode) -> int:
    room = size + pad_begin + pad_end - kernel
    if room < 0:
        raise ValueError("the pooling window does not fit the padded input")
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:   # start inside input/pad
        out -= 1
    return out


# ---- layers -----------------------------------------------------------------------

def conv2d_s8(x, w, bias, multiplier, shift, input_offset, output_offset, act=NO_ACT,
              stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """x (N,H,W,C) int8, w (O,KH,KW,C/groups) int8, bias (O,) int32 or None
    -> (N,OH,OW,O) int8."""
    _check_io(input_offset, output_offset, act)
    x = np.asarray(x, np.int64)
    w = np.asarray(w, np.int64)
    N, H, W, C = x.shape
    O, KH, KW, CG = w.shape
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, left, bottom, right = _pads(padding)
    if C % groups or O % groups or CG != C // groups:
        raise ValueError("channels do not match the groups")
    OG = O // groups
    OH = conv_out_size(H, KH, sh, top + bottom, dh)
    OW = conv_out_size(W, KW, sw, left + right, dw)

    # In units of the input scale, a padding tap is the real value 0.
    xs = np.pad(x + input_offset, ((0, 0), (top, bottom), (left, right), (0, 0)))
    acc = np.zeros((N, OH, OW, O), np.int64)
    for g in range(groups):
        chans, outs = slice(g * CG, (g + 1) * CG), slice(g * OG, (g + 1) * OG)
        for ky in range(KH):
            for kx in range(KW):
                taps = xs[:, ky * dh: ky * dh + sh * (OH - 1) + 1: sh,
                          kx * dw: kx * dw + sw * (OW - 1) + 1: sw, chans]   # (N,OH,OW,CG)
                acc[..., outs] += np.einsum("nhwc,oc->nhwo", taps, w[outs, ky, kx, :])
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return _output_stage(acc, _per_channel(multiplier, O), _per_channel(shift, O),
                         output_offset, act)


def linear_s8(x, w, bias, multiplier, shift, input_offset, output_offset,
              act=NO_ACT) -> np.ndarray:
    """x (N,K) or (N,H,W,C) with H*W*C == K, w (O,K), bias (O,) or None -> (N,O) int8."""
    _check_io(input_offset, output_offset, act)
    x = np.asarray(x, np.int64)
    x = x.reshape(x.shape[0], -1)
    w = np.asarray(w, np.int64)
    acc = (x + input_offset) @ w.T
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    O = w.shape[0]
    return _output_stage(acc, _per_channel(multiplier, O), _per_channel(shift, O),
                         output_offset, act)


# ---- pooling ----------------------------------------------------------------------

def _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode):
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    top, left, bottom, right = _pads(padding)
    if not (top < kh and bottom < kh and left < kw and right < kw):
        raise ValueError("each pad must be smaller than the kernel")
    _, H, W, _ = x_shape
    OH = pool_out_size(H, kh, sh, top, bottom, ceil_mode)
    OW = pool_out_size(W, kw, sw, left, right, ceil_mode)
    rows = [(oy * sh - top, kh, H, bottom) for oy in range(OH)]
    cols = [(ox * sw - left, kw, W, right) for ox in range(OW)]
    return rows, cols


def _window(start, kernel, size, pad_end):
    """(begin, end) clipped to the input, and the padded length min(start+k, size+pad_end)-start."""
    stop = min(start + kernel, size + pad_end)
    return max(start, 0), min(stop, size), stop - start


def maxpool2d_s8(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 act=NO_ACT) -> np.ndarray:
    """Max over each window's real taps (padding is -inf), then the clamp."""
    x = np.asarray(x, np.int64)
    rows, cols = _pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode)
    y = np.empty((x.shape[0], len(rows), len(cols), x.shape[3]), np.int64)
    for oy, (start, k, size, _) in enumerate(rows):
        y0, y1 = max(start, 0), min(start + k, size)
        for ox, (cstart, ck, csize, _) in enumerate(cols):
            x0, x1 = max(cstart, 0), min(cstart + ck, csize)
            y[:, oy, ox, :] = x[:, y0:y1, x0:x1, :].max(axis=(1, 2))
    return np.clip(y, act[0], act[1]).astype(np.int8)


def div_round_away(num, den) -> np.ndarray:
    """num / den (den > 0) rounded to nearest, ties away from zero, exactly."""
    num = np.asarray(num, np.int64)
    mag = (np.abs(num) + den // 2) // den
    return np.where(num < 0, -mag, mag)


def avgpool2d_s8(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, act=NO_ACT) -> np.ndarray:
    """round(sum of the window's real taps / divisor), divisor as the float kernel:
    the window clipped to the padded input (count_include_pad) or its real taps."""
    x = np.asarray(x, np.int64)
    rows, cols = _pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode)
    y = np.empty((x.shape[0], len(rows), len(cols), x.shape[3]), np.int64)
    for oy, row in enumerate(rows):
        y0, y1, padded_h = _window(*row)
        for ox, col in enumerate(cols):
            x0, x1, padded_w = _window(*col)
            divisor = padded_h * padded_w if count_include_pad else (y1 - y0) * (x1 - x0)
            total = x[:, y0:y1, x0:x1, :].sum(axis=(1, 2))
            y[:, oy, ox, :] = div_round_away(total, divisor)
    return np.clip(y, act[0], act[1]).astype(np.int8)


def global_avgpool_s8(x, act=NO_ACT) -> np.ndarray:
    """(N,H,W,C) -> (N,1,1,C): round(sum over H, W / (H*W)), then the clamp."""
    x = np.asarray(x, np.int64)
    total = x.sum(axis=(1, 2), keepdims=True)
    y = div_round_away(total, x.shape[1] * x.shape[2])
    return np.clip(y, act[0], act[1]).astype(np.int8)


# ---- elementwise --------------------------------------------------------------------

def clamp_s8(x, lo, hi) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64), lo, hi).astype(np.int8)


def lut_s8(x, table) -> np.ndarray:
    """y = table[x + 128]."""
    table = np.asarray(table, np.int8)
    if table.shape != (256,):
        raise ValueError("a lookup table has 256 entries")
    return table[np.asarray(x, np.int64) + 128]


def softmax_s8(x, exp_table) -> np.ndarray:
    """Softmax over the last axis; output scale 1/256, zero point -128."""
    x = np.asarray(x, np.int64)
    table = np.asarray(exp_table, np.int64)
    if table.shape != (256,):
        raise ValueError("the exp table has 256 entries")
    e = table[x.max(axis=-1, keepdims=True) - x]
    total = e.sum(axis=-1, keepdims=True)
    q = (256 * e + total // 2) // total          # round half up, exact
    return np.clip(q - 128, -128, 127).astype(np.int8)


# ---- the float boundary (float32 arithmetic, as the C code) ---------------------------

def quantize_s8(x, scale, zero_point) -> np.ndarray:
    """q = clamp(round_half_away(float32(x) / float32(scale)) + zp, -128, 127)."""
    x = np.asarray(x, np.float32)
    if np.any(np.isnan(x)):
        raise ValueError("NaN has no int8 value")
    v = x / np.float32(scale)                                  # one float32 division
    v = np.clip(v, np.float32(-256), np.float32(256)).astype(np.float64)
    r = np.where(v >= 0, np.floor(v + 0.5), -np.floor(-v + 0.5))   # exact: |v| <= 256
    return np.clip(r.astype(np.int64) + zero_point, -128, 127).astype(np.int8)


def dequantize_s8(q, scale, zero_point) -> np.ndarray:
    """x = float32(q - zp) * float32(scale)."""
    d = np.asarray(q, np.int64) - zero_point
    return d.astype(np.float32) * np.float32(scale)
