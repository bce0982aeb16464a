"""numpy wrappers over every int8 kernel of runtime_c (mt_s8.h).

Same style as :mod:`pyconvert.host.kernels`: arrays as on the device (activations
NHWC int8, conv filters OHWI int8, linear weights (out, in) int8, biases int32),
outputs allocated here, a non-OK status raised as :class:`KernelError`. The C
code validates everything itself; these wrappers only marshal.

Conventions shared with the integer reference (:mod:`pyconvert.quant.int_reference`),
so tests call both the same way: ``multiplier`` / ``shift`` are a scalar or one
value per output channel; ``act`` is the (act_min, act_max) output clamp;
``input_offset`` = -zero_point of the input, ``output_offset`` = zero_point of the
output.
"""

from __future__ import annotations

import numpy as np

from .kernels import (KernelError, _check, _conv_params, _dims, _pool_params,
                      conv2d_out_shape, pool2d_out_shape)
from .runtime import runtime

NO_ACT = (-128, 127)

__all__ = ["KernelError", "requantize", "conv2d_s8", "linear_s8", "maxpool2d_s8",
           "avgpool2d_s8", "global_avgpool_s8", "clamp_s8", "lut_s8", "softmax_s8",
           "quantize_s8", "dequantize_s8"]


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


def _io(input_offset, output_offset, act):
    ffi, _ = runtime()
    return ffi.new("mt_s8_io *", dict(input_offset=int(input_offset),
                                      output_offset=int(output_offset),
                                      act_min=int(act[0]), act_max=int(act[1])))


def _requant(multiplier, shift, channels):
    """(cdata, keep-alive arrays) of an mt_requant for `channels` outputs."""
    ffi, _ = runtime()
    m = _i32(np.broadcast_to(np.asarray(multiplier, np.int64), (channels,)))
    s = _i32(np.broadcast_to(np.asarray(shift, np.int64), (channels,)))
    q = ffi.new("mt_requant *", {"multiplier": _ptr(m, "int32_t *"),
                                 "shift": _ptr(s, "int32_t *")})
    return q, (m, s)


# ---- the rounding rule --------------------------------------------------------------

def requantize(acc, multiplier, shift) -> np.ndarray:
    """mt_requantize elementwise over broadcast int32 arrays (one C call each)."""
    _, lib = runtime()
    acc, multiplier, shift = np.broadcast_arrays(np.asarray(acc, np.int64),
                                                 np.asarray(multiplier, np.int64),
                                                 np.asarray(shift, np.int64))
    out = np.empty(acc.shape, np.int32)
    flat = out.reshape(-1)
    for i, (a, m, s) in enumerate(zip(acc.reshape(-1).tolist(), multiplier.reshape(-1).tolist(),
                                      shift.reshape(-1).tolist())):
        flat[i] = lib.mt_requantize(a, m, s)
    return out


# ---- layers ---------------------------------------------------------------------------

def conv2d_s8(x, w, bias, multiplier, shift, input_offset, output_offset, act=NO_ACT,
              stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """x (N,H,W,C) int8, w (O,KH,KW,C/groups) int8, bias (O,) int32 or None
    -> y (N,OH,OW,O) int8."""
    _, lib = runtime()
    x, w = _s8(x), _s8(w)
    b = None if bias is None else _i32(bias)
    y = np.empty([max(1, s) for s in conv2d_out_shape(x.shape, w.shape, stride, padding,
                                                      dilation)], np.int8)
    quant, keep = _requant(multiplier, shift, w.shape[0])
    st = lib.mt_conv2d_s8(_conv_params(stride, padding, dilation, groups),
                          _io(input_offset, output_offset, act), quant,
                          _dims(x.shape), _ptr(x, "int8_t *"), _dims(w.shape), _ptr(w, "int8_t *"),
                          _ptr(b, "int32_t *"), _dims(y.shape), _ptr(y, "int8_t *"))
    _check(st, "mt_conv2d_s8", x=x, w=w, y=y)
    return y


def linear_s8(x, w, bias, multiplier, shift, input_offset, output_offset,
              act=NO_ACT) -> np.ndarray:
    """x (N,K) or (N,H,W,C) with H*W*C == K, w (O,K), bias (O,) or None -> y (N,O)."""
    _, lib = runtime()
    x, w = _s8(x), _s8(w)
    b = None if bias is None else _i32(bias)
    y = np.empty((x.shape[0], w.shape[0]), np.int8)
    quant, keep = _requant(multiplier, shift, w.shape[0])
    st = lib.mt_linear_s8(_io(input_offset, output_offset, act), quant,
                          _dims(x.shape), _ptr(x, "int8_t *"), _dims(w.shape), _ptr(w, "int8_t *"),
                          _ptr(b, "int32_t *"), _dims(y.shape), _ptr(y, "int8_t *"))
    _check(st, "mt_linear_s8", x=x, w=w, y=y)
    return y


# ---- pooling ----------------------------------------------------------------------------

def _pool(kind, x, kernel_size, stride, padding, ceil_mode, count_include_pad, act):
    _, lib = runtime()
    x = _s8(x)
    name = f"mt_{kind}pool2d_s8"
    y = np.empty([max(1, s) for s in pool2d_out_shape(x.shape, kernel_size, stride, padding,
                                                      ceil_mode)], np.int8)
    params = _pool_params(kernel_size, stride, padding, ceil_mode, count_include_pad)
    st = getattr(lib, name)(params, int(act[0]), int(act[1]), _dims(x.shape),
                            _ptr(x, "int8_t *"), _dims(y.shape), _ptr(y, "int8_t *"))
    _check(st, name, x=x, y=y)
    return y


def maxpool2d_s8(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 act=NO_ACT) -> np.ndarray:
    return _pool("max", x, kernel_size, stride, padding, ceil_mode, 1, act)


def avgpool2d_s8(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, act=NO_ACT) -> np.ndarray:
    return _pool("avg", x, kernel_size, stride, padding, ceil_mode, count_include_pad, act)


def global_avgpool_s8(x, act=NO_ACT) -> np.ndarray:
    """x (N,H,W,C) -> (N,1,1,C)."""
    _, lib = runtime()
    x = _s8(x)
    y = np.empty((x.shape[0], 1, 1, x.shape[3]), np.int8)
    st = lib.mt_global_avgpool_s8(int(act[0]), int(act[1]), _dims(x.shape),
                                  _ptr(x, "int8_t *"), _ptr(y, "int8_t *"))
    _check(st, "mt_global_avgpool_s8", x=x)
    return y


# ---- elementwise (any shape) ---------------------------------------------------------------

def clamp_s8(x, lo, hi) -> np.ndarray:
    _, lib = runtime()
    x = _s8(x)
    y = np.empty_like(x)
    _check(lib.mt_clamp_s8(int(lo), int(hi), x.size, _ptr(x, "int8_t *"), _ptr(y, "int8_t *")),
           "mt_clamp_s8", x=x)
    return y


def lut_s8(x, table) -> np.ndarray:
    """y = table[x + 128]; table: 256 int8 entries."""
    _, lib = runtime()
    x, table = _s8(x), _s8(table)
    if table.shape != (256,):
        raise KernelError("mt_lut_s8", -3, f"table {table.shape}, expected (256,)")
    y = np.empty_like(x)
    _check(lib.mt_lut_s8(_ptr(table, "int8_t *"), x.size, _ptr(x, "int8_t *"),
                         _ptr(y, "int8_t *")), "mt_lut_s8", x=x)
    return y


def softmax_s8(x, exp_table) -> np.ndarray:
    """Softmax over the last axis; exp_table: 256 int32 (scales.softmax_exp_table)."""
    _, lib = runtime()
    x, table = _s8(x), _i32(exp_table)
    if table.shape != (256,):
        raise KernelError("mt_softmax_s8", -3, f"exp_table {table.shape}, expected (256,)")
    cols = x.shape[-1]
    y = np.empty_like(x)
    rows = x.size // cols if cols else 0
    st = lib.mt_softmax_s8(_ptr(table, "int32_t *"), rows, cols,
                           _ptr(x, "int8_t *"), _ptr(y, "int8_t *"))
    _check(st, "mt_softmax_s8", x=x)
    return y


# ---- the float boundary ---------------------------------------------------------------------

def quantize_s8(x, scale, zero_point) -> np.ndarray:
    """float32 x -> int8 q = clamp(round_half_away(x / scale) + zero_point)."""
    _, lib = runtime()
    x = np.ascontiguousarray(x, dtype=np.float32)
    q = np.empty(x.shape, np.int8)
    st = lib.mt_quantize_s8(float(scale), int(zero_point), x.size, _ptr(x, "float *"),
                            _ptr(q, "int8_t *"))
    _check(st, "mt_quantize_s8", x=x)
    return q


def dequantize_s8(q, scale, zero_point) -> np.ndarray:
    """int8 q -> float32 x = (q - zero_point) * scale."""
    _, lib = runtime()
    q = _s8(q)
    x = np.empty(q.shape, np.float32)
    st = lib.mt_dequantize_s8(float(scale), int(zero_point), q.size, _ptr(q, "int8_t *"),
                              _ptr(x, "float *"))
    _check(st, "mt_dequantize_s8", q=q)
    return x
