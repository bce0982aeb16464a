"""Compile C sources into a cffi extension module (API mode), cached by content hash.

The runtime is compiled on first use rather than at ``pip install`` time, so a
generated model can be compiled the same way later and an edit to ``runtime_c``
is picked up by the next run. Each extension is keyed by a SHA-256 of everything
that goes into it (sources, headers, declarations, flags, Python ABI); a build
lands in the cache with an atomic rename, so concurrent runs never see half a file.

Cache directory: ``$PYCONVERT_CACHE_DIR``, else ``~/.cache/pyconvert``.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Floats must not depend on whether the compiler fuses a*b+c into one FMA: the
# host build and every board build pin contraction off (docs/design.md, Numbers).
C_FLAGS = ["-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter"]
BUILD_VERSION = "1"  # bump to invalidate every cached extension


def runtime_dir() -> Path:
    """The runtime_c directory: the checkout's, or the copy installed in the package."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "runtime_c", here / "runtime_c"):
        if (candidate / "include" / "mt" / "mt.h").is_file():
            return candidate
    raise FileNotFoundError(f"runtime_c not found next to {here}")


def runtime_sources() -> list[Path]:
    return sorted((runtime_dir() / "src").rglob("*.c"))


# The public headers in dependency order (cffi needs types declared before use).
# mt.h only includes these, inside the C++ guard, so it is not parsed.
PUBLIC_HEADERS = ["mt_status.h", "mt_types.h", "mt_f32.h", "mt_s8.h", "mt_model.h", "mt_train.h", "mt_persist.h", "mt_q.h"]


def runtime_headers() -> list[Path]:
    return [runtime_dir() / "include" / "mt" / h for h in PUBLIC_HEADERS]


def header_cdef(paths: list[Path]) -> str:
    """Declarations for cffi's cdef: the headers without preprocessor lines.

    The public headers are written so that this is all it takes (no macros or
    inline functions inside the declarations)."""
    text = []
    for path in paths:
        body = path.read_text()
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)  # comments
        text.extend(line for line in body.splitlines() if not line.lstrip().startswith("#"))
    return "\n".join(text)


def cache_dir() -> Path:
    root = os.environ.get("PYCONVERT_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "pyconvert"


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:16]


def runtime_archive() -> Path:
    """runtime_c compiled once (position-independent) into a static archive in the
    cache, keyed by its sources; every extension links it instead of recompiling."""
    root = runtime_dir()
    sources = runtime_sources()
    headers = sorted(root.rglob("*.h"))
    key = _digest([BUILD_VERSION.encode(), " ".join(C_FLAGS).encode(), sys.version.encode()]
                  + [p.read_bytes() for p in sources + headers])
    target = cache_dir() / f"libmt_{key}.a"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory(prefix="pyconvert-rt-") as tmp:
        objects = []
        for i, src in enumerate(sources):
            obj = Path(tmp) / f"{i}_{src.stem}.o"
            cmd = [cc, *C_FLAGS, "-fPIC", f"-I{root / 'include'}", f"-I{root / 'src' / 'support'}",
                   "-c", str(src), "-o", str(obj)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"compiling {src.name} failed: {result.stderr.strip()}")
            objects.append(str(obj))
        staged = target.with_suffix(f".{os.getpid()}.tmp")
        result = subprocess.run(["ar", "rcs", str(staged), *objects], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"archiving the runtime failed: {result.stderr.strip()}")
        os.replace(staged, target)
    return target


def build_extension(prefix: str, cdef: str, prelude: str, sources: list[Path],
                    include_dirs: list[Path], objects: list[Path] = ()):
    """Return the imported extension module, compiling it if it is not cached.

    prefix: module name prefix ('_mt_runtime'); cdef: declarations exposed to
    Python; prelude: C code placed before cffi's wrappers (usually #includes);
    objects: archives to link (runtime_archive()).
    """
    from cffi import FFI  # imported here: only building needs it

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    key = _digest([BUILD_VERSION.encode(), cdef.encode(), prelude.encode(),
                   " ".join(C_FLAGS).encode(), suffix.encode(), sys.version.encode()]
                  + [p.read_bytes() for p in list(sources) + list(objects)]
                  + [h.read_bytes() for d in include_dirs for h in sorted(Path(d).rglob("*.h"))])
    name = f"{prefix}_{key}"
    target = cache_dir() / (name + suffix)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="pyconvert-build-") as tmp:
            ffi = FFI()
            ffi.cdef(cdef)
            ffi.set_source(name, prelude, sources=[str(s) for s in sources],
                           include_dirs=[str(d) for d in include_dirs],
                           extra_objects=[str(o) for o in objects],
                           extra_compile_args=C_FLAGS, libraries=["m"])
            try:
                built = Path(ffi.compile(tmpdir=tmp, verbose=False))
            except Exception as exc:  # the compiler's own message is the useful part
                raise RuntimeError(f"compiling {name} failed: {exc}") from exc
            staged = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(built, staged)
            os.replace(staged, target)
    spec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
