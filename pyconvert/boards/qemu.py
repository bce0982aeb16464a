"""Run a firmware ELF on a QEMU-emulated board, with host files through semihosting.

    result = run_elf(fw.elf, profile, input_bytes, args=["--bench"], count=True)
    result.exit_code, result.output (output.bin), result.regions (instructions per region)

Each run gets a fresh temporary directory as QEMU's working directory: the firmware
opens "input.bin" and "output.bin" there (semihosting target=native, so the guest's
fopen is a host fopen relative to QEMU's cwd). QEMU runs headless with a timeout.

Instruction counts come from a TCG plugin (plugin/insncount.c), built with the host
C compiler into the cache directory on first use. It counts every executed guest
instruction inline, exactly; the firmware runs no timers or interrupts, so the
same firmware and input give the same counts on every run and every machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..host.build import cache_dir
from .elf import Elf
from .firmware import ToolError, require_tools
from .profiles import Profile

QEMU = "qemu-system-arm"
PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"


@dataclass
class QemuResult:
    exit_code: int
    console: str                       # what the firmware printed (semihosting console)
    output: bytes                      # output.bin as the firmware left it (b"" if none)
    files: dict = field(default_factory=dict)     # other files the firmware wrote, by name
    regions: list = field(default_factory=list)   # instructions per marked region, in order
    total_instructions: int | None = None         # the whole run's, when counted


def plugin_path() -> Path:
    """The instruction-counting plugin, compiled on first use (cached by source hash)."""
    sources = [PLUGIN_DIR / "insncount.c", PLUGIN_DIR / "qemu_plugin_min.h"]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    target = cache_dir() / "plugins" / f"insncount-{key}.so"
    if not target.is_file():
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc is None:
            raise ToolError("no host C compiler (cc) to build the QEMU plugin; install gcc")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staged = tempfile.mkstemp(suffix=".tmp", dir=target.parent)   # renamed when complete
        os.close(fd)
        result = subprocess.run([cc, "-O2", "-Wall", "-shared", "-fPIC", "-fvisibility=hidden",
                                 "-o", staged, str(sources[0])], capture_output=True, text=True)
        if result.returncode != 0:
            os.unlink(staged)
            raise RuntimeError(f"building the QEMU plugin failed: {result.stderr.strip().splitlines()[0]}")
        os.replace(staged, target)
    return target


def run_elf(elf, profile: Profile, input_bytes: bytes, *, args=(), count: bool = False,
            timeout: float = 300, files: dict | None = None, collect: tuple = (),
            markers: tuple = ("bench_start", "bench_stop")) -> QemuResult:
    """Run elf on the profile's QEMU machine with input.bin = input_bytes.

    files: more host files for the firmware to read (name -> bytes); collect: names of
    files it writes besides output.bin, returned in result.files; markers: the functions
    whose entries open and close a counted region (count=True)."""
    if not profile.emulated:
        raise ValueError(f"board {profile.name} is not emulated by QEMU "
                         f"(build and fit check only: pyconvert firmware)")
    require_tools(QEMU)
    elf = Path(elf).resolve()
    with tempfile.TemporaryDirectory(prefix="pyconvert-qemu-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(input_bytes)
        for fname, data in (files or {}).items():
            (work / fname).write_bytes(data)
        # The semihosting command line (argv[0] + args) is what the firmware reads.
        semihosting = ",".join(["enable=on", "target=native", "arg=fw.elf"] + [f"arg={a}" for a in args])
        cmd = [QEMU, "-M", profile.qemu_machine, "-kernel", str(elf),
               "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
               "-semihosting-config", semihosting]
        counts = work / "counts.txt"
        if count:
            symbols = Elf(elf)
            cmd += ["-plugin", f"{plugin_path()},start={symbols.symbol(markers[0]):#x},"
                               f"stop={symbols.symbol(markers[1]):#x},out={counts}"]
        try:
            proc = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{elf.name} on {profile.name}: QEMU did not finish within "
                               f"{timeout:g} s") from None
        # QEMU's own failures (bad machine, plugin, ELF) exit 1 with a message; the
        # firmware never uses status 1 (main.c), so it cannot be mistaken for one.
        if proc.returncode == 1 and "qemu-system-arm:" in proc.stderr:
            problem = next(l for l in proc.stderr.splitlines() if "qemu-system-arm:" in l)
            raise RuntimeError(f"{elf.name} on {profile.name}: {problem.strip()}")
        # QEMU 7.2 writes the semihosting console to its stderr; a UART, if the
        # firmware used one, would be on stdout (-serial stdio).
        result = QemuResult(proc.returncode, proc.stderr + proc.stdout,
                            (work / "output.bin").read_bytes() if (work / "output.bin").exists() else b"")
        result.files = {n: (work / n).read_bytes() for n in collect if (work / n).exists()}
        if count and counts.exists():
            for line in counts.read_text().splitlines():
                kind, *values = line.split()
                if kind == "region":
                    result.regions.append(int(values[1]))
                elif kind == "total":
                    result.total_instructions = int(values[0])
        return result
