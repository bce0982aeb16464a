"""int8 against float32 on the digits task: accuracy, agreement with onnxruntime, sizes.

    python benchmarks/int8_accuracy.py

Per model (digits_cnn on the 8x8 digits, LeNet-5 on the digits upsampled to 32x32),
trained in float with torch (seeded; tests/int8_cases.py):
- top-1 accuracy on the held-out split of the float32 C model and of the int8 C model
  after post-training quantization (calibration: the train split; minmax and
  percentile observers);
- the same float model exported to ONNX and quantized by onnxruntime
  (quantize_static, QDQ, per-channel int8 weights, int8 and uint8 activations),
  imported and run on our int8 path with the file's own scales: the worst difference
  from onnxruntime's int8 output in LSB and the share of outputs within 1 LSB;
- flash (weights bytes; all constants) and arena bytes, float32 and int8.
Needs torch, onnxruntime and scikit-learn.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from int8_cases import accuracy, export_quantized, onnxruntime_int8, trained  # noqa: E402

from pyconvert.convert import load, lower_graph, write_outputs  # noqa: E402
from pyconvert.host.model_runner import HostModel  # noqa: E402
from pyconvert.quant.lower_s8 import const_bytes  # noqa: E402


def measure(name: str, work: Path) -> dict:
    t = trained(name)
    f32 = lower_graph(t.graph)
    row = {"float_acc": accuracy(HostModel(write_outputs(f32, work / f"{name}_f32", name))
                                 .run(t.x_test), t.y_test)}
    for method in ("minmax", "percentile"):
        low = lower_graph(t.graph, dtype="int8", calib=t.x_train, calib_method=method)
        model = HostModel(write_outputs(low, work / f"{name}_{method}", name))
        row[f"int8_acc_{method}"] = accuracy(model.run(t.x_test), t.y_test)
        if method == "minmax":
            s8 = low
    for acts in ("int8", "uint8"):
        path = export_quantized(t.torch_model, t.x_train[:300], work / f"{name}_{acts}.onnx",
                                "qdq", acts)
        low = lower_graph(load(str(path)), dtype="int8")
        ours = HostModel(write_outputs(low, work / f"{name}_qdq_{acts}", name)).run_raw(t.x_test)
        theirs = onnxruntime_int8(path, t.x_test, low.quant.output.scale, low.quant.output.zero_point)
        diff = np.abs(ours.astype(np.int64) - theirs)
        row[f"qdq_{acts}"] = (int(diff.max()), float(np.mean(diff <= 1)), float(np.mean(diff == 0)),
                              accuracy(ours, t.y_test))
    sizes = const_bytes(s8)
    row.update(flash_f32=sizes["float_weights"] + sum(4 * l.bias.size for l in f32.layers
                                                      if l.bias is not None),
               weights_f32=sizes["float_weights"], weights_s8=sizes["weights"],
               flash_s8=sizes["weights"] + sizes["bias"] + sizes["requant"] + sizes["tables"],
               arena_f32=f32.plan.arena_size, arena_s8=s8.plan.arena_size,
               sqnr=min(s8.quant.sqnr.values()))
    return row


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="int8-bench-") as tmp:
        rows = {name: measure(name, Path(tmp)) for name in ("digits_cnn", "lenet5")}
    for name, r in rows.items():
        print(f"{name}")
        print(f"  top-1 (held-out {'8x8' if name == 'digits_cnn' else '32x32'} digits): "
              f"float32 {100 * r['float_acc']:.2f}%   int8 minmax {100 * r['int8_acc_minmax']:.2f}%   "
              f"int8 percentile {100 * r['int8_acc_percentile']:.2f}%")
        print(f"  lowest per-layer SQNR (minmax, calibration set): {r['sqnr']:.1f} dB")
        for acts in ("int8", "uint8"):
            worst, within, exact, acc = r[f"qdq_{acts}"]
            print(f"  onnxruntime QDQ ({acts} activations, per-channel weights): worst {worst} LSB, "
                  f"{100 * within:.2f}% within 1 LSB, {100 * exact:.2f}% identical; top-1 {100 * acc:.2f}%")
        print(f"  flash: weights float32 {r['weights_f32']:,} B -> int8 {r['weights_s8']:,} B "
              f"({r['weights_s8'] / r['weights_f32']:.2f}x); all constants {r['flash_f32']:,} B -> "
              f"{r['flash_s8']:,} B")
        print(f"  arena: float32 {r['arena_f32']:,} B -> int8 {r['arena_s8']:,} B "
              f"({r['arena_s8'] / r['arena_f32']:.2f}x)")


if __name__ == "__main__":
    main()
