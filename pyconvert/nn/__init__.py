"""pyconvert.nn: a PyTorch-shaped numpy library (float reference + model definition).

    import pyconvert.nn as nn
    import pyconvert.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.fc1 = nn.Linear(6 * 14 * 14, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            return self.fc1(x.view(-1, 6 * 14 * 14))

Semantics are PyTorch's (NCHW, OIHW weights, float32 by default; float64
works too). Autograd is a small reverse-mode tape over numpy arrays (see
``tensor.py``); every op records ``Tensor.op`` (name, inputs, attrs) for the
converter -- the op names and attributes are listed in ``OP_ATTRS``.
Weights are initialised like PyTorch from a numpy generator that
``nn.manual_seed(seed)`` resets (seed 0 at import). torch is never imported.
"""

from . import functional, init
from .functional import ShapeError
from .init import manual_seed
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                     Hardtanh, Identity, LeakyReLU, Linear, LogSoftmax, MaxPool2d, ReLU, ReLU6, Sigmoid,
                     Softmax, Step, Tanh)
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential
from .tensor import (OP_ATTRS, Function, OpRecord, Tensor, arange, as_tensor, enable_grad, from_numpy,
                     is_grad_enabled, no_grad, ones, ones_like, rand, randn, tensor, zeros, zeros_like)

__all__ = [
    "functional", "init", "manual_seed", "ShapeError",
    "Tensor", "Function", "OpRecord", "OP_ATTRS", "tensor", "as_tensor", "from_numpy", "zeros", "ones",
    "zeros_like", "ones_like", "randn", "rand", "arange", "no_grad", "enable_grad", "is_grad_enabled",
    "Module", "Parameter", "Sequential", "ModuleList",
    "Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten", "ReLU", "ReLU6",
    "Hardtanh", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Step", "Dropout", "Identity",
    "BatchNorm1d", "BatchNorm2d", "MSELoss", "CrossEntropyLoss", "NLLLoss",
]
