"""pyconvert: turn small neural networks into plain C that infers and trains on
microcontrollers.

- ``pyconvert.nn`` / ``pyconvert.optim``: a PyTorch-shaped numpy library to define
  and train models; it is also the float reference every C result is checked against.
- ``pyconvert.host``: the C runtime (``runtime_c``) compiled for this machine with cffi.
- ``pyconvert`` on the command line: see ``pyconvert --help``.
"""

__version__ = "0.1.0"
