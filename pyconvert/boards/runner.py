"""A converted model on an emulated board: run samples, or benchmark one inference.

    BoardModel("out/lenet5", "mps2-an386").run(x)    # like HostModel.run: NCHW in, N rows out
    bench("out/lenet5", "mps2-an386")                # instructions, per layer, memory

Both build the firmware first (cached, fit-checked; see firmware.py).
"""

from __future__ import annotations

import numpy as np

from ..host.model_runner import ModelError, _nchw, _nhwc
from ..convert import read_meta
from .firmware import Firmware, build
from .profiles import get_profile
from .qemu import run_elf

BENCH_SEED = 0   # the bench input: standard normal samples from this seed, so counts repeat


def _train_meta(meta: dict) -> dict:
    if "train" not in meta:
        raise ModelError(f"{meta['name']}: converted without --train")
    return meta["train"]


def train_files(tm: dict, x: np.ndarray, y: np.ndarray) -> tuple:
    """input.bin and target.bin bytes for whole batches of (x, y) of a float training
    model, as the firmware reads them, and the number of samples."""
    batch = tm["batch"]
    n = (len(x) // batch) * batch
    if n == 0:
        raise ModelError(f"{len(x)} samples is less than one batch of {batch}")
    xs = np.ascontiguousarray(_nhwc(np.asarray(x[:n], np.float32))).astype("<f4")
    if tm["loss"] == "ce":
        t = np.asarray(y[:n]).astype("<i4")
    else:
        t = np.ascontiguousarray(_nhwc(np.asarray(y[:n], np.float32))).astype("<f4")
    return xs.tobytes(), t.tobytes(), n


def training_set(meta: dict, x: np.ndarray, y: np.ndarray) -> tuple:
    """((input bytes, target bytes), metric count) of (x, y) for dataset.h."""
    tm = _train_meta(meta)
    if meta.get("integer_only_training"):
        from .qrunner import q_train_files
        data, targets, count = q_train_files(tm, x, y)
    else:
        data, targets, count = train_files(tm, x, y)
    return (data, targets), count


def _board_failure(fw: Firmware, result) -> RuntimeError:
    said = [l for l in result.console.splitlines() if l.startswith("mt:")]
    reason = said[-1][4:] if said else "no message"
    return RuntimeError(f"{fw.meta['name']} on {fw.profile.name}: firmware exited with status "
                        f"{result.exit_code} ({reason})")


class BoardModel:
    def __init__(self, outdir, board: str, train_data: tuple | None = None):
        """train_data = (x, y): compile this training set into the firmware's flash
        (models converted with --train); train() then takes no samples."""
        profile = get_profile(board)
        if not profile.emulated:       # say so before spending a build on it
            raise ValueError(f"board {board} is not emulated by QEMU "
                             f"(build and fit check only: pyconvert firmware)")
        self.meta = read_meta(outdir)
        dataset, self.embedded_count = None, 0
        if train_data is not None:
            dataset, self.embedded_count = training_set(self.meta, *train_data)
        self.fw = build(outdir, board, dataset)
        self.input_shape = tuple(self.meta["input_shape"])
        self.output_shape = tuple(self.meta["output_shape"])

    @property
    def dtype(self) -> str:
        return self.meta.get("dtype", "float32")

    def _device_input(self, x: np.ndarray) -> bytes:
        """x (NCHW, any multiple of the model's batch) as input.bin: NHWC samples of the
        model's type (an int8 model takes int8 as it is, or quantizes float32 first with
        the C rule, as HostModel does)."""
        x = np.asarray(x)
        batch, per_sample = self.input_shape[0], self.input_shape[1:]
        if x.ndim != len(self.input_shape) or x.shape[1:] != per_sample or x.shape[0] % batch:
            raise ModelError(f"input shape {x.shape} does not match the model's {self.input_shape} "
                             f"(any multiple of {batch} samples of shape {per_sample})")
        if self.dtype == "int8":
            if x.dtype != np.int8:
                from ..quant.int_reference import quantize_s8
                x = quantize_s8(x.astype(np.float32), self.meta["input_scale"],
                                self.meta["input_zero_point"])
            return np.ascontiguousarray(_nhwc(x)).astype(np.int8).tobytes()
        return np.ascontiguousarray(_nhwc(x.astype(np.float32))).astype("<f4").tobytes()

    def _run_device(self, x: np.ndarray) -> np.ndarray:
        """Every sample through <name>_forward on the board -> (N, ...) in the model's
        type, NCHW."""
        data = self._device_input(x)
        chunks = np.asarray(x).shape[0] // self.input_shape[0]
        # A sample takes well under a second even in software float; allow plenty.
        result = run_elf(self.fw.elf, self.fw.profile, data, timeout=300 + 2 * chunks)
        if result.exit_code != 0:
            raise _board_failure(self.fw, result)
        device_shape = _nhwc(np.empty(self.output_shape, np.float32)).shape
        y = np.frombuffer(result.output, np.int8 if self.dtype == "int8" else "<f4")
        if y.size != chunks * int(np.prod(device_shape)):
            raise RuntimeError(f"{self.meta['name']} on {self.fw.profile.name}: output.bin holds "
                               f"{y.size} values, expected {chunks * int(np.prod(device_shape))}")
        y = y.reshape((chunks,) + device_shape)
        return np.concatenate([_nchw(c) for c in y], axis=0)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Float in, float out, as HostModel.run (an int8 model dequantizes its output)."""
        y = self._run_device(x)
        if self.dtype == "int8":
            from ..quant.int_reference import dequantize_s8
            return dequantize_s8(y, self.meta["output_scale"], self.meta["output_zero_point"])
        return y.astype(np.float32)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        """int8 models: the int8 outputs."""
        if self.dtype != "int8":
            raise ModelError(f"{self.meta['name']}: run_raw needs an int8 model (this one is {self.dtype})")
        return self._run_device(x)

    # ---- training (models converted with --train) ---------------------------------

    def _train_meta(self) -> dict:
        return _train_meta(self.meta)

    def train(self, x, y, epochs: int) -> tuple:
        """Train on the board for `epochs` passes over whole batches of (x, y), or over
        the training set in flash (x and y None; BoardModel(..., train_data=)).

        Returns ([(mean loss, accuracy or mse) per epoch], {param name: value in
        PyTorch layout}); the metric is measured on the board after each epoch."""
        if self.fw.embedded_samples != (x is None and y is None):
            raise ModelError(f"{self.meta['name']}: " + (
                "this firmware trains on the set in its flash; pass x=None, y=None"
                if self.fw.embedded_samples else "no training samples given (x, y)"))
        if self.meta.get("integer_only_training"):          # --train --dtype int8
            from .qrunner import train_q
            history, params, _ = train_q(self, x, y, epochs)
            return history, params
        from ..lower import to_source_layout
        tm = self._train_meta()
        if self.fw.embedded_samples:
            data, targets, samples = b"", b"", self.embedded_count
        else:
            data, targets, samples = train_files(tm, x, y)
        result = run_elf(self.fw.elf, self.fw.profile, data, args=["--train", str(epochs)],
                         files={"target.bin": targets}, collect=("params.bin",),
                         timeout=300 + epochs * samples)
        history = np.frombuffer(result.output, "<f4").reshape(-1, 2)
        raw = result.files.get("params.bin", b"")
        params, at = {}, 0
        for p in tm["params"]:
            size = int(np.prod(p["device_shape"]))
            value = np.frombuffer(raw, "<f4", count=size, offset=at).reshape(p["device_shape"])
            params[p["name"]] = to_source_layout(value.astype(np.float32), p["layout"])
            at += 4 * size
        if result.exit_code != 0:
            raise _board_failure(self.fw, result)
        return [tuple(map(float, row)) for row in history], params

    def bench_train(self) -> dict:
        """Instructions for one training step (the first batch of a seeded random set)."""
        tm = self._train_meta()
        rng = np.random.default_rng(BENCH_SEED)
        x = rng.standard_normal(tuple(tm["input_shape"])).astype(np.float32)
        out = tuple(tm["output_shape"])
        y = (rng.integers(0, out[1], out[0]) if tm["loss"] == "ce"
             else rng.standard_normal(out).astype(np.float32))
        if self.meta.get("integer_only_training"):
            from .qrunner import q_train_files
            data, targets, _ = q_train_files(tm, x, y)
        else:
            data, targets, _ = train_files(tm, x, y)
        result = run_elf(self.fw.elf, self.fw.profile, data, args=["--bench-train"], count=True,
                         files={"target.bin": targets})
        if result.exit_code != 0 or len(result.regions) != 2:
            raise _board_failure(self.fw, result)
        report = _bench_lines(result.console)
        sizes = self.fw.sizes()
        p = self.fw.profile
        return {
            "model": self.meta["name"], "board": p.name, "core": p.core, "mode": "train",
            "batch": tm["batch"], "optimizer": tm["optimizer"], "trainable": tm["trainable"],
            "instructions_per_step": result.regions[1] - result.regions[0],
            "flash_bytes": sizes["text"] + sizes["rodata"],
            "static_ram_bytes": sizes["static_ram"], "arena_bytes": sizes["arena"],
            "training_arena_lower_bound": tm.get("arena_lower_bound"), "naive_bytes": tm.get("naive_bytes"),
            "integer_only": bool(tm.get("integer_only")),
            "stack_bytes": report["stack_bytes"],
            # RAM the step really uses: data+bss (arena with the trainable parameters and
            # optimizer state, firmware buffers) + the measured stack high-water mark
            "ram_used_bytes": sizes["static_ram"] + report["stack_bytes"],
            "runtime_text_bytes": self.fw.runtime_code()["text"],
            "flash_budget": p.flash_size, "ram_budget": p.ram_size,
        }

    def bench(self) -> dict:
        """Instructions for one inference and per layer, and the memory figures."""
        rng = np.random.default_rng(BENCH_SEED)
        x = rng.standard_normal(self.input_shape).astype(np.float32)
        result = run_elf(self.fw.elf, self.fw.profile, self._device_input(x),
                         args=["--bench"], count=True)
        if result.exit_code != 0:
            raise _board_failure(self.fw, result)
        if "layers" not in self.meta:
            raise ValueError(f"{self.meta['name']}: model.json lists no layers (written by an "
                             f"older pyconvert); convert the model again")
        layers = self.meta["layers"]
        if len(result.regions) != 2 + len(layers):
            raise RuntimeError(f"{self.meta['name']} on {self.fw.profile.name}: expected "
                               f"{2 + len(layers)} measured regions, got {len(result.regions)}")
        # Region 0 is empty: the markers' own instructions, taken off every other region.
        overhead = result.regions[0]
        counts = [n - overhead for n in result.regions[1:]]
        report = _bench_lines(result.console)
        sizes = self.fw.sizes()
        macs = self.meta["macs"]
        p = self.fw.profile
        return {
            "model": self.meta["name"],
            "board": p.name,
            "core": p.core,
            "instructions": counts[0],
            "macs": macs,
            "instructions_per_mac": round(counts[0] / macs, 3) if macs else None,
            "layers": [{"name": l["name"], "op": l["op"], "macs": l["macs"], "instructions": n,
                        "instructions_per_mac": round(n / l["macs"], 3) if l["macs"] else None}
                       for l, n in zip(layers, counts[1:])],
            "flash_bytes": sizes["text"] + sizes["rodata"],
            "runtime_text_bytes": self.fw.runtime_code()["text"],
            "text_bytes": sizes["text"],
            "rodata_bytes": sizes["rodata"],
            "data_bytes": sizes["data"],
            "bss_bytes": sizes["bss"],
            "static_ram_bytes": sizes["static_ram"],
            "arena_bytes": sizes["arena"],
            "stack_bytes": report["stack_bytes"],
            "heap_bytes": report["heap_bytes"],
            "flash_budget": p.flash_size,
            "ram_budget": p.ram_size,
        }


def _bench_lines(console: str) -> dict:
    """main.c's "mt-bench: key=value" lines."""
    report = {}
    for line in console.splitlines():
        if line.startswith("mt-bench: "):
            key, value = line[len("mt-bench: "):].split("=")
            report[key] = int(value)
    return report


def bench(outdir, board: str, train: bool = False) -> dict:
    model = BoardModel(outdir, board)
    return model.bench_train() if train else model.bench()


def format_bench_train(r: dict) -> str:
    return "\n".join([
        f"{r['model']} on {r['board']} ({r['core']}): one training step "
        f"(batch {r['batch']}, {r['optimizer']}, trainable {r['trainable']})",
        f"  instructions per training step {r['instructions_per_step']:>12,}",
        f"  flash (text+rodata)            {r['flash_bytes']:>12,} bytes  (budget {r['flash_budget']:,})",
        f"  static RAM (data+bss)          {r['static_ram_bytes']:>12,} bytes  (budget {r['ram_budget']:,})",
        f"    of which the arena           {r['arena_bytes']:>12,} bytes  " + (
            f"(lower bound {r['training_arena_lower_bound']:,}; naive {r['naive_bytes']:,})"
            if r["training_arena_lower_bound"] else "(integer-only: fixed offsets, no reuse)"),
        f"  stack high-water mark          {r['stack_bytes']:>12,} bytes",
        f"  RAM used (data+bss + stack)    {r['ram_used_bytes']:>12,} bytes",
    ])


def format_bench(r: dict) -> str:
    """The bench result as a readable table."""
    lines = [f"{r['model']} on {r['board']} ({r['core']})",
             f"  instructions per inference  {r['instructions']:>12,}",
             f"  MACs                        {r['macs']:>12,}",
             f"  instructions per MAC        {r['instructions_per_mac'] or 0:>12.2f}",
             f"  flash (text+rodata)         {r['flash_bytes']:>12,} bytes  (budget {r['flash_budget']:,})",
             f"    of which runtime code     {r['runtime_text_bytes']:>12,} bytes  (runtime_c .text linked)",
             f"  static RAM (data+bss)       {r['static_ram_bytes']:>12,} bytes  (budget {r['ram_budget']:,})",
             f"    of which the arena        {r['arena_bytes']:>12,} bytes",
             f"  stack high-water mark       {r['stack_bytes']:>12,} bytes",
             f"  heap in use                 {r['heap_bytes']:>12,} bytes",
             "",
             f"  {'layer':<16} {'op':<12} {'MACs':>10} {'instructions':>13} {'per MAC':>8} {'share':>6}"]
    for l in r["layers"]:
        per_mac = f"{l['instructions_per_mac']:.2f}" if l["instructions_per_mac"] is not None else "-"
        share = 100 * l["instructions"] / r["instructions"] if r["instructions"] else 0
        lines.append(f"  {l['name']:<16} {l['op']:<12} {l['macs']:>10,} {l['instructions']:>13,} "
                     f"{per_mac:>8} {share:>5.1f}%")
    rest = r["instructions"] - sum(l["instructions"] for l in r["layers"])
    lines.append(f"  {'(check, copies)':<16} {'':<12} {'':>10} {rest:>13,}")
    return "\n".join(lines)
