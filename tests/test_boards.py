"""Boards: converted models as Cortex-M firmware on QEMU-emulated boards.

Every seed model runs on every board it fits, and its outputs must EQUAL the host's
bit for bit, not merely within 1e-6: both sides compile the same C with
-ffp-contract=off, both compute in IEEE single precision (the FPU, or libgcc's
soft-float routines on the M0/M3, which round correctly too), and these models use
no libm function. Where a model does not fit, the build fails with the one-line
budget error, never a crash or a linker message.

Each firmware is built once per module (and cached across runs by content hash);
QEMU runs take well under a second.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import pyconvert.boards
from pyconvert.boards.firmware import FitError, build
from pyconvert.boards.profiles import DEFAULT_BOARD, PROFILES, get_profile
from pyconvert.boards.qemu import run_elf
from pyconvert.boards.runner import BoardModel
from pyconvert.cli import main
from pyconvert.convert import load, lower_graph, write_outputs
from pyconvert.host.model_runner import HostModel

SEED_MODELS = ["lenet5", "lenet3x3", "mlp784", "logic_mlp"]
EMULATED = [name for name, p in PROFILES.items() if p.emulated]
MPS2 = ["mps2-an386", "mps2-an385", "mps2-an500", "mps2-an505"]

# Which seed model fits which board (flash, RAM). mlp784 carries 2.7 MB of float
# weights: only the 4 MB MPS2 boards hold it. The LeNets need ~270-350 KB of flash
# and ~30 KB of RAM: too much for the micro:bit (256 KB / 16 KB).
FITS = {
    "logic_mlp": set(PROFILES),
    "lenet5": set(MPS2) | {"netduinoplus2", "stm32f446"},
    "lenet3x3": set(MPS2) | {"netduinoplus2", "stm32f446"},
    "mlp784": set(MPS2),
}


def _missing_tools() -> list:
    missing = [t for t in ("arm-none-eabi-gcc", "make", "qemu-system-arm", "cc") if shutil.which(t) is None]
    if "arm-none-eabi-gcc" not in missing:
        specs = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=nano.specs"],
                               capture_output=True, text=True).stdout.strip()
        if not Path(specs).is_file():
            missing.append("newlib (libnewlib-arm-none-eabi)")
    return missing


@pytest.fixture(scope="module")
def tools():
    missing = _missing_tools()
    if missing:
        pytest.skip(f"board tools not installed: {', '.join(missing)} (bash .ci/setup installs them)")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("converted")
    return {name: write_outputs(lower_graph(load(name)), root / name, name) for name in SEED_MODELS}


@pytest.fixture(scope="module")
def firmware(tools, converted):
    """Every (model, board) firmware, built once: the Firmware or the FitError raised.

    Two builds at a time: much of a build is serial (the link, the large model
    file), so two keep both cores busy. Later builds of the same inputs are cache hits."""
    def one(combo):
        try:
            return build(converted[combo[0]], combo[1])
        except FitError as exc:
            return exc
    combos = [(model, board) for model in SEED_MODELS for board in PROFILES]
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(combos, pool.map(one, combos)))


@pytest.fixture(scope="module")
def board_model(firmware, converted):
    """(model, board) -> BoardModel (its firmware already built), or the FitError."""
    def get(model, board):
        built = firmware[model, board]
        return built if isinstance(built, FitError) else BoardModel(converted[model], board)
    return get


def _samples(outdir, count=3, seed=0):
    shape = tuple(json.loads((Path(outdir) / "model.json").read_text())["input_shape"])
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count * shape[0],) + shape[1:]).astype(np.float32)


# ---- profiles ------------------------------------------------------------------------------

def test_profiles_cover_the_design_table():
    assert DEFAULT_BOARD == "mps2-an386"
    cores = {n: p.core for n, p in PROFILES.items()}
    assert cores == {"mps2-an386": "Cortex-M4F", "netduinoplus2": "Cortex-M4F", "mps2-an500": "Cortex-M7",
                     "mps2-an505": "Cortex-M33", "mps2-an385": "Cortex-M3", "microbit": "Cortex-M0",
                     "stm32f446": "Cortex-M4F"}
    assert (PROFILES["netduinoplus2"].flash_origin, PROFILES["netduinoplus2"].flash_size) == (0x08000000, 1 << 20)
    assert (PROFILES["microbit"].flash_size, PROFILES["microbit"].ram_size) == (256 << 10, 16 << 10)
    assert not PROFILES["mps2-an385"].has_fpu and not PROFILES["microbit"].has_fpu
    assert not PROFILES["stm32f446"].emulated and len(EMULATED) == 6


@pytest.mark.parametrize("board", list(PROFILES))
def test_linker_script_states_the_profiles_memory(board):
    """The budgets live in the profile and in ld/<board>.ld: they must agree."""
    p = get_profile(board)
    text = (Path(pyconvert.boards.__file__).parent / "ld" / p.linker_script).read_text()
    units = {"": 1, "K": 1 << 10, "M": 1 << 20}
    memory = {m[0]: (int(m[1], 16), int(m[2]) * units[m[3]]) for m in
              re.findall(r"(FLASH|RAM)\s*\(\w+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*LENGTH\s*=\s*(\d+)([KM]?)", text)}
    assert memory == {"FLASH": (p.flash_origin, p.flash_size), "RAM": (p.ram_origin, p.ram_size)}


def test_unknown_board_is_one_line(tmp_path, capsys, converted):
    assert main(["firmware", str(converted["logic_mlp"]), "--board", "esp32", "-o", str(tmp_path / "f")]) == 1
    err = capsys.readouterr().err
    assert "unknown board 'esp32'" in err and err.count("\n") == 1


# ---- every seed model on every emulated board -----------------------------------------------

@pytest.mark.parametrize("board", EMULATED)
@pytest.mark.parametrize("model", SEED_MODELS)
def test_seed_model_on_board_equals_host_or_is_over_budget(board_model, converted, model, board):
    got = board_model(model, board)
    if board not in FITS[model]:
        assert isinstance(got, FitError), f"{model} unexpectedly fits {board}"
        assert f"{model} does not fit {board}:" in str(got) and "over by" in str(got)
        return
    assert not isinstance(got, FitError), str(got)
    x = _samples(converted[model])
    y = got.run(x)
    expected = HostModel(converted[model]).run(x)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_array_equal(y, expected)     # bit-identical, see the module docstring


def test_lenet5_on_microbit_names_both_budgets(board_model):
    err = str(board_model("lenet5", "microbit"))
    assert re.search(r"flash needs [\d,]+ bytes .*budget 262,144 \(256 KB\), over by [\d,]+", err), err
    assert re.search(r"RAM needs [\d,]+ bytes .*budget 16,384 \(16 KB\), over by [\d,]+", err), err


def test_mlp784_on_netduinoplus2_is_over_the_flash_budget(board_model):
    err = str(board_model("mlp784", "netduinoplus2"))
    m = re.search(r"flash needs ([\d,]+) bytes .*budget 1,048,576 \(1 MB\), over by ([\d,]+)", err)
    assert m, err
    need, over = (int(g.replace(",", "")) for g in m.groups())
    assert need > 2_600_000 and need - over == 1 << 20
    assert "RAM" not in err                      # its 10 KB arena fits 128 KB


def test_fit_error_through_the_cli_is_one_line(tools, converted, tmp_path, capsys):
    code = main(["firmware", str(converted["lenet5"]), "--board", "microbit", "-o", str(tmp_path / "fw")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("pyconvert: error: lenet5 does not fit microbit: flash needs")
    assert not (tmp_path / "fw").exists()


def test_artificial_budget_board_builds_but_is_not_emulated(firmware, converted):
    for model in SEED_MODELS:
        assert isinstance(firmware[model, "stm32f446"], FitError) == ("stm32f446" not in FITS[model])
    fw = firmware["lenet5", "stm32f446"]
    assert fw.elf.is_file() and fw.sizes()["flash"] <= 512 << 10
    assert "mlp784 does not fit stm32f446: flash needs" in str(firmware["mlp784", "stm32f446"])
    with pytest.raises(ValueError, match="stm32f446 is not emulated"):
        BoardModel(converted["lenet5"], "stm32f446").run(_samples(converted["lenet5"], 1))


# ---- benchmarks -----------------------------------------------------------------------------

@pytest.mark.parametrize("board", EMULATED)
def test_logic_mlp_bench_on_every_board(board_model, board):
    r = board_model("logic_mlp", board).bench()
    assert r["board"] == board and r["macs"] == 112
    assert [l["name"] for l in r["layers"]] == ["fc1", "fc2", "fc3"]
    assert 0 < sum(l["instructions"] for l in r["layers"]) < r["instructions"]
    assert 0 < r["stack_bytes"] <= get_profile(board).stack_reserve


def test_benchmark_script_writes_every_mode(tmp_path):
    """benchmarks/bench_boards.py (the issue 8 table) on the smallest model and one
    board: inference and training rows for float32 and int8, markdown and JSON, and the
    markdown again from the JSON alone."""
    import runpy
    script = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "bench_boards.py"))
    assert script["main"](["--models", "logic_mlp", "--boards", "mps2-an386", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    rows = {(r["dtype"], r["mode"]): r for r in saved["results"]}
    assert set(rows) == {(d, m) for d in ("float32", "int8") for m in ("inference", "training")}
    assert rows[("int8", "training")]["integer_only"] and rows[("float32", "training")]["instructions_per_step"] > 0
    text = (tmp_path / "results.md").read_text()
    assert "## Inference" in text and "## Training" in text
    (tmp_path / "results.md").unlink()
    assert script["main"](["--from-json", str(tmp_path / "results.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.md").read_text() == text


def test_instruction_counts_are_deterministic(board_model):
    model = board_model("lenet5", "mps2-an386")
    first, second = model.bench(), model.bench()
    assert first == second
    assert first["instructions"] > first["macs"]       # at least an instruction per MAC


def test_soft_float_costs_more_instructions(board_model):
    m4f = board_model("lenet5", "mps2-an386").bench()["instructions"]
    m3 = board_model("lenet5", "mps2-an385").bench()["instructions"]
    assert m3 > 3 * m4f


def test_cli_bench_json(board_model, converted, capsys):
    board_model("lenet5", "mps2-an386")                 # built by the fixture already
    assert main(["bench", str(converted["lenet5"]), "--board", "mps2-an386", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("model", "board", "core", "instructions", "macs", "instructions_per_mac", "layers",
                "flash_bytes", "text_bytes", "rodata_bytes", "static_ram_bytes", "arena_bytes",
                "stack_bytes", "heap_bytes", "flash_budget", "ram_budget", "runtime_text_bytes"):
        assert key in r, key
    assert (r["model"], r["board"], r["macs"], r["arena_bytes"]) == ("lenet5", "mps2-an386", 416_520, 10_144)
    assert r["instructions_per_mac"] == pytest.approx(r["instructions"] / r["macs"], abs=1e-3)
    assert [l["name"] for l in r["layers"]] == ["conv1", "conv2", "fc1", "fc2", "fc3"]   # pools fused
    # only the kernels the model calls are linked: a few KB of runtime, not all of it
    assert 0 < r["runtime_text_bytes"] < r["text_bytes"] and r["runtime_text_bytes"] < 12_000
    assert sum(l["macs"] for l in r["layers"]) == r["macs"]
    assert r["flash_bytes"] == r["text_bytes"] + r["rodata_bytes"] > 61_706 * 4   # the weights
    assert r["static_ram_bytes"] > r["arena_bytes"] and 0 < r["stack_bytes"] < 8192
    assert main(["bench", str(converted["lenet5"])]) == 0   # the table, on the default board
    assert "instructions per inference" in capsys.readouterr().out


# ---- the CLI and the firmware project -------------------------------------------------------

def test_cli_run_on_a_board_matches_the_host(board_model, converted, tmp_path):
    board_model("lenet5", "mps2-an386")
    x = _samples(converted["lenet5"], count=2, seed=7)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(converted["lenet5"]), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy"), "--board", "mps2-an386"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), HostModel(converted["lenet5"]).run(x))


def test_cli_firmware_writes_a_rebuildable_project(board_model, converted, tmp_path, capsys):
    board_model("logic_mlp", "netduinoplus2")
    fwdir = tmp_path / "fw"
    assert main(["firmware", str(converted["logic_mlp"]), "--board", "netduinoplus2", "-o", str(fwdir)]) == 0
    out = capsys.readouterr().out
    assert "logic_mlp on netduinoplus2 (Cortex-M4F): flash" in out and "of 1,048,576 bytes" in out
    for f in ("fw.elf", "fw.bin", "fw.hex", "Makefile", "CMakeLists.txt", "main.c", "model/logic_mlp.c",
              "board/ld/netduinoplus2.ld", "runtime/include/mt/mt.h"):
        assert (fwdir / f).is_file(), f
    assert (fwdir / "fw.elf").read_bytes()[:4] == b"\x7fELF"
    assert (fwdir / "fw.hex").read_text().startswith(":")
    vectors = (fwdir / "fw.bin").read_bytes()[:8]                     # initial SP, reset PC
    sp, pc = int.from_bytes(vectors[:4], "little"), int.from_bytes(vectors[4:], "little")
    assert 0x20000000 < sp <= 0x20000000 + (128 << 10) and 0x08000000 <= pc < 0x08100000 and pc & 1
    # Self-contained: it rebuilds from scratch with its own Makefile, to the same image.
    subprocess.run(["make", "-s", "clean"], cwd=fwdir, check=True)
    subprocess.run(["make", "-s", "-j2"], cwd=fwdir, check=True, capture_output=True)
    assert (fwdir / "fw.bin").read_bytes() == (board_model("logic_mlp", "netduinoplus2").fw.directory
                                               / "fw.bin").read_bytes()


def test_firmware_project_builds_with_cmake(board_model, converted, tmp_path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    project = board_model("logic_mlp", "mps2-an386").fw.directory
    build_dir = tmp_path / "cmake"
    subprocess.run(["cmake", "-S", str(project), "-B", str(build_dir)], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build_dir)], check=True, capture_output=True)
    assert (build_dir / "fw.bin").is_file() and (build_dir / "fw.hex").is_file()
    # The link order differs from make's, so compare behaviour, not bytes.
    x = _samples(converted["logic_mlp"])
    result = run_elf(build_dir / "fw.elf", get_profile("mps2-an386"), x.astype("<f4").tobytes())
    assert result.exit_code == 0
    np.testing.assert_array_equal(np.frombuffer(result.output, "<f4").reshape(-1, 1),
                                  HostModel(converted["logic_mlp"]).run(x))


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385"])
def test_float_training_with_exp_and_log_equals_the_host_bit_for_bit(tools, tmp_path, board):
    """Cross-entropy training (softmax: exp and log) on the Cortex-M4F (FPU) and on the
    M3 (libgcc soft-float): the parameters after 2 epochs equal the host's bit for bit.

    libm's expf/logf differ between glibc and newlib in the last place, which made
    these drift apart by ~3e-8; the runtime computes them itself from IEEE float
    arithmetic (runtime_c/src/support/mt_math.c), so the bits match."""
    from pyconvert.models.digits_cnn import load_digits_split
    x, y = (a[:64] for a in load_digits_split()[:2])
    out = tmp_path / "dct"
    assert main(["convert", "digits_cnn", "-o", str(out), "--train", "--optimizer", "adam",
                 "--lr", "0.005", "--batch", "8"]) == 0
    history, board_params = BoardModel(out, board).train(x, y, 2)
    host = HostModel(out)
    losses = []
    for _ in range(2):
        steps = [host.train_step(x[i:i + 8], y[i:i + 8]) for i in range(0, 64, 8)]
        total = np.float32(0)
        for loss in steps:                          # summed in float, as main.c does
            total = np.float32(total + np.float32(loss))
        losses.append(float(total / np.float32(len(steps))))
    host_params = host.params()
    assert sorted(board_params) == sorted(host_params)
    for name, value in host_params.items():
        np.testing.assert_array_equal(board_params[name], value, err_msg=name)
    assert [loss for loss, _ in history] == losses
    assert losses[1] < losses[0]
