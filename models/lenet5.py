"""LeNet-5 as in the PyTorch "Neural Networks" tutorial: 1x32x32 input, 5x5 convs.

    conv1 1->6 5x5 -> ReLU -> maxpool 2   (6x28x28 -> 6x14x14)
    conv2 6->16 5x5 -> ReLU -> maxpool 2  (16x10x10 -> 16x5x5)
    flatten 400 -> fc1 120 -> ReLU -> fc2 84 -> ReLU -> fc3 10
"""

import pyconvert.nn as nn
import pyconvert.nn.functional as F

INPUT_SHAPE = (1, 1, 32, 32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)   # a square window can be one number
        x = x.view(-1, self.num_flat_features(x))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)

    def num_flat_features(self, x):
        size = x.size()[1:]                          # all dimensions except the batch
        num_features = 1
        for s in size:
            num_features *= s
        return num_features


def build_model() -> nn.Module:
    return Net()
