"""The C runtime compiled for this machine: ``ffi`` and ``lib`` of one cffi module.

    from pyconvert.host.runtime import runtime
    ffi, lib = runtime()
    lib.mt_relu_f32(...)

The first call compiles runtime_c (a few seconds, then cached; see build.py).
"""

from __future__ import annotations

import functools

from .build import build_extension, header_cdef, runtime_archive, runtime_dir, runtime_headers


@functools.lru_cache(maxsize=None)
def runtime():
    """(ffi, lib) for the whole runtime, every public mt_* function exposed."""
    root = runtime_dir()
    module = build_extension(
        "_mt_runtime",
        cdef=header_cdef(runtime_headers()),
        prelude='#include "mt/mt.h"\n',
        sources=[],
        include_dirs=[root / "include", root / "src" / "support"],
        objects=[runtime_archive()],
    )
    return module.ffi, module.lib
