"""The tutorial's LeNet variant with 3x3 convolutions (takes 1x32x32 or 1x30x30 input).

    conv1 1->6 3x3 -> ReLU -> maxpool 2   (32: 6x30x30 -> 6x15x15; 30: 6x28x28 -> 6x14x14)
    conv2 6->16 3x3 -> ReLU -> maxpool 2  (32: 16x13x13 -> 16x6x6;  30: 16x12x12 -> 16x6x6)
    flatten 576 -> fc1 120 -> ReLU -> fc2 84 -> ReLU -> fc3 10
"""

import pyconvert.nn as nn
import pyconvert.nn.functional as F

INPUT_SHAPE = (1, 1, 32, 32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 6 * 6, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, self.num_flat_features(x))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)

    def num_flat_features(self, x):
        num_features = 1
        for s in x.size()[1:]:
            num_features *= s
        return num_features


def build_model() -> nn.Module:
    return Net()
