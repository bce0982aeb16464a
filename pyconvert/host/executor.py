"""Run a pyconvert.nn.Sequential through the C kernels: forward, backward, optimizer step.

This is the host-side twin of what the generated schedule does on the device, kept
deliberately plain: one C kernel call per layer, activations NHWC, parameters owned
by the model (the numpy arrays inside its Parameters are updated in place).

    ex = SequentialExecutor(model, loss="mse", optimizer="sgd", lr=0.5)
    loss = ex.train_step(x, y)        # x NCHW float32, y targets (mse) or labels (ce)
    y = ex.forward(x)                 # NCHW in, PyTorch-shaped out

Flatten after a convolution: the device flattens NHWC, PyTorch flattens NCHW. The
following Linear therefore runs with its weight columns permuted from (C,H,W) to
(H,W,C) order, and its weight gradient is permuted back, so results equal PyTorch's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import kernels as K

ACTIVATIONS = {  # module class name -> (forward, backward) over NHWC arrays
    "ReLU": (K.relu, K.relu_backward),
    "Sigmoid": (K.sigmoid, K.sigmoid_backward),
    "Tanh": (K.tanh, K.tanh_backward),
    "Step": (K.step, K.step_backward),
}
PASSTHROUGH = {"Identity", "Dropout"}


@dataclass
class _Step:
    """One layer of the executed schedule and what backward needs from forward."""
    module: object
    kind: str
    x: np.ndarray | None = None        # input as seen by the kernel (NHWC)
    y: np.ndarray | None = None        # output (NHWC)
    flat_from: tuple | None = None     # Linear after Flatten of (H, W, C)
    state: dict = field(default_factory=dict)


def _nhwc_columns(w: np.ndarray, hwc: tuple) -> np.ndarray:
    """W (O, C*H*W) in NCHW-flatten order -> (O, H*W*C) in NHWC-flatten order."""
    h, wd, c = hwc
    return np.ascontiguousarray(w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1))


def _nchw_columns(g: np.ndarray, hwc: tuple) -> np.ndarray:
    h, wd, c = hwc
    return np.ascontiguousarray(g.reshape(-1, h, wd, c).transpose(0, 3, 1, 2).reshape(g.shape[0], -1))


class SequentialExecutor:
    def __init__(self, model, loss: str = "mse", optimizer: str = "sgd", **hyper):
        if loss not in ("mse", "ce"):
            raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}")
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
        self.model, self.loss, self.optimizer, self.hyper = model, loss, optimizer, hyper
        self.steps = [_Step(m, type(m).__name__) for m in model]
        supported = {"Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
                     "Flatten", "ReLU6", "Hardtanh", "LeakyReLU", "Softmax", "LogSoftmax",
                     *ACTIVATIONS, *PASSTHROUGH}
        for i, s in enumerate(self.steps):
            if s.kind not in supported:
                raise ValueError(f"layer {i} ({s.kind}) is not supported by the host executor; "
                                 f"supported: {', '.join(sorted(supported))}")
        self.t = 0
        self.opt_state = {id(p): {} for p in model.parameters()}

    # ---- forward -----------------------------------------------------------------------

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x NCHW (or (N, features)) -> output in PyTorch's layout."""
        a = np.asarray(x, np.float32)
        if a.ndim == 4:
            a = np.ascontiguousarray(a.transpose(0, 2, 3, 1))
        flat_from = None
        for s in self.steps:
            s.x = a
            a, flat_from = self._forward_one(s, a, flat_from)
            s.y = a
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2)) if a.ndim == 4 else a

    def _forward_one(self, s: _Step, a, flat_from):
        m, kind = s.module, s.kind
        if kind == "Flatten":
            return a, (a.shape[1:] if a.ndim == 4 else None)
        if kind == "Linear":
            s.flat_from = flat_from
            w = m.weight.data if flat_from is None else _nhwc_columns(m.weight.data, flat_from)
            bias = None if m.bias is None else m.bias.data
            return K.linear(a.reshape(a.shape[0], -1), w, bias), None
        if kind == "Conv2d":
            w = np.ascontiguousarray(m.weight.data.transpose(0, 2, 3, 1))
            bias = None if m.bias is None else m.bias.data
            return K.conv2d(a, w, bias, m.stride, m.padding, m.dilation, m.groups), None
        if kind == "MaxPool2d":
            return K.maxpool2d(a, m.kernel_size, m.stride, m.padding, m.ceil_mode), None
        if kind == "AvgPool2d":
            return K.avgpool2d(a, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                               m.count_include_pad), None
        if kind == "AdaptiveAvgPool2d":
            return K.global_avgpool(a), None
        if kind in ACTIVATIONS:
            return ACTIVATIONS[kind][0](a), flat_from
        if kind == "ReLU6":
            return K.clip(a, 0.0, 6.0), flat_from
        if kind == "Hardtanh":
            return K.clip(a, m.min_val, m.max_val), flat_from
        if kind == "LeakyReLU":
            return K.leaky_relu(a, m.negative_slope), flat_from
        if kind in ("Softmax", "LogSoftmax"):
            fn = K.softmax if kind == "Softmax" else K.log_softmax
            return fn(a), flat_from
        return a, flat_from  # Identity, Dropout (inference semantics)

    # ---- backward ----------------------------------------------------------------------

    def backward(self, d_out: np.ndarray) -> None:
        """Accumulate parameter gradients into each Parameter's .grad (PyTorch layout)."""
        d = np.asarray(d_out, np.float32)
        for i in range(len(self.steps) - 1, -1, -1):
            d = self._backward_one(self.steps[i], d, need_dx=i > 0)

    def _backward_one(self, s: _Step, d, need_dx: bool):
        m, kind = s.module, s.kind
        d = d.reshape(s.y.shape)
        if kind == "Linear":
            w = m.weight.data if s.flat_from is None else _nhwc_columns(m.weight.data, s.flat_from)
            x = s.x.reshape(s.x.shape[0], -1)
            need = ("w", "b") + (("x",) if need_dx else ())
            dx, dw, db = K.linear_backward(x, w, d, need=need)
            _accumulate(m.weight, dw if s.flat_from is None else _nchw_columns(dw, s.flat_from))
            if m.bias is not None:
                _accumulate(m.bias, db)
            return None if dx is None else dx.reshape(s.x.shape)
        if kind == "Conv2d":
            w = np.ascontiguousarray(m.weight.data.transpose(0, 2, 3, 1))
            need = ("w", "b") + (("x",) if need_dx else ())
            dx, dw, db = K.conv2d_backward(s.x, w, d, m.stride, m.padding, m.dilation, m.groups,
                                           need=need)
            _accumulate(m.weight, dw.transpose(0, 3, 1, 2))
            if m.bias is not None:
                _accumulate(m.bias, db)
            return dx
        if not need_dx:
            return None
        if kind == "MaxPool2d":
            return K.maxpool2d_backward(s.x, d, m.kernel_size, m.stride, m.padding, m.ceil_mode)
        if kind == "AvgPool2d":
            return K.avgpool2d_backward(s.x.shape, d, m.kernel_size, m.stride, m.padding,
                                        m.ceil_mode, m.count_include_pad)
        if kind == "AdaptiveAvgPool2d":
            return K.global_avgpool_backward(s.x.shape, d)
        if kind in ACTIVATIONS:
            return ACTIVATIONS[kind][1](s.y, d)
        if kind == "ReLU6":
            return K.clip_backward(s.y, d, 0.0, 6.0)
        if kind == "Hardtanh":
            return K.clip_backward(s.y, d, m.min_val, m.max_val)
        if kind == "LeakyReLU":
            return K.leaky_relu_backward(s.y, d, m.negative_slope)
        if kind == "Softmax":
            return K.softmax_backward(s.y, d)
        if kind == "LogSoftmax":
            return K.log_softmax_backward(s.y, d)
        return d.reshape(s.x.shape)  # Flatten, Identity, Dropout

    # ---- a whole training step -----------------------------------------------------------

    def train_step(self, x: np.ndarray, target: np.ndarray) -> float:
        """zero_grad, forward, loss, backward, optimizer step; returns the loss."""
        for p in self.model.parameters():
            p.grad = np.zeros_like(p.data)
        out = self.forward(x)
        if self.loss == "mse":
            loss, d = K.mse_loss(out, np.asarray(target, np.float32).reshape(out.shape))
        else:
            loss, d = K.cross_entropy(out.reshape(out.shape[0], -1), target)
        if out.ndim == 4:
            d = d.reshape(out.shape).transpose(0, 2, 3, 1)
        self.backward(d)
        self.t += 1
        for p in self.model.parameters():
            self._update(p)
        return loss

    def _update(self, p) -> None:
        state = self.opt_state[id(p)]
        if not state:
            state.update({k: np.zeros(p.data.size, np.float32) for k in
                          (("buf",) if self.optimizer == "sgd" else ("m", "v"))})
        flat = np.ascontiguousarray(p.data, np.float32).reshape(-1)
        if self.optimizer == "sgd":
            K.sgd_step(flat, p.grad.reshape(-1), state["buf"], self.t, **self.hyper)
        else:
            K.adam_step(flat, p.grad.reshape(-1), state["m"], state["v"], self.t, **self.hyper)
        p.data[...] = flat.reshape(p.data.shape)


def _accumulate(param, g: np.ndarray) -> None:
    g = g.reshape(param.data.shape)
    param.grad = g.copy() if param.grad is None else param.grad + g
