"""Run and train an integer-only model (`convert --train --dtype int8`) on this machine.

The same interface as HostModel's training part (init, train_step, params, run), so
pyconvert.training drives both. Float data is quantized here to the model's fixed
exponents (model.json train.input_exp / target_exp) with qtrain_reference.to_fixed:
q = clamp(floor(x / 2^e + 1/2), -127, 127); outputs and parameters are dequantized
(v * 2^e). Everything inside a step is the C runtime's integer arithmetic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..convert import read_meta
from .build import build_extension, header_cdef, runtime_archive, runtime_dir, runtime_headers
from .model_runner import ModelError, _device_shape, _nchw, _nhwc


def to_fixed(x, e: int) -> np.ndarray:
    """Float -> int8 at 2^e: round half up, saturate to [-127, 127]."""
    return np.clip(np.floor(np.asarray(x, np.float64) * 2.0 ** -e + 0.5), -127, 127).astype(np.int8)


class QHostModel:
    def __init__(self, outdir):
        self.outdir = Path(outdir).resolve()
        self.meta = read_meta(self.outdir)
        if not self.meta.get("integer_only_training"):
            raise ModelError(f"{outdir}: not an integer-only trainable model (--train --dtype int8)")
        name = self.meta["name"]
        root = runtime_dir()
        module = build_extension(
            f"_mt_qmodel_{name}",
            cdef=header_cdef(runtime_headers() + [root / "include" / "mt" / "mt_qtrain.h",
                                                  self.outdir / f"{name}.h"]),
            prelude=f'#include "mt/mt.h"\n#include "{name}.h"\n',
            sources=[self.outdir / f"{name}.c"],
            include_dirs=[root / "include", root / "src" / "support", self.outdir],
            objects=[runtime_archive()],
        )
        self.ffi, self.lib = module.ffi, module.lib
        self.train_meta = self.meta["train"]
        self.dtype = "int8"
        self.input_shape = tuple(self.meta["input_shape"])
        self.output_shape = tuple(self.meta["output_shape"])
        tm = self.train_meta
        n = tm["n_layers"]           # MT_QTRAIN_VIEW_BYTES(n) with this machine's pointers
        view = (n * self.ffi.sizeof("mt_q_layer") + (n + 1) * self.ffi.sizeof("int8_t *")
                + self.ffi.sizeof("mt_q_net") + 7) & ~7
        self.arena = np.zeros((tm["view_offset"] + view) // 8 + 1, np.int64)   # 8-aligned
        self.init()

    def _call(self, fn_name: str, *args) -> None:
        st = getattr(self.lib, f"{self.meta['name']}_{fn_name}")(*args)
        if st != 0:
            reason = self.ffi.string(self.lib.mt_status_str(st)).decode()
            raise ModelError(f"{self.meta['name']}_{fn_name} failed: {reason} (status {st})", st)

    def _arena(self):
        return self.ffi.from_buffer(self.arena), self.arena.nbytes

    def init(self) -> None:
        """Masters back to their converted values, momentum zeroed, PRNG re-seeded."""
        self._call("init", *self._arena())

    def train_step(self, x: np.ndarray, target: np.ndarray) -> float:
        """One SGD step: x float NCHW (batch, ...) or int8 at input_exp; target float of
        the output's shape (mse; quantized at target_exp) or class labels (ce). Returns
        the loss (its Q16.16 value / 2^16)."""
        tm = self.train_meta
        x = np.asarray(x)
        if x.shape != self.input_shape:
            raise ModelError(f"training batch shape {x.shape}, expected {self.input_shape}")
        xq = x if x.dtype == np.int8 else to_fixed(x, tm["input_exp"])
        if tm["loss"] == "ce":
            rows = self.output_shape[0] * int(np.prod(self.output_shape[2:]))
            labels = np.asarray(target)
            if labels.size != rows or not np.issubdtype(labels.dtype, np.integer):
                raise ModelError(f"labels: expected {rows} integers, got {labels.dtype} {labels.shape}")
            t = np.ascontiguousarray(labels.reshape(-1), np.int32)
        else:
            t = np.asarray(target)
            if t.shape != self.output_shape:
                raise ModelError(f"targets shape {t.shape}, expected the output's {self.output_shape}")
            t = np.ascontiguousarray(_nhwc(t if t.dtype == np.int8 else to_fixed(t, tm["target_exp"])))
        xin = np.ascontiguousarray(_nhwc(xq))
        loss = self.ffi.new("int32_t *")
        self._call("train_step", *self._arena(), self.ffi.cast("int8_t *", self.ffi.from_buffer(xin)),
                   self.ffi.from_buffer(t), loss)
        return int(loss[0]) / 65536.0

    def masters(self) -> dict:
        """The int32 masters as they are now (device layout), by source name: (values, exp)."""
        out = {}
        for p in self.train_meta["params"]:
            n = int(np.prod(p["device_shape"]))
            v = self.arena.view(np.uint8)[p["offset"]:p["offset"] + 4 * n].view(np.int32)
            out[p["name"]] = (v.reshape(p["device_shape"]).copy(), int(p["exp"]))
        return out

    def params(self) -> dict:
        """The trainable parameters dequantized (master * 2^exp), PyTorch names and layouts."""
        from ..lower import to_source_layout
        layouts = {p["name"]: p["layout"] for p in self.train_meta["params"]}
        return {k: to_source_layout((v.astype(np.float64) * 2.0 ** e).astype(np.float32), layouts[k])
                for k, (v, e) in self.masters().items()}

    def load_masters(self, masters: dict) -> None:
        """Overwrite int32 masters with exact values, e.g. those a board trained
        ({name: (device-layout int32, exp)} as masters() and boards.qrunner.train_q give)."""
        raw = self.arena.view(np.uint8)
        for p in self.train_meta["params"]:
            if p["name"] not in masters:
                continue
            v, e = masters[p["name"]]
            v = np.asarray(v)
            if v.dtype != np.int32 or v.shape != tuple(p["device_shape"]) or e != p["exp"]:
                raise ModelError(f"master {p['name']!r}: {v.dtype} {v.shape} at 2^{e}, expected "
                                 f"int32 {tuple(p['device_shape'])} at 2^{p['exp']}")
            raw[p["offset"]:p["offset"] + v.nbytes] = np.ascontiguousarray(v).view(np.uint8).ravel()
        self._refresh_forward_copies()

    def _refresh_forward_copies(self) -> None:
        """Requantize every trainable layer's int8 forward copy from its master, as the
        engine does after each update (the forward reads the copy, not the master)."""
        t = getattr(self.lib, f"{self.meta['name']}_trainer")
        base = self.ffi.cast("uint8_t *", self.ffi.from_buffer(self.arena))
        exps = self.ffi.cast("int32_t *", base + t.exp_offset) + t.n_layers + 1   # weight_q_exp[]
        for i in range(t.n_layers):
            s = t.layers[i]
            if not s.trainable:
                continue
            d = s.weight_dims
            st = self.lib.mt_q_refresh_weights(d.n * d.h * d.w * d.c,
                                               self.ffi.cast("int32_t *", base + s.weight_offset),
                                               s.weight_exp, self.ffi.cast("int8_t *", base + s.weight_q_offset),
                                               exps + i)
            if st != 0:
                raise ModelError(f"refreshing layer {i}'s forward copy failed (status {st})", st)

    def load_params(self, values: dict) -> None:
        raise ModelError("--load-params: an integer-only model starts from its converted masters; "
                         "convert with --params instead")

    def run_raw(self, x: np.ndarray) -> tuple:
        """One batch (the training batch) -> (int8 output NCHW, exponent)."""
        x = np.asarray(x)
        xq = x if x.dtype == np.int8 else to_fixed(x, self.train_meta["input_exp"])
        xin = np.ascontiguousarray(_nhwc(xq))
        y = np.empty(_device_shape(self.output_shape), np.int8)
        e = self.ffi.new("int32_t *")
        self._call("forward", *self._arena(), self.ffi.cast("int8_t *", self.ffi.from_buffer(xin)),
                   self.ffi.cast("int8_t *", self.ffi.from_buffer(y)), e)
        return _nchw(y), int(e[0])

    def run(self, x: np.ndarray) -> np.ndarray:
        """Any N samples, in chunks of the training batch (the last one zero-padded:
        exponents are per batch); float outputs (q * 2^e)."""
        x = np.asarray(x, np.float32)
        b = self.input_shape[0]
        if x.shape[1:] != self.input_shape[1:]:
            raise ModelError(f"input shape {x.shape} does not match the model's {self.input_shape}")
        outs = []
        for i in range(0, len(x), b):
            chunk = x[i:i + b]
            pad = np.zeros((b,) + x.shape[1:], np.float32)
            pad[:len(chunk)] = chunk
            y, e = self.run_raw(pad)
            outs.append((y.astype(np.float64) * 2.0 ** e).astype(np.float32)[:len(chunk)])
        return np.concatenate(outs, axis=0)
