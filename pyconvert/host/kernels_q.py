"""numpy wrappers over the integer-only training kernels of runtime_c (mt_q.h).

Same style as :mod:`pyconvert.host.kernels_s8`: arrays as on the device
(activations NHWC int8, conv filters OHWI, linear weights (out, in), masters and
parameter gradients int32), outputs and scratch allocated here, a non-OK status
raised as :class:`KernelError`. A q-tensor travels as ``(values, exponent)``:
real = values * 2^exponent. The argument conventions are those of the integer
reference :mod:`pyconvert.quant.qtrain_reference`, so tests call both alike.
"""

from __future__ import annotations

import numpy as np

from .kernels import (KernelError, _check, _conv_params, _dims, _pool_params,
                      conv2d_out_shape, pool2d_out_shape)
from .runtime import runtime

__all__ = ["KernelError", "rand", "bitlen", "shift_round", "sat_add", "requantize",
           "refresh_weights", "linear_q", "linear_q_backward", "linear_q_backward_params",
           "conv2d_q", "conv2d_q_backward", "conv2d_q_backward_params", "maxpool2d_q",
           "maxpool2d_q_backward", "relu_q", "relu_q_backward", "cross_entropy_q",
           "mse_loss_q", "sgd_update_q"]


# ---- marshalling -----------------------------------------------------------------

def _s8(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int8)


def _i32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


def _ptr(a, ctype):
    ffi, _ = runtime()
    if a is None:
        return ffi.NULL
    return ffi.cast(ctype, ffi.from_buffer(a))


def _ctx(nbytes: int):
    """(mt_q_ctx *, keep-alive buffer) with nbytes of 4-byte aligned scratch."""
    ffi, _ = runtime()
    buf = np.zeros(max(1, (int(nbytes) + 3) // 4), np.int32)
    ctx = ffi.new("mt_q_ctx *", {"buf": ffi.cast("void *", ffi.from_buffer(buf)),
                                 "size": int(buf.nbytes)})
    return ctx, buf


def _exp_out():
    ffi, _ = runtime()
    return ffi.new("int32_t *")


# ---- helpers ------------------------------------------------------------------------

def rand(state: int) -> tuple[int, int]:
    """xorshift32 step: (value, new state)."""
    ffi, lib = runtime()
    s = ffi.new("uint32_t *", int(state))
    v = lib.mt_q_rand(s)
    return int(v), int(s[0])


def bitlen(v: int) -> int:
    return int(runtime()[1].mt_q_bitlen(int(v)))


def shift_round(v: int, shift: int) -> int:
    return int(runtime()[1].mt_q_shift_round(int(v), int(shift)))


def sat_add(a: int, b: int) -> int:
    return int(runtime()[1].mt_q_sat_add(int(a), int(b)))


def requantize(v, exp: int) -> tuple[np.ndarray, int]:
    """int32 values at 2^exp -> (int8 q, exponent)."""
    _, lib = runtime()
    v = _i32(v)
    out = np.empty(v.shape, np.int8)
    e = _exp_out()
    _check(lib.mt_q_requantize(v.size, _ptr(v, "int32_t *"), int(exp), _ptr(out, "int8_t *"), e),
           "mt_q_requantize", v=v)
    return out, int(e[0])


def refresh_weights(master, master_exp: int) -> tuple[np.ndarray, int]:
    """The forward int8 copy of an int32 master: (weights, exponent)."""
    _, lib = runtime()
    m = _i32(master)
    out = np.empty(m.shape, np.int8)
    e = _exp_out()
    _check(lib.mt_q_refresh_weights(m.size, _ptr(m, "int32_t *"), int(master_exp),
                                    _ptr(out, "int8_t *"), e), "mt_q_refresh_weights", master=m)
    return out, int(e[0])


# ---- linear -----------------------------------------------------------------------------

def linear_q(x, ex, w, ew, bias=None, eb=0, relu=False) -> tuple[np.ndarray, int]:
    """x (N, K) or NHWC (the C kernel reads h*w*c = K), W (O, K) int8, bias an int32
    master at 2^eb -> (y (N, O) int8, ey)."""
    _, lib = runtime()
    x, w = _s8(x), _s8(w)
    bias = None if bias is None else _i32(bias)
    yd = (x.shape[0], w.shape[0])
    y = np.empty(yd, np.int8)
    ctx, keep = _ctx(lib.mt_linear_q_get_buffer_size(_dims(yd)))
    e = _exp_out()
    _check(lib.mt_linear_q(ctx, int(bool(relu)), _dims(x.shape), _ptr(x, "int8_t *"), int(ex),
                           _dims(w.shape), _ptr(w, "int8_t *"), int(ew),
                           _ptr(bias, "int32_t *"), int(eb), _dims(yd), _ptr(y, "int8_t *"), e),
           "mt_linear_q", x=x, w=w)
    return y, int(e[0])


def linear_q_backward(x_shape, w, ew, dy, edy) -> tuple[np.ndarray, int]:
    """dx = dy @ W requantized, in x_shape: (dx int8, exponent)."""
    _, lib = runtime()
    w, dy = _s8(w), _s8(dy)
    dx = np.empty(tuple(x_shape), np.int8)
    ctx, keep = _ctx(lib.mt_linear_q_backward_get_buffer_size(_dims(dx.shape)))
    e = _exp_out()
    _check(lib.mt_linear_q_backward(ctx, _dims(dx.shape), _dims(w.shape), _ptr(w, "int8_t *"),
                                    int(ew), _dims(dy.shape), _ptr(dy, "int8_t *"), int(edy),
                                    _ptr(dx, "int8_t *"), e), "mt_linear_q_backward", w=w, dy=dy)
    return dx, int(e[0])


def linear_q_backward_params(x, dy, o_begin=0, o_end=None):
    """(dW block int32 (o_end-o_begin, K), db block int32) from zero."""
    _, lib = runtime()
    x, dy = _s8(x), _s8(dy)
    k = int(np.prod(x.shape[1:]))
    o = dy.shape[-1]
    o_end = o if o_end is None else o_end
    dw = np.zeros((max(0, o_end - o_begin), k), np.int32)
    db = np.zeros(max(0, o_end - o_begin), np.int32)
    _check(lib.mt_linear_q_backward_params(_dims(x.shape), _ptr(x, "int8_t *"), _dims((o, k)),
                                           _dims(dy.shape), _ptr(dy, "int8_t *"), int(o_begin),
                                           int(o_end), _ptr(dw, "int32_t *"), _ptr(db, "int32_t *")),
           "mt_linear_q_backward_params", x=x, dy=dy)
    return dw, db


# ---- convolution ------------------------------------------------------------------------

def conv2d_q(x, ex, w, ew, bias=None, eb=0, stride=1, padding=0, dilation=1, groups=1,
             relu=False) -> tuple[np.ndarray, int]:
    """x (N,H,W,C) int8, filter (O,KH,KW,C/groups) int8 -> (y (N,OH,OW,O) int8, ey)."""
    _, lib = runtime()
    x, w = _s8(x), _s8(w)
    bias = None if bias is None else _i32(bias)
    yd = conv2d_out_shape(x.shape, w.shape, stride, padding, dilation)
    y = np.empty(yd, np.int8)
    ctx, keep = _ctx(max(0, lib.mt_conv2d_q_get_buffer_size(_dims(yd))))
    e = _exp_out()
    _check(lib.mt_conv2d_q(ctx, _conv_params(stride, padding, dilation, groups), int(bool(relu)),
                           _dims(x.shape), _ptr(x, "int8_t *"), int(ex),
                           _dims(w.shape), _ptr(w, "int8_t *"), int(ew),
                           _ptr(bias, "int32_t *"), int(eb), _dims(yd), _ptr(y, "int8_t *"), e),
           "mt_conv2d_q", x=x, w=w)
    return y, int(e[0])


def conv2d_q_backward(x_shape, w, ew, dy, edy, stride=1, padding=0, dilation=1,
                      groups=1) -> tuple[np.ndarray, int]:
    _, lib = runtime()
    w, dy = _s8(w), _s8(dy)
    dx = np.empty(tuple(x_shape), np.int8)
    ctx, keep = _ctx(lib.mt_conv2d_q_backward_get_buffer_size(_dims(dx.shape)))
    e = _exp_out()
    _check(lib.mt_conv2d_q_backward(ctx, _conv_params(stride, padding, dilation, groups),
                                    _dims(dx.shape), _dims(w.shape), _ptr(w, "int8_t *"), int(ew),
                                    _dims(dy.shape), _ptr(dy, "int8_t *"), int(edy),
                                    _ptr(dx, "int8_t *"), e), "mt_conv2d_q_backward", w=w, dy=dy)
    return dx, int(e[0])


def conv2d_q_backward_params(x, w_shape, dy, stride=1, padding=0, dilation=1, groups=1,
                             o_begin=0, o_end=None):
    _, lib = runtime()
    x, dy = _s8(x), _s8(dy)
    o_end = w_shape[0] if o_end is None else o_end
    dw = np.zeros((max(0, o_end - o_begin), *w_shape[1:]), np.int32)
    db = np.zeros(max(0, o_end - o_begin), np.int32)
    _check(lib.mt_conv2d_q_backward_params(_conv_params(stride, padding, dilation, groups),
                                           _dims(x.shape), _ptr(x, "int8_t *"), _dims(w_shape),
                                           _dims(dy.shape), _ptr(dy, "int8_t *"), int(o_begin),
                                           int(o_end), _ptr(dw, "int32_t *"), _ptr(db, "int32_t *")),
           "mt_conv2d_q_backward_params", x=x, dy=dy)
    return dw, db


# ---- pooling and ReLU -------------------------------------------------------------------

def maxpool2d_q(x, kernel_size, stride=None, padding=0, ceil_mode=False) -> np.ndarray:
    _, lib = runtime()
    x = _s8(x)
    y = np.empty(pool2d_out_shape(x.shape, kernel_size, stride, padding, ceil_mode), np.int8)
    _check(lib.mt_maxpool2d_q(_pool_params(kernel_size, stride, padding, ceil_mode, 1),
                              _dims(x.shape), _ptr(x, "int8_t *"), _dims(y.shape),
                              _ptr(y, "int8_t *")), "mt_maxpool2d_q", x=x)
    return y


def maxpool2d_q_backward(x, dy, kernel_size, stride=None, padding=0, ceil_mode=False):
    _, lib = runtime()
    x, dy = _s8(x), _s8(dy)
    dx = np.empty(x.shape, np.int8)
    _check(lib.mt_maxpool2d_q_backward(_pool_params(kernel_size, stride, padding, ceil_mode, 1),
                                       _dims(x.shape), _ptr(x, "int8_t *"), _dims(dy.shape),
                                       _ptr(dy, "int8_t *"), _ptr(dx, "int8_t *")),
           "mt_maxpool2d_q_backward", x=x, dy=dy)
    return dx


def relu_q(x) -> np.ndarray:
    _, lib = runtime()
    x = _s8(x)
    y = np.empty_like(x)
    _check(lib.mt_relu_q(x.size, _ptr(x, "int8_t *"), _ptr(y, "int8_t *")), "mt_relu_q", x=x)
    return y


def relu_q_backward(y, dy) -> np.ndarray:
    _, lib = runtime()
    y, dy = _s8(y), _s8(dy)
    dx = np.empty_like(dy)
    _check(lib.mt_relu_q_backward(y.size, _ptr(y, "int8_t *"), _ptr(dy, "int8_t *"),
                                  _ptr(dx, "int8_t *")), "mt_relu_q_backward", y=y)
    return dx


# ---- losses -----------------------------------------------------------------------------

def cross_entropy_q(z, ez, labels) -> tuple[int, np.ndarray, int]:
    """(loss Q16.16, dL/dz int8 (rows, classes), exponent)."""
    ffi, lib = runtime()
    z = _s8(z)
    labels = _i32(labels)
    rows = labels.size
    dz = np.empty(z.shape, np.int8)
    loss, e = ffi.new("int32_t *"), _exp_out()
    _check(lib.mt_cross_entropy_q(rows, z.size // max(rows, 1), _ptr(z, "int8_t *"), int(ez),
                                  _ptr(labels, "int32_t *"), loss, _ptr(dz, "int8_t *"), e),
           "mt_cross_entropy_q", z=z, labels=labels)
    return int(loss[0]), dz, int(e[0])


def mse_loss_q(y, ey, t, et) -> tuple[int, np.ndarray, int]:
    """(loss Q16.16, dL/dy int8 in y's shape, exponent)."""
    ffi, lib = runtime()
    y, t = _s8(y), _s8(t)
    if y.shape != t.shape:
        raise ValueError(f"mse_loss_q: y {y.shape} and t {t.shape} differ")
    dy = np.empty(y.shape, np.int8)
    loss, e = ffi.new("int32_t *"), _exp_out()
    _check(lib.mt_mse_loss_q(y.size, _ptr(y, "int8_t *"), int(ey), _ptr(t, "int8_t *"), int(et),
                             loss, _ptr(dy, "int8_t *"), e), "mt_mse_loss_q", y=y)
    return int(loss[0]), dy, int(e[0])


# ---- optimizer --------------------------------------------------------------------------

def _sgd(master, em, grad, eg, lr_multiplier, lr_shift, state, velocity, momentum_multiplier,
         momentum_shift):
    ffi, lib = runtime()

    def writable(a):
        ok = isinstance(a, np.ndarray) and a.dtype == np.int32 and a.flags.c_contiguous \
            and a.flags.writeable
        return a if ok else _i32(a).copy()

    m = writable(master)
    v = None if velocity is None else writable(velocity)
    g = _i32(grad)
    if g.size != m.size or (v is not None and v.size != m.size):
        raise ValueError(f"sgd_update_q: grad {g.shape} / velocity and master {m.shape} differ")
    p = ffi.new("mt_sgd_q_params *", {"lr_multiplier": int(lr_multiplier),
                                      "lr_shift": int(lr_shift),
                                      "momentum_multiplier": int(momentum_multiplier),
                                      "momentum_shift": int(momentum_shift)})
    s = ffi.new("uint32_t *", int(state))
    _check(lib.mt_sgd_update_q(p, m.size, _ptr(m, "int32_t *"), int(em), _ptr(g, "int32_t *"),
                               int(eg), _ptr(v, "int32_t *"), s), "mt_sgd_update_q", master=m)
    return m, v, int(s[0])


def sgd_update_q(master, em, grad, eg, lr_multiplier, lr_shift, state, velocity=None,
                 momentum_multiplier=0, momentum_shift=0):
    """(updated master, new PRNG state), or (master, velocity, state) with momentum.
    int32 C-contiguous master / velocity arrays are updated in place."""
    m, v, s = _sgd(master, em, grad, eg, lr_multiplier, lr_shift, state, velocity,
                   momentum_multiplier, momentum_shift)
    return (m, v, s) if momentum_multiplier > 0 else (m, s)
