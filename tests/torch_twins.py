"""PyTorch twins of the bundled seed models, with the same initial weights, and their
ONNX exports: the external oracles for the converter (tests and benchmarks)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

import pyconvert.nn as nn
from pyconvert.importers.model_file import load_module


def torch_twin(name: str):
    """The bundled model rebuilt in PyTorch, loaded with our seeded initial weights."""
    import torch
    T, F = torch.nn, torch.nn.functional

    class LeNet(T.Module):
        def __init__(self, k: int, flat: int):
            super().__init__()
            self.conv1, self.conv2 = T.Conv2d(1, 6, k), T.Conv2d(6, 16, k)
            self.fc1, self.fc2, self.fc3 = T.Linear(flat, 120), T.Linear(120, 84), T.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(x.size(0), -1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class MLP(T.Module):
        def __init__(self):
            super().__init__()
            self.flatten = T.Flatten()
            self.linear_relu_stack = T.Sequential(T.Linear(784, 512), T.ReLU(), T.Linear(512, 512),
                                                  T.ReLU(), T.Linear(512, 10), T.ReLU())

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))

    models = {
        "lenet5": lambda: LeNet(5, 400),
        "lenet3x3": lambda: LeNet(3, 576),
        "mlp784": MLP,
        "logic_mlp": lambda: T.Sequential(OrderedDict([
            ("fc1", T.Linear(2, 4)), ("relu1", T.ReLU()), ("fc2", T.Linear(4, 4)),
            ("relu2", T.ReLU()), ("fc3", T.Linear(4, 1))])),
        "digits_cnn": lambda: T.Sequential(OrderedDict([
            ("conv1", T.Conv2d(1, 8, 3, padding=1)), ("relu1", T.ReLU()), ("pool1", T.MaxPool2d(2)),
            ("conv2", T.Conv2d(8, 16, 3, padding=1)), ("relu2", T.ReLU()), ("pool2", T.MaxPool2d(2)),
            ("flatten", T.Flatten()), ("fc", T.Linear(64, 10))])),
    }
    model = models[name]()
    nn.manual_seed(0)                        # the seed the model-file importer uses
    ours = load_module(name).build_model()
    model.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return model.eval()


def export_onnx(name: str, path, dynamo: bool = False) -> None:
    """torch.onnx.export of the twin at the model file's INPUT_SHAPE."""
    import torch
    shape = load_module(name).INPUT_SHAPE
    torch.onnx.export(torch_twin(name), (torch.zeros(shape),), str(path), dynamo=dynamo)


def onnxruntime_run(path, x: np.ndarray) -> np.ndarray:
    """onnxruntime on x, one model-batch at a time."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batch = session.get_inputs()[0].shape[0]
    step = batch if isinstance(batch, int) else len(x)
    return np.concatenate([session.run(None, {name: x[i:i + step]})[0]
                           for i in range(0, len(x), step)])
