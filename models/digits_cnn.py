"""A small CNN for scikit-learn's bundled 8x8 handwritten digits (1,797 real samples).

    conv1 1->8 3x3 pad 1 -> ReLU -> maxpool 2    (8x8x8 -> 8x4x4)
    conv2 8->16 3x3 pad 1 -> ReLU -> maxpool 2   (16x4x4 -> 16x2x2)
    flatten 64 -> fc 10

1,898 parameters, 23,680 MACs: small enough to fine-tune on a Cortex-M4 with 128 KB of RAM.
The data ships inside scikit-learn (no download); `load_digits_split()` returns it
scaled to [0, 1] as float32 NCHW with a fixed train/test split.
"""

from collections import OrderedDict

import numpy as np

import pyconvert.nn as nn

INPUT_SHAPE = (1, 1, 8, 8)


def build_model() -> nn.Module:
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 8, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(8, 16, 3, padding=1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(16 * 2 * 2, 10)),
    ]))


def load_digits_split(test_fraction: float = 0.25, seed: int = 0):
    """(x_train, y_train, x_test, y_test): x float32 (N, 1, 8, 8) in [0, 1], y int64.

    Needs scikit-learn (an optional extra: pip install scikit-learn)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("the digits data ships with scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
