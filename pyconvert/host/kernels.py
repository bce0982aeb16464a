"""numpy wrappers over every float kernel of runtime_c.

Arrays are laid out as on the device: activations NHWC, conv filters OHWI
(out, kh, kw, in/groups), linear weights (out, in). Wrappers allocate outputs,
call the C kernel and turn a non-OK status into :class:`KernelError`, which names
the kernel, the status and the shapes. The C code does all validation itself, so
these wrappers also exercise it.

Backward wrappers return fresh gradients (parameter gradients start at zero, so
the C kernels' accumulation gives plain gradients); pass ``need=`` to skip some.
"""

from __future__ import annotations

import numpy as np

from .runtime import runtime


class KernelError(ValueError):
    """A C kernel returned an error status."""

    def __init__(self, kernel: str, status: int, detail: str):
        ffi, lib = runtime()
        name = ffi.string(lib.mt_status_str(status)).decode()
        super().__init__(f"{kernel}: {name} (status {status}); {detail}")
        self.kernel, self.status = kernel, status


# ---- marshalling -----------------------------------------------------------------

def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _dims4(shape) -> tuple[int, int, int, int]:
    """NHWC dims of an array: 4-D as is, (n, c) as (n, 1, 1, c), (c,) as (1, 1, 1, c)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 4:
        return shape
    if len(shape) == 2:
        return (shape[0], 1, 1, shape[1])
    if len(shape) == 1:
        return (1, 1, 1, shape[0])
    raise ValueError(f"expected a 1-, 2- or 4-D array, got shape {shape}")


def _dims(shape):
    ffi, _ = runtime()
    n, h, w, c = _dims4(shape)
    return ffi.new("mt_dims *", {"n": n, "h": h, "w": w, "c": c})


def _ptr(a, ctype="float *"):
    ffi, _ = runtime()
    if a is None:
        return ffi.NULL
    return ffi.cast(ctype, ffi.from_buffer(a))


def _check(status: int, kernel: str, **shapes) -> None:
    if status != 0:
        detail = ", ".join(f"{k} {tuple(v.shape) if hasattr(v, 'shape') else v}"
                           for k, v in shapes.items())
        raise KernelError(kernel, status, detail)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _pads(padding) -> tuple[int, int, int, int]:
    """int p, (ph, pw) or ONNX-style (top, left, bottom, right)."""
    if np.isscalar(padding):
        p = int(padding)
        return (p, p, p, p)
    if len(padding) == 2:
        ph, pw = int(padding[0]), int(padding[1])
        return (ph, pw, ph, pw)
    return tuple(int(p) for p in padding)


def _range(act):
    ffi, _ = runtime()
    if act is None:
        return ffi.NULL
    return ffi.new("mt_range_f32 *", {"lo": float(act[0]), "hi": float(act[1])})


def _out_size(lib, in_size, k, stride, pad_begin, pad_end, dilation=1, pool=False, ceil=False):
    if pool:
        return lib.mt_pool_out_size(in_size, k, stride, pad_begin, pad_end, int(ceil))
    return lib.mt_conv_out_size(in_size, k, stride, pad_begin + pad_end, dilation)


# ---- convolution ---------------------------------------------------------------------

def _conv_params(stride, padding, dilation, groups):
    ffi, _ = runtime()
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, left, bottom, right = _pads(padding)
    return ffi.new("mt_conv_params *", dict(
        stride_h=sh, stride_w=sw, pad_top=top, pad_left=left, pad_bottom=bottom,
        pad_right=right, dilation_h=dh, dilation_w=dw, groups=int(groups)))


def conv2d_out_shape(x_shape, w_shape, stride=1, padding=0, dilation=1):
    _, lib = runtime()
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    top, left, bottom, right = _pads(padding)
    oh = _out_size(lib, x_shape[1], w_shape[1], sh, top, bottom, dh)
    ow = _out_size(lib, x_shape[2], w_shape[2], sw, left, right, dw)
    return (x_shape[0], oh, ow, w_shape[0])


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, act=None):
    """x (N,H,W,C), w (O,KH,KW,C/groups), b (O,) -> y (N,OH,OW,O)."""
    _, lib = runtime()
    x, w = _f32(x), _f32(w)
    b = None if b is None else _f32(b)
    # An invalid geometry gives size -1; the C validation then names the problem.
    y = np.empty([max(1, s) for s in conv2d_out_shape(x.shape, w.shape, stride, padding, dilation)],
                 np.float32)
    st = lib.mt_conv2d_f32(_conv_params(stride, padding, dilation, groups), _range(act),
                           _dims(x.shape), _ptr(x), _dims(w.shape), _ptr(w), _ptr(b),
                           _dims(y.shape), _ptr(y))
    _check(st, "mt_conv2d_f32", x=x, w=w, y=y)
    return y


def conv2d_backward(x, w, dy, stride=1, padding=0, dilation=1, groups=1,
                    need=("x", "w", "b")):
    """dL/dy (N,OH,OW,O) -> (dx, dw, db); entries not in `need` are None."""
    _, lib = runtime()
    x, w, dy = _f32(x), _f32(w), _f32(dy)
    dx = np.empty_like(x) if "x" in need else None
    dw = np.zeros_like(w) if "w" in need else None
    db = np.zeros(w.shape[0], np.float32) if "b" in need else None
    st = lib.mt_conv2d_f32_backward(_conv_params(stride, padding, dilation, groups),
                                    _dims(x.shape), _ptr(x), _dims(w.shape), _ptr(w),
                                    _dims(dy.shape), _ptr(dy), _ptr(dx), _ptr(dw), _ptr(db))
    _check(st, "mt_conv2d_f32_backward", x=x, w=w, dy=dy)
    return dx, dw, db


# ---- linear ------------------------------------------------------------------------------

def linear(x, w, b=None, act=None):
    """x (N,K) or (N,H,W,C) with H*W*C == K, w (O,K), b (O,) -> y (N,O)."""
    _, lib = runtime()
    x, w = _f32(x), _f32(w)
    b = None if b is None else _f32(b)
    y = np.empty((x.shape[0], w.shape[0]), np.float32)
    st = lib.mt_linear_f32(_range(act), _dims(x.shape), _ptr(x), _dims(w.shape), _ptr(w),
                           _ptr(b), _dims(y.shape), _ptr(y))
    _check(st, "mt_linear_f32", x=x, w=w, y=y)
    return y


def linear_backward(x, w, dy, need=("x", "w", "b")):
    _, lib = runtime()
    x, w, dy = _f32(x), _f32(w), _f32(dy)
    dx = np.empty_like(x) if "x" in need else None
    dw = np.zeros_like(w) if "w" in need else None
    db = np.zeros(w.shape[0], np.float32) if "b" in need else None
    st = lib.mt_linear_f32_backward(_dims(x.shape), _ptr(x), _dims(w.shape), _ptr(w),
                                    _dims(dy.shape), _ptr(dy), _ptr(dx), _ptr(dw), _ptr(db))
    _check(st, "mt_linear_f32_backward", x=x, w=w, dy=dy)
    return dx, dw, db


# ---- pooling -------------------------------------------------------------------------------

def _pool_params(kernel_size, stride, padding, ceil_mode, count_include_pad):
    ffi, _ = runtime()
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    top, left, bottom, right = _pads(padding)
    return ffi.new("mt_pool_params *", dict(
        kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, pad_top=top, pad_left=left,
        pad_bottom=bottom, pad_right=right, ceil_mode=int(ceil_mode),
        count_include_pad=int(count_include_pad)))


def pool2d_out_shape(x_shape, kernel_size, stride=None, padding=0, ceil_mode=False):
    _, lib = runtime()
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    top, left, bottom, right = _pads(padding)
    oh = _out_size(lib, x_shape[1], kh, sh, top, bottom, pool=True, ceil=ceil_mode)
    ow = _out_size(lib, x_shape[2], kw, sw, left, right, pool=True, ceil=ceil_mode)
    return (x_shape[0], oh, ow, x_shape[3])


def _pool(kind, x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    _, lib = runtime()
    x = _f32(x)
    name = f"mt_{kind}pool2d_f32"
    y = np.empty([max(1, s) for s in pool2d_out_shape(x.shape, kernel_size, stride, padding,
                                                      ceil_mode)], np.float32)
    params = _pool_params(kernel_size, stride, padding, ceil_mode, count_include_pad)
    st = getattr(lib, name)(params, _dims(x.shape), _ptr(x), _dims(y.shape), _ptr(y))
    _check(st, name, x=x, y=y)
    return y


def maxpool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    return _pool("max", x, kernel_size, stride, padding, ceil_mode, 1)


def avgpool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _pool("avg", x, kernel_size, stride, padding, ceil_mode, count_include_pad)


def maxpool2d_backward(x, dy, kernel_size, stride=None, padding=0, ceil_mode=False):
    _, lib = runtime()
    x, dy = _f32(x), _f32(dy)
    dx = np.empty_like(x)
    st = lib.mt_maxpool2d_f32_backward(_pool_params(kernel_size, stride, padding, ceil_mode, 1),
                                       _dims(x.shape), _ptr(x), _dims(dy.shape), _ptr(dy), _ptr(dx))
    _check(st, "mt_maxpool2d_f32_backward", x=x, dy=dy)
    return dx


def avgpool2d_backward(x_shape, dy, kernel_size, stride=None, padding=0, ceil_mode=False,
                       count_include_pad=True):
    _, lib = runtime()
    dy = _f32(dy)
    dx = np.empty(x_shape, np.float32)
    params = _pool_params(kernel_size, stride, padding, ceil_mode, count_include_pad)
    st = lib.mt_avgpool2d_f32_backward(params, _dims(x_shape), _dims(dy.shape), _ptr(dy), _ptr(dx))
    _check(st, "mt_avgpool2d_f32_backward", x=dx, dy=dy)
    return dx


def global_avgpool(x):
    """x (N,H,W,C) -> (N,1,1,C)."""
    _, lib = runtime()
    x = _f32(x)
    y = np.empty((x.shape[0], 1, 1, x.shape[3]), np.float32)
    _check(lib.mt_global_avgpool_f32(_dims(x.shape), _ptr(x), _ptr(y)),
           "mt_global_avgpool_f32", x=x)
    return y


def global_avgpool_backward(x_shape, dy):
    _, lib = runtime()
    dy = _f32(dy)
    dx = np.empty(x_shape, np.float32)
    _check(lib.mt_global_avgpool_f32_backward(_dims(x_shape), _ptr(dy), _ptr(dx)),
           "mt_global_avgpool_f32_backward", x=dx, dy=dy)
    return dx


# ---- activations (any shape; elementwise) ---------------------------------------------------

def _unary(name, x, *lead):
    _, lib = runtime()
    x = _f32(x)
    y = np.empty_like(x)
    _check(getattr(lib, name)(*lead, x.size, _ptr(x), _ptr(y)), name, x=x)
    return y


def _unary_backward(name, y, dy, *lead):
    _, lib = runtime()
    y, dy = _f32(y), _f32(dy)
    dx = np.empty_like(dy)
    if y.shape != dy.shape:
        raise KernelError(name, -3, f"y {y.shape} != dy {dy.shape}")
    _check(getattr(lib, name)(*lead, y.size, _ptr(y), _ptr(dy), _ptr(dx)), name, y=y, dy=dy)
    return dx


def relu(x):
    return _unary("mt_relu_f32", x)


def relu_backward(y, dy):
    return _unary_backward("mt_relu_f32_backward", y, dy)


def clip(x, lo, hi):
    return _unary("mt_clip_f32", x, _range((lo, hi)))


def clip_backward(y, dy, lo, hi):
    return _unary_backward("mt_clip_f32_backward", y, dy, _range((lo, hi)))


def leaky_relu(x, alpha=0.01):
    return _unary("mt_leaky_relu_f32", x, float(alpha))


def leaky_relu_backward(y, dy, alpha=0.01):
    return _unary_backward("mt_leaky_relu_f32_backward", y, dy, float(alpha))


def sigmoid(x):
    return _unary("mt_sigmoid_f32", x)


def sigmoid_backward(y, dy):
    return _unary_backward("mt_sigmoid_f32_backward", y, dy)


def tanh(x):
    return _unary("mt_tanh_f32", x)


def tanh_backward(y, dy):
    return _unary_backward("mt_tanh_f32_backward", y, dy)


def step(x):
    return _unary("mt_step_f32", x)


def step_backward(y, dy):
    return _unary_backward("mt_step_f32_backward", y, dy)


def _rows(name, x, y=None, dy=None):
    """Softmax-family call over the last axis: rows = size / cols."""
    _, lib = runtime()
    arrays = [_f32(a) for a in (x, y, dy) if a is not None]
    cols = arrays[0].shape[-1]
    rows = arrays[0].size // cols
    out = np.empty_like(arrays[0])
    _check(getattr(lib, name)(rows, cols, *[_ptr(a) for a in arrays], _ptr(out)),
           name, x=arrays[0])
    return out


def softmax(x):
    return _rows("mt_softmax_f32", x)


def softmax_backward(y, dy):
    return _rows("mt_softmax_f32_backward", y, dy=dy)


def log_softmax(x):
    return _rows("mt_log_softmax_f32", x)


def log_softmax_backward(y, dy):
    return _rows("mt_log_softmax_f32_backward", y, dy=dy)


# ---- losses -----------------------------------------------------------------------------------

def mse_loss(pred, target):
    """-> (loss, dL/dpred), mean reduction."""
    ffi, lib = runtime()
    pred, target = _f32(pred), _f32(target)
    if pred.shape != target.shape:
        raise KernelError("mt_mse_loss_f32", -3, f"pred {pred.shape} != target {target.shape}")
    loss = ffi.new("float *")
    d = np.empty_like(pred)
    _check(lib.mt_mse_loss_f32(pred.size, _ptr(pred), _ptr(target), loss, _ptr(d)),
           "mt_mse_loss_f32", pred=pred, target=target)
    return float(loss[0]), d


def cross_entropy(logits, labels):
    """logits (N, C), labels (N,) ints -> (loss, dL/dlogits), mean reduction."""
    ffi, lib = runtime()
    logits = _f32(logits)
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise KernelError("mt_cross_entropy_f32", -3, f"logits {logits.shape}, labels {labels.shape}")
    loss = ffi.new("float *")
    d = np.empty_like(logits)
    st = lib.mt_cross_entropy_f32(logits.shape[0], logits.shape[1], _ptr(logits),
                                  _ptr(labels, "int32_t *"), loss, _ptr(d))
    _check(st, "mt_cross_entropy_f32", logits=logits, labels=labels)
    return float(loss[0]), d


# ---- optimizers (update `param` and the state arrays in place) -----------------------------

def _inplace(a, what):
    if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous
            and a.flags.writeable):
        raise ValueError(f"{what} must be a writeable C-contiguous float32 array")
    return a


def sgd_step(param, grad, momentum_buf, step, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False):
    ffi, lib = runtime()
    param = _inplace(param, "param")
    grad = _f32(grad)
    buf = None if momentum_buf is None else _inplace(momentum_buf, "momentum_buf")
    p = ffi.new("mt_sgd_params *", dict(lr=lr, momentum=momentum, dampening=dampening,
                                         weight_decay=weight_decay, nesterov=int(nesterov)))
    if grad.size != param.size or (buf is not None and buf.size != param.size):
        raise KernelError("mt_sgd_step_f32", -3, f"param {param.shape}, grad {grad.shape}")
    _check(lib.mt_sgd_step_f32(p, step, param.size, _ptr(param), _ptr(grad), _ptr(buf)),
           "mt_sgd_step_f32", param=param, grad=grad)


def adam_step(param, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    ffi, lib = runtime()
    param, m, v = _inplace(param, "param"), _inplace(m, "m"), _inplace(v, "v")
    grad = _f32(grad)
    if not grad.size == param.size == m.size == v.size:
        raise KernelError("mt_adam_step_f32", -3, f"param {param.shape}, grad {grad.shape}")
    p = ffi.new("mt_adam_params *", dict(lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                                          weight_decay=weight_decay))
    _check(lib.mt_adam_step_f32(p, step, param.size, _ptr(param), _ptr(grad), _ptr(m), _ptr(v)),
           "mt_adam_step_f32", param=param, grad=grad)
