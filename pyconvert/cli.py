"""The `pyconvert` command line.

    pyconvert convert MODEL -o OUTDIR [--name NAME] [--input-shape 1,1,32,32]
                      [--train [--loss ce|mse] [--optimizer sgd|adam] [--lr 0.01]
                       [--momentum 0.9] [--batch 1] [--trainable all|last:K|bias|NAME,...]]
    pyconvert run OUTDIR --input X.npy [--output Y.npy] [--board BOARD]
    pyconvert train OUTDIR --data D.npz [--epochs E] [--load-params P.npz] [--save-params P.npz]
    pyconvert params export OUTDIR P.npz -o BLOB | params import OUTDIR BLOB -o P.npz
    pyconvert firmware OUTDIR --board BOARD -o FWDIR
    pyconvert bench OUTDIR [--board BOARD] [--json]
    pyconvert info MODEL [--input-shape ...]
    pyconvert demo [quickstart|logic|finetune] [--board BOARD] [--dtype float32|int8|both]

MODEL is a .onnx file, a model-definition .py file, or a bundled model's short name
(lenet5, lenet3x3, mlp784, logic_mlp, ...). BOARD is a board profile (mps2-an386,
netduinoplus2, mps2-an500, mps2-an505, mps2-an385, microbit, stm32f446; see
pyconvert/boards/profiles.py): `run --board` and `bench` run the firmware on the board
emulated by QEMU. Exit code 0 on success; otherwise a one-line error on stderr and
exit code 1.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def _shape(text: str) -> tuple:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,1,32,32, got {text!r}")
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"dimensions must be positive, got {text!r}")
    return dims


def _parser() -> argparse.ArgumentParser:
    from .boards.profiles import DEFAULT_BOARD, PROFILES   # plain data, cheap to import
    boards = ", ".join(PROFILES)
    p = argparse.ArgumentParser(
        prog="pyconvert",
        description="Convert small neural networks to plain C that infers and trains on "
                    "microcontrollers, and run them on this machine or an emulated board.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    model_help = "a .onnx file, a model-definition .py file, or a bundled model name"
    c = sub.add_parser("convert", help="convert a model to C (<name>.h, <name>.c, model.json)")
    c.add_argument("model", metavar="MODEL", help=model_help)
    c.add_argument("-o", "--output", dest="outdir", required=True, metavar="OUTDIR",
                   help="directory to write (replaced atomically)")
    c.add_argument("--name", help="C identifier prefix (default: the model's file name)")
    c.add_argument("--input-shape", type=_shape, metavar="N,C,H,W",
                   help="input shape incl. batch, for models with dynamic or no declared shape")
    c.add_argument("--dtype", choices=["float32", "int8"], default="float32",
                   help="int8: post-training quantization with --calib (or a quantized ONNX "
                        "file's own scales)")
    c.add_argument("--calib", metavar="DATA.npz",
                   help="calibration inputs for --dtype int8: x, float32 NCHW, N samples")
    c.add_argument("--calib-method", choices=["minmax", "percentile"], default="minmax",
                   help="activation ranges from min/max (default) or the 0.01/99.99 percentiles")
    c.add_argument("--params", metavar="P.npz",
                   help="trained parameters (PyTorch names) for a model file, e.g. from "
                        "'pyconvert train --save-params'")
    c.add_argument("--no-fuse", dest="fuse", action="store_false",
                   help="keep each conv and the max-pool after it as two layers (by default they "
                        "run as one, and the conv's full output is never stored)")
    t = c.add_argument_group("training", "emit a train step beside inference (--train)")
    t.add_argument("--train", action="store_true", help="make the model trainable on the device")
    t.add_argument("--loss", choices=["ce", "mse"], default="ce",
                   help="ce: cross-entropy from logits with class labels; mse: mean squared error")
    t.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    t.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    t.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0)")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--batch", type=int, default=1, help="samples per training step (default 1)")
    t.add_argument("--trainable", default="all", metavar="SPEC",
                   help="all | last:K (the last K layers with parameters) | bias (biases only) | "
                        "NAME,... (layers or parameters by name)")
    t.add_argument("--input-exp", type=int, default=None, metavar="E",
                   help="--dtype int8 --train: inputs are int8 at 2^E (default: from --calib's "
                        "max |x|, else -7, i.e. [0, 1] data)")
    t.add_argument("--target-exp", type=int, default=-7, metavar="E",
                   help="--dtype int8 --train --loss mse: targets are int8 at 2^E (default -7)")

    i = sub.add_parser("info", help="print the conversion report without writing files")
    i.add_argument("model", metavar="MODEL", help=model_help)
    i.add_argument("--input-shape", type=_shape, metavar="N,C,H,W")

    r = sub.add_parser("run", help="run a converted model on this machine (or a board)")
    r.add_argument("outdir", metavar="OUTDIR", help="a directory written by 'pyconvert convert'")
    r.add_argument("--input", required=True, metavar="X.npy",
                   help="float32 input, NCHW with a batch dimension (any number of samples)")
    r.add_argument("--output", metavar="Y.npy", help="where to save the float32 output")
    r.add_argument("--raw", action="store_true",
                   help="int8 models: the int8 output (the input may be int8 or float32)")
    r.add_argument("--board", metavar="BOARD",
                   help="run on this emulated board (QEMU) instead of this machine")

    tr = sub.add_parser("train", help="train a model converted with --train, through the C runtime")
    tr.add_argument("outdir", metavar="OUTDIR", help="a directory written by 'pyconvert convert --train'")
    tr.add_argument("--data", required=True, metavar="D.npz",
                    help="x: float32 NCHW samples; y: int64 labels (ce) or float32 targets (mse)")
    tr.add_argument("--epochs", type=int, default=1)
    tr.add_argument("--load-params", metavar="P.npz", help="start from these parameters (PyTorch names)")
    tr.add_argument("--save-params", metavar="P.npz", help="write the trained parameters (PyTorch names)")
    tr.add_argument("--board", metavar="BOARD",
                    help="train on this emulated board (QEMU) instead of this machine")

    pp = sub.add_parser("params", help="convert between params files (.npz) and device blobs")
    psub = pp.add_subparsers(dest="params_command", metavar="ACTION", required=True)
    pe = psub.add_parser("export", help="a params .npz (PyTorch names) -> a blob the device loads")
    pe.add_argument("outdir", metavar="OUTDIR", help="a model converted with --train")
    pe.add_argument("params", metavar="P.npz")
    pe.add_argument("-o", "--output", required=True, metavar="BLOB")
    pe.add_argument("--sequence", type=int, default=1, help="the blob's sequence number (default 1)")
    pi = psub.add_parser("import", help="a blob the device wrote -> a params .npz (PyTorch names)")
    pi.add_argument("outdir", metavar="OUTDIR", help="a model converted with --train")
    pi.add_argument("blob", metavar="BLOB")
    pi.add_argument("-o", "--output", required=True, metavar="P.npz")

    f = sub.add_parser("firmware", help="write and build the firmware project for a board")
    f.add_argument("outdir", metavar="OUTDIR", help="a directory written by 'pyconvert convert'")
    f.add_argument("--board", required=True, metavar="BOARD", help=f"one of: {boards}")
    f.add_argument("-o", "--output", dest="fwdir", required=True, metavar="FWDIR",
                   help="project directory to write (replaced), with fw.elf, fw.bin, fw.hex")
    f.add_argument("--data", metavar="D.npz",
                   help="a model converted with --train: compile this training set (arrays x, y, "
                        "as for 'train') into flash (dataset.h); '--train E' then needs no files")

    b = sub.add_parser("bench", help="count instructions and memory of one inference on a board")
    b.add_argument("outdir", metavar="OUTDIR", help="a directory written by 'pyconvert convert'")
    b.add_argument("--board", default=DEFAULT_BOARD, metavar="BOARD",
                   help=f"an emulated board (default {DEFAULT_BOARD}); one of: {boards}")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.add_argument("--train", action="store_true",
                   help="measure one training step instead (a model converted with --train)")

    d = sub.add_parser("demo", help="run an end-to-end demonstration")
    d.add_argument("name", nargs="?", default="quickstart", choices=["quickstart", "logic", "finetune"],
                   help="quickstart (default): train digits_cnn in the C runtime, convert it, "
                        "run it on the host and an emulated board; logic: the 2-4-4-1 MLP "
                        "learns OR and AND; finetune: the pretrained digits_cnn adapts to a "
                        "shifted sensor by training on the board")
    d.add_argument("--board", default=None, metavar="BOARD",
                   help=f"default {DEFAULT_BOARD} (netduinoplus2 for finetune)")
    d.add_argument("--dtype", choices=["float32", "int8", "both"], default="both",
                   help="finetune: float32, integer-only int8, or both (default)")
    d.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default 5 for quickstart, 300 for logic, "
                        "15 on the board for finetune)")
    d.add_argument("-o", "--output", dest="workdir", default="pyconvert-demo", metavar="DIR",
                   help="where quickstart and finetune write their models (default ./pyconvert-demo)")
    d.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args, argv if argv is not None else sys.argv[1:])
    except (ValueError, OSError, RuntimeError) as exc:   # GraphError is a ValueError
        print(f"pyconvert: error: {exc}".splitlines()[0], file=sys.stderr)
        return 1


def cmd_convert(args, argv) -> int:
    from .convert import default_name, load, lower_graph, plan_for_training, report, write_outputs
    name = args.name or default_name(args.model)
    plan = None
    if args.dtype == "int8" and args.train:
        return _convert_qtrain(args, argv, name)
    if args.calib and args.dtype != "int8":
        raise ValueError("--calib is for --dtype int8")
    if args.train:
        from .train_plan import TrainConfig, describe_memory
        config = TrainConfig(loss=args.loss, optimizer=args.optimizer, lr=args.lr,
                             momentum=args.momentum, weight_decay=args.weight_decay,
                             batch=args.batch, trainable=args.trainable)
        plan = plan_for_training(args.model, config, input_shape=args.input_shape, name=name,
                                 params=args.params)
        low = plan.infer
    else:
        graph = load(args.model, input_shape=args.input_shape, name=name, params=args.params)
        calib = None
        if args.calib:
            from .convert import load_calibration
            calib = load_calibration(args.calib)
        low = lower_graph(graph, dtype=args.dtype, calib=calib, calib_method=args.calib_method,
                          fuse=args.fuse)
    outdir = write_outputs(low, args.outdir, name, command="pyconvert " + shlex.join(argv),
                           source=str(args.model), train=plan)
    print(report(low))
    if plan:
        print(describe_memory(plan))
    print(f"wrote {outdir}/{name}.h, {name}.c, model.json")
    return 0


def _convert_qtrain(args, argv, name: str) -> int:
    """--dtype int8 --train: integer-only training (pyconvert.convert_q)."""
    from .convert import report
    from .convert_q import input_exp_from, plan_for_qtraining, write_q_outputs
    from .qtrain_plan import describe_qmemory
    from .train_plan import TrainConfig
    config = TrainConfig(loss=args.loss, optimizer=args.optimizer, lr=args.lr,
                         momentum=args.momentum, weight_decay=args.weight_decay,
                         batch=args.batch, trainable=args.trainable)
    input_exp = args.input_exp if args.input_exp is not None else input_exp_from(args.calib)
    qp = plan_for_qtraining(args.model, config, input_shape=args.input_shape, name=name,
                            params=args.params, input_exp=input_exp, target_exp=args.target_exp)
    outdir = write_q_outputs(qp, args.outdir, name, command="pyconvert " + shlex.join(argv),
                             source=str(args.model))
    print(report(qp.float_plan.infer))
    print(describe_qmemory(qp))
    print(f"wrote {outdir}/{name}.h, {name}.c, model.json")
    return 0


def _train_runner(outdir, meta):
    if meta.get("integer_only_training"):
        from .host.qmodel_runner import QHostModel
        return QHostModel(outdir)
    from .host.model_runner import HostModel
    return HostModel(outdir)


def cmd_train(args, argv) -> int:
    from .convert import read_meta
    from .training import load_dataset, load_params, save_params, train, train_on_board
    meta = read_meta(args.outdir)
    if "train" not in meta:
        raise ValueError(f"{args.outdir}: converted without --train; convert with "
                         f"'pyconvert convert MODEL -o {args.outdir} --train ...'")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    x, y = load_dataset(args.data, meta["train"])
    if args.board:
        if args.load_params:
            raise ValueError("--load-params with --board: the board starts from the converted "
                             "parameters; convert from a model holding them instead")
        params = train_on_board(args.outdir, args.board, x, y, args.epochs)
    else:
        runner = _train_runner(args.outdir, meta)
        if args.load_params:
            runner.load_params(load_params(args.load_params))
        train(runner, x, y, args.epochs)
        params = runner.params()
    if args.save_params:
        save_params(args.save_params, params)
        print(f"wrote {args.save_params}")
    return 0


def cmd_info(args, argv) -> int:
    from .convert import default_name, load, lower_graph, report
    graph = load(args.model, input_shape=args.input_shape, name=default_name(args.model))
    print(report(lower_graph(graph)))
    return 0


def cmd_run(args, argv) -> int:
    import numpy as np
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{args.input}: cannot read a .npy array ({exc})") from exc
    if x.dtype != np.float32 and not (args.raw and x.dtype == np.int8):
        raise ValueError(f"{args.input}: expected float32{' or int8' if args.raw else ''}, got {x.dtype}")
    from .convert import read_meta
    if read_meta(args.outdir).get("integer_only_training"):
        if args.board or args.raw:
            raise ValueError(f"{args.outdir}: an integer-only training model runs on this machine "
                             f"with float output (no --board, no --raw)")
        from .host.qmodel_runner import QHostModel
        model = QHostModel(args.outdir)
    elif args.board:
        from .boards.runner import BoardModel
        model = BoardModel(args.outdir, args.board)
    else:
        from .host.model_runner import HostModel
        model = HostModel(args.outdir)
    y = model.run_raw(x) if args.raw else model.run(x)
    if args.output:
        np.save(args.output, y)
    with np.printoptions(precision=5, suppress=True, linewidth=120):
        print(y)
    return 0


def cmd_params(args, argv) -> int:
    from pathlib import Path
    from .convert import read_meta
    from .params_blob import from_blob, to_blob
    from .training import load_params, save_params
    meta = read_meta(args.outdir)
    if args.params_command == "export":
        blob = to_blob(meta, load_params(args.params), sequence=args.sequence)
        Path(args.output).write_bytes(blob)
        print(f"wrote {args.output} ({len(blob):,} bytes, sequence {args.sequence})")
    else:
        params, sequence = from_blob(meta, Path(args.blob).read_bytes())
        save_params(args.output, params)
        print(f"wrote {args.output} ({len(params)} tensors, from sequence {sequence})")
    return 0


def cmd_firmware(args, argv) -> int:
    from .boards.firmware import build, export
    dataset = None
    if args.data:
        from .boards.runner import training_set
        from .convert import read_meta
        from .training import load_dataset
        meta = read_meta(args.outdir)
        if "train" not in meta:
            raise ValueError(f"--data: {args.outdir} was converted without --train")
        dataset, _ = training_set(meta, *load_dataset(args.data, meta["train"]))
    fw = build(args.outdir, args.board, dataset)  # raises FitError (one line) if it does not fit
    dest = export(fw, args.fwdir)
    print(fw.usage())
    print(f"wrote {dest}/ (Makefile, CMakeLists.txt, sources) and {dest}/fw.elf, fw.bin, fw.hex")
    return 0


def cmd_bench(args, argv) -> int:
    import json
    from .boards.runner import bench, format_bench, format_bench_train
    result = bench(args.outdir, args.board, train=args.train)
    text = format_bench_train(result) if args.train else format_bench(result)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def cmd_demo(args, argv) -> int:
    from .boards.profiles import DEFAULT_BOARD
    from .demos import GATES, logic_gates, quickstart
    if args.name == "finetune":
        from .demo_finetune import EPOCHS, finetune
        result = finetune(args.workdir, board=args.board or "netduinoplus2", dtype=args.dtype,
                          epochs=args.epochs or EPOCHS)
        # Success is learning on the device; the stated targets are reported, not enforced.
        return 0 if all(r["after"] > r["before"] for r in result["rows"].values()) else 1
    if args.name == "quickstart":
        result = quickstart(args.workdir, board=args.board or DEFAULT_BOARD, epochs=args.epochs or 5)
        return 0 if result["identical"] else 1
    results = logic_gates(epochs=args.epochs or 300, seed=args.seed)
    ok = all(((pred > 0.5) == (GATES[g] > 0.5)).all() for g, (pred, _) in results.items())
    return 0 if ok else 1


COMMANDS = {"convert": cmd_convert, "info": cmd_info, "run": cmd_run, "train": cmd_train,
            "params": cmd_params,
            "firmware": cmd_firmware,
            "bench": cmd_bench, "demo": cmd_demo}


if __name__ == "__main__":
    raise SystemExit(main())
