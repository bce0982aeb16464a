"""Shared set-up of the int8 tests and benchmarks/int8_accuracy.py: trained models and
quantized ONNX files.

- ``trained(name)``: digits_cnn (8x8 digits) or lenet5 (the digits upsampled to 32x32)
  trained in float with torch (seeded, Adam, batch 32), loaded into our model through
  its state_dict and traced to an IR graph; with the data split.
- ``export_quantized(torch_model, x_calib, path, fmt, ...)``: torch -> ONNX ->
  onnxruntime.quantization.quantize_static (QDQ or QOperator, per-channel weights).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np

from pyconvert.importers.model_file import load_module, trace

EPOCHS = {"digits_cnn": 40, "lenet5": 20}
LR = {"digits_cnn": 1e-2, "lenet5": 2e-3}


def upsample_32(x: np.ndarray) -> np.ndarray:
    """8x8 digits -> 32x32 by repeating each pixel 4x4 (nearest neighbour)."""
    return np.kron(x, np.ones((1, 1, 4, 4), np.float32)).astype(np.float32)


def digits(name: str):
    """(x_train, y_train, x_test, y_test) shaped for model `name`."""
    from pyconvert.models.digits_cnn import load_digits_split
    xtr, ytr, xte, yte = load_digits_split()
    if name == "lenet5":
        xtr, xte = upsample_32(xtr), upsample_32(xte)
    return xtr, ytr, xte, yte


def torch_model(name: str):
    """The torch twin of models/<name>.py: the same layers in the same order."""
    import torch
    from torch import nn as tnn
    F = torch.nn.functional
    if name == "digits_cnn":
        return tnn.Sequential(tnn.Conv2d(1, 8, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                              tnn.Conv2d(8, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                              tnn.Flatten(), tnn.Linear(64, 10))

    class LeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = tnn.Conv2d(1, 6, 5), tnn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = tnn.Linear(400, 120), tnn.Linear(120, 84), tnn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    return LeNet5()


@dataclass
class Trained:
    name: str
    torch_model: object        # trained torch module (eval mode)
    graph: object              # our IR graph with the trained weights
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@functools.lru_cache(maxsize=None)
def trained(name: str, seed: int = 0) -> Trained:
    """Train model `name` in float with torch on the digits train split (seeded)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # small batches: one thread is faster, and robust to a busy machine
    try:
        return _train(name, seed)
    finally:
        torch.set_num_threads(threads)


def _train(name: str, seed: int) -> Trained:
    import torch
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = digits(name)
    model = torch_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=LR[name])
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS[name]):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    ours = load_module(name).build_model()
    ours.load_state_dict(_by_position(ours.state_dict(), model.state_dict()))
    ours.eval()
    graph = trace(ours, (1,) + xtr.shape[1:], name)
    return Trained(name, model, graph, xtr, ytr, xte, yte)


def _by_position(ours: dict, theirs: dict) -> dict:
    """torch's state_dict under our model's names: the same layers in the same order
    (whatever each side calls them), shapes checked by load_state_dict."""
    if len(ours) != len(theirs):
        raise ValueError(f"{len(theirs)} torch tensors for {len(ours)} parameters")
    return dict(zip(ours, theirs.values()))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits.reshape(len(labels), -1), axis=1) == labels))


def export_quantized(model, x_calib: np.ndarray, path, fmt: str = "qdq",
                     activations: str = "int8", per_channel: bool = True):
    """Export a float torch model to ONNX and quantize it with onnxruntime's
    quantize_static (fmt "qdq" or "qoperator"; activations "int8" or "uint8";
    weights int8 symmetric). Returns the quantized file's path."""
    import torch
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    float_path = str(path) + ".float.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x_calib[:1]),), float_path, dynamo=False,
                          input_names=["x"], output_names=["y"])

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter([{"x": x_calib[i:i + 1]} for i in range(len(x_calib))])

        def get_next(self):
            return next(self.samples, None)

    logging.disable(logging.WARNING)           # quantize_static's pre-processing advice
    try:
        quantize_static(float_path, str(path), Reader(),
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        per_channel=per_channel, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QInt8 if activations == "int8" else QuantType.QUInt8)
    finally:
        logging.disable(logging.NOTSET)
    return path


def onnxruntime_int8(path, x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """onnxruntime's output for x, as the int8 values it dequantized (round(y/s) + zp)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    return np.round(y / np.float32(scale)).astype(np.int64) + zero_point
