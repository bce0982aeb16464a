"""The 2-4-4-1 MLP from the tutorials that learns a logic gate (OR, AND).

    fc1: Linear(2, 4) -> ReLU -> fc2: Linear(4, 4) -> ReLU -> fc3: Linear(4, 1)

As in the tutorial (`y = F.relu(self.fc1(x)); y = F.relu(self.fc2(y)); return self.fc3(y)`),
written as a Sequential with the tutorial's layer names so the parameter names
(fc1.weight, ...) are the same as in the PyTorch model.
"""

from collections import OrderedDict

import pyconvert.nn as nn

INPUT_SHAPE = (4, 2)  # the whole truth table as one batch


def build_model() -> nn.Module:
    return nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(2, 4)),
        ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(4, 4)),
        ("relu2", nn.ReLU()),
        ("fc3", nn.Linear(4, 1)),
    ]))
