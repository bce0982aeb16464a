"""C emission of an int8 model: `<name>.h` and `<name>.c`, pure data, deterministic.

The same shape as the float files (pyconvert.emit_c), with int8 data:
- weights `const int8_t` (OHWI / (O, K), symmetric per output channel), biases
  `const int32_t` at s_in * s_w[o], per-channel multiplier / shift `const int32_t`
  arrays, lookup tables (`int8_t[256]`) and softmax exp tables (`int32_t[256]`);
- one `mt_layer_s8` per layer (zero points, clamp, pointers to those arrays), which
  the layer table points to, and `.dtype = MT_DTYPE_S8` in the model;
- the header defines the input/output scale and zero point
  (`<NAME>_INPUT_SCALE`, `<NAME>_INPUT_ZERO_POINT`, ...) and
  `<name>_forward(arena, size, const int8_t *in, int8_t *out)`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from . import __version__
from .emit_c import _dims, c_float, c_identifier, check_model_name, geometry_fields, scratch_field
from .lower import MT_OPS, Lowered, runner
from .planner import describe

PER_LINE = {np.dtype(np.int8): 16, np.dtype(np.int32): 8}


def model_hash_s8(low: Lowered) -> str:
    h = hashlib.sha256(b"int8")
    for layer in low.layers:
        d = layer.s8
        h.update(repr((layer.op, layer.inp, layer.out, sorted(layer.attrs.items()), d.act,
                       float(d.input.scale), int(d.input.zero_point), float(d.output.scale),
                       int(d.output.zero_point))).encode())
        for role, arr in d.arrays().items():
            h.update(role.encode() + np.ascontiguousarray(arr).tobytes())
    for name in low.tensor_order():
        h.update(repr((name, low.tensors[name].dims)).encode())
    return h.hexdigest()[:16]


def _int_array(ident: str, data: np.ndarray, comment: str) -> str:
    flat = np.ascontiguousarray(data).ravel()
    ctype = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t"}[flat.dtype]
    per = PER_LINE[flat.dtype]
    lines = [f"/* {comment} */", f"static const {ctype} {ident}[{flat.size}] = {{"]
    for i in range(0, flat.size, per):
        lines.append("    " + ", ".join(str(int(v)) for v in flat[i:i + per]) + ",")
    lines.append("};")
    return "\n".join(lines)


ROLE_COMMENT = {
    "weight": "int8 {shape} {layout}, symmetric per output channel",
    "bias": "int32 {shape} at scale s_in * s_w[o]",
    "multiplier": "Q31 multipliers: s_in * s_w[o] / s_out = multiplier[o] / 2^31 * 2^shift[o]",
    "shift": "shifts (positive = left)",
    "table": "lookup table: y = table[x + 128]",
    "exp_table": "softmax exp table: round(2^23 * exp(-d * s_in)), d = 0..255",
}


def _arrays(low: Lowered, name: str) -> tuple:
    """(C text of every constant array, {(id(layer), role): identifier})."""
    parts, idents, used = [], {}, set()
    for layer in low.layers:
        for role, arr in layer.s8.arrays().items():
            source = {"weight": layer.weight_source, "bias": layer.bias_source}.get(role) or ""
            base = c_identifier(source) if source else f"{c_identifier(layer.node)}_{role}"
            ident = f"{name}_{base}"
            while ident in used:
                ident += "_"
            used.add(ident)
            idents[(id(layer), role)] = ident
            layout = "OHWI" if arr.ndim == 4 else "(out, in)"
            what = ROLE_COMMENT[role].format(shape=arr.shape, layout=layout)
            parts += [_int_array(ident, arr, f"{source or layer.node}: {what}"), ""]
    return "\n".join(parts), idents


def _s8_init(layer, idents: dict) -> str:
    d = layer.s8
    fields = [f".io = {{{d.input_offset}, {d.output_offset}, {d.act[0]}, {d.act[1]}}}"]
    ident = lambda role: idents[(id(layer), role)]   # noqa: E731
    if d.multiplier is not None:
        fields.append(f".quant = {{{ident('multiplier')}, {ident('shift')}}}")
    for role in ("weight", "bias", "table", "exp_table"):
        if getattr(d, role) is not None:
            fields.append(f".{role} = {ident(role)}")
    return "    { " + ", ".join(fields) + " },"


def _layer_init(layer, index: dict, prefix: str, i: int) -> str:
    fields = [f".op = {MT_OPS[layer.op]}", f".run = {runner(layer.op, 'int8')}", f".in = {index[layer.inp]}",
              f".out = {index[layer.out]}"]
    if layer.s8.weight is not None:
        w = layer.s8.weight
        dims = w.shape if w.ndim == 4 else (w.shape[0], 1, 1, w.shape[1])
        fields.append(f".weight_dims = {_dims(dims)}")
    fields += geometry_fields(layer) + scratch_field(layer, index)
    fields.append(f".s8 = &{prefix}_s8[{i}]")
    return "    { " + ", ".join(fields) + " },"


def _qp(q) -> str:
    return f"scale {float(q.scale):.6g} zp {int(q.zero_point)}"


def _schedule(low: Lowered, name: str, idents: dict) -> str:
    order = low.tensor_order()
    index = {t: i for i, t in enumerate(order)}
    lines = ["/* int8 parameters per layer: io = {input_offset (-zp_in), output_offset (zp_out),",
             " * act_min, act_max}, quant = per-channel {multiplier, shift}. */",
             f"static const mt_layer_s8 {name}_s8[{len(low.layers)}] = {{"]
    for layer in low.layers:
        lines.append(f"    /* {layer.node}: in {_qp(layer.s8.input)} -> out {_qp(layer.s8.output)} */")
        lines.append(_s8_init(layer, idents))
    lines += ["};", "", "/* Activation tensors (int8, 1 byte per element): NHWC dims, byte offset."]
    lines += [" *   " + line for line in describe(low.plan).splitlines()]
    lines += [" */", f"static const mt_tensor {name}_tensors[{len(order)}] = {{"]
    for t in order:
        dt = low.tensors[t]
        lines.append(f"    {{ {_dims(dt.dims)}, {low.plan.offset(dt.buffer)} }},  /* {t}: {dt.shape} */")
    lines += ["};", "", f"static const mt_layer {name}_layers[{len(low.layers)}] = {{"]
    for i, layer in enumerate(low.layers):
        act = layer.s8.act
        clamp = f" + clamp [{act[0]}, {act[1]}]" if tuple(act) != (-128, 127) else ""
        shapes = f"{low.tensors[layer.inp].shape} -> {low.tensors[layer.out].shape}"
        lines.append(f"    /* {layer.node}: {layer.op}{clamp}, {shapes} */")
        lines.append(_layer_init(layer, index, name, i))
    lines += ["};", "",
              f"const mt_model {name}_model = {{",
              f"    .n_layers = {len(low.layers)}, .layers = {name}_layers,",
              f"    .n_tensors = {len(order)}, .tensors = {name}_tensors,",
              f"    .input = {index[low.input]}, .output = {index[low.output]},",
              f"    .arena_size = {low.plan.arena_size},",
              "    .dtype = MT_DTYPE_S8,",
              "};", ""]
    return "\n".join(lines)


def emit_s8(low: Lowered, name: str, command: str = "", source: str = "") -> tuple:
    """(header_text, source_text) of an int8 model; name is the C prefix."""
    check_model_name(name)
    upper = name.upper()
    tin, tout = low.tensors[low.input], low.tensors[low.output]
    qin, qout = low.quant.input, low.quant.output
    banner = (f"Generated by pyconvert {__version__}; do not edit.\n"
              f" * Source: {source or '(in memory)'}\n"
              f" * Command: {command or '(api)'}\n"
              f" * Model hash: {model_hash_s8(low)}")
    h = [f"/* {name}.h - {banner}\n */", f"#ifndef {upper}_H", f"#define {upper}_H", "",
         "#include <stdint.h>", '#include "mt/mt.h"', "",
         "/* An int8 model: input, output and every tensor are int8 with",
         " * real = scale * (q - zero_point); quantize the input with mt_quantize_s8 and",
         " * dequantize the output with mt_dequantize_s8 using the values below. */",
         f"#define {upper}_DTYPE_S8 1",
         f"/* Input: {tin.shape} in the source model's NCHW terms; on the device NHWC {tin.dims}. */",
         f"#define {upper}_INPUT_SIZE {int(np.prod(tin.dims))}",
         f"#define {upper}_INPUT_SCALE {c_float(qin.scale)}",
         f"#define {upper}_INPUT_ZERO_POINT ({int(qin.zero_point)})",
         f"/* Output: {tout.shape}; on the device NHWC {tout.dims}. */",
         f"#define {upper}_OUTPUT_SIZE {int(np.prod(tout.dims))}",
         f"#define {upper}_OUTPUT_SCALE {c_float(qout.scale)}",
         f"#define {upper}_OUTPUT_ZERO_POINT ({int(qout.zero_point)})",
         f"/* Arena bytes for inference (the plan's lower bound is {low.plan.lower_bound}). */",
         f"#define {upper}_ARENA_SIZE {low.plan.arena_size}", "",
         f"extern const mt_model {name}_model;", "",
         "/* Copy the int8 input (NHWC) into the arena, run every layer, copy the int8 output out. */",
         f"mt_status {name}_forward(void *arena, int32_t arena_size, const int8_t *input, "
         f"int8_t *output);", "", f"#endif /* {upper}_H */", ""]
    arrays, idents = _arrays(low, name)
    c = [f"/* {name}.c - {banner}\n */", "#include <string.h>\n#include \"" + name + ".h\"", "",
         arrays, _schedule(low, name, idents),
         f"""mt_status {name}_forward(void *arena, int32_t arena_size, const int8_t *input, int8_t *output)
{{
    if (!input || !output)
        return MT_ERR_NULL;
    mt_status st = mt_model_check(&{name}_model, arena, arena_size);
    if (st != MT_OK)
        return st;
    memcpy(mt_model_input_s8(&{name}_model, arena), input, {upper}_INPUT_SIZE);
    st = mt_model_run(&{name}_model, arena);   /* checked once, above */
    if (st == MT_OK)
        memcpy(output, mt_model_output_s8(&{name}_model, arena), {upper}_OUTPUT_SIZE);
    return st;
}}
"""]
    return "\n".join(h), "\n".join(c)
