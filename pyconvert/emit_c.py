"""C emission: a lowered model -> `<name>.h` and `<name>.c`, pure data.

The output is deterministic: no timestamps, params printed with `%.9g` (which
round-trips every float32 exactly), tables in schedule order. The header comment
carries the generator version, the command line and a hash of the model, so the
same input always gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from . import __version__
from .lower import MT_OPS, Lowered, runner
from .planner import describe

PER_LINE = 6  # numbers per line in weight arrays


def c_identifier(name: str) -> str:
    """A valid, readable C identifier from any name ('onnx::Conv_12' -> 'onnx_Conv_12')."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "t"
    ident = re.sub(r"_+", "_", ident)
    return "t_" + ident if ident[0].isdigit() else ident


def check_model_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"model name {name!r} is not a C identifier (letters, digits, '_'; "
                         f"not starting with a digit)")
    return name


def c_float(v: float) -> str:
    """Exact float32 literal."""
    v = float(np.float32(v))
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    if math.isnan(v):
        raise ValueError("NaN in model data")
    text = "%.9g" % v
    if not re.search(r"[.eE]", text):
        text += ".0"
    return text + "f"


def model_hash(low: Lowered) -> str:
    h = hashlib.sha256()
    for layer in low.layers:
        h.update(repr((layer.op, layer.inp, layer.out, sorted(layer.attrs.items()))).encode())
        for a in (layer.weight, layer.bias):
            if a is not None:
                h.update(np.ascontiguousarray(a, np.float32).tobytes())
    for name in low.tensor_order():
        h.update(repr((name, low.tensors[name].dims)).encode())
    return h.hexdigest()[:16]


def _array(ident: str, data: np.ndarray, comment: str) -> str:
    flat = np.asarray(data, np.float32).ravel()
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"parameter {comment}: contains NaN or Inf")
    lines = [f"/* {comment} */", f"static const float {ident}[{flat.size}] = {{"]
    for i in range(0, flat.size, PER_LINE):
        lines.append("    " + ", ".join(c_float(v) for v in flat[i:i + PER_LINE]) + ",")
    lines.append("};")
    return "\n".join(lines)


def _dims(d) -> str:
    return "{%d, %d, %d, %d}" % tuple(d)


def geometry_fields(layer) -> list:
    """The .conv / .pool initializers of a conv or pooling layer (else none)."""
    a = layer.attrs
    fields = []
    if layer.op in ("conv2d", "conv2d_maxpool"):
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = a["stride"], a["dilation"], a["pads"]
        fields.append(f".conv = {{{sh}, {sw}, {pt}, {pl}, {pb}, {pr}, {dh}, {dw}, {a['groups']}}}")
    pool = a["pool"] if layer.op == "conv2d_maxpool" else a if layer.op in ("max_pool2d", "avg_pool2d") else None
    if pool is not None:
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = pool["kernel"], pool["stride"], pool["pads"]
        fields.append(f".pool = {{{kh}, {kw}, {sh}, {sw}, {pt}, {pl}, {pb}, {pr}, "
                      f"{int(pool.get('ceil_mode', False))}, {int(pool.get('count_include_pad', True))}}}")
    return fields


def scratch_field(layer, index: dict) -> list:
    """.scratch = 1 + the working tensor's index, for layers that have one."""
    return [f".scratch = {index[layer.scratch] + 1}"] if layer.scratch else []


def _layer_init(layer, index: dict, idents: dict, params: dict) -> str:
    """One mt_layer initializer. params: (layer id, role) -> 1-based mt_param index."""
    a = layer.attrs
    fields = [f".op = {MT_OPS[layer.op]}", f".run = {runner(layer.op)}", f".in = {index[layer.inp]}",
              f".out = {index[layer.out]}"]
    if layer.weight is not None:
        w = layer.weight
        dims = w.shape if w.ndim == 4 else (w.shape[0], 1, 1, w.shape[1])
        fields.append(f".weight = {idents[id(w)]}")
        fields.append(f".weight_dims = {_dims(dims)}")
    if layer.bias is not None:
        fields.append(f".bias = {idents[id(layer.bias)]}")
    for role in ("weight", "bias"):
        if (id(layer), role) in params:
            fields.append(f".{role}_param = {params[(id(layer), role)]}")
    fields += geometry_fields(layer) + scratch_field(layer, index)
    act = a.get("act")
    if layer.op in ("conv2d", "linear", "conv2d_maxpool"):
        lo, hi = act if act else (-math.inf, math.inf)
        fields.append(f".act = {{{c_float(lo)}, {c_float(hi)}}}")
    if layer.op == "clip":
        fields.append(f".act = {{{c_float(a['lo'])}, {c_float(a['hi'])}}}")
    if layer.op == "leaky_relu":
        fields.append(f".alpha = {c_float(a['alpha'])}")
    return "    { " + ", ".join(fields) + " },"


def _weights(low: Lowered, name: str) -> tuple:
    """The const weight arrays: (C text, {id(array): identifier})."""
    parts, idents, used = [], {}, set()
    for layer in low.layers:
        for arr, src, role in ((layer.weight, layer.weight_source, "weight"),
                               (layer.bias, layer.bias_source, "bias")):
            if arr is None:
                continue
            ident = f"{name}_{c_identifier(src or layer.node + '_' + role)}"
            while ident in used:
                ident += "_"
            used.add(ident)
            idents[id(arr)] = ident
            layout = "OHWI" if arr.ndim == 4 else "(out, in)" if arr.ndim == 2 else "(out,)"
            parts.append(_array(ident, arr, f"{src or layer.node + ' ' + role}: {arr.shape} {layout}"))
            parts.append("")
    return "\n".join(parts), idents


def _schedule(low: Lowered, prefix: str, base: int, idents: dict, params: dict, plan_text: str) -> str:
    """Tensor and layer tables of one schedule; offsets are shifted by `base`."""
    order = low.tensor_order()
    index = {t: i for i, t in enumerate(order)}
    lines = ["/* Activation tensors: NHWC dims, byte offset in the arena."]
    lines += [" *   " + line for line in plan_text.splitlines()]
    lines += [" */", f"static const mt_tensor {prefix}_tensors[{len(order)}] = {{"]
    for t in order:
        dt = low.tensors[t]
        lines.append(f"    {{ {_dims(dt.dims)}, {base + low.plan.offset(dt.buffer)} }},  /* {t}: {dt.shape} */")
    lines += ["};", "", f"static const mt_layer {prefix}_layers[{len(low.layers)}] = {{"]
    for layer in low.layers:
        act = layer.attrs.get("act")
        fused = f" + clamp [{act[0]:g}, {act[1]:g}]" if act else ""
        shapes = f"{low.tensors[layer.inp].shape} -> {low.tensors[layer.out].shape}"
        lines.append(f"    /* {layer.node}: {layer.op}{fused}, {shapes} */")
        lines.append(_layer_init(layer, index, idents, params))
    lines += ["};", ""]
    return "\n".join(lines)


def _model_struct(low: Lowered, var: str, prefix: str, arena: int, n_params: int, params_var: str) -> str:
    order = low.tensor_order()
    index = {t: i for i, t in enumerate(order)}
    tail = f"\n    .n_params = {n_params}, .params = {params_var}," if n_params else ""
    return f"""const mt_model {var} = {{
    .n_layers = {len(low.layers)}, .layers = {prefix}_layers,
    .n_tensors = {len(order)}, .tensors = {prefix}_tensors,
    .input = {index[low.input]}, .output = {index[low.output]},
    .arena_size = {arena},{tail}
}};
"""


def emit(low: Lowered, name: str, command: str = "", source: str = "", train=None) -> tuple:
    """Return (header_text, source_text); name is the C prefix.

    train: a TrainPlan (pyconvert.train_plan) whose `infer` is `low`, to emit the
    trainable model: parameters in RAM, the training schedule and the trainer.
    An int8 model (low.dtype == "int8") is emitted by pyconvert.emit_c_s8."""
    if low.dtype == "int8":
        if train is not None:
            raise ValueError(f"model '{name}': an int8 model cannot train (no --train with int8)")
        from .emit_c_s8 import emit_s8
        return emit_s8(low, name, command=command, source=source)
    check_model_name(name)
    digest = model_hash(low) + (model_hash(train.train) if train else "")
    upper = name.upper()
    tin, tout = low.tensors[low.input], low.tensors[low.output]
    in_count, out_count = int(np.prod(tin.dims)), int(np.prod(tout.dims))
    base = train.persistent if train else 0
    arena = train.arena_size if train else low.plan.arena_size
    bound = train.lower_bound() if train else low.plan.lower_bound
    banner = (f"Generated by pyconvert {__version__}; do not edit.\n"
              f" * Source: {source or '(in memory)'}\n"
              f" * Command: {command or '(api)'}\n"
              f" * Model hash: {digest}")

    h = [f"/* {name}.h - {banner}\n */", f"#ifndef {upper}_H", f"#define {upper}_H", "",
         "#include <stdint.h>", '#include "mt/mt.h"', "",
         f"/* Input: {tin.shape} in the source model's NCHW terms; on the device NHWC {tin.dims}. */",
         f"#define {upper}_INPUT_SIZE {in_count}",
         f"/* Output: {tout.shape}; on the device NHWC {tout.dims}. */",
         f"#define {upper}_OUTPUT_SIZE {out_count}",
         f"/* Arena bytes{' for inference and training' if train else ' for inference'} "
         f"(the plan's lower bound is {bound}). */",
         f"#define {upper}_ARENA_SIZE {arena}", ""]
    if train:
        ty = train.train.tensors[train.train.output]
        targets = int(np.prod(ty.dims)) if train.config.loss == "mse" else int(np.prod(ty.dims[:3]))
        kind = "float targets, NHWC" if train.config.loss == "mse" else "int32 class labels"
        tx = train.train.tensors[train.train.input]
        h += [f"/* Training: {train.config.batch} samples per step; targets per step: {kind}. */",
              f"#define {upper}_TRAIN_BATCH {train.config.batch}",
              f"#define {upper}_TRAIN_INPUT_SIZE {int(np.prod(tx.dims))}",
              f"#define {upper}_TARGET_SIZE {targets}",
              "/* The parameter layout's hash: pass it to mt_params_export/import and",
              " * mt_store_save/load (mt_persist.h) so a blob never loads into another model. */",
              f"#define {upper}_PARAMS_HASH {_params_hash(train):#010x}u", ""]
    h += [f"extern const mt_model {name}_model;"]
    if train:
        h += [f"extern const mt_trainer {name}_trainer;", "",
              "/* Copy the trainable parameters from flash into the arena, zero the optimizer",
              f" * state: once before {name}_forward or {name}_train_step. */",
              f"mt_status {name}_init(void *arena, int32_t arena_size);", "",
              f"/* One optimizer step on {upper}_TRAIN_BATCH samples (NHWC floats) and their targets. */",
              f"mt_status {name}_train_step(void *arena, int32_t arena_size, const float *input,",
              f"                            const void *target, float *loss);"]
    h += ["", "/* Copy input (NHWC floats) into the arena, run every layer, copy the output out. */",
          f"mt_status {name}_forward(void *arena, int32_t arena_size, const float *input, float *output);",
          "", f"#endif /* {upper}_H */", ""]

    weights, idents = _weights(low, name)
    c = [f"/* {name}.c - {banner}\n */", "#include <math.h>\n#include <string.h>\n#include \"" + name + ".h\"",
         "", weights]
    params = {}
    n_params = 0
    if train:
        c += [f"/* Trainable parameters: the value in the arena (RAM) starts from the flash array;",
              " * state = optimizer state (SGD momentum / Adam m, v), -1 = none. */",
              f"static const mt_param {name}_params[{len(train.params)}] = {{"]
        for k, p in enumerate(train.params, start=1):
            layer = low.layers[p.layer]
            arr = layer.weight if p.role == "weight" else layer.bias
            c.append(f"    {{ {idents[id(arr)]}, {arr.size}, {p.offset}, {{{p.state[0]}, {p.state[1]}}} }},"
                     f"  /* {p.source} */")
            params[(id(layer), p.role)] = k
            params[(id(train.train.layers[p.layer]), p.role)] = k
        c += ["};", ""]
        n_params = len(train.params)
    c.append(_schedule(low, name, base, idents, params, describe(low.plan)))
    c.append(_model_struct(low, f"{name}_model", name, arena, n_params, f"{name}_params"))
    if train:
        c.append(_trainer(train, name, idents, params))
    c.append(f"""mt_status {name}_forward(void *arena, int32_t arena_size, const float *input, float *output)
{{
    if (!input || !output)
        return MT_ERR_NULL;
    mt_status st = mt_model_check(&{name}_model, arena, arena_size);
    if (st != MT_OK)
        return st;
    memcpy(mt_model_input_f32(&{name}_model, arena), input, sizeof(float) * {upper}_INPUT_SIZE);
    st = mt_model_run(&{name}_model, arena);   /* checked once, above */
    if (st == MT_OK)
        memcpy(output, mt_model_output_f32(&{name}_model, arena), sizeof(float) * {upper}_OUTPUT_SIZE);
    return st;
}}
""")
    return "\n".join(h), "\n".join(c)


def _params_hash(tp) -> int:
    from .convert import train_meta
    from .params_blob import params_hash
    return params_hash({"train": train_meta(tp)})


def _trainer(tp, name: str, idents: dict, params: dict) -> str:
    from .train_plan import LOSSES, OPTIMIZERS
    upper, low, cfg = name.upper(), tp.train, tp.config
    order = low.tensor_order()
    grads = [tp.grad_offset(t) for t in order]
    b1, b2 = cfg.betas
    lines = [_schedule(low, f"{name}_train", tp.persistent, idents, params,
                       "training batch; lifetimes over forward, loss and backward:\n" + describe(tp.plan)),
             _model_struct(low, f"{name}_train_model", f"{name}_train", tp.arena_size, len(tp.params),
                           f"{name}_params"),
             f"/* dL/d(tensor) in the arena, per training tensor (-1: no gradient needed). */",
             f"static const int32_t {name}_grad_offsets[{len(order)}] = {{ "
             + ", ".join(str(g) for g in grads) + " };", "",
             f"const mt_trainer {name}_trainer = {{",
             f"    .model = &{name}_train_model, .grad_offsets = {name}_grad_offsets,",
             f"    .first_layer = {tp.first_layer}, .loss = {LOSSES[cfg.loss]},",
             f"    .target_offset = {tp.persistent + tp.plan.offset(tp.target_buffer)},",
             f"    .optimizer = {OPTIMIZERS[cfg.optimizer]},",
             f"    .sgd = {{ {c_float(cfg.lr)}, {c_float(cfg.momentum)}, 0.0f, {c_float(cfg.weight_decay)}, "
             f"{int(cfg.nesterov)} }},",
             f"    .adam = {{ {c_float(cfg.lr)}, {c_float(b1)}, {c_float(b2)}, {c_float(cfg.eps)}, "
             f"{c_float(cfg.weight_decay)} }},",
             f"    .scratch_offset = {tp.persistent + tp.plan.offset('scratch')}, "
             f".scratch_size = {tp.scratch_bytes},",
             "};", "",
             f"""mt_status {name}_init(void *arena, int32_t arena_size)
{{
    return mt_train_init(&{name}_trainer, arena, arena_size);
}}

mt_status {name}_train_step(void *arena, int32_t arena_size, const float *input,
                            const void *target, float *loss)
{{
    if (!input || !target || !loss)
        return MT_ERR_NULL;
    if (!arena || arena_size < {upper}_ARENA_SIZE)
        return arena ? MT_ERR_ARENA : MT_ERR_NULL;
    memcpy(mt_train_input_f32(&{name}_trainer, arena), input, sizeof(float) * {upper}_TRAIN_INPUT_SIZE);
    memcpy(mt_train_target(&{name}_trainer, arena), target, 4 * {upper}_TARGET_SIZE);
    return mt_train_step(&{name}_trainer, arena, arena_size, loss);
}}
"""]
    return "\n".join(lines)
