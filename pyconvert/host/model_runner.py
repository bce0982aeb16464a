"""Run a converted model (OUTDIR from `pyconvert convert`) on this machine.

runtime_c and the generated `<name>.c` are compiled together into one cffi
extension (cached by content hash, see build.py), and `<name>_forward` is called
once per sample: a model converted for batch 1, as most MCU models are, takes any
number of samples N and returns N rows.

Inputs and outputs are in the source model's layout (NCHW, as you would feed the
PyTorch/ONNX model); the NHWC transposition happens here, as the device expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..convert import read_meta
from .build import build_extension, header_cdef, runtime_dir, runtime_headers, runtime_sources


class ModelError(ValueError):
    pass


def _nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def _nchw(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


class HostModel:
    def __init__(self, outdir):
        self.outdir = Path(outdir)
        self.meta = read_meta(outdir)
        name = self.meta["name"]
        header = self.outdir / f"{name}.h"
        root = runtime_dir()
        module = build_extension(
            f"_mt_model_{name}",
            cdef=header_cdef(runtime_headers() + [header]),
            prelude=f'#include "{name}.h"\n',
            sources=runtime_sources() + [self.outdir / f"{name}.c"],
            include_dirs=[root / "include", root / "src" / "support", self.outdir],
        )
        self.ffi, self.lib = module.ffi, module.lib
        self.forward_fn = getattr(self.lib, f"{name}_forward")
        self.input_shape = tuple(self.meta["input_shape"])
        self.output_shape = tuple(self.meta["output_shape"])
        self.arena = np.zeros((self.meta["arena_size"] + 3) // 4, np.float32)  # 4-byte aligned

    def run(self, x: np.ndarray) -> np.ndarray:
        """x: float32 with the model's sample shape and any batch N -> (N, ...) outputs."""
        x = np.asarray(x, np.float32)
        per_sample = self.input_shape[1:]
        batch = self.input_shape[0]
        if x.shape[1:] != per_sample or x.shape[0] % batch:
            raise ModelError(f"input shape {x.shape} does not match the model's {self.input_shape} "
                             f"(any multiple of {batch} samples of shape {per_sample})")
        outputs = []
        y = np.empty(self.output_shape, np.float32)
        for i in range(0, x.shape[0], batch):
            chunk = np.ascontiguousarray(_nhwc(x[i:i + batch]))
            y_dev = np.empty(_nhwc(y).shape, np.float32)
            st = self.forward_fn(self.ffi.from_buffer(self.arena), self.arena.nbytes,
                                 self.ffi.cast("float *", self.ffi.from_buffer(chunk)),
                                 self.ffi.cast("float *", self.ffi.from_buffer(y_dev)))
            if st != 0:
                reason = self.ffi.string(self.lib.mt_status_str(st)).decode()
                raise ModelError(f"{self.meta['name']}_forward failed: {reason} (status {st})")
            outputs.append(_nchw(y_dev))
        return np.concatenate(outputs, axis=0)
