"""PyTorch-style functional ops on :class:`~pyconvert.nn.tensor.Tensor`.

Each op is a ``Function`` subclass (``forward`` and ``backward`` side by side,
gradient equations in the comment above each backward) plus a public function
with PyTorch's signature that validates its arguments and calls ``apply``.
Layout is NCHW with OIHW weights, as in PyTorch; unbatched (C, H, W) inputs are
accepted by the 2-D ops and reshaped around a 4-D op (so the recorded
conv2d/pool ops always see 4-D tensors).

Op records (``Tensor.op``) and their normalised attributes are listed in
``pyconvert.nn.tensor.OP_ATTRS``.

Shape errors raise :class:`ShapeError` (a ValueError) reading
``"<op>: expected input (N, 1, H, W), got (1, 3, 32, 32)"``; when raised inside a
layer, ``Module.__call__`` replaces ``<op>`` with the layer's repr.

Deviations from PyTorch (all stricter, none silent):
* ``mse_loss`` needs input and target of equal shapes (PyTorch broadcasts with
  a warning, a classic (N, 1)-vs-(N,) bug);
* ``max_pool2d`` supports ``dilation=1`` only and no ``return_indices``;
* ``adaptive_avg_pool2d`` supports output size 1 only;
* ``conv2d`` padding is an int or a pair (no "same"/"valid"), zeros only;
* ``cross_entropy`` / ``nll_loss`` have no ``weight``, ``ignore_index`` or
  ``label_smoothing``;
* ``flatten`` here is ``torch.flatten`` with ``start_dim=1`` by default (the
  batch dim is kept, like ``nn.Flatten``); ``Tensor.flatten`` defaults to 0.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .tensor import Function, FlattenFn, Tensor, as_tensor, _flatten_dims, _normalize_dim

__all__ = [
    "ShapeError", "conv2d", "linear", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "batch_norm", "dropout", "relu", "relu6", "hardtanh", "clamp", "clip", "leaky_relu",
    "sigmoid", "tanh", "step", "heaviside", "softmax", "log_softmax", "flatten",
    "mse_loss", "cross_entropy", "nll_loss",
]

IntPair = Union[int, tuple]


class ShapeError(ValueError):
    """A bad input shape. ``detail`` is the message without the ``"<where>: "``
    prefix, so a layer can re-label it with its own repr."""

    def __init__(self, where: str, detail: str):
        super().__init__(f"{where}: {detail}")
        self.where, self.detail = where, detail

    def relabel(self, where: str) -> None:
        self.where = where
        self.args = (f"{where}: {self.detail}",)


# ---------------------------------------------------------------------------
# argument helpers
# ---------------------------------------------------------------------------

def _pair(value: Any, name: str, op: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def _check_min(pair: tuple[int, int], minimum: int, name: str, op: str) -> None:
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {pair}")


def _check_4d(x: Tensor, op: str, channels: Optional[int] = None) -> None:
    c = "C" if channels is None else str(channels)
    ok = x.ndim in (3, 4) and (channels is None or x.shape[-3] == channels)
    if not ok:
        raise ShapeError(op, f"expected input (N, {c}, H, W), got {x.shape}")


def _batched(x: Tensor, fn) -> Tensor:
    """Run ``fn`` on a 4-D tensor; an unbatched (C, H, W) input gets a batch
    dim added for the call and removed after (recorded as reshapes)."""
    if x.ndim == 4:
        return fn(x)
    y = fn(x.reshape(1, *x.shape))
    return y.reshape(*y.shape[1:])


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape / conv output size along one axis."""
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff + ((s - 1) if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= size + p:   # last window must start inside input/left pad
        out -= 1
    return out


def _windows(xp: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """(N, C, Hp, Wp) -> strided view (N, C, OH, OW, kh, kw) of every window."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    v = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]


def _window_slice(offset: int, stride: int, count: int) -> slice:
    """Positions offset, offset+stride, ... (count of them) in the padded input."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


# ---------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------

class Conv2dFn(Function):
    name = "conv2d"

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, dilation, groups):
        # x (N, C, H, W), w (O, C/G, kh, kw), b (O,) -> y (N, O, OH, OW)
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        g, og = groups, o // groups
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        oh = _out_size(h, kh, sh, ph, dh, False)
        ow = _out_size(wd, kw, sw, pw, dw, False)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
        # im2col: cols[g, (n, i, j), (c, p, q)] = xp[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw]
        cols = _windows(xp, (kh, kw), stride, dilation, (oh, ow))
        cols = cols.reshape(n, g, cg, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = cols.reshape(g, n * oh * ow, cg * kh * kw)
        wm = w.reshape(g, og, cg * kh * kw)
        y = cols @ wm.transpose(0, 2, 1)                       # (G, N*OH*OW, O/G)
        y = y.reshape(g, n, oh, ow, og).transpose(1, 0, 4, 2, 3).reshape(n, o, oh, ow)
        if b is not None:
            y = y + b.reshape(1, o, 1, 1)
        ctx.cols, ctx.wm, ctx.has_bias = cols, wm, b is not None
        ctx.geom = (x.shape, xp.shape, w.shape, (oh, ow), stride, padding, dilation, groups)
        return np.ascontiguousarray(y)

    # y[n,o,i,j] = b[o] + sum_{c,p,q} w[o,c,p,q] * xp[n, g(o)*Cg + c, i*sh + p*dh, j*sw + q*dw]
    #   dw[g] = G[g]^T @ cols[g]        (G[g]: (N*OH*OW, O/G) slice of the output grad)
    #   db[o] = sum_{n,i,j} g[n,o,i,j]
    #   dxp   = col2im(G @ W): each (p, q) tap adds its column back at its strided
    #           positions; dx = dxp without the padding
    @staticmethod
    def backward(ctx, grad):
        x_shape, xp_shape, w_shape, (oh, ow), (sh, sw), (ph, pw), (dh, dw), g = ctx.geom
        n, c, h, wd = x_shape
        o, cg, kh, kw = w_shape
        og = o // g
        gm = grad.reshape(n, g, og, oh, ow).transpose(1, 0, 3, 4, 2).reshape(g, n * oh * ow, og)
        dx = dw_ = db = None
        if ctx.needs_input_grad[1]:
            dw_ = (gm.transpose(0, 2, 1) @ ctx.cols).reshape(w_shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = grad.sum(axis=(0, 2, 3))
        if ctx.needs_input_grad[0]:
            dcols = gm @ ctx.wm                                # (G, N*OH*OW, Cg*kh*kw)
            dcols = dcols.reshape(g, n, oh, ow, cg, kh, kw).transpose(1, 0, 4, 2, 3, 5, 6)
            dcols = dcols.reshape(n, c, oh, ow, kh, kw)
            dxp = np.zeros(xp_shape, dtype=grad.dtype)
            for p in range(kh):
                rows = _window_slice(p * dh, sh, oh)
                for q in range(kw):
                    dxp[:, :, rows, _window_slice(q * dw, sw, ow)] += dcols[:, :, :, :, p, q]
            dx = dxp[:, :, ph:ph + h, pw:pw + wd]
        return dx, dw_, db


def conv2d(input, weight, bias=None, stride: IntPair = 1, padding: IntPair = 0,
           dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv2d (zero padding; int or pair arguments)."""
    x, w = as_tensor(input), as_tensor(weight)
    stride, padding = _pair(stride, "stride", "conv2d"), _pair(padding, "padding", "conv2d")
    dilation = _pair(dilation, "dilation", "conv2d")
    _check_min(stride, 1, "stride", "conv2d")
    _check_min(dilation, 1, "dilation", "conv2d")
    _check_min(padding, 0, "padding", "conv2d")
    if w.ndim != 4:
        raise ShapeError("conv2d", f"expected weight (out_channels, in_channels/groups, kH, kW), "
                                   f"got {w.shape}")
    o, cg, kh, kw = w.shape
    if not isinstance(groups, (int, np.integer)) or groups < 1 or o % groups:
        raise ValueError(f"conv2d: groups={groups} must be >= 1 and divide out_channels {o}")
    _check_4d(x, "conv2d", cg * groups)
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (o,):
            raise ShapeError("conv2d", f"expected bias ({o},), got {bias.shape}")
    h, wd = x.shape[-2:]
    oh = _out_size(h, kh, stride[0], padding[0], dilation[0], False)
    ow = _out_size(wd, kw, stride[1], padding[1], dilation[1], False)
    if oh < 1 or ow < 1:
        eff = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
        raise ShapeError("conv2d", f"input {x.shape} padded to ({h + 2 * padding[0]}, "
                                   f"{wd + 2 * padding[1]}) is smaller than the (dilated) kernel {eff}")
    return _batched(x, lambda x4: Conv2dFn.apply(x4, w, bias, stride=stride, padding=padding,
                                                 dilation=dilation, groups=int(groups)))


# ---------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------

class LinearFn(Function):
    name = "linear"

    @staticmethod
    def forward(ctx, x, w, b=None):
        # x (..., in), w (out, in), b (out,) -> y (..., out)
        ctx.x, ctx.w, ctx.has_bias = x, w, b is not None
        y = x @ w.T
        return y + b if b is not None else y

    # y = x W^T + b:  dx = g W,  dW = sum_rows g^T x,  db = sum_rows g
    # (rows = every leading index of x, flattened)
    @staticmethod
    def backward(ctx, g):
        x, w = ctx.x, ctx.w
        g2 = g.reshape(-1, w.shape[0])
        dx = (g @ w) if ctx.needs_input_grad[0] else None
        dw = g2.T @ x.reshape(-1, w.shape[1]) if ctx.needs_input_grad[1] else None
        db = g2.sum(axis=0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db


def linear(input, weight, bias=None) -> Tensor:
    """torch.nn.functional.linear: y = x W^T + b."""
    x, w = as_tensor(input), as_tensor(weight)
    if w.ndim != 2:
        raise ShapeError("linear", f"expected weight (out_features, in_features), got {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ShapeError("linear", f"expected input (..., {w.shape[1]}), got {x.shape}")
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (w.shape[0],):
            raise ShapeError("linear", f"expected bias ({w.shape[0]},), got {bias.shape}")
    return LinearFn.apply(x, w, bias)


# ---------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------

def _pool_args(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    k = _pair(kernel_size, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pair(stride, "stride", op)
    p, d = _pair(padding, "padding", op), _pair(dilation, "dilation", op)
    _check_min(k, 1, "kernel_size", op)
    _check_min(s, 1, "stride", op)
    _check_min(p, 0, "padding", op)
    _check_4d(x, op)
    for ki, pi, di in zip(k, p, d):
        if pi > (di * (ki - 1) + 1) // 2:
            raise ValueError(f"{op}: padding {p} must be at most half of the kernel size {k}")
    h, w = x.shape[-2:]
    out = (_out_size(h, k[0], s[0], p[0], d[0], ceil_mode),
           _out_size(w, k[1], s[1], p[1], d[1], ceil_mode))
    if min(out) < 1:
        raise ShapeError(op, f"input {x.shape} is too small for kernel_size={k}, "
                             f"padding={p}: output would be {out}")
    return k, s, p, d, out


def _pool_padding(x_shape, k, s, p, out) -> tuple:
    """np.pad widths: p on the left/top, and on the right/bottom whatever the
    last window needs (more than p in ceil_mode, possibly less than p)."""
    h, w = x_shape[-2:]
    bottom = max(0, (out[0] - 1) * s[0] + k[0] - h - p[0])
    right = max(0, (out[1] - 1) * s[1] + k[1] - w - p[1])
    return (0, 0), (0, 0), (p[0], bottom), (p[1], right)


class MaxPool2dFn(Function):
    name = "max_pool2d"

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, dilation, ceil_mode):
        # x (N, C, H, W) -> y (N, C, OH, OW); padding is -inf (never selected)
        n, c, h, w = x.shape
        k, s, p = kernel_size, stride, padding
        out = (_out_size(h, k[0], s[0], p[0], 1, ceil_mode), _out_size(w, k[1], s[1], p[1], 1, ceil_mode))
        xp = np.pad(x, _pool_padding(x.shape, k, s, p, out), constant_values=_lowest(x.dtype))
        win = _windows(xp, k, s, (1, 1), out).reshape(n, c, out[0], out[1], k[0] * k[1])
        idx = win.argmax(axis=-1)            # FIRST max in row-major window order (NaN wins)
        ctx.idx, ctx.xp_shape, ctx.x_shape, ctx.geom = idx, xp.shape, x.shape, (k, s, p, out)
        return np.take_along_axis(win, idx[..., None], axis=-1)[..., 0]

    # y[n,c,i,j] = xp[n,c, i*sh + a, j*sw + b], (a, b) = first argmax of the window
    #   dx at that position += g[n,c,i,j]  (overlapping windows accumulate)
    @staticmethod
    def backward(ctx, g):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = ctx.geom
        h, w = ctx.x_shape[-2:]
        dxp = np.zeros(ctx.xp_shape, dtype=g.dtype)
        for a in range(kh):
            rows = _window_slice(a, sh, oh)
            for b in range(kw):
                hit = ctx.idx == a * kw + b
                dxp[:, :, rows, _window_slice(b, sw, ow)] += np.where(hit, g, 0)
        return (dxp[:, :, ph:ph + h, pw:pw + w],)


def max_pool2d(input, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False) -> Tensor:
    """torch.nn.functional.max_pool2d (dilation 1 only)."""
    x = as_tensor(input)
    k, s, p, d, _ = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    if d != (1, 1):
        raise ValueError(f"max_pool2d: only dilation=1 is supported, got {dilation!r}")
    return _batched(x, lambda x4: MaxPool2dFn.apply(x4, kernel_size=k, stride=s, padding=p,
                                                    dilation=d, ceil_mode=bool(ceil_mode)))


def _avg_divisor(size, k, s, p, out, count_include_pad):
    """Per-output-position divisor along one axis, exactly as PyTorch's CPU
    avg_pool2d: the window clipped to [-p, size + p) when count_include_pad,
    else clipped to the real input [0, size)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


class AvgPool2dFn(Function):
    name = "avg_pool2d"

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        # x (N, C, H, W) -> y (N, C, OH, OW); y = window sum / divisor
        h, w = x.shape[-2:]
        k, s, p = kernel_size, stride, padding
        out = (_out_size(h, k[0], s[0], p[0], 1, ceil_mode), _out_size(w, k[1], s[1], p[1], 1, ceil_mode))
        xp = np.pad(x, _pool_padding(x.shape, k, s, p, out))
        sums = _windows(xp, k, s, (1, 1), out).sum(axis=(-2, -1))
        if divisor_override:
            div = np.full(out, divisor_override)
        else:
            div = np.outer(_avg_divisor(h, k[0], s[0], p[0], out[0], count_include_pad),
                           _avg_divisor(w, k[1], s[1], p[1], out[1], count_include_pad))
        div = div.astype(x.dtype)
        ctx.div, ctx.xp_shape, ctx.x_shape, ctx.geom = div, xp.shape, x.shape, (k, s, p, out)
        return sums / div

    # y[n,c,i,j] = sum_{a,b} xp[n,c, i*sh + a, j*sw + b] / div[i,j]
    #   dxp[n,c, i*sh + a, j*sw + b] += g[n,c,i,j] / div[i,j]  for every tap (a, b)
    @staticmethod
    def backward(ctx, g):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = ctx.geom
        h, w = ctx.x_shape[-2:]
        gd = g / ctx.div
        dxp = np.zeros(ctx.xp_shape, dtype=g.dtype)
        for a in range(kh):
            rows = _window_slice(a, sh, oh)
            for b in range(kw):
                dxp[:, :, rows, _window_slice(b, sw, ow)] += gd
        return (dxp[:, :, ph:ph + h, pw:pw + w],)


def avg_pool2d(input, kernel_size: IntPair, stride: Optional[IntPair] = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """torch.nn.functional.avg_pool2d, divisor exactly as PyTorch."""
    x = as_tensor(input)
    k, s, p, _, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"avg_pool2d: divisor_override must be positive, got {divisor_override}")
    return _batched(x, lambda x4: AvgPool2dFn.apply(
        x4, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
        count_include_pad=bool(count_include_pad), divisor_override=divisor_override))


class AdaptiveAvgPool2dFn(Function):
    name = "adaptive_avg_pool2d"

    @staticmethod
    def forward(ctx, x, *, output_size):
        # x (N, C, H, W) -> y (N, C, 1, 1) = mean over H, W
        ctx.x_shape = x.shape
        return x.mean(axis=(2, 3), keepdims=True)

    # y = sum_{h,w} x / (H W):  dx = g / (H W) broadcast over H, W
    @staticmethod
    def backward(ctx, g):
        h, w = ctx.x_shape[-2:]
        return (np.broadcast_to(g / (h * w), ctx.x_shape),)


def adaptive_avg_pool2d(input, output_size: IntPair) -> Tensor:
    """torch.nn.functional.adaptive_avg_pool2d for output size 1 (global average)."""
    x = as_tensor(input)
    if output_size not in (1, (1, 1), [1, 1]):
        raise ValueError(f"adaptive_avg_pool2d: only output_size 1 is supported, got {output_size!r}")
    _check_4d(x, "adaptive_avg_pool2d")
    return _batched(x, lambda x4: AdaptiveAvgPool2dFn.apply(x4, output_size=(1, 1)))


# ---------------------------------------------------------------------------
# normalisation and dropout
# ---------------------------------------------------------------------------

class BatchNormFn(Function):
    name = "batch_norm"

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, *, training, momentum, eps):
        # x (N, C, *): statistics per channel over every dim but 1
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)          # biased variance
            if running_mean is not None:                             # updated in place, as torch
                m = x.size // x.shape[1]
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += momentum * var * (m / (m - 1))         # unbiased variance
        else:
            mean, var = running_mean, running_var
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
        xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
        y = xhat
        if weight is not None:
            y = y * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        ctx.xhat, ctx.invstd, ctx.weight, ctx.training = xhat, invstd, weight, training
        ctx.axes, ctx.shape, ctx.has_bias = axes, shape, bias is not None
        return y

    # xhat = (x - mu) * invstd, y = w * xhat + b  (per channel c)
    #   dw = sum g * xhat,  db = sum g   (sums over every dim but 1, M terms)
    #   eval (mu, invstd constants):  dx = g * w * invstd
    #   training (batch mu, var):     dx = invstd / M * (M dxhat - sum dxhat - xhat sum(dxhat xhat)),
    #                                 dxhat = g * w
    @staticmethod
    def backward(ctx, g):
        xhat, invstd, axes, shape = ctx.xhat, ctx.invstd, ctx.axes, ctx.shape
        w = ctx.weight
        dxhat = g if w is None else g * w.reshape(shape)
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            if ctx.training:
                m = g.size // g.shape[1]
                sum_d = dxhat.sum(axis=axes).reshape(shape)
                sum_dx = (dxhat * xhat).sum(axis=axes).reshape(shape)
                dx = invstd.reshape(shape) / m * (m * dxhat - sum_d - xhat * sum_dx)
            else:
                dx = dxhat * invstd.reshape(shape)
        if w is not None and ctx.needs_input_grad[3]:
            dw = (g * xhat).sum(axis=axes)
        if ctx.has_bias and ctx.needs_input_grad[4]:
            db = g.sum(axis=axes)
        return dx, None, None, dw, db


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.batch_norm. In training mode the batch statistics are
    used and the running statistics (if given) are updated in place."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise ShapeError("batch_norm", f"expected input (N, C, ...), got {x.shape}")
    c = x.shape[1]
    tensors = []
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        t = None if t is None else as_tensor(t)
        if t is not None and t.shape != (c,):
            raise ShapeError("batch_norm", f"expected {name} ({c},) for input {x.shape}, got {t.shape}")
        tensors.append(t)
    if training and x.numel() // c == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input size {x.shape}")
    if not training and (tensors[0] is None or tensors[1] is None):
        raise ValueError("batch_norm: running_mean and running_var are needed in eval mode")
    return BatchNormFn.apply(x, *tensors, training=bool(training), momentum=float(momentum),
                             eps=float(eps))


class DropoutFn(Function):
    name = "dropout"

    @staticmethod
    def forward(ctx, x, *, p, training):
        # inverted dropout: keep with probability 1 - p, scale kept values by 1/(1 - p)
        from .init import get_generator
        keep = get_generator().random(x.shape) >= p
        scale = 0.0 if p >= 1 else 1.0 / (1.0 - p)
        ctx.mask = (keep * scale).astype(x.dtype)
        return x * ctx.mask

    # y = x * mask:  dx = g * mask
    @staticmethod
    def backward(ctx, g):
        return (g * ctx.mask,)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """torch.nn.functional.dropout. Identity (the same Tensor, nothing recorded)
    when not training or p == 0; the mask comes from the nn.manual_seed generator."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = as_tensor(input)
    if not training or p == 0:
        return x
    return DropoutFn.apply(x, p=float(p), training=True)


# ---------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------

class ReluFn(Function):
    name = "relu"

    @staticmethod
    def forward(ctx, x):
        ctx.y = np.maximum(x, 0)
        return ctx.y

    # y = max(x, 0):  dx = g * [y > 0]
    @staticmethod
    def backward(ctx, g):
        return (g * (ctx.y > 0),)


class Relu6Fn(Function):
    name = "relu6"

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return np.clip(x, 0, 6)

    # y = min(max(x, 0), 6):  dx = g * [0 < x < 6]   (torch: hardtanh(0, 6), open interval)
    @staticmethod
    def backward(ctx, g):
        x = ctx.x
        return (g * ((x > 0) & (x < 6)),)


class HardtanhFn(Function):
    name = "hardtanh"

    @staticmethod
    def forward(ctx, x, *, min_val, max_val):
        ctx.x, ctx.lo, ctx.hi = x, min_val, max_val
        return np.clip(x, min_val, max_val)

    # y = clip(x, min_val, max_val):  dx = g * [min_val < x < max_val]   (open, as torch)
    @staticmethod
    def backward(ctx, g):
        x = ctx.x
        return (g * ((x > ctx.lo) & (x < ctx.hi)),)


class ClampFn(Function):
    name = "clamp"

    @staticmethod
    def forward(ctx, x, *, min, max):  # noqa: A002 (PyTorch's argument names)
        ctx.x, ctx.lo, ctx.hi = x, min, max
        return np.clip(x, min, max)

    # y = clamp(x, min, max):  dx = g * [min <= x <= max]   (closed, as torch)
    @staticmethod
    def backward(ctx, g):
        x, keep = ctx.x, np.ones(ctx.x.shape, dtype=bool)
        if ctx.lo is not None:
            keep &= x >= ctx.lo
        if ctx.hi is not None:
            keep &= x <= ctx.hi
        return (g * keep,)


class LeakyReluFn(Function):
    name = "leaky_relu"

    @staticmethod
    def forward(ctx, x, *, negative_slope):
        ctx.x, ctx.slope = x, negative_slope
        return np.where(x > 0, x, x * negative_slope)

    # y = x if x > 0 else slope * x:  dx = g if x > 0 else slope * g
    @staticmethod
    def backward(ctx, g):
        return (np.where(ctx.x > 0, g, g * ctx.slope),)


class SigmoidFn(Function):
    name = "sigmoid"

    @staticmethod
    def forward(ctx, x):
        e = np.exp(-np.abs(x))                       # never overflows
        ctx.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return ctx.y

    # y = 1 / (1 + e^-x):  dx = g * y * (1 - y)
    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        return (g * y * (1 - y),)


class TanhFn(Function):
    name = "tanh"

    @staticmethod
    def forward(ctx, x):
        ctx.y = np.tanh(x)
        return ctx.y

    # y = tanh x:  dx = g * (1 - y^2)
    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        return (g * (1 - y * y),)


class StepFn(Function):
    name = "step"

    @staticmethod
    def forward(ctx, x):
        return (x > 0).astype(x.dtype)

    # y = [x > 0] (Heaviside, 0 at 0):  dx = 0 (flat almost everywhere)
    @staticmethod
    def backward(ctx, g):
        return (np.zeros_like(g),)


class SoftmaxFn(Function):
    name = "softmax"

    @staticmethod
    def forward(ctx, x, *, dim):
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        ctx.y, ctx.dim = e / e.sum(axis=dim, keepdims=True), dim
        return ctx.y

    # y_i = e^{x_i} / sum_j e^{x_j}:  dx_i = y_i * (g_i - sum_j g_j y_j)
    @staticmethod
    def backward(ctx, g):
        y = ctx.y
        return (y * (g - (g * y).sum(axis=ctx.dim, keepdims=True)),)


class LogSoftmaxFn(Function):
    name = "log_softmax"

    @staticmethod
    def forward(ctx, x, *, dim):
        z = x - x.max(axis=dim, keepdims=True)
        ctx.y, ctx.dim = z - np.log(np.exp(z).sum(axis=dim, keepdims=True)), dim
        return ctx.y

    # y_i = x_i - log sum_j e^{x_j}:  dx_i = g_i - e^{y_i} * sum_j g_j
    @staticmethod
    def backward(ctx, g):
        return (g - np.exp(ctx.y) * g.sum(axis=ctx.dim, keepdims=True),)


def relu(input, inplace: bool = False) -> Tensor:
    return ReluFn.apply(as_tensor(input))


def relu6(input, inplace: bool = False) -> Tensor:
    return Relu6Fn.apply(as_tensor(input))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    if max_val <= min_val:
        raise ValueError(f"hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
    return HardtanhFn.apply(as_tensor(input), min_val=float(min_val), max_val=float(max_val))


def clamp(input, min: Optional[float] = None, max: Optional[float] = None) -> Tensor:  # noqa: A002
    """torch.clamp with scalar bounds (gradient passes on the closed interval)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return ClampFn.apply(as_tensor(input), min=None if min is None else float(min),
                         max=None if max is None else float(max))


clip = clamp


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return LeakyReluFn.apply(as_tensor(input), negative_slope=float(negative_slope))


def sigmoid(input) -> Tensor:
    return SigmoidFn.apply(as_tensor(input))


def tanh(input) -> Tensor:
    return TanhFn.apply(as_tensor(input))


def step(input) -> Tensor:
    """Heaviside step: 1 where x > 0 else 0, with zero gradient."""
    return StepFn.apply(as_tensor(input))


heaviside = step


def _softmax_dim(ndim: int, dim: Optional[int]) -> int:
    if dim is None:             # PyTorch's legacy implicit dim
        dim = 0 if ndim in (0, 1, 3) else 1
    return _normalize_dim(dim, ndim)


def softmax(input, dim: Optional[int] = None) -> Tensor:
    x = as_tensor(input)
    return SoftmaxFn.apply(x, dim=_softmax_dim(x.ndim, dim))


def log_softmax(input, dim: Optional[int] = None) -> Tensor:
    x = as_tensor(input)
    return LogSoftmaxFn.apply(x, dim=_softmax_dim(x.ndim, dim))


def flatten(input, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """torch.flatten(input, start_dim, end_dim) with start_dim=1 by default."""
    x = as_tensor(input)
    try:
        dims = _flatten_dims(x.ndim, start_dim, end_dim)
    except IndexError:
        raise ShapeError("flatten", f"start_dim={start_dim}, end_dim={end_dim} out of range for "
                                    f"input {x.shape}") from None
    return FlattenFn.apply(x, **dims)


# ---------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.asarray(values.mean(), dtype=values.dtype)
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype)
    return values


def _unreduce(g: np.ndarray, shape: tuple, reduction: str) -> np.ndarray:
    """Gradient of the reduction: d(mean)/dv = 1/n, d(sum)/dv = 1, none = g."""
    if reduction == "mean":
        n = int(np.prod(shape))
        return np.broadcast_to(g / n if n else g, shape)
    if reduction == "sum":
        return np.broadcast_to(g, shape)
    return g


def _check_reduction(reduction: str, op: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


class MseLossFn(Function):
    name = "mse_loss"

    @staticmethod
    def forward(ctx, x, t, *, reduction):
        ctx.d, ctx.reduction = x - t, reduction
        return _reduce(ctx.d * ctx.d, reduction)

    # l = reduce((x - t)^2):  dx = 2 (x - t) * dl/dv,  dt = -dx
    @staticmethod
    def backward(ctx, g):
        dx = 2 * ctx.d * _unreduce(g, ctx.d.shape, ctx.reduction)
        return dx, -dx


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    x, t = as_tensor(input), as_tensor(target)
    if x.shape != t.shape:
        raise ShapeError("mse_loss", f"input {x.shape} and target {t.shape} must have the same shape")
    return MseLossFn.apply(x, t, reduction=_check_reduction(reduction, "mse_loss"))


def _class_target(op: str, x: Tensor, target) -> Tensor:
    """Validate an integer class target (N, d1, ...) for input (N, C, d1, ...)."""
    t = as_tensor(target)
    if t.dtype.kind not in "iu":
        raise ValueError(f"{op}: class targets must be integers, got {t.dtype}")
    want = (x.shape[0],) + x.shape[2:]
    if t.shape != want:
        raise ShapeError(op, f"expected target {want} for input {x.shape}, got {t.shape}")
    c = x.shape[1]
    bad = t.data[(t.data < 0) | (t.data >= c)]
    if bad.size:
        raise ValueError(f"{op}: target {int(bad.flat[0])} is out of range for {c} classes")
    return t


class CrossEntropyFn(Function):
    name = "cross_entropy"

    @staticmethod
    def forward(ctx, z, t, *, reduction):
        # z (N, C, *) logits; t (N, *) class indices or (N, C, *) probabilities
        zs = z - z.max(axis=1, keepdims=True)
        logp = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        if t.dtype.kind in "iu":
            onehot = np.zeros_like(p)
            np.put_along_axis(onehot, t[:, None], 1, axis=1)
            losses = -np.take_along_axis(logp, t[:, None], axis=1)[:, 0]
            ctx.dz = p - onehot                         # dl_i/dz_i for each sample
            ctx.dt = None
        else:
            losses = -(t * logp).sum(axis=1)
            ctx.dz = p * t.sum(axis=1, keepdims=True) - t
            ctx.dt = -logp
        ctx.reduction, ctx.loss_shape = reduction, losses.shape
        return _reduce(losses, reduction)

    # l_n = -log softmax(z_n)[t_n]:  dz_n = g_n * (softmax(z_n) - onehot(t_n))
    # probability targets: l_n = -sum_c t_nc log p_nc:  dz_n = g_n (p_n sum_c t_nc - t_n),
    #                                                    dt_n = -g_n log p_n
    # (g_n = g / N for mean, g for sum)
    @staticmethod
    def backward(ctx, g):
        gl = np.expand_dims(_unreduce(g, ctx.loss_shape, ctx.reduction), 1)
        dt = None if ctx.dt is None else gl * ctx.dt
        return gl * ctx.dz, dt


def cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    """torch.nn.functional.cross_entropy for logits (N, C, *) or (C,) with integer
    class targets (N, *) / () or class-probability targets of the input's shape."""
    x = as_tensor(input)
    _check_reduction(reduction, "cross_entropy")
    t = as_tensor(target)
    if x.ndim == 1:                                    # unbatched (C,)
        y = cross_entropy(x.reshape(1, -1), t.reshape(1, *t.shape), reduction)
        return y.reshape(()) if reduction == "none" else y
    if x.ndim < 2:
        raise ShapeError("cross_entropy", f"expected input (N, C, ...), got {x.shape}")
    if t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ShapeError("cross_entropy", f"probability target {t.shape} must match input {x.shape}")
    else:
        t = _class_target("cross_entropy", x, t)
    return CrossEntropyFn.apply(x, t, reduction=reduction)


class NllLossFn(Function):
    name = "nll_loss"

    @staticmethod
    def forward(ctx, logp, t, *, reduction):
        # logp (N, C, *) log-probabilities, t (N, *) class indices
        ctx.shape, ctx.dtype, ctx.t, ctx.reduction = logp.shape, logp.dtype, t, reduction
        losses = -np.take_along_axis(logp, t[:, None], axis=1)[:, 0]
        return _reduce(losses, reduction)

    # l_n = -logp[n, t_n]:  dlogp[n, t_n] = -g_n, zero elsewhere
    @staticmethod
    def backward(ctx, g):
        gl = _unreduce(g, ctx.t.shape, ctx.reduction)
        d = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.put_along_axis(d, ctx.t[:, None], -np.expand_dims(gl, 1), axis=1)
        return d, None


def nll_loss(input, target, reduction: str = "mean") -> Tensor:
    x = as_tensor(input)
    _check_reduction(reduction, "nll_loss")
    if x.ndim < 2:
        raise ShapeError("nll_loss", f"expected input (N, C, ...), got {x.shape}")
    return NllLossFn.apply(x, _class_target("nll_loss", x, target), reduction=reduction)
