"""Graph passes run on every imported model before lowering, in this order:

1. remove_identities   Identity and Dropout (inference) pass their input through.
2. fold_batch_norm     y = (conv(x) - mean) / sqrt(var + eps) * gamma + beta is a conv
                       with w' = w * s and b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).
3. fuse_activations    ReLU / ReLU6 / Clip right after a conv or linear become its
                       fused clamp (`act`), so no separate pass over the tensor runs
                       (the conv/linear output takes over the activation output's
                       quantization, if a quantized file gave it one).
4. remove_dead_nodes   nodes whose outputs no graph output needs.

Each pass rewrites the graph in place and keeps it valid.
"""

from __future__ import annotations

import numpy as np

from .ir import Graph, GraphError


def _rename_input(graph: Graph, old: str, new: str) -> None:
    for node in graph.nodes:
        node.inputs = [new if t == old else t for t in node.inputs]
    graph.outputs = [new if t == old else t for t in graph.outputs]


def remove_identities(graph: Graph) -> None:
    for node in [n for n in graph.nodes if n.op in ("identity", "dropout")]:
        src, dst = node.inputs[0], node.outputs[0]
        graph.nodes.remove(node)
        if dst in graph.outputs and src in graph.inputs:
            raise GraphError(f"{node.describe()}: the model does nothing (input is output)")
        _rename_input(graph, dst, src)
        gone = graph.tensors.get(dst)
        if gone is not None and gone.quant is not None and graph.tensors[src].quant is None:
            graph.tensors[src].quant = gone.quant


def _single_consumer(graph: Graph, tensor: str):
    users = graph.consumers(tensor)
    if len(users) == 1 and tensor not in graph.outputs:
        return users[0]
    return None


def fold_batch_norm(graph: Graph) -> None:
    for bn in [n for n in graph.nodes if n.op == "batch_norm"]:
        prev = graph.producer(bn.inputs[0])
        if prev is None or prev.op not in ("conv2d", "linear") or prev.attrs.get("act") \
                or _single_consumer(graph, bn.inputs[0]) is not bn:
            raise GraphError(f"{bn.describe()}: BatchNormalization is supported only right after "
                             f"a Conv or Linear whose output nothing else reads (to fold it)")
        gamma, beta, mean, var = (graph.tensors[t].data.astype(np.float64) for t in bn.inputs[1:5])
        scale = gamma / np.sqrt(var + bn.attrs.get("eps", 1e-5))
        w = graph.tensors[prev.inputs[1]].data.astype(np.float64)
        w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
        b = graph.tensors[prev.inputs[2]].data.astype(np.float64) if len(prev.inputs) > 2 and \
            prev.inputs[2] else np.zeros(w.shape[0])
        b = (b - mean) * scale + beta
        w_name, b_name = f"{prev.name}.weight_folded", f"{prev.name}.bias_folded"
        graph.add_tensor(w_name, data=w.astype(np.float32))
        graph.add_tensor(b_name, data=b.astype(np.float32))
        prev.inputs = [prev.inputs[0], w_name, b_name]
        graph.nodes.remove(bn)
        _rename_input(graph, bn.outputs[0], prev.outputs[0])


def fuse_activations(graph: Graph) -> None:
    for node in list(graph.nodes):
        if node.op not in ("conv2d", "linear") or node.attrs.get("act"):
            continue
        act = _single_consumer(graph, node.outputs[0])
        if act is None:
            continue
        if act.op == "relu":
            node.attrs["act"] = (0.0, float("inf"))
        elif act.op == "clip":
            node.attrs["act"] = (float(act.attrs["lo"]), float(act.attrs["hi"]))
        else:
            continue
        graph.nodes.remove(act)
        _rename_input(graph, act.outputs[0], node.outputs[0])
        fused = graph.tensors.pop(act.outputs[0], None)
        if fused is not None and fused.quant is not None:
            graph.tensors[node.outputs[0]].quant = fused.quant


def remove_dead_nodes(graph: Graph) -> None:
    needed = set(graph.outputs)
    alive = []
    for node in reversed(graph.nodes):
        if any(t in needed for t in node.outputs):
            alive.append(node)
            needed.update(t for t in node.inputs if t)
    graph.nodes = list(reversed(alive))


def optimize(graph: Graph) -> Graph:
    remove_identities(graph)
    fold_batch_norm(graph)
    fuse_activations(graph)
    remove_dead_nodes(graph)
    graph.validate()
    return graph
