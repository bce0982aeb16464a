"""Run a converted model (OUTDIR from `pyconvert convert`) on this machine.

runtime_c and the generated `<name>.c` are compiled together into one cffi
extension (cached by content hash, see build.py), and `<name>_forward` is called
once per sample: a model converted for batch 1, as most MCU models are, takes any
number of samples N and returns N rows.

Inputs and outputs are in the source model's layout (NCHW, as you would feed the
PyTorch/ONNX model); the NHWC transposition happens here, as the device expects.

An int8 model (model.json "dtype": "int8") keeps the float-in / float-out contract of
``run``: the input is quantized and the output dequantized here with exactly the C
rules of mt_quantize_s8 / mt_dequantize_s8 (pyconvert.quant.int_reference, float32
arithmetic, round half away from zero). ``run_raw`` returns the int8 output itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..convert import read_meta
from .build import build_extension, header_cdef, runtime_archive, runtime_dir, runtime_headers


class ModelError(ValueError):
    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def _nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def _nchw(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


def _device_shape(shape: tuple) -> tuple:
    """NCHW (or (N, K)) -> the device's NHWC shape."""
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else tuple(shape)


class HostModel:
    def __init__(self, outdir):
        self.outdir = Path(outdir).resolve()   # cffi compiles in a temporary directory
        self.meta = read_meta(self.outdir)
        name = self.meta["name"]
        header = self.outdir / f"{name}.h"
        root = runtime_dir()
        module = build_extension(
            f"_mt_model_{name}",
            cdef=header_cdef(runtime_headers() + [header]),
            prelude=f'#include "{name}.h"\n',
            sources=[self.outdir / f"{name}.c"],
            include_dirs=[root / "include", root / "src" / "support", self.outdir],
            objects=[runtime_archive()],
        )
        self.ffi, self.lib = module.ffi, module.lib
        self.forward_fn = getattr(self.lib, f"{name}_forward")
        self.input_shape = tuple(self.meta["input_shape"])
        self.output_shape = tuple(self.meta["output_shape"])
        self.arena = np.zeros((self.meta["arena_size"] + 3) // 4, np.float32)  # 4-byte aligned
        self.dtype = self.meta.get("dtype", "float32")
        self.train_meta = self.meta.get("train")
        if self.train_meta:
            self.init()

    # ---- training (models converted with --train) --------------------------------------

    def _call(self, fn_name: str, *args) -> None:
        st = getattr(self.lib, f"{self.meta['name']}_{fn_name}")(*args)
        if st != 0:
            reason = self.ffi.string(self.lib.mt_status_str(st)).decode()
            raise ModelError(f"{self.meta['name']}_{fn_name} failed: {reason} (status {st})", st)

    def _arena_args(self):
        return self.ffi.from_buffer(self.arena), self.arena.nbytes

    def init(self) -> None:
        """Parameters back to their converted values; optimizer state and step zeroed."""
        self._need_train()
        self._call("init", *self._arena_args())

    def _need_train(self) -> None:
        if not self.train_meta:
            raise ModelError(f"{self.outdir}: converted without --train")

    def train_step(self, x: np.ndarray, target: np.ndarray) -> float:
        """One optimizer step on one batch: x float32 NCHW (batch, ...), target float32
        of the output's shape (mse) or integer class labels (ce). Returns the loss."""
        self._need_train()
        tm = self.train_meta
        x = np.asarray(x, np.float32)
        if x.shape != tuple(tm["input_shape"]):
            raise ModelError(f"training batch shape {x.shape}, expected {tuple(tm['input_shape'])}")
        out_shape = tuple(tm["output_shape"])
        if tm["loss"] == "ce":
            rows = out_shape[0] * int(np.prod(out_shape[2:]))
            labels = np.asarray(target)
            if labels.size != rows or not np.issubdtype(labels.dtype, np.integer):
                raise ModelError(f"labels: expected {rows} integers, got {labels.dtype} {labels.shape}")
            t = np.ascontiguousarray(labels.reshape(-1), np.int32)
        else:
            t = np.asarray(target, np.float32)
            if t.shape != out_shape:
                raise ModelError(f"targets shape {t.shape}, expected the output's {out_shape}")
            t = np.ascontiguousarray(_nhwc(t))
        xin = np.ascontiguousarray(_nhwc(x))
        loss = self.ffi.new("float *")
        self._call("train_step", *self._arena_args(), self.ffi.cast("float *", self.ffi.from_buffer(xin)),
                   self.ffi.from_buffer(t), loss)
        return float(loss[0])

    def params(self) -> dict:
        """The trainable parameters as they are now, by source name, in PyTorch layout."""
        self._need_train()
        from ..lower import to_source_layout
        raw = self.arena.view(np.uint8)
        out = {}
        for p in self.train_meta["params"]:
            n = int(np.prod(p["device_shape"]))
            value = raw[p["offset"]:p["offset"] + 4 * n].view(np.float32).reshape(p["device_shape"])
            out[p["name"]] = to_source_layout(value.copy(), p["layout"])
        return out

    def export_blob(self, sequence: int = 1) -> bytes:
        """The trainable parameters as the runtime serialises them (mt_params_export)."""
        self._need_train()
        from ..params_blob import params_hash
        model = getattr(self.lib, f"{self.meta['name']}_model")
        size = self.lib.mt_params_blob_size(self.ffi.addressof(model))
        blob = self.ffi.new("uint8_t[]", size)
        self._status(self.lib.mt_params_export(self.ffi.addressof(model), self.ffi.from_buffer(self.arena),
                                               params_hash(self.meta), sequence, blob, size),
                     "mt_params_export")
        return bytes(self.ffi.buffer(blob, size))

    def import_blob(self, blob: bytes) -> int:
        """Load a blob through mt_params_import (every check of the runtime); returns
        its sequence number. A rejected blob changes nothing."""
        self._need_train()
        from ..params_blob import params_hash
        model = getattr(self.lib, f"{self.meta['name']}_model")
        seq = self.ffi.new("uint32_t *")
        self._status(self.lib.mt_params_import(self.ffi.addressof(model), self.ffi.from_buffer(self.arena),
                                               params_hash(self.meta), blob, len(blob), seq),
                     "mt_params_import")
        return int(seq[0])

    def _status(self, st: int, what: str) -> None:
        if st != 0:
            reason = self.ffi.string(self.lib.mt_status_str(st)).decode()
            raise ModelError(f"{what} failed: {reason} (status {st})", st)

    def load_params(self, values: dict) -> None:
        """Overwrite trainable parameters (PyTorch names, shapes and layouts)."""
        self._need_train()
        from ..lower import to_device_layout
        raw = self.arena.view(np.uint8)
        current = self.params()
        for name, value in values.items():
            if name not in current:
                raise ModelError(f"parameter {name!r} is not trainable in this model "
                                 f"(trainable: {', '.join(current)})")
            if tuple(np.shape(value)) != current[name].shape:
                raise ModelError(f"parameter {name!r}: shape {np.shape(value)}, "
                                 f"expected {current[name].shape}")
        for p in self.train_meta["params"]:
            if p["name"] in values:
                dev = to_device_layout(np.asarray(values[p["name"]], np.float32), p["layout"])
                raw[p["offset"]:p["offset"] + dev.nbytes] = np.ascontiguousarray(dev).view(np.uint8).ravel()

    def run(self, x: np.ndarray) -> np.ndarray:
        """x: float32 with the model's sample shape and any batch N -> (N, ...) outputs.
        An int8 model quantizes x and dequantizes its output (float in, float out)."""
        if self.dtype == "int8":
            from ..quant.int_reference import dequantize_s8
            m = self.meta
            return dequantize_s8(self.run_raw(np.asarray(x, np.float32)), m["output_scale"],
                                 m["output_zero_point"])
        x = np.asarray(x, np.float32)
        self._check_input(x)
        outputs = []
        for i in range(0, x.shape[0], self.input_shape[0]):
            chunk = np.ascontiguousarray(_nhwc(x[i:i + self.input_shape[0]]))
            y_dev = np.empty(_device_shape(self.output_shape), np.float32)
            self._forward(chunk, y_dev, "float *")
            outputs.append(_nchw(y_dev))
        return np.concatenate(outputs, axis=0)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        """int8 models: the int8 output (N, ...) in the source layout. x is int8 (taken
        as it is) or float (quantized with the input scale and zero point first)."""
        if self.dtype != "int8":
            raise ModelError(f"{self.outdir}: run_raw needs an int8 model (this one is {self.dtype})")
        x = np.asarray(x)
        self._check_input(x)
        if x.dtype != np.int8:
            if x.dtype.kind != "f":
                raise ModelError(f"input dtype {x.dtype}: expected int8 or float32")
            from ..quant.int_reference import quantize_s8
            x = quantize_s8(x.astype(np.float32), self.meta["input_scale"],
                            self.meta["input_zero_point"])
        batch = self.input_shape[0]
        outputs = []
        for i in range(0, x.shape[0], batch):
            chunk = np.ascontiguousarray(_nhwc(x[i:i + batch]))
            y_dev = np.empty(_device_shape(self.output_shape), np.int8)
            self._forward(chunk, y_dev, "int8_t *")
            outputs.append(_nchw(y_dev))
        return np.concatenate(outputs, axis=0)

    def _check_input(self, x: np.ndarray) -> None:
        per_sample = self.input_shape[1:]
        batch = self.input_shape[0]
        if x.shape[1:] != per_sample or x.shape[0] % batch:
            raise ModelError(f"input shape {x.shape} does not match the model's {self.input_shape} "
                             f"(any multiple of {batch} samples of shape {per_sample})")

    def _forward(self, chunk: np.ndarray, y_dev: np.ndarray, ctype: str) -> None:
        """<name>_forward on one batch: device-layout input chunk -> y_dev (in place)."""
        st = self.forward_fn(self.ffi.from_buffer(self.arena), self.arena.nbytes,
                             self.ffi.cast(ctype, self.ffi.from_buffer(chunk)),
                             self.ffi.cast(ctype, self.ffi.from_buffer(y_dev)))
        if st != 0:
            reason = self.ffi.string(self.lib.mt_status_str(st)).decode()
            raise ModelError(f"{self.meta['name']}_forward failed: {reason} (status {st})")
