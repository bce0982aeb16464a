"""Host execution: runtime_c compiled with cffi and called with numpy arrays.

- ``runtime()`` gives the raw (ffi, lib) of the compiled runtime;
- ``pyconvert.host.kernels`` wraps every float kernel for numpy (NHWC arrays);
- ``pyconvert.host.executor`` runs a pyconvert.nn.Sequential through those kernels.
"""

from .runtime import runtime

__all__ = ["runtime"]
