"""The int8 part of the conversion report: per-layer quantization, SQNR and sizes."""

from __future__ import annotations

import math

from ..lower import Lowered
from .lower_s8 import const_bytes


def _qp(q) -> str:
    return f"{float(q.scale):.4g}/{int(q.zero_point)}"


def _db(v) -> str:
    if v is None:
        return "-"
    return "exact" if math.isinf(v) else ("n/a" if math.isnan(v) else f"{v:.1f}")


def int8_report(low: Lowered) -> str:
    """Per layer: input and output (scale/zero point), SQNR of the int8 output vs the
    float model on the calibration set (dB, error accumulated through the model),
    constant bytes; then the flash totals against float32 and the PTQ notes."""
    qm = low.quant
    rows = [("layer", "op", "in scale/zp", "out scale/zp", "SQNR dB", "const bytes")]
    for layer in low.layers:
        d = layer.s8
        size = sum(a.nbytes for a in d.arrays().values())
        out_node = layer.attrs.get("pool_node", layer.node)   # a fused conv+pool ends in its pool
        rows.append((layer.node, layer.op, _qp(d.input), _qp(d.output),
                     _db(qm.sqnr.get(out_node)), f"{size:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    source = "the file's own scales" if qm.method == "file" else f"calibration: {qm.method}"
    lines = [f"int8 quantization ({source})"]
    lines += ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
              for r in rows]
    lines.insert(2, "  ".join("-" * w for w in widths))
    b = const_bytes(low)
    share = 100.0 * b["weights"] / b["float_weights"] if b["float_weights"] else 0.0
    total = b["weights"] + b["bias"] + b["requant"] + b["tables"]
    lines.append(f"input {_qp(qm.input)}, output {_qp(qm.output)} (scale/zero point)")
    lines.append(f"flash: weights {b['weights']:,} bytes int8 ({share:.0f}% of float32's "
                 f"{b['float_weights']:,}), biases {b['bias']:,}, requantization {b['requant']:,}, "
                 f"tables {b['tables']:,}; {total:,} bytes of constants in all")
    lines += [f"note: {n}" for n in qm.notes]
    return "\n".join(lines)
