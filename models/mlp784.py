"""The tutorials' MNIST MLP: 784-512-512-10 with a ReLU after every Linear.

    Flatten (1x28x28 -> 784) -> Linear 512 -> ReLU -> Linear 512 -> ReLU -> Linear 10 -> ReLU

(The PyTorch quick-start tutorial puts a ReLU after the last Linear too; kept as written.)
"""

import pyconvert.nn as nn

INPUT_SHAPE = (1, 1, 28, 28)


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
            nn.ReLU(),
        )

    def forward(self, x):
        x = self.flatten(x)
        return self.linear_relu_stack(x)


def build_model() -> nn.Module:
    return NeuralNetwork()
