"""Firmware for a converted model: a self-contained project directory, built and fit-checked.

    fw = build("out/lenet5", "mps2-an386")     # cached; raises FitError if it does not fit
    fw.elf, fw.sizes()["flash"], fw.usage()
    export(fw, "fw/lenet5")                    # the project + fw.elf/.bin/.hex for the user

The project holds everything it needs (runtime_c's sources, the model's <name>.c/.h,
the board support, a generated main.c, a Makefile and a CMakeLists.txt), so a user
can rebuild it with `make` and no pyconvert. pyconvert builds it with that same
Makefile:

1. `make measure` links build/measure.elf with unlimited memory (ld/measure.ld) and
   its section sizes are compared with the board's budget. Doing this before the
   real link means an image that is far too big still gets an exact one-line
   answer (what, how much needed, budget, by how much over), not a linker error.
2. `make` links fw.elf with the board's own script and writes fw.bin and fw.hex.

Builds are cached under <cache>/firmware/<name>-<board>-<key>, where key hashes
every file of the project and the compiler's version: repeated runs reuse the
build, and a change anywhere (runtime, model, board support, flags) rebuilds.
A failed fit check is cached too (<name>-<board>-<key>.nofit holds the message).
Only the two most recently used builds of each model and board are kept.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..convert import read_meta
from ..host.build import cache_dir, runtime_dir
from .elf import Elf
from .profiles import KB, MB, Profile, get_profile

HERE = Path(__file__).resolve().parent
BOARD_SOURCES = ["startup.c", "board.c", "board.h", "source.h"]
CROSS = "arm-none-eabi-"
BUILD_VERSION = "1"  # bump to invalidate every cached firmware

# The compile flags besides the core's. -ffp-contract=off: the M4F, M7 and M33
# FPUs have a fused multiply-add, and GCC would contract a*b+c into it by
# default, rounding once instead of twice; pinned off here as in the host build
# (docs/design.md, Numbers), every float result equals the host's bit for bit.
C_FLAGS = ["-std=c99", "-O2", "-g", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections",
           "-Wall", "-Wextra", "-Wno-unused-parameter"]
# newlib-nano with librdimon (stdio on host files through semihosting); startup.c
# replaces crt0 (-nostartfiles); --gc-sections drops whatever nothing references.
LD_FLAGS = ["--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles", "-Wl,--gc-sections"]
INCLUDE_DIRS = ["board", "model", "runtime/include", "runtime/src/support"]


class FitError(RuntimeError):
    """The model's firmware needs more flash or RAM than the board has."""


class ToolError(RuntimeError):
    """A tool the board support needs is not installed."""


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise ToolError(f"{', '.join(missing)} not found; install the Debian packages "
                        f"gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm make "
                        f"(bash .ci/setup does)")


def _kib(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB and n % (MB // 4) == 0 else f"{n / KB:g} KB"


@dataclass
class Firmware:
    directory: Path
    profile: Profile
    meta: dict

    @property
    def elf(self) -> Path:
        return self.directory / "fw.elf"

    @property
    def embedded_samples(self) -> bool:
        """True if the training set is compiled in (dataset.h)."""
        return (self.directory / "dataset.h").is_file()

    def sizes(self) -> dict:
        """Bytes by kind, from fw.elf's sections (see ld/common.ld)."""
        elf = Elf(self.elf)
        s = {k: elf.section_size("." + k) for k in ("text", "rodata", "data", "bss", "heap", "stack")}
        s["flash"] = elf.flash_bytes           # text + rodata + exidx + data's initial values
        s["ram"] = elf.ram_bytes               # data + bss + heap and stack reserves
        s["static_ram"] = s["data"] + s["bss"]
        s["arena"] = self.meta["arena_size"]
        return s

    def runtime_code(self) -> dict:
        """Bytes of runtime_c linked into fw.elf, from the linker map (fw.map): the
        .text and .rodata input sections of runtime/src objects that the link kept
        (-ffunction-sections and --gc-sections drop every kernel the model does not
        call). libgcc helpers (64-bit multiply/shift) are not counted."""
        text = (self.directory / "fw.map").read_text()
        kept = text[text.index("Linker script and memory map"):]
        sizes = {"text": 0, "rodata": 0}
        for section, size, obj in _MAP_ENTRY.findall(kept):
            if "runtime/src/" in obj:
                kind = "text" if section.startswith(".text") else "rodata"
                sizes[kind] += int(size, 16)
        return sizes

    def usage(self) -> str:
        s, p = self.sizes(), self.profile
        return (f"{self.meta['name']} on {p.name} ({p.core}): "
                f"flash {s['flash']:,} of {p.flash_size:,} bytes ({100 * s['flash'] / p.flash_size:.1f}%), "
                f"RAM {s['ram']:,} of {p.ram_size:,} bytes ({100 * s['ram'] / p.ram_size:.1f}%: "
                f"data+bss {s['static_ram']:,} incl. arena {s['arena']:,}, "
                f"heap {s['heap']:,}, stack {s['stack']:,})")


# An input section in the map: " .text.name" then (same or next line) address, size,
# object file.
_MAP_ENTRY = re.compile(r"^ (\.(?:text|rodata)\S*)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+\.o)$", re.M)


def check_fit(elf: Elf, profile: Profile, name: str) -> None:
    """Raise FitError naming each memory that is over the board's budget."""
    ram_parts = (f"data+bss {elf.section_size('.data') + elf.section_size('.bss'):,} "
                 f"+ heap {profile.heap_reserve:,} + stack {profile.stack_reserve:,}")
    problems = []
    for what, need, budget, parts in (("flash", elf.flash_bytes, profile.flash_size, "text+rodata+data"),
                                      ("RAM", elf.ram_bytes, profile.ram_size, ram_parts)):
        if need > budget:
            problems.append(f"{what} needs {need:,} bytes ({parts}), budget {budget:,} "
                            f"({_kib(budget)}), over by {need - budget:,}")
    if problems:
        raise FitError(f"{name} does not fit {profile.name}: " + "; ".join(problems))


# ---- the project --------------------------------------------------------------------------

def dataset_header(name: str, dataset: tuple) -> str:
    """dataset.h: a training set compiled into flash, as the firmware reads it from
    input.bin and target.bin otherwise (dataset = (input bytes, target bytes), the
    device layout: NHWC samples, then the targets). Byte arrays, 16 to a line:
    deterministic text, and read with memcpy so alignment never matters."""
    def array(var: str, data: bytes) -> list:
        lines = [f"static const uint8_t {var}[{max(len(data), 1)}] = {{"]
        for at in range(0, len(data), 16):
            lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[at:at + 16]) + ",")
        if not data:
            lines.append("    0")
        return lines + ["};"]
    inputs, targets = dataset
    return "\n".join([f"/* dataset.h - the training set of {name} in flash: {len(inputs):,} bytes of",
                      f" * inputs, {len(targets):,} bytes of targets. Generated by pyconvert; do not edit. */",
                      "#ifndef DATASET_H", "#define DATASET_H", "#include <stdint.h>",
                      "#define MT_EMBEDDED_DATA 1", ""]
                     + array("dataset_input", inputs) + [""] + array("dataset_target", targets)
                     + ["", "#endif /* DATASET_H */", ""])


def write_project(outdir, profile: Profile, dest, dataset: tuple | None = None) -> Path:
    """Write the firmware project for the converted model in outdir into dest; with
    dataset = (input bytes, target bytes), the training set goes into flash."""
    meta = read_meta(outdir)
    name, dest = meta["name"], Path(dest)
    runtime = runtime_dir()
    shutil.copytree(runtime / "include", dest / "runtime" / "include")
    shutil.copytree(runtime / "src", dest / "runtime" / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    (dest / "model").mkdir(parents=True)
    for f in meta["files"]:
        shutil.copyfile(Path(outdir) / f, dest / "model" / f)
    shutil.copyfile(Path(outdir) / "model.json", dest / "model" / "model.json")
    (dest / "board" / "ld").mkdir(parents=True)
    for f in BOARD_SOURCES:
        shutil.copyfile(HERE / "src" / f, dest / "board" / f)
    for f in ("common.ld", "measure.ld", profile.linker_script):
        shutil.copyfile(HERE / "ld" / f, dest / "board" / "ld" / f)
    # An integer-only trainable model (--train --dtype int8) has its own main.c.
    main_in = "main_q.c.in" if meta.get("integer_only_training") else "main.c.in"
    template = (HERE / "src" / main_in).read_text()
    if dataset is not None:
        (dest / "dataset.h").write_text(dataset_header(name, dataset))
    (dest / "main.c").write_text(template.replace("@dataset@", '#include "dataset.h"\n' if dataset else "")
                                 .replace("@name@", name).replace("@NAME@", name.upper())
                                 .replace("@board@", f"{profile.name} ({profile.core})"))
    (dest / "Makefile").write_text(_makefile(name, profile))
    (dest / "CMakeLists.txt").write_text(_cmakelists(name, profile))
    return dest


def _link_flags(profile: Profile) -> list:
    return LD_FLAGS + [f"-Wl,--defsym=__stack_size={profile.stack_reserve}",
                       f"-Wl,--defsym=__heap_size={profile.heap_reserve}"]


def _makefile(name: str, profile: Profile) -> str:
    run = (f"#   qemu-system-arm -M {profile.qemu_machine} -kernel fw.elf -display none -monitor none \\\n"
           f"#       -serial stdio -semihosting-config enable=on,target=native   # input.bin here\n"
           if profile.emulated else
           f"# ({profile.name} is not emulated by QEMU: flash fw.bin / fw.hex to the board.)\n")
    return f"""\
# Makefile - firmware for the model {name} on {profile.name} ({profile.core}).
# Generated by pyconvert; needs arm-none-eabi-gcc and newlib (libnewlib-arm-none-eabi).
#
#   make           fw.elf, fw.bin, fw.hex (and fw.map)
#   make measure   build/measure.elf: the same link without memory limits, whose section
#                  sizes pyconvert's fit check reads (the board's own link stops at the
#                  first region that overflows)
#   make clean
#
# Run on the emulated board (main.c reads input.bin and writes output.bin in QEMU's
# working directory, through semihosting):
{run}
CROSS   ?= {CROSS}
CC      := $(CROSS)gcc
OBJCOPY := $(CROSS)objcopy

CPU     := {' '.join(profile.cpu_flags)}
# -ffp-contract=off: never fuse a*b+c into one FMA instruction, so float results
# equal the host build's bit for bit (docs/design.md, Numbers).
CFLAGS  := $(CPU) {' '.join(C_FLAGS)} -MMD -MP {' '.join('-I' + d for d in INCLUDE_DIRS)}
# newlib-nano + librdimon (semihosting); startup.c replaces crt0; the stack and heap
# reserves are sections in board/ld/common.ld, sized here.
LDFLAGS := $(CPU) {' '.join(_link_flags(profile))} -Lboard/ld
LDLIBS  := -lm

SRCS := main.c $(wildcard board/*.c model/*.c runtime/src/*/*.c)
OBJS := $(SRCS:%.c=build/%.o)

all: fw.elf fw.bin fw.hex

build/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

fw.elf: $(OBJS) board/ld/{profile.linker_script} board/ld/common.ld
	$(CC) $(LDFLAGS) -Tboard/ld/{profile.linker_script} -Wl,-Map=fw.map $(OBJS) $(LDLIBS) -o $@

build/measure.elf: $(OBJS) board/ld/measure.ld board/ld/common.ld
	$(CC) $(LDFLAGS) -Tboard/ld/measure.ld $(OBJS) $(LDLIBS) -o $@

fw.bin: fw.elf
	$(OBJCOPY) -O binary $< $@

fw.hex: fw.elf
	$(OBJCOPY) -O ihex $< $@

measure: build/measure.elf

clean:
	rm -rf build fw.elf fw.bin fw.hex fw.map

-include $(OBJS:.o=.d)
.PHONY: all measure clean
"""


def _cmakelists(name: str, profile: Profile) -> str:
    return f"""\
# CMakeLists.txt - the Makefile's firmware for CMake users ({name} on {profile.name}).
# Generated by pyconvert.
#
#   cmake -S . -B build-cmake && cmake --build build-cmake   # build-cmake/fw.elf, .bin, .hex
cmake_minimum_required(VERSION 3.16)

# Bare-metal cross compilation, set before project() instead of a toolchain file.
# Test programs are built as static libraries: none could link without startup.c.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER {CROSS}gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
project(fw_{name} C)

set(CPU_FLAGS {' '.join(profile.cpu_flags)})
set(LD_DIR ${{CMAKE_CURRENT_SOURCE_DIR}}/board/ld)
file(GLOB SOURCES CONFIGURE_DEPENDS main.c board/*.c model/*.c runtime/src/*/*.c)

add_executable(fw.elf ${{SOURCES}})
target_include_directories(fw.elf PRIVATE {' '.join(INCLUDE_DIRS)})
# -ffp-contract=off: float results equal the host build's (see the Makefile).
target_compile_options(fw.elf PRIVATE ${{CPU_FLAGS}} {' '.join(C_FLAGS)})
target_link_options(fw.elf PRIVATE ${{CPU_FLAGS}} {' '.join(_link_flags(profile))}
                    -L${{LD_DIR}} -T${{LD_DIR}}/{profile.linker_script} -Wl,-Map=fw.map)
target_link_libraries(fw.elf PRIVATE m)
set_property(TARGET fw.elf APPEND PROPERTY LINK_DEPENDS ${{LD_DIR}}/{profile.linker_script} ${{LD_DIR}}/common.ld)
add_custom_command(TARGET fw.elf POST_BUILD
                   COMMAND {CROSS}objcopy -O binary fw.elf fw.bin
                   COMMAND {CROSS}objcopy -O ihex fw.elf fw.hex)
"""


# ---- building -----------------------------------------------------------------------------

def _toolchain_version() -> bytes:
    out = subprocess.run([CROSS + "gcc", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0].encode()


def _project_key(directory: Path) -> str:
    h = hashlib.sha256(BUILD_VERSION.encode() + b"\0" + _toolchain_version())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(b"\0" + str(path.relative_to(directory)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _make(directory: Path, target: str, what: str) -> None:
    jobs = str(min(4, os.cpu_count() or 1))
    result = subprocess.run(["make", "-s", "-j", jobs, target], cwd=directory,
                            capture_output=True, text=True)
    if result.returncode != 0:
        lines = [l for l in (result.stderr + result.stdout).splitlines() if l.strip()]
        errors = [l for l in lines if "error" in l.lower()] or lines or ["(no output)"]
        raise RuntimeError(f"building {what} failed: {errors[0].strip()}")


def build(outdir, board: str, dataset: tuple | None = None) -> Firmware:
    """The built, fit-checked firmware for the converted model in outdir (cached);
    dataset: a training set to compile into flash (see write_project)."""
    profile = get_profile(board)
    meta = read_meta(outdir)
    require_tools(CROSS + "gcc", "make")
    what = f"{meta['name']} for {profile.name}"
    root = cache_dir() / "firmware"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        write_project(outdir, profile, tmp, dataset)
        final = root / f"{meta['name']}-{profile.name}-{_project_key(tmp)}"
        too_big = final.parent / (final.name + ".nofit")   # a cached verdict: it does not fit
        if too_big.is_file():
            raise FitError(too_big.read_text())
        if (final / "fw.elf").is_file():
            os.utime(final)                   # recently used: kept by _prune
        else:
            _make(tmp, "measure", what)
            try:
                check_fit(Elf(tmp / "build" / "measure.elf"), profile, meta["name"])
            except FitError as exc:
                too_big.write_text(str(exc))
                raise
            _make(tmp, "all", what)
            shutil.rmtree(tmp / "build")      # objects: `make` in a copy rebuilds them
            try:
                os.replace(tmp, final)        # atomic: a cached build is always complete
            except OSError:
                if not (final / "fw.elf").is_file():   # not a concurrent twin's build
                    raise
            _prune(root, f"{meta['name']}-{profile.name}-")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return Firmware(final, profile, meta)


def _prune(root: Path, prefix: str, keep: int = 2) -> None:
    """Keep the `keep` most recently used builds of one model and board: every edit
    of the runtime or the model makes a new one (a large model's is tens of MB)."""
    pattern = re.compile(re.escape(prefix) + r"[0-9a-f]{16}$")
    builds = sorted((d for d in root.iterdir() if pattern.match(d.name)),
                    key=lambda d: d.stat().st_mtime, reverse=True)
    for old in builds[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def export(fw: Firmware, dest) -> Path:
    """Copy the built project (sources, Makefile, fw.elf/.bin/.hex) to dest, replacing it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copytree(fw.directory, tmp, dirs_exist_ok=True)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old.{os.getpid()}")
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest
