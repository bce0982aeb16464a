"""Integer-only training plan (`convert --train --dtype int8`, docs/qtrain.md).

From the float training plan (pyconvert.train_plan: the schedule at the training
batch and which layers train) this derives the q-layer chain of runtime_c's
mt_q_trainer (mt_qtrain.h) and a fixed arena layout, nothing reused:

    persistent: header (8) | per trainable layer: int32 weight master, bias master,
                [momentum velocities] | their int8 forward copies |
                int32 exponents: act_exp[n+1], weight_q_exp[n] | uint32 PRNG state
    work:       int8 activations act[0..n] | 2 int8 gradient buffers | int32 scratch |
                targets (int8, MSE; int32 labels, CE)

Numbers: masters are `master_from_float` (max|w| ~ 2^23 at a fixed exponent); a
frozen layer's int8 copy is the C refresh rule applied to that master (const in
flash); inputs (and MSE targets) are int8 at fixed exponents input_exp/target_exp
chosen at conversion; lr and momentum become multiplier * 2^-shift (lr_to_fixed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .planner import align_up
from .quant import qtrain_reference as qr

HEADER_BYTES = 8
DEFAULT_SEED = 2463534242          # xorshift32's customary seed (non-zero)
Q_OPS = {"linear": "MT_QOP_LINEAR", "conv2d": "MT_QOP_CONV2D",
         "max_pool2d": "MT_QOP_MAXPOOL2D", "relu": "MT_QOP_RELU"}


@dataclass
class QLayer:
    layer: object              # the DeviceLayer (training batch)
    op: str
    relu: bool
    trainable: bool = False
    w_master: np.ndarray = None  # int32 (trainable: initial master; frozen: unused)
    w_exp: int = 0               # master exponent (trainable) or int8 copy exponent (frozen)
    w_q: np.ndarray = None       # frozen: int8 forward copy
    b_master: np.ndarray = None  # int32 bias at b_exp (trainable or frozen)
    b_exp: int = 0
    offsets: dict = field(default_factory=dict)   # weight, bias, weight_velocity, ... -> bytes

    @property
    def weight_dims(self) -> tuple:
        w = self.layer.weight
        return tuple(w.shape) if w.ndim == 4 else (w.shape[0], 1, 1, w.shape[1])


@dataclass
class QTrainPlan:
    float_plan: object          # train_plan.TrainPlan (config, schedules, trainable params)
    layers: list
    dims: list                  # n + 1 NHWC dims
    input_exp: int
    target_exp: int
    seed: int = DEFAULT_SEED
    lr_fixed: tuple = (0, 0)
    momentum_fixed: tuple = (0, 0)
    act_offsets: list = field(default_factory=list)
    exp_offset: int = 0
    rng_offset: int = 0
    grad_offsets: tuple = (0, 0)
    grad_size: int = 0
    scratch_offset: int = 0
    scratch_size: int = 0
    target_offset: int = 0
    persistent: int = 0
    view_offset: int = 0        # the engine's per-call tables (MT_QTRAIN_VIEW_BYTES)
    arena_size: int = 0         # on a 32-bit MCU (the header's <NAME>_ARENA_SIZE)

    @property
    def config(self):
        return self.float_plan.config


def _chain(low) -> list:
    """(DeviceLayer, op, relu) per layer; checks it is a plain chain the q engine runs."""
    out, prev = [], low.input
    for l in low.layers:
        if l.op not in Q_OPS:
            raise ValueError(f"--dtype int8 --train: layer {l.node!r} ({l.op}) has no integer-only "
                             f"training kernel (linear, conv2d, max_pool2d, relu)")
        same = low.tensors[l.inp].buffer == low.tensors[prev].buffer
        if not same:
            raise ValueError(f"--dtype int8 --train: layer {l.node!r} does not read the previous "
                             f"layer's output (only plain chains train integer-only)")
        act = l.attrs.get("act")
        if act and tuple(act) != (0.0, math.inf):
            raise ValueError(f"--dtype int8 --train: layer {l.node!r} fuses clamp {act}; only ReLU")
        if l.op == "max_pool2d":
            (kh, kw), (sh, sw) = l.attrs["kernel"], l.attrs["stride"]
            if sh < kh or sw < kw:
                raise ValueError(f"--dtype int8 --train: max pool {l.node!r} has overlapping "
                                 f"windows (stride < kernel)")
        out.append((l, l.op, bool(act)))
        prev = l.out
    return out


def plan_qtraining(tp, input_exp: int = -7, target_exp: int = -7, seed: int = DEFAULT_SEED) -> QTrainPlan:
    """tp: the float TrainPlan of the same model and TrainConfig (optimizer sgd)."""
    cfg = tp.config
    if cfg.optimizer != "sgd":
        raise ValueError("--dtype int8 --train: SGD only (Adam needs a square root and a g^2 "
                         "range that int32 fixed point cannot hold; docs/qtrain.md)")
    if cfg.weight_decay or cfg.nesterov:
        raise ValueError("--dtype int8 --train: weight decay and Nesterov are not implemented")
    if not (0 <= cfg.momentum < 1):
        raise ValueError(f"--dtype int8 --train: --momentum must be in [0, 1), got {cfg.momentum}")
    for e, what in ((input_exp, "--input-exp"), (target_exp, "--target-exp")):
        if not -60 <= e <= 60:
            raise ValueError(f"{what} must be in [-60, 60], got {e}")
    low = tp.train
    roles = {}
    for p in tp.params:
        roles.setdefault(p.layer, set()).add(p.role)
    layers = []
    for i, (l, op, relu) in enumerate(_chain(low)):
        q = QLayer(l, op, relu, trainable=i in roles)
        if l.weight is not None:
            if q.trainable and "weight" not in roles[i]:
                raise ValueError(f"--dtype int8 --train: layer {l.node!r} trains its bias only; "
                                 f"integer-only training selects whole layers")
            master, em = qr.master_from_float(l.weight)
            if q.trainable:
                q.w_master, q.w_exp = master, em
            else:
                q.w_q, q.w_exp = qr.requantize(master, em)
            if l.bias is not None:
                # Not finer than the weight's master: a tiny (or zero) initial bias
                # would otherwise get an exponent too fine to grow (saturation).
                _, eb = qr.master_from_float(l.bias)
                q.b_exp = max(eb, em)
                q.b_master = np.clip(np.round(np.asarray(l.bias, np.float64) * 2.0 ** -q.b_exp),
                                     -2**31, 2**31 - 1).astype(np.int32)
        layers.append(q)
    dims = [tuple(low.tensors[low.input].dims)] + [tuple(low.tensors[l.out].dims) for l, _, _ in _chain(low)]
    qp = QTrainPlan(tp, layers, dims, int(input_exp), int(target_exp), int(seed))
    qp.lr_fixed = qr.lr_to_fixed(cfg.lr)
    qp.momentum_fixed = qr.lr_to_fixed(cfg.momentum) if cfg.momentum else (0, 0)
    if qp.momentum_fixed[1] > 30:
        raise ValueError(f"--momentum {cfg.momentum} is too small for the fixed-point range")
    _layout(qp)
    return qp


def _layout(qp: QTrainPlan) -> None:
    off = HEADER_BYTES
    def take(nbytes):
        nonlocal off
        start = off
        off += align_up(int(nbytes))
        return start
    momentum = qp.momentum_fixed[0] > 0
    for q in qp.layers:
        if not q.trainable:
            continue
        n_w, n_b = q.w_master.size, 0 if q.b_master is None else q.b_master.size
        q.offsets["weight"] = take(4 * n_w)
        q.offsets["bias"] = take(4 * n_b) if n_b else -1
        q.offsets["weight_velocity"] = take(4 * n_w) if momentum else -1
        q.offsets["bias_velocity"] = take(4 * n_b) if momentum and n_b else -1
    for q in qp.layers:
        if q.trainable:
            q.offsets["weight_q"] = take(q.w_master.size)
    n = len(qp.layers)
    qp.exp_offset = take(4 * (2 * n + 1))
    qp.rng_offset = take(4)
    qp.persistent = off
    counts = [int(np.prod(d)) for d in qp.dims]
    qp.act_offsets = [take(c) for c in counts]
    first = min(i for i, q in enumerate(qp.layers) if q.trainable)
    qp.grad_size = max(counts[first:])
    qp.grad_offsets = (take(qp.grad_size), take(qp.grad_size))
    words = 0                     # as mt_q_net_scratch_size
    for i, q in enumerate(qp.layers):
        if q.layer.weight is not None:
            row = int(np.prod(q.weight_dims[1:])) + 1
            words = max(words, counts[i], counts[i + 1], row)
    qp.scratch_size = 4 * words
    qp.scratch_offset = take(qp.scratch_size)
    y = qp.dims[-1]
    target_bytes = int(np.prod(y)) if qp.config.loss == "mse" else 4 * int(np.prod(y[:3]))
    qp.target_offset = take(target_bytes)
    qp.view_offset = align_up(off, 8)
    qp.arena_size = qp.view_offset + view_bytes(n, 4)


def view_bytes(n: int, pointer: int = 4) -> int:
    """MT_QTRAIN_VIEW_BYTES(n): mt_q_layer[n] + (n + 1) pointers + mt_q_net, for 32-bit
    (pointer 4: 132 + 4, 68 bytes) or 64-bit targets (168 + 8, 112 bytes)."""
    layer, net = (132, 68) if pointer == 4 else (168, 112)
    return (n * layer + (n + 1) * pointer + net + 7) & ~7


def describe_qmemory(qp: QTrainPlan) -> str:
    c = qp.config
    trained = [q.layer.node for q in qp.layers if q.trainable]
    values = sum(q.w_master.size + (0 if q.b_master is None else q.b_master.size)
                 for q in qp.layers if q.trainable)
    m, k = qp.lr_fixed
    return "\n".join([
        f"integer-only training: loss {c.loss}, sgd lr {c.lr:g} = {m}*2^-{k}"
        + (f", momentum {c.momentum:g}" if c.momentum else "") + f", batch {c.batch}, "
        f"input exponent {qp.input_exp}" + (f", target exponent {qp.target_exp}" if c.loss == "mse" else ""),
        f"trainable layers ({values:,} int32 masters): {', '.join(trained)}",
        f"training arena: {qp.arena_size:,} bytes = {qp.persistent:,} persistent (masters, state, "
        f"int8 copies, exponents, PRNG) + {qp.view_offset - qp.persistent:,} work area + "
        f"{qp.arena_size - qp.view_offset:,} engine tables (32-bit MCU)",
    ])


def qtrain_meta(qp: QTrainPlan) -> dict:
    """model.json "train" for an integer-only model (what the host runner needs)."""
    c, low = qp.config, qp.float_plan.train
    params = []
    for q in qp.layers:
        if not q.trainable:
            continue
        l = q.layer
        params.append({"name": l.weight_source or f"{l.node}.weight", "layer": l.node, "role": "weight",
                       "offset": q.offsets["weight"], "exp": q.w_exp,
                       "device_shape": list(l.weight.shape), "layout": list(l.weight_layout)})
        if q.b_master is not None:
            params.append({"name": l.bias_source or f"{l.node}.bias", "layer": l.node, "role": "bias",
                           "offset": q.offsets["bias"], "exp": q.b_exp,
                           "device_shape": list(l.bias.shape), "layout": []})
    return {"loss": c.loss, "optimizer": "sgd", "lr": c.lr, "momentum": c.momentum,
            "batch": c.batch, "trainable": c.trainable, "integer_only": True,
            "input_exp": qp.input_exp, "target_exp": qp.target_exp, "seed": qp.seed,
            "lr_fixed": list(qp.lr_fixed), "momentum_fixed": list(qp.momentum_fixed),
            "input_shape": list(low.tensors[low.input].shape),
            "output_shape": list(low.tensors[low.output].shape),
            "output_offset": qp.act_offsets[-1], "exp_offset": qp.exp_offset,
            "params": params, "persistent_bytes": qp.persistent, "view_offset": qp.view_offset,
            "n_layers": len(qp.layers), "arena_size": qp.arena_size,
            "arena_size_64bit": qp.view_offset + view_bytes(len(qp.layers), 8)}
