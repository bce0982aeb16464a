"""Weight initialisation, PyTorch's formulas, driven by one numpy Generator.

``manual_seed(seed)`` replaces the module-level generator (seed 0 at import),
so building the same model after the same seed gives the same weights. The
values are NOT bit-equal to torch's (different RNG); the distributions are.

Every ``*_`` function fills its Tensor (or numpy array) in place and returns it.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .tensor import Tensor

__all__ = [
    "manual_seed", "get_generator", "calculate_gain", "uniform_", "normal_", "constant_",
    "zeros_", "ones_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
]

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seed the generator behind init, nn.randn/rand and dropout masks."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def get_generator() -> np.random.Generator:
    return _generator


def _array(t) -> np.ndarray:
    return t.data if isinstance(t, Tensor) else t


def _fill(t, values: np.ndarray):
    arr = _array(t)
    arr[...] = values.astype(arr.dtype, copy=False)
    return t


def _fan_in_and_fan_out(t) -> tuple[int, int]:
    """fan_in = size(1) * receptive field, fan_out = size(0) * receptive field."""
    shape = _array(t).shape
    if len(shape) < 2:
        raise ValueError("fan in and fan out can not be computed for a tensor with fewer than 2 dimensions")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity}")


def uniform_(t, a: float = 0.0, b: float = 1.0):
    return _fill(t, _generator.uniform(a, b, _array(t).shape))


def normal_(t, mean: float = 0.0, std: float = 1.0):
    return _fill(t, _generator.normal(mean, std, _array(t).shape))


def constant_(t, val: float):
    _array(t)[...] = val
    return t


def zeros_(t):
    return constant_(t, 0)


def ones_(t):
    return constant_(t, 1)


def _fan(t, mode: str) -> int:
    fan_in, fan_out = _fan_in_and_fan_out(t)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode} not supported, use fan_in or fan_out")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """U(-bound, bound), bound = gain * sqrt(3 / fan). With a=sqrt(5) (PyTorch's
    default for Linear/Conv2d weights) bound = 1/sqrt(fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode))
    return normal_(t, 0.0, std)


def xavier_uniform_(t, gain: float = 1.0):
    fan_in, fan_out = _fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain: float = 1.0):
    fan_in, fan_out = _fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def default_layer_init_(weight, bias) -> None:
    """PyTorch's reset_parameters for Linear and Conv2d: weight
    kaiming_uniform_(a=sqrt(5)) (bound 1/sqrt(fan_in)); bias U(+-1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)
