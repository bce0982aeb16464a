"""The integer reference of the integer-only training kernels (runtime_c mt_q.h).

Plain numpy, int64 inside, NHWC like the C code, written for reading. Every
function computes exactly what its C kernel computes, bit for bit, so tests
compare them with ``==``. The scheme (docs/qtrain.md) is dynamic fixed point after
NITI (Wang et al. 2022) with int8 arithmetic after Jacob et al. 2018:

- a q-tensor is int8 values q in [-127, 127] with one exponent e: real = q * 2^e;
- ``requantize(v, e)``: s = max(0, bitlen(max|v|) - 7), q = clamp(round(v / 2^s)),
  exponent e + s, rounding to nearest with ties toward +infinity: floor(v/2^s + 1/2);
- trainable parameters are int32 "masters" with a fixed exponent; the forward
  int8 copy is ``requantize(master, master_exp)``;
- SGD (optional momentum) rounds the update stochastically with a xorshift32
  stream (``rand``).

Functions take and return (values, exponent) pairs the way the cffi wrappers of
:mod:`pyconvert.host.kernels_q` do, so a test calls both with the same arguments.
Geometry arguments (``stride``, ``padding``, ...) are those of
:mod:`pyconvert.host.kernels`.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
LIM62 = 2 ** 62 - 1
LOG2E_Q16 = 94548   # round(log2(e) * 2^16)
LN2_Q16 = 45426     # round(ln(2) * 2^16)
# The C tables (loss_q.c): round(2^(i/32) * 2^30) and round(log2(1 + i/32) * 2^16).
POW2_Q30 = np.array([round(2 ** (i / 32) * 2 ** 30) for i in range(33)], np.int64)
LOG2_Q16 = np.array([round(math.log2(1 + i / 32) * 2 ** 16) for i in range(33)], np.int64)


# ---- rounding helpers (q_internal.h) -------------------------------------------------

def _i64(v) -> np.ndarray:
    return np.asarray(v, np.int64)


def floor_shift(v, s: int) -> np.ndarray:
    """floor(v / 2^s), s >= 0 (numpy's >> on int64 is arithmetic, i.e. floor)."""
    return _i64(v) >> min(int(s), 62)


def round_shift(v, s) -> np.ndarray:
    """floor(v / 2^s + 1/2); s scalar or elementwise, s <= 0 leaves v, s > 62 gives 0."""
    v, s = np.broadcast_arrays(_i64(v), _i64(s))
    safe = np.clip(s, 1, 62)
    r = (v + (np.int64(1) << (safe - 1))) >> safe
    return np.where(s <= 0, v, np.where(s > 62, 0, r)).astype(np.int64)


def left_shift_sat(v, s: int) -> np.ndarray:
    """v * 2^s (s >= 0), saturated to +-(2^62 - 1)."""
    v = _i64(v)
    if s > 62:
        return np.where(v > 0, LIM62, np.where(v < 0, -LIM62, 0)).astype(np.int64)
    m = LIM62 >> s
    return np.where(v > m, LIM62, np.where(v < -m, -LIM62, np.clip(v, -m, m) << s)).astype(np.int64)


def rescale(v, s: int) -> np.ndarray:
    """v * 2^-s: rounded when s > 0, a saturating left shift when s <= 0."""
    return round_shift(v, s) if s > 0 else left_shift_sat(v, -s)


def sat32(v) -> np.ndarray:
    return np.clip(_i64(v), INT32_MIN, INT32_MAX)


def bitlen(v: int) -> int:
    return int(v).bit_length()


def dyn_shift(max_abs: int) -> int:
    """The dynamic shift of requantization: max(0, bitlen(max|v|) - 7)."""
    return max(0, bitlen(max_abs) - 7)


def to_s8(v, s: int) -> np.ndarray:
    return np.clip(round_shift(v, s), -127, 127).astype(np.int8)


def shift_round(v: int, shift: int) -> int:
    """mt_q_shift_round: v * 2^-shift, rounded, saturated to int32."""
    v = max(-LIM62, min(LIM62, int(v)))
    return int(sat32(rescale(v, int(shift))))


def sat_add(a: int, b: int) -> int:
    return int(sat32(int(a) + int(b)))


def rand(state: int) -> tuple[int, int]:
    """xorshift32: (value, new state); the value is the new state."""
    x = int(state) & 0xFFFFFFFF
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    return x, x


def requantize(v, exp: int) -> tuple[np.ndarray, int]:
    """int values at 2^exp -> (int8 q, exponent exp + s)."""
    v = _i64(v)
    s = dyn_shift(int(np.max(np.abs(v))) if v.size else 0)
    return to_s8(v, s), int(exp) + s


refresh_weights = requantize


# ---- geometry ---------------------------------------------------------------------------

def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _pads(padding) -> tuple[int, int, int, int]:
    if np.isscalar(padding):
        p = int(padding)
        return (p, p, p, p)
    if len(padding) == 2:
        return (int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1]))
    return tuple(int(p) for p in padding)


def conv_out_size(n, k, stride, pad_sum, dilation=1) -> int:
    return (n + pad_sum - dilation * (k - 1) - 1) // stride + 1


def pool_out_size(n, k, stride, pad_begin, pad_end, ceil_mode=False) -> int:
    room = n + pad_begin + pad_end - k
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + pad_begin:
        out -= 1
    return out


def _nhwc(x) -> np.ndarray:
    x = _i64(x)
    return x.reshape(x.shape[0], 1, 1, -1) if x.ndim == 2 else x


# ---- linear -----------------------------------------------------------------------------

def _bias_term(bias, e_acc: int, eb: int):
    return 0 if bias is None else sat32(rescale(_i64(bias), e_acc - int(eb)))


def linear_q(x, ex, w, ew, bias=None, eb=0, relu=False) -> tuple[np.ndarray, int]:
    """x (N, K) (or NHWC with h*w*c = K) @ W (O, K)^T + b -> (y (N, O) int8, ey)."""
    x = _i64(x).reshape(_i64(x).shape[0], -1)
    e_acc = int(ex) + int(ew)
    acc = x @ _i64(w).T + _bias_term(bias, e_acc, eb)
    if relu:
        acc = np.maximum(acc, 0)
    return requantize(sat32(acc), e_acc)


def linear_q_backward(x_shape, w, ew, dy, edy) -> tuple[np.ndarray, int]:
    """dx = dy (N, O) @ W (O, K), requantized, in x's shape."""
    dx, e = requantize(_i64(dy) @ _i64(w), int(edy) + int(ew))
    return dx.reshape(x_shape), e


def linear_q_backward_params(x, dy, o_begin=0, o_end=None):
    """(dW rows [o_begin, o_end) (int32), db entries) from zero: dy^T x and sum_n dy."""
    x = _i64(x).reshape(_i64(x).shape[0], -1)
    dy = _i64(dy)
    o_end = dy.shape[1] if o_end is None else o_end
    dw = dy[:, o_begin:o_end].T @ x
    db = dy[:, o_begin:o_end].sum(axis=0)
    return sat32(dw).astype(np.int32), sat32(db).astype(np.int32)


# ---- convolution ------------------------------------------------------------------------

def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, left, bottom, right = _pads(padding)
    oh = conv_out_size(x_shape[1], w_shape[1], sh, top + bottom, dh)
    ow = conv_out_size(x_shape[2], w_shape[2], sw, left + right, dw)
    return (sh, sw), (dh, dw), (top, left, bottom, right), (oh, ow)


def _conv_acc(x, w, stride, padding, dilation, groups):
    """int64 sums (N, OH, OW, O) of the convolution (padding taps add 0)."""
    x, w = _i64(x), _i64(w)
    (sh, sw), (dh, dw), (top, left, bottom, right), (oh, ow) = _conv_geometry(
        x.shape, w.shape, stride, padding, dilation)
    n, _, _, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // groups
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    acc = np.zeros((n, oh, ow, o), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            tap = xp[:, ky * dh: ky * dh + sh * (oh - 1) + 1: sh,
                     kx * dw: kx * dw + sw * (ow - 1) + 1: sw, :]
            for g in range(groups):
                acc[..., g * og:(g + 1) * og] += (tap[..., g * cg:(g + 1) * cg]
                                                  @ w[g * og:(g + 1) * og, ky, kx, :].T)
    return acc


def conv2d_q(x, ex, w, ew, bias=None, eb=0, stride=1, padding=0, dilation=1, groups=1,
             relu=False) -> tuple[np.ndarray, int]:
    """x (N,H,W,C) * filter (O,KH,KW,C/groups) + b -> (y (N,OH,OW,O) int8, ey)."""
    e_acc = int(ex) + int(ew)
    acc = _conv_acc(x, w, stride, padding, dilation, groups) + _bias_term(bias, e_acc, eb)
    if relu:
        acc = np.maximum(acc, 0)
    return requantize(sat32(acc), e_acc)


def conv2d_q_backward(x_shape, w, ew, dy, edy, stride=1, padding=0, dilation=1,
                      groups=1) -> tuple[np.ndarray, int]:
    """dx (N,H,W,C): every dy * w scattered back to the input it read, requantized."""
    w, dy = _i64(w), _i64(dy)
    (sh, sw), (dh, dw), (top, left, bottom, right), (oh, ow) = _conv_geometry(
        x_shape, w.shape, stride, padding, dilation)
    n, h, wd, c = x_shape
    o, kh, kw, cg = w.shape
    og = o // groups
    dxp = np.zeros((n, h + top + bottom, wd + left + right, c), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            ys = slice(ky * dh, ky * dh + sh * (oh - 1) + 1, sh)
            xs = slice(kx * dw, kx * dw + sw * (ow - 1) + 1, sw)
            for g in range(groups):
                dxp[:, ys, xs, g * cg:(g + 1) * cg] += (dy[..., g * og:(g + 1) * og]
                                                        @ w[g * og:(g + 1) * og, ky, kx, :])
    dx = dxp[:, top:top + h, left:left + wd, :]
    return requantize(dx, int(edy) + int(ew))


def conv2d_q_backward_params(x, w_shape, dy, stride=1, padding=0, dilation=1, groups=1,
                             o_begin=0, o_end=None):
    """(dW block (o_end-o_begin, KH, KW, C/groups) int32, db block) from zero."""
    x, dy = _i64(x), _i64(dy)
    (sh, sw), (dh, dw), (top, left, bottom, right), (oh, ow) = _conv_geometry(
        x.shape, w_shape, stride, padding, dilation)
    o, kh, kw, cg = w_shape
    og = o // groups
    o_end = o if o_end is None else o_end
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    grad = np.zeros((o_end - o_begin, kh, kw, cg), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            tap = xp[:, ky * dh: ky * dh + sh * (oh - 1) + 1: sh,
                     kx * dw: kx * dw + sw * (ow - 1) + 1: sw, :].reshape(-1, x.shape[3])
            d = dy.reshape(-1, o)
            for oc in range(o_begin, o_end):
                g = oc // og
                grad[oc - o_begin, ky, kx, :] = d[:, oc] @ tap[:, g * cg:(g + 1) * cg]
    db = dy.reshape(-1, o)[:, o_begin:o_end].sum(axis=0)
    return sat32(grad).astype(np.int32), sat32(db).astype(np.int32)


# ---- pooling and ReLU -------------------------------------------------------------------

def _windows(x, kernel_size, stride, padding, ceil_mode):
    """(taps (N,OH,OW,C,KH*KW) in scan order with padding = -1000, flat input index of each)."""
    x = _i64(x)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    top, left, bottom, right = _pads(padding)
    n, h, w, c = x.shape
    oh = pool_out_size(h, kh, sh, top, bottom, ceil_mode)
    ow = pool_out_size(w, kw, sw, left, right, ceil_mode)
    extra_h = max(0, (oh - 1) * sh + kh - (h + top))
    extra_w = max(0, (ow - 1) * sw + kw - (w + left))
    xp = np.pad(x, ((0, 0), (top, extra_h), (left, extra_w), (0, 0)), constant_values=-1000)
    idx = np.pad(np.arange(x.size).reshape(x.shape), ((0, 0), (top, extra_h), (left, extra_w),
                                                      (0, 0)), constant_values=-1)
    taps, where = [], []
    for ky in range(kh):
        for kx in range(kw):
            sl = (slice(None), slice(ky, ky + sh * (oh - 1) + 1, sh),
                  slice(kx, kx + sw * (ow - 1) + 1, sw), slice(None))
            taps.append(xp[sl])
            where.append(idx[sl])
    return np.stack(taps, -1), np.stack(where, -1)


def maxpool2d_q(x, kernel_size, stride=None, padding=0, ceil_mode=False) -> np.ndarray:
    taps, _ = _windows(x, kernel_size, stride, padding, ceil_mode)
    return taps.max(axis=-1).astype(np.int8)


def maxpool2d_q_backward(x, dy, kernel_size, stride=None, padding=0, ceil_mode=False):
    """dy to the first maximum of each (disjoint) window; dx keeps dy's exponent."""
    taps, where = _windows(x, kernel_size, stride, padding, ceil_mode)
    first = np.take_along_axis(where, taps.argmax(axis=-1)[..., None], -1)[..., 0]
    dx = np.zeros(np.asarray(x).size, np.int64)
    dx[first.reshape(-1)] = _i64(dy).reshape(-1)
    return dx.reshape(np.shape(x)).astype(np.int8)


def relu_q(x) -> np.ndarray:
    return np.maximum(_i64(x), 0).astype(np.int8)


def relu_q_backward(y, dy) -> np.ndarray:
    return np.where(_i64(y) > 0, _i64(dy), 0).astype(np.int8)


# ---- losses -----------------------------------------------------------------------------

def _interp(table, f):
    i = f >> 11
    return table[i] + round_shift((table[i + 1] - table[i]) * (f & 2047), 11)


def exp_neg_q30(d, e: int) -> np.ndarray:
    """e^(d * 2^e) in Q30 for integer d <= 0 (2^x: integer part shifts, fraction from the table)."""
    u = np.maximum(rescale(_i64(d) * LOG2E_Q16, -int(e)), -(40 << 16))
    ip = u >> 16
    f = u - ip * 65536
    return round_shift(_interp(POW2_Q30, f), -ip)


def log2_q16(v: int) -> int:
    """log2(v) in Q16 for an integer v >= 1 (bit length + mantissa table)."""
    b = int(v).bit_length() - 1
    m = v >> (b - 16) if b >= 16 else v << (16 - b)
    f = np.int64(m - 65536)
    return b * 65536 + int(_interp(LOG2_Q16, f))


def round_div(a, b):
    """round(a / b), ties toward +infinity, b > 0 (floor division)."""
    return (2 * _i64(a) + b) // (2 * _i64(b))


def cross_entropy_q(z, ez, labels) -> tuple[int, np.ndarray, int]:
    """(loss Q16.16, dL/dz int8 (rows, classes), its exponent) of mean cross-entropy."""
    z = _i64(z).reshape(len(labels), -1)
    rows, classes = z.shape
    ez = int(ez)
    total, grads = 0, []
    for r in range(rows):
        zmax = int(z[r].max())
        e = exp_neg_q30(z[r] - zmax, ez)
        s = int(e.sum())
        ln_s = int(round_shift((log2_q16(s) - 30 * 65536) * LN2_Q16, 16))
        margin = int(rescale(int(z[r, labels[r]]) - zmax, -(ez + 16)))
        total = min(total + ln_s - margin, 1 << 60)
        p = (e * 32768 + s // 2) // s
        g = p - 32768 * (np.arange(classes) == labels[r])
        grads.append(round_div(g * 65536, rows))
    loss = int(sat32(round_div(total, rows)))
    dz, edz = requantize(np.stack(grads), -31)
    return loss, dz, edz


def mse_loss_q(y, ey, t, et) -> tuple[int, np.ndarray, int]:
    """(loss Q16.16, dL/dy int8 in y's shape, exponent) of mean((y - t)^2)."""
    y, t, ey, et = _i64(y), _i64(t), int(ey), int(et)
    ec = max(min(ey, et), max(ey, et) - 16)
    diff = rescale(y, ec - ey) - rescale(t, ec - et)
    sq = min(sum(int(d) * int(d) for d in diff.reshape(-1)), 1 << 60)
    loss = int(sat32(rescale(int(round_div(sq, diff.size)), -(2 * ec + 16))))
    g = round_div(diff << 32, diff.size)
    dy, edy = requantize(g, ec + 1 - 32)
    return loss, dy.reshape(y.shape), edy


# ---- optimizer --------------------------------------------------------------------------

def _sr_shift(v, sh: int, state: int) -> tuple[int, int]:
    """One stochastic shift floor((v + r) / 2^sh) with r from the stream (sh in [0, 32])."""
    if sh == 0:
        return int(v), state
    r, state = rand(state)
    return int(floor_shift(int(v) + (r >> (32 - sh)), sh)), state


def sgd_update_q(master, em, grad, eg, lr_multiplier, lr_shift, state, velocity=None,
                 momentum_multiplier=0, momentum_shift=0):
    """(new int32 master, new PRNG state), or (master, velocity, state) with momentum:
    master -= m * 2^-k * grad with stochastic rounding (see mt_sgd_update_q)."""
    master, grad = _i64(master).reshape(-1), _i64(grad).reshape(-1)
    t = int(eg) - int(lr_shift) - int(em)
    sh, pre = (min(-t, 32), max(0, -t - 32)) if t < 0 else (0, 0)
    prod = int(lr_multiplier) * grad
    momentum = momentum_multiplier > 0
    vel = _i64(velocity).reshape(-1).copy() if momentum else None
    out = master.copy()
    for i in range(master.size):
        if t >= 0:
            step = int(left_shift_sat(prod[i], t))
        else:
            step, state = _sr_shift(floor_shift(prod[i], pre), sh, state)
        if momentum:
            decayed, state = _sr_shift(int(momentum_multiplier) * int(vel[i]), int(momentum_shift),
                                       state)
            vel[i] = sat32(decayed + step)
            step = int(vel[i])
        out[i] = sat32(int(out[i]) - step)
    if momentum:
        return out.astype(np.int32), vel.astype(np.int32), state
    return out.astype(np.int32), state


# ---- float boundary helpers for the host (not part of the device kernels) ---------------

def quantize(x, bits: int = 7) -> tuple[np.ndarray, int]:
    """A float array -> q-tensor (host side, for inputs and targets): the smallest
    exponent e with max|x| / 2^e <= 127, values rounded to nearest."""
    x = np.asarray(x, np.float64)
    m = float(np.max(np.abs(x))) if x.size else 0.0
    e = -30 if m == 0 else math.ceil(math.log2(m / 127.0))
    q = np.clip(np.floor(x / 2.0 ** e + 0.5), -127, 127).astype(np.int8)
    return q, e


def master_from_float(w, headroom_bits: int = 23) -> tuple[np.ndarray, int]:
    """A float parameter -> (int32 master, exponent): max|w| uses ~2^headroom_bits, so
    updates have 8 bits of headroom above and 16+ fractional bits below the int8 copy."""
    w = np.asarray(w, np.float64)
    m = float(np.max(np.abs(w))) if w.size else 0.0
    e = -30 if m == 0 else math.floor(math.log2(m)) - headroom_bits
    return np.clip(np.round(w / 2.0 ** e), INT32_MIN, INT32_MAX).astype(np.int32), e


def lr_to_fixed(lr: float) -> tuple[int, int]:
    """lr (or a momentum in (0, 1)) -> (multiplier in [2^15, 2^16), shift) with
    lr ~= multiplier * 2^-shift."""
    if lr <= 0:
        return 0, 0
    k = 15 - math.floor(math.log2(lr))
    m = round(lr * 2.0 ** k)
    if m >= 65536:
        m, k = round(lr * 2.0 ** (k - 1)), k - 1
    if not 0 <= k <= 62:
        raise ValueError(f"learning rate {lr} out of the fixed-point range")
    return int(m), int(k)


def dequantize(q, e: int) -> np.ndarray:
    return np.asarray(q, np.float64) * 2.0 ** int(e)
