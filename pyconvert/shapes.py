"""Shape inference for IR nodes: one rule per op, each validating what it reads.

Shapes are NCHW (the source model's semantics). Output sizes follow the same
formulas as runtime_c's mt_conv_out_size / mt_pool_out_size (PyTorch's rules).
"""

from __future__ import annotations

import numpy as np

from .ir import ELEMENTWISE, GraphError


def conv_out_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                  dilation: int = 1) -> int:
    room = size + pad_begin + pad_end - (dilation * (kernel - 1) + 1)
    return room // stride + 1 if room >= 0 else -1


def pool_out_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                  ceil_mode: bool) -> int:
    room = size + pad_begin + pad_end - kernel
    if room < 0:
        return -1
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1   # a window may not start in the end padding (PyTorch)
    return out


def _need_rank(node, shape, rank: int, what: str = "input") -> None:
    if shape is None or len(shape) != rank:
        raise GraphError(f"{node.describe()}: expected a {rank}-D {what}, got shape {shape}")


def _spatial(node, out_h: int, out_w: int, x) -> None:
    if out_h < 1 or out_w < 1:
        raise GraphError(f"{node.describe()}: the window does not fit input {tuple(x)} "
                         f"(attributes {node.attrs})")


def infer_node(node, shapes: list) -> tuple:
    op, a = node.op, node.attrs
    x = shapes[0]
    if op == "conv2d":
        _need_rank(node, x, 4)
        w = shapes[1]
        _need_rank(node, w, 4, "weight")
        n, c, h, wd = x
        o, cg, kh, kw = w
        groups = a["groups"]
        if c % groups or o % groups or cg != c // groups:
            raise GraphError(f"{node.describe()}: weight {tuple(w)} does not match input {tuple(x)} "
                             f"with groups={groups}")
        if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (o,):
            raise GraphError(f"{node.describe()}: bias shape {tuple(shapes[2])}, expected ({o},)")
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = a["stride"], a["dilation"], a["pads"]
        oh, ow = conv_out_size(h, kh, sh, pt, pb, dh), conv_out_size(wd, kw, sw, pl, pr, dw)
        _spatial(node, oh, ow, x)
        return (n, o, oh, ow)
    if op == "linear":
        w = shapes[1]
        _need_rank(node, x, 2)
        _need_rank(node, w, 2, "weight")
        if x[1] != w[1]:
            raise GraphError(f"{node.describe()}: input {tuple(x)} has {x[1]} features, "
                             f"weight {tuple(w)} expects {w[1]}")
        if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (w[0],):
            raise GraphError(f"{node.describe()}: bias shape {tuple(shapes[2])}, expected ({w[0]},)")
        return (x[0], w[0])
    if op in ("max_pool2d", "avg_pool2d"):
        _need_rank(node, x, 4)
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["stride"], a["pads"]
        ceil = a.get("ceil_mode", False)
        oh, ow = pool_out_size(x[2], kh, sh, pt, pb, ceil), pool_out_size(x[3], kw, sw, pl, pr, ceil)
        _spatial(node, oh, ow, x)
        return (x[0], x[1], oh, ow)
    if op == "global_avg_pool":
        _need_rank(node, x, 4)
        return (x[0], x[1], 1, 1)
    if op == "flatten":
        if x is None or len(x) < 2:
            raise GraphError(f"{node.describe()}: cannot flatten shape {x}")
        return (x[0], int(np.prod(x[1:])))
    if op == "batch_norm":
        for s in shapes[1:]:
            if tuple(s) != (x[1],):
                raise GraphError(f"{node.describe()}: parameter shape {tuple(s)}, expected ({x[1]},)")
        return tuple(x)
    if op in ("softmax", "log_softmax"):
        axis = a["axis"] % len(x)
        if axis != 1:
            raise GraphError(f"{node.describe()}: only the channel axis (1) is supported, got axis "
                             f"{a['axis']} on shape {tuple(x)}")
        return tuple(x)
    if op in ELEMENTWISE or op in ("identity", "dropout"):
        return tuple(x)
    raise GraphError(f"{node.describe()}: no shape rule")
