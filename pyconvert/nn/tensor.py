"""A numpy ``Tensor`` with a tiny reverse-mode autograd (micrograd on arrays).

Every differentiable op is a :class:`Function` subclass whose ``forward`` and
``backward`` sit next to each other. ``Function.apply`` runs the forward on the
inputs' numpy arrays and, unless :func:`no_grad` is active, records on the result:

* ``result.op`` -- an :class:`OpRecord` ``(name, inputs, attrs)``: the op name
  (``"conv2d"``, ``"relu"``, ``"add"``, ...), the input Tensors *by position*
  (an optional input that was not given, e.g. a conv bias, is ``None``) and the
  op's attributes under PyTorch's argument names (see ``OP_ATTRS`` below);
* the saved context the backward needs (only when some input requires grad).

Ops are recorded even when no input requires grad, so a converter can trace a
model by running its forward once and walking ``.op`` back from the output to
the model input (a leaf: ``op is None``). Inside ``no_grad()`` nothing is
recorded. The complete list of op records and their attributes is ``OP_ATTRS``.

``Tensor.backward(grad)`` walks the graph in reverse topological order and
accumulates ``.grad`` (a numpy array) on leaf tensors that require grad, like
PyTorch. Gradients keep the dtype of the tensor they belong to, so everything
works in float64 too (used by the finite-difference tests).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple, Optional, Sequence

import numpy as np

__all__ = [
    "Tensor", "OpRecord", "Function", "OP_ATTRS", "no_grad", "enable_grad",
    "is_grad_enabled", "tensor", "as_tensor", "from_numpy", "zeros", "ones",
    "zeros_like", "ones_like", "randn", "rand", "arange", "unbroadcast",
]

# Every op name a Tensor.op can carry -> (input slots, attribute names).
# Attribute values are normalised: pairs are 2-tuples of ints, dims are
# non-negative ints. This table is the contract with the converter.
OP_ATTRS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # tensor arithmetic (tensor.py)
    "add": (("a", "b"), ()),
    "sub": (("a", "b"), ()),
    "mul": (("a", "b"), ()),
    "div": (("a", "b"), ()),
    "neg": (("a",), ()),
    "pow": (("a",), ("exponent",)),
    "exp": (("a",), ()),
    "log": (("a",), ()),
    "matmul": (("a", "b"), ()),
    "sum": (("a",), ("dim", "keepdim")),            # dim: tuple of ints or None (all)
    "mean": (("a",), ("dim", "keepdim")),
    "reshape": (("a",), ("shape",)),                # view/reshape; shape fully resolved
    "flatten": (("a",), ("start_dim", "end_dim")),  # Tensor.flatten, F.flatten, nn.Flatten
    "transpose": (("a",), ("dim0", "dim1")),
    "getitem": (("a",), ("index",)),
    "cast": (("a",), ("dtype",)),
    # layers and activations (functional.py)
    "conv2d": (("input", "weight", "bias"), ("stride", "padding", "dilation", "groups")),
    "linear": (("input", "weight", "bias"), ()),
    "max_pool2d": (("input",), ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    "avg_pool2d": (("input",), ("kernel_size", "stride", "padding", "ceil_mode",
                                "count_include_pad", "divisor_override")),
    "adaptive_avg_pool2d": (("input",), ("output_size",)),
    "batch_norm": (("input", "running_mean", "running_var", "weight", "bias"),
                   ("training", "momentum", "eps")),
    "dropout": (("input",), ("p", "training")),
    "relu": (("input",), ()),
    "relu6": (("input",), ()),
    "hardtanh": (("input",), ("min_val", "max_val")),
    "clamp": (("input",), ("min", "max")),
    "leaky_relu": (("input",), ("negative_slope",)),
    "sigmoid": (("input",), ()),
    "tanh": (("input",), ()),
    "step": (("input",), ()),
    "softmax": (("input",), ("dim",)),
    "log_softmax": (("input",), ("dim",)),
    # losses (functional.py); reduction is "mean", "sum" or "none"
    "mse_loss": (("input", "target"), ("reduction",)),
    "cross_entropy": (("input", "target"), ("reduction",)),
    "nll_loss": (("input", "target"), ("reduction",)),
}


# ---------------------------------------------------------------------------
# grad mode
# ---------------------------------------------------------------------------

class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


@contextmanager
def _set_grad_enabled(mode: bool) -> Iterator[None]:
    previous = _grad_mode.enabled
    _grad_mode.enabled = mode
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def no_grad():
    """Context manager (or decorator): ops inside record no graph at all."""
    return _set_grad_enabled(False)


def enable_grad():
    return _set_grad_enabled(True)


# ---------------------------------------------------------------------------
# op records and functions
# ---------------------------------------------------------------------------

class OpRecord(NamedTuple):
    """How a non-leaf Tensor was made: ``name``, ``inputs`` (Tensors or None, by
    position), ``attrs`` (dict, PyTorch argument names). See ``OP_ATTRS``."""
    name: str
    inputs: tuple
    attrs: dict


class Context:
    """Scratch space a forward fills for its backward (``ctx.saved``, etc.).

    ``needs_input_grad[i]`` says whether input ``i`` needs a gradient, so a
    backward may skip work (return None) for the others."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad


class Function:
    """One differentiable op: ``forward(ctx, *arrays, **attrs) -> array`` and
    ``backward(ctx, grad_out) -> tuple of input grads`` (one per input slot,
    None where an input is None or needs no grad).

    ``apply(*inputs, **attrs)`` takes Tensors (or arrays/scalars, wrapped as
    constants, or None for an absent optional input) and returns a Tensor.
    """

    name: str = ""

    @staticmethod
    def forward(ctx: Context, *args: Any, **attrs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **attrs: Any) -> "Tensor":
        tensors = tuple(None if i is None else as_tensor(i) for i in inputs)
        record = _grad_mode.enabled
        needs = tuple(record and t is not None and t.requires_grad for t in tensors)
        ctx = Context(needs)
        arrays = [None if t is None else t.data for t in tensors]
        out = cls.forward(ctx, *arrays, **attrs)
        result = Tensor._make(np.asarray(out))
        if record:
            result.op = OpRecord(cls.name, tensors, attrs)
            if any(needs):
                result._requires_grad = True
                result._ctx = ctx
                result._fn = cls
        return result


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape`` (undo numpy broadcasting in a backward)."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------

def _default_array(data: Any, dtype: Any = None) -> np.ndarray:
    """PyTorch's torch.tensor typing: Python floats -> float32, ints -> int64;
    a numpy array keeps its dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        return np.array(data)
    arr = np.array(data)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    return arr


class Tensor:
    """A numpy array plus autograd bookkeeping. NCHW, float32 by default."""

    # ndarray (op) Tensor defers to Tensor.__rop__ instead of numpy broadcasting
    # over a Tensor-as-object; np.asarray(tensor) still works via __array__.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        self.data = _default_array(data, dtype)
        self.grad: Optional[np.ndarray] = None
        self.op: Optional[OpRecord] = None
        self._ctx: Optional[Context] = None
        self._fn: Optional[type[Function]] = None
        self._retains_grad = False
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _make(cls, array: np.ndarray) -> "Tensor":
        t = cls.__new__(cls)
        t.data, t.grad, t.op, t._ctx, t._fn = array, None, None, None, None
        t._retains_grad = t._requires_grad = False
        return t

    # -- properties ----------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind not in "fc":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._fn is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: Optional[int] = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, like torch's .numpy())."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> "Tensor":
        return Tensor._make(self.data)

    def clone(self) -> "Tensor":
        return Tensor._make(self.data.copy())

    def retain_grad(self) -> None:
        """Keep .grad on this non-leaf tensor too during backward."""
        self._retains_grad = True

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extra = ""
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extra += f", dtype={self.dtype}"
        if self.op is not None and self._fn is not None:
            extra += f", op={self.op.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- autograd ------------------------------------------------------------
    def backward(self, grad: Any = None) -> None:
        """Accumulate d(self)/d(leaf) * grad into ``leaf.grad`` for every leaf
        that requires grad. ``grad`` defaults to 1 for a one-element tensor."""
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                if grad.size != self.data.size:
                    raise ValueError(f"backward: grad shape {grad.shape} != tensor shape {self.shape}")
                grad = grad.reshape(self.shape)

        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(self._topological_order()):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._fn is None or node._retains_grad:   # a leaf, or asked to keep it
                node.grad = g.copy() if node.grad is None else node.grad + g
            if node._fn is None:
                continue
            input_grads = node._fn.backward(node._ctx, g)
            for inp, ig in zip(node.op.inputs, input_grads):
                if ig is None or inp is None or not inp.requires_grad:
                    continue
                ig = np.asarray(ig, dtype=inp.dtype)
                if ig.shape != inp.shape:
                    raise RuntimeError(f"{node.op.name} backward produced a gradient of shape "
                                       f"{ig.shape} for an input of shape {inp.shape}")
                key = id(inp)
                grads[key] = ig if key not in grads else grads[key] + ig

    def _topological_order(self) -> list["Tensor"]:
        """Tensors that require grad and reach self, inputs before outputs."""
        order: list[Tensor] = []
        seen: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:                      # iterative DFS: deep graphs are fine
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if node._fn is not None:
                for inp in node.op.inputs:
                    if inp is not None and inp.requires_grad and id(inp) not in seen:
                        stack.append((inp, False))
        return order

    # -- arithmetic ----------------------------------------------------------
    def _other(self, other: Any) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        arr = np.asarray(other)
        if arr.dtype.kind in "biuf" and self.dtype.kind == "f" and arr.ndim == 0:
            arr = arr.astype(self.dtype)   # a Python scalar does not promote (like torch)
        return Tensor._make(arr)

    def __add__(self, other): return AddFn.apply(self, self._other(other))
    def __radd__(self, other): return AddFn.apply(self._other(other), self)
    def __sub__(self, other): return SubFn.apply(self, self._other(other))
    def __rsub__(self, other): return SubFn.apply(self._other(other), self)
    def __mul__(self, other): return MulFn.apply(self, self._other(other))
    def __rmul__(self, other): return MulFn.apply(self._other(other), self)
    def __truediv__(self, other): return DivFn.apply(self, self._other(other))
    def __rtruediv__(self, other): return DivFn.apply(self._other(other), self)
    def __neg__(self): return NegFn.apply(self)
    def __matmul__(self, other): return MatMulFn.apply(self, self._other(other))
    def __rmatmul__(self, other): return MatMulFn.apply(self._other(other), self)

    def __pow__(self, exponent: float):
        if isinstance(exponent, Tensor):
            raise TypeError("only a Python number exponent is supported")
        return PowFn.apply(self, exponent=float(exponent))

    def exp(self): return ExpFn.apply(self)
    def log(self): return LogFn.apply(self)

    def sum(self, dim=None, keepdim: bool = False):
        return SumFn.apply(self, dim=_normalize_dims(dim, self.ndim), keepdim=keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return MeanFn.apply(self, dim=_normalize_dims(dim, self.ndim), keepdim=keepdim)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ReshapeFn.apply(self, shape=_resolve_shape(self.shape, tuple(int(n) for n in shape)))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        """torch.flatten semantics (note: start_dim defaults to 0 here, to 1 in
        F.flatten / nn.Flatten)."""
        return FlattenFn.apply(self, **_flatten_dims(self.ndim, start_dim, end_dim))

    def transpose(self, dim0: int, dim1: int):
        return TransposeFn.apply(self, dim0=_normalize_dim(dim0, self.ndim),
                                 dim1=_normalize_dim(dim1, self.ndim))

    @property
    def T(self):
        if self.ndim != 2:
            raise ValueError(f"T needs a 2-D tensor, got shape {self.shape}")
        return self.transpose(0, 1)

    def t(self):
        return self.T

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        return GetItemFn.apply(self, index=index)

    def float(self): return CastFn.apply(self, dtype=np.dtype(np.float32))
    def double(self): return CastFn.apply(self, dtype=np.dtype(np.float64))

    def argmax(self, dim: Optional[int] = None, keepdim: bool = False) -> "Tensor":
        """Not differentiable (like torch); returns int64."""
        out = np.argmax(self.data, axis=dim, keepdims=keepdim if dim is not None else False)
        return Tensor._make(np.asarray(out, dtype=np.int64))

    # -- activations as methods (tutorial style: x.relu()) --------------------
    def relu(self):
        from . import functional as F
        return F.relu(self)

    def sigmoid(self):
        from . import functional as F
        return F.sigmoid(self)

    def tanh(self):
        from . import functional as F
        return F.tanh(self)

    def softmax(self, dim: int):
        from . import functional as F
        return F.softmax(self, dim)

    def log_softmax(self, dim: int):
        from . import functional as F
        return F.log_softmax(self, dim)

    def clamp(self, min=None, max=None):  # noqa: A002 (PyTorch's names)
        from . import functional as F
        return F.clamp(self, min, max)


# ---------------------------------------------------------------------------
# dims helpers
# ---------------------------------------------------------------------------

def _normalize_dim(dim: int, ndim: int) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"dimension {dim} out of range for a {ndim}-D tensor")
    return dim % max(ndim, 1)


def _normalize_dims(dim, ndim: int) -> Optional[tuple[int, ...]]:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted(_normalize_dim(d, ndim) for d in dims))


def _resolve_shape(shape: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    """``new`` with its single -1 (if any) filled in; ValueError if sizes differ."""
    size = int(np.prod(shape))
    known = int(np.prod([n for n in new if n != -1]))
    if new.count(-1) > 1 or any(n < -1 for n in new):
        raise ValueError(f"cannot reshape a tensor of shape {shape} into {new}")
    if -1 in new:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape a tensor of shape {shape} into {new}")
        new = tuple(size // known if n == -1 else n for n in new)
    if int(np.prod(new)) != size:
        raise ValueError(f"cannot reshape a tensor of shape {shape} into {new}")
    return new


def _flatten_dims(ndim: int, start_dim: int, end_dim: int) -> dict:
    if ndim == 0:
        return {"start_dim": 0, "end_dim": 0}
    s, e = _normalize_dim(start_dim, ndim), _normalize_dim(end_dim, ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for a {ndim}-D tensor")
    return {"start_dim": s, "end_dim": e}


# ---------------------------------------------------------------------------
# arithmetic ops: forward and backward side by side
# ---------------------------------------------------------------------------

class AddFn(Function):
    name = "add"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    # y = a + b (broadcast): da = sum_broadcast(g), db = sum_broadcast(g)
    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class SubFn(Function):
    name = "sub"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    # y = a - b: da = g, db = -g (each summed over broadcast dims)
    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb)


class MulFn(Function):
    name = "mul"

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    # y = a * b: da = g * b, db = g * a
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        da = unbroadcast(g * b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(g * a, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class DivFn(Function):
    name = "div"

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a / b

    # y = a / b: da = g / b, db = -g * a / b^2
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        da = unbroadcast(g / b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-g * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class NegFn(Function):
    name = "neg"

    @staticmethod
    def forward(ctx, a):
        return -a

    # y = -a: da = -g
    @staticmethod
    def backward(ctx, g):
        return (-g,)


class PowFn(Function):
    name = "pow"

    @staticmethod
    def forward(ctx, a, *, exponent):
        ctx.a, ctx.exponent = a, exponent
        return a ** exponent

    # y = a^p: da = g * p * a^(p-1)
    @staticmethod
    def backward(ctx, g):
        p = ctx.exponent
        return (g * p * ctx.a ** (p - 1.0),)


class ExpFn(Function):
    name = "exp"

    @staticmethod
    def forward(ctx, a):
        ctx.y = np.exp(a)
        return ctx.y

    # y = e^a: da = g * y
    @staticmethod
    def backward(ctx, g):
        return (g * ctx.y,)


class LogFn(Function):
    name = "log"

    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return np.log(a)

    # y = ln a: da = g / a
    @staticmethod
    def backward(ctx, g):
        return (g / ctx.a,)


class MatMulFn(Function):
    name = "matmul"

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a @ b

    # y = a @ b (numpy matmul semantics, 1-D operands promoted):
    #   da = g @ b^T, db = a^T @ g, each summed over broadcast batch dims
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        a2 = a[None, :] if a.ndim == 1 else a          # (.., n, k)
        b2 = b[:, None] if b.ndim == 1 else b          # (.., k, m)
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        da = db = None
        if ctx.needs_input_grad[0]:
            da = g2 @ np.swapaxes(b2, -1, -2)
            da = unbroadcast(da, a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            db = np.swapaxes(a2, -1, -2) @ g2
            db = unbroadcast(db, b2.shape).reshape(b.shape)
        return da, db


class SumFn(Function):
    name = "sum"

    @staticmethod
    def forward(ctx, a, *, dim, keepdim):
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        return np.sum(a, axis=dim, keepdims=keepdim)

    # y = sum_dim(a): da = g broadcast back over the summed dims
    @staticmethod
    def backward(ctx, g):
        if ctx.dim is not None and not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        return (np.broadcast_to(g, ctx.shape),)


class MeanFn(Function):
    name = "mean"

    @staticmethod
    def forward(ctx, a, *, dim, keepdim):
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        ctx.count = a.size if dim is None else int(np.prod([a.shape[d] for d in dim]))
        return np.mean(a, axis=dim, keepdims=keepdim)

    # y = sum_dim(a) / n: da = g / n broadcast back over the reduced dims
    @staticmethod
    def backward(ctx, g):
        if ctx.dim is not None and not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        return (np.broadcast_to(g / ctx.count, ctx.shape),)


class ReshapeFn(Function):
    name = "reshape"

    @staticmethod
    def forward(ctx, a, *, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    # da = g reshaped back
    @staticmethod
    def backward(ctx, g):
        return (g.reshape(ctx.shape),)


class FlattenFn(Function):
    name = "flatten"

    @staticmethod
    def forward(ctx, a, *, start_dim, end_dim):
        ctx.shape = a.shape
        if a.ndim == 0:
            return a.reshape(1)
        return a.reshape(a.shape[:start_dim] + (-1,) + a.shape[end_dim + 1:])

    # da = g reshaped back
    @staticmethod
    def backward(ctx, g):
        return (g.reshape(ctx.shape),)


class TransposeFn(Function):
    name = "transpose"

    @staticmethod
    def forward(ctx, a, *, dim0, dim1):
        ctx.dims = dim0, dim1
        return np.swapaxes(a, dim0, dim1)

    # da = g with the same two axes swapped back
    @staticmethod
    def backward(ctx, g):
        return (np.swapaxes(g, *ctx.dims),)


class GetItemFn(Function):
    name = "getitem"

    @staticmethod
    def forward(ctx, a, *, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return a[index]

    # da = zeros with g scattered (added, for repeated fancy indices) at index
    @staticmethod
    def backward(ctx, g):
        da = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.add.at(da, ctx.index, g)
        return (da,)


class CastFn(Function):
    name = "cast"

    @staticmethod
    def forward(ctx, a, *, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    # da = g cast back to the input dtype
    @staticmethod
    def backward(ctx, g):
        return (g.astype(ctx.dtype),)


# ---------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------

def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Like torch.tensor: copies; Python floats become float32, ints int64,
    numpy arrays keep their dtype."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(data: Any) -> Tensor:
    """A Tensor as is; anything else wrapped (no copy for a numpy array)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return Tensor._make(data)
    return Tensor._make(_default_array(data))


def from_numpy(array: np.ndarray) -> Tensor:
    """Shares memory with ``array`` and keeps its dtype (like torch.from_numpy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def _shape(size: Sequence) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def zeros(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(size), dtype=dtype), requires_grad=requires_grad)


def ones(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(size), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(as_tensor(t).data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(as_tensor(t).data), requires_grad=requires_grad)


def randn(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the generator seeded by nn.manual_seed."""
    from .init import get_generator
    data = get_generator().standard_normal(_shape(size)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def rand(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the generator seeded by nn.manual_seed."""
    from .init import get_generator
    data = get_generator().random(_shape(size)).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


def arange(*args, dtype=None) -> Tensor:
    return Tensor(np.arange(*args, dtype=dtype))
