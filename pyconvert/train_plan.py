"""Training plan: which parameters train, and where everything lives in the arena.

The arena of a trainable model has two parts:

    [ persistent ]  header (magic, step), then each trainable parameter's value
                    followed by its optimizer state (SGD momentum; Adam m, v)
    [ work area ]   reused by every call: the inference plan (batch as converted)
                    OR the training plan (batch --batch), whichever runs

The training plan is laid out over one timeline, with L layers:

    forward of layer i at step i     loss at step L     backward of layer i at step 2L - i

Activations live until the last step that reads them, forward or backward: a conv or
linear whose weight trains reads its input again (dW = dy^T x), max-pool reads its
input (arg-max), activations read their output (dy -> dx from y), a fused clamp reads
the output (the ReLU mask). Gradients dL/dt live from the step that writes them to the
step of t's producer. Backward stops at the first layer that trains, and a layer's
weight update is fused into its backward (a block of output channels at a time), so
parameter gradients need only a one-row scratch buffer, never a whole dW.

"naive" in the report is every buffer summed with no reuse (params, state, full
gradients, every activation and its gradient): what a training library without a
planner allocates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ir import GraphError
from .lower import IN_PLACE, Lowered, lower, share_in_place
from .planner import ALIGN, Buffer, Plan, align_up, plan_arena
from .passes import optimize

HEADER_BYTES = 8          # mt_arena_header: magic, step
LOSSES = {"mse": "MT_LOSS_MSE", "ce": "MT_LOSS_CROSS_ENTROPY"}
OPTIMIZERS = {"sgd": "MT_OPTIM_SGD", "adam": "MT_OPTIM_ADAM"}
ACT_FROM_OUTPUT = {"relu", "clip", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"}


@dataclass
class TrainConfig:
    loss: str = "ce"
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    batch: int = 1
    trainable: str = "all"

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise ValueError(f"--lr must be a positive number, got {self.lr}")
        if self.momentum < 0 or self.batch < 1:
            raise ValueError(f"--momentum must be >= 0 and --batch >= 1 "
                             f"(got {self.momentum}, {self.batch})")


@dataclass
class TrainParam:
    """One trainable parameter tensor (a layer's weight or bias)."""
    layer: int                 # index in the schedule
    role: str                  # "weight" or "bias"
    source: str                # the parameter's name in the source model
    value: np.ndarray          # device layout, float32
    offset: int = -1           # arena bytes
    state: list = field(default_factory=lambda: [-1, -1])

    @property
    def bytes(self) -> int:
        return self.value.size * 4


@dataclass
class TrainPlan:
    config: TrainConfig
    infer: Lowered             # the inference schedule (offsets shifted past persistence)
    train: Lowered             # the same layers at the training batch
    params: list               # TrainParam, in schedule order
    first_layer: int
    persistent: int            # bytes of the persistent region
    grad_buffers: dict         # train tensor name -> gradient buffer name (or None)
    plan: Plan = None          # the training work area (offsets relative to `persistent`)
    target_buffer: str = "target"
    scratch_bytes: int = 0
    naive_bytes: int = 0

    @property
    def arena_size(self) -> int:
        return self.persistent + max(self.plan.arena_size, self.infer.plan.arena_size)

    def grad_offset(self, tensor: str) -> int:
        buf = self.grad_buffers.get(tensor)
        return -1 if buf is None else self.persistent + self.plan.offset(buf)

    def train_offset(self, tensor: str) -> int:
        return self.persistent + self.plan.offset(self.train.tensors[tensor].buffer)

    def lower_bound(self) -> int:
        return self.persistent + max(self.plan.lower_bound, self.infer.plan.lower_bound)


def select_trainable(low: Lowered, spec: str) -> list:
    """[(layer index, role)] from --trainable: all | last:K | bias | NAME[,NAME...]."""
    layers = [(i, l) for i, l in enumerate(low.layers) if l.weight is not None]
    pairs = []
    def both(i, l):
        pairs.append((i, "weight"))
        if l.bias is not None:
            pairs.append((i, "bias"))
    if spec == "all":
        for i, l in layers:
            both(i, l)
    elif spec == "bias":
        pairs = [(i, "bias") for i, l in layers if l.bias is not None]
    elif spec.startswith("last:"):
        try:
            k = int(spec[5:])
        except ValueError:
            raise ValueError(f"--trainable last:K needs a number, got {spec!r}") from None
        if not 1 <= k <= len(layers):
            raise ValueError(f"--trainable {spec}: the model has {len(layers)} layers with parameters")
        for i, l in layers[-k:]:
            both(i, l)
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        known = {}
        for i, l in layers:
            known[l.node] = [(i, "weight")] + ([(i, "bias")] if l.bias is not None else [])
            known[l.weight_source] = [(i, "weight")]
            if l.bias is not None:
                known[l.bias_source] = [(i, "bias")]
        for n in names:
            if n not in known:
                raise ValueError(f"--trainable: no layer or parameter named {n!r}; "
                                 f"known: {', '.join(sorted(known))}")
            pairs.extend(p for p in known[n] if p not in pairs)
    if not pairs:
        raise ValueError(f"--trainable {spec}: selects no parameter")
    return sorted(pairs)


def _layer_backward_reads(l, i: int, trainable: set, first: int) -> set:
    """The forward tensors the backward of layer i reads."""
    if i < first:
        return set()
    if l.op in ("conv2d", "linear"):
        return ({l.inp} if (i, "weight") in trainable else set()) | ({l.out} if l.attrs.get("act") else set())
    if l.op == "max_pool2d" and i > first:
        return {l.inp}
    if l.op in ACT_FROM_OUTPUT:
        return {l.out}
    return set()


def _backward_reads(low: Lowered, trainable: set, first: int) -> set:
    """Tensors some backward step reads (they may not be overwritten in place)."""
    return set().union(*(_layer_backward_reads(l, i, trainable, first) for i, l in enumerate(low.layers)))


def plan_training(graph_infer, graph_train, config: TrainConfig) -> TrainPlan:
    """graph_infer at the converted batch, graph_train at config.batch (both imported)."""
    config.validate()
    infer = lower(optimize(graph_infer))
    train = lower(optimize(graph_train), keep=frozenset(graph_train.tensors), plan=False)
    pairs = select_trainable(infer, config.trainable)
    trainable = set(pairs)
    first = min(i for i, _ in pairs)
    share_in_place(train, frozenset(_backward_reads(train, trainable, first)))
    _check_batch_shapes(infer, train)
    for li, lt in zip(infer.layers, train.layers):      # one set of weight arrays in flash
        lt.weight, lt.bias = li.weight, li.bias

    params = []
    for i, role in pairs:
        l = infer.layers[i]
        value = l.weight if role == "weight" else l.bias
        source = l.weight_source if role == "weight" else l.bias_source
        params.append(TrainParam(i, role, source or f"{l.node}.{role}", value))
    n_state = {"sgd": 1 if config.momentum else 0, "adam": 2}[config.optimizer]
    offset = HEADER_BYTES
    for p in params:
        p.offset = offset
        offset += align_up(p.bytes)
        for k in range(n_state):
            p.state[k] = offset
            offset += align_up(p.bytes)
    persistent = align_up(offset, 8)

    tp = TrainPlan(config, infer, train, params, first, persistent, {})
    tp.scratch_bytes = max(_row_floats(train.layers[i], trainable, i) for i in {i for i, _ in pairs}) * 4
    tp.plan = train.plan = plan_arena(_training_buffers(tp, trainable))
    tp.naive_bytes = _naive_bytes(tp, n_state)
    return tp


def _row_floats(layer, trainable: set, i: int) -> int:
    """Scratch floats one output channel needs: its dW row (if the weight trains) + 1."""
    w = layer.weight
    row = int(np.prod(w.shape[1:])) if (i, "weight") in trainable else 0
    return row + (1 if (i, "bias") in trainable else 0)


def _training_buffers(tp: TrainPlan, trainable: set) -> list:
    low, first = tp.train, tp.first_layer
    L = len(low.layers)
    back = lambda i: 2 * L - i                                   # noqa: E731
    spans = {}
    def touch(buf, step, size):
        f, l, s = spans.get(buf, (step, step, 0))
        spans[buf] = (min(f, step), max(l, step), max(s, size))

    # Activations: forward lifetimes, then what backward reads.
    touch(low.tensors[low.input].buffer, -1, low.tensors[low.input].bytes)
    for i, l in enumerate(low.layers):
        touch(low.tensors[l.inp].buffer, i, low.tensors[l.inp].bytes)
        touch(low.tensors[l.out].buffer, i, low.tensors[l.out].bytes)
    touch(low.tensors[low.output].buffer, L, low.tensors[low.output].bytes)
    # A forward tensor lives on to the last backward step that reads it (and no longer:
    # a pool's output that the next conv's dW reads dies at that conv's backward).
    for i, l in enumerate(low.layers):
        for t in sorted(_layer_backward_reads(l, i, trainable, first)):
            touch(low.tensors[t].buffer, back(i), low.tensors[t].bytes)

    # Gradients, one buffer per activation buffer that needs one: dL/d(out of layer i)
    # lives from the step that writes it to the backward of layer i.
    grad_of = {}                                     # activation buffer -> gradient buffer
    out = low.tensors[low.output]
    grad_of[out.buffer] = "d_" + out.buffer
    touch(grad_of[out.buffer], L, out.bytes)         # seeded by the loss
    for i in range(L - 1, first - 1, -1):
        l = low.layers[i]
        y, x = low.tensors[l.out], low.tensors[l.inp]
        touch(grad_of[y.buffer], back(i), y.bytes)
        if i > first:
            # Elementwise backward writes dx over dy (the kernels allow it).
            grad_of[x.buffer] = grad_of[y.buffer] if l.op in IN_PLACE else "d_" + x.buffer
            touch(grad_of[x.buffer], back(i), x.bytes)
    # Views (flatten) share their base's buffer, and so its gradient.
    tp.grad_buffers = {t: grad_of.get(dt.buffer) for t, dt in low.tensors.items()}

    y = low.tensors[low.output]
    target_bytes = y.bytes if tp.config.loss == "mse" else int(np.prod(y.dims[:3])) * 4
    touch(tp.target_buffer, -1, target_bytes)
    touch(tp.target_buffer, L, target_bytes)
    touch("scratch", back(L - 1), tp.scratch_bytes)
    touch("scratch", back(first), tp.scratch_bytes)
    return [Buffer(name, size, f, l) for name, (f, l, size) in spans.items()]


def _naive_bytes(tp: TrainPlan, n_state: int) -> int:
    """Every buffer summed, nothing reused: params + state + full gradients of each
    trainable parameter, every activation and every activation gradient."""
    params = sum(p.bytes for p in tp.params)
    acts = sum(t.bytes for t in {t.buffer: t for t in tp.train.tensors.values()}.values())
    return HEADER_BYTES + params * (2 + n_state) + 2 * acts


def _check_batch_shapes(infer: Lowered, train: Lowered) -> None:
    if [(l.op, l.node) for l in infer.layers] != [(l.op, l.node) for l in train.layers]:
        raise GraphError("the model's schedule differs between the inference and the training "
                         "batch size; convert with --batch equal to the model's batch")


def describe_memory(tp: TrainPlan) -> str:
    c = tp.config
    trained = ", ".join(f"{p.source}" for p in tp.params)
    return "\n".join([
        f"training: loss {c.loss}, optimizer {c.optimizer} (lr {c.lr:g}"
        + (f", momentum {c.momentum:g}" if c.optimizer == "sgd" and c.momentum else "") + f"), batch {c.batch}",
        f"trainable ({sum(p.value.size for p in tp.params):,} values): {trained}",
        f"training arena: {tp.arena_size:,} bytes = {tp.persistent:,} persistent (params + optimizer "
        f"state) + {max(tp.plan.arena_size, tp.infer.plan.arena_size):,} work area; "
        f"lower bound {tp.lower_bound():,}; naive (no reuse) {tp.naive_bytes:,}",
    ])
