"""Loss modules (torch.nn.MSELoss, CrossEntropyLoss, NLLLoss); ``loss(input, target)``."""

from __future__ import annotations

from . import functional as F
from .module import Module
from .tensor import Tensor

__all__ = ["MSELoss", "CrossEntropyLoss", "NLLLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F._check_reduction(reduction, self._get_name())
        self.reduction = reduction


class MSELoss(_Loss):
    """mean((input - target)^2); input and target must have the same shape."""

    def forward(self, input, target) -> Tensor:  # noqa: A002 (PyTorch's names)
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """log_softmax + nll over dim 1; target: class indices (int) or probabilities."""

    def forward(self, input, target) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (e.g. after LogSoftmax(dim=1))."""

    def forward(self, input, target) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, reduction=self.reduction)
